/*
 * test_b2nd_map.c - memory-mapped uncompressed arrays (blobstore_array_map,
 * issue 16): seeded random arrays (dtypes, ranks 0-4, one chunk and many,
 * rows of odd byte counts, all-zero chunks) put with compression "none" map
 * to the very bytes that were put and that a get returns; the file is in the
 * mappable layout (chunk items page-aligned) and still reads as a .b2nd;
 * damage is found by the map-time checks (header, index) or by verify
 * (items); what cannot be mapped is refused with EUNSUPPORTED / EINVAL.
 * Seed: B2ND_MAP_SEED (printed).
 */
#include "b2nd/b2nd.h"
#include "test.h"

#include <fcntl.h>
#include <unistd.h>

static blobstore *open_store(const char *dir, const char *blob_backend, const char *codec)
{
    blobstore_options o = BLOBSTORE_OPTIONS_INIT;
    o.cache_dir = dir;
    o.backend = "sqlite";
    o.blob_backend = blob_backend;
    o.compression = codec;
    blobstore *bs = NULL;
    return blobstore_open(&bs, &o) == 0 ? bs : NULL;
}

static uint64_t sm_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Flip one bit of the file at off (in place: a mapping of it sees it). */
static int flip(const char *path, uint64_t off)
{
    int fd = open(path, O_RDWR);
    uint8_t c;
    int ok = fd >= 0 && pread(fd, &c, 1, (off_t)off) == 1;
    c ^= 0x10;
    ok = ok && pwrite(fd, &c, 1, (off_t)off) == 1;
    if (fd >= 0)
        close(fd);
    return ok ? 0 : -1;
}

static const char *dtypes[] = {"<f8", "<i4", "|u1", "<i2", ">f4", "<c16", "|b1", "<u8", "<f2"};

/* Each case: put, map, compare with the input and with a get, check the
 * layout in the file. Returns 0, or 1 after printing why. */
static int map_case(uint64_t seed, blobstore *bs, const char *dir, int *zero_chunks,
                    int *multi_chunk)
{
    uint64_t s = seed;
    const char *dtype = dtypes[sm_next(&s) % (sizeof(dtypes) / sizeof(dtypes[0]))];
    int is = atoi(dtype + 2), ndim = (int)(sm_next(&s) % 5);
    int64_t shape[BLOBSTORE_ARRAY_MAX_DIM];
    size_t row = (size_t)is;
    for (int k = 1; k < ndim; k++) { /* rows of at most 4 KiB: always mappable */
        shape[k] = 1 + (int64_t)(sm_next(&s) % 13);
        if (row * (size_t)shape[k] > 4096)
            shape[k] = 1;
        row *= (size_t)shape[k];
    }
    /* one chunk (<= 16 MiB) or several (17 to 40 MiB) */
    int big = sm_next(&s) % 3 == 0;
    size_t target = big ? (17u << 20) + sm_next(&s) % (23u << 20) : 1 + sm_next(&s) % (3u << 20);
    if (ndim == 0)
        target = (size_t)is;
    else
        shape[0] = (int64_t)(target / row) + 1;
    size_t items = 1;
    for (int k = 0; k < ndim; k++)
        items *= (size_t)shape[k];
    size_t nbytes = items * (size_t)is;
    uint8_t *data = malloc(nbytes);
    if (!data)
        return 1;
    for (size_t i = 0; i < nbytes; i += 8) {
        uint64_t v = sm_next(&s);
        memcpy(data + i, &v, nbytes - i < 8 ? nbytes - i : 8);
    }
    if (dtype[1] == 'b')
        for (size_t i = 0; i < nbytes; i++)
            data[i] &= 1;
    if (big && sm_next(&s) % 2) /* half the array zeros: whole chunks of zeros */
        memset(data + (sm_next(&s) % 2 ? 0 : nbytes / 2), 0, nbytes / 2);
    blobstore_array a = {{0}, ndim, {0}, data, nbytes, 0};
    snprintf(a.dtype, sizeof(a.dtype), "%s", dtype);
    memcpy(a.shape, shape, sizeof(int64_t) * (size_t)ndim);
    char key[32];
    snprintf(key, sizeof(key), "m%llu", (unsigned long long)seed);
    int bad = 0;
    blobstore_array back = {0};
    blobstore_array_mapping *m = NULL;
    bs_buf file = {0};
    b2nd_file f = {0};
    char path[4096];
    if (blobstore_array_put(NULL, bs, key, &a, NULL) != 0) {
        printf("  put: %s\n", blobstore_errmsg());
        bad = 1;
    } else if (blobstore_array_map(&m, bs, key, 0) != 0) {
        printf("  map: %s\n", blobstore_errmsg());
        bad = 1;
    } else if (blobstore_array_get(&back, bs, key) != 0) {
        printf("  get: %s\n", blobstore_errmsg());
        bad = 1;
    } else {
        const blobstore_array *v = blobstore_array_mapping_array(m);
        bad = strcmp(v->dtype, dtype) != 0 || v->ndim != ndim || v->nbytes != nbytes ||
              memcmp(v->shape, shape, sizeof(int64_t) * (size_t)ndim) != 0;
        if (bad)
            printf("  the mapping describes another array\n");
        else if (memcmp(v->data, data, nbytes) != 0 || memcmp(back.data, data, nbytes) != 0)
            bad = printf("  the mapping or the get differs from the input\n") > 0;
        else if (blobstore_array_mapping_verify(m) != 0)
            bad = printf("  verify: %s\n", blobstore_errmsg()) > 0;
    }
    /* The file: a .b2nd whose chunks' items lie on 64 KiB boundaries when
     * there are several, each chunk a slab of whole rows. */
    if (!bad && (test_blob_path(path, sizeof(path), bs, dir, key) != 0 ||
                 bs__read_file(path, &file) != 0 || bs__b2nd_open(&f, file.data, file.len) != 0))
        bad = printf("  the blob file does not open: %s\n", blobstore_errmsg()) > 0;
    for (int64_t i = 0; !bad && i < f.nchunks; i++) {
        for (int k = 1; k < ndim; k++)
            bad |= f.desc.chunkshape[k] != shape[k] || f.desc.blockshape[k] != shape[k];
        if (f.offsets[i] >> 63) {
            ++*zero_chunks;
            continue;
        }
        if (f.nchunks > 1 && (f.header_len + f.offsets[i] + 32) % B2ND_MAP_ALIGN != 0)
            bad = 1;
        if (bad)
            printf("  chunk %lld is not in the mappable layout\n", (long long)i);
    }
    *multi_chunk += f.nchunks > 1;
    if (bad)
        printf("  case seed %llu: %s, ndim %d, %zu bytes\n", (unsigned long long)seed, dtype, ndim,
               nbytes);
    bs__b2nd_close(&f);
    bs__buf_free(&file);
    blobstore_array_clear(&back);
    blobstore_array_unmap(m);
    blobstore_delete(bs, key);
    free(data);
    return bad;
}

TEST(mapped_arrays_equal_what_was_put)
{
    const char *env = getenv("B2ND_MAP_SEED");
    uint64_t base = env ? strtoull(env, NULL, 10) : 20261203;
    long cases = getenv("B2ND_MAP_CASES") ? atol(getenv("B2ND_MAP_CASES")) : 18;
    printf("  mapped_arrays_equal_what_was_put: %ld cases from seed %llu (B2ND_MAP_SEED)\n", cases,
           (unsigned long long)base);
    const char *dir = test_tmpdir();
    blobstore *bs = open_store(dir, "filesystem", "none");
    CHECK(bs != NULL);
    int failures = 0, zero_chunks = 0, multi = 0;
    for (long k = 0; k < cases && failures < 3; k++)
        failures += map_case(base + (uint64_t)k, bs, dir, &zero_chunks, &multi);
    printf("  %d cases of several chunks, %d all-zero chunks\n", multi, zero_chunks);
    CHECK_EQ(failures, 0);
    if (!env) { /* the default seed covers both */
        CHECK(multi > 0);
        CHECK(zero_chunks > 0);
    }
    blobstore_close(bs);
}

/* A caller's format_info adds members; it never replaces what describes
 * the array (dtype, shape...) nor the mapping's checksums ("_b2nd_map"):
 * those are refused and nothing is stored. */
TEST(format_info_never_replaces_the_stores)
{
    const char *dir = test_tmpdir();
    blobstore *bs = open_store(dir, "filesystem", "none");
    CHECK(bs != NULL);
    int32_t v[6] = {1, 2, 3, 4, 5, 6};
    blobstore_array a = {"<i4", 2, {2, 3}, v, sizeof(v), 0};
    static const char *const bad[] = {
        "{\"_b2nd_map\": {\"head\": \"0000000000000000\", \"tail\": \"0000000000000000\","
        " \"chunks\": \"0000000000000000\"}}",
        "{\"shape\": [6]}", "{\"note\": 1, \"dtype\": \"<u1\"}", "{\"_note\": 1}"};
    blobstore_array_options o = BLOBSTORE_ARRAY_OPTIONS_INIT;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        o.format_info = bad[i];
        CHECK_EQ(blobstore_array_put(NULL, bs, "a", &a, &o), BLOBSTORE_EINVAL);
        CHECK_EQ(blobstore_exists(bs, "a"), 0);
    }
    o.format_info = "{\"note\": \"n\"}";
    CHECK_EQ(blobstore_array_put(NULL, bs, "a", &a, &o), 0);
    char *meta;
    CHECK_EQ(blobstore_get_metadata(&meta, bs, "a"), 0);
    CHECK(strstr(meta, "\"note\":\"n\"") != NULL);
    CHECK(strstr(meta, "\"shape\":[2,3]") != NULL);
    CHECK(strstr(meta, "\"dtype\":\"<i4\"") != NULL);
    blobstore_free(meta);
    blobstore_array_mapping *m;
    CHECK_EQ(blobstore_array_map(&m, bs, "a", BLOBSTORE_MAP_VERIFY), 0);
    const blobstore_array *w = blobstore_array_mapping_array(m);
    CHECK_EQ(w->nbytes, sizeof(v));
    CHECK_MEM(w->data, v, sizeof(v));
    blobstore_array_unmap(m);
    blobstore_close(bs);
}

/* A 0-d and an empty array map too. */
TEST(scalar_and_empty_arrays_map)
{
    const char *dir = test_tmpdir();
    blobstore *bs = open_store(dir, "filesystem", "none");
    CHECK(bs != NULL);
    double pi = 3.141592653589793;
    blobstore_array s = {"<f8", 0, {0}, &pi, 8, 0};
    CHECK_EQ(blobstore_array_put(NULL, bs, "s", &s, NULL), 0);
    char *meta;
    CHECK_EQ(blobstore_get_metadata(&meta, bs, "s"), 0);
    CHECK(strstr(meta, "_b2nd_map") == NULL); /* the store's own bookkeeping */
    blobstore_free(meta);
    blobstore_array_mapping *m;
    CHECK_EQ(blobstore_array_map(&m, bs, "s", BLOBSTORE_MAP_VERIFY), 0);
    const blobstore_array *v = blobstore_array_mapping_array(m);
    CHECK_EQ(v->ndim, 0);
    CHECK_EQ(v->nbytes, 8);
    CHECK_MEM(v->data, &pi, 8);
    blobstore_array_unmap(m);
    blobstore_array e = {"<i4", 2, {0, 5}, NULL, 0, 0};
    CHECK_EQ(blobstore_array_put(NULL, bs, "e", &e, NULL), 0);
    CHECK_EQ(blobstore_array_map(&m, bs, "e", 0), 0);
    v = blobstore_array_mapping_array(m);
    CHECK_EQ(v->nbytes, 0);
    CHECK(v->data == NULL);
    CHECK_EQ(v->shape[1], 5);
    blobstore_array_unmap(m);
    blobstore_close(bs);
}

/* Damage: in the header, the offsets index or a chunk header (the bytes
 * that are not items, checksummed apart at put), found at map time; in the
 * items, found by verify (and by BLOBSTORE_MAP_VERIFY), also in a mapping
 * made before the damage. A get reports it as before. */
TEST(damage_is_found_by_map_or_verify)
{
    const char *dir = test_tmpdir();
    blobstore *bs = open_store(dir, "filesystem", "none");
    CHECK(bs != NULL);
    size_t n = (20u << 20) / 8; /* 20 MiB of float64: two chunks */
    double *data = malloc(n * 8);
    CHECK(data != NULL);
    for (size_t i = 0; i < n; i++)
        data[i] = (double)i * 0.5;
    blobstore_array a = {"<f8", 2, {(int64_t)n / 64, 64}, data, n * 8, 0};
    static const char *where[] = {"header", "index", "chunk header", "items"};
    for (int w = 0; w < 4; w++) {
        CHECK_EQ(blobstore_array_put(NULL, bs, "a", &a, NULL), 0);
        char path[4096];
        CHECK_EQ(test_blob_path(path, sizeof(path), bs, dir, "a"), 0);
        bs_buf file = {0};
        CHECK_EQ(bs__read_file(path, &file), 0);
        b2nd_file f;
        CHECK_EQ(bs__b2nd_open(&f, file.data, file.len), 0);
        CHECK_EQ(f.nchunks, 2);
        uint64_t c1 = f.header_len + f.offsets[1];
        uint64_t at = w == 0   ? 64 /* the header's thread count: no reader checks it */
                      : w == 1 ? f.header_len + f.cbytes + 40 /* the offsets index */
                      : w == 2 ? c1 + 17          /* chunk 1's filters: no field c-blosc2 checks */
                               : c1 + 32 + 12345; /* an item */
        bs__b2nd_close(&f);
        bs__buf_free(&file);
        blobstore_array_mapping *before;
        CHECK_EQ(blobstore_array_map(&before, bs, "a", 0), 0);
        CHECK_EQ(flip(path, at), 0);
        blobstore_array_mapping *m = NULL;
        int rc = blobstore_array_map(&m, bs, "a", 0);
        printf("  %s damaged: map %d (%s)\n", where[w], rc, rc ? blobstore_errmsg() : "");
        if (w < 3) {
            CHECK_EQ(rc, BLOBSTORE_ECORRUPT);
            CHECK(strstr(blobstore_errmsg(), "fail") != NULL); /* found by its checksum */
        } else {
            CHECK_EQ(rc, 0); /* items are not read at map time */
            CHECK_EQ(blobstore_array_mapping_verify(m), BLOBSTORE_ECORRUPT);
            CHECK(strstr(blobstore_errmsg(), "fail their checksum") != NULL);
            blobstore_array_unmap(m);
            CHECK_EQ(blobstore_array_map(&m, bs, "a", BLOBSTORE_MAP_VERIFY), BLOBSTORE_ECORRUPT);
        }
        CHECK_EQ(blobstore_array_mapping_verify(before), BLOBSTORE_ECORRUPT);
        blobstore_array_unmap(before);
        blobstore_array back;
        CHECK_EQ(blobstore_array_get(&back, bs, "a"), BLOBSTORE_ECORRUPT);
        CHECK_EQ(blobstore_delete(bs, "a"), 0);
    }
    free(data);
    blobstore_close(bs);
}

/* What cannot be mapped is refused, saying why; the get still works. */
TEST(unmappable_arrays_are_refused)
{
    const char *dir = test_tmpdir();
    blobstore *bs = open_store(dir, "filesystem", "lz4");
    CHECK(bs != NULL);
    static int32_t v[200 * 300];
    for (int i = 0; i < 200 * 300; i++)
        v[i] = i * 7919;
    blobstore_array a = {"<i4", 2, {200, 300}, v, sizeof(v), 0};
    blobstore_array_mapping *m = NULL;
    /* compressed (the store's codec) */
    CHECK_EQ(blobstore_array_put(NULL, bs, "lz4", &a, NULL), 0);
    CHECK_EQ(blobstore_array_map(&m, bs, "lz4", 0), BLOBSTORE_EUNSUPPORTED);
    CHECK(strstr(blobstore_errmsg(), "compressed") != NULL);
    CHECK(m == NULL);
    /* uncompressed, chunks of its own that split the second dimension */
    blobstore_array_options o = BLOBSTORE_ARRAY_OPTIONS_INIT;
    int32_t cs[2] = {50, 100};
    o.compression = "none";
    o.chunkshape = cs;
    CHECK_EQ(blobstore_array_put(NULL, bs, "split", &a, &o), 0);
    CHECK_EQ(blobstore_array_map(&m, bs, "split", 0), BLOBSTORE_EUNSUPPORTED);
    CHECK(strstr(blobstore_errmsg(), "first dimension") != NULL);
    /* chunks of whole rows given by the caller: not page-aligned */
    int32_t rows[2] = {7, 300};
    o.chunkshape = rows;
    CHECK_EQ(blobstore_array_put(NULL, bs, "rows", &a, &o), 0);
    CHECK_EQ(blobstore_array_map(&m, bs, "rows", 0), BLOBSTORE_EUNSUPPORTED);
    CHECK(strstr(blobstore_errmsg(), "page-aligned") != NULL);
    /* the automatic layout maps */
    o.chunkshape = NULL;
    CHECK_EQ(blobstore_array_put(NULL, bs, "none", &a, &o), 0);
    CHECK_EQ(blobstore_array_map(&m, bs, "none", 0), 0);
    CHECK_MEM(blobstore_array_mapping_array(m)->data, v, sizeof(v));
    blobstore_array_unmap(m);
    m = NULL;
    /* not an array, no such key, bad flags */
    CHECK_EQ(blobstore_put(NULL, bs, "bytes", "abc", 3, NULL), 0);
    CHECK_EQ(blobstore_array_map(&m, bs, "bytes", 0), BLOBSTORE_EINVAL);
    CHECK_EQ(blobstore_array_map(&m, bs, "missing", 0), BLOBSTORE_ENOTFOUND);
    CHECK_EQ(blobstore_array_map(&m, bs, "none", 0x80), BLOBSTORE_EINVAL);
    blobstore_array back;
    CHECK_EQ(blobstore_array_get(&back, bs, "split"), 0);
    CHECK_MEM(back.data, v, sizeof(v));
    blobstore_array_clear(&back);
    blobstore_close(bs);
    /* the memory blob backend has no files */
    bs = open_store(test_tmpdir(), "memory", "none");
    CHECK(bs != NULL);
    CHECK_EQ(blobstore_array_put(NULL, bs, "a", &a, NULL), 0);
    CHECK_EQ(blobstore_array_map(&m, bs, "a", 0), BLOBSTORE_EUNSUPPORTED);
    CHECK(strstr(blobstore_errmsg(), "filesystem") != NULL);
    blobstore_close(bs);
}

/* The layout's shapes: whole rows, aligned chunks, or none at all. */
TEST(map_shapes)
{
    b2nd_desc d = {"<f8", 8, 2, {1000000, 3}, {0}, {0}};
    size_t align;
    CHECK_EQ(bs__b2nd_map_shapes(&d, &align), 1);
    CHECK_EQ(align, B2ND_MAP_ALIGN);
    CHECK_EQ(d.chunkshape[1], 3);
    CHECK_EQ(d.blockshape[1], 3);
    CHECK_EQ((size_t)d.chunkshape[0] * 24 % B2ND_MAP_ALIGN, 0);
    CHECK((size_t)d.chunkshape[0] * 24 <= (16u << 20));
    CHECK_EQ(d.chunkshape[0] % d.blockshape[0], 0);
    /* a small array: one chunk, no page rule */
    b2nd_desc s = {"<f8", 8, 1, {1000}, {0}, {0}};
    CHECK_EQ(bs__b2nd_map_shapes(&s, &align), 1);
    CHECK_EQ(s.chunkshape[0], 1000);
    CHECK_EQ(align, 64);
    /* an odd row of 24,000,001 bytes: 65,536 rows of it would pass 256
     * MiB, so would 4,096: not mappable */
    b2nd_desc w = {"|u1", 1, 2, {40, 24000001}, {0}, {0}};
    CHECK_EQ(bs__b2nd_map_shapes(&w, &align), 0);
    /* a row of 24,000,000 bytes (2^9 * 46875): 8 rows make whole 4 KiB pages */
    b2nd_desc p = {"|u1", 1, 2, {40, 24000000}, {0}, {0}};
    CHECK_EQ(bs__b2nd_map_shapes(&p, &align), 1);
    CHECK_EQ(align, 4096);
    CHECK_EQ(p.chunkshape[0], 8);
    /* empty: nothing to map */
    b2nd_desc e = {"<f8", 8, 1, {0}, {0}, {0}};
    CHECK_EQ(bs__b2nd_map_shapes(&e, &align), 0);
}

/* The header written for a memcpyed chunk without copying its bytes is the
 * one the encoder writes (random sizes, typesizes, shuffles). */
TEST(memcpyed_header_is_the_encoders)
{
    uint64_t s = 16;
    for (int k = 0; k < 200; k++) {
        uint32_t n = 1 + (uint32_t)(sm_next(&s) % 5000);
        uint8_t *src = malloc(n), *c = malloc(n + 64), h[32];
        for (uint32_t i = 0; i < n; i++)
            src[i] = (uint8_t)sm_next(&s);
        if (k % 10 == 0)
            memset(src, 0, n);
        static const int shuffles[3] = {B2_NOFILTER, B2_SHUFFLE, B2_BITSHUFFLE};
        b2_cparams cp = {B2_NONE, 5, shuffles[k % 3], 1 + k % 8, (uint32_t)(1 + k % 3) * 512};
        size_t len;
        CHECK_EQ(bs__b2_chunk_encode_into(c, bs__b2_chunk_bound(n, &cp), &len, src, n, &cp), 0);
        int zero = bs__b2_memcpyed_header(h, src, n, &cp);
        CHECK_EQ(zero, k % 10 == 0);
        if (!zero) {
            CHECK_EQ(len, 32 + n);
            CHECK_MEM(h, c, 32);
        }
        free(src);
        free(c);
    }
}

/* An array of several chunks is written from the caller's bytes: the file
 * is the same as from a copy (the Fortran-order input goes through one),
 * and a put of 96 MiB takes no copy of it (peak RSS). */
TEST(several_chunks_are_written_without_a_copy)
{
    size_t rows = 3000000, cols = 4; /* 96 MB of int64 */
    int64_t *c = malloc(rows * cols * 8), *f = malloc(rows * cols * 8);
    CHECK(c && f);
    uint64_t s = 77;
    for (size_t r = 0; r < rows; r++)
        for (size_t k = 0; k < cols; k++)
            f[k * rows + r] = c[r * cols + k] = (int64_t)sm_next(&s);
    b2nd_desc d = {"<i8", 8, 2, {(int64_t)rows, (int64_t)cols}, {0}, {0}};
    b2nd_write_options w = {"none", 5, 0, 0, NULL, NULL};
    b2nd_pieces p;
    CHECK_EQ(bs__b2nd_encode(&p, &d, c, 0, &w), 0);
    CHECK(p.mappable && p.body != NULL && p.nchunks > 1);
    size_t span = (size_t)p.desc.chunkshape[0] * cols * 8;
    for (size_t i = 0; i + 1 < p.nchunks; i++)
        CHECK(p.body[i] == (const uint8_t *)c + i * span);
    CHECK(p.body[p.nchunks - 1] == NULL); /* the last, padded, is copied */
    bs__b2nd_pieces_free(&p);
    uint8_t *from_c, *from_f;
    size_t len_c, len_f;
    CHECK_EQ(bs__b2nd_write(&from_c, &len_c, &d, c, 0, &w), 0);
    CHECK_EQ(bs__b2nd_write(&from_f, &len_f, &d, f, 1, &w), 0);
    CHECK_EQ(len_c, len_f);
    CHECK_MEM(from_c, from_f, len_c);
    free(from_c);
    free(from_f);
    free(f);
    /* through the store: the peak RSS grows by far less than the array */
    blobstore *bs = open_store(test_tmpdir(), "filesystem", "none");
    CHECK(bs != NULL);
    blobstore_array a = {"<i8", 2, {(int64_t)rows, (int64_t)cols}, c, rows * cols * 8, 0};
    int reset = test_peak_reset();
    long before = test_vm_kib("VmRSS");
    CHECK_EQ(blobstore_array_put(NULL, bs, "a", &a, NULL), 0);
    long peak = test_vm_kib("VmHWM");
    printf("  put of a 96 MB array: peak RSS %+ld KiB%s\n", peak - before,
           reset ? "" : " (peak not reset: not checked)");
#ifndef __SANITIZE_ADDRESS__ /* (ASan's shadow and quarantine are memory of their own) */
    if (reset && before > 0)
        CHECK(peak - before < 48 * 1024);
#endif
    blobstore_array_mapping *m;
    CHECK_EQ(blobstore_array_map(&m, bs, "a", BLOBSTORE_MAP_VERIFY), 0);
    CHECK_MEM(blobstore_array_mapping_array(m)->data, c, rows * cols * 8);
    blobstore_array_unmap(m);
    blobstore_close(bs);
    free(c);
}

static const test_case tests[] = {
    TEST_ENTRY(format_info_never_replaces_the_stores),
    TEST_ENTRY(memcpyed_header_is_the_encoders),
    TEST_ENTRY(several_chunks_are_written_without_a_copy),
    TEST_ENTRY(mapped_arrays_equal_what_was_put),
    TEST_ENTRY(scalar_and_empty_arrays_map),
    TEST_ENTRY(damage_is_found_by_map_or_verify),
    TEST_ENTRY(unmappable_arrays_are_refused),
    TEST_ENTRY(map_shapes),
};
TEST_MAIN(tests)
