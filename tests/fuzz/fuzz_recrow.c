/* Fuzz harness for the recording rows: rec_parse_row and rec_decode_state on every line, with the format/parse round trips they promise. */
#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "conf.h"
#include "fuzz.h"
#include "recfmt.h"

/* Equal as the recording means it: bit for bit, except that every NaN is the same NaN
 * (the writer prints "-nan" or "nan", the reader makes one NAN of both). */
static bool same_double(double a, double b)
{
    if (isnan(a) || isnan(b))
        return isnan(a) && isnan(b);
    return memcmp(&a, &b, sizeof a) == 0;
}

static void check_same_reading(const rdg_reading *a, const rdg_reading *b)
{
    FUZZ_CHECK(a->fresh == b->fresh && a->label == b->label && a->present == b->present);
    const double *da[] = {&a->soc_pct, &a->voltage_v, &a->current_a, &a->power_w, &a->temperature_c,
                          &a->min_cell_v, &a->max_cell_v, &a->installed_cap_ah, &a->remaining_cap_ah,
                          &a->consumed_ah, &a->cvl_v, &a->ccl_a, &a->dcl_a};
    const double *db[] = {&b->soc_pct, &b->voltage_v, &b->current_a, &b->power_w, &b->temperature_c,
                          &b->min_cell_v, &b->max_cell_v, &b->installed_cap_ah, &b->remaining_cap_ah,
                          &b->consumed_ah, &b->cvl_v, &b->ccl_a, &b->dcl_a};
    for (size_t i = 0; i < sizeof da / sizeof da[0]; i++)
        FUZZ_CHECK(same_double(*da[i], *db[i]));
    FUZZ_CHECK(a->min_cell_id == b->min_cell_id && a->max_cell_id == b->max_cell_id);
    FUZZ_CHECK(a->allow_charge == b->allow_charge && a->allow_discharge == b->allow_discharge);
    FUZZ_CHECK(a->alarm_present == b->alarm_present);
    FUZZ_CHECK(memcmp(a->alarm, b->alarm, sizeof a->alarm) == 0);
}

/* A formatted row without its newline, as the reader sees it. */
static void chomp(char *s, int n)
{
    FUZZ_CHECK(n > 0 && s[n - 1] == '\n');
    s[n - 1] = '\0';
}

static void one_line(const char *line)
{
    static char buf[REC_LINE_MAX + 64];
    rec_row row;
    char err[CONF_ERR_LEN];
    int rc = rec_parse_row(line, &row, err, sizeof err);
    if (rc != 0) {
        FUZZ_CHECK(rc == -1);
        FUZZ_CHECK(memchr(err, '\0', sizeof err) != NULL && err[0] != '\0');
    } else {
        FUZZ_CHECK(row.text == line);
        rec_row again;
        char err2[CONF_ERR_LEN];
        switch (row.kind) {
        case REC_ROW_TICK: {
            int n = rec_format_tick(buf, sizeof buf, row.t_ms, row.n_packs, row.expected_packs, row.ack);
            chomp(buf, n);
            FUZZ_CHECK(rec_parse_row(buf, &again, err2, sizeof err2) == 0);
            FUZZ_CHECK(again.kind == REC_ROW_TICK && again.t_ms == row.t_ms && again.n_packs == row.n_packs &&
                       again.expected_packs == row.expected_packs && again.ack == row.ack);
            break;
        }
        case REC_ROW_PACK: {
            FUZZ_CHECK(row.slot >= 0 && row.slot < POL_MAX_PACKS);
            /* The replay feeds this reading to the core: the verdict must be a verdict. */
            rdg_verdict v = rdg_validate(&row.reading, 1.5, 5.0);
            FUZZ_CHECK(v >= RDG_OK && v < RDG_BAD_COUNT);
            int n = rec_format_pack(buf, sizeof buf, row.slot, &row.reading);
            chomp(buf, n);
            if (rec_parse_row(buf, &again, err2, sizeof err2) != 0)
                fprintf(stderr, "reformatted row does not parse: %s\n  %s\n", err2, buf);
            FUZZ_CHECK(rec_parse_row(buf, &again, err2, sizeof err2) == 0);
            FUZZ_CHECK(again.kind == REC_ROW_PACK && again.slot == row.slot);
            check_same_reading(&row.reading, &again.reading);
            break;
        }
        case REC_ROW_OUTPUT:
            FUZZ_CHECK(row.t_ms >= 0);
            break;
        case REC_ROW_STATE:
            break;
        default:
            FUZZ_FAIL("rec_parse_row returned an unknown row kind");
        }
    }

    /* The replay decodes S rows with rec_decode_state; what it accepts must re-encode to
     * the same text (the hex is lowercase, exactly two digits a byte). */
    static pol_state s;
    if (rec_decode_state(line, &s) == 0) {
        int n = rec_format_state(buf, sizeof buf, &s);
        chomp(buf, n);
        FUZZ_CHECK(strcmp(buf, line) == 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char line[REC_LINE_MAX * 2];
    size_t start = 0;
    while (start <= size) {
        const uint8_t *nl = memchr(data + start, '\n', size - start);
        size_t end = nl ? (size_t)(nl - data) : size;
        size_t len = end - start;
        /* Longer than any row the reader takes, and then some: it must refuse them cleanly. */
        if (len < sizeof line) {
            memcpy(line, data + start, len);
            line[len] = '\0';
            one_line(line);
        }
        if (!nl)
            break;
        start = end + 1;
    }
    return 0;
}
