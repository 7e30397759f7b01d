/*
 * array_map.c - uncompressed arrays memory-mapped from their blob files.
 *
 * The mappable layout (b2nd.h, written by bs__b2nd_encode for codec "none"
 * with automatic shapes) puts each chunk's items, a slab of whole C-order
 * rows, at a page boundary of the .b2nd file. A mapping reserves one address
 * range for the array and maps chunk i's rows at i * (chunk rows * row
 * bytes) with MAP_FIXED from the file (all-zero chunks, which have no bytes,
 * stay anonymous zero pages): the range is then the array in C order, and
 * nothing is read until a page is touched.
 *
 * What is checked at map time (cheap): the file's size against its entry,
 * the frame header, the metalayer, the offsets index and trailer, parsed as
 * every read parses them and hashed against the segment checksums recorded
 * at put, and each chunk's header (memcpyed, of the chunk size). The items
 * are checked by blobstore_array_mapping_verify() (or BLOBSTORE_MAP_VERIFY).
 */
#include "b2nd.h"
#include "store_int.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

struct blobstore_array_mapping {
    blobstore_array a;
    uint8_t *view; /* the array's address range (a.data inside it) */
    size_t view_len;
    uint8_t *file; /* the whole blob file, read-only: header, index, verify */
    size_t file_len;
    uint64_t seg; /* segment size and checksums, parsed from info when first needed */
    size_t nseg;
    uint64_t *sums;
    char *info; /* the entry's info */
    pthread_mutex_t mu;
    char *key;
};

/* The segment checksums (a thousand per GB of 1 MiB segments: parsed only
 * for what needs them, not at every map). */
static int load_segments(blobstore_array_mapping *m)
{
    pthread_mutex_lock(&m->mu);
    int ok = m->sums || bs__segments_parse(m->info, m->file_len, &m->seg, &m->nseg, &m->sums);
    pthread_mutex_unlock(&m->mu);
    return ok ? 0
              : bs__error(BLOBSTORE_ECORRUPT,
                          "key \"%s\": its entry's segment checksums are damaged", m->key);
}

static size_t round_up(size_t n, size_t a)
{
    return (n + a - 1) / a * a;
}

/* Check the segments overlapping [from, to) of the file. */
static int check_segments(blobstore_array_mapping *m, uint64_t from, uint64_t to)
{
    int rc = load_segments(m);
    if (rc)
        return rc;
    if (to > m->file_len)
        to = m->file_len;
    if (from >= to)
        return 0;
    size_t last = (size_t)((to - 1) / m->seg);
    uint64_t bad[2];
    if (bs__segments_check(m->file, m->file_len, m->seg, m->sums, (size_t)(from / m->seg),
                           last < m->nseg ? last : m->nseg - 1, bad))
        return bs__error(BLOBSTORE_ECORRUPT,
                         "key \"%s\": bytes %llu..%llu of its array file fail their checksum",
                         m->key, (unsigned long long)bad[0], (unsigned long long)bad[1]);
    return 0;
}

BLOBSTORE_API void blobstore_array_unmap(blobstore_array_mapping *m)
{
    if (!m)
        return;
    if (m->view)
        munmap(m->view, m->view_len);
    if (m->file)
        munmap(m->file, m->file_len);
    free(m->sums);
    free(m->info);
    free(m->key);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

BLOBSTORE_API const blobstore_array *blobstore_array_mapping_array(const blobstore_array_mapping *m)
{
    return m ? &m->a : NULL;
}

BLOBSTORE_API int blobstore_array_mapping_verify(blobstore_array_mapping *m)
{
    if (!m)
        return bs__error(BLOBSTORE_EINVAL, "NULL mapping");
    posix_madvise(m->file, m->file_len, POSIX_MADV_SEQUENTIAL);
    int rc = check_segments(m, 0, m->file_len);
    posix_madvise(m->file, m->file_len, POSIX_MADV_RANDOM);
    return rc;
}

static int not_mappable(const char *key, const char *why)
{
    return bs__error(BLOBSTORE_EUNSUPPORTED,
                     "key \"%s\": the array cannot be memory-mapped: %s (read it with a get)", key,
                     why);
}

/* Read the 32-byte header of each chunk that has bytes (hdr + 32 * i; a
 * special offset leaves zeros). pread, not the file mapping: a fault per
 * chunk, each in a page table of its own, cost more than the reads. */
static int read_chunk_headers(const b2nd_file *f, int fd, uint8_t *hdr, const char *key)
{
    for (size_t i = 0; i < (size_t)f->nchunks; i++) {
        uint64_t off = f->offsets[i];
        if (off >> 63)
            continue;
        size_t want = f->cbytes - off < 32 ? (size_t)(f->cbytes - off) : 32, got = 0;
        while (got < want) {
            ssize_t r =
                pread(fd, hdr + 32 * i + got, want - got, (off_t)(f->header_len + off + got));
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                return r < 0 ? bs__error_errno(errno, "key \"%s\": cannot read its file", key)
                             : bs__error(BLOBSTORE_ECORRUPT, "key \"%s\": its file is short", key);
            got += (size_t)r;
        }
    }
    return 0;
}

/* The checksums a put in the mappable layout records (array_store.c):
 * XXH3-64 of the header, of the offsets index and trailer, and of the chunk
 * headers one after the other. 1 if present. */
static int map_sums(const char *info, uint64_t sums[3])
{
    /* only that member is parsed, not the whole info with its long string
     * of segment checksums: the first "_b2nd_map": that is a member name
     * (not inside a string, where its quotes would be escaped) */
    static const char name[] = "\"_b2nd_map\":";
    const char *at = info ? strstr(info, name) : NULL;
    while (at && at > info && at[-1] == '\\')
        at = strstr(at + 1, name);
    json_error_t err;
    json_t *o = at ? json_loads(at + sizeof(name) - 1, JSON_DISABLE_EOF_CHECK, &err) : NULL;
    json_t *m = o;
    static const char *names[3] = {"head", "tail", "chunks"};
    int ok = json_is_object(m);
    for (int i = 0; ok && i < 3; i++) {
        const char *h = json_string_value(json_object_get(m, names[i]));
        char *end = NULL;
        ok = h && strlen(h) == 16;
        if (ok)
            sums[i] = strtoull(h, &end, 16);
        ok = ok && end && *end == 0;
    }
    json_decref(o);
    return ok;
}

/* Lay the chunks of the opened file f out in m->view; chunks_sum: the
 * checksum of the chunk headers, or NULL. */
static int map_chunks(blobstore_array_mapping *m, const b2nd_file *f, int fd,
                      const uint64_t *chunks_sum)
{
    const b2nd_desc *d = &f->desc;
    const char *key = m->key;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t n = (size_t)f->nchunks;
    uint8_t *hdr = bs__calloc(n, 32);
    if (!hdr)
        return BLOBSTORE_ENOMEM;
    int rc = read_chunk_headers(f, fd, hdr, key);
    if (!rc && chunks_sum) {
        XXH3_state_t *st = XXH3_createState();
        if (!st) {
            rc = BLOBSTORE_ENOMEM;
        } else {
            XXH3_64bits_reset(st);
            for (size_t i = 0; i < n; i++)
                if (!(f->offsets[i] >> 63))
                    XXH3_64bits_update(st, hdr + 32 * i, 32);
            if (XXH3_64bits_digest(st) != *chunks_sum)
                rc = bs__error(BLOBSTORE_ECORRUPT,
                               "key \"%s\": its chunk headers fail their checksum", key);
            XXH3_freeState(st);
        }
    }
    for (size_t i = 0; i < n && !rc; i++) { /* compressed chunks first: the commonest reason */
        b2_chunk_info ci;
        uint64_t off = f->offsets[i];
        if (!(off >> 63) && bs__b2_chunk_info(&ci, hdr + 32 * i, (size_t)(f->cbytes - off)) == 0 &&
            !ci.memcpyed && !ci.special)
            rc = not_mappable(key, "it is stored compressed (put it with compression \"none\")");
    }
    if (rc) {
        free(hdr);
        return rc;
    }
    for (int k = 1; k < d->ndim; k++)
        if (d->chunkshape[k] != d->shape[k] || d->blockshape[k] != d->shape[k]) {
            free(hdr);
            return not_mappable(key, "its chunks split more than the first dimension (it was "
                                     "put with chunk shapes of its own, or not by this library)");
        }
    size_t row = (size_t)d->itemsize;
    for (int k = 1; k < d->ndim; k++)
        row *= (size_t)d->shape[k];
    size_t rows = d->ndim ? (size_t)d->shape[0] : 1;
    size_t cs0 = d->ndim ? (size_t)d->chunkshape[0] : 1;
    size_t span = cs0 * row; /* the array bytes of a whole chunk */
    uint64_t *at = NULL;     /* where each chunk's items lie in the file (0: all zeros) */
    if (n != (rows + cs0 - 1) / cs0 || span > f->chunk_nbytes)
        rc = bs__error(BLOBSTORE_ECORRUPT, "key \"%s\": the array's chunks do not add up", key);
    else if (!(at = bs__calloc(n, sizeof(uint64_t))))
        rc = BLOBSTORE_ENOMEM;
    for (size_t i = 0; i < n && !rc; i++) {
        uint64_t off = f->offsets[i];
        if (off >> 63) {
            int type = (int)(off >> 56) & 7; /* checked at open: 1 zeros, 2 NaN, 4 uninit */
            if (type == 2)
                rc = not_mappable(key, "it has a NaN chunk (a chunk stored as no bytes)");
            continue;
        }
        b2_chunk_info ci;
        size_t c = f->header_len + (size_t)off;
        if ((rc = bs__b2_chunk_info(&ci, hdr + 32 * i, (size_t)(f->cbytes - off))) != 0) {
            if (rc != BLOBSTORE_EUNSUPPORTED)
                rc = BLOBSTORE_ECORRUPT;
            bs__error_wrap(rc, "key \"%s\": chunk %zu", key, i);
            break;
        }
        if (!ci.memcpyed || ci.special || ci.nbytes != f->chunk_nbytes) {
            rc = not_mappable(key, "it is stored compressed (put it with compression \"none\")");
            break;
        }
        at[i] = c + (uint64_t)ci.header_len;
        if (n > 1 && (at[i] % page || span % page))
            rc = not_mappable(key, "its chunks are not page-aligned in its file (it was put "
                                   "by an older version, or with chunk shapes of its own)");
    }
    free(hdr);
    if (rc) {
        free(at);
        return rc;
    }
    size_t nbytes = rows * row;
    /* One chunk: the pages around its items. Several: chunk after chunk. */
    size_t lead = n == 1 && at[0] ? (size_t)(at[0] % page) : 0;
    m->view_len = round_up(lead + (n == 1 ? nbytes : n * span), page);
    void *v =
        mmap(NULL, m->view_len, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (v == MAP_FAILED) {
        free(at);
        rc = bs__error(BLOBSTORE_ENOMEM, "key \"%s\": cannot reserve %zu bytes of addresses: %s",
                       key, m->view_len, strerror(errno));
        m->view_len = 0;
        return rc;
    }
    m->view = v;
    for (size_t i = 0; i < n && !rc; i++) {
        if (!at[i])
            continue; /* zeros: the anonymous pages already are */
        size_t len = n == 1 ? m->view_len : span;
        void *p = mmap(m->view + i * span, len, PROT_READ, MAP_SHARED | MAP_FIXED, fd,
                       (off_t)(at[i] - lead));
        if (p == MAP_FAILED)
            rc = bs__error(BLOBSTORE_EIO, "key \"%s\": cannot map chunk %zu of its file: %s", key,
                           i, strerror(errno));
    }
    free(at);
    m->a.data = m->view + lead;
    m->a.nbytes = nbytes;
    return rc;
}

static int map_once(blobstore_array_mapping **out, blobstore *bs, const char *key,
                    unsigned int flags)
{
    blobstore_entry e;
    int rc = bs__get_entry(bs, key, &e);
    if (rc)
        return rc;
    if (strcmp(e.format, "b2nd") != 0) {
        blobstore_entry_clear(&e);
        return bs__error(BLOBSTORE_EINVAL, "key \"%s\" does not hold an array", key);
    }
    blobstore_array_mapping *m = bs__calloc(1, sizeof(*m));
    int fd = -1;
    if (m)
        pthread_mutex_init(&m->mu, NULL);
    if (!m || !(m->key = bs__strdup(key)) || (e.info && !(m->info = bs__strdup(e.info))))
        rc = BLOBSTORE_ENOMEM;
    else if (!e.raw || !e.blob || e.inline_data || e.size != e.file_size)
        rc = not_mappable(key, "it is not stored as a file of its own");
    else if (!e.info || !strstr(e.info, "\"_segments\""))
        rc = not_mappable(key, "its entry records no segment checksums");
    else
        rc = bs__blob_open_fd(bs, e.blob, &fd);
    struct stat st;
    if (!rc && fstat(fd, &st) != 0)
        rc = bs__error_errno(errno, "key \"%s\": cannot stat its blob file", key);
    if (!rc && (uint64_t)st.st_size != e.size)
        rc = bs__error(BLOBSTORE_ECORRUPT, "key \"%s\": its blob file %s has %llu bytes, not %llu",
                       key, e.blob, (unsigned long long)st.st_size, (unsigned long long)e.size);
    if (!rc && (e.size == 0 || e.size > SIZE_MAX))
        rc = bs__error(BLOBSTORE_ECORRUPT, "key \"%s\": an array file of %llu bytes", key,
                       (unsigned long long)e.size);
    if (!rc) {
        m->file_len = (size_t)e.size;
        void *p = mmap(NULL, m->file_len, PROT_READ, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED)
            rc = bs__error(BLOBSTORE_EIO, "key \"%s\": cannot map its blob file: %s", key,
                           strerror(errno));
        else
            m->file = p;
        /* only the header, the index and each chunk's header are read
         * through it at map time: no read-around */
        if (m->file)
            posix_madvise(m->file, m->file_len, POSIX_MADV_RANDOM);
    }
    b2nd_file f;
    memset(&f, 0, sizeof(f));
    if (!rc && (rc = bs__b2nd_open(&f, m->file, m->file_len)) != 0) {
        if (rc != BLOBSTORE_EUNSUPPORTED && rc != BLOBSTORE_ENOMEM)
            rc = BLOBSTORE_ECORRUPT;
        bs__error_wrap(rc, "key \"%s\"", key);
    }
    /* The header, the offsets index and the trailer against their
     * checksums: the layout's own, else the segments that hold them. */
    uint64_t sums[3];
    int have_sums = !rc && map_sums(e.info, sums);
    size_t tail_at = f.header_len + (size_t)f.cbytes;
    if (!rc && have_sums) {
        if (XXH3_64bits(m->file, f.header_len) != sums[0])
            rc = bs__error(BLOBSTORE_ECORRUPT, "key \"%s\": its frame header fails its checksum",
                           key);
        else if (XXH3_64bits(m->file + tail_at, m->file_len - tail_at) != sums[1])
            rc = bs__error(BLOBSTORE_ECORRUPT, "key \"%s\": its offsets index fails its checksum",
                           key);
    } else if (!rc) {
        rc = check_segments(m, 0, f.header_len);
        if (!rc)
            rc = check_segments(m, tail_at, m->file_len);
    }
    if (!rc) {
        const b2nd_desc *d = &f.desc;
        snprintf(m->a.dtype, sizeof(m->a.dtype), "%s", d->dtype);
        m->a.ndim = d->ndim;
        memcpy(m->a.shape, d->shape, sizeof(int64_t) * (size_t)d->ndim);
        size_t items;
        bs__b2nd_nitems(d, &items);
        if (items) /* (an empty array: data NULL, nbytes 0) */
            rc = map_chunks(m, &f, fd, have_sums ? &sums[2] : NULL);
    }
    if (!rc && (flags & BLOBSTORE_MAP_VERIFY))
        rc = blobstore_array_mapping_verify(m);
    bs__b2nd_close(&f);
    if (fd >= 0)
        close(fd);
    blobstore_entry_clear(&e);
    if (rc) {
        blobstore_array_unmap(m);
        return rc;
    }
    *out = m;
    return 0;
}

BLOBSTORE_API int blobstore_array_map(blobstore_array_mapping **out, blobstore *bs, const char *key,
                                      unsigned int flags)
{
    if (!out || !bs)
        return bs__error(BLOBSTORE_EINVAL, "NULL argument");
    *out = NULL;
    if (flags & ~BLOBSTORE_MAP_VERIFY)
        return bs__error(BLOBSTORE_EINVAL, "unknown blobstore_array_map flags 0x%x", flags);
    /* A blob that vanishes before it is opened was replaced by a put: map
     * the new one. */
    for (int attempt = 0;; attempt++) {
        int rc = map_once(out, bs, key, flags);
        if (rc != BLOBSTORE_ENOTFOUND || attempt == 2 || !blobstore_exists(bs, key))
            return rc;
    }
}
