/* Publishing a tree of com.victronenergy.BusItem paths exactly as Victron's velib does. */
#ifndef BMSAGG_BUSITEM_H
#define BMSAGG_BUSITEM_H

#include <dbus/dbus.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define BI_IFACE "com.victronenergy.BusItem"

typedef struct bi_service bi_service;
typedef struct bi_item bi_item;

/* SetValue handler: returns 0 = accepted (also when unchanged), 1 = not writeable / wrong type,
 * 2 = rejected (velib's codes). `value` points at the variant's contents. */
typedef int (*bi_write_fn)(void *ctx, bi_item *item, DBusMessageIter *value);

bi_service *bi_new(DBusConnection *conn);
void bi_free(bi_service *s);

/* Adds a path (initially invalid). `unit` is appended to the text ("V", "%", NULL = none);
 * `decimals` both rounds the published double (to suppress change signals for noise below the
 * display resolution) and formats its text. Adding a path that exists returns the existing item.
 * NULL on allocation failure or a malformed path. */
bi_item *bi_add(bi_service *s, const char *path, const char *unit, int decimals);
bi_item *bi_find(bi_service *s, const char *path);
/* Makes the path writeable through SetValue (default: refused with 1). NULL fn = read-only. */
void bi_set_writer(bi_item *it, bi_write_fn fn, void *ctx);
/* /ProductId is shown as 0x%X by Victron's GUI text. */
void bi_set_hex_text(bi_item *it, bool hex);

/* Setters record a change only when the value differs; changes are emitted by bi_flush(). */
void bi_set_invalid(bi_item *it);
void bi_set_int(bi_item *it, int32_t v);
void bi_set_double(bi_item *it, double v);   /* NaN / infinity publish as invalid */
void bi_set_string(bi_item *it, const char *v);
const char *bi_path(const bi_item *it);
/* Current string value, or NULL if the item is not a string. */
const char *bi_get_string(const bi_item *it);

/* Exports the tree on the connection (one fallback handler at "/"). Call after adding every
 * path and before requesting the bus name (velib's registration order). 0 or -1. */
int bi_register(bi_service *s);
/* Signals are emitted only once the service owns its name. */
void bi_set_live(bi_service *s, bool live);
/* Emits PropertiesChanged on each changed path and one ItemsChanged on "/" for all of them.
 * Returns the number of changed paths. */
int bi_flush(bi_service *s);

/* "path = text" for every path, in path order (for --once). */
void bi_print(const bi_service *s, FILE *f);

#endif
