/* `bmsagg-sim eval`: the core on a steady snapshot until it settles, printed as key=value lines. */
#ifndef BMSAGG_SIM_EVAL_H
#define BMSAGG_SIM_EVAL_H

#include <stdio.h>

#include "policy.h"

/* Parses "93,84,82" into at most max values within [lo, hi]. Returns the count, or -1. */
int eval_parse_list(const char *s, double lo, double hi, double *out, int max);

/* Runs the core on n packs at these SOCs (and max-min cell deltas, NULL = 0.01 V) until its
 * outputs have not changed for longer than every hold; prints the key=value lines to f. */
int eval_run(FILE *f, const pol_config *cfg, const double *soc_pct, const double *cell_delta_v, int n);

#endif
