/* The plausibility check's fast paths (the usual reading in a few compares) and its full
 * field-by-field check: the core's own, and its tests'; drivers call rdg_validate. */
#ifndef BMSAGG_READING_CHECK_H
#define BMSAGG_READING_CHECK_H

#include "reading.h"

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
#error "core/reading_check.h uses GCC vector extensions: build with gcc or clang"
#endif
typedef double rdg_f2 __attribute__((vector_size(16)));
typedef int64_t rdg_m2 __attribute__((vector_size(16)));

/* The temperature's and the plausible cell range's bounds as rdg_usual_ok takes them, side by
 * side as the temperature and the lowest cell are in a reading: made once per tick by
 * rdg_bounds_init. */
typedef struct {
    rdg_f2 temp_cell_lo, temp_cell_hi;   /* (-60 C, lowest plausible cell), (150 C, highest plausible cell) */
} rdg_bounds;

static inline void rdg_bounds_init(rdg_bounds *b, double cell_lo_v, double cell_hi_v)
{
    /* An infinite bound would let an infinite cell pass (rdg_plainly_ok refuses it for that):
     * NaN bounds pass nothing, and every reading takes the full check. */
    if (!(cell_lo_v > -INFINITY && cell_hi_v < INFINITY))
        cell_lo_v = cell_hi_v = NAN;
    b->temp_cell_lo = (rdg_f2){-60.0, cell_lo_v};
    b->temp_cell_hi = (rdg_f2){150.0, cell_hi_v};
}

/* The fields rdg_usual_ok loads in pairs must lie side by side, as these pairs. */
#define RDG_PAIRED(a, b) (offsetof(rdg_reading, b) == offsetof(rdg_reading, a) + sizeof(double))
_Static_assert(RDG_PAIRED(soc_pct, voltage_v) && RDG_PAIRED(current_a, power_w) &&
                   RDG_PAIRED(temperature_c, min_cell_v) && RDG_PAIRED(min_cell_v, max_cell_v) &&
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
 * leaves out only -0.0; the highest cell is at least the lowest cell's bound when the lowest is
 * and the two are in order; no bound is a subnormal, so flushing subnormals to zero changes nothing
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
    /* The temperature, which may be below 0, beside the lowest cell: both bounds of each. */
    x = rdg_pair_at(r, offsetof(rdg_reading, temperature_c));
    n += ((rdg_f2)x >= b->temp_cell_lo) + ((rdg_f2)x <= b->temp_cell_hi);
    /* The cells in order, and the highest at most the bound (so at least the lowest's bound):
     * (min, max) <= (max, highest plausible). */
    x = rdg_pair_at(r, offsetof(rdg_reading, min_cell_v));
    n += (rdg_f2)x <= (rdg_f2){((rdg_f2)x)[1], b->temp_cell_hi[1]};
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
    /* 9 compares in each lane: every one passed, and no sign bit in signs, leaves -9 there,
     * and -18 in both only then. */
    int64_t lane[2];
    __builtin_memcpy(lane, &n, sizeof lane);
    return lane[0] + lane[1] == -18;
}

/* The same verdict by the full check alone, field by field in the documented order.
 * rdg_validate calls it only for a reading its one-pass check did not pass: kept a separate
 * function so that the usual reading does not pay for its setup. */
rdg_verdict rdg_first_fault(const rdg_reading *r, double cell_lo_v, double cell_hi_v);

#endif
