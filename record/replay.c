/* Replays a daemon recording through the core: proves it identical, or shows what another config would have done. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "recfmt.h"
#include "replay.h"

/* One config's run over the recording, and the figures that compare runs. */
typedef struct {
    const char *label;
    conf_t conf;
    pol_state state;
    pol_output out;
    bool stepped;
    FILE *trace;
    /* figures */
    double min_ccl_a, max_ccl_a;
    double limited_s;           /* time with CCL below nominal */
    int tier_changes;
    int last_tier;
    int red_raises;
    int64_t first_red_ms;
    bool red;
    int64_t last_ms;
    bool have_last;
} run_t;

static void run_init(run_t *r, const char *label, const conf_t *c)
{
    memset(r, 0, sizeof *r);
    r->label = label;
    r->conf = *c;
    pol_init(&r->state);
    r->min_ccl_a = INFINITY;
    r->max_ccl_a = -INFINITY;
    r->last_tier = -1;
    r->first_red_ms = -1;
}

/* One tick as the daemon ran it: its effective expected_packs (raised while packs are probed
 * at start-up; only where the config leaves it to the daemon, as the daemon does) and an
 * acknowledge that came before it. */
static int run_step(run_t *r, int64_t t_ms, const rdg_reading *rd, int n, int expected, int ack)
{
    pol_config eff = r->conf.pol;
    if (eff.expected_packs == 0)
        eff.expected_packs = expected;
    if (ack)
        pol_acknowledge(&r->state);
    if (pol_step(&r->state, &eff, t_ms, rd, n, &r->out) != 0)
        return -1;
    r->stepped = true;
    const pol_output *o = &r->out;
    if (r->have_last && o->ccl_a < r->conf.pol.nominal_ccl_a)
        r->limited_s += (double)(t_ms - r->last_ms) / 1000.0;
    r->last_ms = t_ms;
    r->have_last = true;
    if (o->ccl_a < r->min_ccl_a)
        r->min_ccl_a = o->ccl_a;
    if (o->ccl_a > r->max_ccl_a)
        r->max_ccl_a = o->ccl_a;
    if (r->last_tier >= 0 && o->tier != r->last_tier)
        r->tier_changes++;
    r->last_tier = o->tier;
    bool red = o->alarm[RDG_AL_CELL_IMBALANCE] >= 2;
    if (red && !r->red) {
        r->red_raises++;
        if (r->first_red_ms < 0)
            r->first_red_ms = t_ms;
    }
    r->red = red;
    if (r->trace)
        fprintf(r->trace, "%.3f,%.3f,%.3f,%.3f,%d,%d\n", (double)t_ms / 1000.0,
                o->soc_valid ? o->soc_pct : NAN, o->spread_valid ? o->spread_pct : NAN, o->ccl_a,
                o->tier, o->alarm[RDG_AL_CELL_IMBALANCE]);
    return 0;
}

/* Splits an O row into its fields (the reason, quoted, last) for a field-by-field report. */
static int output_fields(const char *row, char f[][128], int max)
{
    int n = 0;
    size_t k = 0;
    bool quoted = false;
    f[0][0] = '\0';
    for (const char *p = row; *p && *p != '\n'; p++) {
        if (*p == '"') {
            quoted = !quoted;
            continue;
        }
        if (*p == ',' && !quoted) {
            if (++n == max)
                return n;
            k = 0;
            f[n][0] = '\0';
            continue;
        }
        if (k + 1 < 128) {
            f[n][k++] = *p;
            f[n][k] = '\0';
        }
    }
    return n + 1;
}

static int report_difference(FILE *rep, const char *file, int line, const char *want,
                             const char *got)
{
    static char a[24][128], b[24][128];
    int na = output_fields(want, a, 24), nb = output_fields(got, b, 24);
    int shown = 0;
    for (int i = 1; i < na && i < nb; i++) {
        if (strcmp(a[i], b[i]) != 0) {
            fprintf(rep, "%s:%d: t=%s ms: %s recorded %s, replayed %s\n", file, line, a[1],
                    rec_output_field(i - 1), a[i], b[i]);
            shown++;
        }
    }
    if (!shown)
        fprintf(rep, "%s:%d: output differs: recorded '%s', replayed '%s'\n", file, line, want, got);
    return shown;
}

static void print_figures(FILE *rep, const run_t *r)
{
    fprintf(rep, "  %-12s CCL min %6.1f A  max %6.1f A  limited %8.0f s  tier changes %4d  "
                 "red alerts %d",
            r->label, r->min_ccl_a, r->max_ccl_a, r->limited_s, r->tier_changes, r->red_raises);
    if (r->first_red_ms >= 0)
        fprintf(rep, " (first at t=%.0f s)", (double)r->first_red_ms / 1000.0);
    fputc('\n', rep);
}

static void write_plots(const char *out_dir, FILE *rep)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/replay.gp", out_dir);
    FILE *g = fopen(path, "w");
    if (!g) {
        fprintf(rep, "replay: cannot write %s: %s\n", path, strerror(errno));
        return;
    }
    fprintf(g,
            "set terminal pngcairo size 1400,700\n"
            "set output '%s/replay.png'\n"
            "set datafile separator ','\n"
            "set multiplot layout 2,2 title 'recorded config vs alternative'\n"
            "set xlabel 'time (h)'\n"
            "set ylabel 'SOC spread (pp)'\n"
            "plot '%s/replay-recorded.csv' using ($1/3600):3 with lines title 'spread (recorded config)'\n"
            "plot '%s/replay-alternative.csv' using ($1/3600):3 with lines title 'spread (alternative)'\n"
            "set ylabel 'CCL (A)'\n"
            "plot '%s/replay-recorded.csv' using ($1/3600):4 with lines title 'CCL (recorded config)'\n"
            "plot '%s/replay-alternative.csv' using ($1/3600):4 with lines title 'CCL (alternative)'\n"
            "unset multiplot\n",
            out_dir, out_dir, out_dir, out_dir, out_dir);
    fclose(g);
    char cmd[4300];
    snprintf(cmd, sizeof cmd, "gnuplot '%s/replay.gp'", out_dir);
    if (system(cmd) == 0)
        fprintf(rep, "plots: %s/replay.png\n", out_dir);
    else
        fprintf(rep, "replay: gnuplot failed; the traces are in %s\n", out_dir);
}

/* The directory part of a path, for the config side file that sits beside the recording. */
static void dir_of(const char *path, char *dir, size_t len)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(dir, len, ".");
    else
        snprintf(dir, len, "%.*s", (int)(slash - path), path);
}

int rec_replay(const char *rec_path, const char *config_path, const char *out_dir, FILE *rep)
{
    FILE *f = fopen(rec_path, "r");
    if (!f) {
        fprintf(rep, "%s: cannot open: %s\n", rec_path, strerror(errno));
        return REPLAY_BAD_INPUT;
    }
    static run_t recorded, alternative;
    static char line[REC_LINE_MAX + 2];
    static rdg_reading rd[POL_MAX_PACKS];
    static char replayed[REC_LINE_MAX];
    char err[CONF_ERR_LEN];
    char side[256] = "";
    int format = -1;
    size_t state_size = 0;
    int lineno = 0;
    int rc = REPLAY_IDENTICAL;
    bool header_done = false, have_alt = false;
    bool tick_pending = false;
    int64_t tick_ms = 0;
    int tick_n = 0, tick_expected = 0, tick_ack = 0;
    long differences = 0, outputs = 0, ticks = 0;

    while (fgets(line, sizeof line, f)) {
        lineno++;
        size_t len = strlen(line);
        if (len == 0)
            continue;
        if (line[len - 1] != '\n') {
            if (len >= sizeof line - 1) {
                fprintf(rep, "%s:%d: line longer than %d characters\n", rec_path, lineno,
                        REC_LINE_MAX);
                rc = REPLAY_BAD_INPUT;
                break;
            }
            /* A daemon killed mid-write leaves half a row: skip it, say so. */
            fprintf(rep, "%s:%d: warning: truncated last line skipped\n", rec_path, lineno);
            break;
        }
        line[--len] = '\0';
        if (line[0] == '#') {
            if (header_done) {
                fprintf(rep, "%s:%d: header line after the first row\n", rec_path, lineno);
                rc = REPLAY_BAD_INPUT;
                break;
            }
            long v;
            if (strncmp(line, "# format=", 9) == 0) {
                if (conf_parse_long(line + 9, 0, 1000, &v) != 0 || v != REC_FORMAT_VERSION) {
                    fprintf(rep, "%s:%d: format '%s' is not %d\n", rec_path, lineno, line + 9,
                            REC_FORMAT_VERSION);
                    rc = REPLAY_BAD_INPUT;
                    break;
                }
                format = (int)v;
            } else if (strncmp(line, "# config_file=", 14) == 0) {
                if (strlen(line + 14) >= sizeof side || strchr(line + 14, '/')) {
                    /* The side file sits beside the recording; a path elsewhere is not ours. */
                    fprintf(rep, "%s:%d: bad config_file name\n", rec_path, lineno);
                    rc = REPLAY_BAD_INPUT;
                    break;
                }
                memcpy(side, line + 14, strlen(line + 14) + 1);
            } else if (strncmp(line, "# state_size=", 13) == 0) {
                if (conf_parse_long(line + 13, 1, 10000000, &v) != 0) {
                    fprintf(rep, "%s:%d: bad state_size\n", rec_path, lineno);
                    rc = REPLAY_BAD_INPUT;
                    break;
                }
                state_size = (size_t)v;
            }
            continue;
        }
        if (!header_done) {
            header_done = true;
            if (format < 0 || !side[0]) {
                fprintf(rep, "%s:%d: not a bms-aggregator recording (no format/config_file header)\n",
                        rec_path, lineno);
                rc = REPLAY_BAD_INPUT;
                break;
            }
            /* The recording's own config, from its side file. */
            char dir[4096], side_path[4400];
            dir_of(rec_path, dir, sizeof dir);
            snprintf(side_path, sizeof side_path, "%s/%s", dir, side);
            conf_t rc_conf;
            conf_default(&rc_conf);
            if (conf_load(side_path, &rc_conf, err, sizeof err) != 0) {
                fprintf(rep, "%s\n", err);
                rc = REPLAY_BAD_INPUT;
                break;
            }
            run_init(&recorded, "recorded", &rc_conf);
            if (config_path) {
                conf_t alt;
                conf_default(&alt);
                if (conf_load(config_path, &alt, err, sizeof err) != 0) {
                    fprintf(rep, "%s\n", err);
                    rc = REPLAY_BAD_INPUT;
                    break;
                }
                run_init(&alternative, "alternative", &alt);
                have_alt = true;
            }
            if (out_dir) {
                mkdir(out_dir, 0755);
                char p[4200];
                snprintf(p, sizeof p, "%s/replay-recorded.csv", out_dir);
                recorded.trace = fopen(p, "w");
                if (have_alt) {
                    snprintf(p, sizeof p, "%s/replay-alternative.csv", out_dir);
                    alternative.trace = fopen(p, "w");
                }
            }
        }

        rec_row row;
        if (rec_parse_row(line, &row, err, sizeof err) != 0) {
            fprintf(rep, "%s:%d: %s\n", rec_path, lineno, err);
            rc = REPLAY_BAD_INPUT;
            break;
        }
        /* A tick runs when its readings are complete: at the next T or O row, or at the end. */
        if (tick_pending && (row.kind == REC_ROW_TICK || row.kind == REC_ROW_OUTPUT ||
                             row.kind == REC_ROW_STATE)) {
            tick_pending = false;
            ticks++;
            if (run_step(&recorded, tick_ms, rd, tick_n, tick_expected, tick_ack) != 0 ||
                (have_alt && run_step(&alternative, tick_ms, rd, tick_n, tick_expected, tick_ack) != 0)) {
                fprintf(rep, "%s:%d: time goes backwards at t=%lld ms\n", rec_path, lineno,
                        (long long)tick_ms);
                rc = REPLAY_BAD_INPUT;
                break;
            }
        }
        switch (row.kind) {
        case REC_ROW_STATE:
            if (state_size != sizeof(pol_state) || rec_decode_state(line, &recorded.state) != 0) {
                fprintf(rep, "%s:%d: state snapshot damaged or from another build (size %zu, this build %zu)\n",
                        rec_path, lineno, state_size, sizeof(pol_state));
                rc = REPLAY_BAD_INPUT;
                goto done;
            }
            if (have_alt)
                alternative.state = recorded.state;
            break;
        case REC_ROW_TICK:
            for (int i = 0; i < POL_MAX_PACKS; i++)
                rdg_clear(&rd[i]);
            tick_ms = row.t_ms;
            tick_n = row.n_packs;
            tick_expected = row.expected_packs;
            tick_ack = row.ack;
            tick_pending = true;
            break;
        case REC_ROW_PACK:
            if (!tick_pending || row.slot >= tick_n) {
                fprintf(rep, "%s:%d: pack row for slot %d outside a tick of %d packs\n", rec_path,
                        lineno, row.slot, tick_n);
                rc = REPLAY_BAD_INPUT;
                goto done;
            }
            rd[row.slot] = row.reading;
            break;
        case REC_ROW_OUTPUT:
            if (!recorded.stepped || row.t_ms != tick_ms) {
                fprintf(rep, "%s:%d: output row at t=%lld ms has no tick\n", rec_path, lineno,
                        (long long)row.t_ms);
                rc = REPLAY_BAD_INPUT;
                goto done;
            }
            outputs++;
            if (rec_format_output(replayed, sizeof replayed, tick_ms, &recorded.out) < 0)
                replayed[0] = '\0';
            replayed[strcspn(replayed, "\n")] = '\0';
            if (strcmp(replayed, line) != 0) {
                differences++;
                if (differences <= 20)
                    report_difference(rep, rec_path, lineno, line, replayed);
            }
            break;
        }
    }
    if (rc == REPLAY_IDENTICAL && tick_pending) {
        ticks++;
        if (run_step(&recorded, tick_ms, rd, tick_n, tick_expected, tick_ack) != 0 ||
            (have_alt && run_step(&alternative, tick_ms, rd, tick_n, tick_expected, tick_ack) != 0))
            rc = REPLAY_BAD_INPUT;
    }
    if (rc == REPLAY_IDENTICAL && !header_done) {
        fprintf(rep, "%s: no rows\n", rec_path);
        rc = REPLAY_BAD_INPUT;
    }
done:
    fclose(f);
    if (recorded.trace)
        fclose(recorded.trace);
    if (alternative.trace)
        fclose(alternative.trace);
    recorded.trace = alternative.trace = NULL;
    if (rc == REPLAY_BAD_INPUT)
        return rc;

    fprintf(rep, "replayed %ld ticks, compared %ld output rows with the recording: ", ticks, outputs);
    if (differences) {
        fprintf(rep, "%ld differ\n", differences);
        rc = REPLAY_DIFFERENT;
    } else {
        fprintf(rep, "identical\n");
    }
    if (have_alt) {
        fprintf(rep, "what the other config would have done on this data:\n");
        print_figures(rep, &recorded);
        print_figures(rep, &alternative);
        if (out_dir)
            write_plots(out_dir, rep);
    }
    return rc;
}
