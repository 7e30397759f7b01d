/*
 * test_registry.c - the tables open, migrate and the bindings read: names,
 * versioned vtables checked when a backend is handed to the store, and a
 * metadata backend and a format added as their own file plus one row each
 * (toy_meta.c, toy_format.c).
 */
#include "blobstore/sys/blob_backend.h"
#include "conformance.h"
#include "registry.h"
#include "test.h"
#include "toy_format.h"
#include "toy_meta.h"

#include <fcntl.h>

#include <sys/stat.h>
#include <unistd.h>

static int frees;

static void counting_meta_free(blobstore_meta_backend *be)
{
    frees++;
    be->free = NULL;
    free(be);
}

/* A metadata backend whose version and slots a test spoils; open must
 * refuse it before calling any slot but free. */
static blobstore_meta_backend *spoilt_new(void)
{
    blobstore_meta_backend *be = calloc(1, sizeof(*be));
    be->version = BLOBSTORE_META_BACKEND_VERSION;
    be->begin = (void *)1, be->commit = (void *)1, be->rollback = (void *)1;
    be->get = (void *)1, be->put = (void *)1, be->remove = (void *)1, be->iterate = (void *)1;
    be->free = counting_meta_free;
    return be;
}

static int open_with_meta(blobstore_meta_backend *be)
{
    blobstore_options o = BLOBSTORE_OPTIONS_INIT;
    o.meta_backend = be;
    o.blob_backend = "memory";
    blobstore *bs = NULL;
    int rc = blobstore_open(&bs, &o);
    blobstore_close(bs);
    return rc;
}

TEST(checks_version)
{
    /* A metadata backend of a version this library does not know, or one
     * with a required slot missing, is refused by open with a message that
     * names it, and freed (the store owns what it is given). */
    frees = 0;
    blobstore_meta_backend *be = spoilt_new();
    be->version = 0;
    CHECK_EQ(open_with_meta(be), BLOBSTORE_EINVAL);
    CHECK(strstr(blobstore_errmsg(), "metadata backend version 0 is not supported") != NULL);
    be = spoilt_new();
    be->version = BLOBSTORE_META_BACKEND_VERSION + 1;
    CHECK_EQ(open_with_meta(be), BLOBSTORE_EINVAL);
    CHECK(strstr(blobstore_errmsg(), "version 4 is not supported (this library knows versions "
                                     "1..3") != NULL);
    be = spoilt_new();
    be->iterate = NULL;
    CHECK_EQ(open_with_meta(be), BLOBSTORE_EINVAL);
    CHECK_STR(blobstore_errmsg(), "metadata backend (version 3) lacks its required slot iterate");
    CHECK_EQ(frees, 3);
    be = spoilt_new(); /* without free: refused, not called */
    be->free = NULL;
    CHECK_EQ(open_with_meta(be), BLOBSTORE_EINVAL);
    CHECK_STR(blobstore_errmsg(), "metadata backend (version 3) lacks its required slot free");
    free(be);

    /* blob backends alike */
    blobstore_blob_backend *bb;
    CHECK_EQ(blobstore_blob_backend_mem_new(&bb), 0);
    unsigned good = bb->version;
    CHECK_EQ(good, BLOBSTORE_BLOB_BACKEND_VERSION);
    bb->version = 7;
    blobstore_options o = BLOBSTORE_OPTIONS_INIT;
    o.blob_backend_impl = bb;
    o.backend = "json";
    o.cache_dir = test_tmpdir();
    blobstore *bs = NULL;
    CHECK_EQ(blobstore_open(&bs, &o), BLOBSTORE_EINVAL);
    CHECK(strstr(blobstore_errmsg(), "blob backend version 7 is not supported") != NULL);
    CHECK_EQ(blobstore_blob_backend_mem_new(&bb), 0);
    bb->list = NULL;
    o.blob_backend_impl = bb;
    CHECK_EQ(blobstore_open(&bs, &o), BLOBSTORE_EINVAL);
    CHECK_STR(blobstore_errmsg(), "blob backend (version 2) lacks its required slot list");
    /* nothing was created by the refused opens */
    char p[4200];
    snprintf(p, sizeof(p), "%s/blobstore.json", test_tmpdir());
    CHECK(access(p, F_OK) != 0);

    /* every built-in backend passes its own check */
    blobstore_meta_backend *m;
    CHECK_EQ(blobstore_meta_backend_json_new(&m, NULL, 0), 0);
    CHECK_EQ(m->version, 3);
    CHECK_EQ(bs__meta_backend_check(m), 0);
    m->free(m);
    CHECK_EQ(blobstore_meta_backend_sqlite_new(&m, ":memory:", 0), 0);
    CHECK_EQ(m->version, 3);
    CHECK_EQ(bs__meta_backend_check(m), 0);
    m->free(m);
}

TEST(version_1_metadata_backend_is_accepted_without_its_new_slots)
{
    /* A version 1 backend's iterate_filtered, create_index and stats are
     * never read: queries scan with iterate, create_index is a no-op, stats
     * iterates. */
    blobstore_meta_backend *be;
    CHECK_EQ(toy_meta_new(&be, NULL), 0);
    CHECK_EQ(be->version, 1);
    blobstore_options o = BLOBSTORE_OPTIONS_INIT;
    o.meta_backend = be;
    o.blob_backend = "memory";
    blobstore *bs;
    CHECK_EQ(blobstore_open(&bs, &o), 0);
    toy_meta_v2_calls = 0;
    CHECK_EQ(blobstore_put(NULL, bs, "a", "1", 1, "{\"x\": 1}"), 0);
    CHECK_EQ(blobstore_put(NULL, bs, "b", "2", 1, "{\"x\": 2}"), 0);
    CHECK_EQ(blobstore_create_index(bs, "x"), 0);
    blobstore_list l;
    CHECK_EQ(blobstore_list_keys(&l, bs, NULL, "{\"x\": {\"$gt\": 1}}"), 0);
    CHECK_EQ(l.count, 1);
    CHECK_STR(l.keys[0], "b");
    blobstore_list_free(&l);
    CHECK_EQ(toy_meta_v2_calls, 0);
    /* without a stats slot the store iterates every entry: the same figures
     * (conformance_stats computes them from what it put), shared blobs too */
    conformance_stats(bs, 0, 7);
    CHECK_EQ(toy_meta_v2_calls, 0);
    blobstore_close(bs);
    CHECK_EQ(toy_meta_new(&be, NULL), 0);
    o.meta_backend = be;
    o.content_addressable = BLOBSTORE_YES;
    CHECK_EQ(blobstore_open(&bs, &o), 0);
    conformance_stats(bs, 1, 8);
    CHECK_EQ(toy_meta_v2_calls, 0);
    blobstore_close(bs);
}

static int file_exists(const char *dir, const char *name)
{
    char p[4200];
    struct stat st;
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    return stat(p, &st) == 0;
}

TEST(toy_backend_registers_itself)
{
    /* Its own file plus one row: named by open, recorded in the settings,
     * chosen again from them, listed by blobstore_name, its files in the
     * store directory, and the conformance suite passes on it. */
    int listed = 0;
    for (size_t i = 0; blobstore_name(BLOBSTORE_NAMES_META_BACKENDS, i); i++)
        listed += !strcmp(blobstore_name(BLOBSTORE_NAMES_META_BACKENDS, i), "toy");
    CHECK_EQ(listed, 1);
    const char *dir = test_tmpdir();
    char sdir[4200];
    snprintf(sdir, sizeof(sdir), "%s/toy", dir);
    blobstore_options o = BLOBSTORE_OPTIONS_INIT;
    o.cache_dir = sdir;
    o.backend = "toy";
    blobstore *bs;
    toy_meta_opens = 0;
    CHECK_EQ(blobstore_open(&bs, &o), 0);
    CHECK_EQ(toy_meta_opens, 1);
    conformance_store(bs);
    CHECK_EQ(blobstore_put(NULL, bs, "kept", "value", 5, "{\"n\": 1}"), 0);
    char *settings;
    CHECK_EQ(blobstore_settings(&settings, bs), 0);
    CHECK(strstr(settings, "\"backend\":\"toy\"") != NULL);
    blobstore_free(settings);
    blobstore_close(bs);
    CHECK(file_exists(sdir, "toy.index") || file_exists(sdir, "toy.index.journal"));
    CHECK(!file_exists(sdir, "cache_metadata.json") && !file_exists(sdir, "cache_metadata.db"));
    CHECK(file_exists(sdir, "space.reserve")); /* a local index keeps the reserve */

    /* opened again from its settings alone */
    blobstore_options again = BLOBSTORE_OPTIONS_INIT;
    again.cache_dir = sdir;
    again.open_flags = BLOBSTORE_OPEN_EXISTING;
    CHECK_EQ(blobstore_open(&bs, &again), 0);
    CHECK_EQ(toy_meta_opens, 2);
    void *v;
    size_t n;
    CHECK_EQ(blobstore_get(&v, &n, bs, "kept"), 0);
    CHECK(n == 5 && !memcmp(v, "value", 5));
    blobstore_free(v);
    blobstore_close(bs);

    /* its index missing is damage, as for the built-in local indexes */
    char p[4300];
    snprintf(p, sizeof(p), "%s/toy.index", sdir);
    unlink(p);
    snprintf(p, sizeof(p), "%s/toy.index.journal", sdir);
    unlink(p);
    CHECK_EQ(blobstore_open(&bs, &again), BLOBSTORE_ECORRUPT);
    CHECK(strstr(blobstore_errmsg(), "toy.index is missing") != NULL);

    /* the name is taken now */
    CHECK_EQ(bs__meta_kind_add(bs__meta_kind_find("toy")), BLOBSTORE_EEXISTS);
}

static void write_file(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    CHECK_EQ(fwrite(p, 1, n, f), n);
    CHECK_EQ(fclose(f), 0);
}

/* put_file of path (name: the name given, NULL: detect); the key. */
static int put_path(char **key, blobstore *bs, const char *k, const char *path, const char *name)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return -1000;
    blobstore_put_options po = BLOBSTORE_PUT_OPTIONS_INIT;
    int rc = blobstore_put_file(key, bs, k, fd, name, &po);
    close(fd);
    return rc;
}

/* The entry's metadata contains s. */
static int meta_has(blobstore *bs, const char *key, const char *s)
{
    char *m;
    if (blobstore_get_metadata(&m, bs, key) != 0)
        return 0;
    int has = strstr(m, s) != NULL;
    blobstore_free(m);
    return has;
}

TEST(toy_format_registers_itself)
{
    /* Its own file plus one row: listed, chosen by its extension and by its
     * content, put and got through the store by its writer and reader, its
     * blobs named by its extension, its store-wide check run by verify. */
    int listed = 0;
    for (size_t i = 0; blobstore_name(BLOBSTORE_NAMES_FORMATS, i); i++)
        listed += !strcmp(blobstore_name(BLOBSTORE_NAMES_FORMATS, i), "toy");
    CHECK_EQ(listed, 1);
    const char *what = NULL;
    CHECK_STR(blobstore_file_format("dir.d/x.toy", &what), "toy");
    CHECK_STR(what, "a toy");
    CHECK(blobstore_file_format("x.toy.bin", &what) == NULL && what == NULL);
    CHECK(blobstore_file_format("dir.toy/x", NULL) == NULL);

    char sdir[4200], in[4200], out[4200], plain[4200];
    snprintf(sdir, sizeof(sdir), "%s/fmt", test_tmpdir());
    snprintf(in, sizeof(in), "%s/a.toy", test_tmpdir());
    snprintf(out, sizeof(out), "%s/out.toy", test_tmpdir());
    snprintf(plain, sizeof(plain), "%s/plain", test_tmpdir());
    write_file(in, "TOY1payload", 11);
    blobstore_options o = BLOBSTORE_OPTIONS_INIT;
    o.cache_dir = sdir;
    blobstore *bs;
    CHECK_EQ(blobstore_open(&bs, &o), 0);

    /* by its name: the writer stored the payload, as "toy", in a .toy blob */
    char *key = NULL;
    CHECK_EQ(put_path(&key, bs, "t", in, in), 0);
    CHECK_STR(key, "t");
    blobstore_free(key);
    CHECK(meta_has(bs, "t", "\"format\":\"toy\""));
    CHECK(meta_has(bs, "t", "\"toy\":true"));
    CHECK(meta_has(bs, "t", ".toy\""));
    void *v;
    size_t n;
    CHECK_EQ(blobstore_get(&v, &n, bs, "t"), 0);
    CHECK(n == 7 && !memcmp(v, "payload", 7));
    blobstore_free(v);
    /* the reader: back to a .toy file; no conversion to other kinds */
    int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK_EQ(blobstore_get_file(bs, "t", fd, out), 0);
    CHECK_EQ(blobstore_get_file(bs, "t", fd, "x.npy"), BLOBSTORE_EUNSUPPORTED);
    close(fd);
    bs_buf got;
    CHECK_EQ(bs__read_file(out, &got), 0);
    CHECK(got.len == 11 && !memcmp(got.data, "TOY1payload", 11));
    bs__buf_free(&got);

    /* by its content, when no name is given; under another name: bytes */
    write_file(plain, "TOY1other", 9);
    CHECK_EQ(put_path(NULL, bs, "c", plain, NULL), 0);
    CHECK(meta_has(bs, "c", "\"format\":\"toy\""));
    CHECK_EQ(put_path(NULL, bs, "b", plain, plain), 0);
    CHECK(meta_has(bs, "b", "\"format\":\"bytes\""));
    CHECK_EQ(blobstore_get(&v, &n, bs, "b"), 0);
    CHECK(n == 9 && !memcmp(v, "TOY1other", 9));
    blobstore_free(v);
    /* a .toy file that is not one: its writer refuses it, nothing stored */
    write_file(in, "nope", 4);
    CHECK_EQ(put_path(NULL, bs, "bad", in, in), BLOBSTORE_ECORRUPT);
    CHECK_STR(blobstore_errmsg(), "not a toy file (no TOY1 magic)");
    CHECK_EQ(blobstore_exists(bs, "bad"), 0);
    /* no overwrite passes through the writer */
    write_file(in, "TOY1again", 9);
    int fd2 = open(in, O_RDONLY);
    blobstore_put_options po = BLOBSTORE_PUT_OPTIONS_INIT;
    po.flags = BLOBSTORE_PUT_NO_OVERWRITE;
    CHECK_EQ(blobstore_put_file(NULL, bs, "t", fd2, in, &po), BLOBSTORE_EEXISTS);
    close(fd2);

    /* verify runs the format's store-wide check, and finds all well */
    toy_format_checks = 0;
    blobstore_verify_stats st;
    CHECK_EQ(blobstore_verify(&st, bs, 0, NULL, NULL), 0);
    CHECK_EQ(toy_format_checks, 1);
    CHECK_EQ(st.ok, 3);
    CHECK_EQ(st.corrupt + st.orphans + st.dangling, 0);
    blobstore_close(bs);
    /* the name and extension are taken now */
    CHECK_EQ(bs__format_add(bs__format("toy")), BLOBSTORE_EEXISTS);
}

TEST(built_in_formats_detect_their_files)
{
    /* The detectors, on the first and last bytes, and bytes otherwise. */
    static const unsigned char npy[] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0};
    static const unsigned char frame[] = {0x9e, 0xa8, 'b', '2', 'f', 'r', 'a', 'm', 'e', 0, 0xd2};
    CHECK_STR(bs__format_detect(npy, sizeof(npy), npy, sizeof(npy), 100)->name, "b2nd");
    CHECK_STR(bs__format_detect(frame, sizeof(frame), frame, sizeof(frame), 100)->name, "b2nd");
    const unsigned char *par = (const unsigned char *)"PAR1....PAR1";
    CHECK_STR(bs__format_detect(par, 12, par, 12, 12)->name, "parquet");
    CHECK_STR(bs__format_detect(par, 8, (const unsigned char *)"....", 4, 300)->name, "bytes");
    CHECK_STR(bs__format_detect(par, 12, par, 12, 8)->name, "bytes"); /* too short */
    const unsigned char *pk = (const unsigned char *)"BSPK\x01\x00";
    CHECK_STR(bs__format_detect(pk, 6, pk, 6, 6)->name, "pickle");
    CHECK_STR(bs__format_detect(pk, 4, pk, 4, 4)->name, "bytes");
    CHECK_STR(blobstore_file_format("a.npy", NULL), "b2nd");
    CHECK_STR(blobstore_file_format("a.b2nd", NULL), "b2nd");
    CHECK_STR(blobstore_file_format("a.parquet", NULL), "parquet");
    CHECK(blobstore_file_format("a.csv", NULL) == NULL);
    CHECK(blobstore_file_format("a.pkl", NULL) == NULL);

    /* a .npy file without a name: detected, stored as an array, and got as
     * the same .npy file again; the bytes of a plain file stay bytes */
    char sdir[4200], path[4200], out[4200];
    snprintf(sdir, sizeof(sdir), "%s/det", test_tmpdir());
    snprintf(path, sizeof(path), "%s/arr", test_tmpdir());
    snprintf(out, sizeof(out), "%s/arr.out", test_tmpdir());
    double d[6] = {1, 2, 3, 4, 5, 6};
    blobstore_array a;
    memset(&a, 0, sizeof(a));
    snprintf(a.dtype, sizeof(a.dtype), "<f8");
    a.ndim = 2;
    a.shape[0] = 2;
    a.shape[1] = 3;
    a.data = d;
    a.nbytes = sizeof(d);
    char *h;
    size_t hl;
    CHECK_EQ(blobstore_npy_header(&h, &hl, &a), 0);
    FILE *f = fopen(path, "wb");
    fwrite(h, 1, hl, f);
    fwrite(d, 1, sizeof(d), f);
    fclose(f);
    blobstore_options o = BLOBSTORE_OPTIONS_INIT;
    o.cache_dir = sdir;
    blobstore *bs;
    CHECK_EQ(blobstore_open(&bs, &o), 0);
    CHECK_EQ(put_path(NULL, bs, "arr", path, NULL), 0);
    CHECK(meta_has(bs, "arr", "\"format\":\"b2nd\""));
    CHECK(meta_has(bs, "arr", "\"shape\":[2,3]"));
    int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK_EQ(blobstore_get_file(bs, "arr", fd, ".npy"), 0);
    close(fd);
    bs_buf got;
    CHECK_EQ(bs__read_file(out, &got), 0);
    CHECK(got.len == hl + sizeof(d) && !memcmp(got.data, h, hl) &&
          !memcmp(got.data + hl, d, sizeof(d)));
    bs__buf_free(&got);
    blobstore_free(h);
    CHECK_EQ(blobstore_put(NULL, bs, "raw", "abc", 3, NULL), 0);
    fd = open(out, O_WRONLY | O_TRUNC);
    CHECK_EQ(blobstore_get_file(bs, "raw", fd, ".npy"), BLOBSTORE_EUNSUPPORTED);
    close(fd);
    CHECK_EQ(blobstore_get_file(bs, "nosuch", 1, ".npy"), BLOBSTORE_ENOTFOUND);
    blobstore_close(bs);
}

TEST(names_come_from_the_tables)
{
    const char *want_meta[] = {"json", "sqlite", "postgresql://"};
    for (size_t i = 0; i < 3; i++)
        CHECK_STR(blobstore_name(BLOBSTORE_NAMES_META_BACKENDS, i), want_meta[i]);
    const char *want_blob[] = {"filesystem", "memory", "s3://", NULL};
    for (size_t i = 0; i < 4; i++) {
        const char *got = blobstore_name(BLOBSTORE_NAMES_BLOB_BACKENDS, i);
        CHECK(want_blob[i] ? got && !strcmp(got, want_blob[i]) : got == NULL);
    }
    const char *want_codec[] = {"none", "lz4", "zstd", "gzip", "blosclz", NULL};
    for (size_t i = 0; i < 6; i++) {
        const char *got = blobstore_name(BLOBSTORE_NAMES_CODECS, i);
        CHECK(want_codec[i] ? got && !strcmp(got, want_codec[i]) : got == NULL);
        if (got) /* each name the table lists is one the store accepts */
            CHECK(bs__codec_by_name(got) != NULL);
    }
    CHECK_STR(blobstore_name(BLOBSTORE_NAMES_FORMATS, 1), "b2nd");
    CHECK(blobstore_name(99, 0) == NULL);
    /* the formats' extensions */
    CHECK_STR(bs__format("parquet")->ext, ".parquet");
    CHECK_STR(bs__format("pickle")->ext, ".pkl");
    CHECK_STR(bs__format("no such format")->ext, ".blob");
    CHECK_STR(bs__format(NULL)->name, "bytes");
    CHECK(bs__format_by_ext(".b2nd")->raw);
    CHECK(!bs__format_by_ext(".pkl")->raw);
    CHECK(bs__format_by_ext(".npy") == NULL);

    /* an unknown name is refused with the names the tables hold */
    blobstore_options o = BLOBSTORE_OPTIONS_INIT;
    o.cache_dir = test_tmpdir();
    o.backend = "mongodb";
    blobstore *bs;
    CHECK_EQ(blobstore_open(&bs, &o), BLOBSTORE_EINVAL);
    CHECK(strstr(blobstore_errmsg(), "unknown metadata backend \"mongodb\" (expected json, "
                                     "sqlite, a postgresql:// URL") != NULL);
    o.backend = NULL;
    o.blob_backend = "ftp://x";
    CHECK_EQ(blobstore_open(&bs, &o), BLOBSTORE_EINVAL);
    CHECK_STR(blobstore_errmsg(), "unknown blob backend \"ftp://x\" (expected filesystem, memory "
                                  "or an s3:// URL)");
}

static const test_case tests[] = {
    TEST_ENTRY(checks_version),
    TEST_ENTRY(version_1_metadata_backend_is_accepted_without_its_new_slots),
    TEST_ENTRY(toy_backend_registers_itself),
    TEST_ENTRY(toy_format_registers_itself),
    TEST_ENTRY(built_in_formats_detect_their_files),
    TEST_ENTRY(names_come_from_the_tables),
};
TEST_MAIN(tests)
