/* The daemon's single poll() loop: libdbus watches and timeouts, a periodic tick, signals. */
#ifndef BMSAGG_LOOP_H
#define BMSAGG_LOOP_H

#include <dbus/dbus.h>
#include <stdint.h>

typedef void (*loop_tick_fn)(void *ctx, int64_t now_ms);
typedef void (*loop_signal_fn)(void *ctx, int signo);

/* Installs libdbus's watch and timeout functions on conn and the signal handlers (SIGTERM,
 * SIGINT, SIGHUP; SIGPIPE ignored). 0 or -1. */
int loop_init(DBusConnection *conn);

/* Monotonic milliseconds, read once per wake-up: every handler run during one wake-up sees
 * the same time (chrony's sched, Redis' serverCron). */
int64_t loop_now_ms(void);

/* Calls fn every period_ms (first call one period from now, or at once if `now` is true). */
void loop_set_tick(int64_t period_ms, loop_tick_fn fn, void *ctx);
/* Changes the period; the next tick is rescheduled from now. */
void loop_set_period(int64_t period_ms);
/* Called from the loop (never from the signal handler) for SIGHUP, SIGTERM and SIGINT. */
void loop_set_signal_handler(loop_signal_fn fn, void *ctx);

/* Runs until loop_stop(); returns the code given to it. */
int loop_run(void);
void loop_stop(int code);

#endif
