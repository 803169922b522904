/* Invariants checked at every step: the controller's limits, the plant's physics, the BMS-facing promises. */
#ifndef BMSAGG_SIM_INVARIANT_H
#define BMSAGG_SIM_INVARIANT_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "bus.h"
#include "pack.h"
#include "policy.h"
#include "scenario.h"

typedef struct {
    const scn_t *s;
    const pol_config *cfg;
    pol_config env;            /* the safety envelope: the original design's tier table */
    double env_nominal_a;      /* min(config nominal, bank rating) */
    bool violated;
    char name[48];             /* the violated invariant, e.g. "ccl-tier" */
    char msg[400];             /* time, pack, cell and values */
    int64_t t_ms;
    /* alarm hold */
    bool red_prev;
    bool cause_seen;
    int64_t last_cause_ms;
    /* pack over-limit timers */
    int64_t over_ccl_since_ms[SCN_MAX_PACKS];
    int64_t over_dcl_since_ms[SCN_MAX_PACKS];
    int64_t grace_ms;
    double tol_frac;           /* tol_pct / 100, divided once */
    double tol_a;              /* the scenario's tol_a, in reach without a look through s */
    double ccl_cap_a;          /* the highest CCL the nominal and the bank rating allow */
    double env_amps[POL_MAX_TIERS];  /* the envelope's CCL of each tier, in amps */
    double tiers_spread_pct;         /* the spread env_tier and cfg_tier were looked up for */
    int env_tier, cfg_tier;          /* its tier in the envelope's table and in the config's */
    double ovp_check_v[SCN_MAX_PACKS];   /* pack k's OVP trip in a safe scenario, else infinity */
    double soc_max[SCN_MAX_PACKS];   /* the fullest a cell of pack k may get (1 = 100 %, more with OVP above full) */
} inv_t;

void inv_init(inv_t *v, const scn_t *s, const pol_config *cfg);

/* Static checks of the config against the plant before the run (returns false on violation). */
bool inv_static(inv_t *v);

/* After each controller tick: tier envelope, nominal, alarm hold. */
bool inv_ctrl(inv_t *v, int64_t now_ms, const pol_output *out);

/* inv_sum's second look, out of line: the bound with the bus's terms in it. */
bool inv_sum_wide(inv_t *v, int64_t now_ms, double i_bank_a, const bus_t *b, double sum, double mag, double gap);

/* Plant: the pack currents i_a[0..b->n) sum to the bank current, to 1e-12 of the currents' size
 * plus the bus's sum of G_k |E_k| (the size of the terms the closed form cancels, so the bound
 * is rounding, not physics). sum is their sum in pack order, which the caller takes in its own
 * pass over them. Inline: it runs at every step, and its usual path is a few instructions. */
static inline bool inv_sum(inv_t *v, int64_t now_ms, double i_bank_a, const bus_t *b, const double *i_a,
                           double sum)
{
    double gap = fabs(sum - i_bank_a);
    /* The terms of the scale only widen the bound: a gap within it with the bank current's
     * alone needs no more. */
    if (gap <= 1e-12 * fabs(i_bank_a) + 1e-12)
        return true;
    double mag = fabs(i_bank_a);
    for (int k = 0; k < b->n; k++)
        mag += fabs(i_a[k]);
    return inv_sum_wide(v, now_ms, i_bank_a, b, sum, mag, gap);
}

/* Which pack limit a step judges: the direction the bank flows. */
typedef enum {
    INV_JUDGE_NONE,       /* no current, or the pack is not visible: both timers restart */
    INV_JUDGE_CCL,        /* charging */
    INV_JUDGE_FEED_IN,    /* charging with DC feed-in: the chargers ignore CCL by design */
    INV_JUDGE_DCL         /* discharging (and a NaN bank current, which no compare takes elsewhere) */
} inv_judge;

/* The limit judged this step for a pack the controller sees (inv_pack_step says which packs). */
static inline inv_judge inv_judge_for(const inv_t *v, double i_bank_a)
{
    if (i_bank_a == 0.0)
        return INV_JUDGE_NONE;
    if (i_bank_a > 0.0)
        return v->s->dc_feed_in ? INV_JUDGE_FEED_IN : INV_JUDGE_CCL;
    return INV_JUDGE_DCL;
}

/* The messages of inv_pack_step's violations, out of line and cold: each keeps the violation
 * and returns false (inv_name_ledger_cell returns true if it finds no such cell). */
bool inv_name_ledger_cell(inv_t *v, int64_t now_ms, int k, const pack_t *p);
bool inv_cell_ovp(inv_t *v, int64_t now_ms, int k, const pack_t *p);
bool inv_pack_over(inv_t *v, int64_t now_ms, int k, const pack_t *p, bool charging, double limit_a,
                   double tol_a, int64_t since_ms);

/* Plant and BMS-facing checks of pack k after a step: charge conservation per cell (ledger_bad
 * is the step's verdict from pack_advance_checked, or inv_ledger_scan's; non-zero names the first
 * offending cell), OVP in safe scenarios, pack current within its own CCL/DCL (beyond tolerance
 * for longer than the grace). Returns false on a violation, which v keeps.
 *
 * The pack limits are judged only while the bank current flows the same way (j from
 * inv_judge_for): a pack with a higher EMF discharging into the others while the bank charges is
 * physics the controller cannot command; it sets only the bank's limits. For the same reason only
 * the part of a pack's current up to the bank current is judged: the rest is circulation (a pack
 * reconnecting at a higher EMF dumps current into the others). They are also judged only while
 * the controller sees the pack (online in its last output; else j is INV_JUDGE_NONE): a pack
 * whose readings are lost cannot have its limits honoured by anyone but its own BMS; the
 * controller's duty then is the offline scaling and BmsCable alarm, which inv_ctrl and the
 * expectations check. The grace restarts when the pack becomes visible again.
 *
 * With own_limits the pack's own CCL or DCL is computed here, and only where it is judged; else
 * ccl_a is read only while the bank charges and dcl_a only while it discharges (a caller may pass
 * NAN for the other). Inline: the run calls it for every pack at every step, in the loop that
 * steps the packs, where the usual pack takes a few compares. */
static inline __attribute__((always_inline)) bool inv_pack_step(inv_t *v, int64_t now_ms, int k, const pack_t *p,
                                                                int ledger_bad, bool own_limits, double ccl_a,
                                                                double dcl_a, double i_bank_a, inv_judge j)
{
    /* Charge conservation: the step itself counted the cells off their ledgers (in the cell
     * loop, where they are in registers); only then is the offending cell looked up. */
    if (ledger_bad && !inv_name_ledger_cell(v, now_ms, k, p))
        return false;
    if (p->vmax >= v->ovp_check_v[k])
        return inv_cell_ovp(v, now_ms, k, p);
    /* The pack limits: only the direction the bank flows is judged, so the other direction's
     * timer restarts. Compares instead of fmax/fmin calls: tol_a is finite and the bank
     * current is finite in the branch that uses it, so a NaN pack current or limit takes the
     * same branch as with fmin/fmax. */
    if (j == INV_JUDGE_NONE) {
        v->over_ccl_since_ms[k] = v->over_dcl_since_ms[k] = -1;
        return true;
    }
    if (j == INV_JUDGE_FEED_IN) {
        v->over_dcl_since_ms[k] = -1;
        return true;
    }
    /* The judged current, positive in the judged direction: only the part of a pack's current
     * the bank can have driven counts; beyond the bank current it is circulation. */
    const bool charging = j == INV_JUDGE_CCL;
    double limit_a, judged_a;
    int64_t *since;
    if (charging) {
        v->over_dcl_since_ms[k] = -1;
        limit_a = own_limits ? pack_ccl_a(p) : ccl_a;
        judged_a = p->i_a < i_bank_a ? p->i_a : i_bank_a;
        since = &v->over_ccl_since_ms[k];
    } else {
        v->over_ccl_since_ms[k] = -1;
        limit_a = own_limits ? pack_dcl_a(p) : dcl_a;
        judged_a = -p->i_a < -i_bank_a ? -p->i_a : -i_bank_a;
        since = &v->over_dcl_since_ms[k];
    }
    double pct = v->tol_frac * limit_a;
    double tol = pct > v->tol_a ? pct : v->tol_a;
    if (judged_a > limit_a + tol) {
        if (*since < 0)
            *since = now_ms;
        if (now_ms - *since > v->grace_ms)
            return inv_pack_over(v, now_ms, k, p, charging, limit_a, tol, *since);
    } else {
        *since = -1;
    }
    return true;
}

/* inv_pack_step with the pack's limits given, for a pack the controller sees if visible. */
bool inv_pack(inv_t *v, int64_t now_ms, int k, const pack_t *p, int ledger_bad, double ccl_a,
              double dcl_a, double i_bank_a, bool visible);

/* The charge-conservation verdict for a pack's state as it stands: how many cells are off their
 * ledgers or outside 0..soc_max (what pack_advance_checked returns for the step it makes). */
int inv_ledger_scan(const inv_t *v, int k, const pack_t *p);

/* Formats a millisecond time as "12345.0 s (day 0 03:25:45)". */
void inv_fmt_time(int64_t t_ms, char *buf, size_t len);

#endif
