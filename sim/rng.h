/* Scenario-owned pseudo-random numbers: SplitMix64, so a seed gives the same run on every machine. */
#ifndef BMSAGG_SIM_RNG_H
#define BMSAGG_SIM_RNG_H

#include <stdint.h>

typedef struct {
    uint64_t s;
} rng_t;

void rng_seed(rng_t *r, uint64_t seed);
uint64_t rng_next(rng_t *r);
/* Uniform in [0, 1). */
double rng_uniform(rng_t *r);
/* Standard normal (Box-Muller without caching, so the stream position is easy to reason about). */
double rng_normal(rng_t *r);
/* A child generator for one subsystem, so adding draws to one does not shift another's stream. */
rng_t rng_fork(rng_t *r);

#endif
