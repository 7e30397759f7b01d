/*
 * xxh3_fast.c - XXH3-64 of a buffer with AVX2 where the CPU has it.
 *
 * Debian's libxxhash is built for the baseline x86-64 (SSE2): checking the
 * segments of a 100 MB array get was 17% of its CPU time. XXH3 is defined
 * the same whatever the vector width, so the hashes are the library's; this
 * file compiles xxhash.h's own code (XXH_INLINE_ALL, from the Debian
 * package's header) for AVX2 (GCC's target pragma) and bs__xxh3_64 picks it
 * at run time when the CPU has AVX2, else calls the library.
 */
#include "internal.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__AVX2__)
#pragma GCC push_options
#pragma GCC target("avx2")
#define XXH_INLINE_ALL
#define XXH_VECTOR 2 /* XXH_AVX2 */
#include <xxhash.h>
static uint64_t xxh3_avx2(const void *p, size_t n)
{
    return XXH3_64bits(p, n);
}
static uint64_t xxh3_avx2_seed(const void *p, size_t n, uint64_t seed)
{
    return XXH3_64bits_withSeed(p, n, seed);
}
#pragma GCC pop_options
#undef XXH_INLINE_ALL
#define BS_XXH3_AVX2 1
#endif

/* The library's own (the inlined header above renamed XXH3_64bits and
 * XXH3_64bits_withSeed). */
uint64_t bs__xxh3_lib(const void *p, size_t n) __asm__("XXH3_64bits");
uint64_t bs__xxh3_lib_seed(const void *p, size_t n, uint64_t seed) __asm__("XXH3_64bits_withSeed");

int bs__xxh3_lib_only;

#ifdef BS_XXH3_AVX2
static int use_avx2(void)
{
    static int avx2 = -1; /* every thread finds the same; atomic, so no race */
    int has = __atomic_load_n(&avx2, __ATOMIC_RELAXED);
    if (has < 0) {
        __builtin_cpu_init();
        has = __builtin_cpu_supports("avx2") ? 1 : 0;
        __atomic_store_n(&avx2, has, __ATOMIC_RELAXED);
    }
    return has && !bs__xxh3_lib_only;
}
#endif

uint64_t bs__xxh3_64(const void *p, size_t n)
{
#ifdef BS_XXH3_AVX2
    if (use_avx2())
        return xxh3_avx2(p, n);
#endif
    return bs__xxh3_lib(p, n);
}

uint64_t bs__xxh3_64_seed(const void *p, size_t n, uint64_t seed)
{
#ifdef BS_XXH3_AVX2
    if (use_avx2())
        return xxh3_avx2_seed(p, n, seed);
#endif
    return bs__xxh3_lib_seed(p, n, seed);
}

int bs__segments_check(const uint8_t *base, uint64_t len, uint64_t seg, const uint64_t *sums,
                       size_t first, size_t last, uint64_t bad[2])
{
    for (size_t k = first; k <= last; k++) {
        uint64_t a = k * seg, b = a + seg < len ? a + seg : len;
        if (bs__xxh3_64(base + a, (size_t)(b - a)) != sums[k]) {
            bad[0] = a;
            bad[1] = b - 1;
            return 1;
        }
    }
    return 0;
}
