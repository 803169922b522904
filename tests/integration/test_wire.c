/* Checks of daemon/wire.c against libdbus: what it writes libdbus accepts, what it reads agrees with libdbus. */
#include <dbus/dbus.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "wire.h"

#define IFACE "com.victronenergy.BusItem"

/* Bytes of a libdbus message, as they travel (a sender is set, as the bus does). */
static uint8_t *bytes_of(DBusMessage *m, size_t *len)
{
    char *data;
    int n;
    dbus_message_set_sender(m, ":1.42");
    dbus_message_set_serial(m, 7);
    if (!dbus_message_marshal(m, &data, &n))
        abort();
    *len = (size_t)n;
    return (uint8_t *)data;
}

/* PropertiesChanged {"Text": "x", "Value": <sig>value} (Text first: the order must not matter). */
typedef void (*value_fn)(DBusMessageIter *variant_parent);

static DBusMessage *props_msg(value_fn put)
{
    DBusMessage *m = dbus_message_new_signal("/Soc", IFACE, "PropertiesChanged");
    DBusMessageIter it, d, e, v;
    const char *kt = "Text", *kv = "Value", *t = "x";
    dbus_message_iter_init_append(m, &it);
    dbus_message_iter_open_container(&it, DBUS_TYPE_ARRAY, "{sv}", &d);
    dbus_message_iter_open_container(&d, DBUS_TYPE_DICT_ENTRY, NULL, &e);
    dbus_message_iter_append_basic(&e, DBUS_TYPE_STRING, &kt);
    dbus_message_iter_open_container(&e, DBUS_TYPE_VARIANT, "s", &v);
    dbus_message_iter_append_basic(&v, DBUS_TYPE_STRING, &t);
    dbus_message_iter_close_container(&e, &v);
    dbus_message_iter_close_container(&d, &e);
    dbus_message_iter_open_container(&d, DBUS_TYPE_DICT_ENTRY, NULL, &e);
    dbus_message_iter_append_basic(&e, DBUS_TYPE_STRING, &kv);
    put(&e);
    dbus_message_iter_close_container(&d, &e);
    dbus_message_iter_close_container(&it, &d);
    return m;
}

#define BASIC(name, type, ctype, val)                                          \
    static void name(DBusMessageIter *p)                                       \
    {                                                                          \
        DBusMessageIter v;                                                     \
        ctype x = val;                                                         \
        char sig[2] = {(char)type, 0};                                         \
        dbus_message_iter_open_container(p, DBUS_TYPE_VARIANT, sig, &v);       \
        dbus_message_iter_append_basic(&v, type, &x);                          \
        dbus_message_iter_close_container(p, &v);                              \
    }
BASIC(put_y, DBUS_TYPE_BYTE, unsigned char, 200)
BASIC(put_b, DBUS_TYPE_BOOLEAN, dbus_bool_t, 1)
BASIC(put_n, DBUS_TYPE_INT16, dbus_int16_t, -300)
BASIC(put_q, DBUS_TYPE_UINT16, dbus_uint16_t, 60000)
BASIC(put_i, DBUS_TYPE_INT32, dbus_int32_t, -70000)
BASIC(put_u, DBUS_TYPE_UINT32, dbus_uint32_t, 4000000)
BASIC(put_x, DBUS_TYPE_INT64, dbus_int64_t, -5000000)
BASIC(put_t, DBUS_TYPE_UINT64, dbus_uint64_t, 123456789)
BASIC(put_d, DBUS_TYPE_DOUBLE, double, 52.875)
BASIC(put_dnan, DBUS_TYPE_DOUBLE, double, NAN)
BASIC(put_dbig, DBUS_TYPE_DOUBLE, double, 2e9)
BASIC(put_s, DBUS_TYPE_STRING, const char *, "C7")
BASIC(put_o, DBUS_TYPE_OBJECT_PATH, const char *, "/x")

static void put_empty_ai(DBusMessageIter *p)
{
    DBusMessageIter v, a;
    dbus_message_iter_open_container(p, DBUS_TYPE_VARIANT, "ai", &v);
    dbus_message_iter_open_container(&v, DBUS_TYPE_ARRAY, "i", &a);
    dbus_message_iter_close_container(&v, &a);
    dbus_message_iter_close_container(p, &v);
}

static void put_empty_ad(DBusMessageIter *p)
{
    DBusMessageIter v, a;
    dbus_message_iter_open_container(p, DBUS_TYPE_VARIANT, "ad", &v);
    dbus_message_iter_open_container(&v, DBUS_TYPE_ARRAY, "d", &a);
    dbus_message_iter_close_container(&v, &a);
    dbus_message_iter_close_container(p, &v);
}

static void put_ad(DBusMessageIter *p)
{
    DBusMessageIter v, a;
    double x = 1.5;
    dbus_message_iter_open_container(p, DBUS_TYPE_VARIANT, "ad", &v);
    dbus_message_iter_open_container(&v, DBUS_TYPE_ARRAY, "d", &a);
    dbus_message_iter_append_basic(&a, DBUS_TYPE_DOUBLE, &x);
    dbus_message_iter_close_container(&v, &a);
    dbus_message_iter_close_container(p, &v);
}

static void put_struct(DBusMessageIter *p)
{
    DBusMessageIter v, st;
    dbus_int32_t a = 1;
    double b = 2.0;
    dbus_message_iter_open_container(p, DBUS_TYPE_VARIANT, "(id)", &v);
    dbus_message_iter_open_container(&v, DBUS_TYPE_STRUCT, NULL, &st);
    dbus_message_iter_append_basic(&st, DBUS_TYPE_INT32, &a);
    dbus_message_iter_append_basic(&st, DBUS_TYPE_DOUBLE, &b);
    dbus_message_iter_close_container(&v, &st);
    dbus_message_iter_close_container(p, &v);
}

/* Variants nested `depth` deep around a double (or a string). */
static void put_nested(DBusMessageIter *p, int depth, bool str)
{
    DBusMessageIter v;
    if (depth == 0) {
        if (str) {
            const char *s = "C3";
            dbus_message_iter_append_basic(p, DBUS_TYPE_STRING, &s);
        } else {
            double x = 3.25;
            dbus_message_iter_append_basic(p, DBUS_TYPE_DOUBLE, &x);
        }
        return;
    }
    char sig[8] = "v";
    if (depth == 1)
        strcpy(sig, str ? "s" : "d");
    dbus_message_iter_open_container(p, DBUS_TYPE_VARIANT, sig, &v);
    put_nested(&v, depth - 1, str);
    dbus_message_iter_close_container(p, &v);
}
static void put_v2(DBusMessageIter *p) { put_nested(p, 2, false); }
static void put_v4(DBusMessageIter *p) { put_nested(p, 4, false); }
static void put_v5(DBusMessageIter *p) { put_nested(p, 5, false); }
static void put_vs2(DBusMessageIter *p) { put_nested(p, 2, true); }

/* The "Value" of a PropertiesChanged as the libdbus path sees it. */
static void libdbus_value(DBusMessage *m, var_value *out)
{
    DBusMessageIter it, d, e, kv;
    dbus_message_iter_init(m, &it);
    dbus_message_iter_recurse(&it, &d);
    while (dbus_message_iter_get_arg_type(&d) == DBUS_TYPE_DICT_ENTRY) {
        const char *k;
        dbus_message_iter_recurse(&d, &e);
        dbus_message_iter_get_basic(&e, &k);
        dbus_message_iter_next(&e);
        kv = e;
        if (strcmp(k, "Value") == 0) {
            var_decode(&kv, out);
            return;
        }
        dbus_message_iter_next(&d);
    }
}

static void same_value(const char *what, const var_value *a, const var_value *b)
{
    CHECK(a->status == b->status, "%s: status %d vs libdbus %d", what, a->status, b->status);
    if (a->status == VAR_OK && b->status == VAR_OK)
        CHECK(a->num == b->num, "%s: %g vs libdbus %g", what, a->num, b->num);
    CHECK((a->str == NULL) == (b->str == NULL) && (!a->str || strcmp(a->str, b->str) == 0),
          "%s: string %s vs libdbus %s", what, a->str ? a->str : "(none)", b->str ? b->str : "(none)");
}

/* Every truncation and many corruptions of msg: no crash, no read outside (ASan build). */
static void abuse(const uint8_t *msg, size_t len)
{
    uint8_t *copy = malloc(len);
    for (size_t cut = 0; cut <= len; cut++) {
        memcpy(copy, msg, cut);
        size_t total;
        wire_header h;
        var_value v;
        if (wire_frame(copy, cut, &total) == WIRE_OK && total == cut &&
            wire_parse_header(copy, cut, &h) == WIRE_OK) {
            wire_props_value(copy, &h, &v);
        }
    }
    unsigned seed = 12345;
    for (int round = 0; round < 3000; round++) {
        memcpy(copy, msg, len);
        for (int k = 0; k < 3; k++) {
            seed = seed * 1103515245u + 12345u;
            copy[(seed >> 8) % len] ^= (uint8_t)(1u << ((seed >> 4) % 8));
        }
        size_t total;
        wire_header h;
        var_value v;
        if (wire_frame(copy, len, &total) == WIRE_OK && total == len && wire_parse_header(copy, len, &h) == WIRE_OK) {
            wire_props_value(copy, &h, &v);
            wire_items(copy, &h, NULL, NULL, NULL);
        }
    }
    free(copy);
}

static void test_reader_agrees(void)
{
    static const struct {
        const char *name;
        value_fn put;
    } cases[] = {
        {"y", put_y}, {"b", put_b}, {"n", put_n}, {"q", put_q}, {"i", put_i}, {"u", put_u},
        {"x", put_x}, {"t", put_t}, {"d", put_d}, {"NaN", put_dnan}, {"2e9", put_dbig}, {"s", put_s},
        {"o", put_o}, {"empty ai", put_empty_ai}, {"empty ad", put_empty_ad}, {"ad", put_ad},
        {"struct", put_struct}, {"v(v(d))", put_v2}, {"4 variants", put_v4}, {"5 variants", put_v5},
        {"v(v(s))", put_vs2},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        DBusMessage *m = props_msg(cases[k].put);
        size_t len;
        uint8_t *bytes = bytes_of(m, &len);
        size_t total = 0;
        wire_header h;
        CHECK(wire_frame(bytes, len, &total) == WIRE_OK && total == len, "%s: frame", cases[k].name);
        CHECK(wire_frame(bytes, 15, &total) == WIRE_MORE, "%s: 15 bytes frame nothing", cases[k].name);
        CHECK(wire_parse_header(bytes, len, &h) == WIRE_OK, "%s: header", cases[k].name);
        CHECK(h.type == DBUS_MESSAGE_TYPE_SIGNAL && h.path && strcmp(h.path, "/Soc") == 0 && h.interface &&
                  strcmp(h.interface, IFACE) == 0 && h.member && strcmp(h.member, "PropertiesChanged") == 0 &&
                  h.sender && strcmp(h.sender, ":1.42") == 0 && h.signature && strcmp(h.signature, "a{sv}") == 0 &&
                  h.serial == 7,
              "%s: header fields", cases[k].name);
        DBusMessage *back = dbus_message_demarshal((const char *)bytes, (int)len, NULL);
        var_value ours, theirs;
        memset(&theirs, 0, sizeof theirs);
        libdbus_value(back, &theirs);
        CHECK(wire_props_value(bytes, &h, &ours) == WIRE_OK, "%s: Value found", cases[k].name);
        same_value(cases[k].name, &ours, &theirs);
        if (k == 0 || k == 16)
            abuse(bytes, len);
        dbus_message_unref(back);
        dbus_free(bytes);
        dbus_message_unref(m);
    }
}

typedef struct {
    int n;
    char paths[8][32];
    var_value v[8];
} collected;

static void collect(void *ctx, const char *path, const var_value *v)
{
    collected *c = ctx;
    if (c->n < 8) {
        snprintf(c->paths[c->n], sizeof c->paths[0], "%s", path);
        c->v[c->n++] = *v;
    }
}

static int want_not_cells(const char *path)
{
    return strncmp(path, "/Voltages/", 10) != 0;
}

/* ItemsChanged written by wire.c's writer: libdbus must accept it, the reader read it back. */
static void test_writer_round_trip(void)
{
    wire_out o, body;
    memset(&o, 0, sizeof o);
    memset(&body, 0, sizeof body);
    wire_array all = wire_open_array(&body, 8);
    const char *paths[] = {"/Soc", "/Voltages/Cell1", "/Info/ChargeLimitation", "/Dc/0/Current"};
    for (int k = 0; k < 4; k++) {
        wire_pad(&body, 8);
        wire_put_string(&body, paths[k]);
        wire_array d = wire_open_array(&body, 8);
        wire_pad(&body, 8);
        wire_put_string(&body, "Value");
        if (k == 0) {
            wire_put_signature(&body, "d");
            wire_put_double(&body, 81.5);
        } else if (k == 1) {
            wire_put_signature(&body, "i");
            wire_put_i32(&body, -3);
        } else if (k == 2) {
            wire_put_signature(&body, "s");
            wire_put_string(&body, "tier 66%");
        } else {
            wire_put_signature(&body, "ai");
            wire_close_array(&body, wire_open_array(&body, 4));
        }
        wire_pad(&body, 8);
        wire_put_string(&body, "Text");
        wire_put_signature(&body, "s");
        wire_put_string(&body, "t");
        wire_close_array(&body, d);
    }
    wire_close_array(&body, all);
    /* Two messages back to back, as bi_flush sends them: an odd-length one first. */
    wire_begin_signal(&o, 0x80000001u, "/Info/ChargeLimitation", IFACE, "PropertiesChanged", "a{sv}");
    wire_array d = wire_open_array(&o, 8);
    wire_pad(&o, 8);
    wire_put_string(&o, "Value");
    wire_put_signature(&o, "s");
    wire_put_string(&o, "odd");
    wire_close_array(&o, d);
    wire_end_message(&o);
    size_t first_len = o.len;
    wire_begin_signal(&o, 0x80000002u, "/", IFACE, "ItemsChanged", "a{sa{sv}}");
    wire_put_bytes(&o, body.buf, body.len);
    wire_end_message(&o);
    CHECK(!o.failed && !body.failed, "writer ran out of memory");

    size_t total = 0;
    CHECK(wire_frame(o.buf, o.len, &total) == WIRE_OK && total == first_len, "first message framed");
    DBusMessage *m1 = dbus_message_demarshal((const char *)o.buf, (int)first_len, NULL);
    CHECK(m1 && dbus_message_is_signal(m1, IFACE, "PropertiesChanged") && dbus_message_get_no_reply(m1),
          "libdbus accepts our PropertiesChanged");
    CHECK(wire_frame(o.buf + first_len, o.len - first_len, &total) == WIRE_OK && total == o.len - first_len,
          "second message framed");
    DBusMessage *m2 = dbus_message_demarshal((const char *)o.buf + first_len, (int)(o.len - first_len), NULL);
    CHECK(m2 && dbus_message_is_signal(m2, IFACE, "ItemsChanged") && dbus_message_has_path(m2, "/") &&
              dbus_message_has_signature(m2, "a{sa{sv}}"),
          "libdbus accepts our ItemsChanged");
    wire_header h;
    collected c;
    memset(&c, 0, sizeof c);
    CHECK(wire_parse_header(o.buf + first_len, o.len - first_len, &h) == WIRE_OK, "our header reads back");
    CHECK(wire_items(o.buf + first_len, &h, want_not_cells, collect, &c) == WIRE_OK, "our items read back");
    CHECK(c.n == 3, "3 wanted entries, got %d", c.n);
    if (c.n == 3) {
        CHECK(strcmp(c.paths[0], "/Soc") == 0 && c.v[0].status == VAR_OK && c.v[0].num == 81.5, "Soc 81.5");
        CHECK(strcmp(c.paths[1], "/Info/ChargeLimitation") == 0 && c.v[1].str && strcmp(c.v[1].str, "tier 66%") == 0,
              "string entry");
        CHECK(strcmp(c.paths[2], "/Dc/0/Current") == 0 && c.v[2].status == VAR_INVALID, "empty ai is invalid");
    }
    if (m1)
        dbus_message_unref(m1);
    if (m2)
        dbus_message_unref(m2);
    wire_out_free(&o);
    wire_out_free(&body);
}

static void test_other_byte_order(void)
{
    /* A big-endian header (on a little-endian host): framed in its own order, parsed by libdbus. */
    uint8_t msg[24] = {'B', 4, 0, 1, 0, 0, 0, 8, 0, 0, 0, 1, 0, 0, 0, 0};
    size_t total = 0;
    CHECK(wire_frame(msg, sizeof msg, &total) == WIRE_OK && total == 24, "big-endian frame: %zu", total);
    wire_header h;
    wire_rc rc = wire_parse_header(msg, sizeof msg, &h);
    CHECK(rc == (__BYTE_ORDER__ == __ORDER_BIG_ENDIAN__ ? WIRE_OK : WIRE_UNSUPPORTED), "other order left to libdbus");
    msg[0] = 'x';
    CHECK(wire_frame(msg, sizeof msg, &total) == WIRE_BAD, "not a message");
}

/* Our own serials stay in the top half and never pass through 0 (invalid on the wire). */
static void test_own_serials(void)
{
    CHECK(wire_next_own_serial(0) == 0x80000000u, "first serial");
    CHECK(wire_next_own_serial(0x80000000u) == 0x80000001u, "counts up");
    CHECK(wire_next_own_serial(0xfffffffeu) == 0xffffffffu, "up to the last");
    CHECK(wire_next_own_serial(0xffffffffu) == 0x80000000u, "wraps within the top half, not to 0");
    CHECK(wire_next_own_serial(12345u) == 0x80000000u, "a low value starts the range");
}

int main(void)
{
    test_own_serials();
    test_reader_agrees();
    test_writer_round_trip();
    test_other_byte_order();
    printf("test_wire: %d checks, %d failures\n", checks, failures);
    return failures ? 1 : 0;
}
