/* bms-aggregator: reads every BMS on the Venus OS D-Bus and publishes one virtual battery. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agg.h"
#include "conf.h"
#include "log.h"
#include "loop.h"
#include "recorder.h"

#ifndef BMSAGG_VERSION
#define BMSAGG_VERSION "0"
#endif

static void usage(FILE *f)
{
    fprintf(f,
            "usage: bms-aggregator [--config FILE] [--once]\n"
            "       bms-aggregator --check-config FILE\n"
            "       bms-aggregator --version | --help\n"
            "\n"
            "Reads every BMS (com.victronenergy.battery.*) on the system bus and publishes one\n"
            "virtual battery with aggregated values, limits and alarms.\n"
            "\n"
            "  --config FILE        INI config (see bms-aggregator.ini); defaults without it\n"
            "  --once               one discovery and aggregation, print the paths, exit\n"
            "  --check-config FILE  validate FILE, print the effective config, exit 0 (2 if broken)\n"
            "  --version            print the version\n"
            "  --help               this text\n"
            "\n"
            "The bus is DBUS_SYSTEM_BUS_ADDRESS if set, else the system bus.\n"
            "Signals: SIGHUP reloads the config (a broken one is logged and ignored);\n"
            "SIGTERM/SIGINT release the name and exit 0.\n");
}

static void record_log(const char *message)
{
    log_warn("%s", message);
}

/* The recorder behind agg_t's hook (issue 6): what the core received and produced, every tick. */
static void record_tick(void *ctx, int64_t now_ms, const pol_config *cfg, const rdg_reading *readings,
                        int n_packs, bool acked, const pol_output *out, const pol_state *state)
{
    rec_tick(ctx, now_ms, readings, n_packs, cfg->expected_packs, acked, out, state);
}

/* (Re)opens the recorder for the current config: a reload starts a new file whose header and
 * side file name the new config, so every file replays with the config that produced it. */
static void record_start(agg_t *a)
{
    if (a->recorder_ctx) {
        rec_close(a->recorder_ctx);
        a->recorder_ctx = NULL;
        a->recorder = NULL;
    }
    if (!a->cfg.record.path[0] || a->once)
        return;
    a->recorder_ctx = rec_open(&a->cfg, record_log);
    if (a->recorder_ctx) {
        a->recorder = record_tick;
        log_info("recording to %s", a->cfg.record.path);
    }
}

static void on_signal(void *ctx, int signo)
{
    agg_t *a = ctx;
    if (signo == SIGHUP) {
        agg_reload(a);
        record_start(a);
    } else {
        log_info("signal %d: leaving the bus", signo);
        agg_shutdown(a);
        loop_stop(0);
    }
}

static void on_tick(void *ctx, int64_t now_ms)
{
    agg_tick(ctx, now_ms);
}

int main(int argc, char **argv)
{
    const char *config = NULL, *check = NULL;
    bool once = false;
    for (int k = 1; k < argc; k++) {
        if (strcmp(argv[k], "--help") == 0 || strcmp(argv[k], "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(argv[k], "--version") == 0) {
            printf("bms-aggregator %s\n", BMSAGG_VERSION);
            return 0;
        } else if (strcmp(argv[k], "--once") == 0) {
            once = true;
        } else if ((strcmp(argv[k], "--config") == 0 || strcmp(argv[k], "-c") == 0) && k + 1 < argc) {
            config = argv[++k];
        } else if (strcmp(argv[k], "--check-config") == 0 && k + 1 < argc) {
            check = argv[++k];
        } else {
            fprintf(stderr, "bms-aggregator: unknown or incomplete argument '%s'\n", argv[k]);
            usage(stderr);
            return 2;
        }
    }

    static agg_t a;   /* large (the core's state and output): static storage, not the stack */
    char err[CONF_ERR_LEN];
    conf_default(&a.cfg);
    if (check) {
        if (conf_load(check, &a.cfg, err, sizeof err) != 0) {
            fprintf(stderr, "%s\n", err);
            return 2;
        }
        conf_print(stdout, &a.cfg);
        return 0;
    }
    if (config) {
        if (conf_load(config, &a.cfg, err, sizeof err) != 0) {
            fprintf(stderr, "%s\n", err);
            return 2;
        }
        snprintf(a.config_path, sizeof a.config_path, "%s", config);
    }
    a.once = once;

    DBusError derr;
    dbus_error_init(&derr);
    /* Private: we own the connection's lifetime and never share it with a library. Connecting
     * and Hello are the only blocking bus calls, before there is anything to keep alive. */
    DBusConnection *conn = dbus_bus_get_private(DBUS_BUS_SYSTEM, &derr);
    if (!conn) {
        log_err("cannot connect to the system bus: %s", derr.message ? derr.message : "?");
        dbus_error_free(&derr);
        return 1;
    }
    dbus_connection_set_exit_on_disconnect(conn, FALSE);
    /* A second connection for the packs' change signals, read only before each tick and by
     * sigread.c rather than libdbus (after this Hello, libdbus never touches its socket). */
    DBusConnection *sig_conn = dbus_bus_get_private(DBUS_BUS_SYSTEM, &derr);
    if (!sig_conn) {
        log_err("cannot connect to the system bus: %s", derr.message ? derr.message : "?");
        dbus_error_free(&derr);
        return 1;
    }
    dbus_connection_set_exit_on_disconnect(sig_conn, FALSE);
    if (loop_init(conn) != 0) {
        log_err("cannot set up the main loop");
        return 1;
    }
    loop_set_signal_handler(on_signal, &a);
    log_info("bms-aggregator %s starting (%s)", BMSAGG_VERSION, config ? config : "built-in defaults");
    if (agg_start(&a, conn, sig_conn, loop_now_ms()) != 0) {
        log_err("cannot start (out of memory?)");
        return 1;
    }
    record_start(&a);
    loop_set_tick((int64_t)(a.cfg.dbus.poll_interval_s * 1000.0), on_tick, &a);
    int rc = loop_run();
    agg_shutdown(&a);
    if (a.recorder_ctx)
        rec_close(a.recorder_ctx);   /* writes out the buffered rows */
    pk_close(&a.bank);
    dbus_connection_close(sig_conn);
    dbus_connection_unref(sig_conn);
    dbus_connection_close(conn);
    dbus_connection_unref(conn);
    return rc;
}
