/*
 * blobstore/table.h - columnar tables, stored as Apache Parquet files
 * (readable in place by DuckDB, Arrow, pandas).
 *
 * Included by blobstore.h.
 */
#ifndef BLOBSTORE_TABLE_H
#define BLOBSTORE_TABLE_H

#include "../blobstore.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Column types. */
typedef enum {
    BLOBSTORE_COL_BOOL,
    BLOBSTORE_COL_INT8,
    BLOBSTORE_COL_INT16,
    BLOBSTORE_COL_INT32,
    BLOBSTORE_COL_INT64,
    BLOBSTORE_COL_UINT8,
    BLOBSTORE_COL_UINT16,
    BLOBSTORE_COL_UINT32,
    BLOBSTORE_COL_UINT64,
    BLOBSTORE_COL_FLOAT32,
    BLOBSTORE_COL_FLOAT64,
    BLOBSTORE_COL_STRING, /**< UTF-8 */
    BLOBSTORE_COL_BINARY,
    BLOBSTORE_COL_TIMESTAMP_MS,
    BLOBSTORE_COL_TIMESTAMP_US,
    BLOBSTORE_COL_TIMESTAMP_NS,
    BLOBSTORE_COL_DATE,    /**< int32 days since 1970-01-01 */
    BLOBSTORE_COL_TIME_MS, /**< time of day: int64 milliseconds since midnight */
    BLOBSTORE_COL_TIME_US, /**< time of day: int64 microseconds since midnight */
    BLOBSTORE_COL_TIME_NS, /**< time of day: int64 nanoseconds since midnight */
    BLOBSTORE_COL_DECIMAL, /**< exact decimal: 128-bit unscaled integer, see precision */
    BLOBSTORE_COL_LIST,    /**< nested: a list per row of one child column's items */
    BLOBSTORE_COL_STRUCT,  /**< nested: named child columns, one value each per row */
    BLOBSTORE_COL_MAP,     /**< nested: a LIST of STRUCT<key, value> entries */
} blobstore_column_type;

/** The largest precision (decimal digits) of a BLOBSTORE_COL_DECIMAL. */
#define BLOBSTORE_DECIMAL_MAX_PRECISION 38

/**
 * A column of nrows values. Fixed-width types: `values` holds nrows items
 * (bool: one byte 0/1; timestamps: int64 in their unit since the epoch;
 * times: int64 in their unit since midnight, 0 to 24:00:00; decimals: 16
 * bytes each, the unscaled value as a little-endian two's complement 128-bit
 * integer, worth unscaled * 10^-scale).
 * String and binary: item i is bytes[offsets[i] .. offsets[i + 1]).
 * `valid` (NULL: no nulls) holds one byte per row, 0 for null.
 *
 * Nested columns (as Arrow lays them out; read from Parquet LIST, MAP,
 * groups and repeated fields):
 * - LIST: one child (`children[0]`, named "element"); row i's items are the
 *   child's items offsets[i] .. offsets[i + 1] (offsets: nrows + 1 values,
 *   offsets[0] = 0). A null list has valid[i] = 0 and no items (an empty
 *   list is valid with offsets[i] == offsets[i + 1]).
 * - MAP: as LIST, its one child a STRUCT named "entries" of two children,
 *   "key" (never null) and "value".
 * - STRUCT: nchildren children, each with as many items as the struct;
 *   a child of a null struct item is null too.
 * A child column has as many items as its parent says (a list's child:
 * the parent's offsets[nrows]; a struct's child: the struct's own count);
 * its `valid` (or NULL) and data hold that many items.
 */
typedef struct blobstore_column {
    char *name;
    blobstore_column_type type;
    int utc;      /**< timestamps: adjusted to UTC */
    int nullable; /**< may hold nulls */
    void *values;
    uint64_t *offsets;
    uint8_t *bytes;
    uint8_t *valid;
    int precision;                     /**< decimals: 1 to BLOBSTORE_DECIMAL_MAX_PRECISION digits */
    int scale;                         /**< decimals: 0 to precision digits after the point */
    size_t nchildren;                  /**< LIST, MAP: 1; STRUCT: its fields */
    struct blobstore_column *children; /**< nested columns' children, else NULL */
} blobstore_column;

typedef struct blobstore_table {
    size_t nrows, ncols;
    blobstore_column *cols;
} blobstore_table;

/** Free a table returned by this library (names, data) and zero it. */
BLOBSTORE_API void blobstore_table_clear(blobstore_table *t);

#define BLOBSTORE_TABLE_OPTIONS_VERSION 2

typedef struct blobstore_table_options {
    unsigned int version;
    const char *metadata; /**< user metadata (JSON object) or NULL */
    /** "snappy", "zstd", "gzip", "lz4_raw" (or "lz4"), "none". NULL: for
     *  blobstore_table_put the store's codec (zstd, gzip, lz4 as LZ4_RAW,
     *  none; blosclz, which Parquet lacks, as snappy) at the store's level;
     *  for blobstore_table_to_parquet snappy. get_metadata's "compression"
     *  names the codec written. */
    const char *compression;
    size_t row_group_rows; /**< rows per row group; 0: 1,000,000 */
    /** The file's "pandas" key-value metadata; NULL: made from the columns
     *  (a RangeIndex). */
    const char *pandas_metadata;
    /** A JSON object of extra members for get_metadata, or NULL. A member
     *  the store sets (columns, num_rows) or named with a leading '_' is
     *  refused (EINVAL), before any row is read. */
    const char *format_info;
    /* ---- version 2 ---- */
    /** BLOBSTORE_PUT_* flags (BLOBSTORE_PUT_NO_OVERWRITE) for the puts. */
    unsigned int put_flags;
} blobstore_table_options;

#define BLOBSTORE_TABLE_OPTIONS_INIT                                                               \
    {                                                                                              \
        .version = BLOBSTORE_TABLE_OPTIONS_VERSION                                                 \
    }

/**
 * Store a table as a Parquet file (with the "pandas" metadata, a RangeIndex).
 * get_metadata then shows format "parquet", the columns with their types and
 * num_rows. Errors: BLOBSTORE_EINVAL.
 */
BLOBSTORE_API int blobstore_table_put(char **out_key, blobstore *bs, const char *key,
                                      const blobstore_table *t, const blobstore_table_options *o);

/**
 * Store CSV read from fd (a regular file, read from its start: the column
 * types are inferred as blobstore_table_from_csv does, or taken from
 * schema; the inferred ones are guessed from the first 2 MiB and the file
 * read once if every later cell fits them, else read again twice: for the
 * types, then the rows) as a table, a row group at a time: memory stays
 * bounded by about one row group (2 MiB of CSV), whatever the file's size.
 * o may be NULL (its pandas_metadata is not used). Errors: BLOBSTORE_EINVAL
 * (bad CSV or schema), BLOBSTORE_EIO.
 */
BLOBSTORE_API int blobstore_table_put_csv_fd(char **out_key, blobstore *bs, const char *key, int fd,
                                             const char *schema, const blobstore_table_options *o);

/** Store a Parquet file as a table, after checking that it reads. */
BLOBSTORE_API int blobstore_table_put_parquet(char **out_key, blobstore *bs, const char *key,
                                              const void *file, size_t len, const char *metadata);

/**
 * Store the Parquet file read from fd (a regular file, read twice) as a
 * table, as it is: first its footer and then each row group are read and
 * checked (a row group at a time, only its byte range), then its bytes are
 * streamed into the store. Memory stays bounded by about one row group,
 * whatever the file's size. Errors: BLOBSTORE_ECORRUPT (not a valid Parquet
 * file; nothing is stored), BLOBSTORE_EUNSUPPORTED, BLOBSTORE_EINVAL (not a
 * regular file), BLOBSTORE_EIO (unreadable, or it changed size meanwhile).
 */
BLOBSTORE_API int blobstore_table_put_parquet_fd(char **out_key, blobstore *bs, const char *key,
                                                 int fd, const char *metadata);

/** Read a table; names (n of them) selects columns, NULL all. Columns not
 *  selected are not decoded. Errors: BLOBSTORE_ENOTFOUND, BLOBSTORE_ECORRUPT,
 *  BLOBSTORE_EINVAL (not a table, or no such column). */
BLOBSTORE_API int blobstore_table_get(blobstore_table *out, blobstore *bs, const char *key,
                                      const char *const *names, size_t n);

/** Parse CSV (a header row, then rows) into a table. Column types are
 *  inferred (int64, float64, bool, else string; empty fields are nulls)
 *  unless schema ("a:int32,b:string,c:timestamp[ms],d:date") names them. */
BLOBSTORE_API int blobstore_table_from_csv(blobstore_table *out, const char *csv, size_t len,
                                           const char *schema);

/** Write a table as CSV (malloc'd; free with blobstore_free). */
BLOBSTORE_API int blobstore_table_to_csv(char **out, size_t *out_len, const blobstore_table *t);

/** Write a table as CSV through write, about 1 MiB at a time (the same bytes
 *  as blobstore_table_to_csv, without the whole text in memory). Errors:
 *  BLOBSTORE_EINVAL (a decimal or time the text cannot show), BLOBSTORE_ECALLBACK
 *  (write returned nonzero; nothing more is written). */
BLOBSTORE_API int blobstore_table_write_csv(const blobstore_table *t, blobstore_write_fn write,
                                            void *ctx);

/** Write the named columns (all when names is NULL) of the table stored at
 *  key as CSV through write: the bytes blobstore_table_get then
 *  blobstore_table_write_csv would write, without the whole table in
 *  memory. Row groups are read and formatted on up to one thread per core
 *  (at most 4), a few ahead of the writer, and handed to write in order, one
 *  call per row group (the header with the first). Errors as
 *  blobstore_table_get, found as the row groups are read: what was written
 *  before stays written. BLOBSTORE_ECALLBACK: write returned nonzero
 *  (nothing more is written). */
BLOBSTORE_API int blobstore_table_get_csv(blobstore *bs, const char *key, const char *const *names,
                                          size_t n, blobstore_write_fn write, void *ctx);

/** Write a table as a Parquet file (malloc'd; free with blobstore_free). */
BLOBSTORE_API int blobstore_table_to_parquet(void **out, size_t *out_len, const blobstore_table *t,
                                             const blobstore_table_options *o);

#ifdef __cplusplus
}
#endif

#endif
