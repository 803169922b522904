/* Each pack's expected share of the bank current, and the bank limit that keeps every pack within its own limit. */
#ifndef BMSAGG_SHARE_H
#define BMSAGG_SHARE_H

#include <stdbool.h>
#include <stdint.h>

#define SHARE_MAX_PACKS 32

/* Shares by installed capacity over the member packs; if any member's capacity is unknown (NaN),
 * equal shares. Non-members get 0. */
void share_by_capacity(const bool *member, const double *cap_ah, int n, double *share);

/* Instantaneous shares from measured pack currents, in the direction sign (+1 charge, -1
 * discharge). Returns true, with inst filled, when every member's current is known and the
 * members' summed current in that direction is at least min_bank_a; else false. */
bool share_by_current(const bool *member, const double *current_a, int n, double sign,
                      double min_bank_a, double *inst);

/* Smoothed measured shares. Caller-owned; do not rely on its contents. */
typedef struct {
    bool init;
    uint32_t members;   /* membership the smoothing was built on; a change restarts it */
    double sm[SHARE_MAX_PACKS];
} share_smoother;

void share_smoother_init(share_smoother *s);

/* One step with smoothing factor alpha (0..1]; returns in used[] the share to plan with:
 * when measured, the larger of the smoothed and the instantaneous share (so the smoothing's lag
 * never under-states a pack whose share is rising); otherwise the capacity share. */
void share_update(share_smoother *s, const bool *member, int n, bool measured, const double *inst,
                  const double *cap_share, double alpha, double *used);

/* The bank limit that keeps every member pack at or below its own limit: the minimum over
 * members with a known limit of limit / share. Returns INFINITY when no member has both a
 * limit and a positive share; *binding is then -1, else the binding pack's index. */
double share_limit(const bool *member, const bool *has_limit, const double *limit_a,
                   const double *share, int n, int *binding);

#endif
