/* The daemon's state and its tick: collect pack readings, step the core, publish, record. */
#ifndef BMSAGG_AGG_H
#define BMSAGG_AGG_H

#include <dbus/dbus.h>
#include <stdbool.h>
#include <stdint.h>

#include "busitem.h"
#include "conf.h"
#include "packs.h"
#include "policy.h"
#include "publish.h"
#include "settings.h"

/* Called once per tick after the core has run, with exactly what the core received and what it
 * produced (issue 6's recorder, record/recorder.h rec_tick, plugs in here): `cfg` is the effective
 * policy config of the tick (its expected_packs is raised while packs are still being probed),
 * `acked` says pol_acknowledge() ran just before this step, `state` is the core's state after it. */
typedef void (*agg_recorder_fn)(void *ctx, int64_t now_ms, const pol_config *cfg,
                                const rdg_reading *readings, int n_packs, bool acked,
                                const pol_output *out, const pol_state *state);

typedef struct {
    DBusConnection *conn;       /* our name, calls, replies */
    DBusConnection *sig_conn;   /* the packs' change signals, read before each tick */
    char config_path[512];
    conf_t cfg;
    bool once;                /* --once: no name, print one aggregation, exit */

    pk_bank bank;
    stg_ctx settings;
    bi_service *bi;
    pub_ctx pub;
    bool created;             /* paths exist */
    bool name_requested, live;

    pol_state pol;
    pol_output out;
    rdg_reading readings[POL_MAX_PACKS];
    int64_t start_ms;
    bool startup_done;
    uint64_t ticks;

    agg_recorder_fn recorder;
    void *recorder_ctx;
} agg_t;

/* Sets up everything on open connections (sig_conn may be conn); 0 or -1. */
int agg_start(agg_t *a, DBusConnection *conn, DBusConnection *sig_conn, int64_t now_ms);
void agg_tick(agg_t *a, int64_t now_ms);
/* SIGHUP: reload the config file; a broken file is logged and the old config stays. */
void agg_reload(agg_t *a);
/* SIGTERM / SIGINT: give the name back. */
void agg_shutdown(agg_t *a);

#endif
