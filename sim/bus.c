/* Closed-form parallel bus solve (SIMULATION.md section 2): no iteration beyond the FET active set. */
#include <math.h>

#include "bus.h"

double bus_solve_current(const bus_t *b, double i_total_a, double *i_a, double *v_bus)
{
    bool active[BUS_MAX_PACKS];
    for (int k = 0; k < b->n; k++) {
        active[k] = b->connected[k] && (b->can_chg[k] || b->can_dis[k]);
        i_a[k] = 0.0;
    }
    for (int pass = 0; pass <= b->n; pass++) {
        double sg = 0.0, sge = 0.0;
        for (int k = 0; k < b->n; k++)
            if (active[k]) {
                sg += b->g_s[k];
                sge += b->g_s[k] * b->e_v[k];
            }
        if (sg <= 0.0) {
            *v_bus = NAN;
            for (int k = 0; k < b->n; k++)
                i_a[k] = 0.0;
            return 0.0;
        }
        double v = (i_total_a + sge) / sg;
        int bad = -1;
        for (int k = 0; k < b->n; k++) {
            if (!active[k]) {
                i_a[k] = 0.0;
                continue;
            }
            i_a[k] = b->g_s[k] * (v - b->e_v[k]);
            if (bad < 0 && ((i_a[k] > 0.0 && !b->can_chg[k]) || (i_a[k] < 0.0 && !b->can_dis[k])))
                bad = k;
        }
        *v_bus = v;
        if (bad < 0)
            break;
        /* Pinning one violator at a time, lowest index first, keeps the result deterministic;
         * pinning can only push the others further the same way, so the set only shrinks. */
        active[bad] = false;
        i_a[bad] = 0.0;
    }
    return i_total_a;
}

double bus_current_at_voltage(const bus_t *b, double v_set)
{
    double sum = 0.0;
    for (int k = 0; k < b->n; k++) {
        if (!b->connected[k])
            continue;
        double i = b->g_s[k] * (v_set - b->e_v[k]);
        if ((i > 0.0 && !b->can_chg[k]) || (i < 0.0 && !b->can_dis[k]))
            i = 0.0;
        sum += i;
    }
    return sum;
}
