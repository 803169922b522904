/* Our VRM DeviceInstance from com.victronenergy.settings (ClassAndVrmInstance), with a fallback. */
#ifndef BMSAGG_SETTINGS_H
#define BMSAGG_SETTINGS_H

#include <dbus/dbus.h>
#include <stdbool.h>
#include <stdint.h>

#define STG_SERVICE "com.victronenergy.settings"

typedef struct {
    DBusConnection *conn;
    char path[256];        /* /Settings/Devices/<uid>/ClassAndVrmInstance */
    int preferred;         /* the configured instance: the default we ask for, and the fallback */
    int timeout_ms;
    int64_t start_ms, wait_ms;
    bool asked;            /* AddSettings sent */
    bool resolved;
    bool from_settings;    /* false = fallback */
    int instance;
    DBusPendingCall *pending;
} stg_ctx;

/* uid names us in the settings tree (sanitised to [A-Za-z0-9_]). Adds a filter for the
 * settings service appearing and asks at once if it is there. 0 or -1. */
int stg_start(stg_ctx *s, DBusConnection *conn, const char *uid, int preferred, double wait_s,
              int timeout_ms, int64_t now_ms);
/* Falls back to the preferred instance once wait_s has passed without an answer. */
void stg_tick(stg_ctx *s, int64_t now_ms);
static inline bool stg_resolved(const stg_ctx *s) { return s->resolved; }

/* Parses "battery:281" -> 281. 0 or -1 (pure; exposed for tests). */
int stg_parse_class_instance(const char *text, int *instance);

#endif
