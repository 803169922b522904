/* The daemon's state and its tick: collect pack readings, step the core, publish, record. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agg.h"
#include "log.h"
#include "loop.h"

static void on_new_slot(void *ctx, int slot)
{
    agg_t *a = ctx;
    if (a->created)
        pub_add_pack(&a->pub, slot);
}

/* /CustomName = the name set on the bus (kept in localsettings), else the config's custom_name. */
static void show_custom_name(agg_t *a)
{
    if (a->created)
        bi_set_string(a->pub.custom_name, stg_custom_name(&a->settings, a->cfg.dbus.custom_name));
}

static void on_custom_name_written(void *ctx, const char *name)
{
    agg_t *a = ctx;
    stg_set_custom_name(&a->settings, name);
    show_custom_name(a);
}

static void on_request_name(DBusPendingCall *pc, void *data)
{
    agg_t *a = data;
    DBusMessage *r = dbus_pending_call_steal_reply(pc);
    dbus_pending_call_unref(pc);
    dbus_uint32_t code = 0;
    if (r && dbus_message_get_type(r) == DBUS_MESSAGE_TYPE_METHOD_RETURN)
        dbus_message_get_args(r, NULL, DBUS_TYPE_UINT32, &code, DBUS_TYPE_INVALID);
    if (code == DBUS_REQUEST_NAME_REPLY_PRIMARY_OWNER) {
        a->live = true;
        bi_set_live(a->bi, true);
        log_info("on the bus as %s (DeviceInstance %d, ProductId 0x%X)", a->cfg.dbus.service_name,
                 a->settings.instance, PUB_PRODUCT_ID);
    } else {
        /* velib claims with do_not_queue: an owned name is an error, not a queue position. */
        log_err("cannot own %s (%s): another instance running?", a->cfg.dbus.service_name,
                r && dbus_message_get_type(r) == DBUS_MESSAGE_TYPE_ERROR ? dbus_message_get_error_name(r)
                                                                         : "name taken");
        loop_stop(1);
    }
    if (r)
        dbus_message_unref(r);
}

static void request_name(agg_t *a)
{
    DBusMessage *m = dbus_message_new_method_call(DBUS_SERVICE_DBUS, DBUS_PATH_DBUS, DBUS_INTERFACE_DBUS,
                                                  "RequestName");
    const char *name = a->cfg.dbus.service_name;
    dbus_uint32_t flags = DBUS_NAME_FLAG_DO_NOT_QUEUE;
    DBusPendingCall *pc = NULL;
    if (!m || !dbus_message_append_args(m, DBUS_TYPE_STRING, &name, DBUS_TYPE_UINT32, &flags, DBUS_TYPE_INVALID) ||
        !dbus_connection_send_with_reply(a->conn, m, &pc, a->cfg.dbus.call_timeout_ms) || !pc ||
        !dbus_pending_call_set_notify(pc, on_request_name, a, NULL)) {
        log_err("cannot request %s", name);
        loop_stop(1);
    }
    if (m)
        dbus_message_unref(m);
    a->name_requested = true;
}

static DBusHandlerResult on_disconnect(DBusConnection *conn, DBusMessage *msg, void *data)
{
    (void)conn;
    (void)data;
    if (dbus_message_is_signal(msg, DBUS_INTERFACE_LOCAL, "Disconnected")) {
        /* Nothing to publish to any more; the supervisor restarts us. */
        log_err("disconnected from the bus");
        loop_stop(1);
        return DBUS_HANDLER_RESULT_HANDLED;
    }
    return DBUS_HANDLER_RESULT_NOT_YET_HANDLED;
}

static void on_setting_changed(void *ctx, const char *value)
{
    stg_setting_changed(ctx, value);
}

int agg_start(agg_t *a, DBusConnection *conn, DBusConnection *sig_conn, int64_t now_ms)
{
    a->conn = conn;
    a->sig_conn = sig_conn ? sig_conn : conn;
    a->start_ms = now_ms;
    pol_init(&a->pol);
    memset(&a->out, 0, sizeof a->out);
    pk_init(&a->bank, conn, a->sig_conn, &a->cfg, a->cfg.dbus.service_name);
    a->bank.on_new_slot = on_new_slot;
    a->bank.on_new_slot_ctx = a;
    a->bi = bi_new(conn);
    if (!a->bi)
        return -1;
    if (!dbus_connection_add_filter(conn, on_disconnect, a, NULL))
        return -1;
    if (pk_start(&a->bank) != 0)
        return -1;
    if (a->once) {
        /* Diagnosing: no settings entry is created, the configured instance is shown. */
        a->settings.resolved = true;
        a->settings.instance = a->cfg.dbus.device_instance;
        return 0;
    }
    const char *sfx = strrchr(a->cfg.dbus.service_name, '.');
    if (stg_start(&a->settings, conn, sfx ? sfx + 1 : a->cfg.dbus.service_name, a->cfg.dbus.device_instance,
                  a->cfg.dbus.settings_wait_s, a->cfg.dbus.call_timeout_ms, now_ms) != 0)
        return -1;
    /* The setting's changes come through the packs module's bus-wide PropertiesChanged rule. */
    a->bank.watch_path = stg_name_path(&a->settings);
    a->bank.watch_fn = on_setting_changed;
    a->bank.watch_ctx = &a->settings;
    return 0;
}

/* The policy config of this tick: while the bank is still being discovered, the packs not yet
 * identified count as expected, so the limits are scaled to the whole bank rather than computed
 * at full nominal on half of it (or zero before the first pack). */
static pol_config effective(const agg_t *a, int n_slots)
{
    pol_config c = a->cfg.pol;
    if (c.expected_packs == 0) {
        int expected = n_slots;
        if (a->cfg.dbus.n_packs > expected)
            expected = a->cfg.dbus.n_packs;   /* an explicit list names the whole bank */
        if (!a->startup_done)
            expected += pk_n_probing(&a->bank);
        if (expected > n_slots && expected <= POL_MAX_PACKS)
            c.expected_packs = expected;
        if (c.expected_packs && c.min_packs_online > c.expected_packs)
            c.expected_packs = 0;   /* keep the pair coherent; the core then uses n_slots */
    }
    return c;
}

void agg_tick(agg_t *a, int64_t now_ms)
{
    a->ticks++;
    if (pk_read_signals(&a->bank) != 0) {
        /* Like a Disconnected on the first connection: the supervisor restarts us. */
        log_err("lost the signal connection to the bus");
        loop_stop(1);
        return;
    }
    stg_tick(&a->settings, now_ms);
    pk_tick(&a->bank, now_ms);

    if (!a->startup_done) {
        int want = a->cfg.pol.expected_packs > 0 ? a->cfg.pol.expected_packs
                   : a->cfg.dbus.n_packs > 0     ? a->cfg.dbus.n_packs
                                                 : 1;
        bool all = pk_discovery_done(&a->bank) && pk_n_probing(&a->bank) == 0 &&
                   pk_n_reported(&a->bank) >= want;
        if (all || now_ms - a->start_ms >= (int64_t)(a->cfg.dbus.startup_wait_s * 1000.0)) {
            a->startup_done = true;
            log_info("start-up done: %d pack(s) reporting%s", pk_n_reported(&a->bank),
                     all ? "" : " (start-up wait elapsed)");
        }
    }

    int n = pk_collect(&a->bank, a->readings);
    pol_config eff = effective(a, n);
    bool acked = a->pub.ack_requested;
    if (acked) {
        a->pub.ack_requested = false;
        pol_acknowledge(&a->pol);
        log_info("alarm acknowledged");
    }
    if (pol_step(&a->pol, &eff, now_ms, a->readings, n, &a->out) != 0) {
        static log_rate rl;
        log_rl(&rl, now_ms, "core refused the tick (time went backwards?)");
        return;
    }
    if (a->recorder)
        a->recorder(a->recorder_ctx, now_ms, &eff, a->readings, n, acked, &a->out, &a->pol);

    /* Register once our instance is known and a pack has reported (or the start-up wait is over):
     * at boot the packs' drivers may start after us, and an empty bank would publish zeros. */
    bool looked = a->once ? pk_discovery_done(&a->bank)
                          : (pk_discovery_done(&a->bank) && pk_n_reported(&a->bank) > 0) || a->startup_done;
    if (!a->created && stg_resolved(&a->settings) && looked) {
        if (pub_create(&a->pub, a->bi, &a->cfg, &a->bank, a->settings.instance) != 0) {
            log_err("out of memory creating paths");
            loop_stop(1);
            return;
        }
        a->created = true;
        a->pub.custom_name_written = on_custom_name_written;
        a->pub.custom_name_ctx = a;
    }
    if (a->created) {
        pub_update(&a->pub, &a->out, n);
        show_custom_name(a);   /* follows the setting (GUI edits); unchanged = no signal */
    }
    if (a->once) {
        if (a->created && pk_discovery_done(&a->bank) && pk_n_probing(&a->bank) == 0) {
            bi_print(a->bi, stdout);
            fflush(stdout);
            loop_stop(0);
        }
        return;
    }
    if (a->created && !a->name_requested) {
        /* velib's order: every path exists before the name is claimed. */
        if (bi_register(a->bi) != 0) {
            log_err("cannot export the object tree");
            loop_stop(1);
            return;
        }
        request_name(a);
    }
    bi_flush(a->bi);
}

void agg_reload(agg_t *a)
{
    if (!a->config_path[0]) {
        log_warn("SIGHUP: running on built-in defaults (no --config), nothing to reload");
        return;
    }
    conf_t fresh;
    char err[CONF_ERR_LEN];
    conf_default(&fresh);
    if (conf_load(a->config_path, &fresh, err, sizeof err) != 0) {
        log_err("%s", err);
        log_err("reload failed: keeping the previous config");
        return;
    }
    conf_t old = a->cfg;
    if (strcmp(fresh.dbus.service_name, old.dbus.service_name) != 0) {
        /* A Venus service never renames itself while on the bus. */
        log_warn("service_name change takes effect at restart");
        snprintf(fresh.dbus.service_name, sizeof fresh.dbus.service_name, "%s", old.dbus.service_name);
    }
    if (fresh.dbus.device_instance != old.dbus.device_instance)
        log_warn("device_instance change takes effect at restart");
    a->cfg = fresh;   /* bank and publisher point at a->cfg */
    if (fresh.dbus.poll_interval_s != old.dbus.poll_interval_s)
        loop_set_period((int64_t)(fresh.dbus.poll_interval_s * 1000.0));
    pub_config_changed(&a->pub, &old);
    show_custom_name(a);   /* a name set on the bus outranks the config's */
    log_info("config reloaded from %s", a->config_path);
}

void agg_shutdown(agg_t *a)
{
    if (!a->live)
        return;
    DBusMessage *m = dbus_message_new_method_call(DBUS_SERVICE_DBUS, DBUS_PATH_DBUS, DBUS_INTERFACE_DBUS,
                                                  "ReleaseName");
    const char *name = a->cfg.dbus.service_name;
    if (m && dbus_message_append_args(m, DBUS_TYPE_STRING, &name, DBUS_TYPE_INVALID)) {
        dbus_message_set_no_reply(m, TRUE);
        dbus_connection_send(a->conn, m, NULL);
        dbus_connection_flush(a->conn);
    }
    if (m)
        dbus_message_unref(m);
    a->live = false;
}
