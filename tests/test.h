/*
 * test.h - the project's minimal test harness.
 *
 * A test file defines functions with TEST(name), lists them in a
 * TEST_LIST, and ends with TEST_MAIN(list). The executable runs every test,
 * or only those named on the command line, and closes with the line
 * "N passed, N failed". A failed CHECK ends the current test.
 */
#ifndef BLOBSTORE_TEST_H
#define BLOBSTORE_TEST_H

#include "blobstore.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *name;
    void (*fn)(void);
} test_case;

extern int test__failed;
void test__fail(const char *file, int line, const char *fmt, ...);
/* A fresh empty directory for this test; removed at exit unless KEEP_TMP is set. */
const char *test_tmpdir(void);
/* Path of a file under the source tree. */
const char *test_source_path(const char *rel);
/* A field of /proc/self/status in KiB (VmRSS, VmHWM), or -1. */
long test_vm_kib(const char *field);
/* Reset the process's peak RSS (VmHWM) to its RSS now; 0 when it cannot. */
int test_peak_reset(void);
/* The path of key's blob file in the filesystem store at dir (shards of
 * the default two characters), from its get_metadata; 0, or -1. */
int test_blob_path(char *path, size_t n, blobstore *bs, const char *dir, const char *key);
/* The codecs a value may be stored with, in the order test_put_inline_values
 * uses them (value i: test_codecs[i % 5]). */
extern const char *const test_codecs[5];
/* Put n values (rand(): the caller seeds it) of the sizes a value kept
 * inline has, as keys c00, c01, ...: the first eight of lengths 0, 1, 2, 9,
 * 10, 11, 4095 and 4096 (a compact frame's edges), the rest of random
 * lengths to 4096, each compressible or random at a coin's toss. vals[i]
 * holds value i, lens[i] its length. 0, or the first put's error. */
int test_put_inline_values(blobstore *bs, int n, unsigned char (*vals)[4096], size_t *lens);
/* Every value test_put_inline_values put reads back equal (a failure names
 * its key, codec and length), and verify finds all n ok. */
void test_check_inline_values(blobstore *bs, int n, unsigned char (*vals)[4096],
                              const size_t *lens);
int test_main(const test_case *tests, size_t n, int argc, char **argv);

#define TEST(name) static void name(void)
#define TEST_ENTRY(name)                                                                           \
    {                                                                                              \
#name, name                                                                                \
    }
#define TEST_MAIN(list)                                                                            \
    int main(int argc, char **argv)                                                                \
    {                                                                                              \
        return test_main(list, sizeof(list) / sizeof(list[0]), argc, argv);                        \
    }

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            test__fail(__FILE__, __LINE__, "CHECK(%s)", #cond);                                    \
            return;                                                                                \
        }                                                                                          \
    } while (0)

#define CHECK_INT(a, op, b)                                                                        \
    do {                                                                                           \
        long long a_ = (long long)(a), b_ = (long long)(b);                                        \
        if (!(a_ op b_)) {                                                                         \
            test__fail(__FILE__, __LINE__, "%s %s %s: %lld vs %lld", #a, #op, #b, a_, b_);         \
            return;                                                                                \
        }                                                                                          \
    } while (0)

#define CHECK_EQ(a, b) CHECK_INT(a, ==, b)

#define CHECK_STR(a, b)                                                                            \
    do {                                                                                           \
        const char *a_ = (a), *b_ = (b);                                                           \
        if (!a_ || !b_ || strcmp(a_, b_) != 0) {                                                   \
            test__fail(__FILE__, __LINE__, "%s == %s: \"%s\" vs \"%s\"", #a, #b,                   \
                       a_ ? a_ : "(null)", b_ ? b_ : "(null)");                                    \
            return;                                                                                \
        }                                                                                          \
    } while (0)

#define CHECK_MEM(a, b, n) CHECK(memcmp((a), (b), (n)) == 0)

#endif
