/*
 * test_parquet_nested_write.c - the writer's nested columns (issue 15):
 * seeded random LIST / STRUCT / MAP tables (nulls at every level, empty
 * lists, items a null list's offsets still span, fields of null structs
 * holding values) written under every codec with small row groups and pages,
 * read back and compared item by item with an equality of their own (not
 * the writer's check); pages start at records; what must be refused is.
 * BLOBSTORE_NESTED_WRITE_SEED=N reproduces a run (the seed is printed).
 */
#include "parquet/parquet.h"
#include "pq_pages.h"
#include "test.h"

#include <jansson.h>

#include <time.h>

static uint64_t rng_state;

static uint64_t rnd(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double unit(void)
{
    return (double)(rnd() >> 11) / 9007199254740992.0;
}

static double null_p; /* the chance of a null at each nullable level */

/*
 * A column of n items from a spec: i int32, I int64, s string, b bool,
 * d double, D decimal(20,3), t timestamp[us], x binary; L(e) a list of e,
 * S(a,b,...) a struct of fields f0, f1..., M(k,v) a map; `?` after a type's
 * letter: nullable (L?(i) a nullable list of required ints). Returns the spec past the column.
 */
static const char *build(pq_column *c, const char *spec, size_t n, const char *name)
{
    memset(c, 0, sizeof(*c));
    c->name = bs__strdup(name);
    char t = *spec++;
    c->nullable = *spec == '?';
    spec += c->nullable;
    const char *kids = NULL;
    if (t == 'L' || t == 'S' || t == 'M') {
        kids = spec + 1; /* past '(' */
        int depth = 0;
        do {
            depth += *spec == '(';
            depth -= *spec == ')';
            spec++;
        } while (depth);
    }
    if (c->nullable) {
        c->valid = malloc(n ? n : 1);
        for (size_t i = 0; i < n; i++)
            c->valid[i] = unit() >= null_p;
    }
    switch (t) {
    case 'L':
    case 'M': {
        c->type = t == 'L' ? PQ_LIST : PQ_MAP;
        c->offsets = malloc((n + 1) * sizeof(uint64_t));
        c->offsets[0] = 0;
        for (size_t i = 0; i < n; i++) {
            /* a null list's offsets may still span items (not written) */
            size_t len = rnd() % 5;
            if (c->valid && !c->valid[i] && rnd() % 2)
                len = 0;
            c->offsets[i + 1] = c->offsets[i] + len;
        }
        size_t items = (size_t)c->offsets[n];
        c->nchildren = 1;
        c->children = calloc(1, sizeof(pq_column));
        if (t == 'L') {
            build(&c->children[0], kids, items, "element");
        } else {
            pq_column *e = &c->children[0];
            e->name = bs__strdup("entries");
            e->type = PQ_STRUCT;
            e->nchildren = 2;
            e->children = calloc(2, sizeof(pq_column));
            kids = build(&e->children[0], kids, items, "key") + 1; /* past ',' */
            build(&e->children[1], kids, items, "value");
        }
        break;
    }
    case 'S': {
        c->type = PQ_STRUCT;
        size_t k = 0;
        c->children = calloc(8, sizeof(pq_column));
        for (;;) {
            char fname[8];
            snprintf(fname, sizeof(fname), "f%zu", k);
            kids = build(&c->children[k++], kids, n, fname);
            if (*kids++ == ')')
                break;
        }
        c->nchildren = k;
        break;
    }
    case 's':
    case 'x': {
        c->type = t == 's' ? PQ_STRING : PQ_BINARY;
        c->offsets = malloc((n + 1) * sizeof(uint64_t));
        bs_buf b = {0};
        c->offsets[0] = 0;
        static const char *words[] = {"", "a", "b c", "it's", "{q}", "x,y", "null", "é"};
        for (size_t i = 0; i < n; i++) {
            uint64_t r = rnd();
            char tmp[32];
            int len = r % 3 ? snprintf(tmp, sizeof(tmp), "%s", words[r % 8])
                            : snprintf(tmp, sizeof(tmp), "w%llu", (unsigned long long)(r % 1000));
            if (t == 'x' && len > 0)
                tmp[0] = 0; /* a NUL byte */
            bs__buf_append(&b, tmp, (size_t)len);
            c->offsets[i + 1] = b.len;
        }
        c->bytes = b.data ? b.data : malloc(1);
        break;
    }
    default: {
        c->type = t == 'i'   ? PQ_INT32
                  : t == 'I' ? PQ_INT64
                  : t == 'b' ? PQ_BOOL
                  : t == 'd' ? PQ_DOUBLE
                  : t == 'D' ? PQ_DECIMAL
                             : PQ_TIMESTAMP_US;
        if (c->type == PQ_DECIMAL) {
            c->precision = 20;
            c->scale = 3;
        }
        size_t w = bs__pq_width(c->type);
        c->values = calloc(n ? n : 1, w);
        for (size_t i = 0; i < n; i++) {
            uint8_t *p = (uint8_t *)c->values + i * w;
            int64_t v = (int64_t)(rnd() % 2000001) - 1000000;
            if (c->type == PQ_BOOL) {
                *p = (uint8_t)(rnd() & 1);
            } else if (c->type == PQ_DOUBLE) {
                double d = (double)v / 7.0;
                memcpy(p, &d, 8);
            } else if (c->type == PQ_DECIMAL) {
                int64_t v128[2] = {v * 1000003, v < 0 ? -1 : 0};
                memcpy(p, v128, 16);
            } else {
                memcpy(p, &v, w); /* little endian: int32 takes the low half */
            }
        }
    }
    }
    return spec;
}

/* Item i of a (null_a: an enclosing struct is null) equals item j of b. */
static int same_item(const pq_column *a, size_t i, int null_a, const pq_column *b, size_t j,
                     int null_b)
{
    int va = !null_a && (!a->valid || a->valid[i]), vb = !null_b && (!b->valid || b->valid[j]);
    if (va != vb || a->type != b->type || a->nchildren != b->nchildren)
        return 0;
    if (!va)
        return 1;
    switch (a->type) {
    case PQ_LIST:
    case PQ_MAP: {
        uint64_t n = a->offsets[i + 1] - a->offsets[i];
        if (n != b->offsets[j + 1] - b->offsets[j])
            return 0;
        for (uint64_t k = 0; k < n; k++)
            if (!same_item(&a->children[0], (size_t)(a->offsets[i] + k), 0, &b->children[0],
                           (size_t)(b->offsets[j] + k), 0))
                return 0;
        return 1;
    }
    case PQ_STRUCT:
        for (size_t k = 0; k < a->nchildren; k++)
            if (strcmp(a->children[k].name, b->children[k].name) != 0 ||
                !same_item(&a->children[k], i, 0, &b->children[k], j, 0))
                return 0;
        return 1;
    case PQ_STRING:
    case PQ_BINARY: {
        uint64_t n = a->offsets[i + 1] - a->offsets[i];
        return n == b->offsets[j + 1] - b->offsets[j] &&
               memcmp(a->bytes + a->offsets[i], b->bytes + b->offsets[j], (size_t)n) == 0;
    }
    case PQ_BOOL:
        return !((const uint8_t *)a->values)[i] == !((const uint8_t *)b->values)[j];
    default: {
        size_t w = bs__pq_width(a->type);
        return memcmp((const uint8_t *)a->values + i * w, (const uint8_t *)b->values + j * w, w) ==
               0;
    }
    }
}

static const char *specs[] = {
    "L?(i?)",
    "L?(s?)",
    "L?(L?(I?))",
    "S?(I?,s?,S?(L?(i?)))",
    "M?(s,i?)",
    "M?(s,L?(d?))",
    "L?(S?(b?,D?,t?))",
    "M(I,S(x?,L(s)))",
    "L(L(L?(b)))",
    "S(i,S?(s?),L?(i))",
    "i?",
    "L?(M?(s,S?(L?(I?))))",
};
#define NSPECS (sizeof(specs) / sizeof(specs[0]))

static void make_table(pq_table *t, size_t n)
{
    t->nrows = n;
    t->ncols = NSPECS;
    t->cols = calloc(NSPECS, sizeof(pq_column));
    for (size_t k = 0; k < NSPECS; k++) {
        char name[8];
        snprintf(name, sizeof(name), "c%zu", k);
        build(&t->cols[k], specs[k], n, name);
    }
}

/* Seeded random tables under every codec, row group and page size: read
 * back item by item. */
TEST(random_nested_tables_round_trip)
{
    const char *env = getenv("BLOBSTORE_NESTED_WRITE_SEED");
    uint64_t seed = env ? strtoull(env, NULL, 10) : (uint64_t)time(NULL);
    printf("  seed %llu (BLOBSTORE_NESTED_WRITE_SEED=%llu reproduces it)\n",
           (unsigned long long)seed, (unsigned long long)seed);
    rng_state = seed;
    static const char *codecs[] = {"snappy", "zstd", "gzip", "lz4_raw", "none"};
    static const size_t sizes[] = {0, 1, 37, 1000, 4000};
    static const double nulls[] = {0.0, 0.2, 1.0};
    size_t cells = 0;
    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++)
        for (size_t p = 0; p < 3; p++) {
            null_p = nulls[p];
            size_t n = sizes[s];
            pq_table t;
            make_table(&t, n);
            pq_write_options o = {.codec = codecs[rnd() % 5],
                                  .row_group_rows = 1 + rnd() % 700,
                                  .page_rows = 1 + rnd() % 50,
                                  .page_bytes = 1 + rnd() % 3000};
            uint8_t *file;
            size_t len;
            int rc = bs__pq_write(&file, &len, &t, &o);
            if (rc)
                fprintf(stderr, "  seed %llu, %zu rows: %s\n", (unsigned long long)seed, n,
                        blobstore_errmsg());
            CHECK_EQ(rc, 0);
            pq_table back;
            rc = bs__pq_read(&back, file, len, NULL, 0);
            CHECK_EQ(rc, 0);
            CHECK_EQ(back.nrows, n);
            CHECK_EQ(back.ncols, t.ncols);
            for (size_t k = 0; k < t.ncols; k++) {
                char want[256], got[256];
                CHECK_STR(bs__pq_column_type_text(&back.cols[k], got, sizeof(got)),
                          bs__pq_column_type_text(&t.cols[k], want, sizeof(want)));
                for (size_t r = 0; r < n; r++) {
                    int ok = same_item(&t.cols[k], r, 0, &back.cols[k], r, 0);
                    if (!ok)
                        fprintf(stderr, "  seed %llu: %zu rows, column %s (%s), row %zu differs\n",
                                (unsigned long long)seed, n, t.cols[k].name, specs[k], r);
                    CHECK(ok);
                    cells++;
                }
            }
            bs__pq_table_free(&back);
            free(file);
            bs__pq_table_free(&t);
        }
    printf("  %zu nested cells equal after the round trip\n", cells);
}

/* Definition and repetition levels apart: a null list, an empty list, a
 * list of one null; a null struct, a struct of nulls. */
TEST(null_list_empty_list_and_null_element_stay_apart)
{
    pq_table t;
    null_p = 0;
    rng_state = 1;
    t.nrows = 4;
    t.ncols = 2;
    t.cols = calloc(2, sizeof(pq_column));
    build(&t.cols[0], "L?(i?)", 4, "l");
    build(&t.cols[1], "S?(i?)", 4, "s");
    pq_column *l = &t.cols[0], *s = &t.cols[1];
    /* rows: null, [], [NULL], [7] */
    uint64_t off[5] = {0, 0, 0, 1, 2};
    free(l->children[0].valid);
    free(l->children[0].values);
    free(l->offsets);
    l->offsets = malloc(sizeof(off));
    memcpy(l->offsets, off, sizeof(off));
    l->children[0].values = calloc(2, 4);
    l->children[0].valid = malloc(2);
    l->children[0].valid[0] = 0;
    l->children[0].valid[1] = 1;
    ((int32_t *)l->children[0].values)[1] = 7;
    memcpy(l->valid, (uint8_t[]){0, 1, 1, 1}, 4);
    /* rows: null, {f0: NULL}, {f0: 5}, {f0: NULL} */
    memcpy(s->valid, (uint8_t[]){0, 1, 1, 1}, 4);
    memcpy(s->children[0].valid, (uint8_t[]){1, 0, 1, 0}, 4);
    ((int32_t *)s->children[0].values)[2] = 5;
    uint8_t *file;
    size_t len;
    CHECK_EQ(bs__pq_write(&file, &len, &t, NULL), 0);
    pq_table b;
    CHECK_EQ(bs__pq_read(&b, file, len, NULL, 0), 0);
    char *csv;
    size_t n;
    CHECK_EQ(blobstore_table_to_csv(&csv, &n, &b), 0);
    CHECK_STR(csv, "l,s\n,\n[],{'f0': NULL}\n[NULL],{'f0': 5}\n[7],{'f0': NULL}\n");
    free(csv);
    bs__pq_table_free(&b);
    free(file);
    bs__pq_table_free(&t);
}

/* Decoded v1 data pages of an uncompressed file: each starts at a record
 * (its first repetition level is 0); *pages counts them. */
static int pages_start_at_records(const uint8_t *file, size_t len, size_t *pages)
{
    size_t pos = 4, n_len;
    const uint8_t *p;
    int64_t type;
    int rc;
    *pages = 0;
    while ((rc = pq_next_page(file, len, &pos, &type, &p, &n_len)) == 1) {
        if (type == 0) { /* the list's leaf: repetition levels first, bit width 1 */
            uint32_t n, first = 1;
            memcpy(&n, p, 4);
            if (bs__pq_rle_decode(p + 4, n, 1, &first, 1) != 0 || first != 0)
                return -1;
            ++*pages;
        }
    }
    return rc;
}

TEST(pages_split_at_records)
{
    null_p = 0.1;
    rng_state = 7;
    pq_table t = {3000, 1, calloc(1, sizeof(pq_column))};
    build(&t.cols[0], "L?(s?)", 3000, "l");
    static const size_t limits[][2] = {{1, 0}, {7, 0}, {0, 1}, {0, 40}, {20000, 100}};
    for (size_t k = 0; k < 5; k++) {
        pq_write_options o = {
            .codec = "none", .page_rows = limits[k][0], .page_bytes = limits[k][1]};
        uint8_t *file;
        size_t len, pages;
        CHECK_EQ(bs__pq_write(&file, &len, &t, &o), 0);
        CHECK_EQ(pages_start_at_records(file, len, &pages), 0);
        if (limits[k][0] == 1)
            CHECK_EQ(pages, (size_t)3000); /* a record a page */
        else if (limits[k][1] == 1)        /* a page ends at its first value */
            CHECK(pages > 1500 && pages < 3000);
        else if (limits[k][0] == 7)
            CHECK_EQ(pages, (size_t)(3000 + 6) / 7);
        else
            CHECK(pages > 10);
        pq_table b;
        CHECK_EQ(bs__pq_read(&b, file, len, NULL, 0), 0);
        for (size_t r = 0; r < 3000; r++)
            CHECK(same_item(&t.cols[0], r, 0, &b.cols[0], r, 0));
        bs__pq_table_free(&b);
        free(file);
    }
    bs__pq_table_free(&t);
}

/* A null map key, a null where the schema says none, decreasing offsets:
 * EINVAL naming the column; nothing written. */
TEST(invalid_nested_columns_are_refused)
{
    null_p = 0;
    rng_state = 3;
    pq_table t = {50, 1, calloc(1, sizeof(pq_column))};
    build(&t.cols[0], "M?(s,i?)", 50, "m");
    pq_column *key = &t.cols[0].children[0].children[0];
    size_t items = (size_t)t.cols[0].offsets[50];
    CHECK(items > 3);
    key->valid = calloc(items, 1);
    memset(key->valid, 1, items);
    key->valid[items / 2] = 0;
    uint8_t *file = NULL;
    size_t len;
    CHECK_EQ(bs__pq_write(&file, &len, &t, NULL), BLOBSTORE_EINVAL);
    CHECK(strstr(blobstore_errmsg(), "column `m`: a map key is null") != NULL);
    key->valid[items / 2] = 1;
    key->nullable = 1;
    CHECK_EQ(bs__pq_write(&file, &len, &t, NULL), 0); /* a nullable key without nulls */
    free(file);
    bs__pq_table_free(&t);

    pq_table u = {50, 1, calloc(1, sizeof(pq_column))};
    build(&u.cols[0], "S?(i,s?)", 50, "s");
    pq_column *f0 = &u.cols[0].children[0];
    f0->valid = calloc(50, 1);
    memset(f0->valid, 1, 50);
    f0->valid[9] = 0;
    u.cols[0].valid[9] = 0; /* under a null struct: not seen */
    CHECK_EQ(bs__pq_write(&file, &len, &u, NULL), 0);
    free(file);
    u.cols[0].valid[9] = 1;
    CHECK_EQ(bs__pq_write(&file, &len, &u, NULL), BLOBSTORE_EINVAL);
    CHECK(strstr(blobstore_errmsg(), "column `s`: `f0` is not nullable but has nulls") != NULL);
    bs__pq_table_free(&u);

    pq_table v = {5, 1, calloc(1, sizeof(pq_column))};
    build(&v.cols[0], "L(i)", 5, "l");
    v.cols[0].offsets[2] = v.cols[0].offsets[3] + 1;
    CHECK_EQ(bs__pq_write(&file, &len, &v, NULL), BLOBSTORE_EINVAL);
    CHECK(strstr(blobstore_errmsg(), "column `l`") != NULL);
    bs__pq_column_free(&v.cols[0].children[0]);
    free(v.cols[0].children);
    v.cols[0].children = NULL; /* a LIST without its child */
    v.cols[0].offsets[2] = v.cols[0].offsets[1];
    CHECK_EQ(bs__pq_write(&file, &len, &v, NULL), BLOBSTORE_EINVAL);
    CHECK(strstr(blobstore_errmsg(), "column `l`: the list `l` has no children") != NULL);
    bs__pq_table_free(&v);
}

/* 32 levels of lists below the column are written and read; 33 are not
 * (the reader's limit): EUNSUPPORTED naming the column. */
TEST(nesting_up_to_32_levels)
{
    null_p = 0.3;
    rng_state = 5;
    for (int levels = 32; levels <= 33; levels++) {
        char spec[256]; /* 33 x "L?(" + "i?" + 33 x ')' */
        int k = 0;
        for (int i = 0; i < levels; i++)
            k += snprintf(spec + k, sizeof(spec) - (size_t)k, "L?(");
        k += snprintf(spec + k, sizeof(spec) - (size_t)k, "i?");
        for (int i = 0; i < levels; i++)
            spec[k++] = ')';
        spec[k] = 0;
        pq_table t = {20, 1, calloc(1, sizeof(pq_column))};
        build(&t.cols[0], spec, 20, "deep");
        uint8_t *file;
        size_t len;
        int rc = bs__pq_write(&file, &len, &t, NULL);
        if (levels == 33) {
            CHECK_EQ(rc, BLOBSTORE_EUNSUPPORTED);
            CHECK(strstr(blobstore_errmsg(), "column `deep`: nested more than 32 levels") != NULL);
        } else {
            CHECK_EQ(rc, 0);
            pq_table b;
            CHECK_EQ(bs__pq_read(&b, file, len, NULL, 0), 0);
            for (size_t r = 0; r < 20; r++)
                CHECK(same_item(&t.cols[0], r, 0, &b.cols[0], r, 0));
            bs__pq_table_free(&b);
            free(file);
        }
        bs__pq_table_free(&t);
    }
}

/* The pandas metadata of a nested table (what a C put or get -o x.parquet
 * writes): pandas_type as pyarrow names it, list[<element>] for a LIST
 * (pandas_compat.get_logical_type), object for a STRUCT or a MAP; numpy_type
 * object. */
TEST(pandas_metadata_names_nested_types_as_pyarrow)
{
    static const char *spec[] = {"L?(i?)",   "L?(L?(I?))",  "L?(S?(b?,D?,t?))", "S?(I?,s?)",
                                 "M?(s,i?)", "L(M?(s,i?))", "L?(s?)",           "L(x)"};
    static const char *want[] = {
        "list[int32]", "list[list[int64]]", "list[object]",  "object",
        "object",      "list[object]",      "list[unicode]", "list[bytes]"};
    const size_t n = sizeof(spec) / sizeof(spec[0]);
    pq_table t = {3, n, calloc(n, sizeof(pq_column))};
    for (size_t k = 0; k < n; k++) {
        char name[8];
        snprintf(name, sizeof(name), "c%zu", k);
        build(&t.cols[k], spec[k], 3, name);
    }
    char *s = bs__pq_pandas_metadata(&t);
    CHECK(s != NULL);
    json_error_t err;
    json_t *o = json_loads(s, 0, &err);
    CHECK(o != NULL);
    json_t *cols = json_object_get(o, "columns");
    CHECK_EQ(json_array_size(cols), n);
    for (size_t k = 0; k < n; k++) {
        json_t *c = json_array_get(cols, k);
        const char *pt = json_string_value(json_object_get(c, "pandas_type"));
        if (!pt || strcmp(pt, want[k]))
            fprintf(stderr, "  %s: pandas_type %s, want %s\n", spec[k], pt ? pt : "(none)",
                    want[k]);
        CHECK(pt && !strcmp(pt, want[k]));
        CHECK_STR(json_string_value(json_object_get(c, "numpy_type")), "object");
    }
    json_decref(o);
    free(s);
    bs__pq_table_free(&t);
}

static const test_case tests[] = {
    TEST_ENTRY(pandas_metadata_names_nested_types_as_pyarrow),
    TEST_ENTRY(nesting_up_to_32_levels),
    TEST_ENTRY(null_list_empty_list_and_null_element_stay_apart),
    TEST_ENTRY(pages_split_at_records),
    TEST_ENTRY(invalid_nested_columns_are_refused),
    TEST_ENTRY(random_nested_tables_round_trip),
};
TEST_MAIN(tests)
