/* Closed-form current sharing between packs on one DC bus, with the BMS FETs as an active set. */
#ifndef BMSAGG_SIM_BUS_H
#define BMSAGG_SIM_BUS_H

#include <stdbool.h>

#define BUS_MAX_PACKS 32

/* Each pack over one step is linear: V_k = E_k + R_k * I_k (current + = charging), G_k = 1/R_k.
 * can_chg[k] false forbids I_k > 0 (charge FET open); can_dis[k] false forbids I_k < 0.
 * connected[k] false removes the pack from the bus entirely. */
typedef struct {
    int n;
    double e_v[BUS_MAX_PACKS];
    double g_s[BUS_MAX_PACKS];
    bool can_chg[BUS_MAX_PACKS];
    bool can_dis[BUS_MAX_PACKS];
    bool connected[BUS_MAX_PACKS];
} bus_t;

/* Current-controlled bus: share i_total_a among the packs. Packs violating their FET constraint
 * are pinned to 0 one at a time (lowest index first) and the rest re-solved, at most n passes.
 * Fills i_a[] and *v_bus (NaN when no pack can take the current) and returns the current actually
 * delivered: i_total_a, or 0 when no pack can carry it. */
double bus_solve_current(const bus_t *b, double i_total_a, double *i_a, double *v_bus);

/* The total current the bus would take held at v_set (each pack independently, clipped by its FETs). */
double bus_current_at_voltage(const bus_t *b, double v_set);

#endif
