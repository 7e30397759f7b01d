/*
 * test_faults.c - the orchestrator against backends that fail on demand.
 *
 * A blob backend and a metadata backend wrap the built-in memory
 * implementations, count calls and fail chosen operations. Whatever fails,
 * the store stays consistent: nothing half-visible, old values intact, no
 * entry pointing at a missing blob.
 */
#include "conformance.h"
#include "internal.h"
#include "test.h"

#include <errno.h>

/* ---- a blob backend that fails on demand ---- */

typedef struct {
    blobstore_blob_backend parent;
    blobstore_blob_backend *inner;
    int fail_write, fail_commit, fail_read, fail_remove;
    int missing_once;  /* the next exists() answers "absent" for a present blob */
    int noisy_cleanup; /* abort() and close() set an error message of their own */
    int writes, commits, readers, removes;
} fault_blob;

typedef struct {
    blobstore_blob_writer parent;
    fault_blob *fb;
    blobstore_blob_writer *inner;
} fault_writer;

typedef struct {
    blobstore_blob_reader parent;
    fault_blob *fb;
    blobstore_blob_reader *inner;
} fault_reader;

static int fw_write(blobstore_blob_writer *pw, const void *p, size_t n)
{
    fault_writer *w = (fault_writer *)pw;
    w->fb->writes++;
    if (w->fb->fail_write)
        return bs__error(BLOBSTORE_EIO, "injected write failure");
    return w->inner->write(w->inner, p, n);
}

static int fw_commit(blobstore_blob_writer *pw, const char *name, int sync)
{
    fault_writer *w = (fault_writer *)pw;
    int rc;
    w->fb->commits++;
    if (w->fb->fail_commit) {
        w->inner->abort(w->inner);
        rc = bs__error(BLOBSTORE_EIO, "injected commit failure");
    } else {
        rc = w->inner->commit(w->inner, name, sync);
    }
    free(w);
    return rc;
}

static void fw_abort(blobstore_blob_writer *pw)
{
    fault_writer *w = (fault_writer *)pw;
    if (w->fb->noisy_cleanup)
        bs__error(BLOBSTORE_EIO, "noise from abort");
    w->inner->abort(w->inner);
    free(w);
}

static int fb_writer(blobstore_blob_writer **out, blobstore_blob_backend *pbe)
{
    fault_blob *fb = (fault_blob *)pbe;
    fault_writer *w = calloc(1, sizeof(*w));
    int rc = fb->inner->writer(&w->inner, fb->inner);
    if (rc) {
        free(w);
        return rc;
    }
    w->fb = fb;
    w->parent.write = fw_write;
    w->parent.commit = fw_commit;
    w->parent.abort = fw_abort;
    *out = &w->parent;
    return 0;
}

static int fr_read(blobstore_blob_reader *pr, void *buf, size_t cap, size_t *n)
{
    fault_reader *r = (fault_reader *)pr;
    if (r->fb->fail_read)
        return bs__error(BLOBSTORE_EIO, "injected read failure");
    return r->inner->read(r->inner, buf, cap, n);
}

static void fr_close(blobstore_blob_reader *pr)
{
    fault_reader *r = (fault_reader *)pr;
    if (r->fb->noisy_cleanup)
        bs__error(BLOBSTORE_EIO, "noise from close");
    r->inner->close(r->inner);
    free(r);
}

static int fb_reader(blobstore_blob_reader **out, blobstore_blob_backend *pbe, const char *name)
{
    fault_blob *fb = (fault_blob *)pbe;
    fb->readers++;
    fault_reader *r = calloc(1, sizeof(*r));
    int rc = fb->inner->reader(&r->inner, fb->inner, name);
    if (rc) {
        free(r);
        return rc;
    }
    r->fb = fb;
    r->parent.read = fr_read;
    r->parent.close = fr_close;
    *out = &r->parent;
    return 0;
}

static int fb_exists(blobstore_blob_backend *pbe, const char *name)
{
    fault_blob *fb = (fault_blob *)pbe;
    if (fb->missing_once) {
        fb->missing_once = 0;
        return 0;
    }
    return fb->inner->exists(fb->inner, name);
}

static int fb_remove(blobstore_blob_backend *pbe, const char *name)
{
    fault_blob *fb = (fault_blob *)pbe;
    fb->removes++;
    if (fb->fail_remove)
        return bs__error(BLOBSTORE_EIO, "injected remove failure");
    return fb->inner->remove(fb->inner, name);
}

static int fb_list(blobstore_blob_backend *pbe, blobstore_blob_list_fn fn, void *ctx)
{
    fault_blob *fb = (fault_blob *)pbe;
    return fb->inner->list(fb->inner, fn, ctx);
}

static void fb_free(blobstore_blob_backend *pbe)
{
    fault_blob *fb = (fault_blob *)pbe;
    fb->inner->free(fb->inner);
    free(fb);
}

static fault_blob *fault_blob_new(void)
{
    fault_blob *fb = calloc(1, sizeof(*fb));
    blobstore_blob_backend_mem_new(&fb->inner);
    fb->parent.version = BLOBSTORE_BLOB_BACKEND_VERSION;
    fb->parent.writer = fb_writer;
    fb->parent.reader = fb_reader;
    fb->parent.exists = fb_exists;
    fb->parent.remove = fb_remove;
    fb->parent.list = fb_list;
    fb->parent.free = fb_free;
    return fb;
}

/* ---- a metadata backend that fails commits on demand ---- */

typedef struct {
    blobstore_meta_backend parent;
    blobstore_meta_backend *inner;
    int fail_commit, fail_put;
    int begins, commits;
} fault_meta;

#define INNER(pbe) (((fault_meta *)(pbe))->inner)

static int fm_begin(blobstore_meta_backend *pbe, int write)
{
    ((fault_meta *)pbe)->begins++;
    return INNER(pbe)->begin(INNER(pbe), write);
}

static int fm_commit(blobstore_meta_backend *pbe)
{
    fault_meta *fm = (fault_meta *)pbe;
    fm->commits++;
    if (fm->fail_commit) {
        fm->inner->rollback(fm->inner);
        return bs__error(BLOBSTORE_EIO, "injected metadata commit failure");
    }
    return fm->inner->commit(fm->inner);
}

static int fm_rollback(blobstore_meta_backend *pbe)
{
    return INNER(pbe)->rollback(INNER(pbe));
}

static int fm_get(blobstore_meta_backend *pbe, const char *key, blobstore_entry *out)
{
    return INNER(pbe)->get(INNER(pbe), key, out);
}

static int fm_put(blobstore_meta_backend *pbe, const blobstore_entry *e)
{
    if (((fault_meta *)pbe)->fail_put)
        return bs__error(BLOBSTORE_EIO, "injected metadata put failure");
    return INNER(pbe)->put(INNER(pbe), e);
}

static int fm_remove(blobstore_meta_backend *pbe, const char *key)
{
    return INNER(pbe)->remove(INNER(pbe), key);
}

static int fm_iterate(blobstore_meta_backend *pbe, const char *prefix, blobstore_entry_fn fn,
                      void *ctx)
{
    return INNER(pbe)->iterate(INNER(pbe), prefix, fn, ctx);
}

static void fm_free(blobstore_meta_backend *pbe)
{
    INNER(pbe)->free(INNER(pbe));
    free(pbe);
}

static fault_meta *fault_meta_new(void)
{
    fault_meta *fm = calloc(1, sizeof(*fm));
    blobstore_meta_backend_json_new(&fm->inner, NULL, 0);
    fm->parent.version = BLOBSTORE_META_BACKEND_VERSION;
    fm->parent.begin = fm_begin;
    fm->parent.commit = fm_commit;
    fm->parent.rollback = fm_rollback;
    fm->parent.get = fm_get;
    fm->parent.put = fm_put;
    fm->parent.remove = fm_remove;
    fm->parent.iterate = fm_iterate;
    fm->parent.free = fm_free;
    return fm;
}

static blobstore *open_faulty(fault_blob **fb, fault_meta **fm)
{
    *fb = fault_blob_new();
    *fm = fault_meta_new();
    blobstore_options o = BLOBSTORE_OPTIONS_INIT;
    o.cache_dir = test_tmpdir();
    o.meta_backend = &(*fm)->parent;
    o.blob_backend_impl = &(*fb)->parent;
    blobstore *bs = NULL;
    if (blobstore_open(&bs, &o) != 0)
        fprintf(stderr, "open: %s\n", blobstore_errmsg());
    return bs;
}

static int value_is(blobstore *bs, const char *key, const char *want)
{
    void *out;
    size_t n;
    if (blobstore_get(&out, &n, bs, key) != 0)
        return 0;
    int ok = n == strlen(want) && memcmp(out, want, n) == 0;
    blobstore_free(out);
    return ok;
}

static void check_consistent(blobstore *bs, size_t entries)
{
    blobstore_verify_stats st;
    CHECK_EQ(blobstore_verify(&st, bs, 0, NULL, NULL), 0);
    CHECK_EQ(st.entries, entries);
    CHECK_EQ(st.ok, entries);
    CHECK_EQ(st.corrupt + st.dangling + st.orphans + st.temps, 0);
}

TEST(custom_backends_pass_conformance)
{
    fault_blob *fb;
    fault_meta *fm;
    blobstore *bs = open_faulty(&fb, &fm);
    CHECK(bs != NULL);
    conformance_store(bs);
    CHECK(fm->commits > 10);
    CHECK(fb->commits > 10);
    blobstore_close(bs);
}

TEST(get_metadata_never_reads_the_blob)
{
    fault_blob *fb;
    fault_meta *fm;
    blobstore *bs = open_faulty(&fb, &fm);
    CHECK(bs != NULL);
    CHECK_EQ(blobstore_put(NULL, bs, "k", "value", 5, "{\"a\":1}"), 0);
    int readers = fb->readers;
    char *json;
    CHECK_EQ(blobstore_get_metadata(&json, bs, "k"), 0);
    blobstore_free(json);
    blobstore_list l;
    CHECK_EQ(blobstore_list_keys(&l, bs, NULL, "{\"a\":1}"), 0);
    CHECK_EQ(l.count, 1);
    blobstore_list_free(&l);
    CHECK_EQ(blobstore_exists(bs, "k"), 1);
    CHECK_EQ(fb->readers, readers);
    blobstore_close(bs);
}

TEST(failed_blob_write_leaves_old_value)
{
    fault_blob *fb;
    fault_meta *fm;
    blobstore *bs = open_faulty(&fb, &fm);
    CHECK(bs != NULL);
    CHECK_EQ(blobstore_put(NULL, bs, "k", "old", 3, NULL), 0);
    fb->fail_write = 1;
    CHECK_EQ(blobstore_put(NULL, bs, "k", "new", 3, NULL), BLOBSTORE_EIO);
    CHECK_EQ(blobstore_put(NULL, bs, "fresh", "new", 3, NULL), BLOBSTORE_EIO);
    CHECK(strstr(blobstore_errmsg(), "injected") != NULL);
    fb->fail_write = 0;
    CHECK(value_is(bs, "k", "old"));
    CHECK_EQ(blobstore_exists(bs, "fresh"), 0);
    check_consistent(bs, 1);
    blobstore_close(bs);
}

TEST(failed_blob_commit_leaves_old_value)
{
    fault_blob *fb;
    fault_meta *fm;
    blobstore *bs = open_faulty(&fb, &fm);
    CHECK(bs != NULL);
    CHECK_EQ(blobstore_put(NULL, bs, "k", "old", 3, NULL), 0);
    fb->fail_commit = 1;
    CHECK_EQ(blobstore_put(NULL, bs, "k", "new", 3, NULL), BLOBSTORE_EIO);
    fb->fail_commit = 0;
    CHECK(value_is(bs, "k", "old"));
    check_consistent(bs, 1);
    blobstore_close(bs);
}

TEST(failed_metadata_commit_removes_new_blob)
{
    fault_blob *fb;
    fault_meta *fm;
    blobstore *bs = open_faulty(&fb, &fm);
    CHECK(bs != NULL);
    CHECK_EQ(blobstore_put(NULL, bs, "k", "old", 3, NULL), 0);
    fm->fail_commit = 1;
    CHECK_EQ(blobstore_put(NULL, bs, "k", "new", 3, NULL), BLOBSTORE_EIO);
    CHECK_EQ(blobstore_put(NULL, bs, "other", "x", 1, NULL), BLOBSTORE_EIO);
    CHECK_EQ(blobstore_delete(bs, "k"), BLOBSTORE_EIO);
    CHECK_EQ(blobstore_update_metadata(bs, "k", "{\"z\":1}"), BLOBSTORE_EIO);
    fm->fail_commit = 0;
    fm->fail_put = 1;
    CHECK_EQ(blobstore_put(NULL, bs, "k", "new", 3, NULL), BLOBSTORE_EIO);
    fm->fail_put = 0;
    CHECK(value_is(bs, "k", "old"));
    CHECK_EQ(blobstore_exists(bs, "other"), 0);
    check_consistent(bs, 1); /* no orphans: the new blobs were removed */
    blobstore_close(bs);
}

TEST(failed_read_is_an_error_not_data)
{
    fault_blob *fb;
    fault_meta *fm;
    blobstore *bs = open_faulty(&fb, &fm);
    CHECK(bs != NULL);
    CHECK_EQ(blobstore_put(NULL, bs, "k", "value", 5, NULL), 0);
    fb->fail_read = 1;
    void *out = NULL;
    size_t n = 0;
    CHECK_EQ(blobstore_get(&out, &n, bs, "k"), BLOBSTORE_EIO);
    CHECK(out == NULL);
    blobstore_verify_stats st;
    CHECK_EQ(blobstore_verify(&st, bs, 0, NULL, NULL), BLOBSTORE_EIO);
    fb->fail_read = 0;
    CHECK(value_is(bs, "k", "value"));
    blobstore_close(bs);
}

typedef struct {
    int unindexed;
    char unindexed_key[64];
} seen_problems;

static int note_problem(void *ctx, const blobstore_problem *p)
{
    seen_problems *sp = ctx;
    if (p->kind == BLOBSTORE_PROBLEM_UNINDEXED) {
        sp->unindexed++;
        snprintf(sp->unindexed_key, sizeof(sp->unindexed_key), "%s", p->key ? p->key : "");
    }
    return 0;
}

TEST(failed_old_blob_removal_leaves_orphan_for_repair)
{
    fault_blob *fb;
    fault_meta *fm;
    blobstore *bs = open_faulty(&fb, &fm);
    CHECK(bs != NULL);
    CHECK_EQ(blobstore_put(NULL, bs, "k", "old", 3, NULL), 0);
    fb->fail_remove = 1;
    CHECK_EQ(blobstore_put(NULL, bs, "k", "new", 3, NULL), 0);
    CHECK_EQ(blobstore_put(NULL, bs, "d", "del", 3, NULL), 0);
    CHECK_EQ(blobstore_delete(bs, "d"), 0);
    fb->fail_remove = 0;
    CHECK(value_is(bs, "k", "new"));
    CHECK_EQ(blobstore_exists(bs, "d"), 0);
    /* k's old blob is superseded (k's entry is newer, its blob there): an
     * orphan, removed. d's blob carries a key the index lacks: verify
     * cannot tell a delete whose blob removal failed from a put whose commit
     * the index lost, so it is reported unindexed and kept. */
    blobstore_verify_stats st;
    seen_problems sp = {0};
    CHECK_EQ(blobstore_verify(&st, bs, 0, note_problem, &sp), 0);
    CHECK_EQ(st.orphans, 1);
    CHECK_EQ(st.dangling, 0);
    CHECK_EQ(sp.unindexed, 1);
    CHECK_STR(sp.unindexed_key, "d");
    memset(&sp, 0, sizeof(sp));
    CHECK_EQ(blobstore_verify(&st, bs, BLOBSTORE_VERIFY_REPAIR, note_problem, &sp), 0);
    CHECK_EQ(st.repaired, 1);
    CHECK_EQ(sp.unindexed, 1);
    check_consistent(bs, 1);
    CHECK_EQ(blobstore_verify(&st, bs, 0, note_problem, &sp), 0);
    CHECK_EQ(sp.unindexed, 2); /* still there */
    blobstore_close(bs);
}

TEST(verify_rechecks_a_missing_blob_before_calling_it_dangling)
{
    /* A blob seen missing by verify's scan, there again when rechecked under
     * the write lock (as when a put elsewhere replaced the entry meanwhile):
     * not dangling, and repair removes nothing. */
    fault_blob *fb;
    fault_meta *fm;
    blobstore *bs = open_faulty(&fb, &fm);
    CHECK(bs != NULL);
    CHECK_EQ(blobstore_put(NULL, bs, "k", "value", 5, NULL), 0);
    fb->missing_once = 1;
    blobstore_verify_stats st;
    CHECK_EQ(blobstore_verify(&st, bs, BLOBSTORE_VERIFY_REPAIR, NULL, NULL), 0);
    CHECK_EQ(fb->missing_once, 0); /* the scan did see it missing */
    CHECK_EQ(st.dangling, 0);
    CHECK(value_is(bs, "k", "value"));
    blobstore_close(bs);
}

/* A read callback that hands out `left` bytes, then fails with errno text. */
typedef struct {
    size_t left;
} failing_src;

static int failing_read(void *ctx, void *buf, size_t cap, size_t *n)
{
    failing_src *f = ctx;
    if (!f->left)
        return bs__error_errno(EIO, "read");
    *n = cap < f->left ? cap : f->left;
    memset(buf, 'x', *n);
    f->left -= *n;
    return 0;
}

static int failing_write(void *ctx, const void *p, size_t n)
{
    (void)ctx, (void)p, (void)n;
    return bs__error_errno(ENOSPC, "write");
}

TEST(callback_errors_survive_cleanup_that_fails)
{
    /* The callback's own message (the errno text) is what the caller sees,
     * not what the blob writer's abort or the reader's close said after. */
    fault_blob *fb;
    fault_meta *fm;
    blobstore *bs = open_faulty(&fb, &fm);
    CHECK(bs != NULL);
    CHECK_EQ(blobstore_put(NULL, bs, "k", "old", 3, NULL), 0);
    fb->noisy_cleanup = 1;
    failing_src f = {3u << 20}; /* fails after some chunks went to the writer */
    CHECK_EQ(blobstore_put_stream(NULL, bs, "k", failing_read, &f, NULL), BLOBSTORE_ECALLBACK);
    CHECK_STR(blobstore_errmsg(), "read: Input/output error");
    CHECK(value_is(bs, "k", "old"));
    /* failing at once (nothing written yet) */
    f.left = 0;
    CHECK_EQ(blobstore_put_stream(NULL, bs, "k2", failing_read, &f, NULL), BLOBSTORE_ECALLBACK);
    CHECK_STR(blobstore_errmsg(), "read: Input/output error");
    CHECK_EQ(blobstore_get_stream(bs, "k", failing_write, NULL), BLOBSTORE_ECALLBACK);
    CHECK_STR(blobstore_errmsg(), "write: No space left on device");
    /* a blob read that fails keeps its message through the close too */
    fb->fail_read = 1;
    void *v;
    size_t vl;
    CHECK_EQ(blobstore_get(&v, &vl, bs, "k"), BLOBSTORE_EIO);
    CHECK_STR(blobstore_errmsg(), "injected read failure");
    fb->fail_read = 0;
    blobstore_close(bs);
}

static int silent_failure(void *ctx, void *buf, size_t cap, size_t *n)
{
    (void)ctx, (void)buf, (void)cap, (void)n;
    return -1;
}

TEST(a_callback_without_a_message_is_named)
{
    fault_blob *fb;
    fault_meta *fm;
    blobstore *bs = open_faulty(&fb, &fm);
    CHECK(bs != NULL);
    bs__error(BLOBSTORE_EIO, "stale message of an earlier call");
    CHECK_EQ(blobstore_put_stream(NULL, bs, "k", silent_failure, NULL, NULL), BLOBSTORE_ECALLBACK);
    CHECK_STR(blobstore_errmsg(), "the put's read callback failed");
    blobstore_close(bs);
}

static const test_case tests[] = {
    TEST_ENTRY(verify_rechecks_a_missing_blob_before_calling_it_dangling),
    TEST_ENTRY(custom_backends_pass_conformance),
    TEST_ENTRY(get_metadata_never_reads_the_blob),
    TEST_ENTRY(failed_blob_write_leaves_old_value),
    TEST_ENTRY(failed_blob_commit_leaves_old_value),
    TEST_ENTRY(failed_metadata_commit_removes_new_blob),
    TEST_ENTRY(failed_read_is_an_error_not_data),
    TEST_ENTRY(failed_old_blob_removal_leaves_orphan_for_repair),
    TEST_ENTRY(callback_errors_survive_cleanup_that_fails),
    TEST_ENTRY(a_callback_without_a_message_is_named),
};
TEST_MAIN(tests)
