/*
 * codec.c - the store's compression codecs behind one table.
 *
 * Each codec compresses one chunk (at most BS_FRAME_CHUNK bytes) at a time
 * and decompresses into a buffer of the exact original length; anything
 * else is reported as corruption. Levels 1..9 are mapped onto each
 * library's own scale here, and nowhere else. Codec ids are written into
 * frames, so they never change.
 */
#include "internal.h"

#include <blosc.h>
#include <lz4.h>
#include <lz4hc.h>
#include <pthread.h>
#include <zlib.h>
#include <zstd.h>

static size_t none_bound(size_t n)
{
    return n;
}

static int none_compress(void *dst, size_t cap, const void *src, size_t n, int level, size_t *out)
{
    (void)level;
    if (cap < n)
        return bs__error(BLOBSTORE_EINVAL, "none: output buffer too small");
    memcpy(dst, src, n);
    *out = n;
    return 0;
}

static int none_decompress(void *dst, size_t raw_n, const void *src, size_t n)
{
    if (n != raw_n)
        return bs__error(BLOBSTORE_ECORRUPT, "stored chunk has %zu bytes, expected %zu", n, raw_n);
    memcpy(dst, src, n);
    return 0;
}

static size_t lz4_bound(size_t n)
{
    return (size_t)LZ4_compressBound((int)n);
}

/* LZ4_compress_fast clears its 16 KiB state (on the stack) at every call:
 * for a small value that memset was most of the compression (~1% of a
 * 200-byte relaxed put's samples, perf; 310 of 350 ns). Each thread keeps a
 * state instead, reset in O(1) by LZ4_resetStream_fast (its table's old
 * entries are then out of a match's reach) and used as a stream of one
 * block without dictionary: every match lies within src. The block is
 * LZ4's format as before (LZ4_decompress_safe reads it alone), though not
 * always byte for byte LZ4_compress_fast's: for inputs under 64 KiB that
 * indexes its table by 16-bit offsets and 13 bits of hash, a stream by
 * 32-bit offsets and 12 bits, which finds fewer matches as inputs grow
 * (text of 1-4 KiB: ~1.5% larger, 4-16 KiB: ~7%). Hence only up to
 * LZ4_KEPT_MAX (text: within ~1% of LZ4_compress_fast's size, and the
 * 200-byte value of the benchmark byte for byte the same); above it the
 * memset is a small part of the work. The state is freed with its thread
 * (by free itself: no code of this library runs then). */
#define LZ4_KEPT_MAX 1024
static pthread_key_t lz4_key;
static int lz4_key_ok;
static pthread_once_t lz4_once = PTHREAD_ONCE_INIT;

static void lz4_key_make(void)
{
    lz4_key_ok = pthread_key_create(&lz4_key, free) == 0;
}

/* This thread's LZ4 state, or NULL if it has none and cannot get one. */
static LZ4_stream_t *lz4_state(void)
{
    pthread_once(&lz4_once, lz4_key_make);
    if (!lz4_key_ok)
        return NULL;
    LZ4_stream_t *s = pthread_getspecific(lz4_key);
    if (!s && (s = malloc(sizeof(*s))) != NULL &&
        (!LZ4_initStream(s, sizeof(*s)) || pthread_setspecific(lz4_key, s) != 0)) {
        free(s);
        s = NULL;
    }
    return s;
}

static int lz4_compress(void *dst, size_t cap, const void *src, size_t n, int level, size_t *out)
{
    static const int hc_levels[] = {4, 5, 6, 8, 10, 12}; /* levels 4..9 */
    int r;
    LZ4_stream_t *s;
    if (level <= 3 && n <= LZ4_KEPT_MAX && (s = lz4_state()) != NULL) {
        LZ4_resetStream_fast(s);
        r = LZ4_compress_fast_continue(s, src, dst, (int)n, (int)cap, 4 - level);
    } else if (level <= 3)
        r = LZ4_compress_fast(src, dst, (int)n, (int)cap, 4 - level);
    else
        r = LZ4_compress_HC(src, dst, (int)n, (int)cap, hc_levels[level - 4]);
    if (r <= 0)
        return bs__error(BLOBSTORE_EIO, "lz4 compression failed");
    *out = (size_t)r;
    return 0;
}

static int lz4_decompress(void *dst, size_t raw_n, const void *src, size_t n)
{
    int r = LZ4_decompress_safe(src, dst, (int)n, (int)raw_n);
    if (r < 0 || (size_t)r != raw_n)
        return bs__error(BLOBSTORE_ECORRUPT, "lz4 data is corrupt");
    return 0;
}

static size_t zstd_bound(size_t n)
{
    return ZSTD_compressBound(n);
}

static int zstd_compress(void *dst, size_t cap, const void *src, size_t n, int level, size_t *out)
{
    size_t r = ZSTD_compress(dst, cap, src, n, level);
    if (ZSTD_isError(r))
        return bs__error(BLOBSTORE_EIO, "zstd compression failed: %s", ZSTD_getErrorName(r));
    *out = r;
    return 0;
}

static int zstd_decompress(void *dst, size_t raw_n, const void *src, size_t n)
{
    size_t r = ZSTD_decompress(dst, raw_n, src, n);
    if (ZSTD_isError(r) || r != raw_n)
        return bs__error(BLOBSTORE_ECORRUPT, "zstd data is corrupt%s%s",
                         ZSTD_isError(r) ? ": " : "", ZSTD_isError(r) ? ZSTD_getErrorName(r) : "");
    return 0;
}

static size_t gzip_bound(size_t n)
{
    return (size_t)compressBound((uLong)n) + 32; /* + gzip header and trailer */
}

static int gzip_compress(void *dst, size_t cap, const void *src, size_t n, int level, size_t *out)
{
    z_stream z;
    memset(&z, 0, sizeof(z));
    if (deflateInit2(&z, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return bs__error(BLOBSTORE_ENOMEM, "gzip: cannot initialise deflate");
    z.next_in = (Bytef *)(uintptr_t)src;
    z.avail_in = (uInt)n;
    z.next_out = dst;
    z.avail_out = (uInt)cap;
    int r = deflate(&z, Z_FINISH);
    *out = z.total_out;
    deflateEnd(&z);
    if (r != Z_STREAM_END)
        return bs__error(BLOBSTORE_EIO, "gzip compression failed");
    return 0;
}

static int gzip_decompress(void *dst, size_t raw_n, const void *src, size_t n)
{
    z_stream z;
    memset(&z, 0, sizeof(z));
    if (inflateInit2(&z, 15 + 16) != Z_OK)
        return bs__error(BLOBSTORE_ENOMEM, "gzip: cannot initialise inflate");
    z.next_in = (Bytef *)(uintptr_t)src;
    z.avail_in = (uInt)n;
    z.next_out = dst;
    z.avail_out = (uInt)raw_n;
    int r = inflate(&z, Z_FINISH);
    size_t got = z.total_out;
    inflateEnd(&z);
    if (r != Z_STREAM_END || got != raw_n)
        return bs__error(BLOBSTORE_ECORRUPT, "gzip data is corrupt");
    return 0;
}

/* libblosc, loaded at the first blosclz value (bs_library). */
static struct {
    __typeof__(blosc_compress_ctx) *compress;
    __typeof__(blosc_decompress_ctx) *decompress;
    __typeof__(blosc_cbuffer_sizes) *sizes;
} blosc;
static const bs_symbol blosc_syms[] = {
    {"blosc_compress_ctx", (void **)&blosc.compress},
    {"blosc_decompress_ctx", (void **)&blosc.decompress},
    {"blosc_cbuffer_sizes", (void **)&blosc.sizes},
};
static bs_library libblosc = {"libblosc.so.1", blosc_syms,
                              sizeof(blosc_syms) / sizeof(blosc_syms[0]), 0, ""};

static size_t blosclz_bound(size_t n)
{
    return n + BLOSC_MAX_OVERHEAD;
}

static int blosclz_compress(void *dst, size_t cap, const void *src, size_t n, int level,
                            size_t *out)
{
    int r = bs__library_load(&libblosc);
    if (r)
        return r;
    r = blosc.compress(level, BLOSC_NOSHUFFLE, 1, n, src, dst, cap, "blosclz", 0, 1);
    if (r <= 0)
        return bs__error(BLOBSTORE_EIO, "blosclz compression failed (%d)", r);
    *out = (size_t)r;
    return 0;
}

static int blosclz_decompress(void *dst, size_t raw_n, const void *src, size_t n)
{
    size_t nbytes = 0, cbytes = 0, blocksize = 0;
    if (n < BLOSC_MIN_HEADER_LENGTH)
        return bs__error(BLOBSTORE_ECORRUPT, "blosclz chunk is truncated");
    int r = bs__library_load(&libblosc);
    if (r)
        return r;
    blosc.sizes(src, &nbytes, &cbytes, &blocksize);
    if (nbytes != raw_n || cbytes != n)
        return bs__error(BLOBSTORE_ECORRUPT, "blosclz chunk header does not match its frame");
    r = blosc.decompress(src, dst, raw_n, 1);
    if (r < 0 || (size_t)r != raw_n)
        return bs__error(BLOBSTORE_ECORRUPT, "blosclz data is corrupt");
    return 0;
}

static const bs_codec codecs[] = {
    {"none", BS_CODEC_NONE, none_bound, none_compress, none_decompress},
    {"lz4", BS_CODEC_LZ4, lz4_bound, lz4_compress, lz4_decompress},
    {"zstd", BS_CODEC_ZSTD, zstd_bound, zstd_compress, zstd_decompress},
    {"gzip", BS_CODEC_GZIP, gzip_bound, gzip_compress, gzip_decompress},
    {"blosclz", BS_CODEC_BLOSCLZ, blosclz_bound, blosclz_compress, blosclz_decompress},
};

const bs_codec *bs__codec_by_name(const char *name)
{
    for (size_t i = 0; i < sizeof(codecs) / sizeof(codecs[0]); i++)
        if (strcmp(codecs[i].name, name) == 0)
            return &codecs[i];
    char known[128] = "";
    size_t n = sizeof(codecs) / sizeof(codecs[0]), len = 0;
    for (size_t i = 0; i < n && len < sizeof(known); i++) /* "none, lz4, ... or blosclz" */
        len += (size_t)snprintf(known + len, sizeof(known) - len, "%s%s",
                                i == 0       ? ""
                                : i + 1 == n ? " or "
                                             : ", ",
                                codecs[i].name);
    bs__error(BLOBSTORE_EINVAL, "unknown compression \"%s\" (expected %s)", name, known);
    return NULL;
}

const bs_codec *bs__codec_at(size_t i)
{
    return i < sizeof(codecs) / sizeof(codecs[0]) ? &codecs[i] : NULL;
}

const bs_codec *bs__codec_by_id(int id)
{
    for (size_t i = 0; i < sizeof(codecs) / sizeof(codecs[0]); i++)
        if (codecs[i].id == id)
            return &codecs[i];
    bs__error(BLOBSTORE_ECORRUPT, "unknown codec id %d", id);
    return NULL;
}
