/* SplitMix64 (Steele, Lea, Flood 2014): tiny, fast, and identical on every platform. */
#include <math.h>

#include "rng.h"

void rng_seed(rng_t *r, uint64_t seed)
{
    r->s = seed;
}

uint64_t rng_next(rng_t *r)
{
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

double rng_uniform(rng_t *r)
{
    return (double)(rng_next(r) >> 11) * 0x1p-53;
}

double rng_normal(rng_t *r)
{
    /* 1 - u keeps the log argument in (0, 1]. */
    double u1 = 1.0 - rng_uniform(r);
    double u2 = rng_uniform(r);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

rng_t rng_fork(rng_t *r)
{
    rng_t c;
    c.s = rng_next(r) ^ 0x5DEECE66Dull;
    return c;
}
