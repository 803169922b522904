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

/* Every alarm level zero, present or not: the usual reading, which then needs no walk over its
 * alarms. The 15 levels as two overlapping 8-byte words (memcpy is the way C allows reading
 * bytes as a word; the compiler makes each a single load). */
static inline bool rdg_alarms_all_zero(const rdg_reading *r)
{
    _Static_assert(RDG_AL_COUNT > 8 && RDG_AL_COUNT <= 16, "two 8-byte words cover the alarms");
    uint64_t lo, hi;
    __builtin_memcpy(&lo, r->alarm, 8);
    __builtin_memcpy(&hi, r->alarm + RDG_AL_COUNT - 8, 8);
    return (lo | hi) == 0;
}

/* x outside [lo, hi], or NaN. */
static inline bool rdg_outside(double x, double lo, double hi)
{
    return !(x >= lo && x <= hi);
}

/* rdg_validate's fast path: every present field inside its range, cells in order, alarm levels
 * at most 2, the usual reading judged in one pass. A NaN fails every range, and with finite cell
 * bounds every range is finite, so a reading that passes here is RDG_OK under the full check;
 * one that fails goes to rdg_first_fault, which names the first reason in its documented order.
 * (Inline, as rdg_clear: the policy checks every fresh reading, and the call cost a fifth of
 * the check.) */
static inline bool rdg_plainly_ok(const rdg_reading *r, double cell_lo_v, double cell_hi_v)
{
    if (!(cell_lo_v > -INFINITY && cell_hi_v < INFINITY))
        return false;   /* an infinite bound would let an infinite cell pass */
    /* A bit per field out of range, present or not; only the present ones count. The usual
     * reading is in range everywhere, so each test is a branch that is never taken: cheaper
     * than turning every comparison into a bit. Symmetric ranges test |x| once (fabs is
     * exact, and NaN fails either way). */
    uint32_t bad = 0;
    if (rdg_outside(r->soc_pct, 0.0, 100.0))
        bad |= RDG_BIT(RDG_SOC);
    if (rdg_outside(r->voltage_v, 0.0, 1000.0))
        bad |= RDG_BIT(RDG_VOLTAGE);
    if (!(fabs(r->current_a) <= 10000.0))
        bad |= RDG_BIT(RDG_CURRENT);
    if (!(fabs(r->power_w) <= 1e7))
        bad |= RDG_BIT(RDG_POWER);
    if (rdg_outside(r->temperature_c, -60.0, 150.0))
        bad |= RDG_BIT(RDG_TEMPERATURE);
    if (rdg_outside(r->min_cell_v, cell_lo_v, cell_hi_v))
        bad |= RDG_BIT(RDG_MIN_CELL);
    if (rdg_outside(r->max_cell_v, cell_lo_v, cell_hi_v))
        bad |= RDG_BIT(RDG_MAX_CELL);
    if (!(r->installed_cap_ah > 0.0 && r->installed_cap_ah <= 100000.0))
        bad |= RDG_BIT(RDG_INSTALLED_CAP);
    if (rdg_outside(r->remaining_cap_ah, 0.0, 100000.0))
        bad |= RDG_BIT(RDG_REMAINING_CAP);
    if (!(fabs(r->consumed_ah) <= 100000.0))
        bad |= RDG_BIT(RDG_CONSUMED_AH);
    if (rdg_outside(r->cvl_v, 0.0, 1000.0))
        bad |= RDG_BIT(RDG_CVL);
    if (rdg_outside(r->ccl_a, 0.0, 10000.0))
        bad |= RDG_BIT(RDG_CCL);
    if (rdg_outside(r->dcl_a, 0.0, 10000.0))
        bad |= RDG_BIT(RDG_DCL);
    const uint32_t p = r->present;
    if (bad & p)
        return false;
    if ((p & RDG_BIT(RDG_MIN_CELL)) && (p & RDG_BIT(RDG_MAX_CELL)) && r->min_cell_v > r->max_cell_v)
        return false;
    if (rdg_alarms_all_zero(r))
        return true;
    /* Only the alarms that are present, set bit by set bit. */
    for (uint32_t m = r->alarm_present & (RDG_BIT(RDG_AL_COUNT) - 1u); m != 0; m &= m - 1u)
        if (r->alarm[__builtin_ctz(m)] > 2)
            return false;
    return true;
}

/* Two doubles side by side: rdg_usual_ok compares a reading's fields two at a time (an SSE2
 * compare per bound on x86-64; scalar code where the target has no vectors, as on armhf). GCC's
 * (and clang's) vector extension: the core needs one of those two compilers. Never a parameter
 * of a function that is not inlined: passed by value, a vector's ABI differs between targets. */
#if !defined(__GNUC__)
#error "core/reading.h uses GCC vector extensions: build with gcc or clang"
#endif
typedef double rdg_f2 __attribute__((vector_size(16)));
typedef int64_t rdg_m2 __attribute__((vector_size(16)));

/* The plausible cell range as rdg_usual_ok takes it, made once per tick by rdg_bounds_init. */
typedef struct {
    rdg_f2 cell_lo_v, cell_hi_v;
} rdg_bounds;

static inline void rdg_bounds_init(rdg_bounds *b, double cell_lo_v, double cell_hi_v)
{
    /* An infinite bound would let an infinite cell pass (rdg_plainly_ok refuses it for that):
     * NaN bounds pass nothing, and every reading takes the full check. */
    if (!(cell_lo_v > -INFINITY && cell_hi_v < INFINITY))
        cell_lo_v = cell_hi_v = NAN;
    b->cell_lo_v = (rdg_f2){cell_lo_v, cell_lo_v};
    b->cell_hi_v = (rdg_f2){cell_hi_v, cell_hi_v};
}

/* The fields rdg_usual_ok loads in pairs must lie side by side, as these pairs. */
#define RDG_PAIRED(a, b) (offsetof(rdg_reading, b) == offsetof(rdg_reading, a) + sizeof(double))
_Static_assert(RDG_PAIRED(soc_pct, voltage_v) && RDG_PAIRED(current_a, power_w) &&
                   RDG_PAIRED(power_w, temperature_c) && RDG_PAIRED(min_cell_v, max_cell_v) &&
                   RDG_PAIRED(installed_cap_ah, remaining_cap_ah) && RDG_PAIRED(consumed_ah, cvl_v) &&
                   RDG_PAIRED(ccl_a, dcl_a),
               "rdg_usual_ok loads these fields in pairs");

/* Two fields side by side from offset on, as the bits of two doubles (memcpy from the reading's
 * bytes is how C reads two members as one vector; a cast to rdg_f2 then reads them as doubles). */
static inline rdg_m2 rdg_pair_at(const rdg_reading *r, size_t offset)
{
    rdg_m2 x;
    __builtin_memcpy(&x, (const char *)r + offset, sizeof x);
    return x;
}

typedef uint64_t rdg_u2 __attribute__((vector_size(16)));

/* The usual reading, judged in a few vector compares: every field with a range present and in
 * it, cells in order, every alarm level zero. True only for a reading rdg_plainly_ok passes (the
 * same bounds: |x| <= L is |x| with its sign bit cleared, and x >= 0 is a clear sign bit, which
 * leaves out only -0.0; no bound is a subnormal, so flushing subnormals to zero changes nothing
 * that rdg_plainly_ok would not change the same way); false for
 * anything else, which then takes rdg_plainly_ok and, if that fails, rdg_first_fault. The policy
 * checks every fresh reading with it: a compare and a branch per bound cost most of the tick's
 * validation. */
static inline bool rdg_usual_values_ok(const rdg_reading *r, const rdg_bounds *b);

static inline bool rdg_usual_ok(const rdg_reading *r, const rdg_bounds *b)
{
    const uint32_t ranged = RDG_BIT(RDG_DCL + 1) - 1u;   /* SOC .. DCL: every field with a range */
    return (r->present & ranged) == ranged && rdg_usual_values_ok(r, b);
}

/* rdg_usual_ok for a reading known to have every field with a range: its values alone. */
static inline bool rdg_usual_values_ok(const rdg_reading *r, const rdg_bounds *b)
{
    if (!rdg_alarms_all_zero(r))
        return false;
    const rdg_m2 abs_both = {INT64_MAX, INT64_MAX}, abs_first = {INT64_MAX, -1};
    /* A passed compare adds -1 (a true vector compare) to its lane of n; the values whose lower
     * bound is 0 are or-ed into signs, whose sign bits must stay clear. Counted rather than
     * and-ed: the compiler turns and-ed masks into a bool per lane. */
    rdg_m2 n = {0, 0}, signs = {0, 0}, x;
    x = rdg_pair_at(r, offsetof(rdg_reading, soc_pct));
    signs |= x;
    n += (rdg_f2)x <= (rdg_f2){100.0, 1000.0};
    x = rdg_pair_at(r, offsetof(rdg_reading, current_a)) & abs_both;
    n += (rdg_f2)x <= (rdg_f2){10000.0, 1e7};
    /* Power again (a |x| is at least -inf, or NaN), beside the temperature, which may be below 0. */
    x = rdg_pair_at(r, offsetof(rdg_reading, power_w)) & abs_first;
    n += ((rdg_f2)x >= (rdg_f2){-INFINITY, -60.0}) + ((rdg_f2)x <= (rdg_f2){1e7, 150.0});
    x = rdg_pair_at(r, offsetof(rdg_reading, min_cell_v));
    n += ((rdg_f2)x >= b->cell_lo_v) + ((rdg_f2)x <= b->cell_hi_v);
    /* Across the two cell ids to the capacities. */
    x = rdg_pair_at(r, offsetof(rdg_reading, installed_cap_ah));
    signs |= x;   /* remaining >= 0; installed > 0 is the strict compare (no subnormal constant) */
    n += ((rdg_f2)x > (rdg_f2){0.0, -INFINITY}) + ((rdg_f2)x <= (rdg_f2){100000.0, 100000.0});
    x = rdg_pair_at(r, offsetof(rdg_reading, consumed_ah)) & abs_first;
    signs |= x;
    n += (rdg_f2)x <= (rdg_f2){100000.0, 1000.0};
    x = rdg_pair_at(r, offsetof(rdg_reading, ccl_a));
    signs |= x;
    n += (rdg_f2)x <= (rdg_f2){10000.0, 10000.0};
    n += (rdg_m2)((rdg_u2)signs >> 63);
    /* 10 compares in each lane: every one passed, and no sign bit in signs, leaves -10 there,
     * and -20 in both only then. */
    int64_t lane[2];
    __builtin_memcpy(lane, &n, sizeof lane);
    return lane[0] + lane[1] == -20 && r->min_cell_v <= r->max_cell_v;
}

/* The same verdict by the full check alone, field by field in the documented order.
 * rdg_validate calls it only for a reading its one-pass check did not pass: kept a separate
 * function so that the usual reading does not pay for its setup. */
rdg_verdict rdg_first_fault(const rdg_reading *r, double cell_lo_v, double cell_hi_v);

#endif
