/*
 * test_index_damage.c - damage to an index is corruption, never absence
 * (issue 12): a SQLite row changed behind the store's back fails its
 * checksum (get, metadata, list, verify: BLOBSTORE_ECORRUPT naming the
 * file); stores of schema version 1 are given checksums at the first
 * writable open and still read when opened read-only.
 */
#include "internal.h"
#include "test.h"

#include <sqlite3.h>

static blobstore *open_sqlite(const char *dir, unsigned flags)
{
    blobstore_options o = BLOBSTORE_OPTIONS_INIT;
    o.cache_dir = dir;
    o.backend = "sqlite";
    o.durability = BLOBSTORE_DURABILITY_RELAXED;
    o.open_flags = flags;
    blobstore *bs = NULL;
    if (blobstore_open(&bs, &o) != 0)
        return NULL;
    return bs;
}

static char *db_path(const char *dir)
{
    return bs__path_join(dir, "cache_metadata.db");
}

/* Run sql on the store's database through the sqlite3 library itself. */
static void sql(const char *dir, const char *text)
{
    char *p = db_path(dir);
    sqlite3 *db;
    CHECK_EQ(sqlite3_open(p, &db), SQLITE_OK);
    char *err = NULL;
    int rc = sqlite3_exec(db, text, NULL, NULL, &err);
    if (rc != SQLITE_OK)
        test__fail(__FILE__, __LINE__, "%s: %s", text, err ? err : "?");
    sqlite3_free(err);
    sqlite3_close(db);
    free(p);
}

/* The text of one column of one row, or NULL. */
static char *sql_text(const char *dir, const char *query)
{
    char *p = db_path(dir), *out = NULL;
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    if (sqlite3_open(p, &db) != SQLITE_OK || sqlite3_prepare_v2(db, query, -1, &st, NULL))
        test__fail(__FILE__, __LINE__, "%s: %s", query, sqlite3_errmsg(db));
    else if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
        out = bs__strdup((const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(db);
    free(p);
    return out;
}

static char flipped_from[512]; /* the text flip_metadata changed */

/* Flip one bit of one byte of a row's metadata, in place, with SQL (the text
 * it had is left in flipped_from). */
static void flip_metadata(const char *dir, const char *key)
{
    char q[256];
    snprintf(q, sizeof(q), "SELECT metadata FROM entries WHERE key = '%s'", key);
    char *m = sql_text(dir, q);
    CHECK(m != NULL);
    char *digit = strchr(m, '7'); /* {"i": 7, ...}: 7 -> 6, still valid JSON */
    CHECK(digit != NULL);
    *digit ^= 1;
    char *p = db_path(dir);
    sqlite3 *db;
    sqlite3_stmt *st;
    CHECK_EQ(sqlite3_open(p, &db), SQLITE_OK);
    CHECK_EQ(
        sqlite3_prepare_v2(db, "UPDATE entries SET metadata = ?1 WHERE key = ?2", -1, &st, NULL),
        SQLITE_OK);
    sqlite3_bind_text(st, 1, m, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
    CHECK_EQ(sqlite3_step(st), SQLITE_DONE);
    CHECK_EQ(sqlite3_changes(db), 1);
    sqlite3_finalize(st);
    sqlite3_close(db);
    free(p);
    *digit ^= 1;
    snprintf(flipped_from, sizeof(flipped_from), "%s", m);
    free(m);
}

static void put_ten(blobstore *bs)
{
    char key[16], meta[64], value[6000];
    for (int i = 0; i < 10; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        snprintf(meta, sizeof(meta), "{\"i\": %d, \"name\": \"n%d\"}", i, i);
        memset(value, '0' + i, sizeof(value));
        blobstore_put_options po = BLOBSTORE_PUT_OPTIONS_INIT;
        po.metadata = meta;
        /* k1: small enough to be kept inline in the row */
        CHECK_EQ(blobstore_put_ex(NULL, bs, key, value, i == 1 ? 100 : sizeof(value), &po), 0);
    }
}

static int damaged_names(const char *file, const char *key)
{
    const char *m = blobstore_errmsg();
    return strstr(m, file) != NULL && strstr(m, key) != NULL && strstr(m, "checksum") != NULL;
}

/* Every read of the damaged row, and verify, is ECORRUPT naming the file and
 * the key; the other rows read as before. */
static void row_damage_is_reported(const char *dir, unsigned flags)
{
    blobstore *bs = open_sqlite(dir, flags);
    CHECK(bs != NULL);
    void *v = NULL;
    size_t n = 0;
    CHECK_EQ(blobstore_get(&v, &n, bs, "k7"), BLOBSTORE_ECORRUPT);
    CHECK(damaged_names("cache_metadata.db", "k7"));
    char *m = NULL;
    CHECK_EQ(blobstore_get_metadata(&m, bs, "k7"), BLOBSTORE_ECORRUPT);
    CHECK(damaged_names("cache_metadata.db", "k7"));
    CHECK_EQ(blobstore_exists(bs, "k7"), BLOBSTORE_ECORRUPT);
    blobstore_list l;
    CHECK_EQ(blobstore_list_keys(&l, bs, NULL, NULL), BLOBSTORE_ECORRUPT);
    CHECK(damaged_names("cache_metadata.db", "k7"));
    /* the other rows are intact */
    CHECK_EQ(blobstore_get(&v, &n, bs, "k6"), 0);
    CHECK(n == 6000 && ((char *)v)[0] == '6');
    blobstore_free(v);
    CHECK_EQ(blobstore_get(&v, &n, bs, "k1"), 0);
    CHECK(n == 100 && ((char *)v)[99] == '1');
    blobstore_free(v);
    blobstore_verify_stats st;
    CHECK_EQ(blobstore_verify(&st, bs, 0, NULL, NULL), BLOBSTORE_ECORRUPT);
    CHECK(damaged_names("cache_metadata.db", "k7"));
    CHECK(strstr(blobstore_errmsg(), "index is damaged") != NULL);
    if (!(flags & BLOBSTORE_OPEN_READONLY)) {
        CHECK_EQ(blobstore_verify(&st, bs, BLOBSTORE_VERIFY_REPAIR, NULL, NULL),
                 BLOBSTORE_ECORRUPT);
        CHECK_EQ(st.repaired, 0);
    }
    blobstore_close(bs);
}

TEST(sqlite_row_damage_is_corruption)
{
    const char *dir = test_tmpdir();
    blobstore *bs = open_sqlite(dir, 0);
    CHECK(bs != NULL);
    put_ten(bs);
    blobstore_close(bs);
    /* Every row carries its checksum. */
    char *c = sql_text(dir, "SELECT count(*) FROM entries WHERE typeof(rowsum) = 'integer'");
    CHECK_STR(c, "10");
    free(c);
    c = sql_text(dir, "SELECT value FROM blobstore_info WHERE name = 'schema_version'");
    CHECK_STR(c, "2");
    free(c);
    flip_metadata(dir, "k7");
    row_damage_is_reported(dir, 0);
    row_damage_is_reported(dir, BLOBSTORE_OPEN_READONLY);
    /* The original text back: intact again. */
    char q[256];
    snprintf(q, sizeof(q), "UPDATE entries SET metadata = '%s' WHERE key = 'k7'", flipped_from);
    sql(dir, q);
    bs = open_sqlite(dir, 0);
    blobstore_verify_stats st;
    CHECK_EQ(blobstore_verify(&st, bs, 0, NULL, NULL), 0); /* the original text: intact */
    CHECK_EQ(st.ok, 10);
    blobstore_close(bs);
    /* Any other field changed or the sum removed: damage all the same. */
    const char *edits[] = {
        "UPDATE entries SET size = size + 1 WHERE key = 'k3'",
        "UPDATE entries SET info = CASE WHEN info IS NULL THEN '{}' ELSE NULL END WHERE key = 'k3'",
        "UPDATE entries SET content_hash = upper(content_hash) WHERE key = 'k3'",
        "UPDATE entries SET rowsum = NULL WHERE key = 'k3'",
        "UPDATE entries SET rowsum = rowsum + 1 WHERE key = 'k3'",
    };
    for (size_t i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
        sql(dir, edits[i]);
        bs = open_sqlite(dir, 0);
        CHECK(bs != NULL);
        void *v;
        size_t n;
        int rc = blobstore_get(&v, &n, bs, "k3");
        if (rc != BLOBSTORE_ECORRUPT)
            test__fail(__FILE__, __LINE__, "after %s: get returns %d", edits[i], rc);
        CHECK(damaged_names("cache_metadata.db", "k3"));
        CHECK_EQ(blobstore_verify(&st, bs, 0, NULL, NULL), BLOBSTORE_ECORRUPT);
        CHECK_EQ(blobstore_delete(bs, "k3"), BLOBSTORE_ECORRUPT); /* never taken as absent */
        blobstore_close(bs);
        /* back to an intact k3 for the next edit: the row removed with SQL, put again */
        sql(dir, "DELETE FROM entries WHERE key = 'k3'");
        bs = open_sqlite(dir, 0);
        CHECK(bs != NULL);
        char value[6000];
        memset(value, '3', sizeof(value));
        blobstore_put_options po = BLOBSTORE_PUT_OPTIONS_INIT;
        po.metadata = "{\"i\": 3, \"name\": \"n3\"}";
        CHECK_EQ(blobstore_put_ex(NULL, bs, "k3", value, sizeof(value), &po), 0);
        CHECK_EQ(blobstore_get(&v, &n, bs, "k3"), 0);
        blobstore_free(v);
        blobstore_close(bs);
    }
    /* The rebuild sets the damaged index aside and restores every key from
     * the blobs (the inline k1 has none: lost with the index, documented). */
    flip_metadata(dir, "k7");
    blobstore_options o = BLOBSTORE_OPTIONS_INIT;
    o.cache_dir = dir;
    o.backend = "sqlite";
    CHECK_EQ(blobstore_open_rebuilding(&bs, &o), 0);
    blobstore_rebuild_stats rs;
    CHECK_EQ(blobstore_rebuild_index(&rs, bs, NULL, NULL), 0);
    CHECK_EQ(rs.restored, 9);
    char *m = NULL;
    CHECK_EQ(blobstore_get_metadata(&m, bs, "k7"), 0);
    CHECK(strstr(m, "\"i\":7") != NULL || strstr(m, "\"i\": 7") != NULL);
    blobstore_free(m);
    CHECK_EQ(blobstore_verify(&st, bs, 0, NULL, NULL), 0);
    CHECK_EQ(st.ok, 9);
    blobstore_close(bs);
}

/* A store of schema version 1 (no checksums, as older versions wrote it):
 * read as it is when opened read-only; given its checksums at the first
 * writable open, after which a changed row is damage. */
TEST(sqlite_schema_1_is_migrated_in_place)
{
    const char *dir = test_tmpdir();
    blobstore *bs = open_sqlite(dir, 0);
    CHECK(bs != NULL);
    put_ten(bs);
    blobstore_close(bs);
    sql(dir, "ALTER TABLE entries DROP COLUMN rowsum;"
             "UPDATE blobstore_info SET value = '1' WHERE name = 'schema_version';");
    bs = open_sqlite(dir, BLOBSTORE_OPEN_READONLY);
    CHECK(bs != NULL);
    blobstore_list l;
    CHECK_EQ(blobstore_list_keys(&l, bs, NULL, NULL), 0);
    CHECK_EQ(l.count, 10);
    blobstore_list_free(&l);
    void *v;
    size_t n;
    CHECK_EQ(blobstore_get(&v, &n, bs, "k7"), 0);
    CHECK(n == 6000 && ((char *)v)[0] == '7');
    blobstore_free(v);
    blobstore_verify_stats st;
    CHECK_EQ(blobstore_verify(&st, bs, 0, NULL, NULL), 0);
    CHECK_EQ(st.ok, 10);
    CHECK_EQ(blobstore_put(NULL, bs, "new", "x", 1, NULL), BLOBSTORE_EREADONLY);
    blobstore_close(bs);
    char *c = sql_text(dir, "SELECT count(*) FROM pragma_table_info('entries') "
                            "WHERE name = 'rowsum'");
    CHECK_STR(c, "0"); /* the read-only open changed nothing */
    free(c);
    /* The first writable open migrates. */
    bs = open_sqlite(dir, 0);
    CHECK(bs != NULL);
    CHECK_EQ(blobstore_get(&v, &n, bs, "k7"), 0);
    blobstore_free(v);
    CHECK_EQ(blobstore_put(NULL, bs, "new", "x", 1, NULL), 0);
    blobstore_close(bs);
    c = sql_text(dir, "SELECT count(*) FROM entries WHERE typeof(rowsum) = 'integer'");
    CHECK_STR(c, "11");
    free(c);
    c = sql_text(dir, "SELECT value FROM blobstore_info WHERE name = 'schema_version'");
    CHECK_STR(c, "2");
    free(c);
    flip_metadata(dir, "k7");
    row_damage_is_reported(dir, 0);
}

/* A newer schema than this library knows is refused, not misread. */
TEST(sqlite_newer_schema_is_refused)
{
    const char *dir = test_tmpdir();
    blobstore *bs = open_sqlite(dir, 0);
    CHECK(bs != NULL);
    blobstore_close(bs);
    sql(dir, "UPDATE blobstore_info SET value = '3' WHERE name = 'schema_version'");
    CHECK(open_sqlite(dir, 0) == NULL);
    CHECK(strstr(blobstore_errmsg(), "schema version 3") != NULL);
}

static const test_case tests[] = {
    TEST_ENTRY(sqlite_row_damage_is_corruption),
    TEST_ENTRY(sqlite_schema_1_is_migrated_in_place),
    TEST_ENTRY(sqlite_newer_schema_is_refused),
};
TEST_MAIN(tests)
