/* Suite prop: seeded random property tests of the policy (seed printed by the runner). */
#include <math.h>
#include <string.h>

#include "suites.h"

static int rng_int(int lo, int hi)
{
    return lo + (int)(tu_rng_next() % (unsigned long long)(hi - lo + 1));
}

typedef struct {
    int n;
    rdg_reading r[POL_MAX_PACKS];
} bank;

static void random_bank(bank *b)
{
    b->n = rng_int(1, 16);
    for (int i = 0; i < b->n; i++) {
        tu_pack(&b->r[i], tu_rng_uniform(0, 100));
        double lo = tu_rng_uniform(2.8, 3.5);
        rdg_set(&b->r[i], RDG_MIN_CELL, lo);
        rdg_set(&b->r[i], RDG_MAX_CELL, lo + tu_rng_uniform(0, 0.3));
        rdg_set(&b->r[i], RDG_INSTALLED_CAP, tu_rng_uniform(50, 600));
        rdg_set(&b->r[i], RDG_CCL, tu_rng_uniform(0, 300));
        rdg_set(&b->r[i], RDG_CURRENT, tu_rng_uniform(-0.5, 0.5));   /* 16 packs stay below share_min_current_a */
        if (rng_int(0, 9) == 0)
            rdg_set(&b->r[i], RDG_ALLOW_CHARGE, 0);
    }
}

static double fresh_ccl(const pol_config *c, bank *b, pol_output *out)
{
    pol_state s;
    pol_init(&s);
    for (int i = 0; i < b->n; i++)
        b->r[i].fresh = true;
    CU_ASSERT_EQUAL_FATAL(pol_step(&s, c, 0, b->r, b->n, out), 0);
    return out->ccl_a;
}

/* CCL never above nominal, never above the tier for the spread, never above the share limit
 * (computed here independently from capacity shares of the packs accepting charge). */
static void test_bounds(void)
{
    tu_rng_state = tu_seed;
    pol_config c;
    pol_config_default(&c);
    static pol_output out;
    int failures = 0;
    for (int k = 0; k < 20000 && failures < 5; k++) {
        bank b;
        random_bank(&b);
        double ccl = fresh_ccl(&c, &b, &out);
        double tier_a = pol_tier_amps(&c, pol_tier_for_spread(&c, out.spread_pct));
        double cap_total = 0.0;
        for (int i = 0; i < b.n; i++)
            if (b.r[i].allow_charge)
                cap_total += b.r[i].installed_cap_ah;
        double share_lim = INFINITY;
        for (int i = 0; i < b.n; i++)
            if (b.r[i].allow_charge) {
                double l = b.r[i].ccl_a * cap_total / b.r[i].installed_cap_ah;
                if (l < share_lim)
                    share_lim = l;
            }
        bool ok = ccl >= 0.0 && ccl <= c.nominal_ccl_a && ccl <= tier_a + 1e-9 &&
                  ccl <= share_lim + 1e-6 && (cap_total > 0.0 || ccl == 0.0);
        if (!ok) {
            failures++;
            CU_FAIL("CCL above a bound (nominal, tier or share)");
        }
    }
}

/* For a fresh state, widening the spread never raises CCL, nor does raising the top cell. */
static void test_monotone(void)
{
    tu_rng_state = tu_seed ^ 0x5555;
    pol_config c;
    pol_config_default(&c);
    static pol_output out;
    int failures = 0;
    for (int k = 0; k < 5000 && failures < 5; k++) {
        bank b;
        random_bank(&b);
        if (b.n < 2)
            continue;
        double prev = INFINITY;
        /* Pull the lowest pack's SOC down step by step: spread grows. */
        double base = b.r[0].soc_pct;
        for (double d = 0.0; d <= base; d += tu_rng_uniform(0.1, 3.0)) {
            rdg_set(&b.r[0], RDG_SOC, base - d);
            for (int i = 1; i < b.n; i++)
                if (b.r[i].soc_pct < base)
                    rdg_set(&b.r[i], RDG_SOC, base);
            double ccl = fresh_ccl(&c, &b, &out);
            if (ccl > prev + 1e-9) {
                failures++;
                CU_FAIL("CCL rose as the spread widened");
                break;
            }
            prev = ccl;
        }
        prev = INFINITY;
        double lo = b.r[1].min_cell_v;
        for (double v = lo; v < 4.5; v += tu_rng_uniform(0.001, 0.05)) {
            rdg_set(&b.r[1], RDG_MAX_CELL, v);
            rdg_set(&b.r[1], RDG_MIN_CELL, v - 0.1 < lo ? v - 0.1 : lo);
            if (b.r[1].min_cell_v < 1.5)
                rdg_set(&b.r[1], RDG_MIN_CELL, 1.5);
            double ccl = fresh_ccl(&c, &b, &out);
            if (ccl > prev + 1e-9) {
                failures++;
                CU_FAIL("CCL rose as the top cell voltage rose");
                break;
            }
            prev = ccl;
        }
    }
}

/* Pack order does not change the aggregates or the limits. */
static void test_order(void)
{
    tu_rng_state = tu_seed ^ 0xAAAA;
    pol_config c;
    pol_config_default(&c);
    static pol_output o1, o2;
    for (int k = 0; k < 2000; k++) {
        bank b, rev;
        random_bank(&b);
        rev.n = b.n;
        for (int i = 0; i < b.n; i++)
            rev.r[i] = b.r[b.n - 1 - i];
        double a = fresh_ccl(&c, &b, &o1);
        double z = fresh_ccl(&c, &rev, &o2);
        ASSERT_NEAR(a, z, 1e-9);
        ASSERT_NEAR(o1.soc_pct, o2.soc_pct, 1e-12);
        ASSERT_NEAR(o1.dcl_a, o2.dcl_a, 1e-9);
        CU_ASSERT_EQUAL(o1.tier, o2.tier);
    }
}

/* Over random time series, the published CCL never rises faster than the ramp and never
 * above the tier of the spread the controller saw at that tick. */
static void test_dynamic(void)
{
    tu_rng_state = tu_seed ^ 0x1234;
    pol_config c;
    pol_config_default(&c);
    static pol_output out;
    for (int k = 0; k < 50; k++) {
        bank b;
        random_bank(&b);
        pol_state s;
        pol_init(&s);
        double prev = -1.0;
        int64_t t = 0;
        for (int step = 0; step < 2000; step++) {
            for (int i = 0; i < b.n; i++) {
                double soc = b.r[i].soc_pct + tu_rng_uniform(-0.5, 0.5);
                rdg_set(&b.r[i], RDG_SOC, soc < 0 ? 0 : soc > 100 ? 100 : soc);
                b.r[i].fresh = rng_int(0, 20) != 0;
            }
            int64_t dt = rng_int(200, 3000);
            t += dt;
            CU_ASSERT_EQUAL_FATAL(pol_step(&s, &c, t, b.r, b.n, &out), 0);
            if (prev >= 0.0 && out.ccl_a > prev + c.ramp_a_per_s * (double)dt / 1000.0 + 1e-9)
                CU_FAIL("CCL rose faster than ramp_a_per_s");
            if (out.spread_valid &&
                out.ccl_a > pol_tier_amps(&c, pol_tier_for_spread(&c, out.spread_pct)) + 1e-9)
                CU_FAIL("CCL above the tier of the spread seen");
            prev = out.ccl_a;
        }
    }
}

/* The reason text is rebuilt only when what it shows changes: over random time series that
 * visit every limiter, the published text equals the text a state with no cached text builds
 * from the same tick. */
static void test_reason_cache(void)
{
    tu_rng_state = tu_seed ^ 0x7e7e;
    pol_config c;
    pol_config_default(&c);
    c.expected_packs = 4;
    c.min_packs_online = 2;
    c.share_min_current_a = 5.0;
    static pol_output out, fresh;
    static pol_state s, s2;
    bool seen[POL_LIM_COUNT] = {false};
    int stale = 0;
    for (int k = 0; k < 40; k++) {
        bank b;
        random_bank(&b);
        b.n = rng_int(2, 4);
        /* Every other series is a full, quiet bank at close SOCs: the nominal and offline
         * limiters bind only at tier 0 with nothing else in the way. */
        bool quiet = k % 2 == 0;
        if (quiet) {
            b.n = 4;
            for (int i = 0; i < b.n; i++)
                rdg_set(&b.r[i], RDG_SOC, 60.0 + tu_rng_uniform(0.0, 3.0));
        }
        pol_init(&s);
        int64_t t = 0;
        for (int step = 0; step < 1500; step++) {
            for (int i = 0; i < b.n; i++) {
                rdg_reading *r = &b.r[i];
                double soc = isnan(r->soc_pct) ? 60.0 : r->soc_pct + tu_rng_uniform(-0.3, 0.3);
                rdg_set(r, RDG_SOC, soc < 0 ? 0 : soc > 100 ? 100 : soc);
                double top = rng_int(0, quiet ? 30 : 3) == 0 ? tu_rng_uniform(3.40, 3.62) : tu_rng_uniform(3.30, 3.44);
                rdg_set(r, RDG_MAX_CELL, top);
                rdg_set(r, RDG_MIN_CELL, top - (rng_int(0, 30) == 0 ? 0.25 : tu_rng_uniform(0.0, 0.05)));
                rdg_set(r, RDG_CURRENT, tu_rng_uniform(-40.0, 40.0));
                rdg_set(r, RDG_CCL, rng_int(0, quiet ? 40 : 4) == 0 ? tu_rng_uniform(0.0, 60.0) : 200.0);
                rdg_set(r, RDG_ALLOW_CHARGE, rng_int(0, 15) != 0);
                if (rng_int(0, 40) == 0)
                    r->present &= ~RDG_BIT(RDG_MAX_CELL);   /* cells lost */
                if (rng_int(0, 60) == 0)
                    r->soc_pct = NAN;                       /* a rejected reading */
                r->label = rng_int(0, 10) == 0 ? -1 : 100 + i;
                r->fresh = rng_int(0, 12) != 0;
            }
            t += rng_int(0, 50) == 0 ? rng_int(10000, 30000) : 1000;   /* now and then all stale */
            s2 = s;
            s2.reason_key_valid = false;
            CU_ASSERT_EQUAL_FATAL(pol_step(&s, &c, t, b.r, b.n, &out), 0);
            CU_ASSERT_EQUAL_FATAL(pol_step(&s2, &c, t, b.r, b.n, &fresh), 0);
            if (strcmp(out.reason, fresh.reason) != 0)
                stale++;
            seen[out.ccl_limiter] = true;
        }
    }
    CU_ASSERT_EQUAL(stale, 0);
    /* The series must have visited every limiter that can bind the CCL, or it proves little. */
    for (int l = 0; l < POL_LIM_COUNT; l++)
        if (!seen[l])
            CU_FAIL("a limiter never bound in the reason-cache series");
}

void suite_prop(void)
{
    CU_pSuite s = CU_add_suite("prop", NULL, NULL);
    CU_add_test(s, "CCL <= nominal, <= tier(spread), <= share limit (random banks)", test_bounds);
    CU_add_test(s, "CCL non-increasing in spread and max cell voltage", test_monotone);
    CU_add_test(s, "pack order does not matter", test_order);
    CU_add_test(s, "ramp and tier respected over random time series", test_dynamic);
    CU_add_test(s, "cached reason text equals a fresh one (random series, every limiter)",
                test_reason_cache);
}
