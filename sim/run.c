/* The simulation loop: fixed step, int64 ms time, events, profile, bus solve, BMS, the core at the poll
 * interval with latency, invariants every step, decimated trace, final state hash. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bus.h"
#include "invariant.h"
#include "pack.h"
#include "profile.h"
#include "run.h"
#include "trace.h"

#define QN 8

typedef struct {
    int64_t deliver_ms;
    rdg_reading r[SCN_MAX_PACKS];
    /* r[k] holds a whole reading of pack k, whose fields that never change (its label, capacity,
     * CVL, the alarms it does not have) are in place: a poll writes only the others. */
    bool whole[SCN_MAX_PACKS];
} snapshot;

/* The loop's own state, kept in the context so a copy of the context is a complete checkpoint. */
typedef struct {
    bool full;      /* controller, invariants, trace (else the bare physics of the benchmark) */
    bool world;     /* events, profile, chargers and inverter (else packs and bus on a fixed pattern) */
    bool ok;
    int64_t t;
    double ccl_cmd, dcl_cmd, cvl_cmd;
    bool have_out;
    double v_bus;
    int ev_next;
    int last_pct;
    double unserved_ws, unserved_w_win;
    double charged_as, discharged_as;   /* sums of the packs' step currents; times dt at the end */
    int64_t win_start_ms;               /* the trace window's start: the last row's time */
    bool saw_ccl_below, saw_ccl_zero, saw_cable, saw_reach;
    double ccl_below_s, ccl_zero_s, cable_s, reach_s;
    double pv_w, load_w;
    double win_ccl_min;                 /* lowest CCL since the last trace row */
    double episode_start, shortest_episode;   /* red-alert episodes */
    double ambient_base;
    /* Next poll and trace times: a compare per step instead of two 64-bit divisions. */
    int64_t next_poll_ms, next_trace_ms;
    size_t cmd_next;   /* bare replay: the next recorded command */
} run_loop;

typedef struct {
    run_loop L;
    pack_t pack[SCN_MAX_PACKS];
    /* fault windows from events (end times; INT64_MAX = for good) */
    int64_t spike_until[SCN_MAX_PACKS];
    double spike_v[SCN_MAX_PACKS];
    int64_t drop_until[SCN_MAX_PACKS];
    int64_t nan_until[SCN_MAX_PACKS];
    int64_t range_until[SCN_MAX_PACKS];
    double range_v[SCN_MAX_PACKS];
    int64_t missing_until[SCN_MAX_PACKS];
    int64_t fault_until[SCN_MAX_PACKS];   /* the latest of the four reading-fault windows above */
    int64_t reconnect_at[SCN_MAX_PACKS];
    int64_t plain_from_ms;                /* see update_plain_from */
    int64_t step_until;
    double step_a;
    double ambient_offset_c;
    snapshot q[QN];
    int q_head, q_len;
    pol_state ctrl;
    pol_output out;
    inv_t inv;
    prof_t prof;
    bus_t bus;
    double i_k[SCN_MAX_PACKS];
} run_ctx;

static void uhash(uint64_t *h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        *h ^= b[i];
        *h *= 0x100000001b3ull;
    }
}

static bool active(int64_t until, int64_t now)
{
    return until > now;
}

static int64_t end_of(int64_t t, int64_t dur)
{
    return dur < 0 ? INT64_MAX : t + dur;
}

/* The time from which every pack is connected and without a dropout or a reading fault, so that
 * a poll writes plain readings (INT64_MAX while a pack is disconnected): after the events and
 * reconnections that change it. */
static void update_plain_from(run_ctx *x, int n)
{
    int64_t from = 0;
    for (int k = 0; k < n; k++) {
        if (!x->pack[k].connected)
            from = INT64_MAX;
        if (x->drop_until[k] > from)
            from = x->drop_until[k];
        if (x->fault_until[k] > from)
            from = x->fault_until[k];
    }
    x->plain_from_ms = from;
}

/* A reading-fault window of pack k ends at until: fault_until stays the latest of them. */
static void widen_fault(run_ctx *x, int k, int64_t until)
{
    if (until > x->fault_until[k])
        x->fault_until[k] = until;
}

static void apply_event(run_ctx *x, const scn_t *s, const scn_event *e)
{
    int k0 = e->pack < 0 ? 0 : e->pack, k1 = e->pack < 0 ? s->n_packs : e->pack + 1;
    int64_t until = end_of(e->t_ms, e->dur_ms);
    if (e->kind == SCN_EV_CURRENT_STEP) {
        x->step_until = until;
        x->step_a = e->value;
        return;
    }
    if (e->kind == SCN_EV_AMBIENT) {
        x->ambient_offset_c += e->value;
        return;
    }
    for (int k = k0; k < k1; k++) {
        pack_t *p = &x->pack[k];
        switch (e->kind) {
        case SCN_EV_SPIKE:
            x->spike_until[k] = until;
            widen_fault(x, k, until);
            x->spike_v[k] = e->value;
            break;
        case SCN_EV_BMS_TRIP:
            p->forced_chg_until_ms = until;
            if (e->value >= 1.0)
                p->forced_dis_until_ms = until;
            break;
        case SCN_EV_DROPOUT:
            x->drop_until[k] = until;
            break;
        case SCN_EV_DISCONNECT:
            p->connected = false;
            x->drop_until[k] = until;
            x->reconnect_at[k] = e->dur_ms < 0 ? -1 : until;
            break;
        case SCN_EV_ADD_PACK: {
            double target = e->value / 100.0, mean = pack_true_soc_pct(p) / 100.0;
            for (int i = 0; i < p->p.n_cells; i++)
                pack_set_soc(p, i, p->soc[i] + (target - mean));
            p->rep_soc_pct = e->value;
            p->connected = true;
            x->drop_until[k] = -1;
            break;
        }
        case SCN_EV_SOC_DRIFT:
            p->rep_soc_pct += e->value;
            if (p->rep_soc_pct > 100.0) p->rep_soc_pct = 100.0;
            if (p->rep_soc_pct < 0.0) p->rep_soc_pct = 0.0;
            break;
        case SCN_EV_NAN:
            x->nan_until[k] = until;
            widen_fault(x, k, until);
            break;
        case SCN_EV_RANGE:
            x->range_until[k] = until;
            widen_fault(x, k, until);
            x->range_v[k] = e->value;
            break;
        case SCN_EV_MISSING:
            x->missing_until[k] = until;
            widen_fault(x, k, until);
            break;
        default:
            break;
        }
    }
}

/* What pack k's BMS driver publishes now, without the scenario's faults, into r, whose constant
 * fields (from the pack's parameters, which no event changes) are in place if *whole (which says
 * so afterwards). */
static inline __attribute__((always_inline)) void plain_reading(const pack_t *p, int k, rdg_reading *r, bool *whole)
{
    /* Every field written once, directly (no rdg_clear first): this runs every poll for every
     * pack. The alarms the simulated BMS has are the two cell-voltage ones; the rest stay 0. */
    if (!*whole) {
        r->fresh = true;
        r->label = k + 1;
        r->installed_cap_ah = p->p.rep_cap_ah;
        r->cvl_v = pack_cvl_v(p);
        memset(r->alarm, 0, sizeof r->alarm);
        r->alarm_present = RDG_BIT(RDG_AL_HIGH_CELL_VOLTAGE) | RDG_BIT(RDG_AL_LOW_CELL_VOLTAGE);
        *whole = true;
    }
    double meas = p->i_a * (1.0 + p->p.rep_gain) + p->p.rep_offset_a;
    double soc = pack_reported_soc(p);
    r->soc_pct = soc;
    r->voltage_v = p->v_term;
    r->current_a = meas;
    r->power_w = meas * p->v_term;
    r->temperature_c = p->temp_c;
    r->min_cell_v = p->vmin;
    r->max_cell_v = p->vmax;
    r->min_cell_id = p->imin + 1;
    r->max_cell_id = p->imax + 1;
    r->remaining_cap_ah = soc / 100.0 * p->p.rep_cap_ah;
    r->consumed_ah = p->rep_consumed_ah;
    r->ccl_a = pack_ccl_a(p);
    r->dcl_a = pack_dcl_a(p);
    r->allow_charge = p->chg_fet;
    r->allow_discharge = p->dis_fet;
    r->present = RDG_BIT(RDG_SOC) | RDG_BIT(RDG_VOLTAGE) | RDG_BIT(RDG_CURRENT) | RDG_BIT(RDG_POWER) |
                 RDG_BIT(RDG_TEMPERATURE) | RDG_BIT(RDG_MIN_CELL) | RDG_BIT(RDG_MAX_CELL) |
                 RDG_BIT(RDG_INSTALLED_CAP) | RDG_BIT(RDG_REMAINING_CAP) | RDG_BIT(RDG_CONSUMED_AH) |
                 RDG_BIT(RDG_CVL) | RDG_BIT(RDG_CCL) | RDG_BIT(RDG_DCL) | RDG_BIT(RDG_ALLOW_CHARGE) |
                 RDG_BIT(RDG_ALLOW_DISCHARGE);
    r->alarm[RDG_AL_HIGH_CELL_VOLTAGE] = p->ovp ? 2 : 0;
    r->alarm[RDG_AL_LOW_CELL_VOLTAGE] = p->uvp ? 2 : 0;
}

/* plain_reading with the scenario's dropouts and reading faults applied. */
static void make_reading(run_ctx *x, int k, int64_t now, rdg_reading *r, bool *whole)
{
    const pack_t *p = &x->pack[k];
    if (!p->connected || active(x->drop_until[k], now)) {
        rdg_clear(r);
        r->label = k + 1;
        *whole = false;
        return;   /* not fresh: the core keeps the last reading until the pack goes stale */
    }
    plain_reading(p, k, r, whole);
    if (active(x->fault_until[k], now)) {
        if (active(x->spike_until[k], now))
            r->max_cell_v += x->spike_v[k];
        if (active(x->nan_until[k], now))
            r->soc_pct = NAN;
        if (active(x->range_until[k], now))
            r->soc_pct = x->range_v[k];
        if (active(x->missing_until[k], now))
            r->present &= ~(RDG_BIT(RDG_SOC) | RDG_BIT(RDG_MIN_CELL) | RDG_BIT(RDG_MAX_CELL));
    }
}

/* The spread of the connected packs' true SOCs, given as soc_pct[0..n) (0 with none). */
static double spread_of(const run_ctx *x, const double *soc_pct, int n)
{
    double lo = INFINITY, hi = -INFINITY;
    for (int k = 0; k < n; k++) {
        if (!x->pack[k].connected)
            continue;
        lo = soc_pct[k] < lo ? soc_pct[k] : lo;
        hi = soc_pct[k] > hi ? soc_pct[k] : hi;
    }
    return hi >= lo ? hi - lo : 0.0;
}

/* Folds each pack's extreme cells since the last window into the run's highest cell, and starts
 * a new window: at each trace row and at the end of a run. */
static void fold_window(run_ctx *x, int n, run_result *r)
{
    for (int k = 0; k < n; k++) {
        pack_t *p = &x->pack[k];
        if (p->win_vmax > r->max_cell_v)
            r->max_cell_v = p->win_vmax;
        p->win_vmax = -INFINITY;
        p->win_vmin = INFINITY;
    }
}

static double spread_true(const run_ctx *x, const scn_t *s)
{
    double soc[SCN_MAX_PACKS];
    for (int k = 0; k < s->n_packs; k++)
        soc[k] = pack_true_soc_pct(&x->pack[k]);
    return spread_of(x, soc, s->n_packs);
}

int run_mkdir_p(const char *dir)
{
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", dir);
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            if (mkdir(buf, 0777) != 0 && errno != EEXIST)
                return -1;
            *p = '/';
        }
    if (mkdir(buf, 0777) != 0 && errno != EEXIST)
        return -1;
    return 0;
}

static void progress(int64_t t, int64_t end, int *last_pct)
{
    int pct = (int)(100 * t / (end > 0 ? end : 1));
    if (pct == *last_pct)
        return;
    *last_pct = pct;
    char bar[41];
    for (int i = 0; i < 40; i++)
        bar[i] = i < pct * 40 / 100 ? '#' : '.';
    bar[40] = '\0';
    fprintf(stderr, "\r[%s] %3d%%  day %.1f", bar, pct, (double)t / 86400000.0);
    if (pct >= 100)
        fputc('\n', stderr);
    fflush(stderr);
}

static void loop_init(run_ctx *x, const scn_t *s, const pol_config *cfg, const run_opts *o)
{
    run_loop *L = &x->L;
    L->full = !o->bare_physics && !o->packs_only;
    L->world = !o->packs_only;
    L->ok = L->full ? inv_static(&x->inv) : true;
    L->ccl_cmd = 0.0;
    L->dcl_cmd = 0.0;
    L->cvl_cmd = cfg->fallback_cvl_v;
    L->have_out = false;
    L->cmd_next = 0;
    L->v_bus = NAN;
    L->ev_next = 0;
    L->last_pct = -1;
    L->unserved_ws = L->unserved_w_win = 0.0;
    L->charged_as = L->discharged_as = 0.0;
    L->win_start_ms = 0;
    L->saw_ccl_below = L->saw_ccl_zero = L->saw_cable = L->saw_reach = false;
    L->ccl_below_s = L->ccl_zero_s = L->cable_s = L->reach_s = -1;
    L->pv_w = L->load_w = 0.0;
    L->win_ccl_min = INFINITY;
    L->episode_start = -1;
    L->shortest_episode = INFINITY;
    L->ambient_base = s->ambient_c;
    L->t = 0;
    L->next_poll_ms = L->next_trace_ms = 0;
}

void run_cmds_free(run_cmds *c)
{
    free(c->cmd);
    c->cmd = NULL;
    c->n = c->cap = 0;
}

/* Appends a tick's commands; on out of memory the recording just stops growing (the benchmark
 * then sees a shorter replay and says so: the final hashes differ). */
static void record_cmd(run_cmds *c, int64_t t_ms, const run_loop *L)
{
    if (c->n == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 4096;
        run_cmd *grown = realloc(c->cmd, cap * sizeof *grown);
        if (!grown)
            return;
        c->cmd = grown;
        c->cap = cap;
    }
    c->cmd[c->n++] = (run_cmd){t_ms, L->ccl_cmd, L->dcl_cmd, L->cvl_cmd};
}

/* Whether t_ms is a multiple of period_ms, for t_ms rising from call to call: the same answer
 * as t_ms % period_ms == 0 at the cost of a compare. *next_ms is the first multiple not yet
 * passed (a step that does not land on one moves it on). */
static bool due(int64_t *next_ms, int64_t t_ms, int64_t period_ms)
{
    if (t_ms < *next_ms)
        return false;   /* the usual step: not yet */
    while (*next_ms < t_ms)
        *next_ms += period_ms;
    if (*next_ms != t_ms)
        return false;
    *next_ms += period_ms;
    return true;
}

/* One row of the decimated trace at t_end, which also starts the next window. Out of line: a row
 * is due once a trace interval, and the step's loop is smaller without it. */
static __attribute__((noinline)) void trace_row(run_ctx *x, const scn_t *s, run_result *r, FILE *trace,
                                                int64_t t_end, double i_bank)
{
    run_loop *L = &x->L;
    const int n = s->n_packs;
    trc_bank b;
    trc_pack tp[SCN_MAX_PACKS];
    b.t_h = (double)t_end / 3600000.0;
    b.pv_w = L->pv_w;
    b.load_w = L->load_w;
    b.i_bank_a = i_bank;
    b.v_bus_v = isfinite(L->v_bus) ? L->v_bus : 0.0;
    b.ccl_a = L->ccl_cmd;
    b.ccl_min_a = L->win_ccl_min < INFINITY ? L->win_ccl_min : L->ccl_cmd;
    L->win_ccl_min = INFINITY;
    b.dcl_a = L->dcl_cmd;
    b.cvl_v = L->cvl_cmd;
    b.tier = x->out.tier;
    b.tier_ccl_a = x->out.tier_ccl_a;
    b.spread_pct = x->out.spread_valid ? x->out.spread_pct : -1.0;
    b.soc_pct = x->out.soc_valid ? x->out.soc_pct : -1.0;
    b.red = x->out.red_alert;
    b.cable = x->out.alarm[RDG_AL_BMS_CABLE];
    /* The window's steps, from its times: every step runs to here (a violation ends the
     * run before its row). */
    int64_t win_steps = (t_end - L->win_start_ms) / s->step_ms;
    b.unserved_w = L->unserved_w_win / (double)(win_steps > 0 ? win_steps : 1);
    double soc[SCN_MAX_PACKS];   /* each pack's true SOC, once, for its column and the spread */
    for (int k = 0; k < n; k++) {
        const pack_t *p = &x->pack[k];
        soc[k] = tp[k].soc_true_pct = pack_true_soc_pct(p);
        tp[k].soc_rep_pct = pack_reported_soc(p);
        tp[k].i_a = p->i_a;
        tp[k].vmax_v = p->win_vmax;
        tp[k].vmin_v = p->win_vmin;
        tp[k].temp_c = p->temp_c;
        tp[k].ccl_a = pack_ccl_a(p);
        tp[k].chg_fet = p->chg_fet;
        tp[k].online = x->out.pack[k].state == POL_PACK_ONLINE;
    }
    fold_window(x, n, r);
    b.true_spread_pct = spread_of(x, soc, n);
    trc_row(trace, &b, tp, n);
    L->unserved_w_win = 0.0;
    L->win_start_ms = t_end;
}

/* The full run's step of the packs, with j (the judge of the step, from inv_judge_for) a constant
 * where it is inlined. The checked step also keeps each pack's extreme cells for the trace window
 * and the run's highest cell (folded in at each trace row and at the end). Each pack is judged as
 * soon as it has stepped, against its own limits and the controller's last view of it; after a
 * violation the others still step (the final state is the step's), unjudged. The step's pack
 * currents are summed on the way into *sum_a: for the bank's current sum, judged after the packs
 * (a step's violations are taken in that order); and the part that charges into *chg_a, for the
 * run's throughput (what discharges is the difference). Returns false on a violation. */
static inline __attribute__((always_inline)) bool step_checked(run_ctx *x, int n, double dt_s, int64_t t_end,
                                                               double ambient, double i_bank, inv_judge j,
                                                               double *sum_a, double *chg_a)
{
    bool ok = true;
    double sum = 0.0, chg = 0.0;
    for (int k = 0; k < n; k++) {
        pack_t *p = &x->pack[k];
        const double i = x->i_k[k];
        sum += i;
        chg += i > 0.0 ? i : 0.0;
        p->q_bus_as += i * dt_s;   /* the bus side's ledger, for the invariant */
        int ledger_bad = pack_advance_checked(p, i, dt_s, t_end, ambient, x->inv.soc_max[k]);
        if (ok)
            ok = inv_pack_step(&x->inv, t_end, k, p, ledger_bad, true, NAN, NAN, i_bank,
                               x->out.pack[k].state == POL_PACK_ONLINE ? j : INV_JUDGE_NONE);
    }
    *sum_a = sum;
    *chg_a = chg;
    return ok;
}

/* loop_run's steps, with full (L->full) a constant: inlined into a function for the full run
 * and one for the bare physics, so that each is compiled for itself (one loop for both had the
 * full run's code competing with the bare physics for registers). */
static inline __attribute__((always_inline)) void loop_steps(run_ctx *x, const scn_t *s, const pol_config *cfg,
                                                             const run_opts *o, run_result *r, int64_t end_ms,
                                                             FILE *trace, run_ctx **checkpoint,
                                                             run_result *checkpoint_r, const bool full)
{
    run_loop *L = &x->L;
    const int n = s->n_packs;
    const double dt_s = (double)s->step_ms / 1000.0;
    for (; L->ok && L->t < end_ms; L->t += s->step_ms) {
        if (checkpoint && L->t == o->checkpoint_ms && !*checkpoint) {
            /* Everything the run depends on lives in the context: a copy of it is a checkpoint. */
            *checkpoint = malloc(sizeof **checkpoint);
            if (*checkpoint) {
                **checkpoint = *x;
                *checkpoint_r = *r;
            }
        }
        /* 1. Events due now, and reconnections. */
        bool events = false;
        while (L->world && L->ev_next < s->n_events && s->ev[L->ev_next].t_ms <= L->t) {
            apply_event(x, s, &s->ev[L->ev_next++]);
            events = true;
        }
        for (int k = 0; k < n; k++)
            if (x->reconnect_at[k] >= 0 && L->t >= x->reconnect_at[k]) {
                x->pack[k].connected = true;
                x->reconnect_at[k] = -1;
                events = true;
            }
        if (full && events)
            update_plain_from(x, n);

        /* 2. Ambient and each pack's linearisation. */
        /* Ambient moves slowly: once a minute is plenty and keeps sin() out of the step cost. */
        if (L->t % 60000 == 0 || L->t == 0) {
            double hour = (double)(L->t % 86400000) / 3600000.0;
            L->ambient_base = s->ambient_c + s->ambient_swing_c * sin(6.283185307179586 * (hour - 9.0) / 24.0);
        }
        double ambient = L->ambient_base + x->ambient_offset_c;
        double e_min = INFINITY;
        for (int k = 0; k < n; k++) {
            pack_t *p = &x->pack[k];
            pack_prepare(p, ambient);
            x->bus.e_v[k] = p->e_v;
            x->bus.g_s[k] = p->g_s;
            x->bus.can_chg[k] = p->chg_fet;
            x->bus.can_dis[k] = p->dis_fet;
            x->bus.connected[k] = p->connected;
            if (p->connected && p->e_v < e_min)
                e_min = p->e_v;
        }

        /* 3. What the bank is asked to carry. */
        double i_target, i_bank = 0.0;
        bool solved = L->world;
        if (L->world) {
            prof_at(&x->prof, L->t, &L->pv_w, &L->load_w);
            double vref = isfinite(L->v_bus) ? L->v_bus : (isfinite(e_min) ? e_min : 51.2);
            double i_pv = L->pv_w * s->eta_mppt / vref;
            double i_load = L->load_w / s->eta_inv / vref;
            if (active(x->step_until, L->t)) {
                if (x->step_a > 0.0)
                    i_pv += x->step_a;
                else
                    i_load -= x->step_a;
            }
            double net = i_pv - i_load;
            double dis_max = fmin(L->dcl_cmd, s->inverter_max_a);
            if (net >= 0.0) {
                /* DVCC: chargers obey CCL, except DC-coupled feed-in, which obeys only CVL. */
                double chg_max = s->dc_feed_in ? s->charger_max_a : fmin(L->ccl_cmd, s->charger_max_a);
                i_target = fmin(net, chg_max);
            } else {
                i_target = fmax(net, -dis_max);
                L->unserved_ws += (-net - dis_max > 0.0 ? (-net - dis_max) * vref : 0.0) * dt_s;
                L->unserved_w_win += (-net - dis_max > 0.0 ? (-net - dis_max) * vref : 0.0);
            }
            /* Constant-voltage regulation: the chargers hold the bus at CVL; the battery may
             * then even supply the loads, so the current is bounded below by what they draw. */
            if (!L->have_out)
                i_target = 0.0;
            double v_try;
            i_bank = bus_solve_current(&x->bus, i_target, x->i_k, &v_try);
            L->v_bus = v_try;
            if (L->have_out && isfinite(v_try) && v_try > L->cvl_cmd && i_target > -dis_max) {
                double i_cv = bus_current_at_voltage(&x->bus, L->cvl_cmd);
                double floor_a = -fmin(i_load, dis_max);
                i_target = fmax(fmin(i_target, i_cv), floor_a);
                solved = false;   /* the CV current differs: solve again below */
            }
        } else {
            /* Bench: a fixed daily pattern with no controller: a triangle wave of +-60 A
             * (piecewise linear, so no libm call is charged to the physics). */
            double ph = (double)(L->t % 86400000) / 86400000.0;
            i_target = ph < 0.5 ? 240.0 * (ph < 0.25 ? ph : 0.5 - ph) : -240.0 * (ph < 0.75 ? ph - 0.5 : 1.0 - ph);
        }
        if (!solved)
            i_bank = bus_solve_current(&x->bus, i_target, x->i_k, &L->v_bus);
        /* 4. Advance the packs. */
        int64_t t_end = L->t + s->step_ms;
        if (!full) {
            for (int k = 0; k < n; k++)
                pack_advance(&x->pack[k], x->i_k[k], dt_s, t_end, ambient);
        } else {
            /* One loop for each direction the bank flows, so that the checks of the others drop
             * out of it (the judge is the same for every pack). */
            const inv_judge j = inv_judge_for(&x->inv, i_bank);
            double sum_a = 0.0, chg_a = 0.0;
            if (j == INV_JUDGE_CCL)
                L->ok = step_checked(x, n, dt_s, t_end, ambient, i_bank, INV_JUDGE_CCL, &sum_a, &chg_a);
            else if (j == INV_JUDGE_DCL)
                L->ok = step_checked(x, n, dt_s, t_end, ambient, i_bank, INV_JUDGE_DCL, &sum_a, &chg_a);
            else
                L->ok = step_checked(x, n, dt_s, t_end, ambient, i_bank, j, &sum_a, &chg_a);
            if (L->ok)
                L->ok = inv_sum(&x->inv, L->t, i_bank, &x->bus, x->i_k, sum_a);
            L->charged_as += chg_a;
            L->discharged_as += chg_a - sum_a;
        }
        r->steps++;
        r->cell_steps += (double)(n * s->n_cells);
        if (!full && o->replay_cmds) {
            /* The commands the full run's controller gave, at the step it gave them. */
            const run_cmds *c = o->replay_cmds;
            for (; L->cmd_next < c->n && c->cmd[L->cmd_next].t_ms <= t_end; L->cmd_next++) {
                const run_cmd *cmd = &c->cmd[L->cmd_next];
                L->have_out = true;
                L->ccl_cmd = cmd->ccl_a;
                L->dcl_cmd = cmd->dcl_a;
                L->cvl_cmd = cmd->cvl_v;
            }
        }
        if (!full || !L->ok)
            continue;

        /* 5. Poll: snapshot the BMS readings; they reach the core after the latency. */
        if (due(&L->next_poll_ms, t_end, s->poll_ms)) {
            if (x->q_len < QN) {
                snapshot *q = &x->q[(x->q_head + x->q_len) % QN];
                q->deliver_ms = t_end + s->latency_ms;
                if (t_end >= x->plain_from_ms)
                    for (int k = 0; k < n; k++)
                        plain_reading(&x->pack[k], k, &q->r[k], &q->whole[k]);
                else
                    for (int k = 0; k < n; k++)
                        make_reading(x, k, t_end, &q->r[k], &q->whole[k]);
                x->q_len++;
            }
            if (o->progress)
                progress(t_end, end_ms, &L->last_pct);   /* at the polls: often enough for a bar */
        }
        while (x->q_len > 0 && x->q[x->q_head].deliver_ms <= t_end) {
            snapshot *q = &x->q[x->q_head];
            if (pol_step(&x->ctrl, cfg, t_end, q->r, n, &x->out) == 0) {
                L->have_out = true;
                L->ccl_cmd = x->out.ccl_a;
                if (L->ccl_cmd < L->win_ccl_min)
                    L->win_ccl_min = L->ccl_cmd;
                L->dcl_cmd = x->out.dcl_a;
                L->cvl_cmd = x->out.cvl_v;
                if (o->record_cmds)
                    record_cmd(o->record_cmds, t_end, L);
                L->ok = inv_ctrl(&x->inv, t_end, &x->out);
                double ts = (double)t_end / 1000.0;
                if (L->ccl_cmd < r->min_ccl_a) r->min_ccl_a = L->ccl_cmd;
                if (L->ccl_cmd > r->max_ccl_a) r->max_ccl_a = L->ccl_cmd;
                if (x->out.red_alert && r->alert_s < 0) r->alert_s = ts;
                if (x->out.red_alert && L->episode_start < 0)
                    L->episode_start = ts;
                if (!x->out.red_alert && L->episode_start >= 0) {
                    if (ts - L->episode_start < L->shortest_episode)
                        L->shortest_episode = ts - L->episode_start;
                    L->episode_start = -1;
                }
                const scn_expect *e = &s->expect;
                if (!isnan(e->spread_below_pct) && r->spread_below_s < 0 && x->out.spread_valid &&
                    x->out.spread_pct < e->spread_below_pct)
                    r->spread_below_s = ts;
                if (!isnan(e->ccl_below_a) && !L->saw_ccl_below && L->ccl_cmd <= e->ccl_below_a) {
                    L->saw_ccl_below = true;
                    L->ccl_below_s = ts;
                }
                if (!L->saw_ccl_zero && L->ccl_cmd <= 0.0) {
                    L->saw_ccl_zero = true;
                    L->ccl_zero_s = ts;
                }
                if (!L->saw_cable && x->out.alarm[RDG_AL_BMS_CABLE] >= 1) {
                    L->saw_cable = true;
                    L->cable_s = ts;
                }
                if (!isnan(e->ccl_reaches_a) && !L->saw_reach && L->ccl_cmd >= e->ccl_reaches_a) {
                    L->saw_reach = true;
                    L->reach_s = ts;
                }
            }
            x->q_head = (x->q_head + 1) % QN;
            x->q_len--;
        }

        /* 6. Decimated trace. */
        if (trace && due(&L->next_trace_ms, t_end, s->trace_ms))
            trace_row(x, s, r, trace, t_end, i_bank);
    }
    if (full && o->progress)
        progress(L->t, end_ms, &L->last_pct);   /* where the run ended: its end, or its violation */
    fold_window(x, n, r);
}

static __attribute__((noinline)) void loop_full(run_ctx *x, const scn_t *s, const pol_config *cfg, const run_opts *o,
                                                run_result *r, int64_t end_ms, FILE *trace, run_ctx **checkpoint,
                                                run_result *checkpoint_r)
{
    loop_steps(x, s, cfg, o, r, end_ms, trace, checkpoint, checkpoint_r, true);
}

static __attribute__((noinline)) void loop_bare(run_ctx *x, const scn_t *s, const pol_config *cfg, const run_opts *o,
                                                run_result *r, int64_t end_ms, FILE *trace, run_ctx **checkpoint,
                                                run_result *checkpoint_r)
{
    loop_steps(x, s, cfg, o, r, end_ms, trace, checkpoint, checkpoint_r, false);
}

/* Steps from the context's time to end_ms. With checkpoint non-NULL, copies the context and the
 * partial result at o->checkpoint_ms. */
static void loop_run(run_ctx *x, const scn_t *s, const pol_config *cfg, const run_opts *o,
                     run_result *r, int64_t end_ms, FILE *trace, run_ctx **checkpoint,
                     run_result *checkpoint_r)
{
    if (x->L.full)
        loop_full(x, s, cfg, o, r, end_ms, trace, checkpoint, checkpoint_r);
    else
        loop_bare(x, s, cfg, o, r, end_ms, trace, checkpoint, checkpoint_r);
}

/* Final state hash: every cell and BMS state variable and the limits, in a fixed order. */
static uint64_t state_hash(const run_ctx *x, const scn_t *s)
{
    const run_loop *L = &x->L;
    const int n = s->n_packs;
    uint64_t h = 0xcbf29ce484222325ull;
    for (int k = 0; k < n; k++) {
        const pack_t *p = &x->pack[k];
        uhash(&h, p->soc, sizeof(double) * (size_t)p->p.n_cells);
        uhash(&h, p->v1, sizeof(double) * (size_t)p->p.n_cells);
        uhash(&h, &p->rep_soc_pct, sizeof p->rep_soc_pct);
        uhash(&h, &p->temp_c, sizeof p->temp_c);
        uhash(&h, &p->i_a, sizeof p->i_a);
    }
    uhash(&h, &L->ccl_cmd, sizeof L->ccl_cmd);
    uhash(&h, &L->cvl_cmd, sizeof L->cvl_cmd);
    uhash(&h, &L->t, sizeof L->t);
    return h;
}

int run_scenario(const scn_t *s, const pol_config *cfg, const run_opts *o, run_result *r)
{
    memset(r, 0, sizeof *r);
    r->violation_s = -1.0;
    r->alert_s = -1.0;
    r->spread_below_s = -1.0;
    r->min_ccl_a = INFINITY;
    r->max_ccl_a = -INFINITY;
    r->max_cell_v = 0.0;

    run_ctx *x = calloc(1, sizeof *x);
    if (!x) {
        r->status = 2;
        snprintf(r->message, sizeof r->message, "out of memory");
        return 2;
    }
    const int n = s->n_packs;
    const double dt_s = (double)s->step_ms / 1000.0;
    int64_t end_ms = o->days_override > 0.0 ? (int64_t)llround(o->days_override * 86400000.0)
                                             : scn_duration_ms(s);
    r->days = (double)end_ms / 86400000.0;

    for (int k = 0; k < n; k++) {
        x->pack[k].p = s->pack[k];
        pack_init(&x->pack[k], dt_s);
        x->pack[k].connected = s->pack_connected[k];
        x->spike_until[k] = x->drop_until[k] = x->nan_until[k] = x->range_until[k] = -1;
        x->missing_until[k] = x->reconnect_at[k] = x->fault_until[k] = -1;
    }
    x->step_until = -1;
    update_plain_from(x, n);
    x->bus.n = n;
    pol_init(&x->ctrl);
    inv_init(&x->inv, s, cfg);
    prof_init(&x->prof, &s->prof, s->seed);
    if (s->profile_path[0]) {
        char err[512];
        if (prof_load_csv(&x->prof, s->profile_path, err, sizeof err) != 0) {
            r->status = 2;
            snprintf(r->message, sizeof r->message, "%s", err);
            free(x);
            return 2;
        }
    }

    FILE *trace = NULL;
    bool full = !o->bare_physics && !o->packs_only;   /* only the full run has a trace */
    if (o->trace_path && full) {
        trace = fopen(o->trace_path, "w");
        if (trace)
            trc_header(trace, n);
    } else if (o->out_dir && full && !o->no_trace) {
        char path[1200];
        if (run_mkdir_p(o->out_dir) != 0) {
            r->status = 2;
            snprintf(r->message, sizeof r->message, "%s: cannot create directory", o->out_dir);
            prof_free(&x->prof);
            free(x);
            return 2;
        }
        snprintf(path, sizeof path, "%s/trace.csv", o->out_dir);
        trace = fopen(path, "w");
        if (!trace) {
            r->status = 2;
            snprintf(r->message, sizeof r->message, "%s: cannot write", path);
            prof_free(&x->prof);
            free(x);
            return 2;
        }
        trc_header(trace, n);
    }

    loop_init(x, s, cfg, o);
    run_ctx *snap = NULL;
    run_result snap_r;
    loop_run(x, s, cfg, o, r, end_ms, trace, o->checkpoint_ms > 0 ? &snap : NULL, &snap_r);
    if (o->progress && x->L.last_pct >= 0 && x->L.last_pct < 100)
        fputc('\n', stderr);
    r->hash = state_hash(x, s);
    r->restored_hash = 0;
    if (snap) {
        /* Restore the checkpoint and finish again, silently: the hash must match. */
        run_opts quiet = *o;
        quiet.progress = false;
        loop_run(snap, s, cfg, &quiet, &snap_r, end_ms, NULL, NULL, NULL);
        r->restored_hash = state_hash(snap, s);
        /* The copy shares the profile's CSV rows and day-curve cache with the original, except a
         * cache the copy had to allocate itself (taken before the first lookup). */
        if (snap->prof.curve != x->prof.curve)
            free(snap->prof.curve);
        free(snap);
    }

    r->final_spread_pct = x->out.spread_valid ? x->out.spread_pct : NAN;
    r->final_true_spread_pct = spread_true(x, s);
    r->rejected = x->out.rejected_total;
    r->unserved_kwh = x->L.unserved_ws / 3.6e6;
    r->charged_ah = x->L.charged_as * dt_s / 3600.0;
    r->discharged_ah = x->L.discharged_as * dt_s / 3600.0;
    for (int k = 0; k < n; k++)
        r->ovp_trips += x->pack[k].ovp_trips;
    if (!isfinite(r->min_ccl_a)) r->min_ccl_a = NAN;
    if (!isfinite(r->max_ccl_a)) r->max_ccl_a = NAN;

    if (x->inv.violated) {
        r->status = 1;
        snprintf(r->violation, sizeof r->violation, "%s", x->inv.name);
        snprintf(r->message, sizeof r->message, "%s", x->inv.msg);
        r->violation_s = (double)x->inv.t_ms / 1000.0;
    } else if (x->L.full) {
        /* Expectations, judged on the whole run. */
        const scn_expect *e = &s->expect;
        char *m = r->message;
        size_t ml = sizeof r->message;
        const char *fail = NULL;
        static char buf[400];
        if (!isnan(e->spread_below_pct)) {
            double within = isnan(e->spread_within_h) ? r->days * 24.0 : e->spread_within_h;
            if (r->spread_below_s < 0 || r->spread_below_s > within * 3600.0) {
                snprintf(buf, sizeof buf, "spread never below %.1f pp within %.1f h (final %.2f pp)",
                         e->spread_below_pct, within, r->final_spread_pct);
                fail = buf;
            }
        }
        if (!fail && !isnan(e->final_spread_max_pct) &&
            !(r->final_spread_pct <= e->final_spread_max_pct)) {
            snprintf(buf, sizeof buf, "final spread %.2f pp above %.1f pp", r->final_spread_pct,
                     e->final_spread_max_pct);
            fail = buf;
        }
        if (!fail && !isnan(e->red_alert_by_s) && (r->alert_s < 0 || r->alert_s > e->red_alert_by_s)) {
            snprintf(buf, sizeof buf, "red alert not raised by %.0f s (first at %.0f s)", e->red_alert_by_s,
                     r->alert_s);
            fail = buf;
        }
        if (!fail && e->red_alert_never && r->alert_s >= 0) {
            snprintf(buf, sizeof buf, "red alert raised at %.0f s in a scenario that must not alert",
                     r->alert_s);
            fail = buf;
        }
        if (!fail && !isnan(e->alert_latched_min_s) && x->L.shortest_episode < e->alert_latched_min_s) {
            snprintf(buf, sizeof buf, "a red alert lasted only %.0f s, expected at least %.0f s",
                     x->L.shortest_episode, e->alert_latched_min_s);
            fail = buf;
        }
        if (!fail && !isnan(e->ccl_below_a)) {
            double by = isnan(e->ccl_below_by_s) ? r->days * 86400.0 : e->ccl_below_by_s;
            if (!x->L.saw_ccl_below || x->L.ccl_below_s > by) {
                snprintf(buf, sizeof buf, "CCL never at or below %.1f A by %.0f s", e->ccl_below_a, by);
                fail = buf;
            }
        }
        if (!fail && !isnan(e->ccl_zero_by_s) && (!x->L.saw_ccl_zero || x->L.ccl_zero_s > e->ccl_zero_by_s)) {
            snprintf(buf, sizeof buf, "CCL not 0 by %.0f s", e->ccl_zero_by_s);
            fail = buf;
        }
        if (!fail && !isnan(e->cable_alarm_by_s) && (!x->L.saw_cable || x->L.cable_s > e->cable_alarm_by_s)) {
            snprintf(buf, sizeof buf, "BmsCable alarm not raised by %.0f s", e->cable_alarm_by_s);
            fail = buf;
        }
        if (!fail && !isnan(e->rejected_min) && (double)r->rejected < e->rejected_min) {
            snprintf(buf, sizeof buf, "only %u readings rejected, expected at least %.0f", r->rejected,
                     e->rejected_min);
            fail = buf;
        }
        if (!fail && !isnan(e->ccl_reaches_a)) {
            double by = isnan(e->ccl_reaches_by_h) ? r->days * 24.0 : e->ccl_reaches_by_h;
            if (!x->L.saw_reach || x->L.reach_s > by * 3600.0) {
                snprintf(buf, sizeof buf, "CCL never back to %.1f A within %.1f h", e->ccl_reaches_a, by);
                fail = buf;
            }
        }
        if (!fail && !isnan(e->unserved_max_kwh) && r->unserved_kwh > e->unserved_max_kwh) {
            snprintf(buf, sizeof buf, "unserved load %.2f kWh above %.2f kWh", r->unserved_kwh,
                     e->unserved_max_kwh);
            fail = buf;
        }
        if (fail) {
            r->status = 1;
            snprintf(r->violation, sizeof r->violation, "expectation");
            snprintf(m, ml, "expectation failed: %s", fail);
        }
    }

    if (trace)
        fclose(trace);
    prof_free(&x->prof);
    free(x);
    return r->status;
}

static void fmt_s(double s, char *buf, size_t len)
{
    if (s < 0 || isnan(s))
        snprintf(buf, len, "-");
    else
        snprintf(buf, len, "%.0f s (%.2f h)", s, s / 3600.0);
}

void run_write_summary(FILE *f, const scn_t *s, const run_result *r)
{
    fprintf(f, "scenario=%s\n", s->name);
    fprintf(f, "result=%s\n", r->status == 0 ? "pass" : r->status == 1 ? "fail" : "error");
    fprintf(f, "status=%d\n", r->status);
    fprintf(f, "violation=%s\n", r->violation);
    fprintf(f, "message=%s\n", r->message);
    fprintf(f, "violation_s=%.1f\n", r->violation_s);
    fprintf(f, "days=%.3f\n", r->days);
    fprintf(f, "packs=%d\n", s->n_packs);
    fprintf(f, "cells=%d\n", s->n_cells);
    fprintf(f, "seed=%llu\n", (unsigned long long)s->seed);
    fprintf(f, "final_spread_pct=%.3f\n", r->final_spread_pct);
    fprintf(f, "final_true_spread_pct=%.3f\n", r->final_true_spread_pct);
    fprintf(f, "min_ccl_a=%.2f\n", r->min_ccl_a);
    fprintf(f, "max_ccl_a=%.2f\n", r->max_ccl_a);
    fprintf(f, "alert_s=%.1f\n", r->alert_s);
    fprintf(f, "spread_below_s=%.1f\n", r->spread_below_s);
    fprintf(f, "max_cell_v=%.4f\n", r->max_cell_v);
    fprintf(f, "ovp_trips=%u\n", r->ovp_trips);
    fprintf(f, "rejected=%u\n", r->rejected);
    fprintf(f, "unserved_kwh=%.3f\n", r->unserved_kwh);
    fprintf(f, "charged_ah=%.1f\n", r->charged_ah);
    fprintf(f, "discharged_ah=%.1f\n", r->discharged_ah);
    fprintf(f, "steps=%lld\n", (long long)r->steps);
    fprintf(f, "state_hash=%016llx\n", (unsigned long long)r->hash);
}

void run_print_table(FILE *f, const scn_t *s, const run_result *r)
{
    char a[64], b[64];
    fprintf(f, "%-24s %s\n", "scenario", s->name);
    if (s->description[0])
        fprintf(f, "%-24s %s\n", "description", s->description);
    fprintf(f, "%-24s %.2f days, %d x %dS, seed %llu, step %lld ms, poll %lld ms, latency %lld ms\n",
            "run", r->days, s->n_packs, s->n_cells, (unsigned long long)s->seed, (long long)s->step_ms,
            (long long)s->poll_ms, (long long)s->latency_ms);
    fprintf(f, "%-24s %s\n", "result", r->status == 0 ? "PASS" : r->status == 1 ? "FAIL" : "ERROR");
    if (r->message[0])
        fprintf(f, "%-24s %s\n", "first failure", r->message);
    fprintf(f, "%-24s %.2f pp (true SOC %.2f pp)\n", "final SOC spread", r->final_spread_pct,
            r->final_true_spread_pct);
    fmt_s(r->spread_below_s, a, sizeof a);
    fprintf(f, "%-24s %s\n", "spread target met at", a);
    fprintf(f, "%-24s %.0f / %.0f A\n", "CCL min / max", r->min_ccl_a, r->max_ccl_a);
    fmt_s(r->alert_s, b, sizeof b);
    fprintf(f, "%-24s %s\n", "first red alert", b);
    fprintf(f, "%-24s %.4f V (BMS OVP trips: %u)\n", "highest cell", r->max_cell_v, r->ovp_trips);
    fprintf(f, "%-24s %u\n", "rejected readings", r->rejected);
    fprintf(f, "%-24s %.1f / %.1f Ah\n", "charged / discharged", r->charged_ah, r->discharged_ah);
    fprintf(f, "%-24s %.2f kWh\n", "unserved load", r->unserved_kwh);
    fprintf(f, "%-24s %016llx\n", "state hash", (unsigned long long)r->hash);
}
