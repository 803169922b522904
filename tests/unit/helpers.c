/* Helpers shared by the unit suites. */
#include "suites.h"

void tu_pack(rdg_reading *r, double soc_pct)
{
    rdg_clear(r);
    r->fresh = true;
    rdg_set(r, RDG_SOC, soc_pct);
    rdg_set(r, RDG_VOLTAGE, 53.0);
    rdg_set(r, RDG_CURRENT, 0.0);
    rdg_set(r, RDG_POWER, 0.0);
    rdg_set(r, RDG_TEMPERATURE, 20.0);
    rdg_set(r, RDG_MIN_CELL, 3.30);
    rdg_set(r, RDG_MAX_CELL, 3.32);
    r->min_cell_id = 3;
    r->max_cell_id = 7;
    rdg_set(r, RDG_INSTALLED_CAP, 280.0);
    rdg_set(r, RDG_REMAINING_CAP, 280.0 * soc_pct / 100.0);
    rdg_set(r, RDG_CONSUMED_AH, -280.0 * (100.0 - soc_pct) / 100.0);
    rdg_set(r, RDG_CVL, 55.2);
    rdg_set(r, RDG_CCL, 200.0);
    rdg_set(r, RDG_DCL, 200.0);
    rdg_set(r, RDG_ALLOW_CHARGE, 1);
    rdg_set(r, RDG_ALLOW_DISCHARGE, 1);
}

void tu_run(pol_state *s, const pol_config *c, rdg_reading *r, int n, int64_t *t_ms, int secs,
            pol_output *out)
{
    for (int k = 0; k < secs; k++) {
        for (int i = 0; i < n; i++)
            r[i].fresh = true;
        int rc = pol_step(s, c, *t_ms, r, n, out);
        CU_ASSERT_EQUAL_FATAL(rc, 0);
        *t_ms += 1000;
    }
}

unsigned long long tu_rng_state;

unsigned long long tu_rng_next(void)
{
    unsigned long long z = (tu_rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

double tu_rng_uniform(double lo, double hi)
{
    return lo + (hi - lo) * (double)(tu_rng_next() >> 11) / 9007199254740992.0;
}
