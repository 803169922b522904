/* Cell-voltage guard: the CCL taper near full and the CVL pull-down for cells above the overvoltage target. */
#include <math.h>

#include "guard.h"

double guard_ccl_fraction(double max_cell_v, double start_v, double end_v, double floor_frac,
                          double stop_v)
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

double guard_cvl(double min_pack_cvl_v, double bank_v, double overvoltage_sum_v, double floor_v)
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
