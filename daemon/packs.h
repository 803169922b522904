/* The packs: discovery of BMS services on the bus, their readings, and the ride-through of absences. */
#ifndef BMSAGG_PACKS_H
#define BMSAGG_PACKS_H

#include <dbus/dbus.h>
#include <stdbool.h>
#include <stdint.h>

#include "conf.h"
#include "log.h"
#include "policy.h"
#include "sigread.h"

#define PK_MAX_SERVICES 64
#define PK_ID_LEN (CONF_NAME_LEN + 16)   /* "name:" + a whole service name fits */
/* Our own /ProductId (publish.h's PUB_PRODUCT_ID): a service carrying it is an aggregate. */
#define PK_PRODUCT_ID_SELF 0xBA50

typedef enum {
    PKS_FREE = 0,
    PKS_PROBING,    /* GetItems sent or to be sent; identity unknown */
    PKS_IGNORED,    /* not a BMS (no valid CVL), no identity, a duplicate, or no free slot */
    PKS_ACTIVE      /* feeding a slot */
} pk_svc_state;

/* How a service is read (VENUS-DBUS.md 2.2): GetItems; if it has none, GetValue on "/"; if that
 * is missing too, GetValue on each path. Kept for the service's life: re-reads use what worked. */
typedef enum {
    PK_READ_ITEMS = 0,
    PK_READ_ROOT,
    PK_READ_PATHS
} pk_read_method;

#define PK_PATH_WINDOW 4       /* GetValue calls in flight per service during a per-path read */
#define PK_MAX_READ_PATHS 64   /* identity paths + the paths the core reads (variant.c) */

/* A per-path read in progress: the replies are kept until all have come, then applied at once. */
typedef struct {
    bool active;
    int next;                                  /* next path to ask for */
    int answered, failed;
    DBusPendingCall *calls[PK_PATH_WINDOW];
    DBusMessage *replies[PK_MAX_READ_PATHS];
    char sender[64];
} pk_round;

typedef struct {
    pk_svc_state state;
    char name[CONF_NAME_LEN];   /* well-known name, e.g. com.victronenergy.battery.ttyUSB0 */
    char owner[64];             /* unique name: signals are routed by sender */
    int slot;                   /* when PKS_ACTIVE */
    uint32_t gen;               /* tells a reply for this entry from one for an earlier occupant */
    int64_t last_rx_ms;         /* last signal or reply from it */
    DBusPendingCall *pending;   /* at most one call in flight per service: a hung pack costs one */
    pk_read_method method;
    pk_round *round;            /* PK_READ_PATHS only (allocated on first use) */
    bool initial;               /* found by the start-up ListNames and not yet answered */
    bool reprobe;               /* an ignored service whose CVL became valid */
    int64_t next_probe_ms;
    log_rate rl_call;
} pk_service;

typedef struct {
    bool used;
    char id[PK_ID_LEN];         /* "di:3", "serial:XYZ" or "name:<service>" */
    int di;                     /* /DeviceInstance, -1 unknown */
    char service[CONF_NAME_LEN];/* last service name it was seen under */
    int svc;                    /* index into services, -1 while absent */
    int64_t vanished_ms;
    bool gone;                  /* absent for longer than ride_through_s: the slot may be reused */
    bool reported;              /* at least one reading since it (re)appeared */
    rdg_reading cur;            /* accumulated from GetItems and change signals */
    bool dirty;                 /* something arrived since the last tick */
    uint32_t rejected_values;   /* values var_apply refused (wrong type, NaN, range) */
    char last_rejection[128];
    log_rate rl_reject;
    int64_t flap_window_ms;     /* presence events: the first few a minute are logged ... */
    uint32_t flap_events;       /* ... the rest of a flapping pack's only counted */
} pk_slot;

typedef struct {
    DBusConnection *conn;       /* calls and NameOwnerChanged (read at once) */
    DBusConnection *sig_conn;   /* the change signals (read just before each tick); may be conn */
    sr_reader reader;           /* reads sig_conn when it is a connection of its own */
    bool reader_open;
    const conf_t *cfg;          /* the daemon's current config; replaced on SIGHUP */
    char own_name[CONF_NAME_LEN];
    pk_service svc[PK_MAX_SERVICES];
    pk_slot slot[POL_MAX_PACKS];
    int n_slots;
    bool listed;                /* the start-up ListNames has been answered (or failed) */
    uint32_t gen;
    uint32_t rejected_values_total;
    uint32_t call_failures_total;
    /* Called when a slot is first used, so the publisher can add its diagnostic paths. */
    void (*on_new_slot)(void *ctx, int slot);
    void *on_new_slot_ctx;
    /* One path of another service that another module follows (the settings module: our
     * CustomName setting). Its PropertiesChanged arrive through the same bus-wide rule as the
     * packs' (one rule per signal type); a string Value goes to watch_fn. NULL: none. */
    const char *watch_path;
    void (*watch_fn)(void *ctx, const char *value);
    void *watch_ctx;
} pk_bank;

void pk_init(pk_bank *b, DBusConnection *conn, DBusConnection *sig_conn, const conf_t *cfg,
             const char *own_name);
/* Adds the filters and the match rules, sends ListNames. 0 or -1. */
int pk_start(pk_bank *b);
/* Just before each tick: reads every change signal queued on the signal connection. 0, or -1
 * when that connection is lost (the daemon then exits and its supervisor restarts it). */
int pk_read_signals(pk_bank *b);
/* Frees what pk_start allocated (before the connections are closed). */
void pk_close(pk_bank *b);
/* Once per tick: re-reads silent packs, retries probes, ends ride-throughs. */
void pk_tick(pk_bank *b, int64_t now_ms);
/* One reading per slot (fresh = something arrived since the previous call). Returns the slot count. */
int pk_collect(pk_bank *b, rdg_reading *out);
/* True once the start-up ListNames and every probe it caused have been answered or timed out. */
bool pk_discovery_done(const pk_bank *b);
/* Services still being probed (candidates whose identity is not known yet). */
int pk_n_probing(const pk_bank *b);
/* Slots that have reported since the start. */
int pk_n_reported(const pk_bank *b);
/* "online" when its service is present, "absent" within the ride-through, "gone" after it. */
const char *pk_presence(const pk_bank *b, int slot);

#endif
