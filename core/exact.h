/* round() and floor() to the bit, inline: libm's are calls the policy makes several times a tick. */
#ifndef BMSAGG_EXACT_H
#define BMSAGG_EXACT_H

#include <math.h>
#include <stdint.h>

/* From 2^52 up every double is a whole number (and NaN and infinity are their own rounding):
 * those go to libm. Below, the conversion to int64_t truncates exactly and x - trunc(x) is
 * exact, so the result equals libm's for every input, sign of zero included. */
#define EXACT_WHOLE 4503599627370496.0   /* 2^52 */

/* x in [+0.0, 2^52): one unsigned compare of its bits (-0.0, every negative, NaN and 2^52 up
 * are above 2^52's bits). There truncation is floor and the result's sign is x's, +: the usual
 * case of both functions (spreads, deltas, tier amps), which then need no copysign. */
static inline int exact_small_nonneg(double x)
{
    uint64_t bits;
    __builtin_memcpy(&bits, &x, sizeof bits);
    return bits < UINT64_C(0x4330000000000000);   /* the bits of 2^52 */
}

/* round(): half away from zero. */
static inline double exact_round(double x)
{
    if (exact_small_nonneg(x)) {
        double t = (double)(int64_t)x;
        return x - t >= 0.5 ? t + 1.0 : t;
    }
    if (!(fabs(x) < EXACT_WHOLE))
        return round(x);
    double t = (double)(int64_t)x;
    double frac = x - t;
    if (frac >= 0.5)
        t += 1.0;
    else if (frac <= -0.5)
        t -= 1.0;
    return copysign(t, x);   /* round(-0.25) is -0.0 */
}

/* floor(). */
static inline double exact_floor(double x)
{
    if (exact_small_nonneg(x))
        return (double)(int64_t)x;
    if (!(fabs(x) < EXACT_WHOLE))
        return floor(x);
    double t = (double)(int64_t)x;
    if (t > x)
        t -= 1.0;   /* truncation went up: a negative non-whole x */
    return copysign(t, x);   /* floor(-0.0) is -0.0; floor(-0.5) is -1 either way */
}

#endif
