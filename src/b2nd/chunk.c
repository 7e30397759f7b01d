/*
 * chunk.c - one Blosc2 chunk: a 32-byte extended header, then either the
 * bytes as they are (memcpyed), nothing (special values), or an int32 start
 * offset per block followed by each block's streams.
 *
 * A block is one stream, or typesize streams (one per byte of the type) when
 * the chunk does not set "don't split" and the block is not the short last
 * one. A stream is an int32 size and its bytes: size 0 is a run of zeros, a
 * negative size with token bit 0 is a run of the byte -size, size equal to
 * the decoded length is stored as is. The filters are undone in reverse
 * order: shuffle, bitshuffle (on whole groups of 8 items; the rest as is)
 * and delta (XOR with block 0, which is itself a running XOR). Note: the
 * codec number in a chunk (compformat) differs from the one in a frame.
 */
#include "b2nd.h"

#include <lz4.h>
#include <lz4hc.h>
#include <zlib.h>
#include <zstd.h>

#define HDR 32

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void wr32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* The largest block c-blosc2 accepts (BLOSC2_MAXBLOCKSIZE). */
#define MAX_BLOCKSIZE 536866816u

int bs__b2_chunk_info(b2_chunk_info *ci, const uint8_t *c, size_t avail)
{
    memset(ci, 0, sizeof(*ci));
    if (avail < 16)
        return bs__error(BLOBSTORE_ECORRUPT, "b2nd: chunk is truncated (%zu bytes)", avail);
    ci->version = c[0];
    ci->flags = c[2];
    ci->typesize = c[3];
    ci->nbytes = rd32(c + 4);
    ci->blocksize = rd32(c + 8);
    ci->cbytes = rd32(c + 12);
    ci->memcpyed = (ci->flags & 0x02) != 0;
    ci->dont_split = (ci->flags & 0x10) != 0;
    ci->codec = ci->flags >> 5;
    /* The checks c-blosc2 makes before it decodes a chunk (and those its
     * frame reader adds), each refused here too: a damaged header must never
     * decode as something else (zeros, most often). */
    if (ci->version < 2 || ci->version > 5)
        return bs__error(BLOBSTORE_EUNSUPPORTED, "b2nd: chunk format version %d", ci->version);
    if ((ci->flags & 0x05) != 0x05)
        return bs__error(BLOBSTORE_EUNSUPPORTED,
                         "b2nd: Blosc1 chunks (without the extended header) inside a frame");
    if (ci->cbytes < HDR)
        return bs__error(BLOBSTORE_ECORRUPT, "b2nd: chunk header has cbytes %u (at least %d)",
                         ci->cbytes, HDR);
    if (avail < HDR)
        return bs__error(BLOBSTORE_ECORRUPT, "b2nd: chunk header is truncated");
    if (ci->cbytes > avail)
        return bs__error(BLOBSTORE_ECORRUPT,
                         "b2nd: chunk of %u bytes runs past the %zu bytes left for it", ci->cbytes,
                         avail);
    if (ci->nbytes > INT32_MAX)
        return bs__error(BLOBSTORE_ECORRUPT, "b2nd: chunk header has nbytes %u", ci->nbytes);
    if (ci->blocksize == 0 || ci->blocksize > MAX_BLOCKSIZE)
        return bs__error(BLOBSTORE_ECORRUPT, "b2nd: chunk header has blocksize %u (1 to %u)",
                         ci->blocksize, MAX_BLOCKSIZE);
    if (ci->nbytes > 0 && ci->blocksize > ci->nbytes)
        return bs__error(BLOBSTORE_ECORRUPT,
                         "b2nd: chunk header has blocksize %u, larger than its %u bytes",
                         ci->blocksize, ci->nbytes);
    if (ci->typesize == 0)
        return bs__error(BLOBSTORE_ECORRUPT, "b2nd: chunk header has typesize 0");
    ci->header_len = HDR;
    memcpy(ci->filters, c + 16, 6);
    memcpy(ci->filters_meta, c + 24, 6);
    if (ci->version == 3) { /* the alpha format left the sixth filter uninitialised */
        ci->filters[5] = 0;
        ci->filters_meta[5] = 0;
    }
    int bflags = c[31], bflags2 = c[30];
    ci->special = (bflags >> 4) & 7;
    if (bflags & 0x80)
        return bs__error(BLOBSTORE_EUNSUPPORTED,
                         "b2nd: instrumented chunk (its blocks hold codec timings, not values)");
    if (bflags & 0x01)
        return bs__error(BLOBSTORE_EUNSUPPORTED, "b2nd: dictionary-compressed chunks");
    if (bflags & 0x08)
        return bs__error(BLOBSTORE_EUNSUPPORTED, "b2nd: lazy chunks");
    if (bflags2 & 0x01)
        return bs__error(BLOBSTORE_EUNSUPPORTED, "b2nd: variable-length blocks (VL-blocks)");
    if (ci->memcpyed && ci->cbytes != HDR + ci->nbytes)
        return bs__error(BLOBSTORE_ECORRUPT,
                         "b2nd: memcpyed chunk of %u bytes holds %u bytes (cbytes %u)", ci->nbytes,
                         ci->cbytes - HDR, ci->cbytes);
    switch (ci->special) {
    case 0:
        break;
    case 1: /* zeros, NaN and uninitialised chunks are a header and nothing else */
    case 2:
    case 4:
        if (ci->cbytes != HDR)
            return bs__error(
                BLOBSTORE_ECORRUPT,
                "b2nd: chunk flagged special (type %d) has %u bytes, not a header's %d",
                ci->special, ci->cbytes, HDR);
        if (ci->special != 1 && ci->nbytes % (uint32_t)ci->typesize)
            return bs__error(BLOBSTORE_ECORRUPT,
                             "b2nd: special chunk of %u bytes is not a multiple of typesize %d",
                             ci->nbytes, ci->typesize);
        if (ci->special == 2 && ci->typesize != 4 && ci->typesize != 8)
            return bs__error(BLOBSTORE_ECORRUPT, "b2nd: NaN chunk of typesize %d (4 or 8)",
                             ci->typesize);
        return 0;
    case 3: /* a repeated value: the header, then one item */
        if (ci->cbytes != HDR + (uint32_t)ci->typesize || (uint32_t)ci->typesize > ci->nbytes ||
            ci->nbytes % (uint32_t)ci->typesize)
            return bs__error(BLOBSTORE_ECORRUPT,
                             "b2nd: run-length chunk of %u bytes (cbytes %u, typesize %d) is "
                             "inconsistent",
                             ci->nbytes, ci->cbytes, ci->typesize);
        return 0;
    default:
        return bs__error(BLOBSTORE_ECORRUPT, "b2nd: chunk header has unknown special type %d",
                         ci->special);
    }
    if (ci->codec == 6 || ci->codec == 7)
        return bs__error(BLOBSTORE_EUNSUPPORTED, "b2nd: user-defined (plugin) codec %d", c[22]);
    if (ci->codec == 2 || ci->codec == 5)
        return bs__error(BLOBSTORE_EUNSUPPORTED, "b2nd: chunk codec number %d", ci->codec);
    int deltas = 0;
    for (int i = 0; i < 6; i++) {
        if (ci->filters[i] > B2_TRUNC_PREC)
            return bs__error(BLOBSTORE_EUNSUPPORTED, "b2nd: plugin filter %d", ci->filters[i]);
        deltas += ci->filters[i] == B2_DELTA;
    }
    if (deltas > 1) /* c-blosc2 does not round-trip these either */
        return bs__error(BLOBSTORE_EUNSUPPORTED,
                         "b2nd: unsupported filter pipeline [%d,%d,%d,%d,%d,%d]: %d DELTA filters "
                         "(at most one)",
                         ci->filters[0], ci->filters[1], ci->filters[2], ci->filters[3],
                         ci->filters[4], ci->filters[5], deltas);
    if (!ci->memcpyed && ci->nbytes > 0) {
        size_t nblocks = (ci->nbytes + (size_t)ci->blocksize - 1) / ci->blocksize;
        if (nblocks > (ci->cbytes - HDR) / 4)
            return bs__error(BLOBSTORE_ECORRUPT,
                             "b2nd: chunk of %u bytes cannot hold the offsets of its %zu blocks",
                             ci->cbytes, nblocks);
    }
    return 0;
}

static int codec_decompress(int codec, const uint8_t *in, size_t n, uint8_t *out, size_t want)
{
    switch (codec) {
    case B2_BLOSCLZ:
        return bs__b2_blosclz_decompress(in, n, out, want);
    case B2_LZ4: {
        int r = LZ4_decompress_safe((const char *)in, (char *)out, (int)n, (int)want);
        return r == (int)want ? 0 : -1;
    }
    case B2_ZLIB: {
        uLongf got = (uLongf)want;
        int r = uncompress(out, &got, in, (uLong)n);
        return r == Z_OK && got == want ? 0 : -1;
    }
    case B2_ZSTD: {
        size_t r = ZSTD_decompress(out, want, in, n);
        return !ZSTD_isError(r) && r == want ? 0 : -1;
    }
    default:
        return -1;
    }
}

/* Byte shuffle: byte j of item i goes to position j * items + i.
 *
 * With SSE2 (every x86-64), 16 items at a time are transposed in registers:
 * the 16 x ts bytes are ts vectors, and a round of byte interleaves,
 * w[2k + h] = unpack{lo,hi}(v[k], v[k + ts/2]), moves the byte at index g
 * (log2(ts) + 4 bits: vector, then position) to g rotated left by one bit.
 * The input's index is item (4 bits) then byte; the shuffled one is byte
 * then item: 4 rounds shuffle, log2(ts) rounds unshuffle. The items past
 * the last group of 16 (and other type sizes) take the plain loops. */
#define SHUFFLE_LOOPS(TS)                                                                          \
    static void unshuffle##TS(size_t from, size_t items, const uint8_t *const *src, uint8_t *dst)  \
    {                                                                                              \
        for (size_t i = from; i < items; i++)                                                      \
            for (int j = 0; j < TS; j++)                                                           \
                dst[i * TS + (size_t)j] = src[j][i];                                               \
    }                                                                                              \
    static void shuffle##TS(size_t from, size_t items, const uint8_t *src, uint8_t *const *rows)   \
    {                                                                                              \
        for (int j = 0; j < TS; j++) {                                                             \
            uint8_t *row = rows[j];                                                                \
            for (size_t i = from; i < items; i++)                                                  \
                row[i] = src[i * TS + (size_t)j];                                                  \
        }                                                                                          \
    }
SHUFFLE_LOOPS(2)
SHUFFLE_LOOPS(4)
SHUFFLE_LOOPS(8)
SHUFFLE_LOOPS(16)

#ifdef __SSE2__
#include <emmintrin.h>

/* The loops below run a constant number of times per type size: unrolled,
 * the vectors stay in registers. */
#if defined(__clang__)
#define UNROLL _Pragma("unroll")
#elif defined(__GNUC__)
#define UNROLL _Pragma("GCC unroll 16")
#else
#define UNROLL
#endif

/* rounds rounds of interleaves over the ts vectors in v (ts of 2 to 16). */
static inline BS_ALWAYS_INLINE void interleave_rounds(__m128i *v, int ts, int rounds)
{
    __m128i w[16];
    int half = ts / 2;
    UNROLL
    for (int r = 0; r < rounds; r++) {
        UNROLL
        for (int k = 0; k < half; k++) {
            w[2 * k] = _mm_unpacklo_epi8(v[k], v[k + half]);
            w[2 * k + 1] = _mm_unpackhi_epi8(v[k], v[k + half]);
        }
        UNROLL
        for (int k = 0; k < ts; k++)
            v[k] = w[k];
    }
}

/* The groups of 16 items; returns how many items were done. */
static inline BS_ALWAYS_INLINE size_t shuffle_sse2(int ts, size_t items, const uint8_t *src,
                                                   uint8_t *const *rows)
{
    uint8_t *r[16]; /* (in registers: the stores below could alias rows) */
    UNROLL
    for (int k = 0; k < ts; k++)
        r[k] = rows[k];
    size_t i = 0;
    for (; i + 16 <= items; i += 16) {
        __m128i v[16];
        UNROLL
        for (int k = 0; k < ts; k++)
            v[k] = _mm_loadu_si128((const __m128i *)(src + i * (size_t)ts + 16 * (size_t)k));
        interleave_rounds(v, ts, 4);
        UNROLL
        for (int k = 0; k < ts; k++)
            _mm_storeu_si128((__m128i *)(r[k] + i), v[k]);
    }
    return i;
}

static inline BS_ALWAYS_INLINE size_t unshuffle_sse2(int ts, int log2ts, size_t items,
                                                     const uint8_t *const *src, uint8_t *dst,
                                                     int nt)
{
    const uint8_t *p[16]; /* (in registers: the stores below could alias src) */
    UNROLL
    for (int k = 0; k < ts; k++)
        p[k] = src[k];
    size_t i = 0;
    for (; i + 16 <= items; i += 16) {
        __m128i v[16];
        UNROLL
        for (int k = 0; k < ts; k++)
            v[k] = _mm_loadu_si128((const __m128i *)(p[k] + i));
        interleave_rounds(v, ts, log2ts);
        if (nt) {
            UNROLL
            for (int k = 0; k < ts; k++)
                _mm_stream_si128((__m128i *)(dst + i * (size_t)ts + 16 * (size_t)k), v[k]);
        } else {
            UNROLL
            for (int k = 0; k < ts; k++)
                _mm_storeu_si128((__m128i *)(dst + i * (size_t)ts + 16 * (size_t)k), v[k]);
        }
    }
    if (nt)
        _mm_sfence(); /* (ordered before whatever follows, as plain stores are) */
    return i;
}
#define SSE2_SHUFFLE(ts, items, src, dst)           shuffle_sse2(ts, items, src, dst)
#define SSE2_UNSHUFFLE(ts, lg, items, src, dst, nt) unshuffle_sse2(ts, lg, items, src, dst, nt)
#else
#define SSE2_SHUFFLE(ts, items, src, dst)           0
#define SSE2_UNSHUFFLE(ts, lg, items, src, dst, nt) 0
#endif

/* nt: with SSE2, non-temporal stores (past the caches) where dst is 16-byte
 * aligned; the caller's choice for results larger than the caches, which
 * then cost a write to memory per byte and no read of it first. */
static void unshuffle_planes(int ts, size_t items, const uint8_t *const *src, uint8_t *dst, int nt)
{
    nt = nt && ((uintptr_t)dst & 15) == 0;
    if (ts == 1 && items)
        memcpy(dst, src[0], items);
    else if (ts == 2)
        unshuffle2(SSE2_UNSHUFFLE(2, 1, items, src, dst, nt), items, src, dst);
    else if (ts == 4)
        unshuffle4(SSE2_UNSHUFFLE(4, 2, items, src, dst, nt), items, src, dst);
    else if (ts == 8)
        unshuffle8(SSE2_UNSHUFFLE(8, 3, items, src, dst, nt), items, src, dst);
    else if (ts == 16)
        unshuffle16(SSE2_UNSHUFFLE(16, 4, items, src, dst, nt), items, src, dst);
    else
        for (size_t i = 0; i < items; i++)
            for (int j = 0; j < ts; j++)
                dst[i * (size_t)ts + (size_t)j] = src[j][i];
}

void bs__b2_unshuffle_streams(int ts, size_t items, const uint8_t *const *src, uint8_t *dst)
{
    unshuffle_planes(ts, items, src, dst, 0);
}

void bs__b2_unshuffle_streams_nt(int ts, size_t items, const uint8_t *const *src, uint8_t *dst)
{
    unshuffle_planes(ts, items, src, dst, 1);
}

void bs__b2_unshuffle(int ts, size_t n, const uint8_t *src, uint8_t *dst)
{
    size_t items = n / (size_t)ts;
    const uint8_t *planes[256]; /* (a typesize is one byte) */
    for (int j = 0; j < ts && j < 256; j++)
        planes[j] = src + (size_t)j * items;
    if (ts > 0 && ts <= 256)
        bs__b2_unshuffle_streams(ts, items, planes, dst);
    memcpy(dst + items * (size_t)ts, src + items * (size_t)ts, n - items * (size_t)ts);
}

/* The shuffle of items whole items (ts of 1 to 256), byte plane j written at
 * rows[j]. */
static void shuffle_rows(int ts, size_t items, const uint8_t *src, uint8_t *const *rows)
{
    if (ts == 2)
        shuffle2(SSE2_SHUFFLE(2, items, src, rows), items, src, rows);
    else if (ts == 4)
        shuffle4(SSE2_SHUFFLE(4, items, src, rows), items, src, rows);
    else if (ts == 8)
        shuffle8(SSE2_SHUFFLE(8, items, src, rows), items, src, rows);
    else if (ts == 16)
        shuffle16(SSE2_SHUFFLE(16, items, src, rows), items, src, rows);
    else
        for (size_t i = 0; i < items; i++)
            for (int j = 0; j < ts; j++)
                rows[j][i] = src[i * (size_t)ts + (size_t)j];
}

void bs__b2_shuffle(int ts, size_t n, const uint8_t *src, uint8_t *dst)
{
    size_t items = n / (size_t)ts;
    uint8_t *rows[256]; /* (a typesize is one byte) */
    for (int j = 0; j < ts && j < 256; j++)
        rows[j] = dst + (size_t)j * items;
    if (ts > 0 && ts <= 256)
        shuffle_rows(ts, items, src, rows);
    memcpy(dst + items * (size_t)ts, src + items * (size_t)ts, n - items * (size_t)ts);
}

/* Bit shuffle of `items` items (a multiple of 8): output bit row r = byte j
 * * 8 + bit k of each item, items packed LSB first. */
static void bitunshuffle_core(int ts, size_t items, const uint8_t *src, uint8_t *dst)
{
    size_t rowlen = items / 8;
    memset(dst, 0, items * (size_t)ts);
    for (int j = 0; j < ts; j++)
        for (int k = 0; k < 8; k++) {
            const uint8_t *row = src + ((size_t)j * 8 + (size_t)k) * rowlen;
            for (size_t i = 0; i < items; i++)
                dst[i * (size_t)ts + (size_t)j] |= (uint8_t)(((row[i >> 3] >> (i & 7)) & 1) << k);
        }
}

static void bitshuffle_core(int ts, size_t items, const uint8_t *src, uint8_t *dst)
{
    size_t rowlen = items / 8;
    memset(dst, 0, items * (size_t)ts);
    for (int j = 0; j < ts; j++)
        for (int k = 0; k < 8; k++) {
            uint8_t *row = dst + ((size_t)j * 8 + (size_t)k) * rowlen;
            for (size_t i = 0; i < items; i++)
                row[i >> 3] |= (uint8_t)(((src[i * (size_t)ts + (size_t)j] >> k) & 1) << (i & 7));
        }
}

static void bitunshuffle(int version, int ts, size_t n, const uint8_t *src, uint8_t *dst)
{
    size_t items = n / (size_t)ts;
    if (version == 2 && items % 8) { /* format 2 left such blocks as they were */
        memcpy(dst, src, n);
        return;
    }
    items -= items % 8;
    bitunshuffle_core(ts, items, src, dst);
    memcpy(dst + items * (size_t)ts, src + items * (size_t)ts, n - items * (size_t)ts);
}

static void bitshuffle(int ts, size_t n, const uint8_t *src, uint8_t *dst)
{
    size_t items = n / (size_t)ts;
    items -= items % 8;
    bitshuffle_core(ts, items, src, dst);
    memcpy(dst + items * (size_t)ts, src + items * (size_t)ts, n - items * (size_t)ts);
}

/* Undo delta in place on block (at offset off of the chunk out). */
static void undelta(uint8_t *out, size_t off, size_t n, int ts)
{
    int w = ts == 1 || ts == 2 || ts == 4 || ts == 8 ? ts : (ts % 8 == 0 ? 8 : 1);
    size_t items = n / (size_t)w;
    uint8_t *blk = out + off;
    for (size_t i = off == 0 ? 1 : 0; i < items; i++) {
        const uint8_t *ref = off == 0 ? blk + (i - 1) * (size_t)w : out + i * (size_t)w;
        for (int b = 0; b < w; b++)
            blk[i * (size_t)w + (size_t)b] ^= ref[b];
    }
}

void bs__b2_fill_special(uint8_t *out, size_t n, int special, int ts, const uint8_t *value)
{
    if (special == 2) { /* c-blosc2's nan(""): the quiet NaN, in the machine's byte order */
        if (ts == 4) {
            uint32_t bits = 0x7fc00000u;
            for (size_t i = 0; i + 4 <= n; i += 4)
                memcpy(out + i, &bits, 4);
        } else {
            uint64_t bits = 0x7ff8000000000000u;
            for (size_t i = 0; i + 8 <= n; i += 8)
                memcpy(out + i, &bits, 8);
        }
    } else if (special == 3) {
        for (size_t i = 0; i + (size_t)ts <= n; i += (size_t)ts)
            memcpy(out + i, value, (size_t)ts);
    } else { /* zeros; uninitialised values read as zeros */
        memset(out, 0, n);
    }
}

/* A chunk's bytes differ from what was expected (the check's finding). */
static int differs(size_t off)
{
    return bs__error(BLOBSTORE_ECORRUPT,
                     "b2nd: the bytes from %zu decode to other values than "
                     "were written",
                     off);
}

/* Decode block b of a chunk (not special, not memcpyed; ci its parsed
 * header, its streams checked against ci->cbytes) into out (the chunk's
 * whole output), or compare it with expect (the chunk's expected bytes;
 * out unused); tmp and tmp2 hold a block each. */
static int decode_block(const uint8_t *c, const b2_chunk_info *ci, size_t b, size_t bstarts_end,
                        int last_filter, uint8_t *tmp, uint8_t *tmp2, uint8_t *out,
                        const uint8_t *expect, int nt)
{
    int rc = 0;
    size_t off = b * ci->blocksize;
    size_t bsize = off + ci->blocksize <= ci->nbytes ? ci->blocksize : ci->nbytes - off;
    int leftover = bsize < ci->blocksize;
    int nstreams = (!ci->dont_split && !leftover) ? ci->typesize : 1;
    size_t neblock = bsize / (size_t)nstreams;
    if (neblock == 0 || neblock * (size_t)nstreams != bsize)
        return bs__error(BLOBSTORE_ECORRUPT, "b2nd: block %zu cannot be split in %d streams", b,
                         nstreams);
    size_t pos = rd32(c + HDR + 4 * b);
    uint8_t *dst = last_filter >= 0 || expect ? tmp : out + off;
    /* A byte shuffle alone (lz4's usual pipeline), decoded into out: each
     * stream is a byte plane, unshuffled from where it lies (a stream stored
     * as it is: in the chunk itself) straight into out, no copy between. */
    int shuffle_ts = 0;
    if (last_filter >= 0 && ci->filters[last_filter] == B2_SHUFFLE) {
        shuffle_ts = ci->filters_meta[last_filter] ? ci->filters_meta[last_filter] : ci->typesize;
        for (int i = 0; i < last_filter; i++)
            if (ci->filters[i] != B2_NOFILTER && ci->filters[i] != B2_TRUNC_PREC)
                shuffle_ts = 0;
    }
    int planes = shuffle_ts > 0 && nstreams == shuffle_ts;
    const uint8_t *plane[256];
    for (int s = 0; s < nstreams && !rc; s++) {
        if (pos < bstarts_end || pos + 4 > ci->cbytes) {
            rc = bs__error(BLOBSTORE_ECORRUPT, "b2nd: block %zu points outside its chunk", b);
            break;
        }
        int32_t csize = (int32_t)rd32(c + pos);
        pos += 4;
        uint8_t *sd = dst + (size_t)s * neblock;
        plane[s & 255] = sd;
        if (csize == 0) {
            memset(sd, 0, neblock);
        } else if (csize < 0) {
            if (pos + 1 > ci->cbytes || !(c[pos] & 1) || csize < -255) {
                rc = bs__error(BLOBSTORE_ECORRUPT, "b2nd: invalid run-length stream");
                break;
            }
            memset(sd, (uint8_t)-csize, neblock);
            pos += 1;
        } else if ((size_t)csize > ci->cbytes - pos) {
            rc = bs__error(BLOBSTORE_ECORRUPT, "b2nd: stream runs past its chunk");
        } else if ((size_t)csize == neblock) {
            if (planes) /* (checked above: inside the chunk) */
                plane[s] = c + pos;
            else
                memcpy(sd, c + pos, neblock);
            pos += (size_t)csize;
        } else {
            if (codec_decompress(ci->codec, c + pos, (size_t)csize, sd, neblock) != 0)
                rc = bs__error(BLOBSTORE_ECORRUPT, "b2nd: block %zu does not decompress", b);
            pos += (size_t)csize;
        }
    }
    if (!rc && expect && last_filter < 0 && memcmp(tmp, expect + off, bsize) != 0)
        rc = differs(off);
    if (rc || last_filter < 0)
        return rc;
    if (planes && expect) { /* the reader's steps, into tmp2, compared */
        unshuffle_planes(shuffle_ts, neblock, plane, tmp2, 0);
        return memcmp(tmp2, expect + off, bsize) != 0 ? differs(off) : 0;
    }
    if (planes) {
        unshuffle_planes(shuffle_ts, neblock, plane, out + off, nt);
        return 0;
    }
    if (shuffle_ts && !expect) { /* the streams are not the planes: unshuffled from tmp */
        bs__b2_unshuffle(shuffle_ts, bsize, tmp, out + off);
        return 0;
    }
    /* Undo the filters, last first; each step reads cur and writes nxt. */
    uint8_t *cur = tmp, *nxt = tmp2;
    for (int i = last_filter; i >= 0; i--) {
        int f = ci->filters[i];
        if (f == B2_SHUFFLE) {
            bs__b2_unshuffle(ci->filters_meta[i] ? ci->filters_meta[i] : ci->typesize, bsize, cur,
                             nxt);
        } else if (f == B2_BITSHUFFLE) {
            bitunshuffle(ci->version, ci->typesize, bsize, cur, nxt);
        } else if (f == B2_DELTA) {
            memcpy(out + off, cur, bsize);
            undelta(out, off, bsize, ci->typesize);
            memcpy(nxt, out + off, bsize);
        } else {
            continue;
        }
        uint8_t *t = cur;
        cur = nxt;
        nxt = t;
    }
    if (!expect)
        memcpy(out + off, cur, bsize);
    else if (memcmp(cur, expect + off, bsize) != 0)
        rc = differs(off);
    return rc;
}

/* Decode a chunk into out, or, with expect set (out unused), compare what
 * each block decodes to with expect block by block, while the block is in
 * the cache: the same steps as the reader takes, but the last copy. */
static int chunk_decode(const uint8_t *c, size_t avail, uint8_t *out, size_t out_len,
                        const uint8_t *expect, int nt)
{
    b2_chunk_info ci;
    int rc = bs__b2_chunk_info(&ci, c, avail);
    if (rc)
        return rc;
    if (ci.nbytes != out_len)
        return bs__error(BLOBSTORE_ECORRUPT, "b2nd: chunk holds %u bytes, expected %zu", ci.nbytes,
                         out_len);
    if (expect && ci.special) { /* filled in pieces of whole items, each compared */
        size_t room = ((size_t)16 << 10) / (size_t)ci.typesize * (size_t)ci.typesize;
        uint8_t *fill = bs__malloc(room);
        if (!fill)
            return BLOBSTORE_ENOMEM;
        bs__b2_fill_special(fill, room, ci.special, ci.typesize, c + HDR);
        for (size_t off = 0; off < out_len && !rc; off += room) {
            size_t n = out_len - off < room ? out_len - off : room;
            if (memcmp(fill, expect + off, n) != 0)
                rc = differs(off);
        }
        free(fill);
        return rc;
    }
    if (ci.special) { /* bs__b2_chunk_info checked the type and its sizes */
        bs__b2_fill_special(out, out_len, ci.special, ci.typesize, c + HDR);
        return 0;
    }
    if (ci.memcpyed) {
        if (expect)
            return memcmp(c + HDR, expect, out_len) != 0 ? differs(0) : 0;
        memcpy(out, c + HDR, out_len);
        return 0;
    }
    size_t nblocks = (ci.nbytes + ci.blocksize - 1) / ci.blocksize;
    size_t bstarts_end = HDR + nblocks * 4;
    if (nblocks > (ci.cbytes - HDR) / 4 || bstarts_end > ci.cbytes)
        return bs__error(BLOBSTORE_ECORRUPT, "b2nd: chunk block table is truncated");
    int last_filter = -1;
    for (int i = 0; i < 6; i++)
        if (ci.filters[i] != B2_NOFILTER && ci.filters[i] != B2_TRUNC_PREC)
            last_filter = i;
    for (int i = 0; expect && i <= last_filter; i++)
        if (ci.filters[i] == B2_DELTA) { /* (undone against the whole output) */
            uint8_t *whole = bs__malloc(out_len ? out_len : 1);
            if (!whole)
                return BLOBSTORE_ENOMEM;
            rc = chunk_decode(c, avail, whole, out_len, NULL, 0);
            if (!rc && memcmp(whole, expect, out_len) != 0)
                rc = differs(0);
            free(whole);
            return rc;
        }
    uint8_t *tmp = NULL, *tmp2 = NULL;
    if (last_filter >= 0 ||
        expect) { /* no block is larger than the chunk, whatever the header says */
        size_t room = ci.blocksize < ci.nbytes ? ci.blocksize : ci.nbytes;
        tmp = bs__malloc(room);
        tmp2 = bs__malloc(room);
        if (!tmp || !tmp2) {
            free(tmp);
            free(tmp2);
            return BLOBSTORE_ENOMEM;
        }
    }
    rc = 0;
    for (size_t b = 0; b < nblocks && !rc; b++)
        rc = decode_block(c, &ci, b, bstarts_end, last_filter, tmp, tmp2, out, expect, nt);
    free(tmp);
    free(tmp2);
    return rc;
}

int bs__b2_chunk_decode(const uint8_t *c, size_t avail, uint8_t *out, size_t out_len)
{
    return chunk_decode(c, avail, out, out_len, NULL, 0);
}

int bs__b2_chunk_decode_nt(const uint8_t *c, size_t avail, uint8_t *out, size_t out_len)
{
    return chunk_decode(c, avail, out, out_len, NULL, 1);
}

int bs__b2_chunk_check(const uint8_t *c, size_t avail, const uint8_t *expect, size_t len)
{
    return chunk_decode(c, avail, NULL, len, expect, 0);
}

static int all_zero(const uint8_t *p, size_t n)
{
    /* the first byte, then each byte against the one before it (memcmp runs
     * at memory speed: a 10 GB array of zeros is scanned in a second) */
    return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
}

static size_t codec_bound(int codec, size_t n)
{
    switch (codec) {
    case B2_LZ4:
        return (size_t)LZ4_compressBound((int)n);
    case B2_ZLIB:
        return compressBound((uLong)n);
    case B2_ZSTD:
        return ZSTD_compressBound(n);
    default:
        return n + n / 16 + 64;
    }
}

/* Compress one stream; returns its size, or 0 when it does not shrink. */
static size_t codec_compress(int codec, int level, const uint8_t *in, size_t n, uint8_t *out,
                             size_t cap)
{
    switch (codec) {
    case B2_BLOSCLZ:
        return bs__b2_blosclz_compress(in, n, out, cap);
    case B2_LZ4: {
        int r = level >= 6 ? LZ4_compress_HC((const char *)in, (char *)out, (int)n, (int)cap, level)
                           : LZ4_compress_default((const char *)in, (char *)out, (int)n, (int)cap);
        return r > 0 ? (size_t)r : 0;
    }
    case B2_ZLIB: {
        uLongf got = (uLongf)cap;
        return compress2(out, &got, in, (uLong)n, level) == Z_OK ? (size_t)got : 0;
    }
    case B2_ZSTD: {
        size_t r = ZSTD_compress(out, cap, in, n, level);
        return ZSTD_isError(r) ? 0 : r;
    }
    default:
        return 0;
    }
}

size_t bs__b2_chunk_bound(uint32_t nbytes, const b2_cparams *cp)
{
    uint32_t bs = cp->blocksize ? cp->blocksize : nbytes;
    if (bs == 0)
        bs = 1;
    size_t nblocks = nbytes ? (nbytes + bs - 1) / bs : 0;
    /* per block: its start, and a size and the bytes of each of at most 16 streams */
    size_t cap = HDR + nblocks * 4 + nblocks * (4 * 16 + codec_bound(cp->codec, bs));
    return cap < HDR + (size_t)nbytes ? HDR + (size_t)nbytes : cap;
}

/* Blocks between two trials of a stream that did not shrink (see below). */
#define PROBE_EVERY 16

/* The fault hook (tests only) on a piece of chunk id, at offset at in it. */
static void fault(int64_t id, uint8_t *piece, size_t len, size_t at)
{
    if (id >= 0 && bs__b2_write_fault)
        bs__b2_write_fault(piece, len, id, at);
}

/* The write-back check of the header an encoding wrote (cbytes long): as
 * the reader parses it, the fields the encoding chose (want; memcpyed as
 * given). */
static int header_check(const uint8_t *c, size_t cbytes, const b2_chunk_info *want, int memcpyed)
{
    b2_chunk_info got;
    if (bs__b2_chunk_info(&got, c, cbytes) != 0)
        return BLOBSTORE_ECORRUPT;
    int same =
        got.nbytes == want->nbytes && got.cbytes == cbytes && !got.special &&
        got.memcpyed == memcpyed && got.typesize == want->typesize &&
        got.header_len == want->header_len &&
        (memcpyed || (got.blocksize == want->blocksize && got.codec == want->codec &&
                      got.dont_split == want->dont_split && got.version == want->version &&
                      !memcmp(got.filters, want->filters, sizeof(got.filters)) &&
                      !memcmp(got.filters_meta, want->filters_meta, sizeof(got.filters_meta))));
    return same ? 0
                : bs__error(BLOBSTORE_ECORRUPT, "its header does not say what the encoding wrote");
}

/* Encode, and with id >= 0 (the chunk's number, for the fault hook and the
 * messages), check: each block, as soon as its streams are written, is
 * decoded by the reader's steps (decode_block, from the chunk's own header
 * as the reader parses it) and compared with the input while both are in
 * the cache; a memcpyed chunk's bytes are compared as they lie; then the
 * final header is parsed again. */
static int encode_into(uint8_t *c, size_t cap, size_t *out_len, const uint8_t *src, uint32_t nbytes,
                       const b2_cparams *cp, int64_t id)
{
    int check = id >= 0 && bs__b2_write_check;
    uint32_t bs = cp->blocksize ? cp->blocksize : nbytes;
    if (bs == 0)
        bs = 1;
    size_t nblocks = nbytes ? (nbytes + bs - 1) / bs : 0;
    if (cap < bs__b2_chunk_bound(nbytes, cp))
        return bs__error(BLOBSTORE_EINVAL, "b2nd: chunk buffer too small");
    /* Split blocks (one stream per byte of the type) as c-blosc2 writes
     * them for lz4 after a byte shuffle: the byte planes that do not
     * compress (the low bytes of floats) are then stored as they are, and
     * the others compressed alone. */
    int split = cp->codec == B2_LZ4 && cp->shuffle == B2_SHUFFLE && cp->typesize > 1 &&
                cp->typesize <= 16 && bs / (uint32_t)cp->typesize >= 32;
    uint8_t h[HDR];
    memset(h, 0, sizeof(h));
    h[0] = 5; /* the chunk format c-blosc2 3.x writes */
    h[1] = 1;
    h[3] = (uint8_t)cp->typesize;
    wr32(h + 4, nbytes);
    wr32(h + 8, bs);
    h[2] = cp->codec == B2_NONE ? 0x05                                /* extended header */
                                : (uint8_t)(0x05 | (split ? 0 : 0x10) /* 0x10: one stream */
                                            | (cp->codec > 0 ? cp->codec << 5 : 0));
    if (cp->shuffle != B2_NOFILTER)
        h[16 + 5] = (uint8_t)cp->shuffle;
    if (all_zero(src, nbytes)) { /* a special chunk: no data at all, as c-blosc2 writes it */
        h[2] = 0x05;
        h[31] = 1 << 4;
        wr32(h + 12, HDR);
        memcpy(c, h, HDR);
        *out_len = HDR;
        fault(id, c, HDR, 0);
        return check ? bs__b2_chunk_check(c, HDR, src, nbytes) : 0;
    }
    size_t pos = cp->codec == B2_NONE ? HDR + (size_t)nbytes : HDR + nblocks * 4;
    b2_chunk_info ci; /* the header as the reader parses it (cbytes: cap, until the end) */
    memset(&ci, 0, sizeof(ci));
    int rc = 0, last_filter = -1;
    if (cp->codec != B2_NONE) {
        uint8_t *tmp = bs__malloc(bs), *tmp2 = check ? bs__malloc(bs) : NULL;
        if (!tmp || (check && !tmp2)) {
            free(tmp);
            free(tmp2);
            return BLOBSTORE_ENOMEM;
        }
        if (check) {
            memcpy(c, h, HDR);
            wr32(c + 12, (uint32_t)(cap < UINT32_MAX ? cap : UINT32_MAX));
            if ((rc = bs__b2_chunk_info(&ci, c, cap)) != 0 || ci.memcpyed || ci.special ||
                ci.nbytes != nbytes) {
                free(tmp);
                free(tmp2);
                return rc ? rc : bs__error(BLOBSTORE_ECORRUPT, "its header is not as written");
            }
            for (int i = 0; i < 6; i++) /* (as chunk_decode finds it; no delta is written) */
                if (ci.filters[i] != B2_NOFILTER && ci.filters[i] != B2_TRUNC_PREC)
                    last_filter = i;
        }
        /* Skipping what lz4 cannot shrink: each stream is compressed in the
         * first block and every PROBE_EVERY blocks after it; a stream that
         * did not shrink there is stored as it is until the next trial. A
         * chunk that has saved nothing after its first PROBE_EVERY blocks is
         * stored as it is (memcpyed), as when the whole does not shrink.
         * Every decision depends on the bytes alone: the output is the same
         * whatever the thread count. */
        uint8_t skip[16] = {0};
        size_t in_so_far = 0;
        for (size_t b = 0; b < nblocks; b++) {
            size_t off = b * bs, n = off + bs <= nbytes ? bs : nbytes - off;
            const uint8_t *blk = src + off;
            int nstreams = split && n == bs ? cp->typesize : 1, probe = b % PROBE_EVERY == 0;
            size_t neblock = n / (size_t)nstreams;
            /* A split block's leading planes that will be stored as they are
             * (not tried this block) are shuffled straight to where they go
             * in the chunk (the others into tmp): no copy of them after.
             * Where one turns out all zeros (4 bytes, not its bytes), the
             * planes after it are moved to tmp and copied as usual. */
            uint8_t *rows[16];
            int direct = 0;
            if (cp->shuffle == B2_SHUFFLE && nstreams > 1) {
                for (int k = 0; k < nstreams; k++) {
                    int d = k == direct && !probe && skip[k];
                    rows[k] =
                        d ? c + pos + (size_t)k * (4 + neblock) + 4 : tmp + (size_t)k * neblock;
                    direct += d;
                }
                shuffle_rows(cp->typesize, neblock, blk, rows);
                blk = tmp;
            } else if (cp->shuffle == B2_SHUFFLE) {
                bs__b2_shuffle(cp->typesize, n, blk, tmp);
                blk = tmp;
            } else if (cp->shuffle == B2_BITSHUFFLE) {
                bitshuffle(cp->typesize, n, blk, tmp);
                blk = tmp;
            }
            wr32(c + HDR + 4 * b, (uint32_t)pos);
            size_t block_at = pos;
            for (int k = 0; k < nstreams; k++) {
                const uint8_t *st = k < direct ? rows[k] : blk + (size_t)k * neblock;
                if (all_zero(st, neblock)) {
                    for (int j = k + 1; j < direct; j++) /* (now out of place) */
                        memcpy(tmp + (size_t)j * neblock, rows[j], neblock);
                    direct = k < direct ? k : direct;
                    wr32(c + pos, 0);
                    pos += 4;
                    continue;
                }
                if (k < direct) { /* in place already */
                    wr32(c + pos, (uint32_t)neblock);
                    pos += 4 + neblock;
                    continue;
                }
                size_t csize = 0;
                if (probe || !skip[k])
                    csize = codec_compress(cp->codec, cp->level, st, neblock, c + pos + 4,
                                           cap - pos - 4);
                if (probe)
                    skip[k] = csize == 0 || csize >= neblock;
                if (csize == 0 || csize >= neblock) { /* stored as is */
                    memcpy(c + pos + 4, st, neblock);
                    csize = neblock;
                }
                wr32(c + pos, (uint32_t)csize);
                pos += 4 + csize;
            }
            in_so_far += n;
            fault(id, c + block_at, pos - block_at, block_at);
            if (check && (rc = decode_block(c, &ci, b, HDR + nblocks * 4, last_filter, tmp, tmp2,
                                            NULL, src, 0)) != 0)
                break;
            if (b + 1 == PROBE_EVERY && b + 1 < nblocks && pos >= HDR + in_so_far) {
                pos = HDR + (size_t)nbytes; /* nothing saved so far: stored as is */
                break;
            }
        }
        free(tmp);
        free(tmp2);
        if (rc)
            return rc;
    }
    int memcpyed = pos >= HDR + (size_t)nbytes;
    if (memcpyed) { /* did not pay (or no codec): a memcpyed chunk */
        h[2] |= 0x02;
        memcpy(c, h, HDR);
        memcpy(c + HDR, src, nbytes);
        pos = HDR + nbytes;
        fault(id, c + HDR, nbytes, HDR);
        if (check && memcmp(c + HDR, src, nbytes) != 0)
            return differs(0);
    } else {
        memcpy(c, h, HDR);
    }
    wr32(c + 12, (uint32_t)pos);
    *out_len = pos;
    fault(id, c, HDR, 0);
    if (check && !memcpyed)
        return header_check(c, pos, &ci, 0);
    if (check) { /* (no header was parsed: the one expected) */
        ci.nbytes = nbytes;
        ci.typesize = cp->typesize;
        ci.header_len = HDR;
        return header_check(c, pos, &ci, 1);
    }
    return 0;
}

int bs__b2_chunk_encode_into(uint8_t *c, size_t cap, size_t *out_len, const uint8_t *src,
                             uint32_t nbytes, const b2_cparams *cp)
{
    return encode_into(c, cap, out_len, src, nbytes, cp, -1);
}

int bs__b2_chunk_encode_checked(uint8_t *c, size_t cap, size_t *out_len, const uint8_t *src,
                                uint32_t nbytes, const b2_cparams *cp, int64_t id)
{
    return encode_into(c, cap, out_len, src, nbytes, cp, id);
}

int bs__b2_memcpyed_header(uint8_t *h, const uint8_t *src, uint32_t nbytes, const b2_cparams *cp)
{
    if (all_zero(src, nbytes))
        return 1;
    uint32_t bs = cp->blocksize ? cp->blocksize : nbytes;
    memset(h, 0, HDR);
    h[0] = 5;
    h[1] = 1;
    h[2] = 0x05 | 0x02; /* extended header, memcpyed */
    h[3] = (uint8_t)cp->typesize;
    wr32(h + 4, nbytes);
    wr32(h + 8, bs ? bs : 1);
    wr32(h + 12, (uint32_t)(HDR + nbytes));
    if (cp->shuffle != B2_NOFILTER)
        h[16 + 5] = (uint8_t)cp->shuffle;
    return 0;
}

int bs__b2_chunk_encode(uint8_t **out, size_t *out_len, const uint8_t *src, uint32_t nbytes,
                        const b2_cparams *cp)
{
    size_t cap = bs__b2_chunk_bound(nbytes, cp);
    uint8_t *c = bs__malloc(cap);
    if (!c)
        return BLOBSTORE_ENOMEM;
    int rc = bs__b2_chunk_encode_into(c, cap, out_len, src, nbytes, cp);
    if (rc) {
        free(c);
        return rc;
    }
    *out = c;
    return 0;
}
