/* Tiny bounded string building for the core's reason texts (the core may not use stdio). */
#ifndef BMSAGG_FMT_H
#define BMSAGG_FMT_H

#include <stddef.h>

/* A buffer being filled; never overflows, always NUL-terminated once started. */
typedef struct {
    char *buf;
    size_t len;   /* capacity including the NUL */
    size_t pos;
} fmt_buf;

void fmt_start(fmt_buf *b, char *buf, size_t len);
void fmt_str(fmt_buf *b, const char *s);
/* value with a fixed number of decimals (0..6), rounded half away from zero; NaN prints "nan". */
void fmt_num(fmt_buf *b, double value, int decimals);
void fmt_int(fmt_buf *b, long value);
/* The integer fmt_num shows for value at these decimals (e.g. 11.04, 1 -> 110): two values
 * print the same text exactly when these are equal (NaN excepted). */
long long fmt_scaled(double value, int decimals);

#endif
