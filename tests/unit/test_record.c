/* Suite record: a recording replays identically, rotated files replay alone, tampering and bad
 * files are caught, a full disk pauses recording without harm. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "recfmt.h"
#include "recorder.h"
#include "replay.h"
#include "suites.h"

static char dir[64];
static int log_calls;

static void count_log(const char *msg)
{
    (void)msg;
    log_calls++;
}

/* Drives the core over a made-up day of three packs, recording every tick. */
static void make_recording(const char *path, long max_bytes, int ticks)
{
    conf_t c;
    conf_default(&c);
    snprintf(c.record.path, sizeof c.record.path, "%s", path);
    c.record.max_bytes = max_bytes;
    c.record.max_files = 50;
    c.pol.unlock_hold_s = 20;
    c.pol.alarm_require_ack = true;
    c.pol.alarm_clear_hold_s = 60;
    rec_recorder *rec = rec_open(&c, count_log);
    CU_ASSERT_PTR_NOT_NULL_FATAL(rec);
    static pol_state st;
    static pol_output out;
    rdg_reading r[3];
    pol_init(&st);
    for (int i = 0; i < 3; i++)
        tu_pack(&r[i], 50.0 + 8.0 * i);
    for (int k = 0; k < ticks; k++) {
        for (int i = 0; i < 3; i++) {
            r[i].fresh = (k + i) % 7 != 0;
            /* Spread 8 pp converging to 0 over the run. */
            rdg_set(&r[i], RDG_SOC, 70.0 + 4.0 * i * (1.0 - (double)k / ticks));
            rdg_set(&r[i], RDG_CURRENT, 20.0 * sin(k / 50.0) + i);
            rdg_set(&r[i], RDG_MAX_CELL, 3.32 + (k % 200 == 100 && i == 1 ? 0.25 : 0.0));
        }
        if (k % 97 == 13)
            rdg_set(&r[2], RDG_VOLTAGE, NAN);   /* garbage the core rejects */
        else
            rdg_set(&r[2], RDG_VOLTAGE, 53.0);
        int64_t t = 3000000000LL + (int64_t)k * 2000;   /* past 2^31 ms: 32-bit long on the Cerbo */
        /* As the daemon does: a raised expected_packs early on, an acknowledge now and then. */
        pol_config eff = c.pol;
        eff.expected_packs = k < 100 ? 4 : 0;
        bool ack = k % 500 == 250;
        if (ack)
            pol_acknowledge(&st);
        CU_ASSERT_EQUAL_FATAL(pol_step(&st, &eff, t, r, 3, &out), 0);
        rec_tick(rec, t, r, 3, eff.expected_packs, ack, &out, &st);
    }
    rec_close(rec);
}

static int replay_to(const char *path, const char *config, char *report, size_t len)
{
    FILE *m = fmemopen(report, len, "w");
    int rc = rec_replay(path, config, NULL, m);
    fclose(m);
    return rc;
}

static void test_roundtrip(void)
{
    snprintf(dir, sizeof dir, "/tmp/bmsagg-rec-XXXXXX");
    CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
    char path[128];
    snprintf(path, sizeof path, "%s/rec.csv", dir);
    make_recording(path, 64L * 1024 * 1024, 3000);
    static char report[65536];
    int rc = replay_to(path, NULL, report, sizeof report);
    if (rc != 0)
        fprintf(stderr, "%s", report);
    CU_ASSERT_EQUAL(rc, REPLAY_IDENTICAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(report, "identical"));
    CU_ASSERT_PTR_NOT_NULL(strstr(report, "replayed 2999 ticks"));

    /* A stricter tier table on the same data: still identical to the recording, and the
     * comparison shows the alternative's lower CCL. */
    char alt[128];
    snprintf(alt, sizeof alt, "%s/strict.ini", dir);
    FILE *f = fopen(alt, "w");
    fputs("[tiers]\ntier_spread_pct = 2, 4, 6\ntier_ccl_pct = 80, 50, 30, 10\n", f);
    fclose(f);
    rc = replay_to(path, alt, report, sizeof report);
    if (getenv("BMSAGG_SHOW_REPORT"))
        fputs(report, stderr);
    CU_ASSERT_EQUAL(rc, REPLAY_IDENTICAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(report, "recorded     CCL min   15.0 A  max  150.0 A"));
    CU_ASSERT_PTR_NOT_NULL(strstr(report, "alternative  CCL min   11.2 A  max  120.0 A"));
}

static void test_tampered(void)
{
    char path[128], bad[128];
    snprintf(path, sizeof path, "%s/rec.csv", dir);
    snprintf(bad, sizeof bad, "%s/rec-tampered.csv", dir);
    FILE *in = fopen(path, "r"), *out = fopen(bad, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(in);
    static char line[REC_LINE_MAX + 2];
    int o_rows = 0;
    while (fgets(line, sizeof line, in)) {
        if (line[0] == 'O' && ++o_rows == 40) {
            /* Field 7 is the CCL: change it. */
            char *p = line;
            for (int k = 0; k < 7; k++)
                p = strchr(p, ',') + 1;
            char *end = strchr(p, ',');
            fprintf(out, "%.*s12.5%s", (int)(p - line), line, end);
            continue;
        }
        fputs(line, out);
    }
    fclose(in);
    fclose(out);
    /* The side file is found by name beside the recording, whatever the recording is called. */
    static char report[65536];
    int rc = replay_to(bad, NULL, report, sizeof report);
    CU_ASSERT_EQUAL(rc, REPLAY_DIFFERENT);
    CU_ASSERT_PTR_NOT_NULL(strstr(report, ": ccl recorded 12.5, replayed "));
    CU_ASSERT_PTR_NOT_NULL(strstr(report, "1 differ"));
}

static void write_file(const char *path, const char *head_from, const char *extra, bool newline)
{
    FILE *in = fopen(head_from, "r"), *out = fopen(path, "w");
    static char line[REC_LINE_MAX + 2];
    int n = 0;
    while (fgets(line, sizeof line, in) && n++ < 60)
        fputs(line, out);
    fputs(extra, out);
    if (newline)
        fputc('\n', out);
    fclose(in);
    fclose(out);
}

static void test_malformed(void)
{
    char path[128], bad[128];
    snprintf(path, sizeof path, "%s/rec.csv", dir);
    snprintf(bad, sizeof bad, "%s/rec-bad.csv", dir);
    static char report[65536];
    write_file(bad, path, "T,99999999999,3,0,0\nP,7,1,1,50,,,,,,-1,,-1,,,,,,,1,1,0,000000000000000", true);
    CU_ASSERT_EQUAL(replay_to(bad, NULL, report, sizeof report), REPLAY_BAD_INPUT);
    CU_ASSERT_PTR_NOT_NULL(strstr(report, "rec-bad.csv:62: pack row for slot 7 outside a tick of 3 packs"));
    write_file(bad, path, "P,0,1,1,fifty,,,,,,-1,,-1,,,,,,,1,1,0,000000000000000", true);
    CU_ASSERT_EQUAL(replay_to(bad, NULL, report, sizeof report), REPLAY_BAD_INPUT);
    CU_ASSERT_PTR_NOT_NULL(strstr(report, "rec-bad.csv:61: field soc: 'fifty' is malformed"));
    /* One flipped digit in the state snapshot: refused, never fed to the core. */
    {
        FILE *in = fopen(path, "r"), *out = fopen(bad, "w");
        static char l[REC_LINE_MAX + 2];
        int ln = 0, s_line = 0;
        while (fgets(l, sizeof l, in)) {
            ln++;
            if (l[0] == 'S' && !s_line) {
                s_line = ln;
                char *last = l + strlen(l) - 2;
                *last = *last == '0' ? '1' : '0';
            }
            fputs(l, out);
        }
        fclose(in);
        fclose(out);
        CU_ASSERT_EQUAL(replay_to(bad, NULL, report, sizeof report), REPLAY_BAD_INPUT);
        char want[80];
        snprintf(want, sizeof want, "rec-bad.csv:%d: state snapshot damaged", s_line);
        CU_ASSERT_PTR_NOT_NULL(strstr(report, want));
    }
    write_file(bad, path, "X,1,2", true);
    CU_ASSERT_EQUAL(replay_to(bad, NULL, report, sizeof report), REPLAY_BAD_INPUT);
    CU_ASSERT_PTR_NOT_NULL(strstr(report, "rec-bad.csv:61: unknown row kind 'X'"));
    /* Half a row at the end (the daemon was killed mid-write): skipped with a warning. */
    write_file(bad, path, "T,1200", false);
    CU_ASSERT_EQUAL(replay_to(bad, NULL, report, sizeof report), REPLAY_IDENTICAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(report, "rec-bad.csv:61: warning: truncated last line skipped"));
    CU_ASSERT_EQUAL(replay_to("/nonexistent.csv", NULL, report, sizeof report), REPLAY_BAD_INPUT);
}

static void test_rotation(void)
{
    char path[128];
    snprintf(path, sizeof path, "%s/rot.csv", dir);
    make_recording(path, 40000, 3000);
    static char report[65536];
    char older[160];
    /* Every rotated file starts with a state snapshot and replays identically alone. */
    int files = 0;
    for (int i = 0; i < 50; i++) {
        if (i == 0)
            snprintf(older, sizeof older, "%s", path);
        else
            snprintf(older, sizeof older, "%s.%d", path, i);
        if (access(older, F_OK) != 0)
            break;
        files++;
        int rc = replay_to(older, NULL, report, sizeof report);
        if (rc != 0)
            fprintf(stderr, "%s: %s", older, report);
        CU_ASSERT_EQUAL(rc, REPLAY_IDENTICAL);
    }
    CU_ASSERT(files >= 5);
}

static void test_disk_full(void)
{
    conf_t c;
    conf_default(&c);
    snprintf(c.record.path, sizeof c.record.path, "/dev/full");
    log_calls = 0;
    /* /dev/full cannot be rotated or have a side file beside it in /dev for a non-root user,
     * and always answers ENOSPC to writes: either way the recorder must pause, not fail. */
    snprintf(c.record.path, sizeof c.record.path, "/proc/version/rec.csv");
    rec_recorder *rec = rec_open(&c, count_log);
    CU_ASSERT_PTR_NOT_NULL_FATAL(rec);
    static pol_state st;
    static pol_output out;
    rdg_reading r[1];
    pol_init(&st);
    tu_pack(&r[0], 50);
    for (int k = 0; k < 100; k++) {
        pol_step(&st, &c.pol, k * 1000, r, 1, &out);
        rec_tick(rec, k * 1000, r, 1, 0, false, &out, &st);
    }
    rec_stats s = rec_get_stats(rec);
    CU_ASSERT_EQUAL(s.paused, 1);
    CU_ASSERT_EQUAL(s.bytes_written, 0u);
    CU_ASSERT(s.dropped_rows > 0);
    CU_ASSERT_EQUAL(log_calls, 1);   /* logged once, not once per tick */
    rec_close(rec);
}

static void test_row_parse(void)
{
    rdg_reading r;
    tu_pack(&r, 42.5);
    r.label = 7;
    r.alarm[RDG_AL_LOW_SOC] = 2;
    r.alarm_present = RDG_BIT(RDG_AL_LOW_SOC);
    r.present &= ~RDG_BIT(RDG_POWER);
    char buf[1024], err[256];
    CU_ASSERT(rec_format_pack(buf, sizeof buf, 2, &r) > 0);
    buf[strcspn(buf, "\n")] = '\0';
    rec_row row;
    CU_ASSERT_EQUAL_FATAL(rec_parse_row(buf, &row, err, sizeof err), 0);
    CU_ASSERT_EQUAL(row.kind, REC_ROW_PACK);
    CU_ASSERT_EQUAL(row.slot, 2);
    CU_ASSERT_EQUAL(row.reading.label, 7);
    CU_ASSERT_EQUAL(row.reading.present, r.present);
    CU_ASSERT_EQUAL(row.reading.soc_pct, 42.5);
    CU_ASSERT_EQUAL(row.reading.alarm[RDG_AL_LOW_SOC], 2);
    CU_ASSERT_EQUAL(rec_format_pack(buf, 10, 2, &r), -1);
}

static int cleanup(void)
{
    char cmd[128];
    if (dir[0]) {
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        return system(cmd) == 0 ? 0 : 1;
    }
    return 0;
}

void suite_record(void)
{
    CU_pSuite s = CU_add_suite("record", NULL, cleanup);
    CU_add_test(s, "pack rows round-trip", test_row_parse);
    CU_add_test(s, "record then replay: identical; stricter config compared", test_roundtrip);
    CU_add_test(s, "a tampered output row is reported with time and field", test_tampered);
    CU_add_test(s, "malformed files: line number, exit 2; truncated last line skipped", test_malformed);
    CU_add_test(s, "rotated files each replay identically alone", test_rotation);
    CU_add_test(s, "an unwritable path pauses recording, logged once", test_disk_full);
}
