/*
 * parquet.h - Apache Parquet files, written from the format specification
 * (parquet.thrift, Encodings.md): a Thrift compact-protocol codec, a writer
 * and a reader of flat tables.
 *
 *   thrift.c   the compact protocol: a writer into a bs_buf and a
 *              bounds-checked reader that can skip any field
 *   table.c    the in-memory columnar table
 *   write.c    table -> .parquet (PLAIN and dictionary pages, RLE levels,
 *              statistics, snappy / gzip / zstd / lz4_raw / none)
 *   read.c     .parquet -> table (selected columns only)
 *
 * Status: the module is being built up; see docs/parquet.md for what is
 * supported so far.
 */
#ifndef BLOBSTORE_PARQUET_H
#define BLOBSTORE_PARQUET_H

#include "internal.h"

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

void tc_struct_begin(tc_writer *w);
void tc_struct_end(tc_writer *w);
void tc_field(tc_writer *w, int16_t id, int type);
void tc_i32(tc_writer *w, int16_t id, int32_t v);
void tc_i64(tc_writer *w, int16_t id, int64_t v);
void tc_bool(tc_writer *w, int16_t id, int v);
void tc_binary(tc_writer *w, int16_t id, const void *p, size_t n);
void tc_string(tc_writer *w, int16_t id, const char *s);
/* A list field header; elements follow (structs: tc_struct_begin/end each). */
void tc_list(tc_writer *w, int16_t id, int elem_type, size_t n);
void tc_list_i32(tc_writer *w, int32_t v); /* one element of a list of i32 */
void tc_list_string(tc_writer *w, const char *s);
/* Begin a struct-valued field. */
void tc_field_struct(tc_writer *w, int16_t id);

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
tc_fieldinfo tc_next(tc_reader *r, int16_t *last);
int64_t tc_read_int(tc_reader *r); /* i16, i32 or i64 (zigzag varint) */
const uint8_t *tc_read_binary(tc_reader *r, size_t *len);
double tc_read_double(tc_reader *r);
/* A list header: element type and count. */
size_t tc_read_list(tc_reader *r, int *elem_type);
/* Skip a value of the given type (structs and containers recursively). */
void tc_skip(tc_reader *r, int type, int depth);

/* ---- tables (table.c) ---- */

typedef enum {
    PQ_BOOL,
    PQ_INT8,
    PQ_INT16,
    PQ_INT32,
    PQ_INT64,
    PQ_UINT8,
    PQ_UINT16,
    PQ_UINT32,
    PQ_UINT64,
    PQ_FLOAT,
    PQ_DOUBLE,
    PQ_STRING,
    PQ_BINARY,
    PQ_TIMESTAMP_MS,
    PQ_TIMESTAMP_US,
    PQ_TIMESTAMP_NS,
    PQ_DATE,
} pq_type;

typedef struct {
    char *name;
    pq_type type;
    int utc;      /* timestamps: adjusted to UTC */
    int nullable; /* the column may hold nulls */
    /* Fixed-width types: n values of pq_width(type) bytes (bool: one byte
     * 0/1; date: int32 days; timestamps: int64). Strings and binary:
     * offsets[n + 1] into bytes. */
    void *values;
    uint64_t *offsets;
    uint8_t *bytes;
    uint8_t *valid; /* NULL: all valid; else one byte per row */
} pq_column;

typedef struct {
    size_t nrows, ncols;
    pq_column *cols;
} pq_table;

size_t pq_width(pq_type t); /* bytes per value; 0 for strings and binary */
const char *pq_type_name(pq_type t);
void pq_table_free(pq_table *t);

/* ---- writing (write.c) and reading (read.c) ---- */

typedef struct {
    const char *codec;           /* "snappy" (default), "zstd", "gzip", "lz4_raw", "none" */
    size_t row_group_rows;       /* rows per row group; 0: 1,000,000 */
    const char *pandas_metadata; /* the "pandas" key-value metadata, or NULL */
} pq_write_options;

int pq_write(uint8_t **out, size_t *out_len, const pq_table *t, const pq_write_options *o);

/* Read the named columns (all when names is NULL) of a file in memory. */
int pq_read(pq_table *out, const uint8_t *buf, size_t len, const char *const *names, size_t nnames);

#endif
