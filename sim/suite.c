/* Scenario suites: each scenario run in its own forked worker (workers.c), the table in file order. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "conf.h"
#include "run.h"
#include "scenario.h"
#include "suite.h"
#include "workers.h"

#define MAX_SCN 128

typedef struct {
    char name[128];
    unsigned long long seed;
    run_result r;
} row;

int suite_config_for(const char *cli_path, const pol_config *cli, const char *scn_config,
                     pol_config *out, char *err, size_t err_len)
{
    if (cli_path) {
        *out = *cli;
        return 0;
    }
    static conf_t c;
    conf_default(&c);
    if (scn_config && scn_config[0] && conf_load(scn_config, &c, err, err_len) != 0)
        return -1;
    *out = c.pol;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool wanted(const char *only, const char *name)
{
    if (!only)
        return true;
    size_t len = strlen(name);
    for (const char *p = only; *p;) {
        const char *c = strchr(p, ',');
        size_t l = c ? (size_t)(c - p) : strlen(p);
        if (l == len && strncmp(p, name, l) == 0)
            return true;
        if (!c)
            break;
        p = c + 1;
    }
    return false;
}

static void run_one(const suite_opts *o, const char *path, int seed_ix, row *out)
{
    static scn_t s;
    char err[SCN_ERR_LEN];
    memset(out, 0, sizeof *out);
    out->r.violation_s = -1;
    long seed = -1;
    if (o->seeds > 1) {
        /* the file's own seed first, then the next ones */
        if (scn_load(path, &s, err, sizeof err) == 0)
            seed = (long)s.seed + seed_ix;
    }
    if (scn_load_seeded(path, seed, &s, err, sizeof err) != 0) {
        out->r.status = 2;
        snprintf(out->r.violation, sizeof out->r.violation, "input");
        snprintf(out->r.message, sizeof out->r.message, "%s", err);
        return;
    }
    snprintf(out->name, sizeof out->name, "%s", s.name);
    out->seed = s.seed;
    pol_config cfg;
    if (suite_config_for(o->config_path, o->config, s.config_path, &cfg, err, sizeof err) != 0) {
        out->r.status = 2;
        snprintf(out->r.violation, sizeof out->r.violation, "input");
        snprintf(out->r.message, sizeof out->r.message, "%s", err);
        return;
    }
    run_opts ro;
    memset(&ro, 0, sizeof ro);
    char dir[1024];
    if (o->out_dir) {
        if (o->seeds > 1)
            snprintf(dir, sizeof dir, "%s/%s-seed%llu", o->out_dir, s.name, (unsigned long long)s.seed);
        else
            snprintf(dir, sizeof dir, "%s/%s", o->out_dir, s.name);
        ro.out_dir = dir;
    } else {
        ro.no_trace = true;
    }
    run_scenario(&s, &cfg, &ro, &out->r);
    if (o->out_dir) {
        char p[1200];
        snprintf(p, sizeof p, "%s/summary.txt", dir);
        FILE *f = fopen(p, "w");
        if (f) {
            run_write_summary(f, &s, &out->r);
            fclose(f);
        }
    }
}

typedef struct {
    const suite_opts *o;
    char *const *names;   /* scenario files, sorted */
    int seeds;            /* runs per file */
} suite_ctx;

/* Scenario run i: file i / seeds, seed index i % seeds. */
static void suite_job(long i, void *result, void *ctx)
{
    const suite_ctx *c = ctx;
    const char *file = c->names[i / c->seeds];
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", c->o->dir, file);
    row *r = result;
    run_one(c->o, path, (int)(i % c->seeds), r);
    if (!r->name[0])
        snprintf(r->name, sizeof r->name, "%.*s", (int)(strlen(file) - 4), file);
}

static void suite_lost(long i, int st, void *result, void *ctx)
{
    const suite_ctx *c = ctx;
    const char *file = c->names[i / c->seeds];
    row *r = result;
    snprintf(r->name, sizeof r->name, "%.*s", (int)(strlen(file) - 4), file);
    r->r.status = 2;
    snprintf(r->r.violation, sizeof r->r.violation, "crash");
    snprintf(r->r.message, sizeof r->r.message, "worker died (%s %d)", WIFSIGNALED(st) ? "signal" : "exit",
             WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
}

int suite_main(const suite_opts *o)
{
    DIR *d = opendir(o->dir);
    if (!d) {
        fprintf(stderr, "bmsagg-sim: %s: cannot open scenario directory\n", o->dir);
        return 2;
    }
    static char *names[MAX_SCN];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < MAX_SCN) {
        size_t len = strlen(e->d_name);
        if (len < 5 || strcmp(e->d_name + len - 4, ".ini") != 0)
            continue;
        /* Shared defaults are included by the scenarios, not run on their own. */
        if (strncmp(e->d_name, "common", 6) == 0 || e->d_name[0] == '_')
            continue;
        char base[256];
        snprintf(base, sizeof base, "%.*s", (int)(len - 4), e->d_name);
        if (!wanted(o->only, base))
            continue;
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    if (n == 0) {
        fprintf(stderr, "bmsagg-sim: %s: no scenarios (*.ini)\n", o->dir);
        return 2;
    }
    qsort(names, (size_t)n, sizeof names[0], cmp_str);
    int seeds = o->seeds > 1 ? o->seeds : 1;
    int n_files = n;
    n = n_files * seeds;

    row *rows = calloc((size_t)n, sizeof *rows);
    if (!rows) {
        fprintf(stderr, "bmsagg-sim: out of memory\n");
        return 2;
    }
    suite_ctx ctx = {o, names, seeds};
    wk_spec w = {sizeof *rows, rows, suite_job, suite_lost, NULL, &ctx};
    if (wk_run(&w, n, o->jobs > 0 ? o->jobs : 1) != 0)
        return 2;

    int failed = 0, errors = 0;
    printf("%-30s %5s %6s %-6s %-26s %7s %7s %7s %8s\n", "scenario", "seed", "days", "result",
           "first violation", "spread", "ccl_min", "ccl_max", "alert_h");
    for (int i = 0; i < n; i++) {
        const run_result *r = &rows[i].r;
        const char *res = r->status == 0 ? "pass" : r->status == 1 ? "FAIL" : "ERROR";
        char viol[64], alert[32];
        if (r->violation[0] && r->violation_s >= 0)
            snprintf(viol, sizeof viol, "%s@%.0fs", r->violation, r->violation_s);
        else
            snprintf(viol, sizeof viol, "%s", r->violation[0] ? r->violation : "-");
        if (r->alert_s >= 0)
            snprintf(alert, sizeof alert, "%.2f", r->alert_s / 3600.0);
        else
            snprintf(alert, sizeof alert, "-");
        printf("%-30s %5llu %6.2f %-6s %-26s %7.2f %7.0f %7.0f %8s\n", rows[i].name, rows[i].seed,
               r->days, res, viol, r->final_spread_pct, r->min_ccl_a, r->max_ccl_a, alert);
        if (r->status == 1)
            failed++;
        if (r->status == 2)
            errors++;
    }
    for (int i = 0; i < n; i++)
        if (rows[i].r.status != 0)
            printf("  %s (seed %llu): %s\n", rows[i].name, rows[i].seed, rows[i].r.message);
    if (o->validate) {
        printf("\nverdicts for %s:\n", o->config_path ? o->config_path : "(defaults)");
        for (int i = 0; i < n; i++) {
            const run_result *r = &rows[i].r;
            char label[160];
            if (seeds > 1)
                snprintf(label, sizeof label, "%s#%llu", rows[i].name, rows[i].seed);
            else
                snprintf(label, sizeof label, "%s", rows[i].name);
            if (r->status == 0)
                printf("  %-34s SAFE\n", label);
            else if (r->status == 1)
                printf("  %-34s UNSAFE: %s violated\n", label, r->violation);
            else
                printf("  %-34s ERROR: %s\n", label, r->message);
        }
        printf("validate: %d of %d scenario runs passed; config %s\n", n - failed - errors, n,
               failed + errors == 0 ? "is SAFE to deploy" : "is NOT safe to deploy");
    } else {
        printf("suite: %d of %d scenario runs passed\n", n - failed - errors, n);
    }
    for (int i = 0; i < n_files; i++)
        free(names[i]);
    free(rows);
    if (errors)
        return 2;
    return failed ? 1 : 0;
}
