/* The SOC-spread tier table and its anti-flap state machine: tighten at once, loosen only after a hold. */
#ifndef BMSAGG_TIER_H
#define BMSAGG_TIER_H

#include <stdbool.h>
#include <stdint.h>

#include "exact.h"

/* Raw tier of a spread, for n_tiers tiers with n_tiers - 1 increasing boundaries (percentage
 * points). Tier i (0 < i < n_tiers - 1) applies from spread >= bound[i-1]; the last tier needs
 * spread > its boundary. So with 5/10/15: 4.99 -> 0, 5.00 -> 1, 10.00 -> 2, 15.00 -> 2, 15.01 -> 3.
 * (The lookups are inline: the policy asks for the raw tier every tick.) */
static inline int tier_lookup(const double *bound_pct, int n_tiers, double spread_pct)
{
    int tier = 0;
    /* The original design keeps 10..15 inclusive in the 66 % tier: only the last boundary is
     * strict, taken after the loop (a test per boundary of which one it is cost as much as the
     * comparison). */
    const int last = n_tiers - 2;
    for (int i = 0; i < last; i++)
        if (spread_pct >= bound_pct[i])
            tier = i + 1;
    if (last >= 0 && spread_pct > bound_pct[last])
        tier = last + 1;
    return tier;
}

/* The tier of this spread with every boundary moved down by hyst_pct (all boundaries
 * inclusive): a looser tier j is earned only while spread < bound[j] - hyst. */
static inline int tier_lookup_relaxed(const double *bound_pct, int n_tiers, double spread_pct,
                                      double hyst_pct)
{
    int tier = 0;
    for (int i = 0; i < n_tiers - 1; i++)
        if (spread_pct >= bound_pct[i] - hyst_pct)
            tier = i + 1;
    return tier;
}

/* Whole amps of a tier, rounded half up: round(nominal * pct / 100). */
static inline double tier_amps(double nominal_a, double pct)
{
    /* Multiply before dividing: 150 * 85 = 12750 is exact, so 127.5 rounds up to 128
     * as the original design says, where 150 * 0.85 would land just below. */
    return exact_floor(nominal_a * pct / 100.0 + 0.5);
}

/* Caller-owned anti-flap state. Do not rely on its contents. */
typedef struct {
    bool init;
    int applied;
    bool pending;
    int pending_tier;
    int64_t since_ms;
} tier_flap;

void tier_flap_init(tier_flap *f);

/* Whether tier_flap_update(f, ..., raw, relaxed, ...) looks at relaxed: only with a history and
 * raw looser than the applied tier. Otherwise any relaxed >= raw gives the same update, and a
 * caller can spare the lookup (the usual tick holds or tightens). */
static inline bool tier_flap_wants_relaxed(const tier_flap *f, int raw)
{
    return f->init && raw < f->applied;
}

/* One update. raw: the tier the present spread calls for; relaxed: the tier it is in when
 * every boundary moves down by the hysteresis (relaxed >= raw). A tighter raw tier applies at once; a looser
 * one only after relaxed has stayed below the applied tier for hold_ms, and then to the
 * tightest relaxed tier seen during the hold. Returns the applied tier.
 * (Inline: the policy updates it every tick, and the call cost as much as the update.) */
static inline int tier_flap_update(tier_flap *f, int64_t now_ms, int raw, int relaxed, int64_t hold_ms)
{
    if (relaxed < raw)
        relaxed = raw;   /* moving the boundaries down can only make the tier tighter */
    if (!f->init) {
        /* The first tick has no history to protect: take the raw tier. */
        f->init = true;
        f->applied = raw;
        f->pending = false;
        return f->applied;
    }
    if (raw >= f->applied) {
        f->applied = raw;
        f->pending = false;
        return f->applied;
    }
    if (relaxed >= f->applied) {
        /* Below the boundary but not by the hysteresis margin: no progress towards unlocking. */
        f->pending = false;
        return f->applied;
    }
    if (!f->pending) {
        f->pending = true;
        f->since_ms = now_ms;
        f->pending_tier = relaxed;
    } else if (relaxed > f->pending_tier) {
        /* The unlock target is the tightest tier the spread needed during the hold. */
        f->pending_tier = relaxed;
    }
    if (now_ms - f->since_ms >= hold_ms) {
        f->applied = f->pending_tier;
        f->pending = false;
    }
    return f->applied;
}

#endif
