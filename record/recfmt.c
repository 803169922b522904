/* The recording format: the rows a daemon writes and a replay reads back, to and from text. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "recfmt.h"

/* Appends to a buffer, remembering overflow instead of checking every call. */
typedef struct {
    char *buf;
    size_t len, pos;
    bool over;
} out_buf;

static void put(out_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(out_buf *b, const char *fmt, ...)
{
    if (b->over)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->buf + b->pos, b->len - b->pos, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= b->len - b->pos) {
        b->over = true;
        return;
    }
    b->pos += (size_t)n;
}

static int finish(out_buf *b)
{
    put(b, "\n");
    return b->over ? -1 : (int)b->pos;
}

/* An optional number: empty when missing. */
static void put_opt(out_buf *b, bool present, double v)
{
    if (present)
        put(b, ",%.17g", v);
    else
        put(b, ",");
}

int rec_format_tick(char *buf, size_t len, int64_t t_ms, int n_packs, int expected_packs, int ack)
{
    out_buf b = {buf, len, 0, false};
    put(&b, "T,%lld,%d,%d,%d", (long long)t_ms, n_packs, expected_packs, ack ? 1 : 0);
    return finish(&b);
}

int rec_format_pack(char *buf, size_t len, int slot, const rdg_reading *r)
{
    out_buf b = {buf, len, 0, false};
    put(&b, "P,%d,%d,%x", slot, r->label, (unsigned)r->present);
    put_opt(&b, rdg_has(r, RDG_SOC), r->soc_pct);
    put_opt(&b, rdg_has(r, RDG_VOLTAGE), r->voltage_v);
    put_opt(&b, rdg_has(r, RDG_CURRENT), r->current_a);
    put_opt(&b, rdg_has(r, RDG_POWER), r->power_w);
    put_opt(&b, rdg_has(r, RDG_TEMPERATURE), r->temperature_c);
    put_opt(&b, rdg_has(r, RDG_MIN_CELL), r->min_cell_v);
    put(&b, ",%d", r->min_cell_id);
    put_opt(&b, rdg_has(r, RDG_MAX_CELL), r->max_cell_v);
    put(&b, ",%d", r->max_cell_id);
    put_opt(&b, rdg_has(r, RDG_INSTALLED_CAP), r->installed_cap_ah);
    put_opt(&b, rdg_has(r, RDG_REMAINING_CAP), r->remaining_cap_ah);
    put_opt(&b, rdg_has(r, RDG_CONSUMED_AH), r->consumed_ah);
    put_opt(&b, rdg_has(r, RDG_CVL), r->cvl_v);
    put_opt(&b, rdg_has(r, RDG_CCL), r->ccl_a);
    put_opt(&b, rdg_has(r, RDG_DCL), r->dcl_a);
    put(&b, ",%d,%d,%x,", r->allow_charge ? 1 : 0, r->allow_discharge ? 1 : 0,
        (unsigned)r->alarm_present);
    for (int a = 0; a < RDG_AL_COUNT; a++)
        put(&b, "%c", (char)('0' + (r->alarm[a] <= 9 ? r->alarm[a] : 9)));
    return finish(&b);
}

static const char *const output_fields[] = {
    "t_ms", "soc", "spread", "voltage", "current", "power", "ccl", "dcl", "cvl", "tier",
    "alarms", "online", "offline", "rejected", "limiter", "reason",
};
#define N_OUTPUT_FIELDS ((int)(sizeof output_fields / sizeof output_fields[0]))

const char *rec_output_field(int index)
{
    return index >= 0 && index < N_OUTPUT_FIELDS ? output_fields[index] : "?";
}

int rec_format_output(char *buf, size_t len, int64_t t_ms, const pol_output *o)
{
    out_buf b = {buf, len, 0, false};
    put(&b, "O,%lld", (long long)t_ms);
    put_opt(&b, o->soc_valid, o->soc_pct);
    put_opt(&b, o->spread_valid, o->spread_pct);
    put_opt(&b, o->voltage_valid, o->voltage_v);
    put_opt(&b, o->current_valid, o->current_a);
    put_opt(&b, o->power_valid, o->power_w);
    put(&b, ",%.17g,%.17g,%.17g,%d,", o->ccl_a, o->dcl_a, o->cvl_v, o->tier);
    for (int a = 0; a < RDG_AL_COUNT; a++)
        put(&b, "%c", (char)('0' + (o->alarm[a] <= 9 ? o->alarm[a] : 9)));
    put(&b, ",%d,%d,%u,%s,\"", o->n_online, o->n_offline, (unsigned)o->rejected_total,
        pol_limiter_name(o->ccl_limiter));
    for (const char *p = o->reason; *p; p++)
        put(&b, *p == '"' ? "\"\"" : "%c", *p);
    put(&b, "\"");
    return finish(&b);
}

/* FNV-1a 64 of the state's bytes: a snapshot is raw memory (bools, tier indices), so one
 * damaged byte must not reach the core. */
static uint64_t state_hash(const unsigned char *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

int rec_format_state(char *buf, size_t len, const pol_state *s)
{
    out_buf b = {buf, len, 0, false};
    const unsigned char *p = (const unsigned char *)s;
    put(&b, "S,%zu,%016llx,", sizeof *s, (unsigned long long)state_hash(p, sizeof *s));
    for (size_t i = 0; i < sizeof *s && !b.over; i++)
        put(&b, "%02x", p[i]);
    return finish(&b);
}

int rec_decode_state(const char *line, pol_state *s)
{
    char *end;
    if (strncmp(line, "S,", 2) != 0)
        return -1;
    errno = 0;
    unsigned long size = strtoul(line + 2, &end, 10);
    if (errno || *end != ',' || size != sizeof *s)
        return -1;
    const char *hash_text = end + 1;
    unsigned long long want = strtoull(hash_text, &end, 16);
    if (errno || end != hash_text + 16 || *end != ',' || strlen(end + 1) != 2 * sizeof *s)
        return -1;
    static unsigned char p[sizeof(pol_state)];
    const char *h = end + 1;
    for (size_t i = 0; i < sizeof *s; i++) {
        unsigned v = 0;
        for (int k = 0; k < 2; k++) {
            char ch = h[2 * i + (size_t)k];
            unsigned d;
            if (ch >= '0' && ch <= '9')
                d = (unsigned)(ch - '0');
            else if (ch >= 'a' && ch <= 'f')
                d = (unsigned)(ch - 'a' + 10);
            else
                return -1;
            v = v * 16 + d;
        }
        p[i] = (unsigned char)v;
    }
    if (state_hash(p, sizeof p) != want)
        return -1;
    pol_state check;
    memcpy(&check, p, sizeof check);
    /* Defence in depth behind the hash: the indices the core uses to address its tables. */
    if (check.flap.applied < 0 || check.flap.applied >= POL_MAX_TIERS || check.flap.pending_tier < 0 ||
        check.flap.pending_tier >= POL_MAX_TIERS || check.last_n < 0 || check.last_n > POL_MAX_PACKS)
        return -1;
    memcpy(s, p, sizeof *s);
    return 0;
}

/* ---- parsing ---------------------------------------------------------------------------- */

#define MAX_FIELDS 40

/* Splits on commas in place; fields are not quoted except the O row's last. */
static int split(char *s, char **f, int max)
{
    int n = 0;
    f[n++] = s;
    for (char *p = s; *p; p++) {
        if (*p == '"')
            break;   /* a quoted field is always last */
        if (*p == ',') {
            *p = '\0';
            if (n == max)
                return -1;
            f[n++] = p + 1;
        }
    }
    return n;
}

/* A recorded number: 17 significant digits, or nan/inf for a value the core rejected. */
static int num(const char *s, double *out)
{
    if (strcmp(s, "nan") == 0 || strcmp(s, "-nan") == 0) {
        *out = NAN;
        return 0;
    }
    if (strcmp(s, "inf") == 0) {
        *out = INFINITY;
        return 0;
    }
    if (strcmp(s, "-inf") == 0) {
        *out = -INFINITY;
        return 0;
    }
    return conf_parse_double(s, -1e300, 1e300, out);
}

/* Milliseconds since the daemon's monotonic origin: int64 everywhere, whatever the width of
 * long (32 bits on the Cerbo, where 2^31 ms is under 25 days). */
static int parse_ms(const char *s, int64_t *out)
{
    char *end;
    if (!s || !*s || !strchr("0123456789", *s))
        return -1;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || v < 0)
        return -1;
    *out = (int64_t)v;
    return 0;
}

static int hexu(const char *s, unsigned long max, unsigned long *out)
{
    char *end;
    if (!*s)
        return -1;
    errno = 0;
    unsigned long v = strtoul(s, &end, 16);
    if (errno || *end || v > max)
        return -1;
    *out = v;
    return 0;
}

int rec_parse_row(const char *line, rec_row *row, char *err, size_t err_len)
{
    static const char *const pack_names[] = {
        "kind", "slot", "label", "present", "soc", "voltage", "current", "power", "temperature",
        "min_cell", "min_cell_id", "max_cell", "max_cell_id", "installed_cap", "remaining_cap",
        "consumed_ah", "cvl", "ccl", "dcl", "allow_charge", "allow_discharge", "alarm_present",
        "alarms"};
    char copy[REC_LINE_MAX];
    char *f[MAX_FIELDS];
    size_t ll = strlen(line);
    if (ll >= sizeof copy) {
        snprintf(err, err_len, "row longer than %d characters", REC_LINE_MAX);
        return -1;
    }
    memcpy(copy, line, ll + 1);
    row->text = line;
    int n = split(copy, f, MAX_FIELDS);
    long lv;
    switch (copy[0]) {
    case 'S':
        if (copy[1] != '\0') break;
        row->kind = REC_ROW_STATE;
        return 0;
    case 'T':
        if (copy[1] != '\0') break;
        row->kind = REC_ROW_TICK;
        if (n != 5) {
            snprintf(err, err_len, "tick row needs 5 fields, has %d", n);
            return -1;
        }
        if (parse_ms(f[1], &row->t_ms) != 0) {
            snprintf(err, err_len, "field t_ms: '%s' is not a time in ms", f[1]);
            return -1;
        }
        if (conf_parse_long(f[2], 0, POL_MAX_PACKS, &lv) != 0) {
            snprintf(err, err_len, "field n_packs: '%s' is not 0..%d", f[2], POL_MAX_PACKS);
            return -1;
        }
        row->n_packs = (int)lv;
        if (conf_parse_long(f[3], 0, POL_MAX_PACKS, &lv) != 0) {
            snprintf(err, err_len, "field expected_packs: '%s' is not 0..%d", f[3], POL_MAX_PACKS);
            return -1;
        }
        row->expected_packs = (int)lv;
        if (strcmp(f[4], "0") != 0 && strcmp(f[4], "1") != 0) {
            snprintf(err, err_len, "field ack: '%s' is not 0 or 1", f[4]);
            return -1;
        }
        row->ack = f[4][0] == '1';
        return 0;
    case 'O':
        if (copy[1] != '\0') break;
        row->kind = REC_ROW_OUTPUT;
        if (n != N_OUTPUT_FIELDS + 1) {
            snprintf(err, err_len, "output row needs %d fields, has %d", N_OUTPUT_FIELDS + 1, n);
            return -1;
        }
        if (parse_ms(f[1], &row->t_ms) != 0) {
            snprintf(err, err_len, "field t_ms: '%s' is not a time in ms", f[1]);
            return -1;
        }
        return 0;
    case 'P': {
        if (copy[1] != '\0') break;
        row->kind = REC_ROW_PACK;
        const int want = (int)(sizeof pack_names / sizeof pack_names[0]);
        if (n != want) {
            snprintf(err, err_len, "pack row needs %d fields, has %d", want, n);
            return -1;
        }
        rdg_reading *r = &row->reading;
        rdg_clear(r);
        r->fresh = true;
        unsigned long u;
        int bad = -1;
        if (conf_parse_long(f[1], 0, POL_MAX_PACKS - 1, &lv) != 0) bad = 1;
        else row->slot = (int)lv;
        if (bad < 0) {
            if (conf_parse_long(f[2], -1, 1000000, &lv) != 0) bad = 2;
            else r->label = (int)lv;
        }
        if (bad < 0) {
            if (hexu(f[3], (1ul << RDG_FIELD_COUNT) - 1, &u) != 0) bad = 3;
            else r->present = (uint32_t)u;
        }
        double *dst[] = {&r->soc_pct, &r->voltage_v, &r->current_a, &r->power_w,
                         &r->temperature_c, &r->min_cell_v, NULL, &r->max_cell_v, NULL,
                         &r->installed_cap_ah, &r->remaining_cap_ah, &r->consumed_ah,
                         &r->cvl_v, &r->ccl_a, &r->dcl_a};
        static const enum rdg_field fld[] = {RDG_SOC, RDG_VOLTAGE, RDG_CURRENT, RDG_POWER,
            RDG_TEMPERATURE, RDG_MIN_CELL, RDG_FIELD_COUNT, RDG_MAX_CELL, RDG_FIELD_COUNT,
            RDG_INSTALLED_CAP, RDG_REMAINING_CAP, RDG_CONSUMED_AH, RDG_CVL, RDG_CCL, RDG_DCL};
        for (int i = 0; bad < 0 && i < 15; i++) {
            const char *s = f[4 + i];
            if (!dst[i]) {   /* a cell id */
                if (conf_parse_long(s, -1, 100000, &lv) != 0) bad = 4 + i;
                else if (i == 6) r->min_cell_id = (int)lv;
                else r->max_cell_id = (int)lv;
                continue;
            }
            bool present = (r->present & RDG_BIT(fld[i])) != 0;
            if (!present) {
                if (*s) bad = 4 + i;   /* a value for a field marked missing */
                continue;
            }
            if (num(s, dst[i]) != 0) bad = 4 + i;
        }
        if (bad < 0) {
            if (strcmp(f[19], "0") && strcmp(f[19], "1")) bad = 19;
            else r->allow_charge = f[19][0] == '1';
        }
        if (bad < 0) {
            if (strcmp(f[20], "0") && strcmp(f[20], "1")) bad = 20;
            else r->allow_discharge = f[20][0] == '1';
        }
        if (bad < 0 && hexu(f[21], (1ul << RDG_AL_COUNT) - 1, &u) != 0) bad = 21;
        else if (bad < 0) r->alarm_present = (uint32_t)u;
        if (bad < 0) {
            if (strlen(f[22]) != RDG_AL_COUNT) bad = 22;
            for (int a = 0; bad < 0 && a < RDG_AL_COUNT; a++) {
                if (f[22][a] < '0' || f[22][a] > '9') bad = 22;
                else r->alarm[a] = (uint8_t)(f[22][a] - '0');
            }
        }
        if (bad >= 0) {
            snprintf(err, err_len, "field %s: '%s' is malformed", pack_names[bad], f[bad]);
            return -1;
        }
        return 0;
    }
    default:
        break;
    }
    snprintf(err, err_len, "unknown row kind '%.10s'", f[0]);
    return -1;
}
