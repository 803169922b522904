/* What every fuzz harness shares: the libFuzzer entry point (also called by replay_main.c) and a property check. */
#ifndef BMSAGG_FUZZ_H
#define BMSAGG_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* Runs one input; libFuzzer calls it with mutated inputs, replay_main.c with corpus files.
 * Returns 0 always; a failed property aborts, which both runners report as a crash. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A property the code under test promises (not merely "no crash"); aborting makes a broken
 * promise a crash that libFuzzer saves and minimises like any other. */
#define FUZZ_CHECK(cond)                                                                    \
    do {                                                                                    \
        if (!(cond)) {                                                                      \
            fprintf(stderr, "%s:%d: property failed: %s\n", __FILE__, __LINE__, #cond);    \
            abort();                                                                        \
        }                                                                                   \
    } while (0)

/* A branch that the code under test's contract says cannot be taken. */
#define FUZZ_FAIL(what)                                                                     \
    do {                                                                                    \
        fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, what);                           \
        abort();                                                                            \
    } while (0)

#endif
