/* Plausibility checks on one pack reading: anything the core could be misled by is rejected here. */
#include <math.h>

#include "reading_check.h"
#include "usual_paths.h"

static const char *const alarm_names[RDG_AL_COUNT] = {
    [RDG_AL_LOW_VOLTAGE] = "LowVoltage",
    [RDG_AL_HIGH_VOLTAGE] = "HighVoltage",
    [RDG_AL_LOW_CELL_VOLTAGE] = "LowCellVoltage",
    [RDG_AL_HIGH_CELL_VOLTAGE] = "HighCellVoltage",
    [RDG_AL_LOW_SOC] = "LowSoc",
    [RDG_AL_HIGH_CHARGE_CURRENT] = "HighChargeCurrent",
    [RDG_AL_HIGH_DISCHARGE_CURRENT] = "HighDischargeCurrent",
    [RDG_AL_HIGH_CURRENT] = "HighCurrent",
    [RDG_AL_CELL_IMBALANCE] = "CellImbalance",
    [RDG_AL_HIGH_CHARGE_TEMPERATURE] = "HighChargeTemperature",
    [RDG_AL_LOW_CHARGE_TEMPERATURE] = "LowChargeTemperature",
    [RDG_AL_HIGH_TEMPERATURE] = "HighTemperature",
    [RDG_AL_LOW_TEMPERATURE] = "LowTemperature",
    [RDG_AL_INTERNAL_FAILURE] = "InternalFailure",
    [RDG_AL_BMS_CABLE] = "BmsCable",
};

const char *rdg_alarm_name(int alarm)
{
    if (alarm < 0 || alarm >= RDG_AL_COUNT)
        return 0;
    return alarm_names[alarm];
}

static const char *const verdict_names[RDG_BAD_COUNT] = {
    [RDG_OK] = "ok",
    [RDG_BAD_NONFINITE] = "nonfinite",
    [RDG_BAD_SOC] = "soc",
    [RDG_BAD_VOLTAGE] = "voltage",
    [RDG_BAD_CURRENT] = "current",
    [RDG_BAD_CELL] = "cell",
    [RDG_BAD_CELL_ORDER] = "cell-order",
    [RDG_BAD_CAPACITY] = "capacity",
    [RDG_BAD_LIMIT] = "limit",
    [RDG_BAD_TEMPERATURE] = "temperature",
    [RDG_BAD_ALARM] = "alarm",
};

const char *rdg_verdict_name(rdg_verdict v)
{
    if ((int)v < 0 || v >= RDG_BAD_COUNT)
        return "?";
    return verdict_names[v];
}

static bool in_range(double x, double lo, double hi)
{
    return x >= lo && x <= hi;
}

rdg_verdict rdg_validate(const rdg_reading *r, double cell_lo_v, double cell_hi_v)
{
    return POL_USUAL(POL_USUAL_VALIDATE, rdg_plainly_ok(r, cell_lo_v, cell_hi_v)) ? RDG_OK : rdg_first_fault(r, cell_lo_v, cell_hi_v);
}

rdg_verdict rdg_first_fault(const rdg_reading *r, double cell_lo_v, double cell_hi_v)
{
    /* Field by field, not through an array of the values: the compiler would build that array
     * ahead of the fast path's early return above. */
    uint32_t nonfinite = (uint32_t)!isfinite(r->soc_pct) << RDG_SOC |
                         (uint32_t)!isfinite(r->voltage_v) << RDG_VOLTAGE |
                         (uint32_t)!isfinite(r->current_a) << RDG_CURRENT |
                         (uint32_t)!isfinite(r->power_w) << RDG_POWER |
                         (uint32_t)!isfinite(r->temperature_c) << RDG_TEMPERATURE |
                         (uint32_t)!isfinite(r->min_cell_v) << RDG_MIN_CELL |
                         (uint32_t)!isfinite(r->max_cell_v) << RDG_MAX_CELL |
                         (uint32_t)!isfinite(r->installed_cap_ah) << RDG_INSTALLED_CAP |
                         (uint32_t)!isfinite(r->remaining_cap_ah) << RDG_REMAINING_CAP |
                         (uint32_t)!isfinite(r->consumed_ah) << RDG_CONSUMED_AH |
                         (uint32_t)!isfinite(r->cvl_v) << RDG_CVL |
                         (uint32_t)!isfinite(r->ccl_a) << RDG_CCL |
                         (uint32_t)!isfinite(r->dcl_a) << RDG_DCL;
    if (nonfinite & r->present)
        return RDG_BAD_NONFINITE;

    if (rdg_has(r, RDG_SOC) && !in_range(r->soc_pct, 0.0, 100.0))
        return RDG_BAD_SOC;
    if (rdg_has(r, RDG_VOLTAGE) && !in_range(r->voltage_v, 0.0, 1000.0))
        return RDG_BAD_VOLTAGE;
    if (rdg_has(r, RDG_CURRENT) && !in_range(r->current_a, -10000.0, 10000.0))
        return RDG_BAD_CURRENT;
    if (rdg_has(r, RDG_POWER) && !in_range(r->power_w, -1e7, 1e7))
        return RDG_BAD_CURRENT;
    if (rdg_has(r, RDG_MIN_CELL) && !in_range(r->min_cell_v, cell_lo_v, cell_hi_v))
        return RDG_BAD_CELL;
    if (rdg_has(r, RDG_MAX_CELL) && !in_range(r->max_cell_v, cell_lo_v, cell_hi_v))
        return RDG_BAD_CELL;
    if (rdg_has(r, RDG_MIN_CELL) && rdg_has(r, RDG_MAX_CELL) && r->min_cell_v > r->max_cell_v)
        return RDG_BAD_CELL_ORDER;
    if (rdg_has(r, RDG_INSTALLED_CAP) && !(r->installed_cap_ah > 0.0 && r->installed_cap_ah <= 100000.0))
        return RDG_BAD_CAPACITY;
    if (rdg_has(r, RDG_REMAINING_CAP) && !in_range(r->remaining_cap_ah, 0.0, 100000.0))
        return RDG_BAD_CAPACITY;
    if (rdg_has(r, RDG_CONSUMED_AH) && !in_range(r->consumed_ah, -100000.0, 100000.0))
        return RDG_BAD_CAPACITY;
    if (rdg_has(r, RDG_CVL) && !in_range(r->cvl_v, 0.0, 1000.0))
        return RDG_BAD_LIMIT;
    if (rdg_has(r, RDG_CCL) && !in_range(r->ccl_a, 0.0, 10000.0))
        return RDG_BAD_LIMIT;
    if (rdg_has(r, RDG_DCL) && !in_range(r->dcl_a, 0.0, 10000.0))
        return RDG_BAD_LIMIT;
    if (rdg_has(r, RDG_TEMPERATURE) && !in_range(r->temperature_c, -60.0, 150.0))
        return RDG_BAD_TEMPERATURE;
    for (int a = 0; a < RDG_AL_COUNT; a++)
        if ((r->alarm_present & RDG_BIT(a)) && r->alarm[a] > 2)
            return RDG_BAD_ALARM;
    return RDG_OK;
}
