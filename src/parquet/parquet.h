/*
 * parquet.h - Apache Parquet files, written from the format specification
 * (parquet.thrift, Encodings.md): a Thrift compact-protocol codec, a writer
 * and a reader of flat and nested tables (LIST, STRUCT, MAP: read.c builds a
 * tree of the schema and assembles the columns from their leaves' repetition
 * and definition levels; write.c makes those levels from the column trees).
 *
 *   thrift.c   the compact protocol: a writer into a bs_buf and a
 *              bounds-checked reader that can skip any field
 *   table.c    the in-memory columnar table
 *   write.c    table -> .parquet (PLAIN and dictionary pages, RLE levels,
 *              nested columns by Dremel levels,
 *              statistics, snappy / gzip / zstd / lz4_raw / none)
 *   read.c     .parquet -> table (selected columns only; a dotted path
 *              selects a field of a struct)
 *   check.c    each row group the writer makes, decoded and compared with
 *              its input before a byte of it is emitted
 *   table_store.c  tables in the store (the blob is the .parquet file), the
 *              pandas metadata, CSV in and out
 *
 * What is supported (types, encodings, codecs) is listed in docs/parquet.md.
 */
#ifndef BLOBSTORE_PARQUET_H
#define BLOBSTORE_PARQUET_H

#include "internal.h"

#include <snappy-c.h>

/* CompressionCodec of parquet.thrift: the numbers files record per column
 * chunk. LZO is read as unsupported; LZ4 is the deprecated Hadoop framing
 * (read, with a bare LZ4 block as the fallback); BROTLI is read, not written. */
enum {
    PQ_CODEC_UNCOMPRESSED = 0,
    PQ_CODEC_SNAPPY = 1,
    PQ_CODEC_GZIP = 2,
    PQ_CODEC_LZO = 3,
    PQ_CODEC_BROTLI = 4,
    PQ_CODEC_LZ4 = 5,
    PQ_CODEC_ZSTD = 6,
    PQ_CODEC_LZ4_RAW = 7,
};

/* ---- Thrift compact protocol (thrift.c) ---- */

enum {
    TC_STOP = 0,
    TC_TRUE = 1,
    TC_FALSE = 2,
    TC_BYTE = 3,
    TC_I16 = 4,
    TC_I32 = 5,
    TC_I64 = 6,
    TC_DOUBLE = 7,
    TC_BINARY = 8,
    TC_LIST = 9,
    TC_SET = 10,
    TC_MAP = 11,
    TC_STRUCT = 12,
};

typedef struct {
    bs_buf *out;
    int16_t last[32]; /* last field id per nesting level */
    int depth;
    int bad;
} tc_writer;

void bs__tc_struct_begin(tc_writer *w);
void bs__tc_struct_end(tc_writer *w);
void bs__tc_field(tc_writer *w, int16_t id, int type);
void bs__tc_i32(tc_writer *w, int16_t id, int32_t v);
void bs__tc_i64(tc_writer *w, int16_t id, int64_t v);
void bs__tc_bool(tc_writer *w, int16_t id, int v);
void bs__tc_binary(tc_writer *w, int16_t id, const void *p, size_t n);
void bs__tc_string(tc_writer *w, int16_t id, const char *s);
/* A list field header; elements follow (structs: bs__tc_struct_begin/end each). */
void bs__tc_list(tc_writer *w, int16_t id, int elem_type, size_t n);
void bs__tc_list_i32(tc_writer *w, int32_t v); /* one element of a list of i32 */
void bs__tc_list_string(tc_writer *w, const char *s);
/* Begin a struct-valued field. */
void bs__tc_field_struct(tc_writer *w, int16_t id);

typedef struct {
    const uint8_t *p, *end;
    int bad;
} tc_reader;

typedef struct {
    int16_t id;
    int type; /* TC_*; TC_STOP at the end of a struct */
    int bval; /* for TC_TRUE / TC_FALSE fields */
} tc_fieldinfo;

/* Read the next field header of the current struct. */
tc_fieldinfo bs__tc_next(tc_reader *r, int16_t *last);
int64_t bs__tc_read_int(tc_reader *r); /* i16, i32 or i64 (zigzag varint) */
const uint8_t *bs__tc_read_binary(tc_reader *r, size_t *len);
double bs__tc_read_double(tc_reader *r);
/* A list header: element type and count. */
size_t bs__tc_read_list(tc_reader *r, int *elem_type);
/* Skip a value of the given type (structs and containers recursively). */
void bs__tc_skip(tc_reader *r, int type, int depth);

/* ---- tables (table.c) ---- */

/* The table types are the public ones (blobstore/table.h). */
typedef blobstore_column_type pq_type;
typedef blobstore_column pq_column;
typedef blobstore_table pq_table;
#define PQ_BOOL         BLOBSTORE_COL_BOOL
#define PQ_INT8         BLOBSTORE_COL_INT8
#define PQ_INT16        BLOBSTORE_COL_INT16
#define PQ_INT32        BLOBSTORE_COL_INT32
#define PQ_INT64        BLOBSTORE_COL_INT64
#define PQ_UINT8        BLOBSTORE_COL_UINT8
#define PQ_UINT16       BLOBSTORE_COL_UINT16
#define PQ_UINT32       BLOBSTORE_COL_UINT32
#define PQ_UINT64       BLOBSTORE_COL_UINT64
#define PQ_FLOAT        BLOBSTORE_COL_FLOAT32
#define PQ_DOUBLE       BLOBSTORE_COL_FLOAT64
#define PQ_STRING       BLOBSTORE_COL_STRING
#define PQ_BINARY       BLOBSTORE_COL_BINARY
#define PQ_TIMESTAMP_MS BLOBSTORE_COL_TIMESTAMP_MS
#define PQ_TIMESTAMP_US BLOBSTORE_COL_TIMESTAMP_US
#define PQ_TIMESTAMP_NS BLOBSTORE_COL_TIMESTAMP_NS
#define PQ_DATE         BLOBSTORE_COL_DATE
#define PQ_TIME_MS      BLOBSTORE_COL_TIME_MS
#define PQ_TIME_US      BLOBSTORE_COL_TIME_US
#define PQ_TIME_NS      BLOBSTORE_COL_TIME_NS
#define PQ_DECIMAL      BLOBSTORE_COL_DECIMAL
#define PQ_LIST         BLOBSTORE_COL_LIST
#define PQ_STRUCT       BLOBSTORE_COL_STRUCT
#define PQ_MAP          BLOBSTORE_COL_MAP
#define PQ_LAST_TYPE    PQ_DECIMAL /* the last flat type (the writer's) */
#define PQ_NESTED(t)    ((t) >= PQ_LIST && (t) <= PQ_MAP)

size_t bs__pq_width(pq_type t); /* bytes per value; 0 for strings and binary */
const char *bs__pq_type_name(pq_type t);
int bs__pq_type_parse(const char *name, pq_type *out); /* the names bs__pq_type_name gives */
/* A column's type as text: bs__pq_type_name, or "decimal(P,S)"; into buf. */
const char *bs__pq_column_type_text(const pq_column *c, char *buf, size_t size);
/* Text of the decimal unscaled * 10^-scale (v: 16 bytes, little endian)
 * into buf (at least 42 bytes); returns its length. */
size_t bs__pq_decimal_text(char *buf, const uint8_t *v, int scale);
/* Text of a time of day v in units per second ("HH:MM:SS", then the
 * fraction with the unit's digits) into buf (at least 24 bytes). */
size_t bs__pq_time_text(char *buf, int64_t v, int64_t per);
void bs__pq_table_free(pq_table *t);
/* Free a column's data and children (not the struct itself) and zero it. */
void bs__pq_column_free(pq_column *c);
/* Items of each child of a nested column of n items (LIST / MAP: offsets[n]). */
size_t bs__pq_child_items(const pq_column *c, size_t n);

/* ---- numbers as text (numtext.c) ---- */

/* v as Python's repr and DuckDB write a float: the fewest digits that read
 * back as v (is_float: as the float (float)v), the closest to v of those;
 * fixed notation for exponents -4 to 15 (with ".0" when integral), else
 * d.ddde+XX; "nan", "inf", "-inf", "-0.0". buf holds 32 bytes. Returns the
 * length. */
size_t bs__pq_shortest_text(char *buf, double v, int is_float);
/* "%lld" and "%llu" (buf: 24 bytes); return the length. */
size_t bs__pq_i64_text(char *buf, int64_t v);
size_t bs__pq_u64_text(char *buf, uint64_t v);
/* strtoll / strtod of the whole string s (0), or -1 when it is not all one
 * number (strtoll: or out of range). */
int bs__pq_parse_i64(const char *s, int64_t *out);
int bs__pq_parse_f64(const char *s, double *out);
/* The "pandas" key-value metadata for a table (a RangeIndex); malloc'd. */
char *bs__pq_pandas_metadata(const pq_table *t);

/* ---- writing (write.c) and reading (read.c) ---- */

/* The RLE / bit-packing hybrid (Encodings.md) of n values of bw bits:
 * appended to b, and decoded from [p, p + len). */
int bs__pq_rle_encode(bs_buf *b, const uint32_t *v, size_t n, int bw);
int bs__pq_rle_decode(const uint8_t *p, size_t len, int bw, uint32_t *out, size_t n);
/* How many values (at most limit) the hybrid at [p, p + len) holds, by its
 * run headers (nothing decoded or allocated). */
size_t bs__pq_rle_count(const uint8_t *p, size_t len, int bw, size_t limit);

typedef struct {
    const char *codec;           /* "snappy" (default), "zstd", "gzip", "lz4_raw", "none" */
    size_t row_group_rows;       /* rows per row group; 0: 1,000,000 */
    const char *pandas_metadata; /* the "pandas" key-value metadata, or NULL (bs__pq_write) */
    size_t page_rows;            /* rows per data page at most; 0: 20,000 */
    size_t page_bytes;           /* a data page ends once its values reach this; 0: 1 MiB */
} pq_write_options;

/* The row group and page limits a write uses: o's (o may be NULL), else
 * the environment's BLOBSTORE_PARQUET_ROW_GROUP_ROWS, _PAGE_ROWS and
 * _PAGE_BYTES (for tests that force many row groups and pages; they change
 * the layout, never the values), else the defaults above. */
void bs__pq_write_limits(const pq_write_options *o, size_t *group_rows, size_t *page_rows,
                         size_t *page_bytes);

/* t as a Parquet file in memory (a pq_writer into a buffer). */
int bs__pq_write(uint8_t **out, size_t *out_len, const pq_table *t, const pq_write_options *o);

/*
 * A streaming writer: the file's bytes go to sink as they are made, one row
 * group at a time; the footer at finish. Each row group is decoded again and
 * compared with the rows given before it is passed to sink (check.c): a
 * mismatch is ECORRUPT. Memory: one row group.
 */
typedef struct pq_writer pq_writer;
/* schema's columns give the names, types, nullability and UTC flags (their
 * data is not read). Writes the leading magic. */
int bs__pq_writer_new(pq_writer **out, const pq_table *schema, const pq_write_options *o,
                      bs_sink_fn sink, void *ctx);
/* Rows [r0, r1) of t (columns as the schema's, in its order; nulls only in
 * nullable columns) as row groups of at most row_group_rows. */
int bs__pq_writer_write(pq_writer *w, const pq_table *t, size_t r0, size_t r1);
/* The footer, with the "pandas" key-value metadata if not NULL. */
int bs__pq_writer_finish(pq_writer *w, const char *pandas_metadata);
/* The codec's level (zstd 1..22, gzip 1..9) from the next row group on;
 * 0 (the default): zstd 3, gzip 6. */
void bs__pq_writer_set_level(pq_writer *w, int level);
/* libsnappy (and the C++ runtime it brings), loaded at the first snappy
 * page read or written (bs_library); bs__pq_snappy_load: 0 or
 * BLOBSTORE_EIO. */
extern struct bs_pq_snappy {
    __typeof__(snappy_compress) *compress;
    __typeof__(snappy_uncompress) *uncompress;
    __typeof__(snappy_max_compressed_length) *max_compressed_length;
} bs__pq_snappy;
int bs__pq_snappy_load(void);

/* The codec's Parquet name: "snappy", "zstd", "gzip", "lz4_raw", "none". */
const char *bs__pq_writer_codec(const pq_writer *w);
uint64_t bs__pq_writer_rows(const pq_writer *w);
void bs__pq_writer_free(pq_writer *w);

/* 0 if rows [r0, r1) of given and all of back (their decoding) hold the
 * same columns and values (check.c); else ECORRUPT naming the row group and
 * the column. */
int bs__pq_check_rows(const pq_table *given, size_t r0, size_t r1, const pq_table *back,
                      size_t group);
/* Tests only. bs__pq_fault: 1 changes a value of every data page before it
 * is compressed, 2 flips a byte of every compressed data page. bs__pq_nocheck:
 * skip the check (to measure its cost). */
extern int bs__pq_fault;
extern int bs__pq_nocheck;
/* bs__pq_shortest_trial: bs__pq_shortest_text finds every text by trial
 * with the C library (its slow path); bs__pq_shortest_trials counts the
 * texts found so (not thread-safe: tests only). */
extern int bs__pq_shortest_trial, bs__pq_shortest_trials;
/* CSV is put in pieces of about this many bytes (2 MiB); tests make it small. */
extern size_t bs__pq_csv_piece;
extern int bs__pq_csv_noguess; /* put --csv: no types guessed from the first piece */

/* Read the named columns (all when names is NULL) of a file in memory. */
int bs__pq_read(pq_table *out, const uint8_t *buf, size_t len, const char *const *names,
                size_t nnames);
/* Makes [off, off + len) of the file's bytes valid before they are read. */
typedef int (*pq_fetch_fn)(void *ctx, uint64_t off, uint64_t len);
/* bs__pq_read through fetch (buf is then a sparse buffer): only the footer and
 * the selected columns' chunks are fetched. */
int bs__pq_read_ranged(pq_table *out, const uint8_t *buf, size_t len, const char *const *names,
                       size_t nnames, pq_fetch_fn fetch, void *ctx);
/* Gives back [off, off + len) of the file's bytes: no longer needed. */
typedef void (*pq_release_fn)(void *ctx, uint64_t off, uint64_t len);
/* A file's row groups read a few at a time: the footer and the column
 * selection of bs__pq_read_ranged, opened once; bs__pq_groups_read reads
 * the selected columns of row groups [g0, g1) into out (nrows: theirs).
 * Reads of disjoint groups may run on several threads at once (fetch must
 * allow it). With release (may be NULL), each read releases every chunk
 * range it fetched (the same off and len) once it is done with them. buf,
 * fetch and ctx must outlive the handle. */
typedef struct pq_groups pq_groups;
int bs__pq_groups_open(pq_groups **out, const uint8_t *buf, size_t len, const char *const *names,
                       size_t nnames, pq_fetch_fn fetch, pq_release_fn release, void *ctx);
size_t bs__pq_groups_count(const pq_groups *g);
int bs__pq_groups_read(const pq_groups *g, size_t g0, size_t g1, pq_table *out);
void bs__pq_groups_close(pq_groups *g);
/* Checks the whole file as bs__pq_read does (the same footer, schema and page
 * checks: what this accepts, bs__pq_read and bs__pq_read_ranged read), decoding one
 * row group at a time through fetch (buf is then a sparse buffer; fetch may
 * be NULL for a file in memory) and releasing each group's byte range after
 * it. *schema: the columns (names, types, nullability; no data) and nrows.
 * Memory: the footer and one row group. */
int bs__pq_check_ranged(pq_table *schema, const uint8_t *buf, size_t len, pq_fetch_fn fetch,
                        pq_release_fn release, void *ctx);

#endif
