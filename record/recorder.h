/* Records, on the Cerbo's flash, what the daemon fed the core and what it published: buffered, rotated, never fatal. */
#ifndef BMSAGG_RECORDER_H
#define BMSAGG_RECORDER_H

#include <stdbool.h>
#include <stdint.h>

#include "conf.h"
#include "policy.h"

typedef struct rec_recorder rec_recorder;

/* Logging callback (the daemon's logger); called at most once per kind of failure. */
typedef void (*rec_log_fn)(const char *message);

/* Opens a recorder for conf->record (path must be non-empty). Writes the effective config to a
 * side file "<path>.config-<hash>.ini" (hash: FNV-1a 64 of that text) named in every file's
 * header. Never fails the daemon: on any error it returns a recorder that is paused. Returns
 * NULL only when out of memory. */
rec_recorder *rec_open(const conf_t *conf, rec_log_fn log);

/* One tick, after pol_step: readings as the core received them, the effective config's
 * expected_packs, whether pol_acknowledge was called before the step, the output, and the state
 * after the step (written as a snapshot at the top of each new file). */
void rec_tick(rec_recorder *r, int64_t now_ms, const rdg_reading *readings, int n_packs,
              int expected_packs, bool acked, const pol_output *out, const pol_state *state);

/* Writes out the buffer (the daemon calls it on SIGTERM and before reloading). */
void rec_flush(rec_recorder *r);

/* Flushes and frees. */
void rec_close(rec_recorder *r);

/* Counters, for diagnostics and tests. */
typedef struct {
    uint64_t rows;            /* rows accepted into the buffer */
    uint64_t bytes_written;   /* bytes that reached the file system */
    uint64_t dropped_rows;    /* rows lost while paused */
    int rotations;
    int paused;               /* 1 while a write error keeps recording off */
} rec_stats;

rec_stats rec_get_stats(const rec_recorder *r);

/* FNV-1a 64 of a text, as 16 hex digits (the config hash in recording headers). */
void rec_hash_text(const char *text, char out[17]);

#endif
