/*
 * frame.c - the store's own blob format: a chunked, checksummed,
 * compressed frame.
 *
 *   header   8  magic "\x89BLBST\r\n"
 *            1  format version (1)
 *            1  codec id (codec.c)
 *            1  level
 *            1  flags (0)
 *            4  chunk size, little endian (original bytes per chunk)
 *            8  XXH3-64 of the 16 bytes above
 *   chunk*   4  original length (1..chunk size)
 *            4  stored length; top bit set: stored uncompressed
 *            8  XXH3-64 of the stored bytes, seeded with the two lengths
 *            .. stored bytes
 *   trailer  4  0 (end marker)     4  0
 *            8  original size
 *           32  SHA-256 of the original bytes
 *            8  number of chunks
 *   (v2)     4  length R of the entry record (0..BS_FRAME_RECORD_MAX)
 *            R  entry record: what the store put the blob with, a JSON object
 *               {"key", "format", "metadata", "info", "at"} (store.c), so
 *               that the index can be rebuilt from the blobs
 *            8  XXH3-64 of the record, seeded with R
 *            8  magic "BLBSTEND"
 *   A value kept inline in the index (store_put.c) is framed with R = 0:
 *   its row holds the key and metadata the record would repeat.
 *
 * Version 1 frames (no record) are still read; new frames are version 2.
 * Version 3 has version 2's layout and marks a key record: an empty frame
 * whose entry record is that of one key sharing a content-addressed blob
 * (store.c, bs__keyrec_write); a library that reads versions 1 and 2 only
 * refuses it (reported as unreadable and kept) instead of taking it for a
 * blob of its own.
 *
 * Every chunk is checked (checksum, lengths, exact decompressed size)
 * before its bytes are passed on, so a damaged file never yields data
 * from a damaged chunk; at the end the size and the recorded SHA-256 are
 * compared with the entry's, and with full_hash the SHA-256 is recomputed
 * over the decoded bytes too (verify does; get does when asked, since
 * SHA-256 runs slower than lz4 or zstd decompress).
 * Memory is bounded by two chunk buffers whatever the blob size.
 */
#include "internal.h"

#include <xxhash.h>

static const unsigned char frame_magic[8] = {0x89, 'B', 'L', 'B', 'S', 'T', '\r', '\n'};
static const unsigned char end_magic[8] = {'B', 'L', 'B', 'S', 'T', 'E', 'N', 'D'};

#define FRAME_VERSION 2
#define FRAME_KEYREC  3 /* version 2's layout: a key record */
#define HEADER_SIZE   24
#define CHUNK_HEADER  16
#define TRAILER_REST  56 /* after the 8-byte end marker */
#define STORED_RAW    0x80000000u
#define MAX_CHUNK     (64u << 20)

static void put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void put64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const unsigned char *p)
{
    return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

static uint64_t chunk_sum(const void *p, size_t n, uint32_t raw, uint32_t stored)
{
    return bs__xxh3_64_seed(p, n, (uint64_t)raw << 32 | stored);
}

struct bs_frame_writer {
    const bs_codec *codec;
    int level;
    bs_sink_fn sink;
    void *sink_ctx;
    bs_sink_fn ref_sink; /* or NULL (bs__frame_set_ref_sink) */
    void *ref_ctx;
    unsigned char *raw; /* BS_FRAME_CHUNK bytes */
    size_t raw_len;
    unsigned char *out; /* CHUNK_HEADER + bound */
    size_t out_cap, raw_cap;
    bs_sha256 *sha;
    uint64_t total, stored, chunks;
    int header_done;
    int version;  /* FRAME_VERSION, or FRAME_KEYREC */
    char *record; /* the entry record for the trailer, or NULL (empty) */
};

int bs__frame_writer_new(bs_frame_writer **out, const bs_codec *codec, int level, bs_sink_fn sink,
                         void *sink_ctx)
{
    bs_frame_writer *fw = bs__calloc(1, sizeof(*fw));
    if (!fw)
        return BLOBSTORE_ENOMEM;
    fw->codec = codec;
    fw->level = level;
    fw->sink = sink;
    fw->sink_ctx = sink_ctx;
    fw->version = FRAME_VERSION;
    fw->sha = bs__sha256_new(); /* buffers are sized on demand: small blobs stay cheap */
    if (!fw->sha) {
        bs__frame_writer_free(fw);
        return BLOBSTORE_ENOMEM;
    }
    *out = fw;
    return 0;
}

void bs__frame_writer_free(bs_frame_writer *fw)
{
    if (!fw)
        return;
    free(fw->raw);
    free(fw->out);
    free(fw->record);
    bs__sha256_free(fw->sha);
    free(fw);
}

static int emit(bs_frame_writer *fw, const void *p, size_t n)
{
    int rc = fw->sink(fw->sink_ctx, p, n);
    if (!rc)
        fw->stored += n;
    return rc;
}

static int write_header(bs_frame_writer *fw)
{
    unsigned char h[HEADER_SIZE];
    memcpy(h, frame_magic, 8);
    h[8] = (unsigned char)fw->version;
    h[9] = (unsigned char)fw->codec->id;
    h[10] = (unsigned char)fw->level;
    h[11] = 0;
    put32(h + 12, BS_FRAME_CHUNK);
    put64(h + 16, XXH3_64bits(h, 16));
    fw->header_done = 1;
    return emit(fw, h, sizeof(h));
}

/* src: the caller's bytes (whole), or fw->raw */
static int flush_chunk(bs_frame_writer *fw, const unsigned char *src, size_t n)
{
    int rc;
    if (!fw->header_done && (rc = write_header(fw)) != 0)
        return rc;
    size_t clen = 0, need = CHUNK_HEADER + fw->codec->bound(n);
    if (need > fw->out_cap) {
        unsigned char *o = bs__realloc(fw->out, need);
        if (!o)
            return BLOBSTORE_ENOMEM;
        fw->out = o;
        fw->out_cap = need;
    }
    unsigned char *payload = fw->out + CHUNK_HEADER;
    const unsigned char *stored = payload;
    uint32_t field;
    rc = fw->codec->id == BS_CODEC_NONE
             ? 1
             : fw->codec->compress(payload, fw->out_cap - CHUNK_HEADER, src, n, fw->level, &clen);
    if (rc < 0)
        return rc;
    if (rc == 0 && clen < n) {
        field = (uint32_t)clen;
    } else { /* incompressible, or codec "none": keep the bytes as they are */
        clen = n;
        field = (uint32_t)n | STORED_RAW;
        stored = src;
    }
    put32(fw->out, (uint32_t)n);
    put32(fw->out + 4, field);
    put64(fw->out + 8, chunk_sum(stored, clen, (uint32_t)n, field));
    fw->chunks++;
    if (stored == payload)
        return emit(fw, fw->out, CHUNK_HEADER + clen);
    if ((rc = emit(fw, fw->out, CHUNK_HEADER)) != 0)
        return rc;
    if (fw->ref_sink && src != fw->raw) { /* the caller's own bytes, kept for the sink */
        if ((rc = fw->ref_sink(fw->ref_ctx, stored, clen)) == 0)
            fw->stored += clen;
        return rc;
    }
    return emit(fw, stored, clen);
}

int bs__frame_write(bs_frame_writer *fw, const void *p, size_t n)
{
    const unsigned char *c = p;
    /* a large write hashed beside its compression (SHA-256 was a fifth of a
     * 100 MB lz4 put's time, done in turn with the rest) */
    bs_iov whole = {p, n};
    bs_sha_thread sha;
    int threaded = n >= BS_SHA_THREAD_MIN && bs__sha256_thread_start(&sha, fw->sha, &whole, 1),
        rc = 0;
    if (!threaded) /* (a small write, or no thread to be had: in turn) */
        bs__sha256_update(fw->sha, p, n);
    fw->total += n;
    while (n && !rc) {
        if (fw->raw_len == 0 && n >= BS_FRAME_CHUNK) { /* whole chunk straight from the input */
            rc = flush_chunk(fw, c, BS_FRAME_CHUNK);
            c += BS_FRAME_CHUNK;
            n -= BS_FRAME_CHUNK;
            continue;
        }
        size_t take = BS_FRAME_CHUNK - fw->raw_len;
        if (take > n)
            take = n;
        if (fw->raw_len + take > fw->raw_cap) {
            size_t cap = fw->raw_cap ? fw->raw_cap : 4096;
            while (cap < fw->raw_len + take)
                cap *= 2;
            if (cap > BS_FRAME_CHUNK)
                cap = BS_FRAME_CHUNK;
            unsigned char *r = bs__realloc(fw->raw, cap);
            if (!r) {
                rc = BLOBSTORE_ENOMEM;
                break;
            }
            fw->raw = r;
            fw->raw_cap = cap;
        }
        memcpy(fw->raw + fw->raw_len, c, take);
        fw->raw_len += take;
        c += take;
        n -= take;
        if (fw->raw_len == BS_FRAME_CHUNK) {
            rc = flush_chunk(fw, fw->raw, fw->raw_len);
            fw->raw_len = 0;
        }
    }
    if (threaded)
        bs__sha256_thread_join(&sha);
    return rc;
}

int bs__frame_set_record(bs_frame_writer *fw, const char *record)
{
    if (record && strlen(record) > BS_FRAME_RECORD_MAX)
        return bs__error(BLOBSTORE_EINVAL, "entry record of %zu bytes is over the %u allowed",
                         strlen(record), (unsigned)BS_FRAME_RECORD_MAX);
    char *r = record ? bs__strdup(record) : NULL;
    if (record && !r)
        return BLOBSTORE_ENOMEM;
    free(fw->record);
    fw->record = r;
    return 0;
}

void bs__frame_set_keyrec(bs_frame_writer *fw)
{
    fw->version = FRAME_KEYREC;
}

void bs__frame_set_ref_sink(bs_frame_writer *fw, bs_sink_fn ref_sink, void *ctx)
{
    fw->ref_sink = ref_sink;
    fw->ref_ctx = ctx;
}

int bs__frame_finish(bs_frame_writer *fw, char hash_out[65], uint64_t *raw_size,
                     uint64_t *stored_size)
{
    int rc;
    if (!fw->header_done && (rc = write_header(fw)) != 0)
        return rc;
    if (fw->raw_len) {
        rc = flush_chunk(fw, fw->raw, fw->raw_len);
        fw->raw_len = 0;
        if (rc)
            return rc;
    }
    unsigned char t[8 + TRAILER_REST];
    memset(t, 0, 8);
    put64(t + 8, fw->total);
    bs__sha256_final(fw->sha, t + 16);
    fw->sha = NULL;
    bs__hex(hash_out, t + 16, 32);
    put64(t + 48, fw->chunks);
    if ((rc = emit(fw, t, 56)) != 0)
        return rc;
    uint32_t rlen = fw->record ? (uint32_t)strlen(fw->record) : 0;
    unsigned char rl[4], rs[16];
    put32(rl, rlen);
    put64(rs, XXH3_64bits_withSeed(fw->record ? fw->record : "", rlen, rlen));
    memcpy(rs + 8, end_magic, 8);
    if ((rc = emit(fw, rl, 4)) != 0 || (rlen && (rc = emit(fw, fw->record, rlen)) != 0) ||
        (rc = emit(fw, rs, 16)) != 0)
        return rc;
    *raw_size = fw->total;
    *stored_size = fw->stored;
    return 0;
}

int bs__sink_buf(void *ctx, const void *p, size_t n)
{
    return bs__buf_append(ctx, p, n);
}

/* Read exactly n bytes, or fewer only at the end of the source. */
static int read_full(bs_source_fn src, void *ctx, void *p, size_t n, size_t *got)
{
    unsigned char *c = p;
    *got = 0;
    while (*got < n) {
        size_t r = 0;
        int rc = src(ctx, c + *got, n - *got, &r);
        if (rc)
            return rc;
        if (r == 0)
            break;
        *got += r;
    }
    return 0;
}

static int need(bs_source_fn src, void *ctx, void *p, size_t n, const char *what)
{
    size_t got;
    int rc = read_full(src, ctx, p, n, &got);
    if (rc)
        return rc;
    if (got != n)
        return bs__error(BLOBSTORE_ECORRUPT, "blob is truncated (in the %s)", what);
    return 0;
}

int bs__frame_decode(bs_source_fn src, void *src_ctx, bs_sink_fn sink, void *sink_ctx,
                     const char *expect_hash, uint64_t expect_size, int full_hash,
                     const char **codec_name)
{
    return bs__frame_decode_record(src, src_ctx, sink, sink_ctx, expect_hash, expect_size,
                                   full_hash, codec_name, NULL);
}

int bs__frame_decode_record(bs_source_fn src, void *src_ctx, bs_sink_fn sink, void *sink_ctx,
                            const char *expect_hash, uint64_t expect_size, int full_hash,
                            const char **codec_name, bs_buf *record)
{
    unsigned char h[HEADER_SIZE];
    int rc = need(src, src_ctx, h, sizeof(h), "header");
    if (rc)
        return rc;
    if (memcmp(h, frame_magic, 8) != 0)
        return bs__error(BLOBSTORE_ECORRUPT, "blob does not start with the blobstore frame magic");
    if (XXH3_64bits(h, 16) != get64(h + 16))
        return bs__error(BLOBSTORE_ECORRUPT, "blob header fails its checksum");
    if (h[8] < 1 || h[8] > FRAME_KEYREC)
        return bs__error(BLOBSTORE_EUNSUPPORTED,
                         "blob frame version %u is not supported (this "
                         "library reads versions 1 to %d)",
                         h[8], FRAME_KEYREC);
    int version = h[8];
    const bs_codec *codec = bs__codec_by_id(h[9]);
    if (!codec)
        return BLOBSTORE_ECORRUPT;
    if (codec_name)
        *codec_name = codec->name;
    uint32_t chunk_size = get32(h + 12);
    if (chunk_size == 0 || chunk_size > MAX_CHUNK)
        return bs__error(BLOBSTORE_ECORRUPT, "blob frame has an invalid chunk size %u", chunk_size);
    size_t in_max = codec->bound(chunk_size);
    if (in_max < chunk_size)
        in_max = chunk_size;
    bs_buf inb = {0}, rawb = {0}; /* grown to the largest chunk seen */
    bs_sha256 *sha = full_hash ? bs__sha256_new() : NULL;
    if (full_hash && !sha) {
        rc = BLOBSTORE_ENOMEM;
        goto out;
    }
    uint64_t total = 0, chunks = 0;
    for (;;) {
        unsigned char ch[CHUNK_HEADER];
        if ((rc = need(src, src_ctx, ch, 8, "chunk header")) != 0)
            goto out;
        uint32_t rlen = get32(ch), field = get32(ch + 4);
        if (rlen == 0) {
            unsigned char t[TRAILER_REST], md[32], extra;
            size_t got;
            if (field != 0) {
                rc = bs__error(BLOBSTORE_ECORRUPT, "blob trailer is damaged");
                goto out;
            }
            if ((rc = need(src, src_ctx, t, version == 1 ? sizeof(t) : 52, "trailer")) != 0)
                goto out;
            if (version >= 2) { /* the entry record, its checksum and the end magic */
                uint32_t reclen = get32(t + 48);
                unsigned char *rec = NULL;
                if (reclen > BS_FRAME_RECORD_MAX) {
                    rc = bs__error(BLOBSTORE_ECORRUPT, "blob trailer is damaged");
                    goto out;
                }
                if (reclen && !(rec = bs__malloc(reclen + 1))) {
                    rc = BLOBSTORE_ENOMEM;
                    goto out;
                }
                unsigned char tail[16];
                if ((rc = need(src, src_ctx, rec, reclen, "trailer")) == 0)
                    rc = need(src, src_ctx, tail, 16, "trailer");
                if (!rc && get64(tail) != XXH3_64bits_withSeed(rec ? rec : t, reclen, reclen))
                    rc = bs__error(BLOBSTORE_ECORRUPT, "blob entry record fails its checksum");
                if (!rc && record) {
                    record->len = 0;
                    rc = bs__buf_append(record, rec ? rec : t, reclen) ||
                                 bs__buf_append(record, "", 1)
                             ? BLOBSTORE_ENOMEM
                             : 0;
                    if (!rc)
                        record->len--; /* NUL-terminated, not counted */
                }
                free(rec);
                if (rc)
                    goto out;
                memcpy(t + 48, tail + 8, 8); /* the magic where version 1 has it */
            } else if (record) {
                record->len = 0;
                if (bs__buf_append(record, "", 1) != 0) {
                    rc = BLOBSTORE_ENOMEM;
                    goto out;
                }
                record->len = 0;
            }
            if (memcmp(t + 48, end_magic, 8) != 0 || get64(t) != total || get64(t + 40) != chunks) {
                rc = bs__error(BLOBSTORE_ECORRUPT, "blob trailer is damaged");
                goto out;
            }
            if ((rc = read_full(src, src_ctx, &extra, 1, &got)) != 0)
                goto out;
            if (got) {
                rc = bs__error(BLOBSTORE_ECORRUPT, "blob has bytes after its trailer");
                goto out;
            }
            char hex[65];
            if (sha) {
                bs__sha256_final(sha, md);
                sha = NULL;
                if (memcmp(md, t + 8, 32) != 0) {
                    rc = bs__error(BLOBSTORE_ECORRUPT, "blob content does not match its SHA-256");
                    goto out;
                }
            }
            bs__hex(hex, t + 8, 32);
            if (expect_hash && strcmp(hex, expect_hash) != 0) {
                rc = bs__error(BLOBSTORE_ECORRUPT,
                               "blob content hash %s differs from the recorded %s", hex,
                               expect_hash);
                goto out;
            }
            if (expect_size != UINT64_MAX && total != expect_size) {
                rc = bs__error(BLOBSTORE_ECORRUPT, "blob holds %llu bytes but %llu were recorded",
                               (unsigned long long)total, (unsigned long long)expect_size);
                goto out;
            }
            rc = 0;
            goto out;
        }
        uint32_t slen = field & ~STORED_RAW;
        int is_raw = (field & STORED_RAW) != 0;
        if (rlen > chunk_size || slen > in_max || (is_raw && slen != rlen) || slen == 0) {
            rc = bs__error(BLOBSTORE_ECORRUPT, "blob chunk %llu has invalid lengths",
                           (unsigned long long)chunks);
            goto out;
        }
        if ((rc = bs__buf_reserve(&inb, slen)) != 0 ||
            (!is_raw && (rc = bs__buf_reserve(&rawb, rlen)) != 0))
            goto out;
        unsigned char *in = inb.data, *raw = rawb.data;
        if ((rc = need(src, src_ctx, ch + 8, 8, "chunk header")) != 0)
            goto out;
        if ((rc = need(src, src_ctx, in, slen, "chunk data")) != 0)
            goto out;
        if (chunk_sum(in, slen, rlen, field) != get64(ch + 8)) {
            rc = bs__error(BLOBSTORE_ECORRUPT, "blob chunk %llu fails its checksum",
                           (unsigned long long)chunks);
            goto out;
        }
        const unsigned char *data = in;
        unsigned char *dst = raw;
        bs_buf *direct = sink == bs__sink_buf ? sink_ctx : NULL;
        if (direct) { /* decode straight into the caller's buffer: one copy less */
            if ((rc = bs__buf_reserve(direct, rlen)) != 0)
                goto out;
            dst = direct->data + direct->len;
        }
        if (!is_raw) {
            if ((rc = codec->decompress(dst, rlen, in, slen)) != 0) {
                bs__error_wrap(BLOBSTORE_ECORRUPT, "blob chunk %llu", (unsigned long long)chunks);
                rc = BLOBSTORE_ECORRUPT;
                goto out;
            }
            data = dst;
        }
        if (sha)
            bs__sha256_update(sha, data, rlen);
        total += rlen;
        chunks++;
        if (direct && data == dst)
            direct->len += rlen;
        else if ((rc = sink(sink_ctx, data, rlen)) != 0)
            goto out;
    }
out:
    bs__sha256_free(sha);
    bs__buf_free(&inb);
    bs__buf_free(&rawb);
    return rc;
}

int bs__frame_head(const unsigned char *h, size_t n, int *version, const char **codec_name)
{
    if (n < 8 || memcmp(h, frame_magic, 8) != 0)
        return 1;
    if (n < HEADER_SIZE)
        return bs__error(BLOBSTORE_ECORRUPT, "blob is truncated (in the header)");
    if (XXH3_64bits(h, 16) != get64(h + 16))
        return bs__error(BLOBSTORE_ECORRUPT, "blob header fails its checksum");
    if (h[8] < 1 || h[8] > FRAME_KEYREC)
        return bs__error(BLOBSTORE_EUNSUPPORTED,
                         "blob frame version %u is not supported (this library reads versions 1 "
                         "to %d)",
                         h[8], FRAME_KEYREC);
    const bs_codec *codec = bs__codec_by_id(h[9]);
    if (!codec)
        return bs__error(BLOBSTORE_ECORRUPT, "blob header names an unknown codec %u", h[9]);
    *version = h[8];
    if (codec_name)
        *codec_name = codec->name;
    return 0;
}

int bs__frame_tail(const unsigned char *buf, size_t n, int version, int whole, bs_frame_tail *t)
{
    static const unsigned char zero[8];
    memset(t, 0, sizeof(*t));
    /* end marker (8 zero bytes), size, SHA-256, chunks (version 1: then the
     * end magic; version 2: record length, record, its checksum, magic) */
    size_t fixed = version == 1 ? 64 : 76, base;
    if (n < fixed + (whole ? HEADER_SIZE : 0))
        return whole ? bs__error(BLOBSTORE_ECORRUPT, "blob is truncated (in the trailer)") : 1;
    if (memcmp(buf + n - 8, end_magic, 8) != 0)
        return bs__error(BLOBSTORE_ECORRUPT, "blob trailer is damaged (no end magic)");
    if (version == 1) {
        base = n - 64;
    } else {
        /* the record's length is stored before it: find the one that fits,
         * its checksum confirming it */
        size_t max = n - fixed - (whole ? HEADER_SIZE : 0), r;
        if (max > BS_FRAME_RECORD_MAX)
            max = BS_FRAME_RECORD_MAX;
        uint64_t sum = get64(buf + n - 16);
        for (r = 0; r <= max; r++) {
            const unsigned char *lenp = buf + n - 16 - r - 4;
            if (get32(lenp) == r && memcmp(lenp - 56, zero, 8) == 0 &&
                XXH3_64bits_withSeed(lenp + 4, r, r) == sum)
                break;
        }
        if (r > max)
            return whole || max == BS_FRAME_RECORD_MAX
                       ? bs__error(BLOBSTORE_ECORRUPT,
                                   "blob trailer or its entry record is damaged")
                       : 1;
        base = n - 16 - r - 4 - 56;
        t->record = r ? buf + n - 16 - r : NULL;
        t->record_len = r;
    }
    if (memcmp(buf + base, zero, 8) != 0)
        return bs__error(BLOBSTORE_ECORRUPT, "blob trailer is damaged");
    t->size = get64(buf + base + 8);
    bs__hex(t->hash, buf + base + 16, 32);
    t->chunks = get64(buf + base + 48);
    return 0;
}

int bs__frame_with_record(const unsigned char *frame, size_t n, const char *record, bs_buf *out)
{
    int version = 0;
    bs_frame_tail t;
    int rc = bs__frame_head(frame, n, &version, NULL);
    if (rc == 1)
        return bs__error(BLOBSTORE_ECORRUPT, "blob does not start with the blobstore frame magic");
    if (rc || (rc = bs__frame_tail(frame, n, version, 1, &t)) != 0)
        return rc > 0 ? bs__error(BLOBSTORE_ECORRUPT, "blob trailer is damaged") : rc;
    size_t rlen = record ? strlen(record) : 0;
    out->len = 0;
    if (version != FRAME_VERSION || t.record_len || !rlen)
        return bs__buf_append(out, frame, n) ? BLOBSTORE_ENOMEM : 0;
    if (rlen > BS_FRAME_RECORD_MAX)
        return bs__error(BLOBSTORE_EINVAL, "entry record of %zu bytes is over the %u allowed", rlen,
                         (unsigned)BS_FRAME_RECORD_MAX);
    /* the frame ends with R = 0 (4), the empty record's checksum (8) and
     * the end magic (8) */
    unsigned char rl[4], rs[16];
    put32(rl, (uint32_t)rlen);
    put64(rs, XXH3_64bits_withSeed(record, rlen, rlen));
    memcpy(rs + 8, end_magic, 8);
    if (bs__buf_append(out, frame, n - 20) || bs__buf_append(out, rl, 4) ||
        bs__buf_append(out, record, rlen) || bs__buf_append(out, rs, 16))
        return BLOBSTORE_ENOMEM;
    return 0;
}

/* ---- the compact frame of a value kept inline (internal.h) ---- */

#define INLINE_MAGIC 0xB5
#define INLINE_RAW   0x80

static uint64_t inline_sum(const unsigned char *p, size_t n, const char *hash, uint64_t size)
{
    size_t hl = hash ? strlen(hash) : 0;
    return XXH3_64bits_withSeed(p, n, XXH3_64bits_withSeed(hash ? hash : "", hl, size));
}

int bs__inline_is_compact(const void *p, size_t n)
{
    return n >= 1 && ((const unsigned char *)p)[0] == INLINE_MAGIC;
}

int bs__inline_encode(const bs_codec *codec, int level, const void *p, size_t n, const char *hash,
                      bs_buf *out)
{
    size_t bound = codec->bound(n);
    out->len = 0;
    int rc = bs__buf_reserve(out, 2 + (bound > n ? bound : n) + 8);
    if (rc)
        return rc;
    unsigned char *o = out->data;
    size_t clen = 0;
    rc = codec->id == BS_CODEC_NONE || n == 0
             ? 1
             : codec->compress(o + 2, out->cap - 10, p, n, level, &clen);
    if (rc < 0)
        return rc;
    o[0] = INLINE_MAGIC;
    o[1] = (unsigned char)codec->id;
    if (rc != 0 || clen >= n) { /* incompressible, or codec "none" */
        o[1] |= INLINE_RAW;
        clen = n;
        if (n)
            memcpy(o + 2, p, n);
    }
    put64(o + 2 + clen, inline_sum(o, 2 + clen, hash, n));
    out->len = 2 + clen + 8;
    return 0;
}

int bs__inline_decode(const void *p, size_t n, const char *hash, uint64_t size, int full_hash,
                      bs_sink_fn sink, void *sink_ctx, const char **codec_name)
{
    const unsigned char *f = p;
    if (n < BS_INLINE_OVERHEAD || f[0] != INLINE_MAGIC)
        return bs__error(BLOBSTORE_ECORRUPT, "inline value is truncated or not a frame");
    size_t slen = n - BS_INLINE_OVERHEAD;
    if (inline_sum(f, n - 8, hash, size) != get64(f + n - 8))
        return bs__error(BLOBSTORE_ECORRUPT, "inline value fails its checksum");
    int is_raw = (f[1] & INLINE_RAW) != 0;
    const bs_codec *codec = bs__codec_by_id(f[1] & ~INLINE_RAW);
    if (!codec)
        return bs__error(BLOBSTORE_ECORRUPT, "inline value names an unknown codec %u",
                         f[1] & ~INLINE_RAW);
    if (codec_name)
        *codec_name = codec->name;
    if ((is_raw && slen != size) || (!is_raw && (slen == 0 || size == 0 || size > BS_FRAME_CHUNK)))
        return bs__error(BLOBSTORE_ECORRUPT, "inline value has invalid lengths");
    const unsigned char *data = f + 2;
    bs_buf tmp = {0};
    bs_buf *direct = sink == bs__sink_buf ? sink_ctx : NULL;
    int rc = 0;
    if (!is_raw) {
        bs_buf *dst = direct ? direct : &tmp;
        if ((rc = bs__buf_reserve(dst, (size_t)size)) != 0)
            return rc;
        unsigned char *d = dst->data + dst->len;
        if ((rc = codec->decompress(d, (size_t)size, data, slen)) != 0) {
            bs__error_wrap(BLOBSTORE_ECORRUPT, "inline value");
            bs__buf_free(&tmp);
            return BLOBSTORE_ECORRUPT;
        }
        data = d;
    }
    if (full_hash) {
        char hex[65];
        bs__sha256_hex(hex, data, (size_t)size);
        if (!hash || strcmp(hex, hash) != 0)
            rc = bs__error(BLOBSTORE_ECORRUPT, "inline value does not match its SHA-256");
    }
    if (!rc) {
        if (direct && !is_raw)
            direct->len += (size_t)size;
        else if (size)
            rc = sink(sink_ctx, data, (size_t)size);
    }
    bs__buf_free(&tmp);
    return rc;
}

int bs__inline_to_frame(const void *p, size_t n, const char *hash, uint64_t size,
                        const char *record, bs_buf *out)
{
    bs_buf raw = {0};
    const char *codec_name = NULL;
    bs_frame_writer *fw = NULL;
    int rc = bs__inline_decode(p, n, hash, size, 1, bs__sink_buf, &raw, &codec_name);
    out->len = 0;
    if (!rc)
        rc = bs__frame_writer_new(&fw, bs__codec_by_name(codec_name), 3, bs__sink_buf, out);
    if (!rc && raw.len)
        rc = bs__frame_write(fw, raw.data, raw.len);
    if (!rc && record)
        rc = bs__frame_set_record(fw, record);
    char h[65];
    uint64_t rs, ss;
    if (!rc)
        rc = bs__frame_finish(fw, h, &rs, &ss);
    bs__frame_writer_free(fw);
    bs__buf_free(&raw);
    return rc;
}
