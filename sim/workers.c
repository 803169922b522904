/* Forked workers for suites and sweeps: a crash or an abort in one run costs that run's row, never the table. */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "workers.h"

typedef struct {
    pid_t pid;     /* 0: free */
    int fd;
    long i;
    size_t got;    /* bytes of the result read so far */
} slot;

static void worker(const wk_spec *w, long i, int fd)
{
    char *res = (char *)w->results + (size_t)i * w->size;
    memset(res, 0, w->size);
    w->job(i, res, w->ctx);
    for (size_t left = w->size; left > 0;) {
        ssize_t n = write(fd, res, left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            _exit(3);
        res += n;
        left -= (size_t)n;
    }
    _exit(0);
}

/* Reads what worker sl has sent; returns true once it is finished (whole result or EOF), reaped. */
static bool drain(const wk_spec *w, slot *sl)
{
    char *res = (char *)w->results + (size_t)sl->i * w->size;
    ssize_t n = read(sl->fd, res + sl->got, w->size - sl->got);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return false;
    if (n > 0) {
        sl->got += (size_t)n;
        if (sl->got < w->size)
            return false;
    }
    /* Whole result, EOF or a read error: the worker has nothing more to say. It exits right
     * after its one write, so waiting for it here is short. */
    close(sl->fd);
    int st = 0;
    while (waitpid(sl->pid, &st, 0) < 0 && errno == EINTR)
        ;
    if (sl->got < w->size || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        memset(res, 0, w->size);
        w->lost(sl->i, st, res, w->ctx);
    }
    sl->pid = 0;
    return true;
}

int wk_run(const wk_spec *w, long n, int jobs)
{
    if (jobs < 1)
        jobs = 1;
    if (jobs > n)
        jobs = n > 0 ? (int)n : 1;
    slot *sl = calloc((size_t)jobs, sizeof *sl);
    struct pollfd *pf = calloc((size_t)jobs, sizeof *pf);
    int *who = calloc((size_t)jobs, sizeof *who);
    if (!sl || !pf || !who) {
        fprintf(stderr, "bmsagg-sim: out of memory\n");
        free(sl);
        free(pf);
        free(who);
        return -1;
    }
    /* Buffered output would be written twice, once by each forked copy. */
    fflush(stdout);
    fflush(stderr);
    long next = 0, done = 0;
    int running = 0, rc = 0;
    while (done < n) {
        for (int j = 0; j < jobs && running < jobs && next < n; j++) {
            if (sl[j].pid != 0)
                continue;
            int pfd[2];
            if (pipe(pfd) != 0) {
                perror("bmsagg-sim: pipe");
                rc = -1;
                goto out;
            }
            pid_t pid = fork();
            if (pid < 0) {
                perror("bmsagg-sim: fork");
                close(pfd[0]);
                close(pfd[1]);
                rc = -1;
                goto out;
            }
            if (pid == 0) {
                close(pfd[0]);
                worker(w, next, pfd[1]);
            }
            close(pfd[1]);
            sl[j] = (slot){pid, pfd[0], next, 0};
            next++;
            running++;
        }
        int np = 0;
        for (int j = 0; j < jobs; j++)
            if (sl[j].pid != 0) {
                pf[np] = (struct pollfd){.fd = sl[j].fd, .events = POLLIN};
                who[np++] = j;
            }
        if (poll(pf, (nfds_t)np, -1) < 0) {
            if (errno == EINTR)
                continue;
            perror("bmsagg-sim: poll");
            rc = -1;
            goto out;
        }
        for (int q = 0; q < np; q++) {
            if (!pf[q].revents)
                continue;
            slot *s = &sl[who[q]];
            long i = s->i;
            if (drain(w, s)) {
                running--;
                done++;
                if (w->done)
                    w->done(i, done, (char *)w->results + (size_t)i * w->size, w->ctx);
            }
        }
    }
out:
    /* After a failure: the workers already started finish and are reaped, their rows kept. */
    for (int j = 0; j < jobs; j++)
        while (sl[j].pid != 0)
            if (drain(w, &sl[j]) && w->done)
                w->done(sl[j].i, ++done, (char *)w->results + (size_t)sl[j].i * w->size, w->ctx);
    free(sl);
    free(pf);
    free(who);
    return rc;
}
