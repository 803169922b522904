/* `bmsagg-sim bench`: cell-steps per second of the full simulation against the bare physics. */
#ifndef BMSAGG_SIM_BENCH_H
#define BMSAGG_SIM_BENCH_H

/* days: length of the comparison runs; year: also time a 365-day 3 x 16 full run. */
/* With only ("full", "bare" or "packs") non-NULL: that run alone, once, for profilers. */
int bench_main(double days, int year, const char *only);

#endif
