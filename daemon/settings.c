/* Our VRM DeviceInstance from com.victronenergy.settings (ClassAndVrmInstance), with a fallback. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "log.h"
#include "settings.h"

int stg_parse_class_instance(const char *text, int *instance)
{
    const char *colon = strchr(text, ':');
    if (!colon || strncmp(text, "battery", (size_t)(colon - text)) != 0 || colon - text != 7)
        return -1;
    long v;
    if (conf_parse_long(colon + 1, 0, 1000000, &v) != 0)
        return -1;
    *instance = (int)v;
    return 0;
}

static void resolve(stg_ctx *s, int instance, bool from_settings)
{
    s->resolved = true;
    s->instance = instance;
    s->from_settings = from_settings;
    if (from_settings)
        log_info("DeviceInstance %d from %s %s", instance, STG_SERVICE, s->path);
    else
        log_warn("no answer from %s: using the configured DeviceInstance %d", STG_SERVICE, instance);
}

static void on_reply(DBusPendingCall *pc, void *data)
{
    stg_ctx *s = data;
    DBusMessage *r = dbus_pending_call_steal_reply(pc);
    dbus_pending_call_unref(pc);
    s->pending = NULL;
    if (!r || s->resolved) {
        if (r)
            dbus_message_unref(r);
        return;
    }
    /* Reply: aa{sv}, one dict per request: {"error": i, "path": s, "value": v}. */
    DBusMessageIter it, arr, dict, e, v;
    bool done = false;
    if (dbus_message_get_type(r) == DBUS_MESSAGE_TYPE_ERROR) {
        log_warn("%s AddSettings failed: %s", STG_SERVICE, dbus_message_get_error_name(r));
    } else if (dbus_message_iter_init(r, &it) && dbus_message_iter_get_arg_type(&it) == DBUS_TYPE_ARRAY) {
        dbus_message_iter_recurse(&it, &arr);
        while (!done && dbus_message_iter_get_arg_type(&arr) == DBUS_TYPE_ARRAY) {
            dbus_message_iter_recurse(&arr, &dict);
            int err = 0;
            char value[64] = "";
            while (dbus_message_iter_get_arg_type(&dict) == DBUS_TYPE_DICT_ENTRY) {
                dbus_message_iter_recurse(&dict, &e);
                const char *key;
                dbus_message_iter_get_basic(&e, &key);
                dbus_message_iter_next(&e);
                dbus_message_iter_recurse(&e, &v);
                if (strcmp(key, "error") == 0 && dbus_message_iter_get_arg_type(&v) == DBUS_TYPE_INT32) {
                    dbus_int32_t x;
                    dbus_message_iter_get_basic(&v, &x);
                    err = x;
                } else if (strcmp(key, "value") == 0 && dbus_message_iter_get_arg_type(&v) == DBUS_TYPE_STRING) {
                    const char *str;
                    dbus_message_iter_get_basic(&v, &str);
                    snprintf(value, sizeof value, "%s", str);
                }
                dbus_message_iter_next(&dict);
            }
            int inst;
            if (err == 0 && stg_parse_class_instance(value, &inst) == 0) {
                resolve(s, inst, true);
                done = true;
            } else {
                log_warn("%s AddSettings: error %d, value \"%s\"", STG_SERVICE, err, value);
            }
            dbus_message_iter_next(&arr);
        }
    }
    dbus_message_unref(r);
    if (!done)
        resolve(s, s->preferred, false);
}

static void ask(stg_ctx *s)
{
    if (s->asked || s->resolved)
        return;
    s->asked = true;
    DBusMessage *m = dbus_message_new_method_call(STG_SERVICE, "/", "com.victronenergy.Settings", "AddSettings");
    if (!m)
        return;
    char def[32];
    snprintf(def, sizeof def, "battery:%d", s->preferred);
    const char *kp = "path", *kd = "default", *pp = s->path, *pd = def;
    DBusMessageIter it, arr, dict, e, v;
    dbus_message_iter_init_append(m, &it);
    bool ok = dbus_message_iter_open_container(&it, DBUS_TYPE_ARRAY, "a{sv}", &arr) &&
              dbus_message_iter_open_container(&arr, DBUS_TYPE_ARRAY, "{sv}", &dict) &&
              dbus_message_iter_open_container(&dict, DBUS_TYPE_DICT_ENTRY, NULL, &e) &&
              dbus_message_iter_append_basic(&e, DBUS_TYPE_STRING, &kp) &&
              dbus_message_iter_open_container(&e, DBUS_TYPE_VARIANT, "s", &v) &&
              dbus_message_iter_append_basic(&v, DBUS_TYPE_STRING, &pp) &&
              dbus_message_iter_close_container(&e, &v) && dbus_message_iter_close_container(&dict, &e) &&
              dbus_message_iter_open_container(&dict, DBUS_TYPE_DICT_ENTRY, NULL, &e) &&
              dbus_message_iter_append_basic(&e, DBUS_TYPE_STRING, &kd) &&
              dbus_message_iter_open_container(&e, DBUS_TYPE_VARIANT, "s", &v) &&
              dbus_message_iter_append_basic(&v, DBUS_TYPE_STRING, &pd) &&
              dbus_message_iter_close_container(&e, &v) && dbus_message_iter_close_container(&dict, &e) &&
              dbus_message_iter_close_container(&arr, &dict) && dbus_message_iter_close_container(&it, &arr);
    DBusPendingCall *pc = NULL;
    if (ok && dbus_connection_send_with_reply(s->conn, m, &pc, s->timeout_ms) && pc &&
        dbus_pending_call_set_notify(pc, on_reply, s, NULL))
        s->pending = pc;
    else
        log_warn("cannot send AddSettings");
    dbus_message_unref(m);
}

static DBusHandlerResult filter(DBusConnection *conn, DBusMessage *msg, void *data)
{
    (void)conn;
    stg_ctx *s = data;
    const char *name, *old_owner, *new_owner;
    if (!s->resolved && dbus_message_is_signal(msg, DBUS_INTERFACE_DBUS, "NameOwnerChanged") &&
        dbus_message_get_args(msg, NULL, DBUS_TYPE_STRING, &name, DBUS_TYPE_STRING, &old_owner,
                              DBUS_TYPE_STRING, &new_owner, DBUS_TYPE_INVALID) &&
        strcmp(name, STG_SERVICE) == 0 && new_owner[0])
        ask(s);
    return DBUS_HANDLER_RESULT_NOT_YET_HANDLED;
}

static void on_has_owner(DBusPendingCall *pc, void *data)
{
    stg_ctx *s = data;
    DBusMessage *r = dbus_pending_call_steal_reply(pc);
    dbus_pending_call_unref(pc);
    dbus_bool_t has = FALSE;
    if (r && dbus_message_get_type(r) == DBUS_MESSAGE_TYPE_METHOD_RETURN)
        dbus_message_get_args(r, NULL, DBUS_TYPE_BOOLEAN, &has, DBUS_TYPE_INVALID);
    if (r)
        dbus_message_unref(r);
    if (has)
        ask(s);
}

int stg_start(stg_ctx *s, DBusConnection *conn, const char *uid, int preferred, double wait_s,
              int timeout_ms, int64_t now_ms)
{
    memset(s, 0, sizeof *s);
    s->conn = conn;
    s->preferred = preferred;
    s->timeout_ms = timeout_ms;
    s->start_ms = now_ms;
    s->wait_ms = (int64_t)(wait_s * 1000.0);
    char clean[128];
    size_t n = 0;
    for (const char *p = uid; *p && n < sizeof clean - 1; p++) {
        char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
        clean[n++] = ok ? c : '_';
    }
    clean[n] = '\0';
    if (n == 0)
        snprintf(clean, sizeof clean, "bms_aggregator");
    snprintf(s->path, sizeof s->path, "/Settings/Devices/%s/ClassAndVrmInstance", clean);
    if (!dbus_connection_add_filter(conn, filter, s, NULL))
        return -1;
    /* The NameOwnerChanged match is added by the packs module (one rule for all names). */
    DBusMessage *m = dbus_message_new_method_call(DBUS_SERVICE_DBUS, DBUS_PATH_DBUS, DBUS_INTERFACE_DBUS,
                                                  "NameHasOwner");
    const char *name = STG_SERVICE;
    DBusPendingCall *pc = NULL;
    if (!m || !dbus_message_append_args(m, DBUS_TYPE_STRING, &name, DBUS_TYPE_INVALID) ||
        !dbus_connection_send_with_reply(conn, m, &pc, timeout_ms) || !pc ||
        !dbus_pending_call_set_notify(pc, on_has_owner, s, NULL)) {
        if (m)
            dbus_message_unref(m);
        return -1;
    }
    dbus_message_unref(m);
    return 0;
}

void stg_tick(stg_ctx *s, int64_t now_ms)
{
    if (s->resolved)
        return;
    /* An AddSettings in flight has its own timeout and resolves in on_reply. */
    if (!s->pending && now_ms - s->start_ms >= s->wait_ms)
        resolve(s, s->preferred, false);
}
