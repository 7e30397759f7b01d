/*
 * array.c - N-dimensional arrays over Blosc2 chunks (the b2nd layout).
 *
 * The array is cut into chunks of chunkshape (edge chunks padded), chunks
 * into blocks of blockshape (edge blocks padded to extchunkshape =
 * ceil(chunkshape / blockshape) * blockshape), items inside a block in C
 * order, blocks inside a chunk in C order, chunks in C order. A chunk holds
 * prod(extchunkshape) items and each Blosc2 block is exactly one b2nd block,
 * so a chunk's blocksize is prod(blockshape) * itemsize.
 *
 * Automatic shapes (bs__b2nd_auto_shapes): the chunk starts as the whole array
 * and its largest dimension is halved until a chunk is at most 4 MiB; the
 * block starts as the chunk and is halved the same way down to 32 KiB, so a
 * block and its shuffle buffer stay in the core's cache; where there are several
 * chunks along a dimension, the chunk is then cut to a whole number of blocks
 * along it. Both can be given;
 * a chunk given alone gets the automatic block of that chunk.
 *
 * Chunks are encoded and decoded in parallel, one worker per core: each
 * chunk covers a disjoint part of the array.
 */
#include "b2nd.h"

#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>

#define CHUNK_TARGET (4u << 20)
#define NT_MIN       ((size_t)64 << 20)
#define BLOCK_TARGET (32u << 10)

int bs__b2nd_dtype_parse(const char *dtype, int *itemsize, char *kind)
{
    size_t n = strlen(dtype);
    int form = n >= 3 && n <= 4 && strchr("<>|=", dtype[0]) != NULL;
    char k = form ? dtype[1] : 0;
    int size = form ? atoi(dtype + 2) : 0;
    int ok = (k == 'b' && size == 1) ||
             ((k == 'i' || k == 'u') && (size == 1 || size == 2 || size == 4 || size == 8)) ||
             (k == 'f' && (size == 2 || size == 4 || size == 8)) ||
             (k == 'c' && (size == 8 || size == 16));
    for (size_t i = 2; form && i < n; i++)
        ok &= dtype[i] >= '0' && dtype[i] <= '9';
    if (!ok) {
        const char *why = k == 'f' && size > 8 ? "long double (float96/float128) is not supported; "
                          : k == 'c' && size > 16
                              ? "complex long double (complex192/complex256) is "
                                "not supported; "
                              : "";
        return bs__error(BLOBSTORE_EUNSUPPORTED,
                         "b2nd: dtype \"%s\" is not supported: %sthe supported dtypes are bool "
                         "(b1), int8/16/32/64 (i1 i2 i4 i8), uint8/16/32/64 (u1 u2 u4 u8), "
                         "float16/32/64 (f2 f4 f8) and complex64/128 (c8 c16)",
                         dtype, why);
    }
    *itemsize = size;
    *kind = k;
    return 0;
}

int bs__b2nd_nitems(const b2nd_desc *d, size_t *out)
{
    size_t n = 1;
    for (int i = 0; i < d->ndim; i++) {
        if (d->shape[i] < 0 || bs__mul_overflow(&n, n, (size_t)d->shape[i]))
            return bs__error(BLOBSTORE_EINVAL, "b2nd: the array is too large");
    }
    *out = n;
    return 0;
}

static void halve_to(int32_t *s, int ndim, size_t itemsize, size_t target)
{
    for (;;) {
        size_t bytes = itemsize;
        int big = -1;
        for (int i = 0; i < ndim; i++) {
            bytes *= (size_t)s[i];
            if (s[i] > 1 && (big < 0 || s[i] > s[big]))
                big = i;
        }
        if (bytes <= target || big < 0)
            return;
        s[big] = (s[big] + 1) / 2;
    }
}

void bs__b2nd_auto_shapes(b2nd_desc *d)
{
    for (int i = 0; i < d->ndim; i++) {
        int64_t v = d->shape[i] < 1 ? 1 : d->shape[i];
        d->chunkshape[i] = (int32_t)(v > INT32_MAX ? INT32_MAX : v);
    }
    halve_to(d->chunkshape, d->ndim, (size_t)d->itemsize, CHUNK_TARGET);
    memcpy(d->blockshape, d->chunkshape, sizeof(d->blockshape));
    halve_to(d->blockshape, d->ndim, (size_t)d->itemsize, BLOCK_TARGET);
    /* Where the array has several chunks along a dimension, the chunk is a
     * whole number of blocks there: no padding inside every chunk, and a
     * chunk of whole rows is encoded and checked straight from the input
     * (halving 12,500,000 gave chunks of 390,625 and blocks of 3,052). */
    for (int i = 0; i < d->ndim; i++)
        if (d->chunkshape[i] < d->shape[i] && d->chunkshape[i] % d->blockshape[i] != 0)
            d->chunkshape[i] -= d->chunkshape[i] % d->blockshape[i];
}

/* ---- the mappable layout (see b2nd.h) ---- */

#define MAP_CHUNK_MAX ((size_t)256 << 20)
/* Larger than CHUNK_TARGET: each chunk costs a mapping (an mmap call, a
 * VMA) and nothing is compressed. A 10 GB array is 625 chunks. */
#define MAP_CHUNK_TARGET ((size_t)16 << 20)

const uint8_t bs__b2_zeros[B2ND_MAP_ALIGN];

static size_t gcd_size(size_t a, size_t b)
{
    while (b) {
        size_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

int bs__b2nd_map_shapes(b2nd_desc *d, size_t *align)
{
    size_t items, row = (size_t)d->itemsize;
    if (bs__b2nd_nitems(d, &items) != 0 || items == 0 || d->ndim > B2ND_MAX_DIM)
        return 0;
    for (int i = 1; i < d->ndim; i++)
        if (bs__mul_overflow(&row, row, (size_t)d->shape[i]) || row > MAP_CHUNK_MAX)
            return 0;
    size_t rows = d->ndim ? (size_t)d->shape[0] : 1, cs0 = rows;
    *align = 64; /* one chunk: its items need no page boundary */
    if (rows > MAP_CHUNK_MAX || rows * row > MAP_CHUNK_TARGET) {
        /* several chunks: a chunk's rows must fill whole pages, of 64 KiB
         * (any page size Linux uses), else 4 KiB */
        size_t a = B2ND_MAP_ALIGN, unit = a / gcd_size(row, a);
        if (unit * row > MAP_CHUNK_MAX) {
            a = 4096;
            unit = a / gcd_size(row, a);
        }
        if (unit * row > MAP_CHUNK_MAX)
            return 0;
        /* as many chunks as 16 MiB ones would be, each of an equal share
         * of the rows rounded up to the unit: the last chunk's padding is
         * less than a unit */
        size_t per = MAP_CHUNK_TARGET / row / unit * unit;
        per = per < unit ? unit : per;
        size_t nchunks = (rows + per - 1) / per;
        cs0 = ((rows + nchunks - 1) / nchunks + unit - 1) / unit * unit;
        if (cs0 >= rows) {
            if (rows * row > MAP_CHUNK_MAX)
                return 0;
            cs0 = rows;
        }
        *align = a;
    }
    size_t b0 = cs0; /* blocks of whole rows, about 32 KiB, dividing the chunk */
    while (b0 * row > BLOCK_TARGET && b0 % 2 == 0)
        b0 /= 2;
    if (d->ndim) {
        d->chunkshape[0] = (int32_t)cs0;
        d->blockshape[0] = (int32_t)b0;
    }
    for (int i = 1; i < d->ndim; i++)
        d->chunkshape[i] = d->blockshape[i] = (int32_t)d->shape[i];
    return 1;
}

/* ---- geometry ---- */

typedef struct {
    int ndim;
    size_t itemsize;
    int64_t shape[B2ND_MAX_DIM];
    int64_t cs[B2ND_MAX_DIM], bs[B2ND_MAX_DIM];
    int64_t nchunks_dim[B2ND_MAX_DIM]; /* chunks along each dimension */
    int64_t nblocks_dim[B2ND_MAX_DIM]; /* blocks along each dimension of a chunk */
    size_t block_items;
} geom;

static void geom_init(geom *g, const b2nd_desc *d)
{
    g->ndim = d->ndim;
    g->itemsize = (size_t)d->itemsize;
    g->block_items = 1;
    for (int i = 0; i < d->ndim; i++) {
        g->shape[i] = d->shape[i];
        g->cs[i] = d->chunkshape[i];
        g->bs[i] = d->blockshape[i];
        g->nchunks_dim[i] = (d->shape[i] + g->cs[i] - 1) / g->cs[i];
        g->nblocks_dim[i] = (g->cs[i] + g->bs[i] - 1) / g->bs[i];
        g->block_items *= (size_t)g->bs[i];
    }
}

/* Move items between a chunk buffer (block layout) and an array box in C
 * order: box [lo, hi) with strides of the box array. to_chunk selects the
 * direction. Only the part of the chunk inside [lo, hi) is touched. */
static void transfer(const geom *g, int64_t chunk_lin, uint8_t *chunk, uint8_t *arr,
                     const int64_t *lo, const int64_t *hi, int to_chunk)
{
    int nd = g->ndim;
    size_t is = g->itemsize;
    if (nd == 0) {
        if (to_chunk)
            memcpy(chunk, arr, is);
        else
            memcpy(arr, chunk, is);
        return;
    }
    int64_t cidx[B2ND_MAX_DIM], co[B2ND_MAX_DIM];
    for (int i = nd - 1, rem = 0; i >= 0; i--) {
        (void)rem;
        cidx[i] = chunk_lin % g->nchunks_dim[i];
        chunk_lin /= g->nchunks_dim[i];
        co[i] = cidx[i] * g->cs[i];
    }
    size_t arr_stride[B2ND_MAX_DIM], blk_stride[B2ND_MAX_DIM];
    arr_stride[nd - 1] = 1;
    blk_stride[nd - 1] = 1;
    for (int i = nd - 2; i >= 0; i--) {
        arr_stride[i] = arr_stride[i + 1] * (size_t)(hi[i + 1] - lo[i + 1]);
        blk_stride[i] = blk_stride[i + 1] * (size_t)g->bs[i + 1];
    }
    size_t nblocks = 1;
    for (int i = 0; i < nd; i++)
        nblocks *= (size_t)g->nblocks_dim[i];
    for (size_t b = 0; b < nblocks; b++) {
        int64_t bo[B2ND_MAX_DIM], from[B2ND_MAX_DIM], to[B2ND_MAX_DIM];
        size_t rest = b;
        int empty = 0;
        for (int i = nd - 1; i >= 0; i--) {
            int64_t bi = (int64_t)(rest % (size_t)g->nblocks_dim[i]);
            rest /= (size_t)g->nblocks_dim[i];
            bo[i] = co[i] + bi * g->bs[i];
            int64_t end = bo[i] + g->bs[i], cend = co[i] + g->cs[i];
            from[i] = bo[i] > lo[i] ? bo[i] : lo[i];
            to[i] = end < cend ? end : cend;
            if (to[i] > hi[i])
                to[i] = hi[i];
            if (to[i] > g->shape[i])
                to[i] = g->shape[i];
            if (from[i] >= to[i])
                empty = 1;
        }
        if (empty)
            continue;
        uint8_t *blk = chunk + b * g->block_items * is;
        size_t run = (size_t)(to[nd - 1] - from[nd - 1]) * is;
        int64_t pos[B2ND_MAX_DIM];
        memcpy(pos, from, sizeof(int64_t) * (size_t)nd);
        for (;;) {
            size_t ao = 0, bofs = 0;
            for (int i = 0; i < nd; i++) {
                ao += (size_t)(pos[i] - lo[i]) * arr_stride[i];
                bofs += (size_t)(pos[i] - bo[i]) * blk_stride[i];
            }
            if (to_chunk)
                memcpy(blk + bofs * is, arr + ao * is, run);
            else
                memcpy(arr + ao * is, blk + bofs * is, run);
            int i = nd - 2;
            for (; i >= 0; i--) {
                if (++pos[i] < to[i])
                    break;
                pos[i] = from[i];
            }
            if (i < 0)
                break;
        }
    }
}

/* ---- a small parallel-for ---- */

typedef struct job job;
typedef int (*job_fn)(job *j, size_t item, uint8_t *scratch);
struct job {
    job_fn fn;
    size_t n, next;
    size_t scratch;
    pthread_mutex_t mu;
    int rc;
    char err[512];
    void *ctx;
};

static void *worker(void *arg)
{
    job *j = arg;
    uint8_t *scratch = malloc(j->scratch ? j->scratch : 1);
    for (;;) {
        pthread_mutex_lock(&j->mu);
        size_t i = j->next++;
        int stop = j->rc != 0 || i >= j->n || !scratch;
        if (!scratch && !j->rc)
            j->rc = BLOBSTORE_ENOMEM;
        pthread_mutex_unlock(&j->mu);
        if (stop)
            break;
        int rc = j->fn(j, i, scratch);
        if (rc) {
            pthread_mutex_lock(&j->mu);
            if (!j->rc) {
                j->rc = rc;
                snprintf(j->err, sizeof(j->err), "%s", blobstore_errmsg());
            }
            pthread_mutex_unlock(&j->mu);
        }
    }
    free(scratch);
    return NULL;
}

static int run_jobs(job *j, int nthreads)
{
    if (nthreads <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        nthreads = n > 0 ? (int)n : 1;
    }
    if ((size_t)nthreads > j->n)
        nthreads = j->n ? (int)j->n : 1;
    if (nthreads > 64)
        nthreads = 64;
    pthread_mutex_init(&j->mu, NULL);
    pthread_t th[64];
    int started = 0;
    for (int i = 1; i < nthreads; i++)
        if (pthread_create(&th[started], NULL, worker, j) == 0)
            started++;
    worker(j);
    for (int i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    pthread_mutex_destroy(&j->mu);
    if (j->rc)
        bs__error(j->rc, "%s", j->err);
    return j->rc;
}

/* ---- reading ---- */

typedef struct {
    const b2nd_file *f;
    geom g;
    const int64_t *lo, *hi;
    uint8_t *out;
    int64_t *chunks; /* chunk numbers to decode */
    int nt;          /* a result larger than the caches: written past them */
} read_ctx;

static int decode_chunk(const b2nd_file *f, int64_t ci, uint8_t *buf, int nt)
{
    uint64_t off = f->offsets[ci];
    if (off >> 63) { /* zeros, NaN (of the frame's typesize) or uninitialised (read as zeros);
                        bs__b2nd_open checked which */
        bs__b2_fill_special(buf, f->chunk_nbytes, (int)(off >> 56) & 7, f->typesize, NULL);
        return 0;
    }
    size_t at = f->header_len + (size_t)off;
    size_t room = (size_t)(f->cbytes - off); /* a chunk ends where the chunks end */
    int rc = 0, held = 0;                    /* fetches that succeeded */
    size_t head = room < 32 ? room : 32, clen = 0;
    if (f->fetch) { /* the chunk's header, then the chunk */
        b2_chunk_info info;
        rc = f->fetch(f->fetch_ctx, at, head);
        held = rc == 0;
        if (!rc && (rc = bs__b2_chunk_info(&info, f->data + at, room)) == 0 &&
            (rc = f->fetch(f->fetch_ctx, at, info.cbytes)) == 0) {
            clen = info.cbytes;
            held = 2;
        }
    }
    if (!rc)
        rc = nt ? bs__b2_chunk_decode_nt(f->data + at, room, buf, f->chunk_nbytes)
                : bs__b2_chunk_decode(f->data + at, room, buf, f->chunk_nbytes);
    if (f->release && held)
        f->release(f->fetch_ctx, at, head);
    if (f->release && held == 2)
        f->release(f->fetch_ctx, at, clen);
    if (rc)
        bs__error_wrap(rc, "chunk %lld", (long long)ci);
    return rc;
}

/* Where chunk ci's items lie in the output when the chunk can be decoded
 * straight into it: every dimension after the first whole in the box, in
 * the chunk and in its blocks, the chunk whole blocks along the first and
 * inside the box. Then the chunk's bytes in block order are the output's
 * bytes in C order. */
static uint8_t *chunk_in_box(const read_ctx *r, int64_t ci)
{
    const geom *g = &r->g;
    if (g->ndim == 0)
        return NULL;
    size_t row = g->itemsize;
    for (int k = 1; k < g->ndim; k++) {
        if (g->cs[k] != g->shape[k] || g->bs[k] != g->cs[k] || r->lo[k] != 0 ||
            r->hi[k] != g->shape[k])
            return NULL;
        row *= (size_t)g->shape[k];
    }
    int64_t first = ci * g->cs[0]; /* (one chunk along every other dimension) */
    if (g->cs[0] % g->bs[0] != 0 || first < r->lo[0] || first + g->cs[0] > r->hi[0])
        return NULL;
    return r->out + (size_t)(first - r->lo[0]) * row;
}

static int read_one(job *j, size_t i, uint8_t *scratch)
{
    read_ctx *r = j->ctx;
    int64_t ci = r->chunks[i];
    uint8_t *at = chunk_in_box(r, ci);
    if (at) /* (no copy through the scratch chunk) */
        return decode_chunk(r->f, ci, at, r->nt);
    int rc = decode_chunk(r->f, ci, scratch, 0);
    if (!rc)
        transfer(&r->g, ci, scratch, r->out, r->lo, r->hi, 0);
    return rc;
}

int bs__b2nd_read_slice(const b2nd_file *f, const int64_t *start, const int64_t *stop, uint8_t *out,
                        size_t out_len, int nthreads)
{
    const b2nd_desc *d = &f->desc;
    size_t items = 1;
    for (int i = 0; i < d->ndim; i++) {
        if (start[i] < 0 || stop[i] < start[i] || stop[i] > d->shape[i])
            return bs__error(BLOBSTORE_EINVAL,
                             "b2nd: slice %lld:%lld is outside dimension %d "
                             "(size %lld)",
                             (long long)start[i], (long long)stop[i], i, (long long)d->shape[i]);
        items *= (size_t)(stop[i] - start[i]);
    }
    if (items * (size_t)d->itemsize != out_len)
        return bs__error(BLOBSTORE_EINVAL, "b2nd: output buffer has the wrong size");
    if (items == 0)
        return 0;
    read_ctx r;
    memset(&r, 0, sizeof(r));
    r.f = f;
    geom_init(&r.g, d);
    r.lo = start;
    r.hi = stop;
    r.out = out;
    /* Larger than a server's last-level cache: nothing of the result would
     * still be in it at the end, and a store that misses reads the line
     * first. Non-temporal stores (the unshuffle) save that read: 10-20% of
     * a 100 MB random float64 get (issue 16). */
    r.nt = out_len >= NT_MIN;
    /* The chunks intersecting the box, in C order. */
    int64_t lo_c[B2ND_MAX_DIM], hi_c[B2ND_MAX_DIM], cur[B2ND_MAX_DIM];
    size_t count = 1;
    for (int i = 0; i < d->ndim; i++) {
        lo_c[i] = start[i] / r.g.cs[i];
        hi_c[i] = (stop[i] - 1) / r.g.cs[i] + 1;
        count *= (size_t)(hi_c[i] - lo_c[i]);
        cur[i] = lo_c[i];
    }
    r.chunks = bs__calloc(count, sizeof(int64_t));
    if (!r.chunks)
        return BLOBSTORE_ENOMEM;
    for (size_t k = 0; k < count; k++) {
        int64_t lin = 0;
        for (int i = 0; i < d->ndim; i++)
            lin = lin * r.g.nchunks_dim[i] + cur[i];
        r.chunks[k] = lin;
        for (int i = d->ndim - 1; i >= 0; i--) {
            if (++cur[i] < hi_c[i])
                break;
            cur[i] = lo_c[i];
        }
    }
    if (f->nchunks < 1) {
        free(r.chunks);
        return bs__error(BLOBSTORE_ECORRUPT, "b2nd: the frame has no chunks");
    }
    job j;
    memset(&j, 0, sizeof(j));
    j.fn = read_one;
    j.n = count;
    j.scratch = f->chunk_nbytes;
    j.ctx = &r;
    int rc = run_jobs(&j, nthreads);
    free(r.chunks);
    return rc;
}

int bs__b2nd_read(const b2nd_file *f, uint8_t *out, size_t out_len, int nthreads)
{
    int64_t start[B2ND_MAX_DIM] = {0};
    return bs__b2nd_read_slice(f, start, f->desc.shape, out, out_len, nthreads);
}

/* ---- big buffers ---- */

/* A large buffer from the kernel, in huge pages where it gives them: a
 * fresh 4 KiB page costs a fault on first touch, and the arena of a 100 MB
 * array is 25,000 of them, every put. */
static void *big_alloc(size_t n)
{
    void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
#ifdef MADV_HUGEPAGE
    madvise(p, n, MADV_HUGEPAGE);
#endif
    return p;
}

static void big_free(void *p, size_t n)
{
    if (p)
        munmap(p, n);
}

/* The encoding arena of the last put is kept for the next one, its pages
 * given back to the kernel lazily (MADV_FREE: reclaimed only under memory
 * pressure, else reused as they are). Fresh pages cost the kernel a zeroing
 * each put: a fifth of a 100 MB random-array put (perf, clear_page_erms).
 * One arena of at most ARENA_KEEP_MAX per process. */
#define ARENA_KEEP_MAX ((size_t)1 << 30)

static pthread_mutex_t arena_lock = PTHREAD_MUTEX_INITIALIZER;
static void *arena_kept;
static size_t arena_kept_len;

/* An arena of at least *n bytes; *n becomes its length. */
static void *arena_alloc(size_t *n)
{
    void *p = NULL;
    pthread_mutex_lock(&arena_lock);
    if (arena_kept && arena_kept_len >= *n) {
        p = arena_kept;
        *n = arena_kept_len;
        arena_kept = NULL;
    }
    pthread_mutex_unlock(&arena_lock);
    return p ? p : big_alloc(*n);
}

static void arena_free(void *p, size_t n)
{
    if (!p)
        return;
    if (n <= ARENA_KEEP_MAX) {
#ifdef MADV_FREE
        madvise(p, n, MADV_FREE);
#endif
        pthread_mutex_lock(&arena_lock);
        if (!arena_kept || arena_kept_len < n) { /* keep the larger */
            void *old = arena_kept;
            size_t old_len = arena_kept_len;
            arena_kept = p;
            arena_kept_len = n;
            p = old;
            n = old_len;
        }
        pthread_mutex_unlock(&arena_lock);
    }
    big_free(p, n);
}

/* ---- the write-back check ---- */

int bs__b2_write_check = 1;
void (*bs__b2_write_fault)(uint8_t *piece, size_t len, int64_t chunk, size_t at);

/* Where chunk i of the array lies in the input when it can be encoded from
 * there as it is: every dimension after the first whole in the chunk and in
 * its blocks, the chunk whole blocks along the first and inside the array.
 * Then the chunk's bytes in block order are the input's bytes in C order. */
static const uint8_t *chunk_in_place(const geom *g, size_t i, const uint8_t *data)
{
    if (g->ndim == 0)
        return NULL;
    for (int k = 1; k < g->ndim; k++)
        if (g->cs[k] != g->shape[k] || g->bs[k] != g->cs[k])
            return NULL;
    if (g->cs[0] % g->bs[0] != 0 || ((int64_t)i + 1) * g->cs[0] > g->shape[0])
        return NULL;
    size_t row = g->itemsize;
    for (int k = 1; k < g->ndim; k++)
        row *= (size_t)g->shape[k];
    return data + i * (size_t)g->cs[0] * row;
}

/* Fortran order to C order: reverse the axes. */
static uint8_t *f_to_c(const b2nd_desc *d, const uint8_t *src, size_t items)
{
    size_t is = (size_t)d->itemsize;
    uint8_t *dst = bs__malloc(items * is);
    if (!dst)
        return NULL;
    int nd = d->ndim;
    int64_t pos[B2ND_MAX_DIM] = {0};
    for (size_t k = 0; k < items; k++) { /* k walks C order */
        size_t fo = 0, stride = 1;
        for (int i = 0; i < nd; i++) {
            fo += (size_t)pos[i] * stride;
            stride *= (size_t)d->shape[i];
        }
        memcpy(dst + k * is, src + fo * is, is);
        for (int i = nd - 1; i >= 0; i--) {
            if (++pos[i] < d->shape[i])
                break;
            pos[i] = 0;
        }
    }
    return dst;
}

/* The write-back check of what the chunks do not say: open the frame the
 * pieces make (its header and offsets index, where they lie in the file,
 * read by the reader itself), check that it describes the array encoded
 * and that its index points to each chunk as written (a chunk of zeros: a
 * special offset of zeros). Each chunk was checked as it was encoded. */
static int check_frame(const b2nd_pieces *p)
{
    /* (the rest of this view is never touched) */
    uint8_t *view = big_alloc(p->len);
    if (!view)
        return BLOBSTORE_ENOMEM;
    memcpy(view, p->head.data, p->head.len);
    memcpy(view + p->len - p->tail.len, p->tail.data, p->tail.len);
    b2nd_file f;
    int rc = bs__b2nd_open(&f, view, p->len);
    if (rc) {
        big_free(view, p->len);
        rc = rc == BLOBSTORE_ENOMEM ? rc : BLOBSTORE_ECORRUPT;
        bs__error_wrap(rc, "b2nd: write-back check: the written file does not open");
        return rc;
    }
    const b2nd_desc *desc = &p->desc;
    int same = strcmp(f.desc.dtype, desc->dtype) == 0 && f.desc.ndim == desc->ndim &&
               f.nchunks == (int64_t)p->nchunks && f.header_len == p->head.len;
    for (int i = 0; same && i < desc->ndim; i++)
        same = f.desc.shape[i] == desc->shape[i] && f.desc.chunkshape[i] == desc->chunkshape[i] &&
               f.desc.blockshape[i] == desc->blockshape[i];
    if (!same)
        rc = bs__error(BLOBSTORE_ECORRUPT,
                       "b2nd: write-back check: the written file describes another array");
    for (size_t i = 0, at = 0; !rc && i < p->nchunks; i++) {
        at += p->pad ? p->pad[i] : 0;
        uint64_t off = f.offsets[i];
        if (p->chunks[i] ? off != at : off != ((uint64_t)1 << 63 | (uint64_t)1 << 56))
            rc = bs__error(BLOBSTORE_ECORRUPT,
                           "b2nd: write-back check: chunk %zu: the offsets index does not point "
                           "to it",
                           i);
        at += p->chunks[i] ? p->chunk_len[i] : 0;
    }
    bs__b2nd_close(&f);
    big_free(view, p->len);
    return rc;
}

/* ---- writing ---- */

typedef struct {
    geom g;
    const uint8_t *data;
    const int64_t *lo, *hi;
    uint32_t chunk_nbytes;
    b2_cparams cp;
    uint8_t **chunks;
    size_t *chunk_len;
    uint8_t *arena; /* chunk i is encoded at arena + i * cmax */
    size_t cmax;
    const uint8_t **body; /* (zero copy) chunk i's items where they lie in the input */
    uint8_t *hdrs;        /* (zero copy) chunk i's header at hdrs + 32 * i */
    int stored;           /* for the store: the fault hook, the write-back check */
} write_ctx;

/* The write-back check of an uncompressed chunk written from the caller's
 * array: its header (h) must be a memcpyed chunk's of the chunk's size
 * (its items are the input itself). */
static int check_body_header(const write_ctx *w, size_t i, uint8_t *h)
{
    if (bs__b2_write_fault)
        bs__b2_write_fault(h, 32, (int64_t)i, 0);
    b2_chunk_info ci;
    if (bs__b2_write_check &&
        (bs__b2_chunk_info(&ci, h, 32 + (size_t)w->chunk_nbytes) != 0 || !ci.memcpyed ||
         ci.special || ci.nbytes != w->chunk_nbytes || ci.header_len != 32))
        return bs__error(BLOBSTORE_ECORRUPT,
                         "b2nd: write-back check: chunk %zu: its header is not a memcpyed chunk's",
                         i);
    return 0;
}

static int write_one(job *j, size_t i, uint8_t *scratch)
{
    write_ctx *w = j->ctx;
    const uint8_t *src = chunk_in_place(&w->g, i, w->data);
    if (src && w->body) { /* uncompressed: a header, and the input's own bytes */
        uint8_t *h = w->hdrs + 32 * i;
        if (bs__b2_memcpyed_header(h, src, w->chunk_nbytes, &w->cp)) {
            w->chunks[i] = NULL; /* all zeros: a special offset, no bytes */
        } else {
            w->chunks[i] = h;
            w->chunk_len[i] = 32 + (size_t)w->chunk_nbytes;
            w->body[i] = src;
            if (w->stored)
                return check_body_header(w, i, h);
        }
        return 0;
    }
    if (!src) {
        memset(scratch, 0, w->chunk_nbytes);
        transfer(&w->g, (int64_t)i, scratch, (uint8_t *)w->data, w->lo, w->hi, 1);
        src = scratch;
    }
    uint8_t *c = w->arena + i * w->cmax;
    int rc = bs__b2_chunk_encode_checked(c, w->cmax, &w->chunk_len[i], src, w->chunk_nbytes, &w->cp,
                                         w->stored ? (int64_t)i : -1);
    if (rc == BLOBSTORE_ECORRUPT) /* (only the check finds that) */
        bs__error_wrap(rc, "b2nd: write-back check: chunk %zu", i);
    /* all zeros (a special chunk, its header alone): a special offset, no bytes */
    w->chunks[i] = !rc && w->chunk_len[i] == 32 && c[31] == 1 << 4 ? NULL : c;
    return rc;
}

void bs__b2nd_pieces_free(b2nd_pieces *p)
{
    if (!p)
        return;
    bs__buf_free(&p->head);
    bs__buf_free(&p->tail);
    arena_free(p->arena, p->arena_len);
    free(p->chunks);
    free(p->chunk_len);
    free(p->pad);
    free(p->body);
    free(p->hdrs);
    memset(p, 0, sizeof(*p));
}

static int encode(b2nd_pieces *p, const b2nd_desc *desc, const void *data, int fortran,
                  const b2nd_write_options *opts, int stored)
{
    memset(p, 0, sizeof(*p));
    static const b2nd_write_options defaults = {NULL, 0, 0, 0, NULL, NULL};
    const b2nd_write_options *o = opts ? opts : &defaults;
    b2nd_desc d = *desc;
    char kind;
    size_t items;
    int rc = bs__b2nd_dtype_parse(d.dtype, &d.itemsize, &kind);
    if (rc || (rc = bs__b2nd_nitems(&d, &items)) != 0)
        return rc;
    if (d.ndim < 0 || d.ndim > B2ND_MAX_DIM)
        return bs__error(BLOBSTORE_EINVAL, "b2nd: %d dimensions (0 to %d)", d.ndim, B2ND_MAX_DIM);
    bs__b2nd_auto_shapes(&d);
    if (o->chunkshape && !o->blockshape) {
        /* the automatic block of the chunk given: at most 32 KiB, within it */
        for (int i = 0; i < d.ndim; i++)
            d.blockshape[i] = o->chunkshape[i] < 1 ? 1 : o->chunkshape[i];
        halve_to(d.blockshape, d.ndim, (size_t)d.itemsize, BLOCK_TARGET);
    }
    for (int i = 0; i < d.ndim; i++) {
        if (o->chunkshape)
            d.chunkshape[i] = o->chunkshape[i];
        if (o->blockshape)
            d.blockshape[i] = o->blockshape[i];
        if (d.chunkshape[i] < 1 || d.blockshape[i] < 1 || d.blockshape[i] > d.chunkshape[i])
            return bs__error(BLOBSTORE_EINVAL, "b2nd: invalid chunk or block shape");
    }
    b2_cparams cp = {B2_LZ4, o->level ? o->level : 5, B2_SHUFFLE, d.itemsize, 0};
    const char *codec = o->codec ? o->codec : "lz4";
    if (!strcmp(codec, "lz4"))
        cp.codec = B2_LZ4;
    else if (!strcmp(codec, "zstd"))
        cp.codec = B2_ZSTD;
    else if (!strcmp(codec, "gzip") || !strcmp(codec, "zlib"))
        cp.codec = B2_ZLIB;
    else if (!strcmp(codec, "blosclz"))
        cp.codec = B2_BLOSCLZ;
    else if (!strcmp(codec, "none"))
        cp.codec = B2_NONE;
    else
        return bs__error(BLOBSTORE_EINVAL, "b2nd: unknown codec \"%s\"", codec);
    if (cp.level < 1 || cp.level > 9)
        return bs__error(BLOBSTORE_EINVAL, "b2nd: level must be 1..9");
    cp.shuffle = o->shuffle < 0 ? B2_NOFILTER : o->shuffle ? o->shuffle : B2_SHUFFLE;
    /* Uncompressed with automatic shapes: the mappable layout. */
    size_t align = 0;
    if (cp.codec == B2_NONE && !o->chunkshape && !o->blockshape && bs__b2nd_map_shapes(&d, &align))
        p->mappable = 1;
    write_ctx w;
    memset(&w, 0, sizeof(w));
    geom_init(&w.g, &d);
    size_t chunk_items = 1, nchunks = 1;
    for (int i = 0; i < d.ndim; i++) {
        chunk_items *= (size_t)(w.g.nblocks_dim[i] * w.g.bs[i]);
        nchunks *= (size_t)w.g.nchunks_dim[i];
    }
    if (items == 0)
        nchunks = 0;
    size_t cn;
    if (bs__mul_overflow(&cn, chunk_items, (size_t)d.itemsize) || cn > INT32_MAX / 2)
        return bs__error(BLOBSTORE_EINVAL, "b2nd: chunks must stay under 1 GiB");
    w.chunk_nbytes = (uint32_t)cn;
    cp.blocksize = (uint32_t)(w.g.block_items * (size_t)d.itemsize);
    w.cp = cp;
    uint8_t *c_order = NULL;
    if (fortran && d.ndim > 1 && items) {
        if (!(c_order = f_to_c(&d, data, items)))
            return BLOBSTORE_ENOMEM;
        data = c_order;
    }
    int64_t lo[B2ND_MAX_DIM] = {0};
    w.data = data;
    w.lo = lo;
    w.hi = d.shape;
    w.stored = stored;
    p->desc = d;
    p->nchunks = nchunks;
    p->chunks = w.chunks = bs__calloc(nchunks ? nchunks : 1, sizeof(uint8_t *));
    p->chunk_len = w.chunk_len = bs__calloc(nchunks ? nchunks : 1, sizeof(size_t));
    p->pad = bs__calloc(nchunks ? nchunks : 1, sizeof(size_t));
    /* One buffer for every chunk: no allocation per chunk (whose page-table
     * churn made several threads slower than one). */
    w.cmax = bs__b2_chunk_bound(w.chunk_nbytes, &cp);
    rc = (!w.chunks || !w.chunk_len || !p->pad) ? BLOBSTORE_ENOMEM : 0;
    /* The mappable layout of several chunks from C-order input: the file
     * is written from the input itself (no copy of a 10 GB array; only a
     * padded last chunk goes through the arena). One chunk (small arrays)
     * is copied as before. */
    if (!rc && p->mappable && !c_order && nchunks > 1) {
        p->body = w.body = bs__calloc(nchunks, sizeof(*w.body));
        p->hdrs = w.hdrs = bs__calloc(nchunks, 32);
        if (!w.body || !w.hdrs)
            rc = BLOBSTORE_ENOMEM;
    }
    if (!rc && nchunks &&
        (bs__mul_overflow(&p->arena_len, nchunks, w.cmax) ||
         !(p->arena = w.arena = arena_alloc(&p->arena_len))))
        rc = BLOBSTORE_ENOMEM;
    if (!rc && nchunks) {
        job j;
        memset(&j, 0, sizeof(j));
        j.fn = write_one;
        j.n = nchunks;
        j.scratch = w.chunk_nbytes;
        j.ctx = &w;
        rc = run_jobs(&j, o->nthreads);
    }
    if (!rc)
        rc = bs__b2_frame_parts(&p->head, &p->tail, &d, w.chunks, w.chunk_len, nchunks,
                                w.chunk_nbytes, cp.blocksize, &cp, align, p->pad);
    free(c_order);
    if (rc) {
        bs__b2nd_pieces_free(p);
        return rc;
    }
    p->len = p->head.len + p->tail.len;
    for (size_t i = 0; i < nchunks; i++)
        p->len += p->pad[i] + (w.chunks[i] ? w.chunk_len[i] : 0);
    if (stored && bs__b2_write_fault) {
        bs__b2_write_fault(p->head.data, p->head.len, -1, 0);
        bs__b2_write_fault(p->tail.data, p->tail.len, -2, 0);
    }
    if (stored && bs__b2_write_check && (rc = check_frame(p)) != 0)
        bs__b2nd_pieces_free(p);
    return rc;
}

int bs__b2nd_encode(b2nd_pieces *p, const b2nd_desc *desc, const void *data, int fortran,
                    const b2nd_write_options *opts)
{
    return encode(p, desc, data, fortran, opts, 0);
}

int bs__b2nd_encode_stored(b2nd_pieces *p, const b2nd_desc *desc, const void *data, int fortran,
                           const b2nd_write_options *opts)
{
    return encode(p, desc, data, fortran, opts, 1);
}

size_t bs__b2nd_pieces_iov(const b2nd_pieces *p, bs_iov *iov)
{
    size_t n = 0;
    iov[n++] = (bs_iov){p->head.data, p->head.len};
    for (size_t i = 0; i < p->nchunks; i++) {
        if (p->pad[i])
            iov[n++] = (bs_iov){bs__b2_zeros, p->pad[i]};
        if (p->chunks[i] && p->body && p->body[i]) { /* the header, then the caller's items */
            iov[n++] = (bs_iov){p->chunks[i], 32};
            iov[n++] = (bs_iov){p->body[i], p->chunk_len[i] - 32};
        } else if (p->chunks[i]) {
            iov[n++] = (bs_iov){p->chunks[i], p->chunk_len[i]};
        }
    }
    iov[n++] = (bs_iov){p->tail.data, p->tail.len};
    return n;
}

int bs__b2nd_write(uint8_t **out, size_t *out_len, const b2nd_desc *desc, const void *data,
                   int fortran, const b2nd_write_options *opts)
{
    b2nd_pieces p;
    int rc = bs__b2nd_encode(&p, desc, data, fortran, opts);
    if (rc)
        return rc;
    uint8_t *file = bs__malloc(p.len ? p.len : 1), *at = file;
    bs_iov *iov = bs__calloc(3 * p.nchunks + 2, sizeof(bs_iov));
    if (file && iov) {
        size_t niov = bs__b2nd_pieces_iov(&p, iov);
        for (size_t i = 0; i < niov; at += iov[i].len, i++)
            memcpy(at, iov[i].data, iov[i].len);
    } else {
        free(file);
        file = NULL;
    }
    free(iov);
    size_t len = p.len;
    bs__b2nd_pieces_free(&p);
    if (!file)
        return BLOBSTORE_ENOMEM;
    *out = file;
    *out_len = len;
    return 0;
}
