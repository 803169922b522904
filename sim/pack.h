/* One pack: S LFP cells in series (1RC Thevenin each), its external resistance, and its BMS. */
#ifndef BMSAGG_SIM_PACK_H
#define BMSAGG_SIM_PACK_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>

#define PACK_MAX_CELLS 32

typedef enum { PACK_BAL_NONE = 0, PACK_BAL_PASSIVE, PACK_BAL_ACTIVE } pack_balancer;

/* Everything a scenario sets. Units in the names; current + = charging. */
typedef struct {
    int n_cells;
    double cell_cap_ah[PACK_MAX_CELLS];
    double cell_soc0[PACK_MAX_CELLS];      /* initial true SOC, fraction of the cell's capacity */
    double r0_ohm[PACK_MAX_CELLS];         /* at 25 C */
    double r1_ohm[PACK_MAX_CELLS];
    double sd_a[PACK_MAX_CELLS];           /* self-discharge as a constant leak current */
    double tau_s;                          /* RC time constant (the same for all cells of a pack) */
    double rext_ohm;                       /* FETs, shunt, busbars, cable, fuse */
    double draw_a;                         /* BMS self-draw from the whole string (uncounted by the BMS) */

    /* protection */
    double ovp_v, ovpr_v, ovp_delay_s;
    double uvp_v, uvpr_v, uvp_delay_s;
    double ocp_chg_a, ocp_dis_a, ocp_delay_s, ocp_release_s;
    double chg_temp_min_c;                 /* charge FET opens below (releases 5 C above) */

    /* balancer */
    pack_balancer balancer;
    double bal_a, bal_start_v, bal_trigger_v, bal_eff;

    /* reported SOC (the BMS's coulomb counter) */
    double rep_soc0_pct;
    double rep_offset_a;                   /* added to the measured current */
    double rep_gain;                       /* relative gain error, 0.005 = +0.5 % */
    double rep_eff;                        /* charge efficiency the BMS assumes */
    double rep_cap_ah;                     /* the capacity the BMS is set to */
    double rep_reset_v;                    /* any cell at or above while charging: 100 %; 0 = never */
    double rep_resolution_pct;             /* published SOC step (JK: 1) */

    /* the limits its driver publishes */
    double ccl_max_a, dcl_max_a, cvl_cell_v;
    double ccl_taper_start_v, ccl_taper_end_v;

    /* thermal: one lumped node */
    double temp0_c, cth_j_per_k, rth_k_per_w;
} pack_params;

/* Caller-owned state; the simulator reads it for readings, invariants and traces. */
typedef struct {
    pack_params p;
    /* cells */
    double soc[PACK_MAX_CELLS];
    double v1[PACK_MAX_CELLS];
    double ocv[PACK_MAX_CELLS];
    double v[PACK_MAX_CELLS];
    double bal[PACK_MAX_CELLS];            /* balancer current into each cell this step */
    double inv_cap_as[PACK_MAX_CELLS];     /* 1 / (capacity in amp-seconds) */
    double cap_as[PACK_MAX_CELLS];         /* capacity in amp-seconds */
    double dsoc_per_a[PACK_MAX_CELLS];     /* dt / capacity: SOC change per amp over one step */
    double r0f[PACK_MAX_CELLS];            /* R0 * temperature factor */
    double bf[PACK_MAX_CELLS];             /* R1 (1 - alpha) * temperature factor */
    double dt_s;
    double elapsed_s;                      /* for the self-discharge ledger (a constant leak) */
    double r_factor_temp_c;                /* temperature the factor was computed at */
    /* independent ledgers for the charge-conservation invariant (amp-seconds) */
    double q_bus_as;                       /* terminal current, integrated by the bus side */
    double q_draw_as;
    double q_cell_as[PACK_MAX_CELLS];      /* the cell's own: its initial charge, balancer transfers, SOC
                                              set by events (hot-add, tests) */
    double c0_as[PACK_MAX_CELLS];          /* initial charge, soc0 * capacity (for messages) */
    double tol_as[PACK_MAX_CELLS];         /* conservation tolerance: 1e-7 of the capacity */

    /* per-step linearisation */
    double alpha, r_factor, e_v, r_ohm, g_s, rsum_ohm;
    double i_a, v_term;                    /* last step's terminal current and voltage */
    double vmax, vmin;
    int imax, imin;                        /* 0-based */
    /* The highest and lowest cell since the caller last reset these (to -/+ infinity): the checked
     * step keeps them, for the trace's window and the run's highest cell. */
    double win_vmax, win_vmin;
    double temp_c;

    /* BMS */
    bool chg_fet, dis_fet;
    bool ovp, uvp, ocp_chg, ocp_dis, cold;
    int64_t ovp_since_ms, uvp_since_ms, ocpc_since_ms, ocpd_since_ms;
    int64_t ocpc_until_ms, ocpd_until_ms;
    int64_t forced_chg_until_ms, forced_dis_until_ms; /* event trips; INT64_MAX = for good */
    bool bal_on;
    bool bal_was_on;                       /* bal[] holds non-zero entries */
    uint32_t ovp_trips, uvp_trips, ocp_trips;
    double rep_soc_pct;
    double rep_consumed_ah;
    bool connected;
} pack_t;

/* Fills p with the project's defaults (a JK-like 16S 280 Ah pack at 50 %). */
void pack_params_default(pack_params *p);

/* Sets up the state from the parameters. */
void pack_init(pack_t *k, double dt_s);

/* Linearises the pack for this step: fills ocv[], e_v and r_ohm (V = E + R I). */
void pack_prepare(pack_t *k, double ambient_c);

/* Advances cells, balancer, BMS and reported SOC by one step at terminal current i_a. */
void pack_advance(pack_t *k, double i_a, double dt_s, int64_t now_ms, double ambient_c);

/* The same step, bit for bit, which also holds each cell's new SOC against the pack's charge
 * ledgers (q_bus_as, which the caller brings forward before the step, q_draw_as, sd_a over
 * elapsed_s, q_cell_as) while the cell is in a register. Returns how many cells left their
 * ledgers by more than tol_as or left 0..soc_hi: the charge-conservation invariant's verdict
 * at a fraction of the cost of a second pass (the invariant module names the cell). It also
 * widens win_vmax and win_vmin to the step's extremes (a NaN extreme is passed over). */
int pack_advance_checked(pack_t *k, double i_a, double dt_s, int64_t now_ms, double ambient_c,
                         double soc_hi);

/* Highest and lowest of v[0..n) and their indices, ties to the lower index; a NaN is passed
 * over unless it is v[0] (the order of a scan from v[0] with strict compares). */
void pack_extremes(const double *v, int n, double *vmax, int *imax, double *vmin, int *imin);

/* The limits the pack's driver publishes now, one function each: the full run asks for one or
 * another at every step and poll, so these and pack_reported_soc are inline. */
static inline double pack_cvl_v(const pack_t *k)
{
    return k->p.cvl_cell_v * k->p.n_cells;
}

static inline double pack_ccl_a(const pack_t *k)
{
    const pack_params *p = &k->p;
    if (!k->chg_fet)
        return 0.0;
    /* Like dbus-serialbattery's cell-voltage CCL: full up to the taper start, 10 % at its end,
     * nothing near the trip. */
    double f;
    if (k->vmax <= p->ccl_taper_start_v)
        f = 1.0;
    else if (k->vmax >= p->ovp_v - 0.05)
        f = 0.0;
    else if (k->vmax >= p->ccl_taper_end_v)
        f = 0.1;
    else
        f = 1.0 - 0.9 * (k->vmax - p->ccl_taper_start_v) / (p->ccl_taper_end_v - p->ccl_taper_start_v);
    if (k->temp_c < p->chg_temp_min_c + 5.0)
        f *= 0.25;   /* cold derate */
    return p->ccl_max_a * f;
}

static inline double pack_dcl_a(const pack_t *k)
{
    if (!k->dis_fet)
        return 0.0;
    double g;
    if (k->vmin >= 3.10)
        g = 1.0;
    else if (k->vmin <= 2.90)
        g = 0.0;
    else
        g = (k->vmin - 2.90) / 0.20;
    return k->p.dcl_max_a * g;
}

/* Published (rounded) reported SOC. */
static inline double pack_reported_soc(const pack_t *k)
{
    double r = k->p.rep_resolution_pct;
    if (r <= 0.0)
        return k->rep_soc_pct;
    /* At the usual 1 % resolution the division and the product are exact: skip them. */
    double y = (r == 1.0 ? k->rep_soc_pct : k->rep_soc_pct / r) + 0.5;
    /* The reported SOC is kept in 0..100 %, so y is a non-negative number far below 2^53, whose
     * floor is its truncation: no libm call (this runs for every pack at every poll). */
    if (y >= 0.0 && y < 4503599627370496.0)
        return r == 1.0 ? (double)(int64_t)y : (double)(int64_t)y * r;
    return floor(y) * r;
}

/* Charge conservation for cell i, in amp-seconds: got - want, the cell's charge against the
 * independent ledgers of every flow, soc cap - (cell ledger + bus - draw - sd t); the cell's
 * own ledger starts at its initial charge. */
static inline double pack_ledger_gap_as(const pack_t *k, int i)
{
    double base = k->q_bus_as - k->q_draw_as;
    return k->soc[i] * k->cap_as[i] - k->q_cell_as[i] - base + k->p.sd_a[i] * k->elapsed_s;
}

/* Whether cell i is on its ledger (within tol_as) and inside 0..soc_hi: no compare with a NaN is
 * true, so a NaN cell never is. The checked step's vector loop is this, four cells at a time. */
static inline bool pack_cell_good(const pack_t *k, int i, double soc_hi)
{
    return (fabs(pack_ledger_gap_as(k, i)) <= k->tol_as[i]) & (k->soc[i] >= 0.0) & (k->soc[i] <= soc_hi);
}

/* Sets a cell's true SOC from outside the physics (hot-add, tests), keeping the ledger honest. */
void pack_set_soc(pack_t *k, int cell, double soc);

/* Mean true SOC in percent, capacity-weighted. */
double pack_true_soc_pct(const pack_t *k);

#endif
