/* The packs' change signals read straight off a second bus connection's socket, before each tick. */
#ifndef BMSAGG_SIGREAD_H
#define BMSAGG_SIGREAD_H

#include <dbus/dbus.h>
#include <stddef.h>
#include <stdint.h>

#include "log.h"
#include "wire.h"

/* Why: with one bus-wide rule per signal type (VENUS-DBUS.md §2.2, §6) this connection receives
 * every PropertiesChanged on the bus, most of them paths nobody reads. libdbus would load and
 * validate each one (most of the daemon's CPU time); here the header is looked at first
 * (wire.h) and only what the core reads is decoded. libdbus still does everything else: it
 * connects and authenticates the connection and says Hello; after that it never reads or writes
 * this socket again, and anything the fast path does not understand goes back to it
 * (dbus_message_demarshal).
 *
 * Nothing wakes the loop for this socket: it is drained just before each tick, the only place
 * readings are used, so a burst of signals costs one pass instead of a wake-up per burst. */

typedef struct {
    /* A signal whose header was parsed (msg[0..h->body_off + h->body_len)). Returns 0 when
     * done with it (used or dropped), -1 to have it handed to `slow` as a libdbus message. */
    int (*fast)(void *ctx, const uint8_t *msg, const wire_header *h);
    /* A signal libdbus parsed (the fast path declined it, or the other byte order). */
    void (*slow)(void *ctx, DBusMessage *msg);
    void *ctx;
} sr_handlers;

typedef struct {
    DBusConnection *conn;   /* owns the socket; closed by the caller after sr_close() */
    int fd;
    uint8_t *buf;           /* bytes read and not yet consumed */
    size_t cap, fill;
    size_t skip;            /* bytes still to discard of a message too big to keep */
    uint8_t *out;           /* error replies not yet written (rare: see sigread.c) */
    size_t out_len;
    sr_handlers h;
    uint32_t serial;        /* of the messages we write ourselves */
    log_rate rl;
    uint64_t messages;      /* counters, for tests and diagnosis */
    uint64_t slow_messages;
} sr_reader;

/* Takes over conn's socket (connected, Hello done, nothing else sent on it), subscribes it to
 * each rule in `rules` (NULL-terminated) and remembers the handlers. 0 or -1. */
int sr_open(sr_reader *r, DBusConnection *conn, const char *const *rules, const sr_handlers *h);
/* Reads and handles everything queued on the socket, without blocking (at most a few MiB per
 * call, so a flooding sender cannot starve the tick). 0, or -1 when the bus closed the
 * connection or the stream is corrupt. */
int sr_drain(sr_reader *r);
void sr_close(sr_reader *r);

#endif
