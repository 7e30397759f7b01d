/*
 * frame.c - Blosc2 contiguous frames (.b2nd files): the msgpack header with
 * the b2nd metalayer, the chunks, the offsets index and the trailer.
 *
 * Reading: the header gives the header length, the frame length (which must
 * equal the file's), the sizes and the metalayers; the offsets index is a
 * chunk of int64 offsets at header_len + compressed_size, each counted from
 * the end of the header, or special (bit 63: a chunk of zeros, NaNs or
 * uninitialised values with no bytes at all). The trailer ends the frame.
 * Writing mirrors the layout c-blosc2 3.x produces (frame format version 2,
 * which both 2.x and 3.x readers accept), with fixed-width msgpack integers.
 */
#include "b2nd.h"

/* ---- a bounds-checked msgpack reader ---- */

typedef struct {
    const uint8_t *p, *end;
    int bad;
} mp;

static uint64_t be(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

static const uint8_t *mp_take(mp *m, size_t n)
{
    if (m->bad || (size_t)(m->end - m->p) < n) {
        m->bad = 1;
        return NULL;
    }
    const uint8_t *r = m->p;
    m->p += n;
    return r;
}

static int mp_byte(mp *m)
{
    const uint8_t *b = mp_take(m, 1);
    return b ? *b : -1;
}

/* An integer of any msgpack integer encoding. */
static int64_t mp_int(mp *m)
{
    int t = mp_byte(m);
    const uint8_t *b;
    if (t < 0)
        return 0;
    if (t <= 0x7f)
        return t;
    if (t >= 0xe0)
        return (int8_t)t;
    static const int widths[] = {1, 2, 4, 8};
    if (t >= 0xcc && t <= 0xcf) {
        int w = widths[t - 0xcc];
        if (!(b = mp_take(m, (size_t)w)))
            return 0;
        uint64_t v = be(b, w);
        if (v > INT64_MAX)
            m->bad = 1;
        return (int64_t)v;
    }
    if (t >= 0xd0 && t <= 0xd3) {
        int w = widths[t - 0xd0];
        if (!(b = mp_take(m, (size_t)w)))
            return 0;
        uint64_t v = be(b, w);
        if (w < 8 && (v >> (8 * w - 1)) & 1)
            v |= ~(uint64_t)0 << (8 * w);
        return (int64_t)v;
    }
    m->bad = 1;
    return 0;
}

/* A str or bin: its bytes and length. */
static const uint8_t *mp_bytes(mp *m, size_t *len)
{
    int t = mp_byte(m);
    const uint8_t *b;
    size_t n;
    if (t < 0)
        return NULL;
    if (t >= 0xa0 && t <= 0xbf) {
        n = (size_t)(t & 0x1f);
    } else if (t == 0xd9 || t == 0xc4) {
        n = (b = mp_take(m, 1)) ? b[0] : 0;
    } else if (t == 0xda || t == 0xc5) {
        n = (b = mp_take(m, 2)) ? (size_t)be(b, 2) : 0;
    } else if (t == 0xdb || t == 0xc6) {
        n = (b = mp_take(m, 4)) ? (size_t)be(b, 4) : 0;
    } else {
        m->bad = 1;
        return NULL;
    }
    *len = n;
    return mp_take(m, n);
}

/* An array or map header: its element count. */
static size_t mp_count(mp *m, int map)
{
    int t = mp_byte(m);
    const uint8_t *b;
    if (t < 0)
        return 0;
    if (!map && t >= 0x90 && t <= 0x9f)
        return (size_t)(t & 15);
    if (map && t >= 0x80 && t <= 0x8f)
        return (size_t)(t & 15);
    if (t == (map ? 0xde : 0xdc))
        return (b = mp_take(m, 2)) ? (size_t)be(b, 2) : 0;
    if (t == (map ? 0xdf : 0xdd))
        return (b = mp_take(m, 4)) ? (size_t)be(b, 4) : 0;
    m->bad = 1;
    return 0;
}

static void mp_skip(mp *m, int depth)
{
    int t = m->p < m->end ? *m->p : -1;
    size_t n;
    if (t < 0 || depth > 32) {
        m->bad = 1;
        return;
    }
    if (t <= 0x7f || t >= 0xe0 || (t >= 0xcc && t <= 0xd3)) {
        mp_int(m);
    } else if ((t >= 0xa0 && t <= 0xbf) || t == 0xd9 || t == 0xda || t == 0xdb || t == 0xc4 ||
               t == 0xc5 || t == 0xc6) {
        mp_bytes(m, &n);
    } else if ((t >= 0x90 && t <= 0x9f) || t == 0xdc || t == 0xdd) {
        n = mp_count(m, 0);
        for (size_t i = 0; i < n && !m->bad; i++)
            mp_skip(m, depth + 1);
    } else if ((t >= 0x80 && t <= 0x8f) || t == 0xde || t == 0xdf) {
        n = mp_count(m, 1);
        for (size_t i = 0; i < 2 * n && !m->bad; i++)
            mp_skip(m, depth + 1);
    } else if (t == 0xc0 || t == 0xc2 || t == 0xc3) {
        m->p++;
    } else if (t == 0xca || t == 0xcb) {
        mp_take(m, t == 0xca ? 5 : 9);
    } else if (t >= 0xd4 && t <= 0xd8) {
        mp_take(m, 2 + ((size_t)1 << (t - 0xd4)));
    } else if (t >= 0xc7 && t <= 0xc9) {
        int w = t == 0xc7 ? 1 : t == 0xc8 ? 2 : 4;
        const uint8_t *b = (m->p++, mp_take(m, (size_t)w));
        if (b)
            mp_take(m, 1 + (size_t)be(b, w));
    } else {
        m->bad = 1;
    }
}

static int corrupt(const char *what)
{
    return bs__error(BLOBSTORE_ECORRUPT, "b2nd: %s", what);
}

/* Parse the b2nd metalayer content. */
static int parse_b2nd_meta(b2nd_desc *d, const uint8_t *p, size_t n)
{
    mp m = {p, p + n, 0};
    if (mp_count(&m, 0) != 7)
        return corrupt("the b2nd metalayer is not a 7-element array");
    int64_t version = mp_int(&m), ndim = mp_int(&m);
    if (m.bad || version < 0 || ndim < 0 || ndim > B2ND_MAX_DIM)
        return m.bad ? corrupt("the b2nd metalayer is damaged")
                     : bs__error(BLOBSTORE_EUNSUPPORTED, "b2nd: %lld dimensions (at most %d)",
                                 (long long)ndim, B2ND_MAX_DIM);
    d->ndim = (int)ndim;
    for (int part = 0; part < 3; part++) {
        if (mp_count(&m, 0) != (size_t)ndim)
            return corrupt("the b2nd metalayer's shapes do not match ndim");
        for (int i = 0; i < ndim; i++) {
            int64_t v = mp_int(&m);
            if (part == 0) {
                if (v < 0)
                    return corrupt("negative shape");
                d->shape[i] = v;
            } else {
                if (v < 0 || v > INT32_MAX) /* 0 only in empty arrays, checked below */
                    return corrupt("invalid chunk or block shape");
                (part == 1 ? d->chunkshape : d->blockshape)[i] = (int32_t)v;
            }
        }
    }
    int64_t fmt = mp_int(&m);
    size_t len = 0;
    const uint8_t *s = mp_bytes(&m, &len);
    if (m.bad || !s)
        return corrupt("the b2nd metalayer's dtype is damaged");
    if (fmt != 0)
        return bs__error(BLOBSTORE_EUNSUPPORTED, "b2nd: dtype format %lld (only NumPy, 0)",
                         (long long)fmt);
    if (len == 0 || len >= sizeof(d->dtype))
        return bs__error(BLOBSTORE_EUNSUPPORTED, "b2nd: dtype string of %zu bytes", len);
    memcpy(d->dtype, s, len);
    d->dtype[len] = '\0';
    char kind;
    int rc = bs__b2nd_dtype_parse(d->dtype, &d->itemsize, &kind);
    if (rc)
        return rc;
    for (int i = 0; i < ndim; i++)
        if (d->blockshape[i] > d->chunkshape[i])
            return corrupt("a block is larger than its chunk");
    return 0;
}

void bs__b2nd_close(b2nd_file *f)
{
    if (f) {
        free(f->offsets);
        f->offsets = NULL;
    }
}

int bs__b2nd_open(b2nd_file *f, const uint8_t *data, size_t len)
{
    return bs__b2nd_open_ranged(f, data, len, NULL, NULL);
}

int bs__b2nd_open_ranged(b2nd_file *f, const uint8_t *data, size_t len, b2nd_fetch_fn fetch,
                         void *ctx)
{
    memset(f, 0, sizeof(*f));
    f->data = data;
    f->len = len;
    f->fetch = fetch;
    f->fetch_ctx = ctx;
    int rc;
    /* The header's first fields (magic, its length) lie in its first bytes. */
    if (fetch && (rc = fetch(ctx, 0, 64)) != 0)
        return rc;
    mp m = {data, data + len, 0};
    if (mp_count(&m, 0) < 14)
        return corrupt("not a Blosc2 frame (the header is not a 14-element msgpack array)");
    size_t n;
    const uint8_t *magic = mp_bytes(&m, &n);
    if (!magic || n != 8 || memcmp(magic, "b2frame", 8) != 0)
        return corrupt("not a Blosc2 frame (no b2frame magic)");
    int64_t header_len = mp_int(&m), frame_len = mp_int(&m);
    const uint8_t *flags = mp_bytes(&m, &n);
    if (m.bad || !flags || n != 4)
        return corrupt("the frame header is damaged");
    if (header_len <= 0 || (uint64_t)header_len > len || frame_len < header_len)
        return corrupt("the frame header has invalid lengths");
    if (fetch && (rc = fetch(ctx, 0, (uint64_t)header_len)) != 0)
        return rc;
    if ((uint64_t)frame_len != len)
        return bs__error(BLOBSTORE_ECORRUPT, "b2nd: frame is %lld bytes but the file has %zu",
                         (long long)frame_len, len);
    int version = flags[0] & 15;
    if (version > 3)
        return bs__error(BLOBSTORE_EUNSUPPORTED, "b2nd: frame format version %d", version);
    if ((flags[0] >> 4 & 3) != 1)
        return bs__error(BLOBSTORE_EUNSUPPORTED, "b2nd: chunk offsets that are not 64-bit");
    int varlen_chunks = (flags[0] & 0x40) != 0; /* c-blosc2 3.x marks empty frames so */
    if (flags[0] & 0x80)
        return bs__error(BLOBSTORE_EUNSUPPORTED, "b2nd: variable-length blocks (VL-blocks)");
    if ((flags[1] & 15) != 0)
        return bs__error(BLOBSTORE_EUNSUPPORTED, "b2nd: sparse frames (this is frame type %d)",
                         flags[1] & 15);
    int64_t nbytes = mp_int(&m), cbytes = mp_int(&m), typesize = mp_int(&m);
    mp_int(&m); /* blocksize */
    int64_t chunksize = mp_int(&m);
    mp_skip(&m, 0); /* threads */
    mp_skip(&m, 0);
    mp_skip(&m, 0); /* has vlmetalayers */
    mp_skip(&m, 0); /* filters (fixext 16) */
    if (m.bad || nbytes < 0 || cbytes < 0 || typesize < 1 || typesize > 255 || chunksize < 0 ||
        chunksize > INT32_MAX)
        return corrupt("the frame header is damaged");
    /* Metalayers: [idx, {name: offset}, [content...]] */
    size_t parts = mp_count(&m, 0);
    if (m.bad || parts < 2)
        return corrupt("the frame has no metalayers");
    mp_skip(&m, 0);
    size_t nmeta = mp_count(&m, 1);
    int64_t b2nd_off = -1;
    for (size_t i = 0; i < nmeta && !m.bad; i++) {
        const uint8_t *name = mp_bytes(&m, &n);
        int64_t off = mp_int(&m);
        if (name && n == 4 && memcmp(name, "b2nd", 4) == 0)
            b2nd_off = off;
    }
    if (m.bad)
        return corrupt("the frame's metalayer map is damaged");
    if (b2nd_off < 0)
        return bs__error(BLOBSTORE_EUNSUPPORTED, "b2nd: the frame has no b2nd metalayer");
    if (b2nd_off >= header_len)
        return corrupt("the b2nd metalayer lies outside the header");
    mp mm = {data + b2nd_off, data + header_len, 0};
    const uint8_t *content = mp_bytes(&mm, &n);
    if (!content)
        return corrupt("the b2nd metalayer is damaged");
    rc = parse_b2nd_meta(&f->desc, content, n);
    if (rc)
        return rc;
    /* c-blosc2 takes the item size of an array from the frame header, not
     * from the dtype: a frame whose typesize contradicts its dtype is
     * damaged (c-blosc2 would read items of the wrong width). */
    if (typesize != f->desc.itemsize)
        return bs__error(
            BLOBSTORE_ECORRUPT,
            "b2nd: the frame header's typesize %lld contradicts the dtype %s (%d bytes)",
            (long long)typesize, f->desc.dtype, f->desc.itemsize);
    f->header_len = (size_t)header_len;
    f->typesize = (int)typesize;
    f->chunk_nbytes = (uint32_t)chunksize;
    /* The chunk grid implied by the metalayer must match the frame. */
    b2nd_desc *d = &f->desc;
    size_t chunk_items = 1, nchunks = 1, items;
    if ((rc = bs__b2nd_nitems(d, &items)) != 0)
        return corrupt("the array is too large");
    if (items == 0) { /* an empty array: no chunks to find */
        f->nchunks = 0;
        return 0;
    }
    for (int i = 0; i < d->ndim; i++) {
        if (d->chunkshape[i] < 1 || d->blockshape[i] < 1)
            return corrupt("invalid chunk or block shape");
        size_t ext = ((size_t)d->chunkshape[i] + (size_t)d->blockshape[i] - 1) /
                     (size_t)d->blockshape[i] * (size_t)d->blockshape[i];
        size_t nc = d->shape[i] == 0
                        ? 0
                        : (size_t)((d->shape[i] + d->chunkshape[i] - 1) / d->chunkshape[i]);
        if (bs__mul_overflow(&chunk_items, chunk_items, ext) ||
            bs__mul_overflow(&nchunks, nchunks, nc))
            return corrupt("the array is too large");
    }
    size_t want_nbytes;
    if (bs__mul_overflow(&want_nbytes, chunk_items, (size_t)d->itemsize) || want_nbytes > INT32_MAX)
        return bs__error(BLOBSTORE_EUNSUPPORTED, "b2nd: chunks larger than 2 GiB");
    if (nchunks && want_nbytes != (size_t)chunksize)
        return corrupt("the frame's chunk size does not match the b2nd shapes");
    f->nchunks = (int64_t)nchunks;
    if (nchunks == 0)
        return 0;
    if (varlen_chunks)
        return bs__error(BLOBSTORE_EUNSUPPORTED, "b2nd: variable-length chunks");
    if ((uint64_t)nbytes != (uint64_t)nchunks * (uint64_t)chunksize)
        return corrupt("the frame's uncompressed size does not match its chunks");
    /* The offsets index. */
    if ((uint64_t)cbytes > len - (size_t)header_len)
        return corrupt("the frame's compressed size runs past its end");
    f->cbytes = (uint64_t)cbytes;
    size_t idx_at = (size_t)header_len + (size_t)cbytes;
    size_t idx_bytes;
    if (bs__mul_overflow(&idx_bytes, nchunks, 8))
        return corrupt("too many chunks");
    if (fetch && (rc = fetch(ctx, idx_at, len - idx_at)) != 0)
        return rc;
    /* The index is one chunk: its own header must hold nchunks offsets
     * before they are given memory (the chunk count comes from the shapes, a
     * damaged one would ask for any size at all; a chunk holds < 4 GiB). */
    b2_chunk_info ci;
    if ((rc = bs__b2_chunk_info(&ci, data + idx_at, len - idx_at)) != 0) {
        bs__error_wrap(rc, "offsets index");
        return rc;
    }
    if (ci.nbytes != idx_bytes)
        return bs__error(BLOBSTORE_ECORRUPT,
                         "b2nd: the offsets index holds %u bytes, not the %zu of %zu chunks",
                         ci.nbytes, idx_bytes, nchunks);
    f->offsets = bs__malloc(idx_bytes);
    if (!f->offsets)
        return BLOBSTORE_ENOMEM;
    rc = bs__b2_chunk_decode(data + idx_at, len - idx_at, (uint8_t *)f->offsets, idx_bytes);
    if (rc) {
        bs__error_wrap(rc, "offsets index");
        bs__b2nd_close(f);
        return rc;
    }
    for (size_t i = 0; i < nchunks; i++) { /* stored little endian */
        uint8_t *b = (uint8_t *)&f->offsets[i];
        uint64_t v = 0;
        for (int k = 7; k >= 0; k--)
            v = v << 8 | b[k];
        f->offsets[i] = v;
        if (!(v >> 63) && v >= (uint64_t)cbytes) {
            bs__b2nd_close(f);
            return corrupt("a chunk offset points past the chunks");
        }
        /* c-blosc2 writes a special offset as bit 63 and one type bit in the
         * top byte (zeros, NaN, uninitialised), nothing else. */
        uint64_t top = v >> 56;
        if ((v >> 63) && ((top != 0x81 && top != 0x82 && top != 0x84) || (v << 8) != 0)) {
            bs__b2nd_close(f);
            return bs__error(BLOBSTORE_ECORRUPT,
                             "b2nd: chunk %zu has an invalid special offset 0x%016llx", i,
                             (unsigned long long)v);
        }
        if (top == 0x82 && f->typesize != 4 && f->typesize != 8) {
            bs__b2nd_close(f);
            return bs__error(BLOBSTORE_ECORRUPT,
                             "b2nd: chunk %zu is a NaN chunk but the items are %d bytes (4 or 8)",
                             i, f->typesize);
        }
    }
    return 0;
}

/* ---- writing ---- */

static void put_be(bs_buf *b, uint8_t tag, uint64_t v, int w, int *bad)
{
    uint8_t t[9];
    t[0] = tag;
    for (int i = 0; i < w; i++)
        t[1 + i] = (uint8_t)(v >> (8 * (w - 1 - i)));
    *bad |= bs__buf_append(b, t, (size_t)w + 1) != 0;
}

static void put_raw(bs_buf *b, const void *p, size_t n, int *bad)
{
    *bad |= bs__buf_append(b, p, n) != 0;
}

static void put_u8(bs_buf *b, uint8_t v, int *bad)
{
    put_raw(b, &v, 1, bad);
}

/* The b2nd metalayer content, as c-blosc2 writes it. */
static void b2nd_meta(bs_buf *b, const b2nd_desc *d, int *bad)
{
    put_u8(b, 0x97, bad);
    put_u8(b, 0, bad); /* version */
    put_u8(b, (uint8_t)d->ndim, bad);
    put_u8(b, (uint8_t)(0x90 | d->ndim), bad);
    for (int i = 0; i < d->ndim; i++)
        put_be(b, 0xd3, (uint64_t)d->shape[i], 8, bad);
    put_u8(b, (uint8_t)(0x90 | d->ndim), bad);
    for (int i = 0; i < d->ndim; i++)
        put_be(b, 0xd2, (uint32_t)d->chunkshape[i], 4, bad);
    put_u8(b, (uint8_t)(0x90 | d->ndim), bad);
    for (int i = 0; i < d->ndim; i++)
        put_be(b, 0xd2, (uint32_t)d->blockshape[i], 4, bad);
    put_u8(b, 0, bad); /* dtype format: NumPy, before the dtype */
    size_t n = strlen(d->dtype);
    put_be(b, 0xdb, n, 4, bad);
    put_raw(b, d->dtype, n, bad);
}

static int frame_codec(int chunk_codec)
{
    /* frame numbering: blosclz 0, lz4 1, lz4hc 2, zlib 4, zstd 5 */
    return chunk_codec == B2_BLOSCLZ ? 0
           : chunk_codec == B2_LZ4   ? 1
           : chunk_codec == B2_ZLIB  ? 4
                                     : 5;
}

int bs__b2_frame_parts(bs_buf *head, bs_buf *tail, const b2nd_desc *d, uint8_t *const *chunks,
                       const size_t *chunk_len, size_t nchunks, uint32_t chunk_nbytes,
                       uint32_t blocksize, const b2_cparams *cp, size_t align, size_t *pad)
{
    int bad = 0;
    bs_buf meta = {0};
    b2nd_meta(&meta, d, &bad);
    /* (cbytes, which counts the padding too, is known once the header's
     * length is: it is patched in below) */
    uint64_t cbytes = 0;
    bs_buf *out = head;
    /* Header; header_len and frame_len are patched at the end. */
    put_u8(out, 0x9e, &bad);
    put_u8(out, 0xa8, &bad);
    put_raw(out, "b2frame", 8, &bad);
    size_t at_header_len = out->len;
    put_be(out, 0xd2, 0, 4, &bad);
    size_t at_frame_len = out->len;
    put_be(out, 0xcf, 0, 8, &bad);
    int clevel = cp->codec == B2_NONE ? 0 : cp->level; /* clevel 0: stored as is */
    uint8_t fl[5] = {0xa4, 0x12, 0x00, (uint8_t)(frame_codec(cp->codec) | clevel << 4), 0x01};
    put_raw(out, fl, 5, &bad);
    put_be(out, 0xd3, (uint64_t)nchunks * chunk_nbytes, 8, &bad);
    size_t at_cbytes = out->len;
    put_be(out, 0xd3, 0, 8, &bad);
    put_be(out, 0xd2, (uint32_t)cp->typesize, 4, &bad);
    put_be(out, 0xd2, blocksize, 4, &bad);
    put_be(out, 0xd2, chunk_nbytes, 4, &bad);
    put_be(out, 0xd1, 1, 2, &bad);
    put_be(out, 0xd1, 1, 2, &bad);
    put_u8(out, 0xc2, &bad); /* no vlmetalayers in the header */
    uint8_t filters[18] = {0xd8,
                           6,
                           0,
                           0,
                           0,
                           0,
                           0,
                           (uint8_t)(cp->shuffle > 0 ? cp->shuffle : 0),
                           (uint8_t)frame_codec(cp->codec)}; /* c-blosc2 repeats the codec here */
    put_raw(out, filters, 18, &bad);
    /* Metalayers: [idx, {"b2nd": offset}, [bin32 content]] */
    put_u8(out, 0x93, &bad);
    put_be(out, 0xcd, 0x11, 2, &bad);
    put_be(out, 0xde, 1, 2, &bad);
    put_u8(out, 0xa4, &bad);
    put_raw(out, "b2nd", 4, &bad);
    size_t at_meta_off = out->len;
    put_be(out, 0xd2, 0, 4, &bad);
    put_be(out, 0xdc, 1, 2, &bad);
    size_t meta_off = out->len;
    put_be(out, 0xc6, meta.len, 4, &bad);
    put_raw(out, meta.data, meta.len, &bad);
    bs__buf_free(&meta);
    size_t header_len = out->len;
    /* The offsets index (special offsets for zero chunks), then the trailer. */
    uint64_t *offs = bs__calloc(nchunks ? nchunks : 1, 8);
    if (!offs || bad) {
        free(offs);
        return BLOBSTORE_ENOMEM;
    }
    uint64_t pos = 0;
    for (size_t i = 0; i < nchunks; i++) {
        uint64_t v;
        if (pad)
            pad[i] = 0;
        if (chunks[i] && align > 1 && pad) {
            /* zeros before the chunk's 32-byte header so that its items
             * start at a multiple of align in the file */
            uint64_t items_at = header_len + pos + 32;
            pad[i] = (size_t)((align - items_at % align) % align);
            pos += pad[i];
        }
        if (chunks[i]) {
            v = pos;
            pos += chunk_len[i];
        } else {
            v = (uint64_t)1 << 63 | (uint64_t)1 << 56; /* special: zeros */
        }
        uint8_t le[8];
        for (int k = 0; k < 8; k++)
            le[k] = (uint8_t)(v >> (8 * k));
        memcpy(&offs[i], le, 8);
    }
    out = tail;
    if (nchunks) {
        b2_cparams icp = {B2_BLOSCLZ, 5, B2_SHUFFLE, 8, 0};
        uint8_t *ic;
        size_t icn;
        int rc = bs__b2_chunk_encode(&ic, &icn, (uint8_t *)offs, (uint32_t)(nchunks * 8), &icp);
        if (rc) {
            free(offs);
            return rc;
        }
        put_raw(out, ic, icn, &bad);
        free(ic);
    }
    free(offs);
    cbytes = pos;
    /* Trailer: [version, vlmetalayers, trailer_len, fingerprint] */
    size_t trailer_at = out->len;
    static const uint8_t trailer[] = {0x94, 0x01, 0x93, 0xcd, 0x00, 0x06,
                                      0xde, 0x00, 0x00, 0xdc, 0x00, 0x00};
    put_raw(out, trailer, sizeof(trailer), &bad);
    size_t at_trailer_len = out->len;
    put_be(out, 0xce, 0, 4, &bad);
    uint8_t fp[18] = {0xd8, 0};
    put_raw(out, fp, 18, &bad);
    if (bad)
        return BLOBSTORE_ENOMEM;
    size_t trailer_len = out->len - trailer_at;
    uint64_t frame_len = header_len + cbytes + tail->len;
    for (int i = 0; i < 4; i++) {
        head->data[at_header_len + 1 + (size_t)i] = (uint8_t)(header_len >> (8 * (3 - i)));
        head->data[at_meta_off + 1 + (size_t)i] = (uint8_t)(meta_off >> (8 * (3 - i)));
        tail->data[at_trailer_len + 1 + (size_t)i] = (uint8_t)(trailer_len >> (8 * (3 - i)));
    }
    for (int i = 0; i < 8; i++) {
        head->data[at_frame_len + 1 + (size_t)i] = (uint8_t)(frame_len >> (8 * (7 - i)));
        head->data[at_cbytes + 1 + (size_t)i] = (uint8_t)(cbytes >> (8 * (7 - i)));
    }
    return 0;
}
