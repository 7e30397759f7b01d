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
 *
 * Nested columns (LIST, STRUCT, MAP trees, laid out as the reader gives
 * them) are written as the format's 3-level LIST, MAP and groups: each leaf
 * is one column chunk whose repetition and definition levels (Dremel) are
 * made by walking the tree a row at a time (gen_levels); its non-null
 * values are gathered into a flat column and written as a flat column's
 * are, in pages that start at a record.
 */
#include "parquet.h"

#include <xxhash.h>

#include <errno.h>
#include <lz4.h>
#include <zlib.h>
#include <zstd.h>

enum {
    PT_BOOLEAN = 0,
    PT_INT32 = 1,
    PT_INT64 = 2,
    PT_FLOAT = 4,
    PT_DOUBLE = 5,
    PT_BYTE_ARRAY = 6,
    PT_FIXED = 7
};
enum { ENC_PLAIN = 0, ENC_RLE = 3, ENC_RLE_DICTIONARY = 8 };
enum {
    CODEC_NONE = PQ_CODEC_UNCOMPRESSED,
    CODEC_SNAPPY = PQ_CODEC_SNAPPY,
    CODEC_GZIP = PQ_CODEC_GZIP,
    CODEC_ZSTD = PQ_CODEC_ZSTD,
    CODEC_LZ4_RAW = PQ_CODEC_LZ4_RAW
};

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
    case PQ_TIME_MS:
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

/* A column's physical type: a decimal of more than 18 digits is a
 * FIXED_LEN_BYTE_ARRAY(16), big endian, as Arrow writes it. */
static int col_physical(const pq_column *c)
{
    return c->type == PQ_DECIMAL && c->precision > 18 ? PT_FIXED : physical(c->type);
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
    const uint8_t *p = (const uint8_t *)c->values + i * bs__pq_width(c->type);
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
static size_t plain_value(const pq_column *c, size_t i, uint8_t tmp[16], const uint8_t **out)
{
    int pt = col_physical(c);
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
    if (pt == PT_FIXED) { /* the 16 bytes, big endian */
        for (size_t k = 0; k < 16; k++)
            tmp[k] = ((const uint8_t *)c->values)[16 * i + 15 - k];
        *out = tmp;
        return 16;
    }
    *out = (const uint8_t *)c->values + i * bs__pq_width(c->type);
    return c->type == PQ_DECIMAL ? 8 : bs__pq_width(c->type); /* the low half: INT64 */
}

static int is_unsigned(pq_type t)
{
    return t == PQ_UINT8 || t == PQ_UINT16 || t == PQ_UINT32 || t == PQ_UINT64;
}

/* a < b in the column's sort order; NaNs are never chosen as min or max. */
static int less(const pq_column *c, size_t a, size_t b)
{
    int pt = col_physical(c);
    if (pt == PT_FIXED) { /* 128-bit decimals: the high halves signed, then the low */
        int64_t x[2], y[2];
        memcpy(x, (const uint8_t *)c->values + 16 * a, 16);
        memcpy(y, (const uint8_t *)c->values + 16 * b, 16);
        return x[1] != y[1] ? x[1] < y[1] : (uint64_t)x[0] < (uint64_t)y[0];
    }
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

/* The rows of the least and the greatest value of rows [r0, r1) (the
 * first of equal ones), nulls and NaNs left out; SIZE_MAX when none: as a
 * loop of less() finds them, with the common types' loops written out. */
#define MIN_MAX_LOOP(T)                                                                            \
    do {                                                                                           \
        const uint8_t *v = (const uint8_t *)c->values;                                             \
        T lo = 0, hi = 0;                                                                          \
        for (size_t r = r0; r < r1; r++) {                                                         \
            if (c->valid && !c->valid[r])                                                          \
                continue;                                                                          \
            T x;                                                                                   \
            memcpy(&x, v + r * sizeof(T), sizeof(T));                                              \
            if (x != x) /* NaN */                                                                  \
                continue;                                                                          \
            if (*mn == SIZE_MAX) {                                                                 \
                *mn = *mx = r;                                                                     \
                lo = hi = x;                                                                       \
                continue;                                                                          \
            }                                                                                      \
            if (x < lo) {                                                                          \
                lo = x;                                                                            \
                *mn = r;                                                                           \
            }                                                                                      \
            if (hi < x) {                                                                          \
                hi = x;                                                                            \
                *mx = r;                                                                           \
            }                                                                                      \
        }                                                                                          \
    } while (0)
/* a < b for byte strings, as less() orders them */
static int bytes_less(const uint8_t *a, size_t na, const uint8_t *b, size_t nb)
{
    int r = memcmp(a, b, na < nb ? na : nb);
    return r ? r < 0 : na < nb;
}

/* min_max of a byte array column over the n (non-null) rows listed. */
static void bytes_min_max(const pq_column *c, const size_t *rows, size_t n, size_t *mn, size_t *mx)
{
    *mn = *mx = SIZE_MAX;
    const uint8_t *lo = NULL, *hi = NULL;
    size_t nlo = 0, nhi = 0;
    for (size_t i = 0; i < n; i++) {
        size_t r = rows[i];
        const uint8_t *p = c->bytes + c->offsets[r];
        size_t len = (size_t)(c->offsets[r + 1] - c->offsets[r]);
        if (*mn == SIZE_MAX || bytes_less(p, len, lo, nlo)) {
            lo = p;
            nlo = len;
            *mn = r;
        }
        if (*mx == SIZE_MAX || bytes_less(hi, nhi, p, len)) {
            hi = p;
            nhi = len;
            *mx = r;
        }
    }
}

static void min_max(const pq_column *c, size_t r0, size_t r1, size_t *mn, size_t *mx)
{
    *mn = *mx = SIZE_MAX;
    int pt = col_physical(c);
    if (pt == PT_BYTE_ARRAY) {
        const uint8_t *lo = NULL, *hi = NULL;
        size_t nlo = 0, nhi = 0;
        for (size_t r = r0; r < r1; r++) {
            if (c->valid && !c->valid[r])
                continue;
            const uint8_t *p = c->bytes + c->offsets[r];
            size_t n = (size_t)(c->offsets[r + 1] - c->offsets[r]);
            if (*mn == SIZE_MAX) {
                *mn = *mx = r;
                lo = hi = p;
                nlo = nhi = n;
                continue;
            }
            int a = memcmp(p, lo, n < nlo ? n : nlo);
            if (a < 0 || (a == 0 && n < nlo)) {
                lo = p;
                nlo = n;
                *mn = r;
            }
            int b = memcmp(hi, p, nhi < n ? nhi : n);
            if (b < 0 || (b == 0 && nhi < n)) {
                hi = p;
                nhi = n;
                *mx = r;
            }
        }
        return;
    }
    switch (c->type) {
    case PQ_DOUBLE:
        MIN_MAX_LOOP(double);
        return;
    case PQ_FLOAT:
        MIN_MAX_LOOP(float);
        return;
    case PQ_INT64:
    case PQ_TIMESTAMP_MS:
    case PQ_TIMESTAMP_US:
    case PQ_TIMESTAMP_NS:
        MIN_MAX_LOOP(int64_t);
        return;
    case PQ_INT32:
    case PQ_DATE:
        MIN_MAX_LOOP(int32_t);
        return;
    default:
        break;
    }
    for (size_t r = r0; r < r1; r++) {
        if (is_null(c, r) || is_nan(c, r))
            continue;
        if (*mn == SIZE_MAX || less(c, r, *mn))
            *mn = r;
        if (*mx == SIZE_MAX || less(c, *mx, r))
            *mx = r;
    }
}
#undef MIN_MAX_LOOP

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

static int compress_page(int codec, int level, const bs_buf *in, bs_buf *out)
{
    out->len = 0;
    size_t n = in->len, cap;
    int rc;
    switch (codec) {
    case CODEC_NONE:
        return bs__buf_append(out, in->data, n);
    case CODEC_SNAPPY:
        if ((rc = bs__pq_snappy_load()) != 0)
            return rc;
        cap = bs__pq_snappy.max_compressed_length(n);
        if ((rc = bs__buf_reserve(out, cap)) != 0)
            return rc;
        if (bs__pq_snappy.compress((const char *)in->data, n, (char *)out->data, &cap) != SNAPPY_OK)
            return bs__error(BLOBSTORE_EIO, "parquet: snappy compression failed");
        out->len = cap;
        return 0;
    case CODEC_ZSTD:
        cap = ZSTD_compressBound(n);
        if ((rc = bs__buf_reserve(out, cap)) != 0)
            return rc;
        cap = ZSTD_compress(out->data, cap, in->data, n, level ? level : 3);
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
        if (deflateInit2(&z, level ? level : 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
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
    uint8_t min[16], max[16];
    const uint8_t *min_p, *max_p;
    size_t min_n, max_n;
    uint8_t *own_min, *own_max; /* the writer's copies of min_p, max_p */
} chunk_info;

/* Levels of nesting at most below a top-level column (the reader's limit). */
#define PQ_MAX_DEPTH 32

/*
 * A leaf: one Parquet column of a top-level column (a flat column is its
 * own one leaf). path[k]: the child taken below the node at depth k (a
 * STRUCT's field; 0 under a LIST or MAP); names: its path_in_schema; its
 * definition and repetition levels reach max_def and max_rep.
 */
typedef struct {
    size_t top;
    int depth; /* nodes below the top column */
    size_t path[PQ_MAX_DEPTH];
    int max_def, max_rep;
    const pq_column *decl; /* the schema's leaf node */
    const char *names[3 * PQ_MAX_DEPTH + 1];
    size_t nnames;
} pq_leaf;

struct pq_writer {
    pq_table schema; /* names, types, nullability, utc; no data */
    int codec, level, failed;
    size_t per, page_rows, page_bytes; /* rows per row group; data page limits */
    bs_sink_fn sink;
    void *ctx;
    uint64_t pos, rows; /* bytes and rows written */
    size_t ngroups, cap;
    size_t *group_rows;
    pq_leaf *leaves; /* every Parquet column, in the schema's order */
    size_t nleaves;
    chunk_info *infos; /* ngroups x nleaves */
    bs_buf rg;         /* the row group being made */
};

/* The SchemaElement of a leaf named name, of repetition rep (0 required,
 * 1 optional). */
static void schema_element(tc_writer *w, const pq_column *c, const char *name, int rep)
{
    bs__tc_struct_begin(w);
    bs__tc_i32(w, 1, col_physical(c));
    if (col_physical(c) == PT_FIXED)
        bs__tc_i32(w, 2, 16);
    bs__tc_i32(w, 3, rep);
    bs__tc_string(w, 4, name);
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
    case PQ_TIME_MS:
        converted = 7;
        break;
    case PQ_TIME_US:
        converted = 8;
        break;
    case PQ_DECIMAL:
        converted = 5;
        break;
    default:
        break;
    }
    if (converted >= 0)
        bs__tc_i32(w, 6, converted);
    if (c->type == PQ_DECIMAL) {
        bs__tc_i32(w, 7, c->scale);
        bs__tc_i32(w, 8, c->precision);
    }
    /* logicalType (field 10), a union */
    int bits = (int)bs__pq_width(c->type) * 8;
    switch (c->type) {
    case PQ_STRING:
        bs__tc_field_struct(w, 10);
        bs__tc_field_struct(w, 1); /* STRING */
        bs__tc_struct_end(w);
        bs__tc_struct_end(w);
        break;
    case PQ_DATE:
        bs__tc_field_struct(w, 10);
        bs__tc_field_struct(w, 6); /* DATE */
        bs__tc_struct_end(w);
        bs__tc_struct_end(w);
        break;
    case PQ_TIMESTAMP_MS:
    case PQ_TIMESTAMP_US:
    case PQ_TIMESTAMP_NS:
    case PQ_TIME_MS:
    case PQ_TIME_US:
    case PQ_TIME_NS: {
        int ts = c->type <= PQ_TIMESTAMP_NS;
        int unit = ts ? c->type - PQ_TIMESTAMP_MS : c->type - PQ_TIME_MS;
        bs__tc_field_struct(w, 10);
        bs__tc_field_struct(w, ts ? 8 : 7); /* TIMESTAMP, TIME */
        bs__tc_bool(w, 1, c->utc);
        bs__tc_field_struct(w, 2); /* unit: MILLIS 1, MICROS 2, NANOS 3 */
        bs__tc_field_struct(w, (int16_t)(unit + 1));
        bs__tc_struct_end(w);
        bs__tc_struct_end(w);
        bs__tc_struct_end(w);
        bs__tc_struct_end(w);
        break;
    }
    case PQ_DECIMAL:
        bs__tc_field_struct(w, 10);
        bs__tc_field_struct(w, 5); /* DECIMAL */
        bs__tc_i32(w, 1, c->scale);
        bs__tc_i32(w, 2, c->precision);
        bs__tc_struct_end(w);
        bs__tc_struct_end(w);
        break;
    case PQ_INT8:
    case PQ_INT16:
    case PQ_INT32:
    case PQ_INT64:
    case PQ_UINT8:
    case PQ_UINT16:
    case PQ_UINT32:
    case PQ_UINT64: {
        bs__tc_field_struct(w, 10);
        bs__tc_field_struct(w, 10); /* INTEGER */
        bs__tc_field(w, 1, TC_BYTE);
        uint8_t bw = (uint8_t)bits;
        w->bad |= bs__buf_append(w->out, &bw, 1) != 0;
        bs__tc_bool(w, 2, !is_unsigned(c->type));
        bs__tc_struct_end(w);
        bs__tc_struct_end(w);
        break;
    }
    default:
        break;
    }
    bs__tc_struct_end(w);
}

/* A group's SchemaElement: rep 0 required, 1 optional, 2 repeated;
 * converted: its ConvertedType or -1; logical: its LogicalType's union field
 * (MAP 2, LIST 3) or 0. */
static void group_element(tc_writer *w, const char *name, int rep, size_t nchildren, int converted,
                          int16_t logical)
{
    bs__tc_struct_begin(w);
    bs__tc_i32(w, 3, rep);
    bs__tc_string(w, 4, name);
    bs__tc_i32(w, 5, (int32_t)nchildren);
    if (converted >= 0)
        bs__tc_i32(w, 6, converted);
    if (logical) {
        bs__tc_field_struct(w, 10);
        bs__tc_field_struct(w, logical);
        bs__tc_struct_end(w);
        bs__tc_struct_end(w);
    }
    bs__tc_struct_end(w);
}

/*
 * The schema elements of column c (a schema node) named name, depth first:
 * a LIST as the format's 3-level list `<name> (LIST) { repeated group list
 * { <element> } }`, a MAP as `<name> (MAP) { repeated group key_value {
 * required key; value } }`, a STRUCT as a group of its fields.
 */
static void schema_tree(tc_writer *w, const pq_column *c, const char *name)
{
    int rep = c->nullable ? 1 : 0;
    switch (c->type) {
    case PQ_LIST:
        group_element(w, name, rep, 1, 3, 3);
        group_element(w, "list", 2, 1, -1, 0);
        schema_tree(w, &c->children[0], "element");
        return;
    case PQ_MAP:
        group_element(w, name, rep, 1, 1, 2);
        group_element(w, "key_value", 2, 2, -1, 0);
        schema_tree(w, &c->children[0].children[0], "key");
        schema_tree(w, &c->children[0].children[1], "value");
        return;
    case PQ_STRUCT:
        group_element(w, name, rep, c->nchildren, -1, 0);
        for (size_t i = 0; i < c->nchildren; i++)
            schema_tree(w, &c->children[i], c->children[i].name);
        return;
    default:
        schema_element(w, c, name, rep);
    }
}

/* How many schema elements schema_tree writes for c. */
static size_t schema_count(const pq_column *c)
{
    switch (c->type) {
    case PQ_LIST:
        return 2 + schema_count(&c->children[0]);
    case PQ_MAP:
        return 2 + schema_count(&c->children[0].children[0]) +
               schema_count(&c->children[0].children[1]);
    case PQ_STRUCT: {
        size_t n = 1;
        for (size_t i = 0; i < c->nchildren; i++)
            n += schema_count(&c->children[i]);
        return n;
    }
    default:
        return 1;
    }
}

/* ---- writing ---- */

typedef struct {
    const pq_column *c;
    size_t r0, r1;
    int codec;
    size_t page_rows, page_bytes; /* data page limits (at least 1) */
    bs_buf *file;
    chunk_info *ci;
    int level; /* the codec's level; 0: its default */
    /* A nested leaf: its nlev repetition and definition levels (rep NULL
     * when max_rep is 0, def NULL when max_def is 0); c then holds only
     * its non-null values, rows [r0, r1) being those. nested: 0 for a flat
     * column (pages of rows, definition levels from c's validity). */
    int nested, max_rep, max_def;
    const uint32_t *rep, *def;
    size_t nlev;
} chunk_job;

/* Write one page: header + compressed body. */
static int write_page(chunk_job *j, int page_type, const bs_buf *body, int32_t num_values,
                      int encoding, int def_enc)
{
    bs_buf comp = {0}, hdr = {0}, bad = {0};
    int rc = 0;
    if (bs__pq_fault == 1 && page_type == 0 && body->len) { /* a value changed */
        if (!(rc = bs__buf_append(&bad, body->data, body->len)))
            bad.data[bad.len - 1] ^= 1;
    }
    if (!rc)
        rc = compress_page(j->codec, j->level, bad.data ? &bad : body, &comp);
    bs__buf_free(&bad);
    if (rc) {
        bs__buf_free(&comp);
        return rc;
    }
    if (bs__pq_fault == 2 && page_type == 0 && comp.len) /* a byte of the file flipped */
        comp.data[comp.len / 2] ^= 0x10;
    tc_writer w = {&hdr, {0}, 0, 0};
    bs__tc_struct_begin(&w);
    bs__tc_i32(&w, 1, page_type);
    bs__tc_i32(&w, 2, (int32_t)body->len);
    bs__tc_i32(&w, 3, (int32_t)comp.len);
    if (page_type == 2) { /* DICTIONARY_PAGE */
        bs__tc_field_struct(&w, 7);
        bs__tc_i32(&w, 1, num_values);
        bs__tc_i32(&w, 2, ENC_PLAIN);
        bs__tc_struct_end(&w);
    } else {
        bs__tc_field_struct(&w, 5);
        bs__tc_i32(&w, 1, num_values);
        bs__tc_i32(&w, 2, encoding);
        bs__tc_i32(&w, 3, def_enc);
        bs__tc_i32(&w, 4, ENC_RLE);
        bs__tc_struct_end(&w);
    }
    bs__tc_struct_end(&w);
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
    uint8_t tmp[16];
    const uint8_t *p;
    size_t n = plain_value(c, i, tmp, &p);
    if (col_physical(c) == PT_BYTE_ARRAY) {
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
    return XXH3_64bits(p, n);
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
    switch (col_physical(c)) {
    case PT_BOOLEAN:
        return 1;
    case PT_FIXED:
        return 128;
    case PT_BYTE_ARRAY:
        return (4 + (uint64_t)(c->offsets[r + 1] - c->offsets[r])) * 8;
    case PT_INT32:
    case PT_FLOAT:
        return 32;
    default:
        return 64;
    }
}

/* The width of c's PLAIN values when it is that of its values in memory
 * (which are then their PLAIN bytes, little endian), else 0. */
static size_t plain_width(const pq_column *c)
{
    size_t w = bs__pq_width(c->type);
    switch (col_physical(c)) {
    case PT_INT32:
    case PT_FLOAT:
        return w == 4 ? 4 : 0;
    case PT_INT64:
    case PT_DOUBLE:
        return w == 8 ? 8 : 0;
    default:
        return 0;
    }
}

/* The non-null values of rows [p0, p1) (nv of them) appended to body PLAIN,
 * or as the dictionary indices idx (of bit width bw) when idx is not NULL. */
static int append_values(bs_buf *body, const pq_column *c, size_t p0, size_t p1, size_t nv,
                         const uint32_t *idx, int bw)
{
    int rc = 0;
    if (idx) {
        uint8_t bwb = (uint8_t)bw;
        rc = bs__buf_append(body, &bwb, 1);
        if (!rc)
            rc = bs__pq_rle_encode(body, idx, nv, bw);
    } else if (c->type == PQ_BOOL) { /* bit-packed, LSB first */
        size_t nb = (nv + 7) / 8, k = 0;
        if (!(rc = bs__buf_reserve(body, nb))) {
            uint8_t *out = body->data + body->len;
            memset(out, 0, nb);
            for (size_t r = p0; r < p1; r++) {
                if (is_null(c, r))
                    continue;
                if (((const uint8_t *)c->values)[r])
                    out[k >> 3] |= (uint8_t)(1u << (k & 7));
                k++;
            }
            body->len += nb;
        }
    } else if (plain_width(c) && nv) { /* the values' bytes as they are in memory */
        size_t w = plain_width(c);
        if (!(rc = bs__buf_reserve(body, nv * w))) {
            const uint8_t *v = (const uint8_t *)c->values;
            uint8_t *out = body->data + body->len;
            if (!c->valid) {
                memcpy(out, v + p0 * w, (p1 - p0) * w);
            } else {
                for (size_t r = p0; r < p1; r++)
                    if (c->valid[r]) {
                        memcpy(out, v + r * w, w);
                        out += w;
                    }
            }
            body->len += nv * w;
        }
    } else {
        for (size_t r = p0; r < p1 && !rc; r++)
            if (!is_null(c, r))
                rc = append_plain(body, c, r);
    }
    return rc;
}

/* Bits a level up to max takes. */
static int level_bits(int max)
{
    int b = 0;
    while (max >> b)
        b++;
    return b;
}

/* Levels lv[0 .. n) up to max (none when max is 0) as a v1 page has them:
 * their length (4 bytes) and the RLE / bit-packed hybrid. */
static int append_levels(bs_buf *body, const uint32_t *lv, size_t n, int max)
{
    if (!max)
        return 0;
    bs_buf levels = {0};
    int rc = bs__pq_rle_encode(&levels, lv, n, level_bits(max));
    uint32_t len = (uint32_t)levels.len;
    if (!rc && levels.len > UINT32_MAX)
        rc = BLOBSTORE_ENOMEM;
    if (!rc)
        rc = bs__buf_append(body, &len, 4);
    if (!rc)
        rc = bs__buf_append(body, levels.data, levels.len);
    bs__buf_free(&levels);
    return rc;
}

/* One data page (v1) of a nested leaf: level entries [e0, e1), which hold
 * its values [v0, v1). */
static int write_levels_page(chunk_job *j, size_t e0, size_t e1, size_t v0, size_t v1,
                             const uint32_t *idx, int bw)
{
    bs_buf body = {0};
    int rc = append_levels(&body, j->rep ? j->rep + e0 : NULL, e1 - e0, j->max_rep);
    if (!rc)
        rc = append_levels(&body, j->def ? j->def + e0 : NULL, e1 - e0, j->max_def);
    if (!rc)
        rc = append_values(&body, j->c, v0, v1, v1 - v0, idx, bw);
    if (!rc)
        rc = write_page(j, 0, &body, (int32_t)(e1 - e0), idx ? ENC_RLE_DICTIONARY : ENC_PLAIN,
                        ENC_RLE);
    bs__buf_free(&body);
    return rc;
}

/* The data pages of a nested leaf: each starts at a record (repetition
 * level 0), so that no row straddles two pages, and holds at most
 * page_rows records, ending once its values reach page_bytes. */
static int nested_pages(chunk_job *j, const uint32_t *idx, int bw)
{
    size_t e = 0, v = 0;
    int rc = 0;
    do {
        size_t e0 = e, v0 = v, recs = 0;
        uint64_t bits = 0;
        while (e < j->nlev) {
            if (!j->rep || j->rep[e] == 0) {
                if (recs >= j->page_rows || bits >= (uint64_t)j->page_bytes * 8)
                    break;
                recs++;
            }
            if (!j->def || j->def[e] == (uint32_t)j->max_def) {
                bits += value_bits(j->c, v, bw);
                v++;
            }
            e++;
        }
        rc = write_levels_page(j, e0, e, v0, v, idx ? idx + v0 : NULL, bw);
    } while (e < j->nlev && !rc);
    return rc;
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
    if (!rc)
        rc = append_values(&body, c, p0, p1, nv, idx, bw);
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
    /* A nested leaf's values count its level entries; its null count is
     * not written (writers disagree on what it counts). */
    ci->num_values = j->nested ? (int64_t)j->nlev : (int64_t)rows;
    ci->null_count = j->nested ? -1 : (int64_t)(rows - nvalues);
    int rc = 0;
    dict d;
    memset(&d, 0, sizeof(d));
    int use_dict = 0, bw = -1;
    if (col_physical(c) == PT_BYTE_ARRAY && nvalues >= 16) {
        rc = build_dict(j, &d, nvalues);
        use_dict = !rc && d.ndistinct * 2 <= nvalues;
    }
    /* Statistics (of the distinct values when they are known: the same). */
    size_t mn = SIZE_MAX, mx = SIZE_MAX;
    if (!rc && d.first)
        bytes_min_max(c, d.first, d.ndistinct, &mn, &mx);
    else
        min_max(c, j->r0, j->r1, &mn, &mx);
    if (mn != SIZE_MAX) {
        ci->has_stats = 1;
        ci->min_n = plain_value(c, mn, ci->min, &ci->min_p);
        if (ci->min_p == ci->min)
            ci->min_p = NULL;
        ci->max_n = plain_value(c, mx, ci->max, &ci->max_p);
        if (ci->max_p == ci->max)
            ci->max_p = NULL;
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
    if (j->nested) {
        if (!rc)
            rc = nested_pages(j, use_dict ? d.idx : NULL, bw);
        free(d.idx);
        free(d.first);
        return rc;
    }
    size_t r = j->r0, k = 0;
    uint64_t fixed_bits = bw >= 0 || col_physical(c) != PT_BYTE_ARRAY ? value_bits(c, 0, bw) : 0;
    do {
        size_t p0 = r, nv = 0;
        uint64_t bits = 0;
        if (fixed_bits) { /* every value takes as many bits */
            while (r < j->r1 && r - p0 < j->page_rows && bits < (uint64_t)j->page_bytes * 8) {
                int v = !is_null(c, r);
                bits += v ? fixed_bits : 0;
                nv += (size_t)v;
                r++;
            }
        } else {
            while (r < j->r1 && r - p0 < j->page_rows && bits < (uint64_t)j->page_bytes * 8) {
                if (!is_null(c, r)) {
                    bits += value_bits(c, r, bw);
                    nv++;
                }
                r++;
            }
        }
        if (!rc)
            rc = write_data_page(j, p0, r, nv, use_dict ? d.idx + k : NULL, bw);
        k += nv;
    } while (r < j->r1 && !rc);
    free(d.idx);
    free(d.first);
    return rc;
}

static void column_meta(tc_writer *w, const pq_column *c, const pq_leaf *leaf, const chunk_info *ci,
                        int codec)
{
    bs__tc_field_struct(w, 3); /* ColumnChunk.meta_data */
    bs__tc_i32(w, 1, col_physical(c));
    bs__tc_list(w, 2, TC_I32, ci->has_dict ? 3 : 2);
    bs__tc_list_i32(w, ci->has_dict ? ENC_RLE_DICTIONARY : ENC_PLAIN);
    bs__tc_list_i32(w, ENC_RLE);
    if (ci->has_dict)
        bs__tc_list_i32(w, ENC_PLAIN);
    bs__tc_list(w, 3, TC_BINARY, leaf->nnames);
    for (size_t k = 0; k < leaf->nnames; k++)
        bs__tc_list_string(w, leaf->names[k]);
    bs__tc_i32(w, 4, codec);
    bs__tc_i64(w, 5, ci->num_values);
    bs__tc_i64(w, 6, ci->uncompressed);
    bs__tc_i64(w, 7, ci->compressed);
    bs__tc_i64(w, 9, ci->data_off);
    if (ci->has_dict)
        bs__tc_i64(w, 11, ci->dict_off);
    bs__tc_field_struct(w, 12); /* statistics */
    if (ci->null_count >= 0)
        bs__tc_i64(w, 3, ci->null_count);
    if (ci->has_stats) {
        bs__tc_binary(w, 5, ci->max_p ? ci->max_p : ci->max, ci->max_n);
        bs__tc_binary(w, 6, ci->min_p ? ci->min_p : ci->min, ci->min_n);
    }
    bs__tc_struct_end(w);
    bs__tc_struct_end(w);
}

/* Times are times of day; decimals fit their precision: written as INT64
 * (the 16-byte values' low half) up to 18 digits, else as
 * FIXED_LEN_BYTE_ARRAY(16). */
static int check_values(const pq_column *c, size_t r0, size_t r1)
{
    if (c->type == PQ_DECIMAL) {
        if (c->precision < 1 || c->precision > BLOBSTORE_DECIMAL_MAX_PRECISION || c->scale < 0 ||
            c->scale > c->precision)
            return bs__error(BLOBSTORE_EINVAL, "parquet: column \"%s\": DECIMAL(%d,%d)", c->name,
                             c->precision, c->scale);
        uint64_t limit = 1; /* 10^precision, up to 18 digits */
        for (int k = 0; k < c->precision && k < 18; k++)
            limit *= 10;
        for (size_t r = r0; r < r1; r++) {
            if (is_null(c, r))
                continue;
            int64_t v[2];
            memcpy(v, (const uint8_t *)c->values + 16 * r, 16);
            uint64_t mag = v[0] < 0 ? 0 - (uint64_t)v[0] : (uint64_t)v[0];
            int fits;
            if (c->precision <= 18) {
                fits = v[1] == (v[0] < 0 ? -1 : 0) && mag < limit;
            } else {
                char text[48];
                size_t n = bs__pq_decimal_text(text, (const uint8_t *)c->values + 16 * r, 0);
                fits = (int)(n - (text[0] == '-')) <= c->precision;
            }
            if (!fits)
                return bs__error(BLOBSTORE_EINVAL,
                                 "parquet: column \"%s\" row %zu: the value has more digits "
                                 "than DECIMAL(%d,%d)",
                                 c->name, r, c->precision, c->scale);
        }
    } else if (c->type >= PQ_TIME_MS && c->type <= PQ_TIME_NS) {
        int64_t day = c->type == PQ_TIME_MS   ? 86400000LL
                      : c->type == PQ_TIME_US ? 86400000000LL
                                              : 86400000000000LL;
        for (size_t r = r0; r < r1; r++) {
            int64_t v;
            memcpy(&v, (const uint8_t *)c->values + 8 * r, 8);
            if (!is_null(c, r) && (v < 0 || v > day))
                return bs__error(BLOBSTORE_EINVAL,
                                 "parquet: column \"%s\" row %zu: %lld is not a time of day",
                                 c->name, r, (long long)v);
        }
    }
    return 0;
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

/* The footer (FileMetaData) for row groups [g0, g1) of w, with nrows rows. */
static int build_footer(bs_buf *footer, const pq_writer *w, size_t g0, size_t g1, uint64_t nrows,
                        const char *pandas)
{
    const pq_table *t = &w->schema;
    tc_writer tw = {footer, {0}, 0, 0};
    bs__tc_struct_begin(&tw);
    bs__tc_i32(&tw, 1, 1);
    size_t nschema = 1;
    for (size_t i = 0; i < t->ncols; i++)
        nschema += schema_count(&t->cols[i]);
    bs__tc_list(&tw, 2, TC_STRUCT, nschema);
    bs__tc_struct_begin(&tw); /* the root */
    bs__tc_string(&tw, 4, "schema");
    bs__tc_i32(&tw, 5, (int32_t)t->ncols);
    bs__tc_struct_end(&tw);
    for (size_t i = 0; i < t->ncols; i++)
        schema_tree(&tw, &t->cols[i], t->cols[i].name);
    bs__tc_i64(&tw, 3, (int64_t)nrows);
    bs__tc_list(&tw, 4, TC_STRUCT, g1 - g0);
    for (size_t g = g0; g < g1; g++) {
        bs__tc_struct_begin(&tw);
        bs__tc_list(&tw, 1, TC_STRUCT, w->nleaves);
        int64_t total = 0;
        for (size_t i = 0; i < w->nleaves; i++) {
            const chunk_info *ci = &w->infos[g * w->nleaves + i];
            total += ci->uncompressed;
            bs__tc_struct_begin(&tw);
            bs__tc_i64(&tw, 2, ci->has_dict ? ci->dict_off : ci->data_off);
            column_meta(&tw, w->leaves[i].decl, &w->leaves[i], ci, w->codec);
            bs__tc_struct_end(&tw);
        }
        bs__tc_i64(&tw, 2, total);
        bs__tc_i64(&tw, 3, (int64_t)w->group_rows[g]);
        bs__tc_struct_end(&tw);
    }
    if (pandas) {
        bs__tc_list(&tw, 5, TC_STRUCT, 1);
        bs__tc_struct_begin(&tw);
        bs__tc_string(&tw, 1, "pandas");
        bs__tc_string(&tw, 2, pandas);
        bs__tc_struct_end(&tw);
    }
    bs__tc_string(&tw, 6, "blobstore " BLOBSTORE_VERSION_STRING);
    bs__tc_struct_end(&tw);
    if (tw.bad || footer->len > UINT32_MAX)
        return bs__error(BLOBSTORE_ENOMEM, "parquet: cannot build the footer");
    return 0;
}

/* footer, its length and the magic, appended to b. */
static int append_footer(bs_buf *b, const bs_buf *footer)
{
    uint32_t flen = (uint32_t)footer->len;
    int rc = bs__buf_append(b, footer->data, footer->len);
    if (!rc)
        rc = bs__buf_append(b, &flen, 4);
    return rc ? rc : bs__buf_append(b, "PAR1", 4);
}

void bs__pq_writer_free(pq_writer *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->ngroups * w->nleaves; i++) {
        free(w->infos[i].own_min);
        free(w->infos[i].own_max);
    }
    free(w->infos);
    free(w->leaves);
    free(w->group_rows);
    bs__pq_table_free(&w->schema);
    bs__buf_free(&w->rg);
    free(w);
}

/*
 * The schema's copy of column c (names, types, nullability, UTC flags,
 * decimals; no data) into dst, checked: a LIST has one child (named
 * "element" in the file), a MAP one STRUCT child of two ("entries": "key",
 * always required, and "value"), a STRUCT at least one field, named and
 * distinct; at most PQ_MAX_DEPTH levels. top: the top-level column's name.
 */
static int copy_decl(pq_column *dst, const pq_column *c, const char *name, int depth,
                     const char *top)
{
    if (!name || !*name || (unsigned)c->type > PQ_MAP)
        return bs__error(BLOBSTORE_EINVAL, "parquet: column `%s`: a field has no name or type",
                         top);
    if (depth > PQ_MAX_DEPTH)
        return bs__error(BLOBSTORE_EUNSUPPORTED,
                         "parquet: column `%s`: nested more than %d levels deep is not supported",
                         top, PQ_MAX_DEPTH);
    dst->type = c->type;
    dst->nullable = c->nullable ? 1 : 0;
    dst->utc = c->utc ? 1 : 0;
    dst->precision = c->precision;
    dst->scale = c->scale;
    if (!(dst->name = bs__strdup(name)))
        return BLOBSTORE_ENOMEM;
    if (!PQ_NESTED(c->type))
        return check_values(dst, 0, 0); /* a decimal's precision and scale */
    size_t n = c->nchildren;
    const char *what = NULL;
    if (!c->children || !n)
        what = "has no children";
    else if (c->type != PQ_STRUCT && n != 1)
        what = "has more than one child";
    else if (c->type == PQ_MAP && (c->children[0].type != PQ_STRUCT ||
                                   c->children[0].nchildren != 2 || !c->children[0].children))
        what = "has no STRUCT child of a key and a value";
    if (what)
        return bs__error(BLOBSTORE_EINVAL, "parquet: column `%s`: the %s `%s` %s", top,
                         bs__pq_type_name(c->type), name, what);
    if (!(dst->children = bs__calloc(n, sizeof(pq_column))))
        return BLOBSTORE_ENOMEM;
    dst->nchildren = n;
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        const pq_column *k = &c->children[i];
        const char *kn = c->type == PQ_LIST ? "element" : c->type == PQ_MAP ? "entries" : k->name;
        if (c->type == PQ_STRUCT && kn)
            for (size_t m = 0; m < i && !rc; m++)
                if (c->children[m].name && strcmp(c->children[m].name, kn) == 0)
                    rc = bs__error(BLOBSTORE_EINVAL,
                                   "parquet: column `%s`: two fields of `%s` are named \"%s\"", top,
                                   name, kn);
        if (!rc)
            rc = copy_decl(&dst->children[i], k, kn, depth + 1, top);
    }
    if (!rc && c->type == PQ_MAP) {
        pq_column *e = &dst->children[0];
        e->nullable = 0; /* the repeated group key_value */
        free(e->children[0].name);
        free(e->children[1].name);
        e->children[0].name = e->children[1].name = NULL;
        if (!(e->children[0].name = bs__strdup("key")) ||
            !(e->children[1].name = bs__strdup("value")))
            return BLOBSTORE_ENOMEM;
        e->children[0].nullable = 0; /* map keys are required */
    }
    return rc;
}

/* Appends the leaves of schema node c (at depth, the path to it in
 * leaf->path and leaf->names) to w->leaves (room for them is there). */
static void add_leaves(pq_writer *w, pq_leaf *leaf, const pq_column *c, int depth, int def, int rep)
{
    def += c->nullable;
    if (!PQ_NESTED(c->type)) {
        pq_leaf *l = &w->leaves[w->nleaves++];
        *l = *leaf;
        l->depth = depth;
        l->max_def = def;
        l->max_rep = rep;
        l->decl = c;
        return;
    }
    size_t nn = leaf->nnames;
    for (size_t i = 0; i < c->nchildren; i++) {
        const pq_column *k = &c->children[i];
        leaf->nnames = nn;
        leaf->path[depth] = i;
        if (c->type == PQ_LIST) {
            leaf->names[leaf->nnames++] = "list";
            leaf->names[leaf->nnames++] = "element";
            add_leaves(w, leaf, k, depth + 1, def + 1, rep + 1);
        } else if (c->type == PQ_MAP) {
            leaf->names[leaf->nnames++] = "key_value";
            add_leaves(w, leaf, k, depth + 1, def + 1, rep + 1);
        } else {
            leaf->names[leaf->nnames++] = k->name;
            add_leaves(w, leaf, k, depth + 1, def, rep);
        }
    }
    leaf->nnames = nn;
}

/* Leaves under schema node c. */
static size_t count_leaves(const pq_column *c)
{
    if (!PQ_NESTED(c->type))
        return 1;
    size_t n = 0;
    for (size_t i = 0; i < c->nchildren; i++)
        n += count_leaves(&c->children[i]);
    return n;
}

int bs__pq_writer_new(pq_writer **out, const pq_table *schema, const pq_write_options *o,
                      bs_sink_fn sink, void *ctx)
{
    static const pq_write_options defaults = {0};
    *out = NULL;
    if (!o)
        o = &defaults;
    int codec = 0, rc = codec_id(o->codec ? o->codec : "snappy", &codec);
    if (rc)
        return rc;
    pq_writer *w = bs__calloc(1, sizeof(*w));
    if (!w)
        return BLOBSTORE_ENOMEM;
    w->codec = codec;
    bs__pq_write_limits(o, &w->per, &w->page_rows, &w->page_bytes);
    w->sink = sink;
    w->ctx = ctx;
    w->schema.cols = bs__calloc(schema->ncols ? schema->ncols : 1, sizeof(pq_column));
    rc = w->schema.cols ? 0 : BLOBSTORE_ENOMEM;
    size_t nleaves = 0;
    for (size_t i = 0; i < schema->ncols && !rc; i++) {
        const pq_column *c = &schema->cols[i];
        if (!c->name || !*c->name || (unsigned)c->type > PQ_MAP) {
            rc = bs__error(BLOBSTORE_EINVAL, "parquet: column %zu has no name or type", i);
            break;
        }
        for (size_t k = 0; k < i && !rc; k++)
            if (strcmp(schema->cols[k].name, c->name) == 0)
                rc = bs__error(BLOBSTORE_EINVAL, "parquet: two columns are named \"%s\"", c->name);
        pq_column *s = &w->schema.cols[w->schema.ncols++];
        if (!rc)
            rc = copy_decl(s, c, c->name, 0, c->name);
        if (!rc)
            nleaves += count_leaves(s);
    }
    if (!rc && !(w->leaves = bs__calloc(nleaves ? nleaves : 1, sizeof(pq_leaf))))
        rc = BLOBSTORE_ENOMEM;
    for (size_t i = 0; i < w->schema.ncols && !rc; i++) {
        pq_leaf leaf;
        memset(&leaf, 0, sizeof(leaf));
        leaf.top = i;
        leaf.names[leaf.nnames++] = w->schema.cols[i].name;
        add_leaves(w, &leaf, &w->schema.cols[i], 0, 0, 0);
    }
    if (!rc)
        rc = w->sink(w->ctx, "PAR1", 4);
    if (rc) {
        bs__pq_writer_free(w);
        return rc;
    }
    w->pos = 4;
    *out = w;
    return 0;
}

/* Room for one more row group's bookkeeping. */
static int grow_groups(pq_writer *w)
{
    if (w->ngroups < w->cap)
        return 0;
    size_t cap = w->cap ? w->cap * 2 : 16, nc = w->nleaves ? w->nleaves : 1;
    size_t *gr = bs__realloc(w->group_rows, cap * sizeof(size_t));
    if (gr)
        w->group_rows = gr;
    chunk_info *ci = gr ? bs__realloc(w->infos, cap * nc * sizeof(chunk_info)) : NULL;
    if (!ci)
        return BLOBSTORE_ENOMEM;
    memset(ci + w->cap * nc, 0, (cap - w->cap) * nc * sizeof(chunk_info));
    w->infos = ci;
    w->cap = cap;
    return 0;
}

static uint8_t *dup_bytes(const uint8_t *p, size_t n)
{
    uint8_t *d = bs__malloc(n ? n : 1);
    if (d && n)
        memcpy(d, p, n);
    return d;
}

/* ---- nested columns: Dremel levels ---- */

/* A nested leaf's levels and the items of its values over some rows. */
typedef struct {
    const pq_leaf *leaf;
    const char *top;
    uint32_t *rep, *def;
    size_t n, cap;
    size_t *idx; /* the leaf column's item of each value */
    size_t nv, vcap;
    const pq_column *node[PQ_MAX_DEPTH + 1]; /* the path's columns */
} lv_gen;

static void lv_gen_free(lv_gen *g)
{
    free(g->rep);
    free(g->def);
    free(g->idx);
}

/* One level entry; item: the leaf's item holding its value, or NULL. */
static int lv_push(lv_gen *g, uint32_t r, uint32_t d, const size_t *item)
{
    if (g->n == g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 1024;
        uint32_t *a = bs__realloc(g->rep, cap * sizeof(uint32_t));
        if (a)
            g->rep = a;
        uint32_t *b = a ? bs__realloc(g->def, cap * sizeof(uint32_t)) : NULL;
        if (!b)
            return BLOBSTORE_ENOMEM;
        g->def = b;
        g->cap = cap;
    }
    g->rep[g->n] = r;
    g->def[g->n++] = d;
    if (!item)
        return 0;
    if (g->nv == g->vcap) {
        size_t cap = g->vcap ? g->vcap * 2 : 1024;
        size_t *a = bs__realloc(g->idx, cap * sizeof(size_t));
        if (!a)
            return BLOBSTORE_ENOMEM;
        g->idx = a;
        g->vcap = cap;
    }
    g->idx[g->nv++] = *item;
    return 0;
}

/*
 * The level entries of item i of c, the node at depth on g's leaf's path
 * (Dremel): rl is the repetition level of its first entry, d the definition
 * level its slot has; r the repeated nodes above it. A null item (or an
 * empty list) is one entry at the definition level it reaches; a list's
 * items repeat at the list's own repetition level; a struct passes its
 * item to the field on the path.
 */
static int gen_levels(lv_gen *g, const pq_column *c, int depth, size_t i, uint32_t rl, uint32_t d,
                      uint32_t r)
{
    g->node[depth] = c;
    if (c->valid && !c->valid[i]) {
        if (c->nullable)
            return lv_push(g, rl, d, NULL);
        int key = depth >= 2 && g->node[depth - 2]->type == PQ_MAP && g->leaf->path[depth - 1] == 0;
        if (key)
            return bs__error(BLOBSTORE_EINVAL,
                             "parquet: column `%s`: a map key is null (map keys are required)",
                             g->top);
        return bs__error(BLOBSTORE_EINVAL,
                         "parquet: column `%s`: `%s` is not nullable but has nulls", g->top,
                         c->name);
    }
    d += c->nullable ? 1 : 0;
    if (depth == g->leaf->depth) {
        if (bs__pq_width(c->type) ? !c->values : !c->offsets || !c->bytes)
            return bs__error(BLOBSTORE_EINVAL, "parquet: column `%s`: `%s` has no data", g->top,
                             c->name);
        return lv_push(g, rl, d, &i);
    }
    const pq_column *k = &c->children[g->leaf->path[depth]];
    if (c->type == PQ_STRUCT)
        return gen_levels(g, k, depth + 1, i, rl, d, r);
    if (!c->offsets)
        return bs__error(BLOBSTORE_EINVAL, "parquet: column `%s`: `%s` has no offsets", g->top,
                         c->name);
    uint64_t b = c->offsets[i], e = c->offsets[i + 1];
    if (e < b || e - b > SIZE_MAX)
        return bs__error(BLOBSTORE_EINVAL, "parquet: column `%s`: `%s`: offsets decrease", g->top,
                         c->name);
    if (b == e)
        return lv_push(g, rl, d, NULL);
    int rc = 0;
    for (uint64_t x = b; x < e && !rc; x++)
        rc = gen_levels(g, k, depth + 1, (size_t)x, x == b ? rl : r + 1, d + 1, r + 1);
    return rc;
}

/* The values of items idx[0 .. n) of leaf c, gathered into out (no nulls;
 * it owns its data, not its name). */
static int gather(pq_column *out, const pq_column *c, const size_t *idx, size_t n)
{
    memset(out, 0, sizeof(*out));
    out->name = c->name;
    out->type = c->type;
    out->utc = c->utc;
    out->precision = c->precision;
    out->scale = c->scale;
    size_t w = bs__pq_width(c->type);
    if (w) {
        if (!(out->values = bs__malloc(n ? n * w : 1)))
            return BLOBSTORE_ENOMEM;
        for (size_t k = 0; k < n; k++)
            memcpy((uint8_t *)out->values + k * w, (const uint8_t *)c->values + idx[k] * w, w);
        return 0;
    }
    if (!(out->offsets = bs__malloc((n + 1) * sizeof(uint64_t))))
        return BLOBSTORE_ENOMEM;
    uint64_t total = 0;
    for (size_t k = 0; k < n; k++) {
        out->offsets[k] = total;
        uint64_t a = c->offsets[idx[k]], b = c->offsets[idx[k] + 1];
        if (b < a)
            return bs__error(BLOBSTORE_EINVAL, "parquet: column \"%s\": offsets decrease", c->name);
        total += b - a;
    }
    out->offsets[n] = total;
    if (total > SIZE_MAX || !(out->bytes = bs__malloc(total ? (size_t)total : 1)))
        return BLOBSTORE_ENOMEM;
    for (size_t k = 0; k < n; k++)
        memcpy(out->bytes + out->offsets[k], c->bytes + c->offsets[idx[k]],
               (size_t)(out->offsets[k + 1] - out->offsets[k]));
    return 0;
}

/* The chunk of nested leaf l (over view's rows [r0, r1)) into j's file. */
static int write_nested_chunk(pq_writer *w, const pq_leaf *l, const pq_column *view, size_t r0,
                              size_t r1, chunk_info *ci)
{
    lv_gen g;
    memset(&g, 0, sizeof(g));
    g.leaf = l;
    g.top = view->name;
    int rc = 0;
    for (size_t r = r0; r < r1 && !rc; r++)
        rc = gen_levels(&g, view, 0, r, 0, 0, 0);
    const pq_column *c = view;
    for (int k = 0; k < l->depth && !rc; k++) /* the leaf's own column */
        c = &c->children[l->path[k]];
    pq_column dense;
    memset(&dense, 0, sizeof(dense));
    if (!rc)
        rc = gather(&dense, c, g.idx, g.nv);
    dense.name = (char *)view->name; /* in messages */
    if (!rc)
        rc = check_values(&dense, 0, g.nv);
    if (!rc) {
        chunk_job j = {.c = &dense,
                       .r0 = 0,
                       .r1 = g.nv,
                       .codec = w->codec,
                       .page_rows = w->page_rows,
                       .page_bytes = w->page_bytes,
                       .file = &w->rg,
                       .ci = ci,
                       .level = w->level,
                       .nested = 1,
                       .max_rep = l->max_rep,
                       .max_def = l->max_def,
                       .rep = l->max_rep ? g.rep : NULL,
                       .def = l->max_def ? g.def : NULL,
                       .nlev = g.n};
        rc = write_chunk(&j);
    } else {
        memset(ci, 0, sizeof(*ci));
    }
    /* The statistics may point into dense: keep copies. */
    if (ci->min_p && !(ci->min_p = ci->own_min = dup_bytes(ci->min_p, ci->min_n)))
        rc = rc ? rc : BLOBSTORE_ENOMEM;
    if (ci->max_p && !(ci->max_p = ci->own_max = dup_bytes(ci->max_p, ci->max_n)))
        rc = rc ? rc : BLOBSTORE_ENOMEM;
    free(dense.values);
    free(dense.offsets);
    free(dense.bytes);
    lv_gen_free(&g);
    return rc;
}

/* Rows [r0, r1) of t as one row group: encoded into w->rg (after a "PAR1"
 * so that it is a file once a footer follows), decoded again and compared
 * with t's rows, then emitted. */
static int write_group(pq_writer *w, const pq_column *view, const pq_table *t, size_t r0, size_t r1)
{
    size_t nc = w->schema.ncols, nl = w->nleaves, g = w->ngroups;
    int rc = grow_groups(w);
    if (rc)
        return rc;
    chunk_info *infos = &w->infos[g * nl];
    w->rg.len = 0;
    rc = bs__buf_append(&w->rg, "PAR1", 4);
    for (size_t i = 0; i < nl && !rc; i++) {
        const pq_leaf *l = &w->leaves[i];
        if (PQ_NESTED(view[l->top].type)) {
            rc = write_nested_chunk(w, l, &view[l->top], r0, r1, &infos[i]);
            continue;
        }
        chunk_job j = {.c = &view[l->top],
                       .r0 = r0,
                       .r1 = r1,
                       .codec = w->codec,
                       .page_rows = w->page_rows,
                       .page_bytes = w->page_bytes,
                       .file = &w->rg,
                       .ci = &infos[i],
                       .level = w->level};
        rc = write_chunk(&j);
        /* The statistics may point into t: keep copies. */
        if (infos[i].min_p &&
            !(infos[i].min_p = infos[i].own_min = dup_bytes(infos[i].min_p, infos[i].min_n)))
            rc = rc ? rc : BLOBSTORE_ENOMEM;
        if (infos[i].max_p &&
            !(infos[i].max_p = infos[i].own_max = dup_bytes(infos[i].max_p, infos[i].max_n)))
            rc = rc ? rc : BLOBSTORE_ENOMEM;
    }
    w->group_rows[g] = r1 - r0;
    w->ngroups++; /* its infos are freed with w from now on */
    size_t body = w->rg.len;
    if (!rc && !bs__pq_nocheck) {
        bs_buf footer = {0};
        rc = build_footer(&footer, w, g, g + 1, r1 - r0, NULL);
        if (!rc)
            rc = append_footer(&w->rg, &footer);
        bs__buf_free(&footer);
        pq_table back;
        int read_rc = rc ? 0 : bs__pq_read(&back, w->rg.data, w->rg.len, NULL, 0);
        if (!rc && read_rc) {
            char msg[1024];
            snprintf(msg, sizeof(msg), "%s", blobstore_errmsg());
            rc = read_rc == BLOBSTORE_ENOMEM
                     ? read_rc
                     : bs__error(BLOBSTORE_ECORRUPT,
                                 "parquet: the file written does not read back (row group %zu: "
                                 "%s); nothing was stored",
                                 g, msg);
        } else if (!rc) {
            /* t's rows as declared by the schema */
            pq_table given = {t->nrows, nc, (pq_column *)view};
            rc = bs__pq_check_rows(&given, r0, r1, &back, g);
            bs__pq_table_free(&back);
        }
    }
    /* Offsets in the file: the group's bytes after "PAR1" go at w->pos. */
    int64_t delta = (int64_t)w->pos - 4;
    for (size_t i = 0; i < nl; i++) {
        infos[i].data_off += delta;
        if (infos[i].has_dict)
            infos[i].dict_off += delta;
    }
    if (!rc)
        rc = w->sink(w->ctx, w->rg.data + 4, body - 4);
    w->pos += body - 4;
    w->rows += r1 - r0;
    return rc;
}

/* Frees the children arrays a view of a nested column made (not data). */
static void view_free(pq_column *v)
{
    if (!PQ_NESTED(v->type) || !v->children)
        return;
    for (size_t i = 0; i < v->nchildren; i++)
        view_free(&v->children[i]);
    free(v->children);
    v->children = NULL;
}

/* v: data column c with the declarations of schema node s (its name,
 * nullability, UTC flag), its children too; c's tree must have s's shape. */
static int make_view(pq_column *v, const pq_column *c, const pq_column *s, const char *top)
{
    *v = *c;
    v->name = s->name;
    v->nullable = s->nullable;
    v->utc = s->utc;
    v->children = NULL;
    if (c->type != s->type ||
        (PQ_NESTED(s->type) && (c->nchildren != s->nchildren || !c->children)))
        return bs__error(BLOBSTORE_EINVAL,
                         "parquet: column `%s`: `%s` is not of the schema's type (%s)", top,
                         s->name, bs__pq_type_name(s->type));
    if (c->type == PQ_DECIMAL && (c->precision != s->precision || c->scale != s->scale))
        return bs__error(BLOBSTORE_EINVAL,
                         "parquet: column `%s`: `%s` is not DECIMAL(%d,%d) as the schema says", top,
                         s->name, s->precision, s->scale);
    if (!PQ_NESTED(s->type))
        return 0;
    if (!(v->children = bs__calloc(s->nchildren, sizeof(pq_column))))
        return BLOBSTORE_ENOMEM;
    v->nchildren = s->nchildren;
    for (size_t i = 0; i < s->nchildren; i++) {
        v->children[i].type = s->children[i].type; /* view_free's guide */
        int rc = make_view(&v->children[i], &c->children[i], &s->children[i], top);
        if (rc)
            return rc;
    }
    return 0;
}

int bs__pq_writer_write(pq_writer *w, const pq_table *t, size_t r0, size_t r1)
{
    if (w->failed)
        return bs__error(BLOBSTORE_EINVAL, "parquet: the writer failed before");
    size_t nc = w->schema.ncols;
    if (t->ncols != nc || r0 > r1 || r1 > t->nrows)
        return bs__error(BLOBSTORE_EINVAL, "parquet: rows that do not fit the file's schema");
    pq_column *view = bs__calloc(nc ? nc : 1, sizeof(pq_column));
    if (!view)
        return BLOBSTORE_ENOMEM;
    int rc = 0;
    for (size_t i = 0; i < nc && !rc; i++) {
        const pq_column *c = &t->cols[i], *s = &w->schema.cols[i];
        if (c->type != s->type || !c->name || strcmp(c->name, s->name) != 0 ||
            (c->type == PQ_DECIMAL && (c->precision != s->precision || c->scale != s->scale))) {
            rc = bs__error(BLOBSTORE_EINVAL,
                           "parquet: column %zu is not \"%s\" (%s) as the schema says", i, s->name,
                           bs__pq_type_name(s->type));
            break;
        }
        if (PQ_NESTED(c->type)) {
            if (!s->nullable && c->valid)
                for (size_t r = r0; r < r1 && !rc; r++)
                    if (!c->valid[r])
                        rc = bs__error(BLOBSTORE_EINVAL,
                                       "parquet: column \"%s\" is not nullable but has nulls",
                                       c->name);
            view[i].type = s->type;
            if (!rc)
                rc = make_view(&view[i], c, s, s->name);
            if (!rc && c->type != PQ_STRUCT && !c->offsets && r1 > r0)
                rc = bs__error(BLOBSTORE_EINVAL, "parquet: column \"%s\" has no offsets", c->name);
            continue;
        }
        if ((c->type == PQ_STRING || c->type == PQ_BINARY) ? !c->offsets : !c->values && r1 > r0) {
            rc = bs__error(BLOBSTORE_EINVAL, "parquet: column \"%s\" has no data", c->name);
            break;
        }
        if (!s->nullable && c->valid)
            for (size_t r = r0; r < r1 && !rc; r++)
                if (!c->valid[r])
                    rc = bs__error(BLOBSTORE_EINVAL,
                                   "parquet: column \"%s\" is not nullable but has nulls", c->name);
        view[i] = *c; /* t's data with the schema's declarations */
        view[i].name = s->name;
        view[i].nullable = s->nullable;
        view[i].utc = s->utc;
        if (!rc)
            rc = check_values(&view[i], r0, r1);
    }
    for (size_t a = r0; a < r1 && !rc; a += w->per)
        rc = write_group(w, view, t, a, r1 - a > w->per ? a + w->per : r1);
    for (size_t i = 0; i < nc; i++)
        view_free(&view[i]);
    free(view);
    if (rc)
        w->failed = 1;
    return rc;
}

int bs__pq_writer_finish(pq_writer *w, const char *pandas_metadata)
{
    if (w->failed)
        return bs__error(BLOBSTORE_EINVAL, "parquet: the writer failed before");
    bs_buf footer = {0}, check = {0};
    int rc = build_footer(&footer, w, 0, w->ngroups, w->rows, pandas_metadata);
    /* The footer reads back (its row groups are checked as they were made). */
    if (!rc && !bs__pq_nocheck) {
        rc = bs__buf_append(&check, "PAR1", 4);
        if (!rc)
            rc = append_footer(&check, &footer);
        static const char *none[1] = {NULL};
        pq_table back;
        int read_rc = rc ? 0 : bs__pq_read(&back, check.data, check.len, none, 0);
        if (!rc && !read_rc && back.nrows != w->rows)
            read_rc = BLOBSTORE_ECORRUPT;
        if (!rc && read_rc != BLOBSTORE_ENOMEM && read_rc)
            rc = bs__error(BLOBSTORE_ECORRUPT,
                           "parquet: the footer written does not read back; nothing was stored");
        else if (!rc)
            rc = read_rc;
        if (!read_rc)
            bs__pq_table_free(&back);
        bs__buf_free(&check);
    }
    if (!rc) {
        bs_buf tail = {0};
        rc = append_footer(&tail, &footer);
        if (!rc)
            rc = w->sink(w->ctx, tail.data, tail.len);
        w->pos += tail.len;
        bs__buf_free(&tail);
    }
    bs__buf_free(&footer);
    w->failed = 1; /* nothing more */
    return rc;
}

const char *bs__pq_writer_codec(const pq_writer *w)
{
    switch (w->codec) {
    case CODEC_NONE:
        return "none";
    case CODEC_SNAPPY:
        return "snappy";
    case CODEC_GZIP:
        return "gzip";
    case CODEC_ZSTD:
        return "zstd";
    default:
        return "lz4_raw";
    }
}

void bs__pq_writer_set_level(pq_writer *w, int level)
{
    w->level = level;
}

uint64_t bs__pq_writer_rows(const pq_writer *w)
{
    return w->rows;
}

int bs__pq_write(uint8_t **out, size_t *out_len, const pq_table *t, const pq_write_options *o)
{
    bs_buf file = {0};
    pq_writer *w;
    int rc = bs__pq_writer_new(&w, t, o, bs__sink_buf, &file);
    if (!rc)
        rc = bs__pq_writer_write(w, t, 0, t->nrows);
    if (!rc)
        rc = bs__pq_writer_finish(w, o ? o->pandas_metadata : NULL);
    bs__pq_writer_free(w);
    if (rc) {
        bs__buf_free(&file);
        return rc;
    }
    *out = file.data;
    *out_len = file.len;
    return 0;
}
