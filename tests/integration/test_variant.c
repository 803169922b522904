/* Checks of the daemon's pure D-Bus value conversion (daemon/variant.c) on real libdbus messages. */
#include <dbus/dbus.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "variant.h"

/* A message whose single argument is a variant holding `type`/`value` (basic types only). */
static DBusMessage *variant_msg(int type, const void *value)
{
    DBusMessage *m = dbus_message_new_signal("/Soc", "com.victronenergy.BusItem", "PropertiesChanged");
    DBusMessageIter it, v;
    char sig[2] = {(char)type, 0};
    dbus_message_iter_init_append(m, &it);
    dbus_message_iter_open_container(&it, DBUS_TYPE_VARIANT, sig, &v);
    dbus_message_iter_append_basic(&v, type, value);
    dbus_message_iter_close_container(&it, &v);
    return m;
}

static DBusMessage *array_msg(int elem_type, int n, const void *elems)
{
    DBusMessage *m = dbus_message_new_signal("/Soc", "com.victronenergy.BusItem", "PropertiesChanged");
    DBusMessageIter it, v, a;
    char sig[3] = {'a', (char)elem_type, 0};
    char esig[2] = {(char)elem_type, 0};
    dbus_message_iter_init_append(m, &it);
    dbus_message_iter_open_container(&it, DBUS_TYPE_VARIANT, sig, &v);
    dbus_message_iter_open_container(&v, DBUS_TYPE_ARRAY, esig, &a);
    if (n > 0)
        dbus_message_iter_append_fixed_array(&a, elem_type, &elems, n);
    dbus_message_iter_close_container(&v, &a);
    dbus_message_iter_close_container(&it, &v);
    return m;
}

static var_status number_of(DBusMessage *m, double *out)
{
    DBusMessageIter it;
    dbus_message_iter_init(m, &it);
    var_status s = var_number(&it, out);
    dbus_message_unref(m);
    return s;
}

static var_apply_result apply(rdg_reading *r, const char *path, DBusMessage *m, var_status *why)
{
    DBusMessageIter it;
    dbus_message_iter_init(m, &it);
    var_apply_result res = var_apply(r, path, &it, why);
    dbus_message_unref(m);
    return res;
}

int main(void)
{
    double d = -1;
    unsigned char y = 200;
    dbus_bool_t b = TRUE;
    dbus_int16_t n = -300;
    dbus_uint16_t q = 60000;
    dbus_int32_t i = -70000;
    dbus_uint32_t u = 4000000000u;
    dbus_int64_t x = -5000000000LL;
    dbus_uint64_t t = 900000000ULL;
    double dd = 52.25, nan_ = NAN, inf_ = INFINITY, big = 2e9;
    const char *str = "80";

    CHECK(number_of(variant_msg(DBUS_TYPE_BYTE, &y), &d) == VAR_OK && d == 200, "byte");
    CHECK(number_of(variant_msg(DBUS_TYPE_BOOLEAN, &b), &d) == VAR_OK && d == 1, "bool");
    CHECK(number_of(variant_msg(DBUS_TYPE_INT16, &n), &d) == VAR_OK && d == -300, "int16");
    CHECK(number_of(variant_msg(DBUS_TYPE_UINT16, &q), &d) == VAR_OK && d == 60000, "uint16");
    CHECK(number_of(variant_msg(DBUS_TYPE_INT32, &i), &d) == VAR_OK && d == -70000, "int32");
    CHECK(number_of(variant_msg(DBUS_TYPE_UINT32, &u), &d) == VAR_RANGE, "uint32 4e9 is beyond 1e9");
    CHECK(number_of(variant_msg(DBUS_TYPE_INT64, &x), &d) == VAR_RANGE, "int64 -5e9");
    CHECK(number_of(variant_msg(DBUS_TYPE_UINT64, &t), &d) == VAR_OK && d == 9e8, "uint64");
    CHECK(number_of(variant_msg(DBUS_TYPE_DOUBLE, &dd), &d) == VAR_OK && d == 52.25, "double");
    d = 7;
    CHECK(number_of(variant_msg(DBUS_TYPE_DOUBLE, &nan_), &d) == VAR_NONFINITE && d == 7, "NaN, out untouched");
    CHECK(number_of(variant_msg(DBUS_TYPE_DOUBLE, &inf_), &d) == VAR_NONFINITE, "inf");
    CHECK(number_of(variant_msg(DBUS_TYPE_DOUBLE, &big), &d) == VAR_RANGE, "2e9");
    CHECK(number_of(variant_msg(DBUS_TYPE_STRING, &str), &d) == VAR_BAD_TYPE, "string");
    CHECK(number_of(array_msg(DBUS_TYPE_INT32, 0, NULL), &d) == VAR_INVALID, "empty ai = invalid");
    CHECK(number_of(array_msg(DBUS_TYPE_UINT32, 0, NULL), &d) == VAR_INVALID, "empty au = invalid");
    dbus_int32_t one[1] = {1};
    CHECK(number_of(array_msg(DBUS_TYPE_INT32, 1, one), &d) == VAR_BAD_TYPE, "non-empty array");

    /* var_apply: fields, presence bits, poisoning, alarms, cell ids. */
    rdg_reading r;
    rdg_clear(&r);
    var_status why;
    double soc = 81.5;
    CHECK(apply(&r, "/Soc", variant_msg(DBUS_TYPE_DOUBLE, &soc), &why) == VAR_PATH_SET && rdg_has(&r, RDG_SOC) &&
              r.soc_pct == 81.5, "soc set");
    CHECK(apply(&r, "/Soc", array_msg(DBUS_TYPE_INT32, 0, NULL), &why) == VAR_PATH_CLEARED && !rdg_has(&r, RDG_SOC),
          "soc invalid -> missing");
    CHECK(apply(&r, "/Soc", variant_msg(DBUS_TYPE_STRING, &str), &why) == VAR_PATH_REJECTED && why == VAR_BAD_TYPE &&
              rdg_has(&r, RDG_SOC) && isnan(r.soc_pct),
          "soc string -> poisoned");
    CHECK(rdg_validate(&r, 1.5, 5.0) == RDG_BAD_NONFINITE, "poisoned reading rejected by the core");
    CHECK(apply(&r, "/Voltages/Cell1", variant_msg(DBUS_TYPE_DOUBLE, &soc), &why) == VAR_PATH_UNUSED, "unused path");
    dbus_int32_t two = 2, seven = 7;
    CHECK(apply(&r, "/Alarms/LowSoc", variant_msg(DBUS_TYPE_INT32, &two), &why) == VAR_PATH_SET &&
              r.alarm[RDG_AL_LOW_SOC] == 2 && (r.alarm_present & (1u << RDG_AL_LOW_SOC)),
          "alarm 2");
    CHECK(apply(&r, "/Alarms/LowSoc", variant_msg(DBUS_TYPE_INT32, &seven), &why) == VAR_PATH_REJECTED &&
              why == VAR_RANGE && r.alarm[RDG_AL_LOW_SOC] == 3,
          "alarm 7 rejected, level 3");
    const char *cid = "C12";
    CHECK(apply(&r, "/System/MaxVoltageCellId", variant_msg(DBUS_TYPE_STRING, &cid), &why) == VAR_PATH_SET &&
              r.max_cell_id == 12, "cell id C12");
    dbus_int32_t zero = 0;
    CHECK(apply(&r, "/Io/AllowToCharge", variant_msg(DBUS_TYPE_INT32, &zero), &why) == VAR_PATH_SET &&
              !r.allow_charge && rdg_has(&r, RDG_ALLOW_CHARGE), "allow 0");
    CHECK(apply(&r, "/Io/AllowToCharge", variant_msg(DBUS_TYPE_STRING, &str), &why) == VAR_PATH_REJECTED &&
              !r.allow_charge, "garbled allow -> not allowed");
    CHECK(var_path_used("/Info/MaxChargeVoltage") && !var_path_used("/Serial") && !var_path_used(NULL), "used paths");

    printf("variant checks: %d, failed: %d\n", checks, failures);
    return failures ? 1 : 0;
}
