/*
 * read.c - Parquet file -> table: flat columns, and nested ones (LIST,
 * STRUCT, MAP, legacy lists: a tree of nodes from the schema, each leaf's
 * repetition and definition levels kept, the column assembled from them).
 *
 * The footer (Thrift compact) gives the schema and, per row group, each
 * column chunk's pages. Only the selected columns' pages are read. Pages:
 * dictionary pages (PLAIN), data pages v1 (levels inside the compressed
 * body) and v2 (levels before it, uncompressed); values PLAIN,
 * PLAIN_DICTIONARY or RLE_DICTIONARY; definition levels RLE/bit-packed.
 * Other encodings are refused with an error naming them. Every length and
 * index read from the file is checked.
 */
#include "parquet.h"

#include <brotli/decode.h>
#include <math.h>
#include <lz4.h>
#include <zlib.h>
#include <zstd.h>

enum {
    PT_BOOLEAN = 0,
    PT_INT32 = 1,
    PT_INT64 = 2,
    PT_INT96 = 3,
    PT_FLOAT = 4,
    PT_DOUBLE = 5,
    PT_BYTE_ARRAY = 6,
    PT_FIXED = 7
};

struct bs_pq_snappy bs__pq_snappy;
static const bs_symbol snappy_syms[] = {
    {"snappy_compress", (void **)&bs__pq_snappy.compress},
    {"snappy_uncompress", (void **)&bs__pq_snappy.uncompress},
    {"snappy_max_compressed_length", (void **)&bs__pq_snappy.max_compressed_length},
};
static bs_library libsnappy = {"libsnappy.so.1", snappy_syms,
                               sizeof(snappy_syms) / sizeof(snappy_syms[0]), 0, ""};

int bs__pq_snappy_load(void)
{
    return bs__library_load(&libsnappy);
}

static const char *encoding_name(int e)
{
    static const char *names[] = {
        "PLAIN",          "GROUP_VAR_INT",       "PLAIN_DICTIONARY",        "RLE",
        "BIT_PACKED",     "DELTA_BINARY_PACKED", "DELTA_LENGTH_BYTE_ARRAY", "DELTA_BYTE_ARRAY",
        "RLE_DICTIONARY", "BYTE_STREAM_SPLIT"};
    return e >= 0 && e < 10 ? names[e] : "unknown";
}

static int corrupt(const char *what)
{
    return bs__error(BLOBSTORE_ECORRUPT, "parquet: %s", what);
}

/* ---- the footer ---- */

typedef struct {
    char *name;
    int type, repetition, converted, num_children, type_length;
    int scale, precision; /* of a DECIMAL converted type (fields 7, 8) */
    int logical;          /* logicalType union member id, or 0 */
    int int_bits, int_signed, ts_unit, ts_utc;
    int dec_scale, dec_precision; /* of a DECIMAL logical type */
} schema_el;

typedef struct {
    int type, codec;
    int64_t num_values, data_off, dict_off, total_compressed;
    char *path;
} chunk_meta;

typedef struct pq_node pq_node;

typedef struct {
    schema_el *schema;
    size_t nschema;
    pq_node *top; /* the top-level columns (build_tree) */
    size_t ntop, nleaves;
    pq_node **leaf_node; /* each leaf's node, in column chunk order */
    int64_t num_rows;
    size_t ngroups;
    size_t *group_rows;
    chunk_meta *chunks; /* ngroups x ncols */
    size_t ncols;
} footer;

static void nodes_free(pq_node *n, size_t count);

static void footer_free(footer *f)
{
    nodes_free(f->top, f->ntop);
    free(f->leaf_node);
    for (size_t i = 0; i < f->nschema; i++)
        free(f->schema[i].name);
    free(f->schema);
    if (f->chunks)
        for (size_t i = 0; i < f->ngroups * f->ncols; i++)
            free(f->chunks[i].path);
    free(f->chunks);
    free(f->group_rows);
}

static char *dup_bin(tc_reader *r)
{
    size_t n;
    const uint8_t *p = bs__tc_read_binary(r, &n);
    return p ? bs__strndup((const char *)p, n) : NULL;
}

/* An i32 field: a larger number marks the reader bad. */
static int read_i32(tc_reader *r)
{
    int64_t v = bs__tc_read_int(r);
    if (v < INT32_MIN || v > INT32_MAX) {
        r->bad = 1;
        return 0;
    }
    return (int)v;
}

static void read_logical(tc_reader *r, schema_el *s)
{
    int16_t last = 0;
    for (;;) {
        tc_fieldinfo f = bs__tc_next(r, &last);
        if (r->bad || f.type == TC_STOP)
            return;
        if (f.type != TC_STRUCT) {
            bs__tc_skip(r, f.type, 0);
            continue;
        }
        s->logical = f.id;
        int16_t l2 = 0;
        for (;;) { /* the member struct */
            tc_fieldinfo g = bs__tc_next(r, &l2);
            if (r->bad || g.type == TC_STOP)
                break;
            if (f.id == 10 && g.id == 1 && g.type == TC_BYTE && r->p < r->end)
                s->int_bits = (int8_t)*r->p++;
            else if (f.id == 10 && g.id == 2)
                s->int_signed = g.bval;
            else if (f.id == 5 && g.id == 1 && g.type == TC_I32)
                s->dec_scale = read_i32(r);
            else if (f.id == 5 && g.id == 2 && g.type == TC_I32)
                s->dec_precision = read_i32(r);
            else if ((f.id == 7 || f.id == 8) && g.id == 1)
                s->ts_utc = g.bval;
            else if ((f.id == 7 || f.id == 8) && g.id == 2 && g.type == TC_STRUCT) {
                int16_t l3 = 0;
                tc_fieldinfo u = bs__tc_next(r, &l3);
                if (u.type == TC_STRUCT) {
                    s->ts_unit = u.id;
                    bs__tc_skip(r, TC_STRUCT, 1);
                    bs__tc_next(r, &l3); /* end of the unit union */
                }
            } else
                bs__tc_skip(r, g.type, 1);
        }
    }
}

static int parse_schema_el(tc_reader *r, schema_el *s)
{
    int16_t last = 0;
    memset(s, 0, sizeof(*s));
    s->type = s->converted = s->repetition = -1;
    for (;;) {
        tc_fieldinfo f = bs__tc_next(r, &last);
        if (r->bad || f.type == TC_STOP)
            break;
        switch (f.id) {
        case 1:
            s->type = read_i32(r);
            break;
        case 2:
            s->type_length = read_i32(r);
            break;
        case 3:
            s->repetition = read_i32(r);
            break;
        case 4:
            free(s->name);
            s->name = dup_bin(r);
            break;
        case 5:
            s->num_children = read_i32(r);
            break;
        case 6:
            s->converted = read_i32(r);
            break;
        case 7:
            s->scale = read_i32(r);
            break;
        case 8:
            s->precision = read_i32(r);
            break;
        case 10:
            if (f.type == TC_STRUCT)
                read_logical(r, s);
            else
                bs__tc_skip(r, f.type, 0);
            break;
        default:
            bs__tc_skip(r, f.type, 0);
        }
    }
    return r->bad ? corrupt("the schema is damaged") : 0;
}

static void parse_column_meta(tc_reader *r, chunk_meta *m)
{
    int16_t last = 0;
    for (;;) {
        tc_fieldinfo f = bs__tc_next(r, &last);
        if (r->bad || f.type == TC_STOP)
            return;
        switch (f.id) {
        case 1:
            m->type = (int)bs__tc_read_int(r);
            break;
        case 3: {
            int et;
            size_t n = bs__tc_read_list(r, &et);
            for (size_t i = 0; i < n && !r->bad; i++) {
                char *s = dup_bin(r);
                if (i == 0) {
                    free(m->path);
                    m->path = s;
                } else {
                    free(s);
                    free(m->path); /* nested paths are not flat columns */
                    m->path = NULL;
                }
            }
            break;
        }
        case 4:
            m->codec = (int)bs__tc_read_int(r);
            break;
        case 5:
            m->num_values = bs__tc_read_int(r);
            break;
        case 7:
            m->total_compressed = bs__tc_read_int(r);
            break;
        case 9:
            m->data_off = bs__tc_read_int(r);
            break;
        case 11:
            m->dict_off = bs__tc_read_int(r);
            break;
        default:
            bs__tc_skip(r, f.type, 0);
        }
    }
}

/* Parquet modular encryption: refused, saying so. */
static int encrypted(const char *how)
{
    return bs__error(BLOBSTORE_EUNSUPPORTED,
                     "parquet: the file is encrypted with Parquet modular encryption (%s), which "
                     "is not supported",
                     how);
}

/* The index past the subtree of schema element k; SIZE_MAX if the
 * children counts overrun the schema. */
static size_t subtree_end(const footer *ft, size_t k, int depth)
{
    if (k >= ft->nschema || depth > 64)
        return SIZE_MAX;
    size_t e = k + 1;
    for (int i = 0; i < ft->schema[k].num_children && e != SIZE_MAX; i++)
        e = subtree_end(ft, e, depth + 1);
    return e;
}

static const char *physical_name(int t);

/* ft->ncols: the schema's leaves (one column chunk each per row group),
 * once the children counts are checked to make one tree. */
static int count_leaves(footer *ft)
{
    size_t k = 1;
    for (int i = 0; i < ft->schema[0].num_children && k != SIZE_MAX; i++)
        k = subtree_end(ft, k, 0);
    if (k != ft->nschema || ft->schema[0].num_children < 0)
        return corrupt("the schema's children counts do not make one tree");
    ft->ncols = 0;
    for (k = 1; k < ft->nschema; k++) {
        if (ft->schema[k].num_children < 0)
            return corrupt("a schema element has a negative number of children");
        ft->ncols += ft->schema[k].num_children == 0;
    }
    return 0;
}

static int parse_footer(footer *ft, const uint8_t *p, size_t n)
{
    tc_reader r = {p, p + n, 0};
    int16_t last = 0;
    memset(ft, 0, sizeof(*ft));
    int rc = 0;
    for (;;) {
        tc_fieldinfo f = bs__tc_next(&r, &last);
        if (r.bad || f.type == TC_STOP)
            break;
        if ((f.id == 2 && ft->schema) || (f.id == 4 && ft->chunks))
            return corrupt("the footer repeats a field");
        if (f.id == 2 && f.type == TC_LIST) {
            int et;
            size_t cnt = bs__tc_read_list(&r, &et);
            if (et != TC_STRUCT || !cnt || !(ft->schema = bs__calloc(cnt, sizeof(schema_el))))
                return r.bad ? corrupt("the footer is damaged") : BLOBSTORE_ENOMEM;
            ft->nschema = cnt;
            for (size_t i = 0; i < cnt && !rc; i++)
                rc = parse_schema_el(&r, &ft->schema[i]);
        } else if (f.id == 8 && f.type == TC_STRUCT) { /* encryption_algorithm */
            return encrypted("its footer names the algorithm");
        } else if (f.id == 3) {
            ft->num_rows = bs__tc_read_int(&r);
        } else if (f.id == 4 && f.type == TC_LIST && ft->nschema) {
            if ((rc = count_leaves(ft)) != 0)
                return rc;
            int et;
            size_t ng = bs__tc_read_list(&r, &et);
            ft->ngroups = ng;
            ft->group_rows = bs__calloc(ng ? ng : 1, sizeof(size_t));
            ft->chunks =
                bs__calloc((ng ? ng : 1) * (ft->ncols ? ft->ncols : 1), sizeof(chunk_meta));
            if (!ft->group_rows || !ft->chunks)
                return BLOBSTORE_ENOMEM;
            for (size_t g = 0; g < ng && !r.bad; g++) {
                int16_t l2 = 0;
                for (;;) {
                    tc_fieldinfo rf = bs__tc_next(&r, &l2);
                    if (r.bad || rf.type == TC_STOP)
                        break;
                    if (rf.id == 1 && rf.type == TC_LIST) {
                        int ct;
                        size_t nc = bs__tc_read_list(&r, &ct);
                        if (nc != ft->ncols)
                            return corrupt("a row group's column count differs from the schema");
                        for (size_t c = 0; c < nc && !r.bad; c++) {
                            int16_t l3 = 0;
                            for (;;) {
                                tc_fieldinfo cf = bs__tc_next(&r, &l3);
                                if (r.bad || cf.type == TC_STOP)
                                    break;
                                if (cf.id == 1 && cf.type == TC_BINARY)
                                    return bs__error(BLOBSTORE_EUNSUPPORTED,
                                                     "parquet: column chunks in other files");
                                if ((cf.id == 8 || cf.id == 9) && cf.type == TC_STRUCT)
                                    return encrypted("a column chunk carries crypto metadata");
                                if (cf.id == 3 && cf.type == TC_STRUCT)
                                    parse_column_meta(&r, &ft->chunks[g * ft->ncols + c]);
                                else
                                    bs__tc_skip(&r, cf.type, 0);
                            }
                        }
                    } else if (rf.id == 3) {
                        int64_t v = bs__tc_read_int(&r);
                        ft->group_rows[g] = v < 0 ? 0 : (size_t)v;
                    } else {
                        bs__tc_skip(&r, rf.type, 0);
                    }
                }
            }
        } else {
            bs__tc_skip(&r, f.type, 0);
        }
        if (rc)
            return rc;
    }
    if (r.bad || !ft->nschema)
        return corrupt("the footer is damaged");
    return 0;
}

/* ---- pages ---- */

/* GZIP: one member or several in a row (RFC 1952; Compression.md asks
 * readers to take several). */
static int inflate_gzip(const uint8_t *in, size_t n, uint8_t *out, size_t want)
{
    z_stream z;
    memset(&z, 0, sizeof(z));
    if (inflateInit2(&z, 15 + 16) != Z_OK)
        return BLOBSTORE_ENOMEM;
    z.next_in = (Bytef *)(uintptr_t)in;
    z.avail_in = (uInt)n;
    z.next_out = out;
    z.avail_out = (uInt)want;
    int rc = 0;
    for (;;) {
        int r = inflate(&z, Z_FINISH);
        if (r != Z_STREAM_END) {
            rc = 1;
            break;
        }
        if (!z.avail_in)
            break;
        /* Another member follows (a zero byte padding the end is not one). */
        if (z.next_in[0] != 0x1f || inflateReset(&z) != Z_OK) {
            rc = 1;
            break;
        }
    }
    size_t got = want - z.avail_out; /* (inflateReset zeroes total_out) */
    inflateEnd(&z);
    return !rc && got == want ? 0 : corrupt("a gzip page does not decompress");
}

/* Hadoop's LZ4 framing (codec LZ4, as parquet-mr writes it): blocks of a
 * 4-byte big-endian decompressed length, then chunks of a 4-byte big-endian
 * compressed length and an LZ4 block until the block's bytes are out.
 * Returns 0 when the whole input is such blocks giving exactly want bytes. */
static int lz4_hadoop(const uint8_t *in, size_t n, uint8_t *out, size_t want)
{
    size_t pos = 0, got = 0;
    if (n < 8)
        return -1;
    while (pos < n) {
        if (n - pos < 8)
            return -1;
        size_t block = (size_t)in[pos] << 24 | (size_t)in[pos + 1] << 16 |
                       (size_t)in[pos + 2] << 8 | in[pos + 3];
        pos += 4;
        if (block > want - got)
            return -1;
        size_t end = got + block;
        while (got < end) {
            if (n - pos < 4)
                return -1;
            size_t clen = (size_t)in[pos] << 24 | (size_t)in[pos + 1] << 16 |
                          (size_t)in[pos + 2] << 8 | in[pos + 3];
            pos += 4;
            if (clen > n - pos || clen > INT32_MAX)
                return -1;
            int r = LZ4_decompress_safe((const char *)in + pos, (char *)out + got, (int)clen,
                                        (int)(end - got));
            if (r < 0 || (r == 0 && clen != 1))
                return -1;
            got += (size_t)r;
            pos += clen;
        }
        if (got != end)
            return -1;
    }
    return got == want ? 0 : -1;
}

static int decompress(int codec, const uint8_t *in, size_t n, uint8_t *out, size_t want)
{
    if (n == 0 && want == 0 &&
        codec != PQ_CODEC_UNCOMPRESSED) /* an empty body (a v2 page of nulls only) */
        return 0;
    if (want > INT32_MAX)
        return corrupt("a page is larger than 2 GiB");
    switch (codec) {
    case PQ_CODEC_UNCOMPRESSED:
        if (n != want)
            return corrupt("an uncompressed page has the wrong size");
        memcpy(out, in, n);
        return 0;
    case PQ_CODEC_SNAPPY: {
        size_t got = want;
        int rc = bs__pq_snappy_load();
        if (rc)
            return rc;
        if (bs__pq_snappy.uncompress((const char *)in, n, (char *)out, &got) != SNAPPY_OK ||
            got != want)
            return corrupt("a snappy page does not decompress");
        return 0;
    }
    case PQ_CODEC_GZIP:
        return inflate_gzip(in, n, out, want);
    case PQ_CODEC_BROTLI: {
        size_t got = want;
        if (BrotliDecoderDecompress(n, in, &got, out) != BROTLI_DECODER_RESULT_SUCCESS ||
            got != want)
            return corrupt("a brotli page does not decompress");
        return 0;
    }
    case PQ_CODEC_LZ4: /* LZ4 (Hadoop's framing), else a bare LZ4 block as older
                        * writers (parquet-cpp) wrote it, as other readers fall back */
        if (lz4_hadoop(in, n, out, want) == 0)
            return 0;
        if (n <= INT32_MAX &&
            LZ4_decompress_safe((const char *)in, (char *)out, (int)n, (int)want) == (int)want)
            return 0;
        return corrupt("an lz4 page does not decompress (neither Hadoop's framing nor a block)");
    case PQ_CODEC_ZSTD: {
        size_t r = ZSTD_decompress(out, want, in, n);
        return (!ZSTD_isError(r) && r == want) ? 0 : corrupt("a zstd page does not decompress");
    }
    case PQ_CODEC_LZ4_RAW: {
        if (n > INT32_MAX)
            return corrupt("an lz4_raw page does not decompress");
        int r = LZ4_decompress_safe((const char *)in, (char *)out, (int)n, (int)want);
        return r == (int)want ? 0 : corrupt("an lz4_raw page does not decompress");
    }
    case PQ_CODEC_LZO:
        return bs__error(BLOBSTORE_EUNSUPPORTED, "parquet: compression codec LZO");
    default:
        return bs__error(BLOBSTORE_EUNSUPPORTED, "parquet: compression codec %d", codec);
    }
}

/* Decode n values of the RLE / bit-packed hybrid encoding. */
int bs__pq_rle_decode(const uint8_t *p, size_t len, int bw, uint32_t *out, size_t n)
{
    size_t pos = 0, k = 0;
    int bytes = (bw + 7) / 8;
    if (bw < 0 || bw > 32)
        return corrupt("invalid bit width");
    while (k < n) {
        uint64_t h = 0;
        for (int s = 0;; s += 7) {
            if (pos >= len || s > 63)
                return corrupt("RLE data is truncated");
            h |= (uint64_t)(p[pos] & 0x7f) << s;
            if (!(p[pos++] & 0x80))
                break;
        }
        if (h & 1) { /* bit-packed groups of 8 */
            uint64_t groups = h >> 1;
            if (groups > (len - pos) / (size_t)(bw ? bw : 1) + 1)
                return corrupt("RLE data is truncated");
            size_t nbits = (size_t)groups * 8 * (size_t)bw;
            if ((nbits + 7) / 8 > len - pos)
                return corrupt("RLE data is truncated");
            for (size_t i = 0; i < groups * 8 && k < n; i++, k++) {
                uint32_t v = 0;
                for (int b = 0; b < bw; b++) {
                    size_t bit = i * (size_t)bw + (size_t)b;
                    v |= (uint32_t)((p[pos + (bit >> 3)] >> (bit & 7)) & 1) << b;
                }
                out[k] = v;
            }
            pos += (nbits + 7) / 8;
        } else {
            uint64_t run = h >> 1;
            if ((size_t)bytes > len - pos)
                return corrupt("RLE data is truncated");
            uint32_t v = 0;
            for (int b = 0; b < bytes; b++)
                v |= (uint32_t)p[pos + (size_t)b] << (8 * b);
            pos += (size_t)bytes;
            for (uint64_t i = 0; i < run && k < n; i++)
                out[k++] = v;
            if (run == 0)
                return corrupt("an RLE run of length 0");
        }
    }
    return 0;
}

/* How many values (at most limit) the RLE / bit-packed hybrid at
 * [p, p + len) holds, from its run headers alone: what a page's value count
 * is checked against before anything is sized from it. */
size_t bs__pq_rle_count(const uint8_t *p, size_t len, int bw, size_t limit)
{
    size_t pos = 0, k = 0, bytes = (size_t)(bw + 7) / 8;
    if (bw < 0 || bw > 32)
        return 0;
    while (k < limit) {
        uint64_t h = 0;
        for (int s = 0;; s += 7) {
            if (pos >= len || s > 63)
                return k;
            h |= (uint64_t)(p[pos] & 0x7f) << s;
            if (!(p[pos++] & 0x80))
                break;
        }
        uint64_t run;
        if (h & 1) { /* bit-packed groups of 8, bw bytes each */
            uint64_t groups = h >> 1, have = bw ? (len - pos) / (size_t)bw : groups;
            if (groups > have)
                groups = have;
            run = groups * 8;
            pos += (size_t)groups * (size_t)bw;
        } else {
            if (bytes > len - pos)
                return k;
            run = h >> 1;
            pos += bytes;
        }
        k = run >= limit - k ? limit : k + (size_t)run;
    }
    return k;
}

typedef struct {
    pq_column *col;
    const schema_el *s;
    uint8_t *i96;  /* INT96: the raw values, 12 bytes a row (see finish_int96) */
    size_t row;    /* rows filled so far */
    bs_buf bytes;  /* string/binary data */
    uint8_t *dict; /* dictionary: PLAIN values */
    size_t dict_len, dict_n;
    size_t *dict_off; /* offsets of the dictionary's values */
    /* A leaf of a nested column: its repetition and definition levels
     * (one each per level entry) are kept, its values dense (one per entry
     * whose definition level is max_def) in col, rows 0 .. cap. */
    int nested, max_def, max_rep;
    uint8_t *rep, *def;
    size_t nlev, cap; /* entries read, and room for (grown as pages come) */
    size_t limit;     /* entries the column chunks declare */
} col_state;

/* Room for need rows (a nested leaf: level entries) in a column's arrays,
 * grown as pages are read, never sized from the counts a footer claims: a
 * nested leaf's levels and values, a flat column's values, validity and
 * INT96 bytes. New room is zeroed (a null's slot holds 0). */
static int col_reserve(col_state *st, size_t need)
{
    if (need <= st->cap)
        return 0;
    size_t cap = st->cap ? st->cap : 256, old = st->cap;
    while (cap < need)
        cap = cap > SIZE_MAX / 64 ? need : cap * 2;
    pq_column *c = st->col;
    size_t w = bs__pq_width(c->type);
    void *p;
    if (st->nested) {
        if (!(p = bs__realloc(st->rep, cap)))
            return BLOBSTORE_ENOMEM;
        st->rep = p;
        if (!(p = bs__realloc(st->def, cap)))
            return BLOBSTORE_ENOMEM;
        st->def = p;
    } else if (c->nullable) {
        if (!(p = bs__realloc(c->valid, cap)))
            return BLOBSTORE_ENOMEM;
        c->valid = p;
        memset(c->valid + old, 0, cap - old);
    }
    if (w) {
        if (cap > SIZE_MAX / w || !(p = bs__realloc(c->values, cap * w)))
            return BLOBSTORE_ENOMEM;
        c->values = p;
        memset((uint8_t *)c->values + old * w, 0, (cap - old) * w);
    } else {
        if (!(p = bs__realloc(c->offsets, (cap + 1) * sizeof(uint64_t))))
            return BLOBSTORE_ENOMEM;
        c->offsets = p;
    }
    if (st->i96) {
        if (!(p = bs__realloc(st->i96, cap * 12)))
            return BLOBSTORE_ENOMEM;
        st->i96 = p;
    }
    st->cap = cap;
    return 0;
}

/* The bits of a level whose largest value is max. */
static int level_bits(int max)
{
    int b = 0;
    while (max >> b)
        b++;
    return b;
}

/* Appends a page's n levels (RLE / bit-packed; none when max is 0: all 0)
 * to dst[at ..). */
static int decode_levels(const uint8_t *p, size_t len, int max, uint8_t *dst, size_t n)
{
    if (!max) {
        memset(dst, 0, n);
        return 0;
    }
    uint32_t *tmp = bs__malloc((n ? n : 1) * sizeof(uint32_t));
    if (!tmp)
        return BLOBSTORE_ENOMEM;
    int rc = bs__pq_rle_decode(p, len, level_bits(max), tmp, n);
    for (size_t i = 0; i < n && !rc; i++) {
        if (tmp[i] > (uint32_t)max)
            rc = corrupt("a repetition or definition level exceeds its column's maximum");
        dst[i] = (uint8_t)tmp[i];
    }
    free(tmp);
    return rc;
}

static int decode_values(col_state *st, int pt, int encoding, const uint8_t *defs_p,
                         size_t defs_len, int has_defs, const uint8_t *p, size_t len, size_t n);

/* A nested leaf's data page: n level entries, repetition levels at
 * (rp, rl) and definition levels at (dp, dl), values at (vp, vl); *rows:
 * the rows that start in it. */
static size_t page_room(int pt, int flen, int enc, const uint8_t *p, size_t len, size_t nvalues);

static int nested_page(col_state *st, int pt, int enc, const uint8_t *rp, size_t rl,
                       const uint8_t *dp, size_t dl, const uint8_t *vp, size_t vl, size_t n,
                       size_t *rows)
{
    if (n > st->limit - st->nlev)
        return corrupt("a column chunk holds more values than its metadata says");
    /* The levels must hold the n entries the page header claims before
     * anything is sized from it. */
    if ((st->max_rep && bs__pq_rle_count(rp, rl, level_bits(st->max_rep), n) < n) ||
        (st->max_def && bs__pq_rle_count(dp, dl, level_bits(st->max_def), n) < n))
        return corrupt("a page's levels hold fewer values than its header says");
    /* A leaf with no levels (required fields of required structs): its
     * values must hold them. */
    if (!st->max_rep && !st->max_def && page_room(pt, st->s->type_length, enc, vp, vl, n) < n)
        return corrupt("a page's values are fewer than its header says");
    int rc = col_reserve(st, st->nlev + n);
    if (!rc)
        rc = decode_levels(rp, rl, st->max_rep, st->rep + st->nlev, n);
    if (!rc)
        rc = decode_levels(dp, dl, st->max_def, st->def + st->nlev, n);
    if (rc)
        return rc;
    size_t nv = 0, nr = 0;
    for (size_t i = st->nlev; i < st->nlev + n; i++) {
        nv += st->def[i] == st->max_def;
        nr += st->rep[i] == 0;
    }
    st->nlev += n;
    *rows = nr;
    return decode_values(st, pt, enc, NULL, 0, 0, vp, vl, nv);
}

/* Bytes of a PLAIN value; flen: FIXED_LEN_BYTE_ARRAY's type_length. */
static size_t phys_width(int pt, int flen)
{
    return pt == PT_INT32 || pt == PT_FLOAT    ? 4
           : pt == PT_INT64 || pt == PT_DOUBLE ? 8
           : pt == PT_INT96                    ? 12
           : pt == PT_FIXED && flen > 0        ? (size_t)flen
                                               : 0;
}

/* Strings are UTF-8 (NUL included, which bs__utf8_valid refuses in keys). */
static int utf8_ok(const uint8_t *p, size_t n)
{
    /* ASCII (NULs too) is valid as it is: eight bytes at a time. */
    size_t a = 0;
    for (uint64_t x; a + 8 <= n; a += 8) {
        memcpy(&x, p + a, 8);
        if (x & 0x8080808080808080ULL)
            break;
    }
    while (a < n && p[a] < 0x80)
        a++;
    if (a == n)
        return 1;
    for (;;) {
        const uint8_t *z = memchr(p, 0, n);
        size_t k = z ? (size_t)(z - p) : n;
        if (!bs__utf8_valid(p, k))
            return 0;
        if (!z)
            return 1;
        p += k + 1;
        n -= k + 1;
    }
}

/* 10^k for k = 0..18. */
static const uint64_t pow10_u64[19] = {1ull,
                                       10ull,
                                       100ull,
                                       1000ull,
                                       10000ull,
                                       100000ull,
                                       1000000ull,
                                       10000000ull,
                                       100000000ull,
                                       1000000000ull,
                                       10000000000ull,
                                       100000000000ull,
                                       1000000000000ull,
                                       10000000000000ull,
                                       100000000000000ull,
                                       1000000000000000ull,
                                       10000000000000000ull,
                                       100000000000000000ull,
                                       1000000000000000000ull};

/* A decimal's unscaled value: sign-extended big-endian two's complement
 * (p, n), or a little-endian integer of n bytes (le), into 16 bytes little
 * endian at dst; checked against the column's precision. An empty value
 * (a BYTE_ARRAY of length 0: hyparquet-writer writes 0 so) is 0, as DuckDB
 * and hyparquet read it. */
static int put_decimal(pq_column *c, uint8_t *dst, const uint8_t *p, size_t n, int le)
{
    if (n == 0) {
        memset(dst, 0, 16);
        return 0;
    }
    uint8_t sign = (le ? p[n - 1] : p[0]) & 0x80 ? 0xff : 0;
    for (size_t i = 16; i < n; i++) /* bytes beyond 16 only repeat the sign */
        if ((le ? p[i] : p[n - 1 - i]) != sign ||
            ((le ? p[15] : p[n - 16]) & 0x80) != (sign & 0x80))
            return bs__error(BLOBSTORE_ECORRUPT,
                             "parquet: column \"%s\": a DECIMAL value beyond 128 bits", c->name);
    for (size_t i = 0; i < 16; i++)
        dst[i] = i < n ? (le ? p[i] : p[n - 1 - i]) : sign;
    /* |v| < 10^precision: the value fits the declared digits. */
    int64_t lo;
    memcpy(&lo, dst, 8);
    int small = 1; /* the value fits an int64 */
    for (size_t i = 8; i < 16; i++)
        small &= dst[i] == (uint8_t)(lo < 0 ? 0xff : 0);
    int digits;
    if (small) {
        uint64_t mag = lo < 0 ? 0 - (uint64_t)lo : (uint64_t)lo;
        digits = 1;
        while (digits < 19 && mag >= pow10_u64[digits])
            digits++;
        if (digits == 19 && mag / 10 >= pow10_u64[18])
            digits = 20;
    } else {
        char text[48];
        size_t k = bs__pq_decimal_text(text, dst, 0);
        digits = (int)k - (text[0] == '-');
    }
    if (digits > c->precision && !(digits == 1 && lo == 0))
        return bs__error(BLOBSTORE_ECORRUPT,
                         "parquet: column \"%s\": a value has more digits than DECIMAL(%d,%d)",
                         c->name, c->precision, c->scale);
    return 0;
}

/* A FLOAT16 (IEEE 754 binary16, little endian) as a float: exact. */
static float half_to_float(const uint8_t *p)
{
    unsigned h = (unsigned)p[0] | (unsigned)p[1] << 8;
    unsigned sign = h >> 15, exp = (h >> 10) & 0x1f, frac = h & 0x3ff;
    float v;
    if (exp == 0)
        v = ldexpf((float)frac, -24); /* zero and subnormals */
    else if (exp == 31)
        v = frac ? NAN : INFINITY;
    else
        v = ldexpf((float)(frac | 0x400), (int)exp - 25);
    return sign ? -v : v;
}

/* A FIXED_LEN_BYTE_ARRAY value of a UUID, INTERVAL or FLOAT16 column:
 * UUID as its text (8-4-4-4-12 lowercase hex), INTERVAL (three little-endian
 * uint32: months, days, milliseconds) as DuckDB writes it ("1 year 2 months
 * 3 days 04:05:06.789"), FLOAT16 as a float. */
static int put_fixed(col_state *st, size_t row, const uint8_t *p, size_t n)
{
    pq_column *c = st->col;
    char text[96];
    size_t k = 0;
    if (c->type == PQ_FLOAT) {
        float f = half_to_float(p);
        memcpy((uint8_t *)c->values + row * 4, &f, 4);
        return 0;
    }
    if (n == 16) { /* UUID */
        static const char hex[] = "0123456789abcdef";
        for (size_t i = 0; i < 16; i++) {
            if (i == 4 || i == 6 || i == 8 || i == 10)
                text[k++] = '-';
            text[k++] = hex[p[i] >> 4];
            text[k++] = hex[p[i] & 15];
        }
    } else { /* INTERVAL */
        uint32_t months =
            (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
        uint32_t days =
            (uint32_t)p[4] | (uint32_t)p[5] << 8 | (uint32_t)p[6] << 16 | (uint32_t)p[7] << 24;
        uint32_t ms =
            (uint32_t)p[8] | (uint32_t)p[9] << 8 | (uint32_t)p[10] << 16 | (uint32_t)p[11] << 24;
        uint32_t years = months / 12;
        months %= 12;
        if (years)
            k += (size_t)snprintf(text + k, sizeof(text) - k, "%s%u year%s", k ? " " : "", years,
                                  years == 1 ? "" : "s");
        if (months)
            k += (size_t)snprintf(text + k, sizeof(text) - k, "%s%u month%s", k ? " " : "", months,
                                  months == 1 ? "" : "s");
        if (days)
            k += (size_t)snprintf(text + k, sizeof(text) - k, "%s%u day%s", k ? " " : "", days,
                                  days == 1 ? "" : "s");
        if (ms || !k) {
            k += (size_t)snprintf(text + k, sizeof(text) - k, "%s%02u:%02u:%02u", k ? " " : "",
                                  ms / 3600000u, ms / 60000u % 60u, ms / 1000u % 60u);
            if (ms % 1000u) {
                k += (size_t)snprintf(text + k, sizeof(text) - k, ".%03u", ms % 1000u);
                while (text[k - 1] == '0')
                    k--;
            }
        }
    }
    c->offsets[row] = st->bytes.len;
    return bs__buf_append(&st->bytes, text, k);
}

/* Store one PLAIN value (p, n) at row. utf8_checked: a string known to be
 * UTF-8 (a dictionary's values are checked once, when it is loaded). */
static int put_value(col_state *st, int pt, size_t row, const uint8_t *p, size_t n,
                     int utf8_checked)
{
    pq_column *c = st->col;
    size_t w = bs__pq_width(c->type);
    uint8_t *dst = w ? (uint8_t *)c->values + row * w : NULL;
    if (c->type == PQ_DECIMAL)
        return put_decimal(c, dst, p, n, pt == PT_INT32 || pt == PT_INT64);
    if (pt == PT_FIXED && c->type != PQ_BINARY)
        return put_fixed(st, row, p, n);
    if (pt == PT_BYTE_ARRAY || pt == PT_FIXED) {
        if (!utf8_checked && c->type == PQ_STRING && !utf8_ok(p, n))
            return bs__error(BLOBSTORE_ECORRUPT,
                             "parquet: column \"%s\": a STRING value is not valid UTF-8", c->name);
        c->offsets[row] = st->bytes.len;
        if (n == 0 || n > st->bytes.cap - st->bytes.len)
            return bs__buf_append(&st->bytes, p, n);
        memcpy(st->bytes.data + st->bytes.len, p, n);
        st->bytes.len += n;
        return 0;
    }
    if (pt == PT_INT96) { /* kept raw until the whole column is read */
        memcpy(st->i96 + row * 12, p, 12);
        return 0;
    }
    if (c->type >= PQ_TIME_MS && c->type <= PQ_TIME_NS) {
        int64_t v;
        if (pt == PT_INT32) {
            int32_t v32;
            memcpy(&v32, p, 4);
            v = v32;
        } else {
            memcpy(&v, p, 8);
        }
        int64_t day = c->type == PQ_TIME_MS   ? 86400000LL
                      : c->type == PQ_TIME_US ? 86400000000LL
                                              : 86400000000000LL;
        if (v < 0 || v > day)
            return bs__error(BLOBSTORE_ECORRUPT,
                             "parquet: column \"%s\": TIME value %lld is not a time of day",
                             c->name, (long long)v);
        memcpy(dst, &v, 8);
        return 0;
    }
    memcpy(dst, p, w); /* little endian: an INT32's low bytes for narrower types */
    return 0;
}

/* The unit of an INT96 column (nanoseconds of the day, then the Julian
 * day), once every value is known: nanoseconds since the epoch when they all
 * fit in an int64 (1677-09-21 to 2262-04-11), else microseconds when none
 * has a fraction of a microsecond (Spark writes 9999-12-31 as an "end of
 * time"), else refused: never a wrapped date. */
static int finish_int96(col_state *st, size_t n)
{
    pq_column *c = st->col;
    const int64_t day_ns = 86400000000000LL;
    int fits_ns = 1, fits_us = 1, whole_us = 1;
    for (size_t i = 0; i < n; i++) {
        if (c->valid && !c->valid[i])
            continue;
        int64_t nanos;
        int32_t julian;
        memcpy(&nanos, st->i96 + 12 * i, 8);
        memcpy(&julian, st->i96 + 12 * i + 8, 4);
        if (nanos < 0 || nanos >= day_ns)
            return bs__error(BLOBSTORE_ECORRUPT,
                             "parquet: column \"%s\": an INT96 timestamp's time of day is %lld ns",
                             c->name, (long long)nanos);
        /* Whether days * 86400e9 + nanos fits an int64 (and in us). */
        int64_t days = (int64_t)julian - 2440588;
        if (!((days > -106752 && days < 106751) || (days == -106752 && nanos >= 763145224192LL) ||
              (days == 106751 && nanos <= 85636854775807LL)))
            fits_ns = 0;
        if (days <= -106751991 || days >= 106751991)
            fits_us = 0;
        if (nanos % 1000)
            whole_us = 0;
    }
    if (!fits_ns && (!whole_us || !fits_us))
        return bs__error(BLOBSTORE_EUNSUPPORTED,
                         "parquet: column \"%s\": INT96 timestamps %s do not fit a 64-bit "
                         "timestamp",
                         c->name,
                         fits_us ? "with nanoseconds outside 1677-09-21..2262-04-11"
                                 : "beyond 292,000 years from 1970");
    c->type = fits_ns ? PQ_TIMESTAMP_NS : PQ_TIMESTAMP_US;
    int64_t *out = c->values;
    for (size_t i = 0; i < n; i++) {
        if (c->valid && !c->valid[i]) {
            out[i] = 0;
            continue;
        }
        int64_t nanos;
        int32_t julian;
        memcpy(&nanos, st->i96 + 12 * i, 8);
        memcpy(&julian, st->i96 + 12 * i + 8, 4);
        int64_t days = (int64_t)julian - 2440588;
        /* Before 1970, (days + 1) * day_ns first: days * day_ns alone
         * overflows on 1677-09-21, whose instants still fit. */
        if (fits_ns)
            out[i] = days < 0 ? (days + 1) * day_ns + (nanos - day_ns) : days * day_ns + nanos;
        else
            out[i] = days * 86400000000LL + nanos / 1000;
    }
    return 0;
}

static int load_dict(col_state *st, int pt, const uint8_t *p, size_t n, size_t count)
{
    free(st->dict);
    free(st->dict_off);
    st->dict = NULL;
    st->dict_off = NULL;
    size_t fw = phys_width(pt, st->s->type_length);
    if (count > (pt == PT_BOOLEAN ? n * 8 : pt == PT_BYTE_ARRAY ? n / 4 : fw ? n / fw : count))
        return corrupt("a dictionary page holds fewer values than its header says");
    st->dict = bs__malloc(n ? n : 1);
    st->dict_off = bs__calloc(count + 1, sizeof(size_t));
    if (!st->dict || !st->dict_off)
        return BLOBSTORE_ENOMEM;
    memcpy(st->dict, p, n);
    st->dict_len = n;
    st->dict_n = count;
    size_t pos = 0;
    for (size_t i = 0; i < count; i++) {
        st->dict_off[i] = pos;
        if (pt == PT_BYTE_ARRAY) {
            if (n - pos < 4)
                return corrupt("the dictionary is truncated");
            uint32_t len;
            memcpy(&len, p + pos, 4);
            if (len > n - pos - 4)
                return corrupt("the dictionary is truncated");
            if (st->col->type == PQ_STRING && !utf8_ok(p + pos + 4, len))
                return bs__error(BLOBSTORE_ECORRUPT,
                                 "parquet: column \"%s\": a STRING value is not valid UTF-8",
                                 st->col->name);
            pos += 4 + len;
        } else {
            size_t w = phys_width(pt, st->s->type_length);
            if (!w || n - pos < w)
                return corrupt("the dictionary is truncated");
            pos += w;
        }
    }
    st->dict_off[count] = pos;
    return 0;
}

/* ---- the DELTA and BYTE_STREAM_SPLIT encodings, turned into PLAIN ---- */

static int uvarint(const uint8_t *p, size_t len, size_t *pos, uint64_t *out)
{
    uint64_t v = 0;
    for (int s = 0; s < 64; s += 7) {
        if (*pos >= len)
            return -1;
        uint8_t b = p[(*pos)++];
        v |= (uint64_t)(b & 0x7f) << s;
        if (!(b & 0x80)) {
            *out = v;
            return 0;
        }
    }
    return -1;
}

/* DELTA_BINARY_PACKED: n values into out (int64); *used: bytes consumed. */
static int delta_binary(const uint8_t *p, size_t len, int64_t *out, size_t n, size_t *used)
{
    size_t pos = 0;
    uint64_t block, nmini, total, first;
    if (uvarint(p, len, &pos, &block) || uvarint(p, len, &pos, &nmini) ||
        uvarint(p, len, &pos, &total) || uvarint(p, len, &pos, &first))
        return corrupt("DELTA_BINARY_PACKED header is truncated");
    if (!block || !nmini || block % 128 || block % nmini || (block / nmini) % 32 || nmini > block ||
        total < n)
        return corrupt("DELTA_BINARY_PACKED header is invalid");
    uint64_t per_mini = block / nmini, v = (first >> 1) ^ -(first & 1);
    size_t k = 0;
    if (n)
        out[k++] = (int64_t)v;
    while (k < n) {
        uint64_t zz;
        if (uvarint(p, len, &pos, &zz) || nmini > len - pos)
            return corrupt("DELTA_BINARY_PACKED block is truncated");
        uint64_t min_delta = (zz >> 1) ^ -(zz & 1);
        const uint8_t *widths = p + pos;
        pos += nmini;
        for (uint64_t m = 0; m < nmini && k < n; m++) {
            int bw = widths[m];
            if (bw > 64)
                return corrupt("DELTA_BINARY_PACKED bit width above 64");
            size_t bytes = (size_t)(per_mini * (uint64_t)bw / 8);
            if (bytes > len - pos)
                return corrupt("DELTA_BINARY_PACKED miniblock is truncated");
            for (uint64_t i = 0; i < per_mini && k < n; i++) {
                uint64_t d = 0;
                for (int b = 0; b < bw; b++) {
                    size_t bit = (size_t)i * (size_t)bw + (size_t)b;
                    d |= (uint64_t)((p[pos + (bit >> 3)] >> (bit & 7)) & 1) << b;
                }
                v += min_delta + d; /* wraps like the writer's arithmetic */
                out[k++] = (int64_t)v;
            }
            pos += bytes;
        }
    }
    *used = pos;
    return 0;
}

/* Convert a page's values (of nvalues non-null values) to PLAIN in out. */
static int to_plain(int pt, int flen, int enc, const uint8_t *p, size_t len, size_t nvalues,
                    bs_buf *out)
{
    int rc = 0;
    if (enc == 3) { /* RLE booleans: a 4-byte length, then the hybrid at bit width 1 */
        uint32_t l;
        if (pt != PT_BOOLEAN)
            return bs__error(BLOBSTORE_EUNSUPPORTED, "parquet: RLE values of a non-boolean column");
        if (len < 4 || (memcpy(&l, p, 4), l > len - 4))
            return corrupt("RLE boolean data is truncated");
        uint32_t *bits = bs__malloc((nvalues ? nvalues : 1) * sizeof(uint32_t));
        if (!bits)
            return BLOBSTORE_ENOMEM;
        rc = bs__pq_rle_decode(p + 4, l, 1, bits, nvalues);
        out->len = 0;
        if (!rc && nvalues && !(rc = bs__buf_reserve(out, (nvalues + 7) / 8))) {
            memset(out->data, 0, (nvalues + 7) / 8);
            for (size_t i = 0; i < nvalues; i++)
                if (bits[i])
                    out->data[i >> 3] |= (uint8_t)(1u << (i & 7));
            out->len = (nvalues + 7) / 8;
        }
        free(bits);
        return rc;
    }
    if (enc == 9) { /* BYTE_STREAM_SPLIT */
        size_t w = phys_width(pt, flen);
        if (!w || nvalues > len / w)
            return corrupt("BYTE_STREAM_SPLIT data is truncated");
        if ((rc = bs__buf_reserve(out, nvalues * w)) != 0)
            return rc;
        for (size_t i = 0; i < nvalues; i++)
            for (size_t b = 0; b < w; b++)
                out->data[i * w + b] = p[b * nvalues + i];
        out->len = nvalues * w;
        return 0;
    }
    int64_t *ints = bs__malloc((nvalues ? nvalues : 1) * sizeof(int64_t));
    if (!ints)
        return BLOBSTORE_ENOMEM;
    size_t used = 0;
    if (enc == 5) { /* DELTA_BINARY_PACKED */
        if (pt != PT_INT32 && pt != PT_INT64)
            rc = corrupt("DELTA_BINARY_PACKED on a non-integer column");
        else
            rc = delta_binary(p, len, ints, nvalues, &used);
        for (size_t i = 0; !rc && i < nvalues; i++) {
            int32_t v32 = (int32_t)ints[i];
            rc = pt == PT_INT32 ? bs__buf_append(out, &v32, 4) : bs__buf_append(out, &ints[i], 8);
        }
    } else if (enc == 6 || enc == 7) { /* DELTA_LENGTH_BYTE_ARRAY, DELTA_BYTE_ARRAY */
        int64_t *prefix = NULL;
        size_t pos = 0;
        if (pt != PT_BYTE_ARRAY && !(pt == PT_FIXED && enc == 7))
            rc = corrupt("a byte-array encoding on another column type");
        if (!rc && enc == 7) {
            prefix = bs__malloc((nvalues ? nvalues : 1) * sizeof(int64_t));
            rc = prefix ? delta_binary(p, len, prefix, nvalues, &used) : BLOBSTORE_ENOMEM;
            pos = used;
        }
        if (!rc)
            rc = delta_binary(p + pos, len - pos, ints, nvalues, &used);
        pos += used;
        size_t prev_at = 0, prev_len = 0; /* the previous value, inside out */
        for (size_t i = 0; !rc && i < nvalues; i++) {
            int64_t pre = prefix ? prefix[i] : 0, suf = ints[i];
            if (suf < 0 || pre < 0 || (size_t)pre > prev_len || (uint64_t)suf > len - pos) {
                rc = corrupt("DELTA byte-array lengths are invalid");
                break;
            }
            uint32_t total = (uint32_t)(pre + suf);
            size_t at = out->len;
            /* Room first: the prefix is copied from this same buffer. */
            if ((rc = bs__buf_reserve(out, 4 + (size_t)total)) != 0)
                break;
            memcpy(out->data + at, &total, 4);
            memcpy(out->data + at + 4, out->data + prev_at, (size_t)pre);
            memcpy(out->data + at + 4 + pre, p + pos, (size_t)suf);
            out->len = at + 4 + (size_t)total;
            pos += (size_t)suf;
            prev_at = at + 4;
            prev_len = total;
        }
        free(prefix);
        if (!rc && pt == PT_FIXED) { /* fixed-length values: PLAIN has no lengths */
            size_t k = 0;
            for (size_t at = 0; at < out->len; at += 4 + (size_t)flen, k += (size_t)flen) {
                uint32_t l;
                memcpy(&l, out->data + at, 4);
                if (l != (uint32_t)flen) {
                    rc = corrupt("a DELTA_BYTE_ARRAY value differs from the fixed length");
                    break;
                }
                memmove(out->data + k, out->data + at + 4, (size_t)flen);
            }
            out->len = k;
        }
    } else {
        rc = bs__error(BLOBSTORE_EUNSUPPORTED, "parquet: %s encoding", encoding_name(enc));
    }
    free(ints);
    return rc;
}

/* How many of a page's values (at most nvalues) its encoded bytes can
 * hold: PLAIN by their sizes, the RLE hybrid by its run headers; nvalues
 * for the encodings whose own headers are checked as they are decoded. */
static size_t page_room(int pt, int flen, int enc, const uint8_t *p, size_t len, size_t nvalues)
{
    size_t w = phys_width(pt, flen), room = nvalues;
    if (enc == 0 && pt == PT_BOOLEAN)
        room = len > SIZE_MAX / 8 ? nvalues : len * 8;
    else if (enc == 0 && pt == PT_BYTE_ARRAY)
        room = len / 4;
    else if ((enc == 0 || enc == 9) && w)
        room = len / w;
    else if (enc == 2 || enc == 8)
        room = len >= 1 ? bs__pq_rle_count(p + 1, len - 1, p[0], nvalues) : 0;
    else if (enc == 3) {
        uint32_t l = 0;
        if (len >= 4)
            memcpy(&l, p, 4);
        room = len >= 4 ? bs__pq_rle_count(p + 4, l < len - 4 ? l : len - 4, 1, nvalues) : 0;
    } else if (enc == 5 || enc == 6 || enc == 7) {
        /* DELTA_BINARY_PACKED (the lengths first in the other two): its
         * header's count, and one value plus a block's worth for each
         * block the bytes have room for (a min delta and nmini widths). */
        size_t pos = 0;
        uint64_t block, nmini, total, first;
        if (uvarint(p, len, &pos, &block) || uvarint(p, len, &pos, &nmini) ||
            uvarint(p, len, &pos, &total) || uvarint(p, len, &pos, &first))
            return 0;
        uint64_t blocks = (uint64_t)(len - pos) / (nmini + 1 ? nmini + 1 : 1);
        uint64_t most =
            block && blocks > (UINT64_MAX - 1) / block ? UINT64_MAX : 1 + blocks * block;
        room = total < most ? (total < nvalues ? (size_t)total : nvalues)
                            : (most < nvalues ? (size_t)most : nvalues);
    }
    return room < nvalues ? room : nvalues;
}

/* Decode a data page's levels and values into rows [st->row, st->row + n). */
static int decode_values(col_state *st, int pt, int encoding, const uint8_t *defs_p,
                         size_t defs_len, int has_defs, const uint8_t *p, size_t len, size_t n)
{
    pq_column *c = st->col;
    uint32_t *def = NULL;
    int rc = 0;
    /* What the page header claims, checked against what its levels hold
     * before anything is sized from it. */
    if (has_defs && bs__pq_rle_count(defs_p, defs_len, 1, n) < n)
        return corrupt("a page's definition levels hold fewer values than its header says");
    if (has_defs) {
        if (!(def = bs__malloc(n * sizeof(uint32_t))))
            return BLOBSTORE_ENOMEM;
        if ((rc = bs__pq_rle_decode(defs_p, defs_len, 1, def, n)) != 0) {
            free(def);
            return rc;
        }
    }
    size_t nvalues = def ? 0 : n;
    for (size_t i = 0; def && i < n; i++)
        nvalues += def[i] != 0;
    /* An encoding not read is refused before anything is sized from the
     * page's count (page_room cannot check what it cannot decode). */
    if (!(encoding == 0 || encoding == 2 || encoding == 3 || (encoding >= 5 && encoding <= 9))) {
        free(def);
        return bs__error(BLOBSTORE_EUNSUPPORTED, "parquet: %s encoding (column \"%s\")",
                         encoding_name(encoding), c->name);
    }
    if (page_room(pt, st->s->type_length, encoding, p, len, nvalues) < nvalues) {
        free(def);
        return corrupt("a page's values are fewer than its header says");
    }
    /* A flat column's arrays grow with the pages read (a nested leaf's
     * were reserved with its levels). */
    if (!st->nested && (rc = col_reserve(st, st->row + n)) != 0) {
        free(def);
        return rc;
    }
    uint32_t *idx = NULL;
    bs_buf plain = {0};
    if (encoding == 3 || encoding == 5 || encoding == 6 || encoding == 7 || encoding == 9) {
        if ((rc = to_plain(pt, st->s->type_length, encoding, p, len, nvalues, &plain)) != 0) {
            free(def);
            bs__buf_free(&plain);
            if (rc == BLOBSTORE_EUNSUPPORTED || rc == BLOBSTORE_ENOMEM)
                return rc;
            return bs__error_wrap(rc, "column \"%s\"", c->name);
        }
        p = plain.data ? plain.data : (const uint8_t *)"";
        len = plain.len;
        encoding = 0;
    }
    if (encoding == 2 || encoding == 8) {
        if (!st->dict) {
            free(def);
            return corrupt("a dictionary-encoded page without a dictionary");
        }
        if (len < 1) {
            free(def);
            return corrupt("a dictionary page is empty");
        }
        idx = bs__malloc((nvalues ? nvalues : 1) * sizeof(uint32_t));
        if (!idx) {
            free(def);
            return BLOBSTORE_ENOMEM;
        }
        rc = bs__pq_rle_decode(p + 1, len - 1, p[0], idx, nvalues);
    } else if (encoding != 0) {
        free(def);
        return bs__error(BLOBSTORE_EUNSUPPORTED, "parquet: %s encoding (column \"%s\")",
                         encoding_name(encoding), c->name);
    }
    /* Fixed-width values kept as they are (no conversion or check of
     * their own): copied here rather than one put_value call each, in one
     * memcpy when the page has no nulls and the widths agree. */
    size_t fw = phys_width(pt, st->s->type_length), cw = bs__pq_width(c->type);
    if (!rc && (pt == PT_INT32 || pt == PT_INT64 || pt == PT_FLOAT || pt == PT_DOUBLE) &&
        c->type != PQ_DECIMAL && !(c->type >= PQ_TIME_MS && c->type <= PQ_TIME_NS) && cw &&
        cw <= fw) {
        uint8_t *dst = (uint8_t *)c->values + st->row * cw;
        if (!idx && len / fw < nvalues)
            rc = corrupt("a page is truncated");
        if (!rc && !def && !idx && cw == fw && n) {
            memcpy(dst, p, n * cw);
        } else if (!rc && !def) {
            for (size_t i = 0; i < n; i++) {
                uint32_t d = idx ? idx[i] : 0;
                if (idx && d >= st->dict_n) {
                    rc = corrupt("a dictionary index is out of range");
                    break;
                }
                memcpy(dst + i * cw, idx ? st->dict + (size_t)d * fw : p + i * fw, cw);
            }
        } else if (!rc) {
            for (size_t i = 0, k = 0; i < n; i++) {
                c->valid[st->row + i] = def[i] != 0;
                if (!def[i])
                    continue;
                uint32_t d = idx ? idx[k] : 0;
                if (idx && d >= st->dict_n) {
                    rc = corrupt("a dictionary index is out of range");
                    break;
                }
                memcpy(dst + i * cw, idx ? st->dict + (size_t)d * fw : p + k * fw, cw);
                k++;
            }
        }
        if (!rc && !def && c->valid && n)
            memset(c->valid + st->row, 1, n);
        st->row += n;
        free(def);
        free(idx);
        bs__buf_free(&plain);
        return rc;
    }
    size_t pos = 0, k = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        size_t row = st->row + i;
        if (def && !def[i]) {
            c->valid[row] = 0;
            if (c->offsets)
                c->offsets[row] = st->bytes.len;
            continue;
        }
        if (c->valid)
            c->valid[row] = 1;
        const uint8_t *vp;
        size_t vn;
        if (idx) {
            uint32_t d = idx[k++];
            if (d >= st->dict_n) {
                rc = corrupt("a dictionary index is out of range");
                break;
            }
            vp = st->dict + st->dict_off[d];
            vn = st->dict_off[d + 1] - st->dict_off[d];
            if (pt == PT_BYTE_ARRAY) {
                vp += 4;
                vn -= 4;
            }
        } else if (pt == PT_BOOLEAN) {
            if ((k >> 3) >= len) {
                rc = corrupt("a boolean page is truncated");
                break;
            }
            uint8_t b = (p[k >> 3] >> (k & 7)) & 1;
            k++;
            ((uint8_t *)c->values)[row] = b;
            continue;
        } else if (pt == PT_BYTE_ARRAY) {
            uint32_t l;
            if (len - pos < 4) {
                rc = corrupt("a page is truncated");
                break;
            }
            memcpy(&l, p + pos, 4);
            if (l > len - pos - 4) {
                rc = corrupt("a page is truncated");
                break;
            }
            vp = p + pos + 4;
            vn = l;
            pos += 4 + (size_t)l;
        } else {
            size_t w = phys_width(pt, st->s->type_length);
            if (len - pos < w) {
                rc = corrupt("a page is truncated");
                break;
            }
            vp = p + pos;
            vn = w;
            pos += w;
        }
        rc = put_value(st, pt, row, vp, vn, idx != NULL);
    }
    st->row += n;
    free(def);
    free(idx);
    bs__buf_free(&plain);
    return rc;
}

/* Read one column chunk's pages. */
static int read_chunk(col_state *st, const uint8_t *buf, size_t len, const chunk_meta *m,
                      size_t rows, int optional)
{
    int64_t start = m->dict_off > 0 && m->dict_off < m->data_off ? m->dict_off : m->data_off;
    if (start < 4 || (uint64_t)start >= len)
        return corrupt("a column chunk starts outside the file");
    size_t pos = (size_t)start, done = 0, lev0 = st->nlev;
    int rc = 0;
    /* A nested leaf: until the chunk's level entries are read (a row may
     * go on in the next page of a v1 chunk). */
    while (!rc && (st->nested ? st->nlev - lev0 < (size_t)m->num_values : done < rows)) {
        tc_reader r = {buf + pos, buf + len, 0};
        int16_t last = 0;
        int type = -1;
        int64_t usize = -1, csize = -1, nvals = 0, enc = 0, dl_len = 0, rl_len = 0, compressed = 1;
        int64_t lev_enc[2] = {3, 3}; /* a v1 page's repetition, definition level encodings */
        int has_crc = 0;
        uint32_t crc = 0;
        for (;;) {
            tc_fieldinfo f = bs__tc_next(&r, &last);
            if (r.bad || f.type == TC_STOP)
                break;
            if (f.id == 1)
                type = (int)bs__tc_read_int(&r);
            else if (f.id == 2)
                usize = bs__tc_read_int(&r);
            else if (f.id == 3)
                csize = bs__tc_read_int(&r);
            else if (f.id == 4 && f.type == TC_I32) {
                has_crc = 1;
                crc = (uint32_t)(int32_t)bs__tc_read_int(&r);
            } else if ((f.id == 5 || f.id == 7 || f.id == 8) && f.type == TC_STRUCT) {
                int16_t l2 = 0;
                for (;;) {
                    tc_fieldinfo g = bs__tc_next(&r, &l2);
                    if (r.bad || g.type == TC_STOP)
                        break;
                    if (g.id == 1)
                        nvals = bs__tc_read_int(&r);
                    else if (f.id != 8 && g.id == 2)
                        enc = bs__tc_read_int(&r);
                    else if (f.id == 5 && (g.id == 3 || g.id == 4))
                        lev_enc[g.id == 3] = bs__tc_read_int(&r);
                    else if (f.id == 8 && g.id == 4)
                        enc = bs__tc_read_int(&r);
                    else if (f.id == 8 && g.id == 5)
                        dl_len = bs__tc_read_int(&r);
                    else if (f.id == 8 && g.id == 6)
                        rl_len = bs__tc_read_int(&r);
                    else if (f.id == 8 && g.id == 7)
                        compressed = g.bval;
                    else
                        bs__tc_skip(&r, g.type, 1);
                }
            } else
                bs__tc_skip(&r, f.type, 0);
        }
        if (r.bad || usize < 0 || csize < 0 || usize > INT32_MAX ||
            (size_t)csize > (size_t)(r.end - r.p) || nvals < 0)
            return corrupt("a page header is damaged");
        const uint8_t *body = r.p;
        pos = (size_t)(body - buf) + (size_t)csize;
        /* The page's CRC-32 (of its bytes as stored, after the header),
         * when the writer gave one. */
        if (has_crc) {
            uLong sum = crc32(0L, Z_NULL, 0);
            size_t left = (size_t)csize;
            for (const uint8_t *q = body; left;) {
                uInt k = left > (1u << 30) ? (1u << 30) : (uInt)left;
                sum = crc32(sum, q, k);
                q += k;
                left -= k;
            }
            if ((uint32_t)sum != crc)
                return corrupt("a page's CRC does not match its bytes");
        }
        if (type == 1) /* index page */
            continue;
        if (type == 3) { /* data page v2: levels are not compressed */
            /* Repetition levels, then definition levels. A flat column's
             * repetition level is always 0, so whatever bytes a writer
             * gave them are skipped (as other readers do). */
            if (rl_len < 0 || dl_len < 0 || rl_len > csize || dl_len > csize - rl_len ||
                rl_len + dl_len > usize)
                return corrupt("a v2 page's level lengths are damaged");
            size_t lv = (size_t)(rl_len + dl_len);
            size_t vlen = (size_t)usize - lv;
            if (st->nested && (size_t)nvals > (size_t)m->num_values - (st->nlev - lev0))
                return corrupt("a page holds more values than its column chunk");
            uint8_t *vals = bs__malloc(vlen ? vlen : 1);
            if (!vals)
                return BLOBSTORE_ENOMEM;
            if (compressed)
                rc = decompress(m->codec, body + lv, (size_t)csize - lv, vals, vlen);
            else if ((size_t)csize - lv != vlen)
                rc = corrupt("a v2 page has the wrong size");
            else
                memcpy(vals, body + lv, vlen);
            if (st->nested) {
                size_t nr = 0;
                if (!rc)
                    rc = nested_page(st, m->type, (int)enc, body, (size_t)rl_len, body + rl_len,
                                     (size_t)dl_len, vals, vlen, (size_t)nvals, &nr);
                free(vals);
                done += nr;
                if (!rc && done > rows)
                    rc = corrupt("a page holds more rows than its row group");
                continue;
            }
            if (!rc && (size_t)nvals > rows - done)
                rc = corrupt("a page holds more values than its row group");
            if (!rc)
                rc = decode_values(st, m->type, (int)enc, body + rl_len, (size_t)dl_len, optional,
                                   vals, vlen, (size_t)nvals);
            free(vals);
            done += (size_t)nvals;
            continue;
        }
        /* Levels are read as the RLE hybrid: a v1 page whose levels are
         * BIT_PACKED (deprecated; parquet-mr names it for levels it does not
         * write, of maximum 0) is refused rather than misread. */
        if (type == 0 && ((lev_enc[0] == 4 && st->max_rep) ||
                          (lev_enc[1] == 4 && (st->nested ? st->max_def : optional))))
            return bs__error(BLOBSTORE_EUNSUPPORTED, "parquet: BIT_PACKED %s levels (deprecated)",
                             lev_enc[1] == 4 ? "definition" : "repetition");
        uint8_t *page = bs__malloc(usize ? (size_t)usize : 1);
        if (!page)
            return BLOBSTORE_ENOMEM;
        rc = decompress(m->codec, body, (size_t)csize, page, (size_t)usize);
        if (!rc && type == 2) {
            if (enc != 0 && enc != 2)
                rc = bs__error(BLOBSTORE_EUNSUPPORTED, "parquet: %s dictionary",
                               encoding_name((int)enc));
            else
                rc = load_dict(st, m->type, page, (size_t)usize, (size_t)nvals);
        } else if (!rc && type == 0 && st->nested) {
            /* v1: repetition levels, then definition levels, each with its
             * 4-byte length (absent when its maximum is 0), then values. */
            const uint8_t *lp[2] = {page, page};
            size_t ll[2] = {0, 0}, off = 0, nr = 0;
            int maxes[2] = {st->max_rep, st->max_def};
            for (int i = 0; i < 2 && !rc; i++) {
                uint32_t l;
                if (!maxes[i])
                    continue;
                if ((size_t)usize - off < 4) {
                    rc = corrupt("a page's levels are truncated");
                    break;
                }
                memcpy(&l, page + off, 4);
                if (l > (size_t)usize - off - 4) {
                    rc = corrupt("a page's levels are truncated");
                    break;
                }
                lp[i] = page + off + 4;
                ll[i] = l;
                off += 4 + (size_t)l;
            }
            if (!rc)
                rc = nested_page(st, m->type, (int)enc, lp[0], ll[0], lp[1], ll[1], page + off,
                                 (size_t)usize - off, (size_t)nvals, &nr);
            done += nr;
            if (!rc && done > rows)
                rc = corrupt("a page holds more rows than its row group");
        } else if (!rc && type == 0) {
            size_t off = 0, dlen = 0;
            if ((size_t)nvals > rows - done)
                rc = corrupt("a page holds more values than its row group");
            if (!rc && optional) {
                uint32_t l;
                if (usize < 4) {
                    rc = corrupt("a page's levels are truncated");
                } else {
                    memcpy(&l, page, 4);
                    if (l > (uint64_t)usize - 4)
                        rc = corrupt("a page's levels are truncated");
                    dlen = l;
                    off = 4 + (size_t)l;
                }
            }
            if (!rc)
                rc = decode_values(st, m->type, (int)enc, page + 4, dlen, optional, page + off,
                                   (size_t)usize - off, (size_t)nvals);
            done += (size_t)nvals;
        } else if (!rc) {
            rc = bs__error(BLOBSTORE_EUNSUPPORTED, "parquet: page type %d", type);
        }
        free(page);
    }
    if (!rc && st->nested && done != rows)
        rc = corrupt("a column chunk holds the wrong number of rows");
    if (!rc && st->nested && st->nlev > lev0 && st->rep[lev0] != 0)
        rc = corrupt("a column chunk starts inside a row");
    return rc;
}

static const char *logical_name(int id)
{
    static const char *names[] = {"?",       "STRING",  "MAP",      "LIST",      "ENUM",
                                  "DECIMAL", "DATE",    "TIME",     "TIMESTAMP", "?",
                                  "INTEGER", "NULL",    "JSON",     "BSON",      "UUID",
                                  "FLOAT16", "VARIANT", "GEOMETRY", "GEOGRAPHY"};
    return id >= 0 && id < (int)(sizeof(names) / sizeof(names[0])) ? names[id] : "?";
}

static const char *converted_name(int id)
{
    static const char *names[] = {"UTF8",
                                  "MAP",
                                  "MAP_KEY_VALUE",
                                  "LIST",
                                  "ENUM",
                                  "DECIMAL",
                                  "DATE",
                                  "TIME_MILLIS",
                                  "TIME_MICROS",
                                  "TIMESTAMP_MILLIS",
                                  "TIMESTAMP_MICROS",
                                  "UINT_8",
                                  "UINT_16",
                                  "UINT_32",
                                  "UINT_64",
                                  "INT_8",
                                  "INT_16",
                                  "INT_32",
                                  "INT_64",
                                  "JSON",
                                  "BSON",
                                  "INTERVAL"};
    return id >= 0 && id < (int)(sizeof(names) / sizeof(names[0])) ? names[id] : "?";
}

static const char *physical_name(int t)
{
    static const char *names[] = {"BOOLEAN", "INT32",  "INT64",      "INT96",
                                  "FLOAT",   "DOUBLE", "BYTE_ARRAY", "FIXED_LEN_BYTE_ARRAY"};
    return t >= 0 && t < 8 ? names[t] : "?";
}

/* The table type of a leaf schema element, after checking what the format
 * requires of it: ECORRUPT for a field out of range or an annotation the
 * physical type cannot carry, EUNSUPPORTED for what has no table type. */
static int column_type(const schema_el *s, pq_type *out, int *utc, int *precision, int *scale)
{
    const char *name = s->name ? s->name : "?";
    *utc = *precision = *scale = 0;
    if (!s->name)
        return corrupt("a schema element has no name");
    if (s->repetition < 0 || s->repetition > 2)
        return bs__error(BLOBSTORE_ECORRUPT, "parquet: column \"%s\": repetition type %d", name,
                         s->repetition);
    if (s->repetition == 2)
        return bs__error(BLOBSTORE_EUNSUPPORTED, "parquet: repeated (nested) column \"%s\"", name);
    if (s->type < 0 || s->type > PT_FIXED)
        return bs__error(BLOBSTORE_ECORRUPT, "parquet: column \"%s\": physical type %d", name,
                         s->type);
    if (s->converted < -1 || s->converted > 21)
        return bs__error(BLOBSTORE_ECORRUPT, "parquet: column \"%s\": converted type %d", name,
                         s->converted);
    /* The annotation: the logical type when there is one, else the
     * converted type, mapped to logical ids (INTEGER, TIME, TIMESTAMP with
     * their parameters). */
    int lt = s->logical, bits = s->int_bits, sign = s->int_signed, unit = s->ts_unit;
    int p = s->dec_precision, sc = s->dec_scale;
    const char *what = lt ? logical_name(lt) : "";
    if (!lt && s->converted >= 0) {
        static const signed char conv_lt[] = {1,  2,  2,  3,  4,  5,  6,  7,  7,  8,  8,
                                              10, 10, 10, 10, 10, 10, 10, 10, 12, 13, -1};
        static const signed char conv_bits[] = {8, 16, 32, 64, 8, 16, 32, 64};
        int c = s->converted;
        what = converted_name(c);
        lt = conv_lt[c];
        if (c >= 11 && c <= 18) {
            bits = conv_bits[c - 11];
            sign = c >= 15;
        }
        if (c == 7 || c == 9)
            unit = 1;
        else if (c == 8 || c == 10)
            unit = 2;
        *utc = c == 9 || c == 10; /* the legacy timestamps are UTC instants */
        p = s->precision;
        sc = s->scale;
    } else if (lt == 7 || lt == 8) {
        *utc = s->ts_utc;
    }
    if (lt == 11) /* NULL: every value is null; the physical type holds nothing */
        lt = 0;
    int ok = 0;
    switch (s->type) {
    case PT_BOOLEAN:
        ok = !lt;
        *out = PQ_BOOL;
        break;
    case PT_INT32:
        ok = 1;
        if (!lt)
            *out = PQ_INT32;
        else if (lt == 6)
            *out = PQ_DATE;
        else if (lt == 10 && (bits == 8 || bits == 16 || bits == 32))
            *out = bits == 8    ? (sign ? PQ_INT8 : PQ_UINT8)
                   : bits == 16 ? (sign ? PQ_INT16 : PQ_UINT16)
                                : (sign ? PQ_INT32 : PQ_UINT32);
        else if (lt == 7 && unit == 1)
            *out = PQ_TIME_MS;
        else if (lt == 5)
            *out = PQ_DECIMAL;
        else
            ok = 0;
        break;
    case PT_INT64:
        ok = 1;
        if (!lt || (lt == 10 && bits == 64 && sign))
            *out = PQ_INT64;
        else if (lt == 10 && bits == 64)
            *out = PQ_UINT64;
        else if (lt == 8 && unit >= 1 && unit <= 3)
            *out = unit == 1 ? PQ_TIMESTAMP_MS : unit == 2 ? PQ_TIMESTAMP_US : PQ_TIMESTAMP_NS;
        else if (lt == 7 && (unit == 2 || unit == 3))
            *out = unit == 2 ? PQ_TIME_US : PQ_TIME_NS;
        else if (lt == 5)
            *out = PQ_DECIMAL;
        else
            ok = 0;
        break;
    case PT_INT96: /* legacy timestamps (Impala, Spark): see finish_int96 */
        ok = !lt;
        *out = PQ_TIMESTAMP_NS;
        *utc = 0;
        break;
    case PT_FLOAT:
    case PT_DOUBLE:
        ok = !lt;
        *out = s->type == PT_FLOAT ? PQ_FLOAT : PQ_DOUBLE;
        break;
    case PT_BYTE_ARRAY:
        ok = 1;
        if (lt == 1 || lt == 4 || lt == 12) /* STRING, ENUM, JSON: UTF-8 text */
            *out = PQ_STRING;
        else if (lt == 5)
            *out = PQ_DECIMAL;
        else if (!lt || lt == 13 || lt > 15) /* BSON, and geometry and other bytes */
            *out = PQ_BINARY;
        else
            ok = 0;
        break;
    default: /* FIXED_LEN_BYTE_ARRAY */
        if (s->type_length <= 0)
            return bs__error(BLOBSTORE_ECORRUPT,
                             "parquet: column \"%s\": FIXED_LEN_BYTE_ARRAY of length %d", name,
                             s->type_length);
        ok = 1;
        if (lt == 5)
            *out = PQ_DECIMAL;
        else if (lt == 14 && s->type_length == 16) /* UUID: its text, as DuckDB gives it */
            *out = PQ_STRING;
        else if (lt == 15 && s->type_length == 2) /* FLOAT16: exact in a float32 */
            *out = PQ_FLOAT;
        else if (lt == -1 && s->converted == 21 && s->type_length == 12)
            *out = PQ_STRING; /* INTERVAL: its text, as DuckDB gives it */
        else if (!lt)
            *out = PQ_BINARY; /* fixed-size bytes */
        else if (lt == 14 || lt == 15 || lt == -1)
            return bs__error(BLOBSTORE_ECORRUPT,
                             "parquet: column \"%s\": %s on FIXED_LEN_BYTE_ARRAY(%d)", name, what,
                             s->type_length);
        else
            return bs__error(BLOBSTORE_EUNSUPPORTED,
                             "parquet: column \"%s\": FIXED_LEN_BYTE_ARRAY%s%s is not supported",
                             name, *what ? " " : "", what);
        break;
    }
    if (!ok) {
        if (lt < 0 || lt > 15)
            return bs__error(BLOBSTORE_EUNSUPPORTED, "parquet: column \"%s\": %s on %s", name,
                             *what ? what : "an unknown logical type", physical_name(s->type));
        return bs__error(BLOBSTORE_ECORRUPT, "parquet: column \"%s\": %s%s on %s", name,
                         *what ? what : "an unknown annotation",
                         lt == 10  ? " with this bit width"
                         : lt == 7 ? " with this unit"
                         : lt == 8 ? " without a unit"
                                   : "",
                         physical_name(s->type));
    }
    if (*out == PQ_DECIMAL) {
        if (p > BLOBSTORE_DECIMAL_MAX_PRECISION && s->type == PT_BYTE_ARRAY)
            return bs__error(BLOBSTORE_EUNSUPPORTED,
                             "parquet: column \"%s\": DECIMAL(%d,%d) has more than %d digits", name,
                             p, sc, BLOBSTORE_DECIMAL_MAX_PRECISION);
        /* (INT32 holds 9 digits and INT64 18; a larger precision is
         * allowed: put_decimal checks every value against it.) */
        if (p < 1 || p > BLOBSTORE_DECIMAL_MAX_PRECISION || sc < 0 || sc > p)
            return bs__error(BLOBSTORE_ECORRUPT, "parquet: column \"%s\": DECIMAL(%d,%d) on %s",
                             name, p, sc, physical_name(s->type));
        *precision = p;
        *scale = sc;
    }
    return 0;
}

/* ---- nested columns: the schema as a tree of nodes ---- */

/*
 * A node is what a column of the table becomes: a leaf (one Parquet
 * column), a STRUCT (a group), a LIST or a MAP. Levels (Dremel): a node's
 * item exists at a level entry whose repetition level is at most r and
 * whose definition level is at least d_slot; it is valid (not null) when
 * the definition level reaches d_valid. A LIST / MAP item has children
 * at the entries whose repetition level is at most r_item and whose
 * definition level reaches d_item (the repeated group present).
 */
struct pq_node {
    int kind; /* PQ_LIST, PQ_STRUCT, PQ_MAP; -1: a leaf */
    const char *name;
    const schema_el *s; /* the element: a leaf's column */
    int d_slot, d_valid, r, d_item, r_item;
    size_t leaf, nleaves; /* the leaves under it: [leaf, leaf + nleaves) */
    size_t nchild;
    pq_node *child;
};

/* Frees n[0 .. count) (their children) and n itself. */
static void nodes_free(pq_node *n, size_t count)
{
    for (size_t i = 0; n && i < count; i++)
        nodes_free(n[i].child, n[i].nchild);
    free(n);
}

/* The node of schema element *k (then past its subtree): it has an item
 * where the definition level reaches d_slot (a struct's fields have an item
 * for each of the struct's, null when the struct is); d_base: the
 * definition level of its parent being present. as_item: the element is a
 * list's repeated field taken as the item itself (required). */
static int build_node(footer *ft, size_t *k, pq_node *nd, const char *name, int d_slot, int d_base,
                      int r, int as_item, int depth, const char *top)
{
    if (*k >= ft->nschema)
        return corrupt("the schema's children counts overrun it");
    const schema_el *s = &ft->schema[*k];
    memset(nd, 0, sizeof(*nd));
    nd->kind = -1;
    nd->s = s;
    nd->name = name ? name : s->name;
    nd->d_slot = d_slot;
    nd->r = r;
    nd->leaf = ft->nleaves;
    if (!s->name)
        return corrupt("a schema element has no name");
    if (s->repetition < 0 || s->repetition > 2)
        return bs__error(BLOBSTORE_ECORRUPT, "parquet: column \"%s\": repetition type %d", s->name,
                         s->repetition);
    if (depth > 32 || d_base > 200 || r > 200)
        return bs__error(BLOBSTORE_EUNSUPPORTED,
                         "parquet: column `%s`: nested more than 32 levels deep is not supported",
                         top);
    int rc = 0;
    if (s->repetition == 2 && !as_item) {
        /* A repeated field without a LIST annotation: a required list of
         * it (LogicalTypes.md, backward-compatibility rules). */
        nd->kind = PQ_LIST;
        nd->d_valid = d_base;
        nd->d_item = d_base + 1;
        nd->r_item = r + 1;
        if (!(nd->child = bs__calloc(1, sizeof(pq_node))))
            return BLOBSTORE_ENOMEM;
        nd->nchild = 1;
        rc = build_node(ft, k, nd->child, "element", nd->d_item, nd->d_item, nd->r_item, 1,
                        depth + 1, top);
        nd->nleaves = ft->nleaves - nd->leaf;
        return rc;
    }
    nd->d_valid = d_base + (s->repetition == 1 && !as_item);
    if (s->num_children <= 0) {
        if (s->num_children < 0)
            return corrupt("a schema element has a negative number of children");
        schema_el flat = *s;
        flat.repetition = flat.repetition == 2 ? 0 : flat.repetition;
        pq_type t;
        int utc, prec, scale;
        if ((rc = column_type(&flat, &t, &utc, &prec, &scale)) != 0)
            return rc;
        if (ft->nleaves >= ft->ncols)
            return corrupt("the schema has more leaves than the row groups have columns");
        ft->leaf_node[ft->nleaves++] = nd;
        nd->nleaves = 1;
        (*k)++;
        return 0;
    }
    int list = s->logical == 3 || s->converted == 3;
    int map = s->logical == 2 || s->converted == 1 || (s->converted == 2 && s->repetition != 2);
    if (list || map) {
        const schema_el *g = *k + 1 < ft->nschema ? &ft->schema[*k + 1] : NULL;
        if (s->num_children != 1 || !g || g->repetition != 2 || (map && g->num_children != 2))
            return bs__error(BLOBSTORE_EUNSUPPORTED,
                             "parquet: column `%s`: a %s annotation on `%s`, which is not a "
                             "group of one repeated %s, is not supported",
                             top, list ? "LIST" : "MAP", s->name,
                             list ? "field" : "group of a key and a value");
        nd->kind = list ? PQ_LIST : PQ_MAP;
        nd->d_item = nd->d_valid + 1;
        nd->r_item = r + 1;
        if (!(nd->child = bs__calloc(1, sizeof(pq_node))))
            return BLOBSTORE_ENOMEM;
        nd->nchild = 1;
        (*k)++; /* the repeated field */
        size_t nl = strlen(s->name);
        if (map) {
            rc = build_node(ft, k, nd->child, "entries", nd->d_item, nd->d_item, nd->r_item, 1,
                            depth + 1, top);
            if (!rc && nd->child->kind == PQ_STRUCT && nd->child->nchild == 2) {
                nd->child->child[0].name = "key";
                nd->child->child[1].name = "value";
            }
        } else if (g->num_children != 1 || strcmp(g->name, "array") == 0 ||
                   (strncmp(g->name, s->name, nl) == 0 && strcmp(g->name + nl, "_tuple") == 0)) {
            /* 2-level (legacy): the repeated field is the element. */
            rc = build_node(ft, k, nd->child, "element", nd->d_item, nd->d_item, nd->r_item, 1,
                            depth + 1, top);
        } else {
            /* 3-level: the repeated group's one field is the element. */
            (*k)++;
            rc = build_node(ft, k, nd->child, "element", nd->d_item, nd->d_item, nd->r_item, 0,
                            depth + 1, top);
        }
        nd->nleaves = ft->nleaves - nd->leaf;
        return rc;
    }
    nd->kind = PQ_STRUCT;
    if ((size_t)s->num_children >= ft->nschema - *k)
        return corrupt("the schema's children counts overrun it");
    if (!(nd->child = bs__calloc((size_t)s->num_children, sizeof(pq_node))))
        return BLOBSTORE_ENOMEM;
    nd->nchild = (size_t)s->num_children;
    (*k)++;
    for (size_t i = 0; i < nd->nchild && !rc; i++)
        rc = build_node(ft, k, &nd->child[i], NULL, d_slot, nd->d_valid, r, 0, depth + 1, top);
    nd->nleaves = ft->nleaves - nd->leaf;
    return rc;
}

/* The tree of every top-level column (ft->top), each leaf's node. */
static int build_tree(footer *ft)
{
    if (ft->schema[0].num_children < 0 || (size_t)ft->schema[0].num_children >= ft->nschema)
        return corrupt("the schema's children counts do not make one tree");
    ft->ntop = (size_t)ft->schema[0].num_children;
    if (!(ft->top = bs__calloc(ft->ntop ? ft->ntop : 1, sizeof(pq_node))) ||
        !(ft->leaf_node = bs__calloc(ft->ncols ? ft->ncols : 1, sizeof(pq_node *))))
        return BLOBSTORE_ENOMEM;
    size_t k = 1;
    int rc = 0;
    for (size_t i = 0; i < ft->ntop && !rc; i++) {
        const char *top = k < ft->nschema && ft->schema[k].name ? ft->schema[k].name : "?";
        rc = build_node(ft, &k, &ft->top[i], NULL, 0, 0, 0, 0, 0, top);
    }
    if (!rc && (k != ft->nschema || ft->nleaves != ft->ncols))
        rc = corrupt("the schema's leaves differ from the row groups' columns");
    return rc;
}

int bs__pq_read(pq_table *out, const uint8_t *buf, size_t len, const char *const *names,
                size_t nnames)
{
    return bs__pq_read_ranged(out, buf, len, names, nnames, NULL, NULL);
}

/* The footer of the file buf[0, len), fetched through fetch if given, with
 * every column's schema checked: put and get refuse the same files. */
static int open_footer(footer *ft, const uint8_t *buf, size_t len, pq_fetch_fn fetch, void *ctx)
{
    memset(ft, 0, sizeof(*ft));
    int rc;
    if (fetch && len >= 12 && ((rc = fetch(ctx, 0, 4)) != 0 || (rc = fetch(ctx, len - 8, 8)) != 0))
        return rc;
    if (len >= 12 && memcmp(buf, "PARE", 4) == 0 && memcmp(buf + len - 4, "PARE", 4) == 0)
        return encrypted("an encrypted footer: PARE magic");
    if (len < 12 || memcmp(buf, "PAR1", 4) != 0 || memcmp(buf + len - 4, "PAR1", 4) != 0)
        return corrupt("not a Parquet file (no PAR1 magic)");
    uint32_t flen;
    memcpy(&flen, buf + len - 8, 4);
    if (flen > len - 12)
        return corrupt("the footer length is damaged");
    if (fetch && (rc = fetch(ctx, len - 8 - flen, flen)) != 0)
        return rc;
    rc = parse_footer(ft, buf + len - 8 - flen, flen);
    if (!rc && ft->num_rows < 0)
        rc = corrupt("the row count is negative");
    size_t total = 0;
    for (size_t g = 0; !rc && g < ft->ngroups; g++)
        total += ft->group_rows[g];
    if (!rc && total != (size_t)ft->num_rows)
        rc = corrupt("the row groups do not add up to the row count");
    /* Every column's schema is checked, read or not: get refuses what put
     * refused, whatever columns it reads. */
    if (!rc)
        rc = build_tree(ft);
    if (rc)
        footer_free(ft);
    return rc;
}

/* The byte range of column chunk m, [at, *end): checked to lie in the file
 * and fetched when the file is remote; nothing past it is read either way,
 * so that what a whole-file read (put) accepts, a ranged read (get) reads. */
/* The chunk ranges a read fetched, to be released after it (room for
 * every chunk it may fetch is made first). */
typedef struct {
    uint64_t (*r)[2];
    size_t n;
} pq_fetched;

static int chunk_range(const chunk_meta *m, size_t len, pq_fetch_fn fetch, void *ctx, size_t *end,
                       pq_fetched *done)
{
    int64_t at = m->dict_off > 0 && m->dict_off < m->data_off ? m->dict_off : m->data_off;
    if (at < 4 || m->total_compressed <= 0 || (uint64_t)at > len ||
        (uint64_t)m->total_compressed > len - (uint64_t)at)
        return corrupt("a column chunk's declared byte range lies outside the file");
    int rc = fetch ? fetch(ctx, (uint64_t)at, (uint64_t)m->total_compressed) : 0;
    if (!rc && fetch && done) {
        done->r[done->n][0] = (uint64_t)at;
        done->r[done->n++][1] = (uint64_t)m->total_compressed;
    }
    *end = (size_t)at + (size_t)m->total_compressed;
    return rc;
}

/* Leaf j of a nested column, row groups [g0, g1): its levels and its
 * values (dense) into st (st->col allocated here). */
static int read_leaf(col_state *st, const footer *ft, const uint8_t *buf, size_t len, size_t j,
                     size_t g0, size_t g1, pq_fetch_fn fetch, void *ctx, pq_fetched *done)
{
    const pq_node *ln = ft->leaf_node[j];
    const schema_el *s = ln->s;
    memset(st, 0, sizeof(*st));
    pq_column *c = bs__calloc(1, sizeof(pq_column));
    if (!c)
        return BLOBSTORE_ENOMEM;
    st->col = c;
    st->s = s;
    st->nested = 1;
    st->max_def = ln->d_valid;
    st->max_rep = ln->r;
    schema_el flat = *s;
    flat.repetition = flat.repetition == 2 ? 0 : flat.repetition;
    int rc = column_type(&flat, &c->type, &c->utc, &c->precision, &c->scale);
    if (rc)
        return rc;
    if (!(c->name = bs__strdup(s->name)))
        return BLOBSTORE_ENOMEM;
    size_t cap = 0;
    for (size_t g = g0; g < g1; g++) {
        int64_t nv = ft->chunks[g * ft->ncols + j].num_values;
        if (nv < 0 || (uint64_t)nv > SIZE_MAX / 32 - cap)
            return corrupt("a column chunk's value count is damaged");
        cap += (size_t)nv;
    }
    st->limit = cap;
    size_t w = bs__pq_width(c->type);
    if (s->type == PT_INT96 && !(st->i96 = bs__malloc(12)))
        return BLOBSTORE_ENOMEM;
    if ((rc = col_reserve(st, 1)) != 0) /* (the arrays exist, if empty) */
        return rc;
    for (size_t g = g0; g < g1 && !rc; g++) {
        const chunk_meta *m = &ft->chunks[g * ft->ncols + j];
        size_t end;
        if (m->type != s->type)
            rc = corrupt("a column chunk's type differs from the schema");
        else if (ft->group_rows[g] == 0) /* no rows: no pages to read */
            continue;
        else if ((rc = chunk_range(m, len, fetch, ctx, &end, done)) == 0)
            rc = read_chunk(st, buf, end, m, ft->group_rows[g], 0);
        free(st->dict);
        free(st->dict_off);
        st->dict = NULL;
        st->dict_off = NULL;
    }
    if (!rc && !w) {
        c->offsets[st->row] = st->bytes.len;
        c->bytes = st->bytes.data ? st->bytes.data : bs__malloc(1);
        st->bytes.data = NULL;
        if (!c->bytes)
            rc = BLOBSTORE_ENOMEM;
    }
    if (!rc && st->i96)
        rc = finish_int96(st, st->row);
    return rc;
}

static void leaf_free(col_state *st)
{
    if (st->col) {
        bs__pq_column_free(st->col);
        free(st->col);
    }
    bs__buf_free(&st->bytes);
    free(st->i96);
    free(st->dict);
    free(st->dict_off);
    free(st->rep);
    free(st->def);
    memset(st, 0, sizeof(*st));
}

/* The column of node nd from its leaves' levels and values (lv[i]: leaf
 * base + i), its items at the entries where the definition level reaches
 * d_slot; *count: how many. */
static int assemble(const pq_node *nd, int d_slot, col_state *lv, size_t base, pq_column *out,
                    size_t *count)
{
    const col_state *L = &lv[nd->leaf - base];
    size_t n = 0;
    for (size_t e = 0; e < L->nlev; e++)
        n += L->rep[e] <= nd->r && L->def[e] >= d_slot;
    *count = n;
    if (!(out->name = bs__strdup(nd->name)))
        return BLOBSTORE_ENOMEM;
    out->nullable = nd->d_valid > d_slot;
    if (out->nullable && !(out->valid = bs__calloc(n ? n : 1, 1)))
        return BLOBSTORE_ENOMEM;
    if (nd->kind < 0) {
        const pq_column *dc = L->col;
        out->type = dc->type;
        out->utc = dc->utc;
        out->precision = dc->precision;
        out->scale = dc->scale;
        size_t w = bs__pq_width(dc->type), bytes, i = 0, vi = 0;
        if (w ? bs__mul_overflow(&bytes, n ? n : 1, w) || !(out->values = bs__calloc(1, bytes))
              : !(out->offsets = bs__calloc(n + 1, sizeof(uint64_t))))
            return BLOBSTORE_ENOMEM;
        bs_buf b = {0};
        int rc = 0;
        for (size_t e = 0; e < L->nlev && !rc; e++) {
            if (!(L->rep[e] <= nd->r && L->def[e] >= d_slot))
                continue;
            int ok = L->def[e] >= nd->d_valid;
            if (out->valid)
                out->valid[i] = (uint8_t)ok;
            if (!w)
                out->offsets[i] = b.len;
            if (ok && vi >= L->row) {
                rc = corrupt("a nested column has fewer values than its levels say");
                break;
            }
            if (ok && w)
                memcpy((uint8_t *)out->values + i * w, (const uint8_t *)dc->values + vi * w, w);
            else if (ok)
                rc = bs__buf_append(&b, dc->bytes + dc->offsets[vi],
                                    (size_t)(dc->offsets[vi + 1] - dc->offsets[vi]));
            vi += ok;
            i++;
        }
        if (!w) {
            out->offsets[n] = b.len;
            out->bytes = b.data ? b.data : bs__malloc(1);
            if (!out->bytes && !rc)
                rc = BLOBSTORE_ENOMEM;
        }
        return rc;
    }
    out->type = (pq_type)nd->kind;
    if (!(out->children = bs__calloc(nd->nchild, sizeof(pq_column))))
        return BLOBSTORE_ENOMEM;
    out->nchildren = nd->nchild;
    size_t want = n;
    if (nd->kind != PQ_STRUCT) {
        if (!(out->offsets = bs__calloc(n + 1, sizeof(uint64_t))))
            return BLOBSTORE_ENOMEM;
        size_t i = 0, items = 0;
        for (size_t e = 0; e < L->nlev; e++) {
            if (L->rep[e] <= nd->r && L->def[e] >= d_slot) {
                if (out->valid)
                    out->valid[i] = L->def[e] >= nd->d_valid;
                out->offsets[i++] = items;
            }
            if (L->rep[e] <= nd->r_item && L->def[e] >= nd->d_item) {
                if (!i)
                    return corrupt("a nested column's levels start inside a list");
                items++;
            }
        }
        out->offsets[n] = items;
        want = items;
    } else if (out->valid) {
        size_t i = 0;
        for (size_t e = 0; e < L->nlev; e++)
            if (L->rep[e] <= nd->r && L->def[e] >= d_slot)
                out->valid[i++] = L->def[e] >= nd->d_valid;
    }
    for (size_t c = 0; c < nd->nchild; c++) {
        size_t got;
        int rc = assemble(&nd->child[c], nd->child[c].d_slot, lv, base, &out->children[c], &got);
        if (rc)
            return rc;
        if (got != want)
            return corrupt("a nested column's leaves disagree on its shape");
    }
    return 0;
}

/* A selected column: a node, and the definition level at which it has an
 * item per row (0; a dotted path's node through structs: 0 too, its
 * ancestors' nulls making it null). */
typedef struct {
    const pq_node *node;
    char *name; /* the output name (a dotted path), or NULL: the node's */
} pq_sel;

static int read_groups_(pq_table *out, const footer *ft, const uint8_t *buf, size_t len,
                        const pq_sel *sel, size_t nsel, size_t g0, size_t g1, pq_fetch_fn fetch,
                        void *ctx, pq_fetched *done);

/* Columns sel[0..nsel) of row groups [g0, g1) of ft into out (out->cols
 * allocated by the caller, out->ncols 0); with release, every chunk range
 * fetched is released once the groups are decoded (or the read failed). */
static int read_groups(pq_table *out, const footer *ft, const uint8_t *buf, size_t len,
                       const pq_sel *sel, size_t nsel, size_t g0, size_t g1, pq_fetch_fn fetch,
                       pq_release_fn release, void *ctx)
{
    pq_fetched done = {NULL, 0};
    if (fetch && release) {
        size_t leaves = 0;
        for (size_t i = 0; i < nsel; i++)
            leaves += sel[i].node->nleaves;
        if (leaves && g1 > g0 &&
            !(done.r = bs__malloc((g1 - g0) * leaves * sizeof(*done.r)))) /* (< the footer) */
            return BLOBSTORE_ENOMEM;
    }
    int rc = read_groups_(out, ft, buf, len, sel, nsel, g0, g1, fetch, ctx, done.r ? &done : NULL);
    for (size_t i = 0; i < done.n; i++)
        release(ctx, done.r[i][0], done.r[i][1]);
    free(done.r);
    return rc;
}

static int read_groups_(pq_table *out, const footer *ft, const uint8_t *buf, size_t len,
                        const pq_sel *sel, size_t nsel, size_t g0, size_t g1, pq_fetch_fn fetch,
                        void *ctx, pq_fetched *done)
{
    int rc = 0;
    out->nrows = 0;
    for (size_t g = g0; g < g1; g++)
        out->nrows += ft->group_rows[g];
    for (size_t i = 0; i < nsel && !rc; i++) {
        const pq_node *nd = sel[i].node;
        pq_column *c = &out->cols[out->ncols++];
        if (nd->kind >= 0 || nd->r > 0 || nd->d_valid > 1 || sel[i].name) {
            /* Nested: every leaf under the node, then the column from them. */
            col_state *lv = bs__calloc(nd->nleaves, sizeof(col_state));
            if (!lv) {
                rc = BLOBSTORE_ENOMEM;
                break;
            }
            for (size_t j = 0; j < nd->nleaves && !rc; j++)
                rc = read_leaf(&lv[j], ft, buf, len, nd->leaf + j, g0, g1, fetch, ctx, done);
            size_t n = 0;
            if (!rc)
                rc = assemble(nd, 0, lv, nd->leaf, c, &n);
            if (!rc && n != out->nrows)
                rc = corrupt("a nested column holds the wrong number of rows");
            if (!rc && sel[i].name) {
                free(c->name);
                if (!(c->name = bs__strdup(sel[i].name)))
                    rc = BLOBSTORE_ENOMEM;
            }
            for (size_t j = 0; j < nd->nleaves; j++)
                leaf_free(&lv[j]);
            free(lv);
            if (rc)
                bs__error_wrap(rc, "column \"%s\"", sel[i].name ? sel[i].name : nd->name);
            continue;
        }
        const schema_el *s = nd->s;
        size_t leaf = nd->leaf;
        if (!(c->name = bs__strdup(s->name))) {
            rc = BLOBSTORE_ENOMEM;
            break;
        }
        if ((rc = column_type(s, &c->type, &c->utc, &c->precision, &c->scale)) != 0)
            break;
        c->nullable = s->repetition == 1;
        /* The arrays grow as pages are read (col_reserve): the row count
         * the footer claims sizes nothing, so a small file claiming
         * billions of rows is refused as damaged, not allocated for. */
        size_t n = out->nrows, w = bs__pq_width(c->type);
        col_state st;
        memset(&st, 0, sizeof(st));
        st.col = c;
        st.s = s;
        if (s->type == PT_INT96 && !(st.i96 = bs__malloc(12)))
            rc = BLOBSTORE_ENOMEM;
        if (!rc)
            rc = col_reserve(&st, 1); /* (the arrays exist, if empty) */
        for (size_t g = g0; g < g1 && !rc; g++) {
            const chunk_meta *m = &ft->chunks[g * ft->ncols + leaf];
            if (m->type != s->type) {
                rc = corrupt("a column chunk's type differs from the schema");
                break;
            }
            if (ft->group_rows[g] == 0) /* no rows: no pages to read */
                continue;
            size_t before = st.row, end;
            if ((rc = chunk_range(m, len, fetch, ctx, &end, done)) != 0)
                break;
            rc = read_chunk(&st, buf, end, m, ft->group_rows[g], c->nullable);
            if (!rc && st.row != before + ft->group_rows[g])
                rc = corrupt("a column chunk holds the wrong number of rows");
            free(st.dict);
            free(st.dict_off);
            st.dict = NULL;
            st.dict_off = NULL;
        }
        if (!rc && !w) {
            c->offsets[n] = st.bytes.len;
            c->bytes = st.bytes.data ? st.bytes.data : bs__malloc(1);
            st.bytes.data = NULL;
        }
        if (!rc && st.i96)
            rc = finish_int96(&st, n);
        bs__buf_free(&st.bytes);
        free(st.i96);
        if (rc)
            bs__error_wrap(rc, "column \"%s\"", c->name);
    }
    return rc;
}

/* The column a name selects: a top-level column's name, else a dotted
 * path through structs ("s.a.b"). */
static const pq_node *find_column(const footer *ft, const char *name)
{
    for (size_t k = 0; k < ft->ntop; k++)
        if (strcmp(ft->top[k].name, name) == 0)
            return &ft->top[k];
    const pq_node *at = NULL;
    size_t n = ft->ntop;
    const pq_node *kids = ft->top;
    const char *p = name;
    for (;;) {
        const char *dot = strchr(p, '.');
        size_t l = dot ? (size_t)(dot - p) : strlen(p);
        at = NULL;
        for (size_t k = 0; k < n && !at; k++)
            if (strlen(kids[k].name) == l && memcmp(kids[k].name, p, l) == 0)
                at = &kids[k];
        if (!at || !dot)
            return at;
        if (at->kind != PQ_STRUCT)
            return NULL;
        kids = at->child;
        n = at->nchild;
        p = dot + 1;
    }
}

struct pq_groups {
    footer ft;
    pq_sel *sel;
    size_t nsel;
    const uint8_t *buf;
    size_t len;
    pq_fetch_fn fetch;
    pq_release_fn release;
    void *ctx;
};

void bs__pq_groups_close(pq_groups *g)
{
    if (!g)
        return;
    for (size_t i = 0; i < g->nsel; i++)
        free(g->sel[i].name);
    free(g->sel);
    footer_free(&g->ft);
    free(g);
}

int bs__pq_groups_open(pq_groups **out, const uint8_t *buf, size_t len, const char *const *names,
                       size_t nnames, pq_fetch_fn fetch, pq_release_fn release, void *ctx)
{
    *out = NULL;
    pq_groups *g = bs__calloc(1, sizeof(*g));
    if (!g)
        return BLOBSTORE_ENOMEM;
    int rc = open_footer(&g->ft, buf, len, fetch, ctx);
    if (rc) {
        free(g);
        return rc;
    }
    g->buf = buf;
    g->len = len;
    g->fetch = fetch;
    g->release = release;
    g->ctx = ctx;
    /* Which columns. */
    size_t cnt = names ? nnames : g->ft.ntop;
    if (!(g->sel = bs__calloc(cnt ? cnt : 1, sizeof(pq_sel))))
        rc = BLOBSTORE_ENOMEM;
    for (size_t i = 0; i < cnt && !rc; i++) {
        if (!names) {
            g->sel[g->nsel++].node = &g->ft.top[i];
            continue;
        }
        const pq_node *nd = find_column(&g->ft, names[i]);
        if (!nd) {
            rc = bs__error(BLOBSTORE_EINVAL, "parquet: no column \"%s\"", names[i]);
            break;
        }
        g->sel[g->nsel].node = nd;
        if (strcmp(nd->name, names[i]) != 0 && !(g->sel[g->nsel].name = bs__strdup(names[i])))
            rc = BLOBSTORE_ENOMEM;
        g->nsel++;
    }
    if (rc) {
        bs__pq_groups_close(g);
        return rc;
    }
    *out = g;
    return 0;
}

size_t bs__pq_groups_count(const pq_groups *g)
{
    return g->ft.ngroups;
}

int bs__pq_groups_read(const pq_groups *g, size_t g0, size_t g1, pq_table *out)
{
    memset(out, 0, sizeof(*out));
    out->cols = bs__calloc(g->nsel ? g->nsel : 1, sizeof(pq_column));
    int rc = out->cols ? read_groups(out, &g->ft, g->buf, g->len, g->sel, g->nsel, g0, g1, g->fetch,
                                     g->release, g->ctx)
                       : BLOBSTORE_ENOMEM;
    if (rc)
        bs__pq_table_free(out);
    return rc;
}

int bs__pq_read_ranged(pq_table *out, const uint8_t *buf, size_t len, const char *const *names,
                       size_t nnames, pq_fetch_fn fetch, void *ctx)
{
    memset(out, 0, sizeof(*out));
    pq_groups *g;
    int rc = bs__pq_groups_open(&g, buf, len, names, nnames, fetch, NULL, ctx);
    if (rc)
        return rc;
    rc = bs__pq_groups_read(g, 0, g->ft.ngroups, out);
    bs__pq_groups_close(g);
    return rc;
}

/* A column without its data (names, types, nullability; children too). */
static void strip_data(pq_column *c)
{
    free(c->values);
    free(c->offsets);
    free(c->bytes);
    free(c->valid);
    c->values = NULL;
    c->offsets = NULL;
    c->bytes = NULL;
    c->valid = NULL;
    for (size_t i = 0; c->children && i < c->nchildren; i++)
        strip_data(&c->children[i]);
}

int bs__pq_check_ranged(pq_table *schema, const uint8_t *buf, size_t len, pq_fetch_fn fetch,
                        pq_release_fn release, void *ctx)
{
    memset(schema, 0, sizeof(*schema));
    footer ft;
    int rc = open_footer(&ft, buf, len, fetch, ctx);
    if (rc)
        return rc;
    pq_sel *sel = bs__calloc(ft.ntop ? ft.ntop : 1, sizeof(pq_sel));
    if (!sel) {
        footer_free(&ft);
        return BLOBSTORE_ENOMEM;
    }
    for (size_t k = 0; k < ft.ntop; k++)
        sel[k].node = &ft.top[k];
    /* One row group at a time (with no row groups: the columns alone). */
    for (size_t g = 0; !rc && (g < ft.ngroups || (g == 0 && ft.ngroups == 0)); g++) {
        pq_table t;
        memset(&t, 0, sizeof(t));
        size_t g1 = ft.ngroups ? g + 1 : 0;
        if (!(t.cols = bs__calloc(ft.ntop ? ft.ntop : 1, sizeof(pq_column))))
            rc = BLOBSTORE_ENOMEM;
        if (!rc)
            rc = read_groups(&t, &ft, buf, len, sel, ft.ntop, g, g1, fetch, NULL, ctx);
        if (!rc && g == 0) { /* the columns, without their data */
            *schema = t;
            for (size_t k = 0; k < t.ncols; k++)
                strip_data(&t.cols[k]);
        } else {
            bs__pq_table_free(&t);
        }
        if (!rc && release && g1 > g && ft.group_rows[g] > 0) {
            /* (read_groups checked each chunk's range lies in the file) */
            uint64_t lo = UINT64_MAX, hi = 0;
            for (size_t k = 0; k < ft.ncols; k++) {
                const chunk_meta *m = &ft.chunks[g * ft.ncols + k];
                int64_t at =
                    m->dict_off > 0 && m->dict_off < m->data_off ? m->dict_off : m->data_off;
                if ((uint64_t)at < lo)
                    lo = (uint64_t)at;
                if ((uint64_t)at + (uint64_t)m->total_compressed > hi)
                    hi = (uint64_t)at + (uint64_t)m->total_compressed;
            }
            if (lo < hi)
                release(ctx, lo, hi - lo);
        }
    }
    if (!rc)
        schema->nrows = (size_t)ft.num_rows;
    free(sel);
    footer_free(&ft);
    if (rc)
        bs__pq_table_free(schema);
    return rc;
}
