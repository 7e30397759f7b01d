/*
 * test_frame.c - the store's blob frame: round trips at chunk boundaries for
 * every codec, and damage of every kind reported as corruption.
 */
#include "internal.h"
#include "test.h"

#include <time.h>
#include <xxhash.h>

typedef struct {
    const unsigned char *p;
    size_t len, pos;
} src;

static int src_read(void *ctx, void *buf, size_t cap, size_t *out_n)
{
    src *s = ctx;
    size_t n = s->len - s->pos;
    if (n > cap)
        n = cap;
    if (n > 7777) /* odd read sizes exercise the reader's reassembly */
        n = 7777;
    memcpy(buf, s->p + s->pos, n);
    s->pos += n;
    *out_n = n;
    return 0;
}

static int encode(bs_buf *out, const char *codec, const unsigned char *data, size_t len,
                  char hash[65])
{
    bs_frame_writer *fw;
    uint64_t raw, stored;
    int rc = bs__frame_writer_new(&fw, bs__codec_by_name(codec), 3, bs__sink_buf, out);
    if (rc)
        return rc;
    /* Feed in uneven pieces. */
    size_t pos = 0, step = 1;
    while (!rc && pos < len) {
        size_t n = len - pos < step ? len - pos : step;
        rc = bs__frame_write(fw, data + pos, n);
        pos += n;
        step = step * 3 + 1;
    }
    if (!rc)
        rc = bs__frame_finish(fw, hash, &raw, &stored);
    if (!rc && (raw != len || stored != out->len))
        rc = -100;
    bs__frame_writer_free(fw);
    return rc;
}

static int decode(const bs_buf *frame, bs_buf *out, const char *hash, uint64_t size)
{
    src s = {frame->data, frame->len, 0};
    out->len = 0;
    return bs__frame_decode(src_read, &s, bs__sink_buf, out, hash, size, 1, NULL);
}

TEST(round_trip_every_codec_and_boundary)
{
    static const char *codecs[] = {"none", "lz4", "zstd", "gzip", "blosclz"};
    size_t sizes[] = {0,
                      1,
                      100,
                      BS_FRAME_CHUNK - 1,
                      BS_FRAME_CHUNK,
                      BS_FRAME_CHUNK + 1,
                      2 * BS_FRAME_CHUNK + 12345};
    size_t max = 2 * BS_FRAME_CHUNK + 12345;
    unsigned char *data = malloc(max);
    uint32_t x = 12345;
    for (size_t i = 0; i < max; i++) {
        x = x * 1103515245u + 12345u;
        data[i] = i % 3 ? (unsigned char)(x >> 24) : (unsigned char)(i >> 10);
    }
    for (int c = 0; c < 5; c++) {
        for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
            bs_buf f = {0}, out = {0};
            char hash[65], expect[65];
            CHECK_EQ(encode(&f, codecs[c], data, sizes[k], hash), 0);
            bs__sha256_hex(expect, data, sizes[k]);
            CHECK_STR(hash, expect);
            CHECK_EQ(decode(&f, &out, hash, sizes[k]), 0);
            CHECK_EQ(out.len, sizes[k]);
            CHECK(sizes[k] == 0 || memcmp(out.data, data, sizes[k]) == 0);
            /* Wrong expectations are corruption. */
            CHECK_EQ(decode(&f, &out, "00", sizes[k]), BLOBSTORE_ECORRUPT);
            CHECK_EQ(decode(&f, &out, hash, sizes[k] + 1), BLOBSTORE_ECORRUPT);
            bs__buf_free(&f);
            bs__buf_free(&out);
        }
    }
    free(data);
}

/* Writes of 4 MiB or more are hashed on a thread of their own while the
 * writer compresses them: seeded pieces of every size around that (and
 * small ones between, which leave part of a chunk buffered) give the frame
 * that pieces all under it give, byte for byte, and the one-shot SHA-256. */
TEST(large_writes_hashed_beside_their_compression)
{
    unsigned seed = (unsigned)time(NULL);
    printf("seed %u\n", seed);
    srand(seed);
    size_t len = 13 * BS_FRAME_CHUNK + (size_t)(rand() % 100000);
    unsigned char *data = malloc(len);
    for (size_t i = 0; i < len; i++)
        data[i] = i % 5 ? (unsigned char)rand() : (unsigned char)(i >> 12);
    char expect[65];
    bs__sha256_hex(expect, data, len);
    for (int c = 0; c < 2; c++) {
        const char *codec = c ? "none" : "lz4";
        bs_buf small = {0};
        char hash[65];
        bs_frame_writer *fw;
        uint64_t raw, stored;
        CHECK_EQ(bs__frame_writer_new(&fw, bs__codec_by_name(codec), 3, bs__sink_buf, &small), 0);
        for (size_t pos = 0, n; pos < len; pos += n) { /* pieces of a chunk less 3 bytes */
            n = len - pos < BS_FRAME_CHUNK - 3 ? len - pos : BS_FRAME_CHUNK - 3;
            CHECK_EQ(bs__frame_write(fw, data + pos, n), 0);
        }
        CHECK_EQ(bs__frame_finish(fw, hash, &raw, &stored), 0);
        bs__frame_writer_free(fw);
        CHECK_STR(hash, expect);
        for (int round = 0; round < 3; round++) {
            bs_buf f = {0};
            CHECK_EQ(bs__frame_writer_new(&fw, bs__codec_by_name(codec), 3, bs__sink_buf, &f), 0);
            for (size_t pos = 0; pos < len;) {
                size_t n = rand() % 3 ? ((size_t)4 << 20) - 2 + (size_t)(rand() % 5) +
                                            (size_t)(rand() % 3) * BS_FRAME_CHUNK
                                      : (size_t)(rand() % 70000);
                if (n > len - pos)
                    n = len - pos;
                CHECK_EQ(bs__frame_write(fw, data + pos, n), 0);
                pos += n;
            }
            CHECK_EQ(bs__frame_finish(fw, hash, &raw, &stored), 0);
            bs__frame_writer_free(fw);
            CHECK_STR(hash, expect);
            CHECK(raw == len && f.len == small.len && memcmp(f.data, small.data, f.len) == 0);
            bs_buf out = {0};
            CHECK_EQ(decode(&f, &out, hash, len), 0);
            CHECK(out.len == len && memcmp(out.data, data, len) == 0);
            bs__buf_free(&out);
            bs__buf_free(&f);
        }
        bs__buf_free(&small);
    }
    free(data);
}

TEST(incompressible_chunks_stored_as_is)
{
    size_t len = 300000;
    unsigned char *data = malloc(len);
    CHECK_EQ(bs__random_bytes(data, len), 0);
    bs_buf f = {0}, out = {0};
    char hash[65];
    CHECK_EQ(encode(&f, "zstd", data, len, hash), 0);
    CHECK(f.len <= len + 24 + 16 + 64 + 12); /* + the record's length and checksum */
    CHECK_EQ(decode(&f, &out, hash, len), 0);
    CHECK(memcmp(out.data, data, len) == 0);
    bs__buf_free(&f);
    bs__buf_free(&out);
    free(data);
}

/* Every single-byte change and every truncation of a small multi-chunk frame
 * is reported as corruption (or as an unsupported version), never as data. */
static void damage_suite(const char *codec)
{
    size_t len = BS_FRAME_CHUNK + 5000;
    unsigned char *data = malloc(len);
    for (size_t i = 0; i < len; i++)
        data[i] = (unsigned char)(i % 13 == 0 ? i : 7);
    bs_buf f = {0}, out = {0};
    char hash[65];
    CHECK_EQ(encode(&f, codec, data, len, hash), 0);
    size_t step = f.len > 4000 ? f.len / 2000 : 1;
    for (size_t i = 0; i < f.len; i += (i < 200 || i + 200 > f.len) ? 1 : step) {
        f.data[i] ^= 0x10;
        int rc = decode(&f, &out, NULL, UINT64_MAX);
        f.data[i] ^= 0x10;
        if (rc != BLOBSTORE_ECORRUPT && rc != BLOBSTORE_EUNSUPPORTED) {
            fprintf(stderr, "  byte %zu flipped: rc %d\n", i, rc);
            CHECK(0);
        }
    }
    for (size_t cut = 0; cut < f.len; cut += (cut < 200 || cut + 200 > f.len) ? 1 : step) {
        bs_buf t = {f.data, cut, cut};
        int rc = decode(&t, &out, NULL, UINT64_MAX);
        if (rc != BLOBSTORE_ECORRUPT) {
            fprintf(stderr, "  truncated at %zu: rc %d\n", cut, rc);
            CHECK(0);
        }
    }
    CHECK_EQ(bs__buf_append(&f, "x", 1), 0);
    CHECK_EQ(decode(&f, &out, NULL, UINT64_MAX), BLOBSTORE_ECORRUPT);
    CHECK(strstr(blobstore_errmsg(), "after its trailer") != NULL);
    bs__buf_free(&f);
    bs__buf_free(&out);
    free(data);
}

TEST(damage_lz4)
{
    damage_suite("lz4");
}

TEST(damage_zstd)
{
    damage_suite("zstd");
}

TEST(damage_none)
{
    damage_suite("none");
}

TEST(damage_blosclz)
{
    damage_suite("blosclz");
}

/* Version 2 frames carry the entry record; every byte of it is checked. */
TEST(entry_record_round_trips_and_is_checked)
{
    const char *rec = "{\"key\":\"k\\u00e9y\",\"format\":\"bytes\",\"metadata\":{\"a\":1},"
                      "\"at\":\"2026-01-01T00:00:00.000000Z\"}";
    const unsigned char data[] = "some bytes to frame";
    bs_buf f = {0}, out = {0}, got = {0};
    bs_frame_writer *fw;
    uint64_t raw, stored;
    char hash[65];
    CHECK_EQ(bs__frame_writer_new(&fw, bs__codec_by_name("lz4"), 3, bs__sink_buf, &f), 0);
    CHECK_EQ(bs__frame_write(fw, data, sizeof(data)), 0);
    CHECK_EQ(bs__frame_set_record(fw, rec), 0);
    CHECK_EQ(bs__frame_finish(fw, hash, &raw, &stored), 0);
    bs__frame_writer_free(fw);
    CHECK_EQ(f.data[8], 2);
    src s = {f.data, f.len, 0};
    CHECK_EQ(bs__frame_decode_record(src_read, &s, bs__sink_buf, &out, hash, sizeof(data), 1, NULL,
                                     &got),
             0);
    CHECK_STR((const char *)got.data, rec);
    CHECK_EQ(out.len, sizeof(data));
    CHECK(memcmp(out.data, data, sizeof(data)) == 0);
    /* Each byte of the record, its length or its checksum changed: corrupt. */
    size_t at0 = f.len - 16 - strlen(rec) - 4;
    for (size_t at = at0; at < f.len; at++) {
        f.data[at] ^= 0x20;
        s.pos = 0;
        int rc = bs__frame_decode_record(src_read, &s, bs__sink_buf, &out, NULL, UINT64_MAX, 0,
                                         NULL, &got);
        if (rc != BLOBSTORE_ECORRUPT)
            test__fail(__FILE__, __LINE__, "byte %zu of %zu: %d", at, f.len, rc);
        CHECK_EQ(rc, BLOBSTORE_ECORRUPT);
        f.data[at] ^= 0x20;
    }
    /* A version 1 frame (no record) still reads, with an empty record. */
    bs_buf v1 = {0};
    CHECK_EQ(bs__frame_writer_new(&fw, bs__codec_by_name("lz4"), 3, bs__sink_buf, &v1), 0);
    CHECK_EQ(bs__frame_write(fw, data, sizeof(data)), 0);
    CHECK_EQ(bs__frame_finish(fw, hash, &raw, &stored), 0);
    bs__frame_writer_free(fw);
    /* version 1: header version 1 (header checksum redone), no length and
     * record checksum before the end magic */
    v1.data[8] = 1;
    uint64_t hs = XXH3_64bits(v1.data, 16);
    for (int i = 0; i < 8; i++)
        v1.data[16 + i] = (unsigned char)(hs >> (8 * i));
    memmove(v1.data + v1.len - 20, v1.data + v1.len - 8, 8);
    v1.len -= 12;
    s = (src){v1.data, v1.len, 0};
    got.len = 5;
    CHECK_EQ(bs__frame_decode_record(src_read, &s, bs__sink_buf, &out, hash, sizeof(data), 1, NULL,
                                     &got),
             0);
    CHECK_EQ(got.len, 0);
    CHECK(memcmp(out.data, data, sizeof(data)) == 0);
    bs__buf_free(&v1);
    bs__buf_free(&f);
    bs__buf_free(&out);
    bs__buf_free(&got);
}

static const test_case tests[] = {
    TEST_ENTRY(round_trip_every_codec_and_boundary),
    TEST_ENTRY(large_writes_hashed_beside_their_compression),
    TEST_ENTRY(incompressible_chunks_stored_as_is),
    TEST_ENTRY(damage_lz4),
    TEST_ENTRY(damage_zstd),
    TEST_ENTRY(damage_none),
    TEST_ENTRY(damage_blosclz),
    TEST_ENTRY(entry_record_round_trips_and_is_checked),
};
TEST_MAIN(tests)
