/* Fuzz harness for daemon/variant.c: a D-Bus message of any shape, built from the input or demarshalled from it, with every value fed to var_number, var_string and var_apply. */
#include <dbus/dbus.h>
#include <fcntl.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "variant.h"

/* ---- the input as a stream of choices ------------------------------------------------------
 * Reads past the end give zeros, and zero always picks the smallest thing (a byte, an empty
 * array), so every input describes a finite message. */

typedef struct {
    const uint8_t *p;
    size_t n;
    size_t values_left;   /* appended values still allowed: huge arrays stay affordable */
    size_t bytes_left;    /* bytes of huge strings still allowed */
    int fds;              /* unix fds appended (each is a dup the message holds) */
} src;

#define MAX_DEPTH 24          /* containers, variants included; D-Bus allows 32 + 32 */
#define SIG_MAX 255           /* DBUS_MAXIMUM_SIGNATURE_LENGTH */
#define MAX_FDS 4

static uint8_t u8(src *s)
{
    if (s->n == 0)
        return 0;
    s->n--;
    return *s->p++;
}

static void take(src *s, void *dst, size_t len)
{
    uint8_t *d = dst;
    for (size_t i = 0; i < len; i++)
        d[i] = u8(s);
}

/* The paths var_apply knows, the identity paths the daemon reads with var_number/var_string,
 * and strings a cell id parser has opinions about. */
static const char *const known[] = {
    "/Alarms/BmsCable", "/Alarms/CellImbalance", "/Alarms/HighCellVoltage",
    "/Alarms/HighChargeCurrent", "/Alarms/HighChargeTemperature", "/Alarms/HighCurrent",
    "/Alarms/HighDischargeCurrent", "/Alarms/HighTemperature", "/Alarms/HighVoltage",
    "/Alarms/InternalFailure", "/Alarms/LowCellVoltage", "/Alarms/LowChargeTemperature",
    "/Alarms/LowSoc", "/Alarms/LowTemperature", "/Alarms/LowVoltage", "/Capacity",
    "/ConsumedAmphours", "/Dc/0/Current", "/Dc/0/Power", "/Dc/0/Temperature", "/Dc/0/Voltage",
    "/Info/MaxChargeCurrent", "/Info/MaxChargeVoltage", "/Info/MaxDischargeCurrent",
    "/InstalledCapacity", "/Io/AllowToCharge", "/Io/AllowToDischarge", "/Soc",
    "/System/MaxCellVoltage", "/System/MaxVoltageCellId", "/System/MinCellVoltage",
    "/System/MinVoltageCellId",
    /* not applied, but read by the daemon or near misses of the above */
    "/DeviceInstance", "/Serial", "/ProductName", "/Soc/", "/soc", "/Alarms", "/",
    /* strings, mostly for the cell ids */
    "Value", "Text", "", "C5", "C", "12", "-1", "9999", "10000", "C-3", "cell 16",
    "99999999999999999999999", "C 0x10", " 7", "+7", "1e3",
};
#define N_KNOWN (sizeof known / sizeof known[0])
#define N_APPLIED 32   /* the first 32 of known[] are the paths var_apply uses */

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    FUZZ_CHECK(d != NULL);
    memcpy(d, s, n);
    return d;
}

/* A valid D-Bus string: a known one, input bytes (made valid UTF-8 if they are not), or a
 * huge one for the "megabyte strings" a broken pack might publish. */
static char *gen_string(src *s)
{
    uint8_t c = u8(s);
    if (c < 0x60)
        return dup_str(known[c % N_KNOWN]);
    if (c < 0xf0) {
        size_t len = (size_t)(c - 0x60);
        char *str = malloc(len + 1);
        FUZZ_CHECK(str != NULL);
        for (size_t i = 0; i < len; i++) {
            uint8_t b = u8(s);
            str[i] = (char)(b ? b : '0');
        }
        str[len] = '\0';
        if (!dbus_validate_utf8(str, NULL))
            for (size_t i = 0; i < len; i++)
                str[i] = (char)(0x20 + (unsigned char)str[i] % 0x5f);
        return str;
    }
    /* 1 KiB .. 128 KiB, and a whole MiB only for 0xff: a megabyte through ASan costs
     * milliseconds, and most of the fuzzing time should go to shapes, not to memset. */
    size_t len = c == 0xff ? (size_t)1 << 20 : (size_t)1 << (10 + (c & 7));
    if (len > s->bytes_left)
        len = s->bytes_left;
    s->bytes_left -= len;
    char *str = malloc(len + 1);
    FUZZ_CHECK(str != NULL);
    char fill = (char)(0x21 + u8(s) % 0x5e);
    memset(str, fill, len);
    if (len > 0)
        str[0] = (char)(0x21 + u8(s) % 0x5e);   /* "C999...": a cell id far too long */
    str[len] = '\0';
    return str;
}

/* A valid object path: a known one or up to three segments of [A-Za-z0-9_]. */
static char *gen_path(src *s)
{
    static const char seg_chars[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_";
    uint8_t c = u8(s);
    if (c < 0x80) {
        const char *k = known[c % N_KNOWN];
        if (k[0] == '/' && dbus_validate_path(k, NULL))
            return dup_str(k);
        return dup_str("/");
    }
    int segs = c % 4;
    if (segs == 0)
        return dup_str("/");
    char *p = malloc((size_t)segs * 10 + 1);
    FUZZ_CHECK(p != NULL);
    size_t k = 0;
    for (int i = 0; i < segs; i++) {
        p[k++] = '/';
        int len = 1 + u8(s) % 8;
        for (int j = 0; j < len; j++)
            p[k++] = seg_chars[u8(s) % (sizeof seg_chars - 1)];
    }
    p[k] = '\0';
    return p;
}

static const char basic_types[] = "ybnqiuxtdsog";   /* 'h' is handled apart: fds are scarce */

/* Appends one complete type to sig[*len] (a SIG_BUF buffer). Once the signature nears
 * SIG_MAX only basic types are added, but the fields still owed to open structs can take it
 * past: gen_type() below drops a signature that ends up too long. */
#define SIG_BUF 1024   /* > SIG_MAX + 3 fields x MAX_DEPTH structs + closers + 4 */
static void gen_sig(src *s, char *sig, size_t *len, int depth, bool in_array)
{
    uint8_t c = u8(s);
    bool leaf = depth >= MAX_DEPTH || *len + 8 >= SIG_MAX || s->values_left == 0;
    unsigned k = leaf ? c % 12u : c % 17u;
    if (k < 12) {
        sig[(*len)++] = basic_types[k];
    } else if (k == 12) {
        /* A unix fd, at most a few per message and never in an array: each is a dup held by
         * the message, and a big array of them would exhaust the process's descriptors. */
        bool fd = !in_array && s->fds < MAX_FDS;
        if (fd)
            s->fds++;
        sig[(*len)++] = fd ? 'h' : 'i';
    } else if (k == 13) {
        sig[(*len)++] = 'v';
    } else if (k == 14) {
        sig[(*len)++] = 'a';
        gen_sig(s, sig, len, depth + 1, true);
    } else if (k == 15) {
        sig[(*len)++] = 'a';
        sig[(*len)++] = '{';
        sig[(*len)++] = basic_types[u8(s) % 12u];
        gen_sig(s, sig, len, depth + 1, true);
        sig[(*len)++] = '}';
    } else {
        sig[(*len)++] = '(';
        int fields = 1 + u8(s) % 4;
        for (int i = 0; i < fields; i++)
            gen_sig(s, sig, len, depth + 1, in_array);
        sig[(*len)++] = ')';
    }
    sig[*len] = '\0';
}

/* n complete types as a valid signature into out[SIG_MAX + 1]; one that would be too long
 * becomes a variant (n == 1) or the empty signature. */
static void gen_type(src *s, char *out, int n, int depth, bool in_array)
{
    char sig[SIG_BUF];
    size_t len = 0;
    sig[0] = '\0';
    for (int i = 0; i < n; i++)
        gen_sig(s, sig, &len, depth, in_array);
    FUZZ_CHECK(len < SIG_BUF);
    if (len > SIG_MAX)
        len = (size_t)snprintf(sig, sizeof sig, "%s", n == 1 ? "v" : "");
    memcpy(out, sig, len + 1);
}

/* Doubles that sit on var_number's edges, besides raw bits and small numbers. */
static double gen_double(src *s)
{
    static const double special[] = {
        0.0, -0.0, 1.0, -1.0, 1e9, -1e9, 1e9 + 1e-6, -1e9 - 1e-6, 2.0, 3.0, 0.5, 9999.0, 10000.0,
        DBL_MAX, -DBL_MAX, DBL_MIN, 4.9e-324, 1e300, (double)INT_MAX + 1.0, (double)LLONG_MAX,
    };
    uint8_t c = u8(s);
    switch (c % 5) {
    case 0: {
        if (c / 5 % 4 == 0) {
            int which = c / 20 % 4;
            return which == 0 ? NAN : which == 1 ? -NAN : which == 2 ? INFINITY : -INFINITY;
        }
        return special[u8(s) % (sizeof special / sizeof special[0])];
    }
    case 1: {
        double d;
        take(s, &d, sizeof d);
        return d;
    }
    case 2:
        return (double)(int8_t)u8(s);
    case 3: {
        int16_t v;
        take(s, &v, sizeof v);
        return v / 100.0;
    }
    default: {
        int32_t v;
        take(s, &v, sizeof v);
        return v / 1000.0;
    }
    }
}

static int null_fd = -1;

/* How many elements an array gets: mostly 0..4 (0 = the Venus "invalid" []), sometimes
 * 16..128, for 0xff 1024, never more than the value budget allows (2048 values a message: every value is
 * probed a dozen ways, and libFuzzer needs thousands of inputs a second). */
static size_t gen_count(src *s)
{
    uint8_t c = u8(s);
    size_t n = c < 0xf8 ? c % 5u : c < 0xff ? (size_t)1 << (4 + (c & 3)) : 1024;
    return n < s->values_left ? n : s->values_left;
}

static bool emit(src *s, DBusMessageIter *it, DBusSignatureIter *t, int depth);

static bool emit_container(src *s, DBusMessageIter *it, int type, const char *contained,
                           DBusSignatureIter *inner, size_t count, int depth)
{
    DBusMessageIter sub;
    if (!dbus_message_iter_open_container(it, type, contained, &sub))
        return false;
    bool ok = true;
    if (type == DBUS_TYPE_ARRAY) {
        for (size_t i = 0; ok && i < count && s->values_left > 0; i++) {
            DBusSignatureIter e = *inner;
            ok = emit(s, &sub, &e, depth + 1);
        }
    } else {
        /* a struct's or dict entry's fields, or a variant's one value */
        do
            ok = emit(s, &sub, inner, depth + 1);
        while (ok && type != DBUS_TYPE_VARIANT && dbus_signature_iter_next(inner));
    }
    if (!ok) {
        dbus_message_iter_abandon_container(it, &sub);
        return false;
    }
    return dbus_message_iter_close_container(it, &sub) != 0;
}

/* Appends one value of the type at t. False only if libdbus refused (out of memory, fds). */
static bool emit(src *s, DBusMessageIter *it, DBusSignatureIter *t, int depth)
{
    int type = dbus_signature_iter_get_current_type(t);
    if (s->values_left > 0)
        s->values_left--;
    switch (type) {
    case DBUS_TYPE_BYTE: {
        unsigned char v = u8(s);
        return dbus_message_iter_append_basic(it, type, &v) != 0;
    }
    case DBUS_TYPE_BOOLEAN: {
        dbus_bool_t v = u8(s) & 1;   /* libdbus refuses other values itself */
        return dbus_message_iter_append_basic(it, type, &v) != 0;
    }
    case DBUS_TYPE_INT16:
    case DBUS_TYPE_UINT16: {
        uint16_t v;
        take(s, &v, sizeof v);
        return dbus_message_iter_append_basic(it, type, &v) != 0;
    }
    case DBUS_TYPE_INT32:
    case DBUS_TYPE_UINT32: {
        uint32_t v;
        take(s, &v, sizeof v);
        return dbus_message_iter_append_basic(it, type, &v) != 0;
    }
    case DBUS_TYPE_INT64:
    case DBUS_TYPE_UINT64: {
        uint64_t v;
        take(s, &v, sizeof v);
        return dbus_message_iter_append_basic(it, type, &v) != 0;
    }
    case DBUS_TYPE_DOUBLE: {
        double v = gen_double(s);
        return dbus_message_iter_append_basic(it, type, &v) != 0;
    }
    case DBUS_TYPE_STRING:
    case DBUS_TYPE_OBJECT_PATH: {
        char *str = type == DBUS_TYPE_STRING ? gen_string(s) : gen_path(s);
        bool ok = dbus_message_iter_append_basic(it, type, &str) != 0;
        free(str);
        return ok;
    }
    case DBUS_TYPE_SIGNATURE: {
        char sig[SIG_MAX + 1];
        gen_type(s, sig, u8(s) % 3, MAX_DEPTH - 2, false);   /* shallow: several must fit */
        const char *p = sig;
        return dbus_message_iter_append_basic(it, type, &p) != 0;
    }
    case DBUS_TYPE_UNIX_FD:
        if (null_fd < 0)
            null_fd = open("/dev/null", O_RDONLY);
        return dbus_message_iter_append_basic(it, type, &null_fd) != 0;
    case DBUS_TYPE_VARIANT: {
        char sig[SIG_MAX + 1];
        gen_type(s, sig, 1, depth + 1, false);
        DBusSignatureIter inner;
        dbus_signature_iter_init(&inner, sig);
        return emit_container(s, it, type, sig, &inner, 1, depth);
    }
    case DBUS_TYPE_ARRAY: {
        DBusSignatureIter elem;
        dbus_signature_iter_recurse(t, &elem);
        char *esig = dbus_signature_iter_get_signature(&elem);
        FUZZ_CHECK(esig != NULL);
        bool ok = emit_container(s, it, type, esig, &elem, gen_count(s), depth);
        dbus_free(esig);
        return ok;
    }
    case DBUS_TYPE_STRUCT:
    case DBUS_TYPE_DICT_ENTRY: {
        DBusSignatureIter fields;
        dbus_signature_iter_recurse(t, &fields);
        return emit_container(s, it, type, NULL, &fields, 1, depth);
    }
    default:
        FUZZ_FAIL("gen_sig produced a type emit does not know");
        return false;
    }
}

/* ---- the properties ----------------------------------------------------------------------- */

static double *field(rdg_reading *r, int f)
{
    double *p[] = {&r->soc_pct, &r->voltage_v, &r->current_a, &r->power_w, &r->temperature_c,
                   &r->min_cell_v, &r->max_cell_v, &r->installed_cap_ah, &r->remaining_cap_ah,
                   &r->consumed_ah, &r->cvl_v, &r->ccl_a, &r->dcl_a};
    return f < (int)(sizeof p / sizeof p[0]) ? p[f] : NULL;   /* rdg_field order */
}

/* What var_apply promises about one application to r (before = r as it was). */
static void check_apply(var_apply_result res, var_status why, rdg_reading *r,
                        const rdg_reading *before, const char *path)
{
    FUZZ_CHECK(res >= VAR_PATH_UNUSED && res <= VAR_PATH_REJECTED);
    FUZZ_CHECK(why >= VAR_OK && why < VAR_COUNT);
    FUZZ_CHECK((res != VAR_PATH_UNUSED) == (var_path_used(path) != 0));
    switch (res) {
    case VAR_PATH_UNUSED:
        FUZZ_CHECK(why == VAR_OK && memcmp(r, before, sizeof *r) == 0);
        break;
    case VAR_PATH_SET:
    case VAR_PATH_CLEARED:
        FUZZ_CHECK(why == VAR_OK);
        break;
    case VAR_PATH_REJECTED:
        FUZZ_CHECK(why != VAR_OK && why != VAR_INVALID);
        break;
    }
    FUZZ_CHECK((r->present & ~((1u << RDG_FIELD_COUNT) - 1)) == 0);
    FUZZ_CHECK((r->alarm_present & ~((1u << RDG_AL_COUNT) - 1)) == 0);
    for (int a = 0; a < RDG_AL_COUNT; a++)
        FUZZ_CHECK(r->alarm[a] <= 3);
    FUZZ_CHECK(r->min_cell_id >= -1 && r->min_cell_id <= 9999);
    FUZZ_CHECK(r->max_cell_id >= -1 && r->max_cell_id <= 9999);
    /* A present number is a checked one, or the NaN of a rejection that rdg_validate refuses. */
    for (int f = 0; f < RDG_FIELD_COUNT; f++) {
        double *p = field(r, f);
        if (p && rdg_has(r, (enum rdg_field)f) && !isnan(*p))
            FUZZ_CHECK(isfinite(*p) && fabs(*p) <= 1e9);
    }
}

/* The reading every (path, value) pair of a message accumulates into, as a pack's slot does. */
static rdg_reading acc;

static void probe(DBusMessageIter *it, const char *key, unsigned sel)
{
    double v = -12345.678;
    var_status st = var_number(it, &v);
    FUZZ_CHECK(st >= VAR_OK && st < VAR_COUNT);
    FUZZ_CHECK(var_status_name(st) != NULL);
    if (st == VAR_OK)
        FUZZ_CHECK(isfinite(v) && fabs(v) <= 1e9);
    else
        FUZZ_CHECK(v == -12345.678);   /* untouched */

    /* Exact-size heap buffers, so ASan sees an overrun of the truncation. */
    static const size_t lens[] = {1, 2, 32, 64};
    size_t len = lens[sel % 4];
    char *buf = malloc(len);
    FUZZ_CHECK(buf != NULL);
    memset(buf, 'x', len);
    if (var_string(it, buf, len) == 0) {
        FUZZ_CHECK(memchr(buf, '\0', len) != NULL);
    } else {
        for (size_t i = 0; i < len; i++)
            FUZZ_CHECK(buf[i] == 'x');
    }
    char none = 'x';
    FUZZ_CHECK(var_string(it, &none, 0) == -1 && none == 'x');
    free(buf);

    /* This value under one of the applied paths, on a fresh reading... */
    const char *path = known[sel % N_APPLIED];
    rdg_reading r, before;
    rdg_clear(&r);
    before = r;
    var_status why = VAR_COUNT;
    var_apply_result res = var_apply(&r, path, it, &why);
    check_apply(res, why, &r, &before, path);

    /* ... and under its own key, if it has one, on the reading the whole message builds. */
    if (key) {
        before = acc;
        why = VAR_COUNT;
        res = var_apply(&acc, key, it, &why);
        check_apply(res, why, &acc, &before, key);
    }
}

/* Visits every value at every depth; inside a struct or dict entry whose first member is a
 * string, that string is the path of the second (the a{sv} / a{sa{sv}} shapes of GetItems and
 * ItemsChanged). */
static void walk(DBusMessageIter *it, int depth, const char *key, unsigned sel)
{
    for (;;) {
        int t = dbus_message_iter_get_arg_type(it);
        if (t == DBUS_TYPE_INVALID)
            break;
        probe(it, key, sel++);
        if ((t == DBUS_TYPE_ARRAY || t == DBUS_TYPE_STRUCT || t == DBUS_TYPE_DICT_ENTRY ||
             t == DBUS_TYPE_VARIANT) && depth < 2 * MAX_DEPTH + 16) {
            DBusMessageIter sub;
            dbus_message_iter_recurse(it, &sub);
            const char *inner_key = key;
            if ((t == DBUS_TYPE_STRUCT || t == DBUS_TYPE_DICT_ENTRY) &&
                dbus_message_iter_get_arg_type(&sub) == DBUS_TYPE_STRING) {
                dbus_message_iter_get_basic(&sub, &inner_key);
                DBusMessageIter value = sub;
                if (dbus_message_iter_next(&value))
                    probe(&value, inner_key, sel++);
            }
            walk(&sub, depth + 1, inner_key, sel);
        }
        if (!dbus_message_iter_next(it))
            break;
    }
}

static void check_message(DBusMessage *msg, unsigned sel)
{
    rdg_clear(&acc);
    DBusMessageIter it;
    if (dbus_message_iter_init(msg, &it))
        walk(&it, 0, NULL, sel);
    /* The core decides what to do with the sum of it; a poisoned field must make it refuse. */
    rdg_verdict v = rdg_validate(&acc, 1.5, 5.0);
    FUZZ_CHECK(v >= RDG_OK && v < RDG_BAD_COUNT);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool init;
    if (!init) {
        /* A misuse of the libdbus API (an iterator at the wrong type, say) only prints a
         * warning by default; here it must be a crash. */
        setenv("DBUS_FATAL_WARNINGS", "1", 1);
        init = true;
    }
    /* A marshalled message (starting with its byte order mark): what a peer really sends. */
    if (size >= 16 && (data[0] == 'l' || data[0] == 'B') && size < INT_MAX) {
        DBusError err;
        dbus_error_init(&err);
        DBusMessage *msg = dbus_message_demarshal((const char *)data, (int)size, &err);
        if (msg) {
            check_message(msg, data[size - 1]);
            dbus_message_unref(msg);
        }
        dbus_error_free(&err);
        return 0;
    }

    src s = {data, size, 2048, 1u << 20, 0};
    DBusMessage *msg = dbus_message_new_signal("/Soc", "com.victronenergy.BusItem", "PropertiesChanged");
    FUZZ_CHECK(msg != NULL);
    DBusMessageIter it;
    dbus_message_iter_init_append(msg, &it);
    /* The shapes the daemon receives first (GetValue reply, GetItems / ItemsChanged, a
     * PropertiesChanged dict), then anything. */
    static const char *const shapes[] = {"v", "a{sa{sv}}", "a{sv}"};
    unsigned sel = u8(&s);
    int args = 1 + u8(&s) % 3;
    bool ok = true;
    /* The body's signature is the arguments' together, and it too must fit in 255 characters:
     * libdbus does not check that when appending, and writes a header it then misreads. */
    size_t body_sig = 0;
    for (int a = 0; ok && a < args; a++) {
        char sig[SIG_MAX + 1];
        uint8_t shape = u8(&s);
        if (shape % 4 < 3)
            snprintf(sig, sizeof sig, "%s", shapes[shape % 4]);
        else
            gen_type(&s, sig, 1, 0, false);
        body_sig += strlen(sig);
        if (body_sig > SIG_MAX)
            break;
        DBusSignatureIter t;
        dbus_signature_iter_init(&t, sig);
        ok = emit(&s, &it, &t, 0);
    }
    if (ok)
        check_message(msg, sel);
    dbus_message_unref(msg);
    return 0;
}
