/* A latched alarm: raised at once, cleared only after its cause has been absent for a hold (and, optionally, acknowledged). */
#ifndef BMSAGG_LATCH_H
#define BMSAGG_LATCH_H

#include <stdbool.h>
#include <stdint.h>

/* Caller-owned. Do not rely on its contents. */
typedef struct {
    bool raised;
    bool absent;            /* cause absent since absent_since_ms */
    int64_t absent_since_ms;
    bool acked;
} latch_state;

void latch_init(latch_state *l);

/* Acknowledges the current alarm (no effect when not raised). */
void latch_ack(latch_state *l);

/* One update; returns whether the alarm is raised after it. (Inline: the policy updates it every
 * tick, and the call cost as much as the usual update, which finds the alarm down and stays.) */
static inline bool latch_update(latch_state *l, int64_t now_ms, bool cause, int64_t hold_ms, bool require_ack)
{
    if (cause) {
        if (!l->raised) {
            l->raised = true;
            l->acked = false;   /* an acknowledge counts for the episode it was given in */
        }
        l->absent = false;
        return true;
    }
    if (!l->raised)
        return false;
    if (!l->absent) {
        l->absent = true;
        l->absent_since_ms = now_ms;
    }
    if (now_ms - l->absent_since_ms >= hold_ms && (!require_ack || l->acked)) {
        l->raised = false;
        l->absent = false;
        l->acked = false;
    }
    return l->raised;
}

#endif
