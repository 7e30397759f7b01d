/*
 * store_put.c - put: a value encoded and written as a blob under a fresh name, then its entry
 * committed; files of the format modules stored as they are.
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

/* ---- put ---- */

typedef struct {
    blobstore_read_fn fn;
    void *ctx;
} user_src;

int bs__mem_read(void *ctx, void *buf, size_t cap, size_t *out_n)
{
    mem_src *m = ctx;
    size_t n = m->len - m->pos;
    if (n > cap)
        n = cap;
    if (n)
        memcpy(buf, m->p + m->pos, n);
    m->pos += n;
    *out_n = n;
    return 0;
}

/* Sinks: the frame writer emits into a blob writer or a memory buffer. */
int bs__sink_writer(void *ctx, const void *p, size_t n)
{
    blobstore_blob_writer *w = ctx;
    return w->write(w, p, n);
}

/* A blob writer's write_ref (bs_blob_writer_for), as a sink: bytes of the
 * caller's that stay where they are until the writer's commit or abort. */
typedef struct {
    blobstore_blob_writer *w;
    int (*write_ref)(blobstore_blob_writer *w, const void *p, size_t n);
} ref_writer;

static int sink_writer_ref(void *ctx, const void *p, size_t n)
{
    ref_writer *r = ctx;
    return r->write_ref(r->w, p, n);
}

typedef struct {
    const blobstore_put_options *po;
    unsigned int flags; /* BLOBSTORE_PUT_* (options version 2) */
    const bs_codec *codec;
    int level;
    const char *format, *ext;
    json_t *meta, *info;
    char *meta_text;        /* the metadata's compact text when no parse was needed (meta
                               NULL until a record needs it: meta_json) */
    const char *codec_name; /* raw files: recorded instead of po->compression */
} put_args;

/* internal: po comes from the store's own format modules (their format_info
 * carries the store's bookkeeping), not from the caller. */
static int put_args_init(put_args *a, blobstore *bs, const blobstore_put_options *po, int internal)
{
    static const blobstore_put_options none = BLOBSTORE_PUT_OPTIONS_INIT;
    memset(a, 0, sizeof(*a));
    a->po = po ? po : &none;
    if (a->po->version < 1 || a->po->version > BLOBSTORE_PUT_OPTIONS_VERSION)
        return bs__error(BLOBSTORE_EINVAL, "blobstore_put_options version %u is not supported",
                         a->po->version);
    a->flags = a->po->version >= 2 ? a->po->flags : 0;
    if (a->flags & ~BLOBSTORE_PUT_NO_OVERWRITE)
        return bs__error(BLOBSTORE_EINVAL, "unknown put flags 0x%x", a->flags);
    if (a->po->raw) { /* the file's own codec, only recorded: any short name */
        const char *c = a->po->compression;
        if (c && (!*c || strlen(c) > 16 ||
                  strspn(c, "abcdefghijklmnopqrstuvwxyz0123456789_") != strlen(c)))
            return bs__error(BLOBSTORE_EINVAL, "invalid compression name \"%s\"", c);
        a->codec = bs->codec;
    } else {
        a->codec = a->po->compression ? bs__codec_by_name(a->po->compression) : bs->codec;
    }
    if (!a->codec)
        return BLOBSTORE_EINVAL;
    a->level = a->po->compression_level ? a->po->compression_level : bs->level;
    if (a->level < 1 || a->level > 9)
        return bs__error(BLOBSTORE_EINVAL, "compression_level must be 1..9, not %d", a->level);
    a->format = a->po->format ? a->po->format : "bytes";
    if (!*a->format || strlen(a->format) > 32)
        return bs__error(BLOBSTORE_EINVAL, "invalid format name");
    a->ext = a->po->extension ? a->po->extension : bs__format(a->format)->ext;
    int rc = bs__ext_check(a->ext);
    /* a flat object (most metadata) is checked and made compact in one
     * pass over its text, not parsed into values and written back (a small
     * put's client time, cache-cold after a round trip to a server) */
    int fast = !rc && a->po->metadata ? bs__json_object_compact(a->po->metadata, &a->meta_text) : 0;
    if (fast < 0)
        rc = fast;
    else if (!rc && !fast)
        rc = bs__check_json_object(&a->meta, a->po->metadata, "metadata");
    if (!rc)
        rc = bs__check_json_object(&a->info, a->po->format_info, "format_info");
    if (!rc && a->info && !internal)
        rc = bs__info_names_check(a->info);
    return rc;
}

static void put_args_free(put_args *a)
{
    json_decref(a->meta);
    json_decref(a->info);
    free(a->meta_text);
}

/* a->meta, parsed from its compact text if need be (0 or ENOMEM). */
static int meta_json(put_args *a)
{
    json_error_t err;
    if (!a->meta && a->meta_text && !(a->meta = json_loads(a->meta_text, 0, &err)))
        return bs__error(BLOBSTORE_ENOMEM, "cannot read metadata back: %s", err.text);
    return 0;
}

/* The entry record a blob carries (frame trailer, or a raw file's sidecar):
 * what an index rebuilt from the blobs needs that the blob itself does not
 * say. A content-addressed blob (ca) names no key and no metadata but
 * "keyrecs": each key that shares it has a key record (store_keyrec.c). */
static char *entry_record(const char *key, put_args *a, const char *now, int ca)
{
    if (meta_json(a) != 0)
        return NULL;
    json_t *r = json_pack("{s:s, s:O?, s:O?, s:s}", "format", a->format, "metadata",
                          ca ? NULL : a->meta, "info", a->info, "at", now);
    if (r && ca && json_object_set_new(r, "keyrecs", json_integer(1)) != 0) {
        json_decref(r);
        r = NULL;
    }
    if (r && key && !ca && json_object_set_new(r, "key", json_string(key)) != 0) {
        json_decref(r);
        r = NULL;
    }
    if (r && a->po->raw &&
        json_object_set_new(r, "compression",
                            json_string(a->codec_name        ? a->codec_name
                                        : a->po->compression ? a->po->compression
                                                             : "none")) != 0) {
        json_decref(r);
        r = NULL;
    }
    char *text = r ? bs__json_dumps(r) : NULL;
    json_decref(r);
    return text;
}

/* The entry a put commits: its strings are the put's own (key, format,
 * codec name, hash, time, metadata text, blob name), borrowed for as long
 * as the put runs, but for those made for it (own, freed by
 * put_entry_free). (A small put's seven copies, each allocated and freed,
 * were ~1% of its samples.) */
typedef struct {
    blobstore_entry e;
    char *own[3]; /* the metadata and info as JSON text; a codec's name (ca_existing) */
} put_entry;

static void put_entry_free(put_entry *pe)
{
    for (int i = 0; i < 3; i++)
        free(pe->own[i]);
    memset(pe, 0, sizeof(*pe));
}

/* Fill the entry's descriptive fields; now: its creation time. */
static int fill_entry(put_entry *pe, const char *key, const put_args *a, const char *hash,
                      uint64_t size, uint64_t stored, const char *now)
{
    blobstore_entry *e = &pe->e;
    e->key = (char *)key;
    e->format = (char *)a->format;
    e->compression = (char *)(a->po->raw ? (a->codec_name        ? a->codec_name
                                            : a->po->compression ? a->po->compression
                                                                 : "none")
                                         : a->codec->name);
    e->content_hash = (char *)hash;
    e->created_at = (char *)now;
    e->updated_at = (char *)now;
    e->metadata = a->meta_text ? a->meta_text
                  : a->meta    ? (pe->own[0] = bs__json_dumps(a->meta))
                               : (char *)"{}";
    e->info = a->info ? (pe->own[1] = bs__json_dumps(a->info)) : NULL;
    e->size = size;
    e->file_size = stored;
    e->raw = a->po->raw ? 1 : 0;
    if (!e->metadata || (a->info && !e->info))
        return bs__error(BLOBSTORE_ENOMEM, "out of memory");
    return 0;
}

/* In a content-addressable store, a put without a key: if an entry with
 * this hash exists and its data is present, only the entry is rewritten.
 * Returns 1 if handled. Under the shared store lock, so that a blob found
 * present is not released before the entry commits. */
static int ca_reuse_locked(blobstore *bs, const char *hash, const put_args *a, int *rc_out);

static int ca_reuse(blobstore *bs, const char *hash, const put_args *a, int *rc_out)
{
    int rc = bs__op_enter(bs);
    if (rc) {
        *rc_out = rc;
        return 1;
    }
    int handled = ca_reuse_locked(bs, hash, a, rc_out);
    bs__op_leave(bs);
    return handled;
}

static int ca_reuse_locked(blobstore *bs, const char *hash, const put_args *a, int *rc_out)
{
    blobstore_entry old;
    memset(&old, 0, sizeof(old));
    int rc = bs__tx_begin(bs, 0);
    if (rc) {
        *rc_out = rc;
        return 1;
    }
    rc = bs->meta->get(bs->meta, hash, &old);
    bs__tx_end(bs, 1);
    if (rc) {
        blobstore_entry_clear(&old);
        bs__error_clear();
        return 0;
    }
    int present = old.inline_data || (old.blob && bs->blobs->exists(bs->blobs, old.blob) == 1);
    if (!present || old.raw != (a->po->raw ? 1 : 0) || strcmp(old.format, a->format) != 0) {
        blobstore_entry_clear(&old);
        return 0;
    }
    put_entry pe;
    memset(&pe, 0, sizeof(pe));
    char now[32];
    bs__now_iso(now);
    rc = fill_entry(&pe, hash, a, hash, old.size, old.file_size, now);
    if (!rc) { /* (old's, until it is cleared below) */
        pe.e.compression = old.compression;
        pe.e.created_at = old.created_at;
        pe.e.blob = old.blob;
        pe.e.inline_data = old.inline_data;
        pe.e.inline_len = old.inline_len;
        rc = bs__commit_entry(bs, &pe.e, a->flags, NULL); /* same blob: nothing released */
    }
    put_entry_free(&pe);
    blobstore_entry_clear(&old);
    *rc_out = rc;
    return 1;
}

/* A content-addressed put whose content is stored already (blob name):
 * the entry describes that blob as it is (its codec and stored size,
 * which this put's options may not have chosen): 1. A framed blob whose
 * ends do not read, or record other content, is replaced by this put's
 * (identical content written whole): 0. */
static int ca_existing(blobstore *bs, const char *name, const char *hash, int raw, put_entry *pe)
{
    if (raw)
        return 1; /* a file stored as it is: its bytes are the content */
    bs_blob_end end;
    int rc = bs__blob_end_read(bs, name, &end);
    if (rc == BLOBSTORE_ECORRUPT || rc == BLOBSTORE_EUNSUPPORTED || rc == BLOBSTORE_ENOTFOUND) {
        bs__error_clear();
        return 0;
    }
    if (rc)
        return rc;
    bs__buf_free(&end.rec);
    if (strcmp(end.hash, hash) != 0 || !end.codec)
        return 0;
    char *codec = bs__strdup(end.codec);
    if (!codec)
        return BLOBSTORE_ENOMEM;
    free(pe->own[2]);
    pe->e.compression = pe->own[2] = codec;
    pe->e.file_size = end.file_size;
    return 1;
}

/* Segment checksums of a raw file computed as it streams in, at 1 MiB and
 * at 64 MiB (1 MiB for files of fewer than 4096 MiB, else 64 MiB; the size
 * is recorded): both when the size is known only at the end (a stream),
 * the one it needs when it is known before (a file in memory: half the
 * hashing of a large array put). */
typedef struct {
    XXH3_state_t *st[2];
    uint64_t fill[2];
    bs_buf sums[2]; /* uint64_t each */
    int only;       /* the size is known: only this one's (0 or 1), else -1 */
} seg_hasher;

static const uint64_t seg_sizes[2] = {(uint64_t)1 << 20, (uint64_t)64 << 20};

/* Which segment size a file of size bytes has. */
static int seg_kind(uint64_t size)
{
    return size / seg_sizes[0] < 4096 ? 0 : 1;
}

static int seg_update(seg_hasher *h, const unsigned char *p, size_t n)
{
    for (int k = 0; k < 2; k++) {
        const unsigned char *q = p;
        size_t left = n;
        if (h->only >= 0 && k != h->only)
            continue;
        while (left) {
            if (!h->st[k]) {
                if (!(h->st[k] = XXH3_createState()))
                    return BLOBSTORE_ENOMEM;
                XXH3_64bits_reset(h->st[k]);
            }
            size_t take = (size_t)(seg_sizes[k] - h->fill[k]) < left
                              ? (size_t)(seg_sizes[k] - h->fill[k])
                              : left;
            XXH3_64bits_update(h->st[k], q, take);
            h->fill[k] += take;
            q += take;
            left -= take;
            if (h->fill[k] == seg_sizes[k]) {
                uint64_t d = XXH3_64bits_digest(h->st[k]);
                int rc = bs__buf_append(&h->sums[k], &d, 8);
                if (rc)
                    return rc;
                XXH3_64bits_reset(h->st[k]);
                h->fill[k] = 0;
            }
        }
    }
    return 0;
}

/* info (a JSON object, changed) with "_segments" for a file of size bytes. */
static int seg_finish(seg_hasher *h, json_t *info, uint64_t size)
{
    int k = seg_kind(size);
    if (h->fill[k]) {
        uint64_t d = XXH3_64bits_digest(h->st[k]);
        int rc = bs__buf_append(&h->sums[k], &d, 8);
        if (rc)
            return rc;
    }
    size_t n = h->sums[k].len / 8;
    char *hex = bs__malloc(n * 16 + 1);
    if (!hex)
        return BLOBSTORE_ENOMEM;
    hex[0] = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t d;
        memcpy(&d, h->sums[k].data + 8 * i, 8);
        snprintf(hex + i * 16, 17, "%016llx", (unsigned long long)d);
    }
    json_object_set_new(info, "_segments",
                        json_pack("{s:I, s:s}", "size", (json_int_t)seg_sizes[k], "xxh3", hex));
    free(hex);
    return 0;
}

static void seg_free(seg_hasher *h)
{
    for (int k = 0; k < 2; k++) {
        XXH3_freeState(h->st[k]);
        bs__buf_free(&h->sums[k]);
    }
}

/* A raw file is hashed and written in slices of this size. */
#define RAW_SLICE ((size_t)256 << 10)

/* A replaced blob at least this large is removed after the put (reap_start). */
#define REAP_MIN ((size_t)8 << 20)

/* The removal of the blob a large put replaced, after the put: unlinking a
 * file of 88 MB (the kernel dropping its cached pages) was 4-5% of a 100 MB
 * array put, after everything else. A store that is not content-addressed
 * owns that blob alone, and nothing refers to it once the entry committed.
 * The removal holds the store lock shared as the put did (its count in
 * opcount, taken before the put lets go), so no other process's exclusive
 * work (verify's orphan scan) sees the blob half-removed; this process's
 * exclusive work, the next such removal and blobstore_close wait for it.
 * Killed before it ends, it leaves an orphan, as a crash between a put's
 * commit and its removal always could. */
typedef struct {
    blobstore *bs;
    char *name;
} reap_job;

unsigned bs__reap_delay_ms;

static void *reap_run(void *p)
{
    reap_job *j = p;
    if (bs__reap_delay_ms)
        usleep(bs__reap_delay_ms * 1000u);
    bs__remove_blob_quiet(j->bs, j->name);
    blobstore *bs = j->bs;
    free(j->name);
    free(j);
    bs__op_flock_leave(bs); /* (the put held the rwlock, and let it go) */
    return NULL;
}

void bs__reap_wait(blobstore *bs)
{
    pthread_mutex_lock(&bs->opmu);
    int running = bs->reaping;
    pthread_t tid = bs->reap_tid;
    bs->reaping = 0;
    pthread_mutex_unlock(&bs->opmu);
    if (running)
        pthread_join(tid, NULL);
}

/* Remove name (the caller holds the store lock shared) on a thread of its
 * own, or here if none starts. */
static void reap_start(blobstore *bs, char *name)
{
    bs__reap_wait(bs); /* one at a time */
    reap_job *j = bs__malloc(sizeof(*j));
    if (j) {
        j->bs = bs;
        j->name = name;
        pthread_mutex_lock(&bs->opmu);
        if (bs->lockfd >= 0)
            bs->opcount++; /* (held by the caller: the flock stays) */
        pthread_t tid;
        if (pthread_create(&tid, NULL, reap_run, j) == 0) {
            bs->reaping = 1;
            bs->reap_tid = tid;
            pthread_mutex_unlock(&bs->opmu);
            return;
        }
        if (bs->lockfd >= 0)
            bs->opcount--;
        pthread_mutex_unlock(&bs->opmu);
        free(j);
    }
    bs__remove_blob_quiet(bs, name);
    free(name);
}

/* Pull up to cap bytes from the caller's read callback. A message the
 * callback left (fd_read's errno text) is kept; one that left none is named. */
static int pull(blobstore_read_fn fn, void *ctx, void *buf, size_t cap, size_t *out_n)
{
    bs__error_clear();
    if (fn(ctx, buf, cap, out_n) == 0)
        return 0;
    return blobstore_errmsg()[0] ? BLOBSTORE_ECALLBACK
                                 : bs__error(BLOBSTORE_ECALLBACK, "the put's read callback failed");
}

static int put_impl(char **out_key, blobstore *bs, const char *key, blobstore_read_fn fn, void *ctx,
                    const bs_iov *iov, size_t niov, const blobstore_put_options *po,
                    const bs_file_hooks *hooks)
{
    size_t len = 0;
    for (size_t i = 0; i < niov; i++)
        len += iov[i].len;
    put_args a;
    if (!bs)
        return bs__error(BLOBSTORE_EINVAL, "store is NULL");
    if (out_key)
        *out_key = NULL;
    int rc = bs__refuse_readonly(bs);
    if (rc)
        return rc;
    rc = put_args_init(&a, bs, po, hooks != NULL);
    if (!rc && key) /* a content-addressed store keeps an explicit key too */
        rc = bs__key_check_new(key);
    if (rc) {
        put_args_free(&a);
        return rc;
    }
    if (key && (a.flags & BLOBSTORE_PUT_NO_OVERWRITE)) {
        /* refused before any data is written (commit checks again) */
        blobstore_entry old;
        memset(&old, 0, sizeof(old));
        if ((rc = bs__tx_begin(bs, 0)) == 0) {
            rc = bs->meta->get(bs->meta, key, &old);
            bs__tx_end(bs, 1);
            blobstore_entry_clear(&old);
            if (rc == 0)
                rc = bs__error(BLOBSTORE_EEXISTS, "an entry with key \"%s\" exists (no overwrite)",
                               key);
            else if (rc == BLOBSTORE_ENOTFOUND)
                rc = 0;
        }
        if (rc) {
            put_args_free(&a);
            return rc;
        }
        bs__error_clear();
    }
    char keybuf[17], hash[65], name[128];
    if (!fn && !key) {
        if (bs->ca) {
            bs_sha256 *h = bs__sha256_new();
            if (!h) {
                put_args_free(&a);
                return BLOBSTORE_ENOMEM;
            }
            for (size_t i = 0; i < niov; i++)
                bs__sha256_update(h, iov[i].data, iov[i].len);
            bs__sha256_final_hex(h, hash);
            int handled_rc = 0;
            if (ca_reuse(bs, hash, &a, &handled_rc)) {
                if (!handled_rc && out_key && !(*out_key = bs__strdup(hash)))
                    handled_rc = BLOBSTORE_ENOMEM;
                put_args_free(&a);
                return handled_rc;
            }
        }
    }
    /* In-memory data is fed piece by piece (iov); a stream is read in IO_CHUNKs. */
    unsigned char *buf = fn ? bs__malloc(IO_CHUNK) : NULL;
    size_t next_iov = 0;
    const unsigned char *piece = fn ? buf : niov ? iov[0].data : (const unsigned char *)"";
    blobstore_blob_writer *w = NULL;
    /* in-memory bytes (valid until this returns, and so until the writer's
     * commit or abort) go to the writer without a copy where it can */
    ref_writer rw = {NULL, NULL};
    bs_frame_writer *fw = NULL;
    bs_sha256 *sha = NULL;
    bs_sha_thread sj;
    int sha_threaded = 0;
    bs_buf inl = {0};
    put_entry pe;
    memset(&pe, 0, sizeof(pe));
    uint64_t size = 0, stored = 0;
    int committed = 0, locked = 0;
    char *rec = NULL; /* the entry record the blob carries */
    seg_hasher segs;
    memset(&segs, 0, sizeof(segs));
    segs.only = fn ? -1 : seg_kind(len); /* (in memory: the size is known) */
    char *hooked_codec = NULL;
    char *release = NULL; /* a shared blob the entry replaced, released after the lock */
    int wrote_ca = 0;     /* this put made the content-addressed blob */
    if (fn && !buf) {
        rc = BLOBSTORE_ENOMEM;
        goto out;
    }
    /* Read the first piece: a small value may be kept inline. */
    size_t got = fn ? 0 : niov ? iov[0].len : 0;
    while (fn && got < IO_CHUNK) {
        size_t n = 0;
        if ((rc = pull(fn, ctx, buf + got, IO_CHUNK - got, &n)) != 0)
            goto out;
        if (n == 0)
            break;
        got += n;
    }
    int at_end = fn ? got < IO_CHUNK : niov <= 1;
    int inline_it = bs->can_inline && !a.po->raw && at_end && got <= INLINE_MAX;
    /* Writing a blob file takes the store lock shared (verify's orphan scan
     * takes it exclusively); a value kept inline creates no file. */
    int named = 0; /* name holds the blob's name already */
    if (!inline_it) {
        if ((rc = bs__op_enter(bs)) != 0)
            goto out;
        locked = 1;
        /* Unless content-addressed, the name does not depend on the bytes:
         * the backend may write straight to it (S3: no copy at commit). */
        if (!bs->ca && !key) {
            if ((rc = bs__random_key(keybuf)) != 0)
                goto out;
            key = keybuf;
        }
        if (!bs->ca && (rc = bs__make_blob_name(name, key, NULL, 0, a.ext)) != 0)
            goto out;
        named = !bs->ca;
        if ((rc = bs__blob_writer_ref(bs, &w, named ? name : NULL, &rw.write_ref)) != 0)
            goto out;
        rw.w = w;
        if (fn)
            rw.write_ref = NULL;
    }
    if (a.po->raw) {
        rc = (sha = bs__sha256_new()) ? 0 : BLOBSTORE_ENOMEM;
        /* a raw file in memory hashed beside the segment checksums and
         * the writes (the hash is the slowest of the three) */
        if (!rc && !fn && len >= BS_SHA_THREAD_MIN)
            sha_threaded = bs__sha256_thread_start(&sj, sha, iov, niov);
    } else if (inline_it && bs->compact_inline) {
        /* the row holds the hash and size: a compact frame (internal.h) */
        bs__sha256_hex(hash, got ? piece : (const unsigned char *)"", got);
        rc = bs__inline_encode(a.codec, a.level, got ? piece : (const unsigned char *)"", got, hash,
                               &inl);
        size = got;
        stored = inl.len;
        got = 0; /* fed */
    } else if (inline_it)
        rc = bs__frame_writer_new(&fw, a.codec, a.level, bs__sink_buf, &inl);
    else if ((rc = bs__frame_writer_new(&fw, a.codec, a.level, bs__sink_writer, w)) == 0 &&
             rw.write_ref)
        bs__frame_set_ref_sink(fw, sink_writer_ref, &rw);
    if (rc)
        goto out;
    /* Feed everything. */
    for (;;) {
        if (got) {
            if (fw) {
                rc = bs__frame_write(fw, piece, got);
            } else {
                /* in slices that stay in the cache between the hash, the
                 * segment checksums and the copy into the file */
                for (size_t at = 0; at < got && !rc; at += RAW_SLICE) {
                    size_t k = got - at < RAW_SLICE ? got - at : RAW_SLICE;
                    if (!sha_threaded)
                        bs__sha256_update(sha, piece + at, k);
                    rc = hooks ? seg_update(&segs, piece + at, k) : 0;
                    if (!rc)
                        rc = rw.write_ref ? rw.write_ref(w, piece + at, k)
                                          : w->write(w, piece + at, k);
                }
                size += got;
            }
            if (rc)
                goto out;
        }
        if (at_end)
            break;
        if (!fn) { /* the next in-memory piece */
            next_iov++;
            piece = iov[next_iov].data;
            got = iov[next_iov].len;
            at_end = next_iov + 1 >= niov;
            continue;
        }
        got = 0;
        size_t n = 0;
        if ((rc = pull(fn, ctx, buf, IO_CHUNK, &n)) != 0)
            goto out;
        got = n;
        at_end = n == 0;
    }
    if (hooks) { /* the file's details, known now that it is whole */
        json_t *info = NULL;
        if ((rc = hooks->finish(hooks->ctx, &info, &hooked_codec)) != 0)
            goto out;
        if (a.info && info)
            json_object_update(a.info, info);
        else if (info)
            a.info = json_incref(info);
        json_decref(info);
        if (!a.info && !(a.info = json_object())) {
            rc = BLOBSTORE_ENOMEM;
            goto out;
        }
        if (size > 0 && (rc = seg_finish(&segs, a.info, size)) != 0)
            goto out;
        a.codec_name = hooked_codec;
    }
    char now[32];
    bs__now_iso(now);
    if (!bs->ca && !key) {
        if ((rc = bs__random_key(keybuf)) != 0)
            goto out;
        key = keybuf;
    }
    /* the blob carries its key and metadata, for an index rebuild (a
     * content-addressed blob: neither; each key's record does); a value
     * kept inline lives in its index row, which says all that already:
     * its frame carries no record (frame.c) */
    if (!inline_it && !(rec = entry_record(key, &a, now, bs->ca))) {
        rc = BLOBSTORE_ENOMEM;
        goto out;
    }
    if (fw) {
        rc = rec ? bs__frame_set_record(fw, rec) : 0;
        if (rc || (rc = bs__frame_finish(fw, hash, &size, &stored)) != 0)
            goto out;
    } else if (sha) {
        if (sha_threaded)
            bs__sha256_thread_join(&sj);
        sha_threaded = 0;
        bs__sha256_final_hex(sha, hash);
        sha = NULL;
        stored = size;
    }
    if (bs->ca && !key)
        key = hash;
    if ((rc = fill_entry(&pe, key, &a, hash, size, stored, now)) != 0)
        goto out;
    blobstore_entry *e = &pe.e;
    /* the record an inline value's frame leaves out must still fit in a
     * frame, should the value move to a blob file (migrate) */
    if (inline_it && strlen(e->metadata) + (e->info ? strlen(e->info) : 0) + strlen(key) + 256 >
                         BS_FRAME_RECORD_MAX) {
        if (!(rec = entry_record(key, &a, now, bs->ca))) {
            rc = BLOBSTORE_ENOMEM;
            goto out;
        }
        if (strlen(rec) > BS_FRAME_RECORD_MAX) {
            rc = bs__error(BLOBSTORE_EINVAL, "entry record of %zu bytes is over the %u allowed",
                           strlen(rec), (unsigned)BS_FRAME_RECORD_MAX);
            goto out;
        }
    }
    if (inline_it) {
        e->inline_data = inl.data; /* (inl's, freed at the end) */
        e->inline_len = inl.len;
    } else {
        if (!named && (rc = bs__make_blob_name(name, key, hash, bs->ca, a.ext)) != 0)
            goto out;
        int kept = 0; /* identical content is already stored, and sound */
        if (bs->ca && bs->blobs->exists(bs->blobs, name) == 1 &&
            (kept = ca_existing(bs, name, hash, a.po->raw, &pe)) < 0) {
            rc = kept;
            goto out;
        }
        if (kept) {
            w->abort(w);
            w = NULL;
        } else {
            rc = w->commit(w, name, bs->durable && !bs->batch);
            w = NULL;
            if (!rc)
                committed = 1;
            wrote_ca = bs->ca;
            if (!rc && a.po->raw) /* a file stored as it is: its record beside it */
                rc = bs__write_sidecar(bs, name, rec, hash, size);
            if (rc) {
                if (committed && !bs->batch && !bs->ca)
                    bs__remove_blob_quiet(bs, name);
                else if (committed && !bs->batch)
                    release = bs__strdup(name);
                goto out;
            }
        }
        e->blob = name;
    }
    /* a large put's replaced blob is removed after it (reap_start) */
    char *old = NULL;
    rc = bs__commit_entry_ex(bs, e, a.flags, &release,
                             !bs->ca && !bs->batch && size >= REAP_MIN ? &old : NULL);
    if (old)
        reap_start(bs, old);
    if (!rc && out_key && !(*out_key = bs__strdup(key)))
        rc = BLOBSTORE_ENOMEM;
    /* a refused entry's blob is nobody's, in a batch too (in a
     * content-addressed store: unless another entry took it meanwhile) */
    if (rc && committed && (!bs->batch || rc == BLOBSTORE_EEXISTS)) {
        if (wrote_ca) {
            free(release);
            release = bs__strdup(name);
        } else {
            bs__remove_blob_quiet(bs, name);
        }
    }
out:;
    bs_error_state es; /* the cleanup below must not replace the error */
    bs__error_state_capture(&es, rc);
    if (w)
        w->abort(w);
    if (sha_threaded) /* (it reads the caller's memory and sha) */
        bs__sha256_thread_join(&sj);
    free(rec);
    bs__frame_writer_free(fw);
    bs__sha256_free(sha);
    bs__buf_free(&inl);
    put_entry_free(&pe);
    free(buf);
    seg_free(&segs);
    free(hooked_codec);
    put_args_free(&a);
    if (locked)
        bs__op_leave(bs);
    if (release)
        bs__release_blob(bs, release);
    free(release);
    return bs__error_state_restore(&es);
}

BLOBSTORE_API int blobstore_put_ex(char **out_key, blobstore *bs, const char *key, const void *data,
                                   size_t len, const blobstore_put_options *opts)
{
    if (!data && len)
        return bs__error(BLOBSTORE_EINVAL, "data is NULL");
    static const unsigned char empty[1];
    bs_iov one = {data ? data : empty, len};
    return put_impl(out_key, bs, key, NULL, NULL, &one, 1, opts, NULL);
}

BLOBSTORE_API int blobstore_put(char **out_key, blobstore *bs, const char *key, const void *data,
                                size_t len, const char *metadata)
{
    blobstore_put_options po = BLOBSTORE_PUT_OPTIONS_INIT;
    po.metadata = metadata;
    return blobstore_put_ex(out_key, bs, key, data, len, &po);
}

BLOBSTORE_API int blobstore_put_stream(char **out_key, blobstore *bs, const char *key,
                                       blobstore_read_fn read, void *ctx,
                                       const blobstore_put_options *opts)
{
    if (!read)
        return bs__error(BLOBSTORE_EINVAL, "read callback is NULL");
    return put_impl(out_key, bs, key, read, ctx, NULL, 0, opts, NULL);
}

static int fd_read(void *ctx, void *buf, size_t cap, size_t *out_n)
{
    int fd = *(int *)ctx;
    for (;;) {
        ssize_t n = read(fd, buf, cap);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            bs__error_errno(errno, "read");
            return -1;
        }
        *out_n = (size_t)n;
        return 0;
    }
}

BLOBSTORE_API int blobstore_put_fd(char **out_key, blobstore *bs, const char *key, int fd,
                                   const blobstore_put_options *opts)
{
    int rc = blobstore_put_stream(out_key, bs, key, fd_read, &fd, opts);
    /* fd_read's message (the errno text) was kept: only the code changes */
    return rc == BLOBSTORE_ECALLBACK ? BLOBSTORE_EIO : rc;
}

/* A file given whole: its details are known before it is written (the
 * options carry them); only the segment checksums are added at the end. */
static int file_finish(void *ctx, json_t **info, char **codec)
{
    (void)ctx;
    *info = NULL;
    *codec = NULL; /* po->compression is recorded */
    return 0;
}

int bs__put_file_iov(char **out_key, blobstore *bs, const char *key, const bs_iov *iov, size_t niov,
                     const char *format, const char *codec, const char *metadata, json_t *info,
                     const char *extra, unsigned int put_flags)
{
    int rc = info ? bs__info_extend(info, extra) : BLOBSTORE_ENOMEM;
    char *text = rc ? NULL : bs__json_dumps(info);
    json_decref(info);
    if (!rc && !text)
        rc = BLOBSTORE_ENOMEM;
    if (rc)
        return rc;
    blobstore_put_options po = BLOBSTORE_PUT_OPTIONS_INIT;
    po.metadata = metadata;
    po.format = format;
    po.raw = 1;
    po.format_info = text;
    po.compression = codec;
    po.flags = put_flags;
    /* the per-segment checksums (checked reads of parts, and of the whole)
     * are computed as the pieces are written */
    bs_file_hooks hooks = {file_finish, NULL};
    rc = put_impl(out_key, bs, key, NULL, NULL, iov, niov, &po, &hooks);
    free(text);
    return rc;
}

int bs__put_file(char **out_key, blobstore *bs, const char *key, const void *file, size_t len,
                 const char *format, const char *codec, const char *metadata, json_t *info,
                 const char *extra, unsigned int put_flags)
{
    bs_iov one = {file, len};
    return bs__put_file_iov(out_key, bs, key, &one, 1, format, codec, metadata, info, extra,
                            put_flags);
}

void bs__store_codec(const blobstore *bs, const char **name, int *level)
{
    *name = bs->codec->name;
    *level = bs->level;
}

int bs__put_file_stream(char **out_key, blobstore *bs, const char *key, blobstore_read_fn fn,
                        void *ctx, const char *format, const char *metadata,
                        const bs_file_hooks *hooks, unsigned int put_flags)
{
    blobstore_put_options po = BLOBSTORE_PUT_OPTIONS_INIT;
    po.metadata = metadata;
    po.flags = put_flags;
    po.format = format;
    po.raw = 1;
    return put_impl(out_key, bs, key, fn, ctx, NULL, 0, &po, hooks);
}
