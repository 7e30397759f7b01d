/*
 * numtext.c - numbers as CSV text and back, fast, with the C library's exact
 * results.
 *
 * Writing a float64 column as CSV with printf's "%.17g" spent most of the
 * time in glibc's multi-precision digit loop (about 1 us a value). Here the
 * decimal digits come from one 64 x 128-bit product with a table of the
 * powers of ten (128-bit mantissas, truncated, made once from exact big
 * integers): the product's error is below one unit of its upper 128 bits,
 * so the rounding is decided unless the part cut off is within that error
 * of one half. Then (ties, a few in 2^60 others) and for NaN and infinities
 * the text is snprintf's. The result is byte for byte snprintf's "%.*g"
 * (tests/test_util.c compares millions of values).
 *
 * Parsing: integers and plain decimals with few digits take a fast path
 * (Clinger's: a mantissa below 2^53 and a power of ten up to 22 are exact in
 * double, so one division or multiplication rounds correctly, as strtod
 * does); anything else goes to strtoll / strtod as before.
 */
#include "parquet.h"

#include <errno.h>
#include <pthread.h>

#define QMIN (-330)
#define QMAX 350

typedef struct {
    uint64_t hi, lo; /* 10^q ~ (hi:lo) * 2^e, the top bit of hi set, truncated */
    int32_t e;
} pow10_128;

static pow10_128 pow10_tab[QMAX - QMIN + 1];
static pthread_once_t pow10_once = PTHREAD_ONCE_INIT;

#define LIMBS 48 /* 1536 bits: 5^350 (813 bits) and 2^1280 / 5^330 */

static int big_bits(const uint32_t *l)
{
    for (int i = LIMBS - 1; i >= 0; i--)
        if (l[i])
            return 32 * i + 32 - __builtin_clz(l[i]);
    return 0;
}

/* The top 128 bits of l (bits bits long), truncated, or l shifted up. */
static void big_top(const uint32_t *l, int bits, uint64_t *hi, uint64_t *lo)
{
    unsigned __int128 v = 0;
    for (int i = 0; i < 128; i++) {
        int b = bits - 1 - i;
        v <<= 1;
        if (b >= 0 && (l[b / 32] >> (b % 32) & 1))
            v |= 1;
    }
    *hi = (uint64_t)(v >> 64);
    *lo = (uint64_t)v;
}

static void pow10_init(void)
{
    uint32_t l[LIMBS];
    /* q >= 0: 10^q = 5^q * 2^q. */
    memset(l, 0, sizeof(l));
    l[0] = 1;
    for (int q = 0; q <= QMAX; q++) {
        int bits = big_bits(l);
        pow10_128 *t = &pow10_tab[q - QMIN];
        big_top(l, bits, &t->hi, &t->lo);
        t->e = q + bits - 128;
        uint64_t carry = 0;
        for (int i = 0; i < LIMBS; i++) {
            uint64_t x = (uint64_t)l[i] * 5 + carry;
            l[i] = (uint32_t)x;
            carry = x >> 32;
        }
    }
    /* q < 0: 10^q = 2^q * 5^q, 5^-n ~ floor(2^1280 / 5^n) * 2^-1280 (floor
     * of floors: still the floor). */
    memset(l, 0, sizeof(l));
    l[1280 / 32] = 1;
    for (int n = 1; n <= -QMIN; n++) {
        uint64_t rem = 0;
        for (int i = LIMBS - 1; i >= 0; i--) {
            uint64_t x = rem << 32 | l[i];
            l[i] = (uint32_t)(x / 5);
            rem = x % 5;
        }
        int bits = big_bits(l);
        pow10_128 *t = &pow10_tab[-n - QMIN];
        big_top(l, bits, &t->hi, &t->lo);
        t->e = bits - 128 - n - 1280;
    }
}

static const char digits2[201] =
    "00010203040506070809101112131415161718192021222324252627282930313233"
    "34353637383940414243444546474849505152535455565758596061626364656667"
    "6869707172737475767778798081828384858687888990919293949596979899";

/* The digits of v < 10^8 into p (no NUL); returns their count: counted
 * first, then written two at a time from the end in 32-bit arithmetic. */
static size_t u32_small_text(char *p, uint32_t v)
{
    size_t n = v < 10000 ? (v < 100 ? 1 + (v >= 10) : 3 + (v >= 1000))
                         : (v < 1000000 ? 5 + (v >= 100000) : 7 + (v >= 10000000));
    char *e = p + n;
    while (v >= 100) {
        e -= 2;
        memcpy(e, digits2 + 2 * (v % 100), 2);
        v /= 100;
    }
    if (v >= 10)
        memcpy(e - 2, digits2 + 2 * v, 2);
    else
        e[-1] = (char)('0' + v);
    return n;
}

/* Exactly 8 digits of v < 10^8 (leading zeros kept) into p. */
static void u32_eight_text(char *p, uint32_t v)
{
    uint32_t a = v / 10000, b = v % 10000;
    memcpy(p, digits2 + 2 * (a / 100), 2);
    memcpy(p + 2, digits2 + 2 * (a % 100), 2);
    memcpy(p + 4, digits2 + 2 * (b / 100), 2);
    memcpy(p + 6, digits2 + 2 * (b % 100), 2);
}

/* The decimal digits of v into p (no NUL); returns their count. Blocks of
 * eight digits, each in 32-bit arithmetic, independent of the others. */
static size_t u64_text(char *p, uint64_t v)
{
    if (v < 100000000)
        return u32_small_text(p, (uint32_t)v);
    if (v < 10000000000000000ULL) {
        size_t n = u32_small_text(p, (uint32_t)(v / 100000000));
        u32_eight_text(p + n, (uint32_t)(v % 100000000));
        return n + 8;
    }
    uint64_t hi = v / 100000000;
    size_t n = u32_small_text(p, (uint32_t)(hi / 100000000));
    u32_eight_text(p + n, (uint32_t)(hi % 100000000));
    u32_eight_text(p + n + 8, (uint32_t)(v % 100000000));
    return n + 16;
}

size_t bs__pq_u64_text(char *buf, uint64_t v)
{
    size_t n = u64_text(buf, v);
    buf[n] = 0;
    return n;
}

size_t bs__pq_i64_text(char *buf, int64_t v)
{
    if (v >= 0)
        return bs__pq_u64_text(buf, (uint64_t)v);
    buf[0] = '-';
    return 1 + bs__pq_u64_text(buf + 1, 0 - (uint64_t)v);
}

static size_t slow_g(char *buf, double v, int prec)
{
    int n = snprintf(buf, 32, "%.*g", prec, v);
    return n < 0 ? 0 : (size_t)n;
}

size_t bs__pq_double_text(char *buf, double v, int prec)
{
    static const uint64_t p10[] = {1ULL,
                                   10ULL,
                                   100ULL,
                                   1000ULL,
                                   10000ULL,
                                   100000ULL,
                                   1000000ULL,
                                   10000000ULL,
                                   100000000ULL,
                                   1000000000ULL,
                                   10000000000ULL,
                                   100000000000ULL,
                                   1000000000000ULL,
                                   10000000000000ULL,
                                   100000000000000ULL,
                                   1000000000000000ULL,
                                   10000000000000000ULL,
                                   100000000000000000ULL};
    uint64_t bits;
    memcpy(&bits, &v, 8);
    int biased = (int)(bits >> 52 & 0x7ff);
    uint64_t m = bits & ((1ULL << 52) - 1);
    if (biased == 0x7ff || prec < 2 || prec > 17)
        return slow_g(buf, v, prec);
    char *p = buf;
    if (bits >> 63)
        *p++ = '-';
    if (biased == 0 && m == 0) {
        *p++ = '0';
        *p = 0;
        return (size_t)(p - buf);
    }
    int e;
    if (biased == 0) {
        e = -1074;
    } else {
        m |= 1ULL << 52;
        e = biased - 1075;
    }
    int lz = __builtin_clzll(m);
    uint64_t mm = m << lz; /* v = mm * 2^e2, mm in [2^63, 2^64) */
    int e2 = e - lz;
    pthread_once(&pow10_once, pow10_init);
    /* X: the decimal exponent of the rounded value; first a guess from
     * floor(log10(2^(e2 + 63))), corrected below. */
    int x = (int)(((int64_t)(e2 + 63) * 78913) >> 18);
    uint64_t lower = p10[prec - 1], upper = p10[prec], n = 0;
    for (int tries = 0;; tries++) {
        int q = prec - 1 - x;
        if (tries == 4 || q < QMIN || q > QMAX)
            return slow_g(buf, v, prec);
        const pow10_128 *t = &pow10_tab[q - QMIN];
        unsigned __int128 a = (unsigned __int128)mm * t->lo, b = (unsigned __int128)mm * t->hi;
        unsigned __int128 h = b + (a >> 64); /* the product's top 128 of 192 bits */
        int sh = -(e2 + t->e) - 64;          /* v * 10^q ~ h * 2^-sh */
        if (sh <= 1 || sh >= 128)
            return slow_g(buf, v, prec);
        if ((h >> sh) >> 63)
            return slow_g(buf, v, prec);
        n = (uint64_t)(h >> sh);
        unsigned __int128 frac = h & (((unsigned __int128)1 << sh) - 1);
        unsigned __int128 half = (unsigned __int128)1 << (sh - 1);
        /* The exact product is within [frac, frac + 2) units (the table's
         * truncation, the low 64 bits dropped): undecided near one half. */
        if (frac == half || frac + 1 == half)
            return slow_g(buf, v, prec);
        n += frac > half;
        if (n >= upper)
            x++;
        else if (n < lower)
            x--;
        else
            break;
    }
    char d[24];
    u64_text(d, n); /* prec digits */
    int last = prec - 1;
    while (last > 0 && d[last] == '0')
        last--;
    if (x < -4 || x >= prec) {
        *p++ = d[0];
        if (last > 0) {
            *p++ = '.';
            memcpy(p, d + 1, (size_t)last);
            p += last;
        }
        *p++ = 'e';
        *p++ = x < 0 ? '-' : '+';
        unsigned ax = (unsigned)(x < 0 ? -x : x);
        if (ax < 10)
            *p++ = '0';
        p += u64_text(p, ax);
    } else if (x >= 0) {
        memcpy(p, d, (size_t)x + 1);
        p += x + 1;
        if (last > x) {
            *p++ = '.';
            memcpy(p, d + x + 1, (size_t)(last - x));
            p += last - x;
        }
    } else {
        *p++ = '0';
        *p++ = '.';
        for (int i = 0; i < -x - 1; i++)
            *p++ = '0';
        memcpy(p, d, (size_t)last + 1);
        p += last + 1;
    }
    *p = 0;
    return (size_t)(p - buf);
}

int bs__pq_parse_i64(const char *s, int64_t *out)
{
    const char *p = s;
    int neg = *p == '-';
    p += neg || *p == '+';
    uint64_t v = 0;
    const char *d0 = p;
    while (*p >= '0' && *p <= '9' && p - d0 < 18)
        v = v * 10 + (uint64_t)(*p++ - '0');
    if (!*p && p > d0) { /* at most 18 digits: no overflow */
        *out = neg ? -(int64_t)v : (int64_t)v;
        return 0;
    }
    char *end;
    errno = 0;
    long long r = strtoll(s, &end, 10);
    if (errno || end == s || *end)
        return -1;
    *out = r;
    return 0;
}

int bs__pq_parse_f64(const char *s, double *out)
{
    static const double p10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                 1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    const char *p = s;
    int neg = *p == '-';
    p += neg || *p == '+';
    uint64_t w = 0;
    int nd = 0, frac = 0, any = 0;
    for (; *p >= '0' && *p <= '9'; p++, any = 1) {
        w = w * 10 + (uint64_t)(*p - '0');
        nd += w != 0;
        if (nd > 18)
            goto slow;
    }
    if (*p == '.') {
        for (p++; *p >= '0' && *p <= '9'; p++, any = 1) {
            w = w * 10 + (uint64_t)(*p - '0');
            nd += w != 0;
            frac++;
            if (nd > 18 || frac > 22)
                goto slow;
        }
    }
    if (*p || !any || w > (1ULL << 53))
        goto slow;
    double d = frac ? (double)w / p10[frac] : (double)w;
    *out = neg ? -d : d;
    return 0;
slow:;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end)
        return -1;
    *out = v;
    return 0;
}
