/* CUnit tests of the simulator: analytic physics checks, metamorphic properties, determinism, the
 * invariant checker against a deliberately bad controller, and the scenario loader's errors. */
#include <CUnit/Basic.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bus.h"
#include "conf.h"
#include "invariant.h"
#include "ocv.h"
#include "pack.h"
#include "run.h"
#include "scenario.h"
#include "trace.h"
#include "workers.h"

/* A bare pack: n cells at soc, no draw, no self-discharge, no balancer, no reported-SOC reset. */
static void bare_pack(pack_t *k, int n, double soc, double cap_ah, double r0, double r1, double rext,
                      double dt_s)
{
    pack_params_default(&k->p);
    k->p.n_cells = n;
    for (int i = 0; i < n; i++) {
        k->p.cell_cap_ah[i] = cap_ah;
        k->p.cell_soc0[i] = soc;
        k->p.r0_ohm[i] = r0;
        k->p.r1_ohm[i] = r1;
        k->p.sd_a[i] = 0.0;
    }
    k->p.rext_ohm = rext;
    k->p.draw_a = 0.0;
    k->p.balancer = PACK_BAL_NONE;
    k->p.rep_reset_v = 0.0;
    k->p.temp0_c = 25.0;
    k->p.cth_j_per_k = 1e30;  /* no self-heating: resistance stays at its 25 C value */
    pack_init(k, dt_s);
}

static void test_ocv_table(void)
{
    ocv_init();
    /* the table's anchor points (BPX model-derived) */
    CU_ASSERT_DOUBLE_EQUAL(ocv_v(0.995), 3.382, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(ocv_v(1.0), 3.649, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(ocv_v(0.5), 3.278, 1e-12);
    /* monotonic over the whole range, and steep past 100 %: +0.5 V per +1 % */
    double prev = ocv_v(-0.01);
    for (int i = -9; i <= 1020; i++) {
        double v = ocv_v(i / 1000.0);
        CU_ASSERT(v >= prev - 1e-12);
        prev = v;
    }
    CU_ASSERT_DOUBLE_EQUAL(ocv_v(1.01) - ocv_v(1.0), 0.5, 1e-9);
    CU_ASSERT(ocv_v(1.001) > 3.65);   /* overcharge reaches the OVP trip */
}

static void test_bus_circulating(void)
{
    /* SIMULATION.md section 2: 32 mV across 2 x 8 mOhm at rest -> 2 A from the higher pack. */
    bus_t b;
    memset(&b, 0, sizeof b);
    b.n = 2;
    b.e_v[0] = 53.032;
    b.e_v[1] = 53.000;
    for (int k = 0; k < 2; k++) {
        b.g_s[k] = 1.0 / 0.008;
        b.can_chg[k] = b.can_dis[k] = b.connected[k] = true;
    }
    double i[2], v;
    double d = bus_solve_current(&b, 0.0, i, &v);
    CU_ASSERT_DOUBLE_EQUAL(d, 0.0, 0.0);
    CU_ASSERT_DOUBLE_EQUAL(i[0], -2.0, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(i[1], 2.0, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(i[0] + i[1], 0.0, 1e-12);
}

static void test_bus_homogeneous_and_order(void)
{
    /* P identical packs carry I/P each; permuting packs permutes the currents and nothing else. */
    bus_t b;
    memset(&b, 0, sizeof b);
    b.n = 5;
    for (int k = 0; k < 5; k++) {
        b.e_v[k] = 52.8;
        b.g_s[k] = 1.0 / 0.007;
        b.can_chg[k] = b.can_dis[k] = b.connected[k] = true;
    }
    double i[5], v;
    bus_solve_current(&b, 100.0, i, &v);
    for (int k = 0; k < 5; k++)
        CU_ASSERT_DOUBLE_EQUAL(i[k], 20.0, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(v, 52.8 + 20.0 * 0.007, 1e-9);

    bus_t c = b;
    double e[5] = {52.1, 52.9, 53.3, 52.4, 52.7}, r[5] = {0.006, 0.008, 0.0075, 0.0065, 0.009};
    int perm[5] = {3, 0, 4, 1, 2};
    for (int k = 0; k < 5; k++) {
        b.e_v[k] = e[k];
        b.g_s[k] = 1.0 / r[k];
        c.e_v[k] = e[perm[k]];
        c.g_s[k] = 1.0 / r[perm[k]];
    }
    double ib[5], ic[5], vb, vc;
    bus_solve_current(&b, -80.0, ib, &vb);
    bus_solve_current(&c, -80.0, ic, &vc);
    CU_ASSERT_DOUBLE_EQUAL(vb, vc, 1e-9);
    for (int k = 0; k < 5; k++)
        CU_ASSERT_DOUBLE_EQUAL(ic[k], ib[perm[k]], 1e-9);
}

static void test_bus_fet_active_set(void)
{
    bus_t b;
    memset(&b, 0, sizeof b);
    b.n = 3;
    for (int k = 0; k < 3; k++) {
        b.e_v[k] = 53.0;
        b.g_s[k] = 1.0 / 0.008;
        b.can_chg[k] = b.can_dis[k] = b.connected[k] = true;
    }
    b.can_chg[1] = false;   /* pack 2's BMS opened its charge FET */
    double i[3], v;
    double d = bus_solve_current(&b, 90.0, i, &v);
    CU_ASSERT_DOUBLE_EQUAL(d, 90.0, 0.0);
    CU_ASSERT_DOUBLE_EQUAL(i[1], 0.0, 0.0);
    CU_ASSERT_DOUBLE_EQUAL(i[0], 45.0, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(i[2], 45.0, 1e-9);
    /* discharging through the body diode is still allowed */
    bus_solve_current(&b, -90.0, i, &v);
    CU_ASSERT_DOUBLE_EQUAL(i[1], -30.0, 1e-9);
    /* every pack blocked: nothing delivered, no bus voltage */
    b.can_chg[0] = b.can_chg[2] = false;
    d = bus_solve_current(&b, 50.0, i, &v);
    CU_ASSERT_DOUBLE_EQUAL(d, 0.0, 0.0);
    CU_ASSERT(isnan(v));
    for (int k = 0; k < 3; k++)
        CU_ASSERT_DOUBLE_EQUAL(i[k], 0.0, 0.0);
}

static void test_cc_linear_ocv(void)
{
    /* CC charge on the linear 30..50 % segment: V(t) = OCV0 + k I t / Q + I R0 + I R1 (1 - e^-t/tau).
     * The step uses the OCV at its start, so the OCV term lags one step. */
    pack_t k;
    const double dt = 1.0, q_ah = 200.0, r0 = 0.5e-3, r1 = 0.8e-3, cur = 50.0;
    bare_pack(&k, 1, 0.35, q_ah, r0, r1, 0.0, dt);
    double slope = (3.278 - 3.267) / 0.20;   /* V per unit SOC between the 30 % and 50 % points */
    double ocv0 = ocv_v(0.35);
    double worst = 0.0;
    for (int n = 1; n <= 1200; n++) {
        pack_prepare(&k, 25.0);
        pack_advance(&k, cur, dt, n * 1000, 25.0);
        double t = n * dt;
        double want = ocv0 + slope * cur * (t - dt) / (q_ah * 3600.0) + cur * r0 +
                      cur * r1 * (1.0 - exp(-t / k.p.tau_s));
        double err = fabs(k.v[0] - want);
        worst = err > worst ? err : worst;
    }
    CU_ASSERT(worst < 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(k.soc[0], 0.35 + cur * 1200.0 / (q_ah * 3600.0), 1e-12);
}

/* Two packs on one bus, stepped with the real solve and pack code. */
static void step_bank(pack_t *p, int n, double i_total, int64_t t_ms, double dt)
{
    bus_t b;
    memset(&b, 0, sizeof b);
    b.n = n;
    for (int k = 0; k < n; k++) {
        pack_prepare(&p[k], 25.0);
        b.e_v[k] = p[k].e_v;
        b.g_s[k] = 1.0 / p[k].r_ohm;
        b.can_chg[k] = p[k].chg_fet;
        b.can_dis[k] = p[k].dis_fet;
        b.connected[k] = true;
    }
    double i[8], v;
    bus_solve_current(&b, i_total, i, &v);
    for (int k = 0; k < n; k++) {
        p[k].q_bus_as += i[k] * dt;
        pack_advance(&p[k], i[k], dt, t_ms, 25.0);
    }
}

static void test_rest_equalisation_tau(void)
{
    /* Two resting packs on the linear plateau: the EMF gap decays with
     * tau_eq = (Ra + Rb) Ca Cb / (Ca + Cb), C = dQ/dE (SIMULATION.md section 2). */
    pack_t p[2];
    const double dt = 1.0;
    bare_pack(&p[0], 16, 0.36, 280.0, 0.22e-3, 0.0, 5e-3, dt);
    bare_pack(&p[1], 16, 0.44, 250.0, 0.22e-3, 0.0, 8e-3, dt);
    double slope = (3.278 - 3.267) / 0.20;
    double ca = 280.0 * 3600.0 / (16 * slope), cb = 250.0 * 3600.0 / (16 * slope);
    double ra = 5e-3 + 16 * 0.22e-3, rb = 8e-3 + 16 * 0.22e-3;
    double tau = (ra + rb) * ca * cb / (ca + cb);
    pack_prepare(&p[0], 25.0);
    pack_prepare(&p[1], 25.0);
    double gap0 = p[1].e_v - p[0].e_v;
    int64_t steps = (int64_t)tau;   /* one time constant */
    for (int64_t n = 1; n <= steps; n++)
        step_bank(p, 2, 0.0, n * 1000, dt);
    pack_prepare(&p[0], 25.0);
    pack_prepare(&p[1], 25.0);
    double gap = p[1].e_v - p[0].e_v;
    double want = gap0 * exp(-(double)steps * dt / tau);
    CU_ASSERT(tau > 3600.0);
    CU_ASSERT(fabs(gap - want) < 2e-3 * gap0);
}

static void test_scaling_invariance(void)
{
    /* Scaling capacities and currents by k and resistances by 1/k leaves SOC traces unchanged. */
    pack_t a[2], b[2];
    const double k = 3.0, dt = 1.0;
    bare_pack(&a[0], 4, 0.40, 100.0, 0.3e-3, 0.2e-3, 4e-3, dt);
    bare_pack(&a[1], 4, 0.60, 120.0, 0.4e-3, 0.3e-3, 6e-3, dt);
    bare_pack(&b[0], 4, 0.40, 100.0 * k, 0.3e-3 / k, 0.2e-3 / k, 4e-3 / k, dt);
    bare_pack(&b[1], 4, 0.60, 120.0 * k, 0.4e-3 / k, 0.3e-3 / k, 6e-3 / k, dt);
    double worst = 0.0;
    for (int n = 1; n <= 20000; n++) {
        double cur = 40.0 * sin(n / 3000.0);
        step_bank(a, 2, cur, n * 1000, dt);
        step_bank(b, 2, cur * k, n * 1000, dt);
        for (int j = 0; j < 2; j++)
            for (int i = 0; i < 4; i++) {
                double e = fabs(a[j].soc[i] - b[j].soc[i]);
                worst = e > worst ? e : worst;
            }
    }
    CU_ASSERT(worst < 1e-9);
}

static void test_one_pack_fleet(void)
{
    /* A 1-pack bank carries exactly the bank current, so it matches the pack stepped alone. */
    pack_t bank[1], alone;
    bare_pack(&bank[0], 16, 0.5, 280.0, 0.22e-3, 0.25e-3, 5e-3, 1.0);
    bare_pack(&alone, 16, 0.5, 280.0, 0.22e-3, 0.25e-3, 5e-3, 1.0);
    for (int n = 1; n <= 5000; n++) {
        double cur = n < 2500 ? 60.0 : -80.0;
        step_bank(bank, 1, cur, n * 1000, 1.0);
        pack_prepare(&alone, 25.0);
        pack_advance(&alone, cur, 1.0, n * 1000, 25.0);
    }
    for (int i = 0; i < 16; i++) {
        CU_ASSERT_EQUAL(memcmp(&bank[0].soc[i], &alone.soc[i], sizeof(double)), 0);
        CU_ASSERT_EQUAL(memcmp(&bank[0].v[i], &alone.v[i], sizeof(double)), 0);
    }
}

static void test_bms_ovp_delay_release(void)
{
    /* OVP opens the charge FET only after the delay, and closes it only below the release voltage. */
    pack_t k;
    bare_pack(&k, 4, 0.999, 10.0, 0.2e-3, 0.0, 1e-3, 1.0);
    k.p.ovp_delay_s = 2.0;
    int64_t first_over = -1, opened = -1;
    for (int n = 1; n <= 600 && opened < 0; n++) {
        pack_prepare(&k, 25.0);
        pack_advance(&k, 20.0, 1.0, n * 1000, 25.0);
        if (k.vmax > k.p.ovp_v && first_over < 0)
            first_over = n * 1000;
        if (!k.chg_fet)
            opened = n * 1000;
    }
    CU_ASSERT(first_over > 0);
    CU_ASSERT_EQUAL(opened - first_over, 2000);
    CU_ASSERT_EQUAL(k.ovp_trips, 1u);
    /* discharging a little brings the cells down; the FET stays open until all are below 3.50 V */
    int64_t t = opened;
    while (k.vmax >= k.p.ovpr_v) {
        CU_ASSERT(!k.chg_fet);
        t += 1000;
        pack_prepare(&k, 25.0);
        pack_advance(&k, -5.0, 1.0, t, 25.0);
    }
    CU_ASSERT(k.chg_fet);
}

static void test_reported_soc_offset_drift(void)
{
    /* A +0.3 A offset on a resting 280 Ah pack drifts the reported SOC by 0.3 * 24 / 280 per day. */
    pack_t k;
    bare_pack(&k, 16, 0.5, 280.0, 0.22e-3, 0.25e-3, 5e-3, 1.0);
    k.p.rep_offset_a = 0.3;
    k.p.rep_cap_ah = 280.0;
    k.rep_soc_pct = 50.0;
    for (int n = 1; n <= 86400; n++) {
        pack_prepare(&k, 25.0);
        pack_advance(&k, 0.0, 1.0, n * 1000, 25.0);
    }
    CU_ASSERT_DOUBLE_EQUAL(k.rep_soc_pct - 50.0, 0.3 * 24.0 / 280.0 * 100.0, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(pack_true_soc_pct(&k), 50.0, 1e-9);   /* the truth did not move */
}

static const char *mini_scn =
    "[scenario]\n"
    "days = 1.5\n"
    "seed = 11\n"
    "[pv]\n"
    "weather = markov\n"
    "[pack.1]\n"
    "soc_pct = 60\n"
    "[pack.2]\n"
    "soc_pct = 55\n"
    "cap_ah = 260\n"
    "[pack.3]\n"
    "soc_pct = 58\n"
    "balancer = passive\n"
    "bal_a = 0.05\n";

static void test_determinism_hash(void)
{
    static scn_t s;
    char err[SCN_ERR_LEN];
    CU_ASSERT_EQUAL_FATAL(scn_load_string(mini_scn, "mini", &s, err, sizeof err), 0);
    static conf_t c;
    conf_default(&c);
    run_opts o;
    memset(&o, 0, sizeof o);
    o.no_trace = true;
    run_result r1, r2, r3;
    run_scenario(&s, &c.pol, &o, &r1);
    run_scenario(&s, &c.pol, &o, &r2);
    CU_ASSERT_EQUAL(r1.status, 0);
    CU_ASSERT_EQUAL(r1.hash, r2.hash);
    CU_ASSERT_EQUAL(r1.steps, 129600);
    /* another seed draws other cells and weather: another hash */
    static scn_t s2;
    char *text = malloc(strlen(mini_scn) + 1);
    strcpy(text, mini_scn);
    char *p = strstr(text, "seed = 11");
    p[8] = '2';
    CU_ASSERT_EQUAL_FATAL(scn_load_string(text, "mini2", &s2, err, sizeof err), 0);
    run_scenario(&s2, &c.pol, &o, &r3);
    CU_ASSERT_NOT_EQUAL(r1.hash, r3.hash);
    free(text);

    /* checkpoint at 0.7 days, finish, restore, finish again: the same hash as uninterrupted */
    run_result r4;
    o.checkpoint_ms = 60480000;
    run_scenario(&s, &c.pol, &o, &r4);
    CU_ASSERT_EQUAL(r4.hash, r1.hash);
    CU_ASSERT_EQUAL(r4.restored_hash, r1.hash);
    CU_ASSERT_EQUAL(r4.steps, r1.steps);
}

/* The mini scenario and the default config, which the invariant tests start from. */
static void load_mini(scn_t *s, pol_config *cfg)
{
    char err[SCN_ERR_LEN];
    CU_ASSERT_EQUAL_FATAL(scn_load_string(mini_scn, "mini", s, err, sizeof err), 0);
    pol_config_default(cfg);
}

/* inv_ctrl passes a CCL of bound_a and fails one an ampere above it with ccl-nominal. */
static void check_ccl_bound(const scn_t *s, const pol_config *cfg, double bound_a)
{
    inv_t v;
    static pol_output out;
    memset(&out, 0, sizeof out);
    inv_init(&v, s, cfg);
    out.ccl_a = bound_a;
    CU_ASSERT_TRUE(inv_ctrl(&v, 1000, &out));
    out.ccl_a = bound_a + 1.0;
    CU_ASSERT_FALSE(inv_ctrl(&v, 3000, &out));
    CU_ASSERT_STRING_EQUAL(v.name, "ccl-nominal");
}

static void test_invariants_catch_bad_controller(void)
{
    static scn_t s;
    char err[SCN_ERR_LEN];
    pol_config cfg;
    load_mini(&s, &cfg);
    inv_t v;
    static pol_output out;
    memset(&out, 0, sizeof out);

    /* a controller that publishes full CCL at a 20 pp spread */
    inv_init(&v, &s, &cfg);
    out.spread_valid = true;
    out.spread_pct = 20.0;
    out.ccl_a = 150.0;
    CU_ASSERT_FALSE(inv_ctrl(&v, 1000, &out));
    CU_ASSERT_STRING_EQUAL(v.name, "ccl-tier");
    CU_ASSERT(strstr(v.msg, "20.00 pp") != NULL);

    /* one that clears the red alert 10 s after its cause */
    inv_init(&v, &s, &cfg);
    out.spread_pct = 16.0;
    out.ccl_a = 50.0;
    out.red_alert = true;
    CU_ASSERT_TRUE(inv_ctrl(&v, 1000, &out));
    out.spread_pct = 2.0;
    out.red_alert = false;
    CU_ASSERT_FALSE(inv_ctrl(&v, 11000, &out));
    CU_ASSERT_STRING_EQUAL(v.name, "alarm-hold");

    /* one that publishes more than the bank's rating */
    inv_init(&v, &s, &cfg);
    out.ccl_a = 151.0;
    out.spread_pct = 0.0;
    CU_ASSERT_FALSE(inv_ctrl(&v, 1000, &out));
    CU_ASSERT_STRING_EQUAL(v.name, "ccl-nominal");

    /* and more than the config's nominal, below the bank's rating (the bound is the lower) */
    pol_config low = cfg;
    low.nominal_ccl_a = 100.0;
    check_ccl_bound(&s, &low, 100.0);
    /* and the other way round: a bank rated below the config's nominal */
    static scn_t small_bank;
    small_bank = s;
    small_bank.rating_a = 120.0;
    check_ccl_bound(&small_bank, &cfg, 120.0);

    /* and in the loop: a config whose tiers barely fall must fail the run with ccl-tier */
    static scn_t wide;
    const char *wide_scn = "[scenario]\ndays = 0.2\n[pack.1]\nsoc_pct = 90\n[pack.2]\nsoc_pct = 60\n"
                           "[pack.3]\nsoc_pct = 70\n";
    CU_ASSERT_EQUAL_FATAL(scn_load_string(wide_scn, "wide", &wide, err, sizeof err), 0);
    pol_config bad;
    pol_config_default(&bad);
    bad.tier_ccl_pct[1] = 99.0;
    bad.tier_ccl_pct[2] = 98.0;
    bad.tier_ccl_pct[3] = 97.0;
    run_opts o;
    memset(&o, 0, sizeof o);
    o.no_trace = true;
    run_result r;
    CU_ASSERT_EQUAL(run_scenario(&wide, &bad, &o, &r), 1);
    CU_ASSERT_STRING_EQUAL(r.violation, "ccl-tier");
    /* the same scenario with the default config holds */
    CU_ASSERT_EQUAL(run_scenario(&wide, &cfg, &o, &r), 0);
}

/* The bank's current sum: a bus solve whose pack currents do not add up to the bank current fails
 * it, by more than rounding of the bus's own terms; the solve's own currents pass. */
static void test_current_sum(void)
{
    static scn_t s;
    pol_config cfg;
    load_mini(&s, &cfg);
    inv_t v;
    inv_init(&v, &s, &cfg);
    bus_t b;
    memset(&b, 0, sizeof b);
    b.n = 3;
    for (int k = 0; k < 3; k++) {
        b.e_v[k] = 53.0 + 0.01 * k;
        b.g_s[k] = 1.0 / 0.006;
        b.can_chg[k] = b.can_dis[k] = b.connected[k] = true;
    }
    double i[3], vbus;
    double bank = bus_solve_current(&b, 87.5, i, &vbus);
    CU_ASSERT_TRUE(inv_sum(&v, 1000, bank, &b, i, i[0] + i[1] + i[2]));
    CU_ASSERT_FALSE(v.violated);
    /* a millampere lost between the packs: far above the rounding of 3 x 167 S x 53 V */
    i[1] -= 1e-3;
    CU_ASSERT_FALSE(inv_sum(&v, 2000, bank, &b, i, i[0] + i[1] + i[2]));
    CU_ASSERT_STRING_EQUAL(v.name, "current-sum");
    CU_ASSERT(strstr(v.msg, "bank 87.5") != NULL);
}

static void test_charge_conservation_catches_tampering(void)
{
    static scn_t s;
    pol_config cfg;
    load_mini(&s, &cfg);
    inv_t v;
    pack_t k;
    bare_pack(&k, 16, 0.5, 280.0, 0.22e-3, 0.25e-3, 5e-3, 1.0);
    inv_init(&v, &s, &cfg);
    for (int n = 1; n <= 100; n++) {
        pack_prepare(&k, 25.0);
        k.q_bus_as += 30.0;
        pack_advance(&k, 30.0, 1.0, n * 1000, 25.0);
        CU_ASSERT_TRUE(inv_pack(&v, n * 1000, 0, &k, inv_ledger_scan(&v, 0, &k), 100.0, 100.0, 30.0, true));
    }
    pack_set_soc(&k, 3, 0.7);   /* through the ledger: still conserved */
    CU_ASSERT_TRUE(inv_pack(&v, 101000, 0, &k, inv_ledger_scan(&v, 0, &k), 100.0, 100.0, 30.0, true));
    k.soc[5] += 0.001;          /* behind the ledger's back: caught */
    CU_ASSERT_FALSE(inv_pack(&v, 102000, 0, &k, inv_ledger_scan(&v, 0, &k), 100.0, 100.0, 30.0, true));
    CU_ASSERT_STRING_EQUAL(v.name, "charge-conservation");
    CU_ASSERT(strstr(v.msg, "pack 1 cell 6") != NULL);
    /* conserved but overfull: a cell past 100 % is caught too */
    k.soc[5] -= 0.001;
    inv_init(&v, &s, &cfg);
    pack_set_soc(&k, 2, 1.02);
    CU_ASSERT_FALSE(inv_pack(&v, 103000, 0, &k, inv_ledger_scan(&v, 0, &k), 100.0, 100.0, 30.0, true));
    CU_ASSERT_STRING_EQUAL(v.name, "cell-soc-range");
    CU_ASSERT(strstr(v.msg, "pack 1 cell 3") != NULL);
}

/* The vector extremes find the cells a scan from cell 0 with strict compares finds: ties to
 * the lower cell, NaN passed over unless it is cell 0; every count 1..32, values from a small
 * set so ties are common. */
static void test_extremes_are_the_scan(void)
{
    uint64_t st = 12345;
    double v[PACK_MAX_CELLS];
    const double vals[] = {3.30, 3.31, 3.31, 3.32, -INFINITY, INFINITY, NAN};
    for (int rep = 0; rep < 200000; rep++) {
        st = st * 6364136223846793005ull + 1442695040888963407ull;
        int n = 1 + (int)((st >> 33) % PACK_MAX_CELLS);
        for (int i = 0; i < n; i++) {
            st = st * 6364136223846793005ull + 1442695040888963407ull;
            int pick = (int)((st >> 33) % 100);
            v[i] = pick < 90 ? vals[pick % 4] : pick < 94 ? vals[4] : pick < 98 ? vals[5] : vals[6];
        }
        double hi = v[0], lo = v[0];
        int ihi = 0, ilo = 0;
        for (int i = 1; i < n; i++) {
            if (v[i] > hi) { hi = v[i]; ihi = i; }
            if (v[i] < lo) { lo = v[i]; ilo = i; }
        }
        double gh, gl;
        int gih, gil;
        pack_extremes(v, n, &gh, &gih, &gl, &gil);
        if (gih != ihi || gil != ilo || memcmp(&gh, &hi, sizeof gh) != 0 || memcmp(&gl, &lo, sizeof gl) != 0) {
            CU_FAIL("pack_extremes differs from the scan");
            fprintf(stderr, "rep %d n %d: got %g@%d %g@%d, scan %g@%d %g@%d\n", rep, n, gh, gih, gl, gil, hi,
                    ihi, lo, ilo);
            return;
        }
    }
    CU_PASS("200000 cases");
}

/* The checked step is the plain step to the bit, and its verdict is the standalone scan's:
 * both balancers, self-discharge, a BMS draw, an odd cell count (the vector loop's tail). */
static void test_checked_step_is_the_plain_step(void)
{
    static scn_t s;
    pol_config cfg;
    load_mini(&s, &cfg);
    inv_t v;
    inv_init(&v, &s, &cfg);
    for (int variant = 0; variant < 4; variant++) {
        static pack_t plain, checked;
        int n = variant < 2 ? 16 : 13;
        bare_pack(&plain, n, 0.97, 280.0, 0.22e-3, 0.25e-3, 5e-3, 1.0);
        plain.p.balancer = variant % 2 ? PACK_BAL_PASSIVE : PACK_BAL_ACTIVE;
        plain.p.bal_start_v = 3.30;
        plain.p.bal_trigger_v = 0.0002;
        plain.p.draw_a = 0.02;
        for (int i = 0; i < n; i++) {
            plain.p.cell_soc0[i] = 0.90 + 0.002 * i;
            plain.p.sd_a[i] = 0.001 * (i % 3);
        }
        pack_init(&plain, 1.0);
        checked = plain;
        int balanced = 0;
        for (int t = 1; t <= 3000; t++) {
            double cur = 40.0 * sin(t / 300.0);
            pack_prepare(&plain, 25.0);
            pack_prepare(&checked, 25.0);
            plain.q_bus_as += cur;
            checked.q_bus_as += cur;
            pack_advance(&plain, cur, 1.0, t * 1000, 25.0);
            int bad = pack_advance_checked(&checked, cur, 1.0, t * 1000, 25.0, v.soc_max[0]);
            balanced += checked.bal_on;
            CU_ASSERT_EQUAL_FATAL(bad, 0);
            CU_ASSERT_EQUAL_FATAL(inv_ledger_scan(&v, 0, &checked), 0);
            CU_ASSERT_FATAL(memcmp(plain.soc, checked.soc, sizeof plain.soc) == 0);
            CU_ASSERT_FATAL(memcmp(plain.v1, checked.v1, sizeof plain.v1) == 0);
            CU_ASSERT_FATAL(memcmp(plain.v, checked.v, sizeof plain.v) == 0);
            CU_ASSERT_FATAL(memcmp(plain.q_cell_as, checked.q_cell_as, sizeof plain.q_cell_as) == 0);
            CU_ASSERT_FATAL(plain.q_draw_as == checked.q_draw_as && plain.elapsed_s == checked.elapsed_s);
            CU_ASSERT_FATAL(plain.rep_soc_pct == checked.rep_soc_pct && plain.temp_c == checked.temp_c);
        }
        CU_ASSERT(balanced > 0);   /* the balancer's ledger was exercised */
        /* SOC moved behind the ledgers' back before a step: that step's verdict catches it, in
         * the vector part and in the tail alike. */
        for (int cell = 0; cell < n; cell += n - 1) {
            static pack_t tampered;
            tampered = checked;
            tampered.soc[cell] -= 0.001;
            pack_prepare(&tampered, 25.0);
            CU_ASSERT_EQUAL(pack_advance_checked(&tampered, 0.0, 1.0, 3001000, 25.0, v.soc_max[0]), 1);
            CU_ASSERT_EQUAL(inv_ledger_scan(&v, 0, &tampered), 1);
            /* conserved but overfull */
            tampered = checked;
            pack_set_soc(&tampered, cell, v.soc_max[0] + 0.01);
            pack_prepare(&tampered, 25.0);
            CU_ASSERT_EQUAL(pack_advance_checked(&tampered, 0.0, 1.0, 3001000, 25.0, v.soc_max[0]), 1);
            /* a NaN SOC is off its ledger too (no compare with NaN is true); set after the
             * linearisation, whose OCV lookup a NaN would not survive */
            tampered = checked;
            pack_prepare(&tampered, 25.0);
            tampered.soc[cell] = NAN;
            CU_ASSERT_EQUAL(pack_advance_checked(&tampered, 0.0, 1.0, 3001000, 25.0, v.soc_max[0]), 1);
            CU_ASSERT_EQUAL(inv_ledger_scan(&v, 0, &tampered), 1);
        }
    }
}

static void test_pack_limit_grace(void)
{
    /* Over its own CCL beyond the tolerance: tolerated for the grace, then a violation; a pack
     * discharging into the others while the bank charges is not the controller's doing. */
    static scn_t s;
    pol_config cfg;
    load_mini(&s, &cfg);
    inv_t v;
    pack_t k;
    bare_pack(&k, 16, 0.5, 280.0, 0.22e-3, 0.25e-3, 5e-3, 1.0);
    inv_init(&v, &s, &cfg);
    int64_t grace = (int64_t)(s.grace_s * 1000.0) + 2 * s.poll_ms + s.latency_ms;
    k.i_a = 80.0;   /* CCL 60 A, tolerance max(5 A, 5 %) */
    int64_t t = 1000;
    for (; t <= 1000 + grace; t += 1000)
        CU_ASSERT_TRUE_FATAL(inv_pack(&v, t, 1, &k, 0, 60.0, 100.0, 120.0, true));
    CU_ASSERT_FALSE(inv_pack(&v, t, 1, &k, 0, 60.0, 100.0, 120.0, true));
    CU_ASSERT_STRING_EQUAL(v.name, "pack-ccl");
    CU_ASSERT(strstr(v.msg, "pack 2") != NULL);
    /* within the tolerance: never */
    inv_init(&v, &s, &cfg);
    k.i_a = 64.9;
    for (t = 1000; t < 1000000; t += 1000)
        CU_ASSERT_TRUE_FATAL(inv_pack(&v, t, 1, &k, 0, 60.0, 100.0, 120.0, true));
    /* discharging 30 A into the others against a DCL of 0 while the bank charges: not judged */
    inv_init(&v, &s, &cfg);
    k.i_a = -30.0;
    for (t = 1000; t < 1000000; t += 1000)
        CU_ASSERT_TRUE_FATAL(inv_pack(&v, t, 1, &k, 0, 60.0, 0.0, 4.0, true));
    /* the same pack while the bank discharges: judged, and caught after the grace */
    CU_ASSERT_TRUE(inv_pack(&v, t, 1, &k, 0, 60.0, 0.0, -10.0, true));
    CU_ASSERT_FALSE(inv_pack(&v, t + grace + 1000, 1, &k, 0, 60.0, 0.0, -10.0, true));
    CU_ASSERT_STRING_EQUAL(v.name, "pack-dcl");
    /* a pack the controller cannot see (its readings are lost): only its own BMS can honour its
     * limits; judged again, after a fresh grace, once it is visible */
    inv_init(&v, &s, &cfg);
    for (t = 1000; t < 1000000; t += 1000)
        CU_ASSERT_TRUE_FATAL(inv_pack(&v, t, 1, &k, 0, 60.0, 0.0, -10.0, false));
    for (int64_t t0 = t; t <= t0 + grace; t += 1000)
        CU_ASSERT_TRUE_FATAL(inv_pack(&v, t, 1, &k, 0, 60.0, 0.0, -10.0, true));
    CU_ASSERT_FALSE(inv_pack(&v, t + 1000, 1, &k, 0, 60.0, 0.0, -10.0, true));
}

/* The trace's own decimal conversion gives printf's bytes: every exponent the fast path takes
 * (zero, subnormals, up to 1e12), exact halves (round half to even), values just beside the
 * decimals' boundaries, both signs, 0 to 5 decimals; and the fallback beyond. */
static void test_trace_fixed_is_printf(void)
{
    uint64_t st = 0x9e3779b97f4a7c15ull;
    char want[400], got[400];
    long checked = 0;
    for (long i = 0; i < 600000; i++) {
        st ^= st << 13;
        st ^= st >> 7;
        st ^= st << 17;
        double x;
        switch (i % 4) {
        case 0: {   /* any bit pattern below 2^41 or so (exponent field up to 1063), either sign */
            uint64_t b = st & ~(UINT64_C(0x7ff) << 52);
            b |= (st >> 11) % 1064 << 52;
            memcpy(&x, &b, sizeof x);
            break;
        }
        case 1:   /* decimals that printf must round: k / 10^d, and exact halves k / 2^j */
            x = (double)(int64_t)(st % 2000000001u - 1000000000) / pow(10.0, (double)((st >> 40) % 7));
            break;
        case 2:
            x = (double)(int64_t)(st % 200001u - 100000) / (double)(1u << ((st >> 33) % 12));
            break;
        default: {   /* one ulp beside a decimal boundary */
            double d = (double)(int64_t)(st % 20000001u - 10000000) / pow(10.0, (double)((st >> 40) % 6));
            x = nextafter(d, (st >> 63) ? INFINITY : -INFINITY);
            break;
        }
        }
        int dec = (int)((st >> 20) % 6);
        snprintf(want, sizeof want, "%.*f", dec, x);
        *trc_fixed(got, x, dec) = '\0';
        if (strcmp(want, got) != 0) {
            CU_FAIL("trc_fixed differs from printf");
            fprintf(stderr, "x=%a dec=%d printf=%s trc_fixed=%s\n", x, dec, want, got);
            return;
        }
        checked++;
    }
    double edge[] = {0.0, -0.0, 5e-324, -5e-324, 0.5, 1.5, 2.5, -2.5, 0.125, 0.375, 999999999999.99,
                     999999999999.5, -999999999999.5,
                     1e12, -1e12, 1e300, INFINITY, -INFINITY, NAN};
    for (size_t i = 0; i < sizeof edge / sizeof edge[0]; i++)
        for (int dec = 0; dec <= 5; dec++) {
            snprintf(want, sizeof want, "%.*f", dec, edge[i]);
            *trc_fixed(got, edge[i], dec) = '\0';
            CU_ASSERT_STRING_EQUAL(got, want);
        }
    CU_ASSERT_EQUAL(checked, 600000);
}

/* Forked workers: every result lands at its index, whatever order they finish in; a worker that
 * dies costs its own row only, and the caller is told how it died. */
typedef struct {
    long value;
    int lost_signal;
    long done_calls;
} wk_row;

static void wk_test_job(long i, void *result, void *ctx)
{
    (void)ctx;
    if (i == 5)
        abort();               /* a crashing run */
    if (i == 7)
        _exit(4);              /* one that exits before sending anything */
    /* Later jobs finish first: the order of completion is not the order of the results. */
    struct timespec ts = {0, 1000000L * (12 - i)};
    nanosleep(&ts, NULL);
    ((wk_row *)result)->value = i * i;
}

static void wk_test_lost(long i, int st, void *result, void *ctx)
{
    (void)i;
    (void)ctx;
    ((wk_row *)result)->value = -1;
    ((wk_row *)result)->lost_signal = WIFSIGNALED(st) ? WTERMSIG(st) : -WEXITSTATUS(st);
}

static void wk_test_done(long i, long n_done, void *result, void *ctx)
{
    (void)i;
    (void)result;
    long *calls = ctx;
    CU_ASSERT_EQUAL(n_done, *calls + 1);
    (*calls)++;
}

static void test_workers(void)
{
    wk_row rows[12];
    memset(rows, 0x55, sizeof rows);
    long calls = 0;
    wk_spec w = {sizeof rows[0], rows, wk_test_job, wk_test_lost, wk_test_done, &calls};
    CU_ASSERT_EQUAL(wk_run(&w, 12, 3), 0);
    CU_ASSERT_EQUAL(calls, 12);
    for (long i = 0; i < 12; i++) {
        if (i == 5) {
            CU_ASSERT_EQUAL(rows[i].value, -1);
            CU_ASSERT_EQUAL(rows[i].lost_signal, SIGABRT);
        } else if (i == 7) {
            CU_ASSERT_EQUAL(rows[i].value, -1);
            CU_ASSERT_EQUAL(rows[i].lost_signal, -4);
        } else {
            CU_ASSERT_EQUAL(rows[i].value, i * i);
            CU_ASSERT_EQUAL(rows[i].lost_signal, 0);   /* handed to the job zeroed */
        }
    }
}

/* The loader names file, line, section and key for every kind of mistake. */
static void expect_load_error(const char *text, const char *want)
{
    static scn_t s;
    char err[SCN_ERR_LEN];
    err[0] = '\0';
    int rc = scn_load_string(text, "t.ini", &s, err, sizeof err);
    CU_ASSERT_EQUAL(rc, -1);
    if (!strstr(err, want))
        printf("\n  got '%s', want '%s'\n", err, want);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, want));
}

static void test_loader_errors(void)
{
    expect_load_error("[scenario]\ndays = 2\nfrobnicate = 1\n", "t.ini:3: [scenario] frobnicate: unknown key");
    expect_load_error("[scenario]\n\ndays = two\n", "t.ini:3: [scenario] days: 'two' is not a number");
    expect_load_error("[scenario]\ndays = 1e9\n", "t.ini:2: [scenario] days:");
    expect_load_error("[nonsense]\nx = 1\n", "t.ini:2: [nonsense] x: unknown section");
    /* A line longer than inih's buffer: named, not parsed as two lines. */
    {
        static char longer[600];
        snprintf(longer, sizeof longer, "[scenario]\ndays = 1\ndescription = %0300d\ndays = 2\n", 0);
        expect_load_error(longer, "t.ini:3: line too long");
    }
    expect_load_error("[bank]\npacks = 3\n[pack.7]\nsoc_pct = 5\n", "t.ini:4: [pack.7]: the bank has only 3 packs");
    expect_load_error("[pack.2]\nsoc_pct = 120\n", "t.ini:2: [pack.2] soc_pct: '120' is not a number in 0..100");
    expect_load_error("[pack]\nbalancer = magic\n", "t.ini:2: [pack] balancer: 'magic' is not none, passive or active");
    expect_load_error("[bank]\nmode = turbo\n", "t.ini:2: [bank] mode:");
    expect_load_error("[scenario]\ninclude = /nonexistent/common.ini\n", "/nonexistent/common.ini: cannot open");
    expect_load_error("[pack.1]\novp_v = 3.4\novpr_v = 3.5\n", "[pack.1]: ovpr_v must be below ovp_v");
    expect_load_error("[scenario]\nstep_ms = 1000\npoll_ms = 2500\n", "multiples of step_ms");
    expect_load_error("garbage line\n", "t.ini:1: syntax error");

    /* events CSV: file:line: column */
    const char *path = "test_sim_events.csv";
    FILE *f = fopen(path, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fputs("time_s,kind,pack,value,duration_s\n100,spike,1,0.3,10\n200,explode,1,0,0\n", f);
    fclose(f);
    expect_load_error("[scenario]\nevents = test_sim_events.csv\n",
                      "test_sim_events.csv:3: kind: unknown event 'explode'");
    f = fopen(path, "w");
    fputs("time_s,kind,pack,value,duration_s\n100,spike,9,0.3,10\n", f);
    fclose(f);
    expect_load_error("[scenario]\nevents = test_sim_events.csv\n", "test_sim_events.csv:2: pack:");
    /* a good one, without the final newline (the last row comes through csv_fini) */
    f = fopen(path, "w");
    fputs("time_s,kind,pack,value,duration_s\n300,dropout,2,0,47\n100,spike,all,0.3,10", f);
    fclose(f);
    static scn_t s;
    char err[SCN_ERR_LEN];
    CU_ASSERT_EQUAL(scn_load_string("[scenario]\nevents = test_sim_events.csv\n", "t.ini", &s, err,
                                    sizeof err),
                    0);
    CU_ASSERT_EQUAL(s.n_events, 2);
    CU_ASSERT_EQUAL(s.ev[0].t_ms, 100000);   /* sorted by time */
    CU_ASSERT_EQUAL(s.ev[0].pack, -1);
    CU_ASSERT_EQUAL(s.ev[1].kind, SCN_EV_DROPOUT);
    CU_ASSERT_EQUAL(s.ev[1].dur_ms, 47000);
    remove(path);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 2;
    CU_pSuite s = CU_add_suite("sim", NULL, NULL);
    CU_add_test(s, "ocv table (anchors, monotonic, steep past 100 %)", test_ocv_table);
    CU_add_test(s, "bus: circulating current dE/(Ra+Rb)", test_bus_circulating);
    CU_add_test(s, "bus: homogeneous I/P, pack order (metamorphic)", test_bus_homogeneous_and_order);
    CU_add_test(s, "bus: FET active set", test_bus_fet_active_set);
    CU_add_test(s, "cell: CC into linear OCV matches closed form", test_cc_linear_ocv);
    CU_add_test(s, "bank: rest equalisation with tau_eq", test_rest_equalisation_tau);
    CU_add_test(s, "bank: scaling capacity and current by k (metamorphic)", test_scaling_invariance);
    CU_add_test(s, "bank: 1-pack fleet equals the pack alone", test_one_pack_fleet);
    CU_add_test(s, "bms: OVP delay and release", test_bms_ovp_delay_release);
    CU_add_test(s, "bms: reported SOC offset drift", test_reported_soc_offset_drift);
    CU_add_test(s, "workers: results by index, a dying worker costs its row only", test_workers);
    CU_add_test(s, "run: same seed same hash, other seed other, checkpoint/restore same", test_determinism_hash);
    CU_add_test(s, "invariants catch a bad controller", test_invariants_catch_bad_controller);
    CU_add_test(s, "invariants: the bank's current sum", test_current_sum);
    CU_add_test(s, "invariants: charge conservation", test_charge_conservation_catches_tampering);
    CU_add_test(s, "invariants: the checked step is the plain step, its verdict the scan's", test_checked_step_is_the_plain_step);
    CU_add_test(s, "pack: the vector extremes are the scan's", test_extremes_are_the_scan);
    CU_add_test(s, "invariants: pack CCL/DCL tolerance and grace", test_pack_limit_grace);
    CU_add_test(s, "trace: the fixed-point writer gives printf's bytes", test_trace_fixed_is_printf);
    CU_add_test(s, "scenario loader: file:line: [section] key errors", test_loader_errors);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned fails = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    return fails ? 1 : 0;
}
