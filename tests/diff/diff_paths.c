/* Differential test: the usual core against the same core built with every fast path off (-DPOL_USUAL_PATHS=0), tick by tick over random and adversarial banks; any difference, or a fast path never taken, fails. */
#define POL_USUAL_SEEN diff_usual_seen   /* this program defines the counting copy's hook */

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"
#include "usual_paths.h"

/* The general-code copy (fast paths off) and the counting copy (the usual code, counting each
 * fast path it takes), both built from core/ by tests/diff/CMakeLists.txt with their symbols
 * renamed. */
int ref_pol_step(pol_state *s, const pol_config *c, int64_t now_ms, const rdg_reading *readings, int n,
                 pol_output *out);
void ref_pol_init(pol_state *s);
void ref_pol_acknowledge(pol_state *s);
rdg_verdict ref_rdg_validate(const rdg_reading *r, double cell_lo_v, double cell_hi_v);
int cnt_pol_step(pol_state *s, const pol_config *c, int64_t now_ms, const rdg_reading *readings, int n,
                 pol_output *out);
void cnt_pol_init(pol_state *s);
void cnt_pol_acknowledge(pol_state *s);
rdg_verdict cnt_rdg_validate(const rdg_reading *r, double cell_lo_v, double cell_hi_v);

static const char *const site_names[POL_USUAL_SITES] = {
    [POL_USUAL_BANK_PACK] = "bank-pack",
    [POL_USUAL_ACCEPT] = "accept",
    [POL_USUAL_QUIET] = "quiet",
    [POL_USUAL_PLAINLY] = "plainly",
    [POL_USUAL_VALIDATE] = "validate",
    [POL_USUAL_ALL_FIELDS] = "all-fields",
    [POL_USUAL_MASKS_SKIP] = "masks-skip",
    [POL_USUAL_BANK] = "bank",
    [POL_USUAL_OVP_SKIP] = "ovp-skip",
    [POL_USUAL_SPIKE_BANK] = "spike-bank",
    [POL_USUAL_SPIKE_PACKS] = "spike-packs",
    [POL_USUAL_RELAXED_SKIP] = "relaxed-skip",
    [POL_USUAL_ALPHA_CACHE] = "alpha-cache",
    [POL_USUAL_SUMS_GIVEN] = "sums-given",
    [POL_USUAL_SAME_SUMS] = "same-sums",
    [POL_USUAL_SHARE_TICK] = "share-tick",
    [POL_USUAL_SHARE_TICK_FULL] = "share-tick-full",
    [POL_USUAL_MEASURED_TICK] = "measured-tick",
    [POL_USUAL_MEASURED_FULL] = "measured-full",
    [POL_USUAL_CAPACITY_FULL] = "capacity-full",
    [POL_USUAL_REASON_CACHE] = "reason-cache",
    [POL_USUAL_REASON_COPY] = "reason-copy",
    [POL_USUAL_CLEAR_SKIP] = "clear-skip",
};

/* How often the counting copy took each fast path. */
static long usual_taken[POL_USUAL_SITES];

bool diff_usual_seen(enum pol_usual_site site, bool taken)
{
    if (taken && (int)site >= 0 && site < POL_USUAL_SITES)
        usual_taken[site]++;
    return taken;
}

/* splitmix64: small, seedable, the same sequence on every target. */
static uint64_t rng_s;
static uint64_t rnd(void)
{
    uint64_t z = (rng_s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static double uni(double lo, double hi)
{
    return lo + (hi - lo) * (double)(rnd() >> 11) / 9007199254740992.0;
}
static bool chance(double p)
{
    return uni(0, 1) < p;
}
static int irange(int lo, int hi)
{
    return lo + (int)(rnd() % (uint64_t)(hi - lo + 1));
}

/* An adversarial value for a field whose plausible range is [lo, hi]: the bounds and the doubles
 * just outside them, NaN, infinities, signed zeros, far out. */
static double weird(double lo, double hi)
{
    switch (irange(0, 11)) {
    case 0: return NAN;
    case 1: return INFINITY;
    case 2: return -INFINITY;
    case 3: return lo;
    case 4: return hi;
    case 5: return nextafter(lo, -INFINITY);
    case 6: return nextafter(hi, INFINITY);
    case 7: return -0.0;
    case 8: return 0.0;
    case 9: return hi * 10 + 1;
    case 10: return -hi - 1;
    default: return uni(lo - (hi - lo), hi + (hi - lo));
    }
}

/* One simulated pack: what its BMS would report, drifting tick by tick. */
typedef struct {
    double soc_pct, cap_ah, cur_a, temp_c, min_cell_v, max_cell_v, cvl_v, ccl_a, dcl_a;
    uint32_t never;      /* fields this pack never reports */
    int silent_until;    /* tick until which it sends nothing */
    int label;
    bool grid;           /* SOC on a 0.1 grid, to land on tier boundaries exactly */
} pack_sim;

static pack_sim packs[POL_MAX_PACKS];
/* Per run: the chance a field is adversarial, missing, a pack goes silent. */
static double p_weird, p_miss, p_silent;
/* A calm run looks like a healthy bank (every field, cells mean-reverting, small deltas, shares
 * by the bank current): the fast paths' own ground. */
static bool calm;
static double calm_base_pct, calm_spread_pct, bank_cur_a;

static void pack_new(pack_sim *p)
{
    p->soc_pct = calm ? calm_base_pct + uni(0, calm_spread_pct) : uni(0, 100);
    p->cap_ah = chance(0.8) ? 280.0 : uni(50, 400);
    p->cur_a = uni(-100, 100);
    p->temp_c = uni(0, 40);
    p->min_cell_v = uni(3.0, 3.5);
    p->max_cell_v = p->min_cell_v + uni(0, 0.3);
    p->cvl_v = chance(0.7) ? 55.2 : uni(50, 58);
    p->ccl_a = chance(0.5) ? 100.0 : uni(0, 300);
    p->dcl_a = chance(0.5) ? 150.0 : uni(0, 300);
    p->never = chance(calm ? 0.95 : 0.7) ? 0 : (uint32_t)(rnd() & rnd() & 0x7fff);
    p->silent_until = 0;
    p->label = chance(0.5) ? -1 : irange(0, 300);
    p->grid = chance(0.4);
}

/* Pack p's reading at this tick (cell_lo_v, cell_hi_v: the config's plausible cell range, for
 * adversarial cells just outside it). */
static void make_reading(pack_sim *p, int tick, rdg_reading *r, double cell_lo_v, double cell_hi_v)
{
    rdg_clear(r);
    if (calm)
        p->cur_a = bank_cur_a * p->cap_ah / 840.0 + uni(-2, 2);
    else
        p->cur_a += uni(-5, 5);
    if (chance(0.01))
        p->cur_a = -p->cur_a;   /* circulation: one pack against the bank */
    if (chance(0.02))
        p->cur_a = uni(-3, 3);
    p->soc_pct += p->cur_a * 0.0005 + uni(-0.05, 0.05);
    if (p->soc_pct < 0)
        p->soc_pct = 0;
    if (p->soc_pct > 100)
        p->soc_pct = 100;
    p->temp_c += uni(-0.1, 0.1);
    if (calm) {
        double target_v = 3.2 + 0.3 * p->soc_pct / 100.0;
        p->min_cell_v += 0.05 * (target_v - p->min_cell_v) + uni(-0.003, 0.003);
        double delta_v = p->max_cell_v - p->min_cell_v;
        delta_v += 0.05 * (0.04 - delta_v) + uni(-0.004, 0.004);
        p->max_cell_v = p->min_cell_v + (delta_v > 0 ? delta_v : 0);
    } else {
        p->min_cell_v += uni(-0.005, 0.005);
        p->max_cell_v += uni(-0.005, 0.006);
    }
    if (p->max_cell_v < p->min_cell_v)
        p->max_cell_v = p->min_cell_v;
    if (p->max_cell_v > 3.7)
        p->max_cell_v = 3.3;
    if (chance(0.001))
        pack_new(p);   /* swapped for another pack */
    if (tick < p->silent_until)
        return;
    if (chance(p_silent))
        p->silent_until = tick + irange(1, chance(0.5) ? 8 : 40);
    r->fresh = chance(0.9);
    r->label = p->label;
    double soc_pct = p->grid ? round(p->soc_pct * 10) / 10 : p->soc_pct;
    double vals[RDG_FIELD_COUNT] = {soc_pct, 16 * p->min_cell_v + uni(0, 0.5), p->cur_a, p->cur_a * 53, p->temp_c,
                                    p->min_cell_v, p->max_cell_v, p->cap_ah, soc_pct / 100 * p->cap_ah,
                                    -(100 - soc_pct) / 100 * p->cap_ah, p->cvl_v, p->ccl_a, p->dcl_a,
                                    chance(0.95), chance(0.95)};
    double q = calm ? 0.05 : 1.0;
    if (chance(0.01 * q))
        vals[RDG_MAX_CELL] += uni(0, 0.5);   /* a spike */
    if (chance(0.005 * q))
        vals[RDG_MIN_CELL] = vals[RDG_MAX_CELL] + 0.01;   /* cells out of order */
    if (chance(0.01 * q))
        vals[RDG_MAX_CELL] = uni(3.4, 3.65);   /* into the taper and past the stop */
    for (int f = 0; f < RDG_FIELD_COUNT; f++) {
        if ((p->never >> f) & 1 || chance(p_miss))
            continue;
        double v = vals[f];
        if (f < RDG_ALLOW_CHARGE && chance(p_weird)) {
            double lo = 0, hi = 100;
            switch (f) {
            case RDG_VOLTAGE: case RDG_CVL: hi = 1000; break;
            case RDG_CURRENT: case RDG_CCL: case RDG_DCL: lo = f == RDG_CURRENT ? -10000 : 0; hi = 10000; break;
            case RDG_POWER: lo = -1e7; hi = 1e7; break;
            case RDG_TEMPERATURE: lo = -60; hi = 150; break;
            case RDG_MIN_CELL: case RDG_MAX_CELL: lo = cell_lo_v; hi = cell_hi_v; break;
            case RDG_INSTALLED_CAP: case RDG_REMAINING_CAP: hi = 100000; break;
            case RDG_CONSUMED_AH: lo = -100000; hi = 100000; break;
            default: break;
            }
            v = weird(lo, hi);
        }
        rdg_set(r, (enum rdg_field)f, v);
    }
    r->min_cell_id = chance(0.1) ? -1 : irange(1, 16);
    r->max_cell_id = chance(0.1) ? -1 : irange(1, 16);
    /* A missing field's value is garbage at times: it must never be looked at. */
    if (chance(0.3)) {
        uint32_t miss = ~r->present;
        if (miss & RDG_BIT(RDG_SOC)) r->soc_pct = NAN;
        if (miss & RDG_BIT(RDG_MAX_CELL)) r->max_cell_v = 1e9;
        if (miss & RDG_BIT(RDG_CURRENT)) r->current_a = -INFINITY;
        if (miss & RDG_BIT(RDG_INSTALLED_CAP)) r->installed_cap_ah = -5;
        if (miss & RDG_BIT(RDG_CCL)) r->ccl_a = NAN;
        if (miss & RDG_BIT(RDG_ALLOW_CHARGE)) r->allow_charge = false;
    }
    if (chance(calm ? 0.02 : 0.5)) {
        r->alarm_present = (uint32_t)(rnd() & (chance(0.5) ? 0xc : 0xffffffffu));
        for (int a = 0; a < RDG_AL_COUNT; a++)
            r->alarm[a] = (uint8_t)(chance(0.002) ? irange(3, 255) : chance(0.05) ? irange(1, 2) : 0);
    }
}

/* A random config that pol_config_check accepts. */
static void rand_config(pol_config *c)
{
    for (;;) {
        pol_config_default(c);
        if (chance(0.3)) c->soc_mode = POL_SOC_WEIGHTED;
        if (chance(0.3)) c->expected_packs = irange(1, 32);
        if (chance(0.3)) c->min_packs_online = irange(0, 4);
        if (chance(0.3)) c->alarm_require_ack = true;
        if (chance(0.2)) c->forward_pack_alarms = false;
        if (chance(0.3)) c->offline_cvl_v = 0.0;
        if (chance(0.2)) c->share_tau_s = chance(0.5) ? 0.0 : uni(0, 100);
        if (chance(0.2)) c->share_min_current_a = chance(0.5) ? 0.0 : uni(0, 50);
        if (chance(0.2)) c->stale_timeout_s = uni(0.5, 30);
        if (chance(0.2)) c->alarm_clear_hold_s = chance(0.5) ? 0 : uni(0, 100);
        if (chance(0.2)) c->unlock_hold_s = chance(0.5) ? 0 : uni(0, 100);
        if (chance(0.2)) c->unlock_hysteresis_pct = uni(0, 5);
        if (chance(0.2)) c->ramp_a_per_s = uni(0.1, 100);
        if (chance(0.2)) c->nominal_ccl_a = uni(0, 500);
        if (chance(0.2)) c->nominal_dcl_a = uni(0, 500);
        if (chance(0.2)) c->spike_cell_delta_v = uni(0.01, 0.5);
        if (chance(0.2)) c->cell_taper_floor_pct = uni(0, 100);
        if (chance(0.2)) c->cvl_ramp_v_per_s = uni(0.001, 1);
        if (chance(0.2)) {
            c->n_tiers = irange(1, 8);
            double bound_pct = 0, ccl_pct = 100;
            for (int i = 0; i < c->n_tiers; i++) {
                c->tier_ccl_pct[i] = ccl_pct;
                ccl_pct -= uni(1, 12);
                if (i < c->n_tiers - 1) {
                    bound_pct += chance(0.5) ? round(uni(0.5, 8)) : uni(0.5, 8);
                    c->tier_spread_pct[i] = bound_pct;
                }
            }
            c->warning_tier = chance(0.5) ? 0 : irange(0, c->n_tiers - 1);
        } else if (chance(0.3)) {
            c->warning_tier = irange(0, 3);
        }
        if (chance(0.1)) {
            c->cell_min_plausible_v = uni(1, 3);
            c->cell_max_plausible_v = uni(3.6, 10);
        }
        const char *key, *other, *why;
        if (pol_config_check(c, &key, &other, &why) == 0)
            return;
    }
}

/* Equal to the bit: a NaN's payload and a zero's sign count. */
static bool same_bits(double a, double b)
{
    return memcmp(&a, &b, sizeof a) == 0;
}

#define CMP_I(f)                                                                                     \
    if (a->f != b->f) {                                                                              \
        printf("  %s: %d (usual) vs %d (general)\n", #f, (int)a->f, (int)b->f);                     \
        ok = false;                                                                                  \
    }
#define CMP_D(f)                                                                                     \
    if (!same_bits(a->f, b->f)) {                                                                    \
        printf("  %s: %a (usual) vs %a (general)\n", #f, a->f, b->f);                               \
        ok = false;                                                                                  \
    }

/* Names the fields that differ, so a failure says where to look (the caller also compares every
 * byte, padding included). */
static bool outputs_equal(const pol_output *a, const pol_output *b)
{
    bool ok = true;
    CMP_I(soc_valid) CMP_D(soc_pct) CMP_I(spread_valid) CMP_D(spread_pct) CMP_I(voltage_valid) CMP_D(voltage_v)
    CMP_I(current_valid) CMP_D(current_a) CMP_I(power_valid) CMP_D(power_w) CMP_I(temp_valid) CMP_D(temp_max_c)
    CMP_D(temp_min_c) CMP_I(installed_valid) CMP_D(installed_cap_ah) CMP_I(capacity_valid) CMP_D(capacity_ah)
    CMP_I(consumed_valid) CMP_D(consumed_ah) CMP_I(cells_valid) CMP_D(min_cell_v) CMP_D(max_cell_v)
    CMP_I(min_cell_pack) CMP_I(min_cell_id) CMP_I(max_cell_pack) CMP_I(max_cell_id)
    CMP_D(ccl_a) CMP_D(dcl_a) CMP_D(cvl_v) CMP_D(battery_low_v) CMP_I(allow_charge) CMP_I(allow_discharge)
    CMP_I(tier) CMP_D(tier_ccl_a) CMP_I(ccl_limiter) CMP_I(dcl_limiter)
    CMP_I(red_alert) CMP_I(spike) CMP_I(n_online) CMP_I(n_offline) CMP_I(n_blocking_charge)
    CMP_I(n_blocking_discharge) CMP_I(n_expected) CMP_I(rejected_total)
    if (memcmp(a->reason, b->reason, sizeof a->reason) != 0) {
        printf("  reason: '%s' (usual) vs '%s' (general)\n", a->reason, b->reason);
        ok = false;
    }
    if (memcmp(a->alarm, b->alarm, sizeof a->alarm) != 0) {
        printf("  alarm levels differ\n");
        ok = false;
    }
    for (int i = 0; i < POL_MAX_PACKS; i++) {
        const pol_pack_out *x = &a->pack[i], *y = &b->pack[i];
        if (x->state != y->state || x->rejected_now != y->rejected_now || x->rejected_count != y->rejected_count ||
            x->last_verdict != y->last_verdict || !same_bits(x->charge_share, y->charge_share) ||
            !same_bits(x->discharge_share, y->discharge_share) || !same_bits(x->soc_pct, y->soc_pct) ||
            x->has_soc != y->has_soc) {
            printf("  pack %d: state %d/%d charge share %a/%a discharge share %a/%a soc %a/%a\n", i, x->state,
                   y->state, x->charge_share, y->charge_share, x->discharge_share, y->discharge_share, x->soc_pct,
                   y->soc_pct);
            ok = false;
        }
    }
    return ok;
}

/* The tick's input, to reproduce a failure without this program. */
static void dump_input(const pol_config *c, int64_t now_ms, const rdg_reading *rd, int n)
{
    printf("  now_ms %" PRId64 " n %d; config: soc_mode %d expected %d min_online %d share_min %a tau %a "
           "stale %a spike %a cells %a..%a\n",
           now_ms, n, (int)c->soc_mode, c->expected_packs, c->min_packs_online, c->share_min_current_a,
           c->share_tau_s, c->stale_timeout_s, c->spike_cell_delta_v, c->cell_min_plausible_v,
           c->cell_max_plausible_v);
    for (int i = 0; i < n && i < POL_MAX_PACKS; i++) {
        const rdg_reading *r = &rd[i];
        printf("  pack %d: fresh %d present %#x soc %a v %a i %a p %a t %a cells %a..%a cap %a/%a cons %a "
               "cvl %a ccl %a dcl %a allow %d/%d alarms %#x\n",
               i, r->fresh, r->present, r->soc_pct, r->voltage_v, r->current_a, r->power_w, r->temperature_c,
               r->min_cell_v, r->max_cell_v, r->installed_cap_ah, r->remaining_cap_ah, r->consumed_ah, r->cvl_v,
               r->ccl_a, r->dcl_a, r->allow_charge, r->allow_discharge, r->alarm_present);
    }
}

static void usage(void)
{
    fprintf(stderr, "usage: bmsagg-diff-paths [--seed N] [--ticks N]   (defaults: seed 1, 300000 ticks)\n");
    exit(2);
}

static uint64_t parse_u64(const char *s)
{
    char *end;
    unsigned long long v = strtoull(s, &end, 0);
    if (*s == '\0' || *s == '-' || *end != '\0')
        usage();
    return (uint64_t)v;
}

int main(int argc, char **argv)
{
    uint64_t seed = 1;
    long max_ticks = 300000;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc)
            seed = parse_u64(argv[++i]);
        else if (strcmp(argv[i], "--ticks") == 0 && i + 1 < argc)
            max_ticks = (long)parse_u64(argv[++i]);
        else
            usage();
    }
    printf("seed %" PRIu64 ", %ld ticks\n", seed, max_ticks);
    /* The three cores' states and outputs: static, they are large. */
    static pol_state s_usual, s_ref, s_cnt;
    static pol_output o_usual, o_ref, o_cnt;
    static rdg_reading rd[POL_MAX_PACKS];
    long ticks = 0, refused = 0, runs = 0, readings_checked = 0, whole_bank_usual = 0, red_ticks = 0,
         spike_ticks = 0, offline_ticks = 0;
    while (ticks < max_ticks) {
        long run = runs++;
        rng_s = seed * 1000003 + (uint64_t)run;
        pol_config c;
        rand_config(&c);
        int n = chance(0.6) ? irange(1, 4) : irange(0, 32);
        calm = chance(0.5);
        calm_spread_pct = chance(0.25) ? 2 : chance(0.33) ? 7 : chance(0.5) ? 12 : 20;
        calm_base_pct = uni(0, 100 - calm_spread_pct);
        bank_cur_a = uni(-60, 60);
        p_weird = chance(0.3) || calm ? 0 : chance(0.5) ? 0.002 : 0.03;
        p_miss = chance(0.5) || calm ? 0 : chance(0.5) ? 0.005 : 0.1;
        p_silent = chance(0.3) ? 0 : chance(0.5) || calm ? 0.0005 : 0.01;
        if (calm && chance(0.5))
            p_weird = 0.0005;
        for (int i = 0; i < POL_MAX_PACKS; i++)
            pack_new(&packs[i]);
        /* The same bytes under every copy's state and output, padding included, so that whole-struct
         * compares mean something. */
        memset(&s_usual, 0x5a, sizeof s_usual);
        memset(&s_ref, 0x5a, sizeof s_ref);
        memset(&s_cnt, 0x5a, sizeof s_cnt);
        pol_init(&s_usual);
        ref_pol_init(&s_ref);
        cnt_pol_init(&s_cnt);
        memset(&o_usual, 0xa5, sizeof o_usual);
        memset(&o_ref, 0xa5, sizeof o_ref);
        memset(&o_cnt, 0xa5, sizeof o_cnt);
        int64_t now_ms = (int64_t)(rnd() % 1000000000);
        int len = chance(0.1) ? irange(5000, 60000) : irange(10, 3000);
        int period_ms = chance(0.7) ? 1000 : irange(1, 5000);
        for (int k = 0; k < len && ticks < max_ticks; k++) {
            if (chance(0.002))
                n = chance(0.5) ? irange(0, 32) : (n > 0 ? n - 1 : 1) + irange(0, 2);   /* packs come and go */
            if (n > POL_MAX_PACKS)
                n = POL_MAX_PACKS;
            if (chance(0.0005))
                rand_config(&c);   /* a config changed under a live state */
            bank_cur_a += uni(-2, 2);
            if (chance(0.01))
                bank_cur_a = uni(-60, 60);
            for (int i = 0; i < n; i++)
                make_reading(&packs[i], k, &rd[i], c.cell_min_plausible_v, c.cell_max_plausible_v);
            /* The usual period, a repeated time, a long gap, time going back (refused), jitter. */
            int64_t dt_ms = period_ms;
            if (chance(0.01))
                dt_ms = 0;
            else if (chance(0.005))
                dt_ms = (int64_t)irange(5000, 700000);
            else if (chance(0.002))
                dt_ms = -irange(1, 3000);
            else if (chance(0.05))
                dt_ms = irange(0, 3 * period_ms);
            now_ms += dt_ms;
            int n_passed = n;
            if (chance(0.0005))
                n_passed = chance(0.5) ? -1 : POL_MAX_PACKS + 1;   /* refused, nothing changes */
            if (chance(0.003)) {
                pol_acknowledge(&s_usual);
                ref_pol_acknowledge(&s_ref);
                cnt_pol_acknowledge(&s_cnt);
            }
            /* rdg_validate, the drivers' check, on every fresh reading of the tick. */
            for (int i = 0; i < n; i++) {
                if (!rd[i].fresh)
                    continue;
                rdg_verdict vu = rdg_validate(&rd[i], c.cell_min_plausible_v, c.cell_max_plausible_v);
                rdg_verdict vr = ref_rdg_validate(&rd[i], c.cell_min_plausible_v, c.cell_max_plausible_v);
                rdg_verdict vc = cnt_rdg_validate(&rd[i], c.cell_min_plausible_v, c.cell_max_plausible_v);
                readings_checked++;
                if (vu != vr || vu != vc) {
                    printf("FAIL seed %" PRIu64 " run %ld tick %d: rdg_validate of pack %d: %d (usual) vs %d "
                           "(general) vs %d (counting)\n",
                           seed, run, k, i, vu, vr, vc);
                    dump_input(&c, now_ms, rd, n);
                    return 1;
                }
            }
            long bank_pack_before = usual_taken[POL_USUAL_BANK_PACK];
            int rc_usual = pol_step(&s_usual, &c, now_ms, rd, n_passed, &o_usual);
            int rc_ref = ref_pol_step(&s_ref, &c, now_ms, rd, n_passed, &o_ref);
            int rc_cnt = cnt_pol_step(&s_cnt, &c, now_ms, rd, n_passed, &o_cnt);
            ticks++;
            if (n_passed > 0 && usual_taken[POL_USUAL_BANK_PACK] - bank_pack_before == n_passed)
                whole_bank_usual++;
            const char *what = NULL;
            if (rc_usual != rc_ref || rc_usual != rc_cnt)
                what = "return codes";
            else if (!outputs_equal(&o_usual, &o_ref) || memcmp(&o_usual, &o_ref, sizeof o_usual) != 0)
                what = "pol_output bytes, usual vs general";
            else if (memcmp(&s_usual, &s_ref, sizeof s_usual) != 0)
                what = "pol_state bytes, usual vs general";
            else if (memcmp(&o_usual, &o_cnt, sizeof o_usual) != 0 || memcmp(&s_usual, &s_cnt, sizeof s_usual) != 0)
                what = "output or state bytes, usual vs counting";
            if (what) {
                printf("FAIL seed %" PRIu64 " run %ld tick %d: %s differ (rc %d/%d/%d)\n", seed, run, k, what,
                       rc_usual, rc_ref, rc_cnt);
                dump_input(&c, now_ms, rd, n_passed);
                return 1;
            }
            if (rc_usual != 0) {
                refused++;
                if (dt_ms < 0)
                    now_ms -= dt_ms;   /* refused: the clock stays where the core last saw it */
                continue;
            }
            red_ticks += o_usual.red_alert;
            spike_ticks += o_usual.spike;
            offline_ticks += o_usual.n_offline > 0;
        }
    }
    printf("%ld ticks in %ld runs (%ld refused), %ld fresh readings through rdg_validate: all identical\n", ticks,
           runs, refused, readings_checked);
    printf("ticks with the whole bank usual %ld, red alert %ld, spike %ld, a pack offline %ld\n", whole_bank_usual,
           red_ticks, spike_ticks, offline_ticks);
    printf("fast paths taken:\n");
    int never = 0;
    for (int site = 0; site < POL_USUAL_SITES; site++) {
        printf("  %-16s %ld\n", site_names[site], usual_taken[site]);
        if (usual_taken[site] == 0)
            never++;
    }
    if (never > 0) {
        /* A fast path the inputs never reach is not compared with anything: the test would pass
         * whatever it did. */
        printf("FAIL: %d fast path(s) never taken: the generator must reach them\n", never);
        return 1;
    }
    return 0;
}
