/* The packs: discovery of BMS services on the bus, their readings, and the ride-through of absences. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "busitem.h"
#include "log.h"
#include "loop.h"
#include "packs.h"
#include "variant.h"
#include "wire.h"

#define BATTERY_PREFIX "com.victronenergy.battery."

/* A reply carries the entry index and its generation: the entry may have been freed and reused
 * by another service while the call was in flight. */
typedef struct {
    pk_bank *b;
    int idx;
    uint32_t gen;
    int path_k;   /* per-path reads: index into read_paths; else -1 */
} call_ref;

/* What a per-path read asks for (VENUS-DBUS.md 2.2's last fallback): the identity, then every
 * path the core reads (variant.c's table). */
static const char *const identity_paths[] = {"/DeviceInstance", "/Serial", "/ProductId", "/ProductName"};
#define N_IDENTITY_PATHS (int)(sizeof identity_paths / sizeof identity_paths[0])

static int n_read_paths(void)
{
    return N_IDENTITY_PATHS + var_n_used_paths();
}

static const char *read_path(int k)
{
    return k < N_IDENTITY_PATHS ? identity_paths[k] : var_used_path(k - N_IDENTITY_PATHS);
}

static const char *method_name(pk_read_method m)
{
    switch (m) {
    case PK_READ_ITEMS: return "GetItems";
    case PK_READ_ROOT: return "GetValue on /";
    default: return "GetValue per path";
    }
}

static DBusHandlerResult filter(DBusConnection *conn, DBusMessage *msg, void *data);

/* Bounded copy, always terminated (snprintf "%s" trips -Wrestrict between struct members). */
static void copy_str(char *dst, size_t size, const char *src)
{
    size_t n = strnlen(src, size - 1);
    memcpy(dst, src, n);
    dst[n] = '\0';
}

void pk_init(pk_bank *b, DBusConnection *conn, DBusConnection *sig_conn, const conf_t *cfg,
             const char *own_name)
{
    memset(b, 0, sizeof *b);
    b->conn = conn;
    b->sig_conn = sig_conn ? sig_conn : conn;
    b->cfg = cfg;
    copy_str(b->own_name, sizeof b->own_name, own_name);
}

static bool is_candidate(const pk_bank *b, const char *name)
{
    const conf_dbus *d = &b->cfg->dbus;
    if (strcmp(name, b->own_name) == 0)
        return false;
    if (d->n_packs > 0) {
        for (int k = 0; k < d->n_packs; k++)
            if (strcmp(name, d->packs[k]) == 0)
                return true;
        return false;
    }
    if (strncmp(name, BATTERY_PREFIX, sizeof BATTERY_PREFIX - 1) != 0)
        return false;
    for (int k = 0; k < d->n_exclude; k++)
        if (strcmp(name, d->exclude[k]) == 0)
            return false;
    return true;
}

static int find_by_name(const pk_bank *b, const char *name)
{
    for (int k = 0; k < PK_MAX_SERVICES; k++)
        if (b->svc[k].state != PKS_FREE && strcmp(b->svc[k].name, name) == 0)
            return k;
    return -1;
}

static int find_by_owner(const pk_bank *b, const char *owner)
{
    if (!owner)
        return -1;
    for (int k = 0; k < PK_MAX_SERVICES; k++)
        if (b->svc[k].state != PKS_FREE && b->svc[k].owner[0] && strcmp(b->svc[k].owner, owner) == 0)
            return k;
    return -1;
}

static void free_round(pk_service *s)
{
    pk_round *r = s->round;
    if (!r)
        return;
    for (int k = 0; k < PK_PATH_WINDOW; k++) {
        if (r->calls[k]) {
            dbus_pending_call_cancel(r->calls[k]);
            dbus_pending_call_unref(r->calls[k]);
        }
    }
    for (int k = 0; k < PK_MAX_READ_PATHS; k++)
        if (r->replies[k])
            dbus_message_unref(r->replies[k]);
    free(r);
    s->round = NULL;
}

static void cancel_call(pk_service *s)
{
    if (s->pending) {
        dbus_pending_call_cancel(s->pending);
        dbus_pending_call_unref(s->pending);
        s->pending = NULL;
    }
    free_round(s);
}

/* A read (of whichever kind) is in progress: at most one per service, so a hung pack costs
 * one call (PK_PATH_WINDOW for a per-path read) and never more. */
static bool reading(const pk_service *s)
{
    return s->pending || (s->round && s->round->active);
}

/* Sends `method` on `path` of service idx with an explicit short timeout (Venus' libdbus default
 * is 120 s); fn gets a call_ref. NULL if it could not be sent. */
static DBusPendingCall *send_call(pk_bank *b, int idx, const char *path, const char *method,
                                  DBusPendingCallNotifyFunction fn, int path_k)
{
    pk_service *s = &b->svc[idx];
    DBusMessage *m = dbus_message_new_method_call(s->name, path, BI_IFACE, method);
    if (!m)
        return NULL;
    DBusPendingCall *pc = NULL;
    if (!dbus_connection_send_with_reply(b->conn, m, &pc, b->cfg->dbus.call_timeout_ms) || !pc) {
        dbus_message_unref(m);
        log_rl(&s->rl_call, loop_now_ms(), "%s: cannot send %s", s->name, method);
        return NULL;
    }
    dbus_message_unref(m);
    call_ref *ref = malloc(sizeof *ref);
    if (!ref) {
        dbus_pending_call_cancel(pc);
        dbus_pending_call_unref(pc);
        return NULL;
    }
    ref->b = b;
    ref->idx = idx;
    ref->gen = s->gen;
    ref->path_k = path_k;
    if (!dbus_pending_call_set_notify(pc, fn, ref, free)) {
        free(ref);
        dbus_pending_call_cancel(pc);
        dbus_pending_call_unref(pc);
        return NULL;
    }
    return pc;
}

static void on_read_reply(DBusPendingCall *pc, void *data);
static void on_path_reply(DBusPendingCall *pc, void *data);

/* Keeps the per-path read's window full. */
static void fill_round(pk_bank *b, int idx)
{
    pk_service *s = &b->svc[idx];
    pk_round *r = s->round;
    int n = n_read_paths() < PK_MAX_READ_PATHS ? n_read_paths() : PK_MAX_READ_PATHS;
    for (int w = 0; w < PK_PATH_WINDOW && r->next < n; w++) {
        if (r->calls[w])
            continue;
        int k = r->next++;
        r->calls[w] = send_call(b, idx, read_path(k), "GetValue", on_path_reply, k);
        if (!r->calls[w])
            r->failed++;
    }
}

/* Reads service idx with the method that worked for it (GetItems until it is found missing). */
static void send_read(pk_bank *b, int idx)
{
    pk_service *s = &b->svc[idx];
    if (reading(s))
        return;
    if (s->method == PK_READ_PATHS) {
        if (!s->round && !(s->round = calloc(1, sizeof *s->round)))
            return;
        pk_round *r = s->round;
        for (int k = 0; k < PK_MAX_READ_PATHS; k++) {
            if (r->replies[k])
                dbus_message_unref(r->replies[k]);
            r->replies[k] = NULL;
        }
        r->next = r->failed = r->answered = 0;
        r->active = true;
        fill_round(b, idx);
        for (int w = 0; w < PK_PATH_WINDOW; w++)
            if (r->calls[w])
                return;
        r->active = false;   /* nothing could be sent: try again at a later tick */
        return;
    }
    s->pending = send_call(b, idx, "/", s->method == PK_READ_ITEMS ? "GetItems" : "GetValue", on_read_reply, -1);
}

static void add_service(pk_bank *b, const char *name, const char *owner, bool initial)
{
    int idx = find_by_name(b, name);
    if (idx < 0) {
        for (int k = 0; k < PK_MAX_SERVICES; k++) {
            if (b->svc[k].state == PKS_FREE) {
                idx = k;
                break;
            }
        }
        if (idx < 0) {
            log_warn("%s: more than %d battery services; ignored", name, PK_MAX_SERVICES);
            return;
        }
        pk_service *s = &b->svc[idx];
        memset(s, 0, sizeof *s);
        s->gen = ++b->gen;
        s->slot = -1;
        copy_str(s->name, sizeof s->name, name);
    }
    pk_service *s = &b->svc[idx];
    s->state = PKS_PROBING;
    s->initial = initial;
    if (owner)
        copy_str(s->owner, sizeof s->owner, owner);
    s->last_rx_ms = loop_now_ms();
    send_read(b, idx);
}

/* A pack leaving and coming back is news the first few times a minute; a pack flapping a
 * hundred times in ten seconds must not flood a log that lives on flash. */
#define PK_PRESENCE_LOGS_PER_MIN 6
static bool presence_log_ok(pk_slot *sl, int64_t now_ms)
{
    if (now_ms - sl->flap_window_ms >= 60000) {
        if (sl->flap_events > PK_PRESENCE_LOGS_PER_MIN)
            log_warn("pack %s left or rejoined the bus %u more times in the last minute (not logged)",
                     sl->id, (unsigned)(sl->flap_events - PK_PRESENCE_LOGS_PER_MIN));
        sl->flap_window_ms = now_ms;
        sl->flap_events = 0;
    }
    return ++sl->flap_events <= PK_PRESENCE_LOGS_PER_MIN;
}

static void vanish_service(pk_bank *b, int idx, const char *why)
{
    pk_service *s = &b->svc[idx];
    int64_t now = loop_now_ms();
    if (s->state == PKS_ACTIVE && s->slot >= 0) {
        pk_slot *sl = &b->slot[s->slot];
        sl->svc = -1;
        sl->vanished_ms = now;
        sl->reported = false;
        if (presence_log_ok(sl, now))
            log_warn("pack %s (%s) %s; riding through for %.0f s", sl->id, s->name, why,
                     b->cfg->dbus.ride_through_s);
    }
    cancel_call(s);
    s->state = PKS_FREE;
    s->gen = ++b->gen;
}

/* ---- applying values ---- */

static void note_rejection(pk_bank *b, pk_slot *sl, const char *path, var_status why)
{
    sl->rejected_values++;
    b->rejected_values_total++;
    snprintf(sl->last_rejection, sizeof sl->last_rejection, "%s: %s", path, var_status_name(why));
    log_rl(&sl->rl_reject, loop_now_ms(), "pack %s (%s): rejected %s (%s)", sl->id, sl->service,
           path, var_status_name(why));
}

static void apply_decoded(pk_bank *b, pk_slot *sl, const char *path, const var_value *value)
{
    var_status why;
    var_apply_result r = var_apply_value(&sl->cur, path, value, &why);
    if (r == VAR_PATH_UNUSED)
        return;
    sl->dirty = true;
    if (r == VAR_PATH_REJECTED)
        note_rejection(b, sl, path, why);
}

static void apply_value(pk_bank *b, pk_slot *sl, const char *path, DBusMessageIter *variant)
{
    if (!var_path_used(path))
        return;   /* not worth decoding */
    var_value v;
    var_decode(variant, &v);
    apply_decoded(b, sl, path, &v);
}

/* Finds "Value" in an a{sv} dict (iterator at the array). Returns false if absent. */
static bool find_value(DBusMessageIter *dict, DBusMessageIter *value)
{
    if (dbus_message_iter_get_arg_type(dict) != DBUS_TYPE_ARRAY ||
        dbus_message_iter_get_element_type(dict) != DBUS_TYPE_DICT_ENTRY)
        return false;
    DBusMessageIter e, kv;
    dbus_message_iter_recurse(dict, &e);
    while (dbus_message_iter_get_arg_type(&e) == DBUS_TYPE_DICT_ENTRY) {
        dbus_message_iter_recurse(&e, &kv);
        if (dbus_message_iter_get_arg_type(&kv) == DBUS_TYPE_STRING) {
            const char *key;
            dbus_message_iter_get_basic(&kv, &key);
            if (strcmp(key, "Value") == 0 && dbus_message_iter_next(&kv) &&
                dbus_message_iter_get_arg_type(&kv) == DBUS_TYPE_VARIANT) {
                *value = kv;
                return true;
            }
        }
        dbus_message_iter_next(&e);
    }
    return false;
}

/* Walks an a{sa{sv}} (GetItems reply, ItemsChanged) calling fn for each path's Value
 * (only the paths var_apply reads when used_only). */
typedef void (*item_fn)(void *ctx, const char *path, DBusMessageIter *value);

static bool walk_items(DBusMessage *msg, bool used_only, item_fn fn, void *ctx)
{
    DBusMessageIter it, arr, e, v;
    if (!dbus_message_iter_init(msg, &it) || dbus_message_iter_get_arg_type(&it) != DBUS_TYPE_ARRAY ||
        dbus_message_iter_get_element_type(&it) != DBUS_TYPE_DICT_ENTRY)
        return false;
    dbus_message_iter_recurse(&it, &arr);
    while (dbus_message_iter_get_arg_type(&arr) == DBUS_TYPE_DICT_ENTRY) {
        dbus_message_iter_recurse(&arr, &e);
        if (dbus_message_iter_get_arg_type(&e) == DBUS_TYPE_STRING) {
            const char *path;
            dbus_message_iter_get_basic(&e, &path);
            /* Most entries (cells, balancing, history) are not read by the core: skip them
             * before walking into their dicts. */
            if ((!used_only || var_path_used(path)) && dbus_message_iter_next(&e) && find_value(&e, &v))
                fn(ctx, path, &v);
        }
        dbus_message_iter_next(&arr);
    }
    return true;
}

/* Walks a root GetValue reply (velib: a variant holding a{sv} keyed by paths relative to "/",
 * no leading slash) like walk_items. False when the reply has another shape. */
static bool walk_root(DBusMessage *msg, bool used_only, item_fn fn, void *ctx)
{
    DBusMessageIter it, dict, arr, e;
    if (!dbus_message_iter_init(msg, &it) || dbus_message_iter_get_arg_type(&it) != DBUS_TYPE_VARIANT)
        return false;
    dbus_message_iter_recurse(&it, &dict);
    if (dbus_message_iter_get_arg_type(&dict) != DBUS_TYPE_ARRAY ||
        dbus_message_iter_get_element_type(&dict) != DBUS_TYPE_DICT_ENTRY)
        return false;
    dbus_message_iter_recurse(&dict, &arr);
    char path[256];
    while (dbus_message_iter_get_arg_type(&arr) == DBUS_TYPE_DICT_ENTRY) {
        dbus_message_iter_recurse(&arr, &e);
        if (dbus_message_iter_get_arg_type(&e) == DBUS_TYPE_STRING) {
            const char *rel;
            dbus_message_iter_get_basic(&e, &rel);
            int n = snprintf(path, sizeof path, "/%s", rel[0] == '/' ? rel + 1 : rel);
            if (n > 0 && (size_t)n < sizeof path && (!used_only || var_path_used(path)) &&
                dbus_message_iter_next(&e) && dbus_message_iter_get_arg_type(&e) == DBUS_TYPE_VARIANT)
                fn(ctx, path, &e);
        }
        dbus_message_iter_next(&arr);
    }
    return true;
}

/* One complete reading of a service, however it was read. */
typedef struct {
    pk_read_method kind;
    DBusMessage *msg;          /* GetItems or root GetValue reply */
    DBusMessage *const *paths; /* per-path replies, indexed like read_path(); NULL = no answer */
} snapshot;

static bool walk_snapshot(const snapshot *sn, bool used_only, item_fn fn, void *ctx)
{
    if (sn->kind == PK_READ_ITEMS)
        return walk_items(sn->msg, used_only, fn, ctx);
    if (sn->kind == PK_READ_ROOT)
        return walk_root(sn->msg, used_only, fn, ctx);
    int n = n_read_paths() < PK_MAX_READ_PATHS ? n_read_paths() : PK_MAX_READ_PATHS;
    for (int k = 0; k < n; k++) {
        DBusMessageIter it;
        const char *path = read_path(k);
        if (sn->paths[k] && (!used_only || var_path_used(path)) && dbus_message_iter_init(sn->paths[k], &it))
            fn(ctx, path, &it);
    }
    return true;
}

typedef struct {
    bool has_di, has_serial, has_cvl, has_pid;
    int di, product_id;
    char serial[64];
    char product[64];
} identity;

static void identity_fn(void *ctx, const char *path, DBusMessageIter *value)
{
    identity *id = ctx;
    double d;
    if (strcmp(path, "/DeviceInstance") == 0) {
        if (var_number(value, &d) == VAR_OK && d >= 0 && d <= 1e6 && d == floor(d)) {
            id->has_di = true;
            id->di = (int)d;
        }
    } else if (strcmp(path, "/Serial") == 0) {
        if (var_string(value, id->serial, sizeof id->serial) == 0 && id->serial[0])
            id->has_serial = true;
    } else if (strcmp(path, "/Info/MaxChargeVoltage") == 0) {
        id->has_cvl = var_number(value, &d) == VAR_OK;
    } else if (strcmp(path, "/ProductId") == 0) {
        if (var_number(value, &d) == VAR_OK && d >= 0 && d <= 65535) {
            id->has_pid = true;
            id->product_id = (int)d;
        }
    } else if (strcmp(path, "/ProductName") == 0) {
        var_string(value, id->product, sizeof id->product);
    }
}

typedef struct {
    pk_bank *b;
    pk_slot *sl;
} apply_ctx;

static void apply_fn(void *ctx, const char *path, DBusMessageIter *value)
{
    apply_ctx *a = ctx;
    apply_value(a->b, a->sl, path, value);
}

static int find_slot(const pk_bank *b, const char *id)
{
    for (int k = 0; k < b->n_slots; k++)
        if (b->slot[k].used && strcmp(b->slot[k].id, id) == 0)
            return k;
    return -1;
}

/* A slot for a new identity: a gone pack's slot first (its place in the bank was given up),
 * else the next one. -1 when full. */
static int alloc_slot(pk_bank *b)
{
    for (int k = 0; k < b->n_slots; k++)
        if (b->slot[k].used && b->slot[k].gone && b->slot[k].svc < 0)
            return k;
    if (b->n_slots >= POL_MAX_PACKS)
        return -1;
    return b->n_slots++;
}

/* First answer of a probed service: decide whether it is a pack and give it a slot. */
static void adopt(pk_bank *b, int idx, const snapshot *sn)
{
    pk_service *s = &b->svc[idx];
    identity id;
    memset(&id, 0, sizeof id);
    id.di = -1;
    walk_snapshot(sn, false, identity_fn, &id);
    bool explicit_list = b->cfg->dbus.n_packs > 0;
    if (!id.has_cvl && !explicit_list) {
        /* A shunt or another non-BMS battery service; watch for its CVL becoming valid. */
        if (s->state != PKS_IGNORED)
            log_info("%s: not a BMS (no valid /Info/MaxChargeVoltage); ignored", s->name);
        s->state = PKS_IGNORED;
        return;
    }
    if (id.has_pid && !explicit_list && (id.product_id == PK_PRODUCT_ID_SELF || id.product_id == 0xBA44)) {
        /* Another aggregate (another instance of us under another name, or Dr-Gigavolt's
         * dbus-aggregate-batteries) has a CVL too: taking it as a pack would count the bank twice. */
        log_info("%s: an aggregate (ProductId 0x%X), not a pack; ignored", s->name, (unsigned)id.product_id);
        s->state = PKS_IGNORED;
        return;
    }
    char key[PK_ID_LEN];
    if (id.has_di)
        snprintf(key, sizeof key, "di:%d", id.di);
    else if (id.has_serial)
        snprintf(key, sizeof key, "serial:%s", id.serial);
    else if (explicit_list)
        snprintf(key, sizeof key, "name:%s", s->name);
    else {
        log_warn("%s: no /DeviceInstance and no /Serial; ignored (a pack must be identifiable)", s->name);
        s->state = PKS_IGNORED;
        return;
    }
    int k = find_slot(b, key);
    if (k >= 0 && b->slot[k].svc >= 0 && b->slot[k].svc != idx) {
        log_warn("%s: same identity %s as %s; ignored", s->name, key, b->slot[k].service);
        s->state = PKS_IGNORED;
        return;
    }
    bool is_new = false;
    if (k < 0) {
        k = alloc_slot(b);
        if (k < 0) {
            log_warn("%s: already %d packs; ignored", s->name, POL_MAX_PACKS);
            s->state = PKS_IGNORED;
            return;
        }
        bool reused = b->slot[k].used;
        memset(&b->slot[k], 0, sizeof b->slot[k]);
        b->slot[k].used = true;
        copy_str(b->slot[k].id, sizeof b->slot[k].id, key);
        is_new = !reused;
        log_info("pack %s found at %s (%s), slot %d%s", key, s->name, id.product[0] ? id.product : "?",
                 k, reused ? " (reusing a gone pack's slot)" : "");
    } else {
        pk_slot *sl = &b->slot[k];
        if (sl->svc < 0 && sl->vanished_ms && presence_log_ok(sl, loop_now_ms()))
            log_info("pack %s back at %s after %.1f s%s", key, s->name,
                     (double)(loop_now_ms() - sl->vanished_ms) / 1000.0,
                     sl->gone ? " (after the ride-through)" : " (within the ride-through)");
    }
    pk_slot *sl = &b->slot[k];
    sl->svc = idx;
    sl->gone = false;
    sl->vanished_ms = 0;
    sl->di = id.has_di ? id.di : -1;
    copy_str(sl->service, sizeof sl->service, s->name);
    s->state = PKS_ACTIVE;
    s->slot = k;
    if (is_new && b->on_new_slot)
        b->on_new_slot(b->on_new_slot_ctx, k);
}

/* A complete reading arrived: adopt the service if it is new, replace the pack's reading. */
static void apply_snapshot(pk_bank *b, int idx, const snapshot *sn, const char *sender)
{
    pk_service *s = &b->svc[idx];
    int64_t now = loop_now_ms();
    if (sender && !s->owner[0])
        copy_str(s->owner, sizeof s->owner, sender);
    s->last_rx_ms = now;
    if (s->state == PKS_PROBING || s->state == PKS_IGNORED)
        adopt(b, idx, sn);
    if (s->state == PKS_ACTIVE) {
        pk_slot *sl = &b->slot[s->slot];
        /* A reading is the whole truth: paths it lacks are missing, not left at old values. */
        int label = sl->di;
        rdg_clear(&sl->cur);
        sl->cur.label = label;
        apply_ctx a = {b, sl};
        if (!walk_snapshot(sn, true, apply_fn, &a))
            log_rl(&s->rl_call, now, "%s: %s reply has an unexpected shape", s->name, method_name(sn->kind));
        sl->dirty = true;
        sl->reported = true;
    }
}

/* A failed read: a starting driver is retried later, not at once. */
static void read_failed(pk_bank *b, int idx, const char *what)
{
    pk_service *s = &b->svc[idx];
    int64_t now = loop_now_ms();
    b->call_failures_total++;
    log_rl(&s->rl_call, now, "%s: %s failed: %s", s->name, method_name(s->method), what);
    if (s->state == PKS_PROBING)
        s->next_probe_ms = now + (int64_t)(b->cfg->dbus.poll_interval_s * 1000.0);
}

/* The service does not implement this way of reading (as opposed to a timeout or a busy
 * driver, which are retried the same way). */
static bool method_missing(DBusMessage *reply)
{
    return dbus_message_is_error(reply, DBUS_ERROR_UNKNOWN_METHOD) ||
           dbus_message_is_error(reply, DBUS_ERROR_UNKNOWN_INTERFACE) ||
           dbus_message_is_error(reply, DBUS_ERROR_UNKNOWN_OBJECT) ||
           dbus_message_is_error(reply, DBUS_ERROR_NOT_SUPPORTED);
}

/* Moves service idx to the next way of reading (VENUS-DBUS.md 2.2: GetItems, then GetValue on
 * "/", then GetValue per path) and reads it that way at once. */
static void fall_back(pk_bank *b, int idx, const char *why)
{
    pk_service *s = &b->svc[idx];
    pk_read_method next = s->method == PK_READ_ITEMS ? PK_READ_ROOT : PK_READ_PATHS;
    log_info("%s: %s %s; reading it by %s", s->name, method_name(s->method), why, method_name(next));
    s->method = next;
    send_read(b, idx);
}

/* Reply to GetItems or to GetValue on "/". */
static void on_read_reply(DBusPendingCall *pc, void *data)
{
    call_ref *ref = data;
    pk_bank *b = ref->b;
    DBusMessage *reply = dbus_pending_call_steal_reply(pc);
    pk_service *s = &b->svc[ref->idx];
    if (s->gen != ref->gen || s->state == PKS_FREE) {
        /* The service left while we waited. */
        if (reply)
            dbus_message_unref(reply);
        return;
    }
    if (s->pending == pc) {
        dbus_pending_call_unref(s->pending);
        s->pending = NULL;
    }
    if (!reply) {
        s->initial = false;
        return;
    }
    if (dbus_message_get_type(reply) == DBUS_MESSAGE_TYPE_ERROR) {
        if (method_missing(reply)) {
            fall_back(b, ref->idx, "is not implemented");
        } else {
            s->initial = false;   /* answered (or timed out): start-up discovery need not wait for it */
            const char *en = dbus_message_get_error_name(reply);
            read_failed(b, ref->idx, en ? en : "?");
        }
        dbus_message_unref(reply);
        return;
    }
    snapshot sn = {s->method, reply, NULL};
    if (s->method == PK_READ_ROOT) {
        /* A root GetValue that is not velib's dict of relative paths cannot be read as one. */
        DBusMessageIter it, inner;
        bool dict = dbus_message_iter_init(reply, &it) && dbus_message_iter_get_arg_type(&it) == DBUS_TYPE_VARIANT;
        if (dict) {
            dbus_message_iter_recurse(&it, &inner);
            dict = dbus_message_iter_get_arg_type(&inner) == DBUS_TYPE_ARRAY &&
                   dbus_message_iter_get_element_type(&inner) == DBUS_TYPE_DICT_ENTRY;
        }
        if (!dict) {
            fall_back(b, ref->idx, "is not a dict of paths");
            dbus_message_unref(reply);
            return;
        }
    }
    s->initial = false;
    apply_snapshot(b, ref->idx, &sn, dbus_message_get_sender(reply));
    dbus_message_unref(reply);
}

/* Reply to one GetValue of a per-path read; the reading is applied once every path has
 * answered, so the core never sees half of one. */
static void on_path_reply(DBusPendingCall *pc, void *data)
{
    call_ref *ref = data;
    pk_bank *b = ref->b;
    DBusMessage *reply = dbus_pending_call_steal_reply(pc);
    pk_service *s = &b->svc[ref->idx];
    pk_round *r = s->round;
    if (s->gen != ref->gen || s->state == PKS_FREE || !r || ref->path_k < 0 || ref->path_k >= PK_MAX_READ_PATHS) {
        if (reply)
            dbus_message_unref(reply);
        return;
    }
    for (int w = 0; w < PK_PATH_WINDOW; w++) {
        if (r->calls[w] == pc) {
            dbus_pending_call_unref(pc);
            r->calls[w] = NULL;
        }
    }
    if (reply && dbus_message_get_type(reply) == DBUS_MESSAGE_TYPE_METHOD_RETURN) {
        if (!r->sender[0] && dbus_message_get_sender(reply))
            copy_str(r->sender, sizeof r->sender, dbus_message_get_sender(reply));
        r->replies[ref->path_k] = reply;   /* kept until the reading is complete */
        r->answered++;
    } else {
        /* A path the pack does not publish (UnknownObject) is simply missing; a timeout too. */
        if (reply)
            dbus_message_unref(reply);
        r->failed++;
    }
    fill_round(b, ref->idx);
    for (int w = 0; w < PK_PATH_WINDOW; w++)
        if (r->calls[w])
            return;   /* more answers to come */
    r->active = false;
    s->initial = false;
    if (r->answered == 0) {
        read_failed(b, ref->idx, "no path answered");
        return;
    }
    r->answered = 0;
    snapshot sn = {PK_READ_PATHS, NULL, r->replies};
    apply_snapshot(b, ref->idx, &sn, r->sender[0] ? r->sender : NULL);
    for (int k = 0; k < PK_MAX_READ_PATHS; k++) {
        if (r->replies[k])
            dbus_message_unref(r->replies[k]);
        r->replies[k] = NULL;
    }
}

/* ---- signals ---- */

static void on_name_owner_changed(pk_bank *b, DBusMessage *msg)
{
    const char *name, *old_owner, *new_owner;
    if (!dbus_message_get_args(msg, NULL, DBUS_TYPE_STRING, &name, DBUS_TYPE_STRING, &old_owner,
                               DBUS_TYPE_STRING, &new_owner, DBUS_TYPE_INVALID))
        return;
    if (!is_candidate(b, name))
        return;
    int idx = find_by_name(b, name);
    if (old_owner[0] && idx >= 0)
        vanish_service(b, idx, "left the bus");
    if (new_owner[0])
        add_service(b, name, new_owner, false);
}

typedef struct {
    pk_bank *b;
    int idx;
} signal_ctx;

/* One changed value of service idx, however it was decoded. */
static void signal_value(pk_bank *b, int idx, const char *path, const var_value *value)
{
    pk_service *s = &b->svc[idx];
    if (s->state == PKS_ACTIVE) {
        apply_decoded(b, &b->slot[s->slot], path, value);
    } else if (s->state == PKS_IGNORED && strcmp(path, "/Info/MaxChargeVoltage") == 0) {
        if (value->status == VAR_OK)
            s->reprobe = true;   /* it became a BMS: look at it again at the next tick */
    }
}

static void signal_item_fn(void *ctx, const char *path, DBusMessageIter *value)
{
    signal_ctx *c = ctx;
    var_value v;
    var_decode(value, &v);
    signal_value(c->b, c->idx, path, &v);
}

static void signal_wire_fn(void *ctx, const char *path, const var_value *value)
{
    signal_ctx *c = ctx;
    signal_value(c->b, c->idx, path, value);
}

/* Routing by sender, the first and cheapest test: -1 unless `sender` is one of our services,
 * whose last_rx_ms is then refreshed (any change signal shows the pack is alive). */
static int change_signal_source(pk_bank *b, const char *sender, const char *member, bool *items)
{
    if (!member)
        return -1;
    *items = false;
    if (strcmp(member, "PropertiesChanged") != 0) {
        if (strcmp(member, "ItemsChanged") != 0)
            return -1;
        *items = true;
    }
    int idx = find_by_owner(b, sender);
    if (idx >= 0)
        b->svc[idx].last_rx_ms = loop_now_ms();
    return idx;
}

/* Most PropertiesChanged are for paths the core does not read (cells, balancing...); an ignored
 * service is watched for its CVL becoming valid. */
static bool props_path_wanted(const pk_bank *b, int idx, const char *path)
{
    return path && (var_path_used(path) || b->svc[idx].state == PKS_IGNORED);
}

/* A change signal parsed by libdbus. */
/* A PropertiesChanged of no pack on the path another module follows. Any sender: the path is
 * ours (/Settings/Devices/<our suffix>/...), and whoever could forge it could as well write
 * our writeable /CustomName directly. */
static bool watched(const pk_bank *b, const char *path)
{
    return b->watch_fn && b->watch_path && path && strcmp(path, b->watch_path) == 0;
}

static void on_change_signal(pk_bank *b, DBusMessage *msg)
{
    if (!dbus_message_has_interface(msg, BI_IFACE))
        return;
    bool items;
    int idx = change_signal_source(b, dbus_message_get_sender(msg), dbus_message_get_member(msg), &items);
    const char *path = dbus_message_get_path(msg);
    if (idx < 0) {
        DBusMessageIter it, v;
        var_value val;
        if (!items && watched(b, path) && dbus_message_iter_init(msg, &it) && find_value(&it, &v)) {
            var_decode(&v, &val);
            if (val.str)
                b->watch_fn(b->watch_ctx, val.str);
        }
        return;
    }
    signal_ctx c = {b, idx};
    if (!items) {
        DBusMessageIter it, v;
        if (props_path_wanted(b, idx, path) && dbus_message_iter_init(msg, &it) && find_value(&it, &v))
            signal_item_fn(&c, path, &v);
    } else if (path && strcmp(path, "/") == 0) {
        walk_items(msg, true, signal_item_fn, &c);
    }
}

/* A change signal straight off the signal connection (sigread.h): only its header has been
 * read, and only the values the core uses are decoded. */
static int fast_signal(void *ctx, const uint8_t *msg, const wire_header *h)
{
    pk_bank *b = ctx;
    if (!h->interface || strcmp(h->interface, BI_IFACE) != 0)
        return 0;
    bool items;
    int idx = change_signal_source(b, h->sender, h->member, &items);
    if (idx < 0) {
        var_value v;
        if (!items && watched(b, h->path) && wire_props_value(msg, h, &v) == WIRE_OK && v.str)
            b->watch_fn(b->watch_ctx, v.str);
        return 0;
    }
    signal_ctx c = {b, idx};
    if (!items) {
        var_value v;
        if (props_path_wanted(b, idx, h->path) && wire_props_value(msg, h, &v) == WIRE_OK)
            signal_value(b, idx, h->path, &v);
    } else if (h->path && strcmp(h->path, "/") == 0) {
        wire_items(msg, h, var_path_used, signal_wire_fn, &c);
    }
    return 0;
}

static void slow_signal(void *ctx, DBusMessage *msg)
{
    on_change_signal(ctx, msg);
}

static DBusHandlerResult filter(DBusConnection *conn, DBusMessage *msg, void *data)
{
    (void)conn;
    pk_bank *b = data;
    if (dbus_message_get_type(msg) != DBUS_MESSAGE_TYPE_SIGNAL)
        return DBUS_HANDLER_RESULT_NOT_YET_HANDLED;
    if (dbus_message_is_signal(msg, DBUS_INTERFACE_DBUS, "NameOwnerChanged"))
        on_name_owner_changed(b, msg);
    else if (b->sig_conn == b->conn)
        on_change_signal(b, msg);   /* one connection: the change signals come this way */
    return DBUS_HANDLER_RESULT_NOT_YET_HANDLED;   /* the settings module wants NameOwnerChanged too */
}

static void on_list_names(DBusPendingCall *pc, void *data)
{
    pk_bank *b = data;
    DBusMessage *reply = dbus_pending_call_steal_reply(pc);
    dbus_pending_call_unref(pc);
    b->listed = true;
    if (!reply)
        return;
    DBusMessageIter it, arr;
    if (dbus_message_get_type(reply) == DBUS_MESSAGE_TYPE_METHOD_RETURN && dbus_message_iter_init(reply, &it) &&
        dbus_message_iter_get_arg_type(&it) == DBUS_TYPE_ARRAY) {
        dbus_message_iter_recurse(&it, &arr);
        while (dbus_message_iter_get_arg_type(&arr) == DBUS_TYPE_STRING) {
            const char *name;
            dbus_message_iter_get_basic(&arr, &name);
            if (is_candidate(b, name) && find_by_name(b, name) < 0)
                add_service(b, name, NULL, true);
            dbus_message_iter_next(&arr);
        }
    } else {
        log_err("ListNames failed; relying on NameOwnerChanged");
    }
    dbus_message_unref(reply);
}

/* One bus-wide rule per signal type, as Victron's dbusmonitor.py subscribes (VENUS-DBUS.md §2.2,
 * §6): a fixed set, independent of the number of packs and of the paths they publish (Venus caps
 * match rules per connection at 1024), routed by sender. */
static const char *const change_rules[] = {
    "type='signal',interface='" BI_IFACE "',member='PropertiesChanged'",
    "type='signal',interface='" BI_IFACE "',member='ItemsChanged',path='/'",
    NULL,
};

int pk_start(pk_bank *b)
{
    if (!dbus_connection_add_filter(b->conn, filter, b, NULL))
        return -1;
    /* NULL error: sent without waiting for the reply. */
    dbus_bus_add_match(b->conn, "type='signal',sender='org.freedesktop.DBus',interface='org.freedesktop.DBus',"
                                "member='NameOwnerChanged'", NULL);
    if (b->sig_conn == b->conn) {
        for (int k = 0; change_rules[k]; k++)
            dbus_bus_add_match(b->conn, change_rules[k], NULL);
    } else {
        /* The change signals go to the second connection, read by sigread.c just before each
         * tick: most of what the bus-wide rules deliver (cell voltages, balancing flags, other
         * services' changes) is dropped after a look at its header. Replies stay on the first
         * connection, so a reply never waits behind signals. */
        sr_handlers h = {fast_signal, slow_signal, b};
        if (sr_open(&b->reader, b->sig_conn, change_rules, &h) != 0)
            return -1;
        b->reader_open = true;
    }

    DBusMessage *m = dbus_message_new_method_call(DBUS_SERVICE_DBUS, DBUS_PATH_DBUS, DBUS_INTERFACE_DBUS,
                                                  "ListNames");
    DBusPendingCall *pc = NULL;
    if (!m || !dbus_connection_send_with_reply(b->conn, m, &pc, b->cfg->dbus.call_timeout_ms) || !pc) {
        if (m)
            dbus_message_unref(m);
        return -1;
    }
    dbus_message_unref(m);
    if (!dbus_pending_call_set_notify(pc, on_list_names, b, NULL))
        return -1;
    return 0;
}

int pk_read_signals(pk_bank *b)
{
    return b->reader_open ? sr_drain(&b->reader) : 0;
}

void pk_close(pk_bank *b)
{
    if (b->reader_open)
        sr_close(&b->reader);
    b->reader_open = false;
}

void pk_tick(pk_bank *b, int64_t now_ms)
{
    int64_t poll_ms = (int64_t)(b->cfg->dbus.poll_interval_s * 1000.0);
    int64_t ride_ms = (int64_t)(b->cfg->dbus.ride_through_s * 1000.0);
    for (int k = 0; k < PK_MAX_SERVICES; k++) {
        pk_service *s = &b->svc[k];
        if (reading(s))
            continue;
        if (s->state == PKS_ACTIVE && now_ms - s->last_rx_ms >= poll_ms) {
            /* Silent for a poll interval: ask, the way that worked. A hung pack's call times out
             * on its own. */
            send_read(b, k);
        } else if (s->state == PKS_PROBING && now_ms >= s->next_probe_ms) {
            send_read(b, k);
        } else if (s->state == PKS_IGNORED && s->reprobe) {
            s->reprobe = false;
            send_read(b, k);
        }
    }
    for (int k = 0; k < b->n_slots; k++) {
        pk_slot *sl = &b->slot[k];
        if (sl->used && sl->svc < 0 && !sl->gone && sl->vanished_ms &&
            now_ms - sl->vanished_ms > ride_ms) {
            sl->gone = true;
            log_warn("pack %s (%s) gone: absent for more than %.0f s; the bank stays short of it",
                     sl->id, sl->service, b->cfg->dbus.ride_through_s);
        }
    }
}

int pk_collect(pk_bank *b, rdg_reading *out)
{
    for (int k = 0; k < b->n_slots; k++) {
        pk_slot *sl = &b->slot[k];
        out[k] = sl->cur;
        out[k].fresh = sl->used && sl->dirty && sl->svc >= 0;
        sl->dirty = false;
    }
    return b->n_slots;
}

bool pk_discovery_done(const pk_bank *b)
{
    if (!b->listed)
        return false;
    for (int k = 0; k < PK_MAX_SERVICES; k++)
        if (b->svc[k].state != PKS_FREE && b->svc[k].initial)
            return false;
    return true;
}

int pk_n_probing(const pk_bank *b)
{
    int n = 0;
    for (int k = 0; k < PK_MAX_SERVICES; k++)
        if (b->svc[k].state == PKS_PROBING)
            n++;
    return n;
}

int pk_n_reported(const pk_bank *b)
{
    int n = 0;
    for (int k = 0; k < b->n_slots; k++)
        if (b->slot[k].used && b->slot[k].reported)
            n++;
    return n;
}

const char *pk_presence(const pk_bank *b, int slot)
{
    if (slot < 0 || slot >= b->n_slots || !b->slot[slot].used)
        return "unused";
    const pk_slot *sl = &b->slot[slot];
    if (sl->svc >= 0)
        return "present";
    return sl->gone ? "gone" : "absent";
}
