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
#include <math.h>
#include <pthread.h>
#include <time.h>

static const char *testdata(void)
{
    static char dir[4096];
    snprintf(dir, sizeof(dir), "%s", test_source_path("tests/b2nd/reference"));
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
    if (!dir)
        fprintf(stderr, "  the reference files are missing: %s\n", testdata());
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
        int rc = bs__b2nd_open(&f, b.data, b.len);
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
        rc = bs__b2nd_read(&f, out, nbytes, 2);
        if (rc)
            fprintf(stderr, "  %s: %s\n", de->d_name, blobstore_errmsg());
        CHECK_EQ(rc, 0);
        char hex[65];
        bs__sha256_hex(hex, out, nbytes);
        if (strcmp(hex, json_string_value(json_object_get(j, "sha256_raw_c_order"))) != 0)
            fprintf(stderr, "  %s: wrong bytes\n", de->d_name);
        CHECK_STR(hex, json_string_value(json_object_get(j, "sha256_raw_c_order")));
        free(out);
        bs__b2nd_close(&f);
        bs__buf_free(&b);
        json_decref(j);
        files++;
    }
    closedir(dir);
    CHECK_EQ(files, 18);
}

static uint32_t rng = 12345;
static uint32_t next_rand(void)
{
    rng = rng * 1103515245u + 12345u;
    return rng >> 8;
}

/* Expected C-order bytes of an array given in Fortran order. */
static void f_to_c_ref(const b2nd_desc *d, const uint8_t *f, uint8_t *c, size_t items)
{
    int64_t pos[B2ND_MAX_DIM] = {0};
    size_t is = (size_t)d->itemsize;
    for (size_t k = 0; k < items; k++) {
        size_t fo = 0, stride = 1;
        for (int i = 0; i < d->ndim; i++) {
            fo += (size_t)pos[i] * stride;
            stride *= (size_t)d->shape[i];
        }
        memcpy(c + k * is, f + fo * is, is);
        for (int i = d->ndim - 1; i >= 0; i--) {
            if (++pos[i] < d->shape[i])
                break;
            pos[i] = 0;
        }
    }
}

static int round_trip(const b2nd_desc *in, const char *codec, int shuffle, int fortran,
                      const int32_t *cs, const int32_t *bsh)
{
    b2nd_desc d = *in;
    char kind;
    size_t items;
    if (bs__b2nd_dtype_parse(d.dtype, &d.itemsize, &kind) || bs__b2nd_nitems(&d, &items))
        return -1;
    size_t n = items * (size_t)d.itemsize;
    uint8_t *data = malloc(n ? n : 1), *want = malloc(n ? n : 1), *got = malloc(n ? n : 1);
    for (size_t i = 0; i < n; i++) /* smooth-ish data with some zero runs */
        data[i] = (uint8_t)((i / 64) % 3 == 0 ? 0 : (i % 7) * 3 + (next_rand() & 1));
    if (kind == 'b')
        for (size_t i = 0; i < n; i++)
            data[i] &= 1;
    if (fortran)
        f_to_c_ref(&d, data, want, items);
    else
        memcpy(want, data, n);
    b2nd_write_options o = {codec, 5, shuffle, 2, cs, bsh};
    uint8_t *file;
    size_t flen;
    int rc = bs__b2nd_write(&file, &flen, &d, data, fortran, &o);
    b2nd_file f;
    if (!rc)
        rc = bs__b2nd_open(&f, file, flen);
    if (!rc) {
        rc = bs__b2nd_read(&f, got, n, 2);
        if (!rc && memcmp(got, want, n) != 0)
            rc = -100;
        if (!rc && (strcmp(f.desc.dtype, d.dtype) != 0 || f.desc.ndim != d.ndim))
            rc = -101;
        for (int i = 0; !rc && i < d.ndim; i++)
            if (f.desc.shape[i] != d.shape[i])
                rc = -102;
        bs__b2nd_close(&f);
        free(file);
    }
    if (rc)
        fprintf(stderr, "  round trip %s ndim %d codec %s shuffle %d fortran %d: rc %d %s\n",
                d.dtype, d.ndim, codec, shuffle, fortran, rc, blobstore_errmsg());
    free(data);
    free(want);
    free(got);
    return rc;
}

TEST(round_trips_every_dtype_rank_order_codec)
{
    static const char *dtypes[] = {"|b1", "|i1", "<i2", ">i2", "<i4",  ">i4", "<i8",
                                   ">i8", "|u1", "<u2", "<u4", "<u8",  ">u8", "<f4",
                                   ">f4", "<f8", ">f8", "<c8", "<c16", ">c16"};
    static const char *codecs[] = {"lz4", "zstd", "gzip", "blosclz", "none"};
    int count = 0;
    for (size_t t = 0; t < sizeof(dtypes) / sizeof(dtypes[0]); t++) {
        for (int ndim = 0; ndim <= 8; ndim++) {
            b2nd_desc d;
            memset(&d, 0, sizeof(d));
            snprintf(d.dtype, sizeof(d.dtype), "%s", dtypes[t]);
            d.ndim = ndim;
            for (int i = 0; i < ndim; i++)
                d.shape[i] =
                    ndim > 5 ? 1 + (int64_t)(next_rand() % 3) : 1 + (int64_t)(next_rand() % 9);
            int shuffle = (t % 3 == 0) ? B2_BITSHUFFLE : (t % 3 == 1) ? B2_SHUFFLE : -1;
            for (int c = 0; c < 5; c++)
                for (int fortran = 0; fortran < 2; fortran++) {
                    CHECK_EQ(round_trip(&d, codecs[c], shuffle, fortran, NULL, NULL), 0);
                    count++;
                }
        }
    }
    /* Every codec with several chunks and ragged blocks, and zero-size dimensions. */
    for (int c = 0; c < 5; c++) {
        b2nd_desc d = {"<f8", 8, 3, {37, 21, 5}, {0}, {0}};
        int32_t cs[3] = {16, 8, 5}, bsh[3] = {5, 3, 2};
        CHECK_EQ(round_trip(&d, codecs[c], B2_SHUFFLE, c % 2, cs, bsh), 0);
        b2nd_desc e = {"<i4", 4, 2, {0, 7}, {0}, {0}};
        CHECK_EQ(round_trip(&e, codecs[c], B2_SHUFFLE, 0, NULL, NULL), 0);
    }
    CHECK(count == 20 * 9 * 5 * 2);
}

static uint64_t be_at(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

TEST(writer_follows_the_format_rules)
{
    b2nd_desc d = {"<f8", 8, 2, {100, 60}, {0}, {0}};
    size_t n = 100 * 60;
    double *data = calloc(n, sizeof(double));
    for (size_t i = 3000; i < n; i++) /* the first half is zeros: special chunks */
        data[i] = (double)i * 0.5;
    int32_t cs[2] = {25, 60}, bsh[2] = {5, 20};
    b2nd_write_options o = {"zstd", 5, B2_SHUFFLE, 1, cs, bsh};
    uint8_t *file;
    size_t len;
    CHECK_EQ(bs__b2nd_write(&file, &len, &d, data, 0, &o), 0);
    /* Header fields at their fixed places. */
    CHECK(memcmp(file,
                 "\x9e\xa8"
                 "b2frame",
                 10) == 0);
    size_t header_len = (size_t)be_at(file + 11, 4);
    CHECK_EQ(be_at(file + 16, 8), len);
    CHECK_EQ(file[0x19], 0x12);   /* frame format version 2, 64-bit offsets */
    CHECK_EQ(file[0x1b] & 15, 5); /* frame codec number for zstd: 5 */
    b2nd_file f;
    CHECK_EQ(bs__b2nd_open(&f, file, len), 0);
    CHECK_EQ(f.header_len, header_len);
    CHECK_EQ(f.nchunks, 4);
    /* Chunks 0 and 1 are zeros: special offsets; chunk 2 starts right after the header. */
    CHECK((f.offsets[0] >> 63) && ((f.offsets[0] >> 56) & 7) == 1);
    CHECK((f.offsets[1] >> 63));
    CHECK_EQ(f.offsets[2], 0);
    const uint8_t *c2 = file + header_len + f.offsets[2];
    CHECK_EQ(c2[2] >> 5, 4);      /* chunk codec number for zstd: 4 */
    CHECK_EQ(c2[2] & 0x05, 0x05); /* extended header */
    CHECK_EQ(c2[3], 8);           /* typesize */
    CHECK_EQ(c2[16 + 5], B2_SHUFFLE);
    uint32_t blocksize = (uint32_t)c2[8] | (uint32_t)c2[9] << 8 | (uint32_t)c2[10] << 16;
    CHECK_EQ(blocksize, 5 * 20 * 8); /* prod(blockshape) * itemsize */
    /* In the b2nd metalayer the dtype format (0) comes before the dtype string. */
    const uint8_t *dt = NULL;
    for (size_t i = 0; i + 8 <= header_len; i++)
        if (memcmp(file + i, "\xdb\x00\x00\x00\x03<f8", 8) == 0)
            dt = file + i;
    CHECK(dt != NULL && dt[-1] == 0x00);
    double *back = malloc(n * sizeof(double));
    CHECK_EQ(bs__b2nd_read(&f, (uint8_t *)back, n * sizeof(double), 1), 0);
    CHECK(memcmp(back, data, n * sizeof(double)) == 0);
    bs__b2nd_close(&f);
    free(back);
    free(data);
    free(file);
}

static uint64_t xs_next(uint64_t *x)
{
    *x ^= *x << 13, *x ^= *x >> 7, *x ^= *x << 17;
    return *x;
}

static uint32_t le32_at(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* lz4 after a shuffle: one stream per byte plane (c-blosc2's split blocks);
 * a plane lz4 cannot shrink is stored as it is, and tried again only every
 * 16th block; a chunk that saved nothing in its first 16 blocks is stored
 * whole as it is (memcpyed, flag 0x02). The bytes never depend on the
 * thread count. */
/* The byte shuffle (SIMD where there is, plain loops for the rest) is
 * Blosc's: byte j of item i at j * items + i, the bytes past the last item
 * as they are; unshuffle undoes it. Every type size of 1..16 and 17, 32;
 * lengths across the 16-item groups. */
TEST(byte_shuffle_is_blosc_s)
{
    uint8_t src[1200], got[1200], want[1200], back[1200];
    uint32_t x = 12345;
    for (size_t i = 0; i < sizeof(src); i++)
        src[i] = (uint8_t)((x = x * 1103515245u + 12345u) >> 16);
    static const int sizes[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 15, 16, 17, 32};
    for (size_t t = 0; t < sizeof(sizes) / sizeof(sizes[0]); t++) {
        int ts = sizes[t];
        for (size_t n = 0; n <= sizeof(src); n += n < 300 ? 1 : 97) {
            size_t items = n / (size_t)ts;
            for (size_t i = 0; i < items; i++)
                for (int j = 0; j < ts; j++)
                    want[(size_t)j * items + i] = src[i * (size_t)ts + (size_t)j];
            memcpy(want + items * (size_t)ts, src + items * (size_t)ts, n - items * (size_t)ts);
            bs__b2_shuffle(ts, n, src, got);
            if (memcmp(got, want, n) != 0) {
                fprintf(stderr, "shuffle of typesize %d, %zu bytes differs\n", ts, n);
                CHECK(0);
            }
            bs__b2_unshuffle(ts, n, got, back);
            if (memcmp(back, src, n) != 0) {
                fprintf(stderr, "unshuffle of typesize %d, %zu bytes differs\n", ts, n);
                CHECK(0);
            }
        }
    }
}

static long env_long(const char *name, long dflt);
static uint64_t sm_next(uint64_t *s);
static uint64_t sm_below(uint64_t *s, uint64_t n);

/* The unshuffle from separate byte planes (a block's streams where they
 * lie: SIMD groups of 16 items for type sizes 2, 4, 8, 16, plain loops for
 * the rest) against the plain loop, each plane its own allocation (ASan
 * sees a read past one), seeded random bytes, odd item counts. */
TEST(unshuffle_from_planes_is_the_plain_loop)
{
    uint64_t seed = (uint64_t)env_long("B2ND_PLANES_SEED", 20261203), st = seed;
    printf("  unshuffle_from_planes: seed %llu (B2ND_PLANES_SEED)\n", (unsigned long long)seed);
    static const int sizes[] = {1, 2, 3, 4, 5, 7, 8, 9, 12, 15, 16, 17, 32, 255};
    static const size_t counts[] = {0, 1, 7, 15, 16, 17, 31, 33, 255, 257, 1001, 4099};
    for (size_t t = 0; t < sizeof(sizes) / sizeof(sizes[0]); t++)
        for (size_t c = 0; c < sizeof(counts) / sizeof(counts[0]); c++) {
            int ts = sizes[t];
            size_t items = counts[c];
            const uint8_t *planes[255];
            uint8_t *owned[255];
            for (int j = 0; j < ts; j++) {
                owned[j] = malloc(items ? items : 1);
                for (size_t i = 0; i < items; i++)
                    owned[j][i] = (uint8_t)(sm_next(&st) >> 56);
                planes[j] = owned[j];
            }
            uint8_t *got = malloc(items * (size_t)ts + 1), *want = malloc(items * (size_t)ts + 1);
            uint8_t *nt = malloc(items * (size_t)ts + 17); /* (aligned, then not) */
            for (size_t i = 0; i < items; i++)
                for (int j = 0; j < ts; j++)
                    want[i * (size_t)ts + (size_t)j] = planes[j][i];
            bs__b2_unshuffle_streams(ts, items, planes, got);
            if (memcmp(got, want, items * (size_t)ts) != 0) {
                fprintf(stderr,
                        "unshuffle from planes: typesize %d, %zu items differs (seed %llu)\n", ts,
                        items, (unsigned long long)seed);
                CHECK(0);
            }
            for (int shift = 0; shift < 2; shift++) {
                bs__b2_unshuffle_streams_nt(ts, items, planes, nt + shift);
                if (memcmp(nt + shift, want, items * (size_t)ts) != 0) {
                    fprintf(stderr,
                            "unshuffle from planes, non-temporal, dst + %d: typesize %d, %zu items "
                            "differs (seed %llu)\n",
                            shift, ts, items, (unsigned long long)seed);
                    CHECK(0);
                }
            }
            for (int j = 0; j < ts; j++)
                free(owned[j]);
            free(nt);
            free(got);
            free(want);
        }
}

/* A chunk decoded with non-temporal stores (results larger than the
 * caches) is the chunk decoded as usual: shuffled lz4 chunks of random
 * items of each type size, split in streams or not. */
TEST(chunk_decode_nt_is_chunk_decode)
{
    uint64_t seed = (uint64_t)env_long("B2ND_PLANES_SEED", 20261203), st = seed;
    printf("  chunk_decode_nt: seed %llu (B2ND_PLANES_SEED)\n", (unsigned long long)seed);
    static const int sizes[] = {1, 2, 4, 8, 16, 3, 12};
    for (size_t t = 0; t < sizeof(sizes) / sizeof(sizes[0]); t++)
        for (int codec = 0; codec < 2; codec++) {
            int ts = sizes[t];
            uint32_t nbytes = (uint32_t)(ts * 5003), bsize = (uint32_t)(ts * 1024);
            uint8_t *src = malloc(nbytes), *a = malloc(nbytes), *b = malloc(nbytes + 16);
            for (uint32_t i = 0; i < nbytes; i++) /* low bytes random, high ones small */
                src[i] = (uint8_t)(sm_next(&st) >> (i % (uint32_t)ts ? 60 : 56));
            b2_cparams cp = {codec ? B2_ZSTD : B2_LZ4, 5, B2_SHUFFLE, ts, bsize};
            uint8_t *c;
            size_t clen;
            CHECK_EQ(bs__b2_chunk_encode(&c, &clen, src, nbytes, &cp), 0);
            CHECK_EQ(bs__b2_chunk_decode(c, clen, a, nbytes), 0);
            int same = memcmp(a, src, nbytes) == 0;
            for (int shift = 0; shift < 2; shift++) { /* (16-byte aligned, then not) */
                CHECK_EQ(bs__b2_chunk_decode_nt(c, clen, b + shift, nbytes), 0);
                same &= memcmp(b + shift, src, nbytes) == 0;
            }
            if (!same)
                fprintf(stderr, "typesize %d codec %d differs (seed %llu)\n", ts, codec,
                        (unsigned long long)seed);
            CHECK(same);
            free(c);
            free(src);
            free(a);
            free(b);
        }
}

/* Whole chunks of whole rows are decoded straight into the result (no
 * copy through a chunk buffer); the others go through one. Boxes of whole
 * rows from any row, and others, against the input. */
TEST(row_boxes_decode_in_place)
{
    uint64_t seed = (uint64_t)env_long("B2ND_ROWS_SEED", 20261203), st = seed;
    printf("  row_boxes_decode_in_place: seed %llu (B2ND_ROWS_SEED)\n", (unsigned long long)seed);
    b2nd_desc d = {"<f8", 8, 2, {1001, 37}, {0}, {0}};
    size_t items = 1001 * 37;
    uint64_t *data = malloc(items * 8);
    for (size_t i = 0; i < items; i++)
        data[i] = sm_next(&st);
    int32_t cs[2] = {64, 37}, bsh[2] = {16, 37};
    static const char *codecs[] = {"lz4", "zstd", "none"};
    for (int k = 0; k < 3; k++) {
        b2nd_write_options o = {codecs[k], 5, k == 1 ? B2_BITSHUFFLE : B2_SHUFFLE, 2, cs, bsh};
        uint8_t *file;
        size_t len;
        CHECK_EQ(bs__b2nd_write(&file, &len, &d, data, 0, &o), 0);
        b2nd_file f;
        CHECK_EQ(bs__b2nd_open(&f, file, len), 0);
        for (int trial = 0; trial < 40; trial++) {
            int64_t lo[2], hi[2];
            lo[0] = (int64_t)sm_below(&st, 1001);
            hi[0] = lo[0] + (int64_t)sm_below(&st, (uint64_t)(1001 - lo[0] + 1));
            lo[1] = trial % 2 ? (int64_t)sm_below(&st, 37) : 0;
            hi[1] = trial % 2 ? lo[1] + (int64_t)sm_below(&st, (uint64_t)(37 - lo[1] + 1)) : 37;
            size_t n = (size_t)(hi[0] - lo[0]) * (size_t)(hi[1] - lo[1]);
            uint64_t *got = malloc((n ? n : 1) * 8);
            CHECK_EQ(bs__b2nd_read_slice(&f, lo, hi, (uint8_t *)got, n * 8, 1 + trial % 2), 0);
            size_t m = 0, bad = 0;
            for (int64_t a = lo[0]; a < hi[0]; a++)
                for (int64_t b = lo[1]; b < hi[1]; b++)
                    bad += got[m++] != data[a * 37 + b];
            if (bad)
                fprintf(stderr, "codec %s box [%lld:%lld, %lld:%lld] differs (seed %llu)\n",
                        codecs[k], (long long)lo[0], (long long)hi[0], (long long)lo[1],
                        (long long)hi[1], (unsigned long long)seed);
            CHECK_EQ(bad, 0);
            free(got);
        }
        bs__b2nd_close(&f);
        free(file);
    }
    free(data);
}

TEST(incompressible_blocks_are_stored_as_they_are)
{
    enum { CI = 256 * 1024, NCH = 5 };  /* 2 MiB chunks of 64 blocks of 32 KiB */
    size_t n = (size_t)CI * NCH - 1000; /* a short last chunk */
    double *data = malloc(n * sizeof(double));
    uint64_t x = 88172645463325252ull;
    for (size_t i = 0; i < n; i++) {
        uint64_t r = xs_next(&x);
        size_t c = i / CI, in = i % CI;
        if (c == 0) /* random bits: nothing compresses */
            memcpy(&data[i], &r, 8);
        else if (c == 1) /* uniform in [0, 1): the exponent planes compress */
            data[i] = (double)(r >> 11) / 9007199254740992.0;
        else if (c == 2) /* a ramp */
            data[i] = (double)(i / 4) * 0.25;
        else if (c == 3) /* 20 random blocks, then zeros */
            memcpy(&data[i], in < 20 * 4096 ? &r : &(uint64_t){0}, 8);
        else
            data[i] = (double)(r >> 11) / 9007199254740992.0;
    }
    b2nd_desc d = {"<f8", 8, 1, {(int64_t)n}, {0}, {0}};
    int32_t cs[1] = {CI}, bsh[1] = {4096};
    uint8_t *file[4];
    size_t len[4];
    static const int threads[4] = {1, 2, 3, 7};
    for (int t = 0; t < 4; t++) {
        b2nd_write_options o = {"lz4", 5, B2_SHUFFLE, threads[t], cs, bsh};
        CHECK_EQ(bs__b2nd_write(&file[t], &len[t], &d, data, 0, &o), 0);
    }
    for (int t = 1; t < 4; t++) {
        CHECK_EQ(len[t], len[0]);
        CHECK(len[t] == len[0] && memcmp(file[t], file[0], len[0]) == 0);
    }
    b2nd_file f;
    CHECK_EQ(bs__b2nd_open(&f, file[0], len[0]), 0);
    CHECK_EQ(f.nchunks, NCH);
    const uint8_t *c[NCH];
    for (int i = 0; i < NCH; i++)
        c[i] = file[0] + f.header_len + f.offsets[i];
    uint32_t nb = CI * 8;
    /* chunk 0: memcpyed, its bytes as given */
    CHECK_EQ(c[0][2] & 0x02, 0x02);
    CHECK_EQ(le32_at(c[0] + 12), nb + 32);
    CHECK(memcmp(c[0] + 32, data, nb) == 0);
    /* chunk 1: split streams, smaller than its bytes; in block 1 (not a
     * trial) the lowest plane is stored as it is, the top plane compressed */
    CHECK_EQ(c[1][2] & 0x12, 0);
    CHECK(le32_at(c[1] + 12) < nb);
    uint32_t at = le32_at(c[1] + 32 + 4); /* block 1 */
    CHECK_EQ(le32_at(c[1] + at), 4096);   /* plane 0: 4096 bytes as they are */
    uint32_t pos = at;
    for (int k = 0; k < 7; k++)
        pos += 4 + le32_at(c[1] + pos);
    CHECK(le32_at(c[1] + pos) < 4096); /* plane 7 (sign, exponent): compressed */
    /* chunk 2: compressed to a small part */
    CHECK(le32_at(c[2] + 12) < nb / 10);
    /* chunk 3: its first 16 blocks saved nothing: memcpyed */
    CHECK_EQ(c[3][2] & 0x02, 0x02);
    double *back = malloc(n * sizeof(double));
    CHECK_EQ(bs__b2nd_read(&f, (uint8_t *)back, n * sizeof(double), 2), 0);
    CHECK(memcmp(back, data, n * sizeof(double)) == 0);
    bs__b2nd_close(&f);
    for (int t = 0; t < 4; t++)
        free(file[t]);
    /* A 2-D array in Fortran order with edge chunks (chunks copied out of
     * the input, not encoded in place), through the thread counts. */
    b2nd_desc d2 = {"<i4", 4, 2, {301, 77}, {0}, {0}};
    int32_t *v = malloc(301 * 77 * sizeof(int32_t));
    for (int i = 0; i < 301 * 77; i++)
        v[i] = i % 7 == 0 ? (int32_t)xs_next(&x) : i / 3;
    int32_t cs2[2] = {64, 30}, bs2[2] = {16, 10};
    for (int t = 0; t < 4; t++) {
        b2nd_write_options o = {"lz4", 5, B2_SHUFFLE, threads[t], cs2, bs2};
        CHECK_EQ(bs__b2nd_write(&file[t], &len[t], &d2, v, 1, &o), 0);
    }
    for (int t = 1; t < 4; t++)
        CHECK(len[t] == len[0] && memcmp(file[t], file[0], len[0]) == 0);
    for (int t = 0; t < 4; t++)
        free(file[t]);
    free(v);
    free(back);
    free(data);
}

TEST(slices_match_full_decode)
{
    b2nd_desc d = {"<i4", 4, 3, {23, 17, 9}, {0}, {0}};
    size_t items = 23 * 17 * 9;
    int32_t *data = malloc(items * 4);
    for (size_t i = 0; i < items; i++)
        data[i] = (int32_t)(i * 7);
    int32_t cs[3] = {10, 6, 4}, bsh[3] = {3, 4, 3};
    b2nd_write_options o = {"lz4", 5, B2_SHUFFLE, 2, cs, bsh};
    uint8_t *file;
    size_t len;
    CHECK_EQ(bs__b2nd_write(&file, &len, &d, data, 0, &o), 0);
    b2nd_file f;
    CHECK_EQ(bs__b2nd_open(&f, file, len), 0);
    for (int trial = 0; trial < 60; trial++) {
        int64_t lo[3], hi[3];
        size_t n = 1;
        for (int i = 0; i < 3; i++) {
            lo[i] = (int64_t)(next_rand() % (uint32_t)d.shape[i]);
            hi[i] = lo[i] + (int64_t)(next_rand() % (uint32_t)(d.shape[i] - lo[i] + 1));
            n *= (size_t)(hi[i] - lo[i]);
        }
        int32_t *got = malloc((n ? n : 1) * 4);
        CHECK_EQ(bs__b2nd_read_slice(&f, lo, hi, (uint8_t *)got, n * 4, 2), 0);
        size_t k = 0;
        for (int64_t a = lo[0]; a < hi[0]; a++)
            for (int64_t b = lo[1]; b < hi[1]; b++)
                for (int64_t c = lo[2]; c < hi[2]; c++)
                    CHECK_EQ(got[k++], data[(a * 17 + b) * 9 + c]);
        free(got);
    }
    int64_t lo[3] = {0, 0, 0}, bad[3] = {24, 1, 1};
    int32_t one;
    CHECK_EQ(bs__b2nd_read_slice(&f, lo, bad, (uint8_t *)&one, 4, 1), BLOBSTORE_EINVAL);
    bs__b2nd_close(&f);
    free(file);
    free(data);
}

TEST(damaged_files_give_errors)
{
    b2nd_desc d = {"<f8", 8, 2, {30, 20}, {0}, {0}};
    double data[600];
    for (int i = 0; i < 600; i++)
        data[i] = i * 1.25;
    int32_t cs[2] = {16, 20}, bsh[2] = {4, 10};
    b2nd_write_options o = {"zstd", 5, B2_SHUFFLE, 1, cs, bsh};
    uint8_t *file;
    size_t len;
    CHECK_EQ(bs__b2nd_write(&file, &len, &d, data, 0, &o), 0);
    double out[600];
    for (size_t cut = 0; cut < len; cut++) { /* every truncation is refused */
        b2nd_file f;
        int rc = bs__b2nd_open(&f, file, cut);
        CHECK(rc != 0);
    }
    uint8_t *copy = malloc(len);
    int errors = 0, same = 0;
    for (size_t i = 0; i < len; i++) { /* every single-byte change: no crash */
        memcpy(copy, file, len);
        copy[i] ^= 0x5a;
        b2nd_file f;
        int rc = bs__b2nd_open(&f, copy, len);
        if (!rc) {
            rc = bs__b2nd_read(&f, (uint8_t *)out, sizeof(out), 1);
            bs__b2nd_close(&f);
        }
        if (rc)
            errors++;
        else if (memcmp(out, data, sizeof(out)) == 0)
            same++;
    }
    /* Blosc2 has no checksums: some payload changes decode to other values
     * (the store's SHA-256 catches those); structural damage is an error. */
    CHECK(errors > (int)len / 4);
    (void)same;
    free(copy);
    free(file);
}

TEST(npy_round_trip)
{
    b2nd_desc d = {">i2", 2, 3, {2, 3, 4}, {0}, {0}};
    char *h;
    size_t hl;
    CHECK_EQ(bs__b2nd_npy_header(&h, &hl, &d), 0);
    CHECK_EQ(hl % 64, 0);
    size_t total = hl + 48;
    uint8_t *buf = malloc(total);
    memcpy(buf, h, hl);
    for (int i = 0; i < 48; i++)
        buf[hl + (size_t)i] = (uint8_t)i;
    b2nd_desc e;
    int fortran;
    size_t off;
    CHECK_EQ(bs__b2nd_npy_parse(&e, &fortran, &off, buf, total), 0);
    CHECK_STR(e.dtype, ">i2");
    CHECK_EQ(e.ndim, 3);
    CHECK_EQ(e.shape[2], 4);
    CHECK_EQ(fortran, 0);
    CHECK_EQ(off, hl);
    CHECK_EQ(bs__b2nd_npy_parse(&e, &fortran, &off, buf, total - 1), BLOBSTORE_ECORRUPT);
    const char *fort = "\x93NUMPY\x01\x00\x46\x00{'descr': '<f8', 'fortran_order': True, 'shape': "
                       "(3, 2), }         \n";
    CHECK_EQ(bs__b2nd_npy_parse(&e, &fortran, &off, (const uint8_t *)fort, 80 + 48), 0);
    CHECK_EQ(fortran, 1);
    CHECK_EQ(e.shape[0], 3);
    const char *scalar =
        "\x93NUMPY\x01\x00\x36\x00{'descr': '<u8', 'fortran_order': False, 'shape': (), }\n";
    CHECK_EQ(bs__b2nd_npy_parse(&e, &fortran, &off, (const uint8_t *)scalar, 64 + 8), 0);
    CHECK_EQ(e.ndim, 0);
    CHECK_EQ(bs__b2nd_npy_parse(&e, &fortran, &off, (const uint8_t *)"junk", 4), BLOBSTORE_EINVAL);
    free(h);
    free(buf);
}

static blobstore *open_store(const char *dir, const char *blob_backend)
{
    blobstore_options o = BLOBSTORE_OPTIONS_INIT;
    o.cache_dir = dir;
    o.backend = "sqlite";
    o.blob_backend = blob_backend;
    blobstore *bs = NULL;
    return blobstore_open(&bs, &o) == 0 ? bs : NULL;
}

/* A chunk shape given without a block shape gets the automatic block of that
 * chunk (it was given the automatic chunk's block, larger than the chunk:
 * EINVAL). */
TEST(chunkshape_alone_gets_its_own_block)
{
    const char *dir = test_tmpdir();
    blobstore *bs = open_store(dir, "filesystem");
    CHECK(bs != NULL);
    static int32_t data[300 * 40];
    for (int i = 0; i < 300 * 40; i++)
        data[i] = i * 7 - 5;
    blobstore_array a = {"<i4", 2, {300, 40}, data, sizeof(data), 0};
    blobstore_array_options o = BLOBSTORE_ARRAY_OPTIONS_INIT;
    int32_t cs[2] = {7, 3};
    o.chunkshape = cs;
    CHECK_EQ(blobstore_array_put(NULL, bs, "a", &a, &o), 0);
    char *meta;
    CHECK_EQ(blobstore_get_metadata(&meta, bs, "a"), 0);
    CHECK(strstr(meta, "\"chunkshape\":[7,3]") != NULL);
    CHECK(strstr(meta, "\"blockshape\":[7,3]") != NULL);
    blobstore_free(meta);
    int64_t lo[2] = {5, 2}, hi[2] = {290, 39};
    blobstore_array back;
    CHECK_EQ(blobstore_array_get_slice(&back, bs, "a", lo, hi), 0);
    CHECK_EQ(back.shape[0], 285);
    CHECK_EQ(back.shape[1], 37);
    int ok = 1;
    for (int r = 0; r < 285; r++)
        for (int c = 0; c < 37; c++)
            ok &= ((int32_t *)back.data)[r * 37 + c] == data[(r + 5) * 40 + c + 2];
    CHECK(ok);
    blobstore_array_clear(&back);
    /* a large chunk given alone: its block is at most 32 KiB */
    int32_t big[2] = {300, 40};
    o.chunkshape = big;
    CHECK_EQ(blobstore_array_put(NULL, bs, "b", &a, &o), 0);
    CHECK_EQ(blobstore_get_metadata(&meta, bs, "b"), 0);
    CHECK(strstr(meta, "\"chunkshape\":[300,40]") != NULL);
    CHECK(strstr(meta, "\"blockshape\":[150,40]") != NULL);
    blobstore_free(meta);
    blobstore_close(bs);
}

TEST(arrays_through_the_store)
{
    static const char *backends[] = {"filesystem", "memory"};
    for (int b = 0; b < 2; b++) {
        const char *dir = test_tmpdir();
        blobstore *bs = open_store(dir, backends[b]);
        CHECK(bs != NULL);
        double data[12 * 7];
        for (int i = 0; i < 84; i++)
            data[i] = i * 0.25;
        blobstore_array a = {"<f8", 2, {12, 7}, data, sizeof(data), 0};
        blobstore_array_options o = BLOBSTORE_ARRAY_OPTIONS_INIT;
        o.metadata = "{\"kind\": \"grid\"}";
        char *key;
        CHECK_EQ(blobstore_array_put(&key, bs, "grid", &a, &o), 0);
        CHECK_STR(key, "grid");
        blobstore_free(key);
        char *meta;
        CHECK_EQ(blobstore_get_metadata(&meta, bs, "grid"), 0);
        CHECK(strstr(meta, "\"format\":\"b2nd\"") != NULL);
        CHECK(strstr(meta, "\"dtype\":\"<f8\"") != NULL);
        CHECK(strstr(meta, "\"shape\":[12,7]") != NULL);
        CHECK(strstr(meta, "\"kind\":\"grid\"") != NULL);
        CHECK(strstr(meta, ".b2nd\"") != NULL);
        blobstore_free(meta);
        blobstore_array back;
        CHECK_EQ(blobstore_array_get(&back, bs, "grid"), 0);
        CHECK_STR(back.dtype, "<f8");
        CHECK_EQ(back.ndim, 2);
        CHECK_EQ(back.shape[1], 7);
        CHECK_EQ(back.nbytes, sizeof(data));
        CHECK_MEM(back.data, data, sizeof(data));
        blobstore_array_clear(&back);
        int64_t lo[2] = {3, 2}, hi[2] = {5, 6};
        CHECK_EQ(blobstore_array_get_slice(&back, bs, "grid", lo, hi), 0);
        CHECK_EQ(back.shape[0], 2);
        CHECK_EQ(back.shape[1], 4);
        CHECK_EQ(((double *)back.data)[5], data[4 * 7 + 3]);
        blobstore_array_clear(&back);
        int64_t bad[2] = {13, 1};
        CHECK_EQ(blobstore_array_get_slice(&back, bs, "grid", lo, bad), BLOBSTORE_EINVAL);
        /* The stored bytes are a .b2nd file; a non-array key is refused. */
        void *file;
        size_t len;
        CHECK_EQ(blobstore_get(&file, &len, bs, "grid"), 0);
        b2nd_file f;
        CHECK_EQ(bs__b2nd_open(&f, file, len), 0);
        bs__b2nd_close(&f);
        CHECK_EQ(blobstore_array_put_b2nd(NULL, bs, "copy", file, len, NULL), 0);
        CHECK_EQ(blobstore_array_get(&back, bs, "copy"), 0);
        CHECK_MEM(back.data, data, sizeof(data));
        blobstore_array_clear(&back);
        ((uint8_t *)file)[len / 2] ^= 0xff;
        CHECK(blobstore_array_put_b2nd(NULL, bs, "bad", file, len, NULL) != 0);
        CHECK_EQ(blobstore_exists(bs, "bad"), 0);
        blobstore_free(file);
        CHECK_EQ(blobstore_put(NULL, bs, "bytes", "abc", 3, NULL), 0);
        CHECK_EQ(blobstore_array_get(&back, bs, "bytes"), BLOBSTORE_EINVAL);
        CHECK_EQ(blobstore_array_get(&back, bs, "missing"), BLOBSTORE_ENOTFOUND);
        /* Wrong sizes and unsupported dtypes are refused. */
        blobstore_array wrong = {"<f8", 2, {12, 8}, data, sizeof(data), 0};
        CHECK_EQ(blobstore_array_put(NULL, bs, "w", &wrong, NULL), BLOBSTORE_EINVAL);
        blobstore_array odd = {"<U5", 1, {2}, data, 40, 0};
        CHECK_EQ(blobstore_array_put(NULL, bs, "u", &odd, NULL), BLOBSTORE_EUNSUPPORTED);
        blobstore_close(bs);
    }
}

static long env_long(const char *name, long dflt);

/* blobstore_get of an array's file (stored as it is, read straight into the
 * result, segment by segment): the file's bytes exactly; a flipped byte, a
 * file cut short and a file with bytes appended each read as corrupt, no
 * data returned. A small file and one of several segments (and over 4 MiB,
 * a result in huge pages), random values from a seed. */
TEST(array_file_get_reads_whole_and_refuses_damage)
{
    uint64_t seed = (uint64_t)env_long("B2ND_GET_SEED", 20261203);
    int failed_before = test__failed;
    const char *dir = test_tmpdir();
    blobstore *bs = open_store(dir, "filesystem");
    CHECK(bs != NULL);
    static const size_t sizes[] = {5000, 3u << 20}; /* float64 items */
    for (int t = 0; t < 2; t++) {
        size_t n = sizes[t];
        double *v = malloc(n * sizeof(double));
        CHECK(v != NULL);
        uint64_t x = seed + (uint64_t)t;
        for (size_t i = 0; i < n; i++)
            v[i] = (double)(xs_next(&x) >> 11);
        blobstore_array a = {"<f8", 1, {(int64_t)n}, v, n * sizeof(double), 0};
        CHECK_EQ(blobstore_array_put(NULL, bs, "g", &a, NULL), 0);
        char path[8192];
        CHECK_EQ(test_blob_path(path, sizeof(path), bs, dir, "g"), 0);
        bs_buf file = {0};
        CHECK_EQ(bs__read_file(path, &file), 0);
        void *out;
        size_t len;
        CHECK_EQ(blobstore_get(&out, &len, bs, "g"), 0);
        CHECK(len == file.len && memcmp(out, file.data, len) == 0);
        blobstore_free(out);
        for (int damage = 0; damage < 3; damage++) {
            FILE *fp = fopen(path, "wb");
            CHECK(fp != NULL);
            if (damage == 0) { /* a byte flipped in the last part */
                file.data[file.len - file.len / 7] ^= 0x10;
                fwrite(file.data, 1, file.len, fp);
                file.data[file.len - file.len / 7] ^= 0x10;
            } else if (damage == 1) { /* cut short */
                fwrite(file.data, 1, file.len - 100, fp);
            } else { /* bytes appended */
                fwrite(file.data, 1, file.len, fp);
                fwrite("tail", 1, 4, fp);
            }
            fclose(fp);
            out = (void *)1;
            CHECK_EQ(blobstore_get(&out, &len, bs, "g"), BLOBSTORE_ECORRUPT);
            CHECK(out == NULL);
        }
        FILE *fp = fopen(path, "wb");
        CHECK(fp != NULL);
        fwrite(file.data, 1, file.len, fp);
        fclose(fp);
        CHECK_EQ(blobstore_get(&out, &len, bs, "g"), 0);
        CHECK(len == file.len && memcmp(out, file.data, len) == 0);
        blobstore_free(out);
        bs__buf_free(&file);
        free(v);
    }
    blobstore_close(bs);
    if (test__failed != failed_before)
        fprintf(stderr, "  seed %llu (B2ND_GET_SEED)\n", (unsigned long long)seed);
}

/* blobstore_array_get of a large array reads its file a chunk at a time,
 * each chunk's segments checked and dropped once decoded (a few kept for
 * the next chunk): peak memory is the array and some chunks, not the file
 * too (below the array and half the file); every value comes back; a byte
 * damaged in the middle of the file is ECORRUPT. Seeded random float64,
 * lz4 and none. */
TEST(array_get_holds_the_array_not_the_file)
{
    uint64_t seed = (uint64_t)env_long("B2ND_GET_SEED", 20261203);
    int failed_before = test__failed;
    const char *dir = test_tmpdir();
    blobstore *bs = open_store(dir, "filesystem");
    CHECK(bs != NULL);
    size_t n = (size_t)12 << 20; /* 96 MB of float64 */
    double *v = malloc(n * sizeof(double));
    CHECK(v != NULL);
    uint64_t x = seed;
    for (size_t i = 0; i < n; i++)
        v[i] = (double)(xs_next(&x) >> 11) * (i % 3 ? 1.0 : 1e-300);
    static const char *codecs[] = {"lz4", "none"};
    for (int c = 0; c < 2; c++) {
        blobstore_array a = {"<f8", 1, {(int64_t)n}, v, n * sizeof(double), 0};
        blobstore_array_options o = BLOBSTORE_ARRAY_OPTIONS_INIT;
        o.compression = codecs[c];
        CHECK_EQ(blobstore_array_put(NULL, bs, "big", &a, &o), 0);
        char *meta;
        CHECK_EQ(blobstore_get_metadata(&meta, bs, "big"), 0);
        long long file_size = 0;
        const char *fs = strstr(meta, "\"file_size\":");
        CHECK(fs != NULL && sscanf(fs + 12, "%lld", &file_size) == 1);
        blobstore_free(meta);
        char path[8192];
        CHECK_EQ(test_blob_path(path, sizeof(path), bs, dir, "big"), 0);
        blobstore_array got;
        CHECK(test_peak_reset());
        long rss0 = test_vm_kib("VmRSS");
        CHECK_EQ(blobstore_array_get(&got, bs, "big"), 0);
        long peak = (test_vm_kib("VmHWM") - rss0) * 1024;
        CHECK(got.nbytes == a.nbytes && memcmp(got.data, v, a.nbytes) == 0);
        blobstore_array_clear(&got);
        printf("  array_get (%s, file %.0f MB): peak RSS growth %.0f MB for a %.0f MB array\n",
               codecs[c], file_size / 1e6, peak / 1e6, a.nbytes / 1e6);
        if (!getenv("BLOBSTORE_SANITIZED")) /* before: the array and the whole file */
            CHECK(peak < (long)a.nbytes + file_size / 2);
        /* a byte flipped in the middle of the file */
        bs_buf file = {0};
        CHECK_EQ(bs__read_file(path, &file), 0);
        file.data[file.len / 2] ^= 0x40;
        FILE *fp = fopen(path, "wb");
        CHECK(fp != NULL && fwrite(file.data, 1, file.len, fp) == file.len);
        fclose(fp);
        blobstore_array bad = {0};
        CHECK_EQ(blobstore_array_get(&bad, bs, "big"), BLOBSTORE_ECORRUPT);
        CHECK(bad.data == NULL);
        bs__buf_free(&file);
        CHECK_EQ(blobstore_delete(bs, "big"), 0);
    }
    free(v);
    blobstore_close(bs);
    if (test__failed != failed_before)
        fprintf(stderr, "  seed %llu (B2ND_GET_SEED)\n", (unsigned long long)seed);
}

/* Ranged reads of several arrays in a row (the reader's mapping, with the
 * pages it read into, is reused by the next reader: stale bytes of another
 * file), whole with 1 to 8 workers (several loading segments at once, one
 * waiting for another's) and in boxes, each compared with its input; a
 * damaged file read after the others is ECORRUPT, and the others still read
 * right after it. Seeded random values, three dtypes, files of 10-24 MB. */
TEST(array_reads_in_a_row_reuse_pages_and_check_every_segment)
{
    uint64_t seed = (uint64_t)env_long("B2ND_ROW_SEED", 20261203), x = seed;
    printf("  array_reads_in_a_row_reuse_pages_and_check_every_segment: seed %llu "
           "(B2ND_ROW_SEED)\n",
           (unsigned long long)seed);
    const char *dir = test_tmpdir();
    blobstore *bs = open_store(dir, "filesystem");
    CHECK(bs != NULL);
    static const char *keys[3] = {"f8", "i4", "u2"}, *dtypes[3] = {"<f8", "<i4", "<u2"};
    size_t sizes[3] = {2000003, 6000001, 9000007}, its[3] = {8, 4, 2};
    uint8_t *data[3];
    for (int k = 0; k < 3; k++) {
        size_t nb = sizes[k] * its[k];
        data[k] = malloc(nb);
        for (size_t i = 0; i < nb; i++) /* the high byte of each item small: compressible */
            data[k][i] = (uint8_t)(i % its[k] == its[k] - 1 ? xs_next(&x) % 3 : xs_next(&x));
        blobstore_array a = {"", 1, {(int64_t)sizes[k]}, data[k], nb, 0};
        snprintf(a.dtype, sizeof(a.dtype), "%s", dtypes[k]);
        CHECK_EQ(blobstore_array_put(NULL, bs, keys[k], &a, NULL), 0);
    }
    static const int order[9] = {0, 1, 2, 0, 2, 1, 1, 0, 2};
    for (int r = 0; r < 9; r++) {
        int k = order[r], threads = r % 4 == 3 ? 8 : r % 4;
        size_t nb = sizes[k] * its[k];
        uint8_t *back = malloc(nb);
        memset(back, 0xa5, nb);
        blobstore_array g;
        bs__array_get_threads = threads;
        CHECK_EQ(blobstore_array_get_into(&g, bs, keys[k], back, nb), 0);
        CHECK(g.data == back && g.nbytes == nb);
        CHECK_MEM(back, data[k], nb);
        CHECK_EQ(blobstore_array_get_into(&g, bs, keys[k], back, nb - 1), BLOBSTORE_EINVAL);
        bs__array_get_threads = 0;
        free(back);
        int64_t lo = (int64_t)(xs_next(&x) % sizes[k]), hi = lo + (int64_t)(xs_next(&x) % 700000);
        if (hi > (int64_t)sizes[k])
            hi = (int64_t)sizes[k];
        blobstore_array s;
        CHECK_EQ(blobstore_array_get_slice(&s, bs, keys[k], &lo, &hi), 0);
        CHECK_EQ(s.nbytes, (size_t)(hi - lo) * its[k]);
        CHECK_MEM(s.data, data[k] + (size_t)lo * its[k], s.nbytes);
        blobstore_array_clear(&s);
    }
    /* a byte flipped at a quarter of u2's file: ECORRUPT, whole and with
     * the box that covers it; the others read right after it */
    char path[8192];
    CHECK_EQ(test_blob_path(path, sizeof(path), bs, dir, "u2"), 0);
    bs_buf file = {0};
    CHECK_EQ(bs__read_file(path, &file), 0);
    file.data[file.len / 4] ^= 0x08;
    FILE *fp = fopen(path, "wb");
    CHECK(fp != NULL && fwrite(file.data, 1, file.len, fp) == file.len);
    fclose(fp);
    bs__buf_free(&file);
    for (int threads = 0; threads < 3; threads++) {
        uint8_t *back = malloc(sizes[2] * 2);
        blobstore_array into;
        bs__array_get_threads = threads;
        CHECK_EQ(blobstore_array_get_into(&into, bs, "u2", back, sizes[2] * 2), BLOBSTORE_ECORRUPT);
        bs__array_get_threads = 0;
        CHECK(into.data == NULL && into.nbytes == 0);
        free(back);
        blobstore_array bad = {0};
        CHECK_EQ(blobstore_array_get(&bad, bs, "u2"), BLOBSTORE_ECORRUPT);
        CHECK(bad.data == NULL);
        for (int k = 0; k < 2; k++) {
            blobstore_array g;
            CHECK_EQ(blobstore_array_get(&g, bs, keys[k]), 0);
            CHECK_EQ(g.nbytes, sizes[k] * its[k]);
            CHECK_MEM(g.data, data[k], g.nbytes);
            blobstore_array_clear(&g);
        }
    }
    for (int k = 0; k < 3; k++)
        free(data[k]);
    blobstore_close(bs);
}

/* Readers on threads of their own, at once, each reading two arrays in turn
 * (the mapping pool handed from reader to reader across threads, each
 * reader's workers loading segments together): every read equal to its
 * input. */
typedef struct {
    blobstore *bs;
    const uint8_t *data[2];
    size_t nbytes[2];
    int failures;
} conc_ctx;

static void *conc_reader(void *arg)
{
    conc_ctx *c = arg;
    for (int r = 0; r < 6; r++) {
        int k = r % 2;
        blobstore_array g;
        if (blobstore_array_get(&g, c->bs, k ? "b" : "a") != 0 || g.nbytes != c->nbytes[k] ||
            memcmp(g.data, c->data[k], g.nbytes) != 0)
            c->failures++;
        blobstore_array_clear(&g);
    }
    return NULL;
}

TEST(array_reads_on_several_threads_at_once)
{
    uint64_t seed = (uint64_t)env_long("B2ND_CONC_SEED", 20261203), x = seed;
    printf("  array_reads_on_several_threads_at_once: seed %llu (B2ND_CONC_SEED)\n",
           (unsigned long long)seed);
    const char *dir = test_tmpdir();
    blobstore *bs = open_store(dir, "filesystem");
    CHECK(bs != NULL);
    size_t items[2] = {1500007, 2300003};
    double *v[2];
    for (int k = 0; k < 2; k++) {
        v[k] = malloc(items[k] * 8);
        for (size_t i = 0; i < items[k]; i++)
            v[k][i] = (double)(xs_next(&x) >> 11) / 9007199254740992.0;
        blobstore_array a = {"<f8", 1, {(int64_t)items[k]}, v[k], items[k] * 8, 0};
        CHECK_EQ(blobstore_array_put(NULL, bs, k ? "b" : "a", &a, NULL), 0);
    }
    enum { NT = 4 };
    conc_ctx c[NT];
    pthread_t th[NT];
    for (int t = 0; t < NT; t++) {
        c[t] = (conc_ctx){
            bs, {(const uint8_t *)v[0], (const uint8_t *)v[1]}, {items[0] * 8, items[1] * 8}, 0};
        CHECK_EQ(pthread_create(&th[t], NULL, conc_reader, &c[t]), 0);
    }
    for (int t = 0; t < NT; t++) {
        pthread_join(th[t], NULL);
        CHECK_EQ(c[t].failures, 0);
    }
    for (int k = 0; k < 2; k++)
        free(v[k]);
    blobstore_close(bs);
}

TEST(array_blob_file_is_the_b2nd_file_and_corruption_is_caught)
{
    const char *dir = test_tmpdir();
    blobstore *bs = open_store(dir, "filesystem");
    CHECK(bs != NULL);
    int32_t data[5000];
    for (int i = 0; i < 5000; i++)
        data[i] = i;
    blobstore_array a = {"<i4", 1, {5000}, data, sizeof(data), 0};
    CHECK_EQ(blobstore_array_put(NULL, bs, "v", &a, NULL), 0);
    char path[8192];
    CHECK_EQ(test_blob_path(path, sizeof(path), bs, dir, "v"), 0);
    bs_buf buf = {0};
    CHECK_EQ(bs__read_file(path, &buf), 0);
    b2nd_file f; /* the file on disk opens as a .b2nd as it is */
    CHECK_EQ(bs__b2nd_open(&f, buf.data, buf.len), 0);
    CHECK_EQ(f.desc.shape[0], 5000);
    bs__b2nd_close(&f);
    buf.data[buf.len / 2] ^= 0x01; /* a payload byte: Blosc2 itself would not notice */
    FILE *fp = fopen(path, "wb");
    fwrite(buf.data, 1, buf.len, fp);
    fclose(fp);
    bs__buf_free(&buf);
    blobstore_array back;
    CHECK_EQ(blobstore_array_get(&back, bs, "v"), BLOBSTORE_ECORRUPT);
    CHECK(strstr(blobstore_errmsg(), "fail their checksum") != NULL); /* segment checksums */
    blobstore_verify_stats st;
    CHECK_EQ(blobstore_verify(&st, bs, 0, NULL, NULL), 0);
    CHECK_EQ(st.corrupt, 1);
    blobstore_close(bs);
}

static const char *defect(const char *name)
{
    static char path[4096];
    char rel[512];
    snprintf(rel, sizeof(rel), "tests/b2nd/defects/%s", name);
    snprintf(path, sizeof(path), "%s", test_source_path(rel));
    return path;
}

/* Open and decode a whole file: 0 or the error, with the message kept. */
static int decode_file(const uint8_t *data, size_t len, uint8_t **out, size_t *n)
{
    b2nd_file f;
    *out = NULL;
    *n = 0;
    int rc = bs__b2nd_open(&f, data, len);
    if (rc)
        return rc;
    size_t items;
    bs__b2nd_nitems(&f.desc, &items);
    *n = items * (size_t)f.desc.itemsize;
    *out = malloc(*n ? *n : 1);
    rc = bs__b2nd_read(&f, *out, *n, 1);
    bs__b2nd_close(&f);
    if (rc) {
        free(*out);
        *out = NULL;
    }
    return rc;
}

static int decode_defect(const char *name, uint8_t **out, size_t *n)
{
    bs_buf b = {0};
    if (load(defect(name), &b) != 0) {
        fprintf(stderr, "  missing %s\n", defect(name));
        return -1000;
    }
    int rc = decode_file(b.data, b.len, out, n);
    bs__buf_free(&b);
    return rc;
}

/* A frame whose shapes ask for ~15 PB of chunk offsets (found by the fuzz
 * target): refused as corrupt by the index chunk's own header, before any of
 * that is asked of malloc (under ASan the allocation itself aborted). */
TEST(offsets_index_larger_than_its_chunk_refused)
{
    bs_buf b = {0};
    CHECK_EQ(load(test_source_path("fuzz/corpus/b2nd/offsets_index_of_petabytes.b2nd"), &b), 0);
    b2nd_file f;
    int rc = bs__b2nd_open(&f, b.data, b.len);
    CHECK(rc == BLOBSTORE_ECORRUPT || rc == BLOBSTORE_EUNSUPPORTED);
    CHECK(strstr(blobstore_errmsg(), "offsets index") != NULL);
    bs__buf_free(&b);
    /* A valid file (c-blosc2's, 100 x 200 in 8 chunks) whose shape and
     * uncompressed size are made 1000 times larger: 8,000 chunks, but an
     * index chunk of 8 offsets. */
    CHECK_EQ(load(test_source_path("tests/b2nd/reference/f64_2d_arange.b2nd"), &b), 0);
    static const uint8_t shape[] = {0x92, 0xd3, 0, 0, 0, 0, 0, 0, 0,  100,
                                    0xd3, 0,    0, 0, 0, 0, 0, 0, 200};
    static const uint8_t nbytes[] = {0xd3, 0, 0, 0, 0, 0, 0x02, 0x71, 0x00}; /* 160,000 */
    uint8_t *at_shape = memmem(b.data, b.len, shape, sizeof(shape));
    uint8_t *at_nbytes = memmem(b.data, 64, nbytes, sizeof(nbytes));
    CHECK(at_shape != NULL && at_nbytes != NULL);
    CHECK_EQ(bs__b2nd_open(&f, b.data, b.len), 0); /* (as it is) */
    bs__b2nd_close(&f);
    uint64_t cols = 200000, total = 160000000;
    for (int k = 0; k < 8; k++) {
        at_shape[11 + k] = (uint8_t)(cols >> (56 - 8 * k));
        at_nbytes[1 + k] = (uint8_t)(total >> (56 - 8 * k));
    }
    CHECK_EQ(bs__b2nd_open(&f, b.data, b.len), BLOBSTORE_ECORRUPT);
    CHECK(strstr(blobstore_errmsg(),
                 "the offsets index holds 64 bytes, not the 64000 of 8000 chunks") != NULL);
    bs__buf_free(&b);
}

/* The files c-blosc2 refuses are refused, with the error c-blosc2 gives
 * (corrupt, or unsupported for what is valid but not implemented); the
 * files it reads decode to the same values. */
TEST(defect_files_read_as_c_blosc2_reads_them)
{
    static const struct {
        const char *file;
        int rc;
        const char *msg;
    } refused[] = {
        {"lenient_special_flag_on_normal_chunk.b2nd", BLOBSTORE_ECORRUPT, "flagged special"},
        {"lenient_blocksize_2G.b2nd", BLOBSTORE_ECORRUPT, "blocksize 2147483647"},
        {"lenient_blocksize_gt_nbytes.b2nd", BLOBSTORE_ECORRUPT, "larger than its 10080 bytes"},
        {"frame_typesize_255.b2nd", BLOBSTORE_ECORRUPT, "typesize 255 contradicts the dtype <f8"},
        {"instrumented_flag.b2nd", BLOBSTORE_EUNSUPPORTED, "instrumented chunk"},
        {"double_delta_d_s_d.b2nd", BLOBSTORE_EUNSUPPORTED,
         "unsupported filter pipeline [0,0,0,3,1,3]: 2 DELTA filters"},
    };
    uint8_t *out;
    size_t n;
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        int rc = decode_defect(refused[i].file, &out, &n);
        if (rc != refused[i].rc || !strstr(blobstore_errmsg(), refused[i].msg))
            fprintf(stderr, "  %s: rc %d: %s\n", refused[i].file, rc, blobstore_errmsg());
        CHECK_EQ(rc, refused[i].rc);
        CHECK(strstr(blobstore_errmsg(), refused[i].msg) != NULL);
        CHECK(out == NULL);
    }
    /* The undamaged original of the lenient_* files still decodes exactly
     * (its values, as c-blosc2 3.3.2 decodes them). */
    CHECK_EQ(decode_defect("lenient_orig.b2nd", &out, &n), 0);
    CHECK_EQ(n, 37 * 53 * 8);
    char hex[65];
    bs__sha256_hex(hex, out, n);
    CHECK_STR(hex, "5d95ff467eb7433fe5cdaf895149dc7223b29e256886fbd9fe335b66a1e46e95");
    free(out);
    /* NaN chunks given as special offsets (type 2): 1003 quiet NaNs, each
     * checked bit for bit. */
    CHECK_EQ(decode_defect("nans_special_offsets_f8.b2nd", &out, &n), 0);
    CHECK_EQ(n, 1003 * 8);
    for (size_t i = 0; i < 1003; i++) {
        uint64_t bits;
        memcpy(&bits, out + 8 * i, 8);
        CHECK_EQ(bits, 0x7ff8000000000000u);
    }
    free(out);
}

/* The NaN file's offsets index is a run-length chunk whose one value is the
 * special offset: other type bits are refused, zeros and uninitialised read
 * as zeros. */
TEST(special_offsets_are_checked)
{
    bs_buf b = {0};
    CHECK_EQ(load(defect("nans_special_offsets_f8.b2nd"), &b), 0);
    /* the index value 0x82 << 56, little endian, is the 8 bytes before the trailer */
    size_t at = 0;
    for (size_t i = 0; i + 9 <= b.len; i++)
        if (memcmp(b.data + i, "\x00\x00\x00\x00\x00\x00\x00\x82\x94", 9) == 0)
            at = i + 7;
    CHECK(at != 0);
    static const struct {
        uint8_t top;
        int rc;
    } cases[] = {{0x81, 0},
                 {0x84, 0},
                 {0x80, BLOBSTORE_ECORRUPT},
                 {0x83, BLOBSTORE_ECORRUPT},
                 {0x86, BLOBSTORE_ECORRUPT},
                 {0x88, BLOBSTORE_ECORRUPT}};
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        b.data[at] = cases[k].top;
        uint8_t *out;
        size_t n;
        int rc = decode_file(b.data, b.len, &out, &n);
        CHECK_EQ(rc, cases[k].rc);
        if (!rc) {
            for (size_t i = 0; i < n; i++)
                CHECK_EQ(out[i], 0);
            free(out);
        } else {
            CHECK(strstr(blobstore_errmsg(), "invalid special offset") != NULL);
        }
    }
    b.data[at] = 0x82;
    b.data[at - 1] = 0x01; /* bits below the type byte */
    uint8_t *out;
    size_t n;
    CHECK_EQ(decode_file(b.data, b.len, &out, &n), BLOBSTORE_ECORRUPT);
    bs__buf_free(&b);
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Each chunk header field c-blosc2 validates, damaged alone in a file of
 * ours: an error, never values. */
TEST(chunk_header_fields_are_checked)
{
    b2nd_desc d = {"<f8", 8, 1, {1000}, {0}, {0}};
    double data[1000];
    for (int i = 0; i < 1000; i++)
        data[i] = 1.0 + i * 0.5;
    int32_t cs[1] = {300}, bsh[1] = {100};
    b2nd_write_options o = {"zstd", 5, B2_SHUFFLE, 1, cs, bsh};
    uint8_t *file;
    size_t len;
    CHECK_EQ(bs__b2nd_write(&file, &len, &d, data, 0, &o), 0);
    b2nd_file f;
    CHECK_EQ(bs__b2nd_open(&f, file, len), 0);
    CHECK_EQ(f.nchunks, 4);
    size_t c0 = f.header_len + (size_t)f.offsets[0];
    size_t c3 = f.header_len + (size_t)f.offsets[3];
    uint32_t nbytes = get32(file + c0 + 4), cbytes3 = get32(file + c3 + 12);
    CHECK_EQ(nbytes, 300 * 8);
    CHECK(f.offsets[3] + cbytes3 == f.cbytes); /* the last chunk ends the chunks */
    bs__b2nd_close(&f);
    enum { VERSION, TYPESIZE, NBYTES, BLOCKSIZE, CBYTES, FLAGS, BFLAGS, BFLAGS2, FILTER };
    static const struct {
        int field, last;
        uint32_t value;
        int rc;
        const char *msg;
    } cases[] = {
        {BLOCKSIZE, 0, 0, BLOBSTORE_ECORRUPT, "blocksize 0"},
        {BLOCKSIZE, 0, 2408, BLOBSTORE_ECORRUPT, "larger than its 2400 bytes"},
        {BLOCKSIZE, 0, 0x7fffffff, BLOBSTORE_ECORRUPT, "blocksize 2147483647"},
        {BLOCKSIZE, 0, 0x80000000u, BLOBSTORE_ECORRUPT, "blocksize"},
        {TYPESIZE, 0, 0, BLOBSTORE_ECORRUPT, "typesize 0"},
        {CBYTES, 0, 31, BLOBSTORE_ECORRUPT, "cbytes 31"},
        {CBYTES, 1, 0, BLOBSTORE_ECORRUPT, "runs past"}, /* one more than the chunks hold */
        {NBYTES, 0, 2392, BLOBSTORE_ECORRUPT, "holds 2392 bytes"},
        {NBYTES, 0, 0x80000000u, BLOBSTORE_ECORRUPT, "nbytes"},
        {FLAGS, 0, 0x02, BLOBSTORE_ECORRUPT, "memcpyed"},
        {BFLAGS, 0, 0x10, BLOBSTORE_ECORRUPT, "flagged special (type 1)"},
        {BFLAGS, 0, 0x20, BLOBSTORE_ECORRUPT, "flagged special (type 2)"},
        {BFLAGS, 0, 0x30, BLOBSTORE_ECORRUPT, "run-length chunk"},
        {BFLAGS, 0, 0x40, BLOBSTORE_ECORRUPT, "flagged special (type 4)"},
        {BFLAGS, 0, 0x50, BLOBSTORE_ECORRUPT, "unknown special type 5"},
        {BFLAGS, 0, 0x80, BLOBSTORE_EUNSUPPORTED, "instrumented"},
        {BFLAGS, 0, 0x01, BLOBSTORE_EUNSUPPORTED, "dictionary"},
        {BFLAGS2, 0, 0x01, BLOBSTORE_EUNSUPPORTED, "VL-blocks"},
        {VERSION, 0, 6, BLOBSTORE_EUNSUPPORTED, "chunk format version 6"},
        {VERSION, 0, 1, BLOBSTORE_EUNSUPPORTED, "chunk format version 1"},
        {FILTER, 0, B2_DELTA, BLOBSTORE_EUNSUPPORTED, "2 DELTA filters"},
    };
    uint8_t *copy = malloc(len);
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        memcpy(copy, file, len);
        uint8_t *h = copy + (cases[k].last ? c3 : c0);
        switch (cases[k].field) {
        case VERSION:
            h[0] = (uint8_t)cases[k].value;
            break;
        case TYPESIZE:
            h[3] = (uint8_t)cases[k].value;
            break;
        case NBYTES:
            put32(h + 4, cases[k].value);
            break;
        case BLOCKSIZE:
            put32(h + 8, cases[k].value);
            break;
        case CBYTES:
            put32(h + 12, cases[k].value ? cases[k].value : get32(h + 12) + 1);
            break;
        case FLAGS:
            h[2] |= (uint8_t)cases[k].value;
            break;
        case BFLAGS:
            h[31] = (uint8_t)cases[k].value;
            break;
        case BFLAGS2:
            h[30] = (uint8_t)cases[k].value;
            break;
        case FILTER: /* delta, shuffle, delta */
            h[16 + 3] = B2_DELTA;
            h[16 + 4] = B2_SHUFFLE;
            h[16 + 5] = B2_DELTA;
            break;
        }
        uint8_t *out;
        size_t n;
        int rc = decode_file(copy, len, &out, &n);
        if (rc != cases[k].rc || !strstr(blobstore_errmsg(), cases[k].msg))
            fprintf(stderr, "  case %zu: rc %d: %s\n", k, rc, blobstore_errmsg());
        CHECK_EQ(rc, cases[k].rc);
        CHECK(strstr(blobstore_errmsg(), cases[k].msg) != NULL);
        CHECK(out == NULL);
    }
    /* Undamaged, it decodes; a single DELTA filter is fine. */
    uint8_t *out;
    size_t n;
    CHECK_EQ(decode_file(file, len, &out, &n), 0);
    CHECK_MEM(out, data, sizeof(data));
    free(out);
    free(copy);
    free(file);
}

TEST(unsupported_dtypes_are_named)
{
    int size;
    char kind;
    CHECK_EQ(bs__b2nd_dtype_parse("<f16", &size, &kind), BLOBSTORE_EUNSUPPORTED);
    CHECK(strstr(blobstore_errmsg(), "\"<f16\" is not supported: long double") != NULL);
    CHECK(strstr(blobstore_errmsg(), "float16/32/64 (f2 f4 f8)") != NULL);
    CHECK(strstr(blobstore_errmsg(), "complex64/128 (c8 c16)") != NULL);
    CHECK(strstr(blobstore_errmsg(), "(bool, int, uint, float, complex)") == NULL);
    CHECK_EQ(bs__b2nd_dtype_parse("<f12", &size, &kind), BLOBSTORE_EUNSUPPORTED);
    CHECK(strstr(blobstore_errmsg(), "long double") != NULL);
    CHECK_EQ(bs__b2nd_dtype_parse("<c32", &size, &kind), BLOBSTORE_EUNSUPPORTED);
    CHECK(strstr(blobstore_errmsg(), "\"<c32\" is not supported: complex long double") != NULL);
    CHECK_EQ(bs__b2nd_dtype_parse("<U5", &size, &kind), BLOBSTORE_EUNSUPPORTED);
    CHECK(strstr(blobstore_errmsg(), "long double") == NULL);
    CHECK(strstr(blobstore_errmsg(), "int8/16/32/64") != NULL);
    CHECK_EQ(bs__b2nd_dtype_parse("<f2", &size, &kind), 0);
    CHECK_EQ(size, 2);
    CHECK_EQ(bs__b2nd_dtype_parse(">c16", &size, &kind), 0);
    CHECK_EQ(kind, 'c');
}

/* Through the store: a damaged .b2nd is refused as corrupt and nothing is
 * stored. */
TEST(store_refuses_defect_files)
{
    const char *dir = test_tmpdir();
    blobstore *bs = open_store(dir, "filesystem");
    CHECK(bs != NULL);
    static const char *files[] = {"lenient_special_flag_on_normal_chunk.b2nd",
                                  "lenient_blocksize_2G.b2nd", "lenient_blocksize_gt_nbytes.b2nd",
                                  "frame_typesize_255.b2nd"};
    for (size_t i = 0; i < 4; i++) {
        bs_buf b = {0};
        CHECK_EQ(load(defect(files[i]), &b), 0);
        CHECK_EQ(blobstore_array_put_b2nd(NULL, bs, "k", b.data, b.len, NULL), BLOBSTORE_ECORRUPT);
        CHECK_EQ(blobstore_exists(bs, "k"), 0);
        bs__buf_free(&b);
    }
    bs_buf b = {0};
    CHECK_EQ(load(defect("double_delta_d_s_d.b2nd"), &b), 0);
    CHECK_EQ(blobstore_array_put_b2nd(NULL, bs, "k", b.data, b.len, NULL), BLOBSTORE_EUNSUPPORTED);
    CHECK_EQ(blobstore_exists(bs, "k"), 0);
    bs__buf_free(&b);
    CHECK_EQ(load(defect("nans_special_offsets_f8.b2nd"), &b), 0);
    CHECK_EQ(blobstore_array_put_b2nd(NULL, bs, "nan", b.data, b.len, NULL), 0);
    bs__buf_free(&b);
    blobstore_array a;
    CHECK_EQ(blobstore_array_get(&a, bs, "nan"), 0);
    CHECK_EQ(a.nbytes, 1003 * 8);
    for (size_t i = 0; i < 1003; i++)
        CHECK(isnan(((double *)a.data)[i]));
    blobstore_array_clear(&a);
    blobstore_close(bs);
}

/* Fault injection for the write-back check: damage one byte of the file the
 * writer produced, at a place chosen by the test (the writer hands over each
 * piece it wrote before checking it, with its offset in its chunk, or in the
 * header (-1) or the offsets index (-2)). */
static int64_t fault_piece;
static long fault_at = -1; /* < 0: none */
static int faults;
static void damage(uint8_t *piece, size_t len, int64_t chunk, size_t at)
{
    if (fault_at >= 0 && chunk == fault_piece && (size_t)fault_at >= at &&
        (size_t)fault_at < at + len) {
        piece[(size_t)fault_at - at] ^= 0x20;
        faults++;
    }
}

TEST(write_back_check_refuses_a_damaged_write)
{
    const char *dir = test_tmpdir();
    blobstore *bs = open_store(dir, "filesystem");
    CHECK(bs != NULL);
    double data[40 * 30];
    for (int i = 0; i < 1200; i++)
        data[i] = 1.0 + i;
    int32_t cs[2] = {16, 30}, bsh[2] = {8, 10};
    static const char *codecs[] = {"none", "lz4", "zstd"};
    for (int fortran = 0; fortran < 2; fortran++) {
        for (int c = 0; c < 3; c++) {
            blobstore_array a = {"<f8", 2, {40, 30}, data, sizeof(data), fortran};
            blobstore_array_options o = BLOBSTORE_ARRAY_OPTIONS_INIT;
            o.compression = codecs[c];
            o.chunkshape = cs;
            o.blockshape = bsh;
            /* Each damage is caught: a value byte of chunk 0 (memcpyed with
             * "none": right after its 32-byte header), the last byte of the
             * last chunk (the last byte of an lz4 or zstd stream), a byte of
             * the first stream of chunk 1 (after its 6 block starts and the
             * stream's size), chunk 0's size in its header, the frame
             * header's chunk size, an entry of the offsets index. */
            b2nd_desc d = {"<f8", 8, 2, {40, 30}, {0}, {0}};
            b2nd_write_options w = {codecs[c], 5, 0, 1, cs, bsh};
            uint8_t *file;
            size_t len;
            b2nd_file f;
            CHECK_EQ(bs__b2nd_write(&file, &len, &d, data, fortran, &w), 0);
            CHECK_EQ(bs__b2nd_open(&f, file, len), 0);
            CHECK_EQ(f.nchunks, 3);
            long last = (long)(f.cbytes - f.offsets[2]) - 1;
            bs__b2nd_close(&f);
            free(file);
            struct {
                int64_t piece;
                long at;
            } places[6] = {
                {0, 32 + 8 * 5 + 2}, {2, last}, {1, 32 + 6 * 4 + 4 + 1}, {0, 5}, {-1, 60},
                {-2, 32 + 8 * 1 + 2}};
            for (int p = c == 0 ? 0 : 1; p < 6; p++) {
                for (int threads = 0; threads < 3; threads++) {
                    o.nthreads = threads;
                    fault_piece = places[p].piece;
                    fault_at = places[p].at;
                    faults = 0;
                    bs__b2_write_fault = damage;
                    int rc = blobstore_array_put(NULL, bs, "a", &a, &o);
                    bs__b2_write_fault = NULL;
                    if (rc != BLOBSTORE_ECORRUPT)
                        fprintf(stderr, "  %s fortran %d place %d: rc %d %s\n", codecs[c], fortran,
                                p, rc, blobstore_errmsg());
                    CHECK_EQ(faults, 1);
                    CHECK_EQ(rc, BLOBSTORE_ECORRUPT);
                    CHECK(strstr(blobstore_errmsg(), "write-back check") != NULL);
                    CHECK(strstr(blobstore_errmsg(), "array not stored") != NULL);
                    CHECK_EQ(blobstore_exists(bs, "a"), 0); /* nothing stored */
                }
            }
            fault_at = -1;
            /* Without damage the check passes and the values come back. */
            CHECK_EQ(blobstore_array_put(NULL, bs, "a", &a, &o), 0);
            blobstore_array back;
            CHECK_EQ(blobstore_array_get(&back, bs, "a"), 0);
            if (!fortran)
                CHECK_MEM(back.data, data, sizeof(data));
            else
                CHECK_EQ(((double *)back.data)[1], data[40]); /* [0][1] in Fortran order */
            blobstore_array_clear(&back);
            CHECK_EQ(blobstore_delete(bs, "a"), 0);
        }
    }
    /* With the check off (the bench's comparison), the damage is stored. */
    bs__b2_write_check = 0;
    bs__b2_write_fault = damage;
    int32_t v[1000];
    for (int i = 0; i < 1000; i++)
        v[i] = i * 3;
    blobstore_array a = {"<i4", 1, {1000}, v, sizeof(v), 0};
    blobstore_array_options o = BLOBSTORE_ARRAY_OPTIONS_INIT;
    o.compression = "none";
    fault_piece = 0;
    fault_at = 32 + 4 * 10;
    int rc = blobstore_array_put(NULL, bs, "unchecked", &a, &o);
    bs__b2_write_fault = NULL;
    bs__b2_write_check = 1;
    fault_at = -1;
    CHECK_EQ(rc, 0);
    blobstore_array back;
    CHECK_EQ(blobstore_array_get(&back, bs, "unchecked"), 0);
    CHECK(((int32_t *)back.data)[10] != 30); /* the check is what catches it */
    blobstore_array_clear(&back);
    blobstore_close(bs);
}

/* The planes lz4 could not shrink at the last trial are shuffled straight to
 * where they go in the chunk; one that turns out all zeros in a later block
 * is a zero stream (4 bytes) and the planes after it move up: seeded random
 * uint32, 20 blocks of 8,192 items, block 17 with its low byte 0 (plane 0
 * zero), block 18 its two low bytes (planes 0 and 1), block 19 its second
 * byte (plane 1), the top byte small (plane 3 compresses) so that the chunk
 * is split, not memcpyed. Values round-trip, the streams are as said, and
 * every thread count writes the same bytes. */
TEST(stored_planes_shuffled_in_place_and_zero_planes_among_them)
{
    uint64_t seed = (uint64_t)env_long("B2ND_PLANES_SEED", 20261203), x = seed;
    printf("  stored_planes_shuffled_in_place_and_zero_planes_among_them: seed %llu "
           "(B2ND_PLANES_SEED)\n",
           (unsigned long long)seed);
    enum { B = 8192, NB = 20 };
    size_t n = (size_t)B * NB;
    uint32_t *v = malloc(n * 4);
    for (size_t i = 0; i < n; i++) {
        uint32_t r = (uint32_t)xs_next(&x) & 0x03ffffffu;
        size_t blk = i / B;
        if (blk == 17)
            r &= ~0xffu;
        else if (blk == 18)
            r &= ~0xffffu;
        else if (blk == 19)
            r &= ~0xff00u;
        v[i] = r;
    }
    b2nd_desc d = {"<u4", 4, 1, {(int64_t)n}, {0}, {0}};
    int32_t cs[1] = {(int32_t)n}, bsh[1] = {B};
    uint8_t *file[3];
    size_t len[3];
    for (int t = 0; t < 3; t++) {
        b2nd_write_options o = {"lz4", 5, B2_SHUFFLE, t + 1, cs, bsh};
        CHECK_EQ(bs__b2nd_write(&file[t], &len[t], &d, v, 0, &o), 0);
    }
    for (int t = 1; t < 3; t++)
        CHECK(len[t] == len[0] && memcmp(file[t], file[0], len[0]) == 0);
    b2nd_file f;
    CHECK_EQ(bs__b2nd_open(&f, file[0], len[0]), 0);
    const uint8_t *c = file[0] + f.header_len + f.offsets[0];
    CHECK_EQ(c[2] & 0x12, 0); /* split, not memcpyed */
    /* the stream sizes of blocks 1 (not a trial), 17, 18 and 19 */
    static const int blocks[4] = {1, 17, 18, 19};
    static const uint32_t want[4][3] = {{B, B, B}, {0, B, B}, {0, 0, B}, {B, 0, B}};
    for (int q = 0; q < 4; q++) {
        uint32_t pos = le32_at(c + 32 + 4 * (size_t)blocks[q]);
        for (int k = 0; k < 3; k++) {
            uint32_t size = le32_at(c + pos);
            if (size != want[q][k])
                fprintf(stderr, "  block %d plane %d: %u bytes, expected %u\n", blocks[q], k, size,
                        want[q][k]);
            CHECK_EQ(size, want[q][k]);
            pos += 4 + size;
        }
        CHECK(le32_at(c + pos) < B); /* plane 3 (the small top byte): compressed */
    }
    uint32_t *back = malloc(n * 4);
    CHECK_EQ(bs__b2nd_read(&f, (uint8_t *)back, n * 4, 2), 0);
    CHECK_MEM(back, v, n * 4);
    bs__b2nd_close(&f);
    /* through the store, the write-back check on */
    const char *dir = test_tmpdir();
    blobstore *bs = open_store(dir, "filesystem");
    CHECK(bs != NULL);
    blobstore_array a = {"<u4", 1, {(int64_t)n}, v, n * 4, 0};
    blobstore_array_options o = BLOBSTORE_ARRAY_OPTIONS_INIT;
    o.compression = "lz4";
    o.chunkshape = cs;
    o.blockshape = bsh;
    CHECK_EQ(blobstore_array_put(NULL, bs, "z", &a, &o), 0);
    blobstore_array g;
    CHECK_EQ(blobstore_array_get(&g, bs, "z"), 0);
    CHECK_EQ(g.nbytes, n * 4);
    CHECK_MEM(g.data, v, n * 4);
    blobstore_array_clear(&g);
    blobstore_close(bs);
    for (int t = 0; t < 3; t++)
        free(file[t]);
    free(back);
    free(v);
}

/* The check decodes a split block as the reader does, unshuffling from the
 * streams where they lie (a stream lz4 could not shrink: in the chunk
 * itself): a byte damaged in such a stream, after it was written, is caught,
 * for each type size; seeded random low bytes, a zero high byte. */
TEST(write_back_check_reads_stored_streams_where_they_lie)
{
    uint64_t seed = (uint64_t)env_long("B2ND_CHECK_SEED", 20261203), x = seed;
    printf("  write_back_check_reads_stored_streams_where_they_lie: seed %llu "
           "(B2ND_CHECK_SEED)\n",
           (unsigned long long)seed);
    const char *dir = test_tmpdir();
    blobstore *bs = open_store(dir, "filesystem");
    CHECK(bs != NULL);
    static const char *dtypes[] = {"<u2", "<u4", "<f8", "<c16"};
    size_t n = 100003;
    for (int t = 0; t < 4; t++) {
        int ts = t == 0 ? 2 : t == 1 ? 4 : t == 2 ? 8 : 16;
        uint8_t *data = malloc(n * (size_t)ts);
        for (size_t i = 0; i < n * (size_t)ts; i++)
            data[i] = i % (size_t)ts == (size_t)ts - 1 ? 0 : (uint8_t)xs_next(&x);
        b2nd_desc d = {"", 0, 1, {(int64_t)n}, {0}, {0}};
        snprintf(d.dtype, sizeof(d.dtype), "%s", dtypes[t]);
        b2nd_write_options w = {"lz4", 5, 0, 1, NULL, NULL};
        uint8_t *file;
        size_t len;
        b2nd_file f;
        CHECK_EQ(bs__b2nd_write(&file, &len, &d, data, 0, &w), 0);
        CHECK_EQ(bs__b2nd_open(&f, file, len), 0);
        const uint8_t *c = file + f.header_len + f.offsets[0];
        size_t blocksize = le32_at(c + 8), nblocks = (le32_at(c + 4) + blocksize - 1) / blocksize;
        CHECK((c[2] & 0x02) == 0);                                       /* not memcpyed */
        CHECK_EQ(le32_at(c + 32 + 4 * nblocks), blocksize / (size_t)ts); /* stream 0 as it is */
        bs__b2nd_close(&f);
        free(file);
        blobstore_array a = {"", 1, {(int64_t)n}, data, n * (size_t)ts, 0};
        snprintf(a.dtype, sizeof(a.dtype), "%s", dtypes[t]);
        blobstore_array_options o = BLOBSTORE_ARRAY_OPTIONS_INIT;
        o.compression = "lz4";
        for (int threads = 0; threads < 2; threads++) {
            o.nthreads = threads;
            fault_piece = 0;
            fault_at = (long)(32 + 4 * nblocks + 4 + 100);
            faults = 0;
            bs__b2_write_fault = damage;
            int rc = blobstore_array_put(NULL, bs, "s", &a, &o);
            bs__b2_write_fault = NULL;
            fault_at = -1;
            CHECK_EQ(faults, 1);
            CHECK_EQ(rc, BLOBSTORE_ECORRUPT);
            CHECK(strstr(blobstore_errmsg(), "write-back check") != NULL);
            CHECK_EQ(blobstore_exists(bs, "s"), 0);
        }
        CHECK_EQ(blobstore_array_put(NULL, bs, "s", &a, &o), 0);
        blobstore_array back;
        CHECK_EQ(blobstore_array_get(&back, bs, "s"), 0);
        CHECK_EQ(back.nbytes, n * (size_t)ts);
        CHECK_MEM(back.data, data, n * (size_t)ts);
        blobstore_array_clear(&back);
        CHECK_EQ(blobstore_delete(bs, "s"), 0);
        free(data);
    }
    blobstore_close(bs);
}

/* ---- the random differential suite ----
 *
 * Random arrays (every dtype, both byte orders, ranks 0-6, irregular shapes
 * with size-0 and size-1 dimensions, chunk and block shapes that do not
 * divide them, every codec, level and shuffle, C and Fortran order) are
 * written, read back whole and in random boxes (integer indices too), and
 * compared byte for byte (bit for bit: NaN payloads included) with the
 * input; a quarter go through the store (put, get, get_slice). Each case has
 * its own seed, printed when it fails: rerun it alone with
 * B2ND_DIFF_SEED=<seed> B2ND_DIFF_CASES=1 test_b2nd random_differential.
 * B2ND_DIFF_CASES and B2ND_DIFF_ITEMS (the largest array) make it longer:
 * make soak. */

static uint64_t sm_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static uint64_t sm_below(uint64_t *s, uint64_t n)
{
    return n ? sm_next(s) % n : 0;
}

/* Items of C-order array a (shape) inside [lo, hi) into out, C order. */
static void box_ref(const uint8_t *a, const int64_t *shape, int ndim, size_t is, const int64_t *lo,
                    const int64_t *hi, uint8_t *out)
{
    size_t items = 1;
    for (int i = 0; i < ndim; i++)
        items *= (size_t)(hi[i] - lo[i]);
    if (items == 0)
        return;
    int64_t pos[B2ND_MAX_DIM];
    memcpy(pos, lo, sizeof(int64_t) * (size_t)ndim);
    for (size_t k = 0; k < items; k++) {
        size_t off = 0;
        for (int i = 0; i < ndim; i++)
            off = off * (size_t)shape[i] + (size_t)pos[i];
        memcpy(out + k * is, a + off * is, is);
        for (int i = ndim - 1; i >= 0; i--) {
            if (++pos[i] < hi[i])
                break;
            pos[i] = lo[i];
        }
    }
}

static long env_long(const char *name, long dflt)
{
    const char *v = getenv(name);
    return v && *v ? strtol(v, NULL, 0) : dflt;
}

/* One case; 0 when every comparison holds, else the seed is printed. */
static int diff_case(uint64_t seed, blobstore *bs, size_t max_items)
{
    static const char *dtypes[] = {"|b1", "|i1", "<i2", ">i2", "<i4", ">i4",  "<i8", ">i8", "|u1",
                                   "<u2", ">u2", "<u4", ">u4", "<u8", ">u8",  "<f2", ">f2", "<f4",
                                   ">f4", "<f8", ">f8", "<c8", ">c8", "<c16", ">c16"};
    static const char *codecs[] = {"lz4", "zstd", "gzip", "zlib", "blosclz", "none"};
    uint64_t st = seed;
    b2nd_desc d;
    memset(&d, 0, sizeof(d));
    snprintf(d.dtype, sizeof(d.dtype), "%s", dtypes[sm_below(&st, 25)]);
    char kind;
    bs__b2nd_dtype_parse(d.dtype, &d.itemsize, &kind);
    d.ndim = (int)sm_below(&st, 7);
    /* Irregular shapes: mostly small odd sizes, some 1s, rarely 0; the
     * product kept under max_items. */
    size_t budget = 1 + (size_t)sm_below(&st, max_items);
    size_t items = 1;
    for (int i = 0; i < d.ndim; i++) {
        uint64_t r = sm_below(&st, 20);
        int64_t v;
        if (r == 0)
            v = 0;
        else if (r < 4)
            v = 1;
        else {
            size_t room = budget / (items ? items : 1);
            double per = pow((double)(room > 1 ? room : 1), 1.0 / (double)(d.ndim - i));
            v = 1 + (int64_t)sm_below(&st, (uint64_t)(2 * per) + 1);
        }
        d.shape[i] = v;
        items *= (size_t)(v ? v : 1);
    }
    int32_t cs[B2ND_MAX_DIM], bsh[B2ND_MAX_DIM];
    int auto_shapes = sm_below(&st, 4) == 0;
    for (int i = 0; i < d.ndim; i++) {
        int64_t sh = d.shape[i] ? d.shape[i] : 1;
        cs[i] = (int32_t)(1 + sm_below(&st, (uint64_t)sh + (sm_below(&st, 5) == 0 ? 3 : 0)));
        bsh[i] = (int32_t)(1 + sm_below(&st, (uint64_t)cs[i]));
    }
    /* At most ~20,000 chunks (large soak arrays with tiny chunks would only
     * be slow): widen chunks, first dimension first. */
    for (int i = 0; i < d.ndim; i++) {
        double nch = 1;
        for (int k = 0; k < d.ndim; k++)
            nch *= d.shape[k] ? (double)((d.shape[k] + cs[k] - 1) / cs[k]) : 1.0;
        if (nch <= 20000)
            break;
        cs[i] = (int32_t)(d.shape[i] ? d.shape[i] : 1);
    }
    const char *codec = codecs[sm_below(&st, 6)];
    int level = 1 + (int)sm_below(&st, 9);
    int shuffle = (int)sm_below(&st, 3) - 1; /* -1 none, 0 byte (default), 1 bit */
    int fortran = (int)sm_below(&st, 2);
    size_t nitems;
    bs__b2nd_nitems(&d, &nitems);
    size_t n = nitems * (size_t)d.itemsize;
    uint8_t *data = malloc(n ? n : 1), *want = malloc(n ? n : 1), *got = malloc(n ? n : 1);
    /* Values: random bytes (NaNs of every payload among the floats), runs of
     * zeros (all-zero chunks become special), repeats and small integers. */
    int style = (int)sm_below(&st, 4);
    for (size_t i = 0; i < n; i++) {
        uint64_t r = sm_next(&st);
        if (style == 0)
            data[i] = (uint8_t)r;
        else if (style == 1)
            data[i] = (i / 97) % 3 ? (uint8_t)r : 0;
        else if (style == 2)
            data[i] = (uint8_t)(i % (size_t)d.itemsize == 0 ? (i / 50) & 7 : 0);
        else
            data[i] = (uint8_t)(i * 7 / 13);
    }
    if (kind == 'b')
        for (size_t i = 0; i < n; i++)
            data[i] &= 1;
    if (fortran && d.ndim > 1)
        f_to_c_ref(&d, data, want, nitems);
    else
        memcpy(want, data, n);
    int bad = 0;
    char what[160] = "";
    b2nd_write_options o = {codec,
                            level,
                            shuffle == 1 ? B2_BITSHUFFLE : shuffle,
                            0,
                            auto_shapes ? NULL : cs,
                            auto_shapes ? NULL : bsh};
    int through_store = bs && sm_below(&st, 4) == 0;
    uint8_t *file = NULL;
    size_t flen = 0;
    b2nd_file f;
    int opened = 0;
    blobstore_array back;
    memset(&back, 0, sizeof(back));
    if (!through_store) {
        int rc = bs__b2nd_write(&file, &flen, &d, data, fortran, &o);
        if (!rc)
            rc = bs__b2nd_open(&f, file, flen);
        opened = rc == 0;
        if (!rc)
            rc = bs__b2nd_read(&f, got, n, (int)sm_below(&st, 3));
        if (rc)
            snprintf(what, sizeof(what), "write/read rc %d: %s", rc, blobstore_errmsg());
        else if (memcmp(got, want, n) != 0)
            snprintf(what, sizeof(what), "read back differs");
        else if (strcmp(f.desc.dtype, d.dtype) != 0 || f.desc.ndim != d.ndim)
            snprintf(what, sizeof(what), "dtype or ndim differs");
        for (int i = 0; !what[0] && i < d.ndim; i++)
            if (f.desc.shape[i] != d.shape[i])
                snprintf(what, sizeof(what), "shape differs");
    } else {
        blobstore_array a = {"", d.ndim, {0}, data, n, fortran};
        snprintf(a.dtype, sizeof(a.dtype), "%s", d.dtype);
        memcpy(a.shape, d.shape, sizeof(a.shape));
        blobstore_array_options ao = BLOBSTORE_ARRAY_OPTIONS_INIT;
        ao.compression = codec;
        ao.compression_level = level;
        ao.shuffle = shuffle;
        ao.chunkshape = auto_shapes ? NULL : cs;
        ao.blockshape = auto_shapes ? NULL : bsh;
        int rc = blobstore_array_put(NULL, bs, "diff", &a, &ao);
        if (!rc)
            rc = blobstore_array_get(&back, bs, "diff");
        if (rc)
            snprintf(what, sizeof(what), "store put/get rc %d: %s", rc, blobstore_errmsg());
        else if (back.nbytes != n || memcmp(back.data, want, n) != 0)
            snprintf(what, sizeof(what), "store get differs");
        else if (strcmp(back.dtype, d.dtype) != 0 || back.ndim != d.ndim)
            snprintf(what, sizeof(what), "store dtype or ndim differs");
        for (int i = 0; !what[0] && i < d.ndim; i++)
            if (back.shape[i] != d.shape[i])
                snprintf(what, sizeof(what), "store shape differs");
        blobstore_array_clear(&back);
    }
    /* Random boxes, integer indices (one-wide boxes) among them. */
    for (int t = 0; !what[0] && nitems && t < 6; t++) {
        int64_t lo[B2ND_MAX_DIM], hi[B2ND_MAX_DIM];
        size_t bn = 1;
        for (int i = 0; i < d.ndim; i++) {
            lo[i] = (int64_t)sm_below(&st, (uint64_t)d.shape[i]);
            hi[i] = sm_below(&st, 3) == 0
                        ? lo[i] + 1
                        : lo[i] + (int64_t)sm_below(&st, (uint64_t)(d.shape[i] - lo[i] + 1));
            bn *= (size_t)(hi[i] - lo[i]);
        }
        uint8_t *ref = malloc(bn * (size_t)d.itemsize + 1), *sl = NULL;
        box_ref(want, d.shape, d.ndim, (size_t)d.itemsize, lo, hi, ref);
        int rc;
        if (!through_store) {
            sl = malloc(bn * (size_t)d.itemsize + 1);
            rc = bs__b2nd_read_slice(&f, lo, hi, sl, bn * (size_t)d.itemsize, 1);
        } else {
            rc = blobstore_array_get_slice(&back, bs, "diff", lo, hi);
            sl = back.data;
            back.data = NULL;
            for (int i = 0; !rc && i < d.ndim; i++)
                if (back.shape[i] != hi[i] - lo[i])
                    rc = -100;
        }
        if (rc)
            snprintf(what, sizeof(what), "slice %d rc %d: %s", t, rc, blobstore_errmsg());
        else if (memcmp(sl, ref, bn * (size_t)d.itemsize) != 0)
            snprintf(what, sizeof(what), "slice %d differs", t);
        free(sl);
        free(ref);
        blobstore_array_clear(&back);
    }
    if (what[0]) {
        bad = 1;
        fprintf(stderr, "  differential case FAILED, seed %llu: %s\n    %s ndim %d shape [",
                (unsigned long long)seed, what, d.dtype, d.ndim);
        for (int i = 0; i < d.ndim; i++)
            fprintf(stderr, "%s%lld", i ? "," : "", (long long)d.shape[i]);
        fprintf(stderr, "] chunks [");
        for (int i = 0; i < d.ndim && !auto_shapes; i++)
            fprintf(stderr, "%s%d/%d", i ? "," : "", cs[i], bsh[i]);
        fprintf(stderr, "] codec %s level %d shuffle %d fortran %d store %d\n", codec, level,
                shuffle, fortran, through_store);
    }
    if (opened)
        bs__b2nd_close(&f);
    free(file);
    free(data);
    free(want);
    free(got);
    return bad;
}

TEST(random_differential)
{
    long cases = env_long("B2ND_DIFF_CASES", 400);
    long max_items = env_long("B2ND_DIFF_ITEMS", 3000);
    uint64_t base = (uint64_t)env_long("B2ND_DIFF_SEED", 20261202);
    if (getenv("B2ND_DIFF_SEED") == NULL && getenv("B2ND_DIFF_CASES") != NULL) {
        uint64_t t = (uint64_t)time(NULL);
        base = sm_next(&t) >> 1; /* a soak explores new seeds each run */
    }
    printf("  random_differential: %ld cases from seed %llu, at most %ld items\n", cases,
           (unsigned long long)base, max_items);
    const char *dir = test_tmpdir();
    blobstore *bs = open_store(dir, "memory");
    CHECK(bs != NULL);
    int failures = 0;
    for (long k = 0; k < cases && failures < 5; k++)
        failures += diff_case(base + (uint64_t)k, bs, (size_t)max_items);
    CHECK_EQ(failures, 0);
    blobstore_close(bs);
}

/* blobstore_array_get_into and _get_slice_into: seeded random arrays of
 * several dtypes and ranks, with chunk and block shapes that do not divide
 * them, read one after another into one reused buffer equal
 * blobstore_array_get's (and _get_slice's) result, the bytes past them
 * untouched; a buffer one byte short is EINVAL naming the size needed and
 * left as it was; an empty array reads into NULL; a damaged file is
 * ECORRUPT with out zeroed. */
TEST(array_get_into_a_reused_buffer_is_array_get)
{
    uint64_t seed = (uint64_t)env_long("B2ND_INTO_SEED", 20261203), x = seed;
    printf("  array_get_into_a_reused_buffer_is_array_get: seed %llu (B2ND_INTO_SEED)\n",
           (unsigned long long)seed);
    const char *dir = test_tmpdir();
    blobstore *bs = open_store(dir, "filesystem");
    CHECK(bs != NULL);
    enum { NA = 6 };
    static const char *keys[NA] = {"f8", "i2", "u4be", "b1", "c8", "empty"};
    static const char *dtypes[NA] = {"<f8", "<i2", ">u4", "|b1", "<c8", "<f4"};
    static const int ndims[NA] = {1, 3, 2, 2, 4, 2}, itemsz[NA] = {8, 2, 4, 1, 8, 4};
    static const int64_t shapes[NA][4] = {{100003},   {37, 41, 29},   {513, 257},
                                          {300, 301}, {7, 9, 11, 13}, {0, 5}};
    static const int32_t chunks[NA][4] = {{7001},    {10, 16, 7},  {100, 64},
                                          {128, 77}, {3, 4, 5, 6}, {1, 5}};
    static const int32_t blocks[NA][4] = {{1000},   {5, 8, 4},    {32, 16},
                                          {64, 77}, {2, 2, 3, 3}, {1, 5}};
    uint8_t *data[NA];
    size_t nb[NA], cap = 0;
    for (int k = 0; k < NA; k++) {
        size_t items = 1;
        for (int i = 0; i < ndims[k]; i++)
            items *= (size_t)shapes[k][i];
        nb[k] = items * (size_t)itemsz[k];
        cap = nb[k] > cap ? nb[k] : cap;
        data[k] = malloc(nb[k] ? nb[k] : 1);
        for (size_t i = 0; i < nb[k]; i++) /* bools 0/1; the others random bytes */
            data[k][i] = (uint8_t)(k == 3 ? xs_next(&x) & 1 : xs_next(&x));
        blobstore_array a = {"", ndims[k], {0}, data[k], nb[k], 0};
        snprintf(a.dtype, sizeof(a.dtype), "%s", dtypes[k]);
        memcpy(a.shape, shapes[k], sizeof(shapes[k]));
        blobstore_array_options o = BLOBSTORE_ARRAY_OPTIONS_INIT;
        o.chunkshape = chunks[k];
        o.blockshape = blocks[k];
        int rc = blobstore_array_put(NULL, bs, keys[k], &a, &o);
        if (rc)
            fprintf(stderr, "  %s: %s\n", keys[k], blobstore_errmsg());
        CHECK_EQ(rc, 0);
    }
    cap += 64;
    uint8_t *buf = malloc(cap);
    for (int r = 0; r < 2 * NA; r++) {
        int k = (int)(xs_next(&x) % NA);
        bs__array_get_threads = r % 3; /* 0 (one per core), 1, 2 */
        blobstore_array want, got;
        CHECK_EQ(blobstore_array_get(&want, bs, keys[k]), 0);
        memset(buf, 0x5a, cap);
        int rc = blobstore_array_get_into(&got, bs, keys[k], buf, cap);
        if (rc)
            fprintf(stderr, "  %s: %s\n", keys[k], blobstore_errmsg());
        CHECK_EQ(rc, 0);
        CHECK(got.data == buf);
        CHECK_STR(got.dtype, want.dtype);
        CHECK_STR(got.dtype, dtypes[k]);
        CHECK_EQ(got.ndim, want.ndim);
        CHECK_EQ(got.fortran, 0);
        for (int i = 0; i < got.ndim; i++)
            CHECK_EQ(got.shape[i], want.shape[i]);
        CHECK_EQ(got.nbytes, want.nbytes);
        CHECK_EQ(got.nbytes, nb[k]);
        CHECK_MEM(buf, want.data, nb[k]);
        CHECK_MEM(buf, data[k], nb[k]);
        for (size_t i = nb[k]; i < cap; i++)
            CHECK_EQ(buf[i], 0x5a);
        blobstore_array_clear(&want);
        /* a random box, into the same buffer */
        int64_t lo[4] = {0}, hi[4] = {0};
        for (int i = 0; i < ndims[k]; i++) {
            lo[i] = shapes[k][i] ? (int64_t)(xs_next(&x) % (uint64_t)shapes[k][i]) : 0;
            hi[i] = lo[i] + (int64_t)(xs_next(&x) % (uint64_t)(shapes[k][i] - lo[i] + 1));
        }
        CHECK_EQ(blobstore_array_get_slice(&want, bs, keys[k], lo, hi), 0);
        memset(buf, 0x5a, cap);
        CHECK_EQ(blobstore_array_get_slice_into(&got, bs, keys[k], lo, hi, buf, cap), 0);
        CHECK_EQ(got.nbytes, want.nbytes);
        for (int i = 0; i < got.ndim; i++)
            CHECK_EQ(got.shape[i], hi[i] - lo[i]);
        CHECK_MEM(buf, want.data, want.nbytes);
        for (size_t i = want.nbytes; i < cap; i++)
            CHECK_EQ(buf[i], 0x5a);
        blobstore_array_clear(&want);
        /* one byte short: EINVAL with both sizes, the buffer untouched */
        if (nb[k]) {
            memset(buf, 0x5a, cap);
            CHECK_EQ(blobstore_array_get_into(&got, bs, keys[k], buf, nb[k] - 1), BLOBSTORE_EINVAL);
            CHECK(got.data == NULL && got.nbytes == 0 && got.ndim == 0);
            char need[64];
            snprintf(need, sizeof(need), "array of %zu bytes", nb[k]);
            CHECK(strstr(blobstore_errmsg(), need) != NULL);
            for (size_t i = 0; i < cap; i++)
                CHECK_EQ(buf[i], 0x5a);
            CHECK_EQ(blobstore_array_get_into(&got, bs, keys[k], NULL, nb[k]), BLOBSTORE_EINVAL);
        }
    }
    bs__array_get_threads = 0;
    /* an empty array reads into no buffer; anything else does not */
    blobstore_array got;
    CHECK_EQ(blobstore_array_get_into(&got, bs, "empty", NULL, 0), 0);
    CHECK(got.data == NULL && got.nbytes == 0 && got.ndim == 2 && got.shape[0] == 0);
    CHECK_EQ(blobstore_array_get_into(&got, bs, "f8", NULL, 0), BLOBSTORE_EINVAL);
    CHECK_EQ(blobstore_array_get_into(&got, bs, "nope", buf, cap), BLOBSTORE_ENOTFOUND);
    CHECK_EQ(blobstore_put(NULL, bs, "bytes", "abc", 3, NULL), 0);
    CHECK_EQ(blobstore_array_get_into(&got, bs, "bytes", buf, cap), BLOBSTORE_EINVAL);
    /* a byte flipped in the middle of i2's file (read whole: under 8 MiB) */
    char path[8192];
    CHECK_EQ(test_blob_path(path, sizeof(path), bs, dir, "i2"), 0);
    bs_buf file = {0};
    CHECK_EQ(bs__read_file(path, &file), 0);
    file.data[file.len / 2] ^= 0x10;
    FILE *fp = fopen(path, "wb");
    CHECK(fp != NULL && fwrite(file.data, 1, file.len, fp) == file.len);
    fclose(fp);
    bs__buf_free(&file);
    CHECK_EQ(blobstore_array_get_into(&got, bs, "i2", buf, cap), BLOBSTORE_ECORRUPT);
    CHECK(got.data == NULL && got.nbytes == 0);
    CHECK_EQ(blobstore_array_get_into(&got, bs, "f8", buf, cap), 0); /* the others still read */
    CHECK_MEM(buf, data[0], nb[0]);
    free(buf);
    for (int k = 0; k < NA; k++)
        free(data[k]);
    blobstore_close(bs);
}

static const test_case tests[] = {
    TEST_ENTRY(array_get_holds_the_array_not_the_file),
    TEST_ENTRY(arrays_through_the_store),
    TEST_ENTRY(array_blob_file_is_the_b2nd_file_and_corruption_is_caught),
    TEST_ENTRY(array_file_get_reads_whole_and_refuses_damage),
    TEST_ENTRY(reference_files_decode),
    TEST_ENTRY(round_trips_every_dtype_rank_order_codec),
    TEST_ENTRY(writer_follows_the_format_rules),
    TEST_ENTRY(byte_shuffle_is_blosc_s),
    TEST_ENTRY(unshuffle_from_planes_is_the_plain_loop),
    TEST_ENTRY(row_boxes_decode_in_place),
    TEST_ENTRY(chunk_decode_nt_is_chunk_decode),
    TEST_ENTRY(incompressible_blocks_are_stored_as_they_are),
    TEST_ENTRY(slices_match_full_decode),
    TEST_ENTRY(damaged_files_give_errors),
    TEST_ENTRY(chunkshape_alone_gets_its_own_block),
    TEST_ENTRY(npy_round_trip),
    TEST_ENTRY(offsets_index_larger_than_its_chunk_refused),
    TEST_ENTRY(defect_files_read_as_c_blosc2_reads_them),
    TEST_ENTRY(special_offsets_are_checked),
    TEST_ENTRY(chunk_header_fields_are_checked),
    TEST_ENTRY(unsupported_dtypes_are_named),
    TEST_ENTRY(store_refuses_defect_files),
    TEST_ENTRY(write_back_check_refuses_a_damaged_write),
    TEST_ENTRY(write_back_check_reads_stored_streams_where_they_lie),
    TEST_ENTRY(stored_planes_shuffled_in_place_and_zero_planes_among_them),
    TEST_ENTRY(array_reads_in_a_row_reuse_pages_and_check_every_segment),
    TEST_ENTRY(array_reads_on_several_threads_at_once),
    TEST_ENTRY(array_get_into_a_reused_buffer_is_array_get),
    TEST_ENTRY(random_differential),
};
TEST_MAIN(tests)
