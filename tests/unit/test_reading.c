/* Suite reading: every implausible field makes a reading unusable; missing fields are fine. */
#include <math.h>

#include "reading_check.h"
#include "suites.h"

static rdg_verdict check(const rdg_reading *r)
{
    return rdg_validate(r, 1.5, 5.0);
}

static void test_good_and_empty(void)
{
    rdg_reading r;
    tu_pack(&r, 50.0);
    CU_ASSERT_EQUAL(check(&r), RDG_OK);
    rdg_clear(&r);
    CU_ASSERT_EQUAL(r.present, 0u);
    CU_ASSERT_FALSE(r.fresh);
    /* Every field missing is a legal (if useless) reading. */
    CU_ASSERT_EQUAL(check(&r), RDG_OK);
}

static void test_nonfinite_each_field(void)
{
    for (int f = 0; f < RDG_FIELD_COUNT; f++) {
        if (f == RDG_ALLOW_CHARGE || f == RDG_ALLOW_DISCHARGE)
            continue;
        rdg_reading r;
        tu_pack(&r, 50.0);
        rdg_set(&r, (enum rdg_field)f, NAN);
        CU_ASSERT_EQUAL(check(&r), RDG_BAD_NONFINITE);
        rdg_set(&r, (enum rdg_field)f, INFINITY);
        CU_ASSERT_EQUAL(check(&r), RDG_BAD_NONFINITE);
        /* The same garbage in a field marked missing is never looked at. */
        r.present &= ~RDG_BIT(f);
        CU_ASSERT_EQUAL(check(&r), RDG_OK);
    }
}

static void test_ranges(void)
{
    rdg_reading r;
    tu_pack(&r, 50.0);
    rdg_set(&r, RDG_SOC, 100.0);
    CU_ASSERT_EQUAL(check(&r), RDG_OK);
    rdg_set(&r, RDG_SOC, 100.01);
    CU_ASSERT_EQUAL(check(&r), RDG_BAD_SOC);
    rdg_set(&r, RDG_SOC, -0.01);
    CU_ASSERT_EQUAL(check(&r), RDG_BAD_SOC);
    rdg_set(&r, RDG_SOC, 0.0);
    CU_ASSERT_EQUAL(check(&r), RDG_OK);

    rdg_set(&r, RDG_MAX_CELL, 5.01);
    CU_ASSERT_EQUAL(check(&r), RDG_BAD_CELL);
    rdg_set(&r, RDG_MAX_CELL, 3.3);
    rdg_set(&r, RDG_MIN_CELL, 1.49);
    CU_ASSERT_EQUAL(check(&r), RDG_BAD_CELL);
    rdg_set(&r, RDG_MIN_CELL, 3.31);
    CU_ASSERT_EQUAL(check(&r), RDG_BAD_CELL_ORDER);
    rdg_set(&r, RDG_MIN_CELL, 3.30);
    CU_ASSERT_EQUAL(check(&r), RDG_OK);

    rdg_set(&r, RDG_INSTALLED_CAP, 0.0);
    CU_ASSERT_EQUAL(check(&r), RDG_BAD_CAPACITY);
    rdg_set(&r, RDG_INSTALLED_CAP, 280.0);
    rdg_set(&r, RDG_CCL, -1.0);
    CU_ASSERT_EQUAL(check(&r), RDG_BAD_LIMIT);
    rdg_set(&r, RDG_CCL, 0.0);
    CU_ASSERT_EQUAL(check(&r), RDG_OK);
    rdg_set(&r, RDG_TEMPERATURE, 200.0);
    CU_ASSERT_EQUAL(check(&r), RDG_BAD_TEMPERATURE);
    rdg_set(&r, RDG_TEMPERATURE, 20.0);
    rdg_set(&r, RDG_VOLTAGE, -1.0);
    CU_ASSERT_EQUAL(check(&r), RDG_BAD_VOLTAGE);
    rdg_set(&r, RDG_VOLTAGE, 53.0);
    rdg_set(&r, RDG_CURRENT, 20000.0);
    CU_ASSERT_EQUAL(check(&r), RDG_BAD_CURRENT);
    rdg_set(&r, RDG_CURRENT, 0.0);
    r.alarm[RDG_AL_LOW_SOC] = 3;
    r.alarm_present |= RDG_BIT(RDG_AL_LOW_SOC);
    CU_ASSERT_EQUAL(check(&r), RDG_BAD_ALARM);
}

/* The one-pass check behind rdg_validate and the field-by-field rdg_first_fault give the same
 * verdict for any reading: values at, just inside and just outside every bound, NaN, infinities
 * and -0.0, in any field, present or not, with finite and infinite cell bounds. */
static double edge_value(unsigned long long z, double lo, double hi)
{
    switch (z % 12) {
    case 0: return lo;
    case 1: return hi;
    case 2: return nextafter(lo, -INFINITY);
    case 3: return nextafter(hi, INFINITY);
    case 4: return NAN;
    case 5: return INFINITY;
    case 6: return -INFINITY;
    case 7: return -0.0;
    case 8: return 0.0;
    default: return lo + (hi - lo) * (double)((z >> 8) % 1000) / 999.0;
    }
}

static void test_one_pass_equals_full(void)
{
    static const double lo[RDG_DCL + 1] = {0, 0, -10000, -1e7, -60, 1.5, 1.5, 0, 0, -100000, 0, 0, 0};
    static const double hi[RDG_DCL + 1] = {100, 1000, 10000, 1e7, 150, 5, 5, 100000, 100000, 100000,
                                           1000, 10000, 10000};
    unsigned long long z = tu_seed ^ 0x52454144ull;
    int differ = 0;
    for (int k = 0; k < 200000; k++) {
        rdg_reading r;
        rdg_clear(&r);
        /* Mostly plausible, with one or two fields pushed to an edge. */
        for (int f = 0; f <= RDG_DCL; f++) {
            z = z * 6364136223846793005ull + 1442695040888963407ull;
            double x = (z >> 40) % 8 == 0 ? edge_value(z >> 4, lo[f], hi[f])
                                           : lo[f] + (hi[f] - lo[f]) * (double)((z >> 20) % 1000) / 999.0;
            if (f == RDG_MIN_CELL || f == RDG_MAX_CELL)
                x = (z >> 40) % 8 == 0 ? edge_value(z >> 4, 1.5, 5.0) : 3.2 + 0.001 * (double)((z >> 20) % 200);
            rdg_set(&r, (enum rdg_field)f, x);
        }
        z = z * 6364136223846793005ull + 1442695040888963407ull;
        r.present = (z >> 33) % 4 == 0 ? (uint32_t)(z >> 17) : 0x7fffu;
        r.alarm_present = (uint32_t)(z >> 5) & 0xffffu;
        for (int a = 0; a < RDG_AL_COUNT; a++)
            r.alarm[a] = (uint8_t)((z >> (a % 40)) % 41 == 0 ? 3 : (z >> a) % 3);
        double cell_lo = (z >> 50) % 64 == 0 ? -INFINITY : 1.5;
        double cell_hi = (z >> 44) % 64 == 0 ? INFINITY : (z >> 38) % 64 == 0 ? NAN : 5.0;
        if (rdg_validate(&r, cell_lo, cell_hi) != rdg_first_fault(&r, cell_lo, cell_hi))
            differ++;
    }
    CU_ASSERT_EQUAL(differ, 0);
}

/* A field's value by its rdg_field (the getter rdg_set has no need of). */
static double rdg_get(const rdg_reading *r, enum rdg_field f)
{
    switch (f) {
    case RDG_SOC: return r->soc_pct;
    case RDG_VOLTAGE: return r->voltage_v;
    case RDG_CURRENT: return r->current_a;
    case RDG_POWER: return r->power_w;
    case RDG_TEMPERATURE: return r->temperature_c;
    case RDG_MIN_CELL: return r->min_cell_v;
    case RDG_MAX_CELL: return r->max_cell_v;
    case RDG_INSTALLED_CAP: return r->installed_cap_ah;
    case RDG_REMAINING_CAP: return r->remaining_cap_ah;
    case RDG_CONSUMED_AH: return r->consumed_ah;
    case RDG_CVL: return r->cvl_v;
    case RDG_CCL: return r->ccl_a;
    case RDG_DCL: return r->dcl_a;
    default: return NAN;
    }
}

/* The vector check in front of the one-pass one never passes a reading the full check refuses,
 * and passes every good one with all fields present and alarm levels zero but for a -0.0 where
 * the range starts at 0 (anything else it leaves to the other checks): edge values in every
 * field, finite, infinite and NaN cell bounds. */
static void test_usual_check_sound(void)
{
    static const double lo[RDG_DCL + 1] = {0, 0, -10000, -1e7, -60, 1.5, 1.5, 0, 0, -100000, 0, 0, 0};
    static const double hi[RDG_DCL + 1] = {100, 1000, 10000, 1e7, 150, 5, 5, 100000, 100000, 100000,
                                           1000, 10000, 10000};
    unsigned long long z = tu_seed ^ 0x5553554full;
    int unsound = 0, passed = 0, usual = 0, usual_passed = 0;
    for (int k = 0; k < 400000; k++) {
        rdg_reading r;
        rdg_clear(&r);
        z = z * 6364136223846793005ull + 1442695040888963407ull;
        bool edgy = (z >> 40) % 2 == 0;
        for (int f = 0; f <= RDG_DCL; f++) {
            z = z * 6364136223846793005ull + 1442695040888963407ull;
            double flo = f == RDG_MIN_CELL || f == RDG_MAX_CELL ? 1.5 : lo[f];
            double fhi = f == RDG_MIN_CELL || f == RDG_MAX_CELL ? 5.0 : hi[f];
            double x = edgy && (z >> 40) % 4 == 0 ? edge_value(z >> 4, flo, fhi)
                                                   : flo + (fhi - flo) * (double)((z >> 20) % 1000) / 999.0;
            if (edgy && (z >> 45) % 16 == 0)
                x = (z >> 50) % 2 ? 0x1p-1074 : -0x1p-1074;   /* the least doubles beside zero */
            rdg_set(&r, (enum rdg_field)f, x);
        }
        z = z * 6364136223846793005ull + 1442695040888963407ull;
        if ((z >> 33) % 8 == 0)
            r.present &= (uint32_t)(z >> 17);
        if ((z >> 36) % 8 == 0) {
            r.alarm_present = (uint32_t)(z >> 5) & 0xffffu;
            r.alarm[(z >> 20) % RDG_AL_COUNT] = (uint8_t)((z >> 24) % 4);
        }
        double cell_lo = (z >> 50) % 64 == 0 ? -INFINITY : 1.5;
        double cell_hi = (z >> 44) % 64 == 0 ? INFINITY : (z >> 38) % 64 == 0 ? NAN : 5.0;
        rdg_bounds b;
        rdg_bounds_init(&b, cell_lo, cell_hi);
        bool ok = rdg_usual_ok(&r, &b);
        rdg_verdict full = rdg_first_fault(&r, cell_lo, cell_hi);
        if (ok && full != RDG_OK)
            unsound++;
        passed += ok;
        /* -0.0 in a field whose range starts at 0 is good, and left to the other checks. */
        bool negative_zero = false;
        for (int f = 0; f <= RDG_DCL; f++)
            negative_zero |= lo[f] == 0.0 && f != RDG_INSTALLED_CAP && signbit(rdg_get(&r, (enum rdg_field)f));
        if (r.present == 0x1fffu && rdg_alarms_all_zero(&r) && isfinite(cell_lo) && isfinite(cell_hi) &&
            full == RDG_OK && !negative_zero) {
            usual++;
            usual_passed += ok;
        }
    }
    CU_ASSERT_EQUAL(unsound, 0);
    CU_ASSERT(passed > 50000);
    CU_ASSERT(usual > 10000);
    CU_ASSERT_EQUAL(usual_passed, usual);
    /* The usual reading of the helpers, and the bounds at their edges, pass. */
    rdg_bounds b;
    rdg_bounds_init(&b, 1.5, 5.0);
    rdg_reading r;
    tu_pack(&r, 100.0);
    rdg_set(&r, RDG_INSTALLED_CAP, 0x1p-1074);
    rdg_set(&r, RDG_CURRENT, -10000.0);
    rdg_set(&r, RDG_MIN_CELL, 1.5);
    rdg_set(&r, RDG_MAX_CELL, 5.0);
    CU_ASSERT_TRUE(rdg_usual_ok(&r, &b));
    rdg_set(&r, RDG_INSTALLED_CAP, 0.0);
    CU_ASSERT_FALSE(rdg_usual_ok(&r, &b));
}

static void test_names(void)
{
    CU_ASSERT_STRING_EQUAL(rdg_alarm_name(RDG_AL_CELL_IMBALANCE), "CellImbalance");
    CU_ASSERT_STRING_EQUAL(rdg_alarm_name(RDG_AL_BMS_CABLE), "BmsCable");
    CU_ASSERT_PTR_NULL(rdg_alarm_name(RDG_AL_COUNT));
    CU_ASSERT_PTR_NULL(rdg_alarm_name(-1));
    for (int a = 0; a < RDG_AL_COUNT; a++)
        CU_ASSERT_PTR_NOT_NULL(rdg_alarm_name(a));
    for (int v = 0; v < RDG_BAD_COUNT; v++)
        CU_ASSERT_STRING_NOT_EQUAL(rdg_verdict_name((rdg_verdict)v), "?");
    CU_ASSERT_STRING_EQUAL(rdg_verdict_name(RDG_BAD_COUNT), "?");
}

void suite_reading(void)
{
    CU_pSuite s = CU_add_suite("reading", NULL, NULL);
    CU_add_test(s, "good reading and all-missing reading accepted", test_good_and_empty);
    CU_add_test(s, "NaN/Inf in any present field rejected", test_nonfinite_each_field);
    CU_add_test(s, "range boundaries", test_ranges);
    CU_add_test(s, "alarm and verdict names", test_names);
    CU_add_test(s, "one-pass check equals the field-by-field one (property)", test_one_pass_equals_full);
    CU_add_test(s, "vector check passes only what the full check passes (property)", test_usual_check_sound);
}
