/*
 * b2nd_fuzz.c - libFuzzer target: the .b2nd reader (frame, metalayer,
 * offsets, chunks, codecs, filters) and the .npy parser must turn any input
 * into an error or an array, never a crash or an out-of-bounds access.
 */
#include "b2nd/b2nd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    b2nd_file f;
    if (bs__b2nd_open(&f, data, size) == 0) {
        size_t items, bytes;
        if (bs__b2nd_nitems(&f.desc, &items) == 0 &&
            !bs__mul_overflow(&bytes, items, (size_t)f.desc.itemsize) && bytes <= (64u << 20)) {
            uint8_t *out = malloc(bytes ? bytes : 1);
            if (out) {
                bs__b2nd_read(&f, out, bytes, 1);
                int64_t lo[B2ND_MAX_DIM] = {0}, hi[B2ND_MAX_DIM];
                for (int i = 0; i < f.desc.ndim; i++)
                    hi[i] = f.desc.shape[i] > 1 ? f.desc.shape[i] / 2 : f.desc.shape[i];
                size_t n = (size_t)f.desc.itemsize;
                for (int i = 0; i < f.desc.ndim; i++)
                    n *= (size_t)hi[i];
                if (n <= bytes)
                    bs__b2nd_read_slice(&f, lo, hi, out, n, 1);
                free(out);
            }
        }
        bs__b2nd_close(&f);
    }
    b2nd_desc d;
    int fortran;
    size_t off;
    bs__b2nd_npy_parse(&d, &fortran, &off, data, size);
    return 0;
}
