/* Suite share: capacity and measured shares, the smoothing, the pack-share limit, and share_step
 * against a reference model built from the four separate steps it fuses. */
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "share.h"
#include "suites.h"

/* ---- Reference model: the original four-step computation, kept here to check the fused one. */

static void ref_by_capacity(const bool *member, const double *cap_ah, int n, double *share)
{
    double total = 0.0;
    int count = 0;
    bool all_known = true;
    for (int i = 0; i < n; i++) {
        if (!member[i])
            continue;
        count++;
        if (isnan(cap_ah[i]))
            all_known = false;
        else
            total += cap_ah[i];
    }
    for (int i = 0; i < n; i++) {
        if (!member[i] || count == 0)
            share[i] = 0.0;
        else if (all_known && total > 0.0)
            share[i] = cap_ah[i] / total;
        else
            share[i] = 1.0 / count;
    }
}

static bool ref_by_current(const bool *member, const double *current_a, int n, double sign,
                           double min_bank_a, double *inst)
{
    double total = 0.0;
    for (int i = 0; i < n; i++) {
        inst[i] = 0.0;
        if (!member[i])
            continue;
        if (isnan(current_a[i]))
            return false;
        total += sign * current_a[i];
    }
    if (!(total >= min_bank_a) || total <= 0.0)
        return false;
    for (int i = 0; i < n; i++) {
        if (!member[i])
            continue;
        double c = sign * current_a[i];
        inst[i] = c > 0.0 ? c / total : 0.0;
    }
    return true;
}

static void ref_update(share_smoother *s, const bool *member, int n, bool measured, const double *inst,
                       const double *cap_share, double alpha, double *used)
{
    uint32_t mask = 0;
    for (int i = 0; i < n; i++)
        if (member[i])
            mask |= 1u << i;
    if (!measured) {
        for (int i = 0; i < n; i++)
            used[i] = cap_share[i];
        return;
    }
    if (!s->init || s->members != mask) {
        for (int i = 0; i < n; i++)
            s->sm[i] = inst[i];
        s->init = true;
        s->members = mask;
    } else {
        for (int i = 0; i < n; i++)
            s->sm[i] += alpha * (inst[i] - s->sm[i]);
    }
    for (int i = 0; i < n; i++)
        used[i] = s->sm[i] > inst[i] ? s->sm[i] : inst[i];
}

static double ref_limit(const bool *member, const bool *has_limit, const double *limit_a,
                        const double *share, int n, int *binding)
{
    double best = INFINITY;
    *binding = -1;
    for (int i = 0; i < n; i++) {
        if (!member[i] || !has_limit[i] || !(share[i] > 1e-9))
            continue;
        double l = limit_a[i] / share[i];
        if (l < best) {
            best = l;
            *binding = i;
        }
    }
    return best;
}

static double ref_step(share_smoother *s, const share_in *in, int n, double sign, double min_bank_a,
                       double alpha, double *used, int *binding)
{
    bool member[SHARE_MAX_PACKS], has_limit[SHARE_MAX_PACKS];
    double cap_share[SHARE_MAX_PACKS], inst[SHARE_MAX_PACKS];
    for (int i = 0; i < n; i++) {
        member[i] = (in->member >> i) & 1u;
        has_limit[i] = (in->has_limit >> i) & 1u;
    }
    ref_by_capacity(member, in->cap_ah, n, cap_share);
    bool measured = ref_by_current(member, in->current_a, n, sign, min_bank_a, inst);
    ref_update(s, member, n, measured, inst, cap_share, alpha, used);
    return ref_limit(member, has_limit, in->limit_a, used, n, binding);
}

/* ---- Vectors. */

static const double no_current[3] = {NAN, NAN, NAN};
static const double no_limit[3] = {0, 0, 0};

static void test_capacity(void)
{
    share_smoother s;
    share_smoother_init(&s);
    double cap[3] = {280, 140, 280}, sh[3];
    share_in in = {0x7u, 0, cap, no_current, no_limit};
    int bind;
    CU_ASSERT(isinf(share_step(&s, &in, 3, +1.0, 10.0, 0.1, sh, &bind)));
    CU_ASSERT_EQUAL(bind, -1);
    ASSERT_NEAR(sh[0], 0.4, 1e-12);
    ASSERT_NEAR(sh[1], 0.2, 1e-12);
    in.member = 0x5u;
    share_step(&s, &in, 3, +1.0, 10.0, 0.1, sh, &bind);
    ASSERT_NEAR(sh[0], 0.5, 1e-12);
    ASSERT_NEAR(sh[1], 0.0, 1e-12);
    in.member = 0x7u;
    cap[2] = NAN;   /* one unknown capacity: equal shares */
    share_step(&s, &in, 3, +1.0, 10.0, 0.1, sh, &bind);
    ASSERT_NEAR(sh[0], 1.0 / 3, 1e-12);
    CU_ASSERT_FALSE(s.init);   /* nothing measured: the smoother is untouched */
}

static void test_measured(void)
{
    share_smoother s;
    share_smoother_init(&s);
    double cap[3] = {280, 280, 280}, cur[3] = {60, 30, 10}, sh[3];
    share_in in = {0x7u, 0, cap, cur, no_limit};
    int bind;
    share_step(&s, &in, 3, +1.0, 10.0, 0.1, sh, &bind);
    ASSERT_NEAR(sh[0], 0.6, 1e-12);
    ASSERT_NEAR(sh[2], 0.1, 1e-12);
    share_smoother_init(&s);
    share_step(&s, &in, 3, -1.0, 10.0, 0.1, sh, &bind);   /* nothing discharging: by capacity */
    ASSERT_NEAR(sh[0], 1.0 / 3, 1e-12);
    double small[3] = {3, 3, 3};
    in.current_a = small;   /* below the 10 A needed to measure */
    share_step(&s, &in, 3, +1.0, 10.0, 0.1, sh, &bind);
    ASSERT_NEAR(sh[2], 1.0 / 3, 1e-12);
    cur[1] = NAN;   /* one unknown current: by capacity */
    in.current_a = cur;
    share_step(&s, &in, 3, +1.0, 10.0, 0.1, sh, &bind);
    ASSERT_NEAR(sh[0], 1.0 / 3, 1e-12);
    CU_ASSERT_FALSE(s.init);
}

/* A pack flowing against the bank (a fuller pack charging the others while the bank discharges)
 * leaves the others carrying more than the bank current: shares are of the net current, so the
 * bank limit keeps the pack with the lowest limit within it (sweep seed 1114). */
static void test_circulation(void)
{
    share_smoother s;
    share_smoother_init(&s);
    double cap[3] = {280, 280, 280}, cur[3] = {-25.0, -32.4, +12.4}, lim[3] = {100, 24.4, 100}, sh[3];
    share_in in = {0x7u, 0x7u, cap, cur, lim};
    int bind;
    /* bank discharges 45 A; pack 1 carries 32.4 of it: share 0.72, the bank may draw 33.9 A */
    double l = share_step(&s, &in, 3, -1.0, 10.0, 0.1, sh, &bind);
    ASSERT_NEAR(sh[1], 32.4 / 45.0, 1e-12);
    ASSERT_NEAR(sh[2], 0.0, 1e-12);
    ASSERT_NEAR(l, 24.4 / (32.4 / 45.0), 1e-9);
    CU_ASSERT_EQUAL(bind, 1);
    CU_ASSERT(sh[0] + sh[1] > 1.0);
    /* the pack charging the others: the bank's net discharge below the minimum is not measured */
    double circ[3] = {-6.0, -6.0, +8.0};
    in.current_a = circ;
    share_step(&s, &in, 3, -1.0, 10.0, 0.1, sh, &bind);
    ASSERT_NEAR(sh[0], 1.0 / 3, 1e-12);
}

static void test_limit(void)
{
    share_smoother s;
    share_smoother_init(&s);
    double cap[3] = {280, 140, 280}, lim[3] = {100, 30, 100}, sh[3];
    share_in in = {0x7u, 0x7u, cap, no_current, lim};
    int bind;
    ASSERT_NEAR(share_step(&s, &in, 3, +1.0, 10.0, 0.1, sh, &bind), 150.0, 1e-9);
    CU_ASSERT_EQUAL(bind, 1);
    lim[1] = 0.0;
    ASSERT_NEAR(share_step(&s, &in, 3, +1.0, 10.0, 0.1, sh, &bind), 0.0, 1e-12);
    in.has_limit = 0x5u;
    ASSERT_NEAR(share_step(&s, &in, 3, +1.0, 10.0, 0.1, sh, &bind), 250.0, 1e-9);
    in.member = 0x2u;   /* the only member has no limit */
    CU_ASSERT(isinf(share_step(&s, &in, 3, +1.0, 10.0, 0.1, sh, &bind)));
    CU_ASSERT_EQUAL(bind, -1);
}

static void test_smoother(void)
{
    share_smoother s;
    share_smoother_init(&s);
    double cap[2] = {280, 280}, used[2];
    double a[2] = {80, 20}, b[2] = {50, 50}, quiet[2] = {1, 1};
    share_in in = {0x3u, 0, cap, a, no_limit};
    int bind;
    share_step(&s, &in, 2, +1.0, 10.0, 0.1, used, &bind);
    ASSERT_NEAR(used[0], 0.8, 1e-12);
    in.current_a = b;
    share_step(&s, &in, 2, +1.0, 10.0, 0.1, used, &bind);
    /* Smoothed 0.77 for pack 0; pack 1's rising share takes the instantaneous 0.5. */
    ASSERT_NEAR(used[0], 0.77, 1e-12);
    ASSERT_NEAR(used[1], 0.5, 1e-12);
    in.current_a = quiet;
    share_step(&s, &in, 2, +1.0, 10.0, 0.1, used, &bind);
    ASSERT_NEAR(used[0], 0.5, 1e-12);   /* not measurable: capacity shares */
    in.current_a = b;
    in.member = 0x1u;   /* a change of members restarts the smoothing */
    share_step(&s, &in, 2, +1.0, 10.0, 0.1, used, &bind);
    ASSERT_NEAR(used[0], 1.0, 1e-12);
    ASSERT_NEAR(used[1], 0.0, 1e-12);
}

/* ---- Property: share_step equals the four-step reference to the bit, tick after tick. */

static double maybe_nan(double x)
{
    return tu_rng_next() % 40 == 0 ? NAN : x;
}

static void test_fused_equals_reference(void)
{
    tu_rng_state = tu_seed ^ 0x5348415245ull;
    int mismatches = 0;
    for (int run = 0; run < 200 && mismatches == 0; run++) {
        share_smoother fs, rs;
        share_smoother_init(&fs);
        share_smoother_init(&rs);
        int n = 1 + (int)(tu_rng_next() % SHARE_MAX_PACKS);
        double alpha = tu_rng_next() % 5 == 0 ? 1.0 : tu_rng_uniform(0.001, 1.0);
        double min_a = tu_rng_next() % 5 == 0 ? 0.0 : tu_rng_uniform(0.0, 40.0);
        for (int tick = 0; tick < 50 && mismatches == 0; tick++) {
            double cap[SHARE_MAX_PACKS], cur[SHARE_MAX_PACKS], lim[SHARE_MAX_PACKS];
            for (int i = 0; i < n; i++) {
                cap[i] = maybe_nan(tu_rng_next() % 4 == 0 ? 140.0 : 280.0);
                cur[i] = maybe_nan(tu_rng_uniform(-60.0, 60.0));
                lim[i] = tu_rng_next() % 10 == 0 ? 0.0 : tu_rng_uniform(0.0, 200.0);
            }
            /* Membership mostly steady, so the smoothing runs as well as restarts. */
            uint32_t member = tu_rng_next() % 8 == 0 ? (uint32_t)tu_rng_next() : 0xffffffffu;
            if (n < 32)
                member &= (1u << n) - 1u;
            /* Half the time every pack has a limit: with every pack a member, share_step's loops
             * for a full bank. */
            uint32_t has_limit = tu_rng_next() % 2 ? ~0u : (uint32_t)tu_rng_next() | 0x0f0f0f0fu;
            share_in in = {member, has_limit, cap, cur, lim};
            double sign = tu_rng_next() % 2 ? +1.0 : -1.0;
            double fu[SHARE_MAX_PACKS], ru[SHARE_MAX_PACKS];
            int fb, rb;
            double fl = share_step(&fs, &in, n, sign, min_a, alpha, fu, &fb);
            double rl = ref_step(&rs, &in, n, sign, min_a, alpha, ru, &rb);
            bool same = memcmp(&fl, &rl, sizeof fl) == 0 && fb == rb &&
                        memcmp(fu, ru, sizeof(double) * (size_t)n) == 0 && fs.init == rs.init &&
                        fs.members == rs.members && memcmp(fs.sm, rs.sm, sizeof fs.sm) == 0;
            if (!same)
                mismatches++;
        }
    }
    CU_ASSERT_EQUAL(mismatches, 0);
}

/* ---- Property: share_step_both gives what share_step gives for each direction, to the bit:
 * the same members or not, measured, by capacity (its one-pass path for both, and its loop for
 * a bank of members with every limit) or equal shares, the members' sums its own or the
 * caller's; its inputs read in place in records, an unknown capacity or current (no bit in
 * has_cap, has_cur) as share_step's NaN. */

/* A caller's per-pack record, its inputs among other fields. */
typedef struct {
    double before;
    double cap_ah, current_a;
    int other;
    double ccl_a, dcl_a;
} pack_rec;

static void test_both_equals_two_steps(void)
{
    tu_rng_state = tu_seed ^ 0x424f5448ull;
    int mismatches = 0, both_by_capacity = 0, every_limit = 0;
    for (int run = 0; run < 300 && mismatches == 0; run++) {
        share_smoother bc, bd, sc, sd;
        /* Zeroed first: compared whole, padding and all. */
        memset(&bc, 0, sizeof bc);
        memset(&bd, 0, sizeof bd);
        memset(&sc, 0, sizeof sc);
        memset(&sd, 0, sizeof sd);
        share_smoother_init(&bc);
        share_smoother_init(&bd);
        share_smoother_init(&sc);
        share_smoother_init(&sd);
        int n = 1 + (int)(tu_rng_next() % SHARE_MAX_PACKS);
        double alpha = tu_rng_next() % 5 == 0 ? 1.0 : tu_rng_uniform(0.001, 1.0);
        double min_a = tu_rng_next() % 5 == 0 ? 0.0 : tu_rng_uniform(0.0, 40.0);
        double scale = tu_rng_next() % 2 ? 1.0 : 0.1;   /* small currents: capacity both ways */
        for (int tick = 0; tick < 50 && mismatches == 0; tick++) {
            pack_rec recs[SHARE_MAX_PACKS];
            double cap[SHARE_MAX_PACKS], cur[SHARE_MAX_PACKS], ccl[SHARE_MAX_PACKS], dcl[SHARE_MAX_PACKS];
            share_both_in in;
            memset(&in, 0, sizeof in);
            in.has_cap = in.has_cur = ~0u;
            for (int i = 0; i < n; i++) {
                pack_rec *r = &recs[i];
                r->before = NAN;
                r->other = -1;
                r->cap_ah = cap[i] = maybe_nan(tu_rng_next() % 4 == 0 ? 140.0 : tu_rng_uniform(50.0, 300.0));
                r->current_a = cur[i] = maybe_nan(scale * tu_rng_uniform(-60.0, 60.0));
                r->ccl_a = ccl[i] = tu_rng_next() % 10 == 0 ? 0.0 : tu_rng_uniform(0.0, 200.0);
                r->dcl_a = dcl[i] = tu_rng_next() % 10 == 0 ? 0.0 : tu_rng_uniform(0.0, 200.0);
                /* Unknown by its mask: NaN to share_step, garbage in the record. */
                if (tu_rng_next() % 16 == 0) {
                    in.has_cap &= ~(1u << i);
                    cap[i] = NAN;
                    r->cap_ah = 1e300;
                }
                if (tu_rng_next() % 16 == 0) {
                    in.has_cur &= ~(1u << i);
                    cur[i] = NAN;
                    r->current_a = -1e300;
                }
            }
            const char *base = (const char *)recs;
            in.cap_ah = (share_col){base, sizeof(pack_rec), offsetof(pack_rec, cap_ah)};
            in.current_a = (share_col){base, sizeof(pack_rec), offsetof(pack_rec, current_a)};
            in.ccl_a = (share_col){base, sizeof(pack_rec), offsetof(pack_rec, ccl_a)};
            in.dcl_a = (share_col){base, sizeof(pack_rec), offsetof(pack_rec, dcl_a)};
            uint32_t member = tu_rng_next() % 8 == 0 ? (uint32_t)tu_rng_next() : 0xffffffffu;
            uint32_t dis_member = tu_rng_next() % 4 == 0 ? member & (uint32_t)tu_rng_next() : member;
            in.chg_member = member;
            in.dis_member = dis_member;
            in.has_ccl = tu_rng_next() % 2 ? ~0u : (uint32_t)tu_rng_next() | 0x0f0f0f0fu;
            in.has_dcl = tu_rng_next() % 2 ? ~0u : (uint32_t)tu_rng_next() | 0x00ff00ffu;
            /* Half the time the charge members' sums come from the caller, as the policy gives
             * them when every member's capacity and current are known. */
            in.sums_given = false;
            if (tu_rng_next() % 2) {
                double cap_total = 0.0, cur_total = 0.0;
                int count = 0;
                bool known = true;
                for (int i = 0; i < n; i++)
                    if (member & (1u << i)) {
                        known = known && !isnan(cap[i]) && !isnan(cur[i]);
                        cap_total += cap[i];
                        cur_total += cur[i];
                        count++;
                    }
                in.sums_given = known;
                in.cap_total_ah = cap_total;
                in.cur_total_a = cur_total;
                in.count = count;
            }
            share_in chg = {member, in.has_ccl, cap, cur, ccl};
            share_in dis = {dis_member, in.has_dcl, cap, cur, dcl};
            double bcu[SHARE_MAX_PACKS], bdu[SHARE_MAX_PACKS], scu[SHARE_MAX_PACKS], sdu[SHARE_MAX_PACKS];
            share_bound bound[2];
            int cb, db;
            share_step_both(&bc, &bd, &in, n, min_a, alpha, (share_out){(char *)bcu, sizeof *bcu},
                            (share_out){(char *)bdu, sizeof *bdu}, bound);
            double cl = share_step(&sc, &chg, n, +1.0, min_a, alpha, scu, &cb);
            double dl = share_step(&sd, &dis, n, -1.0, min_a, alpha, sdu, &db);
            bool same = memcmp(&bound[0].limit_a, &cl, sizeof cl) == 0 && bound[0].binding == cb &&
                        memcmp(&bound[1].limit_a, &dl, sizeof dl) == 0 && bound[1].binding == db &&
                        memcmp(bcu, scu, sizeof(double) * (size_t)n) == 0 &&
                        memcmp(bdu, sdu, sizeof(double) * (size_t)n) == 0 && memcmp(&bc, &sc, sizeof bc) == 0 &&
                        memcmp(&bd, &sd, sizeof bd) == 0;
            if (!same)
                mismatches++;
            /* Coverage: ticks on the one-pass path (same members, neither way measured, every
             * member's capacity known), and those with every pack a member with both limits. */
            uint32_t slots = n < 32 ? (1u << n) - 1u : ~0u;
            uint32_t m = member & slots;
            double net = 0.0, caps = 0.0;
            for (int i = 0; i < n; i++)
                if (m & (1u << i)) {
                    net += cur[i];
                    caps += cap[i];
                }
            bool measured = !isnan(net) && ((net >= min_a && net > 0.0) || (-net >= min_a && -net > 0.0));
            bool one_pass = (dis_member & slots) == m && !measured && caps > 0.0;
            both_by_capacity += one_pass;
            every_limit += one_pass && m == slots && (in.has_ccl & in.has_dcl & slots) == slots;
        }
    }
    CU_ASSERT_EQUAL(mismatches, 0);
    CU_ASSERT(both_by_capacity > 100);
    CU_ASSERT(every_limit > 50);
}

void suite_share(void)
{
    CU_pSuite s = CU_add_suite("share", NULL, NULL);
    CU_add_test(s, "capacity shares", test_capacity);
    CU_add_test(s, "measured shares need enough current", test_measured);
    CU_add_test(s, "limit = min(pack limit / share)", test_limit);
    CU_add_test(s, "smoothing never under-states a rising share", test_smoother);
    CU_add_test(s, "shares of the net current when a pack circulates", test_circulation);
    CU_add_test(s, "share_step equals the four-step reference (bitwise)", test_fused_equals_reference);
    CU_add_test(s, "share_step_both equals share_step each way (bitwise)", test_both_equals_two_steps);
}
