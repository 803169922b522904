/* bmsagg-sim: the pack simulator's command line (run, suite, validate, eval, bench, replay). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "conf.h"
#include "eval.h"
#include "replay.h"
#include "run.h"
#include "scenario.h"
#include "suite.h"
#include "sweep.h"

#ifndef BMSAGG_VERSION
#define BMSAGG_VERSION "dev"
#endif

#ifndef BMSAGG_SCENARIO_DIR
#define BMSAGG_SCENARIO_DIR "scenarios"
#endif

static void usage(FILE *f)
{
    fputs("usage:\n"
          "  bmsagg-sim run SCENARIO.ini [--config FILE] [--out DIR] [--days N] [--seed N] [--checkpoint-s S]\n"
          "  bmsagg-sim suite [DIR] [--config FILE] [-j N] [--out DIR] [--only a,b] [--seeds N]\n"
          "  bmsagg-sim validate --config FILE [DIR] [-j N] [--seeds N]\n"
          "  bmsagg-sim eval --soc 93,84,82 [--cell-delta 0.05,0.02,0.21] [--config FILE]\n"
          "  bmsagg-sim bench [--days N] [--no-year] [--only full|bare|packs]\n"
          "  bmsagg-sim sweep [--seeds N] [--from S] [-j J] [--days D] [--out DIR] [--config FILE] [--no-shrink]\n"
          "  bmsagg-sim replay RECORDING.csv [--config FILE] [--out DIR]\n"
          "exit status: 0 all held, 1 a violation or unmet expectation, 2 bad input\n",
          f);
}

static int bad(const char *fmt, const char *arg)
{
    fprintf(stderr, "bmsagg-sim: ");
    fprintf(stderr, fmt, arg);
    fputc('\n', stderr);
    return 2;
}

/* Loads --config FILE into *c; prints file:line and key on error. */
static int load_config(const char *path, conf_t *c)
{
    char err[CONF_ERR_LEN];
    conf_default(c);
    if (path && conf_load(path, c, err, sizeof err) != 0) {
        fprintf(stderr, "bmsagg-sim: %s\n", err);
        return -1;
    }
    return 0;
}

static int cmd_run(int argc, char **argv)
{
    const char *scn_path = NULL, *config = NULL, *out = NULL;
    double days = 0.0;
    long seed = -1;
    int64_t checkpoint_ms = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            config = argv[++i];
        else if (strcmp(argv[i], "--out") == 0 && i + 1 < argc)
            out = argv[++i];
        else if (strcmp(argv[i], "--days") == 0 && i + 1 < argc) {
            if (conf_parse_double(argv[++i], 0.001, 400, &days) != 0)
                return bad("--days: '%s' is not a number of days in 0.001..400", argv[i]);
        } else if (strcmp(argv[i], "--checkpoint-s") == 0 && i + 1 < argc) {
            double cs;
            if (conf_parse_double(argv[++i], 1, 400 * 86400.0, &cs) != 0)
                return bad("--checkpoint-s: '%s' is not a time in seconds", argv[i]);
            checkpoint_ms = (int64_t)(cs * 1000.0);
        } else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc) {
            if (conf_parse_long(argv[++i], 0, 0x7fffffffL, &seed) != 0)
                return bad("--seed: '%s' is not a whole number in 0..2147483647", argv[i]);
        } else if (argv[i][0] == '-')
            return bad("run: unknown or incomplete option '%s'", argv[i]);
        else if (!scn_path)
            scn_path = argv[i];
        else
            return bad("run: more than one scenario ('%s')", argv[i]);
    }
    if (!scn_path)
        return bad("run: %s", "which scenario? (bmsagg-sim run SCENARIO.ini)");
    static scn_t s;
    char err[SCN_ERR_LEN];
    if (scn_load_seeded(scn_path, seed, &s, err, sizeof err) != 0) {
        fprintf(stderr, "bmsagg-sim: %s\n", err);
        return 2;
    }
    static conf_t c;
    if (config) {
        if (load_config(config, &c) != 0)
            return 2;
    } else if (load_config(s.config_path[0] ? s.config_path : NULL, &c) != 0) {
        return 2;
    }
    run_opts o;
    memset(&o, 0, sizeof o);
    o.out_dir = out;
    o.days_override = days;
    o.progress = isatty(STDERR_FILENO) != 0;
    o.checkpoint_ms = checkpoint_ms;
    run_result r;
    run_scenario(&s, &c.pol, &o, &r);
    if (checkpoint_ms > 0 && r.restored_hash != r.hash && r.status == 0)
        r.status = 1;
    if (r.status == 2) {
        fprintf(stderr, "bmsagg-sim: %s\n", r.message);
        return 2;
    }
    if (r.status == 1)
        fprintf(stderr, "%s\n", r.message);
    run_print_table(stdout, &s, &r);
    if (checkpoint_ms > 0)
        printf("%-24s %016llx (%s the uninterrupted run)\n", "restored from checkpoint",
               (unsigned long long)r.restored_hash, r.restored_hash == r.hash ? "same as" : "DIFFERS from");
    if (out) {
        char p[1200];
        snprintf(p, sizeof p, "%s/summary.txt", out);
        FILE *f = fopen(p, "w");
        if (!f)
            return bad("%s: cannot write", p);
        run_write_summary(f, &s, &r);
        fclose(f);
        snprintf(p, sizeof p, "%s/summary-table.txt", out);
        f = fopen(p, "w");
        if (f) {
            run_print_table(f, &s, &r);
            fclose(f);
        }
        printf("%-24s %s/trace.csv, %s/summary.txt\n", "wrote", out, out);
    }
    return r.status;
}

static int cmd_suite(int argc, char **argv, bool validate)
{
    suite_opts o;
    memset(&o, 0, sizeof o);
    o.dir = BMSAGG_SCENARIO_DIR;
    o.jobs = (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (o.jobs < 1)
        o.jobs = 1;
    o.validate = validate;
    bool dir_given = false;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            o.config_path = argv[++i];
        else if (strcmp(argv[i], "--out") == 0 && i + 1 < argc)
            o.out_dir = argv[++i];
        else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc)
            o.only = argv[++i];
        else if (strcmp(argv[i], "--seeds") == 0 && i + 1 < argc) {
            long n;
            if (conf_parse_long(argv[++i], 1, 1000, &n) != 0)
                return bad("--seeds: '%s' is not a count in 1..1000", argv[i]);
            o.seeds = (int)n;
        }
        else if (strcmp(argv[i], "-j") == 0 && i + 1 < argc) {
            long j;
            if (conf_parse_long(argv[++i], 1, 256, &j) != 0)
                return bad("-j: '%s' is not a job count in 1..256", argv[i]);
            o.jobs = (int)j;
        } else if (argv[i][0] == '-')
            return bad("unknown or incomplete option '%s'", argv[i]);
        else if (!dir_given) {
            o.dir = argv[i];
            dir_given = true;
        } else
            return bad("more than one scenario directory ('%s')", argv[i]);
    }
    if (validate && !o.config_path)
        return bad("validate: %s", "--config FILE is required");
    static conf_t c;
    if (o.config_path) {
        if (load_config(o.config_path, &c) != 0)
            return 2;
        o.config = &c.pol;
    }
    return suite_main(&o);
}

static int cmd_eval(int argc, char **argv)
{
    const char *soc = NULL, *delta = NULL, *config = NULL;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--soc") == 0 && i + 1 < argc)
            soc = argv[++i];
        else if (strcmp(argv[i], "--cell-delta") == 0 && i + 1 < argc)
            delta = argv[++i];
        else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            config = argv[++i];
        else
            return bad("eval: unknown or incomplete argument '%s'", argv[i]);
    }
    if (!soc)
        return bad("eval: %s", "--soc is required, e.g. --soc 93,84,82");
    double socs[POL_MAX_PACKS], deltas[POL_MAX_PACKS];
    int n = eval_parse_list(soc, 0.0, 100.0, socs, POL_MAX_PACKS);
    if (n < 1)
        return bad("eval: --soc '%s': want 1 to 32 comma-separated percentages in 0..100", soc);
    if (delta) {
        int m = eval_parse_list(delta, 0.0, 3.0, deltas, POL_MAX_PACKS);
        if (m < 1)
            return bad("eval: --cell-delta '%s': want comma-separated volts in 0..3", delta);
        if (m != n) {
            fprintf(stderr, "bmsagg-sim: eval: --cell-delta has %d values, --soc has %d\n", m, n);
            return 2;
        }
    }
    static conf_t c;
    if (load_config(config, &c) != 0)
        return 2;
    if (eval_run(stdout, &c.pol, socs, delta ? deltas : NULL, n) != 0)
        return bad("eval: %s", "the core refused the snapshot");
    return 0;
}

static int cmd_bench(int argc, char **argv)
{
    double days = 30.0;
    int year = 1;
    const char *only = NULL;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--days") == 0 && i + 1 < argc) {
            if (conf_parse_double(argv[++i], 0.01, 400, &days) != 0)
                return bad("--days: '%s' is not a number of days in 0.01..400", argv[i]);
        } else if (strcmp(argv[i], "--no-year") == 0) {
            year = 0;
        } else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
            only = argv[++i];
            if (strcmp(only, "full") != 0 && strcmp(only, "bare") != 0 && strcmp(only, "packs") != 0)
                return bad("--only: '%s' is not full, bare or packs", only);
        } else {
            return bad("bench: unknown or incomplete argument '%s'", argv[i]);
        }
    }
    return bench_main(days, year, only);
}

/* A daemon recording through the same core: identical with its own config, compared with another. */
static int cmd_replay(int argc, char **argv)
{
    const char *rec = NULL, *config = NULL, *out = NULL;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            config = argv[++i];
        else if (strcmp(argv[i], "--out") == 0 && i + 1 < argc)
            out = argv[++i];
        else if (argv[i][0] == '-' || rec)
            return bad("replay: unknown or extra argument '%s'", argv[i]);
        else
            rec = argv[i];
    }
    if (!rec)
        return bad("replay: %s", "a recording is required: bmsagg-sim replay RECORDING.csv");
    return rec_replay(rec, config, out, stdout);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "run") == 0)
        return cmd_run(argc - 2, argv + 2);
    if (strcmp(cmd, "suite") == 0)
        return cmd_suite(argc - 2, argv + 2, false);
    if (strcmp(cmd, "validate") == 0)
        return cmd_suite(argc - 2, argv + 2, true);
    if (strcmp(cmd, "eval") == 0)
        return cmd_eval(argc - 2, argv + 2);
    if (strcmp(cmd, "bench") == 0)
        return cmd_bench(argc - 2, argv + 2);
    if (strcmp(cmd, "sweep") == 0)
        return sweep_cli(argc - 2, argv + 2);
    if (strcmp(cmd, "replay") == 0)
        return cmd_replay(argc - 2, argv + 2);
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "--version") == 0) {
        printf("bmsagg-sim %s\n", BMSAGG_VERSION);
        return 0;
    }
    fprintf(stderr, "bmsagg-sim: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}
