/* The daemon's single poll() loop: libdbus watches and timeouts, a periodic tick, signals. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"

#define LOOP_MAX_WATCHES 16
#define LOOP_MAX_TIMEOUTS 256

typedef struct {
    DBusTimeout *t;
    int64_t due_ms;
} loop_timeout;

static struct {
    DBusConnection *conn;    /* method calls, replies, NameOwnerChanged: read as soon as data arrives */
    DBusWatch *watches[LOOP_MAX_WATCHES];
    int n_watches;
    loop_timeout timeouts[LOOP_MAX_TIMEOUTS];
    int n_timeouts;
    int64_t now_ms;
    int64_t period_ms, next_tick_ms;
    loop_tick_fn tick;
    void *tick_ctx;
    loop_signal_fn on_signal;
    void *signal_ctx;
    bool stop;
    int code;
    int pipe_rd, pipe_wr;
} L = {.pipe_rd = -1, .pipe_wr = -1};

/* Set by the handlers; acted upon in the loop. */
static volatile sig_atomic_t got_hup, got_term, got_int;

static int64_t clock_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t loop_now_ms(void)
{
    return L.now_ms;
}

static void on_sig(int signo)
{
    int saved = errno;
    if (signo == SIGHUP)
        got_hup = 1;
    else if (signo == SIGTERM)
        got_term = 1;
    else if (signo == SIGINT)
        got_int = 1;
    /* Self-pipe: wakes poll() at once. A full pipe already guarantees a wake-up. */
    if (L.pipe_wr >= 0) {
        char c = 0;
        ssize_t r = write(L.pipe_wr, &c, 1);
        (void)r;
    }
    errno = saved;
}

static dbus_bool_t add_watch(DBusWatch *w, void *data)
{
    (void)data;
    if (L.n_watches >= LOOP_MAX_WATCHES)
        return FALSE;
    L.watches[L.n_watches++] = w;
    return TRUE;
}

static void remove_watch(DBusWatch *w, void *data)
{
    (void)data;
    for (int k = 0; k < L.n_watches; k++) {
        if (L.watches[k] == w) {
            L.n_watches--;
            L.watches[k] = L.watches[L.n_watches];
            return;
        }
    }
}

static void toggle_watch(DBusWatch *w, void *data)
{
    /* Enabled state is read from the watch on every poll(); nothing to cache. */
    (void)w;
    (void)data;
}

static dbus_bool_t add_timeout(DBusTimeout *t, void *data)
{
    (void)data;
    if (L.n_timeouts >= LOOP_MAX_TIMEOUTS)
        return FALSE;   /* libdbus then fails the call that needed it, which we log there */
    L.timeouts[L.n_timeouts].t = t;
    L.timeouts[L.n_timeouts].due_ms = clock_ms() + dbus_timeout_get_interval(t);
    L.n_timeouts++;
    return TRUE;
}

static void remove_timeout(DBusTimeout *t, void *data)
{
    (void)data;
    for (int k = 0; k < L.n_timeouts; k++) {
        if (L.timeouts[k].t == t) {
            L.timeouts[k] = L.timeouts[--L.n_timeouts];
            return;
        }
    }
}

static void toggle_timeout(DBusTimeout *t, void *data)
{
    (void)data;
    for (int k = 0; k < L.n_timeouts; k++)
        if (L.timeouts[k].t == t)
            L.timeouts[k].due_ms = clock_ms() + dbus_timeout_get_interval(t);
}

int loop_init(DBusConnection *conn)
{
    L.conn = conn;
    L.now_ms = clock_ms();
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    for (int k = 0; k < 2; k++) {
        fcntl(fds[k], F_SETFL, fcntl(fds[k], F_GETFL) | O_NONBLOCK);
        fcntl(fds[k], F_SETFD, FD_CLOEXEC);
    }
    L.pipe_rd = fds[0];
    L.pipe_wr = fds[1];

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sig;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);

    if (conn) {
        if (!dbus_connection_set_watch_functions(conn, add_watch, remove_watch, toggle_watch, NULL, NULL))
            return -1;
        if (!dbus_connection_set_timeout_functions(conn, add_timeout, remove_timeout, toggle_timeout,
                                                   NULL, NULL))
            return -1;
    }
    return 0;
}

void loop_set_tick(int64_t period_ms, loop_tick_fn fn, void *ctx)
{
    L.tick = fn;
    L.tick_ctx = ctx;
    L.period_ms = period_ms > 0 ? period_ms : 1000;
    L.next_tick_ms = clock_ms() + L.period_ms;
}

void loop_set_period(int64_t period_ms)
{
    L.period_ms = period_ms > 0 ? period_ms : 1000;
    L.next_tick_ms = L.now_ms + L.period_ms;
}

void loop_set_signal_handler(loop_signal_fn fn, void *ctx)
{
    L.on_signal = fn;
    L.signal_ctx = ctx;
}

void loop_stop(int code)
{
    L.stop = true;
    L.code = code;
}

static void dispatch_conn(DBusConnection *c)
{
    if (!c)
        return;
    while (!L.stop && dbus_connection_get_dispatch_status(c) == DBUS_DISPATCH_DATA_REMAINS)
        dbus_connection_dispatch(c);
}

static void dispatch_all(void)
{
    dispatch_conn(L.conn);
}

static unsigned watch_flags(short revents)
{
    unsigned fl = 0;
    if (revents & POLLIN) fl |= DBUS_WATCH_READABLE;
    if (revents & POLLOUT) fl |= DBUS_WATCH_WRITABLE;
    if (revents & POLLERR) fl |= DBUS_WATCH_ERROR;
    if (revents & POLLHUP) fl |= DBUS_WATCH_HANGUP;
    return fl;
}

static void handle_signals(void)
{
    char buf[64];
    while (read(L.pipe_rd, buf, sizeof buf) > 0)
        ;
    int sigs[3] = {0, 0, 0};
    if (got_term) { got_term = 0; sigs[0] = SIGTERM; }
    if (got_int) { got_int = 0; sigs[1] = SIGINT; }
    if (got_hup) { got_hup = 0; sigs[2] = SIGHUP; }
    for (int k = 0; k < 3; k++)
        if (sigs[k] && L.on_signal)
            L.on_signal(L.signal_ctx, sigs[k]);
}

int loop_run(void)
{
    struct pollfd pfd[LOOP_MAX_WATCHES + 1];
    DBusWatch *pw[LOOP_MAX_WATCHES + 1];
    L.stop = false;
    while (!L.stop) {
        L.now_ms = clock_ms();
        dispatch_all();
        if (L.stop)
            break;

        int n = 0;
        pfd[n].fd = L.pipe_rd;
        pfd[n].events = POLLIN;
        pfd[n].revents = 0;
        pw[n++] = NULL;
        for (int k = 0; k < L.n_watches; k++) {
            DBusWatch *w = L.watches[k];
            if (!dbus_watch_get_enabled(w))
                continue;
            unsigned fl = dbus_watch_get_flags(w);
            pfd[n].fd = dbus_watch_get_unix_fd(w);
            pfd[n].events = (short)(((fl & DBUS_WATCH_READABLE) ? POLLIN : 0) |
                                    ((fl & DBUS_WATCH_WRITABLE) ? POLLOUT : 0));
            pfd[n].revents = 0;
            pw[n++] = w;
        }
        int64_t due = L.tick ? L.next_tick_ms : L.now_ms + 60000;
        for (int k = 0; k < L.n_timeouts; k++)
            if (dbus_timeout_get_enabled(L.timeouts[k].t) && L.timeouts[k].due_ms < due)
                due = L.timeouts[k].due_ms;
        int64_t wait = due - L.now_ms;
        if (wait < 0)
            wait = 0;
        if (wait > 60000)
            wait = 60000;

        int rc = poll(pfd, (nfds_t)n, (int)wait);
        L.now_ms = clock_ms();
        if (rc < 0 && errno != EINTR) {
            log_err("poll: %s", strerror(errno));
            return 1;
        }
        if (pfd[0].revents || got_hup || got_term || got_int)
            handle_signals();
        for (int k = 1; rc > 0 && k < n; k++) {
            if (!pfd[k].revents)
                continue;
            unsigned fl = watch_flags(pfd[k].revents);
            /* The watch may have been removed by an earlier handle() in this pass. */
            bool still = false;
            for (int j = 0; j < L.n_watches; j++)
                if (L.watches[j] == pw[k])
                    still = true;
            if (still)
                dbus_watch_handle(pw[k], fl);
        }
        /* Timeouts: handle() may add or remove others, so rescan after each. */
        for (bool again = true; again && !L.stop;) {
            again = false;
            for (int k = 0; k < L.n_timeouts; k++) {
                loop_timeout *t = &L.timeouts[k];
                if (!dbus_timeout_get_enabled(t->t) || t->due_ms > L.now_ms)
                    continue;
                DBusTimeout *dt = t->t;
                t->due_ms = L.now_ms + dbus_timeout_get_interval(dt);
                dbus_timeout_handle(dt);
                again = true;
                break;
            }
        }
        dispatch_all();
        if (L.tick && !L.stop && L.now_ms >= L.next_tick_ms) {
            L.next_tick_ms += L.period_ms;
            if (L.next_tick_ms <= L.now_ms)
                L.next_tick_ms = L.now_ms + L.period_ms;   /* we were late: no burst of ticks */
            L.tick(L.tick_ctx, L.now_ms);
        }
        /* No dbus_connection_flush() here: it blocks until the socket drains. libdbus writes
         * what it can at send time and enables the write watch for the rest. */
    }
    return L.code;
}
