/* LFP open-circuit voltage versus state of charge: a uniform table with steep extrapolation beyond 0..100 %. */
#ifndef BMSAGG_SIM_OCV_H
#define BMSAGG_SIM_OCV_H

/* Grid step 0.5 % SOC: 201 points over 0..100 %. */
#define OCV_POINTS 201

/* Fills the table once (idempotent; call before any ocv_v). */
void ocv_init(void);

#define OCV_EXTRAP_V_PER_UNIT 50.0

/* The table and its per-interval increments; filled by ocv_init. */
extern double ocv_tab_v[OCV_POINTS];
extern double ocv_tab_dv[OCV_POINTS];

/* OCV in volts at a state of charge given as a fraction (1.0 = 100 %). Not clamped: above 1
 * it rises OCV_EXTRAP_V_PER_UNIT per unit SOC (0.5 V per %), below 0 it falls as steeply, so
 * an overcharged cell really reaches the BMS over-voltage trip. Inline: it is the innermost
 * call of the physics, once per cell per step. */
static inline double ocv_v(double soc)
{
    if (soc >= 1.0)
        return ocv_tab_v[OCV_POINTS - 1] + (soc - 1.0) * OCV_EXTRAP_V_PER_UNIT;
    if (soc <= 0.0)
        return ocv_tab_v[0] + soc * OCV_EXTRAP_V_PER_UNIT;
    double x = soc * (double)(OCV_POINTS - 1);
    int i = (int)x;
    return ocv_tab_v[i] + (x - (double)i) * ocv_tab_dv[i];
}

/* dOCV/dSOC (volts per unit SOC) at soc, for tests and the adaptive knee checks. */
double ocv_slope(double soc);

#endif
