/* Fuzz harness for the INI config loader: any bytes, from a string or a file, never crash it, and what it accepts prints and reloads. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "fuzz.h"

/* conf_print into a malloc'd string (open_memstream: no size guess to get wrong). */
static char *print_to_string(const conf_t *c)
{
    char *s = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&s, &len);
    FUZZ_CHECK(f != NULL);
    conf_print(f, c);
    FUZZ_CHECK(fclose(f) == 0);
    return s;
}

/* One temporary file for the whole process: conf_load reads a path, and creating a file per
 * input would cost more than the parse. */
static char tmp_path[64];

static void remove_tmp(void)
{
    unlink(tmp_path);
}

static bool write_tmp(const uint8_t *data, size_t size)
{
    if (!tmp_path[0]) {
        const char *dir = getenv("TMPDIR");
        snprintf(tmp_path, sizeof tmp_path, "%s/fuzz_conf.XXXXXX", dir && strlen(dir) < 40 ? dir : "/tmp");
        int fd = mkstemp(tmp_path);
        if (fd < 0) {
            tmp_path[0] = '\0';
            return false;
        }
        close(fd);
        atexit(remove_tmp);
    }
    FILE *f = fopen(tmp_path, "wb");
    if (!f)
        return false;
    bool ok = fwrite(data, 1, size, f) == size;
    return fclose(f) == 0 && ok;
}

/* ---- the known open bug -------------------------------------------------------------------
 * conf_print's promise below does not hold for a string that starts with ';': "custom_name =;x"
 * loads ";x" (no blank before ';', so no inline comment), prints as "custom_name = ;x", and inih
 * reads that as a comment, so it reloads empty (reproducer in tests/fuzz/open/conf/). Until
 * that is fixed, such configs skip the print/reload check; FUZZ_CONF_STRICT_PRINT=1 checks them.
 * (The other half of this check, numbers printed with %.10g, was fixed in ae75671; its
 * reproducers are in tests/fuzz/regressions/conf/.) */

/* Checks a failed load: -1, *c untouched, a message that fits its buffer. */
static void check_failure(int rc, const conf_t *c, const conf_t *before, const char *err, size_t err_len)
{
    FUZZ_CHECK(rc == -1);
    FUZZ_CHECK(memcmp(c, before, sizeof *c) == 0);
    FUZZ_CHECK(memchr(err, '\0', err_len) != NULL);
    FUZZ_CHECK(err_len < 2 || err[0] != '\0');
}

/* conf.h: conf_print writes "INI that conf_load accepts"; --check-config and the recorder's
 * side file rely on it. Printing what that reloads must give the same text. */
static void check_print_reload(const conf_t *a)
{
    char *printed = print_to_string(a);
    conf_t b;
    conf_default(&b);
    char err[CONF_ERR_LEN];
    int rc = conf_load_string(printed, "printed.ini", &b, err, sizeof err);
    if (rc != 0)
        fprintf(stderr, "printed config does not reload: %s\n%s", err, printed);
    FUZZ_CHECK(rc == 0);
    char *reprinted = print_to_string(&b);
    FUZZ_CHECK(strcmp(printed, reprinted) == 0);
    free(reprinted);
    free(printed);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 1 << 20)
        return 0;
    char *text = malloc(size + 1);
    FUZZ_CHECK(text != NULL);
    memcpy(text, data, size);
    text[size] = '\0';

    conf_t before, a;
    conf_default(&before);
    memcpy(&a, &before, sizeof a);
    char err[CONF_ERR_LEN];
    int rc = conf_load_string(text, "fuzz.ini", &a, err, sizeof err);
    if (rc != 0) {
        check_failure(rc, &a, &before, err, sizeof err);
    } else {
        const char *key, *other, *why;
        FUZZ_CHECK(pol_config_check(&a.pol, &key, &other, &why) == 0);
        FUZZ_CHECK(a.pol.n_tiers >= 1 && a.pol.n_tiers <= POL_MAX_TIERS);
        FUZZ_CHECK(a.dbus.n_packs >= 0 && a.dbus.n_packs <= CONF_MAX_LIST);
        FUZZ_CHECK(a.dbus.n_exclude >= 0 && a.dbus.n_exclude <= CONF_MAX_LIST);
        static int strict = -1;
        if (strict < 0) {
            const char *e = getenv("FUZZ_CONF_STRICT_PRINT");
            strict = e && strcmp(e, "1") == 0;
        }
        bool semicolon = a.dbus.product_name[0] == ';' || a.dbus.custom_name[0] == ';' ||
                         a.record.path[0] == ';';
        if (strict || !semicolon)
            check_print_reload(&a);
    }

    /* Messages into tiny buffers: exact-size heap blocks, so ASan sees any overrun. */
    size_t small_len = 1 + size % 24;
    char *small = malloc(small_len);
    FUZZ_CHECK(small != NULL);
    conf_t c;
    memcpy(&c, &before, sizeof c);
    int rc_small = conf_load_string(text, "a-rather-long-file-name-for-the-message.ini", &c, small, small_len);
    FUZZ_CHECK(rc_small == rc);
    if (rc_small != 0)
        check_failure(rc_small, &c, &before, small, small_len);
    free(small);

    /* The file reader (fgets) must judge the same bytes as the string reader. A NUL byte ends
     * the string but not the file, so only NUL-free inputs are comparable. */
    if (!memchr(data, '\0', size) && write_tmp(data, size)) {
        conf_t d;
        memcpy(&d, &before, sizeof d);
        char err3[CONF_ERR_LEN];
        int rc3 = conf_load(tmp_path, &d, err3, sizeof err3);
        if (rc3 != rc)
            fprintf(stderr, "string load: %s\nfile load: %s\n", rc ? err : "ok", rc3 ? err3 : "ok");
        FUZZ_CHECK(rc3 == rc);
        if (rc3 == 0)
            FUZZ_CHECK(memcmp(&d, &a, sizeof d) == 0);
        else
            check_failure(rc3, &d, &before, err3, sizeof err3);
    }
    free(text);
    return 0;
}
