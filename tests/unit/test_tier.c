/* Suite tier: the tier table's vectors and the anti-flap state machine. */
#include "suites.h"
#include "tier.h"

static void test_vectors(void)
{
    pol_config c;
    pol_config_default(&c);
    /* The test vectors: spread -> CCL amps on a 150 A nominal. */
    const struct {
        double spread, amps;
    } v[] = {{0.0, 150}, {4.99, 150}, {5.00, 128}, {9.99, 128}, {10.00, 99},
             {15.00, 99}, {15.01, 50}, {100.0, 50}};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        int t = pol_tier_for_spread(&c, v[i].spread);
        CU_ASSERT_EQUAL(pol_tier_amps(&c, t), v[i].amps);
    }
    CU_ASSERT_EQUAL(pol_tier_amps(&c, 0), 150.0);
    CU_ASSERT_EQUAL(pol_tier_amps(&c, 1), 128.0);
    CU_ASSERT_EQUAL(pol_tier_amps(&c, 2), 99.0);
    CU_ASSERT_EQUAL(pol_tier_amps(&c, 3), 50.0);
}

static void test_rounding(void)
{
    CU_ASSERT_EQUAL(tier_amps(150, 85), 128.0);  /* 127.5 rounds up */
    CU_ASSERT_EQUAL(tier_amps(150, 33), 50.0);   /* 49.5 rounds up */
    CU_ASSERT_EQUAL(tier_amps(100, 33), 33.0);
    CU_ASSERT_EQUAL(tier_amps(10, 45), 5.0);     /* 4.5 */
    CU_ASSERT_EQUAL(tier_amps(10, 44), 4.0);
}

/* The definition, boundary by boundary: tier_lookup takes the one strict boundary after its loop. */
static int lookup_ref(const double *b, int n_tiers, double spread)
{
    int tier = 0;
    for (int i = 0; i < n_tiers - 1; i++)
        if (i == n_tiers - 2 ? spread > b[i] : spread >= b[i])
            tier = i + 1;
    return tier;
}

/* The lookup equals its definition at and around every boundary, for every table size; and the
 * relaxed tier is never looser than the raw one. */
static void test_lookup(void)
{
    const double b[] = {5, 10, 15, 20, 30, 40, 50};
    int differ = 0;
    for (int n_tiers = 1; n_tiers <= 8; n_tiers++)
        for (int k = -10; k <= 600; k++) {
            double spread = k / 10.0;
            int raw = tier_lookup(b, n_tiers, spread);
            if (raw != lookup_ref(b, n_tiers, spread))
                differ++;
            for (int h = 0; h < 3; h++)
                if (tier_lookup_relaxed(b, n_tiers, spread, h * 0.5) < raw)
                    differ++;
        }
    CU_ASSERT_EQUAL(differ, 0);
}

static void test_relaxed(void)
{
    const double b[] = {5, 10, 15};
    CU_ASSERT_EQUAL(tier_lookup_relaxed(b, 4, 3.99, 1.0), 0);
    CU_ASSERT_EQUAL(tier_lookup_relaxed(b, 4, 4.0, 1.0), 1);
    CU_ASSERT_EQUAL(tier_lookup_relaxed(b, 4, 8.99, 1.0), 1);
    CU_ASSERT_EQUAL(tier_lookup_relaxed(b, 4, 9.0, 1.0), 2);
    CU_ASSERT_EQUAL(tier_lookup_relaxed(b, 4, 14.0, 1.0), 3);
    CU_ASSERT_EQUAL(tier_lookup_relaxed(b, 4, 13.99, 1.0), 2);
    CU_ASSERT_EQUAL(tier_lookup(b, 1, 50.0), 0);  /* a single tier has no boundaries */
}

static void test_flap(void)
{
    tier_flap f;
    tier_flap_init(&f);
    const int64_t hold = 120000;
    CU_ASSERT_EQUAL(tier_flap_update(&f, 0, 2, 2, hold), 2);
    /* Tighter at once. */
    CU_ASSERT_EQUAL(tier_flap_update(&f, 1000, 3, 3, hold), 3);
    /* Spread fell below the boundary but not by the hysteresis: no progress. */
    CU_ASSERT_EQUAL(tier_flap_update(&f, 2000, 2, 3, hold), 3);
    CU_ASSERT_EQUAL(tier_flap_update(&f, 200000, 2, 3, hold), 3);
    /* Now with margin: held from t = 201 s. */
    CU_ASSERT_EQUAL(tier_flap_update(&f, 201000, 1, 1, hold), 3);
    CU_ASSERT_EQUAL(tier_flap_update(&f, 300000, 1, 2, hold), 3);   /* tightest seen: 2 */
    CU_ASSERT_EQUAL(tier_flap_update(&f, 320999, 1, 1, hold), 3);   /* 1 ms before the hold */
    CU_ASSERT_EQUAL(tier_flap_update(&f, 321000, 0, 0, hold), 2);   /* to the tightest seen */
    /* Interrupted hold restarts. */
    CU_ASSERT_EQUAL(tier_flap_update(&f, 322000, 0, 0, hold), 2);
    CU_ASSERT_EQUAL(tier_flap_update(&f, 400000, 2, 2, hold), 2);
    CU_ASSERT_EQUAL(tier_flap_update(&f, 441000, 0, 0, hold), 2);
    CU_ASSERT_EQUAL(tier_flap_update(&f, 560999, 0, 0, hold), 2);
    CU_ASSERT_EQUAL(tier_flap_update(&f, 561000, 0, 0, hold), 0);
}

/* Where tier_flap_wants_relaxed says no, any relaxed at or above raw gives the same tier and state:
 * the policy then skips the relaxed lookup. */
static void test_flap_relaxed_unread(void)
{
    tu_rng_state = tu_seed ^ 0x464c4150ull;
    int differ = 0, skipped = 0;
    for (int k = 0; k < 100000; k++) {
        tier_flap f;
        tier_flap_init(&f);
        f.init = tu_rng_next() % 4 != 0;
        f.applied = (int)(tu_rng_next() % 8);
        f.pending = tu_rng_next() % 2;
        f.pending_tier = (int)(tu_rng_next() % 8);
        f.since_ms = (int64_t)(tu_rng_next() % 300000);
        int raw = (int)(tu_rng_next() % 8);
        if (tier_flap_wants_relaxed(&f, raw))
            continue;
        skipped++;
        int64_t now = 300000 + (int64_t)(tu_rng_next() % 300000);
        tier_flap a = f, b = f;
        int ta = tier_flap_update(&a, now, raw, raw, 120000);
        int tb = tier_flap_update(&b, now, raw, raw + (int)(tu_rng_next() % 8), 120000);
        if (ta != tb || a.init != b.init || a.applied != b.applied || a.pending != b.pending ||
            (a.pending && (a.pending_tier != b.pending_tier || a.since_ms != b.since_ms)))
            differ++;
    }
    CU_ASSERT_TRUE(skipped > 10000);
    CU_ASSERT_EQUAL(differ, 0);
}

void suite_tier(void)
{
    CU_pSuite s = CU_add_suite("tier", NULL, NULL);
    CU_add_test(s, "tier vectors 4.99/5.00/9.99/10.00/15.00/15.01", test_vectors);
    CU_add_test(s, "amps rounded half up", test_rounding);
    CU_add_test(s, "relaxed lookup with hysteresis", test_relaxed);
    CU_add_test(s, "tier_lookup equals its definition; relaxed never looser", test_lookup);
    CU_add_test(s, "anti-flap: tighten at once, loosen after hold", test_flap);
    CU_add_test(s, "anti-flap: relaxed unread where it says so (property)", test_flap_relaxed_unread);
}
