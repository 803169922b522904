/* Publishing a tree of com.victronenergy.BusItem paths exactly as Victron's velib does. */
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "busitem.h"
#include "log.h"
#include "loop.h"
#include "wire.h"

typedef enum { BI_T_INVALID = 0, BI_T_INT, BI_T_DOUBLE, BI_T_STRING } bi_type;

struct bi_item {
    char *path;
    bi_type type;
    int32_t i;
    double d;
    char *s;
    const char *unit;
    int decimals;
    bool hex;
    bool changed;
    bi_write_fn write;
    void *write_ctx;
};

struct bi_service {
    DBusConnection *conn;
    bi_item **items;   /* sorted by path (strcmp), so a subtree is one contiguous run */
    size_t n, cap;
    bool registered, live;
    wire_out out, batch_body;   /* a tick's change signals, written by us (bi_flush) */
    uint32_t raw_serial;
};

bi_service *bi_new(DBusConnection *conn)
{
    bi_service *s = calloc(1, sizeof *s);
    if (s)
        s->conn = conn;
    return s;
}

void bi_free(bi_service *s)
{
    if (!s)
        return;
    if (s->registered)
        dbus_connection_unregister_object_path(s->conn, "/");
    for (size_t k = 0; k < s->n; k++) {
        free(s->items[k]->path);
        free(s->items[k]->s);
        free(s->items[k]);
    }
    free(s->items);
    wire_out_free(&s->out);
    wire_out_free(&s->batch_body);
    free(s);
}

/* Index of the first item whose path is >= key. */
static size_t lower_bound(const bi_service *s, const char *key)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(s->items[mid]->path, key) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

bi_item *bi_find(bi_service *s, const char *path)
{
    size_t k = lower_bound(s, path);
    return k < s->n && strcmp(s->items[k]->path, path) == 0 ? s->items[k] : NULL;
}

bi_item *bi_add(bi_service *s, const char *path, const char *unit, int decimals)
{
    if (!path || path[0] != '/' || path[1] == '\0' || !dbus_validate_path(path, NULL))
        return NULL;
    bi_item *it = bi_find(s, path);
    if (it)
        return it;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        bi_item **n = realloc(s->items, cap * sizeof *n);
        if (!n)
            return NULL;
        s->items = n;
        s->cap = cap;
    }
    it = calloc(1, sizeof *it);
    if (!it)
        return NULL;
    it->path = strdup(path);
    if (!it->path) {
        free(it);
        return NULL;
    }
    it->unit = unit;
    it->decimals = decimals;
    /* A new path is announced by the next ItemsChanged, as velib's add_path does after
     * registration. */
    it->changed = true;
    size_t k = lower_bound(s, path);
    memmove(&s->items[k + 1], &s->items[k], (s->n - k) * sizeof *s->items);
    s->items[k] = it;
    s->n++;
    return it;
}

void bi_set_writer(bi_item *it, bi_write_fn fn, void *ctx)
{
    it->write = fn;
    it->write_ctx = ctx;
}

void bi_set_hex_text(bi_item *it, bool hex) { it->hex = hex; }
const char *bi_path(const bi_item *it) { return it->path; }
const char *bi_get_string(const bi_item *it) { return it->type == BI_T_STRING ? it->s : NULL; }

/* The owning service is not reachable from an item; changes are counted lazily in bi_flush. */
static void mark(bi_item *it)
{
    it->changed = true;
}

void bi_set_invalid(bi_item *it)
{
    if (it->type == BI_T_INVALID)
        return;
    free(it->s);
    it->s = NULL;
    it->type = BI_T_INVALID;
    mark(it);
}

void bi_set_int(bi_item *it, int32_t v)
{
    if (it->type == BI_T_INT && it->i == v)
        return;
    free(it->s);
    it->s = NULL;
    it->type = BI_T_INT;
    it->i = v;
    mark(it);
}

void bi_set_double(bi_item *it, double v)
{
    if (!isfinite(v)) {
        bi_set_invalid(it);
        return;
    }
    if (it->decimals >= 0 && it->decimals <= 6) {
        double scale = pow(10.0, it->decimals);
        v = round(v * scale) / scale;
        if (v == 0.0)
            v = 0.0;   /* no "-0.0" text */
    }
    if (it->type == BI_T_DOUBLE && it->d == v)
        return;
    free(it->s);
    it->s = NULL;
    it->type = BI_T_DOUBLE;
    it->d = v;
    mark(it);
}

void bi_set_string(bi_item *it, const char *v)
{
    if (!v)
        v = "";
    if (it->type == BI_T_STRING && strcmp(it->s, v) == 0)
        return;
    char *copy = strdup(v);
    if (!copy)
        return;
    free(it->s);
    it->s = copy;
    it->type = BI_T_STRING;
    mark(it);
}

/* ---- marshalling ---- */

static bool append_value(DBusMessageIter *it, const bi_item *item)
{
    DBusMessageIter var, arr;
    switch (item->type) {
    case BI_T_INT:
        return dbus_message_iter_open_container(it, DBUS_TYPE_VARIANT, "i", &var) &&
               dbus_message_iter_append_basic(&var, DBUS_TYPE_INT32, &item->i) &&
               dbus_message_iter_close_container(it, &var);
    case BI_T_DOUBLE:
        return dbus_message_iter_open_container(it, DBUS_TYPE_VARIANT, "d", &var) &&
               dbus_message_iter_append_basic(&var, DBUS_TYPE_DOUBLE, &item->d) &&
               dbus_message_iter_close_container(it, &var);
    case BI_T_STRING: {
        const char *str = item->s;
        return dbus_message_iter_open_container(it, DBUS_TYPE_VARIANT, "s", &var) &&
               dbus_message_iter_append_basic(&var, DBUS_TYPE_STRING, &str) &&
               dbus_message_iter_close_container(it, &var);
    }
    default:
        /* velib's invalid: an empty int32 array (ve_utils.VEDBUS_INVALID). */
        return dbus_message_iter_open_container(it, DBUS_TYPE_VARIANT, "ai", &var) &&
               dbus_message_iter_open_container(&var, DBUS_TYPE_ARRAY, "i", &arr) &&
               dbus_message_iter_close_container(&var, &arr) &&
               dbus_message_iter_close_container(it, &var);
    }
}

static void format_text(const bi_item *item, char *buf, size_t len)
{
    const char *unit = item->unit ? item->unit : "";
    switch (item->type) {
    case BI_T_INT:
        if (item->hex)
            snprintf(buf, len, "0x%X", (unsigned)item->i);
        else
            snprintf(buf, len, "%ld%s", (long)item->i, unit);
        break;
    case BI_T_DOUBLE:
        snprintf(buf, len, "%.*f%s", item->decimals >= 0 && item->decimals <= 6 ? item->decimals : 3,
                 item->d, unit);
        break;
    case BI_T_STRING:
        snprintf(buf, len, "%s", item->s);
        break;
    default:
        snprintf(buf, len, "---");
        break;
    }
}

static bool append_text(DBusMessageIter *it, const bi_item *item, bool as_variant)
{
    char buf[256];
    const char *p = buf;
    format_text(item, buf, sizeof buf);
    if (!as_variant)
        return dbus_message_iter_append_basic(it, DBUS_TYPE_STRING, &p);
    DBusMessageIter var;
    return dbus_message_iter_open_container(it, DBUS_TYPE_VARIANT, "s", &var) &&
           dbus_message_iter_append_basic(&var, DBUS_TYPE_STRING, &p) &&
           dbus_message_iter_close_container(it, &var);
}

/* {"Value": v, "Text": v(s)}: the shape of GetItems entries and of both change signals. */
static bool append_value_text_dict(DBusMessageIter *it, const bi_item *item)
{
    DBusMessageIter dict, e;
    const char *kv = "Value", *kt = "Text";
    return dbus_message_iter_open_container(it, DBUS_TYPE_ARRAY, "{sv}", &dict) &&
           dbus_message_iter_open_container(&dict, DBUS_TYPE_DICT_ENTRY, NULL, &e) &&
           dbus_message_iter_append_basic(&e, DBUS_TYPE_STRING, &kv) && append_value(&e, item) &&
           dbus_message_iter_close_container(&dict, &e) &&
           dbus_message_iter_open_container(&dict, DBUS_TYPE_DICT_ENTRY, NULL, &e) &&
           dbus_message_iter_append_basic(&e, DBUS_TYPE_STRING, &kt) && append_text(&e, item, true) &&
           dbus_message_iter_close_container(&dict, &e) &&
           dbus_message_iter_close_container(it, &dict);
}

/* The run [*first, *last) of items strictly below node `path` ("/" = everything). */
static void subtree(const bi_service *s, const char *path, size_t *first, size_t *last, size_t *prefix_len)
{
    if (strcmp(path, "/") == 0) {
        *first = 0;
        *last = s->n;
        *prefix_len = 1;
        return;
    }
    char key[512];
    int n = snprintf(key, sizeof key, "%s/", path);
    if (n < 0 || (size_t)n >= sizeof key) {
        *first = *last = 0;
        *prefix_len = 0;
        return;
    }
    size_t k = lower_bound(s, key), e = k;
    while (e < s->n && strncmp(s->items[e]->path, key, (size_t)n) == 0)
        e++;
    *first = k;
    *last = e;
    *prefix_len = (size_t)n;
}

/* ---- method handling ---- */

static DBusMessage *node_get(const bi_service *s, DBusMessage *msg, size_t first, size_t last,
                             size_t plen, bool text)
{
    DBusMessage *r = dbus_message_new_method_return(msg);
    if (!r)
        return NULL;
    DBusMessageIter it, outer, dict, e;
    dbus_message_iter_init_append(r, &it);
    /* velib (VeDbusTreeExport): both return a variant, holding a{sv} (GetValue) or a{ss}
     * (GetText) keyed by paths relative to the node. */
    bool ok = dbus_message_iter_open_container(&it, DBUS_TYPE_VARIANT, text ? "a{ss}" : "a{sv}", &outer) &&
              dbus_message_iter_open_container(&outer, DBUS_TYPE_ARRAY, text ? "{ss}" : "{sv}", &dict);
    for (size_t k = first; ok && k < last; k++) {
        const char *rel = s->items[k]->path + plen;
        ok = dbus_message_iter_open_container(&dict, DBUS_TYPE_DICT_ENTRY, NULL, &e) &&
             dbus_message_iter_append_basic(&e, DBUS_TYPE_STRING, &rel) &&
             (text ? append_text(&e, s->items[k], false) : append_value(&e, s->items[k])) &&
             dbus_message_iter_close_container(&dict, &e);
    }
    if (ok)
        ok = dbus_message_iter_close_container(&outer, &dict) && dbus_message_iter_close_container(&it, &outer);
    if (!ok) {
        dbus_message_unref(r);
        return NULL;
    }
    return r;
}

static DBusMessage *get_items(const bi_service *s, DBusMessage *msg)
{
    DBusMessage *r = dbus_message_new_method_return(msg);
    if (!r)
        return NULL;
    DBusMessageIter it, dict, e;
    dbus_message_iter_init_append(r, &it);
    bool ok = dbus_message_iter_open_container(&it, DBUS_TYPE_ARRAY, "{sa{sv}}", &dict);
    for (size_t k = 0; ok && k < s->n; k++) {
        const char *p = s->items[k]->path;
        ok = dbus_message_iter_open_container(&dict, DBUS_TYPE_DICT_ENTRY, NULL, &e) &&
             dbus_message_iter_append_basic(&e, DBUS_TYPE_STRING, &p) &&
             append_value_text_dict(&e, s->items[k]) &&
             dbus_message_iter_close_container(&dict, &e);
    }
    if (!ok || !dbus_message_iter_close_container(&it, &dict)) {
        dbus_message_unref(r);
        return NULL;
    }
    return r;
}

static DBusMessage *introspect(const bi_service *s, DBusMessage *msg, const char *path,
                               bool is_item, size_t first, size_t last, size_t plen)
{
    size_t cap = 4096, len = 0;
    char *xml = malloc(cap);
    if (!xml)
        return NULL;
#define ADD(str) do { \
        size_t l_ = strlen(str); \
        if (len + l_ + 1 > cap) { \
            size_t c_ = (len + l_ + 1) * 2; char *n_ = realloc(xml, c_); \
            if (!n_) { free(xml); return NULL; } xml = n_; cap = c_; } \
        memcpy(xml + len, str, l_); len += l_; xml[len] = '\0'; } while (0)
    ADD(DBUS_INTROSPECT_1_0_XML_DOCTYPE_DECL_NODE "<node>\n"
        " <interface name=\"org.freedesktop.DBus.Introspectable\">\n"
        "  <method name=\"Introspect\"><arg direction=\"out\" type=\"s\"/></method>\n"
        " </interface>\n"
        " <interface name=\"" BI_IFACE "\">\n"
        "  <method name=\"GetValue\"><arg direction=\"out\" type=\"v\"/></method>\n");
    /* velib: an item's text is a string, a node's a variant dict of relative path -> text. */
    if (is_item)
        ADD("  <method name=\"GetText\"><arg direction=\"out\" type=\"s\"/></method>\n");
    else
        ADD("  <method name=\"GetText\"><arg direction=\"out\" type=\"v\"/></method>\n");
    if (is_item)
        ADD("  <method name=\"SetValue\"><arg direction=\"in\" type=\"v\"/><arg direction=\"out\" type=\"i\"/></method>\n"
            "  <method name=\"GetDescription\"><arg direction=\"in\" type=\"s\"/><arg direction=\"in\" type=\"i\"/>"
            "<arg direction=\"out\" type=\"s\"/></method>\n"
            "  <signal name=\"PropertiesChanged\"><arg type=\"a{sv}\"/></signal>\n");
    if (strcmp(path, "/") == 0)
        ADD("  <method name=\"GetItems\"><arg direction=\"out\" type=\"a{sa{sv}}\"/></method>\n"
            "  <signal name=\"ItemsChanged\"><arg type=\"a{sa{sv}}\"/></signal>\n");
    ADD(" </interface>\n");
    char last_child[256] = "";
    for (size_t k = first; k < last; k++) {
        const char *rel = s->items[k]->path + plen;
        size_t seg = strcspn(rel, "/");
        if (seg == 0 || seg >= sizeof last_child)
            continue;
        if (strncmp(last_child, rel, seg) == 0 && last_child[seg] == '\0')
            continue;
        memcpy(last_child, rel, seg);
        last_child[seg] = '\0';
        ADD(" <node name=\"");
        ADD(last_child);
        ADD("\"/>\n");
    }
    ADD("</node>\n");
#undef ADD
    DBusMessage *r = dbus_message_new_method_return(msg);
    const char *p = xml;
    if (r && !dbus_message_append_args(r, DBUS_TYPE_STRING, &p, DBUS_TYPE_INVALID)) {
        dbus_message_unref(r);
        r = NULL;
    }
    free(xml);
    return r;
}

static DBusMessage *set_value(bi_service *s, bi_item *item, DBusMessage *msg)
{
    (void)s;
    dbus_int32_t rc = 1;   /* velib: 1 = not writeable */
    DBusMessageIter it, inner;
    /* Exactly one variant: velib (dbus-python) refuses a call with extra arguments. */
    if (item->write && dbus_message_has_signature(msg, DBUS_TYPE_VARIANT_AS_STRING) &&
        dbus_message_iter_init(msg, &it)) {
        dbus_message_iter_recurse(&it, &inner);
        rc = item->write(item->write_ctx, item, &inner);
    }
    DBusMessage *r = dbus_message_new_method_return(msg);
    if (r && !dbus_message_append_args(r, DBUS_TYPE_INT32, &rc, DBUS_TYPE_INVALID)) {
        dbus_message_unref(r);
        r = NULL;
    }
    return r;
}

static DBusHandlerResult handle(DBusConnection *conn, DBusMessage *msg, void *data)
{
    bi_service *s = data;
    if (dbus_message_get_type(msg) != DBUS_MESSAGE_TYPE_METHOD_CALL)
        return DBUS_HANDLER_RESULT_NOT_YET_HANDLED;
    const char *path = dbus_message_get_path(msg);
    const char *iface = dbus_message_get_interface(msg);
    const char *member = dbus_message_get_member(msg);
    if (!path || !member)
        return DBUS_HANDLER_RESULT_NOT_YET_HANDLED;

    bi_item *item = bi_find(s, path);
    size_t first = 0, last = 0, plen = 0;
    if (!item)
        subtree(s, path, &first, &last, &plen);
    bool is_root = strcmp(path, "/") == 0;
    bool is_node = !item && (last > first || is_root);

    DBusMessage *reply = NULL;
    bool handled = true;
    if (!item && !is_node) {
        reply = dbus_message_new_error_printf(msg, DBUS_ERROR_UNKNOWN_OBJECT, "No such path %s", path);
    } else if (iface && strcmp(iface, DBUS_INTERFACE_INTROSPECTABLE) == 0) {
        if (strcmp(member, "Introspect") == 0)
            reply = introspect(s, msg, path, item != NULL, first, last, plen);
        else
            handled = false;
    } else if (iface && strcmp(iface, BI_IFACE) != 0) {
        handled = false;
    } else if (strcmp(member, "GetValue") == 0) {
        if (item) {
            reply = dbus_message_new_method_return(msg);
            DBusMessageIter it;
            if (reply) {
                dbus_message_iter_init_append(reply, &it);
                if (!append_value(&it, item)) {
                    dbus_message_unref(reply);
                    reply = NULL;
                }
            }
        } else {
            reply = node_get(s, msg, first, last, plen, false);
        }
    } else if (strcmp(member, "GetText") == 0) {
        if (item) {
            reply = dbus_message_new_method_return(msg);
            DBusMessageIter it;
            if (reply) {
                dbus_message_iter_init_append(reply, &it);
                if (!append_text(&it, item, false)) {
                    dbus_message_unref(reply);
                    reply = NULL;
                }
            }
        } else {
            reply = node_get(s, msg, first, last, plen, true);
        }
    } else if (strcmp(member, "SetValue") == 0 && item) {
        reply = set_value(s, item, msg);
    } else if (strcmp(member, "GetDescription") == 0 && item) {
        const char *empty = "No description given";   /* velib's answer without a description */
        reply = dbus_message_new_method_return(msg);
        if (reply && !dbus_message_append_args(reply, DBUS_TYPE_STRING, &empty, DBUS_TYPE_INVALID)) {
            dbus_message_unref(reply);
            reply = NULL;
        }
    } else if (strcmp(member, "GetItems") == 0 && is_root) {
        reply = get_items(s, msg);
    } else {
        handled = false;
    }
    if (!handled) {
        reply = dbus_message_new_error_printf(msg, DBUS_ERROR_UNKNOWN_METHOD, "No method %s.%s on %s",
                                              iface ? iface : "", member, path);
    }
    if (!reply)
        return DBUS_HANDLER_RESULT_NEED_MEMORY;
    dbus_connection_send(conn, reply, NULL);
    dbus_message_unref(reply);
    return DBUS_HANDLER_RESULT_HANDLED;
}

static const DBusObjectPathVTable vtable = {.message_function = handle};

int bi_register(bi_service *s)
{
    if (s->registered)
        return 0;
    if (!dbus_connection_register_fallback(s->conn, "/", &vtable, s))
        return -1;
    s->registered = true;
    return 0;
}

void bi_set_live(bi_service *s, bool live)
{
    s->live = live;
}

/* {"Value": v, "Text": s} as wire.c bytes (append_value_text_dict's shape). */
static void raw_value_text(wire_out *o, const bi_item *item, const char *text)
{
    wire_array dict = wire_open_array(o, 8);
    wire_pad(o, 8);
    wire_put_string(o, "Value");
    switch (item->type) {
    case BI_T_INT:
        wire_put_signature(o, "i");
        wire_put_i32(o, item->i);
        break;
    case BI_T_DOUBLE:
        wire_put_signature(o, "d");
        wire_put_double(o, item->d);
        break;
    case BI_T_STRING:
        wire_put_signature(o, "s");
        wire_put_string(o, item->s);
        break;
    default:
        wire_put_signature(o, "ai");
        wire_close_array(o, wire_open_array(o, 4));
        break;
    }
    wire_pad(o, 8);
    wire_put_string(o, "Text");
    wire_put_signature(o, "s");
    wire_put_string(o, text);
    wire_close_array(o, dict);
}

/* Writes the tick's changes with one send() on our connection's socket: libdbus would build each
 * message through its type writers and send each with its own sendmsg() (together most of the
 * daemon's remaining CPU time). Only when libdbus has nothing queued, so whole messages never
 * interleave; our serials come from the top half, far from libdbus' (signals get no replies).
 * 0 when sent, -1 to use libdbus instead (nothing was written). */
static int raw_flush(bi_service *s)
{
    int fd;
    if (!dbus_connection_get_socket(s->conn, &fd) || dbus_connection_has_messages_to_send(s->conn))
        return -1;
    wire_out *o = &s->out, *ib = &s->batch_body;
    wire_out_reset(o);
    wire_out_reset(ib);
    wire_array all = wire_open_array(ib, 8);
    char text[256];
    for (size_t k = 0; k < s->n; k++) {
        const bi_item *item = s->items[k];
        if (!item->changed)
            continue;
        format_text(item, text, sizeof text);   /* once for both signals */
        s->raw_serial = wire_next_own_serial(s->raw_serial);
        wire_begin_signal(o, s->raw_serial, item->path, BI_IFACE, "PropertiesChanged", "a{sv}");
        raw_value_text(o, item, text);
        wire_end_message(o);
        wire_pad(ib, 8);
        wire_put_string(ib, item->path);
        raw_value_text(ib, item, text);
    }
    wire_close_array(ib, all);
    s->raw_serial = wire_next_own_serial(s->raw_serial);
    wire_begin_signal(o, s->raw_serial, "/", BI_IFACE, "ItemsChanged", "a{sa{sv}}");
    wire_put_bytes(o, ib->buf, ib->failed ? 0 : ib->len);
    wire_end_message(o);
    if (o->failed || ib->failed)
        return -1;
    size_t off = 0;
    for (int waits = 0; off < o->len;) {
        ssize_t w = send(fd, o->buf + off, o->len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w > 0) {
            off += (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (off == 0 && w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return -1;   /* the bus is behind: libdbus queues them instead */
        /* Part of a message is out: it must be finished before anything else is written. The
         * bus reads its clients at once, so this is at most a short wait. */
        struct pollfd p = {fd, POLLOUT, 0};
        if ((w < 0 && errno != EAGAIN && errno != EWOULDBLOCK) || ++waits > 10 || poll(&p, 1, 100) < 0) {
            log_err("cannot write our change signals to the bus: leaving");
            loop_stop(1);
            break;
        }
    }
    for (size_t k = 0; k < s->n; k++)
        s->items[k]->changed = false;
    return 0;
}

int bi_flush(bi_service *s)
{
    int changed = 0;
    for (size_t k = 0; k < s->n; k++)
        if (s->items[k]->changed)
            changed++;
    if (changed == 0)
        return 0;
    if (!s->live) {
        /* Nobody can be watching yet; GetItems will give the full state once the name is ours. */
        for (size_t k = 0; k < s->n; k++)
            s->items[k]->changed = false;
        return changed;
    }
    if (raw_flush(s) == 0)
        return changed;
    DBusMessage *batch = dbus_message_new_signal("/", BI_IFACE, "ItemsChanged");
    DBusMessageIter bit, bdict, e;
    bool ok = batch != NULL;
    if (ok) {
        dbus_message_iter_init_append(batch, &bit);
        ok = dbus_message_iter_open_container(&bit, DBUS_TYPE_ARRAY, "{sa{sv}}", &bdict);
    }
    for (size_t k = 0; k < s->n; k++) {
        bi_item *item = s->items[k];
        if (!item->changed)
            continue;
        item->changed = false;
        DBusMessage *sig = dbus_message_new_signal(item->path, BI_IFACE, "PropertiesChanged");
        if (sig) {
            DBusMessageIter it;
            dbus_message_iter_init_append(sig, &it);
            if (append_value_text_dict(&it, item))
                dbus_connection_send(s->conn, sig, NULL);
            dbus_message_unref(sig);
        }
        if (ok) {
            const char *p = item->path;
            ok = dbus_message_iter_open_container(&bdict, DBUS_TYPE_DICT_ENTRY, NULL, &e) &&
                 dbus_message_iter_append_basic(&e, DBUS_TYPE_STRING, &p) &&
                 append_value_text_dict(&e, item) &&
                 dbus_message_iter_close_container(&bdict, &e);
        }
    }
    if (ok && dbus_message_iter_close_container(&bit, &bdict))
        dbus_connection_send(s->conn, batch, NULL);
    else
        log_warn("out of memory building ItemsChanged");
    if (batch)
        dbus_message_unref(batch);
    return changed;
}

void bi_print(const bi_service *s, FILE *f)
{
    char buf[256];
    for (size_t k = 0; k < s->n; k++) {
        format_text(s->items[k], buf, sizeof buf);
        fprintf(f, "%s = %s\n", s->items[k]->path, buf);
    }
}
