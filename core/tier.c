/* The SOC-spread tier table and its anti-flap state machine: tighten at once, loosen only after a hold. */
#include "tier.h"

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
