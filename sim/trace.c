/* Trace CSV writer: fixed formats so the same run gives the same bytes. */
#include "trace.h"

void trc_header(FILE *f, int n)
{
    fputs("t_h,pv_w,load_w,i_bank_a,v_bus_v,ccl_a,ccl_min_a,dcl_a,cvl_v,tier,tier_ccl_a,spread_pct,"
          "true_spread_pct,soc_pct,red,cable,unserved_w",
          f);
    for (int k = 1; k <= n; k++)
        fprintf(f, ",soc_true_%d,soc_rep_%d,i_%d,vmax_%d,vmin_%d,temp_%d,ccl_%d,chg_fet_%d,online_%d", k,
                k, k, k, k, k, k, k, k);
    fputc('\n', f);
}

void trc_row(FILE *f, const trc_bank *b, const trc_pack *p, int n)
{
    fprintf(f, "%.5f,%.0f,%.0f,%.3f,%.4f,%.2f,%.2f,%.2f,%.3f,%d,%.1f,%.3f,%.3f,%.3f,%d,%d,%.0f", b->t_h,
            b->pv_w, b->load_w, b->i_bank_a, b->v_bus_v, b->ccl_a, b->ccl_min_a, b->dcl_a, b->cvl_v, b->tier,
            b->tier_ccl_a, b->spread_pct, b->true_spread_pct, b->soc_pct, b->red, b->cable,
            b->unserved_w);
    for (int k = 0; k < n; k++)
        fprintf(f, ",%.3f,%.2f,%.3f,%.4f,%.4f,%.2f,%.2f,%d,%d", p[k].soc_true_pct, p[k].soc_rep_pct,
                p[k].i_a, p[k].vmax_v, p[k].vmin_v, p[k].temp_c, p[k].ccl_a, p[k].chg_fet, p[k].online);
    fputc('\n', f);
}
