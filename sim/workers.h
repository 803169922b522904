/* Numbered jobs run in forked worker processes, a few at a time, each sending one fixed-size result back. */
#ifndef BMSAGG_SIM_WORKERS_H
#define BMSAGG_SIM_WORKERS_H

#include <stddef.h>

typedef struct {
    size_t size;     /* bytes of one result */
    void *results;   /* n results, result i at results + i * size */
    /* In the worker process: fills result i, handed over zeroed. */
    void (*job)(long i, void *result, void *ctx);
    /* In the parent: worker i died before sending a whole result (wait_status as from waitpid);
     * fill result i so that it says so. */
    void (*lost)(long i, int wait_status, void *result, void *ctx);
    /* In the parent, optional: result i is in (or was lost); n_done results are in so far. */
    void (*done)(long i, long n_done, void *result, void *ctx);
    void *ctx;
} wk_spec;

/* Runs jobs 0..n-1, at most `jobs` at once; each result lands at its index whatever the order in
 * which workers finish. Returns 0, or -1 when a pipe, fork or poll failed (said on stderr). */
int wk_run(const wk_spec *w, long n, int jobs);

#endif
