/* One pack's BMS reading as the core receives it, and its plausibility check. */
#ifndef BMSAGG_READING_H
#define BMSAGG_READING_H

#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Units and signs, everywhere in this project:
 *   volts (_v), amps (_a), watts (_w), degrees Celsius (_c), percent (_pct), amp-hours (_ah).
 *   Current and power are POSITIVE WHILE CHARGING (Venus /Dc/0/Current convention).
 *   Consumed amp-hours are negative when discharged (Venus /ConsumedAmphours). */

/* Each optional field has a bit in rdg_reading.present; a field whose bit is clear is
 * "missing" (the BMS never published it, or published the invalid empty array) and
 * its value must not be read. */
enum rdg_field {
    RDG_SOC = 0,
    RDG_VOLTAGE,
    RDG_CURRENT,
    RDG_POWER,
    RDG_TEMPERATURE,
    RDG_MIN_CELL,        /* min_cell_v (and min_cell_id when >= 0) */
    RDG_MAX_CELL,        /* max_cell_v (and max_cell_id when >= 0) */
    RDG_INSTALLED_CAP,
    RDG_REMAINING_CAP,
    RDG_CONSUMED_AH,
    RDG_CVL,
    RDG_CCL,
    RDG_DCL,
    RDG_ALLOW_CHARGE,
    RDG_ALLOW_DISCHARGE,
    RDG_FIELD_COUNT
};

#define RDG_BIT(f) (1u << (f))

/* The pack alarms the core knows, by the /Alarms/<name> they come from. */
enum rdg_alarm {
    RDG_AL_LOW_VOLTAGE = 0,
    RDG_AL_HIGH_VOLTAGE,
    RDG_AL_LOW_CELL_VOLTAGE,
    RDG_AL_HIGH_CELL_VOLTAGE,
    RDG_AL_LOW_SOC,
    RDG_AL_HIGH_CHARGE_CURRENT,
    RDG_AL_HIGH_DISCHARGE_CURRENT,
    RDG_AL_HIGH_CURRENT,
    RDG_AL_CELL_IMBALANCE,
    RDG_AL_HIGH_CHARGE_TEMPERATURE,
    RDG_AL_LOW_CHARGE_TEMPERATURE,
    RDG_AL_HIGH_TEMPERATURE,
    RDG_AL_LOW_TEMPERATURE,
    RDG_AL_INTERNAL_FAILURE,
    RDG_AL_BMS_CABLE,
    RDG_AL_COUNT
};

/* "/Alarms/" suffix of each rdg_alarm, e.g. "CellImbalance"; NULL for an unknown index. */
const char *rdg_alarm_name(int alarm);

typedef struct {
    /* True when this reading is new since the previous tick (a D-Bus update arrived, or the
     * simulator's poll produced it). A reading that is not fresh is ignored by the core,
     * which keeps the last accepted one until the pack goes stale. */
    bool fresh;
    int label;                   /* names the pack in reasons (its DeviceInstance); -1 = slot + 1 */
    uint32_t present;            /* RDG_BIT(field) set for each field that is present */

    double soc_pct;              /* 0..100 */
    double voltage_v;            /* pack terminal voltage */
    double current_a;            /* + = charging */
    double power_w;              /* + = charging */
    double temperature_c;
    double min_cell_v, max_cell_v;
    int min_cell_id, max_cell_id; /* cell number as the BMS names it (serialbattery "C5" -> 5); -1 unknown */
    double installed_cap_ah;     /* > 0 */
    double remaining_cap_ah;     /* >= 0 */
    double consumed_ah;          /* <= 0 when discharged */
    double cvl_v, ccl_a, dcl_a;  /* the pack's own limits, >= 0 */
    bool allow_charge, allow_discharge;

    /* Pack alarm levels 0 ok / 1 warning / 2 alarm; alarm_present bit per rdg_alarm. */
    uint8_t alarm[RDG_AL_COUNT];
    uint32_t alarm_present;
} rdg_reading;

/* Why a reading was judged implausible (the first reason found). */
typedef enum {
    RDG_OK = 0,
    RDG_BAD_NONFINITE,      /* NaN or infinity in a present field */
    RDG_BAD_SOC,            /* outside 0..100 */
    RDG_BAD_VOLTAGE,        /* pack voltage outside 0..1000 V */
    RDG_BAD_CURRENT,        /* |current| above 10 kA */
    RDG_BAD_CELL,           /* a cell voltage outside the plausible cell range */
    RDG_BAD_CELL_ORDER,     /* min cell above max cell */
    RDG_BAD_CAPACITY,       /* installed <= 0 or above 100 kAh, remaining < 0 */
    RDG_BAD_LIMIT,          /* CVL/CCL/DCL negative or absurd */
    RDG_BAD_TEMPERATURE,    /* outside -60..150 C */
    RDG_BAD_ALARM,          /* an alarm level above 2 */
    RDG_BAD_COUNT
} rdg_verdict;

/* Short name of a verdict ("nonfinite", "soc", ...) for logs and diagnostics. */
const char *rdg_verdict_name(rdg_verdict v);

/* A reading with every field missing and not fresh. (Inline, as rdg_set: a driver fills
 * every pack's reading every tick, and a call per field cost more than the stores.) */
static inline void rdg_clear(rdg_reading *r)
{
    /* Field by field rather than memset: core/ has no <string.h> needs elsewhere and this
     * documents what "empty" means for every member. */
    r->fresh = false;
    r->label = -1;
    r->present = 0;
    r->soc_pct = r->voltage_v = r->current_a = r->power_w = r->temperature_c = 0.0;
    r->min_cell_v = r->max_cell_v = 0.0;
    r->min_cell_id = r->max_cell_id = -1;
    r->installed_cap_ah = r->remaining_cap_ah = r->consumed_ah = 0.0;
    r->cvl_v = r->ccl_a = r->dcl_a = 0.0;
    r->allow_charge = r->allow_discharge = true;
    for (int i = 0; i < RDG_AL_COUNT; i++)
        r->alarm[i] = 0;
    r->alarm_present = 0;
}

/* Set one field and its present bit (a small convenience for drivers and tests). */
static inline void rdg_set(rdg_reading *r, enum rdg_field f, double value)
{
    switch (f) {
    case RDG_SOC: r->soc_pct = value; break;
    case RDG_VOLTAGE: r->voltage_v = value; break;
    case RDG_CURRENT: r->current_a = value; break;
    case RDG_POWER: r->power_w = value; break;
    case RDG_TEMPERATURE: r->temperature_c = value; break;
    case RDG_MIN_CELL: r->min_cell_v = value; break;
    case RDG_MAX_CELL: r->max_cell_v = value; break;
    case RDG_INSTALLED_CAP: r->installed_cap_ah = value; break;
    case RDG_REMAINING_CAP: r->remaining_cap_ah = value; break;
    case RDG_CONSUMED_AH: r->consumed_ah = value; break;
    case RDG_CVL: r->cvl_v = value; break;
    case RDG_CCL: r->ccl_a = value; break;
    case RDG_DCL: r->dcl_a = value; break;
    case RDG_ALLOW_CHARGE: r->allow_charge = value != 0.0; break;
    case RDG_ALLOW_DISCHARGE: r->allow_discharge = value != 0.0; break;
    case RDG_FIELD_COUNT: return;
    }
    r->present |= RDG_BIT(f);
}

static inline bool rdg_has(const rdg_reading *r, enum rdg_field f)
{
    return (r->present & RDG_BIT(f)) != 0;
}

/* Checks every present field; cell limits come from the config (cell_min_plausible_v,
 * cell_max_plausible_v). Returns RDG_OK or the first reason the reading is unusable. */
rdg_verdict rdg_validate(const rdg_reading *r, double cell_lo_v, double cell_hi_v);

#endif
