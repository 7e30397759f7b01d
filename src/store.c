/*
 * store.c - the orchestrator: key -> blob name -> encode -> blob write ->
 * metadata commit.
 *
 * Invariants this file keeps:
 *  - A blob is written completely under a fresh name before the metadata
 *    entry that points to it commits; the blob it replaces is removed only
 *    after that commit. A crash at any instant therefore leaves every listed
 *    entry pointing at a complete blob; the worst leftover is an orphan blob
 *    or temp file, which verify --repair removes.
 *  - Entries are removed before their blobs, for the same reason.
 *  - Every read is checked: frame chunks by checksum, whole blobs by the
 *    SHA-256 recorded in the entry. A mismatch is BLOBSTORE_ECORRUPT.
 *  - Keys never become paths: blob names are hashes plus a random suffix.
 *  - Writers hold the store's lock shared (a flock on <dir>/lock plus an
 *    in-process rwlock); verify takes it exclusively while it looks for
 *    orphans, so it never mistakes an in-flight put for garbage.
 *  - Metadata transactions are serialised on one recursive mutex per
 *    handle, which a batch holds from begin to commit.
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

/* EREADONLY if bs was opened read-only. */
int bs__refuse_readonly(const blobstore *bs)
{
    if (bs->readonly)
        return bs__error(BLOBSTORE_EREADONLY, "the store in %s is open read-only",
                         bs->dir ? bs->dir : "memory");
    return 0;
}

/* ---- the store lock ---- */

int bs__op_enter(blobstore *bs)
{
    pthread_rwlock_rdlock(&bs->oprw);
    if (bs->lockfd < 0)
        return 0;
    pthread_mutex_lock(&bs->opmu);
    int rc = 0;
    if (bs->opcount == 0) {
        while (flock(bs->lockfd, LOCK_SH) != 0) {
            if (errno != EINTR) {
                rc = bs__error_errno(errno, "cannot lock the store");
                break;
            }
        }
    }
    if (!rc)
        bs->opcount++;
    pthread_mutex_unlock(&bs->opmu);
    if (rc)
        pthread_rwlock_unlock(&bs->oprw);
    return rc;
}

void bs__op_flock_leave(blobstore *bs)
{
    if (bs->lockfd >= 0) {
        pthread_mutex_lock(&bs->opmu);
        if (--bs->opcount == 0)
            flock(bs->lockfd, LOCK_UN);
        pthread_mutex_unlock(&bs->opmu);
    }
}

void bs__op_leave(blobstore *bs)
{
    bs__op_flock_leave(bs);
    pthread_rwlock_unlock(&bs->oprw);
}

int bs__excl_enter(blobstore *bs)
{
    pthread_rwlock_wrlock(&bs->oprw);
    /* (no put can leave a removal running while this is held: they start
     * one holding the lock shared) */
    bs__reap_wait(bs);
    if (bs->lockfd >= 0) {
        while (flock(bs->lockfd, LOCK_EX) != 0) {
            if (errno != EINTR) {
                pthread_rwlock_unlock(&bs->oprw);
                return bs__error_errno(errno, "cannot lock the store");
            }
        }
    }
    return 0;
}

void bs__excl_leave(blobstore *bs)
{
    if (bs->lockfd >= 0)
        flock(bs->lockfd, LOCK_UN);
    pthread_rwlock_unlock(&bs->oprw);
}

/* ---- metadata transactions ---- */

int bs__tx_begin(blobstore *bs, int write)
{
    if (write && bs->readonly)
        return bs__refuse_readonly(bs);
    pthread_mutex_lock(&bs->mu);
    if (write)
        bs->writes++;
    if (bs->batch)
        return 0;
    int rc = bs->meta->begin(bs->meta, write);
    if (rc)
        pthread_mutex_unlock(&bs->mu);
    return rc;
}

/* Commit (ok) or roll back (!ok) unless a batch is open. */
int bs__tx_end(blobstore *bs, int ok)
{
    int rc = 0;
    if (!bs->batch) {
        if (ok) {
            rc = bs->meta->commit(bs->meta);
        } else {
            char saved[1024];
            snprintf(saved, sizeof(saved), "%s", blobstore_errmsg());
            bs->meta->rollback(bs->meta);
            bs__error(0, "%s", saved);
        }
    }
    pthread_mutex_unlock(&bs->mu);
    return rc;
}

/* ---- helpers ---- */

int bs__ext_check(const char *ext)
{
    size_t n = strlen(ext);
    if (strcmp(ext, SIDECAR_EXT) == 0)
        return bs__error(BLOBSTORE_EINVAL, "blob extension \"%s\" is reserved for sidecars", ext);
    if (strcmp(ext, KEYREC_EXT) == 0)
        return bs__error(BLOBSTORE_EINVAL, "blob extension \"%s\" is reserved for key records",
                         ext);
    if (n < 2 || n > 16 || ext[0] != '.')
        return bs__error(BLOBSTORE_EINVAL, "invalid blob extension \"%s\"", ext);
    for (size_t i = 1; i < n; i++)
        if (!((ext[i] >= 'a' && ext[i] <= 'z') || (ext[i] >= '0' && ext[i] <= '9')))
            return bs__error(BLOBSTORE_EINVAL, "invalid blob extension \"%s\"", ext);
    return 0;
}

/* Blob name: in a content-addressable store, the content hash; otherwise
 * 32 hex characters of SHA-256(key) and 16 random ones, so every put
 * writes a fresh name and never overwrites a blob an entry points to. */
int bs__make_blob_name(char out[128], const char *key, const char *hash, int ca, const char *ext)
{
    if (ca) {
        snprintf(out, 128, "%s%s", hash, ext);
        return 0;
    }
    char kh[65], rh[17];
    unsigned char rnd[8];
    int rc = bs__random_bytes(rnd, sizeof(rnd));
    if (rc)
        return rc;
    bs__sha256_hex(kh, key, strlen(key));
    bs__hex(rh, rnd, sizeof(rnd));
    snprintf(out, 128, "%.32s-%s%s", kh, rh, ext);
    return 0;
}

int bs__blob_writer_ref(blobstore *bs, blobstore_blob_writer **w, const char *name,
                        int (**write_ref)(blobstore_blob_writer *, const void *, size_t))
{
    blobstore_blob_backend *b = bs->blobs;
    *write_ref = NULL;
    if (name && b->ctl) {
        bs_blob_writer_for q = {name, NULL, NULL};
        int rc = b->ctl(b, BS__BLOB_CTL_WRITER_FOR, &q);
        if (rc != BLOBSTORE_EUNSUPPORTED) {
            *w = rc ? NULL : q.writer;
            *write_ref = rc ? NULL : q.write_ref;
            return rc;
        }
        bs__error_clear();
    }
    return b->writer(w, b);
}

int bs__blob_writer(blobstore *bs, blobstore_blob_writer **w, const char *name)
{
    int (*write_ref)(blobstore_blob_writer *, const void *, size_t);
    return bs__blob_writer_ref(bs, w, name, &write_ref);
}

int bs__random_key(char out[17])
{
    unsigned char rnd[8];
    int rc = bs__random_bytes(rnd, sizeof(rnd));
    if (!rc)
        bs__hex(out, rnd, sizeof(rnd));
    return rc;
}

int bs__check_json_object(json_t **out, const char *text, const char *what)
{
    json_error_t err;
    *out = NULL;
    if (!text)
        return 0;
    json_t *v = json_loads(text, JSON_REJECT_DUPLICATES, &err);
    if (!v)
        return bs__error(BLOBSTORE_EINVAL, "%s is not valid JSON: %s (column %d)", what, err.text,
                         err.column);
    if (!json_is_object(v)) {
        json_decref(v);
        return bs__error(BLOBSTORE_EINVAL, "%s must be a JSON object", what);
    }
    *out = v;
    return 0;
}

int bs__info_names_check(json_t *extra)
{
    const char *k;
    json_t *v;
    json_object_foreach(extra, k, v)
    {
        if (k[0] == '_')
            return bs__error(
                BLOBSTORE_EINVAL,
                "format_info member \"%s\": names starting with '_' are the store's own", k);
    }
    return 0;
}

int bs__info_extend(json_t *info, const char *extra)
{
    json_t *more;
    int rc = bs__check_json_object(&more, extra, "format_info");
    const char *k;
    json_t *v;
    if (rc || !more)
        return rc;
    rc = bs__info_names_check(more);
    json_object_foreach(more, k, v)
    {
        if (!rc && json_object_get(info, k))
            rc = bs__error(BLOBSTORE_EINVAL,
                           "format_info member \"%s\" is the store's: it describes the file", k);
    }
    if (!rc && json_object_update(info, more) != 0)
        rc = BLOBSTORE_ENOMEM;
    json_decref(more);
    return rc;
}

int bs__remember(char ***list, size_t *n, const char *name)
{
    char **l = bs__realloc(*list, (*n + 1) * sizeof(char *));
    if (!l)
        return BLOBSTORE_ENOMEM;
    *list = l;
    if (!(l[*n] = bs__strdup(name)))
        return BLOBSTORE_ENOMEM;
    (*n)++;
    return 0;
}

/* 1 if the blob may be a file stored as it is, with a sidecar: any name
 * but those of framed formats' blobs (and of sidecars). */
static int may_have_sidecar(const char *name)
{
    const char *dot = strrchr(name, '.');
    const bs_format *f = dot ? bs__format_by_ext(dot) : NULL;
    return !dot ||
           (strcmp(dot, SIDECAR_EXT) != 0 && strcmp(dot, KEYREC_EXT) != 0 && (!f || f->raw));
}

void bs__remove_blob_quiet(blobstore *bs, const char *name)
{
    char saved[1024], sc[160];
    snprintf(saved, sizeof(saved), "%s", blobstore_errmsg());
    bs->blobs->remove(bs->blobs, name);
    if (may_have_sidecar(name) && bs__sidecar_name(sc, name) == 0) /* after its file */
        bs->blobs->remove(bs->blobs, sc);
    bs__error(0, "%s", saved);
}

/* Write the sidecar of a file stored as it is: an empty frame whose entry
 * record names the file, its content hash and size. */
int bs__write_sidecar(blobstore *bs, const char *blob, const char *record, const char *hash,
                      uint64_t size)
{
    json_error_t err;
    json_t *r = json_loads(record, 0, &err);
    char *text = NULL, sc[160];
    int rc = r && json_object_set_new(r, "blob", json_string(blob)) == 0 &&
                     json_object_set_new(r, "content_hash", json_string(hash)) == 0 &&
                     json_object_set_new(r, "size", json_integer((json_int_t)size)) == 0 &&
                     (text = bs__json_dumps(r)) != NULL
                 ? 0
                 : BLOBSTORE_ENOMEM;
    json_decref(r);
    if (!rc)
        rc = bs__sidecar_name(sc, blob);
    if (!rc)
        rc = bs__write_record_frame(bs, sc, text, 0);
    free(text);
    return rc;
}

/* Write name as an empty frame carrying record (a sidecar's, or with
 * keyrec a key record's: store_keyrec.c), committed as the store's
 * durability asks. */
int bs__write_record_frame(blobstore *bs, const char *name, const char *record, int keyrec)
{
    blobstore_blob_writer *w = NULL;
    bs_frame_writer *fw = NULL;
    int rc = bs->blobs->writer(&w, bs->blobs);
    if (!rc)
        rc = bs__frame_writer_new(&fw, bs__codec_by_name("none"), 1, bs__sink_writer, w);
    if (!rc) {
        if (keyrec)
            bs__frame_set_keyrec(fw);
        rc = bs__frame_set_record(fw, record);
    }
    char h[65];
    uint64_t a, b;
    if (!rc)
        rc = bs__frame_finish(fw, h, &a, &b);
    bs__frame_writer_free(fw);
    if (!rc) {
        rc = w->commit(w, name, bs->durable && !bs->batch);
        w = NULL;
    }
    if (w)
        w->abort(w);
    return rc;
}

typedef struct {
    const char *blob;
    uint64_t n;
} refs_ctx;

static int count_refs(void *ctx, const blobstore_entry *e)
{
    refs_ctx *r = ctx;
    if (e->blob && strcmp(e->blob, r->blob) == 0)
        r->n++;
    return 0;
}

/* Entries whose blob is name, inside a transaction. */
int bs__blob_refs(blobstore *bs, const char *name, uint64_t *out)
{
    blobstore_meta_blob_refs q = {name, 0};
    int rc = bs->meta->ctl ? bs->meta->ctl(bs->meta, BLOBSTORE_META_CTL_BLOB_REFS, &q)
                           : BLOBSTORE_EUNSUPPORTED;
    if (rc == BLOBSTORE_EUNSUPPORTED) { /* no count of its own: every entry */
        bs__error_clear();
        refs_ctx r = {name, 0};
        rc = bs->meta->iterate(bs->meta, NULL, count_refs, &r);
        q.count = r.n;
    }
    *out = rc ? 1 : q.count;
    return rc;
}

/* A blob of a content-addressed store that an entry stopped using: removed
 * if no entry refers to it, counted afresh with this machine's writers
 * excluded (a put that found the blob present commits its entry under the
 * shared store lock, so it is either counted or has not looked yet). The
 * caller holds neither the store lock nor a transaction. */
void bs__release_blob(blobstore *bs, const char *name)
{
    char saved[1024];
    snprintf(saved, sizeof(saved), "%s", blobstore_errmsg());
    if (bs__excl_enter(bs) == 0) {
        uint64_t n = 1;
        if (bs__tx_begin(bs, 0) == 0) {
            int rc = bs__blob_refs(bs, name, &n);
            bs__tx_end(bs, 1);
            if (rc)
                n = 1;
        }
        if (n == 0)
            bs__remove_blob_quiet(bs, name);
        bs__excl_leave(bs);
    }
    bs__error(0, "%s", saved);
}

/* Record the entry (replacing any old one) and retire the old blob. In a
 * content-addressed store the old blob may be shared: its name is handed
 * back through *release (malloc'd) for bs__release_blob() once the caller
 * has left the store lock; release NULL: checked here. There, the entry's
 * key record is written before the commit, and the record of the key's
 * old entry in another blob removed after it (store_keyrec.c). */
/* What a replacement needs of the entry it replaces outside a
 * content-addressed store: its key and blob, the row read in place and
 * checked (BS__META_CTL_VIEW), no other field copied; else all of it. */
static int old_key_blob(void *ctx, const blobstore_entry *e)
{
    blobstore_entry *old = ctx;
    if (!(old->key = bs__strdup(e->key)) || (e->blob && !(old->blob = bs__strdup(e->blob))))
        return BLOBSTORE_ENOMEM;
    return 0;
}

static int old_entry(blobstore *bs, const char *key, blobstore_entry *old)
{
    if (!bs->ca && bs->meta->ctl && !bs->no_view) {
        bs_meta_view q = {key, old_key_blob, old, 0, 1};
        int rc = bs->meta->ctl(bs->meta, BS__META_CTL_VIEW, &q);
        if (rc != BLOBSTORE_EUNSUPPORTED || old->key)
            return rc;
        bs->no_view = 1; /* (under the store's mutex) */
        bs__error_clear();
    }
    return bs->meta->get(bs->meta, key, old);
}

int bs__commit_entry(blobstore *bs, blobstore_entry *e, unsigned int put_flags, char **release)
{
    return bs__commit_entry_ex(bs, e, put_flags, release, NULL);
}

int bs__commit_entry_ex(blobstore *bs, blobstore_entry *e, unsigned int put_flags, char **release,
                        char **old_out)
{
    if (release)
        *release = NULL;
    if (old_out)
        *old_out = NULL;
    blobstore_entry old;
    memset(&old, 0, sizeof(old));
    if (!bs->ca && bs->meta->ctl && !bs->no_replace && !bs->readonly) {
        /* the backend may do begin, get, put and commit in one go (a
         * content-addressed store takes the steps: its key records are
         * written between get and put) */
        pthread_mutex_lock(&bs->mu);
        if (!bs->batch) {
            bs_meta_replace q = {e, (put_flags & BLOBSTORE_PUT_NO_OVERWRITE) != 0, NULL};
            int rc = bs->meta->ctl(bs->meta, BS__META_CTL_REPLACE, &q);
            if (rc != BLOBSTORE_EUNSUPPORTED) {
                bs->writes++; /* (a write transaction begun, as bs__tx_begin counts it) */
                pthread_mutex_unlock(&bs->mu);
                if (!rc && q.old_blob && (!e->blob || strcmp(q.old_blob, e->blob) != 0)) {
                    if (old_out) {
                        *old_out = q.old_blob;
                        q.old_blob = NULL;
                    } else {
                        bs__remove_blob_quiet(bs, q.old_blob);
                    }
                }
                free(q.old_blob);
                return rc;
            }
            bs->no_replace = 1;
            bs__error_clear();
        }
        pthread_mutex_unlock(&bs->mu);
    }
    int rc = bs__tx_begin(bs, 1);
    if (rc)
        return rc;
    rc = old_entry(bs, e->key, &old);
    if (rc == BLOBSTORE_ENOTFOUND) {
        bs__error_clear();
        rc = 0;
    } else if (rc == 0 && (put_flags & BLOBSTORE_PUT_NO_OVERWRITE)) {
        blobstore_entry_clear(&old);
        bs__tx_end(bs, 0);
        return bs__error(BLOBSTORE_EEXISTS, "an entry with key \"%s\" exists (no overwrite)",
                         e->key);
    }
    int same_blob = old.blob && e->blob && strcmp(old.blob, e->blob) == 0;
    int wrote_rec = 0; /* a record of its own (not the old entry's replaced) */
    if (!rc && bs__keyrec_wanted(bs, e)) {
        rc = bs__keyrec_write(bs, e);
        wrote_rec = !rc && !same_blob;
    }
    if (!rc)
        rc = bs->meta->put(bs->meta, e);
    int batch = bs->batch;
    if (!rc && batch && e->blob)
        rc = bs__remember(&bs->batch_new, &bs->n_new, e->blob);
    char recname[128];
    if (!rc && batch && wrote_rec && bs__keyrec_name(recname, e->key, e->blob) == 0)
        rc = bs__remember(&bs->batch_new, &bs->n_new, recname); /* gone on rollback */
    if (!rc && batch && old.blob && (!e->blob || strcmp(old.blob, e->blob) != 0))
        rc = bs__remember(&bs->batch_old, &bs->n_old, old.blob);
    int rc2 = bs__tx_end(bs, rc == 0);
    if (!rc)
        rc = rc2;
    if (rc && !batch && wrote_rec) /* the put failed: its record is nobody's */
        bs__keyrec_forget(bs, e->key, e->blob);
    else if (rc && !batch && same_blob && bs__keyrec_wanted(bs, &old))
        bs__keyrec_write(bs, &old); /* the entry that stays: its record back */
    if (!rc && old.blob && (!e->blob || strcmp(old.blob, e->blob) != 0))
        bs__keyrec_forget(bs, old.key ? old.key : e->key, old.blob);
    if (!rc && !batch && old.blob && (!e->blob || strcmp(old.blob, e->blob) != 0)) {
        if (!bs->ca && old_out) {
            *old_out = old.blob;
            old.blob = NULL;
        } else if (!bs->ca) {
            bs__remove_blob_quiet(bs, old.blob);
        } else if (release)
            *release = bs__strdup(old.blob);
        else
            bs__release_blob(bs, old.blob);
    }
    blobstore_entry_clear(&old);
    return rc;
}

/* ---- batches ---- */

BLOBSTORE_API int blobstore_batch_begin(blobstore *bs)
{
    if (!bs)
        return bs__error(BLOBSTORE_EINVAL, "store is NULL");
    pthread_mutex_lock(&bs->mu);
    if (bs->batch) {
        pthread_mutex_unlock(&bs->mu);
        return bs__error(BLOBSTORE_EINVAL, "a batch is already open on this handle");
    }
    int rc = bs__refuse_readonly(bs);
    if (!rc)
        rc = bs->meta->begin(bs->meta, 1);
    if (rc) {
        pthread_mutex_unlock(&bs->mu);
        return rc;
    }
    bs->batch = 1; /* the mutex stays held until commit or rollback */
    bs->writes++;
    return 0;
}

static void batch_end(blobstore *bs, int committed)
{
    char **remove = committed ? bs->batch_old : bs->batch_new;
    size_t n = committed ? bs->n_old : bs->n_new;
    bs->batch = 0;
    bs->writes++;
    for (size_t i = 0; i < n; i++) {
        if (bs->ca) /* shared: only if nothing refers to it */
            bs__release_blob(bs, remove[i]);
        else
            bs__remove_blob_quiet(bs, remove[i]);
    }
    bs__batch_lists_free(bs);
    pthread_mutex_unlock(&bs->mu);
}

static int batch_owned(blobstore *bs)
{
    if (!bs)
        return bs__error(BLOBSTORE_EINVAL, "store is NULL");
    pthread_mutex_lock(&bs->mu);
    int open = bs->batch;
    pthread_mutex_unlock(&bs->mu);
    return open ? 0 : bs__error(BLOBSTORE_EINVAL, "no batch is open on this handle");
}

BLOBSTORE_API int blobstore_batch_commit(blobstore *bs)
{
    int rc = batch_owned(bs);
    if (rc)
        return rc;
    if (bs->durable && bs->blobs->sync && bs->n_new)
        rc = bs->blobs->sync(bs->blobs);
    if (!rc)
        rc = bs->meta->commit(bs->meta);
    else
        bs->meta->rollback(bs->meta);
    batch_end(bs, rc == 0);
    return rc;
}

BLOBSTORE_API int blobstore_batch_rollback(blobstore *bs)
{
    int rc = batch_owned(bs);
    if (rc)
        return rc;
    rc = bs->meta->rollback(bs->meta);
    batch_end(bs, 0);
    return rc;
}
