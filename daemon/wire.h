/* The D-Bus wire format read straight from bytes: framing, header fields, BusItem change values. */
#ifndef BMSAGG_WIRE_H
#define BMSAGG_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "variant.h"

/* Why: libdbus loads and validates every message it reads (about 4 us for a 200-byte
 * PropertiesChanged), and the bus-wide change-signal rules deliver mostly messages nobody reads
 * (cell voltages, balancing flags, other services). These functions let the signal reader look
 * at a message's header and at the values it uses without that cost. They never read outside
 * the bytes given; whatever they do not fully understand is left to libdbus (WIRE_UNSUPPORTED).
 * Messages arrive through dbus-daemon, which has already validated them. */

#define WIRE_FIXED_HEADER 16                      /* bytes needed to frame a message */
#define WIRE_MAX_MESSAGE (128u * 1024u * 1024u)   /* the specification's limit */

typedef enum {
    WIRE_OK = 0,
    WIRE_MORE = 1,          /* not enough bytes yet */
    WIRE_BAD = -1,          /* not a D-Bus message (or malformed) */
    WIRE_UNSUPPORTED = -2   /* valid perhaps, but for libdbus: the other byte order */
} wire_rc;

/* Length of the message starting at buf (either byte order): WIRE_OK and *total_bytes,
 * WIRE_MORE with fewer than WIRE_FIXED_HEADER bytes, or WIRE_BAD. */
wire_rc wire_frame(const uint8_t *buf, size_t len, size_t *total_bytes);

typedef struct {
    int type;                   /* DBUS_MESSAGE_TYPE_* */
    unsigned flags;             /* DBUS_HEADER_FLAG_* */
    uint32_t serial;
    /* NUL-terminated strings inside the message, NULL when the field is absent. */
    const char *path, *interface, *member, *sender, *signature;
    size_t body_off;            /* offset of the body in the message */
    uint32_t body_len;
} wire_header;

/* Parses the header of one whole message msg[0..total). WIRE_OK, WIRE_BAD, or WIRE_UNSUPPORTED
 * when the message is not in this machine's byte order. */
wire_rc wire_parse_header(const uint8_t *msg, size_t total, wire_header *h);

/* The "Value" of a PropertiesChanged body (a{sv}), decoded as var_decode would: WIRE_OK,
 * WIRE_MORE when the dict has no "Value", WIRE_BAD. Strings point into msg. */
wire_rc wire_props_value(const uint8_t *msg, const wire_header *h, var_value *value);

/* For each entry of an ItemsChanged / GetItems body (a{sa{sv}}) whose path passes want(), its
 * "Value" decoded: fn(ctx, path, value). Other entries are skipped without being decoded.
 * WIRE_OK, or WIRE_BAD (entries before the fault have been delivered). */
typedef void (*wire_item_fn)(void *ctx, const char *path, const var_value *value);
wire_rc wire_items(const uint8_t *msg, const wire_header *h, int (*want)(const char *path),
                   wire_item_fn fn, void *ctx);

/* ---- writing: the daemon's own change signals ----
 * libdbus builds each message through its type writers and sends each with its own sendmsg();
 * a tick's PropertiesChanged and ItemsChanged are written here, in this machine's byte order,
 * into one buffer that busitem.c sends at once. */

typedef struct {
    uint8_t *buf;
    size_t len, cap;
    size_t msg_start;   /* alignment counts from the start of the message being written */
    bool failed;        /* out of memory: the buffer is not to be sent */
} wire_out;

typedef struct {
    size_t len_at, first;   /* where the array's length goes, where its first element starts */
} wire_array;

/* The serial after `serial` for the messages we write ourselves: the top half of the range, far
 * from libdbus' counter, and round again within it, never through 0 (a serial of 0 is invalid and
 * the bus would drop us: at 65 signals a second that would come after a year and a half). */
uint32_t wire_next_own_serial(uint32_t serial);

void wire_out_reset(wire_out *o);
void wire_out_free(wire_out *o);
/* A signal header (flags: no reply expected, as libdbus sets on signals); the body follows. */
void wire_begin_signal(wire_out *o, uint32_t serial, const char *path, const char *interface,
                       const char *member, const char *signature);
/* Patches the body length of the message begun last. */
void wire_end_message(wire_out *o);
void wire_pad(wire_out *o, size_t alignment);
void wire_put_string(wire_out *o, const char *s);
void wire_put_signature(wire_out *o, const char *sig);
void wire_put_i32(wire_out *o, int32_t v);
void wire_put_u32(wire_out *o, uint32_t v);
void wire_put_double(wire_out *o, double v);
wire_array wire_open_array(wire_out *o, size_t element_alignment);
void wire_close_array(wire_out *o, wire_array a);
/* Appends another buffer's bytes (a body built separately, from an 8-aligned start). */
void wire_put_bytes(wire_out *o, const uint8_t *p, size_t n);

#endif
