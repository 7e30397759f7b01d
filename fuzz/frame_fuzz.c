/*
 * frame_fuzz.c - libFuzzer target: the store's blob frame decoder must
 * reject any damaged input with an error, never crash or read out of bounds.
 */
#include "internal.h"

typedef struct {
    const uint8_t *p;
    size_t len, pos;
} src;

static int src_read(void *ctx, void *buf, size_t cap, size_t *out_n)
{
    src *s = ctx;
    size_t n = s->len - s->pos;
    if (n > cap)
        n = cap;
    if (n > 4093) /* uneven reads exercise reassembly */
        n = 4093;
    memcpy(buf, s->p + s->pos, n);
    s->pos += n;
    *out_n = n;
    return 0;
}

static int count_sink(void *ctx, const void *p, size_t n)
{
    (void)p;
    *(size_t *)ctx += n;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    src s = {data, size, 0};
    size_t total = 0;
    bs__frame_decode(src_read, &s, count_sink, &total, NULL, UINT64_MAX, 1, NULL);
    bs_buf out = {0};
    s.pos = 0;
    bs__frame_decode(src_read, &s, bs__sink_buf, &out, NULL, UINT64_MAX, 0, NULL);
    bs__buf_free(&out);
    return 0;
}
