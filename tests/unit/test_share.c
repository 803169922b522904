/* Suite share: capacity and measured shares, and the pack-share limit. */
#include <math.h>

#include "share.h"
#include "suites.h"

static void test_capacity(void)
{
    bool m[3] = {true, true, true};
    double cap[3] = {280, 140, 280};
    double sh[3];
    share_by_capacity(m, cap, 3, sh);
    ASSERT_NEAR(sh[0], 0.4, 1e-12);
    ASSERT_NEAR(sh[1], 0.2, 1e-12);
    m[1] = false;
    share_by_capacity(m, cap, 3, sh);
    ASSERT_NEAR(sh[0], 0.5, 1e-12);
    ASSERT_NEAR(sh[1], 0.0, 1e-12);
    m[1] = true;
    cap[2] = NAN;   /* one unknown capacity: equal shares */
    share_by_capacity(m, cap, 3, sh);
    ASSERT_NEAR(sh[0], 1.0 / 3, 1e-12);
}

static void test_measured(void)
{
    bool m[3] = {true, true, true};
    double cur[3] = {60, 30, 10};
    double inst[3];
    CU_ASSERT_TRUE(share_by_current(m, cur, 3, +1.0, 10.0, inst));
    ASSERT_NEAR(inst[0], 0.6, 1e-12);
    ASSERT_NEAR(inst[2], 0.1, 1e-12);
    CU_ASSERT_FALSE(share_by_current(m, cur, 3, -1.0, 10.0, inst));   /* nothing discharging */
    double small[3] = {3, 3, 3};
    CU_ASSERT_FALSE(share_by_current(m, small, 3, +1.0, 10.0, inst));
    cur[1] = NAN;
    CU_ASSERT_FALSE(share_by_current(m, cur, 3, +1.0, 10.0, inst));
}

static void test_limit(void)
{
    bool m[3] = {true, true, true}, has[3] = {true, true, true};
    double lim[3] = {100, 30, 100}, sh[3] = {0.4, 0.2, 0.4};
    int bind;
    ASSERT_NEAR(share_limit(m, has, lim, sh, 3, &bind), 150.0, 1e-9);
    CU_ASSERT_EQUAL(bind, 1);
    lim[1] = 0.0;
    ASSERT_NEAR(share_limit(m, has, lim, sh, 3, &bind), 0.0, 1e-12);
    has[1] = false;
    ASSERT_NEAR(share_limit(m, has, lim, sh, 3, &bind), 250.0, 1e-9);
    m[0] = m[2] = false;
    CU_ASSERT(isinf(share_limit(m, has, lim, sh, 3, &bind)));
    CU_ASSERT_EQUAL(bind, -1);
}

static void test_smoother(void)
{
    share_smoother s;
    share_smoother_init(&s);
    bool m[2] = {true, true};
    double cap[2] = {0.5, 0.5}, used[2];
    double a[2] = {0.8, 0.2}, b[2] = {0.5, 0.5};
    share_update(&s, m, 2, true, a, cap, 0.1, used);
    ASSERT_NEAR(used[0], 0.8, 1e-12);
    share_update(&s, m, 2, true, b, cap, 0.1, used);
    /* Smoothed 0.77 for pack 0; pack 1's rising share takes the instantaneous 0.5. */
    ASSERT_NEAR(used[0], 0.77, 1e-12);
    ASSERT_NEAR(used[1], 0.5, 1e-12);
    share_update(&s, m, 2, false, b, cap, 0.1, used);
    ASSERT_NEAR(used[0], 0.5, 1e-12);   /* not measurable: capacity shares */
}

void suite_share(void)
{
    CU_pSuite s = CU_add_suite("share", NULL, NULL);
    CU_add_test(s, "capacity shares", test_capacity);
    CU_add_test(s, "measured shares need enough current", test_measured);
    CU_add_test(s, "limit = min(pack limit / share)", test_limit);
    CU_add_test(s, "smoothing never under-states a rising share", test_smoother);
}
