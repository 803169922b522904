/* Daemon logging to stderr: one line per event, with rate limiting for repeating faults. */
#ifndef BMSAGG_LOG_H
#define BMSAGG_LOG_H

#include <stdint.h>

/* multilog (daemontools) on Venus timestamps each line, so we print none ourselves. */
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* One per repeating event site (a pack's timeouts, a rejected path...): the first occurrence is
 * logged, then at most one line per interval_ms saying how many were suppressed meanwhile. */
typedef struct {
    int64_t last_ms;
    uint32_t suppressed;
    int logged;
} log_rate;

#define LOG_RATE_INTERVAL_MS 60000

/* Logs (as a warning) unless rate-limited; returns 1 when a line was printed. */
int log_rl(log_rate *r, int64_t now_ms, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
