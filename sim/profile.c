/* PV and load profiles (SIMULATION.md section 8): synthetic per-minute processes, or a CSV read with libcsv. */
#include <csv.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "profile.h"

void prof_cfg_default(prof_cfg *c)
{
    c->pv_peak_w = 6000.0;
    c->day_len_h = 13.0;
    c->noon_h = 13.0;
    c->weather = PROF_MARKOV;
    c->persistence = 0.7;
    c->base_w = 300.0;
    c->idle_w = 40.0;
    c->morning_w = 1500.0;
    c->evening_w = 2500.0;
    c->kettle_per_day = 3.0;
    c->cooker_per_day = 1.0;
    c->heatpump_w = 0.0;
    c->load_scale = 1.0;
}

static void new_day(prof_t *p)
{
    const prof_cfg *c = &p->cfg;
    switch (c->weather) {
    case PROF_CLEAR: p->day_state = 0; break;
    case PROF_MIXED: p->day_state = 1; break;
    case PROF_OVERCAST: p->day_state = 2; break;
    case PROF_MARKOV:
    default:
        if (p->day < 0 || rng_uniform(&p->rng) >= c->persistence)
            p->day_state = (int)(rng_uniform(&p->rng) * 3.0);
        break;
    }
    double u = rng_uniform(&p->rng);
    static const double lo[3] = {0.9, 0.4, 0.1}, hi[3] = {1.0, 0.8, 0.3};
    p->k_day = lo[p->day_state] + u * (hi[p->day_state] - lo[p->day_state]);
}

void prof_init(prof_t *p, const prof_cfg *c, uint64_t seed)
{
    memset(p, 0, sizeof *p);
    p->cfg = *c;
    rng_seed(&p->rng, seed ^ 0xA5A5F00DCAFEull);
    p->minute = -1;
    p->day = -1;
    p->cloud = 1.0;
    new_day(p);
    p->day = 0;
}

void prof_free(prof_t *p)
{
    free(p->csv_t_s);
    free(p->csv_pv_w);
    free(p->csv_load_w);
    p->csv_t_s = p->csv_pv_w = p->csv_load_w = NULL;
    p->n_rows = 0;
    free(p->curve);
    p->curve = NULL;
}

/* Advances the per-minute processes (clouds, appliances) to minute m. */
static void step_minute(prof_t *p, int64_t m)
{
    const prof_cfg *c = &p->cfg;
    int64_t d = m / 1440;
    while (p->day < d) {
        p->day++;
        new_day(p);
    }
    /* Clouds: AR(1) around 1 on mixed days, with 1-2 minute dips to 0.2-0.4. */
    if (p->day_state == 1) {
        p->cloud = 0.85 * p->cloud + 0.15 * (0.85 + 0.15 * rng_normal(&p->rng));
        if (p->dip_left_min > 0.0) {
            p->dip_left_min -= 1.0;
            p->cloud_minute = 0.2 + 0.2 * rng_uniform(&p->rng);
        } else {
            if (rng_uniform(&p->rng) < 0.03)
                p->dip_left_min = 1.0 + floor(rng_uniform(&p->rng) * 2.0);
            p->cloud_minute = p->cloud;
        }
        if (p->cloud_minute < 0.05)
            p->cloud_minute = 0.05;
        if (p->cloud_minute > 1.1)
            p->cloud_minute = 1.1;
    } else {
        p->cloud_minute = 1.0;
    }

    /* Load: base and inverter idle, morning and evening peaks, Poisson appliances. */
    double h = (double)(m % 1440) / 60.0;
    double w = c->base_w + c->idle_w;
    if (h >= 6.5 && h < 8.0)
        w += c->morning_w;
    if (h >= 18.0 && h < 21.5)
        w += c->evening_w;
    double u = rng_uniform(&p->rng);
    if (p->kettle_left <= 0.0 && h >= 6.0 && h < 23.0 && u < c->kettle_per_day / (17.0 * 60.0)) {
        p->kettle_left = 2.0 + floor(rng_uniform(&p->rng) * 3.0);
        p->kettle_w = 2000.0 + 1000.0 * rng_uniform(&p->rng);
    }
    u = rng_uniform(&p->rng);
    if (p->cooker_left <= 0.0 && h >= 11.0 && h < 20.0 && u < c->cooker_per_day / (9.0 * 60.0)) {
        p->cooker_left = 20.0 + floor(rng_uniform(&p->rng) * 21.0);
        p->cooker_w = 1500.0 + 1500.0 * rng_uniform(&p->rng);
    }
    if (p->kettle_left > 0.0) {
        w += p->kettle_w;
        p->kettle_left -= 1.0;
    }
    if (p->cooker_left > 0.0) {
        w += p->cooker_w;
        p->cooker_left -= 1.0;
    }
    if (c->heatpump_w > 0.0) {
        if (p->hp_left <= 0.0) {
            p->hp_phase = !p->hp_phase;
            p->hp_left = 10.0 + floor(rng_uniform(&p->rng) * 11.0);
        }
        if (p->hp_phase)
            w += c->heatpump_w;
        p->hp_left -= 1.0;
    }
    p->load_minute_w = w * c->load_scale;
    p->minute = m;
}

static void csv_at(prof_t *p, int64_t t_ms, double *pv_w, double *load_w)
{
    double last = p->csv_t_s[p->n_rows - 1];
    double t = (double)t_ms / 1000.0;
    /* A profile shorter than the run repeats (a one-day CSV becomes every day). */
    if (last > 0.0 && t > last)
        t = fmod(t, last);
    if (p->csv_pos >= p->n_rows || p->csv_t_s[p->csv_pos] > t)
        p->csv_pos = 0;
    while (p->csv_pos + 1 < p->n_rows && p->csv_t_s[p->csv_pos + 1] <= t)
        p->csv_pos++;
    size_t i = p->csv_pos;
    if (i + 1 >= p->n_rows || t <= p->csv_t_s[i]) {
        *pv_w = p->csv_pv_w[i];
        *load_w = p->csv_load_w[i];
        return;
    }
    double f = (t - p->csv_t_s[i]) / (p->csv_t_s[i + 1] - p->csv_t_s[i]);
    *pv_w = p->csv_pv_w[i] + f * (p->csv_pv_w[i + 1] - p->csv_pv_w[i]);
    *load_w = p->csv_load_w[i] + f * (p->csv_load_w[i + 1] - p->csv_load_w[i]);
}

/* sin(pi x)^1.2 at time of day tod_ms (x is its place in the day): whole seconds come from the
 * cache, computed by the very same expression, so the result is the same bit for bit. */
static double day_curve(prof_t *p, int64_t tod_ms, double x)
{
    if (tod_ms % 1000 != 0)
        return pow(sin(3.141592653589793 * x), 1.2);
    if (!p->curve) {
        p->curve = malloc(86400 * sizeof *p->curve);
        if (!p->curve)
            return pow(sin(3.141592653589793 * x), 1.2);
        for (int i = 0; i < 86400; i++)
            p->curve[i] = NAN;
    }
    double *slot = &p->curve[tod_ms / 1000];
    if (isnan(*slot))
        *slot = pow(sin(3.141592653589793 * x), 1.2);
    return *slot;
}

void prof_at(prof_t *p, int64_t t_ms, double *pv_w, double *load_w)
{
    if (p->n_rows > 0) {
        csv_at(p, t_ms, pv_w, load_w);
        return;
    }
    int64_t m = t_ms / 60000;
    while (p->minute < m)
        step_minute(p, p->minute + 1);
    const prof_cfg *c = &p->cfg;
    int64_t tod_ms = t_ms % 86400000;
    double h = (double)tod_ms / 3600000.0;
    double rise = c->noon_h - 0.5 * c->day_len_h;
    double x = (h - rise) / c->day_len_h;
    double pv = 0.0;
    if (x > 0.0 && x < 1.0)
        pv = c->pv_peak_w * day_curve(p, tod_ms, x) * p->k_day * p->cloud_minute;
    *pv_w = pv;
    *load_w = p->load_minute_w;
}

/* libcsv callbacks: collect fields of a row, then check and store it. */
typedef struct {
    prof_t *p;
    const char *path;
    char *err;
    size_t err_len;
    int line;
    int field;
    double vals[3];
    bool header;
    bool failed;
    size_t cap;
} csv_ctx;

static void on_field(void *s, size_t len, void *data)
{
    csv_ctx *x = data;
    if (x->failed)
        return;
    char buf[64];
    if (len >= sizeof buf)
        len = sizeof buf - 1;
    memcpy(buf, s ? s : "", len);
    buf[len] = '\0';
    static const char *const names[3] = {"time_s", "pv_w", "load_w"};
    if (x->field >= 3) {
        snprintf(x->err, x->err_len, "%s:%d: too many columns (want time_s,pv_w,load_w)", x->path,
                 x->line);
        x->failed = true;
        return;
    }
    if (x->header) {
        if (strcmp(buf, names[x->field]) != 0) {
            snprintf(x->err, x->err_len, "%s:%d: column %d: header '%s', want '%s'", x->path, x->line,
                     x->field + 1, buf, names[x->field]);
            x->failed = true;
        }
    } else if (conf_parse_double(buf, x->field == 0 ? 0.0 : 0.0, 1e9, &x->vals[x->field]) != 0) {
        snprintf(x->err, x->err_len, "%s:%d: %s: '%s' is not a number in 0..1e9", x->path, x->line,
                 names[x->field], buf);
        x->failed = true;
    }
    x->field++;
}

static void on_row(int c, void *data)
{
    (void)c;
    csv_ctx *x = data;
    if (x->failed) {
        x->line++;
        return;
    }
    if (x->field != 3) {
        snprintf(x->err, x->err_len, "%s:%d: %d columns, want 3 (time_s,pv_w,load_w)", x->path, x->line,
                 x->field);
        x->failed = true;
    } else if (x->header) {
        x->header = false;
    } else {
        prof_t *p = x->p;
        if (p->n_rows >= PROF_MAX_CSV_ROWS) {
            snprintf(x->err, x->err_len, "%s:%d: more than %d rows", x->path, x->line, PROF_MAX_CSV_ROWS);
            x->failed = true;
        } else if (p->n_rows > 0 && x->vals[0] <= p->csv_t_s[p->n_rows - 1]) {
            snprintf(x->err, x->err_len, "%s:%d: time_s: %g does not increase", x->path, x->line, x->vals[0]);
            x->failed = true;
        } else {
            if (p->n_rows == x->cap) {
                x->cap = x->cap ? 2 * x->cap : 1024;
                double *a = realloc(p->csv_t_s, x->cap * sizeof *a);
                if (a) p->csv_t_s = a;
                double *b = realloc(p->csv_pv_w, x->cap * sizeof *b);
                if (b) p->csv_pv_w = b;
                double *d = realloc(p->csv_load_w, x->cap * sizeof *d);
                if (d) p->csv_load_w = d;
                if (!a || !b || !d) {
                    snprintf(x->err, x->err_len, "%s: out of memory", x->path);
                    x->failed = true;
                    x->line++;
                    x->field = 0;
                    return;
                }
            }
            p->csv_t_s[p->n_rows] = x->vals[0];
            p->csv_pv_w[p->n_rows] = x->vals[1];
            p->csv_load_w[p->n_rows] = x->vals[2];
            p->n_rows++;
        }
    }
    x->line++;
    x->field = 0;
}

int prof_load_csv(prof_t *p, const char *path, char *err, size_t err_len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, err_len, "%s: cannot open", path);
        return -1;
    }
    struct csv_parser parser;
    if (csv_init(&parser, CSV_APPEND_NULL) != 0) {
        fclose(f);
        snprintf(err, err_len, "%s: csv_init failed", path);
        return -1;
    }
    csv_ctx x = {p, path, err, err_len, 1, 0, {0, 0, 0}, true, false, 0};
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
        if (csv_parse(&parser, buf, n, on_field, on_row, &x) != n) {
            snprintf(err, err_len, "%s:%d: %s", path, x.line, csv_strerror(csv_error(&parser)));
            x.failed = true;
            break;
        }
    }
    /* The last row arrives only through csv_fini when the file lacks a final newline. */
    if (!x.failed)
        csv_fini(&parser, on_field, on_row, &x);
    csv_free(&parser);
    fclose(f);
    if (!x.failed && p->n_rows == 0) {
        snprintf(err, err_len, "%s: no data rows", path);
        x.failed = true;
    }
    if (x.failed) {
        prof_free(p);
        return -1;
    }
    p->csv_pos = 0;
    return 0;
}
