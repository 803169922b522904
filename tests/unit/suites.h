/* The unit-test suites, one per module, and helpers they share. */
#ifndef BMSAGG_TEST_SUITES_H
#define BMSAGG_TEST_SUITES_H

#include <CUnit/CUnit.h>

#include "policy.h"

void suite_reading(void);
void suite_tier(void);
void suite_latch(void);
void suite_guard(void);
void suite_share(void);
void suite_fmt(void);
void suite_policy(void);
void suite_conf(void);
void suite_prop(void);
void suite_record(void);
void suite_exact(void);

/* A plausible reading of a 16S LFP pack at this SOC, every field present and fresh. */
void tu_pack(rdg_reading *r, double soc_pct);

/* Runs the policy on a steady snapshot from t = 0 for secs seconds at 1 s ticks. */
void tu_run(pol_state *s, const pol_config *c, rdg_reading *r, int n, int64_t *t_ms, int secs,
            pol_output *out);

/* Property-test seed, printed by the runner and settable with --seed. */
extern unsigned long long tu_seed;

/* SplitMix64 for the property tests: small, seedable, the same sequence everywhere. Set
 * tu_rng_state (from tu_seed) before a test draws. */
extern unsigned long long tu_rng_state;
unsigned long long tu_rng_next(void);
double tu_rng_uniform(double lo, double hi);   /* in [lo, hi) */

#define ASSERT_NEAR(a, b, eps) CU_ASSERT_DOUBLE_EQUAL((a), (b), (eps))

#endif
