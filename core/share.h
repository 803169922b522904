/* Each pack's expected share of the bank current, and the bank limit that keeps every pack within its own limit. */
#ifndef BMSAGG_SHARE_H
#define BMSAGG_SHARE_H

#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "usual_paths.h"

#if !defined(__GNUC__)
#error "core/share.h uses GCC extensions (always_inline, __builtin_ctz): build with gcc or clang"
#endif

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
 * used[] must not overlap the input arrays (a share written would change an input still to be
 * read). */
double share_step(share_smoother *s, const share_in *in, int n, double sign, double min_bank_a,
                  double alpha, double *used, int *binding);

/* One direction's bank limit and the pack that binds it (-1 if none), as share_step returns them. */
typedef struct {
    double limit_a;
    int binding;
} share_bound;

/* Where pack i's share goes: the double at base + i * stride bytes (share_step's used[] is a
 * stride of sizeof(double); a caller's per-pack records, the size of a record). */
typedef struct {
    char *base;
    size_t stride_bytes;
} share_out;

static inline double *share_at(share_out o, int i)
{
    return (double *)(void *)(o.base + (size_t)i * o.stride_bytes);
}

/* Where pack i's input is read: the double at base + i * stride + offset bytes, an array (a
 * stride of sizeof(double), offset 0) or a field of the caller's per-pack records (the size of
 * a record, the field's offset), read in place. Columns of the same records share base and
 * stride, so that inlined the address of a pack's record is worked out once for all of them. */
typedef struct {
    const char *base;
    size_t stride_bytes, offset_bytes;
} share_col;

static inline double share_col_at(share_col c, int i)
{
    return *(const double *)(const void *)(c.base + (size_t)i * c.stride_bytes + c.offset_bytes);
}

/* Both directions' inputs in one place, as a caller has them: the charge direction is the
 * share_in {chg_member, has_ccl, cap_ah, current_a, ccl_a}, the discharge one {dis_member,
 * has_dcl, cap_ah, current_a, dcl_a}, with a member's capacity (current) unknown, as if NaN,
 * where has_cap (has_cur) has no bit for it: the columns are not read there. */
typedef struct {
    uint32_t chg_member, dis_member;
    uint32_t has_ccl, has_dcl;
    uint32_t has_cap, has_cur;
    share_col cap_ah, current_a, ccl_a, dcl_a;
    /* A caller that has added up the charge members' capacities and currents already (each
     * known, from 0.0 in pack order, as the passes add them) may say so here and spare the
     * passes a walk: sums_given true, and the totals and the count of members. */
    bool sums_given;
    double cap_total_ah, cur_total_a;
    int count;
} share_both_in;

/* One direction's inputs as the passes read them: share_in's, or share_both_in's for one
 * direction, as columns. */
typedef struct {
    uint32_t member, has_limit;
    uint32_t has_cap, has_cur;   /* as share_both_in's */
    share_col cap_ah, current_a, limit_a;
} share_cols;

/* Both directions of one tick: the same as share_step(s_chg, charge inputs, n, +1, ...) into
 * bound[0] and share_step(s_dis, discharge inputs, n, -1, ...) into bound[1], to the bit. When
 * both directions have the same members (no FET open), the members' sums are taken once, and
 * when neither measures, the capacity shares too. The shares go where chg_used and dis_used say:
 * a caller can have them written into its own per-pack records. */
static inline void share_step_both(share_smoother *s_chg, share_smoother *s_dis, const share_both_in *in,
                                   int n, double min_bank_a, double alpha, share_out chg_used,
                                   share_out dis_used, share_bound bound[2]);

/* ---- The passes themselves, inline: the policy calls share_step_both once a tick, and the call
 * (twelve arguments, the registers saved around it) cost about a tenth of the step. */

/* A bit for each of packs 0..n-1 (0 <= n <= 32): in 64 bits, where 1 << 32 is defined, without
 * a branch for n = 32. The count is taken mod 64, so that no n is undefined behaviour (x86 and
 * ARM shift by the count mod 64 anyway: it costs nothing); the callers keep n in 0..32. */
static inline uint32_t share_slots_below(int n)
{
    return (uint32_t)((UINT64_C(1) << ((unsigned)n & 63u)) - 1u);
}

/* The members' sums one direction's shares come from. */
typedef struct {
    double cap_total, cur_total;   /* installed capacity; net current this way */
    int count;
    bool cap_known, cur_known;
} share_sums;

/* The sums run over the members in pack order (set bit by set bit), so they are the same to
 * the bit as a loop over every pack that skips the others. */
static inline __attribute__((always_inline)) share_sums share_sum_members(const share_cols *in,
                                                                          uint32_t member, double sign)
{
    share_sums t = {0.0, 0.0, 0, true, true};
    for (uint32_t m = member; m != 0; m &= m - 1u) {
        int i = __builtin_ctz(m);
        t.count++;
        double cap = in->has_cap & (1u << i) ? share_col_at(in->cap_ah, i) : NAN;
        if (isnan(cap))
            t.cap_known = false;
        else
            t.cap_total += cap;
        double c = in->has_cur & (1u << i) ? sign * share_col_at(in->current_a, i) : NAN;
        if (isnan(c))
            t.cur_known = false;
        else
            t.cur_total += c;   /* net: a member flowing the other way (circulation) counts against */
    }
    return t;
}

/* One member's part in its direction's bound, its share worked out: limit / share where it has
 * a limit (a bit in has_limit, ~0u where all have one) and a share above 1e-9, the smallest
 * binding, the first of equal ones. */
static inline __attribute__((always_inline)) void share_bound_from(double share, int i, uint32_t has_limit, share_col limit_a,
                                    double *best, int *bind)
{
    if ((has_limit & (1u << i)) && share > 1e-9) {
        double l = share_col_at(limit_a, i) / share;
        if (l < *best) {
            *best = l;
            *bind = i;
        }
    }
}

/* Pack i's measured share into used and its part in the bound: member and has_limit as
 * share_from's, or ~0u where they are known to hold every pack. */
static inline __attribute__((always_inline)) void
share_measured_at(share_smoother *s, int i, uint32_t member, uint32_t has_limit, share_col current_a,
                  share_col limit_a, double sign, double cur_total, bool restart, double alpha, share_out used,
                  double *best, int *bind)
{
    bool in_member = (member & (1u << i)) != 0;
    double inst = 0.0;
    if (in_member) {
        double c = sign * share_col_at(current_a, i);
        inst = c > 0.0 ? c / cur_total : 0.0;
    }
    double sm = restart ? inst : s->sm[i] + alpha * (inst - s->sm[i]);
    s->sm[i] = sm;
    double share = sm > inst ? sm : inst;
    *share_at(used, i) = share;
    if (in_member)
        share_bound_from(share, i, has_limit, limit_a, best, bind);
}

/* Member i's capacity share into used and its part in the bound (has_limit as in
 * share_bound_from). */
static inline __attribute__((always_inline)) void share_capacity_at(int i, uint32_t has_limit, share_col cap_ah,
                                                                    share_col limit_a, double cap_total,
                                                                    share_out used, double *best, int *bind)
{
    double share = share_col_at(cap_ah, i) / cap_total;
    *share_at(used, i) = share;
    share_bound_from(share, i, has_limit, limit_a, best, bind);
}

/* The rest of share_step, once the sums are known: one pass to share and bound, and no
 * intermediate arrays (an earlier version built capacity, measured and smoothed shares in
 * four calls, which cost more than the arithmetic). slots = share_slots_below(n); pack i's
 * share goes to share_at(used, i). The sums say every member's current (when measured) or
 * capacity (when by capacity) is known: those are read without a look at the masks. Inlined:
 * the call cost more than the usual capacity pass over three packs, and the sign folds. */
static inline __attribute__((always_inline)) double
share_from(share_smoother *s, const share_cols *in, uint32_t member, const share_sums *t, int n, uint32_t slots,
           double sign, double min_bank_a, double alpha, share_out used, int *binding)
{
    /* In locals: the compiler cannot tell that the stores of the shares and to s->sm[] leave
     * them be. */
    const share_col cap_ah = in->cap_ah, current_a = in->current_a, limit_a = in->limit_a;
    const uint32_t has_limit = in->has_limit;
    const double cur_total = t->cur_total;
    bool measured = t->cur_known && cur_total >= min_bank_a && cur_total > 0.0;
    bool restart = measured && (!s->init || s->members != member);
    if (restart) {
        s->init = true;
        s->members = member;
    }

    /* Two loops rather than one testing `measured` per pack; the running minimum and its pack
     * stay in locals. */
    double best = INFINITY;
    int bind = -1;
    /* The usual bank: every pack a member with a limit. The same steps with the masks known to
     * be full (a look at them per pack, and a walk over the bits, cost more than the loop). */
    const bool full = member == slots && (has_limit & slots) == slots;
    if (measured) {
        if (POL_USUAL(POL_USUAL_MEASURED_FULL, full)) {
            for (int i = 0; i < n; i++)
                share_measured_at(s, i, ~0u, ~0u, current_a, limit_a, sign, cur_total, restart, alpha, used,
                                  &best, &bind);
        } else {
            for (int i = 0; i < n; i++)
                share_measured_at(s, i, member, has_limit, current_a, limit_a, sign, cur_total, restart, alpha,
                                  used, &best, &bind);
        }
    } else {
        /* Members only, set bit by set bit, in pack order as before (the first of equal limits
         * binds); the others get 0. */
        for (uint32_t m = slots & ~member; m != 0; m &= m - 1u)
            *share_at(used, __builtin_ctz(m)) = 0.0;
        if (t->cap_known && t->cap_total > 0.0) {
            const double cap_total = t->cap_total;
            if (POL_USUAL(POL_USUAL_CAPACITY_FULL, full)) {
                for (int i = 0; i < n; i++)
                    share_capacity_at(i, ~0u, cap_ah, limit_a, cap_total, used, &best, &bind);
            } else {
                for (uint32_t m = member; m != 0; m &= m - 1u)
                    share_capacity_at(__builtin_ctz(m), has_limit, cap_ah, limit_a, cap_total, used, &best, &bind);
            }
        } else if (member != 0) {
            /* Equal shares. Only with members: with none, 1 / 0 is a division by zero that a
             * sanitizer build traps (and its infinity would reach nothing). */
            const double share = 1.0 / t->count;
            for (uint32_t m = member; m != 0; m &= m - 1u) {
                int i = __builtin_ctz(m);
                *share_at(used, i) = share;
                share_bound_from(share, i, has_limit, limit_a, &best, &bind);
            }
        }
    }
    *binding = bind;
    return best;
}

/* Whether share_from measures the shares from these sums (else it takes them from capacity). */
static inline bool share_measures(const share_sums *t, double min_bank_a)
{
    return t->cur_known && t->cur_total >= min_bank_a && t->cur_total > 0.0;
}

/* The measured tick of the usual bank: every pack a member of both directions with both limits,
 * the capacities known, and one direction measuring (the bank current flows that way) while the
 * other, which then sees no net current its way, shares by capacity. share_from's two passes, one
 * per direction, in one loop: the same steps pack by pack in pack order, so each direction's
 * shares, smoothing and bound are share_from's to the bit (the measured direction's smoother
 * restarted as share_from restarts it; the other's left alone, as share_from leaves it when it
 * does not measure). m_* are the measuring direction's (sign, smoother, net current, limits and
 * where its shares go), o_* the other's. */
static inline __attribute__((always_inline)) void
share_measured_tick(share_smoother *m_s, double m_sign, double m_cur_total, share_col m_limit_a, share_out m_used,
                    share_col o_limit_a, share_out o_used, share_col cap_ah, share_col current_a, double cap_total,
                    uint32_t member, int n, double alpha, share_bound *m_bound, share_bound *o_bound)
{
    const bool restart = !m_s->init || m_s->members != member;
    if (restart) {
        m_s->init = true;
        m_s->members = member;
    }
    double m_best = INFINITY, o_best = INFINITY;
    int m_bind = -1, o_bind = -1;
    for (int i = 0; i < n; i++) {
        share_measured_at(m_s, i, ~0u, ~0u, current_a, m_limit_a, m_sign, m_cur_total, restart, alpha, m_used,
                          &m_best, &m_bind);
        share_capacity_at(i, ~0u, cap_ah, o_limit_a, cap_total, o_used, &o_best, &o_bind);
    }
    *m_bound = (share_bound){m_best, m_bind};
    *o_bound = (share_bound){o_best, o_bind};
}

static inline void share_step_both(share_smoother *s_chg, share_smoother *s_dis, const share_both_in *in,
                                   int n, double min_bank_a, double alpha, share_out chg_used,
                                   share_out dis_used, share_bound bound[2])
{
    const uint32_t slots = share_slots_below(n);
    const uint32_t chg_member = in->chg_member & slots, dis_member = in->dis_member & slots;
    const share_cols chg_in = {in->chg_member, in->has_ccl, in->has_cap, in->has_cur, in->cap_ah, in->current_a,
                               in->ccl_a},
                     dis_in = {in->dis_member, in->has_dcl, in->has_cap, in->has_cur, in->cap_ah, in->current_a,
                               in->dcl_a};
    const share_cols *chg = &chg_in, *dis = &dis_in;
    share_sums tc = POL_USUAL(POL_USUAL_SUMS_GIVEN, in->sums_given) ? (share_sums){in->cap_total_ah, in->cur_total_a, in->count, true, true}
                                   : share_sum_members(chg, chg_member, +1.0);
    share_sums td;
    const bool same = dis_member == chg_member;   /* and the same capacities and currents */
    if (POL_USUAL(POL_USUAL_SAME_SUMS, same)) {
        /* The same additions of the negated currents: rounding to nearest is symmetric, so their
         * sum is the negated sum, to the bit but for the sign of a zero, which nothing sees (the
         * net current counts only above zero). */
        td = tc;
        td.cur_total = -tc.cur_total;
    } else {
        td = share_sum_members(dis, dis_member, -1.0);
    }
    if (POL_USUAL(POL_USUAL_SHARE_TICK, same && !share_measures(&tc, min_bank_a) &&
                                            !share_measures(&td, min_bank_a) && tc.cap_known && tc.cap_total > 0.0)) {
        /* The usual tick: too little bank current either way, so both directions share by capacity
         * over the same members, with the same shares: share_from's capacity pass for both at once
         * (it leaves the smoothers alone), each share divided out once. */
        const share_col cap_ah = in->cap_ah, chg_limit_a = in->ccl_a, dis_limit_a = in->dcl_a;
        const uint32_t chg_has = in->has_ccl, dis_has = in->has_dcl;
        const double cap_total = tc.cap_total;
        for (uint32_t m = slots & ~chg_member; m != 0; m &= m - 1u)
            *share_at(chg_used, __builtin_ctz(m)) = *share_at(dis_used, __builtin_ctz(m)) = 0.0;
        double chg_best = INFINITY, dis_best = INFINITY;
        int chg_bind = -1, dis_bind = -1;
        if (POL_USUAL(POL_USUAL_SHARE_TICK_FULL, chg_member == slots && (chg_has & dis_has & slots) == slots)) {
            /* The usual bank: every pack a member with both limits. The same steps in pack order,
             * with the masks known to be full (a walk over the bits and a look at the masks cost
             * more than the loop). */
            for (int i = 0; i < n; i++) {
                double share = share_col_at(cap_ah, i) / cap_total;
                *share_at(chg_used, i) = *share_at(dis_used, i) = share;
                share_bound_from(share, i, ~0u, chg_limit_a, &chg_best, &chg_bind);
                share_bound_from(share, i, ~0u, dis_limit_a, &dis_best, &dis_bind);
            }
        } else {
            for (uint32_t m = chg_member; m != 0; m &= m - 1u) {
                int i = __builtin_ctz(m);
                double share = share_col_at(cap_ah, i) / cap_total;
                *share_at(chg_used, i) = *share_at(dis_used, i) = share;
                share_bound_from(share, i, chg_has, chg_limit_a, &chg_best, &chg_bind);
                share_bound_from(share, i, dis_has, dis_limit_a, &dis_best, &dis_bind);
            }
        }
        bound[0] = (share_bound){chg_best, chg_bind};
        bound[1] = (share_bound){dis_best, dis_bind};
        return;
    }
    /* The other usual tick: enough bank current one way to measure (at most one way measures:
     * the net current is above zero in one direction only), in the usual bank. */
    const bool chg_measures = share_measures(&tc, min_bank_a), dis_measures = share_measures(&td, min_bank_a);
    if (POL_USUAL(POL_USUAL_MEASURED_TICK, same && (chg_measures || dis_measures) && chg_member == slots &&
                                               (in->has_ccl & in->has_dcl & slots) == slots && tc.cap_known &&
                                               tc.cap_total > 0.0)) {
        if (chg_measures)
            share_measured_tick(s_chg, +1.0, tc.cur_total, in->ccl_a, chg_used, in->dcl_a, dis_used, in->cap_ah,
                                in->current_a, tc.cap_total, chg_member, n, alpha, &bound[0], &bound[1]);
        else
            share_measured_tick(s_dis, -1.0, td.cur_total, in->dcl_a, dis_used, in->ccl_a, chg_used, in->cap_ah,
                                in->current_a, tc.cap_total, chg_member, n, alpha, &bound[1], &bound[0]);
        return;
    }
    bound[0].limit_a = share_from(s_chg, chg, chg_member, &tc, n, slots, +1.0, min_bank_a, alpha, chg_used,
                                  &bound[0].binding);
    bound[1].limit_a = share_from(s_dis, dis, dis_member, &td, n, slots, -1.0, min_bank_a, alpha, dis_used,
                                  &bound[1].binding);
}

#endif
