/*
 * test_parquet.c - the Parquet module: every column type x nullability x
 * codec written and read back; projection; statistics; row groups;
 * damaged files.
 */
#include "parquet/parquet.h"
#include "pq_pages.h"
#include "test.h"

#include <fcntl.h>
#include <math.h>
#include <unistd.h>

#define ROWS 1000

static void fill(pq_column *c, pq_type t, int nullable, size_t n, int seed)
{
    memset(c, 0, sizeof(*c));
    char name[32];
    snprintf(name, sizeof(name), "%s%s", bs__pq_type_name(t), nullable ? "_null" : "");
    c->name = bs__strdup(name);
    c->type = t;
    c->nullable = nullable;
    c->utc = t == PQ_TIMESTAMP_US;
    size_t w = bs__pq_width(t);
    if (nullable) {
        c->valid = malloc(n);
        for (size_t i = 0; i < n; i++)
            c->valid[i] = (i * 7 + (size_t)seed) % 5 != 0;
    }
    if (w) {
        c->values = calloc(n, w);
        for (size_t i = 0; i < n; i++) {
            uint64_t v = (uint64_t)(i * 2654435761u + (uint64_t)seed) ^ (i << 40);
            if (t == PQ_BOOL)
                ((uint8_t *)c->values)[i] = (uint8_t)(v & 1);
            else if (t == PQ_FLOAT) {
                float f = (float)i * 0.5f - 100.0f;
                memcpy((uint8_t *)c->values + i * 4, &f, 4);
            } else if (t == PQ_DOUBLE) {
                double d = (double)i * 1.25 - 300.0;
                memcpy((uint8_t *)c->values + i * 8, &d, 8);
            } else {
                memcpy((uint8_t *)c->values + i * w, &v, w);
            }
        }
    } else {
        c->offsets = malloc((n + 1) * sizeof(uint64_t));
        bs_buf b = {0};
        for (size_t i = 0; i < n; i++) {
            char s[64];
            int len = snprintf(s, sizeof(s), "v%zu-ключ", (i * 13) % (t == PQ_STRING ? 37 : 1000));
            c->offsets[i] = b.len;
            bs__buf_append(&b, s, (size_t)len);
        }
        c->offsets[n] = b.len;
        c->bytes = b.data;
    }
}

static int same_column(const pq_column *a, const pq_column *b, size_t n)
{
    if (a->type != b->type || a->nullable != b->nullable || strcmp(a->name, b->name) != 0)
        return 0;
    size_t w = bs__pq_width(a->type);
    for (size_t i = 0; i < n; i++) {
        int va = !a->valid || a->valid[i], vb = !b->valid || b->valid[i];
        if (va != vb)
            return 0;
        if (!va)
            continue;
        if (w) {
            if (memcmp((uint8_t *)a->values + i * w, (uint8_t *)b->values + i * w, w) != 0)
                return 0;
        } else {
            size_t la = (size_t)(a->offsets[i + 1] - a->offsets[i]);
            size_t lb = (size_t)(b->offsets[i + 1] - b->offsets[i]);
            if (la != lb || memcmp(a->bytes + a->offsets[i], b->bytes + b->offsets[i], la) != 0)
                return 0;
        }
    }
    return 1;
}

/*
 * The RLE / bit-packing hybrid at its boundaries: every length around a
 * group of 8, a header's 63 groups (504), 1024 and 65536, with runs of equal
 * values before, after and inside bit-packed groups, at bit widths 1..20.
 * A decode must give back exactly the values encoded, and no more than n.
 */
static int rle_round_trip(const uint32_t *v, size_t n, int bw)
{
    bs_buf b = {0};
    uint32_t *got = calloc(n + 1, sizeof(uint32_t));
    int ok = got && bs__pq_rle_encode(&b, v, n, bw) == 0 &&
             bs__pq_rle_decode(b.data, b.len, bw, got, n) == 0 &&
             (n == 0 || memcmp(got, v, n * sizeof(uint32_t)) == 0);
    if (!ok)
        fprintf(stderr, "rle: n=%zu bw=%d differs\n", n, bw);
    free(got);
    bs__buf_free(&b);
    return ok;
}

TEST(rle_hybrid_round_trips_at_every_run_boundary)
{
    static const size_t lens[] = {1,  2,  3,  4,   5,   6,   7,    8,    9,    15,    16,    17,
                                  63, 64, 65, 503, 504, 505, 1023, 1024, 1025, 65535, 65536, 65537};
    uint32_t *v = malloc(65537 * sizeof(uint32_t));
    CHECK(v != NULL);
    uint64_t seed = 0x9e3779b97f4a7c15u;
    for (int bw = 1; bw <= 20; bw += (bw < 4 ? 1 : 5)) {
        uint32_t mask = (uint32_t)((1u << bw) - 1);
        for (size_t li = 0; li < sizeof(lens) / sizeof(lens[0]); li++) {
            size_t n = lens[li];
            for (int pattern = 0; pattern < 6; pattern++) {
                for (size_t i = 0; i < n; i++) {
                    seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
                    uint32_t r = (uint32_t)seed & mask;
                    switch (pattern) {
                    case 0: /* no runs */
                        v[i] = r;
                        break;
                    case 1: /* all equal */
                        v[i] = mask;
                        break;
                    case 2: /* a long run first, then distinct values */
                        v[i] = i < n / 2 ? 1 : r;
                        break;
                    case 3: /* distinct values, then a long run */
                        v[i] = i < n / 2 ? r : 1 & mask;
                        break;
                    case 4: /* runs of 1..12 inside bit-packed stretches */
                        v[i] = (uint32_t)((i / (1 + i % 12)) & mask);
                        break;
                    default: /* sparse: mostly 0 with a few 1s (levels) */
                        v[i] = (seed >> 40) % 7 == 0;
                        break;
                    }
                }
                if (!rle_round_trip(v, n, bw)) {
                    free(v);
                    CHECK(!"rle round trip");
                }
            }
        }
    }
    /* The reported cases: YNNNNNNNNYNNNNYY as dictionary indices, and a null first. */
    static const uint32_t flip[16] = {0, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 0, 0};
    static const uint32_t nullfirst[10] = {0, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    int ok = rle_round_trip(flip, 16, 1) && rle_round_trip(nullfirst, 10, 1);
    free(v);
    CHECK(ok);
}

TEST(every_type_nullability_codec_round_trips)
{
    static const char *codecs[] = {"snappy", "zstd", "gzip", "lz4_raw", "none"};
    pq_table t = {ROWS, 2 * (PQ_DATE + 1), NULL};
    t.cols = calloc(t.ncols, sizeof(pq_column));
    for (int ty = 0; ty <= PQ_DATE; ty++)
        for (int nl = 0; nl < 2; nl++)
            fill(&t.cols[ty * 2 + nl], (pq_type)ty, nl, ROWS, ty);
    for (int c = 0; c < 5; c++) {
        pq_write_options o = {.codec = codecs[c],
                              .row_group_rows = 300,
                              .pandas_metadata = "{\"index_columns\": []}"};
        uint8_t *file;
        size_t len;
        CHECK_EQ(bs__pq_write(&file, &len, &t, &o), 0);
        pq_table back;
        int rc = bs__pq_read(&back, file, len, NULL, 0);
        if (rc)
            fprintf(stderr, "  %s: %s\n", codecs[c], blobstore_errmsg());
        CHECK_EQ(rc, 0);
        CHECK_EQ(back.nrows, ROWS);
        CHECK_EQ(back.ncols, t.ncols);
        for (size_t i = 0; i < t.ncols; i++) {
            if (!same_column(&t.cols[i], &back.cols[i], ROWS))
                fprintf(stderr, "  %s: column %s differs\n", codecs[c], t.cols[i].name);
            CHECK(same_column(&t.cols[i], &back.cols[i], ROWS));
        }
        CHECK(back.cols[PQ_TIMESTAMP_US * 2].utc);
        bs__pq_table_free(&back);
        free(file);
    }
    bs__pq_table_free(&t);
}

/* A row group of nullable 16-byte decimals longer than the check's block
 * (1,024 rows): the writer's check hashed them through a buffer of 8 bytes
 * a row and overran it (a crash in get --columns -o x.parquet of 5,000
 * DECIMAL rows with nulls). */
TEST(nullable_decimals_in_long_row_groups_round_trip)
{
    const size_t n = 5000;
    pq_table t = {n, 1, NULL};
    t.cols = calloc(1, sizeof(pq_column));
    pq_column *c = &t.cols[0];
    c->name = bs__strdup("d");
    c->type = PQ_DECIMAL;
    c->precision = 38;
    c->scale = 4;
    c->nullable = 1;
    c->valid = malloc(n);
    c->values = calloc(n, 16);
    for (size_t i = 0; i < n; i++) {
        c->valid[i] = i % 3 != 1;
        int64_t lo = ((int64_t)i * 2654435761LL) * (i % 2 ? -1 : 1), hi = lo < 0 ? -1 : 0;
        memcpy((uint8_t *)c->values + 16 * i, &lo, 8);
        memcpy((uint8_t *)c->values + 16 * i + 8, &hi, 8);
    }
    pq_write_options o = {.codec = "snappy"};
    uint8_t *file;
    size_t len;
    CHECK_EQ(bs__pq_write(&file, &len, &t, &o), 0);
    pq_table back;
    CHECK_EQ(bs__pq_read(&back, file, len, NULL, 0), 0);
    CHECK_EQ(back.nrows, n);
    CHECK(same_column(c, &back.cols[0], n));
    bs__pq_table_free(&back);
    free(file);
    bs__pq_table_free(&t);
}

/* Count the pages of a file written by bs__pq_write: data pages and
 * dictionary pages. */
static int count_pages(const uint8_t *file, size_t len, size_t *data, size_t *dicts)
{
    size_t pos = 4, body_len;
    const uint8_t *body;
    int64_t type;
    int rc;
    *data = *dicts = 0;
    while ((rc = pq_next_page(file, len, &pos, &type, &body, &body_len)) == 1) {
        *data += type == 0;
        *dicts += type == 2;
    }
    return rc;
}

/* Data pages split by rows and by bytes: every type, nullable or not, with
 * a dictionary or not, read back value for value from many pages. */
TEST(column_chunks_split_into_pages)
{
    pq_table t = {ROWS, 2 * (PQ_DATE + 1), NULL};
    t.cols = calloc(t.ncols, sizeof(pq_column));
    for (int ty = 0; ty <= PQ_DATE; ty++)
        for (int nl = 0; nl < 2; nl++)
            fill(&t.cols[ty * 2 + nl], (pq_type)ty, nl, ROWS, ty);
    static const struct {
        size_t group_rows, page_rows, page_bytes, min_pages;
    } cases[] = {
        {0, 0, 0, 1},        /* defaults: one page a chunk */
        {0, 7, 0, 143},      /* ceil(1000 / 7) pages per column */
        {300, 64, 0, 17},    /* 4 row groups of 5 pages (the last: 2) */
        {0, 0, 100, 10},     /* >= 100 bytes of values a page */
        {333, 1, 0, ROWS},   /* one row a page */
        {0, 1000000, 1, 400} /* a byte a page: one value (two 6-bit indices) */
    };
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        pq_write_options o = {.row_group_rows = cases[k].group_rows,
                              .page_rows = cases[k].page_rows,
                              .page_bytes = cases[k].page_bytes};
        uint8_t *file;
        size_t len, data, dicts;
        CHECK_EQ(bs__pq_write(&file, &len, &t, &o), 0);
        CHECK_EQ(count_pages(file, len, &data, &dicts), 0);
        if (data < cases[k].min_pages * t.ncols)
            fprintf(stderr, "  case %zu: %zu data pages\n", k, data);
        CHECK(data >= cases[k].min_pages * t.ncols);
        CHECK(dicts > 0); /* the repeating string/binary columns */
        pq_table back;
        CHECK_EQ(bs__pq_read(&back, file, len, NULL, 0), 0);
        CHECK_EQ(back.nrows, ROWS);
        for (size_t i = 0; i < t.ncols; i++) {
            if (!same_column(&t.cols[i], &back.cols[i], ROWS))
                fprintf(stderr, "  case %zu: column %s differs\n", k, t.cols[i].name);
            CHECK(same_column(&t.cols[i], &back.cols[i], ROWS));
        }
        bs__pq_table_free(&back);
        free(file);
    }
    /* The environment sets what the options leave at 0, and only that. */
    size_t g, pr, pb;
    setenv("BLOBSTORE_PARQUET_ROW_GROUP_ROWS", "123", 1);
    setenv("BLOBSTORE_PARQUET_PAGE_ROWS", "45", 1);
    setenv("BLOBSTORE_PARQUET_PAGE_BYTES", "x", 1); /* ignored */
    bs__pq_write_limits(NULL, &g, &pr, &pb);
    CHECK(g == 123 && pr == 45 && pb == 1 << 20);
    pq_write_options o = {.row_group_rows = 7};
    bs__pq_write_limits(&o, &g, &pr, &pb);
    CHECK(g == 7 && pr == 45);
    uint8_t *file;
    size_t len, data, dicts;
    CHECK_EQ(bs__pq_write(&file, &len, &t, NULL), 0);
    CHECK_EQ(count_pages(file, len, &data, &dicts), 0);
    CHECK_EQ(data, (size_t)(8 * 3 + 1) * t.ncols); /* 8 groups of 123 (3 pages), 1 of 16 */
    free(file);
    unsetenv("BLOBSTORE_PARQUET_ROW_GROUP_ROWS");
    unsetenv("BLOBSTORE_PARQUET_PAGE_ROWS");
    unsetenv("BLOBSTORE_PARQUET_PAGE_BYTES");
    bs__pq_write_limits(NULL, &g, &pr, &pb);
    CHECK(g == 1000000 && pr == 20000 && pb == 1 << 20);
    bs__pq_table_free(&t);
}

/* CSV in and out keep every value: uint64 above INT64_MAX, empty strings
 * apart from nulls, NUL bytes in binary; a value that does not fit its
 * integer type is an error, never its low bytes. */
TEST(csv_values_round_trip_exactly)
{
    static const char csv[] = "u,s,b,i\n"
                              "18446744073709551615,\"\",\"x\0y\",-128\n"
                              "0,,,127\n"
                              "9223372036854775808,\"a,\"\"b\"\"\",\"\",0\n";
    blobstore_table t;
    CHECK_EQ(
        blobstore_table_from_csv(&t, csv, sizeof(csv) - 1, "u:uint64,s:string,b:binary,i:int8"), 0);
    CHECK_EQ(t.nrows, 3);
    uint64_t u[3];
    memcpy(u, t.cols[0].values, sizeof(u));
    CHECK(u[0] == UINT64_MAX && u[1] == 0 && u[2] == (uint64_t)1 << 63);
    const pq_column *str = &t.cols[1], *bin = &t.cols[2];
    CHECK(str->valid && str->valid[0] && !str->valid[1] && str->valid[2]);
    CHECK(str->offsets[1] == str->offsets[0]); /* "" */
    CHECK(bin->valid && bin->valid[0] && !bin->valid[1] && bin->valid[2]);
    CHECK(bin->offsets[1] - bin->offsets[0] == 3 && memcmp(bin->bytes, "x\0y", 3) == 0);
    CHECK(bin->offsets[3] == bin->offsets[2]); /* "" */
    char *out;
    size_t len;
    CHECK_EQ(blobstore_table_to_csv(&out, &len, &t), 0);
    blobstore_table back;
    CHECK_EQ(blobstore_table_from_csv(&back, out, len, "u:uint64,s:string,b:binary,i:int8"), 0);
    blobstore_free(out);
    for (size_t k = 0; k < t.ncols; k++)
        CHECK(same_column(&t.cols[k], &back.cols[k], t.nrows));
    blobstore_table_clear(&back);
    blobstore_table_clear(&t);
    static const struct {
        const char *csv, *schema;
    } bad[] = {{"a\n128\n", "a:int8"},
               {"a\n-129\n", "a:int8"},
               {"a\n256\n", "a:uint8"},
               {"a\n65536\n", "a:uint16"},
               {"a\n-1\n", "a:uint32"},
               {"a\n4294967296\n", "a:uint32"},
               {"a\n-1\n", "a:uint64"},
               {"a\n18446744073709551616\n", "a:uint64"},
               {"a\n32768\n", "a:int16"},
               {"a\n2147483648\n", "a:int32"},
               {"a\n9223372036854775808\n", "a:int64"},
               /* Instants the unit's 64 bits (a date's 32) do not hold:
                * refused, never wrapped (9999 in ns overflowed silently) */
               {"a\n9999-01-01 00:00:00\n", "a:timestamp[ns]"},
               {"a\n2262-04-11 23:47:16.854775808\n", "a:timestamp[ns]"},
               {"a\n1677-09-21 00:12:43.145224191\n", "a:timestamp[ns]"},
               {"a\n300000-01-01 00:00:00\n", "a:timestamp[us]"},
               {"a\n99999999-01-01\n", "a:date"},
               {"a\n2147483648\n", "a:date"}};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = blobstore_table_from_csv(&t, bad[i].csv, strlen(bad[i].csv), bad[i].schema);
        if (rc != BLOBSTORE_EINVAL)
            fprintf(stderr, "  %s as %s: %d\n", bad[i].csv, bad[i].schema, rc);
        CHECK_EQ(rc, BLOBSTORE_EINVAL);
    }
    /* The int64 nanosecond range's two ends read exactly. */
    static const char ends[] = "a\n2262-04-11 23:47:16.854775807\n1677-09-21 00:12:43.145224192\n"
                               "1969-12-31 23:59:59.5\n";
    CHECK_EQ(blobstore_table_from_csv(&t, ends, sizeof(ends) - 1, "a:timestamp[ns]"), 0);
    int64_t ns[3];
    memcpy(ns, t.cols[0].values, sizeof(ns));
    CHECK(ns[0] == INT64_MAX && ns[1] == INT64_MIN && ns[2] == -500000000);
    blobstore_table_clear(&t);
    static const char nul[] = "a\n1\0002\n";
    CHECK_EQ(blobstore_table_from_csv(&t, nul, sizeof(nul) - 1, "a:int32"), BLOBSTORE_EINVAL);
}

TEST(projection_reads_only_named_columns)
{
    pq_table t = {50, 3, calloc(3, sizeof(pq_column))};
    fill(&t.cols[0], PQ_INT64, 0, 50, 1);
    fill(&t.cols[1], PQ_STRING, 1, 50, 2);
    fill(&t.cols[2], PQ_DOUBLE, 0, 50, 3);
    uint8_t *file;
    size_t len;
    CHECK_EQ(bs__pq_write(&file, &len, &t, NULL), 0);
    const char *names[] = {"float64", "string_null"};
    pq_table back;
    CHECK_EQ(bs__pq_read(&back, file, len, names, 2), 0);
    CHECK_EQ(back.ncols, 2);
    CHECK(same_column(&t.cols[2], &back.cols[0], 50));
    CHECK(same_column(&t.cols[1], &back.cols[1], 50));
    bs__pq_table_free(&back);
    const char *missing[] = {"nope"};
    CHECK_EQ(bs__pq_read(&back, file, len, missing, 1), BLOBSTORE_EINVAL);
    free(file);
    bs__pq_table_free(&t);
}

TEST(damaged_files_give_errors)
{
    pq_table t = {200, 2, calloc(2, sizeof(pq_column))};
    fill(&t.cols[0], PQ_INT32, 1, 200, 1);
    fill(&t.cols[1], PQ_STRING, 0, 200, 2);
    uint8_t *file;
    size_t len;
    CHECK_EQ(bs__pq_write(&file, &len, &t, NULL), 0);
    pq_table back;
    for (size_t cut = 0; cut < len; cut++)
        CHECK(bs__pq_read(&back, file, cut, NULL, 0) != 0);
    uint8_t *copy = malloc(len);
    for (size_t i = 0; i < len; i++) {
        memcpy(copy, file, len);
        copy[i] ^= 0x41;
        if (bs__pq_read(&back, copy, len, NULL, 0) == 0)
            bs__pq_table_free(&back);
    }
    free(copy);
    free(file);
    bs__pq_table_free(&t);
}

/* A file with one INT96 column (legacy timestamps), built by hand. */
TEST(int96_timestamps_read_as_nanoseconds)
{
    bs_buf f = {0}, hdr = {0}, foot = {0};
    bs__buf_append(&f, "PAR1", 4);
    uint8_t page[24];
    int64_t nanos[2] = {3600LL * 1000000000LL, 0};
    int32_t julian[2] = {2440588 + 1, 2440588 - 1}; /* 1970-01-02 01:00, 1969-12-31 */
    for (int i = 0; i < 2; i++) {
        memcpy(page + 12 * i, &nanos[i], 8);
        memcpy(page + 12 * i + 8, &julian[i], 4);
    }
    tc_writer w = {&hdr, {0}, 0, 0};
    bs__tc_struct_begin(&w);
    bs__tc_i32(&w, 1, 0);
    bs__tc_i32(&w, 2, 24);
    bs__tc_i32(&w, 3, 24);
    bs__tc_field_struct(&w, 5);
    bs__tc_i32(&w, 1, 2);
    bs__tc_i32(&w, 2, 0);
    bs__tc_i32(&w, 3, 3);
    bs__tc_i32(&w, 4, 3);
    bs__tc_struct_end(&w);
    bs__tc_struct_end(&w);
    int64_t data_off = (int64_t)f.len;
    bs__buf_append(&f, hdr.data, hdr.len);
    bs__buf_append(&f, page, 24);
    tc_writer m = {&foot, {0}, 0, 0};
    bs__tc_struct_begin(&m);
    bs__tc_i32(&m, 1, 1);
    bs__tc_list(&m, 2, TC_STRUCT, 2);
    bs__tc_struct_begin(&m);
    bs__tc_string(&m, 4, "schema");
    bs__tc_i32(&m, 5, 1);
    bs__tc_struct_end(&m);
    bs__tc_struct_begin(&m);
    bs__tc_i32(&m, 1, 3); /* INT96 */
    bs__tc_i32(&m, 3, 0);
    bs__tc_string(&m, 4, "ts");
    bs__tc_struct_end(&m);
    bs__tc_i64(&m, 3, 2);
    bs__tc_list(&m, 4, TC_STRUCT, 1);
    bs__tc_struct_begin(&m);
    bs__tc_list(&m, 1, TC_STRUCT, 1);
    bs__tc_struct_begin(&m);
    bs__tc_i64(&m, 2, data_off);
    bs__tc_field_struct(&m, 3);
    bs__tc_i32(&m, 1, 3);
    bs__tc_list(&m, 2, TC_I32, 1);
    bs__tc_list_i32(&m, 0);
    bs__tc_list(&m, 3, TC_BINARY, 1);
    bs__tc_list_string(&m, "ts");
    bs__tc_i32(&m, 4, 0);
    bs__tc_i64(&m, 5, 2);
    bs__tc_i64(&m, 6, (int64_t)(hdr.len + 24));
    bs__tc_i64(&m, 7, (int64_t)(hdr.len + 24));
    bs__tc_i64(&m, 9, data_off);
    bs__tc_struct_end(&m);
    bs__tc_struct_end(&m);
    bs__tc_i64(&m, 2, 24);
    bs__tc_i64(&m, 3, 2);
    bs__tc_struct_end(&m);
    bs__tc_struct_end(&m);
    CHECK(!w.bad && !m.bad);
    uint32_t fl = (uint32_t)foot.len;
    bs__buf_append(&f, foot.data, foot.len);
    bs__buf_append(&f, &fl, 4);
    bs__buf_append(&f, "PAR1", 4);
    pq_table t;
    int rc = bs__pq_read(&t, f.data, f.len, NULL, 0);
    if (rc)
        fprintf(stderr, "  %s\n", blobstore_errmsg());
    CHECK_EQ(rc, 0);
    CHECK_EQ(t.cols[0].type, PQ_TIMESTAMP_NS);
    int64_t v[2];
    memcpy(v, t.cols[0].values, 16);
    CHECK_EQ(v[0], 90000LL * 1000000000LL);
    CHECK_EQ(v[1], -86400LL * 1000000000LL);
    bs__pq_table_free(&t);
    bs__buf_free(&f);
    bs__buf_free(&hdr);
    bs__buf_free(&foot);
}

TEST(tables_through_the_store)
{
    blobstore_options o = BLOBSTORE_OPTIONS_INIT;
    o.cache_dir = test_tmpdir();
    o.backend = "sqlite";
    blobstore *bs;
    CHECK_EQ(blobstore_open(&bs, &o), 0);
    const char *csv = "id,name,score,ok,day,when\n"
                      "1,alice,0.5,true,2024-01-15,2024-01-15 10:30:00.250\n"
                      "2,\"bob, jr\",,false,2024-02-29,2024-02-29T00:00:01Z\n"
                      "3,\"say \"\"hi\"\"\",2.25,,1970-01-01,\n";
    blobstore_table t;
    CHECK_EQ(blobstore_table_from_csv(&t, csv, strlen(csv), "day:date,when:timestamp[ms]"), 0);
    CHECK_EQ(t.nrows, 3);
    CHECK_EQ(t.ncols, 6);
    CHECK_EQ(t.cols[0].type, BLOBSTORE_COL_INT64);
    CHECK_EQ(t.cols[1].type, BLOBSTORE_COL_STRING);
    CHECK_EQ(t.cols[2].type, BLOBSTORE_COL_FLOAT64);
    CHECK(t.cols[2].nullable);
    CHECK_EQ(t.cols[3].type, BLOBSTORE_COL_BOOL);
    CHECK_EQ(t.cols[4].type, BLOBSTORE_COL_DATE);
    CHECK_EQ(((int32_t *)t.cols[4].values)[1], 19782);
    CHECK_EQ(((int64_t *)t.cols[5].values)[0], 1705314600250LL);
    blobstore_table_options to = BLOBSTORE_TABLE_OPTIONS_INIT;
    to.metadata = "{\"source\": \"csv\"}";
    to.compression = "zstd";
    char *key;
    CHECK_EQ(blobstore_table_put(&key, bs, "t", &t, &to), 0);
    blobstore_free(key);
    char *meta;
    CHECK_EQ(blobstore_get_metadata(&meta, bs, "t"), 0);
    CHECK(strstr(meta, "\"format\":\"parquet\"") != NULL);
    CHECK(strstr(meta, "\"num_rows\":3") != NULL);
    CHECK(strstr(meta, "{\"name\":\"score\",\"type\":\"float64\",\"nullable\":true}") != NULL);
    CHECK(strstr(meta, ".parquet\"") != NULL);
    blobstore_free(meta);
    blobstore_table back;
    CHECK_EQ(blobstore_table_get(&back, bs, "t", NULL, 0), 0);
    char *out;
    size_t n;
    CHECK_EQ(blobstore_table_to_csv(&out, &n, &back), 0);
    CHECK_STR(out, "id,name,score,ok,day,when\n"
                   "1,alice,0.5,true,2024-01-15,2024-01-15 10:30:00.250\n"
                   "2,\"bob, jr\",,false,2024-02-29,2024-02-29 00:00:01.000\n"
                   "3,\"say \"\"hi\"\"\",2.25,,1970-01-01,\n");
    blobstore_free(out);
    blobstore_table_clear(&back);
    const char *cols[] = {"when", "id"};
    CHECK_EQ(blobstore_table_get(&back, bs, "t", cols, 2), 0);
    CHECK_EQ(back.ncols, 2);
    CHECK_STR(back.cols[0].name, "when");
    blobstore_table_clear(&back);
    const char *bad[] = {"nope"};
    CHECK_EQ(blobstore_table_get(&back, bs, "t", bad, 1), BLOBSTORE_EINVAL);
    /* A Parquet file is checked before it is stored. */
    void *pq;
    size_t len;
    CHECK_EQ(blobstore_table_to_parquet(&pq, &len, &t, NULL), 0);
    CHECK_EQ(blobstore_table_put_parquet(NULL, bs, "copy", pq, len, NULL), 0);
    memset((uint8_t *)pq + 4, 0xff, 8); /* the first page header */
    CHECK(blobstore_table_put_parquet(NULL, bs, "broken", pq, len, NULL) != 0);
    CHECK_EQ(blobstore_exists(bs, "broken"), 0);
    blobstore_free(pq);
    CHECK_EQ(blobstore_put(NULL, bs, "bytes", "x", 1, NULL), 0);
    CHECK_EQ(blobstore_table_get(&back, bs, "bytes", NULL, 0), BLOBSTORE_EINVAL);
    /* Bad CSV and schemas are refused with a message. */
    CHECK_EQ(blobstore_table_from_csv(&back, "a,b\n1\n", 6, NULL), BLOBSTORE_EINVAL);
    CHECK_EQ(blobstore_table_from_csv(&back, "a\nx\n", 4, "a:int32"), BLOBSTORE_EINVAL);
    CHECK(strstr(blobstore_errmsg(), "int32") != NULL);
    CHECK_EQ(blobstore_table_from_csv(&back, "a\n1\n", 4, "zz:int32"), BLOBSTORE_EINVAL);
    blobstore_table_clear(&t);
    blobstore_close(bs);
}

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* v's shortest text (as a float when is_float) both ways: found by trial
 * with snprintf and strtod, and ours; 0 when they agree and read back. */
static int by_trial; /* texts the fast path left to the trial */

static int text_differs(double v, int is_float)
{
    char want[64], got[64];
    bs__pq_shortest_trial = 1;
    size_t nw = bs__pq_shortest_text(want, v, is_float);
    bs__pq_shortest_trial = 0;
    int t0 = bs__pq_shortest_trials;
    size_t n = bs__pq_shortest_text(got, v, is_float);
    by_trial += bs__pq_shortest_trials - t0;
    int back = isnan(v) || (is_float ? strtof(got, NULL) == (float)v : strtod(got, NULL) == v);
    if (n == nw && n == strlen(got) && strcmp(got, want) == 0 && back)
        return 0;
    fprintf(stderr, "shortest text of %a (%s): want \"%s\", got \"%s\"\n", v,
            is_float ? "float" : "double", want, got);
    return 1;
}

/* The CSV writer's float text is the shortest that reads back (the same as
 * found by trial with the C library), the reader's numbers are strtod's
 * and strtoll's, byte for byte and bit for bit. */
TEST(number_text_is_the_c_librarys)
{
    uint64_t s = 88172645463325252ULL;
    int bad = 0;
    static const double special[] = {0.0,
                                     -0.0,
                                     1.0,
                                     -1.0,
                                     0.1,
                                     0.5,
                                     1e16,
                                     1e17,
                                     9.999999999999999e16,
                                     99999999999999999.0,
                                     1e-5,
                                     1e-4,
                                     0.0001,
                                     123456789012345678.0,
                                     1e308,
                                     1.7976931348623157e308,
                                     2.2250738585072014e-308,
                                     4.9406564584124654e-324,
                                     2.225073858507201e-308,
                                     1e22,
                                     1e23,
                                     2251799813685247.75,
                                     2251799813685246.25,
                                     0.3,
                                     420.692,
                                     10533475.0,
                                     1.0 / 3,
                                     2.0 / 3,
                                     1e-320};
    for (size_t i = 0; i < sizeof(special) / sizeof(special[0]); i++)
        for (int f = 0; f < 2; f++)
            bad += text_differs(special[i], f) + text_differs(-special[i], f);
    /* as Python's repr and DuckDB write them */
    static const struct {
        double v;
        int is_float;
        const char *text;
    } known[] = {{NAN, 0, "nan"},
                 {-NAN, 1, "nan"},
                 {INFINITY, 0, "inf"},
                 {-INFINITY, 1, "-inf"},
                 {0.0, 0, "0.0"},
                 {-0.0, 1, "-0.0"},
                 {0.1, 0, "0.1"},
                 {(double)0.1f, 1, "0.1"},
                 {(double)0.1f, 0, "0.10000000149011612"},
                 {1.0 / 3, 0, "0.3333333333333333"},
                 {1e16, 0, "1e+16"},
                 {1e15, 0, "1000000000000000.0"},
                 {123456789.0, 1, "123456790.0"},
                 {1.5e-4, 0, "0.00015"},
                 {1e-5, 0, "1e-05"},
                 {5e-324, 0, "5e-324"},
                 {1.7976931348623157e308, 0, "1.7976931348623157e+308"},
                 {123456789012345678.0, 0, "1.2345678901234568e+17"},
                 {9007199254740993.0, 0, "9007199254740992.0"},
                 {3.4028234663852886e38, 1, "3.4028235e+38"},
                 {1.401298464324817e-45, 1, "1e-45"},
                 {2.0, 0, "2.0"},
                 {-1.5, 0, "-1.5"}};
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
        char t[64];
        CHECK_EQ(bs__pq_shortest_text(t, known[i].v, known[i].is_float), strlen(known[i].text));
        CHECK_STR(t, known[i].text);
    }
    /* powers of two: narrower below, where the nearest decimal of a length
     * may not read back and the one above does */
    for (int e = -1074; e <= 1023 && bad < 10; e++)
        bad += text_differs(ldexp(1.0, e), 0) +
               (e >= -149 && e <= 127 && text_differs(ldexp(1.0, e), 1));
    int n = 0;
    by_trial = 0;
    for (int i = 0; i < 600000 && bad < 10; i++) {
        uint64_t r = rng_next(&s), bits;
        double v;
        switch (i % 6) {
        case 0: /* any bit pattern */
            bits = r;
            memcpy(&v, &bits, 8);
            break;
        case 1: /* a short decimal, as CSV holds them */
            v = (double)(int64_t)(r % 100000000) / (double)(1 + rng_next(&s) % 100000);
            break;
        case 2: /* k/1000, k/7, ... */
            v = (double)(r % 1000000000) / (i % 4 == 0 ? 1000.0 : 7.0);
            break;
        case 3: /* m / 2^j: exact decimals, ties at 17 digits among them */
            v = ldexp((double)(r >> 11), -(int)(rng_next(&s) % 64));
            break;
        case 4: /* a float32's value, as float columns give */
            bits = r;
            {
                float f;
                uint32_t b32 = (uint32_t)bits;
                memcpy(&f, &b32, 4);
                v = (double)f;
            }
            break;
        default: /* integers and their neighbours */
            v = (double)(r >> (r % 60)) + (i % 3 ? 0.5 : 0.0);
        }
        if (isnan(v))
            continue;
        n++;
        bad += text_differs(v, 0) + text_differs((double)(float)v, 1);
        /* Parsing: the C library's number from our text and from shorter
         * forms, as strtod gives it. */
        char t[64];
        snprintf(t, sizeof(t), "%.*f", (int)(r % 8), fmod(v, 1e12));
        double a, b = strtod(t, NULL);
        CHECK_EQ(bs__pq_parse_f64(t, &a), 0);
        if (memcmp(&a, &b, 8) != 0) {
            fprintf(stderr, "parse \"%s\": want %a got %a\n", t, b, a);
            bad++;
        }
        int64_t iv = (int64_t)(r >> (r % 64)) * (i % 2 ? -1 : 1), got;
        snprintf(t, sizeof(t), "%lld", (long long)iv);
        CHECK_EQ(bs__pq_parse_i64(t, &got), 0);
        CHECK_EQ(got, iv);
        char tx[24];
        bs__pq_i64_text(tx, iv);
        CHECK_STR(tx, t);
    }
    CHECK_EQ(bad, 0);
    /* the fast path decided nearly all (each value: 2 trials by the knob) */
    printf("  shortest text: %d of %d values by trial\n", by_trial, 2 * n);
    CHECK(by_trial < n / 100);
    /* Integers at both ends of every digit count (the text's length is
     * worked out before its digits), and the extremes. */
    uint64_t p10 = 1;
    for (int d = 0; d < 20; d++, p10 *= 10)
        for (int k = -1; k <= 1; k++) {
            char t[32], tx[32];
            uint64_t u = p10 + (uint64_t)k;
            snprintf(t, sizeof(t), "%llu", (unsigned long long)u);
            CHECK_EQ(bs__pq_u64_text(tx, u), strlen(t));
            CHECK_STR(tx, t);
            snprintf(t, sizeof(t), "%lld", -(long long)(u >> 1));
            CHECK_EQ(bs__pq_i64_text(tx, -(int64_t)(u >> 1)), strlen(t));
            CHECK_STR(tx, t);
        }
    char ext[32];
    CHECK_EQ(bs__pq_u64_text(ext, UINT64_MAX), 20);
    CHECK_STR(ext, "18446744073709551615");
    CHECK_EQ(bs__pq_i64_text(ext, INT64_MIN), 20);
    CHECK_STR(ext, "-9223372036854775808");
    CHECK_EQ(bs__pq_i64_text(ext, INT64_MAX), 19);
    CHECK_STR(ext, "9223372036854775807");
    static const char *const not_i64[] = {
        "",    "-",  "+", "- 1", "1 ", "1.0", "0x10", "9223372036854775808", "-9223372036854775809",
        "12a", "1e3"};
    int64_t iv;
    for (size_t i = 0; i < sizeof(not_i64) / sizeof(not_i64[0]); i++)
        CHECK(bs__pq_parse_i64(not_i64[i], &iv) != 0);
    CHECK_EQ(bs__pq_parse_i64("+7", &iv), 0);
    CHECK_EQ(iv, 7);
    CHECK_EQ(bs__pq_parse_i64("-9223372036854775808", &iv), 0);
    CHECK(iv == INT64_MIN);
    static const char *const not_f64[] = {"", "-", ".", "1 ", "1.2.3", "e5", "abc", "1,5"};
    double dv;
    for (size_t i = 0; i < sizeof(not_f64) / sizeof(not_f64[0]); i++)
        CHECK(bs__pq_parse_f64(not_f64[i], &dv) != 0);
    static const char *const f64s[] = {"-0.0",
                                       "1.",
                                       ".5",
                                       "+2.5",
                                       "9007199254740993",
                                       "0.1",
                                       "1e5",
                                       " 3.25",
                                       "inf",
                                       "0x1p3",
                                       "123456789012345678901234567890",
                                       "1.7976931348623157e309",
                                       "0.000000000000000000000000123"};
    for (size_t i = 0; i < sizeof(f64s) / sizeof(f64s[0]); i++) {
        double want = strtod(f64s[i], NULL);
        CHECK_EQ(bs__pq_parse_f64(f64s[i], &dv), 0);
        CHECK_MEM(&dv, &want, 8);
    }
}

typedef struct {
    bs_buf all;
    int calls, fail_at;
} csv_sink;

static int csv_sink_write(void *ctx, const void *p, size_t n)
{
    csv_sink *k = ctx;
    if (++k->calls == k->fail_at)
        return 1;
    return bs__buf_append(&k->all, p, n);
}

/* blobstore_table_write_csv: the bytes of blobstore_table_to_csv, in pieces
 * of about 1 MiB; a failing writer stops it. */
TEST(csv_written_in_pieces_is_the_same_text)
{
    enum { N = 100000 };
    blobstore_table t;
    memset(&t, 0, sizeof(t));
    t.nrows = N;
    t.ncols = 3;
    t.cols = calloc(3, sizeof(pq_column));
    fill(&t.cols[0], PQ_DOUBLE, 1, N, 3);
    fill(&t.cols[1], PQ_STRING, 0, N, 5);
    fill(&t.cols[2], PQ_INT64, 1, N, 7);
    char *out;
    size_t len;
    CHECK_EQ(blobstore_table_to_csv(&out, &len, &t), 0);
    CHECK(len > (size_t)2 << 20);
    csv_sink k = {{0}, 0, 0};
    CHECK_EQ(blobstore_table_write_csv(&t, csv_sink_write, &k), 0);
    CHECK(k.calls >= 3);
    CHECK_EQ(k.all.len, len);
    CHECK_MEM(k.all.data, out, len);
    bs__buf_free(&k.all);
    csv_sink f = {{0}, 0, 2};
    CHECK_EQ(blobstore_table_write_csv(&t, csv_sink_write, &f), BLOBSTORE_ECALLBACK);
    CHECK_EQ(f.calls, 2);
    bs__buf_free(&f.all);
    blobstore_free(out);
    t.nrows = 0; /* the header alone */
    CHECK_EQ(blobstore_table_to_csv(&out, &len, &t), 0);
    csv_sink h = {{0}, 0, 0};
    CHECK_EQ(blobstore_table_write_csv(&t, csv_sink_write, &h), 0);
    CHECK(h.calls == 1 && h.all.len == len && memcmp(h.all.data, out, len) == 0);
    bs__buf_free(&h.all);
    blobstore_free(out);
    t.nrows = N;
    blobstore_table_clear(&t);
}

/* blobstore_table_get_csv: the bytes of blobstore_table_get then
 * blobstore_table_to_csv, one write per row group, in order (more row
 * groups than are made ahead), all columns or some; a failing writer stops
 * it; a table of no rows gives its header. */
TEST(stored_table_csv_streams_row_groups_in_order)
{
    enum { N = 100000, GROUP = 7000 };
    blobstore_options o = BLOBSTORE_OPTIONS_INIT;
    o.cache_dir = test_tmpdir();
    o.backend = "sqlite";
    blobstore *bs;
    CHECK_EQ(blobstore_open(&bs, &o), 0);
    blobstore_table t;
    memset(&t, 0, sizeof(t));
    t.nrows = N;
    t.ncols = 3;
    t.cols = calloc(3, sizeof(pq_column));
    fill(&t.cols[0], PQ_DOUBLE, 1, N, 3);
    fill(&t.cols[1], PQ_STRING, 0, N, 5);
    fill(&t.cols[2], PQ_INT64, 1, N, 7);
    const char *codecs[] = {NULL, "zstd"}; /* read in ranges; read whole */
    for (size_t c = 0; c < 2; c++) {
        blobstore_table_options to = BLOBSTORE_TABLE_OPTIONS_INIT;
        to.row_group_rows = GROUP;
        to.compression = codecs[c];
        CHECK_EQ(blobstore_table_put(NULL, bs, "t", &t, &to), 0);
        const char *some[] = {"int64_null", "float64_null"};
        for (int proj = 0; proj < 2; proj++) {
            blobstore_table back;
            CHECK_EQ(blobstore_table_get(&back, bs, "t", proj ? some : NULL, proj ? 2 : 0), 0);
            char *want;
            size_t len;
            CHECK_EQ(blobstore_table_to_csv(&want, &len, &back), 0);
            blobstore_table_clear(&back);
            csv_sink k = {{0}, 0, 0};
            CHECK_EQ(blobstore_table_get_csv(bs, "t", proj ? some : NULL, proj ? 2 : 0,
                                             csv_sink_write, &k),
                     0);
            CHECK_EQ(k.calls, (N + GROUP - 1) / GROUP);
            CHECK_EQ(k.all.len, len);
            CHECK_MEM(k.all.data, want, len);
            bs__buf_free(&k.all);
            blobstore_free(want);
        }
        csv_sink f = {{0}, 0, 3};
        CHECK_EQ(blobstore_table_get_csv(bs, "t", NULL, 0, csv_sink_write, &f),
                 BLOBSTORE_ECALLBACK);
        CHECK_EQ(f.calls, 3);
        bs__buf_free(&f.all);
        const char *bad[] = {"nope"};
        csv_sink e = {{0}, 0, 0};
        CHECK_EQ(blobstore_table_get_csv(bs, "t", bad, 1, csv_sink_write, &e), BLOBSTORE_EINVAL);
        CHECK_EQ(e.calls, 0);
        CHECK_EQ(blobstore_table_get_csv(bs, "absent", NULL, 0, csv_sink_write, &e),
                 BLOBSTORE_ENOTFOUND);
    }
    t.nrows = 0; /* no rows: the header alone, in one call */
    CHECK_EQ(blobstore_table_put(NULL, bs, "empty", &t, NULL), 0);
    csv_sink h = {{0}, 0, 0};
    CHECK_EQ(blobstore_table_get_csv(bs, "empty", NULL, 0, csv_sink_write, &h), 0);
    CHECK_EQ(h.calls, 1);
    CHECK_EQ(h.all.len, strlen("float64_null,string,int64_null\n"));
    CHECK_MEM(h.all.data, "float64_null,string,int64_null\n", h.all.len);
    bs__buf_free(&h.all);
    t.nrows = N;
    blobstore_table_clear(&t);
    blobstore_close(bs);
}

/* blobstore_table_get_csv of a file read in ranges (over BS_RANGED_MIN):
 * row groups decoded on several threads share 1 MiB segments, each
 * released after its group and its pages moved under the next segments
 * read; the text is blobstore_table_to_csv's of the table put, for every
 * column, for two and for one, read after read. A damaged byte then fails
 * its segment's checksum: ECORRUPT, and what was written before is a
 * prefix of the right text (no unchecked byte reaches the writer). */
TEST(stored_table_csv_read_in_ranges_is_the_table)
{
    enum { N = 600000, GROUP = 9000 };
    const char *dir = test_tmpdir();
    blobstore_options o = BLOBSTORE_OPTIONS_INIT;
    o.cache_dir = dir;
    o.backend = "sqlite";
    blobstore *bs;
    CHECK_EQ(blobstore_open(&bs, &o), 0);
    blobstore_table t;
    memset(&t, 0, sizeof(t));
    t.nrows = N;
    t.ncols = 4;
    t.cols = calloc(4, sizeof(pq_column));
    fill(&t.cols[0], PQ_INT64, 0, N, 11);
    fill(&t.cols[1], PQ_DOUBLE, 1, N, 3);
    fill(&t.cols[2], PQ_STRING, 1, N, 5);
    fill(&t.cols[3], PQ_UINT64, 1, N, 7);
    blobstore_table_options to = BLOBSTORE_TABLE_OPTIONS_INIT;
    to.row_group_rows = GROUP;
    to.compression = "none";
    CHECK_EQ(blobstore_table_put(NULL, bs, "t", &t, &to), 0);
    char *m;
    CHECK_EQ(blobstore_get_metadata(&m, bs, "t"), 0);
    char name[128];
    CHECK_EQ(sscanf(strstr(m, "\"blob\":\"") + 8, "%127[^\"]", name), 1);
    long long size = atoll(strstr(m, "\"size\":") + 7);
    blobstore_free(m);
    CHECK(size > (long long)(BS_RANGED_MIN + (1 << 20))); /* read in ranges */
    pq_column two[2] = {t.cols[3], t.cols[0]}, one[1] = {t.cols[1]};
    blobstore_table views[3] = {t, {N, 2, two}, {N, 1, one}};
    const char *two_names[] = {"uint64_null", "int64"}, *one_name[] = {"float64_null"};
    const char *const *names[3] = {NULL, two_names, one_name};
    char *want[3];
    size_t len[3];
    for (int v = 0; v < 3; v++)
        CHECK_EQ(blobstore_table_to_csv(&want[v], &len[v], &views[v]), 0);
    for (int round = 0; round < 3; round++)
        for (int v = 0; v < 3; v++) {
            csv_sink k = {{0}, 0, 0};
            CHECK_EQ(blobstore_table_get_csv(bs, "t", names[v], (size_t)(v ? 3 - v : 0),
                                             csv_sink_write, &k),
                     0);
            CHECK_EQ(k.calls, (N + GROUP - 1) / GROUP);
            CHECK_EQ(k.all.len, len[v]);
            CHECK_MEM(k.all.data, want[v], len[v]);
            bs__buf_free(&k.all);
        }
    char path[8192];
    snprintf(path, sizeof(path), "%s/blobs/%.2s/%s", dir, name, name);
    int fd = open(path, O_RDWR);
    CHECK(fd >= 0);
    char c;
    CHECK_EQ(pread(fd, &c, 1, size / 2), 1);
    c ^= 0x10;
    CHECK_EQ(pwrite(fd, &c, 1, size / 2), 1);
    close(fd);
    for (int v = 0; v < 3; v++) {
        csv_sink k = {{0}, 0, 0};
        CHECK_EQ(
            blobstore_table_get_csv(bs, "t", names[v], (size_t)(v ? 3 - v : 0), csv_sink_write, &k),
            BLOBSTORE_ECORRUPT);
        CHECK(k.all.len < len[v]);
        CHECK(k.all.len == 0 || memcmp(k.all.data, want[v], k.all.len) == 0);
        bs__buf_free(&k.all);
        blobstore_free(want[v]);
    }
    blobstore_table_clear(&t);
    blobstore_close(bs);
}

static const test_case tests[] = {
    TEST_ENTRY(csv_written_in_pieces_is_the_same_text),
    TEST_ENTRY(stored_table_csv_streams_row_groups_in_order),
    TEST_ENTRY(stored_table_csv_read_in_ranges_is_the_table),
    TEST_ENTRY(number_text_is_the_c_librarys),
    TEST_ENTRY(rle_hybrid_round_trips_at_every_run_boundary),
    TEST_ENTRY(tables_through_the_store),
    TEST_ENTRY(int96_timestamps_read_as_nanoseconds),
    TEST_ENTRY(every_type_nullability_codec_round_trips),
    TEST_ENTRY(nullable_decimals_in_long_row_groups_round_trip),
    TEST_ENTRY(column_chunks_split_into_pages),
    TEST_ENTRY(csv_values_round_trip_exactly),
    TEST_ENTRY(projection_reads_only_named_columns),
    TEST_ENTRY(damaged_files_give_errors),
};
TEST_MAIN(tests)
