/* A simulation scenario: INI with shared defaults and per-scenario overrides, plus timed events in CSV. */
#ifndef BMSAGG_SIM_SCENARIO_H
#define BMSAGG_SIM_SCENARIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pack.h"
#include "profile.h"

#define SCN_MAX_PACKS 32
#define SCN_MAX_EVENTS 512
#define SCN_PATH_LEN 512
#define SCN_ERR_LEN 768

typedef enum {
    SCN_EV_SPIKE = 0,     /* the reported max cell voltage rises by value V for the duration */
    SCN_EV_BMS_TRIP,      /* the BMS opens its charge FET for the duration (value 1: discharge FET too) */
    SCN_EV_DROPOUT,       /* no readings from the pack for the duration (-1: for good) */
    SCN_EV_DISCONNECT,    /* the pack leaves the bus and stops reporting (-1: for good) */
    SCN_EV_ADD_PACK,      /* the pack joins the bus at true SOC value % */
    SCN_EV_SOC_DRIFT,     /* the reported SOC jumps by value percentage points */
    SCN_EV_NAN,           /* readings carry NaN SOC for the duration */
    SCN_EV_RANGE,         /* readings carry an out-of-range SOC (value) for the duration */
    SCN_EV_MISSING,       /* readings lack SOC and cell voltages for the duration */
    SCN_EV_CURRENT_STEP,  /* the bank load/charge current changes by value A for the duration */
    SCN_EV_AMBIENT,       /* the ambient temperature shifts by value C from then on */
    SCN_EV_COUNT
} scn_event_kind;

const char *scn_event_name(scn_event_kind k);

typedef struct {
    int64_t t_ms;
    scn_event_kind kind;
    int pack;             /* 0-based; -1 = every pack */
    double value;
    int64_t dur_ms;       /* -1 = for good */
} scn_event;

/* What a scenario promises besides the invariants; NaN / negative = not checked. */
typedef struct {
    bool safe;                    /* no cell may reach its BMS OVP trip */
    double spread_below_pct, spread_within_h;
    double final_spread_max_pct;
    double red_alert_by_s;
    bool red_alert_never;
    double alert_latched_min_s;   /* every red-alert episode lasts at least this long */
    double ccl_below_a, ccl_below_by_s;
    double ccl_zero_by_s;
    double cable_alarm_by_s;
    double rejected_min;
    double ccl_reaches_a, ccl_reaches_by_h;
    double unserved_max_kwh;
} scn_expect;

typedef struct {
    char name[128];
    char path[SCN_PATH_LEN];
    char description[256];
    char events_path[SCN_PATH_LEN];
    char profile_path[SCN_PATH_LEN];
    char config_path[SCN_PATH_LEN];

    double days;
    int64_t step_ms, poll_ms, latency_ms, trace_ms;
    uint64_t seed;

    int n_packs, n_cells;
    double rating_a;              /* the bank's hardware rating: CCL must never exceed it */
    bool dc_feed_in;
    double charger_max_a, inverter_max_a, eta_mppt, eta_inv;
    double ambient_c, ambient_swing_c;
    prof_cfg prof;

    pack_params pack[SCN_MAX_PACKS];
    bool pack_connected[SCN_MAX_PACKS];

    int n_events;
    scn_event ev[SCN_MAX_EVENTS];

    scn_expect expect;
    double tol_a, tol_pct, grace_s;
} scn_t;

/* Loads a scenario file (with its includes, events and the seeded cell draws). Returns 0, or -1
 * with "FILE:LINE: [section] key: what is wrong" in err. */
int scn_load(const char *path, scn_t *s, char *err, size_t err_len);

/* Same, with the seed replaced before the cells are drawn (seed >= 0), for --seed. */
int scn_load_seeded(const char *path, long seed, scn_t *s, char *err, size_t err_len);

/* Same from a string (name used in messages; includes resolve against the current directory). */
int scn_load_string(const char *text, const char *name, scn_t *s, char *err, size_t err_len);

/* Total simulated milliseconds. */
int64_t scn_duration_ms(const scn_t *s);

#endif
