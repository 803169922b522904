/* Our entries in com.victronenergy.settings (localsettings): the VRM DeviceInstance
 * (ClassAndVrmInstance, with a fallback) and /CustomName, persisted across restarts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "busitem.h"
#include "conf.h"
#include "log.h"
#include "loop.h"
#include "settings.h"

/* A name the config accepts is a name the setting can hold, and the other way round. */
_Static_assert(STG_NAME_LEN == CONF_NAME_LEN, "STG_NAME_LEN follows CONF_NAME_LEN");

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
    if (from_settings) {
        log_info("DeviceInstance %d from %s %s", instance, STG_SERVICE, s->path);
    } else {
        log_warn("no answer from %s: using the configured DeviceInstance %d", STG_SERVICE, instance);
        if (!s->present && !s->name_noted) {
            log_warn("%s absent: /CustomName is kept in memory until it appears", STG_SERVICE);
            s->name_noted = true;
        }
    }
}

/* ---- /CustomName ---- */

/* Takes a name from the settings service (AddSettings reply or PropertiesChanged). */
static void adopt_name(stg_ctx *s, const char *value)
{
    size_t len = strlen(value);
    if (len >= sizeof s->name) {
        /* Only someone writing the setting directly can do this; our own SetValue cannot. */
        static log_rate rl;
        log_rl(&rl, loop_now_ms(), "%s %s: ignoring a %zu-byte name (at most %d)", STG_SERVICE, s->name_path, len,
               STG_NAME_LEN - 1);
        return;
    }
    if (strcmp(s->name, value) != 0)
        log_info("CustomName \"%s\" from %s", value, STG_SERVICE);
    memcpy(s->name, value, len + 1);
}

static void send_set(stg_ctx *s);

static void on_set_reply(DBusPendingCall *pc, void *data)
{
    stg_ctx *s = data;
    DBusMessage *r = dbus_pending_call_steal_reply(pc);
    dbus_pending_call_unref(pc);
    s->set_pending = NULL;
    dbus_int32_t rc = -1;
    bool ok = false;
    if (r && dbus_message_get_type(r) == DBUS_MESSAGE_TYPE_ERROR) {
        log_warn("%s SetValue %s failed: %s", STG_SERVICE, s->name_path, dbus_message_get_error_name(r));
    } else if (r && dbus_message_get_args(r, NULL, DBUS_TYPE_INT32, &rc, DBUS_TYPE_INVALID) && rc == 0) {
        ok = true;
    } else {
        log_warn("%s SetValue %s refused (%d): /CustomName kept in memory only", STG_SERVICE, s->name_path,
                 (int)rc);
    }
    if (r)
        dbus_message_unref(r);
    /* A name written while this call was in flight goes out now. A refusal is not retried (it
     * would only repeat); a store lost because the service went away is redone when it is back. */
    bool newer = s->name_dirty;
    if (!ok && !s->name_synced)
        s->name_dirty = true;
    if (newer && s->name_synced)
        send_set(s);
}

/* Stores s->name in the setting: one SetValue in flight at most, later writes coalesce. */
static void send_set(stg_ctx *s)
{
    if (!s->conn || !s->name_synced || s->set_pending)
        return;   /* not yet known to exist / the reply of the call in flight sends the rest */
    DBusMessage *m = dbus_message_new_method_call(STG_SERVICE, s->name_path, BI_IFACE, "SetValue");
    DBusMessageIter it, v;
    const char *name = s->name;
    DBusPendingCall *pc = NULL;
    bool ok = m != NULL;
    if (ok) {
        dbus_message_iter_init_append(m, &it);
        ok = dbus_message_iter_open_container(&it, DBUS_TYPE_VARIANT, "s", &v) &&
             dbus_message_iter_append_basic(&v, DBUS_TYPE_STRING, &name) &&
             dbus_message_iter_close_container(&it, &v);
    }
    if (ok && dbus_connection_send_with_reply(s->conn, m, &pc, s->timeout_ms) && pc &&
        dbus_pending_call_set_notify(pc, on_set_reply, s, NULL)) {
        s->set_pending = pc;
        s->name_dirty = false;
    } else {
        log_warn("cannot send SetValue to %s", STG_SERVICE);
    }
    if (m)
        dbus_message_unref(m);
}

const char *stg_custom_name(const stg_ctx *s, const char *fallback)
{
    return s->name[0] ? s->name : fallback;
}

void stg_set_custom_name(stg_ctx *s, const char *name)
{
    snprintf(s->name, sizeof s->name, "%s", name);
    s->name_dirty = true;
    if (s->name_synced) {
        send_set(s);
    } else if (!s->pending && !s->name_noted) {
        /* Nothing in flight that would store it: the service is absent, or refused the setting. */
        if (s->present)
            log_warn("%s has no %s: /CustomName is kept in memory", STG_SERVICE, s->name_path);
        else
            log_warn("%s absent: /CustomName is kept in memory until it appears", STG_SERVICE);
        s->name_noted = true;
    }
    /* Else the AddSettings in flight answers, and its reply stores the written name. */
}

/* The CustomName entry of an AddSettings reply. */
static void name_added(stg_ctx *s, int err, const char *value)
{
    if (err != 0 || !value) {
        log_warn("%s AddSettings %s: error %d: /CustomName kept in memory only", STG_SERVICE, s->name_path, err);
        return;
    }
    s->name_synced = true;
    s->name_noted = false;
    if (s->name_dirty)
        send_set(s);   /* written to us before the setting was known: the write wins */
    else
        adopt_name(s, value);
}

/* ---- AddSettings ---- */

static void ask(stg_ctx *s);

static void on_add_reply(DBusPendingCall *pc, void *data)
{
    stg_ctx *s = data;
    DBusMessage *r = dbus_pending_call_steal_reply(pc);
    dbus_pending_call_unref(pc);
    s->pending = NULL;
    bool want_instance = s->pending_has_instance && !s->resolved;
    bool got_instance = false;
    /* Reply: aa{sv}, one dict per request: {"error": i, "path": s, "value": v}. */
    DBusMessageIter it, arr, dict, e, v;
    if (!r) {
        log_warn("%s AddSettings: no reply", STG_SERVICE);
    } else if (dbus_message_get_type(r) == DBUS_MESSAGE_TYPE_ERROR) {
        log_warn("%s AddSettings failed: %s", STG_SERVICE, dbus_message_get_error_name(r));
    } else if (dbus_message_iter_init(r, &it) && dbus_message_iter_get_arg_type(&it) == DBUS_TYPE_ARRAY) {
        dbus_message_iter_recurse(&it, &arr);
        while (dbus_message_iter_get_arg_type(&arr) == DBUS_TYPE_ARRAY) {
            dbus_message_iter_recurse(&arr, &dict);
            int err = 0;
            const char *path = "", *value = NULL;   /* point into r, valid until it is unref'd */
            while (dbus_message_iter_get_arg_type(&dict) == DBUS_TYPE_DICT_ENTRY) {
                dbus_message_iter_recurse(&dict, &e);
                const char *key;
                dbus_message_iter_get_basic(&e, &key);
                dbus_message_iter_next(&e);
                dbus_message_iter_recurse(&e, &v);
                int t = dbus_message_iter_get_arg_type(&v);
                if (strcmp(key, "error") == 0 && t == DBUS_TYPE_INT32) {
                    dbus_int32_t x;
                    dbus_message_iter_get_basic(&v, &x);
                    err = x;
                } else if (strcmp(key, "path") == 0 && t == DBUS_TYPE_STRING) {
                    dbus_message_iter_get_basic(&v, &path);
                } else if (strcmp(key, "value") == 0 && t == DBUS_TYPE_STRING) {
                    dbus_message_iter_get_basic(&v, &value);
                }
                dbus_message_iter_next(&dict);
            }
            /* localsettings echoes each request's path, so entries are matched by it. */
            int inst;
            if (strcmp(path, s->name_path) == 0) {
                name_added(s, err, value);
            } else if (strcmp(path, s->path) == 0 && want_instance && !got_instance) {
                if (err == 0 && value && stg_parse_class_instance(value, &inst) == 0) {
                    resolve(s, inst, true);
                    got_instance = true;
                } else {
                    log_warn("%s AddSettings: error %d, value \"%s\"", STG_SERVICE, err, value ? value : "");
                }
            }
            dbus_message_iter_next(&arr);
        }
    }
    if (r)
        dbus_message_unref(r);
    if (want_instance && !got_instance)
        resolve(s, s->preferred, false);
    if (s->reask) {
        /* The service restarted while this call was in flight: the new one is asked now. */
        s->reask = false;
        if (s->present)
            ask(s);
    }
}

/* One AddSettings request entry {"path": s, "default": s}; the type follows the default. */
static bool append_entry(DBusMessageIter *arr, const char *path, const char *def)
{
    const char *kp = "path", *kd = "default";
    DBusMessageIter dict, e, v;
    return dbus_message_iter_open_container(arr, DBUS_TYPE_ARRAY, "{sv}", &dict) &&
           dbus_message_iter_open_container(&dict, DBUS_TYPE_DICT_ENTRY, NULL, &e) &&
           dbus_message_iter_append_basic(&e, DBUS_TYPE_STRING, &kp) &&
           dbus_message_iter_open_container(&e, DBUS_TYPE_VARIANT, "s", &v) &&
           dbus_message_iter_append_basic(&v, DBUS_TYPE_STRING, &path) &&
           dbus_message_iter_close_container(&e, &v) && dbus_message_iter_close_container(&dict, &e) &&
           dbus_message_iter_open_container(&dict, DBUS_TYPE_DICT_ENTRY, NULL, &e) &&
           dbus_message_iter_append_basic(&e, DBUS_TYPE_STRING, &kd) &&
           dbus_message_iter_open_container(&e, DBUS_TYPE_VARIANT, "s", &v) &&
           dbus_message_iter_append_basic(&v, DBUS_TYPE_STRING, &def) &&
           dbus_message_iter_close_container(&e, &v) && dbus_message_iter_close_container(&dict, &e) &&
           dbus_message_iter_close_container(arr, &dict);
}

/* Sends what is still missing in one AddSettings: ClassAndVrmInstance until it has been asked
 * once (an instance found by the fallback is never replaced: a service does not change its
 * DeviceInstance on the bus), CustomName until the setting is known. */
static void ask(stg_ctx *s)
{
    if (s->pending) {
        s->reask = true;   /* at most one call in flight: its reply asks again */
        return;
    }
    bool instance = !s->asked && !s->resolved;
    bool name = !s->name_synced;
    if (!instance && !name)
        return;
    DBusMessage *m = dbus_message_new_method_call(STG_SERVICE, "/", "com.victronenergy.Settings", "AddSettings");
    if (!m)
        return;
    char def[32];
    snprintf(def, sizeof def, "battery:%d", s->preferred);
    DBusMessageIter it, arr;
    dbus_message_iter_init_append(m, &it);
    bool ok = dbus_message_iter_open_container(&it, DBUS_TYPE_ARRAY, "a{sv}", &arr) &&
              (!instance || append_entry(&arr, s->path, def)) &&
              /* Default "": an unnamed service shows the config's custom_name (settings.h). */
              (!name || append_entry(&arr, s->name_path, "")) && dbus_message_iter_close_container(&it, &arr);
    DBusPendingCall *pc = NULL;
    if (ok && dbus_connection_send_with_reply(s->conn, m, &pc, s->timeout_ms) && pc &&
        dbus_pending_call_set_notify(pc, on_add_reply, s, NULL)) {
        s->pending = pc;
        s->pending_has_instance = instance;
        if (instance)
            s->asked = true;
    } else {
        log_warn("cannot send AddSettings");
    }
    dbus_message_unref(m);
}

/* {"Value": s, ...} of a PropertiesChanged on our CustomName setting. */
static DBusHandlerResult filter(DBusConnection *conn, DBusMessage *msg, void *data)
{
    (void)conn;
    stg_ctx *s = data;
    const char *name, *old_owner, *new_owner;
    if (dbus_message_is_signal(msg, DBUS_INTERFACE_DBUS, "NameOwnerChanged")) {
        if (dbus_message_get_args(msg, NULL, DBUS_TYPE_STRING, &name, DBUS_TYPE_STRING, &old_owner,
                                  DBUS_TYPE_STRING, &new_owner, DBUS_TYPE_INVALID) &&
            strcmp(name, STG_SERVICE) == 0) {
            s->present = new_owner[0] != '\0';
            if (s->present) {
                ask(s);
            } else {
                /* A restarted localsettings is asked again, and a name written meanwhile stored. */
                s->name_synced = false;
            }
        }
    }
    return DBUS_HANDLER_RESULT_NOT_YET_HANDLED;
}

void stg_setting_changed(stg_ctx *s, const char *value)
{
    /* While a name written to us waits to be stored, the setting's older value (e.g. the echo
     * of the previous SetValue) must not replace it. */
    if (!s->name_dirty)
        adopt_name(s, value);
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
    if (has) {
        s->present = true;
        ask(s);
    }
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
    snprintf(s->name_path, sizeof s->name_path, "/Settings/Devices/%s/CustomName", clean);
    if (!dbus_connection_add_filter(conn, filter, s, NULL))
        return -1;
    /* No match rules of our own: NameOwnerChanged and the CustomName setting's PropertiesChanged
     * (the GUI or anyone else changing it) come through the packs module's bus-wide rules, one
     * per signal type; it hands us the setting's value (stg_setting_changed). */
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
    /* An AddSettings in flight has its own timeout and resolves in on_add_reply. */
    if (!s->pending && now_ms - s->start_ms >= s->wait_ms)
        resolve(s, s->preferred, false);
}
