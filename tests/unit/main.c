/* CUnit runner for the unit suites: prints the run summary and exits non-zero on any failure. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <CUnit/Basic.h>

#include "suites.h"

unsigned long long tu_seed;

int main(int argc, char **argv)
{
    tu_seed = (unsigned long long)time(NULL);
    const char *only = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc) {
            char *end;
            tu_seed = strtoull(argv[++i], &end, 10);
            if (*end) {
                fprintf(stderr, "--seed needs a whole number\n");
                return 2;
            }
        } else if (strcmp(argv[i], "--suite") == 0 && i + 1 < argc) {
            only = argv[++i];
        } else {
            fprintf(stderr, "usage: %s [--seed N] [--suite NAME]\n", argv[0]);
            return 2;
        }
    }
    const char *env = getenv("BMSAGG_SEED");
    if (env && *env)
        tu_seed = strtoull(env, NULL, 10);
    printf("property-test seed: %llu (rerun with --seed %llu)\n", tu_seed, tu_seed);

    if (CU_initialize_registry() != CUE_SUCCESS)
        return 3;
    struct {
        const char *name;
        void (*add)(void);
    } all[] = {
        {"reading", suite_reading}, {"tier", suite_tier},   {"latch", suite_latch},
        {"guard", suite_guard},     {"share", suite_share}, {"fmt", suite_fmt},
        {"policy", suite_policy},   {"conf", suite_conf},   {"prop", suite_prop},     {"record", suite_record},
        {"exact", suite_exact},
    };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (!only || strcmp(only, all[i].name) == 0)
            all[i].add();
    CU_basic_set_mode(CU_BRM_NORMAL);
    CU_basic_run_tests();
    unsigned fails = CU_get_number_of_failures();
    unsigned ran = CU_get_number_of_tests_run();
    CU_cleanup_registry();
    printf("\n%u tests ran, %u assertion failures\n", ran, fails);
    if (ran == 0)
        return 1;   /* a runner that ran nothing has tested nothing */
    return fails ? 1 : 0;
}
