/* Invariant checks (SIMULATION.md section 10); the first violation is kept with its time, pack, cell and values. */
#include <math.h>
#include <stdarg.h>
#include <string.h>

#include "invariant.h"
#include "ocv.h"
#include "tier.h"

void inv_fmt_time(int64_t t_ms, char *buf, size_t len)
{
    int64_t s = t_ms / 1000;
    snprintf(buf, len, "%.1f s (day %lld %02lld:%02lld:%02lld)", (double)t_ms / 1000.0,
             (long long)(s / 86400), (long long)(s % 86400 / 3600), (long long)(s % 3600 / 60),
             (long long)(s % 60));
}

static __attribute__((cold)) bool violate(inv_t *v, int64_t t_ms, const char *name, int pack, int cell,
                                          const char *fmt, ...)
{
    if (v->violated)
        return false;
    v->violated = true;
    v->t_ms = t_ms;
    snprintf(v->name, sizeof v->name, "%s", name);
    char when[64], where[48], what[256];
    inv_fmt_time(t_ms, when, sizeof when);
    if (pack >= 0 && cell >= 0)
        snprintf(where, sizeof where, "pack %d cell %d", pack + 1, cell + 1);
    else if (pack >= 0)
        snprintf(where, sizeof where, "pack %d", pack + 1);
    else
        snprintf(where, sizeof where, "bank");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    snprintf(v->msg, sizeof v->msg, "invariant %s violated at t=%s, %s: %s", name, when, where, what);
    return false;
}

void inv_init(inv_t *v, const scn_t *s, const pol_config *cfg)
{
    memset(v, 0, sizeof *v);
    v->s = s;
    v->cfg = cfg;
    pol_config_default(&v->env);
    v->env_nominal_a = cfg->nominal_ccl_a < s->rating_a ? cfg->nominal_ccl_a : s->rating_a;
    for (int k = 0; k < SCN_MAX_PACKS; k++) {
        v->over_ccl_since_ms[k] = v->over_dcl_since_ms[k] = -1;
        v->ovp_check_v[k] = INFINITY;
    }
    v->tol_frac = s->tol_pct / 100.0;
    v->tol_a = s->tol_a;
    /* CCL above the bank rating or the config's nominal (each with 1e-9 A of rounding): one
     * compare per tick against the lower bound (fmin passes over a NaN as the compares would). */
    v->ccl_cap_a = fmin(s->rating_a + 1e-9, cfg->nominal_ccl_a + 1e-9);
    v->tiers_spread_pct = NAN;
    /* The envelope's amps per tier, rounded once rather than at every tick. */
    for (int t = 0; t < v->env.n_tiers && t < POL_MAX_TIERS; t++)
        v->env_amps[t] = tier_amps(v->env_nominal_a, v->env.tier_ccl_pct[t]);
    /* The fullest a cell may get is 100 %, or, with the BMS's OVP set above the full cell's OCV
     * (3.65 or 3.70 V against the model's 3.649 V), the SOC at which the OCV reaches that trip plus
     * what the cell takes during the trip delay at the BMS's charge over-current limit: the BMS,
     * not the controller, decides how far past full a cell it sees may go. */
    ocv_init();
    for (int k = 0; k < s->n_packs && k < SCN_MAX_PACKS; k++) {
        const pack_params *pp = &s->pack[k];
        double full_v = ocv_tab_v[OCV_POINTS - 1], hi = 1.0;
        if (pp->ovp_v > full_v) {
            double cap_min = INFINITY;
            for (int i = 0; i < pp->n_cells; i++)
                cap_min = pp->cell_cap_ah[i] < cap_min ? pp->cell_cap_ah[i] : cap_min;
            hi += (pp->ovp_v - full_v) / OCV_EXTRAP_V_PER_UNIT;
            if (cap_min > 0.0 && cap_min < INFINITY)
                hi += pp->ocp_chg_a * pp->ovp_delay_s / (cap_min * 3600.0);
        }
        v->soc_max[k] = hi;
        v->ovp_check_v[k] = s->expect.safe ? pp->ovp_v : INFINITY;
    }
    /* The controller needs a poll and its latency to see a change, and the CCL a tick to act. */
    v->grace_ms = (int64_t)(s->grace_s * 1000.0) + 2 * s->poll_ms + s->latency_ms;
}

bool inv_static(inv_t *v)
{
    if (!v->s->expect.safe)
        return true;
    for (int k = 0; k < v->s->n_packs; k++)
        if (v->cfg->cell_stop_v >= v->s->pack[k].ovp_v)
            return violate(v, 0, "cell-stop-below-ovp", k, -1,
                           "cell_stop_v %.3f V is not below the BMS over-voltage trip %.3f V: the "
                           "BMS, not the controller, would end every charge",
                           v->cfg->cell_stop_v, v->s->pack[k].ovp_v);
    return true;
}

bool inv_ctrl(inv_t *v, int64_t now_ms, const pol_output *out)
{
    const pol_config *c = v->cfg;
    double ccl = out->ccl_a;
    if (!(ccl >= 0.0))
        return violate(v, now_ms, "ccl-valid", -1, -1, "CCL %g A is negative or NaN", ccl);
    if (ccl > v->ccl_cap_a)
        return violate(v, now_ms, "ccl-nominal", -1, -1,
                       "CCL %.2f A above the nominal (config %.1f A, bank rating %.1f A)", ccl,
                       c->nominal_ccl_a, v->s->rating_a);
    /* Both tables' tiers for this spread: SOCs come in whole percents, so the spread repeats
     * from tick to tick and the lookups are redone only when it changes (NaN never matches). */
    if (out->spread_valid && !(out->spread_pct == v->tiers_spread_pct)) {
        v->tiers_spread_pct = out->spread_pct;
        v->env_tier = tier_lookup(v->env.tier_spread_pct, v->env.n_tiers, out->spread_pct);
        v->cfg_tier = pol_tier_for_spread(c, out->spread_pct);
    }
    if (out->spread_valid || out->spike) {
        int top = v->env.n_tiers - 1;
        int t = out->spike ? top : v->env_tier;
        double lim = v->env_amps[t];
        if (ccl > lim + 1e-9)
            return violate(v, now_ms, "ccl-tier", -1, -1,
                           "CCL %.2f A above the tier limit %.1f A (%.0f %%) for the spread the "
                           "controller saw, %.2f pp%s",
                           ccl, lim, v->env.tier_ccl_pct[t], out->spread_pct,
                           out->spike ? " with a cell spike" : "");
    }
    /* Alarm hold: the red alert may only clear once its cause has been gone for the hold. */
    int top = c->n_tiers - 1;
    bool cause = out->spike ||
                 (out->spread_valid && top > 0 && v->cfg_tier >= top);
    if (cause) {
        v->cause_seen = true;
        v->last_cause_ms = now_ms;
    }
    int64_t hold_ms = (int64_t)(c->alarm_clear_hold_s * 1000.0);
    if (v->red_prev && !out->red_alert && v->cause_seen && now_ms - v->last_cause_ms < hold_ms)
        return violate(v, now_ms, "alarm-hold", -1, -1,
                       "red alert cleared %.1f s after its cause was last seen, hold is %.1f s",
                       (double)(now_ms - v->last_cause_ms) / 1000.0, c->alarm_clear_hold_s);
    v->red_prev = out->red_alert;
    return true;
}

bool inv_sum_wide(inv_t *v, int64_t now_ms, double i_bank_a, const bus_t *b, double sum, double mag, double gap)
{
    for (int k = 0; k < b->n; k++)
        if (b->connected[k])
            mag += b->g_s[k] * fabs(b->e_v[k]);
    if (!(gap <= 1e-12 * mag + 1e-12))
        return violate(v, now_ms, "current-sum", -1, -1, "pack currents sum to %.15g A, bank %.15g A",
                       sum, i_bank_a);
    return true;
}

int inv_ledger_scan(const inv_t *v, int k, const pack_t *p)
{
    int bad = 0;
    for (int i = 0; i < p->p.n_cells; i++) {
        bad += !pack_cell_good(p, i, v->soc_max[k]);
    }
    return bad;
}

/* Names the first cell off its ledger or outside its range, once the step counted one: the
 * message path, kept out of the per-step code. Returns false with the violation kept, or true
 * if no cell is found (the count and this scan use the same formula, so only a bug gets here). */
__attribute__((noinline, cold)) bool inv_name_ledger_cell(inv_t *v, int64_t now_ms, int k, const pack_t *p)
{
    for (int i = 0; i < p->p.n_cells; i++) {
        double gap = pack_ledger_gap_as(p, i);
        if (!(fabs(gap) <= p->tol_as[i])) {   /* NaN included */
            double got = p->soc[i] * p->cap_as[i] - p->c0_as[i];
            return violate(v, now_ms, "charge-conservation", k, i,
                           "SOC moved %.6f As, the ledgers say %.6f As", got, got - gap);
        }
        /* A working BMS keeps every cell inside its capacity: OVP and UVP act on terminal
         * voltages, which lead the OCV in the direction of the current. (Its OVP may be set
         * above the full cell's OCV: then as far as that trip lets a cell go.) */
        if (p->soc[i] < 0.0 || p->soc[i] > v->soc_max[k])
            return violate(v, now_ms, "cell-soc-range", k, i,
                           "true SOC %.4f %% outside 0..%.4f %% (cell at %.4f V)",
                           100.0 * p->soc[i], 100.0 * v->soc_max[k], p->v[i]);
    }
    return true;
}

__attribute__((cold)) bool inv_cell_ovp(inv_t *v, int64_t now_ms, int k, const pack_t *p)
{
    return violate(v, now_ms, "cell-ovp", k, p->imax, "cell at %.4f V reached the BMS over-voltage trip %.3f V",
                   p->vmax, p->p.ovp_v);
}

__attribute__((cold)) bool inv_pack_over(inv_t *v, int64_t now_ms, int k, const pack_t *p, bool charging,
                                         double limit_a, double tol_a, int64_t since_ms)
{
    if (charging)
        return violate(v, now_ms, "pack-ccl", k, -1,
                       "charge current %.2f A above its own CCL %.2f A (+%.1f A) for %.0f s", p->i_a, limit_a,
                       tol_a, (double)(now_ms - since_ms) / 1000.0);
    return violate(v, now_ms, "pack-dcl", k, -1,
                   "discharge current %.2f A above its own DCL %.2f A (+%.1f A) for %.0f s", -p->i_a, limit_a,
                   tol_a, (double)(now_ms - since_ms) / 1000.0);
}

bool inv_pack(inv_t *v, int64_t now_ms, int k, const pack_t *p, int ledger_bad, double ccl_a,
              double dcl_a, double i_bank_a, bool visible)
{
    return inv_pack_step(v, now_ms, k, p, ledger_bad, false, ccl_a, dcl_a, i_bank_a,
                         visible ? inv_judge_for(v, i_bank_a) : INV_JUDGE_NONE);
}
