/* Fuzz harness for the simulator's scenario loader (INI with includes, then its events CSV): never a crash, and what it accepts is coherent. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "scenario.h"

/* The scenario's own name places it in scenarios/, so "include = common.ini" and
 * "events = events/x.csv" find the real files, as they do for the committed scenarios. */
#define NAME FUZZ_SCENARIO_DIR "/fuzz.ini"

/* What a loaded scenario promises the simulator (scenario.h). */
static void check_scenario(const scn_t *s)
{
    FUZZ_CHECK(s->n_packs >= 1 && s->n_packs <= SCN_MAX_PACKS);
    FUZZ_CHECK(s->n_events >= 0 && s->n_events <= SCN_MAX_EVENTS);
    FUZZ_CHECK(s->step_ms > 0 && s->poll_ms > 0);
    FUZZ_CHECK(scn_duration_ms(s) >= 0);
    for (int i = 0; i < s->n_events; i++) {
        const scn_event *e = &s->ev[i];
        FUZZ_CHECK(e->kind >= 0 && e->kind < SCN_EV_COUNT);
        FUZZ_CHECK(scn_event_name(e->kind) != NULL);
        FUZZ_CHECK(e->pack >= -1 && e->pack < s->n_packs);
        FUZZ_CHECK(e->t_ms >= 0 && (e->dur_ms >= 0 || e->dur_ms == -1));
        FUZZ_CHECK(i == 0 || s->ev[i - 1].t_ms <= e->t_ms);   /* sorted by time */
    }
    FUZZ_CHECK(memchr(s->name, '\0', sizeof s->name) != NULL);
    FUZZ_CHECK(memchr(s->events_path, '\0', sizeof s->events_path) != NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static scn_t s;   /* about 40 kB of packs and events */
    if (size > 1 << 16)
        return 0;
    char *text = malloc(size + 1);
    FUZZ_CHECK(text != NULL);
    memcpy(text, data, size);
    text[size] = '\0';
    /* A scenario may include or name any file; one naming a device (/dev/zero, /dev/stdin) is
     * read forever, like `cat /dev/zero`. That is the user's choice of input, not a parser bug,
     * and it would turn every such mutation into a timeout, so those inputs are not run. */
    if (strstr(text, "/dev") || strstr(text, "/proc") || strstr(text, "/sys")) {
        free(text);
        return 0;
    }
    char err[SCN_ERR_LEN];
    memset(err, 'x', sizeof err);
    int rc = scn_load_string(text, NAME, &s, err, sizeof err);
    if (rc == 0) {
        check_scenario(&s);
    } else {
        FUZZ_CHECK(rc == -1);
        FUZZ_CHECK(memchr(err, '\0', sizeof err) != NULL && err[0] != '\0');
    }
    free(text);
    return 0;
}
