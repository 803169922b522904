/* The SOC-spread tier table and its anti-flap state machine: tighten at once, loosen only after a hold. */
#include "exact.h"
#include "tier.h"

int tier_lookup(const double *bound_pct, int n_tiers, double spread_pct)
{
    int tier = 0;
    for (int i = 0; i < n_tiers - 1; i++) {
        /* The original design keeps 10..15 inclusive in the 66 % tier: only the last
         * boundary is strict. */
        bool last = (i == n_tiers - 2);
        if (last ? spread_pct > bound_pct[i] : spread_pct >= bound_pct[i])
            tier = i + 1;
    }
    return tier;
}

int tier_lookup_relaxed(const double *bound_pct, int n_tiers, double spread_pct, double hyst_pct)
{
    int tier = 0;
    for (int i = 0; i < n_tiers - 1; i++)
        if (spread_pct >= bound_pct[i] - hyst_pct)
            tier = i + 1;
    return tier;
}

double tier_amps(double nominal_a, double pct)
{
    /* Multiply before dividing: 150 * 85 = 12750 is exact, so 127.5 rounds up to 128
     * as the original design says, where 150 * 0.85 would land just below. */
    return exact_floor(nominal_a * pct / 100.0 + 0.5);
}

void tier_flap_init(tier_flap *f)
{
    f->init = false;
    f->applied = 0;
    f->pending = false;
    f->pending_tier = 0;
    f->since_ms = 0;
}

int tier_flap_update(tier_flap *f, int64_t now_ms, int raw, int relaxed, int64_t hold_ms)
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
