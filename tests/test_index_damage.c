/*
 * test_index_damage.c - damage to an index is corruption, never absence
 * (issue 12): a SQLite row changed behind the store's back fails its
 * checksum (get, metadata, list, verify: BLOBSTORE_ECORRUPT naming the
 * file); stores of schema version 1 are given checksums at the first
 * writable open and still read when opened read-only. Since schema 4 a get
 * reads and checks only the fields it decodes the value by (getsum): a
 * change to another field (metadata, times) is damage to every other read
 * and to verify, while a get returns the value, which that field does not
 * make another.
 */
#include "internal.h"
#include "test.h"

#include <ftw.h>
#include <jansson.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

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

/* Every column of key's row, quoted, in one text. */
static char *row_text(const char *dir, const char *key)
{
    char q[512];
    snprintf(q, sizeof(q),
             "SELECT quote(key) || quote(blob) || quote(format) || quote(compression) || "
             "quote(content_hash) || quote(created_at) || quote(updated_at) || quote(metadata) "
             "|| quote(info) || quote(size) || quote(file_size) || quote(raw) || quote(data) || "
             "quote(rowsum) || quote(getsum) FROM entries WHERE key = '%s'",
             key);
    return sql_text(dir, q);
}

static char flipped_from[512]; /* the text flip_metadata changed */

/* Set a row's metadata text with SQL, behind the store's back. */
static void set_metadata(const char *dir, const char *key, const char *text)
{
    char *p = db_path(dir);
    sqlite3 *db;
    sqlite3_stmt *st;
    CHECK_EQ(sqlite3_open(p, &db), SQLITE_OK);
    CHECK_EQ(
        sqlite3_prepare_v2(db, "UPDATE entries SET metadata = ?1 WHERE key = ?2", -1, &st, NULL),
        SQLITE_OK);
    sqlite3_bind_text(st, 1, text, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
    CHECK_EQ(sqlite3_step(st), SQLITE_DONE);
    CHECK_EQ(sqlite3_changes(db), 1);
    sqlite3_finalize(st);
    sqlite3_close(db);
    free(p);
}

/* Flip one bit of one byte of a row's metadata, in place, with SQL (the text
 * it had is left in flipped_from; unflip_metadata puts it back). */
static void flip_metadata(const char *dir, const char *key)
{
    char q[256];
    snprintf(q, sizeof(q), "SELECT metadata FROM entries WHERE key = '%s'", key);
    char *m = sql_text(dir, q);
    CHECK(m != NULL);
    snprintf(flipped_from, sizeof(flipped_from), "%s", m);
    char *digit = strchr(m, '7'); /* {"i": 7, ...}: 7 -> 6, still valid JSON */
    CHECK(digit != NULL);
    *digit ^= 1;
    set_metadata(dir, key, m);
    free(m);
}

static void unflip_metadata(const char *dir, const char *key)
{
    set_metadata(dir, key, flipped_from);
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
    /* (the metadata is no field a get decodes the value by: its own value) */
    CHECK_EQ(blobstore_get(&v, &n, bs, "k7"), 0);
    CHECK(n == 6000 && ((char *)v)[0] == '7' && ((char *)v)[5999] == '7');
    blobstore_free(v);
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
    c = sql_text(dir, "SELECT count(*) FROM entries WHERE typeof(getsum) = 'integer'");
    CHECK_STR(c, "10");
    free(c);
    c = sql_text(dir, "SELECT value FROM blobstore_info WHERE name = 'schema_version'");
    CHECK_STR(c, "4");
    free(c);
    flip_metadata(dir, "k7");
    row_damage_is_reported(dir, 0);
    row_damage_is_reported(dir, BLOBSTORE_OPEN_READONLY);
    unflip_metadata(dir, "k7"); /* the original text back: intact again */
    bs = open_sqlite(dir, 0);
    blobstore_verify_stats st;
    CHECK_EQ(blobstore_verify(&st, bs, 0, NULL, NULL), 0); /* the original text: intact */
    CHECK_EQ(st.ok, 10);
    blobstore_close(bs);
    /* Any other field changed or a sum removed: damage all the same - to a
     * get too when it is a field the get reads (get 1: the get returns the
     * value as it was put, the field being none it decodes the value by) */
    static const struct {
        const char *sql;
        int get;
    } edits[] = {
        {"UPDATE entries SET size = size + 1 WHERE key = 'k3'", 0},
        {"UPDATE entries SET info = CASE WHEN info IS NULL THEN '{}' ELSE NULL END "
         "WHERE key = 'k3'",
         0},
        {"UPDATE entries SET content_hash = upper(content_hash) WHERE key = 'k3'", 0},
        {"UPDATE entries SET blob = (SELECT blob FROM entries WHERE key = 'k4') WHERE key = 'k3'",
         0},
        {"UPDATE entries SET format = 'text' WHERE key = 'k3'", 0},
        {"UPDATE entries SET raw = 1 - raw WHERE key = 'k3'", 0},
        /* a row without getsum is read whole, its rowsum checked */
        {"UPDATE entries SET getsum = NULL, size = size + 1 WHERE key = 'k3'", 0},
        {"UPDATE entries SET getsum = NULL, metadata = '{}' WHERE key = 'k3'", 0},
        {"UPDATE entries SET getsum = getsum + 1 WHERE key = 'k3'", 0},
        {"UPDATE entries SET rowsum = NULL WHERE key = 'k3'", 1},
        {"UPDATE entries SET rowsum = rowsum + 1 WHERE key = 'k3'", 1},
        {"UPDATE entries SET compression = 'zstd' WHERE key = 'k3'", 1},
        {"UPDATE entries SET created_at = '2000-01-01T00:00:00.000000Z' WHERE key = 'k3'", 1},
        {"UPDATE entries SET updated_at = '2000-01-01T00:00:00.000000Z' WHERE key = 'k3'", 1},
        {"UPDATE entries SET file_size = file_size + 1 WHERE key = 'k3'", 1},
    };
    for (size_t i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
        char *before = row_text(dir, "k3");
        sql(dir, edits[i].sql);
        char *after = row_text(dir, "k3");
        CHECK(before && after && strcmp(before, after) != 0); /* the edit changed the row */
        free(before);
        free(after);
        bs = open_sqlite(dir, 0);
        CHECK(bs != NULL);
        void *v;
        size_t n;
        int rc = blobstore_get(&v, &n, bs, "k3");
        if (rc != (edits[i].get ? 0 : BLOBSTORE_ECORRUPT))
            test__fail(__FILE__, __LINE__, "after %s: get returns %d", edits[i].sql, rc);
        if (rc == 0) {
            CHECK(n == 6000 && ((char *)v)[0] == '3' && ((char *)v)[5999] == '3');
            blobstore_free(v);
        } else {
            CHECK(damaged_names("cache_metadata.db", "k3"));
        }
        char *m = NULL;
        rc = blobstore_get_metadata(&m, bs, "k3");
        if (rc != BLOBSTORE_ECORRUPT)
            test__fail(__FILE__, __LINE__, "after %s: get_metadata returns %d", edits[i].sql, rc);
        CHECK(damaged_names("cache_metadata.db", "k3"));
        blobstore_list l;
        CHECK_EQ(blobstore_list_keys(&l, bs, NULL, NULL), BLOBSTORE_ECORRUPT);
        CHECK(damaged_names("cache_metadata.db", "k3"));
        CHECK_EQ(blobstore_verify(&st, bs, 0, NULL, NULL), BLOBSTORE_ECORRUPT);
        CHECK(damaged_names("cache_metadata.db", "k3"));
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

/* blob's file in dir exists (1) or not (0). */
static int blob_file_exists(const char *dir, const char *blob)
{
    char p[700];
    snprintf(p, sizeof(p), "%s/blobs/%.2s/%s", dir, blob, blob);
    struct stat sb;
    return stat(p, &sb) == 0;
}

/* A put inserts a new key's row without reading first, and reads the row
 * only when the key has one (meta_sqlite.c sq_replace): over a row with a
 * blob file that fails its checksum it is refused, naming the key, the row
 * and the blob file left as they are (the blob the row names is not taken
 * as the replaced one's); with no_overwrite over an intact row, EEXISTS,
 * nothing changed; over the intact row, the row replaced and the blob file
 * it named removed; a put of a new key after all of it, stored. */
TEST(sqlite_put_over_a_row_with_a_blob)
{
    const char *dir = test_tmpdir();
    blobstore *bs = open_sqlite(dir, 0);
    CHECK(bs != NULL);
    put_ten(bs);
    blobstore_close(bs);
    char *blob = sql_text(dir, "SELECT blob FROM entries WHERE key = 'k7'");
    CHECK(blob != NULL && blob_file_exists(dir, blob));
    flip_metadata(dir, "k7");
    char *before = row_text(dir, "k7");
    bs = open_sqlite(dir, 0);
    CHECK(bs != NULL);
    CHECK_EQ(blobstore_put(NULL, bs, "k7", "new", 3, NULL), BLOBSTORE_ECORRUPT);
    CHECK(damaged_names("cache_metadata.db", "k7"));
    blobstore_put_options po = BLOBSTORE_PUT_OPTIONS_INIT;
    po.flags = BLOBSTORE_PUT_NO_OVERWRITE;
    CHECK_EQ(blobstore_put_ex(NULL, bs, "k7", "new", 3, &po), BLOBSTORE_ECORRUPT);
    blobstore_close(bs);
    char *after = row_text(dir, "k7");
    CHECK(before && after && strcmp(before, after) == 0);
    free(after);
    CHECK(blob_file_exists(dir, blob));
    unflip_metadata(dir, "k7"); /* the row intact again */
    free(before);
    before = row_text(dir, "k7");
    bs = open_sqlite(dir, 0);
    CHECK(bs != NULL);
    CHECK_EQ(blobstore_put_ex(NULL, bs, "k7", "new", 3, &po), BLOBSTORE_EEXISTS);
    CHECK(strstr(blobstore_errmsg(), "k7") != NULL);
    after = row_text(dir, "k7");
    CHECK(before && after && strcmp(before, after) == 0);
    free(after);
    CHECK(blob_file_exists(dir, blob));
    CHECK_EQ(blobstore_put(NULL, bs, "k7", "new", 3, "{\"i\": 70}"), 0);
    CHECK(!blob_file_exists(dir, blob)); /* the replaced blob is removed */
    CHECK_EQ(blobstore_put(NULL, bs, "k10", "ten", 3, NULL), 0);
    void *v;
    size_t n;
    CHECK_EQ(blobstore_get(&v, &n, bs, "k7"), 0);
    CHECK(n == 3 && memcmp(v, "new", 3) == 0);
    blobstore_free(v);
    CHECK_EQ(blobstore_get(&v, &n, bs, "k10"), 0);
    CHECK(n == 3 && memcmp(v, "ten", 3) == 0);
    blobstore_free(v);
    char *m = NULL;
    CHECK_EQ(blobstore_get_metadata(&m, bs, "k7"), 0);
    CHECK(strstr(m, "70") != NULL);
    blobstore_free(m);
    blobstore_verify_stats st;
    CHECK_EQ(blobstore_verify(&st, bs, 0, NULL, NULL), 0);
    CHECK_EQ(st.ok, 11);
    CHECK_EQ(st.orphans + st.dangling + st.corrupt, 0);
    blobstore_close(bs);
    free(before);
    free(blob);
}

/* A value kept inline is read in place from its row (no copy of the row,
 * BS__META_CTL_VIEW): a row changed behind the store's back still reads
 * as damage - a field the get's checksum covers, or the inline frame's own
 * bytes, which its checksums cover - by get and get_value alike, and the
 * other rows read as before; a field only the row checksum covers (the
 * metadata, the row checksum itself) leaves the get its value, and a put
 * over such a row is refused all the same. */
TEST(sqlite_inline_row_damage_read_in_place)
{
    const char *dir = test_tmpdir();
    blobstore *bs = open_sqlite(dir, 0);
    CHECK(bs != NULL);
    char value[300];
    for (int i = 0; i < 2; i++) {
        memset(value, 'a' + i, sizeof(value));
        char key[8], meta[64];
        snprintf(key, sizeof(key), "s%d", i);
        snprintf(meta, sizeof(meta), "{\"i\": %d, \"name\": \"n%d\"}", i, i);
        CHECK_EQ(blobstore_put(NULL, bs, key, value, sizeof(value), meta), 0);
    }
    blobstore_close(bs);
    char *c = sql_text(dir, "SELECT count(*) FROM entries WHERE blob IS NULL AND data IS NOT NULL");
    CHECK_STR(c, "2"); /* both inline */
    free(c);
    const char *edits[] = {
        "UPDATE entries SET metadata = '{\"i\": 1, \"name\": \"n2\"}' WHERE key = 's1'",
        "UPDATE entries SET rowsum = rowsum + 1 WHERE key = 's1'",
        "UPDATE entries SET rowsum = NULL WHERE key = 's1'",
        "UPDATE entries SET size = size - 1 WHERE key = 's1'",
        "UPDATE entries SET format = 'pickle' WHERE key = 's1'",
        "UPDATE entries SET content_hash = upper(content_hash) WHERE key = 's1'",
        "UPDATE entries SET getsum = getsum + 1 WHERE key = 's1'",
        "UPDATE entries SET getsum = NULL, metadata = '{}' WHERE key = 's1'",
        /* the frame's bytes (not in the row checksum: the frame checks them) */
        "UPDATE entries SET data = substr(data, 1, 60) || x'00' || substr(data, 62) "
        "WHERE key = 's1'",
        "UPDATE entries SET data = substr(data, 1, length(data) - 1) WHERE key = 's1'",
    };
    for (size_t i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
        char *before =
            sql_text(dir, "SELECT hex(data) || '|' || metadata || '|' || size || '|' "
                          "|| format || '|' || content_hash || '|' || rowsum || '|' || getsum "
                          "FROM entries WHERE key = 's1'");
        sql(dir, edits[i]);
        char *after =
            sql_text(dir, "SELECT hex(data) || '|' || metadata || '|' || size || '|' "
                          "|| format || '|' || content_hash || '|' || ifnull(rowsum, '') || '|' || "
                          "ifnull(getsum, '') "
                          "FROM entries WHERE key = 's1'");
        CHECK(before && after && strcmp(before, after) != 0); /* the edit changed the row */
        bs = open_sqlite(dir, BLOBSTORE_OPEN_READONLY);
        CHECK(bs != NULL);
        void *v = NULL;
        size_t n = 0;
        int lean_ok = i < 3; /* no field a get reads: the get returns the value */
        int rc = blobstore_get(&v, &n, bs, "s1");
        if (rc != (lean_ok ? 0 : BLOBSTORE_ECORRUPT))
            test__fail(__FILE__, __LINE__, "after %s: get returns %d", edits[i], rc);
        if (lean_ok)
            CHECK(n == sizeof(value) && ((char *)v)[0] == 'b' && ((char *)v)[n - 1] == 'b');
        else
            CHECK(v == NULL);
        blobstore_free(v);
        blobstore_value_info vi;
        rc = blobstore_get_value(&v, &n, &vi, bs, "s1", NULL);
        if (rc != (lean_ok ? 0 : BLOBSTORE_ECORRUPT))
            test__fail(__FILE__, __LINE__, "after %s: get_value returns %d", edits[i], rc);
        if (lean_ok) {
            CHECK(n == sizeof(value) && ((char *)v)[0] == 'b');
            CHECK_STR(vi.format, "bytes");
            blobstore_free(v);
            blobstore_free(vi.info);
        }
        if (i < 8) { /* a field of the row: every other read checks all of them */
            char *m = NULL;
            CHECK_EQ(blobstore_get_metadata(&m, bs, "s1"), BLOBSTORE_ECORRUPT);
            blobstore_verify_stats vs;
            CHECK_EQ(blobstore_verify(&vs, bs, 0, NULL, NULL), BLOBSTORE_ECORRUPT);
        }
        CHECK_EQ(blobstore_get(&v, &n, bs, "s0"), 0); /* the intact row */
        CHECK(n == sizeof(value) && ((char *)v)[0] == 'a' && ((char *)v)[n - 1] == 'a');
        blobstore_free(v);
        blobstore_close(bs);
        /* a put over a row that fails its checksum reads it first (in place
         * too): refused, the row left as it is; a damaged frame is only
         * replaced (the row read for the put does not decode it) */
        bs = open_sqlite(dir, 0);
        CHECK(bs != NULL);
        rc = blobstore_put(NULL, bs, "s1", "new", 3, NULL);
        if (rc != (i < 8 ? BLOBSTORE_ECORRUPT : 0))
            test__fail(__FILE__, __LINE__, "after %s: put returns %d", edits[i], rc);
        blobstore_close(bs);
        if (i < 8) {
            char *still = sql_text(dir, "SELECT hex(data) || '|' || metadata || '|' || size || '|' "
                                        "|| format || '|' || content_hash || '|' || "
                                        "ifnull(rowsum, '') || '|' || ifnull(getsum, '') "
                                        "FROM entries WHERE key = 's1'");
            CHECK(still && after && strcmp(still, after) == 0);
            free(still);
        }
        free(after);
        /* s1 as it was */
        sql(dir, "DELETE FROM entries WHERE key = 's1'");
        bs = open_sqlite(dir, 0);
        CHECK(bs != NULL);
        memset(value, 'b', sizeof(value));
        CHECK_EQ(
            blobstore_put(NULL, bs, "s1", value, sizeof(value), "{\"i\": 1, \"name\": \"n1\"}"), 0);
        CHECK_EQ(blobstore_get_value(&v, &n, &vi, bs, "s1", NULL), 0);
        CHECK(vi.has_value && n == sizeof(value) && ((char *)v)[0] == 'b');
        CHECK_STR(vi.format, "bytes");
        blobstore_free(v);
        blobstore_free(vi.info);
        blobstore_close(bs);
        free(before);
    }
}

/* Values kept inline are compact frames (schema 3, issue 16): 10 bytes
 * beside the stored bytes, the hash and size in the row. Seeded random
 * values of every codec, compressible or not, 0..4096 bytes: each reads back
 * equal (also with the full SHA-256 recomputed, and through a read-only
 * open), verify passes, and data moved from one row into another - whose
 * frame is sound but not that row's - is damage for either row. */
TEST(sqlite_inline_compact_frames)
{
    const char *dir = test_tmpdir();
    unsigned seed = (unsigned)time(NULL);
    printf("seed %u\n", seed);
    srand(seed);
    enum { N = 60 };
    static unsigned char vals[N][4096];
    size_t lens[N];
    blobstore *bs = open_sqlite(dir, 0);
    CHECK(bs != NULL);
    CHECK_EQ(test_put_inline_values(bs, N, vals, lens), 0);
    blobstore_close(bs);
    for (int i = 0; i < N; i++) {
        char q[256];
        snprintf(q, sizeof(q),
                 "SELECT hex(substr(data, 1, 1)) || '|' || (length(data) <= size + %d) || '|' || "
                 "(file_size = length(data)) || '|' || (blob IS NULL) FROM entries WHERE key = "
                 "'c%02d'",
                 BS_INLINE_OVERHEAD, i);
        char *c = sql_text(dir, q);
        CHECK_STR(c, "B5|1|1|1");
        free(c);
    }
    for (int pass = 0; pass < 3; pass++) {
        blobstore_options o = BLOBSTORE_OPTIONS_INIT;
        o.cache_dir = dir;
        o.backend = "sqlite";
        o.verify_content_hash = pass == 1 ? BLOBSTORE_YES : 0;
        o.open_flags = pass == 2 ? BLOBSTORE_OPEN_READONLY : 0;
        CHECK_EQ(blobstore_open(&bs, &o), 0);
        test_check_inline_values(bs, N, vals, lens);
        blobstore_close(bs);
    }
    /* c20's data put in c25's row (c21's frame of the same length as c20's
     * is not needed: another row's data fails whatever its length) */
    sql(dir, "UPDATE entries SET data = (SELECT data FROM entries WHERE key = 'c20') "
             "WHERE key = 'c25'");
    bs = open_sqlite(dir, BLOBSTORE_OPEN_READONLY);
    CHECK(bs != NULL);
    void *v = NULL;
    size_t n = 0;
    CHECK_EQ(blobstore_get(&v, &n, bs, "c25"), BLOBSTORE_ECORRUPT);
    CHECK(strstr(blobstore_errmsg(), "c25") != NULL);
    CHECK_EQ(blobstore_get(&v, &n, bs, "c20"), 0);
    CHECK(n == lens[20] && (!n || memcmp(v, vals[20], n) == 0));
    blobstore_free(v);
    blobstore_verify_stats st; /* reported, as a damaged blob file is */
    CHECK_EQ(blobstore_verify(&st, bs, 0, NULL, NULL), 0);
    CHECK_EQ(st.corrupt, 1);
    CHECK_EQ(st.ok, N - 1);
    blobstore_close(bs);
    /* a full frame's magic in front of a compact frame: not a frame either */
    sql(dir, "UPDATE entries SET data = x'89' || substr(data, 2) WHERE key = 'c30'");
    bs = open_sqlite(dir, BLOBSTORE_OPEN_READONLY);
    CHECK_EQ(blobstore_get(&v, &n, bs, "c30"), BLOBSTORE_ECORRUPT);
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
    sql(dir, "ALTER TABLE entries DROP COLUMN rowsum; ALTER TABLE entries DROP COLUMN getsum;"
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
    c = sql_text(dir, "SELECT count(*) FROM entries WHERE typeof(rowsum) = 'integer' AND "
                      "typeof(getsum) = 'integer'");
    CHECK_STR(c, "11");
    free(c);
    c = sql_text(dir, "SELECT value FROM blobstore_info WHERE name = 'schema_version'");
    CHECK_STR(c, "4");
    free(c);
    flip_metadata(dir, "k7");
    row_damage_is_reported(dir, 0);
}

/* A row without getsum - as a library before schema 4 puts it, if it had
 * the store open when a newer one upgraded it - is read whole by a get too,
 * its rowsum checked: it reads as put (get, get_value, metadata, list,
 * verify), and any field of it changed is damage to all of them. */
TEST(sqlite_rows_without_getsum_read_whole)
{
    const char *dir = test_tmpdir();
    blobstore *bs = open_sqlite(dir, 0);
    CHECK(bs != NULL);
    put_ten(bs);
    blobstore_close(bs);
    sql(dir, "UPDATE entries SET getsum = NULL WHERE key IN ('k1', 'k2', 'k3')");
    for (int pass = 0; pass < 2; pass++) { /* as put; then k1 and k3 changed */
        for (int ro = 0; ro < 2; ro++) {
            bs = open_sqlite(dir, ro ? BLOBSTORE_OPEN_READONLY : 0);
            CHECK(bs != NULL);
            for (int i = 0; i < 10; i++) {
                char key[8];
                snprintf(key, sizeof(key), "k%d", i);
                void *v = NULL;
                size_t n = 0;
                blobstore_value_info vi;
                int damaged = pass && (i == 1 || i == 3);
                int rc = blobstore_get(&v, &n, bs, key);
                if (rc != (damaged ? BLOBSTORE_ECORRUPT : 0))
                    test__fail(__FILE__, __LINE__, "pass %d: get %s returns %d", pass, key, rc);
                if (!rc)
                    CHECK(n == (i == 1 ? 100u : 6000u) && ((char *)v)[0] == '0' + i &&
                          ((char *)v)[n - 1] == '0' + i);
                blobstore_free(v);
                rc = blobstore_get_value(&v, &n, &vi, bs, key, NULL);
                CHECK_EQ(rc, damaged ? BLOBSTORE_ECORRUPT : 0);
                if (!rc) {
                    CHECK(n == (i == 1 ? 100u : 6000u) && ((char *)v)[0] == '0' + i);
                    blobstore_free(v);
                    blobstore_free(vi.info);
                }
                char *m = NULL;
                CHECK_EQ(blobstore_get_metadata(&m, bs, key), damaged ? BLOBSTORE_ECORRUPT : 0);
                blobstore_free(m);
            }
            blobstore_list l;
            CHECK_EQ(blobstore_list_keys(&l, bs, NULL, NULL), pass ? BLOBSTORE_ECORRUPT : 0);
            if (!pass) {
                CHECK_EQ(l.count, 10);
                blobstore_list_free(&l);
            }
            blobstore_verify_stats st;
            CHECK_EQ(blobstore_verify(&st, bs, 0, NULL, NULL), pass ? BLOBSTORE_ECORRUPT : 0);
            blobstore_close(bs);
        }
        if (!pass)
            sql(dir, "UPDATE entries SET size = size - 1 WHERE key = 'k1';"
                     "UPDATE entries SET blob = (SELECT blob FROM entries WHERE key = 'k4') "
                     "WHERE key = 'k3'");
    }
    /* a put over an intact one writes its getsum */
    bs = open_sqlite(dir, 0);
    CHECK(bs != NULL);
    CHECK_EQ(blobstore_put(NULL, bs, "k2", "two", 3, NULL), 0);
    blobstore_close(bs);
    char *c = sql_text(dir, "SELECT typeof(getsum) FROM entries WHERE key = 'k2'");
    CHECK_STR(c, "integer");
    free(c);
}

/* A store of schema version 3 (no getsum): read as before (whole rows,
 * rowsum) when opened read-only; at the first writable open every intact row
 * is given its getsum, and a row already damaged none - a get reads it
 * whole and finds it damaged, never the value its changed fields would make
 * (k3 pointed at k4's blob), nor takes it for intact (k7's metadata
 * changed). */
TEST(sqlite_schema_3_is_migrated_in_place)
{
    const char *dir = test_tmpdir();
    blobstore *bs = open_sqlite(dir, 0);
    CHECK(bs != NULL);
    put_ten(bs);
    blobstore_close(bs);
    sql(dir, "ALTER TABLE entries DROP COLUMN getsum;"
             "UPDATE blobstore_info SET value = '3' WHERE name = 'schema_version';"
             "UPDATE entries SET blob = (SELECT blob FROM entries WHERE key = 'k4') "
             "WHERE key = 'k3';");
    flip_metadata(dir, "k7");
    for (int pass = 0; pass < 2; pass++) { /* read-only, then writable (migrating) */
        bs = open_sqlite(dir, pass ? 0 : BLOBSTORE_OPEN_READONLY);
        CHECK(bs != NULL);
        void *v;
        size_t n;
        for (int i = 0; i < 10; i++) {
            char key[8];
            snprintf(key, sizeof(key), "k%d", i);
            int rc = blobstore_get(&v, &n, bs, key);
            if (i == 3 || i == 7) {
                CHECK_EQ(rc, BLOBSTORE_ECORRUPT);
                CHECK(damaged_names("cache_metadata.db", key));
                continue;
            }
            CHECK_EQ(rc, 0);
            CHECK(n == (i == 1 ? 100u : 6000u) && ((char *)v)[0] == '0' + i &&
                  ((char *)v)[n - 1] == '0' + i);
            blobstore_free(v);
            char *m = NULL;
            CHECK_EQ(blobstore_get_metadata(&m, bs, key), 0);
            blobstore_free(m);
        }
        blobstore_list l;
        CHECK_EQ(blobstore_list_keys(&l, bs, NULL, NULL), BLOBSTORE_ECORRUPT);
        blobstore_verify_stats st;
        CHECK_EQ(blobstore_verify(&st, bs, 0, NULL, NULL), BLOBSTORE_ECORRUPT);
        CHECK(strstr(blobstore_errmsg(), "2 rows fail") != NULL);
        if (pass)
            CHECK_EQ(blobstore_put(NULL, bs, "new", "x", 1, NULL), 0);
        blobstore_close(bs);
        char *c = sql_text(dir, "SELECT count(*) FROM pragma_table_info('entries') "
                                "WHERE name = 'getsum'");
        CHECK_STR(c, pass ? "1" : "0"); /* the read-only open changed nothing */
        free(c);
    }
    char *c = sql_text(dir, "SELECT value FROM blobstore_info WHERE name = 'schema_version'");
    CHECK_STR(c, "4");
    free(c);
    c = sql_text(dir, "SELECT group_concat(key) FROM (SELECT key FROM entries WHERE getsum IS "
                      "NULL ORDER BY key)");
    CHECK_STR(c, "k3,k7");
    free(c);
    c = sql_text(dir, "SELECT count(*) FROM entries WHERE typeof(getsum) = 'integer'");
    CHECK_STR(c, "9"); /* 8 intact + new */
    free(c);
}

/* The blob column's index lists only entries with a blob (an inline put
 * writes no index page, #16), is what the reference count uses, and a full
 * index of an older store is replaced at the first writable open. */
TEST(sqlite_blob_index_is_partial)
{
    const char *dir = test_tmpdir();
    blobstore *bs = open_sqlite(dir, 0);
    CHECK(bs != NULL);
    put_ten(bs);
    blobstore_close(bs);
    const char *q_sql = "SELECT sql FROM sqlite_master WHERE name = 'entries_blob'";
    char *c = sql_text(dir, q_sql);
    CHECK(c && strstr(c, "WHERE blob IS NOT NULL"));
    free(c);
    /* the count of a blob's entries uses it */
    char *p = db_path(dir);
    sqlite3 *db;
    sqlite3_stmt *st;
    CHECK_EQ(sqlite3_open(p, &db), SQLITE_OK);
    CHECK_EQ(sqlite3_prepare_v2(db,
                                "EXPLAIN QUERY PLAN SELECT count(*) FROM entries WHERE blob = ?1",
                                -1, &st, NULL),
             SQLITE_OK);
    int uses = 0;
    while (sqlite3_step(st) == SQLITE_ROW)
        uses |= strstr((const char *)sqlite3_column_text(st, 3), "entries_blob") != NULL;
    sqlite3_finalize(st);
    sqlite3_close(db);
    free(p);
    CHECK(uses);
    c = sql_text(dir, "SELECT count(*) FROM entries WHERE blob IS NULL");
    CHECK_STR(c, "1"); /* k1, inline */
    free(c);
    sql(dir, "DROP INDEX entries_blob; CREATE INDEX entries_blob ON entries(blob);");
    bs = open_sqlite(dir, BLOBSTORE_OPEN_READONLY);
    CHECK(bs != NULL);
    blobstore_close(bs);
    c = sql_text(dir, q_sql);
    CHECK(c && !strstr(c, "WHERE")); /* a read-only open changes nothing */
    free(c);
    bs = open_sqlite(dir, 0);
    CHECK(bs != NULL);
    void *v;
    size_t n;
    CHECK_EQ(blobstore_get(&v, &n, bs, "k7"), 0);
    CHECK(n == 6000 && ((char *)v)[0] == '7');
    blobstore_free(v);
    blobstore_close(bs);
    c = sql_text(dir, q_sql);
    CHECK(c && strstr(c, "WHERE blob IS NOT NULL"));
    free(c);
}

/* What blobstore_stats reports, recomputed from every entry's metadata
 * (get_metadata of each listed key): entries, stored and original bytes,
 * inline entries, blobs and their bytes (no key shares a blob here), and
 * the breakdown by format and by codec. */
static void stats_match_the_entries(blobstore *bs)
{
    blobstore_store_stats st = BLOBSTORE_STORE_STATS_INIT;
    CHECK_EQ(blobstore_stats(&st, bs), 0);
    blobstore_list l;
    CHECK_EQ(blobstore_list_keys(&l, bs, NULL, NULL), 0);
    uint64_t stored = 0, orig = 0, inl = 0, blobs = 0, blob_bytes = 0;
    uint64_t f_n[2] = {0, 0}, f_st[2] = {0, 0}, c_n[3] = {0, 0, 0}, c_or[3] = {0, 0, 0};
    static const char *const fmts[] = {"bytes", "pickle"}, *const codecs[] = {"lz4", "none",
                                                                              "zstd"};
    for (size_t i = 0; i < l.count; i++) {
        char *m = NULL;
        CHECK_EQ(blobstore_get_metadata(&m, bs, l.keys[i]), 0);
        json_error_t err;
        json_t *o = json_loads(m, 0, &err);
        blobstore_free(m);
        CHECK(o != NULL);
        uint64_t size = (uint64_t)json_integer_value(json_object_get(o, "size"));
        uint64_t fsz = (uint64_t)json_integer_value(json_object_get(o, "file_size"));
        const char *f = json_string_value(json_object_get(o, "format"));
        const char *c = json_string_value(json_object_get(o, "compression"));
        int has_blob = json_is_string(json_object_get(o, "blob"));
        stored += fsz;
        orig += size;
        inl += !has_blob;
        blobs += has_blob;
        blob_bytes += has_blob ? fsz : 0;
        for (int k = 0; k < 2; k++)
            if (f && strcmp(f, fmts[k]) == 0) {
                f_n[k]++;
                f_st[k] += fsz;
            }
        for (int k = 0; k < 3; k++)
            if (c && strcmp(c, codecs[k]) == 0) {
                c_n[k]++;
                c_or[k] += size;
            }
        json_decref(o);
    }
    CHECK_EQ(st.entries, l.count);
    blobstore_list_free(&l);
    CHECK_EQ(st.stored_bytes, stored);
    CHECK_EQ(st.original_bytes, orig);
    CHECK_EQ(st.inline_entries, inl);
    CHECK_EQ(st.blobs, blobs);
    CHECK_EQ(st.blob_bytes, blob_bytes);
    CHECK_EQ(st.dedup_saved_bytes, 0);
    CHECK_EQ(st.n_formats, 2);
    CHECK_EQ(st.n_codecs, 3);
    for (int k = 0; k < 2; k++) { /* in name order */
        CHECK_STR(st.formats[k].name, fmts[k]);
        CHECK_EQ(st.formats[k].entries, f_n[k]);
        CHECK_EQ(st.formats[k].stored_bytes, f_st[k]);
    }
    for (int k = 0; k < 3; k++) {
        CHECK_STR(st.codecs[k].name, codecs[k]);
        CHECK_EQ(st.codecs[k].entries, c_n[k]);
        CHECK_EQ(st.codecs[k].original_bytes, c_or[k]);
    }
    blobstore_stats_free(&st);
}

/* entries_stats, the covering index of what stats sums that libraries
 * before #16 kept (every put wrote a page of it), is not made by a new
 * store and is dropped at the first writable open of an older one (not by
 * a read-only open); stats equal the entries' figures with it and without. */
TEST(sqlite_stats_index_is_dropped)
{
    const char *dir = test_tmpdir();
    blobstore *bs = open_sqlite(dir, 0);
    CHECK(bs != NULL);
    unsigned seed = 1616;
    printf("seed %u\n", seed);
    srand(seed);
    static const char *const fmts[] = {"bytes", "pickle"}, *const codecs[] = {"lz4", "none",
                                                                              "zstd"};
    unsigned char value[9000];
    for (size_t i = 0; i < sizeof(value); i++)
        value[i] = (unsigned char)(rand() % 16); /* compressible, a little */
    for (int i = 0; i < 120; i++) {
        char key[16];
        snprintf(key, sizeof(key), "s%d", rand() % 90); /* some overwritten */
        blobstore_put_options po = BLOBSTORE_PUT_OPTIONS_INIT;
        po.format = fmts[rand() % 2];
        po.compression = codecs[rand() % 3];
        size_t n = (size_t)(rand() % (int)sizeof(value)); /* inline and not */
        CHECK_EQ(blobstore_put_ex(NULL, bs, key, value, n, &po), 0);
        if (rand() % 10 == 0)
            CHECK_EQ(blobstore_delete(bs, key), 0);
    }
    stats_match_the_entries(bs);
    blobstore_close(bs);
    const char *q_idx = "SELECT count(*) FROM sqlite_master WHERE name = 'entries_stats'";
    char *c = sql_text(dir, q_idx);
    CHECK_STR(c, "0"); /* a new store has none */
    free(c);
    /* as a library before #16 left it */
    sql(dir, "CREATE INDEX entries_stats ON entries(format, compression, size, file_size, blob)");
    bs = open_sqlite(dir, BLOBSTORE_OPEN_READONLY);
    CHECK(bs != NULL);
    stats_match_the_entries(bs);
    blobstore_close(bs);
    c = sql_text(dir, q_idx);
    CHECK_STR(c, "1"); /* a read-only open changes nothing */
    free(c);
    bs = open_sqlite(dir, 0);
    CHECK(bs != NULL);
    stats_match_the_entries(bs);
    CHECK_EQ(blobstore_put(NULL, bs, "after", "x", 1, NULL), 0);
    stats_match_the_entries(bs);
    blobstore_close(bs);
    c = sql_text(dir, q_idx);
    CHECK_STR(c, "0");
    free(c);
}

/* A newer schema than this library knows is refused, not misread. */
TEST(sqlite_newer_schema_is_refused)
{
    const char *dir = test_tmpdir();
    blobstore *bs = open_sqlite(dir, 0);
    CHECK(bs != NULL);
    blobstore_close(bs);
    sql(dir, "UPDATE blobstore_info SET value = '5' WHERE name = 'schema_version'");
    CHECK(open_sqlite(dir, 0) == NULL);
    CHECK(strstr(blobstore_errmsg(), "schema version 5") != NULL);
    CHECK(open_sqlite(dir, BLOBSTORE_OPEN_READONLY) == NULL);
}

/* ---- lost commits: blobs whose keys the index lacks ---- */

static size_t nfiles;
static int count_file(const char *path, const struct stat *sb, int type, struct FTW *f)
{
    (void)path;
    (void)sb;
    (void)f;
    nfiles += type == FTW_F;
    return 0;
}

static size_t blob_files(const char *dir)
{
    char *p = bs__path_join(dir, "blobs");
    nfiles = 0;
    nftw(p, count_file, 16, FTW_PHYS);
    free(p);
    return nfiles;
}

static void copy_file(const char *dir, const char *from, const char *to)
{
    char *a = bs__path_join(dir, from), *b = bs__path_join(dir, to);
    bs_buf buf = {0};
    if (bs__read_file(a, &buf) == 0) {
        FILE *f = fopen(b, "wb");
        CHECK(f != NULL);
        CHECK_EQ(fwrite(buf.data, 1, buf.len, f), buf.len);
        fclose(f);
    } else {
        unlink(b); /* absent there: absent here */
    }
    bs__buf_free(&buf);
    free(a);
    free(b);
}

typedef struct {
    int unindexed, orphans, dangling, removed_unindexed;
    char keys[512]; /* the unindexed blobs' keys, each followed by ' ' */
} seen;

static int note(void *ctx, const blobstore_problem *p)
{
    seen *s = ctx;
    if (p->kind == BLOBSTORE_PROBLEM_UNINDEXED) {
        s->unindexed++;
        s->removed_unindexed += p->repaired != 0;
        size_t n = strlen(s->keys);
        snprintf(s->keys + n, sizeof(s->keys) - n, "%s ", p->key ? p->key : "?");
    }
    s->orphans += p->kind == BLOBSTORE_PROBLEM_ORPHAN;
    s->dangling += p->kind == BLOBSTORE_PROBLEM_DANGLING;
    return 0;
}

static void put_value(blobstore *bs, const char *key, char c)
{
    char value[6000], meta[64];
    memset(value, c, sizeof(value));
    snprintf(meta, sizeof(meta), "{\"v\": \"%c\"}", c);
    blobstore_put_options po = BLOBSTORE_PUT_OPTIONS_INIT;
    po.metadata = meta;
    CHECK_EQ(blobstore_put_ex(NULL, bs, key, value, sizeof(value), &po), 0);
}

/* The index loses its last commits (an older copy of it put back: for
 * SQLite the database without its -wal, for JSON a snapshot and journal
 * that agree with each other): the blobs of those commits carry keys the
 * index lacks. verify reports them as unindexed with their keys, --repair
 * never removes them, the rebuild brings every key back with its bytes. */
static void lost_commits(const char *backend)
{
    const char *dir = test_tmpdir();
    const char *files[] = {"cache_metadata.json", "cache_metadata.json.journal",
                           "cache_metadata.db"};
    blobstore_options o = BLOBSTORE_OPTIONS_INIT;
    o.cache_dir = dir;
    o.backend = backend;
    blobstore *bs = NULL;
    CHECK_EQ(blobstore_open(&bs, &o), 0);
    char key[8];
    for (int i = 0; i < 5; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        put_value(bs, key, (char)('a' + i));
    }
    put_value(bs, "old", 'o'); /* overwritten next: its first blob superseded */
    blobstore_close(bs);
    for (size_t i = 0; i < 3; i++) {
        char saved[64];
        snprintf(saved, sizeof(saved), "%s.saved", files[i]);
        copy_file(dir, files[i], saved);
    }
    CHECK_EQ(blobstore_open(&bs, &o), 0);
    for (int i = 5; i < 10; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        put_value(bs, key, (char)('a' + i));
    }
    put_value(bs, "k1", 'B');  /* k1 overwritten: its first blob removed */
    put_value(bs, "old", 'O'); /* the index still has "old" with a newer blob */
    blobstore_close(bs);
    /* the commits since are lost */
    for (size_t i = 0; i < 3; i++) {
        char saved[64];
        snprintf(saved, sizeof(saved), "%s.saved", files[i]);
        copy_file(dir, saved, files[i]);
    }
    char *wal = bs__path_join(dir, "cache_metadata.db-wal"),
         *shm = bs__path_join(dir, "cache_metadata.db-shm");
    unlink(wal);
    unlink(shm);
    free(wal);
    free(shm);
    /* "old" put once more: the lost second put's blob is now older than the
     * entry the index has, whose blob is there: superseded. */
    CHECK_EQ(blobstore_open(&bs, &o), 0);
    put_value(bs, "old", 'P');
    size_t before = blob_files(dir);
    seen s;
    memset(&s, 0, sizeof(s));
    blobstore_verify_stats st;
    CHECK_EQ(blobstore_verify(&st, bs, 0, note, &s), 0);
    /* k5..k9 (keys the index lacks) and k1's second put (its entry's blob
     * is gone); the lost second put of "old" is older than the entry the
     * index has now: superseded, an orphan */
    CHECK_EQ(s.unindexed, 6);
    for (int i = 5; i < 10; i++) {
        char want[8];
        snprintf(want, sizeof(want), "k%d ", i);
        CHECK(strstr(s.keys, want) != NULL);
    }
    CHECK(strstr(s.keys, "k1 ") != NULL);
    CHECK_EQ(s.dangling, 1); /* k1's entry names its removed first blob */
    CHECK_EQ(s.orphans, 1);
    CHECK_EQ(st.orphans, 1);
    /* --repair removes the dangling entry and the superseded blob, never an
     * unindexed one */
    memset(&s, 0, sizeof(s));
    CHECK_EQ(blobstore_verify(&st, bs, BLOBSTORE_VERIFY_REPAIR, note, &s), 0);
    CHECK_EQ(s.unindexed, 6);
    CHECK_EQ(s.removed_unindexed, 0);
    CHECK_EQ(st.repaired, 2);
    CHECK_EQ(blob_files(dir), before - 1);
    memset(&s, 0, sizeof(s));
    CHECK_EQ(blobstore_verify(&st, bs, BLOBSTORE_VERIFY_REPAIR, note, &s), 0);
    CHECK_EQ(s.unindexed, 6); /* k1's entry now gone too: its key absent */
    CHECK_EQ(st.repaired, 0);
    CHECK_EQ(blob_files(dir), before - 1);
    /* the rebuild brings every key back with the bytes of its last put */
    blobstore_rebuild_stats rs;
    CHECK_EQ(blobstore_rebuild_index(&rs, bs, NULL, NULL), 0);
    CHECK_EQ(rs.restored, 6);
    for (int i = 0; i < 10; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        void *v = NULL;
        size_t n = 0;
        CHECK_EQ(blobstore_get(&v, &n, bs, key), 0);
        CHECK_EQ(n, 6000);
        CHECK_EQ(((char *)v)[0], i == 1 ? 'B' : 'a' + i);
        blobstore_free(v);
    }
    void *v = NULL;
    size_t n = 0;
    CHECK_EQ(blobstore_get(&v, &n, bs, "old"), 0);
    CHECK_EQ(((char *)v)[0], 'P');
    blobstore_free(v);
    memset(&s, 0, sizeof(s));
    CHECK_EQ(blobstore_verify(&st, bs, 0, note, &s), 0);
    CHECK_EQ(st.ok, 11);
    CHECK_EQ(s.unindexed + st.orphans + st.dangling + st.corrupt, 0);
    blobstore_close(bs);
}

TEST(lost_commits_are_unindexed_json)
{
    lost_commits("json");
}

TEST(lost_commits_are_unindexed_sqlite)
{
    lost_commits("sqlite");
}

/* The rebuild reads a blob's entry record from its two ends: blobs larger
 * than one read, records larger than one read, a record-less version of
 * neither; a blob damaged between its ends comes back as an entry whose get
 * reports the damage (corruption, not absence). */
TEST(rebuild_reads_records_from_the_ends_of_large_blobs)
{
    const char *dir = test_tmpdir();
    blobstore_options o = BLOBSTORE_OPTIONS_INIT;
    o.cache_dir = dir;
    o.backend = "sqlite";
    o.compression = "none";
    blobstore *bs = NULL;
    CHECK_EQ(blobstore_open(&bs, &o), 0);
    size_t big = 300000, mlen = 150000;
    unsigned char *v = malloc(big);
    char *meta = malloc(mlen + 32);
    CHECK(v && meta);
    for (size_t i = 0; i < big; i++)
        v[i] = (unsigned char)(i * 7 + i / 251);
    memset(meta, 'm', mlen + 32);
    memcpy(meta, "{\"long\": \"", 10);
    strcpy(meta + mlen, "\"}");
    const struct {
        const char *key;
        size_t len;
        const char *meta;
    } cases[] = {{"big-long-record", big, meta},
                 {"big", big, "{\"a\": 1}"},
                 {"small-long-record", 5000, meta},
                 {"exactly-64k", 65536 - 200, "{}"},
                 {"damaged", big, "{\"d\": 1}"}};
    for (size_t i = 0; i < 5; i++) {
        blobstore_put_options po = BLOBSTORE_PUT_OPTIONS_INIT;
        po.metadata = cases[i].meta;
        CHECK_EQ(blobstore_put_ex(NULL, bs, cases[i].key, v, cases[i].len, &po), 0);
    }
    char *m = NULL;
    CHECK_EQ(blobstore_get_metadata(&m, bs, "damaged"), 0);
    json_error_t err;
    json_t *doc = json_loads(m, 0, &err);
    blobstore_free(m);
    const char *blob = json_string_value(json_object_get(doc, "blob"));
    CHECK(blob != NULL);
    char rel[256];
    snprintf(rel, sizeof(rel), "blobs/%.2s/%s", blob, blob);
    json_decref(doc);
    blobstore_close(bs);
    /* a byte in the middle of "damaged" (uncompressed: a data byte) */
    char *path = bs__path_join(dir, rel);
    FILE *f = fopen(path, "r+b");
    CHECK(f != NULL);
    free(path);
    fseek(f, 150000, SEEK_SET);
    int c = fgetc(f);
    fseek(f, 150000, SEEK_SET);
    fputc(c ^ 0x20, f);
    fclose(f);
    const char *lose[] = {"cache_metadata.db", "cache_metadata.db-wal", "cache_metadata.db-shm"};
    for (int i = 0; i < 3; i++) {
        char *p = bs__path_join(dir, lose[i]);
        unlink(p);
        free(p);
    }
    CHECK_EQ(blobstore_open_rebuilding(&bs, &o), 0);
    blobstore_rebuild_stats rs;
    CHECK_EQ(blobstore_rebuild_index(&rs, bs, NULL, NULL), 0);
    CHECK_EQ(rs.restored, 5);
    CHECK_EQ(rs.unreadable, 0);
    for (size_t i = 0; i < 4; i++) {
        void *got = NULL;
        size_t n = 0;
        CHECK_EQ(blobstore_get(&got, &n, bs, cases[i].key), 0);
        CHECK(n == cases[i].len && memcmp(got, v, n) == 0);
        blobstore_free(got);
        CHECK_EQ(blobstore_get_metadata(&m, bs, cases[i].key), 0);
        doc = json_loads(m, 0, &err);
        json_t *want = json_loads(cases[i].meta, 0, &err);
        CHECK(json_equal(json_object_get(doc, "metadata"), want));
        json_decref(doc);
        json_decref(want);
        blobstore_free(m);
    }
    void *got = NULL;
    size_t n = 0;
    CHECK_EQ(blobstore_get(&got, &n, bs, "damaged"), BLOBSTORE_ECORRUPT);
    blobstore_verify_stats st;
    CHECK_EQ(blobstore_verify(&st, bs, 0, NULL, NULL), 0);
    CHECK_EQ(st.corrupt, 1);
    CHECK_EQ(st.ok, 4);
    blobstore_close(bs);
    free(v);
    free(meta);
}

static const test_case tests[] = {
    TEST_ENTRY(sqlite_row_damage_is_corruption),
    TEST_ENTRY(sqlite_put_over_a_row_with_a_blob),
    TEST_ENTRY(sqlite_inline_row_damage_read_in_place),
    TEST_ENTRY(sqlite_inline_compact_frames),
    TEST_ENTRY(sqlite_schema_1_is_migrated_in_place),
    TEST_ENTRY(sqlite_schema_3_is_migrated_in_place),
    TEST_ENTRY(sqlite_rows_without_getsum_read_whole),
    TEST_ENTRY(sqlite_newer_schema_is_refused),
    TEST_ENTRY(sqlite_blob_index_is_partial),
    TEST_ENTRY(sqlite_stats_index_is_dropped),
    TEST_ENTRY(lost_commits_are_unindexed_json),
    TEST_ENTRY(lost_commits_are_unindexed_sqlite),
    TEST_ENTRY(rebuild_reads_records_from_the_ends_of_large_blobs),
};
TEST_MAIN(tests)
