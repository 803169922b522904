/* The aggregation policy: per-pack readings in, one virtual battery's values, limits and alarms out. */
#include <math.h>

#include "exact.h"
#include "fmt.h"
#include "guard.h"
#include "policy.h"
#include "reading_check.h"
#include "usual_paths.h"

_Static_assert(POL_MAX_PACKS <= SHARE_MAX_PACKS, "share smoother too small");
_Static_assert(POL_MAX_PACKS <= 32, "pack masks are 32 bits");

/* The longest reason key (see reason_key): the limiter and three shown values. */
#define REASON_KEY_MAX 4
#define REASON_KEY_SLOTS ((int)(sizeof ((pol_state *)0)->reason_key / sizeof(int64_t)))
_Static_assert(REASON_KEY_MAX <= sizeof ((pol_state *)0)->reason_key / sizeof(int64_t),
               "reason key longer than its slot in pol_state");

/* ALWAYS/NEVER (after SQLite): conditions that cannot happen unless the code is wrong. The
 * release build takes the safe branch; tests built with BMSAGG_ASSERT trap on them. */
#ifdef BMSAGG_ASSERT
#define ALWAYS(x) ((x) ? 1 : (__builtin_trap(), 0))
#define NEVER(x) ((x) ? (__builtin_trap(), 1) : 0)
#else
#define ALWAYS(x) (x)
#define NEVER(x) (x)
#endif

void pol_config_default(pol_config *c)
{
    c->nominal_ccl_a = 150.0;
    c->nominal_dcl_a = 200.0;
    c->expected_packs = 0;
    c->min_packs_online = 1;
    c->soc_mode = POL_SOC_LOWEST;
    c->fallback_cvl_v = 55.2;
    c->battery_low_v = 44.8;
    c->offline_cvl_v = 54.0;

    c->n_tiers = 4;
    c->tier_spread_pct[0] = 5.0;
    c->tier_spread_pct[1] = 10.0;
    c->tier_spread_pct[2] = 15.0;
    for (int i = 3; i < POL_MAX_TIERS - 1; i++)
        c->tier_spread_pct[i] = 0.0;
    c->tier_ccl_pct[0] = 100.0;
    c->tier_ccl_pct[1] = 85.0;
    c->tier_ccl_pct[2] = 66.0;
    c->tier_ccl_pct[3] = 33.0;
    for (int i = 4; i < POL_MAX_TIERS; i++)
        c->tier_ccl_pct[i] = 0.0;
    c->forward_pack_alarms = true;
    c->warning_tier = 0;

    c->spike_cell_delta_v = 0.20;
    c->alarm_clear_hold_s = 600.0;
    c->alarm_require_ack = false;

    c->unlock_hysteresis_pct = 1.0;
    c->unlock_hold_s = 120.0;
    c->ramp_a_per_s = 5.0;

    c->cell_taper_start_v = 3.45;
    c->cell_taper_end_v = 3.55;
    c->cell_taper_floor_pct = 10.0;
    c->cell_stop_v = 3.60;
    c->cell_ovp_target_v = 3.50;
    c->cvl_ramp_v_per_s = 0.01;
    c->cell_min_plausible_v = 1.5;
    c->cell_max_plausible_v = 5.0;

    c->share_min_current_a = 10.0;
    c->share_tau_s = 30.0;

    c->stale_timeout_s = 10.0;
}

/* A failed check names the key to change and, for a relation between two keys, the other. */
#define CHECK2(cond, k, o, w)                                                                      \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            *key = (k);                                                                            \
            *other = (o);                                                                          \
            *why = (w);                                                                            \
            return -1;                                                                             \
        }                                                                                          \
    } while (0)
#define CHECK(cond, k, w) CHECK2(cond, k, NULL, w)

int pol_config_check(const pol_config *c, const char **key, const char **other, const char **why)
{
    *other = NULL;
    CHECK(c->nominal_ccl_a >= 0.0 && c->nominal_ccl_a <= 10000.0, "nominal_ccl_a", "must be 0..10000");
    CHECK(c->nominal_dcl_a >= 0.0 && c->nominal_dcl_a <= 10000.0, "nominal_dcl_a", "must be 0..10000");
    CHECK(c->expected_packs >= 0 && c->expected_packs <= POL_MAX_PACKS, "expected_packs",
          "must be 0..32");
    CHECK(c->min_packs_online >= 0 && c->min_packs_online <= POL_MAX_PACKS, "min_packs_online",
          "must be 0..32");
    CHECK2(c->expected_packs == 0 || c->min_packs_online <= c->expected_packs, "min_packs_online", "expected_packs",
          "must not exceed expected_packs");
    CHECK(c->n_tiers >= 1 && c->n_tiers <= POL_MAX_TIERS, "tier_ccl_pct", "needs 1..8 tiers");
    for (int i = 0; i < c->n_tiers - 1; i++) {
        CHECK(c->tier_spread_pct[i] > 0.0 && c->tier_spread_pct[i] <= 100.0, "tier_spread_pct",
              "boundaries must be in (0, 100]");
        CHECK(i == 0 || c->tier_spread_pct[i] > c->tier_spread_pct[i - 1], "tier_spread_pct",
              "boundaries must be strictly increasing");
    }
    for (int i = 0; i < c->n_tiers; i++) {
        CHECK(c->tier_ccl_pct[i] >= 0.0 && c->tier_ccl_pct[i] <= 100.0, "tier_ccl_pct",
              "percents must be 0..100");
        CHECK(i == 0 || c->tier_ccl_pct[i] < c->tier_ccl_pct[i - 1], "tier_ccl_pct",
              "percents must be strictly decreasing (a wider spread may never allow more current)");
    }
    CHECK2(c->warning_tier >= 0 && c->warning_tier < c->n_tiers, "warning_tier", "tier_ccl_pct",
          "must be 0 (off) or a tier below the red one");
    CHECK(c->spike_cell_delta_v > 0.0 && c->spike_cell_delta_v <= 2.0, "spike_cell_delta_v",
          "must be in (0, 2]");
    CHECK(c->alarm_clear_hold_s >= 0.0 && c->alarm_clear_hold_s <= 86400.0, "alarm_clear_hold_s",
          "must be 0..86400");
    CHECK(c->unlock_hysteresis_pct >= 0.0 && c->unlock_hysteresis_pct <= 50.0,
          "unlock_hysteresis_pct", "must be 0..50");
    CHECK(c->unlock_hold_s >= 0.0 && c->unlock_hold_s <= 86400.0, "unlock_hold_s",
          "must be 0..86400");
    CHECK(c->ramp_a_per_s > 0.0 && c->ramp_a_per_s <= 10000.0, "ramp_a_per_s",
          "must be in (0, 10000]");
    CHECK2(c->cell_min_plausible_v > 0.0 && c->cell_min_plausible_v < c->cell_max_plausible_v,
          "cell_min_plausible_v", "cell_max_plausible_v", "must be positive and below cell_max_plausible_v");
    CHECK(c->cell_max_plausible_v <= 10.0, "cell_max_plausible_v", "must be at most 10");
    CHECK2(c->cell_taper_start_v >= c->cell_min_plausible_v, "cell_taper_start_v", "cell_min_plausible_v",
          "must be a plausible cell voltage");
    CHECK2(c->cell_taper_start_v < c->cell_taper_end_v, "cell_taper_start_v", "cell_taper_end_v",
          "must be below cell_taper_end_v");
    CHECK2(c->cell_taper_end_v <= c->cell_stop_v, "cell_taper_end_v", "cell_stop_v",
          "must not exceed cell_stop_v");
    CHECK2(c->cell_stop_v <= c->cell_max_plausible_v, "cell_stop_v", "cell_max_plausible_v",
          "must be a plausible cell voltage");
    CHECK(c->cell_taper_floor_pct >= 0.0 && c->cell_taper_floor_pct <= 100.0,
          "cell_taper_floor_pct", "must be 0..100");
    CHECK2(c->cell_ovp_target_v >= c->cell_min_plausible_v &&
              c->cell_ovp_target_v <= c->cell_max_plausible_v,
          "cell_ovp_target_v", "cell_max_plausible_v", "must be a plausible cell voltage");
    CHECK(c->cvl_ramp_v_per_s > 0.0 && c->cvl_ramp_v_per_s <= 100.0, "cvl_ramp_v_per_s",
          "must be in (0, 100]");
    CHECK(c->fallback_cvl_v > 0.0 && c->fallback_cvl_v <= 1000.0, "fallback_cvl_v",
          "must be in (0, 1000]");
    CHECK2(c->battery_low_v >= 0.0 && c->battery_low_v < c->fallback_cvl_v, "battery_low_v", "fallback_cvl_v",
          "must be below fallback_cvl_v");
    CHECK2(c->offline_cvl_v == 0.0 || (c->offline_cvl_v > c->battery_low_v && c->offline_cvl_v <= 1000.0),
           "offline_cvl_v", "battery_low_v", "must be 0 (off) or above battery_low_v");
    CHECK(c->share_min_current_a >= 0.0 && c->share_min_current_a <= 10000.0,
          "share_min_current_a", "must be 0..10000");
    CHECK(c->share_tau_s >= 0.0 && c->share_tau_s <= 86400.0, "share_tau_s", "must be 0..86400");
    CHECK(c->stale_timeout_s > 0.0 && c->stale_timeout_s <= 86400.0, "stale_timeout_s",
          "must be in (0, 86400]");
    return 0;
}

double pol_tier_amps(const pol_config *c, int tier)
{
    if (tier < 0)
        tier = 0;
    if (tier >= c->n_tiers)
        tier = c->n_tiers - 1;
    return tier_amps(c->nominal_ccl_a, c->tier_ccl_pct[tier]);
}

int pol_tier_for_spread(const pol_config *c, double spread_pct)
{
    return tier_lookup(c->tier_spread_pct, c->n_tiers, spread_pct);
}

static const char *const limiter_names[POL_LIM_COUNT] = {
    [POL_LIM_NOMINAL] = "nominal",
    [POL_LIM_TIER] = "tier",
    [POL_LIM_SPIKE] = "spike",
    [POL_LIM_CELL_TAPER] = "cell-taper",
    [POL_LIM_CELL_STOP] = "cell-stop",
    [POL_LIM_PACK_SHARE] = "pack-share",
    [POL_LIM_PACK_BLOCKED] = "pack-blocked",
    [POL_LIM_OFFLINE] = "offline",
    [POL_LIM_TOO_FEW_PACKS] = "too-few-packs",
    [POL_LIM_RAMP] = "ramp",
    [POL_LIM_BAD_READING] = "bad-reading",
    [POL_LIM_CELLS_LOST] = "cells-lost",
};

const char *pol_limiter_name(pol_limiter l)
{
    if ((int)l < 0 || l >= POL_LIM_COUNT)
        return "?";
    return limiter_names[l];
}

void pol_init(pol_state *s)
{
    s->started = false;
    s->last_ms = 0;
    for (int i = 0; i < POL_MAX_PACKS; i++) {
        rdg_clear(&s->last_good[i]);
        s->has_good[i] = false;
        s->last_good_ms[i] = 0;
        s->rejected_now[i] = false;
        s->rejected_count[i] = 0;
        s->last_verdict[i] = RDG_OK;
    }
    s->rejected_total = 0;
    s->had_cells = 0;
    s->has_bank_v = false;
    s->last_bank_v = 0.0;
    share_smoother_init(&s->chg_share);
    share_smoother_init(&s->dis_share);
    tier_flap_init(&s->flap);
    latch_init(&s->red);
    s->outputs_init = false;
    s->ccl_out_a = s->dcl_out_a = s->cvl_out_v = 0.0;
    s->last_n = 0;
    s->out_cleared = false;
    s->alpha_dt_s = s->alpha_tau_s = -1.0;
    s->alpha = 1.0;
    s->reason_key_valid = false;
    s->reason_len = 0;
    for (int i = 0; i < REASON_KEY_SLOTS; i++)
        s->reason_key[i] = 0;
    s->reason[0] = '\0';
}

void pol_acknowledge(pol_state *s)
{
    latch_ack(&s->red);
}

/* A candidate limit and what it comes from; the smallest wins, ties go to the earlier. */
typedef struct {
    double amps;
    pol_limiter why;
    int pack;          /* the pack concerned, -1 for the bank */
} limit_pick;

static void consider(limit_pick *p, double amps, pol_limiter why, int pack)
{
    if (amps < p->amps) {
        p->amps = amps;
        p->why = why;
        p->pack = pack;
    }
}

static int pack_label(const rdg_reading *r, int slot)
{
    return r->label >= 0 ? r->label : slot + 1;
}

/* Aggregates of the online packs' last accepted readings, and the running sums they come from.
 * The whole struct is a local of pol_step, so the compiler can keep it in registers through the
 * pass over the packs (when it lived behind a pointer, the stores to *out, whose uint8_t alarms
 * may alias anything, made it reload every field after each one). */
typedef struct {
    uint32_t online;          /* bit per pack slot */
    uint32_t cells_gone;      /* online packs that reported their highest cell before and not now
                               * (bank_finish's) */
    int n_online;
    int n_partial;            /* online packs with a field missing: the others count at the end */
    int n_soc, n_v;
    double soc_min, soc_max;
    bool weighted;            /* soc_mode is POL_SOC_WEIGHTED: only then the weighted sums */
    double soc_wsum, cap_wsum;   /* bank_finish's (bank_rare) */
    /* Sums of fields that lie side by side in a reading, two at a time (lanes: the fields'
     * order), which halves the registers they take: voltage, current; installed, remaining. And
     * two that do not, for the same reason: power, consumed amp-hours. */
    rdg_f2 vi_sum, cap_ah, pc_sum;
    uint32_t incomplete;      /* RDG_BIT(field): a pack lacks it, so the bank's sum is invalid;
                               * and WEIGHT_MISSING */
    bool temp_valid;
    double temp_max_c, temp_min_c;
    double min_cell_v, max_cell_v;
    int min_cell_pack, min_cell_id, max_cell_pack, max_cell_id;
    int spike_pack;
    double overvoltage_sum_v; /* bank_finish's (bank_rare) */
    double min_cvl_v;
    bool has_cvl;
    int n_blocking_charge, n_blocking_discharge;
    uint32_t blocks_chg, blocks_dis;   /* FET open: for the share members */
    uint8_t alarm[RDG_AL_COUNT];
} bank_view;

/* Every optional field: what the usual BMS driver (and the simulator) publishes. */
#define ALL_FIELDS (RDG_BIT(RDG_FIELD_COUNT) - 1u)
/* bank_view.incomplete: a pack with a SOC and no capacity to weight it by. */
#define WEIGHT_MISSING RDG_BIT(RDG_FIELD_COUNT)

/* add_pack reads these fields in pairs (rdg_pair_at). */
_Static_assert(RDG_PAIRED(voltage_v, current_a) && RDG_PAIRED(installed_cap_ah, remaining_cap_ah) &&
                   RDG_PAIRED(ccl_a, dcl_a),
               "add_pack loads these fields in pairs");

/* Adds pack i's reading to the running aggregates; has is r->present. Inlined at each call
 * site: where it is passed ALL_FIELDS, a constant, the usual reading runs with no test of its
 * present bits at all, and leaves every count and mask that only a missing field changes to
 * bank_finish. quiet: its alarm levels are known to be zero (rdg_usual_ok passed it this tick),
 * no need to look. */
static inline __attribute__((always_inline)) void add_pack(bank_view *v, const pol_config *c,
                                                           const rdg_reading *r, int i, uint32_t has,
                                                           bool quiet)
{
    const bool partial = has != ALL_FIELDS;
    if (partial)
        v->n_partial++;
    if (has & RDG_BIT(RDG_SOC)) {
        if (partial)
            v->n_soc++;
        if (r->soc_pct < v->soc_min)
            v->soc_min = r->soc_pct;
        if (r->soc_pct > v->soc_max)
            v->soc_max = r->soc_pct;
    }
    if (!partial) {
        v->vi_sum += (rdg_f2)rdg_pair_at(r, offsetof(rdg_reading, voltage_v));
    } else {
        if (has & RDG_BIT(RDG_VOLTAGE)) {
            v->vi_sum[0] += r->voltage_v;
            v->n_v++;
        }
        if (has & RDG_BIT(RDG_CURRENT))
            v->vi_sum[1] += r->current_a;
        else
            v->incomplete |= RDG_BIT(RDG_CURRENT);
    }
    if (!partial) {
        v->pc_sum += (rdg_f2){r->power_w, r->consumed_ah};
    } else {
        if (has & RDG_BIT(RDG_POWER))
            v->pc_sum[0] += r->power_w;
        else if ((has & RDG_BIT(RDG_VOLTAGE)) && (has & RDG_BIT(RDG_CURRENT)))
            v->pc_sum[0] += r->voltage_v * r->current_a;
        else
            v->incomplete |= RDG_BIT(RDG_POWER);
        if (has & RDG_BIT(RDG_CONSUMED_AH))
            v->pc_sum[1] += r->consumed_ah;
        else
            v->incomplete |= RDG_BIT(RDG_CONSUMED_AH);
    }
    if (has & RDG_BIT(RDG_TEMPERATURE)) {
        if (partial)
            v->temp_valid = true;
        if (r->temperature_c > v->temp_max_c)
            v->temp_max_c = r->temperature_c;
        if (r->temperature_c < v->temp_min_c)
            v->temp_min_c = r->temperature_c;
    }
    if (!partial) {
        v->cap_ah += (rdg_f2)rdg_pair_at(r, offsetof(rdg_reading, installed_cap_ah));
    } else {
        if (has & RDG_BIT(RDG_INSTALLED_CAP))
            v->cap_ah[0] += r->installed_cap_ah;
        else
            v->incomplete |= RDG_BIT(RDG_INSTALLED_CAP);
        if (has & RDG_BIT(RDG_REMAINING_CAP))
            v->cap_ah[1] += r->remaining_cap_ah;
        else
            v->incomplete |= RDG_BIT(RDG_REMAINING_CAP);
    }
    if ((has & RDG_BIT(RDG_MIN_CELL)) && r->min_cell_v < v->min_cell_v) {
        v->min_cell_v = r->min_cell_v;
        v->min_cell_pack = i;
        v->min_cell_id = r->min_cell_id;
    }
    if ((has & RDG_BIT(RDG_MAX_CELL)) && r->max_cell_v > v->max_cell_v) {
        v->max_cell_v = r->max_cell_v;
        v->max_cell_pack = i;
        v->max_cell_id = r->max_cell_id;
    }
    if (has & RDG_BIT(RDG_CVL)) {
        if (partial)
            v->has_cvl = true;
        if (r->cvl_v < v->min_cvl_v)
            v->min_cvl_v = r->cvl_v;
    }
    /* A pack that has opened its FET blocks that direction, and takes no current that way: it
     * is left out of the share members, and the others share the bank current without it. */
    if ((has & RDG_BIT(RDG_ALLOW_CHARGE)) && !r->allow_charge) {
        v->n_blocking_charge++;
        v->blocks_chg |= 1u << i;
    }
    if ((has & RDG_BIT(RDG_ALLOW_DISCHARGE)) && !r->allow_discharge) {
        v->n_blocking_discharge++;
        v->blocks_dis |= 1u << i;
    }
    if (!quiet && c->forward_pack_alarms && !rdg_alarms_all_zero(r)) {
        /* Only the alarms present, set bit by set bit. */
        for (uint32_t m = r->alarm_present & (RDG_BIT(RDG_AL_COUNT) - 1u); m != 0; m &= m - 1u) {
            int a = __builtin_ctz(m);
            if (r->alarm[a] > v->alarm[a])
                v->alarm[a] = r->alarm[a];
        }
    }
}

/* A cell delta as the spike test sees it: in microvolts, for the same reason as the spread. */
static double delta_rounded(double raw_v)
{
    return exact_round(raw_v * 1e6) / 1e6;
}

/* Clearly below the spike threshold: 1 uV under it, delta_v * 1e6 rounds to at most the
 * threshold's microvolts, and so does every smaller delta. (Up to 1e9 V, the product and
 * spike_v - 1e-6 are off by less than 0.2 uV together, well inside the 0.5 uV the rounding
 * leaves.) */
static bool clearly_below_spike(double delta_v, double spike_v)
{
    return delta_v <= spike_v - 1e-6 && delta_v <= 1e9;
}

/* A pack's cell delta (highest less lowest cell) when it reports both cells: the one filter of
 * both of spike_pack's walks, which must agree on the packs they take. */
static inline bool pack_cell_delta(const rdg_reading *r, double *delta_v)
{
    if (!(rdg_has(r, RDG_MIN_CELL) && rdg_has(r, RDG_MAX_CELL)))
        return false;
    *delta_v = r->max_cell_v - r->min_cell_v;
    return true;
}

/* The pack whose cell delta spikes (-1 if none): the first online pack whose rounded delta is
 * above spike_cell_delta_v and above every other's (ties go to the first). max_cell_v and
 * min_cell_v are the bank's highest and lowest cells (-/+INFINITY if none). The rounding is
 * monotonic, so the largest rounded delta is that of the largest raw one: one rounding a tick,
 * and a walk over the packs only when the bank's own delta could make a spike. */
static int spike_pack(const pol_state *s, const pol_config *c, uint32_t online, double max_cell_v,
                      double min_cell_v)
{
    const double spike_v = c->spike_cell_delta_v;
    /* Each pack's cells lie within the bank's, and the subtraction is monotonic: no pack's delta
     * is above the bank's, so when that is clearly below, the largest delta is too, or it is 0
     * (no pack with both cells, or none above 0), which never spikes either. A NaN walks. */
    const double bank_delta_v = max_cell_v - min_cell_v;
    if (POL_USUAL(POL_USUAL_SPIKE_BANK, clearly_below_spike(bank_delta_v, spike_v)))
        return -1;
    double max_raw_v = 0.0;   /* the largest delta, before rounding */
    int max_pack = -1;
    for (uint32_t m = online; m != 0; m &= m - 1u) {
        const int i = __builtin_ctz(m);
        double d_v;
        if (pack_cell_delta(&s->last_good[i], &d_v) && d_v > max_raw_v) {
            max_raw_v = d_v;
            max_pack = i;
        }
    }
    if (POL_USUAL(POL_USUAL_SPIKE_PACKS, clearly_below_spike(max_raw_v, spike_v)))
        return -1;
    const double top_v = delta_rounded(max_raw_v);
    if (!(top_v > 0.0 && top_v > spike_v))
        return -1;   /* a zero delta, or one that rounds to zero, never counts */
    for (uint32_t m = online; m != 0; m &= m - 1u) {
        const int i = __builtin_ctz(m);
        double d_v;
        if (pack_cell_delta(&s->last_good[i], &d_v) && delta_rounded(d_v) == top_v)
            return i;
    }
    /* Not reached: max_raw_v is max_pack's delta, which the walk above finds. Were it reached,
     * that pack spikes: the safe side (no spike would leave the tier's CCL up). */
    return max_pack;
}

/* The running aggregates before the first pack. */
static inline __attribute__((always_inline)) void bank_start(bank_view *v, const pol_config *c)
{
    v->online = 0;
    v->n_online = 0;
    v->n_partial = 0;
    v->n_soc = v->n_v = 0;
    v->soc_min = INFINITY;
    v->soc_max = -INFINITY;
    v->weighted = c->soc_mode == POL_SOC_WEIGHTED;
    v->soc_wsum = v->cap_wsum = 0.0;
    v->vi_sum = v->cap_ah = v->pc_sum = (rdg_f2){0.0, 0.0};
    v->incomplete = 0;
    v->temp_valid = false;
    v->temp_max_c = -INFINITY;
    v->temp_min_c = INFINITY;
    v->min_cell_v = INFINITY;
    v->max_cell_v = -INFINITY;
    v->min_cell_pack = v->max_cell_pack = -1;
    v->min_cell_id = v->max_cell_id = -1;
    v->overvoltage_sum_v = 0.0;
    v->min_cvl_v = INFINITY;
    v->has_cvl = false;
    v->n_blocking_charge = v->n_blocking_discharge = 0;
    v->blocks_chg = v->blocks_dis = 0;
    for (int a = 0; a < RDG_AL_COUNT; a++)
        v->alarm[a] = 0;
}

static void bank_partial(const pol_config *c, const bank_view *v, pol_output *out);

/* The sums only some ticks need, after the pass, from the online packs' last accepted readings in
 * slot order (as running sums in the pass would add them): the cells' overvoltage, only when the
 * highest cell is above the target (else it is 0); the capacity-weighted SOC, only in that mode.
 * Out of the pass, whose running aggregates then keep to registers. */
static void bank_rare(const pol_state *s, const pol_config *c, bank_view *v)
{
    const double target_v = c->cell_ovp_target_v;
    /* No cell above the target when the highest is not: the walk would add nothing. */
    if (!POL_USUAL(POL_USUAL_OVP_SKIP, !(v->max_cell_v > target_v))) {
        for (uint32_t m = v->online; m != 0; m &= m - 1u) {
            const rdg_reading *r = &s->last_good[__builtin_ctz(m)];
            if (rdg_has(r, RDG_MAX_CELL) && r->max_cell_v > target_v)
                v->overvoltage_sum_v += r->max_cell_v - target_v;
        }
    }
    if (v->weighted) {
        for (uint32_t m = v->online; m != 0; m &= m - 1u) {
            const rdg_reading *r = &s->last_good[__builtin_ctz(m)];
            if (!rdg_has(r, RDG_SOC))
                continue;
            if (rdg_has(r, RDG_INSTALLED_CAP)) {
                v->soc_wsum += r->soc_pct * r->installed_cap_ah;
                v->cap_wsum += r->installed_cap_ah;
            } else {
                v->incomplete |= WEIGHT_MISSING;
            }
        }
    }
}

/* The aggregates into *out, once every online pack is in v; and the share inputs. Inlined
 * always: v is pol_step's local, kept in registers, which a call would force to memory. */
static inline __attribute__((always_inline)) void bank_finish(const pol_state *s, const pol_config *c,
                                                              bank_view *v, pol_output *out, share_both_in *sh)
{
    /* Every pack with every field has a CVL (the other counts are bank_partial's). */
    if (v->n_online > v->n_partial)
        v->has_cvl = true;
    /* The online packs that lack a field, by field: none but in a bank with a partial pack. */
    uint32_t no_cap = 0, no_cur = 0, no_ccl = 0, no_dcl = 0, no_max_cell = 0;
    if (!POL_USUAL(POL_USUAL_MASKS_SKIP, v->n_partial <= 0)) {
        for (uint32_t m = v->online; m != 0; m &= m - 1u) {
            const int i = __builtin_ctz(m);
            const uint32_t has = s->last_good[i].present, bit = 1u << i;
            if (!(has & RDG_BIT(RDG_INSTALLED_CAP)))
                no_cap |= bit;
            if (!(has & RDG_BIT(RDG_CURRENT)))
                no_cur |= bit;
            if (!(has & RDG_BIT(RDG_CCL)))
                no_ccl |= bit;
            if (!(has & RDG_BIT(RDG_DCL)))
                no_dcl |= bit;
            if (!(has & RDG_BIT(RDG_MAX_CELL)))
                no_max_cell |= bit;
        }
    }
    v->cells_gone = no_max_cell & s->had_cells;
    /* The share inputs, read in place in the online packs' last accepted readings (share_step_both
     * reads them at members, which are online). */
    sh->chg_member = v->online & ~v->blocks_chg;
    sh->dis_member = v->online & ~v->blocks_dis;
    sh->has_ccl = v->online & ~no_ccl;
    sh->has_dcl = v->online & ~no_dcl;
    sh->has_cap = v->online & ~no_cap;
    sh->has_cur = v->online & ~no_cur;
    const char *packs = (const char *)s->last_good;
    sh->cap_ah = (share_col){packs, sizeof(rdg_reading), offsetof(rdg_reading, installed_cap_ah)};
    sh->current_a = (share_col){packs, sizeof(rdg_reading), offsetof(rdg_reading, current_a)};
    sh->ccl_a = (share_col){packs, sizeof(rdg_reading), offsetof(rdg_reading, ccl_a)};
    sh->dcl_a = (share_col){packs, sizeof(rdg_reading), offsetof(rdg_reading, dcl_a)};
    /* With every online pack reporting every field and taking charge, the charge members are the
     * online packs and their sums are the bank's, added the same way: share_step_both need not
     * add them again. */
    sh->sums_given = v->n_partial == 0 && sh->chg_member == v->online;
    sh->cap_total_ah = v->cap_ah[0];
    sh->cur_total_a = v->vi_sum[1];
    sh->count = v->n_online;
    bank_rare(s, c, v);
    v->spike_pack = spike_pack(s, c, v->online, v->max_cell_v, v->min_cell_v);

    int n_on = v->n_online;
    /* Rounded to a millionth of a point so that 20.1 - 15.1 lands on the 5.00 boundary the
     * user wrote, not on either side of it by float noise. */
    if (POL_USUAL(POL_USUAL_BANK, v->n_partial == 0 && n_on > 0)) {
        /* The usual bank, every online pack with every field: every value below is valid, and
         * is what the general case gives then (all weights known, n_v = n_online). */
        out->soc_valid = out->spread_valid = out->voltage_valid = true;
        out->current_valid = out->power_valid = out->installed_valid = true;
        out->capacity_valid = out->consumed_valid = out->temp_valid = true;
        out->soc_pct = v->weighted && v->cap_wsum > 0.0 ? v->soc_wsum / v->cap_wsum : v->soc_min;
        out->spread_pct = exact_round((v->soc_max - v->soc_min) * 1e6) / 1e6;
        out->voltage_v = v->vi_sum[0] / n_on;
        out->current_a = v->vi_sum[1];
        out->power_w = v->pc_sum[0];
        out->installed_cap_ah = v->cap_ah[0];
        out->capacity_ah = v->cap_ah[1];
        out->consumed_ah = v->pc_sum[1];
        out->temp_max_c = v->temp_max_c;
        out->temp_min_c = v->temp_min_c;
    } else {
        bank_partial(c, v, out);
    }
    out->cells_valid = v->min_cell_pack >= 0 && v->max_cell_pack >= 0;
    out->min_cell_v = v->min_cell_pack >= 0 ? v->min_cell_v : NAN;
    out->max_cell_v = v->max_cell_pack >= 0 ? v->max_cell_v : NAN;
    out->min_cell_pack = v->min_cell_pack;
    out->min_cell_id = v->min_cell_id;
    out->max_cell_pack = v->max_cell_pack;
    out->max_cell_id = v->max_cell_id;
    out->n_blocking_charge = v->n_blocking_charge;
    out->n_blocking_discharge = v->n_blocking_discharge;
    for (int a = 0; a < RDG_AL_COUNT; a++)
        out->alarm[a] = v->alarm[a];
}

/* bank_finish's values for a bank with a field missing somewhere (or no pack online). */
static void bank_partial(const pol_config *c, const bank_view *v, pol_output *out)
{
    int n_on = v->n_online;
    /* What the packs with every field add to the counts. */
    const int n_full = n_on - v->n_partial, n_soc = v->n_soc + n_full, n_v = v->n_v + n_full;
    const bool temp_valid = v->temp_valid || n_full > 0;
    out->soc_valid = n_soc > 0;
    if (out->soc_valid) {
        /* Weighted mode needs every weight; a partial weighting could hide the weakest
         * pack, so it falls back to the lowest SOC, the safe side. */
        if (c->soc_mode == POL_SOC_WEIGHTED && !(v->incomplete & WEIGHT_MISSING) && v->cap_wsum > 0.0)
            out->soc_pct = v->soc_wsum / v->cap_wsum;
        else
            out->soc_pct = v->soc_min;
    } else {
        out->soc_pct = NAN;
    }
    out->spread_valid = n_soc > 0;
    out->spread_pct = out->spread_valid ? exact_round((v->soc_max - v->soc_min) * 1e6) / 1e6 : NAN;
    out->voltage_valid = n_v > 0;
    out->voltage_v = n_v > 0 ? v->vi_sum[0] / n_v : NAN;
    /* Sums over some packs only would look plausible and be wrong: all or invalid. */
    out->current_valid = n_on > 0 && !(v->incomplete & RDG_BIT(RDG_CURRENT));
    out->current_a = out->current_valid ? v->vi_sum[1] : NAN;
    out->power_valid = n_on > 0 && !(v->incomplete & RDG_BIT(RDG_POWER));
    out->power_w = out->power_valid ? v->pc_sum[0] : NAN;
    out->installed_valid = n_on > 0 && !(v->incomplete & RDG_BIT(RDG_INSTALLED_CAP));
    out->installed_cap_ah = out->installed_valid ? v->cap_ah[0] : NAN;
    out->capacity_valid = n_on > 0 && !(v->incomplete & RDG_BIT(RDG_REMAINING_CAP));
    out->capacity_ah = out->capacity_valid ? v->cap_ah[1] : NAN;
    out->consumed_valid = n_on > 0 && !(v->incomplete & RDG_BIT(RDG_CONSUMED_AH));
    out->consumed_ah = out->consumed_valid ? v->pc_sum[1] : NAN;
    out->temp_valid = temp_valid;
    out->temp_max_c = temp_valid ? v->temp_max_c : NAN;
    out->temp_min_c = temp_valid ? v->temp_min_c : NAN;
}
/* n bytes (n >= 1) from src to dst, which do not overlap, and not one more: in blocks of 16,
 * 8 or 4 bytes, the last block ending at n and overlapping the one before (a reason is 10 to 60
 * bytes: the libc call this loop became cost more than the copy). */
static void copy_bytes(char *restrict dst, const char *restrict src, int n)
{
    _Static_assert(POL_REASON_LEN <= 96, "six blocks of 16 cover a reason");
    if (n >= 16) {
        /* At most five blocks, then the last: a plain loop to n became the libc call again. */
        for (int i = 0; i < 5 && n - 16 * i > 16; i++)
            __builtin_memcpy(dst + 16 * i, src + 16 * i, 16);
        __builtin_memcpy(dst + n - 16, src + n - 16, 16);
    } else if (n >= 8) {
        __builtin_memcpy(dst, src, 8);
        __builtin_memcpy(dst + n - 8, src + n - 8, 8);
    } else if (n >= 4) {
        __builtin_memcpy(dst, src, 4);
        __builtin_memcpy(dst + n - 4, src + n - 4, 4);
    } else {
        for (int i = 0; i < n; i++)
            dst[i] = src[i];
    }
}

/* Writes the reason text into buf (POL_REASON_LEN bytes); returns its length. */
static int write_reason(const pol_config *c, const pol_state *s, const pol_output *out,
                        const limit_pick *p, int n_expected, char *buf)
{
    fmt_buf b;
    fmt_start(&b, buf, POL_REASON_LEN);
    int label = p->pack >= 0 ? pack_label(&s->last_good[p->pack], p->pack) : 0;
    switch (p->why) {
    case POL_LIM_NOMINAL:
        fmt_str(&b, "nominal ");
        fmt_num(&b, c->nominal_ccl_a, 0);
        fmt_str(&b, " A");
        break;
    case POL_LIM_TIER:
        fmt_str(&b, "SOC spread ");
        fmt_num(&b, out->spread_pct, 1);
        fmt_str(&b, " pp: tier ");
        fmt_num(&b, c->tier_ccl_pct[out->tier], 0);
        fmt_str(&b, "%");
        break;
    case POL_LIM_SPIKE:
        fmt_str(&b, "cell spike on pack ");
        fmt_int(&b, label);
        fmt_str(&b, ": tier ");
        fmt_num(&b, c->tier_ccl_pct[out->tier], 0);
        fmt_str(&b, "%");
        break;
    case POL_LIM_CELL_TAPER:
        fmt_str(&b, "high cell ");
        fmt_num(&b, out->max_cell_v, 3);
        fmt_str(&b, " V on pack ");
        fmt_int(&b, label);
        fmt_str(&b, ": taper");
        break;
    case POL_LIM_CELL_STOP:
        fmt_str(&b, "cell ");
        fmt_num(&b, out->max_cell_v, 3);
        fmt_str(&b, " V on pack ");
        fmt_int(&b, label);
        fmt_str(&b, " at stop voltage");
        break;
    case POL_LIM_PACK_SHARE:
        fmt_str(&b, "pack ");
        fmt_int(&b, label);
        fmt_str(&b, " CCL ");
        fmt_num(&b, s->last_good[p->pack].ccl_a, 0);
        fmt_str(&b, " A at share ");
        fmt_num(&b, out->pack[p->pack].charge_share * 100.0, 0);
        fmt_str(&b, "%");
        break;
    case POL_LIM_PACK_BLOCKED:
        fmt_str(&b, "every online pack blocks charging");
        break;
    case POL_LIM_OFFLINE:
        fmt_int(&b, out->n_online);
        fmt_str(&b, " of ");
        fmt_int(&b, n_expected);
        fmt_str(&b, " packs online");
        break;
    case POL_LIM_TOO_FEW_PACKS:
        fmt_str(&b, "too few packs online (");
        fmt_int(&b, out->n_online);
        fmt_str(&b, ")");
        break;
    case POL_LIM_RAMP:
        fmt_str(&b, "ramping up");
        break;
    case POL_LIM_CELLS_LOST:
        fmt_str(&b, "pack ");
        fmt_int(&b, label);
        fmt_str(&b, out->pack[p->pack].state == POL_PACK_ONLINE ? " stopped reporting cell voltages"
                                                                : " offline with its cells high");
        break;
    case POL_LIM_BAD_READING:
        fmt_str(&b, "bad reading from pack ");
        fmt_int(&b, label);
        fmt_str(&b, ": holding");
        break;
    case POL_LIM_COUNT:
        break;
    }
    return (int)b.pos;
}

/* A number as write_reason shows it: the integer fmt_num prints, with NaN (printed "nan")
 * kept apart from infinity (printed "inf"), which fmt_scaled maps to the same value. */
static int64_t key_num(double value, int decimals)
{
    return isnan(value) ? INT64_MIN : fmt_scaled(value, decimals);
}

/* A number that changes only with the config: its bits, which need no formatting. Equal bits
 * print the same text; a change that would print the same just rebuilds the same text. */
static int64_t key_bits(double value)
{
    union {
        double d;
        int64_t i;
    } u = {value};
    return u.i;
}

/* Marks a key built by this layout, so a key restored from an older core's snapshot never
 * matches by accident (its first word was the bare limiter). */
#define REASON_KEY_TAG ((int64_t)0x52534e31 << 16)

/* What write_reason shows for this limiter and nothing else, as integers at the precision it
 * shows them: equal keys mean equal text. Returns the key's length (at most REASON_KEY_MAX).
 * Only the fields of the one limiter are formatted: the tick pays for two or three of them. */
static int reason_key(const pol_config *c, const pol_state *s, const pol_output *out,
                      const limit_pick *p, int n_expected, int64_t *key)
{
    int label = p->pack >= 0 ? pack_label(&s->last_good[p->pack], p->pack) : 0;
    int len = 0;
    key[len++] = REASON_KEY_TAG | (int64_t)p->why;
    switch (p->why) {
    case POL_LIM_NOMINAL:
        key[len++] = key_bits(c->nominal_ccl_a);
        break;
    case POL_LIM_TIER:
        key[len++] = out->spread_valid ? key_num(out->spread_pct, 1) : INT64_MIN;
        key[len++] = key_bits(c->tier_ccl_pct[out->tier]);
        break;
    case POL_LIM_SPIKE:
        key[len++] = label;
        key[len++] = key_bits(c->tier_ccl_pct[out->tier]);
        break;
    case POL_LIM_CELL_TAPER:
    case POL_LIM_CELL_STOP:
        key[len++] = label;
        key[len++] = key_num(out->max_cell_v, 3);
        break;
    case POL_LIM_PACK_SHARE:
        key[len++] = label;
        key[len++] = key_num(s->last_good[p->pack].ccl_a, 0);
        key[len++] = key_num(out->pack[p->pack].charge_share * 100.0, 0);
        break;
    case POL_LIM_OFFLINE:
        key[len++] = out->n_online;
        key[len++] = n_expected;
        break;
    case POL_LIM_TOO_FEW_PACKS:
        key[len++] = out->n_online;
        break;
    case POL_LIM_CELLS_LOST:
        key[len++] = label;
        key[len++] = out->pack[p->pack].state == POL_PACK_ONLINE;
        break;
    case POL_LIM_BAD_READING:
        key[len++] = label;
        break;
    case POL_LIM_PACK_BLOCKED:
    case POL_LIM_RAMP:
    case POL_LIM_COUNT:
        break;
    }
    return len;
}

/* The usual pack: a fresh reading with every field that the vector check passes, and so online
 * (accepted_online: the stale timeout is not negative), with its cells, and no longer rejected.
 * Takes it as the general way in pol_step does, without its tests of what is known here, and
 * returns true; the caller marks it online and with its cells. Any other reading: false, and
 * nothing done. site: which of the two callers' fast paths this is (usual_paths.h). */
static inline __attribute__((always_inline)) bool accept_usual(pol_state *s, const pol_config *c,
                                                               const rdg_reading *r, int i, int64_t now_ms,
                                                               const rdg_bounds *bounds, bool accepted_online,
                                                               bank_view *v, pol_pack_out *p,
                                                               enum pol_usual_site site)
{
    (void)site;   /* only a test's count of the fast paths reads it */
    if (!POL_USUAL(site, r->fresh && (r->present & ALL_FIELDS) == ALL_FIELDS && accepted_online &&
                             rdg_usual_values_ok(r, bounds)))
        return false;
    rdg_reading *g = &s->last_good[i];
    *g = *r;
    s->has_good[i] = true;
    s->last_good_ms[i] = now_ms;
    s->rejected_now[i] = false;
    p->state = POL_PACK_ONLINE;
    add_pack(v, c, g, i, ALL_FIELDS, true);
    p->has_soc = true;
    p->soc_pct = g->soc_pct;
    p->rejected_now = false;
    p->rejected_count = s->rejected_count[i];
    p->last_verdict = s->last_verdict[i];
    return true;
}

int pol_step(pol_state *s, const pol_config *c, int64_t now_ms, const rdg_reading *readings,
             int n, pol_output *out)
{
    if (n < 0 || n > POL_MAX_PACKS)
        return -1;
    if (s->started && now_ms < s->last_ms)
        return -1;   /* time going backwards is a caller bug or a clock jump: refuse, change nothing */

    double dt_s = s->started ? (double)(now_ms - s->last_ms) / 1000.0 : 0.0;
    s->started = true;
    s->last_ms = now_ms;
    int64_t stale_ms = (int64_t)(c->stale_timeout_s * 1000.0);

    /* 1. Accept or reject the fresh readings; 2. who is online; 3. the online packs' aggregates;
     * and each pack's diagnostics but its shares. One pass, in slot order: a pack's state depends
     * on its own reading only, and the aggregates take the online packs in slot order. */
    bank_view v;
    share_both_in sh;
    bank_start(&v, c);
    /* The config's cell bounds in locals: the stores below might alias them for all the
     * compiler knows, and the plausibility check reads them for every reading. */
    const double cell_lo_v = c->cell_min_plausible_v, cell_hi_v = c->cell_max_plausible_v;
    rdg_bounds bounds;
    rdg_bounds_init(&bounds, cell_lo_v, cell_hi_v);
    uint32_t online = 0, seen_offline = 0, rejected = 0, had_cells = s->had_cells;
    int n_online = 0;
    /* A reading accepted now is online now (now_ms - now_ms <= stale_ms) unless the timeout is
     * negative, which only an unchecked config has. */
    const bool accepted_online = stale_ms >= 0;
    /* The usual bank, every pack usual, in a loop of its own: away from the general way's code
     * its running aggregates keep to registers, which one loop for both spilled. From the first
     * other pack on, the loop below (which still takes a usual pack the short way). */
    int first_other = 0;
    if (accepted_online) {
        while (first_other < n && accept_usual(s, c, &readings[first_other], first_other, now_ms, &bounds,
                                               true, &v, &out->pack[first_other], POL_USUAL_BANK_PACK))
            first_other++;
        /* Packs 0 .. first_other - 1, each online now and with its cells. */
        online = share_slots_below(first_other);
        had_cells |= online;
        n_online = first_other;
    }
    for (int i = first_other; i < n; i++) {
        const uint32_t bit = 1u << i;
        const rdg_reading *r = &readings[i];
        rdg_reading *g = &s->last_good[i];
        pol_pack_out *p = &out->pack[i];
        if (accept_usual(s, c, r, i, now_ms, &bounds, accepted_online, &v, p, POL_USUAL_ACCEPT)) {
            had_cells |= bit;
            online |= bit;
            n_online++;
            continue;
        }
        bool quiet = false;   /* the reading's alarm levels are all zero, known already */
        if (r->fresh) {
            /* rdg_validate, with the usual reading's vector check in front of its fast path. */
            quiet = POL_USUAL(POL_USUAL_QUIET, rdg_usual_ok(r, &bounds));
            rdg_verdict verdict = quiet || POL_USUAL(POL_USUAL_PLAINLY, rdg_plainly_ok(r, cell_lo_v, cell_hi_v))
                                      ? RDG_OK
                                      : rdg_first_fault(r, cell_lo_v, cell_hi_v);
            if (verdict == RDG_OK) {
                if (rdg_has(r, RDG_MAX_CELL))
                    had_cells |= bit;
                *g = *r;
                s->has_good[i] = true;
                s->last_good_ms[i] = now_ms;
                s->rejected_now[i] = false;
            } else {
                s->rejected_now[i] = true;
                s->rejected_count[i]++;
                s->rejected_total++;
                s->last_verdict[i] = verdict;
                /* The label may be all we can trust of a rejected reading. */
                g->label = r->label;
                /* Its cells, though, may be fine while another field is garbage (a NaN SOC):
                 * a plausible pair of cell voltages with a higher cell than last accepted is
                 * taken, so the cell guard keeps following a pack charging towards its trip.
                 * Only ever upwards: a lower cell from a reading we distrust relaxes nothing. */
                if (s->has_good[i] && rdg_has(g, RDG_MAX_CELL) && rdg_has(r, RDG_MIN_CELL) &&
                    rdg_has(r, RDG_MAX_CELL) && r->min_cell_v >= cell_lo_v &&
                    r->min_cell_v <= r->max_cell_v && r->max_cell_v <= cell_hi_v &&
                    r->max_cell_v > g->max_cell_v) {
                    g->present |= RDG_BIT(RDG_MIN_CELL);
                    g->min_cell_v = r->min_cell_v;
                    g->min_cell_id = r->min_cell_id;
                    g->max_cell_v = r->max_cell_v;
                    g->max_cell_id = r->max_cell_id;
                }
            }
        }
        /* The pack's diagnostics but its shares, its state where it is decided. */
        if (s->has_good[i]) {
            if (now_ms - s->last_good_ms[i] <= stale_ms) {
                online |= bit;
                n_online++;
                p->state = POL_PACK_ONLINE;
                /* The usual reading, every field present, runs with no test of its present bits. */
                if (POL_USUAL(POL_USUAL_ALL_FIELDS, (g->present & ALL_FIELDS) == ALL_FIELDS)) {
                    add_pack(&v, c, g, i, ALL_FIELDS, quiet);
                    p->has_soc = true;
                    p->soc_pct = g->soc_pct;
                } else {
                    add_pack(&v, c, g, i, g->present, false);
                    p->has_soc = rdg_has(g, RDG_SOC);
                    p->soc_pct = p->has_soc ? g->soc_pct : NAN;
                }
            } else {
                seen_offline |= bit;
                p->state = POL_PACK_OFFLINE;
                p->has_soc = false;
                p->soc_pct = NAN;
            }
        } else {
            p->state = s->rejected_count[i] > 0 ? POL_PACK_OFFLINE : POL_PACK_UNSEEN;
            p->has_soc = false;
            p->soc_pct = NAN;
        }
        if (s->rejected_now[i])
            rejected |= bit;
        p->rejected_now = s->rejected_now[i];
        p->rejected_count = s->rejected_count[i];
        p->last_verdict = s->last_verdict[i];
    }
    s->had_cells = had_cells;
    v.online = online;
    v.n_online = n_online;
    int bad_pack = rejected != 0 ? __builtin_ctz(rejected) : -1;   /* the first, as the reason names it */
    int n_expected = c->expected_packs > 0 ? c->expected_packs : n;
    out->n_expected = n_expected;
    out->n_online = v.n_online;
    out->n_offline = n_expected > v.n_online ? n_expected - v.n_online : 0;

    bank_finish(s, c, &v, out, &sh);

    /* 4. Tier with anti-flap; a spike forces the red tier. */
    int top = c->n_tiers - 1;
    /* No SOC at all: nothing new to tighten on (and, below, nothing to justify loosening). */
    int raw = out->spread_valid ? tier_lookup(c->tier_spread_pct, c->n_tiers, out->spread_pct) : 0;
    out->spike = v.spike_pack >= 0;
    if (out->spike)
        raw = top;
    int relaxed = raw;   /* looked up only when the anti-flap will read it */
    if (!POL_USUAL(POL_USUAL_RELAXED_SKIP, !tier_flap_wants_relaxed(&s->flap, raw))) {
        if (out->spike)
            relaxed = top;
        else if (out->spread_valid)
            relaxed = tier_lookup_relaxed(c->tier_spread_pct, c->n_tiers, out->spread_pct,
                                          c->unlock_hysteresis_pct);
        else
            relaxed = s->flap.applied;
    }
    out->tier = tier_flap_update(&s->flap, now_ms, raw, relaxed,
                                 (int64_t)(c->unlock_hold_s * 1000.0));
    if (out->tier < 0 || out->tier > top) {
        /* Only a damaged state (a restored snapshot) or a config changed under a live state can
         * get here: the tier indexes the config's tables, so take the tightest, the safe side. */
        out->tier = s->flap.applied = top;
    }

    /* The tier's amps now: the division and rounding take a while, and the next steps do
     * not wait for them. */
    out->tier_ccl_a = tier_amps(c->nominal_ccl_a, c->tier_ccl_pct[out->tier]);

    /* 5. The red alert latches on its cause: the red tier's spread, or a spike. */
    bool red_cause = top > 0 && raw >= top;
    out->red_alert = latch_update(&s->red, now_ms, red_cause,
                                  (int64_t)(c->alarm_clear_hold_s * 1000.0), c->alarm_require_ack);
    uint8_t imb = out->red_alert ? 2
                  : (c->warning_tier > 0 && out->tier >= c->warning_tier) ? 1 : 0;
    if (imb > out->alarm[RDG_AL_CELL_IMBALANCE])
        out->alarm[RDG_AL_CELL_IMBALANCE] = imb;

    /* 6. Charge limiters. Online packs scale the nominal: the packs that are there carry the bank. */
    /* A full bank skips the division: n / n is exactly 1. */
    double scale = n_expected <= 0              ? 0.0
                   : v.n_online >= n_expected ? 1.0
                                              : (double)v.n_online / n_expected;
    double nominal = c->nominal_ccl_a * scale;

    limit_pick ccl = {INFINITY, POL_LIM_NOMINAL, -1};
    bool too_few = v.n_online < c->min_packs_online || v.n_online == 0;
    if (too_few)
        consider(&ccl, 0.0, POL_LIM_TOO_FEW_PACKS, -1);
    /* The cell guard's fraction of nominal: a stop here, a taper further down. */
    double cell_frac = 1.0;
    if (out->max_cell_pack >= 0) {
        cell_frac = guard_ccl_fraction(out->max_cell_v, c->cell_taper_start_v, c->cell_taper_end_v,
                                       c->cell_taper_floor_pct / 100.0, c->cell_stop_v);
        if (cell_frac <= 0.0)
            consider(&ccl, 0.0, POL_LIM_CELL_STOP, out->max_cell_pack);
    }
    /* exp() once per distinct (dt, tau): the tick period is nearly always the same. */
    if (!POL_USUAL(POL_USUAL_ALPHA_CACHE, dt_s == s->alpha_dt_s && c->share_tau_s == s->alpha_tau_s)) {
        s->alpha_dt_s = dt_s;
        s->alpha_tau_s = c->share_tau_s;
        s->alpha = c->share_tau_s > 0.0 ? 1.0 - exp(-dt_s / c->share_tau_s) : 1.0;
    }
    double alpha = s->alpha;
    bool any_chg = sh.chg_member != 0, any_dis = sh.dis_member != 0;
    share_bound bound[2];
    /* The shares straight into the per-pack diagnostics. */
    char *packs = (char *)out->pack;
    share_step_both(&s->chg_share, &s->dis_share, &sh, n, c->share_min_current_a, alpha,
                    (share_out){packs + offsetof(pol_pack_out, charge_share), sizeof(pol_pack_out)},
                    (share_out){packs + offsetof(pol_pack_out, discharge_share), sizeof(pol_pack_out)},
                    bound);
    double chg_share_lim = bound[0].limit_a, dis_share_lim = bound[1].limit_a;
    int chg_bind = bound[0].binding, dis_bind = bound[1].binding;
    if (v.n_online > 0 && !any_chg)
        consider(&ccl, 0.0, POL_LIM_PACK_BLOCKED, -1);
    consider(&ccl, out->tier_ccl_a * scale, out->spike ? POL_LIM_SPIKE : POL_LIM_TIER,
             out->spike ? v.spike_pack : -1);
    if (out->max_cell_pack >= 0)
        consider(&ccl, nominal * cell_frac, POL_LIM_CELL_TAPER, out->max_cell_pack);
    consider(&ccl, chg_share_lim, POL_LIM_PACK_SHARE, chg_bind);
    /* A pack that has reported its cells and stops: the cell guard is blind to it, so charge as
     * if its cells were in the taper's last stretch until they are back. (A BMS that never
     * reports cells is not limited here: there is nothing that went missing.) */
    /* Likewise a pack gone offline whose cells were last seen in the taper: it may still be
     * wired in and charging, unseen (a dropout is not a disconnect). */
    /* The aggregation found the online ones; an offline one is looked at only when there is one. */
    uint32_t lost = v.cells_gone;
    for (uint32_t m = seen_offline & s->had_cells; m != 0; m &= m - 1u) {
        const int i = __builtin_ctz(m);
        const rdg_reading *g = &s->last_good[i];
        if (rdg_has(g, RDG_MAX_CELL) && g->max_cell_v >= c->cell_taper_start_v)
            lost |= 1u << i;
    }
    bool cells_lost = lost != 0;
    if (cells_lost) {
        int i = 0;
        while (!(lost & (1u << i)))
            i++;   /* the first such pack, as the reason names it */
        consider(&ccl, nominal * c->cell_taper_floor_pct / 100.0, POL_LIM_CELLS_LOST, i);
    }
    consider(&ccl, nominal, scale < 1.0 ? POL_LIM_OFFLINE : POL_LIM_NOMINAL, -1);
    if (ccl.why == POL_LIM_TIER && out->tier == 0)
        ccl.why = scale < 1.0 ? POL_LIM_OFFLINE : POL_LIM_NOMINAL;

    /* 7. Discharge limiters. */
    limit_pick dcl = {INFINITY, POL_LIM_NOMINAL, -1};
    if (too_few)
        consider(&dcl, 0.0, POL_LIM_TOO_FEW_PACKS, -1);
    if (v.n_online > 0 && !any_dis)
        consider(&dcl, 0.0, POL_LIM_PACK_BLOCKED, -1);
    consider(&dcl, dis_share_lim, POL_LIM_PACK_SHARE, dis_bind);
    consider(&dcl, c->nominal_dcl_a * scale, scale < 1.0 ? POL_LIM_OFFLINE : POL_LIM_NOMINAL, -1);

    /* 8. A pack whose latest reading was rejected may be hiding a problem: hold the limits
     * where they are (never raise them) until it sends a good one or goes stale. */
    if (bad_pack >= 0 && s->outputs_init) {
        consider(&ccl, s->ccl_out_a, POL_LIM_BAD_READING, bad_pack);
        consider(&dcl, s->dcl_out_a, POL_LIM_BAD_READING, bad_pack);
    }

    /* 9. Rate-limited recovery: decreases at once, increases at ramp_a_per_s. */
    if (s->outputs_init) {
        double up = c->ramp_a_per_s * dt_s;
        consider(&ccl, s->ccl_out_a + up, POL_LIM_RAMP, -1);
        consider(&dcl, s->dcl_out_a + up, POL_LIM_RAMP, -1);
    }
    if (ccl.amps < 0.0)
        ccl.amps = 0.0;
    if (dcl.amps < 0.0)
        dcl.amps = 0.0;

    /* 10. CVL: lowest pack CVL, pulled down by cell overvoltage, raised slowly after. */
    double cvl_base = v.has_cvl ? v.min_cvl_v : c->fallback_cvl_v;
    double cvl = guard_cvl(cvl_base, out->voltage_valid ? out->voltage_v : NAN, v.overvoltage_sum_v,
                           c->battery_low_v);
    /* A pack seen before and now offline may still be wired in and charging, unseen by the cell
     * guard: hold the bank below the knee (3.375 V a cell for the default 16 cells, LFP float)
     * until it is back, so none of its cells is charged into its BMS's trip (found by the seed
     * sweep: a pack silent for good at mid SOC was charged to its OVP). Decreases act at once;
     * the way back up is the CVL ramp. */
    if (seen_offline != 0 && c->offline_cvl_v > 0.0 && cvl > c->offline_cvl_v)
        cvl = c->offline_cvl_v;
    if (s->outputs_init && cvl > s->cvl_out_v + c->cvl_ramp_v_per_s * dt_s)
        cvl = s->cvl_out_v + c->cvl_ramp_v_per_s * dt_s;
    /* Blind (too few packs, a pack's cells gone, a rejected reading): CVL may not rise either.
     * With ESS DC-coupled feed-in the solar chargers obey CVL only, so a CVL that drifts back up
     * to the packs' own (or the fallback) while nobody watches the cells would charge a high
     * cell into its over-voltage trip (found by the seed sweep). */
    if ((too_few || cells_lost || bad_pack >= 0) && s->outputs_init && cvl > s->cvl_out_v)
        cvl = s->cvl_out_v;
    /* With no pack to watch at all, no charger may push the bank above where it was last seen. */
    if (too_few && s->has_bank_v && cvl > s->last_bank_v)
        cvl = s->last_bank_v > c->battery_low_v ? s->last_bank_v : c->battery_low_v;
    if (!too_few && out->voltage_valid) {
        s->has_bank_v = true;
        s->last_bank_v = out->voltage_v;
    }

    s->outputs_init = true;
    s->ccl_out_a = ccl.amps;
    s->dcl_out_a = dcl.amps;
    s->cvl_out_v = cvl;

    out->ccl_a = ccl.amps;
    out->dcl_a = dcl.amps;
    out->cvl_v = cvl;
    out->battery_low_v = c->battery_low_v;
    out->ccl_limiter = ccl.why;
    out->dcl_limiter = dcl.why;
    out->allow_charge = out->ccl_a > 0.0;
    out->allow_discharge = out->dcl_a > 0.0;

    /* 11. BmsCable: our own view of the bank's connections. */
    uint8_t cable = too_few ? 2 : out->n_offline > 0 ? 1 : 0;
    if (cable > out->alarm[RDG_AL_BMS_CABLE])
        out->alarm[RDG_AL_BMS_CABLE] = cable;

    /* 12. Per-pack diagnostics. */
    out->rejected_total = s->rejected_total;
    /* Slots beyond n are cleared only when the bank shrank since the last tick: a caller that
     * reuses its output struct sees no stale packs, and the common case costs nothing. */
    int clear_to = s->last_n > n ? s->last_n : n;
    if (!POL_USUAL(POL_USUAL_CLEAR_SKIP, s->out_cleared)) {
        clear_to = POL_MAX_PACKS;
        s->out_cleared = true;
    }
    s->last_n = n;
    /* The first pass and share_step_both wrote the packs up to n. */
    for (int i = n; i < clear_to; i++) {
        pol_pack_out *p = &out->pack[i];
        p->state = POL_PACK_UNSEEN;
        p->rejected_now = false;
        p->rejected_count = s->rejected_count[i];
        p->last_verdict = s->last_verdict[i];
        p->charge_share = p->discharge_share = 0.0;
        p->has_soc = false;
        p->soc_pct = NAN;
    }

    /* The reason text changes far less often than it is asked for: rebuild it only when what
     * it shows (rounded as shown) changed. */
    int64_t key[REASON_KEY_MAX];
    int key_len = reason_key(c, s, out, &ccl, n_expected, key);
    /* Word by word, unrolled: a key is one to four words (the limiter's first), most often two. */
    _Static_assert(REASON_KEY_MAX == 4, "the comparison below takes up to four words");
    const int64_t *had = s->reason_key;
    bool same = POL_USUAL(POL_USUAL_REASON_CACHE,
                          s->reason_key_valid && key[0] == had[0] &&
                              (key_len < 2 ||
                               (key[1] == had[1] &&
                                (key_len < 3 || (key[2] == had[2] && (key_len < 4 || key[3] == had[3]))))));
    if (!same) {
        s->reason_len = write_reason(c, s, out, &ccl, n_expected, s->reason);
        for (int i = 0; i < key_len; i++)
            s->reason_key[i] = key[i];
        s->reason_key_valid = true;
    }
    /* The text and its NUL in one block copy; the length is trusted only where it is the
     * text's (a damaged snapshot takes the byte-by-byte way). */
    int64_t len = s->reason_len;
    if (POL_USUAL(POL_USUAL_REASON_COPY, len >= 0 && len < POL_REASON_LEN && s->reason[len] == '\0')) {
        copy_bytes(out->reason, s->reason, (int)len + 1);
    } else {
        for (int i = 0; i < POL_REASON_LEN; i++) {
            out->reason[i] = s->reason[i];
            if (!s->reason[i])
                break;
        }
    }
    return 0;
}
