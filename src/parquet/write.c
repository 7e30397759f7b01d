/*
 * write.c - table -> Parquet file.
 *
 * Each row group holds one column chunk per column; each chunk is an
 * optional dictionary page and data pages (v1) of at most page_rows rows
 * (20,000), each ending once its values reach page_bytes (1 MiB):
 * definition levels for nullable columns (RLE, bit width 1, with their
 * 4-byte length), then the non-null values, PLAIN or as RLE_DICTIONARY
 * indices when a string or binary column repeats enough for a dictionary
 * (one per chunk) to pay. Pages are compressed
 * with the chosen codec. Column statistics (min, max, null count) and the
 * schema's logical types (STRING, INT(bits, signed), TIMESTAMP(unit, UTC),
 * DATE) are written so that DuckDB, Arrow and pandas restore the types.
 */
#include "parquet.h"

#include <errno.h>
#include <lz4.h>
#include <snappy-c.h>
#include <zlib.h>
#include <zstd.h>

enum { PT_BOOLEAN = 0, PT_INT32 = 1, PT_INT64 = 2, PT_FLOAT = 4, PT_DOUBLE = 5, PT_BYTE_ARRAY = 6 };
enum { ENC_PLAIN = 0, ENC_RLE = 3, ENC_RLE_DICTIONARY = 8 };
enum { CODEC_NONE = 0, CODEC_SNAPPY = 1, CODEC_GZIP = 2, CODEC_ZSTD = 6, CODEC_LZ4_RAW = 7 };

static int physical(pq_type t)
{
    switch (t) {
    case PQ_BOOL:
        return PT_BOOLEAN;
    case PQ_INT8:
    case PQ_INT16:
    case PQ_INT32:
    case PQ_UINT8:
    case PQ_UINT16:
    case PQ_UINT32:
    case PQ_DATE:
        return PT_INT32;
    case PQ_FLOAT:
        return PT_FLOAT;
    case PQ_DOUBLE:
        return PT_DOUBLE;
    case PQ_STRING:
    case PQ_BINARY:
        return PT_BYTE_ARRAY;
    default:
        return PT_INT64;
    }
}

/* ---- RLE / bit-packed hybrid ---- */

static int put_uvarint(bs_buf *b, uint64_t v)
{
    uint8_t t[10];
    int n = 0;
    do {
        t[n] = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v)
            t[n] |= 0x80;
        n++;
    } while (v);
    return bs__buf_append(b, t, (size_t)n);
}

/* Values as RLE runs where they repeat and bit-packed groups of 8 otherwise. */
int bs__pq_rle_encode(bs_buf *b, const uint32_t *v, size_t n, int bw)
{
    size_t i = 0;
    int bytes = (bw + 7) / 8, rc = 0;
    while (i < n && !rc) {
        size_t run = 1;
        while (i + run < n && v[i + run] == v[i])
            run++;
        if (run >= 8 || i + run == n) {
            rc = put_uvarint(b, (uint64_t)run << 1);
            for (int k = 0; k < bytes && !rc; k++) {
                uint8_t byte = (uint8_t)(v[i] >> (8 * k));
                rc = bs__buf_append(b, &byte, 1);
            }
            i += run;
            continue;
        }
        /*
         * Bit-pack whole groups of 8 until a run of 8 or more starts at a
         * group boundary (at most 63 groups a header). Only the last group of
         * the whole sequence may be short: readers decode a group's padding
         * as values, so padding is allowed only where no value follows.
         */
        size_t start = i, end = i, groups = 0;
        while (end < n && groups < 63) {
            end = n - end > 8 ? end + 8 : n;
            groups++;
            size_t r = 1;
            while (end + r < n && v[end + r] == v[end])
                r++;
            if (end < n && r >= 8)
                break;
        }
        if ((rc = put_uvarint(b, (uint64_t)groups << 1 | 1)) != 0)
            break;
        size_t nbytes = groups * (size_t)bw;
        if ((rc = bs__buf_reserve(b, nbytes)) != 0)
            break;
        uint8_t *out = b->data + b->len;
        memset(out, 0, nbytes);
        for (size_t k = 0; k < groups * 8; k++) {
            uint32_t val = start + k < end ? v[start + k] : 0;
            for (int bit = 0; bit < bw; bit++)
                if (val >> bit & 1) {
                    size_t pos = k * (size_t)bw + (size_t)bit;
                    out[pos >> 3] |= (uint8_t)(1u << (pos & 7));
                }
        }
        b->len += nbytes;
        i = end;
    }
    return rc;
}

/* ---- values ---- */

static int is_null(const pq_column *c, size_t i)
{
    return c->valid && !c->valid[i];
}

static int64_t int_value(const pq_column *c, size_t i)
{
    const uint8_t *p = (const uint8_t *)c->values + i * pq_width(c->type);
    switch (c->type) {
    case PQ_INT8:
        return *(const int8_t *)p;
    case PQ_UINT8:
    case PQ_BOOL:
        return *p;
    case PQ_INT16: {
        int16_t v;
        memcpy(&v, p, 2);
        return v;
    }
    case PQ_UINT16: {
        uint16_t v;
        memcpy(&v, p, 2);
        return v;
    }
    case PQ_INT32:
    case PQ_DATE: {
        int32_t v;
        memcpy(&v, p, 4);
        return v;
    }
    case PQ_UINT32: {
        uint32_t v;
        memcpy(&v, p, 4);
        return (int64_t)v;
    }
    default: {
        int64_t v;
        memcpy(&v, p, 8);
        return v;
    }
    }
}

/* PLAIN bytes of value i (for statistics and pages). */
static size_t plain_value(const pq_column *c, size_t i, uint8_t tmp[8], const uint8_t **out)
{
    int pt = physical(c->type);
    if (pt == PT_BYTE_ARRAY) {
        *out = c->bytes + c->offsets[i];
        return (size_t)(c->offsets[i + 1] - c->offsets[i]);
    }
    if (pt == PT_INT32) {
        int32_t v = (int32_t)int_value(c, i);
        memcpy(tmp, &v, 4);
        *out = tmp;
        return 4;
    }
    if (pt == PT_BOOLEAN) {
        tmp[0] = ((const uint8_t *)c->values)[i] ? 1 : 0;
        *out = tmp;
        return 1;
    }
    *out = (const uint8_t *)c->values + i * pq_width(c->type);
    return pq_width(c->type);
}

static int is_unsigned(pq_type t)
{
    return t == PQ_UINT8 || t == PQ_UINT16 || t == PQ_UINT32 || t == PQ_UINT64;
}

/* a < b in the column's sort order; NaNs are never chosen as min or max. */
static int less(const pq_column *c, size_t a, size_t b)
{
    int pt = physical(c->type);
    if (pt == PT_BYTE_ARRAY) {
        size_t la = (size_t)(c->offsets[a + 1] - c->offsets[a]);
        size_t lb = (size_t)(c->offsets[b + 1] - c->offsets[b]);
        int r = memcmp(c->bytes + c->offsets[a], c->bytes + c->offsets[b], la < lb ? la : lb);
        return r ? r < 0 : la < lb;
    }
    if (c->type == PQ_FLOAT) {
        float x, y;
        memcpy(&x, (const uint8_t *)c->values + a * 4, 4);
        memcpy(&y, (const uint8_t *)c->values + b * 4, 4);
        return x < y;
    }
    if (c->type == PQ_DOUBLE) {
        double x, y;
        memcpy(&x, (const uint8_t *)c->values + a * 8, 8);
        memcpy(&y, (const uint8_t *)c->values + b * 8, 8);
        return x < y;
    }
    if (is_unsigned(c->type))
        return (uint64_t)int_value(c, a) < (uint64_t)int_value(c, b);
    return int_value(c, a) < int_value(c, b);
}

static int is_nan(const pq_column *c, size_t i)
{
    if (c->type == PQ_FLOAT) {
        float x;
        memcpy(&x, (const uint8_t *)c->values + i * 4, 4);
        return x != x;
    }
    if (c->type == PQ_DOUBLE) {
        double x;
        memcpy(&x, (const uint8_t *)c->values + i * 8, 8);
        return x != x;
    }
    return 0;
}

/* ---- compression ---- */

static int codec_id(const char *name, int *out)
{
    static const struct {
        const char *name;
        int id;
    } codecs[] = {{"none", CODEC_NONE},  {"uncompressed", CODEC_NONE}, {"snappy", CODEC_SNAPPY},
                  {"gzip", CODEC_GZIP},  {"zstd", CODEC_ZSTD},         {"lz4_raw", CODEC_LZ4_RAW},
                  {"lz4", CODEC_LZ4_RAW}};
    for (size_t i = 0; i < sizeof(codecs) / sizeof(codecs[0]); i++)
        if (strcmp(name, codecs[i].name) == 0) {
            *out = codecs[i].id;
            return 0;
        }
    return bs__error(BLOBSTORE_EINVAL,
                     "parquet: unknown codec \"%s\" (snappy, zstd, gzip, lz4_raw, none)", name);
}

static int compress_page(int codec, const bs_buf *in, bs_buf *out)
{
    out->len = 0;
    size_t n = in->len, cap;
    int rc;
    switch (codec) {
    case CODEC_NONE:
        return bs__buf_append(out, in->data, n);
    case CODEC_SNAPPY:
        cap = snappy_max_compressed_length(n);
        if ((rc = bs__buf_reserve(out, cap)) != 0)
            return rc;
        if (snappy_compress((const char *)in->data, n, (char *)out->data, &cap) != SNAPPY_OK)
            return bs__error(BLOBSTORE_EIO, "parquet: snappy compression failed");
        out->len = cap;
        return 0;
    case CODEC_ZSTD:
        cap = ZSTD_compressBound(n);
        if ((rc = bs__buf_reserve(out, cap)) != 0)
            return rc;
        cap = ZSTD_compress(out->data, cap, in->data, n, 3);
        if (ZSTD_isError(cap))
            return bs__error(BLOBSTORE_EIO, "parquet: zstd compression failed");
        out->len = cap;
        return 0;
    case CODEC_LZ4_RAW: {
        int bound = LZ4_compressBound((int)n);
        if ((rc = bs__buf_reserve(out, (size_t)bound)) != 0)
            return rc;
        int r = LZ4_compress_default((const char *)in->data, (char *)out->data, (int)n, bound);
        if (r <= 0 && n > 0)
            return bs__error(BLOBSTORE_EIO, "parquet: lz4 compression failed");
        out->len = (size_t)r;
        return 0;
    }
    default: { /* gzip */
        cap = compressBound((uLong)n) + 32;
        if ((rc = bs__buf_reserve(out, cap)) != 0)
            return rc;
        z_stream z;
        memset(&z, 0, sizeof(z));
        if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
            return BLOBSTORE_ENOMEM;
        z.next_in = in->data;
        z.avail_in = (uInt)n;
        z.next_out = out->data;
        z.avail_out = (uInt)cap;
        int r = deflate(&z, Z_FINISH);
        out->len = z.total_out;
        deflateEnd(&z);
        return r == Z_STREAM_END ? 0 : bs__error(BLOBSTORE_EIO, "parquet: gzip failed");
    }
    }
}

/* ---- the footer ---- */

typedef struct {
    int64_t data_off, dict_off, uncompressed, compressed, num_values, null_count;
    int has_dict, has_stats;
    uint8_t min[8], max[8];
    const uint8_t *min_p, *max_p;
    size_t min_n, max_n;
} chunk_info;

static void schema_element(tc_writer *w, const pq_column *c)
{
    tc_struct_begin(w);
    tc_i32(w, 1, physical(c->type));
    tc_i32(w, 3, c->nullable ? 1 : 0);
    tc_string(w, 4, c->name);
    int converted = -1;
    switch (c->type) {
    case PQ_STRING:
        converted = 0;
        break;
    case PQ_DATE:
        converted = 6;
        break;
    case PQ_TIMESTAMP_MS:
        converted = 9;
        break;
    case PQ_TIMESTAMP_US:
        converted = 10;
        break;
    case PQ_UINT8:
        converted = 11;
        break;
    case PQ_UINT16:
        converted = 12;
        break;
    case PQ_UINT32:
        converted = 13;
        break;
    case PQ_UINT64:
        converted = 14;
        break;
    case PQ_INT8:
        converted = 15;
        break;
    case PQ_INT16:
        converted = 16;
        break;
    default:
        break;
    }
    if (converted >= 0)
        tc_i32(w, 6, converted);
    /* logicalType (field 10), a union */
    int bits = (int)pq_width(c->type) * 8;
    switch (c->type) {
    case PQ_STRING:
        tc_field_struct(w, 10);
        tc_field_struct(w, 1); /* STRING */
        tc_struct_end(w);
        tc_struct_end(w);
        break;
    case PQ_DATE:
        tc_field_struct(w, 10);
        tc_field_struct(w, 6); /* DATE */
        tc_struct_end(w);
        tc_struct_end(w);
        break;
    case PQ_TIMESTAMP_MS:
    case PQ_TIMESTAMP_US:
    case PQ_TIMESTAMP_NS:
        tc_field_struct(w, 10);
        tc_field_struct(w, 8); /* TIMESTAMP */
        tc_bool(w, 1, c->utc);
        tc_field_struct(w, 2); /* unit: MILLIS 1, MICROS 2, NANOS 3 */
        tc_field_struct(w, (int16_t)(c->type == PQ_TIMESTAMP_MS   ? 1
                                     : c->type == PQ_TIMESTAMP_US ? 2
                                                                  : 3));
        tc_struct_end(w);
        tc_struct_end(w);
        tc_struct_end(w);
        tc_struct_end(w);
        break;
    case PQ_INT8:
    case PQ_INT16:
    case PQ_INT32:
    case PQ_INT64:
    case PQ_UINT8:
    case PQ_UINT16:
    case PQ_UINT32:
    case PQ_UINT64: {
        tc_field_struct(w, 10);
        tc_field_struct(w, 10); /* INTEGER */
        tc_field(w, 1, TC_BYTE);
        uint8_t bw = (uint8_t)bits;
        w->bad |= bs__buf_append(w->out, &bw, 1) != 0;
        tc_bool(w, 2, !is_unsigned(c->type));
        tc_struct_end(w);
        tc_struct_end(w);
        break;
    }
    default:
        break;
    }
    tc_struct_end(w);
}

/* ---- writing ---- */

typedef struct {
    const pq_column *c;
    size_t r0, r1;
    int codec;
    size_t page_rows, page_bytes; /* data page limits (at least 1) */
    bs_buf *file;
    chunk_info *ci;
} chunk_job;

/* Write one page: header + compressed body. */
static int write_page(chunk_job *j, int page_type, const bs_buf *body, int32_t num_values,
                      int encoding, int def_enc)
{
    bs_buf comp = {0}, hdr = {0};
    int rc = compress_page(j->codec, body, &comp);
    if (rc) {
        bs__buf_free(&comp);
        return rc;
    }
    tc_writer w = {&hdr, {0}, 0, 0};
    tc_struct_begin(&w);
    tc_i32(&w, 1, page_type);
    tc_i32(&w, 2, (int32_t)body->len);
    tc_i32(&w, 3, (int32_t)comp.len);
    if (page_type == 2) { /* DICTIONARY_PAGE */
        tc_field_struct(&w, 7);
        tc_i32(&w, 1, num_values);
        tc_i32(&w, 2, ENC_PLAIN);
        tc_struct_end(&w);
    } else {
        tc_field_struct(&w, 5);
        tc_i32(&w, 1, num_values);
        tc_i32(&w, 2, encoding);
        tc_i32(&w, 3, def_enc);
        tc_i32(&w, 4, ENC_RLE);
        tc_struct_end(&w);
    }
    tc_struct_end(&w);
    if (w.bad || body->len > INT32_MAX || comp.len > INT32_MAX)
        rc = bs__error(BLOBSTORE_ENOMEM, "parquet: page too large or out of memory");
    if (!rc)
        rc = bs__buf_append(j->file, hdr.data, hdr.len);
    if (!rc)
        rc = bs__buf_append(j->file, comp.data, comp.len);
    j->ci->uncompressed += (int64_t)(hdr.len + body->len);
    j->ci->compressed += (int64_t)(hdr.len + comp.len);
    bs__buf_free(&comp);
    bs__buf_free(&hdr);
    return rc;
}

static int append_plain(bs_buf *b, const pq_column *c, size_t i)
{
    uint8_t tmp[8];
    const uint8_t *p;
    size_t n = plain_value(c, i, tmp, &p);
    if (physical(c->type) == PT_BYTE_ARRAY) {
        uint32_t len = (uint32_t)n;
        int rc = bs__buf_append(b, &len, 4);
        return rc ? rc : bs__buf_append(b, p, n);
    }
    return bs__buf_append(b, p, n);
}

/* A dictionary for a string/binary chunk if it pays: index per row (of the
 * non-null values), and the distinct values in first-seen order. */
typedef struct {
    uint32_t *idx;
    size_t *first; /* row of each distinct value */
    size_t ndistinct;
} dict;

static uint64_t hash_bytes(const uint8_t *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

static int build_dict(const chunk_job *j, dict *d, size_t nvalues)
{
    const pq_column *c = j->c;
    memset(d, 0, sizeof(*d));
    size_t slots = 16;
    while (slots < nvalues * 2)
        slots *= 2;
    size_t *table = bs__calloc(slots, sizeof(size_t)); /* row + 1, 0 = empty */
    d->idx = bs__malloc((nvalues ? nvalues : 1) * sizeof(uint32_t));
    d->first = bs__malloc((nvalues ? nvalues : 1) * sizeof(size_t));
    uint32_t *slot_id = bs__calloc(slots, sizeof(uint32_t));
    if (!table || !d->idx || !d->first || !slot_id) {
        free(table);
        free(slot_id);
        return BLOBSTORE_ENOMEM;
    }
    size_t k = 0;
    for (size_t r = j->r0; r < j->r1; r++) {
        if (is_null(c, r))
            continue;
        const uint8_t *p = c->bytes + c->offsets[r];
        size_t n = (size_t)(c->offsets[r + 1] - c->offsets[r]);
        size_t s = (size_t)hash_bytes(p, n) & (slots - 1);
        for (;;) {
            if (!table[s]) {
                table[s] = r + 1;
                slot_id[s] = (uint32_t)d->ndistinct;
                d->first[d->ndistinct++] = r;
                break;
            }
            size_t o = table[s] - 1;
            size_t on = (size_t)(c->offsets[o + 1] - c->offsets[o]);
            if (on == n && memcmp(c->bytes + c->offsets[o], p, n) == 0)
                break;
            s = (s + 1) & (slots - 1);
        }
        d->idx[k++] = slot_id[s];
    }
    free(table);
    free(slot_id);
    return 0;
}

/* Bits a non-null value takes in a data page (to size pages). */
static uint64_t value_bits(const pq_column *c, size_t r, int dict_bw)
{
    if (dict_bw >= 0)
        return dict_bw ? (uint64_t)dict_bw : 1;
    switch (physical(c->type)) {
    case PT_BOOLEAN:
        return 1;
    case PT_BYTE_ARRAY:
        return (4 + (uint64_t)(c->offsets[r + 1] - c->offsets[r])) * 8;
    case PT_INT32:
    case PT_FLOAT:
        return 32;
    default:
        return 64;
    }
}

/* One data page (v1) of rows [p0, p1) holding nv non-null values:
 * definition levels, then the values PLAIN, or as the dictionary indices idx
 * (of bit width bw) when idx is not NULL. */
static int write_data_page(chunk_job *j, size_t p0, size_t p1, size_t nv, const uint32_t *idx,
                           int bw)
{
    const pq_column *c = j->c;
    size_t rows = p1 - p0;
    bs_buf body = {0};
    int rc = 0;
    if (c->nullable) {
        uint32_t *lv = bs__malloc((rows ? rows : 1) * sizeof(uint32_t));
        if (!lv)
            return BLOBSTORE_ENOMEM;
        for (size_t r = 0; r < rows; r++)
            lv[r] = !is_null(c, p0 + r);
        bs_buf levels = {0};
        rc = bs__pq_rle_encode(&levels, lv, rows, 1);
        free(lv);
        uint32_t n = (uint32_t)levels.len;
        if (!rc)
            rc = bs__buf_append(&body, &n, 4);
        if (!rc)
            rc = bs__buf_append(&body, levels.data, levels.len);
        bs__buf_free(&levels);
    }
    if (!rc && idx) {
        uint8_t bwb = (uint8_t)bw;
        rc = bs__buf_append(&body, &bwb, 1);
        if (!rc)
            rc = bs__pq_rle_encode(&body, idx, nv, bw);
    } else if (!rc && c->type == PQ_BOOL) { /* bit-packed, LSB first */
        size_t nb = (nv + 7) / 8, k = 0;
        if (!(rc = bs__buf_reserve(&body, nb))) {
            uint8_t *out = body.data + body.len;
            memset(out, 0, nb);
            for (size_t r = p0; r < p1; r++) {
                if (is_null(c, r))
                    continue;
                if (((const uint8_t *)c->values)[r])
                    out[k >> 3] |= (uint8_t)(1u << (k & 7));
                k++;
            }
            body.len += nb;
        }
    } else {
        for (size_t r = p0; r < p1 && !rc; r++)
            if (!is_null(c, r))
                rc = append_plain(&body, c, r);
    }
    if (!rc)
        rc = write_page(j, 0, &body, (int32_t)rows, idx ? ENC_RLE_DICTIONARY : ENC_PLAIN, ENC_RLE);
    bs__buf_free(&body);
    return rc;
}

static int write_chunk(chunk_job *j)
{
    const pq_column *c = j->c;
    chunk_info *ci = j->ci;
    memset(ci, 0, sizeof(*ci));
    size_t rows = j->r1 - j->r0, nvalues = 0;
    for (size_t r = j->r0; r < j->r1; r++)
        nvalues += !is_null(c, r);
    ci->num_values = (int64_t)rows;
    ci->null_count = (int64_t)(rows - nvalues);
    /* Statistics. */
    size_t mn = SIZE_MAX, mx = SIZE_MAX;
    for (size_t r = j->r0; r < j->r1; r++) {
        if (is_null(c, r) || is_nan(c, r))
            continue;
        if (mn == SIZE_MAX || less(c, r, mn))
            mn = r;
        if (mx == SIZE_MAX || less(c, mx, r))
            mx = r;
    }
    if (mn != SIZE_MAX) {
        ci->has_stats = 1;
        ci->min_n = plain_value(c, mn, ci->min, &ci->min_p);
        if (ci->min_p == ci->min)
            ci->min_p = NULL;
        ci->max_n = plain_value(c, mx, ci->max, &ci->max_p);
        if (ci->max_p == ci->max)
            ci->max_p = NULL;
    }
    int rc = 0;
    dict d;
    memset(&d, 0, sizeof(d));
    int use_dict = 0, bw = -1;
    if (physical(c->type) == PT_BYTE_ARRAY && nvalues >= 16) {
        rc = build_dict(j, &d, nvalues);
        use_dict = !rc && d.ndistinct * 2 <= nvalues;
    }
    if (!rc && use_dict) { /* one dictionary for the chunk's pages */
        bs_buf dpage = {0};
        for (size_t k = 0; k < d.ndistinct && !rc; k++)
            rc = append_plain(&dpage, c, d.first[k]);
        ci->dict_off = (int64_t)j->file->len;
        ci->has_dict = 1;
        if (!rc)
            rc = write_page(j, 2, &dpage, (int32_t)d.ndistinct, 0, 0);
        bs__buf_free(&dpage);
        bw = 0;
        while (bw < 32 && ((size_t)1 << bw) < d.ndistinct)
            bw++;
    }
    /* Data pages of at most page_rows rows, each ending once its values
     * reach page_bytes (a chunk of no rows still has one, empty, page). */
    ci->data_off = (int64_t)j->file->len;
    size_t r = j->r0, k = 0;
    do {
        size_t p0 = r, nv = 0;
        uint64_t bits = 0;
        while (r < j->r1 && r - p0 < j->page_rows && bits < (uint64_t)j->page_bytes * 8) {
            if (!is_null(c, r)) {
                bits += value_bits(c, r, bw);
                nv++;
            }
            r++;
        }
        if (!rc)
            rc = write_data_page(j, p0, r, nv, use_dict ? d.idx + k : NULL, bw);
        k += nv;
    } while (r < j->r1 && !rc);
    free(d.idx);
    free(d.first);
    return rc;
}

static void column_meta(tc_writer *w, const pq_column *c, const chunk_info *ci, int codec)
{
    tc_field_struct(w, 3); /* ColumnChunk.meta_data */
    tc_i32(w, 1, physical(c->type));
    tc_list(w, 2, TC_I32, ci->has_dict ? 3 : 2);
    tc_list_i32(w, ci->has_dict ? ENC_RLE_DICTIONARY : ENC_PLAIN);
    tc_list_i32(w, ENC_RLE);
    if (ci->has_dict)
        tc_list_i32(w, ENC_PLAIN);
    tc_list(w, 3, TC_BINARY, 1);
    tc_list_string(w, c->name);
    tc_i32(w, 4, codec);
    tc_i64(w, 5, ci->num_values);
    tc_i64(w, 6, ci->uncompressed);
    tc_i64(w, 7, ci->compressed);
    tc_i64(w, 9, ci->data_off);
    if (ci->has_dict)
        tc_i64(w, 11, ci->dict_off);
    tc_field_struct(w, 12); /* statistics */
    tc_i64(w, 3, ci->null_count);
    if (ci->has_stats) {
        tc_binary(w, 5, ci->max_p ? ci->max_p : ci->max, ci->max_n);
        tc_binary(w, 6, ci->min_p ? ci->min_p : ci->min, ci->min_n);
    }
    tc_struct_end(w);
    tc_struct_end(w);
}

/* A positive size from the environment, or dflt. */
static size_t env_size(const char *name, size_t dflt)
{
    const char *v = getenv(name);
    if (!v || !*v)
        return dflt;
    char *end;
    errno = 0;
    unsigned long long n = strtoull(v, &end, 10);
    if (errno || *end || n == 0 || n > (1ull << 40))
        return dflt;
    return (size_t)n;
}

void bs__pq_write_limits(const pq_write_options *o, size_t *group_rows, size_t *page_rows,
                         size_t *page_bytes)
{
    *group_rows = o && o->row_group_rows ? o->row_group_rows
                                         : env_size("BLOBSTORE_PARQUET_ROW_GROUP_ROWS", 1000000);
    *page_rows = o && o->page_rows ? o->page_rows : env_size("BLOBSTORE_PARQUET_PAGE_ROWS", 20000);
    *page_bytes =
        o && o->page_bytes ? o->page_bytes : env_size("BLOBSTORE_PARQUET_PAGE_BYTES", 1 << 20);
    if (*page_rows > INT32_MAX)
        *page_rows = INT32_MAX;
    if (*page_bytes > ((size_t)1 << 30))
        *page_bytes = (size_t)1 << 30;
}

int pq_write(uint8_t **out, size_t *out_len, const pq_table *t, const pq_write_options *o)
{
    static const pq_write_options defaults = {0};
    if (!o)
        o = &defaults;
    int codec = 0, rc = codec_id(o->codec ? o->codec : "snappy", &codec);
    if (rc)
        return rc;
    for (size_t i = 0; i < t->ncols; i++) {
        const pq_column *c = &t->cols[i];
        if (!c->name || !*c->name || (unsigned)c->type > PQ_DATE)
            return bs__error(BLOBSTORE_EINVAL, "parquet: column %zu has no name or type", i);
        if ((c->type == PQ_STRING || c->type == PQ_BINARY) ? !c->offsets : !c->values && t->nrows)
            return bs__error(BLOBSTORE_EINVAL, "parquet: column \"%s\" has no data", c->name);
        if (!c->nullable && c->valid)
            for (size_t r = 0; r < t->nrows; r++)
                if (!c->valid[r])
                    return bs__error(BLOBSTORE_EINVAL,
                                     "parquet: column \"%s\" is not nullable but has nulls",
                                     c->name);
    }
    size_t per, page_rows, page_bytes;
    bs__pq_write_limits(o, &per, &page_rows, &page_bytes);
    size_t ngroups = t->nrows ? (t->nrows + per - 1) / per : 0;
    bs_buf file = {0}, footer = {0};
    chunk_info *infos =
        bs__calloc((ngroups ? ngroups : 1) * (t->ncols ? t->ncols : 1), sizeof(chunk_info));
    if (!infos)
        return BLOBSTORE_ENOMEM;
    rc = bs__buf_append(&file, "PAR1", 4);
    for (size_t g = 0; g < ngroups && !rc; g++)
        for (size_t i = 0; i < t->ncols && !rc; i++) {
            chunk_job j = {&t->cols[i],
                           g * per,
                           (g + 1) * per < t->nrows ? (g + 1) * per : t->nrows,
                           codec,
                           page_rows,
                           page_bytes,
                           &file,
                           &infos[g * t->ncols + i]};
            rc = write_chunk(&j);
        }
    tc_writer w = {&footer, {0}, 0, 0};
    if (!rc) {
        tc_struct_begin(&w);
        tc_i32(&w, 1, 1);
        tc_list(&w, 2, TC_STRUCT, t->ncols + 1);
        tc_struct_begin(&w); /* the root */
        tc_string(&w, 4, "schema");
        tc_i32(&w, 5, (int32_t)t->ncols);
        tc_struct_end(&w);
        for (size_t i = 0; i < t->ncols; i++)
            schema_element(&w, &t->cols[i]);
        tc_i64(&w, 3, (int64_t)t->nrows);
        tc_list(&w, 4, TC_STRUCT, ngroups);
        for (size_t g = 0; g < ngroups; g++) {
            tc_struct_begin(&w);
            tc_list(&w, 1, TC_STRUCT, t->ncols);
            int64_t total = 0;
            for (size_t i = 0; i < t->ncols; i++) {
                const chunk_info *ci = &infos[g * t->ncols + i];
                total += ci->uncompressed;
                tc_struct_begin(&w);
                tc_i64(&w, 2, ci->has_dict ? ci->dict_off : ci->data_off);
                column_meta(&w, &t->cols[i], ci, codec);
                tc_struct_end(&w);
            }
            tc_i64(&w, 2, total);
            size_t r1 = (g + 1) * per < t->nrows ? (g + 1) * per : t->nrows;
            tc_i64(&w, 3, (int64_t)(r1 - g * per));
            tc_struct_end(&w);
        }
        if (o->pandas_metadata) {
            tc_list(&w, 5, TC_STRUCT, 1);
            tc_struct_begin(&w);
            tc_string(&w, 1, "pandas");
            tc_string(&w, 2, o->pandas_metadata);
            tc_struct_end(&w);
        }
        tc_string(&w, 6, "blobstore " BLOBSTORE_VERSION_STRING);
        tc_struct_end(&w);
        if (w.bad || footer.len > UINT32_MAX)
            rc = bs__error(BLOBSTORE_ENOMEM, "parquet: cannot build the footer");
    }
    uint32_t flen = (uint32_t)footer.len;
    if (!rc)
        rc = bs__buf_append(&file, footer.data, footer.len);
    if (!rc)
        rc = bs__buf_append(&file, &flen, 4);
    if (!rc)
        rc = bs__buf_append(&file, "PAR1", 4);
    free(infos);
    bs__buf_free(&footer);
    if (rc) {
        bs__buf_free(&file);
        return rc;
    }
    *out = file.data;
    *out_len = file.len;
    return 0;
}
