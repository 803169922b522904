/* Scenario loading: strict INI (libinih) with includes for shared defaults, seeded cell draws, events CSV (libcsv). */
#include <csv.h>
#include <ini.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "rng.h"
#include "scenario.h"

static const char *const event_names[SCN_EV_COUNT] = {
    [SCN_EV_SPIKE] = "spike",         [SCN_EV_BMS_TRIP] = "bms_trip",
    [SCN_EV_DROPOUT] = "dropout",     [SCN_EV_DISCONNECT] = "disconnect",
    [SCN_EV_ADD_PACK] = "add_pack",   [SCN_EV_SOC_DRIFT] = "soc_drift",
    [SCN_EV_NAN] = "nan",             [SCN_EV_RANGE] = "out_of_range",
    [SCN_EV_MISSING] = "missing",     [SCN_EV_CURRENT_STEP] = "current_step",
    [SCN_EV_AMBIENT] = "ambient",
};

const char *scn_event_name(scn_event_kind k)
{
    return (int)k >= 0 && k < SCN_EV_COUNT ? event_names[k] : "?";
}

/* ---- per-pack keys: [pack] sets every pack, [pack.N] one pack; resolved after parsing ---- */

enum {
    PK_CAP_AH, PK_CAP_SIGMA_PCT, PK_WEAK_CELL, PK_WEAK_CELL_PCT, PK_HIGH_CELL, PK_HIGH_CELL_SOC_PCT,
    PK_SOC_PCT, PK_SOC_SIGMA_PCT, PK_R0_MOHM, PK_R0_SIGMA_PCT, PK_R1_MOHM, PK_TAU_S, PK_R_SCALE,
    PK_REXT_MOHM, PK_SD_PCT_MONTH, PK_SD_SIGMA_PCT, PK_DRAW_MA, PK_BALANCER, PK_BAL_A, PK_BAL_START_V,
    PK_BAL_TRIGGER_MV, PK_BAL_EFF, PK_OVP_V, PK_OVPR_V, PK_OVP_DELAY_S, PK_UVP_V, PK_UVPR_V,
    PK_UVP_DELAY_S, PK_OCP_CHG_A, PK_OCP_DIS_A, PK_OCP_DELAY_S, PK_OCP_RELEASE_S, PK_CHG_TEMP_MIN_C,
    PK_REP_SOC_PCT, PK_REP_OFFSET_A, PK_REP_GAIN_PCT, PK_REP_EFF, PK_REP_CAP_AH, PK_REP_RESET_V,
    PK_REP_RESOLUTION_PCT, PK_CCL_A, PK_DCL_A, PK_CVL_CELL_V, PK_CCL_TAPER_START_V, PK_CCL_TAPER_END_V,
    PK_TEMP_C, PK_CONNECTED, PK_COUNT
};

typedef struct {
    const char *name;
    double def, lo, hi;
    int kind;   /* 0 number, 1 bool, 2 balancer */
} pkey;

static const pkey pkeys[PK_COUNT] = {
    [PK_CAP_AH] = {"cap_ah", 280, 1, 10000, 0},
    [PK_CAP_SIGMA_PCT] = {"cap_sigma_pct", 1.0, 0, 20, 0},
    [PK_WEAK_CELL] = {"weak_cell", 0, 0, PACK_MAX_CELLS, 0},
    [PK_WEAK_CELL_PCT] = {"weak_cell_pct", -8, -50, 50, 0},
    [PK_HIGH_CELL] = {"high_cell", 0, 0, PACK_MAX_CELLS, 0},
    [PK_HIGH_CELL_SOC_PCT] = {"high_cell_soc_pct", 3, -50, 50, 0},
    [PK_SOC_PCT] = {"soc_pct", 50, 0, 100, 0},
    [PK_SOC_SIGMA_PCT] = {"soc_sigma_pct", 0.5, 0, 20, 0},
    [PK_R0_MOHM] = {"r0_mohm", 0.22, 0.001, 100, 0},
    [PK_R0_SIGMA_PCT] = {"r0_sigma_pct", 10, 0, 50, 0},
    [PK_R1_MOHM] = {"r1_mohm", 0.25, 0, 100, 0},
    [PK_TAU_S] = {"tau_s", 60, 1, 100000, 0},
    [PK_R_SCALE] = {"r_scale", 1, 0.1, 10, 0},
    [PK_REXT_MOHM] = {"rext_mohm", 5, 0, 1000, 0},
    [PK_SD_PCT_MONTH] = {"self_discharge_pct_month", 2, 0, 50, 0},
    [PK_SD_SIGMA_PCT] = {"self_discharge_sigma_pct", 30, 0, 100, 0},
    [PK_DRAW_MA] = {"bms_draw_ma", 10, 0, 2000, 0},
    [PK_BALANCER] = {"balancer", PACK_BAL_ACTIVE, 0, 2, 2},
    [PK_BAL_A] = {"bal_a", 2, 0, 20, 0},
    [PK_BAL_START_V] = {"bal_start_v", 3.40, 2, 4, 0},
    [PK_BAL_TRIGGER_MV] = {"bal_trigger_mv", 5, 0, 500, 0},
    [PK_BAL_EFF] = {"bal_eff", 0.9, 0.1, 1, 0},
    [PK_OVP_V] = {"ovp_v", 3.65, 3.0, 4.5, 0},
    [PK_OVPR_V] = {"ovpr_v", 3.50, 3.0, 4.5, 0},
    [PK_OVP_DELAY_S] = {"ovp_delay_s", 2, 0, 600, 0},
    [PK_UVP_V] = {"uvp_v", 2.50, 1.5, 3.2, 0},
    [PK_UVPR_V] = {"uvpr_v", 2.75, 1.5, 3.3, 0},
    [PK_UVP_DELAY_S] = {"uvp_delay_s", 2, 0, 600, 0},
    [PK_OCP_CHG_A] = {"ocp_chg_a", 160, 1, 10000, 0},
    [PK_OCP_DIS_A] = {"ocp_dis_a", 220, 1, 10000, 0},
    [PK_OCP_DELAY_S] = {"ocp_delay_s", 10, 0, 600, 0},
    [PK_OCP_RELEASE_S] = {"ocp_release_s", 32, 0, 3600, 0},
    [PK_CHG_TEMP_MIN_C] = {"chg_temp_min_c", 0, -40, 20, 0},
    [PK_REP_SOC_PCT] = {"rep_soc_pct", NAN, 0, 100, 0},
    [PK_REP_OFFSET_A] = {"rep_offset_a", 0, -10, 10, 0},
    [PK_REP_GAIN_PCT] = {"rep_gain_pct", 0, -20, 20, 0},
    [PK_REP_EFF] = {"rep_eff", 1, 0.5, 1.1, 0},
    [PK_REP_CAP_AH] = {"rep_cap_ah", NAN, 1, 10000, 0},
    [PK_REP_RESET_V] = {"rep_reset_v", 3.45, 0, 5, 0},
    [PK_REP_RESOLUTION_PCT] = {"rep_resolution_pct", 1, 0, 10, 0},
    [PK_CCL_A] = {"ccl_a", 100, 0, 10000, 0},
    [PK_DCL_A] = {"dcl_a", 150, 0, 10000, 0},
    [PK_CVL_CELL_V] = {"cvl_cell_v", 3.45, 2.5, 4.5, 0},
    [PK_CCL_TAPER_START_V] = {"ccl_taper_start_v", 3.45, 2.5, 4.5, 0},
    [PK_CCL_TAPER_END_V] = {"ccl_taper_end_v", 3.55, 2.5, 4.5, 0},
    [PK_TEMP_C] = {"temp_c", NAN, -40, 80, 0},
    [PK_CONNECTED] = {"connected", 1, 0, 1, 1},
};

typedef struct {
    double val[PK_COUNT];
    bool set[PK_COUNT];
    int line;   /* where the section was first used, for errors found after parsing */
    char file[SCN_PATH_LEN];
} pack_spec;

/* ---- scalar keys of the other sections ---- */

typedef enum { K_DBL, K_MS, K_SEED, K_INT, K_BOOL, K_STR, K_PATH, K_WEATHER, K_MODE, K_INCLUDE } kkind;

typedef struct {
    const char *section, *name;
    kkind kind;
    size_t off;
    double lo, hi;
    size_t len;
} skey;

#define O(f) offsetof(scn_t, f)
static const skey skeys[] = {
    {"scenario", "include", K_INCLUDE, 0, 0, 0, 0},
    {"scenario", "description", K_STR, O(description), 0, 0, sizeof(((scn_t *)0)->description)},
    {"scenario", "events", K_PATH, O(events_path), 0, 0, SCN_PATH_LEN},
    {"scenario", "profile", K_PATH, O(profile_path), 0, 0, SCN_PATH_LEN},
    {"scenario", "config", K_PATH, O(config_path), 0, 0, SCN_PATH_LEN},
    {"scenario", "days", K_DBL, O(days), 0.001, 400, 0},
    {"scenario", "step_ms", K_MS, O(step_ms), 100, 60000, 0},
    {"scenario", "poll_ms", K_MS, O(poll_ms), 100, 600000, 0},
    {"scenario", "latency_ms", K_MS, O(latency_ms), 0, 60000, 0},
    {"scenario", "trace_s", K_DBL, 0, 1, 86400, 0},   /* converted to trace_ms below */
    {"scenario", "seed", K_SEED, O(seed), 0, 0, 0},
    {"bank", "packs", K_INT, O(n_packs), 1, SCN_MAX_PACKS, 0},
    {"bank", "cells", K_INT, O(n_cells), 1, PACK_MAX_CELLS, 0},
    {"bank", "rating_a", K_DBL, O(rating_a), 1, 10000, 0},
    {"bank", "mode", K_MODE, O(dc_feed_in), 0, 0, 0},
    {"bank", "charger_max_a", K_DBL, O(charger_max_a), 0, 10000, 0},
    {"bank", "inverter_max_a", K_DBL, O(inverter_max_a), 0, 10000, 0},
    {"bank", "eta_mppt", K_DBL, O(eta_mppt), 0.5, 1, 0},
    {"bank", "eta_inv", K_DBL, O(eta_inv), 0.5, 1, 0},
    {"env", "ambient_c", K_DBL, O(ambient_c), -40, 60, 0},
    {"env", "ambient_swing_c", K_DBL, O(ambient_swing_c), 0, 30, 0},
    {"pv", "peak_w", K_DBL, O(prof.pv_peak_w), 0, 1e6, 0},
    {"pv", "day_len_h", K_DBL, O(prof.day_len_h), 1, 23, 0},
    {"pv", "noon_h", K_DBL, O(prof.noon_h), 6, 18, 0},
    {"pv", "weather", K_WEATHER, O(prof.weather), 0, 0, 0},
    {"pv", "persistence", K_DBL, O(prof.persistence), 0, 1, 0},
    {"load", "base_w", K_DBL, O(prof.base_w), 0, 1e6, 0},
    {"load", "idle_w", K_DBL, O(prof.idle_w), 0, 1e5, 0},
    {"load", "morning_w", K_DBL, O(prof.morning_w), 0, 1e6, 0},
    {"load", "evening_w", K_DBL, O(prof.evening_w), 0, 1e6, 0},
    {"load", "kettle_per_day", K_DBL, O(prof.kettle_per_day), 0, 100, 0},
    {"load", "cooker_per_day", K_DBL, O(prof.cooker_per_day), 0, 100, 0},
    {"load", "heatpump_w", K_DBL, O(prof.heatpump_w), 0, 1e5, 0},
    {"load", "scale", K_DBL, O(prof.load_scale), 0, 100, 0},
    {"expect", "safe", K_BOOL, O(expect.safe), 0, 0, 0},
    {"expect", "spread_below_pct", K_DBL, O(expect.spread_below_pct), 0, 100, 0},
    {"expect", "spread_within_h", K_DBL, O(expect.spread_within_h), 0, 10000, 0},
    {"expect", "final_spread_max_pct", K_DBL, O(expect.final_spread_max_pct), 0, 100, 0},
    {"expect", "red_alert_by_s", K_DBL, O(expect.red_alert_by_s), 0, 1e8, 0},
    {"expect", "red_alert_never", K_BOOL, O(expect.red_alert_never), 0, 0, 0},
    {"expect", "alert_latched_min_s", K_DBL, O(expect.alert_latched_min_s), 0, 1e8, 0},
    {"expect", "ccl_below_a", K_DBL, O(expect.ccl_below_a), 0, 10000, 0},
    {"expect", "ccl_below_by_s", K_DBL, O(expect.ccl_below_by_s), 0, 1e8, 0},
    {"expect", "ccl_zero_by_s", K_DBL, O(expect.ccl_zero_by_s), 0, 1e8, 0},
    {"expect", "cable_alarm_by_s", K_DBL, O(expect.cable_alarm_by_s), 0, 1e8, 0},
    {"expect", "rejected_min", K_DBL, O(expect.rejected_min), 0, 1e9, 0},
    {"expect", "ccl_reaches_a", K_DBL, O(expect.ccl_reaches_a), 0, 10000, 0},
    {"expect", "ccl_reaches_by_h", K_DBL, O(expect.ccl_reaches_by_h), 0, 10000, 0},
    {"expect", "unserved_max_kwh", K_DBL, O(expect.unserved_max_kwh), 0, 1e9, 0},
    {"invariants", "tol_a", K_DBL, O(tol_a), 0, 1000, 0},
    {"invariants", "tol_pct", K_DBL, O(tol_pct), 0, 100, 0},
    {"invariants", "grace_s", K_DBL, O(grace_s), 0, 3600, 0},
};
#undef O

typedef struct {
    scn_t *s;
    pack_spec def;
    pack_spec per[SCN_MAX_PACKS];
    bool per_used[SCN_MAX_PACKS];
    double trace_s;
    char *err;
    size_t err_len;
    bool failed;
    const char *file;
    char dir[SCN_PATH_LEN];
    int line;
    int depth;
    long seed_override;   /* -1: the file's seed */
    int err_line;         /* the line of the first failure */
} ld_ctx;

static void fail(ld_ctx *x, const char *section, const char *key, const char *fmt, ...)
{
    if (x->failed)
        return;   /* the first error is the one to fix */
    x->failed = true;
    x->err_line = x->line;
    int n = snprintf(x->err, x->err_len, "%s:%d: [%s] %s: ", x->file, x->line, section, key);
    if (n < 0 || (size_t)n >= x->err_len)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(x->err + n, x->err_len - (size_t)n, fmt, ap);
    va_end(ap);
}

static void dir_of(const char *path, char *dir, size_t len)
{
    const char *slash = strrchr(path, '/');
    if (!slash) {
        snprintf(dir, len, ".");
        return;
    }
    size_t n = (size_t)(slash - path);
    if (n >= len)
        n = len - 1;
    memcpy(dir, path, n);
    dir[n] = '\0';
}

static void resolve(const char *dir, const char *name, char *out, size_t len)
{
    /* A path too long for the buffer is cut; opening it then fails with its name shown. */
    int n;
    if (name[0] == '/' || strcmp(dir, ".") == 0)
        n = snprintf(out, len, "%s", name);
    else
        n = snprintf(out, len, "%s/%s", dir, name);
    if (n < 0)
        out[0] = '\0';
}

static int parse_file(ld_ctx *x, const char *path);

static int parse_pack_key(ld_ctx *x, pack_spec *sp, const char *section, const char *name,
                          const char *value)
{
    for (int i = 0; i < PK_COUNT; i++) {
        if (strcmp(pkeys[i].name, name) != 0)
            continue;
        double v;
        if (pkeys[i].kind == 1) {
            bool b;
            if (conf_parse_bool(value, &b) != 0) {
                fail(x, section, name, "'%s' is not yes/no", value);
                return 0;
            }
            v = b ? 1.0 : 0.0;
        } else if (pkeys[i].kind == 2) {
            if (strcmp(value, "none") == 0)
                v = PACK_BAL_NONE;
            else if (strcmp(value, "passive") == 0)
                v = PACK_BAL_PASSIVE;
            else if (strcmp(value, "active") == 0)
                v = PACK_BAL_ACTIVE;
            else {
                fail(x, section, name, "'%s' is not none, passive or active", value);
                return 0;
            }
        } else if (conf_parse_double(value, pkeys[i].lo, pkeys[i].hi, &v) != 0) {
            fail(x, section, name, "'%s' is not a number in %g..%g", value, pkeys[i].lo, pkeys[i].hi);
            return 0;
        }
        sp->val[i] = v;
        sp->set[i] = true;
        if (sp->line == 0) {
            sp->line = x->line;
            snprintf(sp->file, sizeof sp->file, "%s", x->file);
        }
        return 1;
    }
    fail(x, section, name, "unknown key");
    return 0;
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
    ld_ctx *x = user;
    if (x->failed)
        return 0;
    if (strcmp(section, "pack") == 0)
        return parse_pack_key(x, &x->def, section, name, value);
    if (strncmp(section, "pack.", 5) == 0) {
        long idx;
        if (conf_parse_long(section + 5, 1, SCN_MAX_PACKS, &idx) != 0) {
            fail(x, section, name, "pack sections are [pack.1] .. [pack.%d]", SCN_MAX_PACKS);
            return 0;
        }
        x->per_used[idx - 1] = true;
        return parse_pack_key(x, &x->per[idx - 1], section, name, value);
    }
    for (size_t i = 0; i < sizeof skeys / sizeof skeys[0]; i++) {
        const skey *k = &skeys[i];
        if (strcmp(k->section, section) != 0 || strcmp(k->name, name) != 0)
            continue;
        char *base = (char *)x->s;
        switch (k->kind) {
        case K_INCLUDE: {
            if (x->depth >= 4) {
                fail(x, section, name, "includes nested too deep");
                return 0;
            }
            char p[SCN_PATH_LEN];
            resolve(x->dir, value, p, sizeof p);
            const char *sf = x->file;
            int sl = x->line;
            char sd[SCN_PATH_LEN];
            memcpy(sd, x->dir, sizeof sd);
            x->depth++;
            int rc = parse_file(x, p);
            x->depth--;
            x->file = sf;
            x->line = sl;
            memcpy(x->dir, sd, sizeof sd);
            if (rc != 0 && !x->failed)
                fail(x, section, name, "cannot read '%s'", p);
            return rc == 0;
        }
        case K_STR:
            snprintf(base + k->off, k->len, "%s", value);
            return 1;
        case K_PATH:
            resolve(x->dir, value, base + k->off, k->len);
            return 1;
        case K_DBL: {
            double v;
            if (conf_parse_double(value, k->lo, k->hi, &v) != 0) {
                fail(x, section, name, "'%s' is not a number in %g..%g", value, k->lo, k->hi);
                return 0;
            }
            if (strcmp(name, "trace_s") == 0)
                x->trace_s = v;
            else
                memcpy(base + k->off, &v, sizeof v);
            return 1;
        }
        case K_MS: {
            long v;
            if (conf_parse_long(value, (long)k->lo, (long)k->hi, &v) != 0) {
                fail(x, section, name, "'%s' is not a whole number in %g..%g", value, k->lo, k->hi);
                return 0;
            }
            int64_t ms = v;
            memcpy(base + k->off, &ms, sizeof ms);
            return 1;
        }
        case K_SEED: {
            long v;
            if (conf_parse_long(value, 0, 0x7fffffffL, &v) != 0) {
                fail(x, section, name, "'%s' is not a whole number in 0..2147483647", value);
                return 0;
            }
            uint64_t sd = (uint64_t)v;
            memcpy(base + k->off, &sd, sizeof sd);
            return 1;
        }
        case K_INT: {
            long v;
            if (conf_parse_long(value, (long)k->lo, (long)k->hi, &v) != 0) {
                fail(x, section, name, "'%s' is not a whole number in %g..%g", value, k->lo, k->hi);
                return 0;
            }
            int iv = (int)v;
            memcpy(base + k->off, &iv, sizeof iv);
            return 1;
        }
        case K_BOOL: {
            bool b;
            if (conf_parse_bool(value, &b) != 0) {
                fail(x, section, name, "'%s' is not yes/no", value);
                return 0;
            }
            memcpy(base + k->off, &b, sizeof b);
            return 1;
        }
        case K_WEATHER: {
            static const char *const w[] = {"markov", "clear", "mixed", "overcast"};
            for (int j = 0; j < 4; j++)
                if (strcmp(value, w[j]) == 0) {
                    prof_weather pw = (prof_weather)j;
                    memcpy(base + k->off, &pw, sizeof pw);
                    return 1;
                }
            fail(x, section, name, "'%s' is not markov, clear, mixed or overcast", value);
            return 0;
        }
        case K_MODE: {
            bool feed;
            if (strcmp(value, "ess") == 0)
                feed = false;
            else if (strcmp(value, "dc_feed_in") == 0)
                feed = true;
            else {
                fail(x, section, name, "'%s' is not ess or dc_feed_in", value);
                return 0;
            }
            memcpy(base + k->off, &feed, sizeof feed);
            return 1;
        }
        }
    }
    bool known = strcmp(section, "scenario") == 0 || strcmp(section, "bank") == 0 ||
                 strcmp(section, "env") == 0 || strcmp(section, "pv") == 0 ||
                 strcmp(section, "load") == 0 || strcmp(section, "expect") == 0 ||
                 strcmp(section, "invariants") == 0;
    if (!known)
        fail(x, section, name, "unknown section");
    else
        fail(x, section, name, "unknown key");
    return 0;
}

/* inih reads through conf's line source (conf.h), which counts lines (Debian's inih does not
 * pass them to the handler) and notices a line longer than inih's buffer. */
typedef struct {
    conf_lines lines;
    ld_ctx *x;
} line_src;

static char *read_line(char *str, int num, void *stream)
{
    line_src *src = stream;
    char *got = conf_lines_read(str, num, &src->lines);
    src->x->line = src->lines.line;
    return got;
}

static int parse_source(ld_ctx *x, line_src *src, const char *name)
{
    x->file = name;
    x->line = 0;
    dir_of(name, x->dir, sizeof x->dir);
    int rc = ini_parse_stream(read_line, src, handler, x);
    if (src->lines.too_long && (!x->failed || src->lines.too_long_line <= x->err_line)) {
        /* inih parsed the rest of that line as a line of its own: whatever it said is moot. */
        x->failed = true;
        snprintf(x->err, x->err_len, "%s:%d: line too long (at most %d characters)", name,
                 src->lines.too_long_line, INI_MAX_LINE - 2);
        return -1;
    }
    if (rc != 0 && !x->failed) {
        x->failed = true;
        snprintf(x->err, x->err_len, "%s:%d: syntax error (want [section] or key = value)", name, rc);
    }
    return x->failed ? -1 : 0;
}

static int parse_file(ld_ctx *x, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        if (!x->failed) {
            x->failed = true;
            snprintf(x->err, x->err_len, "%s: cannot open", path);
        }
        return -1;
    }
    line_src src;
    conf_lines_init(&src.lines, f, NULL);
    src.x = x;
    /* the path must outlive the parse for messages: keep a copy per depth */
    static char names[8][SCN_PATH_LEN];
    snprintf(names[x->depth & 7], SCN_PATH_LEN, "%s", path);
    int rc = parse_source(x, &src, names[x->depth & 7]);
    fclose(f);
    return rc;
}

/* ---- events CSV: time_s,kind,pack,value,duration_s ---- */

typedef struct {
    scn_t *s;
    const char *path;
    char *err;
    size_t err_len;
    int line, field;
    bool header, failed;
    scn_event ev;
} ev_ctx;

static void ev_fail(ev_ctx *x, const char *col, const char *fmt, const char *val)
{
    if (x->failed)
        return;
    x->failed = true;
    char what[256];
    snprintf(what, sizeof what, fmt, val);
    snprintf(x->err, x->err_len, "%s:%d: %s: %s", x->path, x->line, col, what);
}

static void ev_field(void *p, size_t len, void *data)
{
    ev_ctx *x = data;
    static const char *const cols[5] = {"time_s", "kind", "pack", "value", "duration_s"};
    if (x->failed)
        return;
    char buf[128];
    if (len >= sizeof buf)
        len = sizeof buf - 1;
    memcpy(buf, p ? p : "", len);
    buf[len] = '\0';
    if (x->field >= 5) {
        ev_fail(x, "row", "%s", "more than 5 columns (time_s,kind,pack,value,duration_s)");
        return;
    }
    const char *col = cols[x->field];
    if (x->header) {
        if (strcmp(buf, col) != 0)
            ev_fail(x, col, "header '%s' is not time_s,kind,pack,value,duration_s", buf);
        x->field++;
        return;
    }
    double v;
    switch (x->field) {
    case 0:
        if (conf_parse_double(buf, 0, 400.0 * 86400.0, &v) != 0)
            ev_fail(x, col, "'%s' is not a time in seconds", buf);
        else
            x->ev.t_ms = (int64_t)llround(v * 1000.0);
        break;
    case 1: {
        int k = -1;
        for (int i = 0; i < SCN_EV_COUNT; i++)
            if (strcmp(buf, event_names[i]) == 0)
                k = i;
        if (k < 0)
            ev_fail(x, col, "unknown event '%s'", buf);
        else
            x->ev.kind = (scn_event_kind)k;
        break;
    }
    case 2: {
        long idx;
        if (strcmp(buf, "all") == 0)
            x->ev.pack = -1;
        else if (conf_parse_long(buf, 1, x->s->n_packs, &idx) != 0)
            ev_fail(x, col, "'%s' is not 'all' or a pack number of this bank", buf);
        else
            x->ev.pack = (int)idx - 1;
        break;
    }
    case 3:
        if (conf_parse_double(buf, -1e6, 1e6, &v) != 0)
            ev_fail(x, col, "'%s' is not a number", buf);
        else
            x->ev.value = v;
        break;
    case 4:
        if (conf_parse_double(buf, -1, 400.0 * 86400.0, &v) != 0 || (v < 0 && v != -1))
            ev_fail(x, col, "'%s' is not a duration in seconds (or -1 for good)", buf);
        else
            x->ev.dur_ms = v < 0 ? -1 : (int64_t)llround(v * 1000.0);
        break;
    }
    x->field++;
}

static void ev_row(int c, void *data)
{
    (void)c;
    ev_ctx *x = data;
    if (!x->failed) {
        if (x->field != 5)
            ev_fail(x, "row", "%s", "want 5 columns: time_s,kind,pack,value,duration_s");
        else if (x->header)
            x->header = false;
        else if (x->s->n_events >= SCN_MAX_EVENTS)
            ev_fail(x, "row", "%s", "too many events");
        else
            x->s->ev[x->s->n_events++] = x->ev;
    }
    x->line++;
    x->field = 0;
}

static int load_events(scn_t *s, const char *path, char *err, size_t err_len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, err_len, "%s: cannot open", path);
        return -1;
    }
    struct csv_parser p;
    if (csv_init(&p, CSV_APPEND_NULL) != 0) {
        fclose(f);
        snprintf(err, err_len, "%s: csv_init failed", path);
        return -1;
    }
    ev_ctx x;
    memset(&x, 0, sizeof x);
    x.s = s;
    x.path = path;
    x.err = err;
    x.err_len = err_len;
    x.line = 1;
    x.header = true;
    char buf[4096];
    size_t n;
    while (!x.failed && (n = fread(buf, 1, sizeof buf, f)) > 0)
        if (csv_parse(&p, buf, n, ev_field, ev_row, &x) != n && !x.failed) {
            x.failed = true;
            snprintf(err, err_len, "%s:%d: %s", path, x.line, csv_strerror(csv_error(&p)));
        }
    if (!x.failed)
        csv_fini(&p, ev_field, ev_row, &x);
    csv_free(&p);
    fclose(f);
    if (x.failed)
        return -1;
    /* Stable insertion sort by time: events at the same time keep file order. */
    for (int i = 1; i < s->n_events; i++) {
        scn_event e = s->ev[i];
        int j = i - 1;
        while (j >= 0 && s->ev[j].t_ms > e.t_ms) {
            s->ev[j + 1] = s->ev[j];
            j--;
        }
        s->ev[j + 1] = e;
    }
    return 0;
}

/* ---- defaults, resolution and the seeded draws ---- */

static void scn_defaults(scn_t *s)
{
    memset(s, 0, sizeof *s);
    s->days = 1.0;
    s->step_ms = 1000;
    s->poll_ms = 2000;
    s->latency_ms = 500;
    s->trace_ms = 60000;
    s->seed = 1;
    s->n_packs = 3;
    s->n_cells = 16;
    s->rating_a = 150.0;
    s->dc_feed_in = false;
    s->charger_max_a = 250.0;
    s->inverter_max_a = 250.0;
    s->eta_mppt = 0.96;
    s->eta_inv = 0.94;
    s->ambient_c = 20.0;
    s->ambient_swing_c = 4.0;
    prof_cfg_default(&s->prof);
    s->expect.safe = true;
    s->expect.spread_below_pct = s->expect.spread_within_h = NAN;
    s->expect.final_spread_max_pct = NAN;
    s->expect.red_alert_by_s = NAN;
    s->expect.red_alert_never = false;
    s->expect.alert_latched_min_s = NAN;
    s->expect.ccl_below_a = s->expect.ccl_below_by_s = NAN;
    s->expect.ccl_zero_by_s = NAN;
    s->expect.cable_alarm_by_s = NAN;
    s->expect.rejected_min = NAN;
    s->expect.ccl_reaches_a = s->expect.ccl_reaches_by_h = NAN;
    s->expect.unserved_max_kwh = NAN;
    s->tol_a = 5.0;
    s->tol_pct = 5.0;
    s->grace_s = 30.0;
}

static double spec_get(const ld_ctx *x, int k, int key)
{
    if (x->per[k].set[key])
        return x->per[k].val[key];
    if (x->def.set[key])
        return x->def.val[key];
    return pkeys[key].def;
}

static int build(ld_ctx *x)
{
    scn_t *s = x->s;
    for (int k = s->n_packs; k < SCN_MAX_PACKS; k++)
        if (x->per_used[k]) {
            snprintf(x->err, x->err_len, "%s:%d: [pack.%d]: the bank has only %d packs", x->per[k].file,
                     x->per[k].line, k + 1, s->n_packs);
            return -1;
        }
    if (x->trace_s > 0.0)
        s->trace_ms = (int64_t)llround(x->trace_s * 1000.0);
    if (s->poll_ms % s->step_ms != 0 || s->trace_ms % s->step_ms != 0) {
        snprintf(x->err, x->err_len, "%s: [scenario] poll_ms and trace_s must be multiples of step_ms",
                 x->s->path);
        return -1;
    }
    if (s->latency_ms >= 8 * s->poll_ms) {
        snprintf(x->err, x->err_len, "%s: [scenario] latency_ms must be below 8 poll intervals", s->path);
        return -1;
    }
    if (x->seed_override >= 0)
        s->seed = (uint64_t)x->seed_override;
    rng_t rng;
    rng_seed(&rng, s->seed);
    for (int k = 0; k < s->n_packs; k++) {
        rng_t r = rng_fork(&rng);
        pack_params *p = &s->pack[k];
        pack_params_default(p);
        double g[PK_COUNT];
        for (int j = 0; j < PK_COUNT; j++)
            g[j] = spec_get(x, k, j);
        const char *bad = NULL;
        if (g[PK_OVPR_V] >= g[PK_OVP_V])
            bad = "ovpr_v must be below ovp_v";
        else if (g[PK_UVPR_V] <= g[PK_UVP_V])
            bad = "uvpr_v must be above uvp_v";
        else if (g[PK_CCL_TAPER_START_V] >= g[PK_CCL_TAPER_END_V])
            bad = "ccl_taper_start_v must be below ccl_taper_end_v";
        else if (g[PK_WEAK_CELL] > s->n_cells || g[PK_HIGH_CELL] > s->n_cells)
            bad = "weak_cell/high_cell beyond the cell count";
        if (bad) {
            const pack_spec *sp = x->per[k].line ? &x->per[k] : &x->def;
            snprintf(x->err, x->err_len, "%s:%d: [pack.%d]: %s", sp->file[0] ? sp->file : s->path, sp->line,
                     k + 1, bad);
            return -1;
        }
        p->n_cells = s->n_cells;
        double soc = g[PK_SOC_PCT] / 100.0;
        for (int i = 0; i < s->n_cells; i++) {
            double cap = g[PK_CAP_AH] * (1.0 + g[PK_CAP_SIGMA_PCT] / 100.0 * rng_normal(&r));
            if ((int)g[PK_WEAK_CELL] == i + 1)
                cap *= 1.0 + g[PK_WEAK_CELL_PCT] / 100.0;
            p->cell_cap_ah[i] = cap > 1.0 ? cap : 1.0;
            double c0 = soc + g[PK_SOC_SIGMA_PCT] / 100.0 * rng_normal(&r);
            if ((int)g[PK_HIGH_CELL] == i + 1)
                c0 += g[PK_HIGH_CELL_SOC_PCT] / 100.0;
            p->cell_soc0[i] = c0 < 0.001 ? 0.001 : c0 > 0.999 ? 0.999 : c0;
            double r0 = g[PK_R0_MOHM] * (1.0 + g[PK_R0_SIGMA_PCT] / 100.0 * rng_normal(&r));
            if (r0 < 0.2 * g[PK_R0_MOHM])
                r0 = 0.2 * g[PK_R0_MOHM];
            p->r0_ohm[i] = r0 * g[PK_R_SCALE] * 1e-3;
            p->r1_ohm[i] = g[PK_R1_MOHM] * g[PK_R_SCALE] * 1e-3;
            /* self-discharge: percent of capacity per 30 days as a leak current */
            double sd = g[PK_SD_PCT_MONTH] / 100.0 * cap / (30.0 * 24.0);
            sd *= 1.0 + g[PK_SD_SIGMA_PCT] / 100.0 * rng_normal(&r);
            p->sd_a[i] = sd > 0.0 ? sd : 0.0;
        }
        p->tau_s = g[PK_TAU_S];
        p->rext_ohm = g[PK_REXT_MOHM] * 1e-3;
        p->draw_a = g[PK_DRAW_MA] * 1e-3;
        p->balancer = (pack_balancer)(int)g[PK_BALANCER];
        p->bal_a = g[PK_BAL_A];
        p->bal_start_v = g[PK_BAL_START_V];
        p->bal_trigger_v = g[PK_BAL_TRIGGER_MV] * 1e-3;
        p->bal_eff = g[PK_BAL_EFF];
        p->ovp_v = g[PK_OVP_V];
        p->ovpr_v = g[PK_OVPR_V];
        p->ovp_delay_s = g[PK_OVP_DELAY_S];
        p->uvp_v = g[PK_UVP_V];
        p->uvpr_v = g[PK_UVPR_V];
        p->uvp_delay_s = g[PK_UVP_DELAY_S];
        p->ocp_chg_a = g[PK_OCP_CHG_A];
        p->ocp_dis_a = g[PK_OCP_DIS_A];
        p->ocp_delay_s = g[PK_OCP_DELAY_S];
        p->ocp_release_s = g[PK_OCP_RELEASE_S];
        p->chg_temp_min_c = g[PK_CHG_TEMP_MIN_C];
        p->rep_soc0_pct = isnan(g[PK_REP_SOC_PCT]) ? g[PK_SOC_PCT] : g[PK_REP_SOC_PCT];
        p->rep_offset_a = g[PK_REP_OFFSET_A];
        p->rep_gain = g[PK_REP_GAIN_PCT] / 100.0;
        p->rep_eff = g[PK_REP_EFF];
        p->rep_cap_ah = isnan(g[PK_REP_CAP_AH]) ? g[PK_CAP_AH] : g[PK_REP_CAP_AH];
        p->rep_reset_v = g[PK_REP_RESET_V];
        p->rep_resolution_pct = g[PK_REP_RESOLUTION_PCT];
        p->ccl_max_a = g[PK_CCL_A];
        p->dcl_max_a = g[PK_DCL_A];
        p->cvl_cell_v = g[PK_CVL_CELL_V];
        p->ccl_taper_start_v = g[PK_CCL_TAPER_START_V];
        p->ccl_taper_end_v = g[PK_CCL_TAPER_END_V];
        p->temp0_c = isnan(g[PK_TEMP_C]) ? s->ambient_c : g[PK_TEMP_C];
        s->pack_connected[k] = g[PK_CONNECTED] != 0.0;
    }
    return 0;
}

static void name_of(const char *path, char *name, size_t len)
{
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    snprintf(name, len, "%s", b);
    char *dot = strrchr(name, '.');
    if (dot && strcmp(dot, ".ini") == 0)
        *dot = '\0';
}

static int finish(ld_ctx *x, const char *path, char *err, size_t err_len)
{
    scn_t *s = x->s;
    if (build(x) != 0)
        return -1;
    if (s->events_path[0] && load_events(s, s->events_path, err, err_len) != 0)
        return -1;
    name_of(path, s->name, sizeof s->name);
    return 0;
}

int scn_load(const char *path, scn_t *s, char *err, size_t err_len)
{
    return scn_load_seeded(path, -1, s, err, err_len);
}

int scn_load_seeded(const char *path, long seed, scn_t *s, char *err, size_t err_len)
{
    static ld_ctx x;   /* large (pack specs): static, the loader is not reentrant */
    memset(&x, 0, sizeof x);
    x.seed_override = seed;
    scn_defaults(s);
    snprintf(s->path, sizeof s->path, "%s", path);
    x.s = s;
    x.err = err;
    x.err_len = err_len;
    if (parse_file(&x, path) != 0)
        return -1;
    return finish(&x, path, err, err_len);
}

int scn_load_string(const char *text, const char *name, scn_t *s, char *err, size_t err_len)
{
    static ld_ctx x;
    memset(&x, 0, sizeof x);
    x.seed_override = -1;
    scn_defaults(s);
    snprintf(s->path, sizeof s->path, "%s", name);
    x.s = s;
    x.err = err;
    x.err_len = err_len;
    line_src src;
    conf_lines_init(&src.lines, NULL, text);
    src.x = &x;
    if (parse_source(&x, &src, name) != 0)
        return -1;
    return finish(&x, name, err, err_len);
}

int64_t scn_duration_ms(const scn_t *s)
{
    return (int64_t)llround(s->days * 86400000.0);
}
