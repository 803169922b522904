/* Suite conf: the example file is the defaults; every kind of bad file is refused with file:line:key. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "suites.h"

static char err[CONF_ERR_LEN];

static void print_to(const conf_t *c, char *buf, size_t len)
{
    FILE *f = fmemopen(buf, len, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    conf_print(f, c);
    fclose(f);
}

static void test_example_is_defaults(void)
{
    conf_t d, e;
    conf_default(&d);
    conf_default(&e);
    int rc = conf_load(BMSAGG_SOURCE_DIR "/daemon/bms-aggregator.ini", &e, err, sizeof err);
    if (rc != 0)
        fprintf(stderr, "%s\n", err);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    static char a[8192], b[8192];
    print_to(&d, a, sizeof a);
    print_to(&e, b, sizeof b);
    CU_ASSERT_STRING_EQUAL(a, b);
    /* And every key printed appears, as "key =", in the example (the reference is complete). */
    FILE *f = fopen(BMSAGG_SOURCE_DIR "/daemon/bms-aggregator.ini", "r");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    static char text[32768];
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = '\0';
    fclose(f);
    for (char *line = strtok(a, "\n"); line; line = strtok(NULL, "\n")) {
        if (line[0] == '[')
            continue;
        char key[128];
        const char *eq = strchr(line, '=');
        CU_ASSERT_PTR_NOT_NULL_FATAL(eq);
        size_t kl = (size_t)(eq - line);
        memcpy(key, line, kl);
        key[kl] = '\0';
        char needle[160];
        snprintf(needle, sizeof needle, "\n%s=", key);
        if (!strstr(text, needle)) {
            fprintf(stderr, "example lacks %s\n", key);
            CU_FAIL("a key is missing from the example config");
        }
    }
}

static void test_print_roundtrip(void)
{
    conf_t c, back;
    conf_default(&c);
    const char *text = "[bank]\nnominal_ccl_a = 200\nsoc_mode = weighted\nexpected_packs = 3\n"
                       "[tiers]\ntier_spread_pct = 4, 8\ntier_ccl_pct = 100, 50, 25\n"
                       "[dbus]\nexclude = com.victronenergy.battery.ttyUSB9\ncustom_name = My bank\n";
    CU_ASSERT_EQUAL_FATAL(conf_load_string(text, "t.ini", &c, err, sizeof err), 0);
    CU_ASSERT_EQUAL(c.pol.n_tiers, 3);
    ASSERT_NEAR(c.pol.tier_spread_pct[1], 8.0, 0);
    CU_ASSERT_EQUAL(c.pol.soc_mode, POL_SOC_WEIGHTED);
    CU_ASSERT_EQUAL(c.dbus.n_exclude, 1);
    CU_ASSERT_STRING_EQUAL(c.dbus.custom_name, "My bank");
    static char a[8192], b[8192];
    print_to(&c, a, sizeof a);
    conf_default(&back);
    CU_ASSERT_EQUAL_FATAL(conf_load_string(a, "printed", &back, err, sizeof err), 0);
    print_to(&back, b, sizeof b);
    CU_ASSERT_STRING_EQUAL(a, b);
}

/* Each bad text must fail with exactly this message prefix, and leave the config untouched. */
static void expect_error(const char *text, const char *want)
{
    conf_t c, before;
    conf_default(&c);
    c.pol.nominal_ccl_a = 123.0;   /* a marker: nothing may be half-applied */
    before = c;
    int rc = conf_load_string(text, "bad.ini", &c, err, sizeof err);
    CU_ASSERT_EQUAL(rc, -1);
    if (strncmp(err, want, strlen(want)) != 0) {
        fprintf(stderr, "\n  got:  %s\n  want: %s...\n", err, want);
        CU_FAIL("wrong error message");
    }
    CU_ASSERT_EQUAL(memcmp(&c, &before, sizeof c), 0);
}

static void test_errors(void)
{
    expect_error("[bank]\nnominal_ccl_a = 100\n[bogus]\nx = 1\n", "bad.ini:3: [bogus]: unknown section");
    expect_error("[bogus]\n", "bad.ini:1: [bogus]: unknown section");
    expect_error("[bank]\nnominal_cll_a = 100\n", "bad.ini:2: [bank] nominal_cll_a: unknown key");
    expect_error("[bank]\n\nnominal_ccl_a = 1OO\n",
                 "bad.ini:3: [bank] nominal_ccl_a: '1OO' is not a number");
    expect_error("[bank]\nnominal_ccl_a = 0x10\n", "bad.ini:2: [bank] nominal_ccl_a: '0x10'");
    expect_error("[bank]\nnominal_ccl_a = nan\n", "bad.ini:2: [bank] nominal_ccl_a: 'nan'");
    expect_error("[bank]\nnominal_ccl_a = 1e999\n", "bad.ini:2: [bank] nominal_ccl_a:");
    expect_error("[bank]\nnominal_ccl_a = 20000\n", "bad.ini:2: [bank] nominal_ccl_a: '20000' is not a number in 0..10000");
    expect_error("[bank]\nexpected_packs = 2.5\n", "bad.ini:2: [bank] expected_packs: '2.5' is not a whole number");
    expect_error("[bank]\nexpected_packs = 33\n", "bad.ini:2: [bank] expected_packs:");
    expect_error("[bank]\nsoc_mode = average\n", "bad.ini:2: [bank] soc_mode: 'average'");
    expect_error("[bank]\nnominal_ccl_a = 100\nnominal_ccl_a = 120\n",
                 "bad.ini:3: [bank] nominal_ccl_a: set twice (first on line 2)");
    expect_error("nominal_ccl_a = 100\n", "bad.ini:1: ");
    expect_error("[bank]\nthis is not a key value line\n", "bad.ini:2: not a [section] or key = value line");
    expect_error("[tiers]\ntier_spread_pct = 5, 4, 15\n",
                 "bad.ini:2: [tiers] tier_spread_pct: boundaries must be strictly increasing");
    expect_error("[tiers]\ntier_ccl_pct = 100, 85, 90, 33\n",
                 "bad.ini:2: [tiers] tier_ccl_pct: percents must be strictly decreasing");
    expect_error("[tiers]\ntier_spread_pct = 5, 10\n",
                 "bad.ini:2: [tiers] tier_spread_pct: 4 percents need 3 boundaries");
    expect_error("[tiers]\ntier_spread_pct = 5,,10\n", "bad.ini:2: [tiers] tier_spread_pct: needs");
    expect_error("[cells]\ncell_taper_start_v = 3.5\ncell_taper_end_v = 3.5\n",
                 "bad.ini:3: [cells] cell_taper_end_v: cell_taper_start_v must be below cell_taper_end_v");
    expect_error("[cells]\ncell_stop_v = 3.5\n",
                 "bad.ini:2: [cells] cell_stop_v: cell_taper_end_v must not exceed cell_stop_v");
    expect_error("[dbus]\ncustom_name =;x\n", "bad.ini:2: [dbus] custom_name: may not start with ';' or '#'");
    expect_error("[alarms]\nalarm_require_ack = maybe\n", "bad.ini:2: [alarms] alarm_require_ack: 'maybe' is not yes/no");
    expect_error("[dbus]\nservice_name = com.example.battery\n",
                 "bad.ini:2: [dbus] service_name: must be com.victronenergy.battery.<suffix>");
    expect_error("[dbus]\nexclude = com.victronenergy.solarcharger.x\n", "bad.ini:2: [dbus] exclude:");
    expect_error("[dbus]\npacks = com.victronenergy.battery.a\nexclude = com.victronenergy.battery.b\n",
                 "bad.ini:3: [dbus] exclude: use either");
    static char longline[600];
    memset(longline, 'x', sizeof longline - 1);
    memcpy(longline, "[dbus]\ncustom_name = ", 21);
    longline[sizeof longline - 2] = '\n';
    expect_error(longline, "bad.ini:2: line too long");
}

static void test_missing_file(void)
{
    conf_t c;
    conf_default(&c);
    CU_ASSERT_EQUAL(conf_load("/nonexistent/x.ini", &c, err, sizeof err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "/nonexistent/x.ini: cannot open"));
}

static void test_number_parsers(void)
{
    double d;
    long l;
    bool b;
    CU_ASSERT_EQUAL(conf_parse_double("3.45", 0, 10, &d), 0);
    ASSERT_NEAR(d, 3.45, 0);
    CU_ASSERT_EQUAL(conf_parse_double("-1e-3", -1, 1, &d), 0);
    CU_ASSERT_EQUAL(conf_parse_double(" 3", 0, 10, &d), -1);
    CU_ASSERT_EQUAL(conf_parse_double("3,5", 0, 10, &d), -1);
    CU_ASSERT_EQUAL(conf_parse_double("", 0, 10, &d), -1);
    CU_ASSERT_EQUAL(conf_parse_double("inf", -1e308, 1e308, &d), -1);
    CU_ASSERT_EQUAL(conf_parse_long("42", 0, 100, &l), 0);
    CU_ASSERT_EQUAL(l, 42);
    CU_ASSERT_EQUAL(conf_parse_long("42x", 0, 100, &l), -1);
    CU_ASSERT_EQUAL(conf_parse_long("99999999999999999999", 0, 100, &l), -1);
    CU_ASSERT_EQUAL(conf_parse_long(" 4", 0, 100, &l), -1);
    CU_ASSERT_EQUAL(conf_parse_bool("Yes", &b), 0);
    CU_ASSERT_TRUE(b);
    CU_ASSERT_EQUAL(conf_parse_bool("off", &b), 0);
    CU_ASSERT_FALSE(b);
    CU_ASSERT_EQUAL(conf_parse_bool("2", &b), -1);
}

void suite_conf(void)
{
    CU_pSuite s = CU_add_suite("conf", NULL, NULL);
    CU_add_test(s, "the example config is exactly the defaults and lists every key", test_example_is_defaults);
    CU_add_test(s, "printed config loads back identically", test_print_roundtrip);
    CU_add_test(s, "bad files refused with file:line [section] key, nothing applied", test_errors);
    CU_add_test(s, "missing file", test_missing_file);
    CU_add_test(s, "checked number parsing", test_number_parsers);
}
