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
 * x 10^dec = m 10^dec 2^-sh, whose integer part q and remainder come from a 70-bit product, and
 * the remainder rounds half to even as glibc's printf does in the default rounding mode.
 * Anything outside the easy range (not finite, |x| >= 1e12) goes to sprintf. */
static const uint64_t pow10_u64[] = {1, 10, 100, 1000, 10000, 100000};
static const char digit_pairs[] = "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
                                  "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
                                  "8081828384858687888990919293949596979899";

/* trc_fixed for |x| < 1e12 and dec 0 to 5, inlined with dec a constant into one function for
 * each (fixed_dec below). */
static inline __attribute__((always_inline)) char *fixed_fast(char *out, double x, int dec)
{
    if (signbit(x))
        *out++ = '-';
    /* |x| = m 2^-sh straight from the bits (what frexp and ldexp would give, without the calls):
     * a normal number is (2^52 + fraction) 2^(exponent - 1075). Below 2^-18 (exponent field
     * 1005), zero and subnormals included, x 10^5 < 0.39 rounds to 0 whatever dec is. */
    uint64_t bits;
    memcpy(&bits, &x, sizeof bits);
    int be = (int)((bits >> 52) & 0x7ffu);
    uint64_t q = 0;
    if (be >= 1005) {
        uint64_t m = (bits & ((UINT64_C(1) << 52) - 1u)) | UINT64_C(1) << 52;
        /* P = m 10^dec < 2^53 2^17 = 2^70 is a 2^32 + b. P >> 7 = a 2^25 + (b >> 7) fits in 64
         * bits; the 7 bits it drops lie below the rounding bit (bit sh - 1 >= 12), where all
         * that matters is whether any is set: OR-ed into bit 0 ("sticky"), they round the same. */
        uint64_t p = pow10_u64[dec];
        uint64_t a = (m >> 32) * p, b = (m & 0xffffffffu) * p;
        uint64_t r = ((a << 25) + (b >> 7)) | ((b & 0x7fu) != 0);
        int s = 1068 - be;                        /* sh - 7: 6 (|x| < 1e12 < 2^40) to 63 */
        q = r >> s;
        /* The remainder left-aligned, so a half is 2^63 (its bit 0 is clear: s <= 63). Up if
         * above the half, or on it with q odd (half to even): (rem | (q & 1)) > 2^63. */
        uint64_t rem = r << (64 - s);
        q += (rem | (q & 1u)) > UINT64_C(1) << 63;
    }
    /* A division by a constant is a multiply: one case per number of decimals (dec is a
     * constant where this is inlined). The fraction fits 32 bits, whose divisions cost less. */
    uint64_t ip;
    uint32_t fp;
    switch (dec) {
    case 0: ip = q; fp = 0; break;
    case 1: ip = q / 10u; fp = (uint32_t)(q % 10u); break;
    case 2: ip = q / 100u; fp = (uint32_t)(q % 100u); break;
    case 3: ip = q / 1000u; fp = (uint32_t)(q % 1000u); break;
    case 4: ip = q / 10000u; fp = (uint32_t)(q % 10000u); break;
    default: ip = q / 100000u; fp = (uint32_t)(q % 100000u); break;
    }
    /* The integer part of most fields has one or two digits: written straight out. Longer ones
     * go two at a time from a table of pairs (half the divisions of one at a time) backwards into
     * tmp, ending at tmp[16], and are copied as a fixed 16 bytes (ip <= 10^12: at most 13 digits),
     * which the compiler inlines where a copy of the exact length would be a call to memcpy; the
     * bytes past tmp[16] are never written (no need to clear them): they land past the end
     * returned. */
    if (ip < 10u) {
        *out++ = (char)('0' + (int)ip);
    } else if (ip < 100u) {
        memcpy(out, digit_pairs + 2 * ip, 2);
        out += 2;
    } else {
        char tmp[32];
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
    }
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

/* fixed_fast with dec a constant, out of line: a trace row runs once a trace interval, so its
 * code comes in from beyond the first-level cache each time; a copy of the conversion at each
 * of its ~40 fields made the row 11 KB, and measurably slower than the calls. */
#define FIXED_DEC(d)                                                                           \
    static __attribute__((noinline)) char *fixed_dec##d(char *out, double x)                   \
    {                                                                                          \
        return fixed_fast(out, x, d);                                                          \
    }
FIXED_DEC(0)
FIXED_DEC(1)
FIXED_DEC(2)
FIXED_DEC(3)
FIXED_DEC(4)
FIXED_DEC(5)

char *trc_fixed(char *out, double x, int dec)
{
    if (!(fabs(x) < 1e12) || dec < 0 || dec > 5)
        return out + sprintf(out, "%.*f", dec, x);
    switch (dec) {
    case 0: return fixed_dec0(out, x);
    case 1: return fixed_dec1(out, x);
    case 2: return fixed_dec2(out, x);
    case 3: return fixed_dec3(out, x);
    case 4: return fixed_dec4(out, x);
    default: return fixed_dec5(out, x);
    }
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

/* The most one field can take in trc_row's buffer, its terminator included: ',' and the
 * fallback's sprintf of -DBL_MAX with 5 decimals (316 characters) and its '\0'; trc_fixed's fast
 * path (at most 20 characters and 16 scribbled past them) and the integers need less. */
enum { TRC_FIELD_MAX = 320, TRC_ROW_BUF = 8192 };
_Static_assert(17 * TRC_FIELD_MAX + 1 <= TRC_ROW_BUF, "the bank's fields and a newline fit");

void trc_row(FILE *f, const trc_bank *b, const trc_pack *p, int n)
{
    /* One fwrite per row (each costs about as much as formatting a number): the bank's 17
     * fields always fit, and the buffer is flushed before a pack only if that pack's 9 fields
     * and the newline might not, which real rows (about 60 bytes a pack) never come near. */
    char buf[TRC_ROW_BUF];
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
    for (int k = 0; k < n; k++) {
        if ((size_t)(buf + sizeof buf - o) < 9 * TRC_FIELD_MAX + 1) {
            fwrite(buf, 1, (size_t)(o - buf), f);
            o = buf;
        }
        o = put_sep_fixed(o, p[k].soc_true_pct, 3);
        o = put_sep_fixed(o, p[k].soc_rep_pct, 2);
        o = put_sep_fixed(o, p[k].i_a, 3);
        o = put_sep_fixed(o, p[k].vmax_v, 4);
        o = put_sep_fixed(o, p[k].vmin_v, 4);
        o = put_sep_fixed(o, p[k].temp_c, 2);
        o = put_sep_fixed(o, p[k].ccl_a, 2);
        o = put_sep_small(o, p[k].chg_fet);
        o = put_sep_small(o, p[k].online);
    }
    *o++ = '\n';
    fwrite(buf, 1, (size_t)(o - buf), f);
}
