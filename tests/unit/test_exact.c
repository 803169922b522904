/* Suite exact: the inline round and floor equal libm's to the bit, sign of zero included. */
#include <float.h>
#include <math.h>
#include <string.h>

#include "exact.h"
#include "suites.h"

static int same_bits(double a, double b)
{
    return memcmp(&a, &b, sizeof a) == 0 || (isnan(a) && isnan(b));
}

/* Values either side of every half and whole, at the ends of the fast path and beyond it. */
static const double edges[] = {
    0.0, -0.0, 0.25, -0.25, 0.5, -0.5, 0.49999999999999994, -0.49999999999999994, 1.0, -1.0, 1.5,
    -1.5, 2.5, -2.5, 1e-300, -1e-300, DBL_MIN, -DBL_MIN, 4.9e-324, -4.9e-324, 4503599627370495.5,
    -4503599627370495.5, 4503599627370496.0, -4503599627370496.0, 9007199254740993.0, 1e300, -1e300,
    DBL_MAX, -DBL_MAX, INFINITY, -INFINITY, NAN, 11000000.499999998, 5000000.0, 199999.99999999997,
};

static void test_edges(void)
{
    for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++) {
        double x = edges[i];
        CU_ASSERT_TRUE(same_bits(exact_round(x), round(x)));
        CU_ASSERT_TRUE(same_bits(exact_floor(x), floor(x)));
        CU_ASSERT_TRUE(same_bits(exact_round(nextafter(x, INFINITY)), round(nextafter(x, INFINITY))));
        CU_ASSERT_TRUE(same_bits(exact_round(nextafter(x, -INFINITY)), round(nextafter(x, -INFINITY))));
        CU_ASSERT_TRUE(same_bits(exact_floor(nextafter(x, INFINITY)), floor(nextafter(x, INFINITY))));
        CU_ASSERT_TRUE(same_bits(exact_floor(nextafter(x, -INFINITY)), floor(nextafter(x, -INFINITY))));
    }
}

/* Random doubles of every magnitude, and random values on the policy's own scales. */
static void test_random(void)
{
    unsigned long long z = tu_seed ^ 0x4558414354ull;
    int bad = 0;
    for (int i = 0; i < 200000; i++) {
        z = z * 6364136223846793005ull + 1442695040888963407ull;
        double x;
        if (i % 2) {
            unsigned long long bits = z ^ (z >> 29);
            memcpy(&x, &bits, sizeof x);
        } else {
            x = ((double)(z >> 11) / 9007199254740992.0 - 0.5) * 2e7;   /* +-1e7, like spreads in 1e-6 pp */
        }
        if (!same_bits(exact_round(x), round(x)) || !same_bits(exact_floor(x), floor(x)))
            bad++;
    }
    CU_ASSERT_EQUAL(bad, 0);
}

void suite_exact(void)
{
    CU_pSuite s = CU_add_suite("exact", NULL, NULL);
    CU_add_test(s, "round and floor at halves, wholes and the fast path's ends (bitwise)", test_edges);
    CU_add_test(s, "round and floor on random doubles (bitwise)", test_random);
}
