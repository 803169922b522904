/* D-Bus values from a pack's BusItem paths into the core's reading: typed, checked, pure. */
#ifndef BMSAGG_VARIANT_H
#define BMSAGG_VARIANT_H

#include <dbus/dbus.h>
#include <stddef.h>

#include "reading.h"

/* Outcome of converting one value. Everything except VAR_OK and VAR_INVALID is a rejection
 * that the caller counts and logs. */
typedef enum {
    VAR_OK = 0,       /* a usable number */
    VAR_INVALID,      /* the Venus "invalid" value: an empty array (velib sends `ai` []) */
    VAR_BAD_TYPE,     /* a string, struct, non-empty array... where a number belongs */
    VAR_NONFINITE,    /* NaN or infinity */
    VAR_RANGE,        /* a number, but outside what the path can mean */
    VAR_COUNT
} var_status;

const char *var_status_name(var_status s);

/* Reads a number from `it`, which points at a variant or directly at its contents.
 * Accepts y n q i u x t d b; an empty array is VAR_INVALID. On VAR_OK sets *out;
 * otherwise leaves it untouched. |value| above 1e9 is VAR_RANGE (no pack quantity is that big). */
var_status var_number(DBusMessageIter *it, double *out);

/* A string value (for /Serial, /ProductName). 0 on success, -1 if not a string (buf untouched
 * then). The result is truncated to len - 1 bytes. */
int var_string(DBusMessageIter *it, char *buf, size_t len);

/* A pack's value decoded (from a libdbus iterator or straight off the wire, wire.h), before
 * var_apply_value judges it for its path. */
typedef struct {
    var_status status;   /* VAR_OK: `num` holds a usable number; else why it is not one */
    double num;
    const char *str;     /* the value when it is a string (NUL-terminated), else NULL */
} var_value;

/* Judges a number the way var_number does (finite, |x| <= 1e9). */
var_status var_check_number(double v);
/* Decodes `it` (a variant or its contents) into *out; out->str points into the message. */
void var_decode(DBusMessageIter *it, var_value *out);

/* What var_apply did with a path. */
typedef enum {
    VAR_PATH_UNUSED = 0,  /* not a path the core reads: nothing changed */
    VAR_PATH_SET,         /* field set and its present bit raised */
    VAR_PATH_CLEARED,     /* invalid value: the field is now missing */
    VAR_PATH_REJECTED     /* a bad value: the field is poisoned so the core rejects the reading */
} var_apply_result;

/* Applies one path's value (an iterator at the variant) to *r.
 * A rejected value is not silently dropped: the field is set to NaN (or an alarm level of 3), so
 * rdg_validate() rejects the whole reading and the core holds its limits, counts it, and lets the
 * pack go stale if the fault persists; a pack that lies about one field is not trusted for the
 * others. *why gets the conversion status (VAR_OK when not rejected). Pure: touches only *r. */
var_apply_result var_apply(rdg_reading *r, const char *path, DBusMessageIter *value, var_status *why);

/* var_apply for a value already decoded. */
var_apply_result var_apply_value(rdg_reading *r, const char *path, const var_value *value, var_status *why);

/* The paths var_apply reads, for a reader that must ask for each one by name. */
int var_n_used_paths(void);
const char *var_used_path(int k);

/* True when `path` is one var_apply reads (cheap prefilter for signals of other paths). */
int var_path_used(const char *path);

#endif
