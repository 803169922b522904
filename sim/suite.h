/* Running many scenarios (suite, validate): in parallel worker processes, one table row each. */
#ifndef BMSAGG_SIM_SUITE_H
#define BMSAGG_SIM_SUITE_H

#include <stdbool.h>

#include "policy.h"

typedef struct {
    const char *dir;            /* scenario directory */
    const char *config_path;    /* NULL: each scenario's own config= or the defaults */
    const pol_config *config;   /* loaded from config_path */
    const char *out_dir;        /* NULL: no traces */
    const char *only;           /* comma-separated scenario names, NULL = all */
    int jobs;
    int seeds;                  /* > 1: every scenario with this many seeds (file seed + 0, 1, ...) */
    bool validate;              /* print the validate verdicts */
} suite_opts;

/* Returns the process exit status: 0 all passed, 1 any failed, 2 bad input. */
int suite_main(const suite_opts *o);

/* Loads the config a scenario should run with: the command line's, else the scenario's own
 * config=, else the defaults. Returns 0, or -1 with the error in err. */
int suite_config_for(const char *cli_path, const pol_config *cli, const char *scn_config,
                     pol_config *out, char *err, size_t err_len);

#endif
