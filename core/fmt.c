/* Tiny bounded string building for the core's reason texts (the core may not use stdio). */
#include <math.h>

#include "fmt.h"

void fmt_start(fmt_buf *b, char *buf, size_t len)
{
    b->buf = buf;
    b->len = len;
    b->pos = 0;
    if (len > 0)
        buf[0] = '\0';
}

static void put(fmt_buf *b, char c)
{
    if (b->len == 0)
        return;
    if (b->pos + 1 < b->len) {
        b->buf[b->pos++] = c;
        b->buf[b->pos] = '\0';
    }
}

void fmt_str(fmt_buf *b, const char *s)
{
    while (*s)
        put(b, *s++);
}

static void put_digits(fmt_buf *b, unsigned long long v)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + (int)(v % 10u));
        v /= 10u;
    } while (v && n < (int)sizeof tmp);
    while (n)
        put(b, tmp[--n]);
}

void fmt_int(fmt_buf *b, long value)
{
    unsigned long long mag;
    if (value < 0) {
        put(b, '-');
        mag = (unsigned long long)(-(value + 1)) + 1u;
    } else {
        mag = (unsigned long long)value;
    }
    put_digits(b, mag);
}

#define FMT_HUGE 1000000000000000000ULL   /* 1e18: beyond it a value prints as inf */

/* |value| * 10^decimals rounded half away from zero (FMT_HUGE when too large), and 10^decimals:
 * the one rounding both fmt_num and fmt_scaled use, so equal keys mean equal text. */
static unsigned long long scaled_magnitude(double value, int *decimals, unsigned long long *div)
{
    if (*decimals < 0)
        *decimals = 0;
    if (*decimals > 6)
        *decimals = 6;
    double scale = 1.0;
    for (int i = 0; i < *decimals; i++)
        scale *= 10.0;
    *div = (unsigned long long)scale;
    double mag = fabs(value) * scale + 0.5;
    return mag < 1e18 ? (unsigned long long)mag : FMT_HUGE;
}

long long fmt_scaled(double value, int decimals)
{
    unsigned long long div;
    long long v = (long long)scaled_magnitude(value, &decimals, &div);
    return value < 0 ? -v : v;
}

void fmt_num(fmt_buf *b, double value, int decimals)
{
    if (isnan(value)) {
        fmt_str(b, "nan");
        return;
    }
    unsigned long long div;
    unsigned long long scaled = scaled_magnitude(value, &decimals, &div);
    if (scaled == FMT_HUGE) {
        fmt_str(b, value < 0 ? "-inf" : "inf");
        return;
    }
    if (value < 0 && scaled != 0)
        put(b, '-');
    put_digits(b, scaled / div);
    if (decimals > 0) {
        put(b, '.');
        unsigned long long frac = scaled % div;
        for (unsigned long long d = div / 10u; d > 0; d /= 10u) {
            put(b, (char)('0' + (int)(frac / d)));
            frac %= d;
        }
    }
}
