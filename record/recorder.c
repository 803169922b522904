/* Records, on the Cerbo's flash, what the daemon fed the core and what it published: buffered, rotated, never fatal. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "recfmt.h"
#include "recorder.h"

/* Flash wears with every small write: rows collect in RAM and go out in blocks. */
#define REC_BUF_SIZE (64 * 1024)
#define REC_FLUSH_AT (48 * 1024)
#define REC_FLUSH_EVERY_MS 60000
/* After a write error (disk full, read-only), try again this much later. */
#define REC_RETRY_MS 600000

struct rec_recorder {
    conf_record rc;
    char side_name[CONF_NAME_LEN * 2 + 64];   /* basename of the config side file */
    char hash[17];
    rec_log_fn log;
    int fd;
    long file_bytes;          /* bytes in the current file */
    char buf[REC_BUF_SIZE];
    size_t used;
    int64_t last_flush_ms;
    int64_t last_output_ms;
    bool have_output;
    bool need_header;         /* the next flush starts a new file */
    bool paused;
    int64_t paused_at_ms;
    int64_t now_ms;
    bool logged_pause;
    char *config_text;        /* the effective config, for the side file */
    bool side_written;
    rec_stats stats;
    char line[REC_LINE_MAX];
};

void rec_hash_text(const char *text, char out[17])
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        h ^= *p;
        h *= 0x100000001b3ull;
    }
    snprintf(out, 17, "%016llx", (unsigned long long)h);
}

static void say(rec_recorder *r, const char *fmt, const char *detail)
{
    char msg[CONF_NAME_LEN * 4];
    snprintf(msg, sizeof msg, fmt, r->rc.path, detail);
    if (r->log)
        r->log(msg);
}

static void pause_recording(rec_recorder *r, int err)
{
    if (r->fd >= 0)
        close(r->fd);
    r->fd = -1;
    r->used = 0;
    r->paused = true;
    r->stats.paused = 1;
    r->paused_at_ms = r->now_ms;
    if (!r->logged_pause) {
        /* Once: a full disk would otherwise fill the log, which lives on the same flash. */
        say(r, "recording to %s paused: %s (retrying every 10 minutes)", strerror(err));
        r->logged_pause = true;
    }
}

static int write_all(rec_recorder *r, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(r->fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return errno;
        }
        p += w;
        n -= (size_t)w;
        r->file_bytes += (long)w;
        r->stats.bytes_written += (uint64_t)w;
    }
    return 0;
}

/* Shifts path -> path.1 -> ... -> path.(max_files-1), dropping the oldest. */
static void rotate(rec_recorder *r)
{
    char from[sizeof r->rc.path + 16], to[sizeof r->rc.path + 16];
    for (int i = r->rc.max_files - 1; i >= 1; i--) {
        if (i == 1)
            snprintf(from, sizeof from, "%s", r->rc.path);
        else
            snprintf(from, sizeof from, "%s.%d", r->rc.path, i - 1);
        snprintf(to, sizeof to, "%s.%d", r->rc.path, i);
        rename(from, to);   /* a missing one is fine: fewer files exist yet */
    }
    if (r->rc.max_files <= 1)
        unlink(r->rc.path);
    r->stats.rotations++;
}

static int open_file(rec_recorder *r, const char *header_state)
{
    r->fd = open(r->rc.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (r->fd < 0)
        return errno;
    r->file_bytes = 0;
    char head[512];
    int n = snprintf(head, sizeof head,
                     "# bms-aggregator recording\n# format=%d\n# version=%s\n# config_hash=%s\n"
                     "# config_file=%s\n# state_size=%zu\n",
                     REC_FORMAT_VERSION, BMSAGG_VERSION, r->hash, r->side_name, sizeof(pol_state));
    int e = write_all(r, head, (size_t)n);
    if (!e)
        e = write_all(r, header_state, strlen(header_state));
    return e;
}

static void flush_buf(rec_recorder *r)
{
    if (r->paused || r->used == 0)
        return;
    int e = 0;
    if (r->fd < 0)
        e = EBADF;
    if (!e)
        e = write_all(r, r->buf, r->used);
    if (e) {
        pause_recording(r, e);
        return;
    }
    r->used = 0;
    r->last_flush_ms = r->now_ms;
}

static void append(rec_recorder *r, const char *s, int n)
{
    if (n < 0)
        return;
    if (r->used + (size_t)n > sizeof r->buf)
        flush_buf(r);
    if (r->paused) {
        r->stats.dropped_rows++;
        return;
    }
    if (r->used + (size_t)n > sizeof r->buf)
        return;   /* a single row larger than the buffer cannot happen: rows are < 16 KiB */
    memcpy(r->buf + r->used, s, (size_t)n);
    r->used += (size_t)n;
    r->stats.rows++;
}

static int write_side_file(rec_recorder *r)
{
    char side_path[sizeof r->rc.path + 64];
    snprintf(side_path, sizeof side_path, "%s.config-%s.ini", r->rc.path, r->hash);
    FILE *f = fopen(side_path, "w");
    if (!f)
        return errno;
    int e = fputs(r->config_text, f) == EOF ? errno : 0;
    if (fclose(f) != 0 && !e)
        e = errno;
    return e;
}

/* Starts a new file whose first row is the state snapshot, so it replays alone. An existing
 * file (an earlier run, or the one that just filled up) is rotated, never truncated. */
static void start_file(rec_recorder *r, const pol_state *state)
{
    static char snap[2 * sizeof(pol_state) + 64];
    if (r->fd >= 0) {
        close(r->fd);
        r->fd = -1;
    }
    int e = 0;
    if (!r->side_written) {
        e = write_side_file(r);
        r->side_written = e == 0;
    }
    if (!e && access(r->rc.path, F_OK) == 0)
        rotate(r);
    if (!e) {
        if (rec_format_state(snap, sizeof snap, state) < 0)
            snap[0] = '\0';
        e = open_file(r, snap);
    }
    if (e)
        pause_recording(r, e);
}

rec_recorder *rec_open(const conf_t *conf, rec_log_fn log)
{
    rec_recorder *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->rc = conf->record;
    r->log = log;
    r->fd = -1;
    r->need_header = true;

    /* The effective config, as --check-config prints it, is what a replay loads. */
    size_t text_len = 0;
    FILE *m = open_memstream(&r->config_text, &text_len);
    if (!m) {
        free(r);
        return NULL;
    }
    conf_print(m, conf);
    fclose(m);
    rec_hash_text(r->config_text, r->hash);
    const char *slash = strrchr(r->rc.path, '/');
    const char *base = slash ? slash + 1 : r->rc.path;
    snprintf(r->side_name, sizeof r->side_name, "%s.config-%s.ini", base, r->hash);
    return r;
}

void rec_tick(rec_recorder *r, int64_t now_ms, const rdg_reading *readings, int n_packs,
              int expected_packs, bool acked, const pol_output *out, const pol_state *state)
{
    if (!r)
        return;
    r->now_ms = now_ms;
    if (r->paused) {
        if (now_ms - r->paused_at_ms < REC_RETRY_MS) {
            r->stats.dropped_rows++;
            return;
        }
        r->paused = false;
        r->stats.paused = 0;
        r->need_header = true;
    }
    if (r->need_header) {
        /* A file opens with the state after this tick; its rows start with the next tick. */
        r->need_header = false;
        start_file(r, state);
        r->last_flush_ms = now_ms;
        return;
    }
    int n = rec_format_tick(r->line, sizeof r->line, now_ms, n_packs, expected_packs, acked);
    append(r, r->line, n);
    for (int i = 0; i < n_packs; i++) {
        if (!readings[i].fresh)
            continue;
        n = rec_format_pack(r->line, sizeof r->line, i, &readings[i]);
        append(r, r->line, n);
    }
    if (!r->have_output || now_ms - r->last_output_ms >= (int64_t)(r->rc.interval_s * 1000.0)) {
        n = rec_format_output(r->line, sizeof r->line, now_ms, out);
        append(r, r->line, n);
        r->have_output = true;
        r->last_output_ms = now_ms;
    }
    if (r->used >= REC_FLUSH_AT || now_ms - r->last_flush_ms >= REC_FLUSH_EVERY_MS)
        flush_buf(r);
    if (!r->paused && r->file_bytes + (long)r->used >= r->rc.max_bytes) {
        flush_buf(r);
        if (!r->paused)
            start_file(r, state);
    }
}

void rec_flush(rec_recorder *r)
{
    if (r) {
        flush_buf(r);
        if (r->fd >= 0)
            fsync(r->fd);
    }
}

void rec_close(rec_recorder *r)
{
    if (!r)
        return;
    flush_buf(r);
    if (r->fd >= 0)
        close(r->fd);
    free(r->config_text);
    free(r);
}

rec_stats rec_get_stats(const rec_recorder *r)
{
    rec_stats s = {0, 0, 0, 0, 0};
    return r ? r->stats : s;
}
