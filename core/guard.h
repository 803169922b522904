/* Cell-voltage guard: the CCL taper near full and the CVL pull-down for cells above the overvoltage target. */
#ifndef BMSAGG_GUARD_H
#define BMSAGG_GUARD_H

#include <math.h>

/* Both inline: the policy asks for them every tick, and a call cost about as much as the rule. */

/* Fraction (0..1) of the nominal CCL allowed at this highest cell voltage: 1 up to start_v,
 * linear down to floor_frac at end_v, floor_frac up to stop_v, 0 at or above stop_v. */
static inline double guard_ccl_fraction(double max_cell_v, double start_v, double end_v,
                                        double floor_frac, double stop_v)
{
    if (max_cell_v >= stop_v)
        return 0.0;
    if (max_cell_v <= start_v)
        return 1.0;
    if (max_cell_v >= end_v)
        return floor_frac;
    double t = (max_cell_v - start_v) / (end_v - start_v);
    return 1.0 - t * (1.0 - floor_frac);
}

/* CVL target: the lowest pack CVL, and while overvoltage_sum_v > 0 (the summed amount by which
 * cells exceed the target) also at most bank_v - overvoltage_sum_v, as dbus-serialbattery's
 * penalty-sum controller does: the charger then regulates the bank down until the cells are back
 * under the target. Never below floor_v. bank_v may be NaN (unknown): the pack CVL is used. */
static inline double guard_cvl(double min_pack_cvl_v, double bank_v, double overvoltage_sum_v,
                               double floor_v)
{
    double cvl = min_pack_cvl_v;
    if (overvoltage_sum_v > 0.0) {
        double base = isnan(bank_v) ? min_pack_cvl_v : bank_v;
        double pulled = base - overvoltage_sum_v;
        if (pulled < cvl)
            cvl = pulled;
    }
    if (cvl < floor_v)
        cvl = floor_v;
    return cvl;
}

#endif
