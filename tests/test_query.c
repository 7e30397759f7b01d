/*
 * test_query.c - the metadata query language: one table of queries with the
 * answers worked out by hand, run against every metadata backend; ordering,
 * limits, store fields and invalid filters.
 */
#include "test.h"

#include "blobstore.h"

#include <sqlite3.h>

static const struct {
    const char *key, *meta;
} dataset[] = {
    {"a", "{\"accuracy\": 0.95, \"deployed\": true, \"loss\": 0.2, \"name\": \"alpha\", "
          "\"hp\": {\"lr\": 0.001, \"epochs\": 100}, \"tags\": [\"x\", \"y\"]}"},
    {"b", "{\"accuracy\": 0.85, \"deployed\": false, \"loss\": 0.5, \"name\": \"beta\", "
          "\"hp\": {\"lr\": 0.01, \"epochs\": 10}}"},
    {"c", "{\"accuracy\": 0.91, \"deployed\": true, \"loss\": 0.3, \"name\": \"gamma\", "
          "\"hp\": {\"lr\": 0.001}}"},
    {"d", "{\"accuracy\": \"0.99\", \"deployed\": null, \"name\": \"délta\"}"},
    {"e", "{\"accuracy\": 1, \"loss\": 0.3, \"name\": \"ε-epsilon\", \"big\": 9007199254740993}"},
    {"f", "{}"},
    {"g/1", "{\"accuracy\": 0.9, \"deployed\": true, \"loss\": -1, \"big\": 9007199254740992}"},
};

static const struct {
    const char *filter, *expect; /* expect: keys joined by spaces */
} queries[] = {
    {"{\"deployed\": true}", "a c g/1"},
    {"{\"deployed\": null}", "d"},
    {"{\"deployed\": {\"$exists\": false}}", "e f"},
    {"{\"deployed\": {\"$exists\": true}}", "a b c d g/1"},
    {"{\"accuracy\": {\"$gt\": 0.9}}", "a c e"},
    {"{\"accuracy\": {\"$gte\": 0.9}}", "a c e g/1"},
    {"{\"accuracy\": {\"$lt\": 0.9}}", "b"},
    {"{\"accuracy\": {\"$gt\": \"0.5\"}}", "d"},
    {"{\"accuracy\": 1.0}", "e"},
    {"{\"accuracy\": {\"$eq\": 0.9}}", "g/1"},
    {"{\"accuracy\": {\"$ne\": 0.9}}", "a b c d e f"},
    {"{\"accuracy\": {\"$gt\": 0.8, \"$lt\": 0.92}}", "b c g/1"},
    {"{\"accuracy\": {\"$in\": [0.85, \"0.99\", 7]}}", "b d"},
    {"{\"accuracy\": {\"$nin\": [0.85, \"0.99\"]}}", "a c e f g/1"},
    {"{\"hp.lr\": 0.001}", "a c"},
    {"{\"hp.epochs\": {\"$gte\": 50}}", "a"},
    {"{\"hp\": {\"lr\": 0.001}}", "c"},
    {"{\"tags\": [\"x\", \"y\"]}", "a"},
    {"{\"name\": {\"$prefix\": \"d\"}}", "d"},
    {"{\"name\": {\"$prefix\": \"ε\"}}", "e"},
    {"{\"name\": {\"$gt\": \"beta\"}}", "c d e"},
    {"{\"deployed\": {\"$gt\": false}}", "a c g/1"},
    {"{\"$or\": [{\"loss\": {\"$lt\": 0}}, {\"name\": \"beta\"}]}", "b g/1"},
    {"{\"$and\": [{\"deployed\": true}, {\"loss\": {\"$gte\": 0.25}}]}", "c"},
    {"{\"$not\": {\"deployed\": true}}", "b d e f"},
    {"{\"loss\": {\"$not\": {\"$gt\": 0.25}}}", "a d f g/1"},
    {"{\"big\": 9007199254740993}", "e"},
    {"{\"big\": {\"$gt\": 9007199254740992}}", "e"},
    {"{\"@key\": {\"$prefix\": \"g/\"}}", "g/1"},
    {"{\"@format\": \"bytes\", \"@size\": {\"$gte\": 3}}", "a b c d e f g/1"},
    {"{\"missing.deep.path\": {\"$exists\": false}}", "a b c d e f g/1"},
    {"{}", "a b c d e f g/1"},
};

static void join(char *out, size_t cap, char **keys, size_t n)
{
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (i)
            strncat(out, " ", cap - strlen(out) - 1);
        strncat(out, keys[i], cap - strlen(out) - 1);
    }
}

static blobstore *load(const char *backend, const char *blob)
{
    blobstore_options o = BLOBSTORE_OPTIONS_INIT;
    o.cache_dir = test_tmpdir();
    o.backend = backend;
    o.blob_backend = blob;
    o.durability = BLOBSTORE_DURABILITY_RELAXED;
    blobstore *bs;
    if (blobstore_open(&bs, &o) != 0)
        return NULL;
    for (size_t i = 0; i < sizeof(dataset) / sizeof(dataset[0]); i++)
        if (blobstore_put(NULL, bs, dataset[i].key, "data", 4, dataset[i].meta) != 0)
            return NULL;
    return bs;
}

static void query_table(const char *backend, const char *blob, int indexed)
{
    blobstore *bs = load(backend, blob);
    CHECK(bs != NULL);
    if (indexed) {
        static const char *paths[] = {"accuracy", "hp.lr", "name", "loss", "deployed", "big"};
        for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
            CHECK_EQ(blobstore_create_index(bs, paths[i]), 0);
        CHECK_EQ(blobstore_create_index(bs, "accuracy"), 0); /* idempotent */
    }
    for (size_t i = 0; i < sizeof(queries) / sizeof(queries[0]); i++) {
        blobstore_list l;
        char got[512];
        int rc = blobstore_list_keys(&l, bs, NULL, queries[i].filter);
        if (rc) {
            fprintf(stderr, "  %s: %s\n", queries[i].filter, blobstore_errmsg());
            CHECK_EQ(rc, 0);
        }
        join(got, sizeof(got), l.keys, l.count);
        blobstore_list_free(&l);
        if (strcmp(got, queries[i].expect) != 0) {
            fprintf(stderr, "  %s (%s): got \"%s\", want \"%s\"\n", queries[i].filter, backend, got,
                    queries[i].expect);
            CHECK(0);
        }
    }
    blobstore_close(bs);
}

TEST(queries_json)
{
    query_table("json", "filesystem", 0);
}

TEST(queries_json_indexed)
{
    query_table("json", "filesystem", 1);
}

TEST(queries_sqlite)
{
    query_table("sqlite", "filesystem", 0);
}

TEST(queries_sqlite_indexed)
{
    query_table("sqlite", "filesystem", 1);
}

TEST(queries_json_memory)
{
    query_table("json", "memory", 0);
}

TEST(queries_sqlite_memory)
{
    query_table("sqlite", "memory", 1);
}

TEST(sqlite_index_is_used)
{
    const char *dir = test_tmpdir();
    blobstore_options o = BLOBSTORE_OPTIONS_INIT;
    o.cache_dir = dir;
    o.backend = "sqlite";
    blobstore *bs;
    CHECK_EQ(blobstore_open(&bs, &o), 0);
    CHECK_EQ(blobstore_create_index(bs, "hp.lr"), 0);
    CHECK_EQ(blobstore_create_index(bs, "bad path"), BLOBSTORE_EINVAL);
    CHECK_EQ(blobstore_create_index(bs, "a.'b"), BLOBSTORE_EINVAL);
    CHECK_EQ(blobstore_create_index(bs, "1abc"), BLOBSTORE_EINVAL);
    blobstore_close(bs);
    char path[4200];
    snprintf(path, sizeof(path), "%s/cache_metadata.db", dir);
    sqlite3 *db;
    CHECK_EQ(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *st;
    CHECK_EQ(sqlite3_prepare_v2(db,
                                "EXPLAIN QUERY PLAN SELECT key FROM entries WHERE "
                                "json_extract(metadata, '$.hp.lr') > ?1",
                                -1, &st, NULL),
             SQLITE_OK);
    int uses = 0;
    while (sqlite3_step(st) == SQLITE_ROW)
        uses |= strstr((const char *)sqlite3_column_text(st, 3), "bs_idx_") != NULL;
    sqlite3_finalize(st);
    sqlite3_close(db);
    CHECK(uses);
}

static void run(blobstore *bs, blobstore_query *q, const char *expect)
{
    blobstore_result r;
    char got[512];
    CHECK_EQ(blobstore_query_run(&r, bs, q), 0);
    join(got, sizeof(got), r.keys, r.count);
    if (strcmp(got, expect) != 0)
        fprintf(stderr, "  order %s: got \"%s\", want \"%s\"\n", q->order_by ? q->order_by : "-",
                got, expect);
    blobstore_result_free(&r);
    CHECK_STR(got, expect);
}

static void ordering(const char *backend)
{
    blobstore *bs = load(backend, "filesystem");
    CHECK(bs != NULL);
    blobstore_query q = BLOBSTORE_QUERY_INIT;
    q.order_by = "loss";
    run(bs, &q, "g/1 a c e b d f"); /* ties (c, e) by key, missing last */
    q.order_by = "-loss";
    run(bs, &q, "b c e a g/1 d f");
    q.limit = 2;
    run(bs, &q, "b c");
    q.offset = 1;
    run(bs, &q, "c e");
    q.offset = 100;
    run(bs, &q, "");
    q.offset = 0;
    q.limit = 1;
    q.filter = "{\"deployed\": true}";
    q.order_by = "-accuracy";
    run(bs, &q, "a"); /* the best deployed model */
    q.filter = NULL;
    q.limit = 0;
    q.order_by = "accuracy"; /* numbers, then strings, then missing */
    run(bs, &q, "b g/1 c a e d f");
    q.order_by = "@key";
    q.prefix = "g";
    run(bs, &q, "g/1");
    q.prefix = NULL;
    q.order_by = "-hp.epochs";
    q.limit = 1;
    q.with_metadata = 1;
    blobstore_result r;
    CHECK_EQ(blobstore_query_run(&r, bs, &q), 0);
    CHECK_EQ(r.count, 1);
    CHECK_STR(r.keys[0], "a");
    CHECK(r.metadata && strstr(r.metadata[0], "\"key\":\"a\"") &&
          strstr(r.metadata[0], "\"epochs\":100"));
    blobstore_result_free(&r);
    /* Unordered, a limit stops the scan at offset + limit matches (key order). */
    q.order_by = NULL;
    q.with_metadata = 0;
    q.filter = "{\"deployed\": true}";
    q.limit = 2;
    q.offset = 1;
    run(bs, &q, "c g/1");
    q.limit = 1;
    q.offset = 2;
    run(bs, &q, "g/1");
    q.offset = 3;
    run(bs, &q, "");
    q.filter = NULL;
    q.offset = 5;
    q.limit = 10;
    run(bs, &q, "f g/1");
    q.offset = 0;
    q.limit = 1;
    run(bs, &q, "a");
    q.limit = 3;
    run(bs, &q, "a b c");
    q.prefix = "g";
    run(bs, &q, "g/1");
    q.prefix = NULL;
    q.offset = (size_t)-1; /* offset + limit would wrap */
    run(bs, &q, "");
    q.offset = 1;
    q.limit = 2;
    q.with_metadata = 1;
    CHECK_EQ(blobstore_query_run(&r, bs, &q), 0);
    CHECK_EQ(r.count, 2);
    CHECK_STR(r.keys[1], "c");
    CHECK(r.metadata && strstr(r.metadata[1], "\"name\":\"gamma\""));
    blobstore_result_free(&r);
    blobstore_close(bs);
}

TEST(ordering_json)
{
    ordering("json");
}

TEST(ordering_sqlite)
{
    ordering("sqlite");
}

TEST(invalid_filters_name_the_offending_part)
{
    blobstore *bs = load("json", "memory");
    CHECK(bs != NULL);
    static const struct {
        const char *filter, *where;
    } bad[] = {
        {"{\"a\": {\"$between\": [1, 2]}}", "$.a.$between"},
        {"{\"a\": {\"$gt\": [1]}}", "$.a.$gt"},
        {"{\"a\": {\"$in\": 3}}", "$.a.$in"},
        {"{\"a\": {\"$exists\": 1}}", "$.a.$exists"},
        {"{\"a\": {\"$prefix\": 1}}", "$.a.$prefix"},
        {"{\"$or\": []}", "$.$or"},
        {"{\"$or\": [{\"a\": 1}, {\"b\": {\"$lt\": null}}]}", "$.$or[1].b.$lt"},
        {"{\"$nor\": [{\"a\": 1}]}", "$.$nor"},
        {"{\"@nosuchfield\": 1}", "$.@nosuchfield"},
        {"{\"a..b\": 1}", "$.a..b"},
        {"{\"a\": {\"$gt\": 1, \"plain\": 2}}", "$.a"},
        {"[1, 2]", "JSON object"},
        {"{\"a\": ", "JSON"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        blobstore_list l;
        CHECK_EQ(blobstore_list_keys(&l, bs, NULL, bad[i].filter), BLOBSTORE_EINVAL);
        if (!strstr(blobstore_errmsg(), bad[i].where)) {
            fprintf(stderr, "  %s: message \"%s\" lacks \"%s\"\n", bad[i].filter,
                    blobstore_errmsg(), bad[i].where);
            CHECK(0);
        }
    }
    blobstore_query q = BLOBSTORE_QUERY_INIT;
    blobstore_result r;
    q.order_by = "@bogus";
    CHECK_EQ(blobstore_query_run(&r, bs, &q), BLOBSTORE_EINVAL);
    CHECK(strstr(blobstore_errmsg(), "order_by") != NULL);
    blobstore_close(bs);
}

static const test_case tests[] = {
    TEST_ENTRY(queries_json),          TEST_ENTRY(queries_json_indexed),
    TEST_ENTRY(queries_sqlite),        TEST_ENTRY(queries_sqlite_indexed),
    TEST_ENTRY(sqlite_index_is_used),  TEST_ENTRY(queries_json_memory),
    TEST_ENTRY(queries_sqlite_memory), TEST_ENTRY(ordering_json),
    TEST_ENTRY(ordering_sqlite),       TEST_ENTRY(invalid_filters_name_the_offending_part),
};
TEST_MAIN(tests)
