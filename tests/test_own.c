/*
 * test_own.c - the store owns only what it created: open flags (create /
 * existing / read-only), old option versions, and refusals that leave the
 * directory as it was.
 */
#include "blobstore.h"
#include "test.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

static char *path2(const char *a, const char *b)
{
    static char buf[8][8192];
    static int i;
    char tmp[8192];
    snprintf(tmp, sizeof(tmp), "%s/%s", a, b);
    char *p = buf[i++ % 8];
    memcpy(p, tmp, sizeof(tmp));
    return p;
}

/* Names in dir, sorted and joined with spaces (static buffer). */
static const char *names(const char *dir)
{
    static char out[4096];
    char list[64][256];
    int n = 0;
    out[0] = 0;
    DIR *d = opendir(dir);
    if (!d)
        return "(none)";
    struct dirent *de;
    while ((de = readdir(d)) != NULL && n < 64)
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            snprintf(list[n++], 256, "%s", de->d_name);
    closedir(d);
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && strcmp(list[j - 1], list[j]) > 0; j--) {
            char t[256];
            memcpy(t, list[j], 256);
            memcpy(list[j], list[j - 1], 256);
            memcpy(list[j - 1], t, 256);
        }
    for (int i = 0; i < n; i++) {
        strcat(out, i ? " " : "");
        strcat(out, list[i]);
    }
    return out;
}

static int write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fputs(text, f);
    return fclose(f);
}

static blobstore *open_flags(const char *dir, const char *backend, unsigned flags, int *rc)
{
    blobstore_options o = BLOBSTORE_OPTIONS_INIT;
    o.cache_dir = dir;
    o.backend = backend;
    o.open_flags = flags;
    blobstore *bs = NULL;
    *rc = blobstore_open(&bs, &o);
    return bs;
}

TEST(existing_and_readonly_refuse_what_is_not_a_store)
{
    const char *t = test_tmpdir();
    const char *missing = path2(t, "missing/store");
    int rc;
    unsigned modes[] = {BLOBSTORE_OPEN_EXISTING, BLOBSTORE_OPEN_READONLY,
                        BLOBSTORE_OPEN_EXISTING | BLOBSTORE_OPEN_READONLY};
    for (size_t i = 0; i < 3; i++) {
        CHECK(open_flags(missing, NULL, modes[i], &rc) == NULL);
        CHECK_EQ(rc, BLOBSTORE_ENOTFOUND);
        char want[8300];
        snprintf(want, sizeof(want), "%s is not a blobstore store (no blobstore.json)", missing);
        CHECK_STR(blobstore_errmsg(), want);
        CHECK_STR(names(t), "");
        /* an empty directory is no store either */
        CHECK(open_flags(t, "sqlite", modes[i], &rc) == NULL);
        CHECK_EQ(rc, BLOBSTORE_ENOTFOUND);
        CHECK_STR(names(t), "");
    }
    CHECK(open_flags(t, NULL, 4, &rc) == NULL);
    CHECK_EQ(rc, BLOBSTORE_EINVAL);
    CHECK_STR(names(t), "");
}

TEST(create_refuses_a_directory_holding_other_files)
{
    const char *t = test_tmpdir();
    CHECK_EQ(write_text(path2(t, "notes.txt"), "mine\n"), 0);
    CHECK_EQ(mkdir(path2(t, "tmp"), 0755), 0);
    CHECK_EQ(write_text(path2(t, "tmp/scratch.txt"), "scratch\n"), 0);
    const char *backends[] = {"json", "sqlite"};
    for (int i = 0; i < 2; i++) {
        int rc;
        CHECK(open_flags(t, backends[i], 0, &rc) == NULL);
        CHECK_EQ(rc, BLOBSTORE_ECONFLICT);
        CHECK(strstr(blobstore_errmsg(), "not empty") != NULL);
        CHECK_STR(names(t), "notes.txt tmp");
        CHECK_STR(names(path2(t, "tmp")), "scratch.txt");
    }
}

TEST(version_2_options_still_create_a_store)
{
    const char *t = test_tmpdir();
    const char *dir = path2(t, "new");
    /* A caller compiled against version 2 has no open_flags field: what
     * follows settings_name is never read. */
    blobstore_options o;
    memset(&o, 0xff, sizeof(o));
    o.version = 2;
    o.cache_dir = dir;
    o.backend = NULL;
    o.meta_backend = NULL;
    o.compression = NULL;
    o.compression_level = 0;
    o.content_addressable = 0;
    o.blob_backend = NULL;
    o.blob_backend_impl = NULL;
    o.shard_chars = 0;
    o.durability = 0;
    o.verify_content_hash = 0;
    o.settings_name = NULL;
    blobstore *bs = NULL;
    CHECK_EQ(blobstore_open(&bs, &o), 0);
    CHECK_EQ(blobstore_put(NULL, bs, "k", "v", 1, NULL), 0);
    blobstore_close(bs);
    o.version = 1;
    CHECK_EQ(blobstore_open(&bs, &o), 0);
    CHECK_EQ(blobstore_exists(bs, "k"), 1);
    blobstore_close(bs);
}

static void readonly_refuses_writes(const char *backend)
{
    const char *dir = test_tmpdir();
    int rc;
    blobstore *bs = open_flags(dir, backend, 0, &rc);
    CHECK_EQ(rc, 0);
    CHECK_EQ(blobstore_put(NULL, bs, "k", "value", 5, "{\"a\":1}"), 0);
    blobstore_close(bs);
    bs = open_flags(dir, backend, BLOBSTORE_OPEN_EXISTING, &rc);
    CHECK_EQ(rc, 0);
    CHECK_EQ(blobstore_put(NULL, bs, "k2", "two", 3, NULL), 0);
    blobstore_close(bs);

    bs = open_flags(dir, backend, BLOBSTORE_OPEN_READONLY, &rc);
    CHECK_EQ(rc, 0);
    void *out;
    size_t n;
    CHECK_EQ(blobstore_get(&out, &n, bs, "k"), 0);
    CHECK(n == 5 && memcmp(out, "value", 5) == 0);
    blobstore_free(out);
    CHECK_EQ(blobstore_exists(bs, "k2"), 1);
    CHECK_EQ(blobstore_put(NULL, bs, "x", "y", 1, NULL), BLOBSTORE_EREADONLY);
    CHECK(strstr(blobstore_errmsg(), "read-only") != NULL);
    CHECK_EQ(blobstore_delete(bs, "k"), BLOBSTORE_EREADONLY);
    CHECK_EQ(blobstore_update_metadata(bs, "k", "{\"b\":2}"), BLOBSTORE_EREADONLY);
    size_t cleared = 99;
    CHECK_EQ(blobstore_clear(&cleared, bs), BLOBSTORE_EREADONLY);
    CHECK_EQ(blobstore_batch_begin(bs), BLOBSTORE_EREADONLY);
    CHECK_EQ(blobstore_create_index(bs, "a"), BLOBSTORE_EREADONLY);
    blobstore_verify_stats st;
    CHECK_EQ(blobstore_verify(&st, bs, BLOBSTORE_VERIFY_REPAIR, NULL, NULL), BLOBSTORE_EREADONLY);
    CHECK_EQ(blobstore_verify(&st, bs, 0, NULL, NULL), 0);
    CHECK_EQ(st.entries, 2);
    CHECK_EQ(st.ok, 2);
    CHECK_EQ(blobstore_exists(bs, "x"), 0);
    CHECK_EQ(blobstore_get(&out, &n, bs, "k"), 0); /* nothing was deleted */
    blobstore_free(out);
    blobstore_close(bs);
}

TEST(readonly_refuses_writes_json)
{
    readonly_refuses_writes("json");
}

TEST(readonly_refuses_writes_sqlite)
{
    readonly_refuses_writes("sqlite");
}

TEST(readonly_creates_nothing_in_a_store)
{
    const char *dir = test_tmpdir();
    const char *backends[] = {"json", "sqlite"};
    for (int i = 0; i < 2; i++) {
        int rc;
        const char *d = path2(dir, backends[i]);
        blobstore *bs = open_flags(d, backends[i], 0, &rc);
        CHECK_EQ(rc, 0);
        CHECK_EQ(blobstore_put(NULL, bs, "k", "value", 5, NULL), 0);
        blobstore_close(bs);
        /* Remove every file a reader could recreate; what remains is all a
         * read-only open may see. */
        unlink(path2(d, "lock"));
        unlink(path2(d, "cache_metadata.json.lock"));
        char before[4096];
        snprintf(before, sizeof(before), "%s", names(d));
        bs = open_flags(d, NULL, BLOBSTORE_OPEN_READONLY, &rc);
        CHECK_EQ(rc, 0);
        void *out;
        size_t n;
        CHECK_EQ(blobstore_get(&out, &n, bs, "k"), 0);
        CHECK(n == 5 && memcmp(out, "value", 5) == 0);
        blobstore_free(out);
        blobstore_list l;
        CHECK_EQ(blobstore_list_keys(&l, bs, NULL, NULL), 0);
        CHECK_EQ(l.count, 1);
        blobstore_list_free(&l);
        blobstore_verify_stats st;
        CHECK_EQ(blobstore_verify(&st, bs, 0, NULL, NULL), 0);
        CHECK_EQ(st.ok, 1);
        blobstore_close(bs);
        CHECK_STR(names(d), before);
    }
}

static const test_case tests[] = {
    TEST_ENTRY(existing_and_readonly_refuse_what_is_not_a_store),
    TEST_ENTRY(create_refuses_a_directory_holding_other_files),
    TEST_ENTRY(version_2_options_still_create_a_store),
    TEST_ENTRY(readonly_refuses_writes_json),
    TEST_ENTRY(readonly_refuses_writes_sqlite),
    TEST_ENTRY(readonly_creates_nothing_in_a_store),
};
TEST_MAIN(tests)
