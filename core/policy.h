/* The aggregation policy: per-pack readings in, one virtual battery's values, limits and alarms out. */
#ifndef BMSAGG_POLICY_H
#define BMSAGG_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "latch.h"
#include "reading.h"
#include "share.h"
#include "tier.h"

#define POL_MAX_PACKS 32
#define POL_MAX_TIERS 8
#define POL_REASON_LEN 96

typedef enum { POL_SOC_LOWEST = 0, POL_SOC_WEIGHTED = 1 } pol_soc_mode;

/* Every number of the policy. pol_config_default() gives the original design's values;
 * pol_config_check() says whether a config is coherent. Units in the names. */
typedef struct {
    /* bank */
    double nominal_ccl_a;          /* 150: CCL of the whole bank when nothing limits */
    double nominal_dcl_a;          /* 200: DCL of the whole bank when nothing limits */
    int expected_packs;            /* 0 = as many as have been seen; else the bank's size */
    int min_packs_online;          /* 1: fewer online packs => CCL = DCL = 0, BmsCable = 2 */
    pol_soc_mode soc_mode;         /* lowest (default) or capacity-weighted mean */
    double fallback_cvl_v;         /* 55.2: CVL when no pack publishes one (CVL must stay valid) */
    double battery_low_v;          /* 44.8: /Info/BatteryLowVoltage */
    double offline_cvl_v;          /* 54.0: CVL cap while a pack seen before is offline; 0 = none */

    /* tiers: spread boundaries in percentage points and the CCL percent of each tier.
     * n_tiers percents, n_tiers - 1 boundaries. Tier i > 0 applies when spread >= boundary[i-1],
     * except the last (red) tier, which needs spread > its boundary (original design: 10..15 inclusive
     * is still 66 %). Amps are rounded half up to whole amps. */
    int n_tiers;                              /* 4 */
    double tier_spread_pct[POL_MAX_TIERS - 1]; /* 5, 10, 15 */
    double tier_ccl_pct[POL_MAX_TIERS];        /* 100, 85, 66, 33 */
    bool forward_pack_alarms;      /* true: each pack alarm path is also the max over online packs */
    int warning_tier;              /* 0 = never; else CellImbalance = 1 (unlatched) at this tier or above */

    /* spike */
    double spike_cell_delta_v;     /* 0.20: a pack's max - min cell above this forces the red tier */

    /* red alert latch */
    double alarm_clear_hold_s;     /* 600 */
    bool alarm_require_ack;        /* false */

    /* anti-flap */
    double unlock_hysteresis_pct;  /* 1.0 pp below the boundary */
    double unlock_hold_s;          /* 120 */
    double ramp_a_per_s;           /* 5: the most CCL and DCL may rise per second */

    /* cell-voltage guard and CVL */
    double cell_taper_start_v;     /* 3.45 */
    double cell_taper_end_v;       /* 3.55 */
    double cell_taper_floor_pct;   /* 10: CCL percent of nominal between taper end and stop */
    double cell_stop_v;            /* 3.60: CCL = 0 at or above */
    double cell_ovp_target_v;      /* 3.50: cells above it pull CVL down by their overvoltage */
    double cvl_ramp_v_per_s;       /* 0.01: the most CVL may rise per second after a reduction */
    double cell_min_plausible_v;   /* 1.5 */
    double cell_max_plausible_v;   /* 5.0 */

    /* pack share */
    double share_min_current_a;    /* 10: below this bank current, shares come from capacity */
    double share_tau_s;            /* 30: smoothing time constant of measured shares */

    /* staleness */
    double stale_timeout_s;        /* 10 */
} pol_config;

void pol_config_default(pol_config *c);

/* 0 when coherent; else -1 with *key naming the offending key (as in the INI file), *other
 * the second key of a relation between two (NULL if none) and *why a short explanation
 * (all static strings). */
int pol_config_check(const pol_config *c, const char **key, const char **other, const char **why);

/* Amps of tier i, rounded half up. */
double pol_tier_amps(const pol_config *c, int tier);

/* Raw tier for a spread (no hysteresis). */
int pol_tier_for_spread(const pol_config *c, double spread_pct);

/* What binds the CCL, in order of precedence when several bind equally. */
typedef enum {
    POL_LIM_NOMINAL = 0,
    POL_LIM_TIER,
    POL_LIM_SPIKE,
    POL_LIM_CELL_TAPER,
    POL_LIM_CELL_STOP,
    POL_LIM_PACK_SHARE,
    POL_LIM_PACK_BLOCKED,
    POL_LIM_OFFLINE,
    POL_LIM_TOO_FEW_PACKS,
    POL_LIM_RAMP,
    POL_LIM_BAD_READING,
    POL_LIM_CELLS_LOST,
    POL_LIM_COUNT
} pol_limiter;

const char *pol_limiter_name(pol_limiter l);

typedef enum { POL_PACK_UNSEEN = 0, POL_PACK_ONLINE, POL_PACK_OFFLINE } pol_pack_state;

/* Per-pack results, for diagnostics. */
typedef struct {
    pol_pack_state state;
    bool rejected_now;             /* the last fresh reading was rejected and nothing good came since */
    uint32_t rejected_count;       /* implausible readings since start */
    rdg_verdict last_verdict;
    double charge_share;           /* 0..1, the share used for the CCL share limit */
    double discharge_share;
    double soc_pct;                /* last accepted, NaN if none */
    bool has_soc;
} pol_pack_out;

/* Aggregated values. A value whose *_valid flag is false is published as invalid. */
typedef struct {
    bool soc_valid;          double soc_pct;
    bool spread_valid;       double spread_pct;
    bool voltage_valid;      double voltage_v;
    bool current_valid;      double current_a;
    bool power_valid;        double power_w;
    bool temp_valid;         double temp_max_c, temp_min_c;
    bool installed_valid;    double installed_cap_ah;
    bool capacity_valid;     double capacity_ah;
    bool consumed_valid;     double consumed_ah;
    bool cells_valid;
    double min_cell_v, max_cell_v;
    int min_cell_pack, min_cell_id;   /* pack index, cell id (-1 unknown) */
    int max_cell_pack, max_cell_id;

    double ccl_a, dcl_a, cvl_v, battery_low_v;   /* always valid */
    bool allow_charge, allow_discharge;

    int tier;                        /* applied tier (after anti-flap, spike) */
    double tier_ccl_a;               /* amps of that tier, before offline scaling */
    pol_limiter ccl_limiter;
    pol_limiter dcl_limiter;
    char reason[POL_REASON_LEN];     /* for /Info/ChargeLimitation */

    uint8_t alarm[RDG_AL_COUNT];     /* levels 0/1/2; CellImbalance and BmsCable are the core's own */
    bool red_alert;                  /* the latched CellImbalance alarm */
    bool spike;                      /* a spike is present right now */

    int n_online, n_offline, n_blocking_charge, n_blocking_discharge, n_expected;
    uint32_t rejected_total;
    pol_pack_out pack[POL_MAX_PACKS];
} pol_output;

/* Caller-owned state. Do not rely on its contents: they change without notice. */
typedef struct {
    bool started;
    int64_t last_ms;

    /* per pack */
    rdg_reading last_good[POL_MAX_PACKS];
    bool has_good[POL_MAX_PACKS];
    int64_t last_good_ms[POL_MAX_PACKS];
    bool rejected_now[POL_MAX_PACKS];
    uint32_t rejected_count[POL_MAX_PACKS];
    rdg_verdict last_verdict[POL_MAX_PACKS];
    uint32_t rejected_total;
    uint32_t had_cells;          /* bit per slot: this pack has reported its highest cell */
    bool has_bank_v;
    double last_bank_v;          /* bank voltage at the last tick with enough packs online */

    share_smoother chg_share, dis_share;
    tier_flap flap;
    latch_state red;

    /* rate limits on the published limits */
    bool outputs_init;
    double ccl_out_a, dcl_out_a, cvl_out_v;

    /* caches: work skipped when nothing it depends on changed */
    int last_n;
    bool out_cleared;
    double alpha_dt_s, alpha_tau_s, alpha;
    bool reason_key_valid;
    int64_t reason_key[11];
    int64_t reason_len;          /* strlen(reason) */
    char reason[POL_REASON_LEN];
} pol_state;

void pol_init(pol_state *s);

/* Acknowledge the red alert (only matters with alarm_require_ack). */
void pol_acknowledge(pol_state *s);

/* One tick. now_ms is monotonic milliseconds; readings[0..n_packs) one per pack slot, the
 * same slot for the same pack on every tick (n_packs <= POL_MAX_PACKS).
 * Returns 0 and fills *out; returns -1 and leaves *out and *s untouched if time went backwards
 * or n_packs is out of range. Pass the same *out every tick: out->pack[] beyond n_packs is
 * cleared on the first call and when the bank shrinks, not on every tick. */
int pol_step(pol_state *s, const pol_config *c, int64_t now_ms,
             const rdg_reading *readings, int n_packs, pol_output *out);

#endif
