/* The switch of the core's fast paths: POL_USUAL_PATHS 1 (the default) takes them, 0 runs the general code alone. */
#ifndef BMSAGG_USUAL_PATHS_H
#define BMSAGG_USUAL_PATHS_H

#include <stdbool.h>

/* Each fast path (the usual reading, the usual bank, the usual share tick ...) must give exactly
 * what the general code beside it gives. Its entry is POL_USUAL(site, condition): the condition
 * itself in the usual build, false in a build with -DPOL_USUAL_PATHS=0, which then runs the
 * general code alone. tests/diff runs both builds side by side, tick by tick, and fails on any
 * difference. At 1 the macro is the condition, marked as the expected outcome: the compiler lays
 * the fast path out as the straight line and the general code beside it as the branch (on the
 * simulator's bench bank, 20 fewer instructions a tick: fewer taken jumps). */
#ifndef POL_USUAL_PATHS
#define POL_USUAL_PATHS 1
#endif

/* The fast paths, for the test's count of how often each was taken. */
enum pol_usual_site {
    POL_USUAL_BANK_PACK,      /* pol_step: a pack taken by the usual-bank loop (accept_usual) */
    POL_USUAL_ACCEPT,         /* pol_step: a usual pack after another, in the general loop (accept_usual) */
    POL_USUAL_QUIET,          /* pol_step: a fresh reading that rdg_usual_ok passes */
    POL_USUAL_PLAINLY,        /* pol_step: rdg_plainly_ok passes a reading rdg_usual_ok did not */
    POL_USUAL_VALIDATE,       /* rdg_validate: rdg_plainly_ok passes */
    POL_USUAL_ALL_FIELDS,     /* pol_step: add_pack with every field known present */
    POL_USUAL_MASKS_SKIP,     /* bank_finish: no pack lacks a field, no walk for the missing-field masks */
    POL_USUAL_BANK,           /* bank_finish: every online pack with every field, no bank_partial */
    POL_USUAL_OVP_SKIP,       /* bank_rare: no cell above the overvoltage target, no walk */
    POL_USUAL_SPIKE_BANK,     /* spike_pack: the bank's cell delta is clearly below the spike */
    POL_USUAL_SPIKE_PACKS,    /* spike_pack: the largest pack delta is clearly below the spike */
    POL_USUAL_RELAXED_SKIP,   /* pol_step: the anti-flap does not read the relaxed tier, not looked up */
    POL_USUAL_ALPHA_CACHE,    /* pol_step: the smoothing factor of the last tick, no exp() */
    POL_USUAL_SUMS_GIVEN,     /* share_step_both: the charge sums from the policy's pass */
    POL_USUAL_SAME_SUMS,      /* share_step_both: discharge sums as the negated charge sums */
    POL_USUAL_SHARE_TICK,     /* share_step_both: both directions by capacity at once */
    POL_USUAL_SHARE_TICK_FULL,/* share_step_both: that, every pack a member with both limits */
    POL_USUAL_MEASURED_TICK,  /* share_step_both: one direction measured, the other by capacity, in one loop */
    POL_USUAL_MEASURED_FULL,  /* share_from: measured shares, every pack a member with a limit */
    POL_USUAL_CAPACITY_FULL,  /* share_from: capacity shares, every pack a member with a limit */
    POL_USUAL_REASON_CACHE,   /* pol_step: the reason text of the last tick, not rebuilt */
    POL_USUAL_REASON_COPY,    /* pol_step: the reason copied in blocks */
    POL_USUAL_CLEAR_SKIP,     /* pol_step: no pack slot beyond n to clear */
    POL_USUAL_SITES
};

#ifdef POL_USUAL_SEEN
/* A test's build (tests/diff) names a hook here that counts the fast paths taken: it is called
 * with each entry's condition and returns it. Never defined in the core itself. */
bool POL_USUAL_SEEN(enum pol_usual_site site, bool taken);
#define POL_USUAL(site, cond) (POL_USUAL_PATHS && POL_USUAL_SEEN((site), (cond)))
#else
/* The site is not evaluated at all: a comma expression here changed the code GCC made. The core
 * is gcc or clang only (see core/CMakeLists.txt), both of which have __builtin_expect. */
#define POL_USUAL(site, cond) (POL_USUAL_PATHS && __builtin_expect(!!(cond), 1))
#endif

#endif
