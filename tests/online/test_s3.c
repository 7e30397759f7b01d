/*
 * test_s3.c - the S3 blob backend against a real Ceph RADOS Gateway, alone
 * and in stores with every metadata backend (JSON, SQLite, PostgreSQL),
 * with the servers stopped in the middle of puts, and two processes putting
 * one key. Run by tests/online/servers.sh --pg --rgw.
 */
#include "conformance.h"
#include "online.h"
#include "test.h"

#include <jansson.h>
#include <pthread.h>
#include <sys/resource.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

static char s3[1024], pg[1024];

static blobstore_blob_backend *s3_backend(const char *extra, int shard_chars)
{
    blobstore_blob_backend *be = NULL;
    online_s3_url(s3, sizeof(s3), extra);
    if (blobstore_blob_backend_s3_new(&be, s3, shard_chars) != 0)
        fprintf(stderr, "  s3: %s\n", blobstore_errmsg());
    return be;
}

/* A store on S3 with metadata in meta ("json", "sqlite" or "pg"); the URLs
 * are the last ones made unless fresh. */
static blobstore *open_store_in(const char *dir, const char *meta, int fresh, int ca)
{
    if (fresh) {
        online_s3_url(s3, sizeof(s3), NULL);
        if (strcmp(meta, "pg") == 0 && online_pg_fresh(pg, sizeof(pg)) != 0)
            return NULL;
    }
    blobstore_options o = BLOBSTORE_OPTIONS_INIT;
    o.cache_dir = dir;
    o.backend = strcmp(meta, "pg") == 0 ? pg : meta;
    o.blob_backend = s3;
    o.content_addressable = ca ? BLOBSTORE_YES : 0;
    blobstore *bs = NULL;
    if (blobstore_open(&bs, &o) != 0)
        fprintf(stderr, "  open: %s\n", blobstore_errmsg());
    return bs;
}

/* The same in a fresh local directory (settings and lock only, with S3). */
static blobstore *open_store(const char *meta, int fresh, int ca)
{
    return open_store_in(test_tmpdir(), meta, fresh, ca);
}

static void fill(unsigned char *p, size_t n, unsigned seed)
{
    uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        p[i] = (unsigned char)x;
    }
}

/* ---- the backend on its own ---- */

TEST(s3_blob_backend_contract)
{
    for (int shard = 0; shard <= 2; shard += 2) {
        blobstore_blob_backend *be = s3_backend(NULL, shard);
        CHECK(be != NULL);
        conformance_blob(be);
        be->free(be);
    }
}

/* Write n bytes in uneven pieces and commit as name. */
static int write_object(blobstore_blob_backend *be, const char *name, const unsigned char *p,
                        size_t n)
{
    blobstore_blob_writer *w;
    int rc = be->writer(&w, be);
    for (size_t off = 0, step = 999983; !rc && off < n; off += step)
        rc = w->write(w, p + off, n - off < step ? n - off : step);
    if (rc) {
        w->abort(w);
    } else if ((rc = w->commit(w, name, 1)) != 0) {
        fprintf(stderr, "  commit: %s\n", blobstore_errmsg());
    }
    return rc;
}

TEST(s3_empty_and_small_objects_read_back)
{
    blobstore_blob_backend *be = s3_backend(NULL, 2);
    CHECK(be != NULL);
    CHECK_EQ(write_object(be, "e0.blob", (const unsigned char *)"", 0), 0);
    bs_buf b = {0};
    CHECK_EQ(conformance_read_all(be, "e0.blob", &b), 0);
    CHECK_EQ(b.len, 0);
    /* Exactly one read's worth, and one byte more. */
    size_t sizes[2] = {4u << 20, (4u << 20) + 1};
    unsigned char *data = malloc(sizes[1]);
    CHECK(data != NULL);
    fill(data, sizes[1], 4);
    for (int i = 0; i < 2; i++) {
        char name[32];
        snprintf(name, sizeof(name), "e%d%d.blob", i + 1, i);
        CHECK_EQ(write_object(be, name, data, sizes[i]), 0);
        b.len = 0;
        CHECK_EQ(conformance_read_all(be, name, &b), 0);
        CHECK_EQ(b.len, sizes[i]);
        CHECK(memcmp(b.data, data, sizes[i]) == 0);
    }
    bs__buf_free(&b);
    free(data);
    blobstore_blob_reader *r;
    CHECK_EQ(be->reader(&r, be, "e9.blob"), BLOBSTORE_ENOTFOUND);
    be->free(be);
}

TEST(s3_large_objects_go_in_parts)
{
    size_t n = 21 * 1000 * 1000 + 17;
    unsigned char *data = malloc(n);
    CHECK(data != NULL);
    fill(data, n, 1);
    /* Multipart upload + one server-side copy; then, with a 5 MiB copy
     * limit, the copy made part by part (UploadPartCopy). */
    const char *variants[] = {NULL, "copy_limit=5242880"};
    for (int v = 0; v < 2; v++) {
        blobstore_blob_backend *be = s3_backend(variants[v], 2);
        CHECK(be != NULL);
        CHECK_EQ(write_object(be, "0123abcd-big.blob", data, n), 0);
        bs_buf b = {0};
        CHECK_EQ(conformance_read_all(be, "0123abcd-big.blob", &b), 0);
        CHECK_EQ(b.len, n);
        CHECK(memcmp(b.data, data, n) == 0);
        bs__buf_free(&b);
        conformance_listing l = {0, 0, ""};
        CHECK_EQ(be->list(be, conformance_list_cb, &l), 0);
        CHECK_EQ(l.objects, 1); /* the temporary object is gone */
        CHECK_EQ(l.temps, 0);
        be->free(be);
    }
    free(data);
}

typedef struct {
    char names[8][256];
    int n;
} temp_names;

static int collect_temps(void *ctx, const char *name, int is_temp)
{
    temp_names *t = ctx;
    if (is_temp && t->n < 8)
        snprintf(t->names[t->n++], sizeof(t->names[0]), "%s", name);
    return 0;
}

TEST(s3_interrupted_write_is_a_temp_and_nothing_else)
{
    blobstore_blob_backend *be = s3_backend(NULL, 2);
    CHECK(be != NULL);
    size_t n = 9 << 20; /* more than a part: the upload has started */
    unsigned char *data = malloc(n);
    CHECK(data != NULL);
    fill(data, n, 2);
    blobstore_blob_writer *w;
    CHECK_EQ(be->writer(&w, be), 0);
    CHECK_EQ(w->write(w, data, n), 0);
    CHECK_EQ(w->write(w, data, 100), 0);
    /* As if the writer's process died here: an unfinished upload, listed
     * as a temporary, never as an object. */
    temp_names t = {.n = 0};
    CHECK_EQ(be->list(be, collect_temps, &t), 0);
    CHECK_EQ(t.n, 1);
    conformance_listing l = {0, 0, ""};
    CHECK_EQ(be->list(be, conformance_list_cb, &l), 0);
    CHECK_EQ(l.objects, 0);
    CHECK_EQ(be->remove_temp(be, t.names[0]), 0);
    l = (conformance_listing){0, 0, ""};
    CHECK_EQ(be->list(be, conformance_list_cb, &l), 0);
    CHECK_EQ(l.temps, 0);
    w->abort(w); /* the upload is gone already: abort still frees */
    /* Abort of a live multipart write leaves nothing either. */
    CHECK_EQ(be->writer(&w, be), 0);
    CHECK_EQ(w->write(w, data, n), 0);
    w->abort(w);
    l = (conformance_listing){0, 0, ""};
    CHECK_EQ(be->list(be, conformance_list_cb, &l), 0);
    CHECK_EQ(l.temps + l.objects, 0);
    be->free(be);
    free(data);
}

TEST(s3_listings_go_page_by_page)
{
    /* Two keys per page: five objects and three unfinished uploads take
     * several pages of each listing. */
    blobstore_blob_backend *be = s3_backend("list_page_size=2", 2);
    CHECK(be != NULL);
    char name[32];
    for (int i = 0; i < 5; i++) {
        snprintf(name, sizeof(name), "%02xpage.blob", i * 40);
        CHECK_EQ(write_object(be, name, (const unsigned char *)name, strlen(name)), 0);
    }
    size_t n = 9 << 20;
    unsigned char *data = malloc(n);
    CHECK(data != NULL);
    fill(data, n, 3);
    blobstore_blob_writer *w[3];
    for (int i = 0; i < 3; i++) {
        CHECK_EQ(be->writer(&w[i], be), 0);
        CHECK_EQ(w[i]->write(w[i], data, n), 0);
    }
    conformance_listing l = {0, 0, ""};
    CHECK_EQ(be->list(be, conformance_list_cb, &l), 0);
    CHECK_EQ(l.objects, 5);
    CHECK_EQ(l.temps, 3);
    for (int i = 0; i < 3; i++)
        w[i]->abort(w[i]);
    free(data);
    be->free(be);
}

TEST(s3_young_objects_are_left_out_of_listings)
{
    /* Another machine's put commits its blob before its entry: a listing
     * for verify must not offer it as an orphan. */
    blobstore_blob_backend *be = NULL;
    online_s3_url(s3, sizeof(s3), NULL);
    char url[1100];
    snprintf(url, sizeof(url), "%.*s", (int)(strstr(s3, "&orphan_grace=0") - s3), s3);
    CHECK_EQ(blobstore_blob_backend_s3_new(&be, url, 2), 0);
    CHECK_EQ(write_object(be, "feed01.blob", (const unsigned char *)"x", 1), 0);
    CHECK_EQ(be->exists(be, "feed01.blob"), 1);
    conformance_listing l = {0, 0, ""};
    CHECK_EQ(be->list(be, conformance_list_cb, &l), 0);
    CHECK_EQ(l.objects, 0);
    be->free(be);
    /* The same bucket and prefix without a grace period lists it. */
    snprintf(url, sizeof(url), "%s", s3);
    CHECK_EQ(blobstore_blob_backend_s3_new(&be, url, 2), 0);
    CHECK_EQ(be->list(be, conformance_list_cb, &l), 0);
    CHECK_EQ(l.objects, 1);
    CHECK_STR(l.last, "feed01.blob");
    be->free(be);
}

TEST(s3_objects_are_sharded_and_foreign_keys_ignored)
{
    blobstore_blob_backend *be = s3_backend(NULL, 2);
    CHECK(be != NULL);
    CHECK_EQ(write_object(be, "abcdef.blob", (const unsigned char *)"hi", 2), 0);
    /* The object's key is PREFIX/ab/abcdef.blob: an unsharded backend on
     * PREFIX/ab sees it under its name. */
    char base[1024], sub[1100];
    snprintf(base, sizeof(base), "%s", s3);
    char *q = strchr(base, '?');
    CHECK(q != NULL);
    *q = 0;
    snprintf(sub, sizeof(sub), "%s/ab?%s", base, q + 1);
    blobstore_blob_backend *flat = NULL;
    CHECK_EQ(blobstore_blob_backend_s3_new(&flat, sub, 0), 0);
    CHECK_EQ(flat->exists(flat, "abcdef.blob"), 1);
    flat->free(flat);
    /* Objects under the prefix that do not have the layout (PREFIX/zz.blob,
     * PREFIX/ab/other) are not ours: never listed, so never "orphans". */
    snprintf(sub, sizeof(sub), "%s?%s", base, q + 1);
    CHECK_EQ(blobstore_blob_backend_s3_new(&flat, sub, 0), 0);
    CHECK_EQ(write_object(flat, "zz.blob", (const unsigned char *)"z", 1), 0);
    flat->free(flat);
    conformance_listing l = {0, 0, ""};
    CHECK_EQ(be->list(be, conformance_list_cb, &l), 0);
    CHECK_EQ(l.objects, 1);
    CHECK_STR(l.last, "abcdef.blob");
    be->free(be);
}

TEST(s3_errors_are_clear)
{
    blobstore_blob_backend *be = NULL;
    const char *ep = getenv("BLOBSTORE_S3_ENDPOINT");
    CHECK(ep != NULL);
    char url[1024];
    snprintf(url, sizeof(url), "s3://blobstore-tests/x?endpoint=%s&colour=blue", ep);
    CHECK_EQ(blobstore_blob_backend_s3_new(&be, url, 2), BLOBSTORE_EINVAL);
    CHECK(strstr(blobstore_errmsg(), "unknown parameter \"colour\"") != NULL);
    snprintf(url, sizeof(url), "s3://Upper_Case?endpoint=%s", ep);
    CHECK_EQ(blobstore_blob_backend_s3_new(&be, url, 2), BLOBSTORE_EINVAL);
    CHECK_EQ(blobstore_blob_backend_s3_new(&be, "s3:///nobucket", 2), BLOBSTORE_EINVAL);
    CHECK_EQ(blobstore_blob_backend_s3_new(&be, "http://x", 2), BLOBSTORE_EINVAL);
    /* Wrong credentials: refused by the server, said so. */
    char *secret = strdup(getenv("AWS_SECRET_ACCESS_KEY"));
    setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret", 1);
    snprintf(url, sizeof(url), "s3://blobstore-tests/x?endpoint=%s", ep);
    int rc = blobstore_blob_backend_s3_new(&be, url, 2);
    setenv("AWS_SECRET_ACCESS_KEY", secret, 1);
    free(secret);
    CHECK_EQ(rc, BLOBSTORE_EIO);
    CHECK(strstr(blobstore_errmsg(), "403") != NULL);
    /* No credentials at all. */
    char *access = strdup(getenv("AWS_ACCESS_KEY_ID"));
    unsetenv("AWS_ACCESS_KEY_ID");
    rc = blobstore_blob_backend_s3_new(&be, url, 2);
    setenv("AWS_ACCESS_KEY_ID", access, 1);
    free(access);
    CHECK_EQ(rc, BLOBSTORE_EINVAL);
    CHECK(strstr(blobstore_errmsg(), "AWS_ACCESS_KEY_ID") != NULL);
    /* Nothing listening: an I/O error naming the request. */
    CHECK_EQ(blobstore_blob_backend_s3_new(&be, "s3://b?endpoint=http://127.0.0.1:1", 2),
             BLOBSTORE_EIO);
    CHECK(strstr(blobstore_errmsg(), "s3: HEAD http://127.0.0.1:1/b/") != NULL);
}

/* The gateway's log level (its admin socket), for the test below. */
static int rgw_debug(const char *level)
{
    const char *dir = getenv("BLOBSTORE_RGW_DIR");
    char cmd[2048];
    if (!dir)
        return -1;
    snprintf(cmd, sizeof(cmd),
             "ceph --admin-daemon '%s/run/client.rgw.asok' config set debug_rgw %s >/dev/null", dir,
             level);
    return system(cmd) == 0 ? 0 : -1;
}

/* What the gateway logged of the requests' x-amz-content-sha256 since
 * offset: how many said UNSIGNED-PAYLOAD, how many the SHA-256 of a body
 * that is not empty. */
static void payload_hashes(const char *log, long offset, int *unsigned_n, int *signed_n)
{
    static const char tag[] = "x>> x-amz-content-sha256:";
    static const char empty[] = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    *unsigned_n = *signed_n = 0;
    FILE *f = fopen(log, "r");
    if (!f)
        return;
    fseek(f, offset, SEEK_SET);
    char line[4096];
    while (fgets(line, sizeof(line), f)) {
        const char *v = strstr(line, tag);
        if (!v)
            continue;
        v += sizeof(tag) - 1;
        if (strncmp(v, "UNSIGNED-PAYLOAD", 16) == 0)
            (*unsigned_n)++;
        else if (strspn(v, "0123456789abcdef") == 64 && strncmp(v, empty, 64) != 0)
            (*signed_n)++;
    }
    fclose(f);
}

/* Object bytes to a gateway on the loopback interface go as
 * UNSIGNED-PAYLOAD (no SHA-256 of their own, by us nor the gateway: the
 * store's checksums cover them, docs/s3.md); sign_payload=always signs
 * them as over any plain-http network. Seen in the gateway's own log. */
TEST(s3_object_bytes_go_unsigned_only_where_chosen)
{
    const char *dir = getenv("BLOBSTORE_RGW_DIR");
    CHECK(dir != NULL);
    char log[4096];
    snprintf(log, sizeof(log), "%s/log/client.rgw.log", dir);
    size_t n = 17 << 20; /* three parts */
    unsigned char *data = malloc(n);
    CHECK(data != NULL);
    fill(data, n, 12);
    const char *variants[] = {NULL, "sign_payload=auto", "sign_payload=always"};
    for (int v = 0; v < 3; v++) {
        blobstore_blob_backend *be = s3_backend(variants[v], 2);
        CHECK(be != NULL);
        struct stat st;
        long offset = stat(log, &st) == 0 ? (long)st.st_size : 0;
        CHECK_EQ(rgw_debug("10/10"), 0);
        int rc1 = write_object(be, "0a0a0a0a-parts.blob", data, n);
        int rc2 = write_object(be, "0b0b0b0b-small.blob", data, 1000);
        CHECK_EQ(rgw_debug("1/5"), 0);
        CHECK_EQ(rc1, 0);
        CHECK_EQ(rc2, 0);
        int unsigned_n, signed_n;
        payload_hashes(log, offset, &unsigned_n, &signed_n);
        fprintf(stderr, "  %s: %d unsigned, %d signed\n", variants[v] ? variants[v] : "(default)",
                unsigned_n, signed_n);
        if (v < 2) { /* 127.0.0.1: three parts and one object, unsigned */
            CHECK(unsigned_n >= 4);
        } else {
            CHECK_EQ(unsigned_n, 0);
            CHECK(signed_n >= 4);
        }
        bs_buf b = {0};
        CHECK_EQ(conformance_read_all(be, "0a0a0a0a-parts.blob", &b), 0);
        CHECK(b.len == n && memcmp(b.data, data, n) == 0);
        b.len = 0;
        CHECK_EQ(conformance_read_all(be, "0b0b0b0b-small.blob", &b), 0);
        CHECK(b.len == 1000 && memcmp(b.data, data, 1000) == 0);
        bs__buf_free(&b);
        be->free(be);
    }
    free(data);
    blobstore_blob_backend *be = NULL;
    const char *ep = getenv("BLOBSTORE_S3_ENDPOINT");
    char url[1024];
    snprintf(url, sizeof(url), "s3://blobstore-tests/x?endpoint=%s&sign_payload=never", ep);
    CHECK_EQ(blobstore_blob_backend_s3_new(&be, url, 2), BLOBSTORE_EINVAL);
    CHECK(strstr(blobstore_errmsg(), "sign_payload must be auto or always") != NULL);
}

TEST(s3_bucket_is_created_when_missing)
{
    const char *ep = getenv("BLOBSTORE_S3_ENDPOINT");
    char url[1024];
    snprintf(url, sizeof(url), "s3://fresh-bucket-%ld/p?endpoint=%s&orphan_grace=0", (long)getpid(),
             ep);
    blobstore_blob_backend *be = NULL;
    CHECK_EQ(blobstore_blob_backend_s3_new(&be, url, 2), 0);
    CHECK_EQ(write_object(be, "aa.blob", (const unsigned char *)"a", 1), 0);
    CHECK_EQ(be->exists(be, "aa.blob"), 1);
    be->free(be);
}

/* ---- stores ---- */

TEST(s3_store_conformance_every_metadata_backend)
{
    const char *metas[] = {"json", "sqlite", "pg"};
    for (int i = 0; i < 3; i++) {
        blobstore *bs = open_store(metas[i], 1, 0);
        CHECK(bs != NULL);
        conformance_store(bs);
        blobstore_close(bs);
    }
    blobstore *bs = open_store("pg", 1, 1);
    CHECK(bs != NULL);
    conformance_store_ca(bs);
    blobstore_close(bs);
}

/* The index rebuilt from the blobs on S3, with each metadata backend: local
 * index files deleted (JSON, SQLite), or a fresh PostgreSQL database (and a
 * fresh local directory) over the same bucket prefix. */
typedef struct {
    char dir[4200];
    const char *meta;
    int gen;
} s3_rebuild_ctx;

static blobstore *s3_rebuild_open(void *ctx, int rebuilding)
{
    s3_rebuild_ctx *c = ctx;
    blobstore_options o = BLOBSTORE_OPTIONS_INIT;
    o.cache_dir = c->dir;
    o.backend = strcmp(c->meta, "pg") == 0 ? pg : c->meta;
    o.blob_backend = s3;
    o.durability = BLOBSTORE_DURABILITY_RELAXED;
    blobstore *bs = NULL;
    if ((rebuilding ? blobstore_open_rebuilding : blobstore_open)(&bs, &o) != 0)
        return NULL;
    return bs;
}

static void s3_rebuild_lose(void *ctx)
{
    s3_rebuild_ctx *c = ctx;
    if (strcmp(c->meta, "pg") == 0) {
        if (online_pg_fresh(pg, sizeof(pg)) != 0)
            fprintf(stderr, "  no fresh database\n");
        snprintf(c->dir, sizeof(c->dir), "%s/%s-%d", test_tmpdir(), c->meta, ++c->gen);
        return;
    }
    static const char *const files[] = {"cache_metadata.json", "cache_metadata.json.journal",
                                        "cache_metadata.db", "cache_metadata.db-wal",
                                        "cache_metadata.db-shm"};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        char p[4400];
        snprintf(p, sizeof(p), "%s/%s", c->dir, files[i]);
        unlink(p);
    }
}

TEST(s3_index_is_rebuilt_from_the_blobs)
{
    const char *metas[] = {"json", "sqlite", "pg"};
    for (int i = 0; i < 3; i++) {
        online_s3_url(s3, sizeof(s3), NULL);
        if (strcmp(metas[i], "pg") == 0)
            CHECK_EQ(online_pg_fresh(pg, sizeof(pg)), 0);
        s3_rebuild_ctx c = {.meta = metas[i], .gen = 0};
        snprintf(c.dir, sizeof(c.dir), "%s/%s-0", test_tmpdir(), metas[i]);
        conformance_rebuild(s3_rebuild_open, s3_rebuild_lose, &c, 300);
    }
}

/* Keys sharing one content-addressed blob on S3 (#13): each has its key
 * record (an object of its own), read by the rebuild's parallel reads, so
 * the index rebuilt into each metadata backend restores every key with its
 * own metadata; a key deleted before stays deleted. */
static blobstore *shared_open(s3_rebuild_ctx *c, int rebuilding)
{
    blobstore_options o = BLOBSTORE_OPTIONS_INIT;
    o.cache_dir = c->dir;
    o.backend = strcmp(c->meta, "pg") == 0 ? pg : c->meta;
    o.blob_backend = s3;
    o.content_addressable = BLOBSTORE_YES;
    blobstore *bs = NULL;
    if ((rebuilding ? blobstore_open_rebuilding : blobstore_open)(&bs, &o) != 0)
        fprintf(stderr, "  open: %s\n", blobstore_errmsg());
    return bs;
}

static int shared_has(blobstore *bs, const char *key, const unsigned char *v, size_t n)
{
    void *got = NULL;
    size_t len = 0;
    char *m = NULL, want[64];
    int ok = blobstore_get(&got, &len, bs, key) == 0 && len == n && memcmp(got, v, n) == 0;
    blobstore_free(got);
    snprintf(want, sizeof(want), "\"metadata\":{\"owner\":\"%s\"}", key);
    ok = ok && blobstore_get_metadata(&m, bs, key) == 0 && strstr(m, want) != NULL;
    blobstore_free(m);
    return ok;
}

TEST(s3_shared_keys_are_rebuilt)
{
    const char *metas[] = {"json", "sqlite", "pg"};
    static unsigned char x[6000], y[6000];
    fill(x, sizeof(x), 11);
    fill(y, sizeof(y), 12);
    for (int i = 0; i < 3; i++) {
        online_s3_url(s3, sizeof(s3), NULL);
        if (strcmp(metas[i], "pg") == 0)
            CHECK_EQ(online_pg_fresh(pg, sizeof(pg)), 0);
        s3_rebuild_ctx c = {.meta = metas[i], .gen = 0};
        snprintf(c.dir, sizeof(c.dir), "%s/shared-%s-0", test_tmpdir(), metas[i]);
        blobstore *bs = shared_open(&c, 0);
        CHECK(bs != NULL);
        const char *keys[] = {"a", "b", "c", "d", "u"};
        for (int k = 0; k < 5; k++) {
            char meta[64];
            snprintf(meta, sizeof(meta), "{\"owner\": \"%s\"}", keys[k]);
            blobstore_put_options po = BLOBSTORE_PUT_OPTIONS_INIT;
            po.metadata = meta;
            CHECK_EQ(blobstore_put_ex(NULL, bs, keys[k], k == 4 ? y : x, sizeof(x), &po), 0);
        }
        CHECK_EQ(blobstore_delete(bs, "a"), 0); /* the first to put x */
        blobstore_close(bs);
        s3_rebuild_lose(&c);
        CHECK((bs = shared_open(&c, 1)) != NULL);
        blobstore_rebuild_stats st;
        CHECK_EQ(blobstore_rebuild_index(&st, bs, NULL, NULL), 0);
        CHECK_EQ(st.restored, 4);
        CHECK_EQ(blobstore_exists(bs, "a"), 0);
        CHECK(shared_has(bs, "b", x, sizeof(x)));
        CHECK(shared_has(bs, "c", x, sizeof(x)));
        CHECK(shared_has(bs, "d", x, sizeof(x)));
        CHECK(shared_has(bs, "u", y, sizeof(y)));
        blobstore_verify_stats vs;
        CHECK_EQ(blobstore_verify(&vs, bs, 0, NULL, NULL), 0);
        CHECK_EQ(vs.ok, 4);
        CHECK_EQ(vs.orphans, 0);
        blobstore_close(bs);
    }
}

/* 10,000 entries put once on S3 (16 threads), then the index rebuilt from
 * the blobs into each metadata backend in turn (a fresh local directory, a
 * fresh PostgreSQL database): every key back with its bytes and metadata,
 * files stored as they are (sidecars) too. The rebuild reads the blobs 16 at
 * a time, each from its two ends only. */
#define WIDE_N       10000
#define WIDE_RAW     3
#define WIDE_THREADS 16
#define WIDE_LEN     3000

typedef struct {
    blobstore *bs;
    size_t from, to;
    int check; /* 0: put, 1: get and compare */
    int failed;
    char err[512];
} wide_job;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *wide_work(void *arg)
{
    wide_job *j = arg;
    unsigned char v[WIDE_LEN];
    char key[32], meta[64];
    for (size_t i = j->from; i < j->to && !j->failed; i++) {
        snprintf(key, sizeof(key), "w/%05zu", i);
        snprintf(meta, sizeof(meta), "{\"i\": %zu, \"tag\": \"t%zu\"}", i, i % 7);
        fill(v, sizeof(v), (unsigned)i + 1);
        if (!j->check) {
            blobstore_put_options po = BLOBSTORE_PUT_OPTIONS_INIT;
            po.metadata = meta;
            if (blobstore_put_ex(NULL, j->bs, key, v, sizeof(v), &po) != 0) {
                j->failed = 1;
                snprintf(j->err, sizeof(j->err), "put %s: %s", key, blobstore_errmsg());
            }
            continue;
        }
        void *got = NULL;
        size_t n = 0;
        char *m = NULL;
        int rc = blobstore_get(&got, &n, j->bs, key);
        if (rc || n != sizeof(v) || memcmp(got, v, n) != 0) {
            j->failed = 1;
            snprintf(j->err, sizeof(j->err), "get %s: %s", key, rc ? blobstore_errmsg() : "bytes");
        } else if (blobstore_get_metadata(&m, j->bs, key) != 0) {
            j->failed = 1;
            snprintf(j->err, sizeof(j->err), "metadata %s: %s", key, blobstore_errmsg());
        } else {
            json_error_t e;
            json_t *doc = json_loads(m, 0, &e), *want = json_loads(meta, 0, &e);
            if (!json_equal(json_object_get(doc, "metadata"), want)) {
                j->failed = 1;
                snprintf(j->err, sizeof(j->err), "metadata of %s: %s", key, m);
            }
            json_decref(doc);
            json_decref(want);
        }
        blobstore_free(got);
        blobstore_free(m);
    }
    return NULL;
}

/* Put (check 0) or get and compare (check 1) every entry, on 16 threads. */
static int wide_all(blobstore *bs, int check)
{
    pthread_t t[WIDE_THREADS];
    wide_job j[WIDE_THREADS];
    for (int i = 0; i < WIDE_THREADS; i++) {
        j[i] = (wide_job){bs,
                          WIDE_N * (size_t)i / WIDE_THREADS,
                          WIDE_N * (size_t)(i + 1) / WIDE_THREADS,
                          check,
                          0,
                          ""};
        if (pthread_create(&t[i], NULL, wide_work, &j[i]) != 0)
            return -1;
    }
    int failed = 0;
    for (int i = 0; i < WIDE_THREADS; i++) {
        pthread_join(t[i], NULL);
        if (j[i].failed && !failed++)
            fprintf(stderr, "  %s\n", j[i].err);
    }
    return failed;
}

TEST(s3_index_of_10000_entries_is_rebuilt_into_every_metadata_backend)
{
    online_s3_url(s3, sizeof(s3), NULL);
    char dir[4200];
    snprintf(dir, sizeof(dir), "%s/put", test_tmpdir());
    blobstore *bs = open_store_in(dir, "json", 0, 0);
    CHECK(bs != NULL);
    double t0 = now_s();
    CHECK_EQ(wide_all(bs, 0), 0);
    unsigned char v[WIDE_LEN];
    for (int i = 0; i < WIDE_RAW; i++) { /* files stored as they are: sidecars */
        char key[32];
        snprintf(key, sizeof(key), "raw/%d", i);
        fill(v, sizeof(v), 90000u + (unsigned)i);
        blobstore_put_options po = BLOBSTORE_PUT_OPTIONS_INIT;
        po.raw = 1;
        po.format = "rawtest";
        po.extension = ".rawt";
        CHECK_EQ(blobstore_put_ex(NULL, bs, key, v, 1000 + (size_t)i, &po), 0);
    }
    double t_put = now_s() - t0;
    blobstore_close(bs);
    const char *metas[] = {"json", "sqlite", "pg"};
    for (int m = 0; m < 3; m++) {
        if (strcmp(metas[m], "pg") == 0)
            CHECK_EQ(online_pg_fresh(pg, sizeof(pg)), 0);
        snprintf(dir, sizeof(dir), "%s/rebuilt-%s", test_tmpdir(), metas[m]);
        blobstore_options o = BLOBSTORE_OPTIONS_INIT;
        o.cache_dir = dir;
        o.backend = strcmp(metas[m], "pg") == 0 ? pg : metas[m];
        o.blob_backend = s3;
        o.durability = BLOBSTORE_DURABILITY_RELAXED;
        bs = NULL;
        CHECK_EQ(blobstore_open_rebuilding(&bs, &o), 0);
        CHECK(bs != NULL);
        double t1 = now_s();
        blobstore_rebuild_stats st;
        CHECK_EQ(blobstore_rebuild_index(&st, bs, NULL, NULL), 0);
        double t_rb = now_s() - t1;
        CHECK_EQ(st.restored, WIDE_N + WIDE_RAW);
        CHECK_EQ(st.blobs, WIDE_N + 2 * WIDE_RAW);
        CHECK_EQ(st.unreadable, 0);
        blobstore_list l;
        CHECK_EQ(blobstore_list_keys(&l, bs, NULL, NULL), 0);
        CHECK_EQ(l.count, WIDE_N + WIDE_RAW);
        blobstore_list_free(&l);
        t1 = now_s();
        CHECK_EQ(wide_all(bs, 1), 0);
        for (int i = 0; i < WIDE_RAW; i++) {
            char key[32];
            snprintf(key, sizeof(key), "raw/%d", i);
            void *got = NULL;
            size_t n = 0;
            fill(v, sizeof(v), 90000u + (unsigned)i);
            CHECK_EQ(blobstore_get(&got, &n, bs, key), 0);
            CHECK(n == 1000 + (size_t)i && memcmp(got, v, n) == 0);
            blobstore_free(got);
        }
        fprintf(stderr,
                "  %d entries on S3 (put on %d threads in %.1f s): rebuilt into %s in %.1f s, "
                "every key read back and compared in %.1f s\n",
                WIDE_N, WIDE_THREADS, t_put, metas[m], t_rb, now_s() - t1);
        blobstore_close(bs);
    }
}

TEST(s3_store_arrays_and_tables)
{
    blobstore *bs = open_store("pg", 1, 0);
    CHECK(bs != NULL);
    enum { R = 300, C = 200 };
    double *v = malloc(sizeof(double) * R * C);
    CHECK(v != NULL);
    for (int i = 0; i < R * C; i++)
        v[i] = i * 0.5;
    blobstore_array a = {.dtype = "<f8", .ndim = 2, .shape = {R, C}};
    a.data = v;
    a.nbytes = sizeof(double) * R * C;
    CHECK_EQ(blobstore_array_put(NULL, bs, "arr", &a, NULL), 0);
    blobstore_array s;
    int64_t lo[2] = {10, 20}, hi[2] = {12, 25};
    CHECK_EQ(blobstore_array_get_slice(&s, bs, "arr", lo, hi), 0);
    CHECK_EQ(s.shape[0], 2);
    CHECK_EQ(s.shape[1], 5);
    CHECK(((double *)s.data)[6] == v[11 * C + 21]);
    blobstore_array_clear(&s);
    free(v);
    char *m;
    CHECK_EQ(blobstore_get_metadata(&m, bs, "arr"), 0);
    CHECK(strstr(m, "\"format\":\"b2nd\"") != NULL);
    CHECK(strstr(m, ".b2nd\"") != NULL);
    blobstore_free(m);
    blobstore_table t;
    const char csv[] = "name,score\nada,1.5\nbob,2.5\n";
    CHECK_EQ(blobstore_table_from_csv(&t, csv, sizeof(csv) - 1, NULL), 0);
    CHECK_EQ(blobstore_table_put(NULL, bs, "tab", &t, NULL), 0);
    blobstore_table_clear(&t);
    const char *cols[] = {"score"};
    CHECK_EQ(blobstore_table_get(&t, bs, "tab", cols, 1), 0);
    CHECK_EQ(t.ncols, 1);
    CHECK_EQ(t.nrows, 2);
    CHECK(((double *)t.cols[0].values)[1] == 2.5);
    blobstore_table_clear(&t);
    blobstore_verify_stats st;
    CHECK_EQ(blobstore_verify(&st, bs, 0, NULL, NULL), 0);
    CHECK_EQ(st.ok, 2);
    CHECK_EQ(st.corrupt + st.dangling + st.orphans + st.temps, 0);
    blobstore_close(bs);
}

TEST(s3_slices_read_parts_of_objects)
{
    conformance_counter c = {0, 0, -1};
    blobstore_blob_backend *s3be = s3_backend(NULL, 2), *be;
    CHECK(s3be != NULL);
    CHECK((be = conformance_counting_blob(s3be, &c)) != NULL);
    CHECK_EQ(online_pg_fresh(pg, sizeof(pg)), 0);
    blobstore_options o = BLOBSTORE_OPTIONS_INIT;
    o.cache_dir = test_tmpdir();
    o.backend = pg;
    o.blob_backend_impl = be;
    blobstore *bs = NULL;
    CHECK_EQ(blobstore_open(&bs, &o), 0);
    enum { R = 4000, C = 1000 }; /* 32 MB in 4 MB chunks */
    double *v = malloc(sizeof(double) * R * C);
    CHECK(v != NULL);
    unsigned char *noise = (unsigned char *)v;
    fill(noise, sizeof(double) * R * C, 5);
    for (size_t i = 0; i < (size_t)R * C; i++)
        if (v[i] != v[i])
            v[i] = 0; /* no NaNs: compared with == below */
    blobstore_array a = {.dtype = "<f8", .ndim = 2, .shape = {R, C}};
    a.data = v;
    a.nbytes = sizeof(double) * R * C;
    CHECK_EQ(blobstore_array_put(NULL, bs, "a", &a, NULL), 0);
    c.bytes_read = 0;
    blobstore_array sl;
    int64_t lo[2] = {1500, 0}, hi[2] = {1502, C};
    CHECK_EQ(blobstore_array_get_slice(&sl, bs, "a", lo, hi), 0);
    CHECK(c.ranges > 0);
    CHECK(c.bytes_read < a.nbytes / 4); /* ranged GETs, not the whole object */
    CHECK(memcmp(sl.data, v + (size_t)1500 * C, sizeof(double) * 2 * C) == 0);
    blobstore_array_clear(&sl);
    free(v);
    blobstore_close(bs);
}

/* An object no entry refers to, under the store's prefix (as a crashed
 * put leaves), and the store's verify of it. */
static void orphan_seen(const char *meta, int want_seen)
{
    char url[1100];
    online_s3_url(s3, sizeof(s3), NULL);
    snprintf(url, sizeof(url), "%.*s", (int)(strstr(s3, "&orphan_grace=0") - s3), s3);
    snprintf(s3, sizeof(s3), "%s", url); /* the default grace */
    blobstore_blob_backend *raw = NULL;
    CHECK_EQ(blobstore_blob_backend_s3_new(&raw, s3, 2), 0);
    CHECK_EQ(write_object(raw, "0123456789abcdef0123456789abcdef-0123456789abcdef.blob",
                          (const unsigned char *)"o", 1),
             0);
    raw->free(raw);
    if (strcmp(meta, "pg") == 0)
        CHECK_EQ(online_pg_fresh(pg, sizeof(pg)), 0);
    blobstore *bs = open_store(meta, 0, 0);
    CHECK(bs != NULL);
    blobstore_verify_stats st;
    CHECK_EQ(blobstore_verify(&st, bs, BLOBSTORE_VERIFY_REPAIR, NULL, NULL), 0);
    CHECK_EQ(st.orphans, want_seen);
    CHECK_EQ(st.repaired, want_seen);
    blobstore_close(bs);
}

TEST(s3_orphans_wait_for_other_machines_only_when_shared)
{
    /* A local index: every writer is here, behind the store lock, so a
     * fresh orphan is removed at once. PostgreSQL: another machine's put may
     * be about to reference it, so it waits for orphan_grace. */
    orphan_seen("sqlite", 1);
    orphan_seen("pg", 0);
}

TEST(s3_store_settings_live_in_postgresql)
{
    blobstore *a = open_store("pg", 1, 1);
    CHECK(a != NULL);
    CHECK_EQ(blobstore_put(NULL, a, NULL, "shared bytes", 12, "{\"v\": 1}"), 0);
    blobstore_close(a);
    /* Another machine: a fresh directory and only the PostgreSQL URL. */
    blobstore_options o = BLOBSTORE_OPTIONS_INIT;
    o.cache_dir = test_tmpdir();
    o.backend = pg;
    blobstore *b = NULL;
    CHECK_EQ(blobstore_open(&b, &o), 0);
    char *json;
    CHECK_EQ(blobstore_settings(&json, b), 0);
    CHECK(strstr(json, "\"blob_backend\":\"s3://") != NULL);
    CHECK(strstr(json, "\"content_addressable\":true") != NULL);
    blobstore_free(json);
    blobstore_list l;
    CHECK_EQ(blobstore_list_keys(&l, b, NULL, NULL), 0);
    CHECK_EQ(l.count, 1);
    void *out;
    size_t n;
    CHECK_EQ(blobstore_get(&out, &n, b, l.keys[0]), 0);
    CHECK(n == 12 && memcmp(out, "shared bytes", 12) == 0);
    blobstore_free(out);
    blobstore_list_free(&l);
    blobstore_close(b);
    /* Settings that contradict the recorded ones are refused, by name. */
    o.cache_dir = test_tmpdir();
    o.blob_backend = "filesystem";
    CHECK_EQ(blobstore_open(&b, &o), BLOBSTORE_ECONFLICT);
    CHECK(strstr(blobstore_errmsg(), "store in PostgreSQL was created with blob backend s3://") !=
          NULL);
    o.blob_backend = NULL;
    o.content_addressable = BLOBSTORE_NO;
    o.cache_dir = test_tmpdir();
    CHECK_EQ(blobstore_open(&b, &o), BLOBSTORE_ECONFLICT);
    /* What PostgreSQL records names no connection string (no password). */
    blobstore_meta_backend *m;
    CHECK_EQ(blobstore_meta_backend_pg_new(&m, pg), 0);
    char *text = NULL;
    CHECK_EQ(m->ctl(m, BLOBSTORE_META_CTL_SETTINGS_GET, &text), 0);
    CHECK(text != NULL);
    CHECK(strstr(text, "\"backend\":\"postgresql\"") != NULL);
    CHECK(strstr(text, "127.0.0.1:") == NULL || strstr(text, "endpoint=") != NULL);
    CHECK(strstr(text, "postgresql://") == NULL);
    free(text);
    m->free(m);
}

/* ---- faults ---- */

/* tests/online/faultproxy.py in front of the gateway, acting out script on
 * its connections in turn; its pid, its port in url_out's endpoint (the
 * same bucket and prefix as url). */
static pid_t fault_proxy(const char *script, const char *url, char *url_out, size_t cap,
                         const char *log)
{
    const char *src = getenv("BLOBSTORE_SOURCE_DIR"), *ep = getenv("BLOBSTORE_S3_ENDPOINT");
    const char *colon = ep ? strrchr(ep, ':') : NULL;
    if (!src || !colon)
        return -1;
    char prog[2048], port_file[2048];
    snprintf(prog, sizeof(prog), "%s/tests/online/faultproxy.py", src);
    snprintf(port_file, sizeof(port_file), "%s.port", log);
    unlink(port_file);
    pid_t pid = fork();
    if (pid == 0) {
        execl("/usr/bin/python3", "python3", prog, colon + 1, script, port_file, log, (char *)NULL);
        _exit(127);
    }
    int port = 0;
    for (int i = 0; i < 200 && port == 0; i++) {
        FILE *f = fopen(port_file, "r");
        if (!f || fscanf(f, "%d", &port) != 1)
            port = 0;
        if (f)
            fclose(f);
        if (!port)
            usleep(50000);
    }
    if (!port) {
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
        return -1;
    }
    /* s3://bucket/prefix?endpoint=E&rest: E replaced */
    const char *e = strstr(url, "endpoint="), *amp = e ? strchr(e, '&') : NULL;
    snprintf(url_out, cap, "%.*sendpoint=http://127.0.0.1:%d%s", (int)(e - url), url, port,
             amp ? amp : "");
    return pid;
}

static void proxy_stop(pid_t pid)
{
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
}

/* A read whose answer breaks off midway resumes where it stopped (a ranged
 * GET), on a new connection each time, and returns the object's bytes; one
 * whose connections keep breaking before any byte fails with an error after
 * its attempts. */
TEST(s3_reads_resume_where_a_broken_answer_stopped)
{
    blobstore_blob_backend *be = s3_backend(NULL, 2);
    CHECK(be != NULL);
    size_t n = (10 << 20) + 123;
    unsigned char *data = malloc(n);
    CHECK(data != NULL);
    fill(data, n, 21);
    const char *name = "0c0c0c0c-resume.blob";
    CHECK_EQ(write_object(be, name, data, n), 0);
    char url[1024], log[4096];
    snprintf(log, sizeof(log), "%s/proxy.log", test_tmpdir());
    /* the first connection also carries the bucket's HEAD (well under 3 MB) */
    pid_t proxy = fault_proxy("cut3000000,cut3000000,pass", s3, url, sizeof(url), log);
    CHECK(proxy > 0);
    blobstore_blob_backend *via = NULL;
    int rc = blobstore_blob_backend_s3_new(&via, url, 2);
    bs_buf b = {0};
    if (!rc)
        rc = conformance_read_all(via, name, &b);
    if (rc)
        fprintf(stderr, "  read: %s\n", blobstore_errmsg());
    proxy_stop(proxy);
    CHECK_EQ(rc, 0);
    CHECK_EQ(b.len, n);
    CHECK(memcmp(b.data, data, n) == 0);
    bs__buf_free(&b);
    FILE *f = fopen(log, "r");
    char seen[256] = "", line[64];
    while (f && fgets(line, sizeof(line), f))
        strncat(seen, line, sizeof(seen) - strlen(seen) - 1);
    if (f)
        fclose(f);
    CHECK_STR(seen, "1 cut3000000\n2 cut3000000\n3 pass\n");
    via->free(via);
    /* every connection broken before a byte of the object: an error, after
     * six attempts (the HEAD of the bucket goes through the first) */
    proxy = fault_proxy("cut300,cut100,cut100,cut100,cut100,cut100,cut100,cut100", s3, url,
                        sizeof(url), log);
    CHECK(proxy > 0);
    via = NULL;
    rc = blobstore_blob_backend_s3_new(&via, url, 2);
    blobstore_blob_reader *r = NULL;
    int rrc = rc ? rc : via->reader(&r, via, name);
    size_t got = 0;
    unsigned char *buf = malloc(1 << 20);
    CHECK(buf != NULL);
    while (rrc == 0 && r) { /* the first answer may get through: then a later one breaks */
        size_t k = 0;
        rrc = r->read(r, buf, 1 << 20, &k);
        if (rrc == 0 && k == 0)
            break;
        got += k;
    }
    char msg[1024];
    snprintf(msg, sizeof(msg), "%s", blobstore_errmsg());
    if (r)
        r->close(r);
    proxy_stop(proxy);
    CHECK_EQ(rc, 0);
    CHECK_EQ(rrc, BLOBSTORE_EIO);
    CHECK(got < n);
    CHECK(strstr(msg, "after 6 attempts") != NULL);
    free(buf);
    via->free(via);
    be->free(be);
    free(data);
}

static int list_raw(void *ctx, const char *name, int is_temp);

/* An object damaged or cut short on the server reads as corrupt, never as
 * other bytes: a byte changed in the middle, the trailer missing, half of
 * it gone. */
TEST(s3_damaged_or_truncated_objects_read_as_corrupt)
{
    blobstore *bs = open_store("sqlite", 1, 0);
    CHECK(bs != NULL);
    size_t n = 20 << 20; /* a multipart upload */
    unsigned char *data = malloc(n);
    CHECK(data != NULL);
    fill(data, n, 31);
    CHECK_EQ(blobstore_put(NULL, bs, "v", data, n, NULL), 0);
    blobstore_blob_backend *be = NULL;
    CHECK_EQ(blobstore_blob_backend_s3_new(&be, s3, 2), 0);
    temp_names t = {.n = 0};
    CHECK_EQ(be->list(be, list_raw, &t), 0);
    CHECK_EQ(t.n, 1);
    CHECK_EQ(t.names[0][0], 'O');
    const char *name = t.names[0] + 1;
    bs_buf good = {0};
    CHECK_EQ(conformance_read_all(be, name, &good), 0);
    CHECK(good.len > n);
    for (int v = 0; v < 3; v++) {
        unsigned char *bad = malloc(good.len);
        CHECK(bad != NULL);
        memcpy(bad, good.data, good.len);
        size_t len = good.len;
        if (v == 0)
            bad[good.len / 2] ^= 0x40;
        else if (v == 1)
            len -= 100;
        else
            len /= 2;
        CHECK_EQ(write_object(be, name, bad, len), 0);
        free(bad);
        void *out = NULL;
        size_t out_len = 0;
        CHECK_EQ(blobstore_get(&out, &out_len, bs, "v"), BLOBSTORE_ECORRUPT);
        int sink = open("/dev/null", O_WRONLY);
        CHECK(sink >= 0);
        CHECK_EQ(blobstore_get_fd(bs, "v", sink), BLOBSTORE_ECORRUPT);
        close(sink);
    }
    CHECK_EQ(write_object(be, name, good.data, good.len), 0);
    void *out = NULL;
    size_t out_len = 0;
    CHECK_EQ(blobstore_get(&out, &out_len, bs, "v"), 0);
    CHECK(out_len == n && memcmp(out, data, n) == 0);
    blobstore_free(out);
    bs__buf_free(&good);
    be->free(be);
    blobstore_close(bs);
    free(data);
}

typedef struct {
    size_t total, sent, stop_at;
    unsigned seed;
    const char *script, *arg, *dir_env;
    int stopped;
} feeder;

/* Streams pseudo-random bytes; at stop_at, stops a server. */
static int feed(void *ctx, void *buf, size_t cap, size_t *out_n)
{
    feeder *f = ctx;
    if (f->script && !f->stopped && f->sent >= f->stop_at) {
        f->stopped = 1;
        if (online_server(f->script, f->arg, f->dir_env) != 0)
            return -1;
    }
    size_t n = f->total - f->sent;
    if (n > cap)
        n = cap;
    fill(buf, n, f->seed + (unsigned)f->sent);
    f->sent += n;
    *out_n = n;
    return 0;
}

static int put_stream(blobstore *bs, const char *key, feeder *f, const char *meta)
{
    blobstore_put_options po = BLOBSTORE_PUT_OPTIONS_INIT;
    po.metadata = meta;
    return blobstore_put_stream(NULL, bs, key, feed, f, &po);
}

static int verify_clean(blobstore *bs, unsigned flags, blobstore_verify_stats *st)
{
    int rc = blobstore_verify(st, bs, flags, NULL, NULL);
    return rc == 0 && st->corrupt + st->dangling + st->orphans + st->temps == st->repaired;
}

/* Where the name is known before the bytes, a large object is uploaded in
 * parts straight to its final key (BS__BLOB_CTL_WRITER_FOR): nothing is
 * there until commit, an unfinished upload is a temp that remove_temp
 * aborts, and nothing ever appears under tmp/. */
static int list_raw(void *ctx, const char *name, int is_temp)
{
    temp_names *t = ctx;
    if (t->n < 8)
        snprintf(t->names[t->n++], sizeof(t->names[0]), "%c%s", is_temp ? 'T' : 'O', name);
    return 0;
}

TEST(s3_writes_straight_to_the_final_name)
{
    blobstore_blob_backend *be = s3_backend(NULL, 2);
    CHECK(be != NULL);
    size_t n = 17 << 20; /* three parts */
    unsigned char *data = malloc(n);
    CHECK(data != NULL);
    fill(data, n, 5);
    const char *name = "00ff00ff-direct.blob";
    bs_blob_writer_for q = {name, NULL, NULL};
    CHECK_EQ(be->ctl(be, BS__BLOB_CTL_WRITER_FOR, &q), 0);
    blobstore_blob_writer *w = q.writer;
    CHECK_EQ(w->write(w, data, n), 0);
    /* two parts are up: no object yet, one upload at the final key */
    CHECK_EQ(be->exists(be, name), 0);
    temp_names t = {.n = 0};
    CHECK_EQ(be->list(be, list_raw, &t), 0);
    CHECK_EQ(t.n, 1);
    CHECK(strncmp(t.names[0], "T00ff00ff-direct.blob ", 22) == 0);
    CHECK_EQ(w->commit(w, name, 1), 0);
    CHECK_EQ(be->exists(be, name), 1);
    bs_buf b = {0};
    CHECK_EQ(conformance_read_all(be, name, &b), 0);
    CHECK(b.len == n && memcmp(b.data, data, n) == 0);
    bs__buf_free(&b);
    t.n = 0;
    CHECK_EQ(be->list(be, list_raw, &t), 0);
    CHECK_EQ(t.n, 1);
    CHECK_EQ(strcmp(t.names[0], "O00ff00ff-direct.blob"), 0);
    /* An unfinished upload to a name that has an object: removing the temp
     * aborts the upload and leaves the object as it was. */
    q.writer = NULL;
    CHECK_EQ(be->ctl(be, BS__BLOB_CTL_WRITER_FOR, &q), 0);
    w = q.writer;
    fill(data, n, 6);
    CHECK_EQ(w->write(w, data, n), 0);
    t.n = 0;
    CHECK_EQ(be->list(be, list_raw, &t), 0);
    CHECK_EQ(t.n, 2);
    const char *temp = t.names[0][0] == 'T' ? t.names[0] + 1 : t.names[1] + 1;
    CHECK_EQ(be->remove_temp(be, temp), 0);
    CHECK_EQ(be->remove_temp(be, "00ff00ff-direct.blob"), BLOBSTORE_EINVAL); /* not a temp */
    fill(data, n, 5);
    CHECK_EQ(conformance_read_all(be, name, &b), 0);
    CHECK(b.len == n && memcmp(b.data, data, n) == 0);
    bs__buf_free(&b);
    w->abort(w); /* its upload is gone already: abort still frees */
    t.n = 0;
    CHECK_EQ(be->list(be, list_raw, &t), 0);
    CHECK_EQ(t.n, 1);
    /* a commit under another name is refused and leaves nothing */
    q.writer = NULL;
    q.name = "11ee11ee-other.blob";
    CHECK_EQ(be->ctl(be, BS__BLOB_CTL_WRITER_FOR, &q), 0);
    w = q.writer;
    CHECK_EQ(w->write(w, data, n), 0);
    CHECK_EQ(w->commit(w, "22dd22dd-third.blob", 1), BLOBSTORE_EINVAL);
    t.n = 0;
    CHECK_EQ(be->list(be, list_raw, &t), 0);
    CHECK_EQ(t.n, 1);
    be->free(be);
    free(data);
}

/* A put from memory hands the writer the caller's bytes (write_ref): they
 * are sent from where they are, not copied into parts. Pieces of seeded
 * random sizes, by reference and copied in turn, across part boundaries,
 * in an object of one part (one PUT) and in one of three; the bytes read
 * back are the ones given, in order. Where object bytes are signed, their
 * SHA-256 is taken over one buffer: no write_ref. */
TEST(s3_writes_send_the_callers_bytes_where_they_are)
{
    unsigned seed = (unsigned)time(NULL);
    fprintf(stderr, "  seed %u\n", seed);
    srand(seed);
    blobstore_blob_backend *be = s3_backend(NULL, 2);
    CHECK(be != NULL);
    size_t sizes[2] = {(size_t)5 << 20, (size_t)19 << 20};
    for (int k = 0; k < 2; k++) {
        size_t n = sizes[k];
        unsigned char *data = malloc(n);
        CHECK(data != NULL);
        fill(data, n, 40 + (unsigned)k);
        char name[64];
        snprintf(name, sizeof(name), "0c0c0c0c-ref%d.blob", k);
        bs_blob_writer_for q = {name, NULL, NULL};
        CHECK_EQ(be->ctl(be, BS__BLOB_CTL_WRITER_FOR, &q), 0);
        CHECK(q.write_ref != NULL);
        blobstore_blob_writer *w = q.writer;
        size_t refs = 0, copies = 0;
        for (size_t at = 0; at < n;) {
            /* 1 byte to 3 MiB, a third of them 16 bytes (a chunk header) */
            size_t m = rand() % 3 == 0 ? 16 : 1 + (size_t)rand() % (3 << 20);
            if (m > n - at)
                m = n - at;
            int ref = rand() % 2;
            CHECK_EQ(ref ? q.write_ref(w, data + at, m) : w->write(w, data + at, m), 0);
            ref ? refs++ : copies++;
            at += m;
        }
        CHECK(refs > 0 && copies > 0);
        CHECK_EQ(be->exists(be, name), 0);
        CHECK_EQ(w->commit(w, name, 1), 0);
        bs_buf b = {0};
        CHECK_EQ(conformance_read_all(be, name, &b), 0);
        CHECK(b.len == n && memcmp(b.data, data, n) == 0);
        bs__buf_free(&b);
        /* aborted after pieces by reference: nothing left */
        q.writer = NULL;
        q.name = "0d0d0d0d-gone.blob";
        CHECK_EQ(be->ctl(be, BS__BLOB_CTL_WRITER_FOR, &q), 0);
        CHECK_EQ(q.write_ref(q.writer, data, n), 0);
        q.writer->abort(q.writer);
        CHECK_EQ(be->exists(be, "0d0d0d0d-gone.blob"), 0);
        free(data);
    }
    temp_names t = {.n = 0};
    CHECK_EQ(be->list(be, list_raw, &t), 0);
    CHECK_EQ(t.n, 2); /* the two objects, no upload left */
    CHECK(t.names[0][0] == 'O' && t.names[1][0] == 'O');
    be->free(be);
    be = s3_backend("sign_payload=always", 2);
    CHECK(be != NULL);
    bs_blob_writer_for q = {"0e0e0e0e-signed.blob", NULL, NULL};
    CHECK_EQ(be->ctl(be, BS__BLOB_CTL_WRITER_FOR, &q), 0);
    CHECK(q.write_ref == NULL);
    q.writer->abort(q.writer);
    be->free(be);
}

/* Streams pseudo-random bytes; the process dies at die_at. */
typedef struct {
    size_t total, sent, die_at;
} dying_feeder;

static int feed_and_die(void *ctx, void *buf, size_t cap, size_t *out_n)
{
    dying_feeder *f = ctx;
    if (f->die_at && f->sent >= f->die_at)
        _exit(0);
    size_t n = f->total - f->sent < cap ? f->total - f->sent : cap;
    fill(buf, n, 9 + (unsigned)f->sent);
    f->sent += n;
    *out_n = n;
    return 0;
}

/* An overwrite whose process dies mid-upload: the key keeps its old value,
 * no object appears, the unfinished upload is one temp (at a final name,
 * not under tmp/) that verify --repair aborts; the next put succeeds. */
TEST(s3_overwrite_dying_mid_upload_keeps_the_old_value)
{
    const char *metas[] = {"sqlite", "pg"};
    for (int m = 0; m < 2; m++) {
        const char *dir = test_tmpdir();
        blobstore *bs = open_store_in(dir, metas[m], 1, 0);
        CHECK(bs != NULL);
        CHECK_EQ(blobstore_put(NULL, bs, "k", "old", 3, NULL), 0);
        blobstore_put_options po = BLOBSTORE_PUT_OPTIONS_INIT;
        dying_feeder f = {30 << 20, 0, 20 << 20};
        pid_t pid = fork();
        if (pid == 0) {
            blobstore *mine = open_store_in(dir, metas[m], 0, 0);
            blobstore_put_stream(NULL, mine, "k", feed_and_die, &f, &po);
            _exit(1); /* the put was to die first */
        }
        int st;
        waitpid(pid, &st, 0);
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        void *out;
        size_t len;
        CHECK_EQ(blobstore_get(&out, &len, bs, "k"), 0);
        CHECK(len == 3 && memcmp(out, "old", 3) == 0);
        blobstore_free(out);
        blobstore_blob_backend *be = NULL;
        CHECK_EQ(blobstore_blob_backend_s3_new(&be, s3, 2), 0);
        temp_names t = {.n = 0};
        CHECK_EQ(be->list(be, list_raw, &t), 0);
        int objects = 0, temps = 0;
        for (int i = 0; i < t.n; i++) {
            objects += t.names[i][0] == 'O';
            if (t.names[i][0] == 'T') {
                temps++;
                CHECK(strncmp(t.names[i] + 1, "w-", 2) != 0); /* not under tmp/ */
                CHECK(strchr(t.names[i], ' ') != NULL);       /* an upload */
            }
        }
        CHECK_EQ(temps, 1);
        blobstore_verify_stats vs;
        CHECK_EQ(blobstore_verify(&vs, bs, 0, NULL, NULL), 0);
        CHECK_EQ(vs.temps, 1);
        CHECK_EQ(vs.orphans + vs.dangling + vs.corrupt, 0);
        CHECK(verify_clean(bs, BLOBSTORE_VERIFY_REPAIR, &vs));
        CHECK_EQ(vs.repaired, 1);
        t.n = 0;
        CHECK_EQ(be->list(be, list_raw, &t), 0);
        CHECK_EQ(t.n, objects);
        CHECK_EQ(blobstore_get(&out, &len, bs, "k"), 0);
        CHECK(len == 3 && memcmp(out, "old", 3) == 0);
        blobstore_free(out);
        /* the overwrite done to the end: one object, the new value */
        f = (dying_feeder){30 << 20, 0, 0};
        CHECK_EQ(blobstore_put_stream(NULL, bs, "k", feed_and_die, &f, &po), 0);
        t.n = 0;
        CHECK_EQ(be->list(be, list_raw, &t), 0);
        CHECK_EQ(t.n, 1);
        CHECK_EQ(t.names[0][0], 'O');
        CHECK_EQ(blobstore_get(&out, &len, bs, "k"), 0);
        CHECK_EQ(len, (size_t)30 << 20);
        blobstore_free(out);
        CHECK(verify_clean(bs, 0, &vs));
        CHECK_EQ(vs.temps + vs.orphans, 0);
        be->free(be);
        blobstore_close(bs);
    }
}

TEST(fault_s3_stopped_mid_put)
{
    blobstore *bs = open_store("pg", 1, 0);
    CHECK(bs != NULL);
    CHECK_EQ(blobstore_put(NULL, bs, "before", "b", 1, NULL), 0);
    feeder f = {40 << 20, 0, 12 << 20, 7, "rgw.sh", "stop-gateway", "BLOBSTORE_RGW_DIR", 0};
    int rc = put_stream(bs, "big", &f, "{\"n\": 1}");
    CHECK(f.stopped);
    CHECK_EQ(rc, BLOBSTORE_EIO);
    CHECK(strstr(blobstore_errmsg(), "s3: ") != NULL);
    /* Nothing points at a missing blob; the earlier entry is intact. */
    CHECK_EQ(blobstore_exists(bs, "big"), 0);
    char *m = NULL;
    CHECK_EQ(blobstore_get_metadata(&m, bs, "big"), BLOBSTORE_ENOTFOUND);
    CHECK_EQ(online_server("rgw.sh", "start-gateway", "BLOBSTORE_RGW_DIR"), 0);
    void *out;
    size_t n;
    CHECK_EQ(blobstore_get(&out, &n, bs, "before"), 0);
    CHECK(n == 1 && memcmp(out, "b", 1) == 0);
    blobstore_free(out);
    /* The interrupted upload is a leftover that repair removes. */
    blobstore_verify_stats st;
    CHECK(verify_clean(bs, BLOBSTORE_VERIFY_REPAIR, &st));
    CHECK(verify_clean(bs, 0, &st));
    CHECK_EQ(st.temps + st.orphans + st.dangling, 0);
    /* And the same put now succeeds. */
    f = (feeder){40 << 20, 0, 0, 7, NULL, NULL, NULL, 0};
    CHECK_EQ(put_stream(bs, "big", &f, "{\"n\": 1}"), 0);
    CHECK_EQ(blobstore_exists(bs, "big"), 1);
    CHECK(verify_clean(bs, 0, &st));
    CHECK_EQ(st.ok, 2);
    blobstore_close(bs);
}

TEST(fault_pg_stopped_mid_put)
{
    blobstore *bs = open_store("pg", 1, 0);
    CHECK(bs != NULL);
    CHECK_EQ(blobstore_put(NULL, bs, "before", "b", 1, NULL), 0);
    feeder f = {20 << 20, 0, 5 << 20, 9, "pg.sh", "stop", "BLOBSTORE_PG_DIR", 0};
    int rc = put_stream(bs, "big", &f, NULL);
    CHECK(f.stopped);
    CHECK_EQ(rc, BLOBSTORE_EIO);
    CHECK(strstr(blobstore_errmsg(), "postgresql") != NULL);
    CHECK_EQ(online_server("pg.sh", "start-again", "BLOBSTORE_PG_DIR"), 0);
    /* The store reconnects; the failed put left no entry, and its blob was
     * removed (or is an orphan that repair removes). */
    char *m = NULL;
    rc = blobstore_get_metadata(&m, bs, "big");
    if (rc != BLOBSTORE_ENOTFOUND)
        fprintf(stderr, "  get_metadata: %s\n", blobstore_errmsg());
    CHECK_EQ(rc, BLOBSTORE_ENOTFOUND);
    CHECK_EQ(blobstore_exists(bs, "before"), 1);
    blobstore_verify_stats st;
    CHECK(verify_clean(bs, BLOBSTORE_VERIFY_REPAIR, &st));
    CHECK(verify_clean(bs, 0, &st));
    CHECK_EQ(st.orphans + st.temps + st.dangling, 0);
    CHECK_EQ(st.ok, 1);
    blobstore_close(bs);
}

typedef struct {
    bs_sha256 *sha;
    uint64_t n;
} hash_sink;

static int hash_write(void *ctx, const void *p, size_t n)
{
    hash_sink *h = ctx;
    bs__sha256_update(h->sha, p, n);
    h->n += n;
    return 0;
}

TEST(large_blobs_stream_in_bounded_memory)
{
    blobstore *bs = open_store("pg", 1, 0);
    CHECK(bs != NULL);
    blobstore_close(bs);
    enum { SIZE = 128 << 20 };
    int fds[2];
    CHECK_EQ(pipe(fds), 0);
    const char *dir = test_tmpdir(); /* made here: the child's own calls would not count */
    pid_t pid = fork();
    if (pid == 0) { /* a process of its own; its peak counted from here (a fork holds
                     * what this process held: the previous tests' memory) */
        close(fds[0]);
        long start = test_peak_reset() ? test_vm_kib("VmRSS") : -1;
        blobstore *mine = open_store_in(dir, "pg", 0, 0);
        feeder f = {SIZE, 0, 0, 11, NULL, NULL, NULL, 0};
        int ok = mine && put_stream(mine, "huge", &f, NULL) == 0;
        hash_sink h = {bs__sha256_new(), 0};
        ok = ok && blobstore_get_stream(mine, "huge", hash_write, &h) == 0 && h.n == SIZE;
        char hex[65] = "";
        bs__sha256_final_hex(h.sha, hex);
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        long peak = start >= 0 ? test_vm_kib("VmHWM") - start : ru.ru_maxrss;
        char line[128];
        int len = snprintf(line, sizeof(line), "%d %ld %s", ok, peak, hex);
        if (write(fds[1], line, (size_t)len) != len)
            ok = 0;
        blobstore_close(mine);
        _exit(ok ? 0 : 1);
    }
    close(fds[1]);
    char line[128] = "";
    ssize_t got = read(fds[0], line, sizeof(line) - 1);
    close(fds[0]);
    int st;
    waitpid(pid, &st, 0);
    CHECK(got > 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    int ok;
    long maxrss_kb;
    char hex[65];
    CHECK_EQ(sscanf(line, "%d %ld %64s", &ok, &maxrss_kb, hex), 3);
    CHECK_EQ(ok, 1);
    /* The bytes came back (same SHA-256 as the stream that went in)... */
    unsigned char *buf = malloc(1 << 20);
    CHECK(buf != NULL);
    feeder f = {SIZE, 0, 0, 11, NULL, NULL, NULL, 0};
    bs_sha256 *sha = bs__sha256_new();
    for (size_t n = 1; n;) {
        feed(&f, buf, 1 << 20, &n);
        bs__sha256_update(sha, buf, n);
    }
    char want[65];
    bs__sha256_final_hex(sha, want);
    free(buf);
    CHECK_STR(hex, want);
    /* ... through a process that never held more than a fraction of them. */
    fprintf(stderr, "  peak memory growth for a %d MiB put and get: %ld MiB\n", SIZE >> 20,
            maxrss_kb >> 10);
    if (!getenv("BLOBSTORE_SANITIZED")) /* ASan keeps freed memory in quarantine */
        CHECK(maxrss_kb < (SIZE >> 10) / 2);
}

TEST(two_processes_put_one_key)
{
    blobstore *bs = open_store("pg", 1, 0);
    CHECK(bs != NULL);
    blobstore_close(bs);
    enum { ROUNDS = 3, SIZE = 9 << 20 };
    /* As if on two machines: a local directory each, shared PostgreSQL and S3. */
    char dirs[2][1100];
    const char *base = test_tmpdir();
    for (int p = 0; p < 2; p++)
        snprintf(dirs[p], sizeof(dirs[p]), "%s/m%d", base, p);
    pid_t pids[2];
    for (int p = 0; p < 2; p++) {
        if ((pids[p] = fork()) == 0) {
            blobstore *mine = open_store_in(dirs[p], "pg", 0, 0);
            int fails = !mine;
            for (int r = 0; mine && r < ROUNDS; r++) {
                feeder f = {SIZE, 0, 0, (unsigned)(100 + p * 10 + r), NULL, NULL, NULL, 0};
                char meta[64];
                snprintf(meta, sizeof(meta), "{\"seed\": %u}", f.seed);
                fails += put_stream(mine, "same", &f, meta) != 0;
            }
            blobstore_close(mine);
            _exit(fails ? 1 : 0);
        }
    }
    for (int p = 0; p < 2; p++) {
        int st;
        waitpid(pids[p], &st, 0);
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    bs = open_store("pg", 0, 0);
    CHECK(bs != NULL);
    /* One put won, whole: its bytes are exactly those its metadata names. */
    char *m;
    CHECK_EQ(blobstore_get_metadata(&m, bs, "same"), 0);
    json_t *o = json_loads(m, 0, NULL);
    blobstore_free(m);
    CHECK(o != NULL);
    unsigned seed =
        (unsigned)json_integer_value(json_object_get(json_object_get(o, "metadata"), "seed"));
    json_decref(o);
    CHECK(seed >= 100 && seed <= 112);
    void *out;
    size_t n;
    CHECK_EQ(blobstore_get(&out, &n, bs, "same"), 0);
    unsigned char *want = malloc(SIZE);
    feeder f = {SIZE, 0, 0, seed, NULL, NULL, NULL, 0};
    size_t got = 0;
    while (got < SIZE) {
        size_t k;
        feed(&f, want + got, 1 << 20, &k);
        got += k;
    }
    CHECK_EQ(n, SIZE);
    CHECK(memcmp(out, want, SIZE) == 0);
    blobstore_free(out);
    free(want);
    /* Every replaced blob was removed: one object left, nothing else. */
    blobstore_verify_stats st;
    CHECK(verify_clean(bs, 0, &st));
    CHECK_EQ(st.ok, 1);
    CHECK_EQ(st.orphans + st.temps, 0);
    blobstore_close(bs);
}

static const test_case tests[] = {
    TEST_ENTRY(s3_blob_backend_contract),
    TEST_ENTRY(s3_empty_and_small_objects_read_back),
    TEST_ENTRY(s3_large_objects_go_in_parts),
    TEST_ENTRY(s3_interrupted_write_is_a_temp_and_nothing_else),
    TEST_ENTRY(s3_listings_go_page_by_page),
    TEST_ENTRY(s3_young_objects_are_left_out_of_listings),
    TEST_ENTRY(s3_objects_are_sharded_and_foreign_keys_ignored),
    TEST_ENTRY(s3_errors_are_clear),
    TEST_ENTRY(s3_bucket_is_created_when_missing),
    TEST_ENTRY(s3_object_bytes_go_unsigned_only_where_chosen),
    TEST_ENTRY(s3_reads_resume_where_a_broken_answer_stopped),
    TEST_ENTRY(s3_damaged_or_truncated_objects_read_as_corrupt),
    TEST_ENTRY(s3_store_conformance_every_metadata_backend),
    TEST_ENTRY(s3_index_is_rebuilt_from_the_blobs),
    TEST_ENTRY(s3_shared_keys_are_rebuilt),
    TEST_ENTRY(s3_store_arrays_and_tables),
    TEST_ENTRY(s3_slices_read_parts_of_objects),
    TEST_ENTRY(s3_orphans_wait_for_other_machines_only_when_shared),
    TEST_ENTRY(s3_store_settings_live_in_postgresql),
    TEST_ENTRY(fault_s3_stopped_mid_put),
    TEST_ENTRY(fault_pg_stopped_mid_put),
    TEST_ENTRY(large_blobs_stream_in_bounded_memory),
    TEST_ENTRY(two_processes_put_one_key),
    /* after large_blobs_stream_in_bounded_memory, whose child would count
     * pages these leave in the parent's heap */
    TEST_ENTRY(s3_writes_straight_to_the_final_name),
    TEST_ENTRY(s3_writes_send_the_callers_bytes_where_they_are),
    TEST_ENTRY(s3_overwrite_dying_mid_upload_keeps_the_old_value),
    /* last: its 16 threads leave the process a larger heap, which a forked
     * child (large_blobs_stream_in_bounded_memory measures one) inherits */
    TEST_ENTRY(s3_index_of_10000_entries_is_rebuilt_into_every_metadata_backend),
};
TEST_MAIN(tests)
