/*
 * test_pqtypes.c - Parquet columns read as what they are: INT96 timestamps
 * beyond the nanosecond range, DECIMAL on INT32 / INT64 / BYTE_ARRAY, TIME in
 * every unit; and what the format requires checked (repetition types,
 * annotations, UTF-8, column chunk ranges), so that what put accepts, get
 * reads. The files are built by hand, one column each, from the format
 * specification (parquet.thrift), so each test controls every byte.
 */
#include "parquet/parquet.h"

#include <math.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include "test.h"

/* One column's schema and pages. */
typedef struct {
    int type;                   /* physical type */
    int repetition;             /* 0 required, 1 optional (or any number, to test) */
    int converted;              /* converted type, -1 none */
    int logical;                /* logical type union member: 0 none, 1 STRING, 5 DECIMAL, 7 TIME */
    int lt_scale, lt_precision; /* DECIMAL */
    int lt_utc, lt_unit;        /* TIME: isAdjustedToUTC; 1 ms, 2 us, 3 ns */
    int scale, precision;       /* schema element fields 7 and 8, when not 0 */
    int flen;                   /* FIXED_LEN_BYTE_ARRAY: type_length */
    const void *values;         /* PLAIN values of the non-null rows */
    size_t values_len;
    size_t nrows;
    const uint8_t *defs;      /* optional: 1 per row for a value, 0 for null */
    int64_t chunk_size_delta; /* added to the declared total_compressed_size */
    int64_t claim;            /* not 0: the rows the footer and the page header claim */
    int encoding;             /* the data page's encoding (0: PLAIN) */
    int bit_packed_levels;    /* the page header names BIT_PACKED (4) level encodings */
} col_spec;

/* A one-column, one-row-group, one-page (v1, uncompressed) file. */
static void build(bs_buf *f, const col_spec *c)
{
    bs_buf body = {0}, hdr = {0}, foot = {0};
    if (c->defs) {
        uint32_t *lv = malloc((c->nrows ? c->nrows : 1) * sizeof(uint32_t));
        bs_buf rle = {0};
        for (size_t i = 0; i < c->nrows; i++)
            lv[i] = c->defs[i];
        bs__pq_rle_encode(&rle, lv, c->nrows, 1);
        uint32_t l = (uint32_t)rle.len;
        bs__buf_append(&body, &l, 4);
        bs__buf_append(&body, rle.data, rle.len);
        bs__buf_free(&rle);
        free(lv);
    }
    bs__buf_append(&body, c->values, c->values_len);
    tc_writer w = {&hdr, {0}, 0, 0};
    bs__tc_struct_begin(&w);
    bs__tc_i32(&w, 1, 0); /* DATA_PAGE */
    bs__tc_i32(&w, 2, (int32_t)body.len);
    bs__tc_i32(&w, 3, (int32_t)body.len);
    bs__tc_field_struct(&w, 5);
    int64_t rows = c->claim ? c->claim : (int64_t)c->nrows;
    bs__tc_i32(&w, 1, rows > INT32_MAX ? INT32_MAX : (int32_t)rows);
    bs__tc_i32(&w, 2, c->encoding);                  /* PLAIN unless told */
    bs__tc_i32(&w, 3, c->bit_packed_levels ? 4 : 3); /* RLE levels */
    bs__tc_i32(&w, 4, c->bit_packed_levels ? 4 : 3);
    bs__tc_struct_end(&w);
    bs__tc_struct_end(&w);
    bs__buf_append(f, "PAR1", 4);
    int64_t data_off = (int64_t)f->len, chunk = (int64_t)(hdr.len + body.len);
    bs__buf_append(f, hdr.data, hdr.len);
    bs__buf_append(f, body.data, body.len);
    tc_writer m = {&foot, {0}, 0, 0};
    bs__tc_struct_begin(&m);
    bs__tc_i32(&m, 1, 1);
    bs__tc_list(&m, 2, TC_STRUCT, 2);
    bs__tc_struct_begin(&m);
    bs__tc_string(&m, 4, "schema");
    bs__tc_i32(&m, 5, 1);
    bs__tc_struct_end(&m);
    bs__tc_struct_begin(&m);
    bs__tc_i32(&m, 1, c->type);
    if (c->type == 7)
        bs__tc_i32(&m, 2, c->flen);
    bs__tc_i32(&m, 3, c->repetition);
    bs__tc_string(&m, 4, "x");
    if (c->converted >= 0)
        bs__tc_i32(&m, 6, c->converted);
    if (c->scale)
        bs__tc_i32(&m, 7, c->scale);
    if (c->precision)
        bs__tc_i32(&m, 8, c->precision);
    if (c->logical) {
        bs__tc_field_struct(&m, 10);
        bs__tc_field_struct(&m, (int16_t)c->logical);
        if (c->logical == 5) {
            bs__tc_i32(&m, 1, c->lt_scale);
            bs__tc_i32(&m, 2, c->lt_precision);
        } else if (c->logical == 7) {
            bs__tc_bool(&m, 1, c->lt_utc);
            bs__tc_field_struct(&m, 2);
            bs__tc_field_struct(&m, (int16_t)c->lt_unit);
            bs__tc_struct_end(&m);
            bs__tc_struct_end(&m);
        }
        bs__tc_struct_end(&m);
        bs__tc_struct_end(&m);
    }
    bs__tc_struct_end(&m);
    bs__tc_i64(&m, 3, rows);
    bs__tc_list(&m, 4, TC_STRUCT, 1);
    bs__tc_struct_begin(&m);
    bs__tc_list(&m, 1, TC_STRUCT, 1);
    bs__tc_struct_begin(&m);
    bs__tc_i64(&m, 2, data_off);
    bs__tc_field_struct(&m, 3);
    bs__tc_i32(&m, 1, c->type);
    bs__tc_list(&m, 2, TC_I32, 1);
    bs__tc_list_i32(&m, 0);
    bs__tc_list(&m, 3, TC_BINARY, 1);
    bs__tc_list_string(&m, "x");
    bs__tc_i32(&m, 4, 0);
    bs__tc_i64(&m, 5, rows);
    bs__tc_i64(&m, 6, chunk);
    bs__tc_i64(&m, 7, chunk + c->chunk_size_delta);
    bs__tc_i64(&m, 9, data_off);
    bs__tc_struct_end(&m);
    bs__tc_struct_end(&m);
    bs__tc_i64(&m, 2, chunk);
    bs__tc_i64(&m, 3, rows);
    bs__tc_struct_end(&m);
    bs__tc_struct_end(&m);
    uint32_t fl = (uint32_t)foot.len;
    bs__buf_append(f, foot.data, foot.len);
    bs__buf_append(f, &fl, 4);
    bs__buf_append(f, "PAR1", 4);
    bs__buf_free(&body);
    bs__buf_free(&hdr);
    bs__buf_free(&foot);
}

/* Read a built file; its column as CSV (header and all), or NULL. rc: the
 * read's result. */
static char *read_csv(const col_spec *c, int *rc)
{
    bs_buf f = {0};
    build(&f, c);
    pq_table t;
    char *csv = NULL;
    size_t n;
    *rc = bs__pq_read(&t, f.data, f.len, NULL, 0);
    if (*rc == 0) {
        if (blobstore_table_to_csv(&csv, &n, &t) != 0)
            csv = NULL;
        bs__pq_table_free(&t);
    }
    bs__buf_free(&f);
    return csv;
}

#define CHECK_CSV(spec, want)                                                                      \
    do {                                                                                           \
        int rc_;                                                                                   \
        char *csv_ = read_csv(spec, &rc_);                                                         \
        if (rc_)                                                                                   \
            fprintf(stderr, "  %s\n", blobstore_errmsg());                                         \
        CHECK_EQ(rc_, 0);                                                                          \
        CHECK(csv_ != NULL);                                                                       \
        int same_ = strcmp(csv_, want) == 0;                                                       \
        if (!same_)                                                                                \
            fprintf(stderr, "  got:\n%s  want:\n%s", csv_, want);                                  \
        blobstore_free(csv_);                                                                      \
        CHECK(same_);                                                                              \
    } while (0)

/* Refused with this code, and a message that holds `words`. */
#define CHECK_REFUSED(spec, code, words)                                                           \
    do {                                                                                           \
        int rc_;                                                                                   \
        char *csv_ = read_csv(spec, &rc_);                                                         \
        blobstore_free(csv_);                                                                      \
        CHECK_EQ(rc_, code);                                                                       \
        if (!strstr(blobstore_errmsg(), words))                                                    \
            fprintf(stderr, "  message: %s\n", blobstore_errmsg());                                \
        CHECK(strstr(blobstore_errmsg(), words) != NULL);                                          \
    } while (0)

static void int96(uint8_t *out, int32_t julian, int64_t nanos)
{
    memcpy(out, &nanos, 8);
    memcpy(out + 8, &julian, 4);
}

#define JULIAN_1970 2440588
#define DAY_NS      86400000000000LL

TEST(int96_beyond_the_nanosecond_range_reads_as_microseconds)
{
    /* Spark's "end of time", 9999-12-31T03:00Z, read as 1816-03-29 when
     * the nanoseconds wrapped; and 0001-01-01, 1677 and 2262 edges. */
    uint8_t v[4 * 12];
    int96(v, 5373484, 3LL * 3600 * 1000000000); /* 9999-12-31 03:00 */
    int96(v + 12, 1721426, 0);                  /* 0001-01-01 00:00 */
    int96(v + 24, JULIAN_1970, 1000);           /* 1970-01-01 00:00:00.000001 */
    int96(v + 36, JULIAN_1970 - 1, DAY_NS - 1000);
    uint8_t defs[5] = {1, 1, 0, 1, 1};
    col_spec c = {.type = 3,
                  .repetition = 1,
                  .converted = -1,
                  .values = v,
                  .values_len = 48,
                  .nrows = 5,
                  .defs = defs};
    CHECK_CSV(&c, "x\n"
                  "9999-12-31 03:00:00.000000\n"
                  "0001-01-01 00:00:00.000000\n"
                  "\n"
                  "1970-01-01 00:00:00.000001\n"
                  "1969-12-31 23:59:59.999999\n");
    bs_buf f = {0};
    build(&f, &c);
    pq_table t;
    CHECK_EQ(bs__pq_read(&t, f.data, f.len, NULL, 0), 0);
    CHECK_EQ(t.cols[0].type, PQ_TIMESTAMP_US);
    CHECK_EQ(((int64_t *)t.cols[0].values)[0], 253402225200000000LL);
    CHECK_EQ(((int64_t *)t.cols[0].values)[1], -62135596800000000LL);
    CHECK_EQ(((int64_t *)t.cols[0].values)[3], 1);
    CHECK_EQ(((int64_t *)t.cols[0].values)[4], -1);
    bs__pq_table_free(&t);
    bs__buf_free(&f);
}

TEST(int96_keeps_nanoseconds_when_they_fit)
{
    /* The last nanoseconds of the int64 range, on both sides. */
    uint8_t v[3 * 12];
    int96(v, JULIAN_1970 + 106751, 85636854775807LL);    /* 2262-04-11T23:47:16.854775807 */
    int96(v + 12, JULIAN_1970 - 106752, 763145224192LL); /* 1677-09-21T00:12:43.145224192 */
    int96(v + 24, JULIAN_1970, 123456789);
    col_spec c = {.type = 3, .converted = -1, .values = v, .values_len = 36, .nrows = 3};
    CHECK_CSV(&c, "x\n"
                  "2262-04-11 23:47:16.854775807\n"
                  "1677-09-21 00:12:43.145224192\n"
                  "1970-01-01 00:00:00.123456789\n");
    bs_buf f = {0};
    build(&f, &c);
    pq_table t;
    CHECK_EQ(bs__pq_read(&t, f.data, f.len, NULL, 0), 0);
    CHECK_EQ(t.cols[0].type, PQ_TIMESTAMP_NS);
    CHECK_EQ(((int64_t *)t.cols[0].values)[0], INT64_MAX);
    CHECK_EQ(((int64_t *)t.cols[0].values)[1], INT64_MIN);
    bs__pq_table_free(&t);
    bs__buf_free(&f);
}

TEST(int96_that_fits_no_unit_is_refused)
{
    uint8_t v[2 * 12];
    int96(v, 5373484, 1); /* 9999-12-31, plus a nanosecond */
    int96(v + 12, JULIAN_1970, 0);
    col_spec c = {.type = 3, .converted = -1, .values = v, .values_len = 24, .nrows = 2};
    CHECK_REFUSED(&c, BLOBSTORE_EUNSUPPORTED, "nanoseconds outside");
    int96(v, JULIAN_1970, DAY_NS); /* a time of day past midnight */
    CHECK_REFUSED(&c, BLOBSTORE_ECORRUPT, "time of day");
    int96(v, INT32_MAX, 0); /* 5.8 million years on */
    CHECK_REFUSED(&c, BLOBSTORE_EUNSUPPORTED, "292,000 years");
}

/* Levels are read as the RLE hybrid: BIT_PACKED definition levels (a
 * deprecated encoding) are refused, not misread; a required column's page
 * may name BIT_PACKED for the levels it has none of, as parquet-mr does. */
TEST(bit_packed_levels_are_refused_where_there_are_levels)
{
    int64_t v[2] = {7, 9};
    uint8_t defs[3] = {1, 0, 1};
    col_spec c = {.type = 2,
                  .repetition = 1,
                  .converted = -1,
                  .values = v,
                  .values_len = 16,
                  .nrows = 3,
                  .defs = defs};
    CHECK_CSV(&c, "x\n7\n\n9\n");
    c.bit_packed_levels = 1;
    CHECK_REFUSED(&c, BLOBSTORE_EUNSUPPORTED, "BIT_PACKED definition levels");
    col_spec req = {.type = 2,
                    .converted = -1,
                    .values = v,
                    .values_len = 16,
                    .nrows = 2,
                    .bit_packed_levels = 1};
    CHECK_CSV(&req, "x\n7\n9\n");
}

TEST(decimal_on_int32_int64_reads_exactly)
{
    int32_t v32[5] = {100, -5, 0, 999999999, -999999999};
    col_spec c = {.type = 1,
                  .converted = -1,
                  .logical = 5,
                  .lt_scale = 2,
                  .lt_precision = 9,
                  .values = v32,
                  .values_len = 20,
                  .nrows = 5};
    CHECK_CSV(&c, "x\n1.00\n-0.05\n0.00\n9999999.99\n-9999999.99\n");
    /* The converted type with the schema's scale and precision, scale 0. */
    col_spec c0 = {.type = 1,
                   .converted = 5,
                   .scale = 0,
                   .precision = 9,
                   .values = v32,
                   .values_len = 20,
                   .nrows = 5};
    CHECK_CSV(&c0, "x\n100\n-5\n0\n999999999\n-999999999\n");
    int64_t v64[4] = {INT64_MAX, INT64_MIN, 1, -123456789012345678LL};
    uint8_t defs[5] = {1, 0, 1, 1, 1};
    col_spec d = {.type = 2,
                  .repetition = 1,
                  .converted = -1,
                  .logical = 5,
                  .lt_scale = 18,
                  .lt_precision = 19,
                  .values = v64,
                  .values_len = 32,
                  .nrows = 5,
                  .defs = defs};
    CHECK_CSV(&d, "x\n9.223372036854775807\n\n-9.223372036854775808\n0.000000000000000001\n"
                  "-0.123456789012345678\n");
    /* scale = precision: every digit after the point */
    int64_t v3[2] = {999, -1};
    col_spec e = {.type = 2,
                  .converted = -1,
                  .logical = 5,
                  .lt_scale = 3,
                  .lt_precision = 3,
                  .values = v3,
                  .values_len = 16,
                  .nrows = 2};
    CHECK_CSV(&e, "x\n0.999\n-0.001\n");
    bs_buf f = {0};
    build(&f, &d);
    pq_table t;
    CHECK_EQ(bs__pq_read(&t, f.data, f.len, NULL, 0), 0);
    CHECK_EQ(t.cols[0].type, PQ_DECIMAL);
    CHECK_EQ(t.cols[0].precision, 19);
    CHECK_EQ(t.cols[0].scale, 18);
    int64_t w[2];
    memcpy(w, (uint8_t *)t.cols[0].values + 32, 16); /* row 2: INT64_MIN, sign-extended */
    CHECK_EQ(w[0], INT64_MIN);
    CHECK_EQ(w[1], -1);
    char type[32];
    CHECK_STR(bs__pq_column_type_text(&t.cols[0], type, sizeof(type)), "decimal(19,18)");
    bs__pq_table_free(&t);
    bs__buf_free(&f);
}

/* PLAIN BYTE_ARRAY values: a 4-byte length, then the bytes. */
static void plain_bytes(bs_buf *b, const void *p, uint32_t n)
{
    bs__buf_append(b, &n, 4);
    bs__buf_append(b, p, n);
}

TEST(decimal_on_byte_array_reads_exactly)
{
    bs_buf v = {0};
    plain_bytes(&v, "\x00\x64", 2);         /* 100 */
    plain_bytes(&v, "\xff\xfb", 2);         /* -5 */
    plain_bytes(&v, "\x80", 1);             /* -128 */
    plain_bytes(&v, "\xff\xff\xff\x85", 4); /* -123, sign bytes before */
    /* 10^38 - 1, 38 nines: 0x4B3B4CA85A86C47A098A223FFFFFFFFF */
    plain_bytes(&v, "\x4b\x3b\x4c\xa8\x5a\x86\xc4\x7a\x09\x8a\x22\x3f\xff\xff\xff\xff", 16);
    /* -(10^38 - 1), in 17 bytes (one redundant sign byte) */
    plain_bytes(&v, "\xff\xb4\xc4\xb3\x57\xa5\x79\x3b\x85\xf6\x75\xdd\xc0\x00\x00\x00\x01", 17);
    col_spec c = {.type = 6,
                  .converted = -1,
                  .logical = 5,
                  .lt_scale = 2,
                  .lt_precision = 38,
                  .values = v.data,
                  .values_len = v.len,
                  .nrows = 6};
    CHECK_CSV(&c, "x\n1.00\n-0.05\n-1.28\n-1.23\n"
                  "999999999999999999999999999999999999.99\n"
                  "-999999999999999999999999999999999999.99\n");
    /* Out of precision: 100 in DECIMAL(2,0) has three digits. */
    col_spec p2 = c;
    p2.lt_precision = 2;
    p2.lt_scale = 0;
    p2.nrows = 1;
    p2.values_len = 6;
    CHECK_REFUSED(&p2, BLOBSTORE_ECORRUPT, "more digits than DECIMAL(2,0)");
    bs__buf_free(&v);
    /* More than 128 bits: corrupt. */
    plain_bytes(&v, "\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00", 17);
    col_spec big = {.type = 6,
                    .converted = -1,
                    .logical = 5,
                    .lt_scale = 0,
                    .lt_precision = 38,
                    .values = v.data,
                    .values_len = v.len,
                    .nrows = 1};
    CHECK_REFUSED(&big, BLOBSTORE_ECORRUPT, "beyond 128 bits");
    bs__buf_free(&v);
    /* An empty value is 0 (hyparquet-writer writes 0 so; DuckDB reads 0). */
    plain_bytes(&v, "", 0);
    plain_bytes(&v, "\x05", 1);
    big.values = v.data;
    big.values_len = v.len;
    big.nrows = 2;
    big.lt_scale = 2;
    CHECK_CSV(&big, "x\n0.00\n0.05\n");
    big.nrows = 1;
    big.lt_scale = 0;
    bs__buf_free(&v);
    /* Precision above 38: refused as unsupported, naming it. */
    plain_bytes(&v, "\x01", 1);
    big.values = v.data;
    big.values_len = v.len;
    big.lt_precision = 40;
    CHECK_REFUSED(&big, BLOBSTORE_EUNSUPPORTED, "DECIMAL(40,0)");
    bs__buf_free(&v);
}

TEST(decimal_on_fixed_len_byte_array_reads_exactly)
{
    /* FIXED_LEN_BYTE_ARRAY(5), big endian: 1.00, -0.05, a null, and the
     * largest of DECIMAL(11,2). */
    const uint8_t v[15] = {0,    0,    0,    0,    100,  0xff, 0xff, 0xff,
                           0xff, 0xfb, 0x17, 0x48, 0x76, 0xe7, 0xff}; /* 99999999999 */
    uint8_t defs[4] = {1, 1, 0, 1};
    col_spec c = {.type = 7,
                  .flen = 5,
                  .repetition = 1,
                  .converted = -1,
                  .logical = 5,
                  .lt_scale = 2,
                  .lt_precision = 11,
                  .values = v,
                  .values_len = 15,
                  .nrows = 4,
                  .defs = defs};
    CHECK_CSV(&c, "x\n1.00\n-0.05\n\n999999999.99\n");
    col_spec l0 = c;
    l0.flen = 0;
    CHECK_REFUSED(&l0, BLOBSTORE_ECORRUPT, "FIXED_LEN_BYTE_ARRAY of length 0");
    col_spec plain = c;
    plain.logical = 0; /* fixed-size bytes: binary (issue 15) */
    plain.values = "abcdeABCDEvwxyz";
    CHECK_CSV(&plain, "x\nabcde\nABCDE\n\nvwxyz\n");
    col_spec big = c; /* 99999999999 has 11 digits */
    big.lt_precision = 10;
    big.lt_scale = 0;
    CHECK_REFUSED(&big, BLOBSTORE_ECORRUPT, "more digits than DECIMAL(10,0)");
}

TEST(uuid_float16_interval_read_as_duckdb_gives_them)
{
    /* UUID: FIXED_LEN_BYTE_ARRAY(16) as its text. */
    uint8_t u[32];
    for (int i = 0; i < 32; i++)
        u[i] = (uint8_t)(i < 16 ? i * 17 : 255 - i);
    col_spec c = {.type = 7,
                  .flen = 16,
                  .converted = -1,
                  .logical = 14,
                  .values = u,
                  .values_len = 32,
                  .nrows = 2};
    CHECK_CSV(&c,
              "x\n00112233-4455-6677-8899-aabbccddeeff\nefeeedec-ebea-e9e8-e7e6-e5e4e3e2e1e0\n");
    c.flen = 8;
    c.values_len = 32;
    c.nrows = 4;
    CHECK_REFUSED(&c, BLOBSTORE_ECORRUPT, "UUID on FIXED_LEN_BYTE_ARRAY(8)");
    /* FLOAT16, little endian: 1.0, -2.5, 65504, the smallest subnormal,
     * -0.0, infinity. */
    const uint8_t h[12] = {0x00, 0x3c, 0x00, 0xc1, 0xff, 0x7b, 0x01, 0x00, 0x00, 0x80, 0x00, 0x7c};
    col_spec f = {.type = 7,
                  .flen = 2,
                  .converted = -1,
                  .logical = 15,
                  .values = h,
                  .values_len = 12,
                  .nrows = 6};
    blobstore_table t;
    bs_buf file = {0};
    build(&file, &f);
    CHECK_EQ(bs__pq_read(&t, file.data, file.len, NULL, 0), 0);
    const float want[6] = {1.0f, -2.5f, 65504.0f, 5.9604644775390625e-8f, -0.0f, INFINITY};
    CHECK_EQ(t.cols[0].type, BLOBSTORE_COL_FLOAT32);
    CHECK(memcmp(t.cols[0].values, want, sizeof(want)) == 0);
    blobstore_table_clear(&t);
    bs__buf_free(&file);
    /* INTERVAL (converted type 21): months, days, milliseconds. */
    const uint32_t iv[12] = {14, 3, 14706789, 0, 0, 0, 1, 1, 0, 0, 0, 129600500};
    col_spec i = {
        .type = 7, .flen = 12, .converted = 21, .values = iv, .values_len = 48, .nrows = 4};
    CHECK_CSV(&i, "x\n1 year 2 months 3 days 04:05:06.789\n00:00:00\n1 month 1 day\n36:00:00.5\n");
    i.flen = 8;
    i.nrows = 6;
    CHECK_REFUSED(&i, BLOBSTORE_ECORRUPT, "INTERVAL on FIXED_LEN_BYTE_ARRAY(8)");
}

TEST(decimal_parameters_are_checked)
{
    int32_t v[1] = {1};
    col_spec c = {.type = 1,
                  .converted = -1,
                  .logical = 5,
                  .lt_scale = 3,
                  .lt_precision = 2,
                  .values = v,
                  .values_len = 4,
                  .nrows = 1};
    CHECK_REFUSED(&c, BLOBSTORE_ECORRUPT, "DECIMAL(2,3)"); /* scale above precision */
    c.lt_precision = 0;
    c.lt_scale = 0;
    CHECK_REFUSED(&c, BLOBSTORE_ECORRUPT, "DECIMAL(0,0)");
    col_spec b = {.type = 0,
                  .converted = -1,
                  .logical = 5,
                  .lt_scale = 0,
                  .lt_precision = 2,
                  .values = "\x01",
                  .values_len = 1,
                  .nrows = 1};
    CHECK_REFUSED(&b, BLOBSTORE_ECORRUPT, "DECIMAL on BOOLEAN");
}

TEST(time_reads_as_time_of_day_in_every_unit)
{
    int32_t ms[4] = {0, 86399999, 45296789, 86400000};
    col_spec a = {.type = 1,
                  .converted = -1,
                  .logical = 7,
                  .lt_unit = 1,
                  .values = ms,
                  .values_len = 16,
                  .nrows = 4};
    CHECK_CSV(&a, "x\n00:00:00.000\n23:59:59.999\n12:34:56.789\n24:00:00.000\n");
    col_spec a2 = {.type = 1, .converted = 7, .values = ms, .values_len = 16, .nrows = 4};
    CHECK_CSV(&a2, "x\n00:00:00.000\n23:59:59.999\n12:34:56.789\n24:00:00.000\n");
    int64_t us[3] = {1, 86399999999LL, 45296789002LL};
    uint8_t defs[4] = {1, 0, 1, 1};
    col_spec b = {.type = 2,
                  .repetition = 1,
                  .converted = -1,
                  .logical = 7,
                  .lt_unit = 2,
                  .values = us,
                  .values_len = 24,
                  .nrows = 4,
                  .defs = defs};
    CHECK_CSV(&b, "x\n00:00:00.000001\n\n23:59:59.999999\n12:34:56.789002\n");
    col_spec b2 = {.type = 2, .converted = 8, .values = us, .values_len = 24, .nrows = 3};
    CHECK_CSV(&b2, "x\n00:00:00.000001\n23:59:59.999999\n12:34:56.789002\n");
    int64_t ns[2] = {86399999999999LL, 1};
    col_spec c = {.type = 2,
                  .converted = -1,
                  .logical = 7,
                  .lt_unit = 3,
                  .lt_utc = 1,
                  .values = ns,
                  .values_len = 16,
                  .nrows = 2};
    CHECK_CSV(&c, "x\n23:59:59.999999999Z\n00:00:00.000000001Z\n");
    bs_buf f = {0};
    build(&f, &c);
    pq_table t;
    CHECK_EQ(bs__pq_read(&t, f.data, f.len, NULL, 0), 0);
    CHECK_EQ(t.cols[0].type, PQ_TIME_NS);
    CHECK_EQ(t.cols[0].utc, 1);
    CHECK_EQ(((int64_t *)t.cols[0].values)[0], 86399999999999LL);
    bs__pq_table_free(&t);
    bs__buf_free(&f);
}

TEST(time_outside_a_day_and_wrong_units_are_refused)
{
    int64_t us[1] = {-1};
    col_spec b = {.type = 2,
                  .converted = -1,
                  .logical = 7,
                  .lt_unit = 2,
                  .values = us,
                  .values_len = 8,
                  .nrows = 1};
    CHECK_REFUSED(&b, BLOBSTORE_ECORRUPT, "not a time of day");
    us[0] = 86400000001LL;
    CHECK_REFUSED(&b, BLOBSTORE_ECORRUPT, "not a time of day");
    us[0] = 0;
    b.lt_unit = 1; /* MILLIS is INT32 */
    CHECK_REFUSED(&b, BLOBSTORE_ECORRUPT, "TIME with this unit on INT64");
    int32_t ms[1] = {0};
    col_spec a = {.type = 1,
                  .converted = -1,
                  .logical = 7,
                  .lt_unit = 2,
                  .values = ms,
                  .values_len = 4,
                  .nrows = 1};
    CHECK_REFUSED(&a, BLOBSTORE_ECORRUPT, "TIME with this unit on INT32");
}

TEST(repetition_types_and_annotations_are_checked)
{
    double d[2] = {1.5, -2.25};
    col_spec c = {
        .type = 5, .repetition = 0, .converted = -1, .values = d, .values_len = 16, .nrows = 2};
    CHECK_CSV(&c, "x\n1.5\n-2.25\n");
    /* An invalid repetition type: doubles read as garbage before. */
    c.repetition = 3;
    CHECK_REFUSED(&c, BLOBSTORE_ECORRUPT, "repetition type 3");
    c.repetition = -1;
    CHECK_REFUSED(&c, BLOBSTORE_ECORRUPT, "repetition type -1");
    /* A repeated field is a list of it now (issue 15): a page without the
     * repetition levels it needs is damaged. */
    c.repetition = 2;
    CHECK_REFUSED(&c, BLOBSTORE_ECORRUPT, "parquet:");
    c.repetition = 0;
    c.logical = 1; /* STRING on DOUBLE */
    CHECK_REFUSED(&c, BLOBSTORE_ECORRUPT, "STRING on DOUBLE");
    c.logical = 0;
    c.converted = 40;
    CHECK_REFUSED(&c, BLOBSTORE_ECORRUPT, "converted type 40");
    c.converted = 9; /* TIMESTAMP_MILLIS on DOUBLE */
    CHECK_REFUSED(&c, BLOBSTORE_ECORRUPT, "TIMESTAMP_MILLIS");
    c.converted = -1;
    c.type = 9;
    CHECK_REFUSED(&c, BLOBSTORE_ECORRUPT, "physical type 9");
}

TEST(strings_must_be_utf8)
{
    bs_buf v = {0};
    plain_bytes(&v, "ok", 2);
    plain_bytes(&v, "a\0b", 3); /* NUL is a character */
    plain_bytes(&v, "\xc3\xa9t\xc3\xa9", 5);
    col_spec c = {.type = 6,
                  .converted = -1,
                  .logical = 1,
                  .values = v.data,
                  .values_len = v.len,
                  .nrows = 3};
    int rc;
    char *csv = read_csv(&c, &rc);
    CHECK_EQ(rc, 0);
    CHECK(csv && memcmp(csv, "x\nok\na\0b\n\xc3\xa9t\xc3\xa9\n", 16) == 0);
    blobstore_free(csv);
    plain_bytes(&v, "\xff", 1);
    c.values = v.data;
    c.values_len = v.len;
    c.nrows = 4;
    CHECK_REFUSED(&c, BLOBSTORE_ECORRUPT, "not valid UTF-8");
    c.logical = 0;
    c.converted = 0; /* UTF8 */
    CHECK_REFUSED(&c, BLOBSTORE_ECORRUPT, "not valid UTF-8");
    c.converted = -1; /* plain bytes: anything goes */
    csv = read_csv(&c, &rc);
    CHECK_EQ(rc, 0);
    blobstore_free(csv);
    bs__buf_free(&v);
    /* A surrogate, an overlong form. */
    plain_bytes(&v, "\xed\xa0\x80", 3);
    col_spec s = {.type = 6, .converted = 0, .values = v.data, .values_len = v.len, .nrows = 1};
    CHECK_REFUSED(&s, BLOBSTORE_ECORRUPT, "UTF-8");
    bs__buf_free(&v);
    plain_bytes(&v, "\xc0\xaf", 2);
    s.values = v.data;
    s.values_len = v.len;
    CHECK_REFUSED(&s, BLOBSTORE_ECORRUPT, "UTF-8");
    bs__buf_free(&v);
    /* Long values, whose ASCII is passed over eight bytes at a time: a bad
     * byte anywhere in 20 is found, a character cut at the end of 17 too;
     * 20 ASCII bytes with a NUL read. */
    for (int at = 0; at <= 20; at++) {
        char b[20];
        memset(b, 'a', sizeof(b));
        b[3] = 0;
        if (at < 20)
            b[at] = (char)0xff;
        plain_bytes(&v, b, at < 20 ? 20 : 17);
        if (at == 20)
            v.data[v.len - 1] = 0xc3;
        s.values = v.data;
        s.values_len = v.len;
        CHECK_REFUSED(&s, BLOBSTORE_ECORRUPT, "UTF-8");
        bs__buf_free(&v);
    }
    plain_bytes(&v, "abc\0efghijklmnopqrst", 20);
    s.values = v.data;
    s.values_len = v.len;
    char *csv20 = read_csv(&s, &rc);
    CHECK_EQ(rc, 0);
    CHECK(csv20 && memcmp(csv20, "x\nabc\0efghijklmnopqrst\n", 23) == 0);
    blobstore_free(csv20);
    bs__buf_free(&v);
}

/* A dictionary-encoded string column made by the writer, with its
 * dictionary page patched to invalid UTF-8: refused too. */
TEST(dictionary_strings_must_be_utf8)
{
    pq_table t = {50, 1, calloc(1, sizeof(pq_column))};
    pq_column *c = &t.cols[0];
    c->name = bs__strdup("s");
    c->type = PQ_STRING;
    c->offsets = malloc(51 * sizeof(uint64_t));
    bs_buf b = {0};
    for (size_t i = 0; i < 50; i++) {
        c->offsets[i] = b.len;
        bs__buf_append(&b, i % 2 ? "zq" : "yy", 2);
    }
    c->offsets[50] = b.len;
    c->bytes = b.data;
    uint8_t *file;
    size_t len;
    pq_write_options o = {.codec = "none"};
    CHECK_EQ(bs__pq_write(&file, &len, &t, &o), 0);
    pq_table back;
    CHECK_EQ(bs__pq_read(&back, file, len, NULL, 0), 0);
    bs__pq_table_free(&back);
    uint8_t *zq = memmem(file, len, "zq", 2);
    CHECK(zq != NULL);
    zq[1] = 0xfe;
    CHECK_EQ(bs__pq_read(&back, file, len, NULL, 0), BLOBSTORE_ECORRUPT);
    CHECK(strstr(blobstore_errmsg(), "UTF-8") != NULL);
    free(file);
    bs__pq_table_free(&t);
}

/* A 128-bit value v = hi * 2^64 + lo into 16 bytes. */
static void dec128(uint8_t *out, int64_t hi, uint64_t lo)
{
    memcpy(out, &lo, 8);
    memcpy(out + 8, &hi, 8);
}

TEST(writer_round_trips_time_and_decimal)
{
    enum { N = 6 };
    pq_table t = {N, 6, calloc(6, sizeof(pq_column))};
    static const char *names[] = {"tms", "tus", "tns", "d9", "d18", "d38"};
    static const pq_type types[] = {PQ_TIME_MS, PQ_TIME_US, PQ_TIME_NS,
                                    PQ_DECIMAL, PQ_DECIMAL, PQ_DECIMAL};
    static const int precisions[] = {0, 0, 0, 9, 18, 38};
    for (int k = 0; k < 6; k++) {
        pq_column *c = &t.cols[k];
        c->name = bs__strdup(names[k]);
        c->type = types[k];
        c->precision = precisions[k];
        c->scale = precisions[k] / 2;
        c->nullable = 1;
        c->utc = k == 1;
        c->valid = malloc(N);
        for (int i = 0; i < N; i++)
            c->valid[i] = i != 3;
        c->values = calloc(N, bs__pq_width(c->type));
    }
    const int64_t day[3] = {86400000LL, 86400000000LL, 86400000000000LL};
    for (int k = 0; k < 3; k++) {
        int64_t *v = t.cols[k].values;
        int64_t vals[N] = {0, day[k], day[k] - 1, 0, 1, day[k] / 3};
        memcpy(v, vals, sizeof(vals));
    }
    /* 10^9 - 1, 10^18 - 1 and 10^38 - 1, both signs, zero, one. */
    const int64_t p9 = 999999999, p18 = 999999999999999999LL;
    for (int k = 3; k < 5; k++) {
        int64_t m = k == 3 ? p9 : p18;
        int64_t vals[N] = {m, -m, 0, 0, 1, -1};
        for (int i = 0; i < N; i++)
            dec128((uint8_t *)t.cols[k].values + 16 * i, vals[i] < 0 ? -1 : 0, (uint64_t)vals[i]);
    }
    uint8_t *d38 = t.cols[5].values; /* 10^38 - 1 = 0x4B3B4CA85A86C47A098A223FFFFFFFFF */
    dec128(d38, 0x4B3B4CA85A86C47ALL, 0x098A223FFFFFFFFFULL);
    dec128(d38 + 16, (int64_t)~0x4B3B4CA85A86C47AULL, ~0x098A223FFFFFFFFFULL + 1);
    dec128(d38 + 32, 0, 0);
    dec128(d38 + 64, 0, 1);
    dec128(d38 + 80, 5, 0); /* 5 * 2^64 */
    const char *codecs[] = {"none", "snappy", "zstd"};
    for (int ci = 0; ci < 3; ci++) {
        uint8_t *file;
        size_t len;
        pq_write_options o = {.codec = codecs[ci]};
        CHECK_EQ(bs__pq_write(&file, &len, &t, &o), 0);
        pq_table back;
        CHECK_EQ(bs__pq_read(&back, file, len, NULL, 0), 0);
        for (int k = 0; k < 6; k++) {
            const pq_column *a = &t.cols[k], *b = &back.cols[k];
            CHECK_EQ(b->type, a->type);
            CHECK_EQ(b->precision, a->precision);
            CHECK_EQ(b->scale, a->scale);
            CHECK_EQ(b->utc, a->utc);
            for (int i = 0; i < N; i++) {
                CHECK_EQ(b->valid[i], a->valid[i]);
                if (a->valid[i])
                    CHECK(memcmp((uint8_t *)b->values + i * bs__pq_width(a->type),
                                 (uint8_t *)a->values + i * bs__pq_width(a->type),
                                 bs__pq_width(a->type)) == 0);
            }
        }
        char *csv;
        size_t n;
        CHECK_EQ(blobstore_table_to_csv(&csv, &n, &back), 0);
        CHECK_STR(csv, "tms,tus,tns,d9,d18,d38\n"
                       "00:00:00.000,00:00:00.000000Z,00:00:00.000000000,99999.9999,"
                       "999999999.999999999,9999999999999999999.9999999999999999999\n"
                       "24:00:00.000,24:00:00.000000Z,24:00:00.000000000,-99999.9999,"
                       "-999999999.999999999,-9999999999999999999.9999999999999999999\n"
                       "23:59:59.999,23:59:59.999999Z,23:59:59.999999999,0.0000,"
                       "0.000000000,0.0000000000000000000\n"
                       ",,,,,\n"
                       "00:00:00.001,00:00:00.000001Z,00:00:00.000000001,0.0001,"
                       "0.000000001,0.0000000000000000001\n"
                       "08:00:00.000,08:00:00.000000Z,08:00:00.000000000,-0.0001,"
                       "-0.000000001,9.2233720368547758080\n");
        blobstore_free(csv);
        bs__pq_table_free(&back);
        free(file);
    }
    /* What is not a time of day, or has more digits than the precision, is
     * refused by the writer. */
    uint8_t *file;
    size_t len;
    ((int64_t *)t.cols[1].values)[0] = -1;
    CHECK_EQ(bs__pq_write(&file, &len, &t, NULL), BLOBSTORE_EINVAL);
    CHECK(strstr(blobstore_errmsg(), "not a time of day") != NULL);
    ((int64_t *)t.cols[1].values)[0] = 0;
    dec128((uint8_t *)t.cols[3].values, 0, 1000000000); /* 10 digits in DECIMAL(9,4) */
    CHECK_EQ(bs__pq_write(&file, &len, &t, NULL), BLOBSTORE_EINVAL);
    CHECK(strstr(blobstore_errmsg(), "more digits than DECIMAL(9,4)") != NULL);
    dec128((uint8_t *)t.cols[3].values, 0, 0);
    dec128(d38, 0x4B3B4CA85A86C47ALL, 0x098A223FFFFFFFFFULL + 1); /* 10^38: 39 digits */
    CHECK_EQ(bs__pq_write(&file, &len, &t, NULL), BLOBSTORE_EINVAL);
    CHECK(strstr(blobstore_errmsg(), "DECIMAL(38,19)") != NULL);
    t.cols[5].precision = 39;
    CHECK_EQ(bs__pq_write(&file, &len, &t, NULL), BLOBSTORE_EINVAL);
    /* Nor does CSV show them (a scale of 50 overran the text buffer). */
    char *csv;
    size_t n;
    CHECK_EQ(blobstore_table_to_csv(&csv, &n, &t), BLOBSTORE_EINVAL);
    t.cols[5].precision = 38;
    t.cols[5].scale = 50;
    CHECK_EQ(blobstore_table_to_csv(&csv, &n, &t), BLOBSTORE_EINVAL);
    t.cols[5].scale = 19;
    ((int64_t *)t.cols[0].values)[2] = 86400001;
    CHECK_EQ(blobstore_table_to_csv(&csv, &n, &t), BLOBSTORE_EINVAL);
    CHECK(strstr(blobstore_errmsg(), "not a time of day") != NULL);
    ((int64_t *)t.cols[0].values)[2] = 0;
    CHECK_EQ(blobstore_table_to_csv(&csv, &n, &t), 0);
    blobstore_free(csv);
    bs__pq_table_free(&t);
}

/* Ranged reads (get) stop at each chunk's declared end: whole-file reads
 * (put) must too, so that a file put accepts is one get reads. */
static int fetch_all(void *ctx, uint64_t off, uint64_t len)
{
    (void)ctx;
    (void)off;
    (void)len;
    return 0;
}

TEST(chunk_ranges_are_checked_as_get_reads_them)
{
    int64_t v[3] = {7, 8, 9};
    col_spec c = {.type = 2, .converted = -1, .values = v, .values_len = 24, .nrows = 3};
    CHECK_CSV(&c, "x\n7\n8\n9\n");
    /* The declared size short of the pages, or past the file. */
    static const int64_t deltas[] = {-8, -4, -1, 1000};
    for (size_t i = 0; i < sizeof(deltas) / sizeof(deltas[0]); i++) {
        int64_t delta = deltas[i];
        c.chunk_size_delta = delta;
        bs_buf f = {0};
        build(&f, &c);
        pq_table t;
        int whole = bs__pq_read(&t, f.data, f.len, NULL, 0);
        if (!whole)
            bs__pq_table_free(&t);
        int ranged = bs__pq_read_ranged(&t, f.data, f.len, NULL, 0, fetch_all, NULL);
        if (!ranged)
            bs__pq_table_free(&t);
        bs__buf_free(&f);
        if (whole != BLOBSTORE_ECORRUPT)
            fprintf(stderr, "  declared size %+lld bytes\n", (long long)delta);
        CHECK_EQ(whole, ranged);
        CHECK_EQ(whole, BLOBSTORE_ECORRUPT);
    }
}

TEST(chunk_ranges_through_the_store)
{
    blobstore_options o = BLOBSTORE_OPTIONS_INIT;
    o.cache_dir = test_tmpdir();
    blobstore *bs;
    CHECK_EQ(blobstore_open(&bs, &o), 0);
    int64_t v[3] = {7, 8, 9};
    col_spec c = {.type = 2,
                  .converted = -1,
                  .values = v,
                  .values_len = 24,
                  .nrows = 3,
                  .chunk_size_delta = -4};
    bs_buf f = {0};
    build(&f, &c);
    /* Refused at put (it used to be stored, then refused by every get). */
    CHECK_EQ(blobstore_table_put_parquet(NULL, bs, "short", f.data, f.len, NULL),
             BLOBSTORE_ECORRUPT);
    CHECK(strstr(blobstore_errmsg(), "not a valid Parquet file") != NULL);
    CHECK_EQ(blobstore_exists(bs, "short"), 0);
    bs__buf_free(&f);
    c.chunk_size_delta = 0;
    build(&f, &c);
    CHECK_EQ(blobstore_table_put_parquet(NULL, bs, "ok", f.data, f.len, NULL), 0);
    blobstore_table t;
    const char *names[] = {"x"};
    CHECK_EQ(blobstore_table_get(&t, bs, "ok", names, 1), 0);
    CHECK_EQ(((int64_t *)t.cols[0].values)[2], 9);
    blobstore_table_clear(&t);
    bs__buf_free(&f);
    blobstore_close(bs);
}

/* A small file whose footer claims more rows than it can hold: refused as
 * damaged (the arrays grow with the pages read, and a page's claimed count
 * is checked against what its levels and values hold), never allocated for.
 * Before, the reader sized its arrays from the footer's 2^40 rows and failed
 * with "out of memory" (or, for 2^28 rows, took gigabytes of address space). */
static void check_claims(int64_t claim)
{
    static const int64_t one = 7;
    static const uint8_t present[1] = {1};
    col_spec req = {
        .type = 2, .converted = -1, .values = &one, .values_len = 8, .nrows = 1, .claim = claim};
    CHECK_REFUSED(&req, BLOBSTORE_ECORRUPT, "values are fewer than its header says");
    col_spec opt = req;
    opt.repetition = 1;
    opt.defs = present;
    CHECK_REFUSED(&opt, BLOBSTORE_ECORRUPT, "definition levels hold fewer values");
    /* Strings: 4-byte lengths bound the count. */
    static const uint8_t str[] = {1, 0, 0, 0, 'a'};
    col_spec s = {.type = 6,
                  .converted = -1,
                  .values = str,
                  .values_len = sizeof(str),
                  .nrows = 1,
                  .claim = claim};
    CHECK_REFUSED(&s, BLOBSTORE_ECORRUPT, "values are fewer than its header says");
    /* Booleans: a bit each. */
    static const uint8_t bits[] = {0xff};
    col_spec b = {
        .type = 0, .converted = -1, .values = bits, .values_len = 1, .nrows = 8, .claim = claim};
    CHECK_REFUSED(&b, BLOBSTORE_ECORRUPT, "values are fewer than its header says");
    /* DELTA_BINARY_PACKED: a header (block 128, 4 miniblocks, a total of
     * 2^31-1, first value 0) and no blocks holds one value. */
    static const uint8_t delta[] = {0x80, 0x01, 0x04, 0xff, 0xff, 0xff, 0xff, 0x07, 0x00};
    col_spec d = {.type = 2,
                  .converted = -1,
                  .values = delta,
                  .values_len = sizeof(delta),
                  .nrows = 1,
                  .claim = claim,
                  .encoding = 5};
    CHECK_REFUSED(&d, BLOBSTORE_ECORRUPT, "values are fewer than its header says");
    /* An encoding the reader does not decode (BIT_PACKED for values, an
     * unknown 32) is refused before anything is sized from the claim (the
     * fuzzer's input: 16 GiB reserved for 2^31 values in 8 bytes, then
     * "unknown encoding"); a dictionary-encoded page of no bytes holds no
     * index. */
    col_spec u = req;
    u.encoding = 4;
    CHECK_REFUSED(&u, BLOBSTORE_EUNSUPPORTED, "BIT_PACKED encoding");
    u.encoding = 32;
    CHECK_REFUSED(&u, BLOBSTORE_EUNSUPPORTED, "unknown encoding");
    col_spec e = req;
    e.encoding = 8;
    e.values_len = 0;
    CHECK_REFUSED(&e, BLOBSTORE_ECORRUPT, "values are fewer than its header says");
    /* The claim honest in the page, not in the footer: the chunk ends. */
    col_spec f = req;
    f.claim = 0;
    f.nrows = 1;
    CHECK_CSV(&f, "x\n7\n");
}

TEST(row_counts_a_file_cannot_hold_are_corrupt)
{
    check_claims((int64_t)1 << 40);
    check_claims(INT32_MAX);
    /* In a child whose address space is bounded to 256 MiB more than it
     * uses: 2^28 claimed rows of 8 bytes (2 GiB) must not be reserved.
     * (Not under ASan, whose shadow memory needs the address space.) */
#if defined(__SANITIZE_ADDRESS__)
    return;
#endif
    if (getenv("BLOBSTORE_SANITIZED"))
        return;
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        long pages = 0;
        FILE *f = fopen("/proc/self/statm", "r");
        if (!f || fscanf(f, "%ld", &pages) != 1)
            _exit(2);
        fclose(f);
        struct rlimit rl;
        rl.rlim_cur = rl.rlim_max = (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE) + (256u << 20);
        if (setrlimit(RLIMIT_AS, &rl) != 0)
            _exit(2);
        static const int64_t one = 7;
        col_spec req = {.type = 2,
                        .converted = -1,
                        .values = &one,
                        .values_len = 8,
                        .nrows = 1,
                        .claim = (int64_t)1 << 28};
        int rc, rc2;
        char *csv = read_csv(&req, &rc);
        blobstore_free(csv);
        req.encoding = 32;
        csv = read_csv(&req, &rc2);
        blobstore_free(csv);
        _exit(rc == BLOBSTORE_ECORRUPT && rc2 == BLOBSTORE_EUNSUPPORTED ? 0 : 1);
    }
    int status = 0;
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static const test_case tests[] = {
    TEST_ENTRY(bit_packed_levels_are_refused_where_there_are_levels),
    TEST_ENTRY(int96_beyond_the_nanosecond_range_reads_as_microseconds),
    TEST_ENTRY(row_counts_a_file_cannot_hold_are_corrupt),
    TEST_ENTRY(int96_keeps_nanoseconds_when_they_fit),
    TEST_ENTRY(int96_that_fits_no_unit_is_refused),
    TEST_ENTRY(decimal_on_int32_int64_reads_exactly),
    TEST_ENTRY(decimal_on_byte_array_reads_exactly),
    TEST_ENTRY(decimal_on_fixed_len_byte_array_reads_exactly),
    TEST_ENTRY(uuid_float16_interval_read_as_duckdb_gives_them),
    TEST_ENTRY(decimal_parameters_are_checked),
    TEST_ENTRY(time_reads_as_time_of_day_in_every_unit),
    TEST_ENTRY(time_outside_a_day_and_wrong_units_are_refused),
    TEST_ENTRY(repetition_types_and_annotations_are_checked),
    TEST_ENTRY(strings_must_be_utf8),
    TEST_ENTRY(dictionary_strings_must_be_utf8),
    TEST_ENTRY(writer_round_trips_time_and_decimal),
    TEST_ENTRY(chunk_ranges_are_checked_as_get_reads_them),
    TEST_ENTRY(chunk_ranges_through_the_store),
};
TEST_MAIN(tests)
