/* PV and load power over time: a seeded synthetic generator (day curve, cloud regimes, load peaks) or a CSV. */
#ifndef BMSAGG_SIM_PROFILE_H
#define BMSAGG_SIM_PROFILE_H

#include <stddef.h>
#include <stdint.h>

#include "rng.h"

typedef enum { PROF_MARKOV = 0, PROF_CLEAR, PROF_MIXED, PROF_OVERCAST } prof_weather;

typedef struct {
    /* PV */
    double pv_peak_w, day_len_h, noon_h;
    prof_weather weather;
    double persistence;          /* chance a day keeps yesterday's weather */
    /* load */
    double base_w, idle_w, morning_w, evening_w;
    double kettle_per_day, cooker_per_day, heatpump_w;
    double load_scale;
} prof_cfg;

void prof_cfg_default(prof_cfg *c);

#define PROF_MAX_CSV_ROWS 200000

typedef struct {
    prof_cfg cfg;
    rng_t rng;
    /* synthetic state, advanced per minute */
    int64_t minute;
    int64_t day;
    int day_state;               /* 0 clear, 1 mixed, 2 overcast */
    double k_day, cloud, dip_left_min;
    double load_events_w;        /* appliance power this minute */
    double kettle_left, cooker_left, cooker_w, kettle_w;
    int hp_phase;
    double hp_left;
    double load_minute_w;
    double cloud_minute;
    /* CSV: time_s, pv_w, load_w rows (sorted); NULL = synthetic */
    size_t n_rows;
    double *csv_t_s, *csv_pv_w, *csv_load_w;
    size_t csv_pos;
    /* The day curve sin^1.2 by second of day, filled as first needed (NaN = not yet): it depends
     * only on the time of day and the config, and pow(sin()) every step cost a fifth of the
     * simulator's own overhead. NULL until the first synthetic lookup; freed by prof_free. */
    double *curve;
} prof_t;

void prof_init(prof_t *p, const prof_cfg *c, uint64_t seed);

/* Loads a CSV profile (header time_s,pv_w,load_w). Returns 0, or -1 with "FILE:LINE: ..." in err. */
int prof_load_csv(prof_t *p, const char *path, char *err, size_t err_len);

void prof_free(prof_t *p);

/* Powers at t_ms; calls must have non-decreasing t_ms. */
void prof_at(prof_t *p, int64_t t_ms, double *pv_w, double *load_w);

#endif
