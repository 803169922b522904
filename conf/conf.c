/* The INI configuration shared by the daemon and the simulator: strict parsing, defaults, printing. */
#include <errno.h>
#include <ini.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conf.h"

/* ---- checked number parsing ------------------------------------------------------------ */

/* strtod also takes hex, "inf", "nan" and leading blanks; a config number is none of those. */
static bool plain_decimal(const char *s)
{
    if (*s == '\0')
        return false;
    for (const char *p = s; *p; p++)
        if (!strchr("0123456789+-.eE", *p))
            return false;
    return true;
}

int conf_parse_double(const char *s, double lo, double hi, double *out)
{
    if (!s || !plain_decimal(s))
        return -1;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !isfinite(v) || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

int conf_parse_long(const char *s, long lo, long hi, long *out)
{
    if (!s || *s == '\0' || !strchr("+-0123456789", *s))
        return -1;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

int conf_parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"yes", "true", "on", "1"};
    static const char *const no[] = {"no", "false", "off", "0"};
    if (!s)
        return -1;
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return -1;
}

/* ---- the key table ----------------------------------------------------------------------- */

typedef enum {
    K_DOUBLE,      /* double at offset */
    K_INT,         /* int at offset */
    K_LONG,        /* long at offset */
    K_BOOL,        /* bool at offset */
    K_STRING,      /* char[size] at offset */
    K_SOCMODE,     /* pol_soc_mode at offset */
    K_BOUNDS,      /* the tier boundaries (list) */
    K_PERCENTS,    /* the tier percents (list) */
    K_NAMES_PACKS, /* the [dbus] packs list */
    K_NAMES_EXCL,  /* the [dbus] exclude list */
} key_type;

typedef struct {
    const char *section;
    const char *name;
    key_type type;
    size_t offset;
    size_t size;      /* K_STRING capacity */
    double lo, hi;    /* numeric range */
} key_def;

#define P(field) offsetof(conf_t, pol.field)
#define D(field) offsetof(conf_t, dbus.field)
#define R(field) offsetof(conf_t, record.field)

static const key_def keys[] = {
    {"bank", "nominal_ccl_a", K_DOUBLE, P(nominal_ccl_a), 0, 0, 10000},
    {"bank", "nominal_dcl_a", K_DOUBLE, P(nominal_dcl_a), 0, 0, 10000},
    {"bank", "expected_packs", K_INT, P(expected_packs), 0, 0, POL_MAX_PACKS},
    {"bank", "min_packs_online", K_INT, P(min_packs_online), 0, 0, POL_MAX_PACKS},
    {"bank", "soc_mode", K_SOCMODE, P(soc_mode), 0, 0, 0},
    {"bank", "fallback_cvl_v", K_DOUBLE, P(fallback_cvl_v), 0, 1, 1000},
    {"bank", "battery_low_v", K_DOUBLE, P(battery_low_v), 0, 0, 1000},
    {"bank", "offline_cvl_v", K_DOUBLE, P(offline_cvl_v), 0, 0, 1000},
    {"bank", "stale_timeout_s", K_DOUBLE, P(stale_timeout_s), 0, 0.1, 86400},

    {"tiers", "tier_spread_pct", K_BOUNDS, 0, 0, 0.01, 100},
    {"tiers", "tier_ccl_pct", K_PERCENTS, 0, 0, 0, 100},
    {"tiers", "warning_tier", K_INT, P(warning_tier), 0, 0, POL_MAX_TIERS - 1},
    {"tiers", "unlock_hysteresis_pct", K_DOUBLE, P(unlock_hysteresis_pct), 0, 0, 50},
    {"tiers", "unlock_hold_s", K_DOUBLE, P(unlock_hold_s), 0, 0, 86400},
    {"tiers", "ramp_a_per_s", K_DOUBLE, P(ramp_a_per_s), 0, 0.001, 10000},

    {"alarms", "spike_cell_delta_v", K_DOUBLE, P(spike_cell_delta_v), 0, 0.001, 2},
    {"alarms", "alarm_clear_hold_s", K_DOUBLE, P(alarm_clear_hold_s), 0, 0, 86400},
    {"alarms", "alarm_require_ack", K_BOOL, P(alarm_require_ack), 0, 0, 0},
    {"alarms", "forward_pack_alarms", K_BOOL, P(forward_pack_alarms), 0, 0, 0},

    {"cells", "cell_taper_start_v", K_DOUBLE, P(cell_taper_start_v), 0, 0.5, 10},
    {"cells", "cell_taper_end_v", K_DOUBLE, P(cell_taper_end_v), 0, 0.5, 10},
    {"cells", "cell_taper_floor_pct", K_DOUBLE, P(cell_taper_floor_pct), 0, 0, 100},
    {"cells", "cell_stop_v", K_DOUBLE, P(cell_stop_v), 0, 0.5, 10},
    {"cells", "cell_ovp_target_v", K_DOUBLE, P(cell_ovp_target_v), 0, 0.5, 10},
    {"cells", "cvl_ramp_v_per_s", K_DOUBLE, P(cvl_ramp_v_per_s), 0, 0.0001, 100},
    {"cells", "cell_min_plausible_v", K_DOUBLE, P(cell_min_plausible_v), 0, 0.1, 10},
    {"cells", "cell_max_plausible_v", K_DOUBLE, P(cell_max_plausible_v), 0, 0.1, 10},

    {"share", "share_min_current_a", K_DOUBLE, P(share_min_current_a), 0, 0, 10000},
    {"share", "share_tau_s", K_DOUBLE, P(share_tau_s), 0, 0, 86400},

    {"dbus", "service_name", K_STRING, D(service_name), CONF_NAME_LEN, 0, 0},
    {"dbus", "device_instance", K_INT, D(device_instance), 0, 0, 65535},
    {"dbus", "product_name", K_STRING, D(product_name), CONF_NAME_LEN, 0, 0},
    {"dbus", "custom_name", K_STRING, D(custom_name), CONF_NAME_LEN, 0, 0},
    {"dbus", "poll_interval_s", K_DOUBLE, D(poll_interval_s), 0, 0.1, 60},
    {"dbus", "ride_through_s", K_DOUBLE, D(ride_through_s), 0, 0, 86400},
    {"dbus", "startup_wait_s", K_DOUBLE, D(startup_wait_s), 0, 0, 3600},
    {"dbus", "call_timeout_ms", K_INT, D(call_timeout_ms), 0, 10, 60000},
    {"dbus", "settings_wait_s", K_DOUBLE, D(settings_wait_s), 0, 0, 600},
    {"dbus", "packs", K_NAMES_PACKS, 0, 0, 0, 0},
    {"dbus", "exclude", K_NAMES_EXCL, 0, 0, 0, 0},

    {"record", "path", K_STRING, R(path), CONF_NAME_LEN * 2, 0, 0},
    {"record", "interval_s", K_DOUBLE, R(interval_s), 0, 0.1, 3600},
    {"record", "max_bytes", K_LONG, R(max_bytes), 0, 4096, 1073741824},
    {"record", "max_files", K_INT, R(max_files), 0, 1, 100},
};

#define N_KEYS (sizeof keys / sizeof keys[0])

void conf_default(conf_t *c)
{
    memset(c, 0, sizeof *c);
    pol_config_default(&c->pol);
    snprintf(c->dbus.service_name, sizeof c->dbus.service_name, "%s",
             "com.victronenergy.battery.bms_aggregator");
    c->dbus.device_instance = 280;
    snprintf(c->dbus.product_name, sizeof c->dbus.product_name, "%s", "BMS aggregator");
    c->dbus.custom_name[0] = '\0';
    c->dbus.poll_interval_s = 2.0;
    c->dbus.ride_through_s = 120.0;
    c->dbus.startup_wait_s = 30.0;
    c->dbus.call_timeout_ms = 2000;
    c->dbus.settings_wait_s = 5.0;
    c->dbus.n_packs = 0;
    c->dbus.n_exclude = 0;
    c->record.path[0] = '\0';
    c->record.interval_s = 2.0;
    c->record.max_bytes = 1048576;
    c->record.max_files = 5;
}

/* ---- loading ----------------------------------------------------------------------------- */

typedef struct {
    const char *name;      /* file name for messages */
    conf_lines lines;      /* the source */
    int line;              /* the line inih is parsing now */
    conf_t work;
    int key_line[N_KEYS];  /* where each key was set; 0 = not set */
    int n_bounds;
    bool failed;
    char *err;
    size_t err_len;
} load_ctx;

static void fail(load_ctx *x, int line, const char *section, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void fail(load_ctx *x, int line, const char *section, const char *key, const char *fmt, ...)
{
    if (x->failed)
        return;   /* the first error is the one to fix first */
    x->failed = true;
    int n;
    if (line > 0)
        n = snprintf(x->err, x->err_len, "%s:%d: ", x->name, line);
    else
        n = snprintf(x->err, x->err_len, "%s: ", x->name);
    if (n < 0 || (size_t)n >= x->err_len)
        return;
    size_t pos = (size_t)n;
    if (section && key)
        n = snprintf(x->err + pos, x->err_len - pos, "[%s] %s: ", section, key);
    else if (section)
        n = snprintf(x->err + pos, x->err_len - pos, "[%s]: ", section);
    else
        n = 0;
    if (n < 0 || pos + (size_t)n >= x->err_len)
        return;
    pos += (size_t)n;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(x->err + pos, x->err_len - pos, fmt, ap);
    va_end(ap);
}

static bool section_known(const char *section);

void conf_lines_init(conf_lines *l, FILE *f, const char *text)
{
    l->f = f;
    l->text_pos = text;
    l->line = 0;
    l->too_long = false;
    l->too_long_line = 0;
}

char *conf_lines_read(char *str, int num, conf_lines *l)
{
    char *got;
    if (l->f) {
        got = fgets(str, num, l->f);
    } else {
        if (*l->text_pos == '\0')
            return NULL;
        int i = 0;
        while (i < num - 1 && l->text_pos[0] != '\0') {
            char ch = *l->text_pos++;
            str[i++] = ch;
            if (ch == '\n')
                break;
        }
        str[i] = '\0';
        got = str;
    }
    if (!got)
        return NULL;
    l->line++;
    size_t len = strlen(str);
    /* fgets that filled the buffer has not looked past it: peek, or a last line of exactly
     * num - 1 characters without a newline counts as too long (only when read from a file). */
    bool at_eof = l->f ? (ungetc(fgetc(l->f), l->f), feof(l->f) != 0) : *l->text_pos == '\0';
    if (len > 0 && str[len - 1] != '\n' && !at_eof) {
        /* Longer than inih's line buffer: inih would silently parse the rest as a new line. */
        if (!l->too_long) {
            l->too_long = true;
            l->too_long_line = l->line;
        }
        int ch;
        if (l->f) {
            while ((ch = fgetc(l->f)) != EOF && ch != '\n')
                ;
        } else {
            while (*l->text_pos && *l->text_pos != '\n')
                l->text_pos++;
            if (*l->text_pos)
                l->text_pos++;
        }
    }
    return got;
}

/* inih reads through this, one line per call, which is how we know the line number of every
 * key (the Debian build of inih does not pass it to the handler). */
static char *reader(char *str, int num, void *stream)
{
    load_ctx *x = stream;
    char *got = conf_lines_read(str, num, &x->lines);
    if (!got)
        return NULL;
    x->line = x->lines.line;
    /* inih calls the handler only for keys, so a section with no keys would pass unseen. */
    const char *t = str;
    while (*t == ' ' || *t == '\t')
        t++;
    if (*t == '[') {
        const char *close = strchr(t, ']');
        if (close && close - t - 1 < CONF_NAME_LEN) {
            char name[CONF_NAME_LEN];
            memcpy(name, t + 1, (size_t)(close - t - 1));
            name[close - t - 1] = '\0';
            if (!section_known(name))
                fail(x, x->line, name, NULL, "unknown section");
        }
    }
    return got;
}

static const key_def *find_key(const char *section, const char *name, size_t *index)
{
    for (size_t i = 0; i < N_KEYS; i++)
        if (strcmp(keys[i].section, section) == 0 && strcmp(keys[i].name, name) == 0) {
            *index = i;
            return &keys[i];
        }
    return NULL;
}

static bool section_known(const char *section)
{
    for (size_t i = 0; i < N_KEYS; i++)
        if (strcmp(keys[i].section, section) == 0)
            return true;
    return false;
}

/* Splits "a, b,c" into at most max items; returns the count or -1 on an empty item / too many. */
static int split_list(const char *value, char items[][CONF_NAME_LEN], int max)
{
    int n = 0;
    const char *p = value;
    if (*p == '\0')
        return 0;
    for (;;) {
        while (*p == ' ' || *p == '\t')
            p++;
        const char *start = p;
        while (*p && *p != ',')
            p++;
        const char *end = p;
        while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
            end--;
        size_t len = (size_t)(end - start);
        if (len == 0 || len >= CONF_NAME_LEN || n >= max)
            return -1;
        memcpy(items[n], start, len);
        items[n][len] = '\0';
        n++;
        if (*p == '\0')
            return n;
        p++;
    }
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
    load_ctx *x = user;
    int line = x->line;
    if (x->failed)
        return 1;
    if (x->lines.too_long) {
        fail(x, x->lines.too_long_line, NULL, NULL, "line too long");
        return 1;
    }
    if (*section == '\0') {
        fail(x, line, NULL, NULL, "key '%s' outside any section", name);
        return 1;
    }
    if (!section_known(section)) {
        fail(x, line, section, NULL, "unknown section");
        return 1;
    }
    if (!name) {
        return 1;   /* a section header alone (INI_CALL_HANDLER_ON_NEW_SECTION builds) */
    }
    size_t ki;
    const key_def *k = find_key(section, name, &ki);
    if (!k) {
        fail(x, line, section, name, "unknown key");
        return 1;
    }
    if (x->key_line[ki] != 0) {
        fail(x, line, section, name, "set twice (first on line %d)", x->key_line[ki]);
        return 1;
    }
    x->key_line[ki] = line;
    char *base = (char *)&x->work;
    switch (k->type) {
    case K_DOUBLE: {
        double v;
        if (conf_parse_double(value, k->lo, k->hi, &v) != 0) {
            fail(x, line, section, name, "'%s' is not a number in %g..%g", value, k->lo, k->hi);
            return 1;
        }
        memcpy(base + k->offset, &v, sizeof v);
        break;
    }
    case K_INT:
    case K_LONG: {
        long v;
        if (conf_parse_long(value, (long)k->lo, (long)k->hi, &v) != 0) {
            fail(x, line, section, name, "'%s' is not a whole number in %ld..%ld", value,
                 (long)k->lo, (long)k->hi);
            return 1;
        }
        if (k->type == K_INT) {
            int iv = (int)v;
            memcpy(base + k->offset, &iv, sizeof iv);
        } else {
            memcpy(base + k->offset, &v, sizeof v);
        }
        break;
    }
    case K_BOOL: {
        bool v;
        if (conf_parse_bool(value, &v) != 0) {
            fail(x, line, section, name, "'%s' is not yes/no", value);
            return 1;
        }
        memcpy(base + k->offset, &v, sizeof v);
        break;
    }
    case K_STRING: {
        size_t len = strlen(value);
        if (value[0] == ';' || value[0] == '#') {
            /* It would print back as a comment and reload empty. */
            fail(x, line, section, name, "may not start with ';' or '#'");
            return 1;
        }
        if (len >= k->size) {
            fail(x, line, section, name, "longer than %zu characters", k->size - 1);
            return 1;
        }
        memcpy(base + k->offset, value, len + 1);
        break;
    }
    case K_SOCMODE: {
        pol_soc_mode m;
        if (strcmp(value, "lowest") == 0)
            m = POL_SOC_LOWEST;
        else if (strcmp(value, "weighted") == 0)
            m = POL_SOC_WEIGHTED;
        else {
            fail(x, line, section, name, "'%s' is not 'lowest' or 'weighted'", value);
            return 1;
        }
        x->work.pol.soc_mode = m;
        break;
    }
    case K_BOUNDS:
    case K_PERCENTS: {
        char items[POL_MAX_TIERS][CONF_NAME_LEN];
        int max = k->type == K_BOUNDS ? POL_MAX_TIERS - 1 : POL_MAX_TIERS;
        int n = split_list(value, items, max);
        if (n <= 0) {
            fail(x, line, section, name, "needs 1..%d comma-separated numbers", max);
            return 1;
        }
        double *dst = k->type == K_BOUNDS ? x->work.pol.tier_spread_pct : x->work.pol.tier_ccl_pct;
        for (int i = 0; i < n; i++) {
            double v;
            if (conf_parse_double(items[i], k->lo, k->hi, &v) != 0) {
                fail(x, line, section, name, "item %d '%s' is not a number in %g..%g", i + 1,
                     items[i], k->lo, k->hi);
                return 1;
            }
            dst[i] = v;
        }
        for (int i = n; i < max; i++)
            dst[i] = 0.0;
        if (k->type == K_BOUNDS)
            x->n_bounds = n;
        else
            x->work.pol.n_tiers = n;
        break;
    }
    case K_NAMES_PACKS:
    case K_NAMES_EXCL: {
        char(*dst)[CONF_NAME_LEN] = k->type == K_NAMES_PACKS ? x->work.dbus.packs : x->work.dbus.exclude;
        int n = split_list(value, dst, CONF_MAX_LIST);
        if (n < 0) {
            fail(x, line, section, name, "needs up to %d comma-separated D-Bus service names",
                 CONF_MAX_LIST);
            return 1;
        }
        for (int i = 0; i < n; i++)
            if (strncmp(dst[i], "com.victronenergy.battery.", 26) != 0) {
                fail(x, line, section, name, "'%s' is not a com.victronenergy.battery.* service",
                     dst[i]);
                return 1;
            }
        if (k->type == K_NAMES_PACKS)
            x->work.dbus.n_packs = n;
        else
            x->work.dbus.n_exclude = n;
        break;
    }
    }
    return 1;
}

static int key_line_of(const load_ctx *x, const char *name, const char **section)
{
    for (size_t i = 0; i < N_KEYS; i++)
        if (strcmp(keys[i].name, name) == 0) {
            *section = keys[i].section;
            return x->key_line[i];
        }
    *section = NULL;
    return 0;
}

static int load(load_ctx *x, conf_t *c)
{
    int rc = ini_parse_stream(reader, x, handler, x);
    if (!x->failed && x->lines.too_long)
        fail(x, x->lines.too_long_line, NULL, NULL, "line too long");
    if (!x->failed && rc > 0)
        fail(x, rc, NULL, NULL, "not a [section] or key = value line");
    if (!x->failed && rc < 0)
        fail(x, 0, NULL, NULL, "cannot be parsed (error %d)", rc);
    if (x->failed)
        return -1;

    /* Coherence across keys, reported on the line of the key that has to change. */
    const char *sec;
    if (x->n_bounds != x->work.pol.n_tiers - 1) {
        int line = key_line_of(x, "tier_ccl_pct", &sec);
        int bline = key_line_of(x, "tier_spread_pct", &sec);
        fail(x, line > bline ? line : bline, "tiers", line > bline ? "tier_ccl_pct" : "tier_spread_pct",
             "%d percents need %d boundaries in tier_spread_pct, found %d", x->work.pol.n_tiers,
             x->work.pol.n_tiers - 1, x->n_bounds);
        return -1;
    }
    const char *key, *other, *why;
    if (pol_config_check(&x->work.pol, &key, &other, &why) != 0) {
        /* Point at whichever of the two related keys the file set last: that is the one
         * the user just changed. */
        int line = key_line_of(x, key, &sec);
        if (other) {
            const char *osec;
            int oline = key_line_of(x, other, &osec);
            if (oline > line) {
                line = oline;
                fail(x, line, osec, other, "%s %s", key, why);
                return -1;
            }
        }
        fail(x, line, sec, key, "%s", why);
        return -1;
    }
    if (x->work.dbus.n_packs > 0 && x->work.dbus.n_exclude > 0) {
        int line = key_line_of(x, "exclude", &sec);
        fail(x, line, "dbus", "exclude", "use either an explicit packs list or exclude, not both");
        return -1;
    }
    if (strncmp(x->work.dbus.service_name, "com.victronenergy.battery.", 26) != 0 ||
        x->work.dbus.service_name[26] == '\0') {
        int line = key_line_of(x, "service_name", &sec);
        fail(x, line, "dbus", "service_name", "must be com.victronenergy.battery.<suffix>");
        return -1;
    }
    *c = x->work;
    return 0;
}

static void ctx_init(load_ctx *x, const char *name, const conf_t *base, char *err, size_t err_len)
{
    memset(x, 0, sizeof *x);
    x->name = name;
    x->work = *base;
    x->n_bounds = base->pol.n_tiers - 1;
    x->err = err;
    x->err_len = err_len;
    if (err_len > 0)
        err[0] = '\0';
}

int conf_load(const char *path, conf_t *c, char *err, size_t err_len)
{
    load_ctx *x = malloc(sizeof *x);
    if (!x) {
        snprintf(err, err_len, "%s: out of memory", path);
        return -1;
    }
    ctx_init(x, path, c, err, err_len);
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, err_len, "%s: cannot open: %s", path, strerror(errno));
        free(x);
        return -1;
    }
    conf_lines_init(&x->lines, f, NULL);
    int rc = load(x, c);
    fclose(f);
    free(x);
    return rc;
}

int conf_load_string(const char *text, const char *name, conf_t *c, char *err, size_t err_len)
{
    load_ctx *x = malloc(sizeof *x);
    if (!x) {
        snprintf(err, err_len, "%s: out of memory", name);
        return -1;
    }
    ctx_init(x, name, c, err, err_len);
    conf_lines_init(&x->lines, NULL, text);
    int rc = load(x, c);
    free(x);
    return rc;
}

/* ---- printing ---------------------------------------------------------------------------- */

/* The shortest decimal that reads back as the same double: readable for the values people
 * write (3.45, not 3.4500000000000002), exact for the rest, because a recording's replay
 * loads this text and must reproduce the daemon's arithmetic bit for bit. */
static void print_double(FILE *f, double v)
{
    char buf[40];
    for (int prec = 6; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    fputs(buf, f);
}

static void print_list(FILE *f, const double *v, int n)
{
    for (int i = 0; i < n; i++) {
        if (i)
            fputs(", ", f);
        print_double(f, v[i]);
    }
}

void conf_print(FILE *f, const conf_t *c)
{
    const char *section = "";
    const char *base = (const char *)c;
    for (size_t i = 0; i < N_KEYS; i++) {
        const key_def *k = &keys[i];
        if (strcmp(section, k->section) != 0) {
            fprintf(f, "%s[%s]\n", i ? "\n" : "", k->section);
            section = k->section;
        }
        fprintf(f, "%s = ", k->name);
        switch (k->type) {
        case K_DOUBLE: {
            double v;
            memcpy(&v, base + k->offset, sizeof v);
            print_double(f, v);
            break;
        }
        case K_INT: {
            int v;
            memcpy(&v, base + k->offset, sizeof v);
            fprintf(f, "%d", v);
            break;
        }
        case K_LONG: {
            long v;
            memcpy(&v, base + k->offset, sizeof v);
            fprintf(f, "%ld", v);
            break;
        }
        case K_BOOL: {
            bool v;
            memcpy(&v, base + k->offset, sizeof v);
            fputs(v ? "yes" : "no", f);
            break;
        }
        case K_STRING:
            fputs(base + k->offset, f);
            break;
        case K_SOCMODE:
            fputs(c->pol.soc_mode == POL_SOC_WEIGHTED ? "weighted" : "lowest", f);
            break;
        case K_BOUNDS:
            print_list(f, c->pol.tier_spread_pct, c->pol.n_tiers - 1);
            break;
        case K_PERCENTS:
            print_list(f, c->pol.tier_ccl_pct, c->pol.n_tiers);
            break;
        case K_NAMES_PACKS:
        case K_NAMES_EXCL: {
            int n = k->type == K_NAMES_PACKS ? c->dbus.n_packs : c->dbus.n_exclude;
            for (int j = 0; j < n; j++)
                fprintf(f, "%s%s", j ? ", " : "",
                        k->type == K_NAMES_PACKS ? c->dbus.packs[j] : c->dbus.exclude[j]);
            break;
        }
        }
        fputc('\n', f);
    }
}
