/* Throughput benchmark: the only place the simulator reads a clock. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "bench.h"
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
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double timed(const scn_t *s, const pol_config *cfg, bool bare, double days, run_result *r)
{
    run_opts o;
    memset(&o, 0, sizeof o);
    o.bare_physics = bare;
    o.days_override = days;
    o.trace_path = bare ? NULL : "/dev/null";
    double t0 = now_s();
    run_scenario(s, cfg, &o, r);
    return now_s() - t0;
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
    double tb = timed(&s, &c.pol, true, days, &rb);
    double tf = timed(&s, &c.pol, false, days, &rf);
    double cps_b = rb.cell_steps / tb, cps_f = rf.cell_steps / tf;
    printf("bench: %d packs x %d cells, %lld ms steps, %.0f days (%lld steps), one core\n", s.n_packs,
           s.n_cells, (long long)s.step_ms, days, (long long)rf.steps);
    printf("bare physics (packs + bus solve):                       %12.3e cell-steps/s  %6.2f s  %5.2f ns/cell-step\n",
           cps_b, tb, 1e9 / cps_b);
    printf("full simulation (profile + core + invariants + trace):  %12.3e cell-steps/s  %6.2f s  %5.2f ns/cell-step\n",
           cps_f, tf, 1e9 / cps_f);
    printf("ratio full / bare (time):                               %12.2f\n", tf / tb);
    if (rf.status != 0)
        printf("note: the benchmark run itself failed: %s\n", rf.message);
    if (year) {
        run_result ry;
        double ty = timed(&s, &c.pol, false, 365.0, &ry);
        printf("365-day 3 x 16-cell full run at 1 s steps:              %12.2f s  (%.3e cell-steps/s, %s)\n",
               ty, ry.cell_steps / ty, ry.status == 0 ? "passed" : "failed");
    }
    return 0;
}
