/* Fuzz harness for the whole replay reader: the input is a recording file, replayed through the core against a config side file. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "policy.h"
#include "recfmt.h"
#include "replay.h"

/* rec_replay reads a path and finds the config beside it, so the harness keeps one scratch
 * folder per process with the recording, its side file and an alternative config. */
static char dir[64];
static char rec_path[96], side_path[96], alt_path[96];
static FILE *devnull;

static void cleanup(void)
{
    unlink(rec_path);
    unlink(side_path);
    unlink(alt_path);
    rmdir(dir);
}

static void put_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    FUZZ_CHECK(f != NULL);
    fputs(text, f);
    FUZZ_CHECK(fclose(f) == 0);
}

static void setup(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/fuzz_replay.XXXXXX", tmp && strlen(tmp) < 40 ? tmp : "/tmp");
    FUZZ_CHECK(mkdtemp(dir) != NULL);
    snprintf(rec_path, sizeof rec_path, "%s/rec.csv", dir);
    snprintf(side_path, sizeof side_path, "%s/rec.ini", dir);
    snprintf(alt_path, sizeof alt_path, "%s/alt.ini", dir);
    /* The recording's config: the defaults but for a count of packs, so the offline scaling
     * and the pack-count alarm run too. */
    put_file(side_path, "[bank]\nexpected_packs = 2\n");
    /* Something to compare against, different everywhere the figures look. */
    put_file(alt_path, "[tiers]\ntier_spread_pct = 3, 6\ntier_ccl_pct = 100, 50, 10\n"
                       "unlock_hold_s = 0\n[alarms]\nalarm_require_ack = yes\n");
    devnull = fopen("/dev/null", "w");
    FUZZ_CHECK(devnull != NULL);
    atexit(cleanup);
}

/* ---- the known open bug ---------------------------------------------------------------------
 * rec_decode_state takes any hex of the right length, so a corrupted or crafted S row hands
 * pol_step a state the core never made: a bool of 255 (undefined behaviour) or a tier index of
 * a million that the reason text then reads tier_ccl_pct[] with (an out-of-bounds read; the
 * reproducer is tests/fuzz/open/replay/). Until the decoder checks what it decodes, the
 * harness drops S rows that fail the check below, so fuzzing gets past that bug to the next
 * one. FUZZ_REPLAY_RAW_STATE=1 turns the filter off (and finds the bug at once). */

static bool bool_ok(const bool *b)
{
    unsigned char v;
    memcpy(&v, b, 1);   /* reading it as a bool would be the very UB we look for */
    return v <= 1;
}

static bool state_plausible(const pol_state *s)
{
    bool ok = bool_ok(&s->started) && bool_ok(&s->outputs_init) && bool_ok(&s->chg_share.init) &&
              bool_ok(&s->dis_share.init) && bool_ok(&s->flap.init) && bool_ok(&s->flap.pending) &&
              bool_ok(&s->red.raised) && bool_ok(&s->red.absent) && bool_ok(&s->red.acked);
    for (int i = 0; ok && i < POL_MAX_PACKS; i++) {
        unsigned v;   /* as bytes too: an enum out of its range is the same kind of lie */
        _Static_assert(sizeof v == sizeof s->last_verdict[i], "rdg_verdict is int-sized");
        memcpy(&v, &s->last_verdict[i], sizeof v);
        ok = bool_ok(&s->has_good[i]) && bool_ok(&s->rejected_now[i]) &&
             bool_ok(&s->last_good[i].fresh) && bool_ok(&s->last_good[i].allow_charge) &&
             bool_ok(&s->last_good[i].allow_discharge) && v < RDG_BAD_COUNT;
    }
    return ok && s->flap.applied >= 0 && s->flap.applied < POL_MAX_TIERS &&
           s->flap.pending_tier >= 0 && s->flap.pending_tier < POL_MAX_TIERS;
}

/* Writes the input as the recording, without the S rows the filter refuses. */
static void write_rows(FILE *f, const uint8_t *data, size_t size, bool raw_state)
{
    static pol_state st;
    static char line[REC_LINE_MAX + 2];
    size_t start = 0;
    while (start < size) {
        const uint8_t *nl = memchr(data + start, '\n', size - start);
        size_t end = nl ? (size_t)(nl - data) + 1 : size;
        size_t len = end - start;
        bool keep = true;
        if (!raw_state && len > 2 && len < sizeof line && data[start] == 'S' && data[start + 1] == ',') {
            memcpy(line, data + start, len);
            line[len - (nl ? 1 : 0)] = '\0';
            keep = rec_decode_state(line, &st) != 0 || state_plausible(&st);
        }
        if (keep)
            FUZZ_CHECK(fwrite(data + start, 1, len, f) == len);
        start = end;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool raw_state;
    if (!dir[0]) {
        setup();
        const char *e = getenv("FUZZ_REPLAY_RAW_STATE");
        raw_state = e && strcmp(e, "1") == 0;
    }
    if (size > 1 << 20)
        return 0;
    /* Inputs starting with '#' bring their own header (so the header parser is fuzzed too);
     * the others get this build's, so the mutations land on rows rather than being refused
     * at line 1. The first byte after that chooses whether an alternative config runs. */
    bool own_header = size > 0 && data[0] == '#';
    bool alt = false;
    if (!own_header && size > 0) {
        alt = (data[0] & 1) != 0;
        data++;
        size--;
    }
    FILE *f = fopen(rec_path, "wb");
    FUZZ_CHECK(f != NULL);
    if (!own_header)
        fprintf(f, "# format=1\n# config_file=rec.ini\n# state_size=%zu\n", sizeof(pol_state));
    write_rows(f, data, size, raw_state);
    FUZZ_CHECK(fclose(f) == 0);

    int rc = rec_replay(rec_path, alt ? alt_path : NULL, NULL, devnull);
    FUZZ_CHECK(rc == REPLAY_IDENTICAL || rc == REPLAY_DIFFERENT || rc == REPLAY_BAD_INPUT);
    return 0;
}
