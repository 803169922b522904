/* Suite guard: the cell-voltage taper and the CVL pull-down. */
#include <math.h>

#include "guard.h"
#include "suites.h"

static void test_taper(void)
{
    const double s = 3.45, e = 3.55, fl = 0.10, st = 3.60;
    ASSERT_NEAR(guard_ccl_fraction(3.30, s, e, fl, st), 1.0, 1e-12);
    ASSERT_NEAR(guard_ccl_fraction(3.45, s, e, fl, st), 1.0, 1e-12);
    ASSERT_NEAR(guard_ccl_fraction(3.50, s, e, fl, st), 0.55, 1e-9);
    ASSERT_NEAR(guard_ccl_fraction(3.55, s, e, fl, st), 0.10, 1e-12);
    ASSERT_NEAR(guard_ccl_fraction(3.5999, s, e, fl, st), 0.10, 1e-12);
    ASSERT_NEAR(guard_ccl_fraction(3.60, s, e, fl, st), 0.0, 1e-12);
    ASSERT_NEAR(guard_ccl_fraction(4.20, s, e, fl, st), 0.0, 1e-12);
    /* Monotone non-increasing over a fine sweep. */
    double prev = 2.0;
    for (double v = 3.0; v < 3.7; v += 0.0005) {
        double f = guard_ccl_fraction(v, s, e, fl, st);
        CU_ASSERT(f <= prev + 1e-12);
        prev = f;
    }
}

static void test_cvl(void)
{
    /* No overvoltage: the lowest pack CVL. */
    ASSERT_NEAR(guard_cvl(55.2, 54.0, 0.0, 44.8), 55.2, 1e-12);
    /* 2 x 30 mV over: pulled to bank voltage - 60 mV. */
    ASSERT_NEAR(guard_cvl(55.2, 55.0, 0.06, 44.8), 54.94, 1e-9);
    /* Pull-down never raises it above the pack CVL. */
    ASSERT_NEAR(guard_cvl(54.0, 56.0, 0.01, 44.8), 54.0, 1e-12);
    /* Unknown bank voltage: from the pack CVL. */
    ASSERT_NEAR(guard_cvl(55.2, NAN, 0.2, 44.8), 55.0, 1e-9);
    /* Floor. */
    ASSERT_NEAR(guard_cvl(55.2, 45.0, 1.0, 44.8), 44.8, 1e-12);
}

void suite_guard(void)
{
    CU_pSuite s = CU_add_suite("guard", NULL, NULL);
    CU_add_test(s, "CCL taper 3.45 -> 3.55 V, stop at 3.60 V", test_taper);
    CU_add_test(s, "CVL pulled down by summed overvoltage", test_cvl);
}
