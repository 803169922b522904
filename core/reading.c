/* Plausibility checks on one pack reading: anything the core could be misled by is rejected here. */
#include <math.h>

#include "reading.h"

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

/* Every present field inside its range, cells in order, alarm levels at most 2: the usual
 * reading, judged in one pass. A NaN fails every range, and with finite cell bounds every range
 * is finite, so a reading that passes here is RDG_OK under the full check; one that fails goes
 * through the full check, which names the first reason in its documented order. */

/* x outside [lo, hi], or NaN. */
static bool out_of(double x, double lo, double hi)
{
    return !(x >= lo && x <= hi);
}

static bool plainly_ok(const rdg_reading *r, double cell_lo_v, double cell_hi_v)
{
    if (!(cell_lo_v > -INFINITY && cell_hi_v < INFINITY))
        return false;   /* an infinite bound would let an infinite cell pass */
    /* A bit per field out of range, present or not; only the present ones count. The usual
     * reading is in range everywhere, so each test is a branch that is never taken: cheaper
     * than turning every comparison into a bit. Symmetric ranges test |x| once (fabs is
     * exact, and NaN fails either way). */
    uint32_t bad = 0;
    if (out_of(r->soc_pct, 0.0, 100.0))
        bad |= RDG_BIT(RDG_SOC);
    if (out_of(r->voltage_v, 0.0, 1000.0))
        bad |= RDG_BIT(RDG_VOLTAGE);
    if (!(fabs(r->current_a) <= 10000.0))
        bad |= RDG_BIT(RDG_CURRENT);
    if (!(fabs(r->power_w) <= 1e7))
        bad |= RDG_BIT(RDG_POWER);
    if (out_of(r->temperature_c, -60.0, 150.0))
        bad |= RDG_BIT(RDG_TEMPERATURE);
    if (out_of(r->min_cell_v, cell_lo_v, cell_hi_v))
        bad |= RDG_BIT(RDG_MIN_CELL);
    if (out_of(r->max_cell_v, cell_lo_v, cell_hi_v))
        bad |= RDG_BIT(RDG_MAX_CELL);
    if (!(r->installed_cap_ah > 0.0 && r->installed_cap_ah <= 100000.0))
        bad |= RDG_BIT(RDG_INSTALLED_CAP);
    if (out_of(r->remaining_cap_ah, 0.0, 100000.0))
        bad |= RDG_BIT(RDG_REMAINING_CAP);
    if (!(fabs(r->consumed_ah) <= 100000.0))
        bad |= RDG_BIT(RDG_CONSUMED_AH);
    if (out_of(r->cvl_v, 0.0, 1000.0))
        bad |= RDG_BIT(RDG_CVL);
    if (out_of(r->ccl_a, 0.0, 10000.0))
        bad |= RDG_BIT(RDG_CCL);
    if (out_of(r->dcl_a, 0.0, 10000.0))
        bad |= RDG_BIT(RDG_DCL);
    const uint32_t p = r->present;
    if (bad & p)
        return false;
    if ((p & RDG_BIT(RDG_MIN_CELL)) && (p & RDG_BIT(RDG_MAX_CELL)) && r->min_cell_v > r->max_cell_v)
        return false;
    /* Only the alarms that are present, lowest first, stopping after the highest. */
    uint32_t m = r->alarm_present & (RDG_BIT(RDG_AL_COUNT) - 1u);
    for (int a = 0; m != 0; a++, m >>= 1)
        if ((m & 1u) && r->alarm[a] > 2)
            return false;
    return true;
}

rdg_verdict rdg_validate(const rdg_reading *r, double cell_lo_v, double cell_hi_v)
{
    return plainly_ok(r, cell_lo_v, cell_hi_v) ? RDG_OK : rdg_first_fault(r, cell_lo_v, cell_hi_v);
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
