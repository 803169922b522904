/* CUnit tests of the trace writer against printf, its independent reference: trc_fixed over
 * random doubles of every magnitude, the ties and the doubles beside them, and whole rows (with
 * fields long enough to make trc_row flush mid-row) against the same row written with fprintf.
 * Usage: test_trace [--seed N] (the seed is printed; a failure prints the value and the seed). */
#include <CUnit/Basic.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scenario.h"
#include "trace.h"

static uint64_t seed = 20261124;

static uint64_t xs_next(uint64_t *st)   /* xorshift64*: st must not be 0 */
{
    *st ^= *st >> 12;
    *st ^= *st << 25;
    *st ^= *st >> 27;
    return *st * UINT64_C(2685821657736338717);
}

static double from_bits(uint64_t b)
{
    double x;
    memcpy(&x, &b, sizeof x);
    return x;
}

/* Compares one value at every dec 0..5 with snprintf; counts the first failures only. */
static long failures;

static void check_all_dec(double x)
{
    char want[400], got[400];
    for (int dec = 0; dec <= 5; dec++) {
        snprintf(want, sizeof want, "%.*f", dec, x);
        memset(got, 'Z', sizeof got);
        *trc_fixed(got, x, dec) = '\0';
        if (strcmp(want, got) != 0 && failures++ < 5) {
            CU_FAIL("trc_fixed differs from printf");
            fprintf(stderr, "x=%a (%.17g) dec=%d printf=%s trc_fixed=%s (seed %" PRIu64 ")\n", x, x, dec,
                    want, got, seed);
        }
    }
}

/* Every exponent from far below the fast path's zero cut (2^-18) to beyond its 1e12 bound, either
 * sign, any mantissa: 200,000 doubles, 1.2 million conversions. */
static void test_fixed_random_magnitudes(void)
{
    uint64_t st = seed | 1u;
    failures = 0;
    for (long i = 0; i < 200000; i++) {
        uint64_t r = xs_next(&st);
        uint64_t be = 980u + (r >> 53) % 90u;          /* 2^-43 .. 2^46 */
        check_all_dec(from_bits((r & ((UINT64_C(1) << 52) - 1u)) | be << 52 | (r & (UINT64_C(1) << 63))));
    }
    CU_ASSERT_EQUAL(failures, 0);
}

/* Exact ties k + 1/2 at the last decimal (x = odd / 2^(dec+1), the only doubles that are ties
 * there) from 2^-6 up to 1e12, and the doubles just above and below them, where the rounding
 * bit is set and the sticky bits are all clear, or all set. */
static void test_fixed_ties(void)
{
    uint64_t st = (seed ^ UINT64_C(0x5bd1e995)) | 1u;
    failures = 0;
    for (long i = 0; i < 50000; i++) {
        uint64_t r = xs_next(&st);
        int dec = (int)(r % 6u);
        int bits = 1 + (int)((r >> 8) % 46u);          /* k below 2^bits */
        uint64_t k = ((r >> 16) & ((UINT64_C(1) << bits) - 1u)) | 1u;
        double x = ldexp((double)k, -(dec + 1));
        if ((r >> 63) != 0)
            x = -x;
        check_all_dec(x);
        check_all_dec(nextafter(x, INFINITY));
        check_all_dec(nextafter(x, -INFINITY));
    }
    CU_ASSERT_EQUAL(failures, 0);
}

/* The doubles nearest to the decimal boundaries j / 10^d and (j + 1/2) / 10^d and one ulp either
 * side: where the digits carry (9.9999 -> 10.000) and where rounding turns. */
static void test_fixed_decimal_boundaries(void)
{
    uint64_t st = (seed ^ UINT64_C(0x27d4eb2f165667c5)) | 1u;
    failures = 0;
    for (long i = 0; i < 50000; i++) {
        uint64_t r = xs_next(&st);
        int d = (int)(r % 6u);
        double scale = pow(10.0, (double)d);
        /* j up to about 1e12 10^d, so that the values reach the 1e12 bound */
        double j = floor(ldexp((double)(r >> 11), -(int)((r >> 3) % 54u)));
        if (j / scale >= 1.1e12)
            j = fmod(j, 1.1e12 * scale);
        double x = ((r >> 7) & 1u) ? (j + 0.5) / scale : j / scale;
        if ((r >> 8) & 1u)
            x = -x;
        check_all_dec(x);
        check_all_dec(nextafter(x, INFINITY));
        check_all_dec(nextafter(x, -INFINITY));
    }
    CU_ASSERT_EQUAL(failures, 0);
}

static void test_fixed_edges(void)
{
    double edge[] = {0.0, -0.0, 5e-324, -5e-324, DBL_TRUE_MIN * 3, 0x1.fffffffffffffp-1023 /* largest subnormal */,
                     DBL_MIN, -DBL_MIN, 0x1p-19, 0x1p-18, 0x1.fffffffffffffp-19, 0x1.0000000000001p-18,
                     0.000005, -0.000005, 0.0000049999999999, 0.0000050000000001, 0.00005, 0.0005, 0.005,
                     0.05, 0.5, 1.5, 2.5, -2.5, 0.125, 0.375, 9.5, 99.5, 9.99999, 9.999995, 99.999995,
                     999999.999995, 99999999.5, 100000000.0, 99999999.999995, 4294967295.5, 4294967296.0,
                     999999999999.99, 999999999999.5, -999999999999.5, 0x1.d1a94a1fffffp+39,
                     nextafter(1e12, 0.0), -nextafter(1e12, 0.0), 1e12, -1e12, 1e300, -DBL_MAX, DBL_MAX,
                     INFINITY, -INFINITY, NAN, -NAN};
    failures = 0;
    for (size_t i = 0; i < sizeof edge / sizeof edge[0]; i++) {
        check_all_dec(edge[i]);
        check_all_dec(nextafter(edge[i], INFINITY));
        check_all_dec(nextafter(edge[i], -INFINITY));
    }
    CU_ASSERT_EQUAL(failures, 0);
}

/* The row as fprintf writes it: the reference for trc_row's bytes. */
static void reference_row(FILE *f, const trc_bank *b, const trc_pack *p, int n)
{
    fprintf(f, "%.5f,%.0f,%.0f,%.3f,%.4f,%.2f,%.2f,%.2f,%.3f,%d,%.1f,%.3f,%.3f,%.3f,%d,%d,%.0f", b->t_h,
            b->pv_w, b->load_w, b->i_bank_a, b->v_bus_v, b->ccl_a, b->ccl_min_a, b->dcl_a, b->cvl_v, b->tier,
            b->tier_ccl_a, b->spread_pct, b->true_spread_pct, b->soc_pct, b->red, b->cable, b->unserved_w);
    for (int k = 0; k < n; k++)
        fprintf(f, ",%.3f,%.2f,%.3f,%.4f,%.4f,%.2f,%.2f,%d,%d", p[k].soc_true_pct, p[k].soc_rep_pct, p[k].i_a,
                p[k].vmax_v, p[k].vmin_v, p[k].temp_c, p[k].ccl_a, p[k].chg_fet, p[k].online);
    fputc('\n', f);
}

static double any_field(uint64_t *st)
{
    uint64_t r = xs_next(st);
    switch (r % 8u) {
    case 0:
        return -DBL_MAX;               /* the longest field there is: the row must flush */
    case 1:
        return NAN;
    default: {
        double x = ldexp((double)(r >> 11), -(int)((r >> 3) % 70u));
        return (r >> 7) & 1u ? -x : x;
    }
    }
}

static int any_int(uint64_t *st)
{
    uint64_t r = xs_next(st);
    return (r & 1u) ? (int)(r % 10u) : (int)(int32_t)(uint32_t)(r >> 32);
}

/* Rows of 0 to SCN_MAX_PACKS packs, fields of every length (some 317 characters long, so that a
 * long row is written in several pieces): the same bytes as fprintf. */
static void test_row_is_fprintf(void)
{
    uint64_t st = (seed ^ UINT64_C(0x9e3779b97f4a7c15)) | 1u;
    FILE *got = tmpfile(), *want = tmpfile();
    CU_ASSERT_PTR_NOT_NULL_FATAL(got);
    CU_ASSERT_PTR_NOT_NULL_FATAL(want);
    for (int row = 0; row < 400; row++) {
        int n = row % (SCN_MAX_PACKS + 1);
        trc_bank b;
        trc_pack p[SCN_MAX_PACKS];
        double *bd[] = {&b.t_h, &b.pv_w, &b.load_w, &b.i_bank_a, &b.v_bus_v, &b.ccl_a, &b.ccl_min_a,
                        &b.dcl_a, &b.cvl_v, &b.tier_ccl_a, &b.spread_pct, &b.true_spread_pct, &b.soc_pct,
                        &b.unserved_w};
        for (size_t i = 0; i < sizeof bd / sizeof bd[0]; i++)
            *bd[i] = any_field(&st);
        b.tier = any_int(&st);
        b.red = any_int(&st);
        b.cable = any_int(&st);
        for (int k = 0; k < n; k++) {
            double *pd[] = {&p[k].soc_true_pct, &p[k].soc_rep_pct, &p[k].i_a, &p[k].vmax_v, &p[k].vmin_v,
                            &p[k].temp_c, &p[k].ccl_a};
            for (size_t i = 0; i < sizeof pd / sizeof pd[0]; i++)
                *pd[i] = row < 200 && row % 3 != 0 ? -DBL_MAX : any_field(&st);
            p[k].chg_fet = any_int(&st);
            p[k].online = any_int(&st);
        }
        trc_row(got, &b, p, n);
        reference_row(want, &b, p, n);
    }
    long len = ftell(got);
    CU_ASSERT_EQUAL_FATAL(len, ftell(want));
    rewind(got);
    rewind(want);
    long at = -1;
    for (long i = 0; i < len && at < 0; i++)
        if (fgetc(got) != fgetc(want))
            at = i;
    CU_ASSERT_EQUAL(at, -1);
    if (at >= 0)
        fprintf(stderr, "trc_row differs from fprintf at byte %ld (seed %" PRIu64 ")\n", at, seed);
    fclose(got);
    fclose(want);
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        char *end;
        if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc) {
            seed = strtoull(argv[++i], &end, 10);
            if (*end != '\0' || seed == 0) {
                fprintf(stderr, "--seed needs a positive whole number\n");
                return 2;
            }
        } else {
            fprintf(stderr, "usage: %s [--seed N]\n", argv[0]);
            return 2;
        }
    }
    printf("test_trace: seed %" PRIu64 "\n", seed);
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("trace", NULL, NULL);
    CU_add_test(s, "trc_fixed is printf: random doubles of every magnitude, dec 0..5", test_fixed_random_magnitudes);
    CU_add_test(s, "trc_fixed is printf: ties and their neighbours (half to even)", test_fixed_ties);
    CU_add_test(s, "trc_fixed is printf: decimal boundaries and their neighbours", test_fixed_decimal_boundaries);
    CU_add_test(s, "trc_fixed is printf: zero, subnormals, cuts and bounds", test_fixed_edges);
    CU_add_test(s, "trc_row is fprintf, long rows written in pieces", test_row_is_fprintf);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures();
    CU_cleanup_registry();
    return failed == 0 ? 0 : 1;
}
