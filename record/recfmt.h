/* The recording format: the rows a daemon writes and a replay reads back, to and from text. */
#ifndef BMSAGG_RECFMT_H
#define BMSAGG_RECFMT_H

#include <stddef.h>
#include <stdint.h>

#include "policy.h"

/* A recording is CSV with '#' header lines and four kinds of rows:
 *   S,<hex>                    the core's state at this point (first row of every file), so a
 *                              rotated file replays alone
 *   T,<t_ms>,<n,exp,ack>       a tick: what pol_step was called with: the time, the number of
 *                              pack slots, the effective expected_packs (the daemon raises it
 *                              while packs are still being probed at start-up) and whether an
 *                              alarm acknowledge came before it ...
 *   P,<slot>,<label>,...       ... one row per FRESH reading of that tick, every field as the
 *                              core received it (missing = empty, rejected values kept as is)
 *   O,<t_ms>,...               the published outputs after that tick (every interval_s)
 * Numbers are printed with 17 significant digits, so they read back bit for bit. */
#define REC_FORMAT_VERSION 1
#define REC_LINE_MAX 16384

typedef enum { REC_ROW_STATE, REC_ROW_TICK, REC_ROW_PACK, REC_ROW_OUTPUT } rec_row_kind;

typedef struct {
    rec_row_kind kind;
    int64_t t_ms;          /* T, O */
    int n_packs;           /* T */
    int expected_packs;    /* T: the effective config's expected_packs for this tick */
    int ack;               /* T: 1 if pol_acknowledge was called before this tick */
    int slot;              /* P */
    rdg_reading reading;   /* P (fresh = true) */
    const char *text;      /* O, S: the row as written, for comparison / decoding */
} rec_row;

/* Each returns the length written (excluding the NUL, including the trailing newline), or -1 if
 * the buffer is too small. */
int rec_format_tick(char *buf, size_t len, int64_t t_ms, int n_packs, int expected_packs, int ack);
int rec_format_pack(char *buf, size_t len, int slot, const rdg_reading *r);
int rec_format_output(char *buf, size_t len, int64_t t_ms, const pol_output *o);
int rec_format_state(char *buf, size_t len, const pol_state *s);

/* Parses one row (no newline). Returns 0, or -1 with a message naming the field in err. */
int rec_parse_row(const char *line, rec_row *row, char *err, size_t err_len);

/* Decodes an S row's text into a state; -1 if its size does not match this build's pol_state
 * (a recording from a different build or architecture). */
int rec_decode_state(const char *line, pol_state *s);

/* Names of the O row's fields, for difference reports (index 0 = "t_ms"). */
const char *rec_output_field(int index);

#endif
