/*
 * test_pg.c - the PostgreSQL metadata backend against a real server (started
 * by tests/online/servers.sh --pg; its URL in BLOBSTORE_PG_URL). Each test works in a
 * database of its own.
 */
#include "conformance.h"
#include "online.h"
#include "test.h"

#include <libpq-fe.h>
#include <ftw.h>
#include <pthread.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char url[1024];

static int fresh_db(void)
{
    return online_pg_fresh(url, sizeof(url));
}

static blobstore *open_pg(const char *blob_backend, int ca)
{
    blobstore_options o = BLOBSTORE_OPTIONS_INIT;
    o.cache_dir = strcmp(blob_backend, "memory") ? test_tmpdir() : NULL;
    o.backend = url;
    o.blob_backend = blob_backend;
    o.content_addressable = ca ? BLOBSTORE_YES : 0;
    blobstore *bs = NULL;
    if (blobstore_open(&bs, &o) != 0)
        fprintf(stderr, "  open: %s\n", blobstore_errmsg());
    return bs;
}

TEST(pg_meta_backend_contract)
{
    CHECK_EQ(fresh_db(), 0);
    blobstore_meta_backend *be;
    CHECK_EQ(blobstore_meta_backend_pg_new(&be, url), 0);
    conformance_meta(be);
    be->free(be);
    /* A second connection finds the schema in place and the data. */
    CHECK_EQ(blobstore_meta_backend_pg_new(&be, url), 0);
    CHECK_EQ(be->begin(be, 0), 0);
    blobstore_entry e;
    CHECK_EQ(be->get(be, "c/d", &e), 0);
    blobstore_entry_clear(&e);
    CHECK_EQ(be->commit(be), 0);
    be->free(be);
}

TEST(pg_store_conformance_with_files)
{
    CHECK_EQ(fresh_db(), 0);
    blobstore *bs = open_pg("filesystem", 0);
    CHECK(bs != NULL);
    conformance_store(bs);
    blobstore_close(bs);
}

TEST(pg_with_files_is_opened_where_the_files_are)
{
    /* PostgreSQL + blob files: another directory would see none of them. */
    CHECK_EQ(fresh_db(), 0);
    blobstore_options o = BLOBSTORE_OPTIONS_INIT;
    char dir[1100];
    snprintf(dir, sizeof(dir), "%s", test_tmpdir());
    o.cache_dir = dir;
    o.backend = url;
    o.blob_backend = "filesystem";
    blobstore *a = NULL;
    CHECK_EQ(blobstore_open(&a, &o), 0);
    CHECK_EQ(blobstore_put(NULL, a, "k", "bytes", 5, NULL), 0);
    blobstore_close(a);
    /* Elsewhere: refused, naming where the files are. */
    o.cache_dir = test_tmpdir();
    o.blob_backend = NULL;
    blobstore *b = NULL;
    CHECK_EQ(blobstore_open(&b, &o), BLOBSTORE_ECONFLICT);
    CHECK(strstr(blobstore_errmsg(), "records its blob files in /") != NULL);
    /* There: fine. */
    o.cache_dir = dir;
    CHECK_EQ(blobstore_open(&a, &o), 0);
    CHECK_EQ(blobstore_exists(a, "k"), 1);
    blobstore_close(a);
}

TEST(pg_store_conformance_content_addressed)
{
    CHECK_EQ(fresh_db(), 0);
    blobstore *bs = open_pg("memory", 1);
    CHECK(bs != NULL);
    conformance_store_ca(bs);
    blobstore_close(bs);
}

/* blobstore_stats aggregated by the server (one statement): every figure
 * against what the test put, with filesystem blobs and with shared blobs;
 * the index's size is the table's with its indexes, as the server says. */
static void pg_stats_case(const char *blob_backend, int ca, uint64_t seed)
{
    CHECK_EQ(fresh_db(), 0);
    blobstore *bs = open_pg(blob_backend, ca);
    CHECK(bs != NULL);
    conformance_stats(bs, ca, seed);
    blobstore_store_stats st = BLOBSTORE_STORE_STATS_INIT;
    CHECK_EQ(blobstore_stats(&st, bs), 0);
    int64_t got = st.index_bytes;
    blobstore_stats_free(&st);
    blobstore_close(bs);
    PGconn *c = PQconnectdb(url);
    PGresult *r = PQexec(c, "SELECT pg_total_relation_size('blobstore_entries')");
    CHECK(PQresultStatus(r) == PGRES_TUPLES_OK);
    long long want = atoll(PQgetvalue(r, 0, 0));
    PQclear(r);
    PQfinish(c);
    CHECK(want > 0);
    CHECK_EQ(got, want);
}

TEST(pg_stats_with_files)
{
    pg_stats_case("filesystem", 0, 11);
}

TEST(pg_stats_content_addressed)
{
    pg_stats_case("memory", 1, 12);
}

TEST(pg_queries_and_indexes)
{
    CHECK_EQ(fresh_db(), 0);
    blobstore *bs = open_pg("memory", 0);
    CHECK(bs != NULL);
    CHECK_EQ(
        blobstore_put(NULL, bs, "a", "1", 1, "{\"acc\": 0.9, \"dep\": true, \"n\": {\"x\": 1}}"),
        0);
    CHECK_EQ(blobstore_put(NULL, bs, "b", "2", 1, "{\"acc\": 0.95, \"dep\": false}"), 0);
    CHECK_EQ(blobstore_put(NULL, bs, "c", "3", 1,
                           "{\"acc\": \"0.99\", \"dep\": true, \"n\": {\"x\": 1.0}}"),
             0);
    CHECK_EQ(blobstore_create_index(bs, "acc"), 0);
    blobstore_list l;
    CHECK_EQ(blobstore_list_keys(&l, bs, NULL, "{\"dep\": true}"), 0);
    CHECK_EQ(l.count, 2);
    blobstore_list_free(&l);
    CHECK_EQ(blobstore_list_keys(&l, bs, NULL, "{\"n\": {\"x\": 1}}"), 0);
    CHECK_EQ(l.count, 2); /* 1 and 1.0 are equal */
    blobstore_list_free(&l);
    CHECK_EQ(blobstore_list_keys(&l, bs, NULL, "{\"acc\": {\"$gt\": 0.92}}"), 0);
    CHECK_EQ(l.count, 1);
    CHECK_STR(l.keys[0], "b");
    blobstore_list_free(&l);
    blobstore_query q = BLOBSTORE_QUERY_INIT;
    q.order_by = "-acc";
    blobstore_result r;
    CHECK_EQ(blobstore_query_run(&r, bs, &q), 0);
    CHECK_EQ(r.count, 3);
    CHECK_STR(r.keys[0], "c"); /* descending: strings after numbers reversed, then 0.95, 0.9 */
    CHECK_STR(r.keys[1], "b");
    blobstore_result_free(&r);
    /* The metadata text round-trips exactly (jsonb would reorder it). */
    CHECK_EQ(blobstore_update_metadata(bs, "a", "{\"z\": 1, \"b\": 2}"), 0);
    char *m;
    CHECK_EQ(blobstore_get_metadata(&m, bs, "a"), 0);
    CHECK(strstr(m, "\"metadata\":{\"acc\":0.9,\"dep\":true,\"n\":{\"x\":1},\"z\":1,\"b\":2}") !=
          NULL);
    blobstore_free(m);
    blobstore_close(bs);
}

TEST(pg_many_processes_write_at_once)
{
    CHECK_EQ(fresh_db(), 0);
    blobstore *bs = open_pg("memory", 0);
    CHECK(bs != NULL);
    blobstore_close(bs);
    pid_t pids[4];
    for (int p = 0; p < 4; p++) {
        if ((pids[p] = fork()) == 0) {
            blobstore *mine = open_pg("memory", 0);
            int fails = !mine;
            char key[32];
            for (int i = 0; mine && i < 50; i++) {
                snprintf(key, sizeof(key), "p%d/%02d", p, i);
                fails += blobstore_put(NULL, mine, key, key, strlen(key), "{\"w\": 1}") != 0;
                char patch[32];
                snprintf(patch, sizeof(patch), "{\"p%d_%d\": 1}", p, i);
                if (i % 10 == 0 && blobstore_put(NULL, mine, "shared", "s", 1, NULL) == 0)
                    fails += blobstore_update_metadata(mine, "shared", patch) != 0;
            }
            blobstore_close(mine);
            _exit(fails ? 1 : 0);
        }
    }
    for (int p = 0; p < 4; p++) {
        int st;
        waitpid(pids[p], &st, 0);
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    /* Memory blobs lived in the children; the index must hold every key. */
    blobstore_meta_backend *be;
    CHECK_EQ(blobstore_meta_backend_pg_new(&be, url), 0);
    conformance_seen s = {.n = 0};
    CHECK_EQ(be->begin(be, 0), 0);
    CHECK_EQ(be->iterate(be, "p", conformance_record, &s), 0);
    CHECK_EQ(be->commit(be), 0);
    CHECK_EQ(s.n, 200);
    be->free(be);
}

/* A put outside a batch is one round trip; it still takes the write lock
 * (it waits while another session holds it, and its entry appears only
 * after) and finds a connection the server closed. So does each of its
 * statements: an upsert over an entry without a blob, a put that must not
 * overwrite, and the pipelined lock and upsert over an entry with a blob. */
typedef struct {
    blobstore *bs;
    const char *key;
    const void *val;
    size_t len;
    unsigned flags;
    int rc;
} put_arg;

static void *put_thread(void *p)
{
    put_arg *a = p;
    blobstore_put_options po = BLOBSTORE_PUT_OPTIONS_INIT;
    po.flags = a->flags;
    a->rc = blobstore_put_ex(NULL, a->bs, a->key, a->val, a->len, &po);
    return NULL;
}

static int nfiles;
static int count_file(const char *p, const struct stat *st, int type, struct FTW *f)
{
    (void)p, (void)st, (void)f;
    nfiles += type == FTW_F;
    return 0;
}

static int blob_files(const char *dir)
{
    char p[4200];
    snprintf(p, sizeof(p), "%s/blobs", dir);
    nfiles = 0;
    nftw(p, count_file, 16, FTW_PHYS);
    return nfiles;
}

static int pg_count(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    int n =
        PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 ? atoi(PQgetvalue(r, 0, 0)) : -1;
    PQclear(r);
    return n;
}

TEST(pg_put_takes_the_write_lock_and_reconnects)
{
    CHECK_EQ(fresh_db(), 0);
    char dir[4200];
    snprintf(dir, sizeof(dir), "%s", test_tmpdir());
    blobstore_options o = BLOBSTORE_OPTIONS_INIT;
    o.cache_dir = dir;
    o.backend = url;
    blobstore *bs = NULL;
    CHECK_EQ(blobstore_open(&bs, &o), 0);
    /* values too large to be inline and that do not compress: blob files */
    static unsigned char big[2][30000];
    uint64_t x = 88172645463325252ull;
    for (size_t i = 0; i < sizeof(big); i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        big[i / sizeof(big[0])][i % sizeof(big[0])] = (unsigned char)x;
    }
    CHECK_EQ(blobstore_put(NULL, bs, "k", "one", 3, NULL), 0);
    CHECK_EQ(blobstore_put(NULL, bs, "f", big[0], sizeof(big[0]), NULL), 0);
    PGconn *c = PQconnectdb(url);
    CHECK_EQ(PQstatus(c), CONNECTION_OK);
    const char *f_blob =
        "SELECT count(*) FROM blobstore_entries WHERE key = 'f' AND blob IS NOT NULL";
    CHECK_EQ(pg_count(c, f_blob), 1); /* an entry with a blob */
    const struct {
        put_arg a;
        const char *in; /* counts 1 once the put is in */
    } cases[] = {
        {{bs, "k", "two", 3, 0, -1},
         "SELECT count(*) FROM blobstore_entries WHERE key = 'k' AND content_hash = "
         "encode(sha256('two'), 'hex')"},
        {{bs, "n", "new", 3, BLOBSTORE_PUT_NO_OVERWRITE, -1},
         "SELECT count(*) FROM blobstore_entries WHERE key = 'n'"},
        {{bs, "f", big[1], sizeof(big[1]), 0, -1}, NULL}, /* its content_hash changes */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        put_arg a = cases[i].a;
        PGresult *h0 = PQexec(c, "SELECT content_hash FROM blobstore_entries WHERE key = 'f'");
        CHECK_EQ(PQntuples(h0), 1);
        PQclear(PQexec(c, "SELECT pg_advisory_lock(7306202541)"));
        pthread_t t;
        CHECK_EQ(pthread_create(&t, NULL, put_thread, &a), 0);
        usleep(400000);
        CHECK_EQ(a.rc, -1); /* still waiting for the lock */
        if (cases[i].in)
            CHECK_EQ(pg_count(c, cases[i].in), 0);
        PGresult *h1 = PQexec(c, "SELECT content_hash FROM blobstore_entries WHERE key = 'f'");
        CHECK(strcmp(PQgetvalue(h0, 0, 0), PQgetvalue(h1, 0, 0)) == 0); /* f as it was */
        PQclear(h1);
        PQclear(PQexec(c, "SELECT pg_advisory_unlock(7306202541)"));
        pthread_join(t, NULL);
        CHECK_EQ(a.rc, 0);
        if (cases[i].in)
            CHECK_EQ(pg_count(c, cases[i].in), 1);
        h1 = PQexec(c, "SELECT content_hash FROM blobstore_entries WHERE key = 'f'");
        CHECK_EQ(strcmp(PQgetvalue(h0, 0, 0), PQgetvalue(h1, 0, 0)) != 0, i == 2);
        PQclear(h0);
        PQclear(h1);
    }
    CHECK_EQ(pg_count(c, f_blob), 1);
    CHECK_EQ(blob_files(dir), 1); /* the blob f had is gone */
    void *got;
    size_t glen;
    CHECK_EQ(blobstore_get(&got, &glen, bs, "f"), 0);
    CHECK(glen == sizeof(big[1]) && memcmp(got, big[1], glen) == 0);
    blobstore_free(got);
    /* The server ends the store's session: the next put opens another. */
    CHECK_EQ(pg_count(c, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE "
                         "datname = current_database() AND pid <> pg_backend_pid()"),
             1);
    usleep(100000);
    int prc = blobstore_put(NULL, bs, "k", "three", 5, NULL);
    if (prc)
        fprintf(stderr, "  %s\n", blobstore_errmsg());
    CHECK_EQ(prc, 0);
    CHECK_EQ(blobstore_put(NULL, bs, "k2", "four", 4, NULL), 0);
    void *out;
    size_t len;
    CHECK_EQ(blobstore_get(&out, &len, bs, "k"), 0);
    CHECK(len == 5 && memcmp(out, "three", 5) == 0);
    blobstore_free(out);
    /* no overwrite through the same path: refused, nothing changed */
    blobstore_put_options po = BLOBSTORE_PUT_OPTIONS_INIT;
    po.flags = BLOBSTORE_PUT_NO_OVERWRITE;
    CHECK_EQ(blobstore_put_ex(NULL, bs, "k2", "five", 4, &po), BLOBSTORE_EEXISTS);
    CHECK_EQ(blobstore_get(&out, &len, bs, "k2"), 0);
    CHECK(len == 4 && memcmp(out, "four", 4) == 0);
    blobstore_free(out);
    CHECK_EQ(pg_count(c, "SELECT count(*) FROM blobstore_entries"), 4); /* k, f, n, k2 */
    PQfinish(c);
    blobstore_close(bs);
}

/* The one-round-trip put replaces an entry without a blob; over one with a
 * blob, a second upsert learns that blob from the row as it was before (a
 * subquery in RETURNING): a file value
 * overwritten by another file value, then by an inline one, leaves exactly
 * the live blob; a put of a new key or of an inline value over an inline
 * one removes nothing. */
TEST(pg_put_removes_the_blob_it_replaces)
{
    CHECK_EQ(fresh_db(), 0);
    blobstore_options o = BLOBSTORE_OPTIONS_INIT;
    const char *dir = test_tmpdir();
    o.cache_dir = dir;
    o.backend = url;
    o.compression = "none";
    blobstore *bs = NULL;
    CHECK_EQ(blobstore_open(&bs, &o), 0);
    static char big[3][20000];
    for (int i = 0; i < 3; i++)
        memset(big[i], 'a' + i, sizeof(big[i]));
    CHECK_EQ(blobstore_put(NULL, bs, "a", big[0], sizeof(big[0]), NULL), 0);
    CHECK_EQ(blobstore_put(NULL, bs, "b", big[1], sizeof(big[1]), NULL), 0);
    CHECK_EQ(blob_files(dir), 2);
    CHECK_EQ(blobstore_put(NULL, bs, "a", big[2], sizeof(big[2]), NULL), 0);
    CHECK_EQ(blob_files(dir), 2); /* a's first blob gone, b's kept */
    CHECK_EQ(blobstore_put(NULL, bs, "a", "small", 5, NULL), 0);
    CHECK_EQ(blob_files(dir), 1);
    CHECK_EQ(blobstore_put(NULL, bs, "a", "smaller", 7, NULL), 0);
    CHECK_EQ(blobstore_put(NULL, bs, "c", "new", 3, NULL), 0);
    CHECK_EQ(blob_files(dir), 1);
    void *out;
    size_t len;
    CHECK_EQ(blobstore_get(&out, &len, bs, "b"), 0);
    CHECK(len == sizeof(big[1]) && memcmp(out, big[1], len) == 0);
    blobstore_free(out);
    CHECK_EQ(blobstore_get(&out, &len, bs, "a"), 0);
    CHECK(len == 7 && memcmp(out, "smaller", 7) == 0);
    blobstore_free(out);
    CHECK_EQ(blobstore_put(NULL, bs, "a", big[0], sizeof(big[0]), NULL), 0);
    CHECK_EQ(blob_files(dir), 2);
    CHECK_EQ(blobstore_get(&out, &len, bs, "a"), 0);
    CHECK(len == sizeof(big[0]) && memcmp(out, big[0], len) == 0);
    blobstore_free(out);
    blobstore_close(bs);
}

static int pg_exec(const char *sql)
{
    PGconn *c = PQconnectdb(url);
    PGresult *r = PQexec(c, sql);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
    if (!ok)
        fprintf(stderr, "  %s: %s\n", sql, PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
    return ok ? 0 : -1;
}

TEST(pg_schema_is_migrated_and_versions_checked)
{
    /* A database left by schema version 1 (entries, no settings table). */
    CHECK_EQ(fresh_db(), 0);
    CHECK_EQ(pg_exec("CREATE TABLE blobstore_schema(version integer NOT NULL);"
                     "INSERT INTO blobstore_schema VALUES (1);"
                     "CREATE TABLE blobstore_entries(key text COLLATE \"C\" PRIMARY KEY, blob "
                     "text, format text NOT NULL, compression text NOT NULL, content_hash text NOT "
                     "NULL, created_at text, updated_at text, metadata jsonb NOT NULL, "
                     "metadata_text text NOT NULL, info text, size bigint NOT NULL, file_size "
                     "bigint NOT NULL, raw boolean NOT NULL, data bytea);"
                     "INSERT INTO blobstore_entries VALUES ('old', NULL, 'bytes', 'none', 'h', "
                     "NULL, NULL, '{}', '{}', NULL, 0, 0, false, NULL)"),
             0);
    blobstore_meta_backend *be;
    CHECK_EQ(blobstore_meta_backend_pg_new(&be, url), 0);
    char *text = (char *)"x";
    CHECK_EQ(be->ctl(be, BLOBSTORE_META_CTL_SETTINGS_GET, &text), 0);
    CHECK(text == NULL); /* the settings table exists now, empty */
    CHECK_EQ(be->begin(be, 0), 0);
    blobstore_entry e;
    CHECK_EQ(be->get(be, "old", &e), 0); /* the data survived */
    blobstore_entry_clear(&e);
    CHECK_EQ(be->commit(be), 0);
    be->free(be);
    CHECK_EQ(pg_exec("SELECT 1 / count(*) FROM blobstore_schema WHERE version = 2"),
             0); /* fails on 0 rows */
    /* The blob index holds only entries that have a blob (schema 4)... */
    const char *partial = "SELECT 1 / count(*) FROM pg_indexes WHERE indexname = "
                          "'blobstore_entries_blob' AND indexdef LIKE '%WHERE (blob IS NOT NULL)'";
    CHECK_EQ(pg_exec(partial), 0);
    CHECK_EQ(pg_exec("SELECT 1 / count(*) FROM blobstore_schema WHERE version = 4"), 0);
    CHECK_EQ(pg_exec("SELECT 1 / count(*) FROM blobstore_schema WHERE version = 5"), 0);
    /* ...and version 3's index of every entry is made so. */
    CHECK_EQ(pg_exec("DROP INDEX blobstore_entries_blob;"
                     "CREATE INDEX blobstore_entries_blob ON blobstore_entries (blob);"
                     "DELETE FROM blobstore_schema WHERE version >= 4"),
             0);
    CHECK_EQ(pg_exec(partial), -1);
    CHECK_EQ(blobstore_meta_backend_pg_new(&be, url), 0);
    be->free(be);
    CHECK_EQ(pg_exec(partial), 0);
    CHECK_EQ(pg_exec("SELECT 1 / (count(*) = 1)::int FROM blobstore_schema WHERE version = 3"), 0);
    /* A schema newer than this library is refused, not guessed at. */
    CHECK_EQ(pg_exec("INSERT INTO blobstore_schema VALUES (99)"), 0);
    CHECK_EQ(blobstore_meta_backend_pg_new(&be, url), BLOBSTORE_EUNSUPPORTED);
    CHECK(strstr(blobstore_errmsg(), "schema version 99") != NULL);
}

/* Schema 5: a value kept inline is a compact frame (magic 0xB5, 10 bytes
 * beside the stored bytes); rows of schema 4 keep their full frames, read as
 * before. Seeded random values of every codec, compressible or not, at the
 * edges of the sizes kept inline; half are turned into the full frames a
 * schema 4 library wrote (bs__inline_to_frame, the conversion migrate uses)
 * with the version set back to 4; the next open raises it again and all read
 * back equal, verify finds them sound, an overwrite writes a compact frame,
 * and a flipped byte in either kind of frame is damage. */
TEST(pg_inline_values_are_compact_frames_and_full_ones_still_read)
{
    CHECK_EQ(fresh_db(), 0);
    unsigned seed = (unsigned)time(NULL);
    printf("seed %u\n", seed);
    srand(seed);
    enum { N = 40 };
    static unsigned char vals[N][4096];
    size_t lens[N];
    blobstore *bs = open_pg("memory", 0);
    CHECK(bs != NULL);
    CHECK_EQ(test_put_inline_values(bs, N, vals, lens), 0);
    blobstore_close(bs);
    PGconn *c = PQconnectdb(url);
    CHECK_EQ(PQstatus(c), CONNECTION_OK);
    char q[512];
    snprintf(q, sizeof(q),
             "SELECT count(*) FROM blobstore_entries WHERE get_byte(data, 0) = 181 AND "
             "length(data) <= size + %d AND file_size = length(data) AND blob IS NULL",
             BS_INLINE_OVERHEAD);
    CHECK_EQ(pg_count(c, q), N);
    CHECK_EQ(pg_count(c, "SELECT count(*) FROM blobstore_schema WHERE version = 5"), 1);
    /* The odd keys as a schema 4 library wrote them: full frames. */
    for (int i = 1; i < N; i += 2) {
        char key[16];
        snprintf(key, sizeof(key), "c%02d", i);
        const char *kv[1] = {key};
        PGresult *r = PQexecParams(c,
                                   "SELECT data, content_hash, size FROM blobstore_entries "
                                   "WHERE key = $1",
                                   1, NULL, kv, NULL, NULL, 1);
        CHECK(PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1);
        char hash[65];
        snprintf(hash, sizeof(hash), "%.*s", PQgetlength(r, 0, 1), PQgetvalue(r, 0, 1));
        bs_buf full = {0};
        size_t clen = (size_t)PQgetlength(r, 0, 0);
        CHECK_EQ(bs__inline_to_frame(PQgetvalue(r, 0, 0), clen, hash, lens[i], NULL, &full), 0);
        PQclear(r);
        CHECK(full.len > clen && full.data[0] != 0xB5);
        const char *uv[2] = {(const char *)full.data, key};
        int ul[2] = {(int)full.len, 0}, uf[2] = {1, 0};
        r = PQexecParams(c,
                         "UPDATE blobstore_entries SET data = $1::bytea, "
                         "file_size = length($1::bytea) WHERE key = $2",
                         2, NULL, uv, ul, uf, 0);
        if (PQresultStatus(r) != PGRES_COMMAND_OK)
            fprintf(stderr, "  %s", PQerrorMessage(c));
        CHECK(PQresultStatus(r) == PGRES_COMMAND_OK && atoi(PQcmdTuples(r)) == 1);
        PQclear(r);
        bs__buf_free(&full);
    }
    CHECK_EQ(pg_exec("DELETE FROM blobstore_schema WHERE version = 5"), 0);
    CHECK_EQ(pg_count(c, q), N / 2);
    bs = open_pg("memory", 0);
    CHECK(bs != NULL);
    CHECK_EQ(pg_count(c, "SELECT count(*) FROM blobstore_schema WHERE version = 5"), 1);
    test_check_inline_values(bs, N, vals, lens); /* odd ones: full frames */
    blobstore_verify_stats st;
    /* an overwrite of a full frame writes a compact one */
    CHECK_EQ(blobstore_put(NULL, bs, "c01", vals[3], lens[3], NULL), 0);
    CHECK_EQ(pg_count(c, q), N / 2 + 1);
    void *v = NULL;
    size_t n = 0;
    CHECK_EQ(blobstore_get(&v, &n, bs, "c01"), 0);
    CHECK(n == lens[3] && memcmp(v, vals[3], n) == 0);
    blobstore_free(v);
    /* a byte flipped in the middle of a compact frame (c12) and of a full
     * one (c13): damage, reported as such */
    CHECK_EQ(pg_exec("UPDATE blobstore_entries SET data = set_byte(data, length(data) / 2, "
                     "get_byte(data, length(data) / 2) # 1) WHERE key IN ('c12', 'c13')"),
             0);
    CHECK_EQ(blobstore_get(&v, &n, bs, "c12"), BLOBSTORE_ECORRUPT);
    CHECK_EQ(blobstore_get(&v, &n, bs, "c13"), BLOBSTORE_ECORRUPT);
    CHECK_EQ(blobstore_verify(&st, bs, 0, NULL, NULL), 0);
    CHECK_EQ(st.corrupt, 2);
    CHECK_EQ(st.ok, N - 2);
    blobstore_close(bs);
    PQfinish(c);
}

TEST(pg_unreachable_server_is_a_clear_error)
{
    blobstore_meta_backend *be;
    CHECK_EQ(blobstore_meta_backend_pg_new(&be, "postgresql://postgres@127.0.0.1:1/none"),
             BLOBSTORE_EIO);
    CHECK(strstr(blobstore_errmsg(), "cannot connect") != NULL);
}

static const test_case tests[] = {
    TEST_ENTRY(pg_meta_backend_contract),
    TEST_ENTRY(pg_store_conformance_with_files),
    TEST_ENTRY(pg_with_files_is_opened_where_the_files_are),
    TEST_ENTRY(pg_store_conformance_content_addressed),
    TEST_ENTRY(pg_stats_with_files),
    TEST_ENTRY(pg_stats_content_addressed),
    TEST_ENTRY(pg_queries_and_indexes),
    TEST_ENTRY(pg_many_processes_write_at_once),
    TEST_ENTRY(pg_put_takes_the_write_lock_and_reconnects),
    TEST_ENTRY(pg_put_removes_the_blob_it_replaces),
    TEST_ENTRY(pg_schema_is_migrated_and_versions_checked),
    TEST_ENTRY(pg_inline_values_are_compact_frames_and_full_ones_still_read),
    TEST_ENTRY(pg_unreachable_server_is_a_clear_error),
};
TEST_MAIN(tests)
