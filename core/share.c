/* Each pack's expected share of the bank current, and the bank limit that keeps every pack within its own limit. */
#include <math.h>

#include "share.h"

void share_by_capacity(const bool *member, const double *cap_ah, int n, double *share)
{
    double total = 0.0;
    int count = 0;
    bool all_known = true;
    for (int i = 0; i < n; i++) {
        if (!member[i])
            continue;
        count++;
        if (isnan(cap_ah[i]))
            all_known = false;
        else
            total += cap_ah[i];
    }
    for (int i = 0; i < n; i++) {
        if (!member[i] || count == 0)
            share[i] = 0.0;
        else if (all_known && total > 0.0)
            share[i] = cap_ah[i] / total;
        else
            share[i] = 1.0 / count;
    }
}

bool share_by_current(const bool *member, const double *current_a, int n, double sign,
                      double min_bank_a, double *inst)
{
    double total = 0.0;
    for (int i = 0; i < n; i++) {
        inst[i] = 0.0;
        if (!member[i])
            continue;
        if (isnan(current_a[i]))
            return false;
        double c = sign * current_a[i];
        if (c > 0.0)
            total += c;
    }
    if (!(total >= min_bank_a) || total <= 0.0)
        return false;
    for (int i = 0; i < n; i++) {
        if (!member[i])
            continue;
        double c = sign * current_a[i];
        inst[i] = c > 0.0 ? c / total : 0.0;
    }
    return true;
}

void share_smoother_init(share_smoother *s)
{
    s->init = false;
    s->members = 0;
    for (int i = 0; i < SHARE_MAX_PACKS; i++)
        s->sm[i] = 0.0;
}

void share_update(share_smoother *s, const bool *member, int n, bool measured, const double *inst,
                  const double *cap_share, double alpha, double *used)
{
    uint32_t mask = 0;
    for (int i = 0; i < n && i < SHARE_MAX_PACKS; i++)
        if (member[i])
            mask |= 1u << i;
    if (!measured) {
        for (int i = 0; i < n; i++)
            used[i] = cap_share[i];
        return;
    }
    if (!s->init || s->members != mask) {
        for (int i = 0; i < n; i++)
            s->sm[i] = inst[i];
        s->init = true;
        s->members = mask;
    } else {
        for (int i = 0; i < n; i++)
            s->sm[i] += alpha * (inst[i] - s->sm[i]);
    }
    for (int i = 0; i < n; i++)
        used[i] = s->sm[i] > inst[i] ? s->sm[i] : inst[i];
}

double share_limit(const bool *member, const bool *has_limit, const double *limit_a,
                   const double *share, int n, int *binding)
{
    double best = INFINITY;
    *binding = -1;
    for (int i = 0; i < n; i++) {
        if (!member[i] || !has_limit[i] || !(share[i] > 1e-9))
            continue;
        double l = limit_a[i] / share[i];
        if (l < best) {
            best = l;
            *binding = i;
        }
    }
    return best;
}
