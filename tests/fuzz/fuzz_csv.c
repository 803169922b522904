/* Fuzz harness for the simulator's CSV readers (libcsv): the events file of a scenario and the PV/load profile. */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "profile.h"
#include "scenario.h"

/* Both readers take a path: one scratch file per process. */
static char tmp_path[64];

static void remove_tmp(void)
{
    unlink(tmp_path);
}

static void write_tmp(const uint8_t *data, size_t size)
{
    if (!tmp_path[0]) {
        const char *dir = getenv("TMPDIR");
        snprintf(tmp_path, sizeof tmp_path, "%s/fuzz_csv.XXXXXX", dir && strlen(dir) < 40 ? dir : "/tmp");
        int fd = mkstemp(tmp_path);
        FUZZ_CHECK(fd >= 0);
        close(fd);
        atexit(remove_tmp);
    }
    FILE *f = fopen(tmp_path, "wb");
    FUZZ_CHECK(f != NULL);
    FUZZ_CHECK(fwrite(data, 1, size, f) == size);
    FUZZ_CHECK(fclose(f) == 0);
}

/* An events file, through the scenario that names it (load_events is the loader's). */
static void events(const uint8_t *data, size_t size, int packs)
{
    static scn_t s;
    char text[256];
    snprintf(text, sizeof text, "[bank]\npacks = %d\n[scenario]\nevents = %s\n", packs, tmp_path);
    write_tmp(data, size);
    char err[SCN_ERR_LEN];
    int rc = scn_load_string(text, "fuzz.ini", &s, err, sizeof err);
    if (rc != 0) {
        FUZZ_CHECK(rc == -1 && memchr(err, '\0', sizeof err) != NULL && err[0] != '\0');
        return;
    }
    FUZZ_CHECK(s.n_packs == packs && s.n_events >= 0 && s.n_events <= SCN_MAX_EVENTS);
    for (int i = 0; i < s.n_events; i++) {
        const scn_event *e = &s.ev[i];
        FUZZ_CHECK(e->kind >= 0 && e->kind < SCN_EV_COUNT);
        FUZZ_CHECK(e->pack >= -1 && e->pack < packs);
        FUZZ_CHECK(e->t_ms >= 0 && (e->dur_ms >= 0 || e->dur_ms == -1));
        FUZZ_CHECK(isfinite(e->value));
        FUZZ_CHECK(i == 0 || s.ev[i - 1].t_ms <= e->t_ms);
    }
}

/* A profile: accepted rows are increasing in time, values in range, and interpolating between
 * them gives powers within the same range. */
static void profile(const uint8_t *data, size_t size)
{
    static prof_t p;
    prof_cfg c;
    prof_cfg_default(&c);
    prof_init(&p, &c, 1);
    write_tmp(data, size);
    char err[512];
    int rc = prof_load_csv(&p, tmp_path, err, sizeof err);
    if (rc != 0) {
        FUZZ_CHECK(rc == -1 && memchr(err, '\0', sizeof err) != NULL && err[0] != '\0');
    } else if (p.n_rows > 0) {
        FUZZ_CHECK(p.n_rows <= PROF_MAX_CSV_ROWS);
        for (size_t i = 0; i < p.n_rows; i++) {
            FUZZ_CHECK(i == 0 || p.csv_t_s[i] > p.csv_t_s[i - 1]);
            FUZZ_CHECK(p.csv_pv_w[i] >= 0 && p.csv_pv_w[i] <= 1e9);
            FUZZ_CHECK(p.csv_load_w[i] >= 0 && p.csv_load_w[i] <= 1e9);
        }
        double last_s = p.csv_t_s[p.n_rows - 1];
        const double at_s[] = {0, p.csv_t_s[0], (p.csv_t_s[0] + last_s) / 2, last_s, last_s + 1,
                               2 * last_s + 60};
        for (size_t k = 0; k < sizeof at_s / sizeof at_s[0]; k++) {
            double pv = -1, load = -1;
            if (at_s[k] > 9e12)
                break;   /* prof_at takes int64 ms */
            prof_at(&p, (int64_t)(at_s[k] * 1000.0), &pv, &load);
            FUZZ_CHECK(isfinite(pv) && pv >= 0 && pv <= 1e9);
            FUZZ_CHECK(isfinite(load) && load >= 0 && load <= 1e9);
        }
    }
    prof_free(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 1 << 20)
        return 0;
    /* The first byte: which reader, and for events how many packs the bank has. */
    uint8_t sel = data[0];
    if (sel & 1)
        profile(data + 1, size - 1);
    else
        events(data + 1, size - 1, 1 + (sel >> 1) % SCN_MAX_PACKS);
    return 0;
}
