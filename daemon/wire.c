/* The D-Bus wire format read straight from bytes: framing, header fields, BusItem change values. */
#include <stdlib.h>
#include <string.h>

#include "wire.h"

#define HOST_BIG (__BYTE_ORDER__ == __ORDER_BIG_ENDIAN__)
/* Nesting is bounded by the specification (32 arrays + 32 structs); variants inside variants
 * by us, as var_number does: velib nests once. */
#define MAX_DEPTH 64
#define MAX_VARIANT_NESTING 4

/* A cursor over one message: every read is checked against `end`; offsets (for alignment)
 * count from the message's first byte, as the specification aligns them. */
typedef struct {
    const uint8_t *msg;
    size_t pos, end;
    bool big;
} cur;

static uint32_t get_u32(const uint8_t *p, bool big)
{
    return big ? (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]
               : (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

static bool align(cur *c, size_t a)
{
    size_t p = (c->pos + a - 1) & ~(a - 1);
    if (p > c->end)
        return false;
    c->pos = p;
    return true;
}

static bool take(cur *c, size_t n, const uint8_t **out)
{
    if (n > c->end - c->pos)
        return false;
    if (out)
        *out = c->msg + c->pos;
    c->pos += n;
    return true;
}

static bool read_u32(cur *c, uint32_t *v)
{
    const uint8_t *p;
    if (!align(c, 4) || !take(c, 4, &p))
        return false;
    *v = get_u32(p, c->big);
    return true;
}

/* A string ('s', 'o'): length, bytes, NUL. */
static bool read_str(cur *c, const char **s)
{
    uint32_t n;
    const uint8_t *p;
    if (!read_u32(c, &n) || n == UINT32_MAX || !take(c, (size_t)n + 1, &p) || p[n] != '\0')
        return false;
    *s = (const char *)p;
    return true;
}

/* A signature ('g', and a variant's type): one length byte, bytes, NUL. */
static bool read_sig(cur *c, const char **s)
{
    const uint8_t *p, *len;
    if (!take(c, 1, &len) || !take(c, (size_t)*len + 1, &p) || p[*len] != '\0')
        return false;
    *s = (const char *)p;
    return true;
}

static size_t alignment_of(char t)
{
    switch (t) {
    case 'n': case 'q': return 2;
    case 'b': case 'i': case 'u': case 'h': case 's': case 'o': case 'a': return 4;
    case 'x': case 't': case 'd': case '(': case '{': return 8;
    default: return 1;   /* y g v */
    }
}

/* Index just past the complete type starting at sig[i], or 0 if there is none. */
static size_t sig_next(const char *sig, size_t i, int depth)
{
    if (depth > MAX_DEPTH)
        return 0;
    switch (sig[i]) {
    case 'y': case 'b': case 'n': case 'q': case 'i': case 'u': case 'x': case 't': case 'd':
    case 'h': case 's': case 'o': case 'g': case 'v':
        return i + 1;
    case 'a':
        return sig_next(sig, i + 1, depth + 1);
    case '(':
    case '{': {
        char close = sig[i] == '(' ? ')' : '}';
        size_t j = i + 1;
        while (sig[j] && sig[j] != close) {
            j = sig_next(sig, j, depth + 1);
            if (!j)
                return 0;
        }
        return sig[j] == close && j > i + 1 ? j + 1 : 0;
    }
    default:
        return 0;
    }
}

/* Steps over one value of the complete type at sig[*si], advancing both cursors. */
static bool skip_value(cur *c, const char *sig, size_t *si, int depth)
{
    if (depth > MAX_DEPTH)
        return false;
    char t = sig[*si];
    switch (t) {
    case 'y':
        (*si)++;
        return take(c, 1, NULL);
    case 'n': case 'q':
    case 'b': case 'i': case 'u': case 'h':
    case 'x': case 't': case 'd': {
        size_t n = alignment_of(t);
        (*si)++;
        return align(c, n) && take(c, n, NULL);
    }
    case 's': case 'o': {
        const char *s;
        (*si)++;
        return read_str(c, &s);
    }
    case 'g': {
        const char *s;
        (*si)++;
        return read_sig(c, &s);
    }
    case 'v': {
        const char *inner;
        size_t k = 0;
        (*si)++;
        if (!read_sig(c, &inner) || !skip_value(c, inner, &k, depth + 1))
            return false;
        return inner[k] == '\0';   /* a variant holds exactly one complete type */
    }
    case 'a': {
        uint32_t n;
        size_t elem = *si + 1, after = sig_next(sig, elem, depth + 1);
        if (!after || !read_u32(c, &n) || !align(c, alignment_of(sig[elem])) || !take(c, n, NULL))
            return false;
        *si = after;
        return true;
    }
    case '(':
    case '{': {
        char close = t == '(' ? ')' : '}';
        if (!align(c, 8))
            return false;
        (*si)++;
        while (sig[*si] && sig[*si] != close)
            if (!skip_value(c, sig, si, depth + 1))
                return false;
        if (sig[*si] != close)
            return false;
        (*si)++;
        return true;
    }
    default:
        return false;
    }
}

wire_rc wire_frame(const uint8_t *buf, size_t len, size_t *total_bytes)
{
    if (len < WIRE_FIXED_HEADER)
        return WIRE_MORE;
    if ((buf[0] != 'l' && buf[0] != 'B') || buf[3] != 1)
        return WIRE_BAD;
    bool big = buf[0] == 'B';
    uint64_t body = get_u32(buf + 4, big), fields = get_u32(buf + 12, big);
    uint64_t total = ((WIRE_FIXED_HEADER + fields + 7) & ~(uint64_t)7) + body;
    if (total > WIRE_MAX_MESSAGE)
        return WIRE_BAD;
    *total_bytes = (size_t)total;
    return WIRE_OK;
}

wire_rc wire_parse_header(const uint8_t *msg, size_t total, wire_header *h)
{
    size_t need;
    if (wire_frame(msg, total, &need) != WIRE_OK || need != total)
        return WIRE_BAD;
    bool big = msg[0] == 'B';
    if (big != HOST_BIG)
        return WIRE_UNSUPPORTED;
    memset(h, 0, sizeof *h);
    h->type = msg[1];
    h->flags = msg[2];
    h->body_len = get_u32(msg + 4, big);
    h->serial = get_u32(msg + 8, big);
    uint32_t fields = get_u32(msg + 12, big);
    cur c = {msg, WIRE_FIXED_HEADER, WIRE_FIXED_HEADER + (size_t)fields, big};
    while (c.pos < c.end) {
        const uint8_t *code;
        const char *sig;
        if (!align(&c, 8) || c.pos == c.end)
            break;
        if (!take(&c, 1, &code) || !read_sig(&c, &sig))
            return WIRE_BAD;
        const char **slot = NULL;
        switch (*code) {
        case 1: slot = &h->path; break;
        case 2: slot = &h->interface; break;
        case 3: slot = &h->member; break;
        case 7: slot = &h->sender; break;
        case 8: slot = &h->signature; break;
        default: break;
        }
        if (slot && sig[0] == (*code == 1 ? 'o' : *code == 8 ? 'g' : 's') && sig[1] == '\0') {
            if (!(*code == 8 ? read_sig(&c, slot) : read_str(&c, slot)))
                return WIRE_BAD;
        } else {
            /* A field we do not use (or of an unexpected type): step over it. */
            size_t k = 0;
            if (!skip_value(&c, sig, &k, 0) || sig[k] != '\0')
                return WIRE_BAD;
        }
    }
    h->body_off = (WIRE_FIXED_HEADER + (size_t)fields + 7) & ~(size_t)7;
    if (h->body_off + h->body_len != total)
        return WIRE_BAD;
    return WIRE_OK;
}

/* Decodes the value of the complete type at sig[*si] into *v, exactly as var_decode judges a
 * libdbus iterator: y b n q i u x t d are numbers, an empty array is invalid, a string is kept
 * as such, everything else is the wrong type. */
static bool decode_value(cur *c, const char *sig, size_t *si, var_value *v, int nesting)
{
    v->status = VAR_BAD_TYPE;
    v->num = 0.0;
    v->str = NULL;
    const uint8_t *p;
    double d;
    char t = sig[*si];
    switch (t) {
    case 'y':
        if (!take(c, 1, &p))
            return false;
        d = p[0];
        break;
    case 'b': case 'i': case 'u': {
        uint32_t x;
        if (!read_u32(c, &x))
            return false;
        d = t == 'b' ? (x ? 1.0 : 0.0) : t == 'i' ? (double)(int32_t)x : (double)x;
        break;
    }
    case 'n': case 'q': {
        uint16_t x;
        if (!align(c, 2) || !take(c, 2, &p))
            return false;
        memcpy(&x, p, 2);
        d = t == 'n' ? (double)(int16_t)x : (double)x;
        break;
    }
    case 'x': case 't': case 'd': {
        uint64_t x;
        if (!align(c, 8) || !take(c, 8, &p))
            return false;
        memcpy(&x, p, 8);
        if (t == 'd')
            memcpy(&d, &x, 8);
        else
            d = t == 'x' ? (double)(int64_t)x : (double)x;
        break;
    }
    case 's': {
        const char *str;
        (*si)++;
        if (!read_str(c, &str))
            return false;
        if (nesting == 1)
            v->str = str;   /* var_decode looks through one variant only */
        return true;
    }
    case 'a': {
        size_t at = c->pos;
        if (!skip_value(c, sig, si, 0))
            return false;
        /* The length is the first aligned word: zero = Venus' invalid, whatever the element type. */
        cur l = {c->msg, at, c->end, c->big};
        uint32_t n;
        if (!read_u32(&l, &n))
            return false;
        v->status = n == 0 ? VAR_INVALID : VAR_BAD_TYPE;
        return true;
    }
    case 'v': {
        const char *inner;
        size_t k = 0;
        (*si)++;
        if (!read_sig(c, &inner))
            return false;
        if (nesting >= MAX_VARIANT_NESTING) {
            if (!skip_value(c, inner, &k, 0))
                return false;
            v->status = VAR_BAD_TYPE;
        } else if (!decode_value(c, inner, &k, v, nesting + 1)) {
            return false;
        }
        return inner[k] == '\0';
    }
    default:
        /* o g h, structs, dict entries: not a number (steps over it). */
        return skip_value(c, sig, si, 0);
    }
    (*si)++;
    v->status = var_check_number(d);
    if (v->status == VAR_OK)
        v->num = d;
    return true;
}

/* Walks an a{sv} whose array length is at the cursor, decoding the "Value" entry. */
static wire_rc find_value(cur *c, var_value *v)
{
    uint32_t n;
    if (!read_u32(c, &n) || !align(c, 8) || n > c->end - c->pos)
        return WIRE_BAD;
    cur a = {c->msg, c->pos, c->pos + n, c->big};
    c->pos += n;
    while (a.pos < a.end) {
        const char *key, *sig;
        size_t k = 0;
        if (!align(&a, 8) || !read_str(&a, &key) || !read_sig(&a, &sig))
            return WIRE_BAD;
        if (strcmp(key, "Value") == 0)
            return decode_value(&a, sig, &k, v, 1) && sig[k] == '\0' ? WIRE_OK : WIRE_BAD;
        if (!skip_value(&a, sig, &k, 0) || sig[k] != '\0')
            return WIRE_BAD;
    }
    return WIRE_MORE;
}

wire_rc wire_props_value(const uint8_t *msg, const wire_header *h, var_value *value)
{
    if (!h->signature || strcmp(h->signature, "a{sv}") != 0)
        return WIRE_BAD;
    cur c = {msg, h->body_off, h->body_off + h->body_len, HOST_BIG};
    return find_value(&c, value);
}

wire_rc wire_items(const uint8_t *msg, const wire_header *h, int (*want)(const char *path),
                   wire_item_fn fn, void *ctx)
{
    if (!h->signature || strcmp(h->signature, "a{sa{sv}}") != 0)
        return WIRE_BAD;
    cur c = {msg, h->body_off, h->body_off + h->body_len, HOST_BIG};
    uint32_t n;
    if (!read_u32(&c, &n) || !align(&c, 8) || n > c.end - c.pos)
        return WIRE_BAD;
    c.end = c.pos + n;
    while (c.pos < c.end) {
        const char *path;
        if (!align(&c, 8) || !read_str(&c, &path))
            return WIRE_BAD;
        if (want && !want(path)) {
            /* The entry's dict is one array: its length steps over it undecoded. */
            uint32_t len;
            if (!read_u32(&c, &len) || !align(&c, 8) || !take(&c, len, NULL))
                return WIRE_BAD;
            continue;
        }
        var_value v;
        wire_rc rc = find_value(&c, &v);
        if (rc == WIRE_BAD)
            return WIRE_BAD;
        if (rc == WIRE_OK)
            fn(ctx, path, &v);
    }
    return WIRE_OK;
}

/* ---- writing ---- */

uint32_t wire_next_own_serial(uint32_t serial)
{
    return serial >= 0x80000000u && serial < 0xffffffffu ? serial + 1u : 0x80000000u;
}

void wire_out_reset(wire_out *o)
{
    o->len = 0;
    o->msg_start = 0;
    o->failed = false;
}

void wire_out_free(wire_out *o)
{
    free(o->buf);
    memset(o, 0, sizeof *o);
}

void wire_put_bytes(wire_out *o, const uint8_t *p, size_t n)
{
    if (o->failed || n == 0)
        return;
    if (n > o->cap - o->len) {
        size_t cap = o->cap ? o->cap : 4096;
        while (cap - o->len < n)
            cap *= 2;
        uint8_t *grown = realloc(o->buf, cap);
        if (!grown) {
            o->failed = true;
            return;
        }
        o->buf = grown;
        o->cap = cap;
    }
    memcpy(o->buf + o->len, p, n);
    o->len += n;
}

void wire_pad(wire_out *o, size_t alignment)
{
    static const uint8_t zeros[8];
    size_t rel = o->len - o->msg_start;
    wire_put_bytes(o, zeros, ((rel + alignment - 1) & ~(alignment - 1)) - rel);
}

void wire_put_u32(wire_out *o, uint32_t v)
{
    wire_pad(o, 4);
    wire_put_bytes(o, (const uint8_t *)&v, 4);
}

void wire_put_i32(wire_out *o, int32_t v)
{
    wire_put_u32(o, (uint32_t)v);
}

void wire_put_double(wire_out *o, double v)
{
    wire_pad(o, 8);
    wire_put_bytes(o, (const uint8_t *)&v, 8);
}

void wire_put_string(wire_out *o, const char *s)
{
    size_t n = strlen(s);
    wire_put_u32(o, (uint32_t)n);
    wire_put_bytes(o, (const uint8_t *)s, n + 1);
}

void wire_put_signature(wire_out *o, const char *sig)
{
    uint8_t n = (uint8_t)strlen(sig);
    wire_put_bytes(o, &n, 1);
    wire_put_bytes(o, (const uint8_t *)sig, (size_t)n + 1);
}

wire_array wire_open_array(wire_out *o, size_t element_alignment)
{
    wire_array a;
    wire_put_u32(o, 0);
    a.len_at = o->len - 4;
    wire_pad(o, element_alignment);   /* present even when the array stays empty */
    a.first = o->len;
    return a;
}

void wire_close_array(wire_out *o, wire_array a)
{
    if (o->failed)
        return;
    uint32_t n = (uint32_t)(o->len - a.first);
    memcpy(o->buf + a.len_at, &n, 4);
}

static void put_field(wire_out *o, uint8_t code, const char *sig, const char *value)
{
    wire_pad(o, 8);
    wire_put_bytes(o, &code, 1);
    wire_put_signature(o, sig);
    if (sig[0] == 'g')
        wire_put_signature(o, value);
    else
        wire_put_string(o, value);
}

void wire_begin_signal(wire_out *o, uint32_t serial, const char *path, const char *interface,
                       const char *member, const char *signature)
{
    o->msg_start = o->len;
    const uint8_t fixed[4] = {HOST_BIG ? 'B' : 'l', 4 /* signal */, 1 /* no reply expected */, 1};
    wire_put_bytes(o, fixed, 4);
    wire_put_u32(o, 0);   /* body length: wire_end_message */
    wire_put_u32(o, serial);
    wire_array fields = wire_open_array(o, 8);
    put_field(o, 1, "o", path);
    put_field(o, 2, "s", interface);
    put_field(o, 3, "s", member);
    if (signature && signature[0])
        put_field(o, 8, "g", signature);
    wire_close_array(o, fields);
    wire_pad(o, 8);   /* the body starts 8-aligned */
}

void wire_end_message(wire_out *o)
{
    if (o->failed)
        return;
    uint32_t fields;
    memcpy(&fields, o->buf + o->msg_start + 12, 4);
    size_t body_off = (WIRE_FIXED_HEADER + (size_t)fields + 7) & ~(size_t)7;
    uint32_t body = (uint32_t)(o->len - o->msg_start - body_off);
    memcpy(o->buf + o->msg_start + 4, &body, 4);
}
