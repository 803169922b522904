/* The packs' change signals read straight off a second bus connection's socket, before each tick. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "loop.h"
#include "sigread.h"

#define SR_INITIAL_BYTES (32u * 1024u)          /* a tick of 3 packs' signals in few reads */
#define SR_SHRINK_ABOVE_BYTES (256u * 1024u)    /* give back what a big message needed */
#define SR_MAX_KEEP_BYTES (32u * 1024u * 1024u) /* the system bus' default message limit */
#define SR_MAX_DRAIN_BYTES (8u * 1024u * 1024u) /* per tick; the rest waits for the next one */
#define SR_MAX_OUT_BYTES (64u * 1024u)          /* unwritten error replies: more are dropped */

/* Writes all of data before the loop starts (the subscriptions): the socket is fresh and the
 * messages small, so this is one send() each, but a full socket is waited on (at most 2 s). */
static int write_all(int fd, const char *data, size_t len)
{
    for (int tries = 0; len > 0; tries++) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            data += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            return -1;
        struct pollfd p = {fd, POLLOUT, 0};
        if (tries > 20 || poll(&p, 1, 100) < 0)
            return -1;
    }
    return 0;
}

static int marshal(sr_reader *r, DBusMessage *m, char **data, int *len)
{
    /* Our own serials, far from libdbus' (it used 1 for Hello and never sends again here). */
    dbus_message_set_serial(m, ++r->serial);
    return dbus_message_marshal(m, data, len) ? 0 : -1;
}

int sr_open(sr_reader *r, DBusConnection *conn, const char *const *rules, const sr_handlers *h)
{
    memset(r, 0, sizeof *r);
    r->conn = conn;
    r->h = *h;
    r->serial = 0x40000000u;
    if (!dbus_connection_get_socket(conn, &r->fd))
        return -1;
    r->buf = malloc(SR_INITIAL_BYTES);
    if (!r->buf)
        return -1;
    r->cap = SR_INITIAL_BYTES;
    /* AddMatch written by us, without a reply: letting libdbus send it and wait for the answer
     * would let it read the first signals too, maybe half of one, and the stream is ours. */
    for (int k = 0; rules[k]; k++) {
        DBusMessage *m = dbus_message_new_method_call(DBUS_SERVICE_DBUS, DBUS_PATH_DBUS, DBUS_INTERFACE_DBUS,
                                                      "AddMatch");
        char *data = NULL;
        int len = 0;
        int rc = -1;
        if (m && dbus_message_append_args(m, DBUS_TYPE_STRING, &rules[k], DBUS_TYPE_INVALID)) {
            dbus_message_set_no_reply(m, TRUE);
            if (marshal(r, m, &data, &len) == 0)
                rc = write_all(r->fd, data, (size_t)len);
        }
        free(data);
        if (m)
            dbus_message_unref(m);
        if (rc != 0)
            return -1;
    }
    return 0;
}

void sr_close(sr_reader *r)
{
    free(r->buf);
    free(r->out);
    r->buf = r->out = NULL;
    r->cap = r->fill = r->out_len = 0;
}

static void out_flush(sr_reader *r)
{
    while (r->out_len > 0) {
        ssize_t n = send(r->fd, r->out, r->out_len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n <= 0)
            return;   /* the bus is not reading us now: try again at the next drain */
        memmove(r->out, r->out + n, r->out_len - (size_t)n);
        r->out_len -= (size_t)n;
    }
}

/* A method call to this connection's unique name: nobody should make one, but libdbus would
 * answer it (UnknownMethod; Peer.Ping), so a caller is never left waiting for its timeout. */
static void answer_call(sr_reader *r, DBusMessage *call)
{
    if (dbus_message_get_no_reply(call))
        return;
    DBusMessage *reply = dbus_message_is_method_call(call, DBUS_INTERFACE_PEER, "Ping")
                             ? dbus_message_new_method_return(call)
                             : dbus_message_new_error(call, DBUS_ERROR_UNKNOWN_METHOD,
                                                      "this connection only listens to signals");
    char *data = NULL;
    int len = 0;
    if (reply && marshal(r, reply, &data, &len) == 0 && r->out_len + (size_t)len <= SR_MAX_OUT_BYTES) {
        uint8_t *grown = realloc(r->out, r->out_len + (size_t)len);
        if (grown) {
            /* Whole messages only: a partial one would corrupt the stream. */
            memcpy(grown + r->out_len, data, (size_t)len);
            r->out = grown;
            r->out_len += (size_t)len;
            out_flush(r);
        }
    }
    free(data);
    if (reply)
        dbus_message_unref(reply);
}

static void handle(sr_reader *r, const uint8_t *msg, size_t len)
{
    wire_header h;
    r->messages++;
    wire_rc rc = wire_parse_header(msg, len, &h);
    if (rc == WIRE_BAD)
        return;   /* dbus-daemon validated it; nothing sane to do with it anyway */
    if (rc == WIRE_OK) {
        if (h.type == DBUS_MESSAGE_TYPE_SIGNAL && r->h.fast(r->h.ctx, msg, &h) == 0)
            return;
        /* Replies and errors: this connection never calls anything. */
        if (h.type == DBUS_MESSAGE_TYPE_METHOD_RETURN || h.type == DBUS_MESSAGE_TYPE_ERROR)
            return;
        if (h.type == DBUS_MESSAGE_TYPE_METHOD_CALL && (h.flags & DBUS_HEADER_FLAG_NO_REPLY_EXPECTED))
            return;
    }
    r->slow_messages++;
    DBusMessage *m = dbus_message_demarshal((const char *)msg, (int)len, NULL);
    if (!m)
        return;
    if (dbus_message_get_type(m) == DBUS_MESSAGE_TYPE_METHOD_CALL)
        answer_call(r, m);
    else if (dbus_message_get_type(m) == DBUS_MESSAGE_TYPE_SIGNAL)
        r->h.slow(r->h.ctx, m);
    dbus_message_unref(m);
}

/* Handles every complete message in the buffer and keeps the partial one at its start. */
static int consume(sr_reader *r)
{
    size_t off = 0;
    if (r->skip > 0) {
        size_t d = r->skip < r->fill ? r->skip : r->fill;
        off = d;
        r->skip -= d;
    }
    while (off < r->fill) {
        size_t total;
        wire_rc rc = wire_frame(r->buf + off, r->fill - off, &total);
        if (rc == WIRE_MORE)
            break;
        if (rc != WIRE_OK) {
            log_err("signal connection: not a D-Bus message stream any more");
            return -1;
        }
        size_t have = r->fill - off;
        if (total > have) {
            if (total > SR_MAX_KEEP_BYTES) {
                log_rl(&r->rl, loop_now_ms(), "signal connection: dropped a %zu-byte message", total);
                r->skip = total - have;
                off = r->fill;
            }
            break;
        }
        handle(r, r->buf + off, total);
        off += total;
    }
    memmove(r->buf, r->buf + off, r->fill - off);
    r->fill -= off;
    /* Room for the whole message being received (the buffer is never full on return). */
    size_t need = r->fill + 4096;
    size_t total;
    if (wire_frame(r->buf, r->fill, &total) == WIRE_OK && total + 1 > need)
        need = total + 1;
    if (need > r->cap) {
        size_t cap = r->cap;
        while (cap < need)
            cap *= 2;
        uint8_t *grown = realloc(r->buf, cap);
        if (!grown) {
            log_err("signal connection: out of memory");
            return -1;
        }
        r->buf = grown;
        r->cap = cap;
    }
    return 0;
}

int sr_drain(sr_reader *r)
{
    if (!r->buf)
        return 0;
    out_flush(r);
    size_t budget = SR_MAX_DRAIN_BYTES;
    for (;;) {
        ssize_t n = recv(r->fd, r->buf + r->fill, r->cap - r->fill, MSG_DONTWAIT);
        if (n == 0) {
            log_err("signal connection: closed by the bus");
            return -1;
        }
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            log_err("signal connection: %s", strerror(errno));
            return -1;
        }
        r->fill += (size_t)n;
        if (consume(r) != 0)
            return -1;
        if ((size_t)n >= budget)
            break;
        budget -= (size_t)n;
    }
    if (r->cap > SR_SHRINK_ABOVE_BYTES && r->fill < SR_INITIAL_BYTES / 2) {
        uint8_t *small = realloc(r->buf, SR_INITIAL_BYTES);
        if (small) {
            r->buf = small;
            r->cap = SR_INITIAL_BYTES;
        }
    }
    return 0;
}
