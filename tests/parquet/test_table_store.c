/*
 * test_table_store.c - tables in the store: the writer checked against its
 * input before an entry commits (write-back check).
 */
#define _XOPEN_SOURCE 700
#include "parquet/parquet.h"
#include "test.h"

#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static size_t nfiles;

static int count_file(const char *path, const struct stat *st, int flag, struct FTW *f)
{
    (void)path;
    (void)st;
    (void)f;
    nfiles += flag == FTW_F;
    return 0;
}

/* Regular files under dir/blobs (0 when there is none). */
static size_t blob_files(const char *dir)
{
    char p[4200];
    snprintf(p, sizeof(p), "%s/blobs", dir);
    nfiles = 0;
    nftw(p, count_file, 16, FTW_PHYS);
    return nfiles;
}

static uint64_t rng(uint64_t *s)
{
    *s ^= *s << 13, *s ^= *s >> 7, *s ^= *s << 17;
    return *s;
}

/* A table of one column per type (nullable ones with ~10% nulls), n rows. */
static void make_table(pq_table *t, size_t n, uint64_t seed)
{
    t->nrows = n;
    t->ncols = 2 * (PQ_DATE + 1);
    t->cols = calloc(t->ncols, sizeof(pq_column));
    for (int ty = 0; ty <= PQ_DATE; ty++)
        for (int nl = 0; nl < 2; nl++) {
            pq_column *c = &t->cols[ty * 2 + nl];
            char name[40];
            snprintf(name, sizeof(name), "%s%s", bs__pq_type_name((pq_type)ty), nl ? "_null" : "");
            c->name = bs__strdup(name);
            c->type = (pq_type)ty;
            c->nullable = nl;
            c->utc = ty == PQ_TIMESTAMP_US;
            size_t w = bs__pq_width(c->type);
            if (nl) {
                c->valid = malloc(n ? n : 1);
                for (size_t i = 0; i < n; i++)
                    c->valid[i] = rng(&seed) % 10 != 0;
            }
            if (w) {
                c->values = malloc(n ? n * w : 1);
                for (size_t i = 0; i < n; i++) {
                    uint64_t v = rng(&seed);
                    if (ty == PQ_BOOL)
                        v &= 1;
                    else if (ty == PQ_FLOAT || ty == PQ_DOUBLE)
                        v = v % 3 ? v : 0x7ff8000000000123ull; /* NaNs with a payload too */
                    memcpy((uint8_t *)c->values + i * w, &v, w);
                }
            } else {
                c->offsets = malloc((n + 1) * sizeof(uint64_t));
                bs_buf b = {0};
                for (size_t i = 0; i < n; i++) {
                    char s[32];
                    int len = snprintf(s, sizeof(s), "v%u", (unsigned)(rng(&seed) % 40));
                    c->offsets[i] = b.len;
                    bs__buf_append(&b, s, (size_t)len);
                }
                c->offsets[n] = b.len;
                c->bytes = b.data ? b.data : malloc(1);
            }
        }
}

static blobstore *open_codec_store(const char *dir, const char *codec)
{
    blobstore_options o = BLOBSTORE_OPTIONS_INIT;
    o.cache_dir = dir;
    o.backend = "sqlite";
    o.compression = codec;
    blobstore *bs = NULL;
    if (blobstore_open(&bs, &o) != 0)
        fprintf(stderr, "open: %s\n", blobstore_errmsg());
    return bs;
}

static blobstore *open_store(const char *dir)
{
    return open_codec_store(dir, NULL);
}

/* The "compression" member of key's get_metadata, in buf. */
static const char *meta_codec(blobstore *bs, const char *key, char *buf, size_t cap)
{
    char *meta = NULL;
    buf[0] = 0;
    if (blobstore_get_metadata(&meta, bs, key) == 0) {
        const char *p = strstr(meta, "\"compression\":\"");
        if (p)
            snprintf(buf, cap, "%.*s", (int)strcspn(p + 15, "\""), p + 15);
    }
    blobstore_free(meta);
    return buf;
}

/* The codec id (parquet.thrift CompressionCodec) of every column chunk of a
 * file written by us, or -1 if they differ: found after each chunk's path
 * (field 3, one string) as field 4 (an i32: header byte 0x15). */
static int file_codec(const uint8_t *f, size_t len, const char *const *names, size_t n)
{
    int codec = -2;
    for (size_t k = 0; k < n; k++) {
        size_t nl = strlen(names[k]);
        for (size_t i = 0; i + nl + 2 < len; i++)
            if (f[i] == nl && memcmp(f + i + 1, names[k], nl) == 0 && f[i + nl + 1] == 0x15) {
                int c = f[i + nl + 2] >> 1; /* zigzag */
                codec = codec == -2 || codec == c ? c : -1;
            }
    }
    return codec;
}

/*
 * An encoder whose output is wrong (a value changed before compression, or
 * a byte of a compressed page flipped) fails the put with ECORRUPT and a
 * message saying so; the key holds nothing new (its old table stays), no
 * blob file is left, and the same put succeeds once the encoder is right.
 */
TEST(a_wrong_encoder_output_is_never_stored)
{
    const char *dir = test_tmpdir();
    blobstore *bs = open_store(dir);
    CHECK(bs != NULL);
    pq_table t;
    make_table(&t, 3000, 42);
    blobstore_table_options o = BLOBSTORE_TABLE_OPTIONS_INIT;
    o.row_group_rows = 1000;
    CHECK_EQ(blobstore_table_put(NULL, bs, "old", &t, &o), 0);
    char *meta_before;
    CHECK_EQ(blobstore_get_metadata(&meta_before, bs, "old"), 0);
    size_t files = blob_files(dir);
    CHECK_EQ(files, 2); /* the table and its sidecar (its entry record) */
    for (int fault = 1; fault <= 2; fault++) {
        bs__pq_fault = fault;
        int rc = blobstore_table_put(NULL, bs, "new", &t, &o);
        int rc_old = blobstore_table_put(NULL, bs, "old", &t, &o);
        void *file = NULL;
        size_t len = 0;
        int rc_file = blobstore_table_to_parquet(&file, &len, &t, &o);
        bs__pq_fault = 0;
        CHECK_EQ(rc, BLOBSTORE_ECORRUPT);
        CHECK_EQ(rc_old, BLOBSTORE_ECORRUPT);
        CHECK_EQ(rc_file, BLOBSTORE_ECORRUPT);
        CHECK(file == NULL);
        CHECK(strstr(blobstore_errmsg(), "does not read back") != NULL);
        CHECK(strstr(blobstore_errmsg(), "nothing was stored") != NULL);
        CHECK_EQ(blobstore_exists(bs, "new"), 0);
        CHECK_EQ(blob_files(dir), files);
        char *meta;
        CHECK_EQ(blobstore_get_metadata(&meta, bs, "old"), 0);
        CHECK_STR(meta, meta_before);
        blobstore_free(meta);
    }
    /* Unchecked, the faults make files that read back wrong or not at all:
     * the check above is what refused them. */
    for (int fault = 1; fault <= 2; fault++) {
        bs__pq_fault = fault;
        bs__pq_nocheck = 1;
        void *file = NULL;
        size_t len = 0;
        int rc = blobstore_table_to_parquet(&file, &len, &t, &o);
        bs__pq_fault = 0;
        bs__pq_nocheck = 0;
        CHECK_EQ(rc, 0);
        pq_table back;
        rc = bs__pq_read(&back, file, len, NULL, 0);
        if (!rc) {
            rc = bs__pq_check_rows(&t, 0, t.nrows, &back, 0);
            bs__pq_table_free(&back);
        }
        free(file);
        CHECK(rc != 0);
    }
    /* The old table reads back whole; a put with the encoder right works. */
    blobstore_table back;
    CHECK_EQ(blobstore_table_get(&back, bs, "old", NULL, 0), 0);
    CHECK_EQ(bs__pq_check_rows(&t, 0, t.nrows, &back, 0), 0);
    blobstore_table_clear(&back);
    CHECK_EQ(blobstore_table_put(NULL, bs, "new", &t, &o), 0);
    CHECK_EQ(blob_files(dir), files + 2); /* a table and its sidecar */
    blobstore_free(meta_before);
    bs__pq_table_free(&t);
    blobstore_close(bs);
}

/* The check compares values, not representations: what was stored in a
 * null's slot, a bool's non-zero byte, a valid array of all ones do not
 * matter; any changed value, validity, length split or name does. */
TEST(the_check_compares_every_value)
{
    pq_table a, b;
    make_table(&a, 777, 7);
    make_table(&b, 777, 7);
    CHECK_EQ(bs__pq_check_rows(&a, 0, 777, &b, 0), 0);
    for (size_t k = 0; k < b.ncols; k++) { /* representation only */
        pq_column *c = &b.cols[k];
        size_t w = bs__pq_width(c->type);
        for (size_t i = 0; i < 777; i++) {
            if (c->valid && !c->valid[i] && w)
                memset((uint8_t *)c->values + i * w, 0xa5, w);
            if (c->type == PQ_BOOL && ((uint8_t *)c->values)[i])
                ((uint8_t *)c->values)[i] = 7;
        }
        if (!c->nullable) {
            c->valid = malloc(777);
            memset(c->valid, 1, 777);
        }
    }
    CHECK_EQ(bs__pq_check_rows(&a, 0, 777, &b, 0), 0);
    /* Rows [100, 200) against a table of those rows. */
    pq_table part;
    make_table(&part, 100, 9);
    CHECK(bs__pq_check_rows(&a, 100, 200, &part, 0) != 0);
    for (size_t k = 0; k < a.ncols; k++) {
        pq_column *c = &part.cols[k], *s = &a.cols[k];
        size_t w = bs__pq_width(c->type);
        if (c->valid)
            memcpy(c->valid, s->valid + 100, 100);
        if (w) {
            memcpy(c->values, (uint8_t *)s->values + 100 * w, 100 * w);
        } else {
            free(c->bytes);
            size_t n = (size_t)(s->offsets[200] - s->offsets[100]);
            c->bytes = malloc(n + 1);
            memcpy(c->bytes, s->bytes + s->offsets[100], n);
            for (size_t i = 0; i <= 100; i++)
                c->offsets[i] = s->offsets[100 + i] - s->offsets[100];
        }
    }
    CHECK_EQ(bs__pq_check_rows(&a, 100, 200, &part, 0), 0);
    bs__pq_table_free(&part);
    /* Each kind of difference, in each column, is found and named. */
    for (size_t k = 0; k < a.ncols; k++) {
        pq_column *c = &b.cols[k];
        size_t w = bs__pq_width(c->type), row = 500;
        while (c->valid && !c->valid[row])
            row++;
        if (w) {
            uint8_t *p = (uint8_t *)c->values + row * w, keep[8];
            memcpy(keep, p, w);
            if (c->type == PQ_BOOL)
                p[0] = !p[0];
            else
                p[w - 1] ^= 0x40;
            int rc = bs__pq_check_rows(&a, 0, 777, &b, 0);
            CHECK_EQ(rc, BLOBSTORE_ECORRUPT);
            CHECK(strstr(blobstore_errmsg(), c->name) != NULL);
            CHECK(strstr(blobstore_errmsg(), "values differ") != NULL);
            memcpy(p, keep, w);
        } else { /* the same bytes split differently: "v1","v23" vs "v12","v3" */
            uint64_t keep = c->offsets[row + 1];
            c->offsets[row + 1] += c->offsets[row + 2] > keep ? 1 : 0;
            CHECK_EQ(bs__pq_check_rows(&a, 0, 777, &b, 0), BLOBSTORE_ECORRUPT);
            c->offsets[row + 1] = keep;
        }
        CHECK_EQ(bs__pq_check_rows(&a, 0, 777, &b, 0), 0);
        c->valid[row] = 0; /* a value turned null */
        CHECK_EQ(bs__pq_check_rows(&a, 0, 777, &b, 0), BLOBSTORE_ECORRUPT);
        c->valid[row] = 1;
        c->nullable = !c->nullable;
        CHECK_EQ(bs__pq_check_rows(&a, 0, 777, &b, 0), BLOBSTORE_ECORRUPT);
        CHECK(strstr(blobstore_errmsg(), "nullability") != NULL);
        c->nullable = !c->nullable;
    }
    b.cols[3].name[0] ^= 1;
    CHECK_EQ(bs__pq_check_rows(&a, 0, 777, &b, 0), BLOBSTORE_ECORRUPT);
    b.cols[3].name[0] ^= 1;
    b.cols[PQ_TIMESTAMP_US * 2].utc = 0;
    CHECK_EQ(bs__pq_check_rows(&a, 0, 777, &b, 0), BLOBSTORE_ECORRUPT);
    b.cols[PQ_TIMESTAMP_US * 2].utc = 1;
    b.cols[5].type = PQ_UINT16;
    CHECK_EQ(bs__pq_check_rows(&a, 0, 777, &b, 0), BLOBSTORE_ECORRUPT);
    b.cols[5].type = a.cols[5].type;
    CHECK_EQ(bs__pq_check_rows(&a, 0, 776, &b, 0), BLOBSTORE_ECORRUPT);
    CHECK_EQ(bs__pq_check_rows(&a, 0, 777, &b, 0), 0);
    bs__pq_table_free(&a);
    bs__pq_table_free(&b);
}

/*
 * A table follows the store's codec (zstd, gzip, lz4 as LZ4_RAW, none;
 * blosclz as snappy), or the one asked for; get_metadata names the codec
 * written, every column chunk of the file carries it, and the values read
 * back.
 */
TEST(tables_follow_the_store_codec)
{
    static const struct {
        const char *store, *written;
        int id;
    } cases[] = {{"lz4", "lz4_raw", 7},
                 {"zstd", "zstd", 6},
                 {"gzip", "gzip", 2},
                 {"none", "none", 0},
                 {"blosclz", "snappy", 1}};
    pq_table t;
    make_table(&t, 2500, 3);
    const char **names = malloc(t.ncols * sizeof(char *));
    for (size_t k = 0; k < t.ncols; k++)
        names[k] = t.cols[k].name;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char dir[4200], got[32];
        snprintf(dir, sizeof(dir), "%s/%s", test_tmpdir(), cases[i].store);
        blobstore *bs = open_codec_store(dir, cases[i].store);
        CHECK(bs != NULL);
        blobstore_table_options o = BLOBSTORE_TABLE_OPTIONS_INIT;
        o.row_group_rows = 1000;
        CHECK_EQ(blobstore_table_put(NULL, bs, "t", &t, &o), 0);
        CHECK_STR(meta_codec(bs, "t", got, sizeof(got)), cases[i].written);
        void *file;
        size_t len;
        CHECK_EQ(blobstore_get(&file, &len, bs, "t"), 0);
        int id = file_codec(file, len, names, t.ncols);
        blobstore_free(file);
        CHECK_EQ(id, cases[i].id);
        blobstore_table back;
        CHECK_EQ(blobstore_table_get(&back, bs, "t", NULL, 0), 0);
        CHECK_EQ(bs__pq_check_rows(&t, 0, t.nrows, &back, 0), 0);
        blobstore_table_clear(&back);
        /* Asked for: that codec, by its Parquet name. */
        o.compression = i % 2 ? "gzip" : "lz4";
        CHECK_EQ(blobstore_table_put(NULL, bs, "asked", &t, &o), 0);
        CHECK_STR(meta_codec(bs, "asked", got, sizeof(got)), i % 2 ? "gzip" : "lz4_raw");
        o.compression = "blosclz";
        CHECK_EQ(blobstore_table_put(NULL, bs, "bad", &t, &o), BLOBSTORE_EINVAL);
        CHECK(strstr(blobstore_errmsg(), "blosclz") != NULL);
        blobstore_close(bs);
    }
    free(names);
    bs__pq_table_free(&t);
}

/* Random CSV: ints, floats, strings quoted with commas, quotes, LF and
 * CRLF inside, bools, empty cells; CRLF or LF line ends; a last line end or
 * not. */
static void random_csv(bs_buf *b, size_t rows, uint64_t seed)
{
    static const char *strs[] = {
        "plain", "\"a, b\"", "\"say \"\"hi\"\"\"", "\"two\nlines\"", "\"cr\r\nlf\"", "\"\"", "x"};
    int crlf = rng(&seed) % 2, last = rng(&seed) % 2;
    bs__buf_append(b, "id,x,s,flag,n", 13);
    for (size_t r = 0; r < rows; r++) {
        char line[256];
        uint64_t v = rng(&seed);
        int n = snprintf(line, sizeof(line), "%s%zu,%.17g,%s,%s,%s", crlf ? "\r\n" : "\n", r,
                         (double)(int64_t)(v >> 11) / 4096.0, v % 5 ? strs[v / 5 % 7] : "",
                         v % 3 == 0 ? ""
                         : v % 2    ? "true"
                                    : "false",
                         v % 11 == 0 ? "" : (v % 13 == 0 ? "-0" : "42"));
        bs__buf_append(b, line, (size_t)n);
    }
    if (last)
        bs__buf_append(b, crlf ? "\r\n" : "\n", crlf ? 2 : 1);
}

static int write_file(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    int ok = f && fwrite(p, 1, n, f) == n;
    if (f)
        ok &= fclose(f) == 0;
    return ok;
}

/* blobstore_table_put_csv_fd of the file at path (-1000 if it does not open). */
static int put_csv_path(blobstore *bs, const char *key, const char *path, const char *schema,
                        const blobstore_table_options *o)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return -1000;
    int rc = blobstore_table_put_csv_fd(NULL, bs, key, fd, schema, o);
    close(fd);
    return rc;
}

/*
 * CSV put a piece at a time (pieces of 1 byte to 2 MiB, so that records,
 * quoted fields with line ends and CRLFs straddle every boundary) stores
 * exactly the table blobstore_table_from_csv makes of the whole text: the
 * same names, inferred types, nullability and values. A bad record in a
 * later piece fails the put and leaves nothing.
 */
TEST(csv_put_in_pieces_is_the_csv_parsed_whole)
{
    const char *dir = test_tmpdir();
    blobstore *bs = open_store(dir);
    CHECK(bs != NULL);
    char path[4200];
    snprintf(path, sizeof(path), "%s/in.csv", dir);
    static const size_t pieces[] = {1, 7, 64, 1000, 100000, (size_t)2 << 20};
    size_t saved = bs__pq_csv_piece;
    for (uint64_t seed = 1; seed <= 4; seed++) {
        bs_buf csv = {0};
        random_csv(&csv, seed == 4 ? 20000 : 300 * seed, seed * 7919);
        CHECK(write_file(path, csv.data, csv.len));
        pq_table want;
        CHECK_EQ(blobstore_table_from_csv(&want, (const char *)csv.data, csv.len, NULL), 0);
        for (size_t i = 0; i < sizeof(pieces) / sizeof(pieces[0]); i++) {
            if (want.nrows > 1000 && pieces[i] < 1000)
                continue; /* a row group a record: slow, and shown on the small ones */
            bs__pq_csv_piece = pieces[i];
            int rc = put_csv_path(bs, "t", path, NULL, NULL);
            bs__pq_csv_piece = saved;
            if (rc)
                fprintf(stderr, "seed %llu piece %zu: %s\n", (unsigned long long)seed, pieces[i],
                        blobstore_errmsg());
            CHECK_EQ(rc, 0);
            blobstore_table back;
            CHECK_EQ(blobstore_table_get(&back, bs, "t", NULL, 0), 0);
            rc = bs__pq_check_rows(&want, 0, want.nrows, &back, 0);
            if (rc)
                fprintf(stderr, "seed %llu piece %zu: %s\n", (unsigned long long)seed, pieces[i],
                        blobstore_errmsg());
            blobstore_table_clear(&back);
            CHECK_EQ(rc, 0);
        }
        CHECK_EQ(want.cols[0].type, PQ_INT64);
        CHECK_EQ(want.cols[2].type, PQ_STRING);
        CHECK(want.cols[2].nullable);
        bs__pq_table_free(&want);
        bs__buf_free(&csv);
    }
    /* A schema; and a ragged record far from the start. */
    bs_buf csv = {0};
    random_csv(&csv, 5000, 99);
    CHECK(write_file(path, csv.data, csv.len));
    CHECK_EQ(put_csv_path(bs, "typed", path, "n:int16,x:float32", NULL), 0);
    blobstore_table back;
    CHECK_EQ(blobstore_table_get(&back, bs, "typed", NULL, 0), 0);
    CHECK_EQ(back.cols[4].type, PQ_INT16);
    CHECK_EQ(back.cols[1].type, PQ_FLOAT);
    blobstore_table_clear(&back);
    bs__buf_append(&csv, "\n1,2\n", 5);
    CHECK(write_file(path, csv.data, csv.len));
    size_t files = blob_files(dir);
    bs__pq_csv_piece = 1000;
    int rc = put_csv_path(bs, "ragged", path, NULL, NULL);
    bs__pq_csv_piece = saved;
    CHECK_EQ(rc, BLOBSTORE_EINVAL);
    CHECK(strstr(blobstore_errmsg(), "fields") != NULL);
    CHECK_EQ(blobstore_exists(bs, "ragged"), 0);
    CHECK_EQ(blob_files(dir), files);
    bs__buf_free(&csv);
    blobstore_close(bs);
}

/*
 * put --csv's write-back check: a wrong encoder output (a value changed
 * before compression, a byte of the compressed page flipped) fails the put,
 * in one row group or many, with the types guessed from the first piece or
 * read from the whole file: ECORRUPT, nothing stored, the table put before
 * under the same key intact, no blob file left.
 */
TEST(a_wrong_encoder_output_from_csv_is_never_stored)
{
    const char *dir = test_tmpdir();
    blobstore *bs = open_store(dir);
    CHECK(bs != NULL);
    char path[4200];
    snprintf(path, sizeof(path), "%s/in.csv", dir);
    bs_buf csv = {0};
    random_csv(&csv, 3000, 5);
    CHECK(write_file(path, csv.data, csv.len));
    CHECK_EQ(put_csv_path(bs, "old", path, NULL, NULL), 0);
    char *meta_before;
    CHECK_EQ(blobstore_get_metadata(&meta_before, bs, "old"), 0);
    size_t files = blob_files(dir), saved = bs__pq_csv_piece;
    static const size_t pieces[] = {5000, (size_t)2 << 20}; /* many row groups, one */
    for (int fault = 1; fault <= 2; fault++)
        for (size_t i = 0; i < 2; i++)
            for (int noguess = 0; noguess < 2; noguess++) {
                bs__pq_fault = fault;
                bs__pq_csv_piece = pieces[i];
                bs__pq_csv_noguess = noguess;
                int rc = put_csv_path(bs, "new", path, NULL, NULL);
                int rc_old = put_csv_path(bs, "old", path, NULL, NULL);
                bs__pq_fault = 0;
                bs__pq_csv_piece = saved;
                bs__pq_csv_noguess = 0;
                CHECK_EQ(rc, BLOBSTORE_ECORRUPT);
                CHECK_EQ(rc_old, BLOBSTORE_ECORRUPT);
                CHECK(strstr(blobstore_errmsg(), "row group") != NULL);
                CHECK(strstr(blobstore_errmsg(), "nothing was stored") != NULL);
                CHECK_EQ(blobstore_exists(bs, "new"), 0);
                CHECK_EQ(blob_files(dir), files);
                char *meta;
                CHECK_EQ(blobstore_get_metadata(&meta, bs, "old"), 0);
                CHECK_STR(meta, meta_before);
                blobstore_free(meta);
            }
    blobstore_free(meta_before);
    /* and with the encoder right, the put is whole */
    pq_table want;
    CHECK_EQ(blobstore_table_from_csv(&want, (const char *)csv.data, csv.len, NULL), 0);
    bs__pq_csv_piece = 5000;
    CHECK_EQ(put_csv_path(bs, "new", path, NULL, NULL), 0);
    bs__pq_csv_piece = saved;
    blobstore_table back;
    CHECK_EQ(blobstore_table_get(&back, bs, "new", NULL, 0), 0);
    CHECK_EQ(bs__pq_check_rows(&want, 0, want.nrows, &back, 0), 0);
    blobstore_table_clear(&back);
    bs__pq_table_free(&want);
    bs__buf_free(&csv);
    blobstore_close(bs);
}

/* A CSV whose columns change what their cells are at a random record
 * (none, the first, inside the first piece or far after it): integers,
 * decimals, booleans, words, empty cells, in every order, some columns with
 * empty cells now and then. */
static void switching_csv(bs_buf *b, size_t rows, size_t ncols, uint64_t seed)
{
    enum { INT, DBL, BOOL, WORD, EMPTY, KINDS };
    int from[16], to[16];
    size_t at[16];
    unsigned nulls[16];
    for (size_t k = 0; k < ncols; k++) {
        char name[16];
        int n = snprintf(name, sizeof(name), "%sc%zu", k ? "," : "", k);
        bs__buf_append(b, name, (size_t)n);
        from[k] = (int)(rng(&seed) % KINDS);
        to[k] = (int)(rng(&seed) % KINDS);
        uint64_t w = rng(&seed) % 6;
        at[k] = w == 0 ? 0 : w == 1 ? rows : w == 2 ? 1 + rng(&seed) % 20 : rng(&seed) % rows;
        nulls[k] = rng(&seed) % 3 == 0 ? 1 + (unsigned)(rng(&seed) % 50) : 0; /* 1 in that */
    }
    bs__buf_append(b, "\n", 1);
    for (size_t r = 0; r < rows; r++) {
        for (size_t k = 0; k < ncols; k++) {
            char cell[64];
            uint64_t v = rng(&seed);
            int kind = r < at[k] ? from[k] : to[k], n = 0;
            if (nulls[k] && v % nulls[k] == 0)
                kind = EMPTY;
            if (kind == INT)
                n = snprintf(cell, sizeof(cell), "%lld", (long long)(int64_t)v >> (v % 60));
            else if (kind == DBL)
                n = snprintf(cell, sizeof(cell), "%.17g",
                             (double)(int64_t)(v >> 11) / 4096.0 + 0.5);
            else if (kind == BOOL)
                n = snprintf(cell, sizeof(cell), "%s", v % 2 ? "true" : "False");
            else if (kind == WORD)
                n = snprintf(cell, sizeof(cell), "w%u", (unsigned)(v % 1000));
            bs__buf_append(b, k ? "," : "", k ? 1 : 0);
            bs__buf_append(b, cell, (size_t)n);
        }
        bs__buf_append(b, "\n", 1);
    }
}

/*
 * put --csv guesses the columns' types from the first piece and reads the
 * file once; when a later cell does not fit a guess (or a column guessed not
 * nullable has an empty cell) it stores nothing and reads the file twice.
 * Either way the table is the one blobstore_table_from_csv makes of the
 * whole text (names, types, nullability, values), leaving no blob file
 * behind, and the same as with no guess at all; on columns whose cells
 * switch kinds at random records, for pieces of every size.
 */
TEST(csv_put_guessed_types_are_the_whole_files)
{
    const char *dir = test_tmpdir();
    blobstore *bs = open_store(dir);
    CHECK(bs != NULL);
    char path[4200];
    snprintf(path, sizeof(path), "%s/in.csv", dir);
    static const size_t pieces[] = {1, 100, 4096, 30000, (size_t)2 << 20};
    size_t saved = bs__pq_csv_piece, files = 0;
    const char *env = getenv("BLOBSTORE_TEST_SEED");
    uint64_t seed0 = env ? strtoull(env, NULL, 10) : (uint64_t)time(NULL);
    printf("csv_put_guessed_types_are_the_whole_files: seed %llu (BLOBSTORE_TEST_SEED)\n",
           (unsigned long long)seed0);
    for (uint64_t round = 0; round < 8; round++) {
        uint64_t seed = seed0 * 1000 + round;
        bs_buf csv = {0};
        switching_csv(&csv, round % 4 == 3 ? 20000 : 1 + rng(&seed) % 2000, 1 + round % 12, seed);
        CHECK(write_file(path, csv.data, csv.len));
        pq_table want;
        CHECK_EQ(blobstore_table_from_csv(&want, (const char *)csv.data, csv.len, NULL), 0);
        for (size_t i = 0; i < sizeof(pieces) / sizeof(pieces[0]); i++) {
            for (int noguess = 0; noguess < 2; noguess++) {
                if (want.nrows > 5000 && pieces[i] < 1000)
                    continue;
                bs__pq_csv_piece = pieces[i];
                bs__pq_csv_noguess = noguess;
                int rc = put_csv_path(bs, "t", path, NULL, NULL);
                bs__pq_csv_piece = saved;
                bs__pq_csv_noguess = 0;
                if (rc)
                    fprintf(stderr, "seed %llu round %llu piece %zu: %s\n",
                            (unsigned long long)seed0, (unsigned long long)round, pieces[i],
                            blobstore_errmsg());
                CHECK_EQ(rc, 0);
                blobstore_table back;
                CHECK_EQ(blobstore_table_get(&back, bs, "t", NULL, 0), 0);
                CHECK_EQ(back.ncols, want.ncols);
                for (size_t k = 0; k < want.ncols && k < back.ncols; k++) {
                    if (back.cols[k].type != want.cols[k].type ||
                        back.cols[k].nullable != want.cols[k].nullable)
                        fprintf(stderr,
                                "seed %llu round %llu piece %zu column %zu: %s%s, want %s%s\n",
                                (unsigned long long)seed0, (unsigned long long)round, pieces[i], k,
                                bs__pq_type_name(back.cols[k].type),
                                back.cols[k].nullable ? " nullable" : "",
                                bs__pq_type_name(want.cols[k].type),
                                want.cols[k].nullable ? " nullable" : "");
                    CHECK_EQ(back.cols[k].type, want.cols[k].type);
                    CHECK_EQ(back.cols[k].nullable, want.cols[k].nullable);
                }
                rc = bs__pq_check_rows(&want, 0, want.nrows, &back, 0);
                if (rc)
                    fprintf(stderr, "seed %llu round %llu piece %zu: %s\n",
                            (unsigned long long)seed0, (unsigned long long)round, pieces[i],
                            blobstore_errmsg());
                CHECK_EQ(rc, 0);
                blobstore_table_clear(&back);
                if (!files)
                    files = blob_files(dir);
                CHECK_EQ(blob_files(dir), files); /* one table's file, nothing left over */
            }
        }
        bs__pq_table_free(&want);
        bs__buf_free(&csv);
    }
    /* A NUL byte inside a number, in the first piece or a later one, typed
     * by the schema or not: refused, nothing stored. */
    bs_buf nul = {0};
    bs__buf_append(&nul, "a,b\n", 4);
    for (int r = 0; r < 3000; r++) {
        char line[64];
        int n = snprintf(line, sizeof(line), "%d,%d\n", r, 2 * r);
        bs__buf_append(&nul, line, (size_t)n);
        if (r == 2 || r == 2900)
            bs__buf_append(&nul, "7,1\0002\n", 6);
    }
    CHECK(write_file(path, nul.data, nul.len));
    for (size_t i = 0; i < 2; i++)
        for (int typed = 0; typed < 2; typed++) {
            bs__pq_csv_piece = i ? 1000 : saved;
            int rc = put_csv_path(bs, "nul", path, typed ? "b:int64" : NULL, NULL);
            bs__pq_csv_piece = saved;
            CHECK_EQ(rc, BLOBSTORE_EINVAL);
            CHECK(strstr(blobstore_errmsg(), "NUL") != NULL);
            CHECK_EQ(blobstore_exists(bs, "nul"), 0);
        }
    bs__buf_free(&nul);
    blobstore_close(bs);
}

/*
 * Records are counted as the CSV is read a piece at a time (the pieces
 * without quotes by counting line ends eight bytes at a time): an error in
 * the last piece names the record it is in, counted from the file's start,
 * for pieces of every size.
 */
TEST(csv_errors_name_the_record_across_pieces)
{
    const char *dir = test_tmpdir();
    blobstore *bs = open_store(dir);
    CHECK(bs != NULL);
    char path[4200];
    snprintf(path, sizeof(path), "%s/nq.csv", dir);
    bs_buf csv = {0};
    bs__buf_append(&csv, "a,b,c\n", 6);
    uint64_t seed = 77;
    size_t records = 3001;
    for (size_t r = 0; r + 1 < records; r++) {
        char line[96];
        int n = snprintf(line, sizeof(line), "%zu,%llu.5,w%.*s\n", r,
                         (unsigned long long)(rng(&seed) % 100000), (int)(r % 23),
                         "abcdefghijklmnopqrstuvw");
        bs__buf_append(&csv, line, (size_t)n);
    }
    bs__buf_append(&csv, "7,1.5,\"open\n", 12); /* record 3002 (the header is 1) */
    CHECK(write_file(path, csv.data, csv.len));
    static const size_t pieces[] = {1, 7, 64, 333, 1000, 4096, 100000, (size_t)2 << 20};
    size_t saved = bs__pq_csv_piece;
    for (size_t i = 0; i < sizeof(pieces) / sizeof(pieces[0]); i++) {
        bs__pq_csv_piece = pieces[i];
        int rc = put_csv_path(bs, "t", path, NULL, NULL);
        bs__pq_csv_piece = saved;
        CHECK_EQ(rc, BLOBSTORE_EINVAL);
        const char *msg = blobstore_errmsg(), *from = strstr(msg, "records "),
                   *line = strstr(msg, "on line ");
        CHECK(from != NULL && line != NULL);
        size_t first = from ? strtoul(from + 8, NULL, 10) : 0,
               own = line ? strtoul(line + 8, NULL, 10) : 0;
        if (first + own - 2 != records + 1)
            fprintf(stderr, "piece %zu: %s\n", pieces[i], msg);
        CHECK_EQ(first + own - 2, records + 1);
    }
    bs__buf_free(&csv);
    blobstore_close(bs);
}

/* Peak RSS in bytes of a child process running fn(arg). */
static long child_peak(void (*fn)(const char *dir, const char *path), const char *dir,
                       const char *path, int *status)
{
    pid_t pid = fork();
    if (pid == 0) {
        fn(dir, path);
        _exit(0);
    }
    waitpid(pid, status, 0);
    struct rusage ru;
    getrusage(RUSAGE_CHILDREN, &ru);
    return ru.ru_maxrss * 1024L;
}

static void put_csv_child(const char *dir, const char *path)
{
    blobstore *bs = open_store(dir);
    int fd = open(path, O_RDONLY);
    if (!bs || fd < 0 || blobstore_table_put_csv_fd(NULL, bs, "big", fd, NULL, NULL) != 0) {
        fprintf(stderr, "child: %s\n", blobstore_errmsg());
        _exit(1);
    }
    close(fd);
    blobstore_close(bs);
}

/* A 112 MB CSV is put with a peak RSS under half its size. */
TEST(csv_put_memory_is_bounded)
{
    const char *tmp = test_tmpdir(); /* the inputs; the store in tmp/store */
    char dir[4200];
    snprintf(dir, sizeof(dir), "%s/store", tmp);
    char path[4200];
    snprintf(path, sizeof(path), "%s/big.csv", tmp);
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    uint64_t s = 5;
    size_t size = 0;
    fputs("id,x,country,maybe,ok\n", f);
    for (size_t i = 0; size < ((size_t)112 << 20); i++) {
        static const char *w[] = {"US", "FR", "DE", "\"a, \"\"q\"\"\""};
        uint64_t v = rng(&s);
        int n = fprintf(f, "%zu,%.6f,%s,%s%lld,%s\n", i, (double)(v >> 40) / 1000.0, w[v % 4],
                        v % 20 ? "" : "", v % 20 ? (long long)(v % 2000001) - 1000000 : 0LL,
                        v & 1 ? "true" : "false");
        size += (size_t)n;
    }
    CHECK(fclose(f) == 0);
    int status = 0;
    long peak = child_peak(put_csv_child, dir, path, &status);
    fprintf(stderr, "  csv put: %.0f MB input, peak RSS %.0f MB\n", size / 1e6, peak / 1e6);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    if (!getenv("BLOBSTORE_SANITIZED"))
        CHECK(peak < (long)(size / 2));
}

static int fd_sink(void *ctx, const void *p, size_t n)
{
    return write(*(int *)ctx, p, n) == (ssize_t)n ? 0 : BLOBSTORE_EIO;
}

/* A Parquet file at path of groups row groups of n rows each, the g-th
 * make_table(n, seed + g), written by our streaming writer; its size. */
static size_t write_groups(const char *path, size_t groups, size_t n, uint64_t seed)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    pq_writer *w = NULL;
    pq_write_options wo = {.codec = "snappy", .row_group_rows = n};
    int rc = fd < 0 ? BLOBSTORE_EIO : 0;
    for (size_t g = 0; g < groups && !rc; g++) {
        pq_table t;
        make_table(&t, n, seed + g);
        if (!w)
            rc = bs__pq_writer_new(&w, &t, &wo, fd_sink, &fd);
        if (!rc)
            rc = bs__pq_writer_write(w, &t, 0, n);
        bs__pq_table_free(&t);
    }
    if (!rc)
        rc = bs__pq_writer_finish(w, NULL);
    bs__pq_writer_free(w);
    off_t size = fd < 0 ? 0 : lseek(fd, 0, SEEK_END);
    if (fd >= 0)
        close(fd);
    if (rc)
        fprintf(stderr, "write_groups: %s\n", blobstore_errmsg());
    return rc ? 0 : (size_t)size;
}

static void put_parquet_child(const char *dir, const char *path)
{
    blobstore *bs = open_store(dir);
    int fd = open(path, O_RDONLY);
    if (!bs || fd < 0 || blobstore_table_put_parquet_fd(NULL, bs, "bigpq", fd, NULL) != 0) {
        fprintf(stderr, "child: %s\n", blobstore_errmsg());
        _exit(1);
    }
    close(fd);
    blobstore_close(bs);
}

typedef struct {
    int fd;
    uint64_t off;
    int same;
} cmp_ctx;

/* Compares what get streams with the file's bytes at the same offsets. */
static int cmp_write(void *ctx, const void *p, size_t n)
{
    cmp_ctx *c = ctx;
    uint8_t *b = malloc(n ? n : 1);
    if (!b || pread(c->fd, b, n, (off_t)c->off) != (ssize_t)n || memcmp(b, p, n) != 0)
        c->same = 0;
    free(b);
    c->off += n;
    return 0;
}

/* A ~110 MB Parquet file of many row groups is put from its descriptor with
 * a peak RSS well under its size (checked a row group at a time, streamed
 * into the store); get gives back its bytes, and its values. */
TEST(parquet_put_memory_is_bounded)
{
    const char *tmp = test_tmpdir(); /* the inputs; the store in tmp/store */
    char dir[4200];
    snprintf(dir, sizeof(dir), "%s/store", tmp);
    char path[4200];
    snprintf(path, sizeof(path), "%s/big.parquet", tmp);
    const size_t n = 12000, groups = 64;
    const uint64_t seed = 77;
    size_t size = write_groups(path, groups, n, seed);
    CHECK(size > ((size_t)100 << 20));
    struct rusage ru;
    int status = 0;
    pid_t pid = fork();
    if (pid == 0) {
        put_parquet_child(dir, path);
        _exit(0);
    }
    CHECK(wait4(pid, &status, 0, &ru) == pid); /* this child's own peak */
    long peak = ru.ru_maxrss * 1024L;
    fprintf(stderr, "  parquet put: %.0f MB input, %zu row groups, peak RSS %.0f MB\n", size / 1e6,
            groups, peak / 1e6);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    if (!getenv("BLOBSTORE_SANITIZED"))
        CHECK(peak < (long)(size / 4));
    blobstore *bs = open_store(dir);
    CHECK(bs != NULL);
    /* The same bytes. */
    cmp_ctx c = {open(path, O_RDONLY), 0, 1};
    CHECK(c.fd >= 0);
    CHECK_EQ(blobstore_get_stream(bs, "bigpq", cmp_write, &c), 0);
    close(c.fd);
    CHECK(c.same);
    CHECK_EQ((long long)c.off, (long long)size);
    /* The same values: two columns (one with nulls) of every row group. */
    static const char *names[] = {"int64", "string_null"};
    blobstore_table got;
    CHECK_EQ(blobstore_table_get(&got, bs, "bigpq", names, 2), 0);
    CHECK_EQ(got.nrows, groups * n);
    for (size_t g = 0; g < groups; g++) {
        pq_table t;
        make_table(&t, n, seed + g);
        const pq_column *a = NULL, *b = NULL;
        for (size_t k = 0; k < t.ncols; k++)
            if (strcmp(t.cols[k].name, "int64") == 0)
                a = &t.cols[k];
            else if (strcmp(t.cols[k].name, "string_null") == 0)
                b = &t.cols[k];
        CHECK(a && b);
        CHECK(memcmp((const int64_t *)got.cols[0].values + g * n, a->values, n * 8) == 0);
        for (size_t i = 0; i < n; i++) {
            size_t r = g * n + i;
            CHECK_EQ(got.cols[1].valid[r], b->valid[i]);
            if (!b->valid[i])
                continue;
            uint64_t l0 = got.cols[1].offsets[r], l1 = got.cols[1].offsets[r + 1];
            CHECK_EQ(l1 - l0, b->offsets[i + 1] - b->offsets[i]);
            CHECK(memcmp(got.cols[1].bytes + l0, b->bytes + b->offsets[i], l1 - l0) == 0);
        }
        bs__pq_table_free(&t);
    }
    blobstore_table_clear(&got);
    blobstore_close(bs);
}

/* put from a descriptor and put from memory accept and refuse the same
 * files: a damaged page or chunk range in a middle row group, a damaged
 * footer, a truncated file fail as corrupt, each leaving nothing stored. */
TEST(parquet_put_fd_checks_every_row_group)
{
    const char *tmp = test_tmpdir(); /* the inputs; the store in tmp/store */
    char dir[4200];
    snprintf(dir, sizeof(dir), "%s/store", tmp);
    char path[4200], bad[4300];
    snprintf(path, sizeof(path), "%s/small.parquet", tmp);
    snprintf(bad, sizeof(bad), "%s/bad.parquet", tmp);
    size_t size = write_groups(path, 5, 300, 9);
    CHECK(size > 0);
    uint8_t *f = malloc(size);
    int fd = open(path, O_RDONLY);
    CHECK(fd >= 0 && read(fd, f, size) == (ssize_t)size);
    blobstore *bs = open_store(dir);
    CHECK(bs != NULL);
    CHECK_EQ(blobstore_table_put_parquet_fd(NULL, bs, "good", fd, "{\"a\":1}"), 0);
    close(fd);
    char *meta = NULL;
    CHECK_EQ(blobstore_get_metadata(&meta, bs, "good"), 0);
    CHECK(strstr(meta, "\"num_rows\":1500") != NULL);
    CHECK(strstr(meta, "\"a\":1") != NULL);
    CHECK(strstr(meta, "\"format\":\"parquet\"") != NULL);
    blobstore_free(meta);
    size_t files = blob_files(dir);
    uint64_t s = 3;
    int refused = 0;
    for (int trial = 0; trial < 60; trial++) {
        uint8_t *g = malloc(size);
        memcpy(g, f, size);
        size_t len = size, at = 0;
        if (trial == 0) {
            len = size - 1; /* truncated */
        } else if (trial == 1) {
            len = 11;
        } else {
            /* a byte of the footer, a byte or 2 KiB of the middle row group */
            at = trial % 3 ? size * 2 / 5 + rng(&s) % (size / 5) : size - 9 - rng(&s) % 64;
            if (trial % 3 == 2)
                memset(g + at, 0xA5, at + 2048 < size - 8 ? 2048 : size - 8 - at);
            else
                g[at] ^= (uint8_t)(1 + rng(&s) % 255);
        }
        int wfd = open(bad, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        CHECK(wfd >= 0 && write(wfd, g, len) == (ssize_t)len);
        close(wfd);
        int rfd = open(bad, O_RDONLY);
        int rc_fd = blobstore_table_put_parquet_fd(NULL, bs, "bad", rfd, NULL);
        char msg[300];
        snprintf(msg, sizeof(msg), "%s", blobstore_errmsg());
        close(rfd);
        int exists = blobstore_exists(bs, "bad") == 1;
        blobstore_delete(bs, "bad");
        int rc_mem = blobstore_table_put_parquet(NULL, bs, "bad", g, len, NULL);
        if (rc_fd != rc_mem)
            fprintf(stderr, "trial %d (byte %zu, seed 3): fd %d (%s), memory %d\n", trial, at,
                    rc_fd, msg, rc_mem);
        CHECK_EQ(rc_fd, rc_mem);
        if (rc_fd) {
            refused++;
            CHECK(!exists);
            CHECK(rc_fd == BLOBSTORE_ECORRUPT || rc_fd == BLOBSTORE_EUNSUPPORTED);
            CHECK_EQ(blobstore_exists(bs, "bad"), 0);
            CHECK_EQ(blob_files(dir), files);
        } else {
            blobstore_delete(bs, "bad");
        }
        free(g);
    }
    fprintf(stderr, "  %d of 60 damaged files refused\n", refused);
    CHECK(refused >= 20);
    free(f);
    /* Not a regular file. */
    int p[2];
    CHECK(pipe(p) == 0);
    CHECK_EQ(blobstore_table_put_parquet_fd(NULL, bs, "pipe", p[0], NULL), BLOBSTORE_EINVAL);
    close(p[0]);
    close(p[1]);
    blobstore_close(bs);
}

/* A caller's format_info adds members to get_metadata; it never replaces
 * one the store computed (columns, num_rows) nor names one with a leading
 * '_': those are refused before any row is read, and nothing is stored. */
TEST(format_info_never_replaces_the_stores)
{
    const char *dir = test_tmpdir();
    blobstore *bs = open_store(dir);
    CHECK(bs != NULL);
    pq_table t;
    make_table(&t, 100, 7);
    char path[4200];
    snprintf(path, sizeof(path), "%s/in.csv", dir);
    CHECK(write_file(path, "a,b\n1,x\n2,y\n", 12));
    static const char *const bad[] = {"{\"num_rows\": 1}", "{\"note\": 1, \"columns\": []}",
                                      "{\"_b2nd_map\": {}}", "[1]"};
    blobstore_table_options o = BLOBSTORE_TABLE_OPTIONS_INIT;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        o.format_info = bad[i];
        CHECK_EQ(blobstore_table_put(NULL, bs, "t", &t, &o), BLOBSTORE_EINVAL);
        CHECK_EQ(put_csv_path(bs, "c", path, NULL, &o), BLOBSTORE_EINVAL);
        CHECK_EQ(blobstore_exists(bs, "t") + blobstore_exists(bs, "c"), 0);
    }
    CHECK_EQ(blob_files(dir), 0);
    o.format_info = "{\"note\": \"n\"}";
    CHECK_EQ(blobstore_table_put(NULL, bs, "t", &t, &o), 0);
    CHECK_EQ(put_csv_path(bs, "c", path, NULL, &o), 0);
    static const char *const keys[] = {"t", "c"};
    static const json_int_t rows[] = {100, 2};
    for (int k = 0; k < 2; k++) {
        char *meta = NULL;
        CHECK_EQ(blobstore_get_metadata(&meta, bs, keys[k]), 0);
        json_error_t err;
        json_t *m = meta ? json_loads(meta, 0, &err) : NULL;
        CHECK_STR(json_string_value(json_object_get(m, "note")), "n");
        CHECK_EQ(json_integer_value(json_object_get(m, "num_rows")), rows[k]);
        CHECK_EQ(json_array_size(json_object_get(m, "columns")), k ? 2 : t.ncols);
        json_decref(m);
        blobstore_free(meta);
    }
    bs__pq_table_free(&t);
    blobstore_close(bs);
}

static const test_case tests[] = {
    TEST_ENTRY(format_info_never_replaces_the_stores),
    TEST_ENTRY(csv_put_in_pieces_is_the_csv_parsed_whole),
    TEST_ENTRY(csv_put_guessed_types_are_the_whole_files),
    TEST_ENTRY(a_wrong_encoder_output_from_csv_is_never_stored),
    TEST_ENTRY(csv_errors_name_the_record_across_pieces),
    TEST_ENTRY(csv_put_memory_is_bounded),
    TEST_ENTRY(parquet_put_memory_is_bounded),
    TEST_ENTRY(parquet_put_fd_checks_every_row_group),
    TEST_ENTRY(tables_follow_the_store_codec),
    TEST_ENTRY(a_wrong_encoder_output_is_never_stored),
    TEST_ENTRY(the_check_compares_every_value),
};
TEST_MAIN(tests)
