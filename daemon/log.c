/* Daemon logging to stderr: one line per event, with rate limiting for repeating faults. */
#include <stdarg.h>
#include <stdio.h>

#include "log.h"

static void vlog(const char *level, const char *fmt, va_list ap, uint32_t suppressed)
{
    /* Build the whole line first so concurrent writers (multilog pipes) never interleave it. */
    char line[1024];
    int n = snprintf(line, sizeof line, "bms-aggregator: %s: ", level);
    if (n < 0)
        return;
    size_t pos = (size_t)n < sizeof line ? (size_t)n : sizeof line - 1;
    int m = vsnprintf(line + pos, sizeof line - pos, fmt, ap);
    if (m > 0)
        pos += (size_t)m < sizeof line - pos ? (size_t)m : sizeof line - pos - 1;
    if (suppressed > 0 && pos < sizeof line - 1) {
        m = snprintf(line + pos, sizeof line - pos, " (%u similar suppressed)", (unsigned)suppressed);
        if (m > 0)
            pos += (size_t)m < sizeof line - pos ? (size_t)m : sizeof line - pos - 1;
    }
    fprintf(stderr, "%s\n", line);
    fflush(stderr);
}

void log_info(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog("info", fmt, ap, 0);
    va_end(ap);
}

void log_warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog("warning", fmt, ap, 0);
    va_end(ap);
}

void log_err(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog("error", fmt, ap, 0);
    va_end(ap);
}

int log_rl(log_rate *r, int64_t now_ms, const char *fmt, ...)
{
    if (r->logged && now_ms - r->last_ms < LOG_RATE_INTERVAL_MS) {
        r->suppressed++;
        return 0;
    }
    va_list ap;
    va_start(ap, fmt);
    vlog("warning", fmt, ap, r->suppressed);
    va_end(ap);
    r->logged = 1;
    r->last_ms = now_ms;
    r->suppressed = 0;
    return 1;
}
