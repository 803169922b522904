/* Fuzz harness for daemon/wire.c: raw bytes as the signal reader takes them off the socket; where libdbus accepts a message, wire.c must read it as libdbus does. */
#include <dbus/dbus.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "variant.h"
#include "wire.h"

/* Entries of an ItemsChanged / GetItems body, as wire_items delivers them. */
#define MAX_ITEMS 64

typedef struct {
    int n;
    char path[MAX_ITEMS][128];
    var_value value[MAX_ITEMS];
    char str[MAX_ITEMS][128];
    bool str_cut[MAX_ITEMS];
} items;

static int want_all(const char *path)
{
    (void)path;
    return 1;
}

static void keep(items *it, int k, const char *path, const var_value *v)
{
    /* Everything handed out must be readable: strlen walks it under ASan. */
    size_t pl = strlen(path);
    snprintf(it->path[k], sizeof it->path[k], "%s", path);
    it->value[k] = *v;
    it->str_cut[k] = false;
    if (v->str) {
        size_t sl = strlen(v->str);
        it->str_cut[k] = sl >= sizeof it->str[k];
        snprintf(it->str[k], sizeof it->str[k], "%s", v->str);
    }
    (void)pl;
}

static void on_item(void *ctx, const char *path, const var_value *v)
{
    items *it = ctx;
    if (it->n < MAX_ITEMS)
        keep(it, it->n, path, v);
    it->n++;
}

static bool same_value(const var_value *a, const char *a_str, const var_value *b)
{
    if (a->status != b->status)
        return false;
    if (a->status == VAR_OK && memcmp(&a->num, &b->num, sizeof a->num) != 0)
        return false;
    if ((a_str != NULL) != (b->str != NULL))
        return false;
    return !a_str || strncmp(a_str, b->str, 127) == 0;
}

static bool same_str(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* The "Value" of an a{sv} dict through libdbus and var_decode; false when there is none. */
static bool libdbus_props_value(DBusMessageIter *dict, var_value *out)
{
    while (dbus_message_iter_get_arg_type(dict) == DBUS_TYPE_DICT_ENTRY) {
        DBusMessageIter e;
        dbus_message_iter_recurse(dict, &e);
        const char *key = NULL;
        dbus_message_iter_get_basic(&e, &key);
        dbus_message_iter_next(&e);
        if (strcmp(key, "Value") == 0) {
            var_decode(&e, out);
            return true;
        }
        dbus_message_iter_next(dict);
    }
    return false;
}

static void check_message(const uint8_t *msg, size_t total)
{
    wire_header h;
    wire_rc rc = wire_parse_header(msg, total, &h);
    DBusError err;
    dbus_error_init(&err);
    DBusMessage *m = dbus_message_demarshal((const char *)msg, (int)total, &err);
    dbus_error_free(&err);
    const uint16_t one = 1;
    bool native = msg[0] == (*(const uint8_t *)&one == 1 ? DBUS_LITTLE_ENDIAN : DBUS_BIG_ENDIAN);
    if (m && native) {
        /* A message libdbus accepts: the same header, field by field. */
        FUZZ_CHECK(rc == WIRE_OK);
        FUZZ_CHECK(h.type == dbus_message_get_type(m));
        FUZZ_CHECK(h.serial == dbus_message_get_serial(m));
        FUZZ_CHECK(same_str(h.path, dbus_message_get_path(m)));
        FUZZ_CHECK(same_str(h.interface, dbus_message_get_interface(m)));
        FUZZ_CHECK(same_str(h.member, dbus_message_get_member(m)));
        FUZZ_CHECK(same_str(h.sender, dbus_message_get_sender(m)));
        const char *sig = dbus_message_get_signature(m);
        FUZZ_CHECK(h.signature ? strcmp(h.signature, sig) == 0 : sig[0] == '\0');
    }
    if (rc == WIRE_OK) {
        /* Whatever the bytes, the decoders stay inside them (ASan) and hand out readable strings. */
        var_value v;
        wire_rc pv = wire_props_value(msg, &h, &v);
        if (pv == WIRE_OK && v.str)
            FUZZ_CHECK(strlen(v.str) < total);
        static items got;
        got.n = 0;
        wire_rc iv = wire_items(msg, &h, want_all, on_item, &got);
        if (m && native && h.signature && strcmp(h.signature, "a{sv}") == 0) {
            DBusMessageIter it, dict;
            dbus_message_iter_init(m, &it);
            dbus_message_iter_recurse(&it, &dict);
            var_value lv;
            if (libdbus_props_value(&dict, &lv)) {
                FUZZ_CHECK(pv == WIRE_OK);
                FUZZ_CHECK(same_value(&lv, lv.str, &v));
            } else {
                FUZZ_CHECK(pv == WIRE_MORE);
            }
        }
        if (m && native && h.signature && strcmp(h.signature, "a{sa{sv}}") == 0) {
            /* Entry by entry, in order; entries without a "Value" are not delivered. */
            FUZZ_CHECK(iv == WIRE_OK);
            DBusMessageIter it, outer;
            dbus_message_iter_init(m, &it);
            dbus_message_iter_recurse(&it, &outer);
            int k = 0;
            while (dbus_message_iter_get_arg_type(&outer) == DBUS_TYPE_DICT_ENTRY) {
                DBusMessageIter e, dict;
                dbus_message_iter_recurse(&outer, &e);
                const char *path = NULL;
                dbus_message_iter_get_basic(&e, &path);
                dbus_message_iter_next(&e);
                dbus_message_iter_recurse(&e, &dict);
                var_value lv;
                if (libdbus_props_value(&dict, &lv)) {
                    if (k < MAX_ITEMS && k < got.n) {
                        FUZZ_CHECK(strncmp(got.path[k], path, 127) == 0);
                        FUZZ_CHECK(same_value(&got.value[k], got.value[k].str ? got.str[k] : NULL, &lv));
                    }
                    k++;
                }
                dbus_message_iter_next(&outer);
            }
            FUZZ_CHECK(k == got.n);
        }
    }
    if (m)
        dbus_message_unref(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The reader's buffer holds messages back to back; a message may start at any offset. */
    size_t off = 0;
    while (off < size) {
        size_t total = 0;
        if (wire_frame(data + off, size - off, &total) != WIRE_OK || total == 0 || total > size - off)
            break;
        check_message(data + off, total);
        off += total;
    }
    return 0;
}
