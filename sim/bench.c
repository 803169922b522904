/* Throughput benchmark: the only place the simulator reads a clock. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "bench.h"
#include "policy.h"
#include "conf.h"
#include "run.h"
#include "scenario.h"

/* A self-contained 3 x 16S bank (the seed post's), so the benchmark needs no files. */
static const char bank_ini[] =
    "[scenario]\n"
    "days = 30\n"
    "seed = 7\n"
    "trace_s = 60\n"
    "[bank]\n"
    "packs = 3\n"
    "[pv]\n"
    "peak_w = 7000\n"
    "weather = markov\n"
    "[pack.1]\n"
    "soc_pct = 93\n"
    "rext_mohm = 4\n"
    "[pack.2]\n"
    "soc_pct = 84\n"
    "[pack.3]\n"
    "soc_pct = 82\n";

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);   /* CPU time: steadier than wall time on a shared machine */
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Best of `reps` runs: other processes on the machine only ever make a run slower. */
static double timed(const scn_t *s, const pol_config *cfg, bool bare, double days, int reps,
                    run_result *r)
{
    run_opts o;
    memset(&o, 0, sizeof o);
    o.bare_physics = bare;
    o.days_override = days;
    o.trace_path = bare ? NULL : "/dev/null";
    double best = 1e300;
    for (int i = 0; i < reps; i++) {
        double t0 = now_s();
        run_scenario(s, cfg, &o, r);
        double dt = now_s() - t0;
        best = dt < best ? dt : best;
    }
    return best;
}

/* The core alone, ticked as often as the full run ticks it, on a plausible 3-pack snapshot
 * whose SOCs move a little every tick so nothing is cached: what the controller costs. */
static double time_core(const pol_config *cfg, int64_t ticks, int n)
{
    static pol_state st;
    static pol_output out;
    rdg_reading r[POL_MAX_PACKS];
    pol_init(&st);
    double best = 1e300;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = now_s();
        for (int64_t i = 0; i < ticks; i++) {
            for (int k = 0; k < n; k++) {
                rdg_clear(&r[k]);
                r[k].fresh = true;
                r[k].label = k + 1;
                rdg_set(&r[k], RDG_SOC, 80.0 + k + (double)(i % 7));
                rdg_set(&r[k], RDG_VOLTAGE, 53.0);
                rdg_set(&r[k], RDG_CURRENT, 20.0 + k);
                rdg_set(&r[k], RDG_TEMPERATURE, 20.0);
                rdg_set(&r[k], RDG_MIN_CELL, 3.30);
                rdg_set(&r[k], RDG_MAX_CELL, 3.32);
                rdg_set(&r[k], RDG_INSTALLED_CAP, 280.0);
                rdg_set(&r[k], RDG_CCL, 100.0);
                rdg_set(&r[k], RDG_DCL, 150.0);
                rdg_set(&r[k], RDG_CVL, 55.2);
            }
            pol_step(&st, cfg, (int64_t)rep * ticks * 2000 + i * 2000, r, n, &out);
        }
        double dt = now_s() - t0;
        best = dt < best ? dt : best;
    }
    return best;
}

int bench_main(double days, int year)
{
    static scn_t s;
    char err[SCN_ERR_LEN];
    if (scn_load_string(bank_ini, "bench", &s, err, sizeof err) != 0) {
        fprintf(stderr, "bmsagg-sim: %s\n", err);
        return 2;
    }
    static conf_t c;
    conf_default(&c);
    run_result rf, rb;
    double tb = timed(&s, &c.pol, true, days, 3, &rb);
    double tf = timed(&s, &c.pol, false, days, 3, &rf);
    double cps_b = rb.cell_steps / tb, cps_f = rf.cell_steps / tf;
    printf("bench: %d packs x %d cells, %lld ms steps, %.0f days (%lld steps), one core, CPU time, best of 3\n", s.n_packs,
           s.n_cells, (long long)s.step_ms, days, (long long)rf.steps);
    printf("bare physics (packs + bus solve):                       %12.3e cell-steps/s  %6.2f s  %5.2f ns/cell-step\n",
           cps_b, tb, 1e9 / cps_b);
    printf("full simulation (profile + core + invariants + trace):  %12.3e cell-steps/s  %6.2f s  %5.2f ns/cell-step\n",
           cps_f, tf, 1e9 / cps_f);
    double tc = time_core(&c.pol, rf.steps * s.step_ms / s.poll_ms, s.n_packs);
    printf("of which the core alone (pol_step every %lld ms):          %6.2f s  %5.2f us/tick\n",
           (long long)s.poll_ms, tc, tc * 1e6 / (double)(rf.steps * s.step_ms / s.poll_ms));
    printf("ratio full / bare (time):                               %12.2f\n", tf / tb);
    if (rf.status != 0)
        printf("note: the benchmark run itself failed: %s\n", rf.message);
    if (year) {
        run_result ry;
        double ty = timed(&s, &c.pol, false, 365.0, 1, &ry);
        printf("365-day 3 x 16-cell full run at 1 s steps:              %12.2f s  (%.3e cell-steps/s, %s)\n",
               ty, ry.cell_steps / ty, ry.status == 0 ? "passed" : "failed");
    }
    return 0;
}
