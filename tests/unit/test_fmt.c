/* Suite fmt: bounded number and string formatting without stdio. */
#include <math.h>
#include <string.h>

#include "fmt.h"
#include "suites.h"

static void test_numbers(void)
{
    char buf[64];
    fmt_buf b;
    fmt_start(&b, buf, sizeof buf);
    fmt_num(&b, 11.0, 1);
    fmt_str(&b, "|");
    fmt_num(&b, -3.14159, 3);
    fmt_str(&b, "|");
    fmt_num(&b, 0.05, 1);
    fmt_str(&b, "|");
    fmt_num(&b, 99.5, 0);
    fmt_str(&b, "|");
    fmt_int(&b, -42);
    fmt_str(&b, "|");
    fmt_num(&b, NAN, 2);
    fmt_str(&b, "|");
    fmt_num(&b, 3.6, 3);
    CU_ASSERT_STRING_EQUAL(buf, "11.0|-3.142|0.1|100|-42|nan|3.600");
}

static void test_bounded(void)
{
    char buf[8];
    fmt_buf b;
    fmt_start(&b, buf, sizeof buf);
    fmt_str(&b, "0123456789");
    CU_ASSERT_EQUAL(strlen(buf), 7u);
    CU_ASSERT_STRING_EQUAL(buf, "0123456");
    fmt_num(&b, 1e30, 2);
    CU_ASSERT_STRING_EQUAL(buf, "0123456");
}

void suite_fmt(void)
{
    CU_pSuite s = CU_add_suite("fmt", NULL, NULL);
    CU_add_test(s, "numbers with decimals, negatives, NaN", test_numbers);
    CU_add_test(s, "never overflows", test_bounded);
}
