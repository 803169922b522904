/* Random scenario sweeps: seeded random banks, weather, loads and fault timelines, every invariant
 * checked, failing seeds shrunk to a minimal scenario file that `bmsagg-sim run` accepts. */
#ifndef BMSAGG_SIM_SWEEP_H
#define BMSAGG_SIM_SWEEP_H

/* `bmsagg-sim sweep` with its arguments (after the word "sweep"). Returns the process exit status:
 * 0 every seed passed, 1 any seed failed, 2 bad input or a worker that could not run. */
int sweep_cli(int argc, char **argv);

#endif
