/*
 * store_get.c - get: an entry read and its blob decoded and checked; segment checksums and ranged
 * reads of files stored as they are.
 */
#include "store_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

/* ---- get ---- */

int bs__get_entry(blobstore *bs, const char *key, blobstore_entry *e)
{
    memset(e, 0, sizeof(*e));
    if (!bs)
        return bs__error(BLOBSTORE_EINVAL, "store is NULL");
    int rc = bs__key_check(key);
    if (rc)
        return rc;
    if ((rc = bs__tx_begin(bs, 0)) != 0)
        return rc;
    rc = bs->meta->get(bs->meta, key, e);
    int rc2 = bs__tx_end(bs, 1);
    if (rc)
        blobstore_entry_clear(e);
    return rc ? rc : rc2;
}

int bs__src_read(void *ctx, void *p, size_t cap, size_t *out_n)
{
    blob_src *s = ctx;
    if (s->m)
        return bs__mem_read(s->m, p, cap, out_n);
    return s->r->read(s->r, p, cap, out_n);
}

typedef struct {
    blobstore_write_fn fn;
    void *ctx;
} user_sink;

static int sink_user(void *ctx, const void *p, size_t n)
{
    user_sink *u = ctx;
    bs__error_clear();
    if (u->fn(u->ctx, p, n) == 0)
        return 0;
    /* a callback's own message (fd_write's errno text) is kept */
    return blobstore_errmsg()[0]
               ? BLOBSTORE_ECALLBACK
               : bs__error(BLOBSTORE_ECALLBACK, "the get's write callback failed");
}

/* ---- segment checksums of files stored as they are ---- */

/* The segment checksums recorded in info for a file of len bytes: 1 with
 * *seg, *nseg and *sums (malloc'd), or 0 when absent or malformed. */
int bs__segments_parse(const char *info, uint64_t len, uint64_t *seg, size_t *nseg, uint64_t **sums)
{
    json_error_t err;
    json_t *o = info ? json_loads(info, 0, &err) : NULL;
    json_t *sg = json_object_get(o, "_segments");
    json_t *sz = json_object_get(sg, "size");
    const char *hex = json_string_value(json_object_get(sg, "xxh3"));
    int ok = 0;
    *sums = NULL;
    if (json_is_integer(sz) && hex && json_integer_value(sz) > 0) {
        *seg = (uint64_t)json_integer_value(sz);
        *nseg = (size_t)((len + *seg - 1) / *seg);
        if (strlen(hex) == *nseg * 16 && (*sums = bs__calloc(*nseg + 1, 8)) != NULL) {
            ok = 1;
            for (size_t i = 0; i < *nseg && ok; i++) {
                char part[17];
                memcpy(part, hex + i * 16, 16);
                part[16] = 0;
                char *end;
                (*sums)[i] = strtoull(part, &end, 16);
                ok = *end == 0;
            }
        }
    }
    json_decref(o);
    if (!ok) {
        free(*sums);
        *sums = NULL;
    }
    return ok;
}

/* Read exactly n bytes (fewer only at the end). */
static int src_read_full(blob_src *s, unsigned char *buf, size_t n, size_t *got)
{
    *got = 0;
    while (*got < n) {
        size_t k = 0;
        int rc = bs__src_read(s, buf + *got, n - *got, &k);
        if (rc)
            return rc;
        if (k == 0)
            break;
        *got += k;
    }
    return 0;
}

/* A file stored as it is, into sink. With segment checksums (and segments of
 * at most 64 MiB), each segment is checked before any of its bytes are
 * passed on, as the chunks of a framed blob are; the SHA-256 of the whole is
 * left to verify (and to full_hash). Without them, the SHA-256 is checked
 * at the end. */
static int decode_raw(blob_src *s, const blobstore_entry *e, bs_sink_fn sink, void *sink_ctx,
                      int full_hash)
{
    uint64_t seg = 0, *sums = NULL;
    size_t nseg = 0;
    int segmented = bs__segments_parse(e->info, e->size, &seg, &nseg, &sums) && seg <= (64u << 20);
    int hashed = !segmented || full_hash;
    bs_sha256 *sha = hashed ? bs__sha256_new() : NULL;
    size_t cap = segmented ? (size_t)seg : IO_CHUNK;
    /* Into the caller's buffer (bs__sink_buf, as get reserves it) the bytes
     * are read where they go, each segment checked there before the next is
     * read: one copy less, and no buffer of a segment's size to fault in. A
     * failed check fails the call, which frees that buffer. */
    bs_buf *direct = sink == bs__sink_buf ? sink_ctx : NULL;
    unsigned char *buf = direct ? NULL : bs__malloc(cap);
    uint64_t total = 0;
    int rc = ((!direct && !buf) || (hashed && !sha)) ? BLOBSTORE_ENOMEM : 0;
    unsigned char probe[64]; /* (direct: bytes past the recorded size) */
    for (size_t k = 0; !rc; k++) {
        size_t n = 0, ask = cap;
        if (direct) {
            uint64_t left = e->size - total;
            ask = left < cap ? (size_t)left : cap;
            if ((rc = bs__buf_reserve(direct, ask)) != 0)
                break;
            buf = ask ? direct->data + direct->len : probe;
            if (!ask)
                ask = sizeof(probe);
        }
        if ((rc = src_read_full(s, buf, ask, &n)) != 0 || n == 0)
            break;
        if (segmented) {
            uint64_t want = k < nseg ? (e->size - k * seg < seg ? e->size - k * seg : seg) : 0;
            if (n != want || bs__xxh3_64(buf, n) != sums[k]) {
                rc = bs__error(BLOBSTORE_ECORRUPT, "bytes %llu..%llu fail their checksum",
                               (unsigned long long)total, (unsigned long long)(total + n - 1));
                break;
            }
        }
        if (sha)
            bs__sha256_update(sha, buf, n);
        total += n;
        if (direct && buf == probe)
            break; /* more than the recorded size: reported below */
        if (direct)
            direct->len += n;
        else
            rc = sink(sink_ctx, buf, n);
    }
    if (!rc && total != e->size)
        rc = bs__error(BLOBSTORE_ECORRUPT, "blob has %llu bytes, not %llu",
                       (unsigned long long)total, (unsigned long long)e->size);
    if (!rc && sha) {
        char hex[65];
        bs__sha256_final_hex(sha, hex);
        sha = NULL;
        if (strcmp(hex, e->content_hash) != 0)
            rc = bs__error(BLOBSTORE_ECORRUPT, "blob content does not match its SHA-256");
    }
    bs__sha256_free(sha);
    if (!direct)
        free(buf);
    free(sums);
    return rc;
}

/* Decode an entry's blob into sink, verifying it. ENOTFOUND: blob missing.
 * full_hash: recompute the SHA-256 of framed content too. */
int bs__decode_entry(blobstore *bs, const blobstore_entry *e, bs_sink_fn sink, void *sink_ctx,
                     int full_hash)
{
    blob_src s = {NULL, NULL};
    mem_src m = {e->inline_data, e->inline_len, 0};
    int rc;
    if (e->inline_data && !e->raw && bs__inline_is_compact(e->inline_data, e->inline_len)) {
        rc = bs__inline_decode(e->inline_data, e->inline_len, e->content_hash, e->size, full_hash,
                               sink, sink_ctx, NULL);
        if (rc == BLOBSTORE_ECORRUPT)
            bs__error_wrap(rc, "key \"%s\" (blob inline)", e->key);
        return rc;
    }
    if (e->inline_data || !e->blob) {
        s.m = &m;
    } else if ((rc = bs->blobs->reader(&s.r, bs->blobs, e->blob)) != 0) {
        return rc;
    }
    if (!e->raw) {
        rc = bs__frame_decode(bs__src_read, &s, sink, sink_ctx, e->content_hash, e->size, full_hash,
                              NULL);
    } else {
        rc = decode_raw(&s, e, sink, sink_ctx, full_hash);
    }
    bs_error_state es;
    bs__error_state_capture(&es, rc);
    if (s.r)
        s.r->close(s.r);
    rc = bs__error_state_restore(&es);
    if (rc == BLOBSTORE_ECORRUPT)
        bs__error_wrap(rc, "key \"%s\" (blob %s)", e->key, e->blob ? e->blob : "inline");
    return rc;
}

/* The lean read of a small get (BS__META_CTL_VIEW): an inline value is
 * checked and decoded straight from the backend's row, no field copied; an
 * entry with a blob file is copied, its file read after the transaction. */
typedef struct {
    blobstore *bs;
    bs_sink_fn sink;
    void *ctx;
    int (*prepare)(void *ctx, const blobstore_entry *e);
    int called;           /* the backend found the row and handed it over */
    blobstore_entry copy; /* an entry with a blob file, when copied */
    int copied;
} view_ctx;

static int view_entry(void *p, const blobstore_entry *e)
{
    view_ctx *v = p;
    v->called = 1;
    if (e->blob && !e->inline_data) {
        int rc = blobstore_entry_copy(&v->copy, e);
        v->copied = rc == 0;
        return rc;
    }
    int rc = v->prepare ? v->prepare(v->ctx, e) : 0;
    return rc ? rc : bs__decode_entry(v->bs, e, v->sink, v->ctx, v->bs->full_hash);
}

/* Read the entry under key: decoded already (0, v->copied 0), or into
 * v->copy (v->copied 1) for the caller to decode. */
static int read_entry(blobstore *bs, const char *key, view_ctx *v)
{
    if (!bs)
        return bs__error(BLOBSTORE_EINVAL, "store is NULL");
    if (bs->meta->ctl && !bs->no_view) {
        int rc = bs__key_check(key);
        if (rc || (rc = bs__tx_begin(bs, 0)) != 0)
            return rc;
        bs_meta_view q = {key, view_entry, v, 1, 0};
        rc = bs->meta->ctl(bs->meta, BS__META_CTL_VIEW, &q);
        int fallback = rc == BLOBSTORE_EUNSUPPORTED && !v->called;
        if (fallback)
            bs->no_view = 1; /* (under the store's mutex) */
        int rc2 = bs__tx_end(bs, 1);
        if (!fallback)
            return rc ? rc : rc2;
        bs__error_clear();
    }
    int rc = bs__get_entry(bs, key, &v->copy);
    v->copied = rc == 0;
    return rc;
}

/* Read an entry and decode it; if its blob vanished because a concurrent put
 * replaced the entry, read the entry again. */
static int get_common(blobstore *bs, const char *key, bs_sink_fn sink, void *ctx,
                      int (*prepare)(void *ctx, const blobstore_entry *e))
{
    for (int attempt = 0;; attempt++) {
        view_ctx v;
        memset(&v, 0, sizeof(v));
        v.bs = bs;
        v.sink = sink;
        v.ctx = ctx;
        v.prepare = prepare;
        int rc = read_entry(bs, key, &v);
        if (!v.copied) /* decoded in place, or failed */
            return rc;
        blobstore_entry e = v.copy;
        if (rc) {
            blobstore_entry_clear(&e);
            return rc;
        }
        if (prepare && (rc = prepare(ctx, &e)) != 0) {
            blobstore_entry_clear(&e);
            return rc;
        }
        rc = bs__decode_entry(bs, &e, sink, ctx, bs->full_hash);
        if (rc == BLOBSTORE_ENOTFOUND) {
            if (attempt < 2) {
                blobstore_entry_clear(&e);
                continue;
            }
            rc = bs__error(BLOBSTORE_ECORRUPT, "key \"%s\": its blob %s is missing", key,
                           e.blob ? e.blob : "");
        }
        blobstore_entry_clear(&e);
        return rc;
    }
}

static int buf_prepare(void *ctx, const blobstore_entry *e)
{
    bs_buf *b = ctx;
    b->len = 0;
    if (e->size > SIZE_MAX)
        return bs__error(BLOBSTORE_ENOMEM, "blob of %llu bytes does not fit in memory",
                         (unsigned long long)e->size);
    if (!b->data && e->size >= ((uint64_t)4 << 20)) {
        /* the whole of a large value at once: in huge pages (filling a
         * 100 MB result page by page faulted half the time of a get) */
        if (!(b->data = bs__malloc_large((size_t)e->size)))
            return BLOBSTORE_ENOMEM;
        b->cap = (size_t)e->size;
        return 0;
    }
    return bs__buf_reserve(b, (size_t)e->size);
}

BLOBSTORE_API int blobstore_get(void **out, size_t *out_len, blobstore *bs, const char *key)
{
    if (!out || !out_len)
        return bs__error(BLOBSTORE_EINVAL, "NULL output argument");
    *out = NULL;
    *out_len = 0;
    bs_buf b = {0};
    int rc = get_common(bs, key, bs__sink_buf, &b, buf_prepare);
    if (rc) {
        bs__buf_free(&b);
        return rc;
    }
    if (!b.data && !(b.data = bs__malloc(1)))
        return BLOBSTORE_ENOMEM;
    *out = b.data;
    *out_len = b.len;
    return 0;
}

/* blobstore_get_value: the buffer first, so that the frame decoder sees the
 * context as bs__sink_buf's and decodes straight into it */
typedef struct {
    bs_buf b;
    blobstore_value_info *vi;
    const char *const *formats;
} value_ctx;

#define VALUE_NOT_WANTED 1 /* (errors are negative) */

static int value_prepare(void *ctx, const blobstore_entry *e)
{
    value_ctx *v = ctx;
    blobstore_value_info *vi = v->vi;
    free(vi->info); /* a retry reads the entry again */
    vi->info = NULL;
    snprintf(vi->format, sizeof(vi->format), "%s", e->format);
    snprintf(vi->content_hash, sizeof(vi->content_hash), "%s",
             e->content_hash ? e->content_hash : "");
    vi->size = e->size;
    if (e->info && !(vi->info = bs__strdup(e->info)))
        return BLOBSTORE_ENOMEM;
    if (v->formats) {
        const char *const *f = v->formats;
        while (*f && strcmp(*f, e->format) != 0)
            f++;
        if (!*f)
            return VALUE_NOT_WANTED;
    }
    return buf_prepare(&v->b, e);
}

BLOBSTORE_API int blobstore_get_value(void **out, size_t *out_len, blobstore_value_info *vi,
                                      blobstore *bs, const char *key, const char *const *formats)
{
    if (!out || !out_len || !vi)
        return bs__error(BLOBSTORE_EINVAL, "NULL output argument");
    *out = NULL;
    *out_len = 0;
    memset(vi, 0, sizeof(*vi));
    value_ctx v = {{0}, vi, formats};
    int rc = get_common(bs, key, bs__sink_buf, &v, value_prepare);
    if (rc == VALUE_NOT_WANTED) {
        bs__buf_free(&v.b);
        return 0;
    }
    if (!rc && !v.b.data && !(v.b.data = bs__malloc(1)))
        rc = BLOBSTORE_ENOMEM;
    if (rc) {
        bs__buf_free(&v.b);
        free(vi->info);
        memset(vi, 0, sizeof(*vi));
        return rc;
    }
    vi->has_value = 1;
    *out = v.b.data;
    *out_len = v.b.len;
    return 0;
}

typedef struct {
    user_sink u;
    uint64_t sent;
} stream_ctx;

static int stream_sink(void *ctx, const void *p, size_t n)
{
    stream_ctx *s = ctx;
    s->sent += n;
    return sink_user(&s->u, p, n);
}

static int stream_prepare(void *ctx, const blobstore_entry *e)
{
    stream_ctx *s = ctx;
    (void)e;
    if (s->sent) /* a retry after bytes were delivered cannot be undone */
        return bs__error(BLOBSTORE_EIO, "blob changed while it was being read");
    return 0;
}

BLOBSTORE_API int blobstore_get_stream(blobstore *bs, const char *key, blobstore_write_fn write,
                                       void *ctx)
{
    if (!write)
        return bs__error(BLOBSTORE_EINVAL, "write callback is NULL");
    stream_ctx s = {{write, ctx}, 0};
    /* get_common passes the same ctx to prepare and the sink. */
    return get_common(bs, key, stream_sink, &s, stream_prepare);
}

static int fd_write(void *ctx, const void *p, size_t n)
{
    int e = bs__write_all(*(int *)ctx, p, n);
    if (e)
        bs__error_errno(-e, "write");
    return e;
}

BLOBSTORE_API int blobstore_get_fd(blobstore *bs, const char *key, int fd)
{
    int rc = blobstore_get_stream(bs, key, fd_write, &fd);
    /* fd_write's message (the errno text) was kept: only the code changes */
    return rc == BLOBSTORE_ECALLBACK ? BLOBSTORE_EIO : rc;
}

/* ---- files of the format modules ---- */

/* ---- files read in parts ---- */

#define RANGED_SPARE 16
/* The end segments of the latest ranges released, kept loaded (the oldest
 * dropped first): the next chunk or page read in order usually starts in
 * the segment the last one ended in (or shares it: 64 MiB segments hold
 * many), which is then not read and checked again; with two readers each
 * holding a range, the four latest ends cover both. */
#define RANGED_KEEP 4
/* Each move splits the mapping into more VMAs (a 1 GB file read a column at
 * a time: ~80 -> ~560): past this many moves in one mapping (over the opens
 * that reuse it, below), a spare's pages go back to the kernel instead, far
 * below vm.max_map_count (65530) even with a few reads at once. */
#define RANGED_MOVES 1024

/* Segment states (loaded[]). A segment being read (LOADING) has its pages
 * to itself: the read and the checksum run without the lock, so that
 * several workers read and check segments at once; a fetch that needs a
 * segment another one is loading waits for it. */
enum { SEG_ABSENT = 0, SEG_LOADED = 1, SEG_LOADING = 2 };

struct bs_ranged {
    blobstore *bs;
    char *blob;
    uint8_t *data;
    size_t len;
    size_t maplen; /* the mapping's length (>= len: a reused mapping, below) */
    int mapped;    /* data is a sparse mapping filled segment by segment */
    uint64_t seg;  /* segment size */
    size_t nseg;
    uint64_t *sums; /* per segment XXH3-64 */
    uint8_t *loaded;
    uint32_t *refs; /* fetches of each segment not yet released */
    /* Released segments whose pages are kept (stale bytes, never read
     * before they are loaded again): moved, not faulted in afresh, under
     * the next segments fetched. */
    size_t spare[RANGED_SPARE], nspare;
    size_t moves;                    /* spares moved so far (at most RANGED_MOVES) */
    size_t keep[RANGED_KEEP], nkeep; /* released, still loaded, oldest first */
    pthread_mutex_t mu;
    pthread_cond_t cv; /* a LOADING segment became LOADED or ABSENT */
};

/* The mapping of the last reader closed, with its pages (at most
 * RANGED_SPARE segments, stale bytes) as spares: the next reader of
 * segments of that size reuses it, so that a get of a large array reads
 * into pages the process has, not into fresh ones the kernel must zero
 * first (in huge numbers: a 100 MB array's get faulted ~24 MB of them, and
 * a fresh page can cost far more than its zeroing where the memory is a
 * virtual machine's not yet touched: 0.5 GB/s measured). Holds at most
 * RANGED_SPARE segments' memory (16 MiB of 1 MiB segments). */
static struct {
    pthread_mutex_t mu;
    uint8_t *data;
    size_t maplen;
    uint64_t seg;
    size_t spare[RANGED_SPARE], nspare;
    size_t moves;
} ranged_pool = {PTHREAD_MUTEX_INITIALIZER, NULL, 0, 0, {0}, 0, 0};

/* The segment checksums in an entry's info, if well-formed for r->len. */
static int parse_segments(bs_ranged *r, const char *info)
{
    if (!bs__segments_parse(info, r->len, &r->seg, &r->nseg, &r->sums))
        return 0;
    return (r->loaded = bs__calloc(r->nseg + 1, 1)) != NULL &&
           (r->refs = bs__calloc(r->nseg + 1, sizeof(uint32_t))) != NULL;
}

/* A mapping of at least r->len for r: the pool's (with its spares) when its
 * segments are r's size, else a new one. */
static void *ranged_map(bs_ranged *r)
{
    pthread_mutex_lock(&ranged_pool.mu);
    if (ranged_pool.data && ranged_pool.seg == r->seg && ranged_pool.maplen >= r->len) {
        void *m = ranged_pool.data;
        r->maplen = ranged_pool.maplen;
        memcpy(r->spare, ranged_pool.spare, sizeof(r->spare));
        r->nspare = ranged_pool.nspare;
        r->moves = ranged_pool.moves;
        ranged_pool.data = NULL;
        pthread_mutex_unlock(&ranged_pool.mu);
        return m;
    }
    pthread_mutex_unlock(&ranged_pool.mu);
    void *m = mmap(NULL, r->len, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED)
        return NULL;
    r->maplen = r->len;
    return m;
}

int bs__ranged_open(bs_ranged **out, blobstore *bs, const char *key, const char *format,
                    const char *what, int whole)
{
    *out = NULL;
    blobstore_entry e;
    int rc = bs__get_entry(bs, key, &e);
    if (rc)
        return rc;
    if (strcmp(e.format, format) != 0) {
        blobstore_entry_clear(&e);
        return bs__error(BLOBSTORE_EINVAL, "key \"%s\" does not hold %s", key, what);
    }
    bs_ranged *r = bs__calloc(1, sizeof(*r));
    if (!r) {
        blobstore_entry_clear(&e);
        return BLOBSTORE_ENOMEM;
    }
    r->bs = bs;
    r->len = (size_t)e.size;
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    int ranged = !whole && e.size > BS_RANGED_MIN && e.raw && e.blob && !e.inline_data &&
                 e.size == e.file_size && bs->blobs->version >= 2 && bs->blobs->read_range &&
                 parse_segments(r, e.info);
    if (ranged) {
        void *m = ranged_map(r);
        if (!m) {
            ranged = 0;
        } else {
            r->data = m;
            r->mapped = 1;
            r->blob = bs__strdup(e.blob);
            rc = r->blob ? 0 : BLOBSTORE_ENOMEM;
        }
    }
    blobstore_entry_clear(&e);
    if (!rc && !ranged) {
        void *all = NULL;
        size_t n = 0;
        rc = blobstore_get(&all, &n, bs, key);
        r->data = all;
        r->len = n;
    }
    if (rc) {
        bs__ranged_close(r);
        return rc;
    }
    *out = r;
    return 0;
}

const uint8_t *bs__ranged_data(const bs_ranged *r, size_t *len)
{
    *len = r->len;
    return r->data;
}

/* Segment k is whole pages of its own (a full segment, page-aligned). */
static int whole_pages(const bs_ranged *r, size_t k)
{
    uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
    return r->seg % page == 0 && (k + 1) * r->seg <= r->len;
}

/* Segment k (absent, about to be read) given populated pages: its own, if
 * it is a spare (taken off the list), else a spare's, which mremap moves
 * (MREMAP_DONTUNMAP leaves the spare's range mapped, empty), not fresh zero
 * pages. If it cannot, k's pages are faulted in as the read fills them.
 * The spares are exactly the released, absent segments whose pages are
 * kept, each once (of a reused mapping: also segments past this file's
 * end). */
static void take_pages(bs_ranged *r, size_t k)
{
    for (size_t x = 0; x < r->nspare; x++)
        if (r->spare[x] == k) {
            r->spare[x] = r->spare[--r->nspare];
            return;
        }
    if (!r->nspare || !whole_pages(r, k))
        return;
    size_t s = r->spare[--r->nspare];
#ifdef MREMAP_DONTUNMAP
    if (r->moves < RANGED_MOVES) {
        r->moves++;
        void *at = mremap(r->data + s * r->seg, (size_t)r->seg, (size_t)r->seg,
                          MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP, r->data + k * r->seg);
        if (at != MAP_FAILED)
            return;
    }
#endif
    madvise(r->data + s * r->seg, (size_t)r->seg, MADV_DONTNEED); /* back to the kernel */
}

/* Read and check segments i..j (LOADING: this caller's alone), without
 * the lock. */
static int load_segments(bs_ranged *r, size_t i, size_t j)
{
    uint64_t at = i * r->seg, end = (j + 1) * r->seg < r->len ? (j + 1) * r->seg : r->len;
    size_t got = 0;
    int rc =
        r->bs->blobs->read_range(r->bs->blobs, r->blob, at, r->data + at, (size_t)(end - at), &got);
    if (!rc && got != end - at)
        rc = bs__error(BLOBSTORE_ECORRUPT, "blob %s is shorter than its entry says", r->blob);
    uint64_t bad[2];
    if (!rc && bs__segments_check(r->data, r->len, r->seg, r->sums, i, j, bad))
        rc = bs__error(BLOBSTORE_ECORRUPT, "blob %s: bytes %llu..%llu fail their checksum", r->blob,
                       (unsigned long long)bad[0], (unsigned long long)bad[1]);
    return rc;
}

/* Drop segment k's bytes (no fetch holds it): read and checked again if
 * fetched again; its pages kept as a spare, or given back. */
static void drop_segment(bs_ranged *r, size_t k)
{
    r->loaded[k] = SEG_ABSENT;
    if (!whole_pages(r, k))
        return;
    if (r->nspare < RANGED_SPARE)
        r->spare[r->nspare++] = k;
    else
        madvise(r->data + k * r->seg, (size_t)r->seg, MADV_DONTNEED);
}

int bs__ranged_fetch(bs_ranged *r, uint64_t off, uint64_t len)
{
    if (!r->mapped || len == 0 || off >= r->len)
        return 0;
    if (len > r->len - off)
        len = r->len - off;
    size_t first = (size_t)(off / r->seg), last = (size_t)((off + len - 1) / r->seg);
    int rc = 0;
    size_t held = first; /* first..held-1 are loaded and held (refs) by this fetch */
    pthread_mutex_lock(&r->mu);
    while (held <= last && !rc) {
        if (r->loaded[held] == SEG_LOADED) {
            r->refs[held++]++;
            continue;
        }
        if (r->loaded[held] == SEG_LOADING) { /* another fetch reads it: its outcome */
            pthread_cond_wait(&r->cv, &r->mu);
            continue;
        }
        size_t i = held, j = i; /* one read for a run of absent segments */
        while (j < last && r->loaded[j + 1] == SEG_ABSENT)
            j++;
        for (size_t k = i; k <= j; k++) {
            take_pages(r, k);
            r->loaded[k] = SEG_LOADING;
        }
        pthread_mutex_unlock(&r->mu);
        rc = load_segments(r, i, j);
        pthread_mutex_lock(&r->mu);
        for (size_t k = i; k <= j; k++) {
            if (rc) {
                drop_segment(r, k); /* (its pages a spare, or given back) */
            } else {
                r->loaded[k] = SEG_LOADED;
                r->refs[k]++;
            }
        }
        pthread_cond_broadcast(&r->cv);
        if (!rc)
            held = j + 1;
    }
    if (rc) /* a fetch that fails holds nothing */
        for (size_t k = first; k < held; k++)
            r->refs[k]--;
    pthread_mutex_unlock(&r->mu);
    return rc;
}

void bs__ranged_release(bs_ranged *r, uint64_t off, uint64_t len)
{
    if (!r->mapped || len == 0 || off >= r->len)
        return;
    if (len > r->len - off)
        len = r->len - off;
    size_t first = (size_t)(off / r->seg), last = (size_t)((off + len - 1) / r->seg);
    pthread_mutex_lock(&r->mu);
    for (size_t k = first; k <= last; k++) {
        if (!r->refs[k] || --r->refs[k] || r->loaded[k] != SEG_LOADED)
            continue;
        if (k != first && k != last) { /* inside the range: the reader is done with it */
            drop_segment(r, k);
            continue;
        }
        size_t x = 0;
        while (x < r->nkeep && r->keep[x] != k)
            x++;
        if (x < r->nkeep) /* kept already: now the latest */
            memmove(r->keep + x, r->keep + x + 1, (r->nkeep - x - 1) * sizeof(size_t));
        else if (r->nkeep == RANGED_KEEP) { /* the oldest goes, unless fetched again */
            size_t old = r->keep[0];
            memmove(r->keep, r->keep + 1, (RANGED_KEEP - 1) * sizeof(size_t));
            if (!r->refs[old] && r->loaded[old] == SEG_LOADED)
                drop_segment(r, old);
        } else {
            r->nkeep++;
        }
        r->keep[r->nkeep - 1] = k;
    }
    pthread_mutex_unlock(&r->mu);
}

/* A mapped reader's mapping goes to the pool with its pages as spares (up
 * to RANGED_SPARE segments; the others given back), unless the pool holds
 * a longer one or it was moved too often. */
static void ranged_unmap(bs_ranged *r)
{
    for (size_t k = 0; k < r->nseg; k++)
        if (r->loaded[k] == SEG_LOADED)
            drop_segment(r, k);
    void *old = NULL; /* the pool keeps the longer mapping (it serves more files) */
    size_t old_len = 0;
    pthread_mutex_lock(&ranged_pool.mu);
    int pooled = r->moves < RANGED_MOVES && (!ranged_pool.data || ranged_pool.maplen < r->maplen);
    if (pooled) {
        old = ranged_pool.data;
        old_len = ranged_pool.maplen;
        ranged_pool.data = r->data;
        ranged_pool.maplen = r->maplen;
        ranged_pool.seg = r->seg;
        memcpy(ranged_pool.spare, r->spare, sizeof(r->spare));
        ranged_pool.nspare = r->nspare;
        ranged_pool.moves = r->moves;
    }
    pthread_mutex_unlock(&ranged_pool.mu);
    if (!pooled)
        munmap(r->data, r->maplen);
    if (old)
        munmap(old, old_len);
}

void bs__ranged_close(bs_ranged *r)
{
    if (!r)
        return;
    if (r->mapped)
        ranged_unmap(r);
    else
        blobstore_free(r->data);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
    free(r->blob);
    free(r->sums);
    free(r->loaded);
    free(r->refs);
    free(r);
}

int bs__blob_open_fd(blobstore *bs, const char *blob, int *fd)
{
    blobstore_blob_backend *b = bs->blobs;
    bs_blob_fd q = {blob, -1};
    int rc = b->ctl ? b->ctl(b, BS__BLOB_CTL_OPEN_FD, &q) : BLOBSTORE_EUNSUPPORTED;
    if (rc == BLOBSTORE_EUNSUPPORTED)
        return bs__error(BLOBSTORE_EUNSUPPORTED,
                         "memory-mapping needs the filesystem blob backend (this store's "
                         "blobs are not local files)");
    *fd = rc ? -1 : q.fd;
    return rc;
}

int bs__get_file(void **out, size_t *len, blobstore *bs, const char *key, const char *format,
                 const char *what)
{
    blobstore_entry e;
    int rc = bs__get_entry(bs, key, &e);
    if (rc)
        return rc;
    int match = strcmp(e.format, format) == 0;
    blobstore_entry_clear(&e);
    if (!match)
        return bs__error(BLOBSTORE_EINVAL, "key \"%s\" does not hold %s", key, what);
    return blobstore_get(out, len, bs, key);
}
