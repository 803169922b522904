/* The decimated trace CSV of a run: one row per trace interval, bank columns then per-pack columns. */
#ifndef BMSAGG_SIM_TRACE_H
#define BMSAGG_SIM_TRACE_H

#include <stdio.h>

typedef struct {
    double t_h, pv_w, load_w, i_bank_a, v_bus_v, ccl_a, ccl_min_a, dcl_a, cvl_v, tier_ccl_a, spread_pct,
        true_spread_pct, soc_pct, unserved_w;
    int tier, red, cable;
} trc_bank;

typedef struct {
    double soc_true_pct, soc_rep_pct, i_a, vmax_v, vmin_v, temp_c, ccl_a;
    int chg_fet, online;
} trc_pack;

/* Writes the header; n packs. */
void trc_header(FILE *f, int n);
void trc_row(FILE *f, const trc_bank *b, const trc_pack *p, int n);

/* Writes x as printf("%.*f", dec, x) would, byte for byte; returns the end (no terminator).
 * It may scribble up to 16 bytes past the end it returns: give it room for the number plus 16. */
char *trc_fixed(char *out, double x, int dec);

#endif
