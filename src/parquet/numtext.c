/*
 * numtext.c - numbers as CSV text and back, fast, with the C library's exact
 * results.
 *
 * A float column is written as CSV in the shortest text that reads back
 * as the value, as Python's repr and DuckDB write it (printf's "%.17g"
 * wrote 0.1 as 0.10000000000000001, and trying lengths with snprintf and
 * strtod costs microseconds a value). Here |v| * 10^q comes from one
 * 64 x 128-bit product with a table of the powers of ten (128-bit
 * mantissas, truncated, made once from exact big integers) as a fixed-point
 * number of 17 digits and 64 fraction bits, its error below 3 units of the
 * last bit; half the distance to v's neighbouring doubles (or floats) is
 * that number over twice v's mantissa. Digits are dropped one at a time
 * while the decimal nearest v on either side stays within it. Where a
 * comparison is within the error of deciding, and with the test knob, the
 * text is found by trial with snprintf and strtod instead (tests compare
 * both on millions of values, and the CSV with Python's repr and DuckDB's).
 *
 * Parsing: integers and plain decimals with few digits take a fast path
 * (Clinger's: a mantissa below 2^53 and a power of ten up to 22 are exact in
 * double, so one division or multiplication rounds correctly, as strtod
 * does); anything else goes to strtoll / strtod as before.
 */
#include "parquet.h"

#include <errno.h>
#include <math.h>
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

/* |v| (finite, not 0) at 17 digits (scaled): */
typedef struct {
    int x;                 /* the decimal exponent of the first digit */
    unsigned __int128 h;   /* |v| * 10^(16-x) = h * 2^-sh, less under 2 units of h */
    int sh, e2;            /* |v| = mm * 2^e2, mm's top bit 63 */
    int exact;             /* h is exact */
    unsigned __int128 ten; /* 10^(16-x) = ten * 2^(-sh-64-e2), truncated */
    int ten_exact;         /* ... exactly */
} scaled17;

/* -1: undecided (the caller's slow path). x is where |v| rounded to 17
 * digits has its first (near a half of the last it may be one off, at a
 * power of ten). */
static int scaled(double v, scaled17 *o)
{
    uint64_t bits;
    memcpy(&bits, &v, 8);
    int biased = (int)(bits >> 52 & 0x7ff), e;
    uint64_t m = bits & ((1ULL << 52) - 1);
    if (biased == 0) {
        e = -1074;
    } else {
        m |= 1ULL << 52;
        e = biased - 1075;
    }
    int lz = __builtin_clzll(m);
    uint64_t mm = m << lz; /* v = mm * 2^e2, mm in [2^63, 2^64) */
    o->e2 = e - lz;
    pthread_once(&pow10_once, pow10_init);
    /* the decimal exponent, first a guess from floor(log10(2^(e2 + 63))),
     * corrected below */
    o->x = (int)(((int64_t)(o->e2 + 63) * 78913) >> 18);
    const uint64_t lower = 10000000000000000ULL, upper = 100000000000000000ULL;
    for (int tries = 0;; tries++) {
        int q = 16 - o->x;
        if (tries == 4 || q < QMIN || q > QMAX)
            return -1;
        const pow10_128 *t = &pow10_tab[q - QMIN];
        unsigned __int128 a = (unsigned __int128)mm * t->lo, b = (unsigned __int128)mm * t->hi;
        o->h = b + (a >> 64);         /* the product's top 128 of 192 bits */
        o->sh = -(o->e2 + t->e) - 64; /* v * 10^q ~ h * 2^-sh */
        if (o->sh <= 1 || o->sh >= 128 || (o->h >> o->sh) >> 63)
            return -1;
        uint64_t n = (uint64_t)(o->h >> o->sh); /* the digits, rounded: 10^16..10^17 - 1 */
        o->ten = (unsigned __int128)t->hi << 64 | t->lo;
        /* 10^q for q in 0..55 is exact in the table (5^55 < 2^128) */
        o->ten_exact = q >= 0 && q <= 55;
        o->exact = o->ten_exact && (uint64_t)a == 0;
        unsigned __int128 frac = o->h & (((unsigned __int128)1 << o->sh) - 1);
        unsigned __int128 half = (unsigned __int128)1 << (o->sh - 1);
        n += frac > half;
        if (n >= upper)
            o->x++;
        else if (n < lower)
            o->x--;
        else
            return 0;
    }
}

/* Digits d (nd of them, no trailing zero) times 10^x (x: the exponent of
 * the first digit) as Python's repr writes a float: fixed notation for x
 * from -4 to 15, with ".0" when integral, else d.ddde+XX. */
static size_t repr_text(char *buf, int neg, const char *d, int nd, int x)
{
    char *p = buf;
    if (neg)
        *p++ = '-';
    if (x < -4 || x >= 16) {
        *p++ = d[0];
        if (nd > 1) {
            *p++ = '.';
            memcpy(p, d + 1, (size_t)nd - 1);
            p += nd - 1;
        }
        *p++ = 'e';
        *p++ = x < 0 ? '-' : '+';
        unsigned ax = (unsigned)(x < 0 ? -x : x);
        if (ax < 10)
            *p++ = '0';
        p += u64_text(p, ax);
    } else if (x >= 0) {
        for (int i = 0; i <= x; i++)
            *p++ = i < nd ? d[i] : '0';
        *p++ = '.';
        if (nd > x + 1) {
            memcpy(p, d + x + 1, (size_t)(nd - x - 1));
            p += nd - x - 1;
        } else {
            *p++ = '0';
        }
    } else {
        *p++ = '0';
        *p++ = '.';
        for (int i = 0; i < -x - 1; i++)
            *p++ = '0';
        memcpy(p, d, (size_t)nd);
        p += nd;
    }
    *p = 0;
    return (size_t)(p - buf);
}

/* n (a decimal of prec digits, or one more or fewer after a carry or a
 * borrow) times 10^(x - prec + 1), as repr_text writes it. */
static size_t digits_text(char *buf, int neg, uint64_t n, int prec, int x)
{
    char d[24];
    int nd = (int)u64_text(d, n);
    x += nd - prec;
    while (nd > 1 && d[nd - 1] == '0')
        nd--;
    return repr_text(buf, neg, d, nd, x);
}

static int reads_back(const char *text, double a, int is_float)
{
    return is_float ? strtof(text, NULL) == (float)a : strtod(text, NULL) == a;
}

/* bs__pq_shortest_text by trial with the C library: for each length, the
 * decimal of that length closest to v, then its neighbour on v's other
 * side (v's interval is narrower below it at a power of two). */
static size_t slow_shortest(char *buf, double v, int is_float)
{
    bs__pq_shortest_trials++;
    int neg = signbit(v) != 0;
    double a = fabs(v);
    char e[48];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(e, sizeof(e), "%.*e", prec - 1, a);
        uint64_t n = 0;
        const char *q = e;
        for (; *q && *q != 'e'; q++)
            if (*q != '.')
                n = n * 10 + (uint64_t)(*q - '0');
        int x = atoi(q + 1);
        double back = strtod(e, NULL);
        if (reads_back(e, a, is_float))
            return digits_text(buf, neg, n, prec, x);
        uint64_t o = back < a ? n + 1 : n - 1;
        snprintf(e, sizeof(e), "%llue%d", (unsigned long long)o, x - prec + 1);
        if (reads_back(e, a, is_float))
            return digits_text(buf, neg, o, prec, x);
    }
    return (size_t)snprintf(buf, 32, "%.17g", v); /* not reached: 17 digits read back */
}

int bs__pq_shortest_trial, bs__pq_shortest_trials;

/* The error of the fixed-point numbers below, in their units. */
#define NEAR_MARGIN 8

/* Whether a decimal d units from v reads back as v, where that stops at
 * bound (+ a fraction when more; the decimal exactly there reads back when
 * even): 1 or 0, or -1 when not exact and too close to call. */
static int near_enough(unsigned __int128 d, unsigned __int128 bound, int more, int even, int exact)
{
    if (exact)
        return d < bound || (d == bound && (more || even));
    if (d + NEAR_MARGIN < bound)
        return 1;
    return d > bound + NEAR_MARGIN ? 0 : -1;
}

size_t bs__pq_shortest_text(char *buf, double v, int is_float)
{
    if (is_float)
        v = (double)(float)v;
    if (isnan(v)) {
        memcpy(buf, "nan", 4);
        return 3;
    }
    if (isinf(v)) {
        memcpy(buf, v < 0 ? "-inf" : "inf", v < 0 ? 5 : 4);
        return v < 0 ? 4 : 3;
    }
    int neg = signbit(v) != 0;
    if (v == 0)
        return repr_text(buf, neg, "0", 1, 0);
    /* v = m * 2^u: the distance to its neighbours is 2^u, half that to
     * where a decimal stops reading back as v; half again below v when m
     * is a power of two (and v not the smallest normal) */
    int low_half, u, even;
    if (is_float) {
        float f = (float)v;
        uint32_t fb;
        memcpy(&fb, &f, 4);
        int fe = (int)(fb >> 23 & 0xff);
        low_half = (fb & 0x7fffff) == 0 && fe > 1;
        u = fe ? fe - 150 : -149;
        even = !(fb & 1);
    } else {
        uint64_t bits;
        memcpy(&bits, &v, 8);
        int de = (int)(bits >> 52 & 0x7ff);
        low_half = (bits & ((1ULL << 52) - 1)) == 0 && de > 1;
        u = de ? de - 1075 : -1074;
        even = !(bits & 1);
    }
    scaled17 sc;
    if (bs__pq_shortest_trial || scaled(v, &sc) || sc.sh < 64)
        return slow_shortest(buf, v, is_float);
    /* In units of 2^-64 of the 17th digit: H, |v| (exactly, or less under 3
     * units); hi and lo, how far above and below v a decimal still reads
     * back as v, 2^(u-1) * 10^q (rounded down; at exactly that far it reads
     * back when m is even: the C library rounds halves to even). */
    int x = sc.x, s = sc.sh + sc.e2 + 1 - u, slo = s + low_half;
    if (s < 1 || slo > 127)
        return slow_shortest(buf, v, is_float);
    const unsigned __int128 U0 = (unsigned __int128)1 << 64;
    unsigned __int128 H = sc.h >> (sc.sh - 64);
    int exact = sc.exact && (H << (sc.sh - 64)) == sc.h;
    unsigned __int128 hi = sc.ten >> s, lo = sc.ten >> slo;
    int hi_more = (hi << s) != sc.ten || !sc.ten_exact;
    int lo_more = (lo << slo) != sc.ten || !sc.ten_exact;
    uint64_t N = (uint64_t)(H >> 64), best = 0;
    unsigned __int128 r = H & (U0 - 1), U = U0;
    int bestk = -1;
    /* Drop one digit at a time (k dropped): the decimals of 17 - k digits
     * nearest v are N * U below and (N + 1) * U above. A length that reads
     * back makes every longer one read back: the last that does wins, the
     * nearer of its two when both do (the even one when exactly as near).
     * A comparison within the error decides nothing: needed at a length
     * (whether it reads back, or which of two is nearer at the last), the
     * text is found by trial. */
    int unsure = 0;
    for (int k = 0; k < 17; k++) {
        unsigned __int128 below = r, above = U - r;
        int in_below = near_enough(below, lo, lo_more, even, exact);
        int in_above = near_enough(above, hi, hi_more, even, exact);
        if (in_below < 1 && in_above < 1) {
            if (in_below < 0 || in_above < 0)
                return slow_shortest(buf, v, is_float);
            break;
        }
        int b_first; /* the nearer that reads back */
        if (in_below == 1 && in_above == 1 && below == above && exact)
            b_first = N % 2 == 0;
        else
            b_first = in_below == 1 && (in_above != 1 || below < above);
        unsigned __int128 d1 = b_first ? below : above, d2 = b_first ? above : below;
        int other = b_first ? in_above != 0 : in_below != 0;
        best = b_first ? N : N + 1;
        bestk = k;
        unsure = !exact && other && d2 <= d1 + NEAR_MARGIN; /* the other may be as near */
        /* A 0 dropped below v leaves it as near, and the decimal above only
         * farther: those lengths read back too, by the one below (the
         * digits of a short decimal such as 123.456, all at once) */
        if (b_first && in_above == 0)
            while (k < 16 && N % 10 == 0) {
                N /= 10;
                U *= 10;
                best = N;
                bestk = ++k;
            }
        if (k == 16)
            break;
        r += (unsigned __int128)(N % 10) * U;
        N /= 10;
        U *= 10;
    }
    if (bestk < 0 || unsure)
        return slow_shortest(buf, v, is_float);
    return digits_text(buf, neg, best, 17 - bestk, x);
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
