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
