/* Pack physics and BMS behaviour (SIMULATION.md sections 1, 4, 5, 6). Current is + on charge here,
 * the opposite of the modelling texts, so every formula from them has its sign flipped once. */
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "ocv.h"
#include "pack.h"

void pack_params_default(pack_params *p)
{
    p->n_cells = 16;
    for (int i = 0; i < PACK_MAX_CELLS; i++) {
        p->cell_cap_ah[i] = 280.0;
        p->cell_soc0[i] = 0.5;
        p->r0_ohm[i] = 0.22e-3;
        p->r1_ohm[i] = 0.25e-3;
        p->sd_a[i] = 0.0;
    }
    p->tau_s = 60.0;
    p->rext_ohm = 5e-3;
    p->draw_a = 0.010;
    p->ovp_v = 3.65;
    p->ovpr_v = 3.50;
    p->ovp_delay_s = 2.0;
    p->uvp_v = 2.50;
    p->uvpr_v = 2.75;
    p->uvp_delay_s = 2.0;
    p->ocp_chg_a = 160.0;
    p->ocp_dis_a = 220.0;
    p->ocp_delay_s = 10.0;
    p->ocp_release_s = 32.0;
    p->chg_temp_min_c = 0.0;
    p->balancer = PACK_BAL_ACTIVE;
    p->bal_a = 2.0;
    p->bal_start_v = 3.40;
    p->bal_trigger_v = 0.005;
    p->bal_eff = 0.9;
    p->rep_soc0_pct = 50.0;
    p->rep_offset_a = 0.0;
    p->rep_gain = 0.0;
    p->rep_eff = 1.0;
    p->rep_cap_ah = 280.0;
    p->rep_reset_v = 3.45;
    p->rep_resolution_pct = 1.0;
    p->ccl_max_a = 100.0;
    p->dcl_max_a = 150.0;
    p->cvl_cell_v = 3.45;
    p->ccl_taper_start_v = 3.45;
    p->ccl_taper_end_v = 3.55;
    p->temp0_c = 25.0;
    p->cth_j_per_k = 90000.0;
    p->rth_k_per_w = 0.15;
}

void pack_init(pack_t *k, double dt_s)
{
    ocv_init();
    const pack_params *p = &k->p;
    k->alpha = exp(-dt_s / p->tau_s);
    k->rsum_ohm = 0.0;
    for (int i = 0; i < p->n_cells; i++) {
        k->soc[i] = p->cell_soc0[i];
        k->v1[i] = 0.0;
        k->bal[i] = 0.0;
        k->cap_as[i] = p->cell_cap_ah[i] * 3600.0;
        k->inv_cap_as[i] = 1.0 / k->cap_as[i];
        k->dsoc_per_a[i] = dt_s / k->cap_as[i];
        k->r0f[i] = p->r0_ohm[i];
        k->bf[i] = p->r1_ohm[i] * (1.0 - k->alpha);
        k->c0_as[i] = p->cell_soc0[i] * k->cap_as[i];
        k->q_cell_as[i] = k->c0_as[i];
        k->tol_as[i] = 1e-7 * k->cap_as[i];
        k->rsum_ohm += p->r0_ohm[i] + p->r1_ohm[i] * (1.0 - k->alpha);
        k->ocv[i] = ocv_v(k->soc[i]);
        k->v[i] = k->ocv[i];
    }
    k->q_bus_as = k->q_draw_as = 0.0;
    k->dt_s = dt_s;
    k->elapsed_s = 0.0;
    k->win_vmax = -INFINITY;
    k->win_vmin = INFINITY;
    k->r_factor = 1.0;
    k->r_factor_temp_c = 25.0;
    k->r_ohm = -1.0;   /* forces the first conductance computation */
    k->i_a = 0.0;
    k->temp_c = p->temp0_c;
    k->chg_fet = k->dis_fet = true;
    k->ovp = k->uvp = k->ocp_chg = k->ocp_dis = k->cold = false;
    k->ovp_since_ms = k->uvp_since_ms = k->ocpc_since_ms = k->ocpd_since_ms = -1;
    k->ocpc_until_ms = k->ocpd_until_ms = -1;
    k->forced_chg_until_ms = k->forced_dis_until_ms = -1;
    k->bal_on = k->bal_was_on = false;
    k->ovp_trips = k->uvp_trips = k->ocp_trips = 0;
    k->rep_soc_pct = p->rep_soc0_pct;
    k->rep_consumed_ah = -(100.0 - p->rep_soc0_pct) / 100.0 * p->rep_cap_ah;
    k->connected = true;
    pack_prepare(k, p->temp0_c);
    k->v_term = k->e_v;
    double vmax = -INFINITY, vmin = INFINITY;
    for (int i = 0; i < p->n_cells; i++) {
        if (k->v[i] > vmax) {
            vmax = k->v[i];
            k->imax = i;
        }
        if (k->v[i] < vmin) {
            vmin = k->v[i];
            k->imin = i;
        }
    }
    k->vmax = vmax;
    k->vmin = vmin;
}

/* Arrhenius with Ea = 20 kJ/mol around 25 C (SIMULATION.md section 4). */
static double r_temp_factor(double temp_c)
{
    const double ea_over_r = 20000.0 / 8.314;
    return exp(ea_over_r * (1.0 / (temp_c + 273.15) - 1.0 / 298.15));
}

void pack_prepare(pack_t *k, double ambient_c)
{
    (void)ambient_c;
    const int n = k->p.n_cells;
    /* Zero-order-hold RC: v1(n+1) = a v1(n) + b I, so over the step the cell is
     * OCV + a v1(n) + (R0 + b) I: linear in I, which the bus solve needs. Two partial sums
     * (even and odd cells, in a fixed order) halve the add latency chain. */
    double e0 = 0.0, e1 = 0.0, w0 = 0.0, w1 = 0.0;
    int i = 0;
    for (; i + 1 < n; i += 2) {
        double o0 = ocv_v(k->soc[i]), o1 = ocv_v(k->soc[i + 1]);
        k->ocv[i] = o0;
        k->ocv[i + 1] = o1;
        e0 += o0;
        e1 += o1;
        w0 += k->v1[i];
        w1 += k->v1[i + 1];
    }
    if (i < n) {
        double o = ocv_v(k->soc[i]);
        k->ocv[i] = o;
        e0 += o;
        w0 += k->v1[i];
    }
    k->e_v = (e0 + e1) + k->alpha * (w0 + w1);
    double r = k->p.rext_ohm + k->r_factor * k->rsum_ohm;
    if (r != k->r_ohm) {
        /* the conductance changes only with temperature: divide only then */
        k->r_ohm = r;
        k->g_s = 1.0 / r;
    }
}

/* The element-wise cell loops vectorise; on x86-64 an AVX2 clone (picked at load time) runs them
 * four cells wide. AVX2 brings no FMA and -ffp-contract=off forbids contraction anyway, and only
 * element-wise loops vectorise without -ffast-math, so both clones give the same bits. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__linux__)
#define PACK_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define PACK_CLONES
#endif

static void run_timer(bool cond, int64_t *since_ms, int64_t now_ms, double delay_s, bool *fired)
{
    if (!cond) {
        *since_ms = -1;
        *fired = false;
        return;
    }
    if (*since_ms < 0)
        *since_ms = now_ms;
    *fired = (double)(now_ms - *since_ms) >= delay_s * 1000.0;
}

/* Four cells at a time in vectors (gcc vectorises the plain loop, but not a double compare into
 * an integer count, which the checked variant needs). Every lane does exactly the scalar
 * operations in the scalar order, with no contraction, so the cells get the same bits as a
 * scalar loop would give them. */
typedef double v4d __attribute__((vector_size(32)));
typedef long long v4l __attribute__((vector_size(32)));

/* The lanes of a v4l in the order given (gcc and clang spell the builtin differently). */
#ifdef __clang__
#define PACK_SHUFFLE4(x, a, b, c, d) __builtin_shufflevector((x), (x), a, b, c, d)
#else
#define PACK_SHUFFLE4(x, a, b, c, d) __builtin_shuffle((x), (v4l){a, b, c, d})
#endif

/* Unaligned vector load and store (macros: a function returning a vector would change the ABI
 * between the AVX2 and the default clone). */
#define LOAD4(x, a) memcpy(&(x), (a), sizeof(x))
#define STORE4(a, x) memcpy((a), &(x), sizeof(x))

/* Highest and lowest cell and their numbers, ties to the lower cell number. Four lanes at a
 * time, each keeping its first maximum and minimum (a strict compare), then the lanes merged
 * by value and cell number: the same cells as a scalar scan. A NaN among the first cells of a
 * vector would order differently from the scalar compares, so any NaN there takes the scalar
 * scan below (a NaN at a later cell is passed over by both). */
static inline __attribute__((always_inline)) void extremes(const double *v, int n, double *vmax_out,
                                                          int *imax_out, double *vmin_out,
                                                          int *imin_out)
{
    if (n >= 4) {
        v4d hi, lo, x;
        LOAD4(hi, v);
        lo = hi;
        v4l ihi = {0, 1, 2, 3}, ilo = ihi, idx = {4, 5, 6, 7}, nan = (v4l)(hi != hi);
        const v4l four = {4, 4, 4, 4};
        int i = 4;
        for (; i + 4 <= n; i += 4) {
            LOAD4(x, v + i);
            v4l up = x > hi, dn = x < lo;
            hi = (v4d)(((v4l)x & up) | ((v4l)hi & ~up));
            ihi = (idx & up) | (ihi & ~up);
            lo = (v4d)(((v4l)x & dn) | ((v4l)lo & ~dn));
            ilo = (idx & dn) | (ilo & ~dn);
            nan |= x != x;
            idx += four;
        }
        if (!(nan[0] | nan[1] | nan[2] | nan[3])) {
            double h = hi[0], l = lo[0];
            int ih = (int)ihi[0], il = (int)ilo[0];
            for (int j = 1; j < 4; j++) {
                if (hi[j] > h || (hi[j] == h && ihi[j] < ih)) { h = hi[j]; ih = (int)ihi[j]; }
                if (lo[j] < l || (lo[j] == l && ilo[j] < il)) { l = lo[j]; il = (int)ilo[j]; }
            }
            for (; i < n; i++) {
                if (v[i] > h) { h = v[i]; ih = i; }
                if (v[i] < l) { l = v[i]; il = i; }
            }
            *vmax_out = h;
            *imax_out = ih;
            *vmin_out = l;
            *imin_out = il;
            return;
        }
    }
    /* Highest and lowest cell: two interleaved chains (even, odd cells) halve the compare
     * latency; ties resolve to the lower cell number either way. */
    double vmax, vmin;
    int imax, imin;
    double hi0 = v[0], lo0 = v[0], hi1 = -INFINITY, lo1 = INFINITY;
    int ihi0 = 0, ilo0 = 0, ihi1 = 1, ilo1 = 1;
    int j = 1;
    for (; j + 1 < n; j += 2) {
        double ve = v[j + 1], vo = v[j];
        if (vo > hi1) { hi1 = vo; ihi1 = j; }
        if (vo < lo1) { lo1 = vo; ilo1 = j; }
        if (ve > hi0) { hi0 = ve; ihi0 = j + 1; }
        if (ve < lo0) { lo0 = ve; ilo0 = j + 1; }
    }
    if (j < n) {
        double vo = v[j];
        if (vo > hi1) { hi1 = vo; ihi1 = j; }
        if (vo < lo1) { lo1 = vo; ilo1 = j; }
    }
    if (hi1 > hi0 || (hi1 == hi0 && ihi1 < ihi0)) { vmax = hi1; imax = ihi1; } else { vmax = hi0; imax = ihi0; }
    if (lo1 < lo0 || (lo1 == lo0 && ilo1 < ilo0)) { vmin = lo1; imin = ilo1; } else { vmin = lo0; imin = ilo0; }
    *vmax_out = vmax;
    *imax_out = imax;
    *vmin_out = vmin;
    *imin_out = imin;
}

/* For tests: the step inlines extremes into each of its clones (a call would run the
 * default target's code: four times slower). */
void pack_extremes(const double *v, int n, double *vmax, int *imax, double *vmin, int *imin)
{
    extremes(v, n, vmax, imax, vmin, imin);
}

/* The step of pack_advance; with `check`, the cell loop also holds every cell's new SOC against
 * the pack's charge ledgers (see pack_advance_checked) while it is still in a register. Inlined
 * into both entry points with `check` a constant, so the plain step carries none of it. */
static inline __attribute__((always_inline)) int advance(pack_t *k, double i_a, double dt_s,
                                                         int64_t now_ms, double ambient_c,
                                                         bool check, double soc_hi)
{
    const pack_params *p = &k->p;
    const int n = p->n_cells;
    const double a = k->alpha, f = k->r_factor;

    /* Balancer decision from the previous step's voltages (a BMS acts on what it measured). */
    double spread = k->vmax - k->vmin;
    if (p->balancer == PACK_BAL_NONE || p->bal_a <= 0.0)
        k->bal_on = false;
    else if (!k->bal_on)
        k->bal_on = k->vmax > p->bal_start_v && spread > p->bal_trigger_v;
    else if (spread < 0.5 * p->bal_trigger_v || k->vmax < p->bal_start_v - 0.02)
        k->bal_on = false;   /* hysteresis: half the trigger, 20 mV below start */
    if (k->bal_was_on)
        for (int i = 0; i < n; i++)
            k->bal[i] = 0.0;
    k->bal_was_on = k->bal_on;
    if (k->bal_on) {
        if (p->balancer == PACK_BAL_ACTIVE) {
            /* Active: takes bal_a out of the highest cell and gives bal_a * eff to the lowest. */
            k->bal[k->imax] = -p->bal_a;
            k->bal[k->imin] += p->bal_a * p->bal_eff;
        } else {
            double lim = k->vmin + p->bal_trigger_v;
            for (int i = 0; i < n; i++)
                if (k->v[i] > lim && k->v[i] > p->bal_start_v)
                    k->bal[i] = -p->bal_a * (k->v[i] / 3.3);   /* bleed resistor: V / R */
        }
    }

    /* Cells: the string carries the terminal current minus the BMS's own draw. The update has
     * no dependence between cells: the plain step is one straight loop the compiler vectorises,
     * the checked step the same operations in explicit vectors (element-wise either way, so the
     * results are bit-identical); the extremes come after. */
    const double i_str = i_a - p->draw_a;
    /* The ledgers as they stand after this step: the checked loop compares each cell with them. */
    k->elapsed_s += dt_s;
    k->q_draw_as += p->draw_a * dt_s;
    if (k->bal_on)
        for (int c = 0; c < n; c++)
            k->q_cell_as[c] += k->bal[c] * dt_s;
    const double base = k->q_bus_as - k->q_draw_as, el = k->elapsed_s;
    int bad = 0;
    int ci = 0;
    if (check) {
        const v4d va = {a, a, a, a}, vi = {i_a, i_a, i_a, i_a}, vs = {i_str, i_str, i_str, i_str};
        const v4d vb = {base, base, base, base}, ve = {el, el, el, el};
        const v4d zero = {0.0, 0.0, 0.0, 0.0}, top = {soc_hi, soc_hi, soc_hi, soc_hi};
        const v4l abs_mask = {INT64_MAX, INT64_MAX, INT64_MAX, INT64_MAX};
        v4l good = {0, 0, 0, 0};
        for (; ci + 4 <= n; ci += 4) {
            v4d v1, bf, ocv, r0f, sd, bal, soc, dsoc, qc, cap, tol;
            LOAD4(v1, k->v1 + ci);
            LOAD4(bf, k->bf + ci);
            LOAD4(ocv, k->ocv + ci);
            LOAD4(r0f, k->r0f + ci);
            LOAD4(sd, p->sd_a + ci);
            LOAD4(bal, k->bal + ci);
            LOAD4(soc, k->soc + ci);
            LOAD4(dsoc, k->dsoc_per_a + ci);
            LOAD4(qc, k->q_cell_as + ci);
            LOAD4(cap, k->cap_as + ci);
            LOAD4(tol, k->tol_as + ci);
            v1 = va * v1 + bf * vi;
            v4d v = ocv + r0f * vi + v1;
            soc = soc + (vs - sd + bal) * dsoc;
            STORE4(k->v1 + ci, v1);
            STORE4(k->v + ci, v);
            STORE4(k->soc + ci, soc);
            /* pack_cell_good, four cells at a time: got - want = soc cap - (cell ledger + bus -
             * draw - sd t), good when |d| <= tol and 0 <= soc <= top (never for a NaN). A true
             * lane is -1: subtracting counts the good cells. */
            v4d d = soc * cap - qc - vb + sd * ve;
            v4d ad = (v4d)((v4l)d & abs_mask);
            good -= (ad <= tol) & (soc >= zero) & (soc <= top);
        }
        /* The lanes summed by halves, in the vector unit: two shuffles and adds instead of four
         * extractions to scalar registers. */
        good += PACK_SHUFFLE4(good, 2, 3, 0, 1);
        good += PACK_SHUFFLE4(good, 1, 0, 3, 2);
        bad = ci - (int)good[0];
    }
    for (; ci < n; ci++) {
        double v1 = a * k->v1[ci] + k->bf[ci] * i_a;
        k->v1[ci] = v1;
        k->v[ci] = k->ocv[ci] + k->r0f[ci] * i_a + v1;
        k->soc[ci] = k->soc[ci] + (i_str - p->sd_a[ci] + k->bal[ci]) * k->dsoc_per_a[ci];
        if (check)
            bad += !pack_cell_good(k, ci, soc_hi);
    }
    double vmax, vmin;
    int imax, imin;
    extremes(k->v, n, &vmax, &imax, &vmin, &imin);
    (void)f;
    k->vmax = vmax;
    k->vmin = vmin;
    k->imax = imax;
    k->imin = imin;
    if (check) {
        /* Written as selects, which compile to max and min instructions (a NaN keeps the old). */
        k->win_vmax = vmax > k->win_vmax ? vmax : k->win_vmax;
        k->win_vmin = vmin < k->win_vmin ? vmin : k->win_vmin;
    }
    k->i_a = i_a;
    k->v_term = k->e_v + k->r_ohm * i_a;

    /* Thermal node: Joule heat in, conduction to ambient out. */
    double heat_w = i_a * i_a * k->r_ohm;
    k->temp_c += dt_s * (heat_w - (k->temp_c - ambient_c) / p->rth_k_per_w) / p->cth_j_per_k;
    /* Resistance follows temperature; recomputing only after a 0.05 K change keeps exp() out of
     * the per-step cost (the state stays deterministic: the rule depends only on the state). */
    if (fabs(k->temp_c - k->r_factor_temp_c) > 0.05) {
        k->r_factor_temp_c = k->temp_c;
        k->r_factor = r_temp_factor(k->temp_c);
        double kr = k->r_factor * (1.0 - k->alpha);
        double rs = 0.0;
        for (int i = 0; i < n; i++) {
            k->r0f[i] = k->r_factor * p->r0_ohm[i];
            k->bf[i] = kr * p->r1_ohm[i];
            rs += p->r0_ohm[i] + p->r1_ohm[i] * (1.0 - k->alpha);
        }
        k->rsum_ohm = rs;
    }

    /* Protection: any cell over OVP for the delay opens the charge FET; all cells under the
     * release voltage close it again (JK behaviour). Likewise UVP on the discharge FET. */
    bool fired;
    run_timer(vmax > p->ovp_v, &k->ovp_since_ms, now_ms, p->ovp_delay_s, &fired);
    if (fired && !k->ovp) {
        k->ovp = true;
        k->ovp_trips++;
    } else if (k->ovp && vmax < p->ovpr_v) {
        k->ovp = false;
    }
    run_timer(vmin < p->uvp_v, &k->uvp_since_ms, now_ms, p->uvp_delay_s, &fired);
    if (fired && !k->uvp) {
        k->uvp = true;
        k->uvp_trips++;
    } else if (k->uvp && vmin > p->uvpr_v) {
        k->uvp = false;
    }
    run_timer(i_a > p->ocp_chg_a, &k->ocpc_since_ms, now_ms, p->ocp_delay_s, &fired);
    if (fired && !k->ocp_chg) {
        k->ocp_chg = true;
        k->ocp_trips++;
        k->ocpc_until_ms = now_ms + (int64_t)(p->ocp_release_s * 1000.0);
    } else if (k->ocp_chg && now_ms >= k->ocpc_until_ms) {
        k->ocp_chg = false;
    }
    run_timer(-i_a > p->ocp_dis_a, &k->ocpd_since_ms, now_ms, p->ocp_delay_s, &fired);
    if (fired && !k->ocp_dis) {
        k->ocp_dis = true;
        k->ocp_trips++;
        k->ocpd_until_ms = now_ms + (int64_t)(p->ocp_release_s * 1000.0);
    } else if (k->ocp_dis && now_ms >= k->ocpd_until_ms) {
        k->ocp_dis = false;
    }
    if (!k->cold && k->temp_c < p->chg_temp_min_c)
        k->cold = true;
    else if (k->cold && k->temp_c > p->chg_temp_min_c + 5.0)
        k->cold = false;
    bool forced_chg = k->forced_chg_until_ms >= 0 && now_ms < k->forced_chg_until_ms;
    bool forced_dis = k->forced_dis_until_ms >= 0 && now_ms < k->forced_dis_until_ms;
    k->chg_fet = !(k->ovp || k->ocp_chg || k->cold || forced_chg);
    k->dis_fet = !(k->uvp || k->ocp_dis || forced_dis);

    /* Reported SOC: the BMS counts what its shunt measures (gain and offset errors, its own
     * efficiency guess, not its own draw) against the capacity it was told. */
    double meas = i_a * (1.0 + p->rep_gain) + p->rep_offset_a;
    double dq_ah = meas * dt_s / 3600.0;
    if (dq_ah > 0.0)
        dq_ah *= p->rep_eff;
    k->rep_consumed_ah += dq_ah;
    k->rep_soc_pct += dq_ah / p->rep_cap_ah * 100.0;
    if (p->rep_reset_v > 0.0 && vmax >= p->rep_reset_v && i_a > 0.0)
        k->rep_soc_pct = 100.0;
    if (k->rep_soc_pct > 100.0)
        k->rep_soc_pct = 100.0;
    if (k->rep_soc_pct < 0.0)
        k->rep_soc_pct = 0.0;
    if (k->rep_soc_pct >= 100.0)
        k->rep_consumed_ah = 0.0;
    return bad;
}

PACK_CLONES void pack_advance(pack_t *k, double i_a, double dt_s, int64_t now_ms, double ambient_c)
{
    (void)advance(k, i_a, dt_s, now_ms, ambient_c, false, 0.0);
}

PACK_CLONES int pack_advance_checked(pack_t *k, double i_a, double dt_s, int64_t now_ms, double ambient_c,
                                     double soc_hi)
{
    return advance(k, i_a, dt_s, now_ms, ambient_c, true, soc_hi);
}

void pack_set_soc(pack_t *k, int cell, double soc)
{
    double delta = soc - k->soc[cell];
    k->q_cell_as[cell] += delta * k->cap_as[cell];
    k->soc[cell] = soc;
}

double pack_true_soc_pct(const pack_t *k)
{
    double q = 0.0, c = 0.0;
    for (int i = 0; i < k->p.n_cells; i++) {
        double cap = k->p.cell_cap_ah[i];
        q += k->soc[i] * cap;
        c += cap;
    }
    return c > 0.0 ? 100.0 * q / c : 0.0;
}
