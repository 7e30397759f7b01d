/*
 * test_rebuild.c - the index rebuilt from the blobs: a 10,000-entry store on
 * each local metadata backend loses its index (files deleted) and gets every
 * key, its bytes and its metadata back; content-addressed stores too.
 */
#include "conformance.h"
#include "internal.h"
#include "test.h"

#include <dirent.h>
#include <unistd.h>

typedef struct {
    const char *dir, *backend;
    int ca;
} local_ctx;

static blobstore *local_open(void *ctx, int rebuilding)
{
    local_ctx *c = ctx;
    blobstore_options o = BLOBSTORE_OPTIONS_INIT;
    o.cache_dir = c->dir;
    o.backend = c->backend;
    o.content_addressable = c->ca ? BLOBSTORE_YES : 0;
    o.durability = BLOBSTORE_DURABILITY_RELAXED;
    blobstore *bs = NULL;
    if ((rebuilding ? blobstore_open_rebuilding : blobstore_open)(&bs, &o) != 0)
        return NULL;
    return bs;
}

/* Delete every cache_metadata.* file. */
static void local_lose(void *ctx)
{
    local_ctx *c = ctx;
    DIR *d = opendir(c->dir);
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL) {
        if (strncmp(de->d_name, "cache_metadata.", 15) == 0 &&
            strstr(de->d_name, ".lock") == NULL) {
            char *p = bs__path_join(c->dir, de->d_name);
            unlink(p);
            free(p);
        }
    }
    if (d)
        closedir(d);
}

TEST(rebuild_json_10000)
{
    local_ctx c = {test_tmpdir(), "json", 0};
    conformance_rebuild(local_open, local_lose, &c, 10000);
}

TEST(rebuild_sqlite_10000)
{
    local_ctx c = {test_tmpdir(), "sqlite", 0};
    conformance_rebuild(local_open, local_lose, &c, 10000);
}

/* Content-addressed: a blob's key is its hash, and comes back as such. */
TEST(rebuild_content_addressed)
{
    local_ctx c = {test_tmpdir(), "sqlite", 1};
    blobstore *bs = local_open(&c, 0);
    CHECK(bs != NULL);
    char *keys[50];
    char value[5000];
    for (int i = 0; i < 50; i++) {
        memset(value, 'a' + i % 26, sizeof(value));
        snprintf(value, 32, "value %d", i);
        blobstore_put_options po = BLOBSTORE_PUT_OPTIONS_INIT;
        char meta[32];
        snprintf(meta, sizeof(meta), "{\"n\": %d}", i);
        po.metadata = meta;
        CHECK_EQ(blobstore_put_ex(&keys[i], bs, NULL, value, sizeof(value), &po), 0);
    }
    blobstore_close(bs);
    local_lose(&c);
    CHECK(local_open(&c, 0) == NULL);
    bs = local_open(&c, 1);
    CHECK(bs != NULL);
    blobstore_rebuild_stats st;
    CHECK_EQ(blobstore_rebuild_index(&st, bs, NULL, NULL), 0);
    CHECK_EQ(st.restored, 50);
    for (int i = 0; i < 50; i++) {
        void *got;
        size_t len;
        CHECK_EQ(blobstore_get(&got, &len, bs, keys[i]), 0);
        memset(value, 'a' + i % 26, sizeof(value));
        snprintf(value, 32, "value %d", i);
        CHECK_EQ(len, sizeof(value));
        CHECK(memcmp(got, value, len) == 0);
        blobstore_free(got);
        char *m;
        CHECK_EQ(blobstore_get_metadata(&m, bs, keys[i]), 0);
        char want[32];
        snprintf(want, sizeof(want), "\"metadata\":{\"n\":%d}", i);
        CHECK(strstr(m, want) != NULL);
        blobstore_free(m);
        blobstore_free(keys[i]);
    }
    blobstore_close(bs);
}

/* A damaged (not deleted) index is set aside, never deleted, and replaced. */
TEST(rebuild_sets_a_damaged_index_aside)
{
    local_ctx c = {test_tmpdir(), "json", 0};
    blobstore *bs = local_open(&c, 0);
    CHECK(bs != NULL);
    char v[5000];
    memset(v, 'x', sizeof(v));
    CHECK_EQ(blobstore_put(NULL, bs, "a", v, sizeof(v), NULL), 0);
    CHECK_EQ(blobstore_put(NULL, bs, "b", v, sizeof(v), NULL), 0);
    blobstore_close(bs);
    char *j = bs__path_join(c.dir, "cache_metadata.json.journal");
    FILE *f = fopen(j, "r+");
    CHECK(f != NULL);
    fseek(f, 300, SEEK_SET);
    fputc('#', f);
    fclose(f);
    CHECK(local_open(&c, 0) == NULL);
    CHECK(strstr(blobstore_errmsg(), "cache_metadata.json.journal") != NULL);
    bs = local_open(&c, 1);
    CHECK(bs != NULL);
    blobstore_rebuild_stats st;
    CHECK_EQ(blobstore_rebuild_index(&st, bs, NULL, NULL), 0);
    CHECK_EQ(st.restored, 2);
    CHECK_EQ(blobstore_exists(bs, "a"), 1);
    CHECK_EQ(blobstore_exists(bs, "b"), 1);
    blobstore_close(bs);
    int aside = 0;
    DIR *d = opendir(c.dir);
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        aside += strncmp(de->d_name, "cache_metadata.json.journal.damaged-", 36) == 0;
    closedir(d);
    CHECK_EQ(aside, 1);
    free(j);
}

static const test_case tests[] = {
    TEST_ENTRY(rebuild_json_10000),
    TEST_ENTRY(rebuild_sqlite_10000),
    TEST_ENTRY(rebuild_content_addressed),
    TEST_ENTRY(rebuild_sets_a_damaged_index_aside),
};
TEST_MAIN(tests)
