/* Each pack's expected share of the bank current, and the bank limit that keeps every pack within its own limit. */

#include "share.h"

void share_smoother_init(share_smoother *s)
{
    s->init = false;
    s->members = 0;
    for (int i = 0; i < SHARE_MAX_PACKS; i++)
        s->sm[i] = 0.0;
}

double share_step(share_smoother *s, const share_in *in, int n, double sign, double min_bank_a,
                  double alpha, double *used, int *binding)
{
    const uint32_t slots = share_slots_below(n), member = in->member & slots;
    /* The arrays as columns; an unknown value is their NaN. */
    const share_cols cols = {in->member,
                             in->has_limit,
                             ~0u,
                             ~0u,
                             {(const char *)in->cap_ah, sizeof(double), 0},
                             {(const char *)in->current_a, sizeof(double), 0},
                             {(const char *)in->limit_a, sizeof(double), 0}};
    share_sums t = share_sum_members(&cols, member, sign);
    return share_from(s, &cols, member, &t, n, slots, sign, min_bank_a, alpha, (share_out){(char *)used, sizeof *used},
                      binding);
}
