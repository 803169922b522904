/* D-Bus values from a pack's BusItem paths into the core's reading: typed, checked, pure. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "variant.h"

#define VAR_MAX_MAGNITUDE 1e9

const char *var_status_name(var_status s)
{
    switch (s) {
    case VAR_OK: return "ok";
    case VAR_INVALID: return "invalid";
    case VAR_BAD_TYPE: return "wrong type";
    case VAR_NONFINITE: return "not finite";
    case VAR_RANGE: return "out of range";
    default: return "?";
    }
}

var_status var_number(DBusMessageIter *it, double *out)
{
    DBusMessageIter inner;
    int t = dbus_message_iter_get_arg_type(it);
    /* velib nests variants only once, but a hand-written service may wrap deeper. */
    int depth = 0;
    while (t == DBUS_TYPE_VARIANT) {
        if (++depth > 4)
            return VAR_BAD_TYPE;
        dbus_message_iter_recurse(it, &inner);
        it = &inner;
        t = dbus_message_iter_get_arg_type(it);
    }
    double v;
    switch (t) {
    case DBUS_TYPE_BYTE: { unsigned char x; dbus_message_iter_get_basic(it, &x); v = x; break; }
    case DBUS_TYPE_BOOLEAN: { dbus_bool_t x; dbus_message_iter_get_basic(it, &x); v = x ? 1.0 : 0.0; break; }
    case DBUS_TYPE_INT16: { dbus_int16_t x; dbus_message_iter_get_basic(it, &x); v = x; break; }
    case DBUS_TYPE_UINT16: { dbus_uint16_t x; dbus_message_iter_get_basic(it, &x); v = x; break; }
    case DBUS_TYPE_INT32: { dbus_int32_t x; dbus_message_iter_get_basic(it, &x); v = x; break; }
    case DBUS_TYPE_UINT32: { dbus_uint32_t x; dbus_message_iter_get_basic(it, &x); v = x; break; }
    case DBUS_TYPE_INT64: { dbus_int64_t x; dbus_message_iter_get_basic(it, &x); v = (double)x; break; }
    case DBUS_TYPE_UINT64: { dbus_uint64_t x; dbus_message_iter_get_basic(it, &x); v = (double)x; break; }
    case DBUS_TYPE_DOUBLE: { double x; dbus_message_iter_get_basic(it, &x); v = x; break; }
    case DBUS_TYPE_ARRAY: {
        /* Invalid is the empty array, whatever its element type (velib: ai; lists: au / av). */
        DBusMessageIter a;
        dbus_message_iter_recurse(it, &a);
        return dbus_message_iter_get_arg_type(&a) == DBUS_TYPE_INVALID ? VAR_INVALID : VAR_BAD_TYPE;
    }
    default:
        return VAR_BAD_TYPE;
    }
    var_status s = var_check_number(v);
    if (s == VAR_OK)
        *out = v;
    return s;
}

var_status var_check_number(double v)
{
    if (!isfinite(v))
        return VAR_NONFINITE;
    if (fabs(v) > VAR_MAX_MAGNITUDE)
        return VAR_RANGE;
    return VAR_OK;
}

void var_decode(DBusMessageIter *it, var_value *out)
{
    out->num = 0.0;
    out->str = NULL;
    out->status = var_number(it, &out->num);
    if (out->status == VAR_BAD_TYPE) {
        DBusMessageIter inner;
        if (dbus_message_iter_get_arg_type(it) == DBUS_TYPE_VARIANT) {
            dbus_message_iter_recurse(it, &inner);
            it = &inner;
        }
        if (dbus_message_iter_get_arg_type(it) == DBUS_TYPE_STRING)
            dbus_message_iter_get_basic(it, &out->str);
    }
}

int var_string(DBusMessageIter *it, char *buf, size_t len)
{
    DBusMessageIter inner;
    if (dbus_message_iter_get_arg_type(it) == DBUS_TYPE_VARIANT) {
        dbus_message_iter_recurse(it, &inner);
        it = &inner;
    }
    if (dbus_message_iter_get_arg_type(it) != DBUS_TYPE_STRING || len == 0)
        return -1;
    const char *s;
    dbus_message_iter_get_basic(it, &s);
    size_t n = strlen(s);
    if (n >= len)
        n = len - 1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    return 0;
}

/* How a path maps into the reading. */
typedef enum { K_FIELD, K_CELL_ID_MIN, K_CELL_ID_MAX, K_ALARM } kind;

typedef struct {
    const char *path;
    kind k;
    int index;     /* rdg_field or rdg_alarm */
} path_map;

/* The dbus-serialbattery / Victron battery paths the core uses. Sorted by path for bsearch. */
static const path_map map[] = {
    {"/Alarms/BmsCable", K_ALARM, RDG_AL_BMS_CABLE},
    {"/Alarms/CellImbalance", K_ALARM, RDG_AL_CELL_IMBALANCE},
    {"/Alarms/HighCellVoltage", K_ALARM, RDG_AL_HIGH_CELL_VOLTAGE},
    {"/Alarms/HighChargeCurrent", K_ALARM, RDG_AL_HIGH_CHARGE_CURRENT},
    {"/Alarms/HighChargeTemperature", K_ALARM, RDG_AL_HIGH_CHARGE_TEMPERATURE},
    {"/Alarms/HighCurrent", K_ALARM, RDG_AL_HIGH_CURRENT},
    {"/Alarms/HighDischargeCurrent", K_ALARM, RDG_AL_HIGH_DISCHARGE_CURRENT},
    {"/Alarms/HighTemperature", K_ALARM, RDG_AL_HIGH_TEMPERATURE},
    {"/Alarms/HighVoltage", K_ALARM, RDG_AL_HIGH_VOLTAGE},
    {"/Alarms/InternalFailure", K_ALARM, RDG_AL_INTERNAL_FAILURE},
    {"/Alarms/LowCellVoltage", K_ALARM, RDG_AL_LOW_CELL_VOLTAGE},
    {"/Alarms/LowChargeTemperature", K_ALARM, RDG_AL_LOW_CHARGE_TEMPERATURE},
    {"/Alarms/LowSoc", K_ALARM, RDG_AL_LOW_SOC},
    {"/Alarms/LowTemperature", K_ALARM, RDG_AL_LOW_TEMPERATURE},
    {"/Alarms/LowVoltage", K_ALARM, RDG_AL_LOW_VOLTAGE},
    {"/Capacity", K_FIELD, RDG_REMAINING_CAP},
    {"/ConsumedAmphours", K_FIELD, RDG_CONSUMED_AH},
    {"/Dc/0/Current", K_FIELD, RDG_CURRENT},
    {"/Dc/0/Power", K_FIELD, RDG_POWER},
    {"/Dc/0/Temperature", K_FIELD, RDG_TEMPERATURE},
    {"/Dc/0/Voltage", K_FIELD, RDG_VOLTAGE},
    {"/Info/MaxChargeCurrent", K_FIELD, RDG_CCL},
    {"/Info/MaxChargeVoltage", K_FIELD, RDG_CVL},
    {"/Info/MaxDischargeCurrent", K_FIELD, RDG_DCL},
    {"/InstalledCapacity", K_FIELD, RDG_INSTALLED_CAP},
    {"/Io/AllowToCharge", K_FIELD, RDG_ALLOW_CHARGE},
    {"/Io/AllowToDischarge", K_FIELD, RDG_ALLOW_DISCHARGE},
    {"/Soc", K_FIELD, RDG_SOC},
    {"/System/MaxCellVoltage", K_FIELD, RDG_MAX_CELL},
    {"/System/MaxVoltageCellId", K_CELL_ID_MAX, 0},
    {"/System/MinCellVoltage", K_FIELD, RDG_MIN_CELL},
    {"/System/MinVoltageCellId", K_CELL_ID_MIN, 0},
};

static int cmp_path(const void *key, const void *elem)
{
    return strcmp((const char *)key, ((const path_map *)elem)->path);
}

static const path_map *lookup(const char *path)
{
    if (!path)
        return NULL;
    return bsearch(path, map, sizeof map / sizeof map[0], sizeof map[0], cmp_path);
}

int var_n_used_paths(void)
{
    return (int)(sizeof map / sizeof map[0]);
}

const char *var_used_path(int k)
{
    return k >= 0 && k < var_n_used_paths() ? map[k].path : "/";
}

int var_path_used(const char *path)
{
    return lookup(path) != NULL;
}

static double *field_ptr(rdg_reading *r, int f)
{
    switch (f) {
    case RDG_SOC: return &r->soc_pct;
    case RDG_VOLTAGE: return &r->voltage_v;
    case RDG_CURRENT: return &r->current_a;
    case RDG_POWER: return &r->power_w;
    case RDG_TEMPERATURE: return &r->temperature_c;
    case RDG_MIN_CELL: return &r->min_cell_v;
    case RDG_MAX_CELL: return &r->max_cell_v;
    case RDG_INSTALLED_CAP: return &r->installed_cap_ah;
    case RDG_REMAINING_CAP: return &r->remaining_cap_ah;
    case RDG_CONSUMED_AH: return &r->consumed_ah;
    case RDG_CVL: return &r->cvl_v;
    case RDG_CCL: return &r->ccl_a;
    case RDG_DCL: return &r->dcl_a;
    default: return NULL;
    }
}

/* serialbattery names cells "C5"; others publish a bare number. Display only, so a bad id is
 * simply unknown (-1), never a rejection. */
static int parse_cell_id(const var_value *value)
{
    if (value->str) {
        const char *p = value->str;
        while (*p && (*p < '0' || *p > '9'))
            p++;
        if (!*p)
            return -1;
        char *end;
        long id = strtol(p, &end, 10);
        return id >= 0 && id <= 9999 ? (int)id : -1;
    }
    double d = value->num;
    if (value->status == VAR_OK && d >= 0 && d <= 9999 && d == floor(d))
        return (int)d;
    return -1;
}

var_apply_result var_apply(rdg_reading *r, const char *path, DBusMessageIter *value, var_status *why)
{
    *why = VAR_OK;
    if (!lookup(path))
        return VAR_PATH_UNUSED;   /* not worth decoding */
    var_value v;
    var_decode(value, &v);
    return var_apply_value(r, path, &v, why);
}

var_apply_result var_apply_value(rdg_reading *r, const char *path, const var_value *value, var_status *why)
{
    *why = VAR_OK;
    const path_map *m = lookup(path);
    if (!m)
        return VAR_PATH_UNUSED;

    if (m->k == K_CELL_ID_MIN || m->k == K_CELL_ID_MAX) {
        int id = parse_cell_id(value);
        if (m->k == K_CELL_ID_MIN)
            r->min_cell_id = id;
        else
            r->max_cell_id = id;
        return VAR_PATH_SET;
    }

    double v = value->num;
    var_status s = value->status;
    if (s == VAR_OK && m->k == K_ALARM && (v < 0.0 || v > 2.0 || v != floor(v)))
        s = VAR_RANGE;
    if (s == VAR_OK && m->k == K_FIELD &&
        (m->index == RDG_ALLOW_CHARGE || m->index == RDG_ALLOW_DISCHARGE) && v != 0.0 && v != 1.0)
        s = VAR_RANGE;

    if (m->k == K_ALARM) {
        uint32_t bit = 1u << m->index;
        if (s == VAR_INVALID) {
            r->alarm_present &= ~bit;
            r->alarm[m->index] = 0;
            return VAR_PATH_CLEARED;
        }
        r->alarm_present |= bit;
        if (s != VAR_OK) {
            *why = s;
            r->alarm[m->index] = 3;   /* above 2: rdg_validate says RDG_BAD_ALARM */
            return VAR_PATH_REJECTED;
        }
        r->alarm[m->index] = (uint8_t)v;
        return VAR_PATH_SET;
    }

    uint32_t bit = RDG_BIT(m->index);
    if (s == VAR_INVALID) {
        r->present &= ~bit;
        return VAR_PATH_CLEARED;
    }
    if (m->index == RDG_ALLOW_CHARGE || m->index == RDG_ALLOW_DISCHARGE) {
        /* A boolean cannot carry NaN; a garbled permission is read as "not allowed", which is the
         * conservative side, and the rejection is still counted by the caller. */
        bool allow = s == VAR_OK && v != 0.0;
        if (m->index == RDG_ALLOW_CHARGE)
            r->allow_charge = allow;
        else
            r->allow_discharge = allow;
        r->present |= bit;
        *why = s;
        return s == VAR_OK ? VAR_PATH_SET : VAR_PATH_REJECTED;
    }
    double *p = field_ptr(r, m->index);
    if (!p)
        return VAR_PATH_UNUSED;
    r->present |= bit;
    if (s != VAR_OK) {
        *why = s;
        *p = NAN;
        return VAR_PATH_REJECTED;
    }
    *p = v;
    return VAR_PATH_SET;
}
