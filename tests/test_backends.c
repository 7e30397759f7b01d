/*
 * test_backends.c - the backend vtable contracts, checked on each built-in
 * implementation directly: metadata backends (transactions, order, prefix
 * scans, rollback) and blob backends (atomic commit, abort, listing, names).
 */
#include "internal.h"
#include "s3_int.h"
#include "conformance.h"
#include "test.h"

#include <fcntl.h>
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

/* One transaction writing the same keys many times: the journal keeps the
 * last record per key (found with a set since the quadratic scan made a
 * 100,000-put batch take minutes), and a second instance reads exactly the
 * final state. */
TEST(meta_json_batch_keeps_the_last_record_per_key)
{
    char *p = bs__path_join(test_tmpdir(), "batch.json");
    blobstore_meta_backend *be;
    CHECK_EQ(blobstore_meta_backend_json_new(&be, p, 1), 0);
    int last[100] = {0}; /* 0: absent; else the value of its last put */
    uint32_t x = 7;
    char key[32], meta[64];
    CHECK_EQ(be->begin(be, 1), 0);
    for (int i = 0; i < 3000; i++) {
        x = x * 1103515245u + 12345u;
        int k = (int)((x >> 16) % 100);
        snprintf(key, sizeof(key), "k%d", k);
        if ((x >> 8) % 4 == 0 && last[k]) {
            CHECK_EQ(be->remove(be, key), 0);
            last[k] = 0;
        } else {
            snprintf(meta, sizeof(meta), "{\"v\": %d}", 100000 + i);
            blobstore_entry e = conformance_entry(key, "blob", meta);
            CHECK_EQ(be->put(be, &e), 0);
            last[k] = 100000 + i;
        }
    }
    CHECK_EQ(be->commit(be), 0);
    be->free(be);
    CHECK_EQ(blobstore_meta_backend_json_new(&be, p, 1), 0);
    CHECK_EQ(be->begin(be, 0), 0);
    for (int k = 0; k < 100; k++) {
        blobstore_entry got;
        snprintf(key, sizeof(key), "k%d", k);
        int rc = be->get(be, key, &got);
        if (!last[k]) {
            CHECK_EQ(rc, BLOBSTORE_ENOTFOUND);
            continue;
        }
        CHECK_EQ(rc, 0);
        snprintf(meta, sizeof(meta), "%d", last[k]);
        CHECK(strstr(got.metadata, meta) != NULL);
        blobstore_entry_clear(&got);
    }
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

static char *slurp(const char *path, long *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    *len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)*len + 1);
    if (buf && fread(buf, 1, (size_t)*len, f) != (size_t)*len) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    return buf;
}

/* Make path hold data[0..len): rewritten in place, not truncated to zero
 * first (ext4 flushes a file truncated to zero and rewritten: slow here). */
static int spill(const char *path, const char *data, long len)
{
    int fd = open(path, O_WRONLY | O_CREAT, 0644);
    if (fd < 0)
        return -1;
    int ok = pwrite(fd, data, (size_t)len, 0) == (ssize_t)len && ftruncate(fd, len) == 0;
    return close(fd) == 0 && ok ? 0 : -1;
}

/* Open the JSON index at p: its entry count, or the error code (< 0). */
static int json_open_count(const char *p)
{
    blobstore_meta_backend *be;
    int rc = blobstore_meta_backend_json_new(&be, p, 0);
    if (rc)
        return rc;
    int n = count_entries(be);
    be->free(be);
    return n;
}

/* Ten commits of one key each (k0..k9). */
static int json_ten_commits(const char *p)
{
    blobstore_meta_backend *be;
    if (blobstore_meta_backend_json_new(&be, p, 0) != 0)
        return -1;
    for (int i = 0; i < 10; i++) {
        char prefix[8];
        snprintf(prefix, sizeof(prefix), "k%d-", i);
        if (put_keys(be, prefix, 1, "{\"i\": 1}") != 0)
            return -1;
    }
    be->free(be);
    return 0;
}

TEST(meta_json_cut_at_any_point_is_corruption)
{
    char *p = bs__path_join(test_tmpdir(), "m.json");
    char jp[4200];
    snprintf(jp, sizeof(jp), "%s.journal", p);
    CHECK_EQ(json_ten_commits(p), 0);
    long len;
    char *orig = slurp(jp, &len);
    CHECK(orig != NULL);
    CHECK_EQ(json_open_count(p), 10);
    /* Every shorter length, at a line boundary or not, down to an empty
     * journal, is reported as damage naming the journal. */
    int boundaries = 0;
    for (long cut = 0; cut < len; cut++) {
        CHECK_EQ(spill(jp, orig, cut), 0);
        int got = json_open_count(p);
        if (got != BLOBSTORE_ECORRUPT)
            test__fail(__FILE__, __LINE__, "cut at %ld of %ld: %d", cut, len, got);
        CHECK_EQ(got, BLOBSTORE_ECORRUPT);
        CHECK(strstr(blobstore_errmsg(), "m.json.journal") != NULL);
        boundaries += cut > 0 && orig[cut - 1] == '\n';
    }
    CHECK_EQ(boundaries, 3 + 20 - 1); /* header, slots, 10 puts, 10 commits; not the end */
    /* A deleted journal too. */
    CHECK_EQ(unlink(jp), 0);
    CHECK_EQ(json_open_count(p), BLOBSTORE_ECORRUPT);
    CHECK_EQ(spill(jp, orig, len), 0);
    CHECK_EQ(json_open_count(p), 10);
    free(orig);
    free(p);
}

TEST(meta_json_any_changed_byte_is_corruption)
{
    char *p = bs__path_join(test_tmpdir(), "m.json");
    char jp[4200];
    snprintf(jp, sizeof(jp), "%s.journal", p);
    CHECK_EQ(json_ten_commits(p), 0);
    long len;
    char *orig = slurp(jp, &len);
    CHECK(orig != NULL);
    char *copy = malloc((size_t)len);
    int slots_tolerated = 0;
    for (long at = 0; at < len; at++) {
        memcpy(copy, orig, (size_t)len);
        copy[at] ^= 0x01;
        CHECK_EQ(spill(jp, copy, len), 0);
        int got = json_open_count(p);
        if (at >= 96 && at < 3 * 96) {
            /* A commit slot is written twice over (seq % 2): one damaged slot
             * (a torn slot write) leaves the other, and nothing is lost. */
            CHECK_EQ(got, 10);
            slots_tolerated++;
            continue;
        }
        if (got != BLOBSTORE_ECORRUPT)
            test__fail(__FILE__, __LINE__, "byte %ld of %ld (%c): %d", at, len, orig[at], got);
        CHECK_EQ(got, BLOBSTORE_ECORRUPT);
        CHECK(strstr(blobstore_errmsg(), "m.json.journal") != NULL);
    }
    CHECK_EQ(slots_tolerated, 2 * 96);
    /* Both slots damaged: no commit can be trusted. */
    memcpy(copy, orig, (size_t)len);
    copy[100] ^= 1;
    copy[200] ^= 1;
    CHECK_EQ(spill(jp, copy, len), 0);
    CHECK_EQ(json_open_count(p), BLOBSTORE_ECORRUPT);
    /* The issue's example: "e": made "g": in a record. */
    memcpy(copy, orig, (size_t)len);
    char *e = strstr(copy + 3 * 96, "\"e\":");
    CHECK(e != NULL);
    e[1] = 'g';
    CHECK_EQ(spill(jp, copy, len), 0);
    CHECK_EQ(json_open_count(p), BLOBSTORE_ECORRUPT);
    CHECK(strstr(blobstore_errmsg(), "damaged") != NULL);
    free(copy);
    free(orig);
    free(p);
}

/* A writer that crashed before it acknowledged a commit leaves records past
 * the committed length: ignored when torn, applied when complete. */
TEST(meta_json_unacknowledged_tail_is_not_damage)
{
    char *p = bs__path_join(test_tmpdir(), "m.json");
    char jp[4200];
    snprintf(jp, sizeof(jp), "%s.journal", p);
    CHECK_EQ(json_ten_commits(p), 0);
    long len9;
    char *nine = slurp(jp, &len9); /* slots say commit 11 (10 puts after base 1) */
    CHECK(nine != NULL);
    long snap_len;
    char *snap = slurp(p, &snap_len); /* the writer below crashes: no snapshot at close */
    CHECK(snap != NULL);
    blobstore_meta_backend *be;
    CHECK_EQ(blobstore_meta_backend_json_new(&be, p, 0), 0);
    CHECK_EQ(put_keys(be, "late", 3, "{}"), 0);
    be->free(be);
    CHECK_EQ(spill(p, snap, snap_len), 0);
    free(snap);
    long len10;
    char *ten = slurp(jp, &len10);
    CHECK(ten != NULL && len10 > len9);
    /* The new records reached the disk, the slot did not: the complete
     * transaction is applied (it was never acknowledged: either is right). */
    memcpy(ten, nine, 3 * 96);
    CHECK_EQ(spill(jp, ten, len10), 0);
    CHECK_EQ(json_open_count(p), 13);
    /* Every cut inside the unacknowledged transaction: the ten remain. */
    for (long cut = len9; cut < len10; cut++) {
        CHECK_EQ(spill(jp, ten, cut), 0);
        CHECK_EQ(json_open_count(p), 10);
    }
    /* The next writer cuts the torn tail and carries on. */
    CHECK_EQ(spill(jp, ten, len10 - 5), 0);
    CHECK_EQ(blobstore_meta_backend_json_new(&be, p, 1), 0);
    CHECK_EQ(put_keys(be, "after", 1, "{}"), 0);
    be->free(be);
    CHECK_EQ(json_open_count(p), 11);
    free(nine);
    free(ten);
    free(p);
}

/* Version 1 files: read as they are; the first write upgrades them. */
TEST(meta_json_version_1_is_read_and_upgraded)
{
    char *p = bs__path_join(test_tmpdir(), "m.json");
    char jp[4200];
    snprintf(jp, sizeof(jp), "%s.journal", p);
    const char *snap = "{\"format\": \"blobstore-metadata\", \"version\": 1, \"entries\": {"
                       "\"old\": {\"blob\": \"b1\", \"format\": \"bytes\", \"compression\": "
                       "\"lz4\", \"content_hash\": \"00\", \"size\": 5, \"file_size\": 9, "
                       "\"raw\": false, \"metadata\": {\"v\": 1}}}}";
    const char *journal =
        "{\"format\":\"blobstore-journal\",\"version\":1}\n"
        "{\"put\":\"new\",\"e\":{\"blob\":\"b2\",\"format\":\"bytes\",\"compression\":\"lz4\","
        "\"content_hash\":\"01\",\"size\":6,\"file_size\":8,\"raw\":false,\"metadata\":{}}}\n"
        "{\"commit\":1}\n";
    CHECK_EQ(spill(p, snap, (long)strlen(snap)), 0);
    CHECK_EQ(spill(jp, journal, (long)strlen(journal)), 0);
    CHECK_EQ(json_open_count(p), 2);
    long n;
    char *still = slurp(jp, &n);
    CHECK(still != NULL && n == (long)strlen(journal)); /* reading changes nothing */
    free(still);
    blobstore_meta_backend *be;
    CHECK_EQ(blobstore_meta_backend_json_new(&be, p, 1), 0);
    CHECK_EQ(put_keys(be, "x", 1, "{}"), 0);
    be->free(be);
    char *text = slurp(p, &n);
    CHECK(text != NULL && strstr(text, "\"version\":3") != NULL);
    free(text);
    CHECK_EQ(json_open_count(p), 3);
    CHECK_EQ(blobstore_meta_backend_json_new(&be, p, 1), 0);
    CHECK_EQ(be->begin(be, 0), 0);
    blobstore_entry got;
    CHECK_EQ(be->get(be, "old", &got), 0);
    CHECK_STR(got.blob, "b1");
    CHECK_STR(got.metadata, "{\"v\":1}");
    blobstore_entry_clear(&got);
    CHECK_EQ(be->get(be, "new", &got), 0);
    CHECK_EQ(got.size, 6);
    blobstore_entry_clear(&got);
    CHECK_EQ(be->commit(be), 0);
    be->free(be);
    /* The upgraded snapshot is checksummed: each changed byte is damage. */
    text = slurp(p, &n);
    CHECK(text != NULL);
    char *copy = malloc((size_t)n);
    for (long at = 0; at < n; at++) {
        memcpy(copy, text, (size_t)n);
        copy[at] ^= 0x01;
        CHECK_EQ(spill(p, copy, n), 0);
        int got_n = json_open_count(p);
        if (got_n != BLOBSTORE_ECORRUPT)
            test__fail(__FILE__, __LINE__, "snapshot byte %ld: %d", at, got_n);
        CHECK_EQ(got_n, BLOBSTORE_ECORRUPT);
        CHECK(strstr(blobstore_errmsg(), "m.json") != NULL);
    }
    /* A deleted snapshot, or one cut short. */
    CHECK_EQ(unlink(p), 0);
    CHECK_EQ(json_open_count(p), BLOBSTORE_ECORRUPT);
    CHECK(strstr(blobstore_errmsg(), "is missing") != NULL);
    CHECK_EQ(spill(p, text, n / 2), 0);
    CHECK_EQ(json_open_count(p), BLOBSTORE_ECORRUPT);
    CHECK_EQ(spill(p, text, n), 0);
    CHECK_EQ(json_open_count(p), 3);
    free(copy);
    free(text);
    free(p);
}

/* A snapshot older than the journal's base (an old copy put back) is damage. */
TEST(meta_json_older_snapshot_is_corruption)
{
    char *p = bs__path_join(test_tmpdir(), "m.json");
    blobstore_meta_backend *be;
    CHECK_EQ(blobstore_meta_backend_json_new(&be, p, 0), 0);
    long n0;
    char *first = slurp(p, &n0);
    CHECK(first != NULL);
    char meta[600];
    snprintf(meta, sizeof(meta), "{\"pad\": \"%0500d\"}", 7);
    for (int round = 0; round < 30; round++) { /* past 1 MiB: compacts */
        char prefix[32];
        snprintf(prefix, sizeof(prefix), "r%02d-", round);
        CHECK_EQ(put_keys(be, prefix, 100, meta), 0);
    }
    be->free(be);
    long n;
    char *now = slurp(p, &n);
    CHECK(now != NULL && n > n0);
    CHECK_EQ(spill(p, first, n0), 0);
    CHECK_EQ(json_open_count(p), BLOBSTORE_ECORRUPT);
    CHECK(strstr(blobstore_errmsg(), "older") != NULL);
    CHECK_EQ(spill(p, now, n), 0);
    CHECK_EQ(json_open_count(p), 3000);
    free(first);
    free(now);
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

/* 1 if /proc/self/maps names a file containing what. */
static int mapped(const char *what)
{
    FILE *f = fopen("/proc/self/maps", "r");
    char line[4096];
    int found = 0;
    while (f && !found && fgets(line, sizeof(line), f))
        found = strstr(line, what) != NULL;
    if (f)
        fclose(f);
    return found;
}

/* The network backends are modules loaded on first use (module.c): not
 * installed, they are EUNSUPPORTED naming the file and where it was looked
 * for, and nothing is loaded; from the build tree, the PostgreSQL module
 * loads (with libpq) and its own error comes back through the library. */
TEST(network_modules_load_on_first_use)
{
    const char *empty = test_tmpdir();
    char want[1024];
    blobstore_meta_backend *meta = NULL;
    blobstore_blob_backend *blobs = NULL;
    CHECK(!mapped("libpq") && !mapped("libcurl") && !mapped("libblobstore-"));
    CHECK_EQ(setenv("BLOBSTORE_MODULE_DIR", empty, 1), 0);
    CHECK_EQ(blobstore_meta_backend_pg_new(&meta, "host=127.0.0.1 port=1"), BLOBSTORE_EUNSUPPORTED);
    snprintf(want, sizeof(want),
             "the PostgreSQL backend is not installed: libblobstore-pg.so not found in %s (set "
             "BLOBSTORE_MODULE_DIR to the directory that holds it)",
             empty);
    CHECK_STR(blobstore_errmsg(), want);
    CHECK_EQ(blobstore_blob_backend_s3_new(&blobs, "s3://b/p", 2), BLOBSTORE_EUNSUPPORTED);
    snprintf(want, sizeof(want),
             "the S3 backend is not installed: libblobstore-s3.so not found in %s (set "
             "BLOBSTORE_MODULE_DIR to the directory that holds it)",
             empty);
    CHECK_STR(blobstore_errmsg(), want);
    CHECK(meta == NULL && blobs == NULL);
    CHECK(!mapped("libpq") && !mapped("libcurl") && !mapped("libblobstore-"));

    const char *build = getenv("BLOBSTORE_BUILD_DIR");
    char path[4096];
    snprintf(path, sizeof(path), "%s/libblobstore-pg.so", build ? build : ".");
    if (!build || access(path, F_OK) != 0) {
        fprintf(stderr,
                "network_modules_load_on_first_use: SKIPPED the loading half: %s not "
                "built\n",
                path);
    } else {
        CHECK_EQ(setenv("BLOBSTORE_MODULE_DIR", build, 1), 0);
        CHECK_EQ(blobstore_meta_backend_pg_new(
                     &meta, "host=127.0.0.1 port=1 dbname=x user=x connect_timeout=5"),
                 BLOBSTORE_EIO);
        CHECK(strncmp(blobstore_errmsg(), "postgresql: cannot connect: ", 28) == 0);
        CHECK(mapped("libblobstore-pg.so") && mapped("libpq"));
        CHECK(!mapped("libblobstore-s3.so"));
        /* Loaded once: a second call goes straight to the module. */
        CHECK_EQ(setenv("BLOBSTORE_MODULE_DIR", empty, 1), 0);
        CHECK_EQ(blobstore_meta_backend_pg_new(&meta, "host=127.0.0.1 port=1 dbname=x user=x"),
                 BLOBSTORE_EIO);
        CHECK(meta == NULL);
    }
    CHECK_EQ(unsetenv("BLOBSTORE_MODULE_DIR"), 0);
}

/* Where object bytes may go without a signed SHA-256 of their own: over
 * TLS, or to the loopback interface; plain http elsewhere signs them. */
TEST(s3_unsigned_payload_only_over_tls_or_loopback)
{
    const char *private_[] = {"https://s3.us-east-1.amazonaws.com",
                              "https://10.1.2.3:8443",
                              "http://127.0.0.1:24000",
                              "http://127.1.2.3",
                              "http://localhost:9000",
                              "http://LOCALHOST/",
                              "http://[::1]:7480",
                              "http://127.0.0.1/x"};
    const char *public_[] = {"http://10.0.0.1:7480",
                             "http://rgw.example",
                             "http://127.example.com",
                             "http://127.0.0.1.nip.io",
                             "http://localhost.evil.io",
                             "http://128.0.0.1",
                             "http://127.0.0.256",
                             "http://127.0.0",
                             "http://[::2]:7480",
                             "http://[::1]x",
                             "ftp://127.0.0.1",
                             "http://0127.0.0.1",
                             "http://"};
    for (size_t i = 0; i < sizeof(private_) / sizeof(private_[0]); i++)
        if (bs__s3_endpoint_private(private_[i]) != 1) {
            fprintf(stderr, "  %s: not taken for TLS or loopback\n", private_[i]);
            CHECK(0);
        }
    for (size_t i = 0; i < sizeof(public_) / sizeof(public_[0]); i++)
        if (bs__s3_endpoint_private(public_[i]) != 0) {
            fprintf(stderr, "  %s: taken for TLS or loopback\n", public_[i]);
            CHECK(0);
        }
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
    TEST_ENTRY(s3_unsigned_payload_only_over_tls_or_loopback),
    TEST_ENTRY(meta_json_file),
    TEST_ENTRY(meta_json_memory),
    TEST_ENTRY(meta_json_batch_keeps_the_last_record_per_key),
    TEST_ENTRY(meta_json_journal_torn_tail_is_ignored),
    TEST_ENTRY(meta_json_journal_damage_is_corruption),
    TEST_ENTRY(meta_json_journal_compacts),
    TEST_ENTRY(meta_json_cut_at_any_point_is_corruption),
    TEST_ENTRY(meta_json_any_changed_byte_is_corruption),
    TEST_ENTRY(meta_json_unacknowledged_tail_is_not_damage),
    TEST_ENTRY(meta_json_version_1_is_read_and_upgraded),
    TEST_ENTRY(meta_json_older_snapshot_is_corruption),
    TEST_ENTRY(meta_sqlite_file),
    TEST_ENTRY(meta_sqlite_memory),
    TEST_ENTRY(meta_sqlite_rejects_garbage_file),
    TEST_ENTRY(blob_fs_conformance),
    TEST_ENTRY(blob_mem_conformance),
    TEST_ENTRY(blob_fs_refuses_path_names),
    TEST_ENTRY(network_modules_load_on_first_use),
};
TEST_MAIN(tests)
