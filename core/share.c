/* Each pack's expected share of the bank current, and the bank limit that keeps every pack within its own limit. */
#include <math.h>

#include "share.h"

void share_smoother_init(share_smoother *s)
{
    s->init = false;
    s->members = 0;
    for (int i = 0; i < SHARE_MAX_PACKS; i++)
        s->sm[i] = 0.0;
}

/* The policy calls this twice a tick: one pass to sum, one to share and bound, and no
 * intermediate arrays (an earlier version built capacity, measured and smoothed shares in
 * four calls, which cost more than the arithmetic). The sums run in pack order, as before, so
 * the results are the same to the bit. */
double share_step(share_smoother *s, const share_in *in, int n, double sign, double min_bank_a,
                  double alpha, double *used, int *binding)
{
    const uint32_t member = n < 32 ? in->member & ((1u << n) - 1u) : in->member;
    double cap_total = 0.0, cur_total = 0.0;
    int count = 0;
    bool cap_known = true, cur_known = true;
    for (int i = 0; i < n; i++) {
        if (!(member & (1u << i)))
            continue;
        count++;
        if (isnan(in->cap_ah[i]))
            cap_known = false;
        else
            cap_total += in->cap_ah[i];
        double c = sign * in->current_a[i];
        if (isnan(c))
            cur_known = false;
        else
            cur_total += c;   /* net: a member flowing the other way (circulation) counts against */
    }
    bool measured = cur_known && cur_total >= min_bank_a && cur_total > 0.0;
    bool restart = measured && (!s->init || s->members != member);
    if (restart) {
        s->init = true;
        s->members = member;
    }
    bool by_cap = cap_known && cap_total > 0.0;

    /* Two loops rather than one testing `measured` per pack; the running minimum and its pack
     * stay in locals (used[] might alias anything the compiler would otherwise reload). */
    double best = INFINITY;
    int bind = -1;
    if (measured) {
        for (int i = 0; i < n; i++) {
            bool in_member = (member & (1u << i)) != 0;
            double inst = 0.0;
            if (in_member) {
                double c = sign * in->current_a[i];
                inst = c > 0.0 ? c / cur_total : 0.0;
            }
            double sm = restart ? inst : s->sm[i] + alpha * (inst - s->sm[i]);
            s->sm[i] = sm;
            double share = sm > inst ? sm : inst;
            used[i] = share;
            if (in_member && (in->has_limit & (1u << i)) && share > 1e-9) {
                double l = in->limit_a[i] / share;
                if (l < best) {
                    best = l;
                    bind = i;
                }
            }
        }
    } else {
        for (int i = 0; i < n; i++) {
            if (!(member & (1u << i))) {
                used[i] = 0.0;
                continue;
            }
            double share = by_cap ? in->cap_ah[i] / cap_total : 1.0 / count;
            used[i] = share;
            if ((in->has_limit & (1u << i)) && share > 1e-9) {
                double l = in->limit_a[i] / share;
                if (l < best) {
                    best = l;
                    bind = i;
                }
            }
        }
    }
    *binding = bind;
    return best;
}
