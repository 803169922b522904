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
