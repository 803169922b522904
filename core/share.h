/* Each pack's expected share of the bank current, and the bank limit that keeps every pack within its own limit. */
#ifndef BMSAGG_SHARE_H
#define BMSAGG_SHARE_H

#include <stdbool.h>
#include <stdint.h>

#define SHARE_MAX_PACKS 32

/* Smoothed measured shares, one per direction. Caller-owned; do not rely on its contents. */
typedef struct {
    bool init;
    uint32_t members;   /* membership the smoothing was built on; a change restarts it */
    double sm[SHARE_MAX_PACKS];
} share_smoother;

void share_smoother_init(share_smoother *s);

/* One direction's inputs for packs 0..n-1 (n <= SHARE_MAX_PACKS), bit i of a mask for pack i.
 * Members are the packs that take current this way (online, FET not open); a member's
 * capacity or current is NaN when unknown. The arrays are read at members only. */
typedef struct {
    uint32_t member;
    uint32_t has_limit;        /* the pack publishes its own limit this way */
    const double *cap_ah;      /* installed capacity */
    const double *current_a;   /* + = charging */
    const double *limit_a;     /* the pack's own limit, read where has_limit */
} share_in;

/* One tick of one direction (sign +1 charge, -1 discharge), in one pass over the packs:
 *  - the share to plan with, in used[0..n): measured when every member's current is known and
 *    the members' net current this way is at least min_bank_a (each member's current this way
 *    over that net sum: with a pack flowing the other way, circulating into the others, the
 *    rest carry more than their part of the bank current and the shares add up to more than 1, smoothed with factor alpha in (0, 1]; the larger of smoothed and
 *    instantaneous, so the smoothing's lag never under-states a rising share; a change of
 *    members restarts the smoothing); otherwise by installed capacity over the members (equal
 *    shares if any member's capacity is unknown). Non-members get 0.
 *  - returned: the bank limit that keeps every member at or below its own limit, the minimum
 *    over members with a limit and a share above 1e-9 of limit / share; INFINITY if none, with
 *    *binding = -1, else *binding is the binding pack.
 * used[] must not overlap the input arrays (the passes read them through restrict pointers). */
double share_step(share_smoother *s, const share_in *in, int n, double sign, double min_bank_a,
                  double alpha, double *used, int *binding);

/* One direction's bank limit and the pack that binds it (-1 if none), as share_step returns them. */
typedef struct {
    double limit_a;
    int binding;
} share_bound;

/* Both directions' inputs in one place, as a caller gathers them in one pass over the packs:
 * the charge direction is the share_in {chg_member, has_ccl, cap_ah, current_a, ccl_a}, the
 * discharge one {dis_member, has_dcl, cap_ah, current_a, dcl_a}. */
typedef struct {
    uint32_t chg_member, dis_member;
    uint32_t has_ccl, has_dcl;
    double cap_ah[SHARE_MAX_PACKS], current_a[SHARE_MAX_PACKS];
    double ccl_a[SHARE_MAX_PACKS], dcl_a[SHARE_MAX_PACKS];
} share_both_in;

/* Both directions of one tick: the same as share_step(s_chg, charge inputs, n, +1, ...) into
 * bound[0] and share_step(s_dis, discharge inputs, n, -1, ...) into bound[1], to the bit. When
 * both directions have the same members (no FET open), the members' sums are taken once, and
 * when neither measures, the capacity shares too. */
void share_step_both(share_smoother *s_chg, share_smoother *s_dis, const share_both_in *in, int n,
                     double min_bank_a, double alpha, double *chg_used, double *dis_used, share_bound bound[2]);

#endif
