/*
 * test.c - runner for the test harness declared in test.h.
 */
#include "test.h"

#include <ftw.h>
#include <sys/stat.h>
#include <stdarg.h>
#include <unistd.h>

int test__failed;
static char tmp_root[4096];
static char tmp_cur[4096];
static int tmp_seq;

void test__fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "  %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    test__failed = 1;
}

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static void cleanup(void)
{
    if (tmp_root[0] && !getenv("KEEP_TMP"))
        nftw(tmp_root, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

long test_vm_kib(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    size_t n = strlen(field);
    while (f && fgets(line, sizeof(line), f))
        if (!strncmp(line, field, n) && line[n] == ':')
            v = atol(line + n + 1);
    if (f)
        fclose(f);
    return v;
}

int test_peak_reset(void)
{
    FILE *f = fopen("/proc/self/clear_refs", "w");
    int ok = f && fputs("5", f) >= 0;
    if (f)
        ok &= fclose(f) == 0;
    return ok;
}

const char *const test_codecs[5] = {"lz4", "zstd", "gzip", "blosclz", "none"};

int test_put_inline_values(blobstore *bs, int n, unsigned char (*vals)[4096], size_t *lens)
{
    static const size_t edge[] = {0, 1, 2, 9, 10, 11, 4095, 4096};
    for (int i = 0; i < n; i++) {
        lens[i] = i < 8 ? edge[i] : (size_t)(rand() % 4097);
        int compressible = rand() % 2;
        for (size_t j = 0; j < lens[i]; j++)
            vals[i][j] = (unsigned char)(compressible ? "abcab"[rand() % 5] : rand());
        char key[16];
        snprintf(key, sizeof(key), "c%02d", i);
        blobstore_put_options po = BLOBSTORE_PUT_OPTIONS_INIT;
        po.compression = test_codecs[i % 5];
        int rc = blobstore_put_ex(NULL, bs, key, vals[i], lens[i], &po);
        if (rc)
            return rc;
    }
    return 0;
}

void test_check_inline_values(blobstore *bs, int n, unsigned char (*vals)[4096], const size_t *lens)
{
    for (int i = 0; i < n; i++) {
        char key[16];
        snprintf(key, sizeof(key), "c%02d", i);
        void *v = NULL;
        size_t len = 0;
        int rc = blobstore_get(&v, &len, bs, key);
        if (rc || len != lens[i] || (len && memcmp(v, vals[i], len) != 0))
            test__fail(__FILE__, __LINE__, "%s (%s, %zu bytes) reads back other bytes (%s)", key,
                       test_codecs[i % 5], lens[i], rc ? blobstore_errmsg() : "no error");
        blobstore_free(v);
    }
    blobstore_verify_stats st;
    int rc = blobstore_verify(&st, bs, 0, NULL, NULL);
    if (rc || st.ok != (uint64_t)n)
        test__fail(__FILE__, __LINE__, "verify: %d, %llu of %d ok", rc, (unsigned long long)st.ok,
                   n);
}

int test_blob_path(char *path, size_t n, blobstore *bs, const char *dir, const char *key)
{
    char *meta, name[128];
    if (blobstore_get_metadata(&meta, bs, key) != 0)
        return -1;
    const char *b = strstr(meta, "\"blob\":\"");
    int ok = b && sscanf(b + 8, "%127[^\"]", name) == 1;
    blobstore_free(meta);
    if (!ok)
        return -1;
    snprintf(path, n, "%s/blobs/%.2s/%s", dir, name, name);
    return 0;
}

const char *test_tmpdir(void)
{
    if (!tmp_root[0]) {
        const char *base = getenv("TMPDIR");
        snprintf(tmp_root, sizeof(tmp_root), "%s/bstest.XXXXXX", base ? base : "/tmp");
        if (!mkdtemp(tmp_root)) {
            perror("mkdtemp");
            exit(2);
        }
        atexit(cleanup);
    }
    snprintf(tmp_cur, sizeof(tmp_cur), "%s/t%d", tmp_root, ++tmp_seq);
    if (mkdir(tmp_cur, 0700) != 0) {
        perror("mkdir");
        exit(2);
    }
    return tmp_cur;
}

const char *test_source_path(const char *rel)
{
    static char buf[4096];
    const char *src = getenv("BLOBSTORE_SOURCE_DIR");
    snprintf(buf, sizeof(buf), "%s/%s", src ? src : ".", rel);
    return buf;
}

int test_main(const test_case *tests, size_t n, int argc, char **argv)
{
    int passed = 0, failed = 0;
    for (size_t i = 0; i < n; i++) {
        if (argc > 1) {
            int want = 0;
            for (int a = 1; a < argc; a++)
                if (strcmp(argv[a], tests[i].name) == 0)
                    want = 1;
            if (!want)
                continue;
        }
        test__failed = 0;
        tests[i].fn();
        if (test__failed) {
            failed++;
            fprintf(stderr, "FAIL %s\n", tests[i].name);
        } else {
            passed++;
            printf("ok   %s\n", tests[i].name);
        }
        fflush(stdout);
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
