/*
 * test_backends.c - the backend vtable contracts, checked on each built-in
 * implementation directly: metadata backends (transactions, order, prefix
 * scans, rollback) and blob backends (atomic commit, abort, listing, names).
 */
#include "internal.h"
#include "conformance.h"
#include "test.h"

#include <sys/stat.h>
#include <unistd.h>

static int put_keys(blobstore_meta_backend *be, const char *prefix, int n, const char *meta)
{
    char key[64];
    if (be->begin(be, 1) != 0)
        return -1;
    for (int i = 0; i < n; i++) {
        snprintf(key, sizeof(key), "%s%d", prefix, i);
        blobstore_entry e = conformance_entry(key, "blob", meta);
        if (be->put(be, &e) != 0)
            return -1;
    }
    return be->commit(be);
}

static int count_entries(blobstore_meta_backend *be)
{
    conformance_seen s = {.n = 0};
    int total = 0;
    if (be->begin(be, 0) != 0)
        return -1;
    if (be->iterate(be, NULL, conformance_record, &s) != 0)
        total = -1;
    be->commit(be);
    return total < 0 ? -1 : s.n;
}

static long file_size(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 ? (long)st.st_size : -1;
}

TEST(meta_json_file)
{
    char *p = bs__path_join(test_tmpdir(), "m.json");
    blobstore_meta_backend *be;
    CHECK_EQ(blobstore_meta_backend_json_new(&be, p, 1), 0);
    conformance_meta(be);
    be->free(be);
    /* A second instance sees what the first committed. */
    CHECK_EQ(blobstore_meta_backend_json_new(&be, p, 1), 0);
    CHECK_EQ(be->begin(be, 0), 0);
    blobstore_entry got;
    CHECK_EQ(be->get(be, "c/d", &got), 0);
    blobstore_entry_clear(&got);
    CHECK_EQ(be->commit(be), 0);
    be->free(be);
    free(p);
}

TEST(meta_json_journal_torn_tail_is_ignored)
{
    char *p = bs__path_join(test_tmpdir(), "m.json");
    char jp[4200];
    snprintf(jp, sizeof(jp), "%s.journal", p);
    blobstore_meta_backend *be;
    CHECK_EQ(blobstore_meta_backend_json_new(&be, p, 1), 0);
    CHECK_EQ(put_keys(be, "k", 3, "{}"), 0);
    be->free(be);
    /* A transaction without its commit record, then half a line. */
    FILE *f = fopen(jp, "a");
    fputs("{\"put\":\"ghost\",\"e\":{\"format\":\"bytes\",\"content_hash\":\"0\"}}\n{\"put\":\"gh",
          f);
    fclose(f);
    CHECK_EQ(blobstore_meta_backend_json_new(&be, p, 1), 0);
    CHECK_EQ(count_entries(be), 3);
    long torn = file_size(jp);
    CHECK_EQ(put_keys(be, "n", 1, "{}"), 0); /* the next writer cuts the torn tail */
    CHECK_EQ(count_entries(be), 4);
    be->free(be);
    CHECK_EQ(blobstore_meta_backend_json_new(&be, p, 1), 0);
    CHECK_EQ(count_entries(be), 4);
    blobstore_entry got;
    CHECK_EQ(be->begin(be, 0), 0);
    CHECK_EQ(be->get(be, "ghost", &got), BLOBSTORE_ENOTFOUND);
    CHECK_EQ(be->commit(be), 0);
    CHECK(file_size(jp) < torn + 400);
    be->free(be);
    free(p);
}

TEST(meta_json_journal_damage_is_corruption)
{
    char *p = bs__path_join(test_tmpdir(), "m.json");
    char jp[4200];
    snprintf(jp, sizeof(jp), "%s.journal", p);
    blobstore_meta_backend *be;
    CHECK_EQ(blobstore_meta_backend_json_new(&be, p, 1), 0);
    CHECK_EQ(put_keys(be, "a", 2, "{}"), 0);
    CHECK_EQ(put_keys(be, "b", 2, "{}"), 0);
    be->free(be);
    /* Damage the first transaction: a later commit record follows it. */
    FILE *f = fopen(jp, "r+");
    fseek(f, 60, SEEK_SET);
    fputs("#garbage#", f);
    fclose(f);
    CHECK_EQ(blobstore_meta_backend_json_new(&be, p, 1), BLOBSTORE_ECORRUPT);
    CHECK(strstr(blobstore_errmsg(), ".journal") != NULL);
    free(p);
}

TEST(meta_json_journal_compacts)
{
    char *p = bs__path_join(test_tmpdir(), "m.json");
    char jp[4200];
    snprintf(jp, sizeof(jp), "%s.journal", p);
    blobstore_meta_backend *a, *b;
    CHECK_EQ(blobstore_meta_backend_json_new(&a, p, 0), 0);
    CHECK_EQ(blobstore_meta_backend_json_new(&b, p, 0), 0);
    char meta[600];
    snprintf(meta, sizeof(meta), "{\"pad\": \"%0500d\"}", 7);
    for (int round = 0; round < 40; round++) {
        char prefix[32];
        snprintf(prefix, sizeof(prefix), "r%02d-", round);
        CHECK_EQ(put_keys(a, prefix, 100, meta), 0);
        if (round % 10 == 0) /* b follows along incrementally */
            CHECK_EQ(count_entries(b), (round + 1) * 100);
    }
    CHECK(file_size(jp) < 4 * 1024 * 1024); /* compacted at least once */
    CHECK(file_size(p) > 1024 * 1024);      /* the snapshot holds the bulk */
    CHECK_EQ(count_entries(b), 4000);
    a->free(a);
    b->free(b);
    CHECK_EQ(blobstore_meta_backend_json_new(&a, p, 0), 0);
    CHECK_EQ(count_entries(a), 4000);
    a->free(a);
    free(p);
}

TEST(meta_json_memory)
{
    blobstore_meta_backend *be;
    CHECK_EQ(blobstore_meta_backend_json_new(&be, NULL, 0), 0);
    conformance_meta(be);
    be->free(be);
}

TEST(meta_sqlite_file)
{
    char *p = bs__path_join(test_tmpdir(), "m.db");
    blobstore_meta_backend *be;
    CHECK_EQ(blobstore_meta_backend_sqlite_new(&be, p, 1), 0);
    CHECK(be->flags & BLOBSTORE_META_INLINE);
    conformance_meta(be);
    /* Inline data round-trips. */
    CHECK_EQ(be->begin(be, 1), 0);
    blobstore_entry e = conformance_entry("inline", NULL, "{}");
    e.inline_data = (void *)"\x00\x01\x02";
    e.inline_len = 3;
    CHECK_EQ(be->put(be, &e), 0);
    CHECK_EQ(be->commit(be), 0);
    CHECK_EQ(be->begin(be, 0), 0);
    blobstore_entry got;
    CHECK_EQ(be->get(be, "inline", &got), 0);
    CHECK_EQ(got.inline_len, 3);
    CHECK_MEM(got.inline_data, "\x00\x01\x02", 3);
    blobstore_entry_clear(&got);
    CHECK_EQ(be->commit(be), 0);
    be->free(be);
    free(p);
}

TEST(meta_sqlite_memory)
{
    blobstore_meta_backend *be;
    CHECK_EQ(blobstore_meta_backend_sqlite_new(&be, ":memory:", 0), 0);
    conformance_meta(be);
    be->free(be);
}

TEST(meta_sqlite_rejects_garbage_file)
{
    char *p = bs__path_join(test_tmpdir(), "bad.db");
    FILE *f = fopen(p, "w");
    for (int i = 0; i < 200; i++)
        fputs("this is not a database ", f);
    fclose(f);
    blobstore_meta_backend *be;
    CHECK_EQ(blobstore_meta_backend_sqlite_new(&be, p, 1), BLOBSTORE_ECORRUPT);
    CHECK(strstr(blobstore_errmsg(), "bad.db") != NULL);
    free(p);
}

TEST(blob_fs_conformance)
{
    for (int shard = 0; shard <= 3; shard += 3) {
        blobstore_blob_backend *be;
        CHECK_EQ(blobstore_blob_backend_fs_new(&be, test_tmpdir(), shard), 0);
        conformance_blob(be);
        be->free(be);
    }
}

TEST(blob_mem_conformance)
{
    blobstore_blob_backend *be;
    CHECK_EQ(blobstore_blob_backend_mem_new(&be), 0);
    conformance_blob(be);
    be->free(be);
}

TEST(blob_fs_refuses_path_names)
{
    const char *dir = test_tmpdir();
    blobstore_blob_backend *be;
    CHECK_EQ(blobstore_blob_backend_fs_new(&be, dir, 2), 0);
    static const char *bad[] = {"../escape", "a/b", ".hidden", "", "x y", "..", "a\\b"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        blobstore_blob_writer *w;
        CHECK_EQ(be->writer(&w, be), 0);
        CHECK_EQ(w->commit(w, bad[i], 0), BLOBSTORE_EINVAL);
        CHECK_EQ(be->exists(be, bad[i]), BLOBSTORE_EINVAL);
        CHECK_EQ(be->remove(be, bad[i]), BLOBSTORE_EINVAL);
    }
    conformance_listing l = {0, 0, ""};
    CHECK_EQ(be->list(be, conformance_list_cb, &l), 0);
    CHECK_EQ(l.objects + l.temps, 0); /* failed commits left no temp behind */
    char p[4200];
    snprintf(p, sizeof(p), "%s/../escape", dir);
    CHECK_EQ(access(p, F_OK), -1);
    CHECK_EQ(blobstore_blob_backend_fs_new(&be, dir, 9), BLOBSTORE_EINVAL);
    be->free(be);
}

typedef struct {
    char got[8][128];
    int temps[8];
    int n;
} page_seen;

static int page_cb(void *ctx, const char *name, int is_temp)
{
    page_seen *p = ctx;
    if (p->n < 8) {
        snprintf(p->got[p->n], sizeof(p->got[0]), "%s", name);
        p->temps[p->n++] = is_temp;
    }
    return 0;
}

static char *read_text(const char *rel)
{
    bs_buf b = {0};
    if (bs__read_file(test_source_path(rel), &b) != 0 || bs__buf_append(&b, "", 1) != 0) {
        bs__buf_free(&b);
        return NULL;
    }
    return (char *)b.data;
}

TEST(s3_listing_pages_are_parsed_strictly)
{
    /* 2026-11-24T20:30:00Z: the first object is 30 minutes old. */
    time_t now = 1795552200;
    char *doc = read_text("fuzz/corpus/s3list/objects.xml");
    CHECK(doc != NULL);
    page_seen p = {.n = 0};
    char *a, *b;
    CHECK_EQ(bs__s3_list_page(doc, strlen(doc), "p/", 2, 3600, now, 0, page_cb, &p, &a, &b), 0);
    /* The young object is left out; p/zz.blob is not in the sharded layout. */
    CHECK_EQ(p.n, 2);
    CHECK_STR(p.got[0], "w-00112233445566778899aabb");
    CHECK_EQ(p.temps[0], 1);
    CHECK_STR(p.got[1], "cdef.b2nd");
    CHECK_EQ(p.temps[1], 0);
    CHECK_STR(a, "1ueGcxLPRx1Tr%2FXYExHnhbYLgveDs2J%2Fwm36Hy4vbOwM%3D"); /* URL-encoded */
    CHECK(b == NULL);
    free(a);
    /* Without a grace period the young object is listed too. */
    p.n = 0;
    CHECK_EQ(bs__s3_list_page(doc, strlen(doc), "p/", 2, 0, now, 0, page_cb, &p, &a, &b), 0);
    CHECK_EQ(p.n, 3);
    CHECK_STR(p.got[0], "abcdef-01.blob");
    free(a);
    free(doc);
    doc = read_text("fuzz/corpus/s3list/uploads.xml");
    CHECK(doc != NULL);
    p.n = 0;
    CHECK_EQ(bs__s3_list_page(doc, strlen(doc), "p/", 2, 3600, now, 1, page_cb, &p, &a, &b), 0);
    CHECK_EQ(p.n, 1); /* p/tmp/../../etc is nobody's temp */
    CHECK_STR(p.got[0], "w-00112233445566778899aabb 2~LZhIcYz-WjjZjANaBx_y3aEXgevMVVz");
    CHECK_STR(a, "p%2Ftmp%2Fw-00112233445566778899aabb");
    CHECK_STR(b, "2~LZhIcYz-WjjZjANaBx_y3aEXgevMVVz");
    free(a);
    free(b);
    /* Truncated without a way to go on: an error, not a silently short list. */
    const char bad[] = "<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>";
    CHECK_EQ(bs__s3_list_page(bad, strlen(bad), "", 2, 0, now, 0, page_cb, &p, &a, &b),
             BLOBSTORE_EIO);
    free(doc);
}

static const test_case tests[] = {
    TEST_ENTRY(s3_listing_pages_are_parsed_strictly),
    TEST_ENTRY(meta_json_file),
    TEST_ENTRY(meta_json_memory),
    TEST_ENTRY(meta_json_journal_torn_tail_is_ignored),
    TEST_ENTRY(meta_json_journal_damage_is_corruption),
    TEST_ENTRY(meta_json_journal_compacts),
    TEST_ENTRY(meta_sqlite_file),
    TEST_ENTRY(meta_sqlite_memory),
    TEST_ENTRY(meta_sqlite_rejects_garbage_file),
    TEST_ENTRY(blob_fs_conformance),
    TEST_ENTRY(blob_mem_conformance),
    TEST_ENTRY(blob_fs_refuses_path_names),
};
TEST_MAIN(tests)
