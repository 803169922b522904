/* Our entries in com.victronenergy.settings (localsettings): the VRM DeviceInstance
 * (ClassAndVrmInstance, with a fallback) and /CustomName, persisted across restarts. */
#ifndef BMSAGG_SETTINGS_H
#define BMSAGG_SETTINGS_H

#include <dbus/dbus.h>
#include <stdbool.h>
#include <stdint.h>

#define STG_SERVICE "com.victronenergy.settings"
/* The longest custom name kept, terminator included (the config's CONF_NAME_LEN; checked in
 * settings.c). */
#define STG_NAME_LEN 128

typedef struct {
    DBusConnection *conn;
    char path[256];        /* /Settings/Devices/<uid>/ClassAndVrmInstance */
    char name_path[256];   /* /Settings/Devices/<uid>/CustomName */
    int preferred;         /* the configured instance: the default we ask for, and the fallback */
    int timeout_ms;
    int64_t start_ms, wait_ms;
    bool asked;            /* AddSettings with ClassAndVrmInstance sent */
    bool resolved;
    bool from_settings;    /* false = fallback */
    int instance;
    DBusPendingCall *pending;        /* AddSettings in flight (at most one) */
    bool pending_has_instance;       /* ... and it carries ClassAndVrmInstance */
    bool reask;                      /* the service (re)appeared meanwhile: ask again after it */

    /* /CustomName. The setting's default is "": empty means "no name set on the bus", and the
     * config's custom_name is shown (so editing the config still works until someone names us). */
    char name[STG_NAME_LEN];  /* the setting's value, or the last name written to us */
    bool present;          /* the settings service has an owner, as last seen */
    bool name_synced;      /* the setting exists and `name` came from it or was stored in it */
    bool name_dirty;       /* written to us and not yet stored in the setting */
    bool name_noted;       /* "kept in memory only" logged during this absence */
    DBusPendingCall *set_pending;    /* SetValue in flight (at most one; later writes coalesce) */
} stg_ctx;

/* uid names us in the settings tree (sanitised to [A-Za-z0-9_]). Adds a filter for the
 * settings service appearing and for changes of our CustomName setting, and asks at once if
 * the service is there. 0 or -1. */
int stg_start(stg_ctx *s, DBusConnection *conn, const char *uid, int preferred, double wait_s,
              int timeout_ms, int64_t now_ms);
/* Falls back to the preferred instance once wait_s has passed without an answer. */
void stg_tick(stg_ctx *s, int64_t now_ms);
static inline bool stg_resolved(const stg_ctx *s) { return s->resolved; }

/* The name to publish as /CustomName: the setting's (or last written) name, or `fallback` (the
 * config's custom_name) while that is empty. */
const char *stg_custom_name(const stg_ctx *s, const char *fallback);
/* /CustomName was written on our service (name shorter than STG_NAME_LEN): kept, and stored in
 * the setting asynchronously; while the settings service is absent it is kept in memory and
 * stored once the service appears. */
void stg_set_custom_name(stg_ctx *s, const char *name);

/* The CustomName setting's path, and its new value as the settings service announced it
 * (PropertiesChanged, delivered by the packs module's bus-wide rule). */
static inline const char *stg_name_path(const stg_ctx *s) { return s->name_path; }
void stg_setting_changed(stg_ctx *s, const char *value);

/* Parses "battery:281" -> 281. 0 or -1 (pure; exposed for tests). */
int stg_parse_class_instance(const char *text, int *instance);

#endif
