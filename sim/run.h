/* One simulation run: physics, charger and inverter, the core in the loop, invariants, trace and verdict. */
#ifndef BMSAGG_SIM_RUN_H
#define BMSAGG_SIM_RUN_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "policy.h"
#include "scenario.h"

/* The controller's commands of a run, tick by tick: recorded by a full run, replayed by a bare
 * one so that it steps exactly the same physics (the benchmark's "bare physics"). */
typedef struct {
    int64_t t_ms;
    double ccl_a, dcl_a, cvl_v;
} run_cmd;

typedef struct {
    run_cmd *cmd;
    size_t n, cap;
} run_cmds;

void run_cmds_free(run_cmds *c);

typedef struct {
    const char *out_dir;   /* NULL: no files */
    bool progress;         /* progress bar on stderr */
    bool bare_physics;     /* bench: the physics alone (profile, chargers and inverter, bus, packs,
                              BMS): no controller, invariants or trace; the chargers and inverter
                              get replay_cmds (a full run's, so the same trajectory) */
    const run_cmds *replay_cmds;
    run_cmds *record_cmds; /* full run: append every tick's commands here (NULL: not recorded) */
    bool packs_only;       /* bench: packs and bus only, a fixed current pattern (implies bare) */
    bool no_trace;
    const char *trace_path;  /* write the trace here instead of OUT/trace.csv (bench: /dev/null) */
    double days_override;  /* > 0: run this many days instead */
    int64_t checkpoint_ms; /* > 0: copy the whole state then, finish, restore, finish again */
} run_opts;

typedef struct {
    int status;                     /* 0 pass, 1 violation or unmet expectation, 2 setup error */
    char violation[48];             /* invariant name, "" none */
    char message[1280];             /* first violation or unmet expectation, with time and values */
    double violation_s;             /* -1 none */
    double days;
    double final_spread_pct;        /* as the controller saw it */
    double final_true_spread_pct;
    double min_ccl_a, max_ccl_a;
    double alert_s;                 /* first red alert, -1 none */
    double max_cell_v;
    uint32_t ovp_trips;
    double unserved_kwh;
    double spread_below_s;          /* first time the spread met the expectation, -1 never */
    uint64_t hash;
    uint64_t restored_hash;         /* with checkpoint_ms: the restored run's hash (must equal hash) */
    int64_t steps;
    double cell_steps;
    uint32_t rejected;
    double charged_ah, discharged_ah;
} run_result;

/* Runs a scenario with the given controller config. */
int run_scenario(const scn_t *s, const pol_config *cfg, const run_opts *o, run_result *r);

/* Writes the summary as key=value lines. */
void run_write_summary(FILE *f, const scn_t *s, const run_result *r);

/* Prints the human summary table. */
void run_print_table(FILE *f, const scn_t *s, const run_result *r);

/* mkdir -p: creates dir and its missing parents. Returns 0 or -1 (errno set). */
int run_mkdir_p(const char *dir);

#endif
