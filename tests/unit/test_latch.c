/* Suite latch: raised at t, not cleared before t + hold, cleared after; acknowledge when required. */
#include "latch.h"
#include "suites.h"

static void test_timing(void)
{
    latch_state l;
    latch_init(&l);
    const int64_t hold = 600000;
    CU_ASSERT_FALSE(latch_update(&l, 0, false, hold, false));
    CU_ASSERT_TRUE(latch_update(&l, 1000, true, hold, false));     /* raised at t = 1 s */
    CU_ASSERT_TRUE(latch_update(&l, 2000, false, hold, false));    /* cause gone at 2 s */
    CU_ASSERT_TRUE(latch_update(&l, 601999, false, hold, false));  /* not before 2 + 600 s */
    CU_ASSERT_TRUE(latch_update(&l, 602000 - 1, false, hold, false));
    CU_ASSERT_FALSE(latch_update(&l, 602000, false, hold, false)); /* cleared at 602 s */
}

static void test_cause_returns(void)
{
    latch_state l;
    latch_init(&l);
    const int64_t hold = 600000;
    latch_update(&l, 0, true, hold, false);
    latch_update(&l, 1000, false, hold, false);
    latch_update(&l, 500000, true, hold, false);    /* back before the hold ended */
    CU_ASSERT_TRUE(latch_update(&l, 501000, false, hold, false));
    CU_ASSERT_TRUE(latch_update(&l, 1100000, false, hold, false));  /* 599 s after 501 s */
    CU_ASSERT_FALSE(latch_update(&l, 1101000, false, hold, false));
}

static void test_ack(void)
{
    latch_state l;
    latch_init(&l);
    const int64_t hold = 10000;
    latch_ack(&l);   /* acknowledging nothing has no effect on a later alarm */
    latch_update(&l, 0, true, hold, true);
    CU_ASSERT_TRUE(latch_update(&l, 1000, false, hold, true));
    CU_ASSERT_TRUE(latch_update(&l, 60000, false, hold, true));   /* hold over, no ack */
    latch_ack(&l);
    CU_ASSERT_FALSE(latch_update(&l, 61000, false, hold, true));
    /* An ack given while the cause is still present counts once the hold has passed. */
    latch_update(&l, 70000, true, hold, true);
    latch_ack(&l);
    CU_ASSERT_TRUE(latch_update(&l, 71000, false, hold, true));
    CU_ASSERT_TRUE(latch_update(&l, 80999, false, hold, true));
    CU_ASSERT_FALSE(latch_update(&l, 81000, false, hold, true));
}

void suite_latch(void)
{
    CU_pSuite s = CU_add_suite("latch", NULL, NULL);
    CU_add_test(s, "raised at t, cleared exactly at absent + hold", test_timing);
    CU_add_test(s, "cause returning restarts the hold", test_cause_returns);
    CU_add_test(s, "acknowledge required", test_ack);
}
