/* LFP OCV table from the BPX model-derived points (SIMULATION.md section 3), resampled on a 0.5 % grid. */
#include "ocv.h"

/* Model-derived OCV (About-Energy BPX LFP, OCV = U_p - U_n): SOC % and volts. The knee above
 * 99 % matters most: the last 0.5 % spans 3.38 -> 3.65 V. */
static const double pts_soc[] = {0, 1, 3, 5, 10, 20, 30, 50, 60, 70, 80, 90, 98, 99, 99.5, 100};
static const double pts_v[] = {2.000, 2.837, 3.035, 3.137, 3.188, 3.230, 3.267, 3.278,
                               3.286, 3.306, 3.318, 3.322, 3.324, 3.334, 3.382, 3.649};
#define NPTS ((int)(sizeof pts_soc / sizeof pts_soc[0]))

double ocv_tab_v[OCV_POINTS];
double ocv_tab_dv[OCV_POINTS];         /* volts from point i to i + 1 */
static double tab_slope[OCV_POINTS];   /* volts per unit SOC from point i to i + 1 */
static int ready;

void ocv_init(void)
{
    if (ready)
        return;
    for (int i = 0; i < OCV_POINTS; i++) {
        double s = 0.5 * i;
        int j = 0;
        while (j < NPTS - 2 && s > pts_soc[j + 1])
            j++;
        double f = (s - pts_soc[j]) / (pts_soc[j + 1] - pts_soc[j]);
        ocv_tab_v[i] = pts_v[j] + f * (pts_v[j + 1] - pts_v[j]);
    }
    for (int i = 0; i < OCV_POINTS - 1; i++) {
        ocv_tab_dv[i] = ocv_tab_v[i + 1] - ocv_tab_v[i];
        tab_slope[i] = ocv_tab_dv[i] * 200.0;
    }
    ocv_tab_dv[OCV_POINTS - 1] = 0.0;
    tab_slope[OCV_POINTS - 1] = OCV_EXTRAP_V_PER_UNIT;
    ready = 1;
}

double ocv_slope(double soc)
{
    if (soc >= 1.0 || soc <= 0.0)
        return OCV_EXTRAP_V_PER_UNIT;
    return tab_slope[(int)(soc * 200.0)];
}
