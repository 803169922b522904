/* Trace CSV writer: fixed formats so the same run gives the same bytes. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "trace.h"

void trc_header(FILE *f, int n)
{
    fputs("t_h,pv_w,load_w,i_bank_a,v_bus_v,ccl_a,ccl_min_a,dcl_a,cvl_v,tier,tier_ccl_a,spread_pct,"
          "true_spread_pct,soc_pct,red,cable,unserved_w",
          f);
    for (int k = 1; k <= n; k++)
        fprintf(f, ",soc_true_%d,soc_rep_%d,i_%d,vmax_%d,vmin_%d,temp_%d,ccl_%d,chg_fet_%d,online_%d", k,
                k, k, k, k, k, k, k, k);
    fputc('\n', f);
}

/* A row is about 60 fields; fprintf's exact binary-to-decimal conversion cost more per row than
 * a minute of physics. The same conversion, exactly: x = m 2^-sh with m < 2^53 an integer, so
 * x 10^dec = m 10^dec 2^-sh, whose integer part and remainder come from a 70-bit product, and
 * the remainder rounds half to even as glibc's printf does in the default rounding mode.
 * Anything outside the easy range (not finite, |x| >= 1e12) goes to sprintf. */
static const uint64_t pow10_u64[] = {1, 10, 100, 1000, 10000, 100000};
static const char digit_pairs[] = "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
                                  "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
                                  "8081828384858687888990919293949596979899";

char *trc_fixed(char *out, double x, int dec)
{
    if (!(fabs(x) < 1e12) || dec < 0 || dec > 5)
        return out + sprintf(out, "%.*f", dec, x);
    if (signbit(x))
        *out++ = '-';
    /* |x| = m 2^-sh straight from the bits (what frexp and ldexp would give, without the calls):
     * a normal number is (2^52 + fraction) 2^(exponent - 1075), a subnormal fraction 2^-1074. */
    uint64_t bits;
    memcpy(&bits, &x, sizeof bits);
    int be = (int)((bits >> 52) & 0x7ffu);
    uint64_t m = bits & ((UINT64_C(1) << 52) - 1u);
    if (be != 0)
        m |= UINT64_C(1) << 52;
    int sh = 1075 - (be != 0 ? be : 1);           /* sh >= 13 here */
    uint64_t p = pow10_u64[dec];
    /* P = m p as hi:lo (m < 2^53, p < 2^17) */
    uint64_t a = (m >> 32) * p, b = (m & 0xffffffffu) * p;
    uint64_t lo = (a << 32) + b;
    uint64_t hi = (a >> 32) + (lo < b);
    uint64_t q;
    int round_bit, sticky;
    if (sh >= 128) {
        q = 0;
        round_bit = 0;
        sticky = 0;
    } else {
        int rb = sh - 1;
        if (sh >= 64)
            q = sh == 64 ? hi : hi >> (sh - 64);
        else
            q = (lo >> sh) | (hi << (64 - sh));
        round_bit = rb >= 64 ? (int)((hi >> (rb - 64)) & 1u) : (int)((lo >> rb) & 1u);
        if (rb == 0)
            sticky = 0;
        else if (rb < 64)
            sticky = (lo & ((UINT64_C(1) << rb) - 1u)) != 0;
        else
            sticky = lo != 0 || (rb > 64 && (hi & ((UINT64_C(1) << (rb - 64)) - 1u)) != 0);
    }
    if (round_bit && (sticky || (q & 1u)))
        q++;
    /* A division by a constant is a multiply: one case per number of decimals. */
    uint64_t ip, fp;
    switch (dec) {
    case 0: ip = q; fp = 0; break;
    case 1: ip = q / 10u; fp = q % 10u; break;
    case 2: ip = q / 100u; fp = q % 100u; break;
    case 3: ip = q / 1000u; fp = q % 1000u; break;
    case 4: ip = q / 10000u; fp = q % 10000u; break;
    default: ip = q / 100000u; fp = q % 100000u; break;
    }
    /* Digits two at a time from a table of pairs: half the divisions of one at a time. They
     * end at tmp[16] and are copied as a fixed 16 bytes (ip <= 10^12: at most 13 digits), which
     * the compiler inlines where a copy of the exact length would be a call to memcpy. */
    char tmp[32] = {0};
    int n = 16;
    while (ip >= 100u) {
        unsigned d2 = (unsigned)(ip % 100u);
        ip /= 100u;
        n -= 2;
        memcpy(tmp + n, digit_pairs + 2 * d2, 2);
    }
    if (ip >= 10u) {
        n -= 2;
        memcpy(tmp + n, digit_pairs + 2 * ip, 2);
    } else {
        tmp[--n] = (char)('0' + (int)ip);
    }
    memcpy(out, tmp + n, 16);
    out += 16 - n;
    if (dec > 0) {
        *out++ = '.';
        int i = dec;
        for (; i >= 2; i -= 2) {
            memcpy(out + i - 2, digit_pairs + 2 * (fp % 100u), 2);
            fp /= 100u;
        }
        if (i == 1)
            out[0] = (char)('0' + (int)fp);
        out += dec;
    }
    return out;
}

static char *put_int(char *out, int v)
{
    return out + sprintf(out, "%d", v);
}

static char *put_sep_fixed(char *out, double x, int dec)
{
    *out++ = ',';
    return trc_fixed(out, x, dec);
}

static char *put_sep_small(char *out, int v)
{
    *out++ = ',';
    if (v >= 0 && v <= 9) {
        *out++ = (char)('0' + v);
        return out;
    }
    return put_int(out, v);
}

void trc_row(FILE *f, const trc_bank *b, const trc_pack *p, int n)
{
    /* A field takes at most ~330 bytes (the fallback prints up to 309 integer digits): the
     * bank part (17 fields) fits, and the packs are written one at a time. */
    char buf[8192];
    char *o = trc_fixed(buf, b->t_h, 5);
    o = put_sep_fixed(o, b->pv_w, 0);
    o = put_sep_fixed(o, b->load_w, 0);
    o = put_sep_fixed(o, b->i_bank_a, 3);
    o = put_sep_fixed(o, b->v_bus_v, 4);
    o = put_sep_fixed(o, b->ccl_a, 2);
    o = put_sep_fixed(o, b->ccl_min_a, 2);
    o = put_sep_fixed(o, b->dcl_a, 2);
    o = put_sep_fixed(o, b->cvl_v, 3);
    o = put_sep_small(o, b->tier);
    o = put_sep_fixed(o, b->tier_ccl_a, 1);
    o = put_sep_fixed(o, b->spread_pct, 3);
    o = put_sep_fixed(o, b->true_spread_pct, 3);
    o = put_sep_fixed(o, b->soc_pct, 3);
    o = put_sep_small(o, b->red);
    o = put_sep_small(o, b->cable);
    o = put_sep_fixed(o, b->unserved_w, 0);
    fwrite(buf, 1, (size_t)(o - buf), f);
    for (int k = 0; k < n; k++) {
        o = put_sep_fixed(buf, p[k].soc_true_pct, 3);
        o = put_sep_fixed(o, p[k].soc_rep_pct, 2);
        o = put_sep_fixed(o, p[k].i_a, 3);
        o = put_sep_fixed(o, p[k].vmax_v, 4);
        o = put_sep_fixed(o, p[k].vmin_v, 4);
        o = put_sep_fixed(o, p[k].temp_c, 2);
        o = put_sep_fixed(o, p[k].ccl_a, 2);
        o = put_sep_small(o, p[k].chg_fet);
        o = put_sep_small(o, p[k].online);
        fwrite(buf, 1, (size_t)(o - buf), f);
    }
    fputc('\n', f);
}
