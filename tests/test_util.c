/*
 * test_util.c - key validation, hashing, hex, codecs in isolation.
 */
#include "internal.h"
#include "test.h"

#include <time.h>

#include <jansson.h>
#include <lz4.h>
#include <pthread.h>
#include <xxhash.h>

TEST(keys_valid_utf8_accepted)
{
    CHECK_EQ(bs__key_check("a"), 0);
    CHECK_EQ(bs__key_check("../../etc/passwd"), 0);
    CHECK_EQ(bs__key_check("日本語/ключ"), 0);
    CHECK_EQ(bs__key_check("\xf0\x9f\x98\x80 emoji"), 0);
    CHECK_EQ(bs__key_check("\xf4\x8f\xbf\xbf"), 0); /* U+10FFFF */
}

/* bs__utf8_valid on seeded random texts built from pieces whose validity is
 * known: runs of ASCII and 2-, 3- and 4-byte characters, with at most one
 * bad piece (NUL, a lone continuation byte, an overlong form, a surrogate,
 * a code point above U+10FFFF, a sequence cut short) at a random place, so
 * that every piece falls at every offset of the 8-byte ASCII steps. */
TEST(utf8_checked_across_ascii_steps)
{
    unsigned seed = (unsigned)time(NULL);
    printf("seed %u\n", seed);
    srand(seed);
    static const char *const good[] = {"\xc3\xa9",         "\xe6\x97\xa5", "\xf0\x9f\x98\x80",
                                       "\xf4\x8f\xbf\xbf", "\xed\x9f\xbf", "\xee\x80\x80"};
    static const char *const bad[] = {"\x00",
                                      "\x80",
                                      "\xbf",
                                      "\xc0\x80",
                                      "\xc1\xbf",
                                      "\xe0\x80\xaf",
                                      "\xed\xa0\x80",
                                      "\xf4\x90\x80\x80",
                                      "\xf8\x88\x80\x80\x80",
                                      "\xff",
                                      "\xc3",
                                      "\xe6\x97"};
    static const size_t bad_len[] = {1, 1, 1, 2, 2, 3, 3, 4, 5, 1, 1, 2};
    unsigned char buf[256];
    for (int iter = 0; iter < 20000; iter++) {
        size_t n = 0;
        int want = 1, npieces = rand() % 12, bad_at = rand() % 2 ? rand() % (npieces + 1) : -1;
        for (int p = 0; p <= npieces; p++) {
            if (p == bad_at) {
                int b = rand() % (int)(sizeof(bad) / sizeof(bad[0]));
                /* (a cut-short sequence is bad only if an ASCII byte or the end follows) */
                memcpy(buf + n, bad[b], bad_len[b]);
                n += bad_len[b];
                if (b >= 10) {
                    buf[n++] = 'x';
                }
                want = 0;
            } else if (rand() % 2) {
                size_t run = (size_t)(rand() % 20);
                for (size_t k = 0; k < run; k++)
                    buf[n++] = (unsigned char)(0x20 + rand() % 0x5f);
            } else {
                const char *g = good[rand() % (int)(sizeof(good) / sizeof(good[0]))];
                memcpy(buf + n, g, strlen(g));
                n += strlen(g);
            }
        }
        if (bs__utf8_valid(buf, n) != want) {
            printf("seed %u, iteration %d: %zu bytes, expected %s\n", seed, iter, n,
                   want ? "valid" : "invalid");
            CHECK_EQ(bs__utf8_valid(buf, n), want);
            return;
        }
    }
}

TEST(keys_invalid_refused)
{
    CHECK_EQ(bs__key_check(NULL), BLOBSTORE_EINVAL);
    CHECK_EQ(bs__key_check(""), BLOBSTORE_EINVAL);
    CHECK_EQ(bs__key_check("\x80"), BLOBSTORE_EINVAL);             /* lone continuation */
    CHECK_EQ(bs__key_check("\xc3"), BLOBSTORE_EINVAL);             /* truncated */
    CHECK_EQ(bs__key_check("\xc0\x80"), BLOBSTORE_EINVAL);         /* overlong NUL */
    CHECK_EQ(bs__key_check("\xe0\x80\xaf"), BLOBSTORE_EINVAL);     /* overlong */
    CHECK_EQ(bs__key_check("\xed\xb0\x80"), BLOBSTORE_EINVAL);     /* surrogate */
    CHECK_EQ(bs__key_check("\xf4\x90\x80\x80"), BLOBSTORE_EINVAL); /* > U+10FFFF */
    CHECK_EQ(bs__key_check("\xff"), BLOBSTORE_EINVAL);
    char k[BLOBSTORE_KEY_MAX + 2];
    memset(k, 'a', sizeof(k));
    k[BLOBSTORE_KEY_MAX] = '\0';
    CHECK_EQ(bs__key_check(k), 0);
    k[BLOBSTORE_KEY_MAX] = 'a';
    k[BLOBSTORE_KEY_MAX + 1] = '\0';
    CHECK_EQ(bs__key_check(k), BLOBSTORE_EINVAL);
    CHECK(strstr(blobstore_errmsg(), "1025") != NULL);
}

/* bs__iso_time against snprintf of gmtime_r's fields, at seeded random
 * times from 1970 to 9999 and at the ends of that range. */
TEST(iso_time_matches_snprintf)
{
    unsigned seed = (unsigned)time(NULL);
    printf("seed %u\n", seed);
    srand(seed);
    for (int i = 0; i < 20000; i++) {
        struct timespec ts;
        if (i == 0)
            ts = (struct timespec){0, 0};
        else if (i == 1)
            ts = (struct timespec){253402300799, 999999999}; /* 9999-12-31T23:59:59 */
        else
            ts = (struct timespec){
                (time_t)(((uint64_t)rand() << 31 | (uint64_t)rand()) % 253402300800ull),
                rand() % 1000000000};
        char got[32], want[32];
        struct tm tm;
        gmtime_r(&ts.tv_sec, &tm);
        snprintf(want, sizeof(want), "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000);
        bs__iso_time(got, &ts);
        if (strcmp(got, want) != 0)
            test__fail(__FILE__, __LINE__, "%lld.%09ld: %s, not %s", (long long)ts.tv_sec,
                       ts.tv_nsec, got, want);
    }
}

/* An error saved across cleanup comes back whole: empty, short, and one
 * truncated to the buffer (BS_ERRMSG_MAX - 1 characters). */
TEST(error_state_capture_and_restore)
{
    char longmsg[BS_ERRMSG_MAX + 200];
    memset(longmsg, 'x', sizeof(longmsg) - 1);
    longmsg[sizeof(longmsg) - 1] = 0;
    const char *msgs[] = {"", "a short one", longmsg};
    for (int i = 0; i < 3; i++) {
        int code = bs__error(BLOBSTORE_EIO, "%s", msgs[i]);
        char want[BS_ERRMSG_MAX];
        snprintf(want, sizeof(want), "%s", blobstore_errmsg());
        CHECK_EQ(strlen(want), i == 2 ? (size_t)BS_ERRMSG_MAX - 1 : strlen(msgs[i]));
        bs_error_state es;
        bs__error_state_capture(&es, code);
        CHECK_STR(blobstore_errmsg(), ""); /* cleared for the cleanup */
        bs__error(BLOBSTORE_ENOMEM, "the cleanup's own error");
        CHECK_EQ(bs__error_state_restore(&es), BLOBSTORE_EIO);
        CHECK_STR(blobstore_errmsg(), want);
    }
    bs__error_clear();
}

TEST(sha256_known_vectors)
{
    char hex[65];
    bs__sha256_hex(hex, "", 0);
    CHECK_STR(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    bs__sha256_hex(hex, "abc", 3);
    CHECK_STR(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    bs_sha256 *h = bs__sha256_new();
    bs__sha256_update(h, "a", 1);
    bs__sha256_update(h, "bc", 2);
    bs__sha256_final_hex(h, hex);
    CHECK_STR(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"; /* FIPS 180-2 */
    bs__sha256_hex(hex, two, strlen(two));
    CHECK_STR(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    /* the one-shot (low-level SHA256_*) against the streaming hash (EVP) of
     * seeded random bytes, every length across the first blocks' edges */
    unsigned seed = (unsigned)time(NULL);
    printf("seed %u\n", seed);
    srand(seed);
    static unsigned char buf[300];
    for (size_t n = 0; n <= sizeof(buf); n++) {
        for (size_t i = 0; i < n; i++)
            buf[i] = (unsigned char)rand();
        char one[65], streamed[65];
        bs__sha256_hex(one, buf, n);
        h = bs__sha256_new();
        bs__sha256_update(h, buf, n / 3);
        bs__sha256_update(h, buf + n / 3, n - n / 3);
        bs__sha256_final_hex(h, streamed);
        if (strcmp(one, streamed) != 0)
            test__fail(__FILE__, __LINE__, "SHA-256 of %zu bytes: %s one-shot, %s streamed", n, one,
                       streamed);
    }
}

/* bs_library: a library that cannot be loaded, or lacks a symbol, is an
 * error naming it, every time it is asked for; one that loads fills every
 * slot with the symbol dlsym finds. */
TEST(library_loaded_at_first_use)
{
    void *slot = NULL;
    bs_symbol sym[] = {{"strlen", &slot}};
    bs_library missing = {"libblobstore-no-such-library.so.7", sym, 1, 0, ""};
    for (int i = 0; i < 2; i++) {
        CHECK_EQ(bs__library_load(&missing), BLOBSTORE_EIO);
        CHECK(strstr(blobstore_errmsg(), "cannot load libblobstore-no-such-library.so.7"));
        CHECK(slot == NULL);
    }
    void *a = NULL, *b = NULL;
    bs_symbol lacking[] = {{"strlen", &a}, {"blobstore_no_such_symbol", &b}};
    bs_library libc_lacking = {"libc.so.6", lacking, 2, 0, ""};
    CHECK_EQ(bs__library_load(&libc_lacking), BLOBSTORE_EIO);
    CHECK(strstr(blobstore_errmsg(), "libc.so.6's blobstore_no_such_symbol"));
    void *s1 = NULL, *s2 = NULL;
    bs_symbol found[] = {{"strlen", &s1}, {"memcmp", &s2}};
    bs_library libc = {"libc.so.6", found, 2, 0, ""};
    CHECK_EQ(bs__library_load(&libc), 0);
    CHECK_EQ(bs__library_load(&libc), 0);
    size_t (*my_strlen)(const char *);
    memcpy(&my_strlen, &s1, sizeof(my_strlen));
    CHECK_EQ(my_strlen("four"), 4);
    CHECK(s2 != NULL);
}

TEST(checked_arithmetic)
{
    size_t r;
    CHECK_EQ(bs__add_overflow(&r, SIZE_MAX, 1), 1);
    CHECK_EQ(bs__add_overflow(&r, 2, 3), 0);
    CHECK_EQ(r, 5);
    CHECK_EQ(bs__mul_overflow(&r, SIZE_MAX / 2, 3), 1);
    CHECK_EQ(bs__mul_overflow(&r, 6, 7), 0);
    CHECK_EQ(r, 42);
}

TEST(codecs_round_trip_and_reject_garbage)
{
    static const char *names[] = {"none", "lz4", "zstd", "gzip", "blosclz"};
    size_t n = 200000;
    unsigned char *src = malloc(n), *dst, *back = malloc(n);
    for (size_t i = 0; i < n; i++)
        src[i] = (unsigned char)(i / 100);
    for (int c = 0; c < 5; c++) {
        const bs_codec *codec = bs__codec_by_name(names[c]);
        CHECK(codec != NULL);
        CHECK(bs__codec_by_id(codec->id) == codec);
        size_t cap = codec->bound(n), out = 0;
        dst = malloc(cap);
        for (int level = 1; level <= 9; level += 4) {
            CHECK_EQ(codec->compress(dst, cap, src, n, level, &out), 0);
            if (c > 0)
                CHECK(out < n / 4);
            CHECK_EQ(codec->decompress(back, n, dst, out), 0);
            CHECK(memcmp(src, back, n) == 0);
            /* Asking for a different length is corruption, not silent success. */
            CHECK_EQ(codec->decompress(back, n - 1, dst, out), BLOBSTORE_ECORRUPT);
        }
        if (c > 0) {
            memset(dst, 0xAB, 64);
            CHECK_EQ(codec->decompress(back, n, dst, out), BLOBSTORE_ECORRUPT);
        }
        free(dst);
    }
    CHECK(bs__codec_by_name("snappy") == NULL);
    CHECK(bs__codec_by_id(77) == NULL);
    free(src);
    free(back);
}

/* lz4 at levels 1..3 keeps a state per thread from one small value to
 * the next (codec.c): each block must stand alone, whatever the thread
 * compressed before. Seeded random values (LZ4_SEED), most of them pieces
 * of one pool of text, so that a value finds matches in the one before it
 * were that still in reach; sizes around the kept state's limit and
 * larger (to 70,000 bytes: both of LZ4's table layouts), past the 1 GB of
 * stream offsets at which LZ4 clears the state (twice); each block decompressed alone by
 * LZ4_decompress_safe (no dictionary) and compared; in all no more than 2% larger than
 * LZ4_compress_fast's blocks of the same values; on two threads at once. */
typedef struct {
    unsigned seed;
    int bad;
    uint64_t ours, lz4;
} lz4_job;

static void *lz4_run(void *p)
{
    lz4_job *j = p;
    const bs_codec *codec = bs__codec_by_name("lz4");
    enum { POOL = 1 << 17, MAXN = 70000, RUNS = 36000 };
    unsigned char *pool = malloc(POOL), *src = malloc(MAXN), *dst = malloc(LZ4_COMPRESSBOUND(MAXN)),
                  *ref = malloc(LZ4_COMPRESSBOUND(MAXN)), *back = malloc(MAXN);
    uint64_t x = j->seed | 1;
#define NEXT() (x ^= x << 13, x ^= x >> 7, x ^= x << 17, x)
    for (size_t i = 0; i < POOL; i++) /* a small alphabet: compressible */
        pool[i] = (unsigned char)("etaoin shrdlu"[NEXT() % 13]);
    for (int r = 0; r < RUNS; r++) {
        uint64_t k = NEXT();
        size_t n = (size_t)(NEXT() % (k % 32 == 0 ? MAXN : 1100));
        size_t from = (size_t)(NEXT() % (POOL - MAXN));
        if (k % 5 == 1) /* random bytes: incompressible */
            for (size_t i = 0; i < n; i++)
                src[i] = (unsigned char)NEXT();
        else
            memcpy(src, pool + from, n);
        int level = 1 + (int)(k % 3);
        size_t cap = codec->bound(n), out = 0;
        if (codec->compress(dst, cap, src, n, level, &out) != 0 ||
            LZ4_decompress_safe((const char *)dst, (char *)back, (int)out, MAXN) != (int)n ||
            (n && memcmp(back, src, n) != 0)) {
            j->bad++;
            continue;
        }
        j->ours += out;
        j->lz4 += (uint64_t)LZ4_compress_fast((const char *)src, (char *)ref, (int)n,
                                              LZ4_COMPRESSBOUND(MAXN), 4 - level);
    }
#undef NEXT
    free(pool);
    free(src);
    free(dst);
    free(ref);
    free(back);
    return NULL;
}

TEST(lz4_blocks_stand_alone)
{
    unsigned seed =
        getenv("LZ4_SEED") ? (unsigned)strtoul(getenv("LZ4_SEED"), NULL, 10) : (unsigned)time(NULL);
    printf("  lz4_blocks_stand_alone: seed %u (LZ4_SEED)\n", seed);
    lz4_job jobs[2] = {{seed, 0, 0, 0}, {seed + 1, 0, 0, 0}};
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, lz4_run, &jobs[1]), 0);
    lz4_run(&jobs[0]);
    pthread_join(t, NULL);
    for (int i = 0; i < 2; i++) {
        CHECK_EQ(jobs[i].bad, 0);
        CHECK(jobs[i].ours <= jobs[i].lz4 + jobs[i].lz4 / 50);
    }
}

TEST(atomic_file_write)
{
    const char *dir = test_tmpdir();
    char *p = bs__path_join(dir, "f.txt");
    CHECK_EQ(bs__write_file_atomic(p, "one", 3, 1), 0);
    CHECK_EQ(bs__write_file_atomic(p, "second", 6, 0), 0);
    bs_buf b = {0};
    CHECK_EQ(bs__read_file(p, &b), 0);
    CHECK_EQ(b.len, 6);
    CHECK_MEM(b.data, "second", 6);
    bs__buf_free(&b);
    char *q = bs__path_join(dir, "missing");
    CHECK_EQ(bs__read_file(q, &b), BLOBSTORE_ENOTFOUND);
    bs__buf_free(&b);
    free(p);
    free(q);
}

TEST(json_text_is_shortest_and_exact)
{
    json_error_t err;
    const char *in = "{\"a\":0.95,\"b\":1.0,\"c\":0.1,\"d\":123456789012,\"e\":[true,false,null],"
                     "\"f\":\"q\\\"\\n\\u0001\u00e9\",\"g\":2.5e-300,\"h\":0.30000000000000004}";
    json_t *v = json_loads(in, 0, &err);
    CHECK(v != NULL);
    char *out = bs__json_dumps(v);
    CHECK_STR(out, "{\"a\":0.95,\"b\":1.0,\"c\":0.1,\"d\":123456789012,\"e\":[true,false,null],"
                   "\"f\":\"q\\\"\\n\\u0001\u00e9\",\"g\":2.5e-300,\"h\":0.30000000000000004}");
    json_t *back = json_loads(out, 0, &err);
    CHECK(json_equal(v, back));
    free(out);
    json_decref(v);
    json_decref(back);
}

/* bs__xxh3_64 (AVX2 where the CPU has it) is the library's XXH3_64bits:
 * every length to 2,100 (each of XXH3's short-input paths and the first
 * stripes), then random lengths to 3 MB at random offsets, of seeded random
 * bytes. */
TEST(xxh3_is_the_librarys)
{
    uint64_t seed = 20261203, x = seed;
    if (getenv("XXH3_SEED"))
        x = seed = strtoull(getenv("XXH3_SEED"), NULL, 10);
    printf("  xxh3_is_the_librarys: seed %llu (XXH3_SEED)\n", (unsigned long long)seed);
    size_t cap = (size_t)3 << 20;
    uint8_t *buf = malloc(cap + 64);
    CHECK(buf != NULL);
    for (size_t i = 0; i < cap + 64; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        buf[i] = (uint8_t)x;
    }
    for (int lib = 0; lib < 2; lib++) { /* (and with the library forced) */
        bs__xxh3_lib_only = lib;
        int bad = 0;
        for (size_t n = 0; n <= 2100; n++)
            bad += bs__xxh3_64(buf + n % 61, n) != XXH3_64bits(buf + n % 61, n);
        for (int r = 0; r < 200; r++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            size_t n = (size_t)(x % cap), off = (size_t)(x >> 40) % 64;
            bad += bs__xxh3_64(buf + off, n) != XXH3_64bits(buf + off, n);
            /* seeded (the frame's chunk checksums): lengths as seeds, as frame.c's */
            uint64_t s = x % 3 ? (uint64_t)n << 32 | (x & 0xffffffffu) : x;
            bad += bs__xxh3_64_seed(buf + off, n, s) != XXH3_64bits_withSeed(buf + off, n, s);
        }
        for (size_t n = 0; n <= 2100; n++)
            bad += bs__xxh3_64_seed(buf + n % 61, n, n * 0x9E3779B97F4A7C15ull) !=
                   XXH3_64bits_withSeed(buf + n % 61, n, n * 0x9E3779B97F4A7C15ull);
        CHECK_EQ(bad, 0);
    }
    bs__xxh3_lib_only = 0;
    free(buf);
}

/* Random text for the compact-object test: pieces that the fast path takes
 * and pieces that it must leave to the parser (escapes, UTF-8, control
 * bytes, reals, nesting, leading zeros, -0, long integers, duplicates, bad
 * syntax), with random whitespace. */
static void rnd_ws(bs_buf *b)
{
    static const char *const ws[] = {"", "", "", " ", "\t", "\n", "\r\n", "  ", "\v", "\f"};
    const char *w = ws[rand() % (rand() % 8 ? 8 : 10)];
    bs__buf_append(b, w, strlen(w));
}

static void rnd_string(bs_buf *b, int names)
{
    static const char *const odd[] = {"\\\"", "\\\\", "\\u00e9", "\xc3\xa9", "\x01", "\\n",
                                      "/",    "\x7f", "\xff",    "\\/",      "'"};
    bs__buf_append(b, "\"", 1);
    int n = rand() % (names ? 4 : 8);
    for (int i = 0; i < n; i++) {
        if (rand() % 12 == 0) {
            const char *o = odd[rand() % 11];
            bs__buf_append(b, o, strlen(o));
        } else {
            char c = (char)(names ? "abcab"[rand() % 5] : 0x20 + rand() % 95);
            if (c == '"' || c == '\\')
                c = 'x';
            bs__buf_append(b, &c, 1);
        }
    }
    bs__buf_append(b, "\"", 1);
}

static void rnd_value(bs_buf *b, int depth)
{
    static const char *const words[] = {"true", "false", "null", "tru", "nul", "True"};
    static const char *const reals[] = {"1.5", "0.95", "1e3", "-2.5E-3", "1.0", "0.1"};
    char num[48];
    int k = rand() % 10;
    if (k < 3) {
        rnd_string(b, 0);
    } else if (k < 6) { /* integers, 1..21 digits, sometimes odd */
        int digits = 1 + (rand() % 4 == 0 ? rand() % 21 : rand() % 6), at = 0;
        if (rand() % 4 == 0)
            num[at++] = '-';
        for (int i = 0; i < digits; i++)
            num[at++] = (char)('0' + (i == 0 && rand() % 6 ? 1 + rand() % 9 : rand() % 10));
        num[at] = 0;
        bs__buf_append(b, num, strlen(num));
    } else if (k < 8) {
        const char *w = words[rand() % (rand() % 10 ? 3 : 6)];
        bs__buf_append(b, w, strlen(w));
    } else if (k == 8) {
        const char *r = reals[rand() % 6];
        bs__buf_append(b, r, strlen(r));
    } else if (depth < 2) { /* nesting: left to the parser */
        int arr = rand() % 2, n = rand() % 3;
        bs__buf_append(b, arr ? "[" : "{", 1);
        for (int i = 0; i < n; i++) {
            if (i)
                bs__buf_append(b, ",", 1);
            if (!arr) {
                rnd_string(b, 1);
                bs__buf_append(b, ":", 1);
            }
            rnd_value(b, depth + 1);
        }
        bs__buf_append(b, arr ? "]" : "}", 1);
    } else {
        bs__buf_append(b, "0", 1);
    }
}

/* bs__json_object_compact against jansson (the parse put uses: duplicates
 * refused) and bs__json_dumps: whenever it takes a text, the text is a valid
 * object and its output is the parse's compact text, byte for byte. Seeded
 * random texts, a good share of them taken. */
TEST(json_object_compact_matches_the_parse)
{
    unsigned seed = (unsigned)time(NULL);
    printf("seed %u\n", seed);
    srand(seed);
    int taken = 0, valid = 0, runs = 20000;
    for (int t = 0; t < runs; t++) {
        bs_buf b = {0};
        rnd_ws(&b);
        if (rand() % 40)
            bs__buf_append(&b, "{", 1);
        int n = rand() % 6;
        for (int i = 0; i < n; i++) {
            rnd_ws(&b);
            if (i)
                bs__buf_append(&b, rand() % 40 ? "," : "", 1);
            rnd_ws(&b);
            rnd_string(&b, 1);
            rnd_ws(&b);
            bs__buf_append(&b, rand() % 40 ? ":" : "=", 1);
            rnd_ws(&b);
            rnd_value(&b, 0);
        }
        rnd_ws(&b);
        if (rand() % 40 == 0)
            bs__buf_append(&b, ",", 1);
        if (rand() % 40)
            bs__buf_append(&b, "}", 1);
        rnd_ws(&b);
        if (rand() % 40 == 0)
            bs__buf_append(&b, "x", 1);
        bs__buf_append(&b, "", 1);
        const char *text = (const char *)b.data;
        json_error_t err;
        json_t *v = json_loads(text, JSON_REJECT_DUPLICATES, &err);
        char *want = v && json_is_object(v) ? bs__json_dumps(v) : NULL, *got = NULL;
        int r = bs__json_object_compact(text, &got);
        valid += want != NULL;
        if (r == 1) {
            taken++;
            if (!want || strcmp(got, want) != 0)
                test__fail(__FILE__, __LINE__, "seed %u: %s gives %s, the parse %s", seed, text,
                           got, want ? want : "an error");
        } else {
            CHECK_EQ(r, 0);
            CHECK(got == NULL);
        }
        free(got);
        free(want);
        json_decref(v);
        bs__buf_free(&b);
    }
    printf("%d texts: %d valid objects, %d taken by the fast path\n", runs, valid, taken);
    CHECK(taken > runs / 10);
    CHECK(valid > taken);
}

static const test_case tests[] = {
    TEST_ENTRY(json_text_is_shortest_and_exact),
    TEST_ENTRY(json_object_compact_matches_the_parse),
    TEST_ENTRY(keys_valid_utf8_accepted),
    TEST_ENTRY(utf8_checked_across_ascii_steps),
    TEST_ENTRY(keys_invalid_refused),
    TEST_ENTRY(iso_time_matches_snprintf),
    TEST_ENTRY(error_state_capture_and_restore),
    TEST_ENTRY(sha256_known_vectors),
    TEST_ENTRY(library_loaded_at_first_use),
    TEST_ENTRY(checked_arithmetic),
    TEST_ENTRY(codecs_round_trip_and_reject_garbage),
    TEST_ENTRY(lz4_blocks_stand_alone),
    TEST_ENTRY(atomic_file_write),
    TEST_ENTRY(xxh3_is_the_librarys),
};
TEST_MAIN(tests)
