/* Steady-snapshot evaluation of the core: what it publishes for a given bank, once settled. */
#include <math.h>
#include <string.h>

#include "conf.h"
#include "eval.h"

int eval_parse_list(const char *s, double lo, double hi, double *out, int max)
{
    int n = 0;
    const char *p = s;
    if (!*s)
        return -1;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char buf[64];
        if (len == 0 || len >= sizeof buf || n >= max)
            return -1;
        memcpy(buf, p, len);
        buf[len] = '\0';
        if (conf_parse_double(buf, lo, hi, &out[n]) != 0)
            return -1;
        n++;
        if (!comma)
            return n;
        p = comma + 1;
    }
}

static void print_num(FILE *f, const char *key, bool valid, double v)
{
    if (!valid || !isfinite(v))
        fprintf(f, "%s=invalid\n", key);
    else
        fprintf(f, "%s=%.10g\n", key, v);
}

int eval_run(FILE *f, const pol_config *cfg, const double *soc_pct, const double *cell_delta_v, int n)
{
    static pol_state st;
    static pol_output out;
    rdg_reading r[POL_MAX_PACKS];
    pol_init(&st);
    /* Settled: no output changed for longer than the unlock hold, the alarm hold and a full ramp. */
    double ramp_s = cfg->nominal_ccl_a / cfg->ramp_a_per_s;
    int64_t quiet_ms = (int64_t)((cfg->unlock_hold_s + cfg->alarm_clear_hold_s + ramp_s + 10.0) * 1000.0);
    int64_t now = 0, last_change = 0;
    double prev_ccl = NAN, prev_dcl = NAN;
    int prev_tier = -1, prev_imb = -1;
    int64_t steps = 0;
    const int64_t dt_ms = 1000, max_ms = 7 * 86400000LL;
    for (; now <= max_ms; now += dt_ms, steps++) {
        for (int k = 0; k < n; k++) {
            rdg_clear(&r[k]);
            r[k].fresh = true;
            r[k].label = k + 1;
            double d = cell_delta_v ? cell_delta_v[k] : 0.01;
            rdg_set(&r[k], RDG_SOC, soc_pct[k]);
            rdg_set(&r[k], RDG_VOLTAGE, 16 * 3.30);
            rdg_set(&r[k], RDG_CURRENT, 0.0);
            rdg_set(&r[k], RDG_TEMPERATURE, 25.0);
            rdg_set(&r[k], RDG_MIN_CELL, 3.30);
            rdg_set(&r[k], RDG_MAX_CELL, 3.30 + d);
            r[k].min_cell_id = 1;
            r[k].max_cell_id = 2;
            rdg_set(&r[k], RDG_INSTALLED_CAP, 280.0);
        }
        if (pol_step(&st, cfg, now, r, n, &out) != 0)
            return -1;
        int imb = out.alarm[RDG_AL_CELL_IMBALANCE];
        if (out.ccl_a != prev_ccl || out.dcl_a != prev_dcl || out.tier != prev_tier || imb != prev_imb)
            last_change = now;
        prev_ccl = out.ccl_a;
        prev_dcl = out.dcl_a;
        prev_tier = out.tier;
        prev_imb = imb;
        if (now - last_change > quiet_ms)
            break;
    }
    print_num(f, "soc", out.soc_valid, out.soc_pct);
    print_num(f, "spread", out.spread_valid, out.spread_pct);
    print_num(f, "ccl", true, out.ccl_a);
    print_num(f, "dcl", true, out.dcl_a);
    print_num(f, "cvl", true, out.cvl_v);
    fprintf(f, "tier=%d\n", out.tier);
    print_num(f, "tier_pct", true, cfg->tier_ccl_pct[out.tier]);
    fprintf(f, "cellimbalance=%d\n", out.alarm[RDG_AL_CELL_IMBALANCE]);
    fprintf(f, "red_alert=%d\n", out.red_alert ? 1 : 0);
    fprintf(f, "spike=%d\n", out.spike ? 1 : 0);
    fprintf(f, "limiter=%s\n", pol_limiter_name(out.ccl_limiter));
    fprintf(f, "reason=%s\n", out.reason);
    fprintf(f, "packs_online=%d\n", out.n_online);
    fprintf(f, "settled_s=%.0f\n", (double)last_change / 1000.0);
    return 0;
}
