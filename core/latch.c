/* A latched alarm: raised at once, cleared only after its cause has been absent for a hold (and, optionally, acknowledged). */
#include "latch.h"

void latch_init(latch_state *l)
{
    l->raised = false;
    l->absent = false;
    l->absent_since_ms = 0;
    l->acked = false;
}

void latch_ack(latch_state *l)
{
    if (l->raised)
        l->acked = true;
}

bool latch_update(latch_state *l, int64_t now_ms, bool cause, int64_t hold_ms, bool require_ack)
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
