/*
 * store_verify.c - verify: every entry read and checked, orphans and dangling entries found (and
 * repaired on request).
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

/* ---- verify ---- */

int bs__null_sink(void *ctx, const void *p, size_t n)
{
    (void)ctx;
    (void)p;
    (void)n;
    return 0;
}

typedef struct {
    blobstore *bs;
    blobstore_verify_stats *st;
    blobstore_problem_fn fn;
    void *ctx;
    int stop;
    unsigned flags;
    char **refs; /* sorted referenced blob names (and key records) */
    size_t nrefs;
    char **own; /* the key record names in refs (allocated here) */
    size_t nown;
    char **recs; /* every key record listed */
    size_t nrecs;
    char **deferred;    /* content-addressed blobs no entry refers to */
    char **deferred_of; /* parallel: the blob whose key records keep it */
    size_t ndeferred;
} verify_ctx;

static int report(verify_ctx *v, blobstore_problem_kind kind, const char *key, const char *blob,
                  const char *detail, int repaired)
{
    blobstore_problem p = {kind, key, blob, detail, repaired};
    if (repaired)
        v->st->repaired++;
    if (v->fn && !v->stop && v->fn(v->ctx, &p) != 0)
        v->stop = 1;
    return 0;
}

int bs__cmp_strp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int hex_run(const char *s, int n)
{
    for (int i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

/* 1 if bs__make_blob_name could have made name: 32 hex, '-', 16 hex, or 64 hex
 * (content-addressed); then nothing or an extension bs__ext_check accepts. */
int bs__blob_name_own(const char *name)
{
    size_t n = strlen(name);
    const char *ext;
    if (n >= 49 && hex_run(name, 32) && name[32] == '-' && hex_run(name + 33, 16))
        ext = name + 49;
    else if (n >= 64 && hex_run(name, 64))
        ext = name + 64;
    else
        return 0;
    if (!*ext)
        return 1;
    size_t el = strlen(ext);
    if (el < 2 || el > 16 || ext[0] != '.')
        return 0;
    for (size_t i = 1; i < el; i++)
        if (!((ext[i] >= 'a' && ext[i] <= 'z') || (ext[i] >= '0' && ext[i] <= '9')))
            return 0;
    return 1;
}

/* Whether a blob or key record carrying a put of key (at its time, of
 * content chash) is superseded by the index's entry for key: 1 when that
 * entry's data is there and the entry is newer or records that very put (a
 * copy of it, as an in-place migration leaves behind, is no entry's only
 * copy either); 0, with why, when it must be kept; or an error. */
static int superseded_by_index(blobstore *bs, const char *key, const char *at, const char *chash,
                               const char **why)
{
    blobstore_entry e;
    *why = "the index has no entry with its key";
    int rc = bs__tx_begin(bs, 0);
    if (rc)
        return rc;
    int r = bs->meta->get(bs->meta, key, &e);
    bs__tx_end(bs, 1);
    if (r == BLOBSTORE_ENOTFOUND) {
        bs__error_clear();
        return 0;
    }
    if (r)
        return r;
    int present = e.inline_data != NULL;
    if (!present && e.blob) {
        int ex = bs->blobs->exists(bs->blobs, e.blob);
        if (ex < 0)
            rc = ex;
        present = ex == 1;
    }
    int order = e.updated_at ? strcmp(at, e.updated_at) : 1;
    int same_put = order == 0 && e.content_hash && strcmp(chash, e.content_hash) == 0;
    int superseded = 0;
    if (!present)
        *why = "its key's entry in the index has lost its blob";
    else if (order >= 0 && !same_put)
        *why = "it is newer than its key's entry in the index";
    else
        superseded = 1;
    blobstore_entry_clear(&e);
    return rc ? rc : superseded;
}

/* Whether an unreferenced blob may be the only copy of an entry the index
 * lost: read the entry record it carries (a file stored as it is: its
 * sidecar's) and look its key up. It is garbage (0: an orphan, removable)
 * only when it carries no record at all (not a frame, or a frame older
 * than records) or its key's entry is newer than it, or records that same
 * put (same time and content), and has its own blob (superseded); otherwise it is reported as
 * unindexed and kept (1). */
static int unindexed(verify_ctx *v, const char *name)
{
    blobstore *bs = v->bs;
    char sc[160];
    const char *rname = name;
    if (!bs__is_sidecar(name) && bs__sidecar_name(sc, name) == 0) {
        int ex = bs->blobs->exists(bs->blobs, sc);
        if (ex < 0)
            return ex;
        if (ex == 1) /* a file stored as it is: its sidecar speaks for it */
            rname = sc;
    }
    bs_blob_end end;
    int rc = bs__blob_end_read(bs, rname, &end);
    if (rc == BLOBSTORE_ENOTFOUND || ((rc == BLOBSTORE_ECORRUPT || rc == BLOBSTORE_EUNSUPPORTED) &&
                                      !end.framed && rname == name)) {
        bs__error_clear(); /* gone meanwhile, or not a frame: not an entry's */
        return 0;
    }
    if (rc == BLOBSTORE_ECORRUPT || rc == BLOBSTORE_EUNSUPPORTED) {
        char detail[1200];
        snprintf(detail, sizeof(detail),
                 "a damaged blob no entry refers to, whose entry record cannot be read (%s): "
                 "kept, it may be an entry's only copy",
                 blobstore_errmsg());
        bs__error_clear();
        return report(v, BLOBSTORE_PROBLEM_UNINDEXED, NULL, name, detail, 0) || 1;
    }
    if (rc)
        return rc;
    json_error_t err;
    json_t *rec = end.rec.len ? json_loadb((const char *)end.rec.data, end.rec.len, 0, &err) : NULL;
    bs__buf_free(&end.rec);
    json_t *jk = json_object_get(rec, "key"), *jat = json_object_get(rec, "at");
    if (!json_is_object(rec) || !json_is_string(jat)) { /* no record: a frame of format 1 */
        json_decref(rec);
        return 0;
    }
    if (json_object_get(rec, "keyrecs")) {
        /* a content-addressed blob whose keys have records: decided once
         * every key record has been listed (shared_blobs()); a sidecar by
         * its file's */
        json_t *jb = json_object_get(rec, "blob");
        const char *of = bs__is_sidecar(name) && json_is_string(jb) ? json_string_value(jb) : name;
        size_t n = v->ndeferred;
        rc = bs__remember(&v->deferred, &v->ndeferred, name);
        if (!rc && (rc = bs__remember(&v->deferred_of, &n, of)) != 0)
            v->ndeferred--, free(v->deferred[v->ndeferred]);
        json_decref(rec);
        return rc ? rc : 1;
    }
    /* content-addressed: the key is the content hash (a sidecar's: the file's) */
    json_t *jh = json_object_get(rec, "content_hash");
    const char *key = json_is_string(jk)   ? json_string_value(jk)
                      : json_is_string(jh) ? json_string_value(jh)
                                           : end.hash;
    const char *at = json_string_value(jat);
    const char *chash = json_is_string(jh) ? json_string_value(jh) : end.hash;
    const char *why;
    int superseded = superseded_by_index(bs, key, at, chash, &why);
    if (superseded < 0)
        rc = superseded;
    if (!rc && !superseded) {
        char detail[400];
        snprintf(detail, sizeof(detail),
                 "a blob no entry refers to, %s (a commit the index lost, or a put that never "
                 "committed): kept; verify --rebuild-index restores it",
                 why);
        report(v, BLOBSTORE_PROBLEM_UNINDEXED, key, name, detail, 0);
    }
    json_decref(rec);
    return rc ? rc : !superseded;
}

/* A key record no entry refers to (store_keyrec.c), classed as blobs are:
 * garbage (0) only when its key's entry is newer and present, or records
 * that same put, or its blob is gone (it can restore nothing); otherwise
 * unindexed and kept (1): a commit the index lost, a put that never
 * committed, or a delete that stopped between its commit and the record's
 * removal; verify cannot tell which. */
static int keyrec_unindexed(verify_ctx *v, const char *name)
{
    blobstore *bs = v->bs;
    bs_blob_end end;
    bs_keyrec k;
    int rc = bs__blob_end_read(bs, name, &end);
    if (rc == BLOBSTORE_ENOTFOUND) {
        bs__error_clear();
        return 0;
    }
    if (!rc) {
        int r = end.rec.len ? bs__keyrec_parse(&k, (const char *)end.rec.data, end.rec.len) : 1;
        bs__buf_free(&end.rec);
        if (r) { /* a readable frame of another kind (a blob named so): as blobs are */
            bs__error_clear();
            return unindexed(v, name);
        }
    }
    if (rc == BLOBSTORE_ECORRUPT || rc == BLOBSTORE_EUNSUPPORTED) {
        char detail[1200];
        snprintf(detail, sizeof(detail),
                 "a damaged key record no entry refers to (%s): kept, it may be an entry's only "
                 "record",
                 blobstore_errmsg());
        bs__error_clear();
        return report(v, BLOBSTORE_PROBLEM_UNINDEXED, NULL, name, detail, 0) || 1;
    }
    if (rc)
        return rc;
    int ex = bs->blobs->exists(bs->blobs, k.blob);
    if (ex <= 0) { /* its blob is gone: nothing to restore */
        bs__keyrec_free(&k);
        return ex < 0 ? ex : 0;
    }
    const char *why;
    int superseded = superseded_by_index(bs, k.key, k.at, k.content_hash, &why);
    if (superseded < 0)
        rc = superseded;
    if (!rc && !superseded) {
        char detail[400];
        snprintf(detail, sizeof(detail),
                 "a key record (of blob %.80s) no entry refers to, %s (a commit the index lost, "
                 "a put that never committed, or an interrupted delete): kept; verify "
                 "--rebuild-index restores it",
                 k.blob, why);
        report(v, BLOBSTORE_PROBLEM_UNINDEXED, k.key, name, detail, 0);
    }
    bs__keyrec_free(&k);
    return rc ? rc : !superseded;
}

static int orphan(verify_ctx *v, const char *name, const char *detail)
{
    int fixed = 0;
    v->st->orphans++;
    if (v->flags & BLOBSTORE_VERIFY_REPAIR)
        fixed = v->bs->blobs->remove(v->bs->blobs, name) == 0;
    return report(v, BLOBSTORE_PROBLEM_ORPHAN, NULL, name, detail, fixed);
}

static int orphan_cb(void *ctx, const char *name, int is_temp)
{
    verify_ctx *v = ctx;
    if (is_temp == BLOBSTORE_BLOB_LIST_FOREIGN)
        return report(v, BLOBSTORE_PROBLEM_FOREIGN, NULL, name,
                      "not made by the store (a symbolic link, a directory, or a name the store "
                      "never uses): not followed, left alone",
                      0);
    if (is_temp) {
        int fixed = 0;
        v->st->temps++;
        if ((v->flags & BLOBSTORE_VERIFY_REPAIR) && v->bs->blobs->remove_temp)
            fixed = v->bs->blobs->remove_temp(v->bs->blobs, name) == 0;
        return report(v, BLOBSTORE_PROBLEM_TEMP, NULL, name, "leftover temporary file", fixed);
    }
    int rec = bs__is_keyrec(name); /* key records (content-addressed stores) */
    if (rec && bs__blob_name_own(name)) {
        int rc = bs__remember(&v->recs, &v->nrecs, name);
        if (rc)
            return rc;
    }
    if (bsearch(&name, v->refs, v->nrefs, sizeof(char *), bs__cmp_strp))
        return 0;
    if (bs__is_sidecar(name)) { /* referenced when its file is: "<stem>.<ext>" */
        size_t stem = strlen(name) - strlen(SIDECAR_EXT), lo = 0, hi = v->nrefs;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (strncmp(v->refs[mid], name, stem) < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        for (; lo < v->nrefs && strncmp(v->refs[lo], name, stem) == 0; lo++)
            if (v->refs[lo][stem] == '.' && strchr(v->refs[lo] + stem + 1, '.') == NULL)
                return 0;
    }
    if (!bs__blob_name_own(name))
        return report(v, BLOBSTORE_PROBLEM_FOREIGN, NULL, name,
                      "a blob file whose name the store never makes: left alone", 0);
    int u = rec ? keyrec_unindexed(v, name) : unindexed(v, name);
    if (u < 0)
        return u;
    if (u)
        return v->stop;
    return orphan(v, name, rec ? "key record without an entry" : "blob without an entry");
}

/* The 16 hex characters of SHA-256(blob) that its key records' names end
 * with (bs__keyrec_name). */
static void rec_suffix(char out[17], const char *blob)
{
    char h[65];
    bs__sha256_hex(h, blob, strlen(blob));
    memcpy(out, h, 16);
    out[16] = 0;
}

/* 1 if a key record of blob (of any key) was listed. */
static int blob_has_rec(verify_ctx *v, const char *blob)
{
    char sfx[17];
    rec_suffix(sfx, blob);
    size_t k = strlen(KEYREC_EXT);
    for (size_t i = 0; i < v->nrecs; i++) {
        size_t n = strlen(v->recs[i]);
        if (n >= 16 + k && memcmp(v->recs[i] + n - k - 16, sfx, 16) == 0)
            return 1;
    }
    return 0;
}

/* Content-addressed blobs no entry refers to (their frames say that key
 * records name their keys): kept while a key record names them (the
 * record is reported); garbage when none does and the index still counts
 * no entry of theirs (a put that never wrote its record, or whose keys
 * were all deleted). */
static int shared_blobs(verify_ctx *v)
{
    for (size_t i = 0; i < v->ndeferred && !v->stop; i++) {
        const char *b = v->deferred[i];
        if (blob_has_rec(v, v->deferred_of[i]))
            continue;
        uint64_t n = 1;
        int rc = bs__tx_begin(v->bs, 0);
        if (rc)
            return rc;
        rc = bs__blob_refs(v->bs, v->deferred_of[i], &n);
        bs__tx_end(v->bs, 1);
        if (rc)
            return rc;
        if (n == 0)
            orphan(v, b, "content-addressed blob that no entry and no key record refers to");
    }
    return 0;
}

/* Every entry of a content-addressed store has its key record (so that a
 * rebuild restores it), except one written before key records existed
 * whose blob names it and no other key: reported otherwise, and written
 * from the entry by --repair. */
static int missing_records(verify_ctx *v, const collect_ctx *c)
{
    blobstore *bs = v->bs;
    for (size_t i = 0; i < c->n && !v->stop; i++) {
        const char *key = c->keys[i], *blob = c->blobs[i];
        char name[128];
        if (!bs->ca || !blob || bs__is_keyrec(blob) || bs__keyrec_name(name, key, blob) != 0)
            continue;
        const char *np = name;
        if (v->nrecs && bsearch(&np, v->recs, v->nrecs, sizeof(char *), bs__cmp_strp))
            continue;
        int ex = bs->blobs->exists(bs->blobs, name); /* a listing may hold young ones back */
        if (ex < 0)
            return ex;
        if (ex == 1 || bs->blobs->exists(bs->blobs, blob) != 1)
            continue; /* a missing blob is a dangling entry, reported as such */
        /* older stores: the blob's own record, when it has no other key */
        char *const *lo = bsearch(&blob, v->refs, v->nrefs, sizeof(char *), bs__cmp_strp);
        size_t users = 0;
        if (lo) {
            while (lo > v->refs && strcmp(lo[-1], blob) == 0)
                lo--;
            for (; lo < v->refs + v->nrefs && strcmp(*lo, blob) == 0; lo++)
                users++;
        }
        if (users == 1 && !blob_has_rec(v, blob)) {
            bs_blob_end end;
            int rc = bs__blob_end_read(bs, blob, &end);
            if (rc == 0) {
                json_error_t err;
                json_t *r = end.rec.len
                                ? json_loadb((const char *)end.rec.data, end.rec.len, 0, &err)
                                : NULL;
                bs__buf_free(&end.rec);
                json_t *jk = json_object_get(r, "key");
                int covered =
                    json_is_object(r) && !json_object_get(r, "keyrecs") &&
                    strcmp(json_is_string(jk) ? json_string_value(jk) : end.hash, key) == 0;
                json_decref(r);
                if (covered)
                    continue;
            } else {
                bs__error_clear(); /* a damaged blob: reported by phase 1 */
            }
        }
        int fixed = 0;
        if (v->flags & BLOBSTORE_VERIFY_REPAIR) { /* from the entry as it is now */
            blobstore_entry e;
            int rc = bs__tx_begin(bs, 1);
            if (rc)
                return rc;
            int r = bs->meta->get(bs->meta, key, &e);
            if (r == 0) {
                if (bs__keyrec_wanted(bs, &e) && strcmp(e.blob, blob) == 0)
                    fixed = bs__keyrec_write(bs, &e) == 0;
                blobstore_entry_clear(&e);
            }
            bs__error_clear();
            bs__tx_end(bs, 1);
        }
        report(v, BLOBSTORE_PROBLEM_NORECORD, key, name,
               "entry of a shared content-addressed blob without its key record: a rebuild of "
               "the index would not restore it (verify --repair writes it from the entry)",
               fixed);
    }
    return 0;
}

static int verify_one(void *ctx, blobstore_entry *e)
{
    verify_ctx *v = ctx;
    v->st->entries++;
    int r = bs__decode_entry(v->bs, e, bs__null_sink, NULL, 1);
    if (r == 0) {
        v->st->ok++;
    } else if (r == BLOBSTORE_ECORRUPT || r == BLOBSTORE_EUNSUPPORTED) {
        v->st->corrupt++;
        report(v, BLOBSTORE_PROBLEM_CORRUPT, e->key, e->blob, blobstore_errmsg(), 0);
    } else if (r != BLOBSTORE_ENOTFOUND) {
        return r; /* I/O error: stop */
    }
    return v->stop;
}

/* An entry seen pointing at a missing blob is dangling if it still does under
 * a transaction (a put elsewhere may have replaced it meanwhile): a write
 * transaction when repairing; the lock is held for this check only, not
 * while every blob is looked up. */
static int check_dangling(verify_ctx *v, const char *key, const char *blob)
{
    blobstore *bs = v->bs;
    blobstore_entry e;
    int dangling = 0, fixed = 0;
    int rc = bs__tx_begin(bs, (v->flags & BLOBSTORE_VERIFY_REPAIR) != 0);
    if (rc)
        return rc;
    int r = bs->meta->get(bs->meta, key, &e);
    if (r == 0) {
        dangling = e.blob && strcmp(e.blob, blob) == 0 && bs->blobs->exists(bs->blobs, blob) == 0;
        blobstore_entry_clear(&e);
    } else if (r == BLOBSTORE_ENOTFOUND) {
        bs__error_clear();
    } else {
        rc = r;
    }
    if (!rc && dangling && (v->flags & BLOBSTORE_VERIFY_REPAIR)) {
        rc = bs->meta->remove(bs->meta, key);
        fixed = rc == 0;
    }
    int rc2 = bs__tx_end(bs, rc == 0);
    if (!rc)
        rc = rc2;
    if (!rc && dangling) {
        v->st->dangling++;
        report(v, BLOBSTORE_PROBLEM_DANGLING, key, blob, "entry whose blob is missing", fixed);
    }
    return rc;
}

/* What a format's store-wide check found (bs_format.check_store). */
static void format_report(void *ctx, blobstore_problem_kind kind, const char *blob,
                          const char *detail)
{
    report(ctx, kind, NULL, blob, detail, 0);
}

/* Each format's store-wide check (the pickle signing key, ...). */
static void check_formats(verify_ctx *v)
{
    const bs_format *f;
    for (size_t i = 0; (f = bs__format_at(i)) != NULL; i++)
        if (f->check_store)
            f->check_store(v->bs, format_report, v);
}

BLOBSTORE_API int blobstore_verify(blobstore_verify_stats *out, blobstore *bs, unsigned int flags,
                                   blobstore_problem_fn fn, void *ctx)
{
    blobstore_verify_stats st;
    memset(&st, 0, sizeof(st));
    if (!bs)
        return bs__error(BLOBSTORE_EINVAL, "store is NULL");
    if ((flags & BLOBSTORE_VERIFY_REPAIR) && bs->readonly) {
        if (out)
            *out = st;
        return bs__refuse_readonly(bs);
    }
    verify_ctx v = {bs, &st, fn, ctx, 0, flags, NULL, 0, NULL, 0, NULL, 0, NULL, NULL, 0};
    /* Phase 0: the index itself. A damaged index is reported as it is and
     * nothing is repaired: a blob it lost would look like an orphan. */
    int rc = bs__tx_begin(bs, 0);
    if (!rc) {
        if (bs->meta->ctl) {
            rc = bs->meta->ctl(bs->meta, BLOBSTORE_META_CTL_CHECK, NULL);
            if (rc == BLOBSTORE_EUNSUPPORTED) {
                bs__error_clear();
                rc = 0;
            }
        }
        int rc2 = bs__tx_end(bs, 1);
        if (!rc)
            rc = rc2;
    }
    if (rc) {
        if (out)
            *out = st;
        return rc;
    }
    check_formats(&v);
    /* Phase 1: check every entry's data, without blocking writers. */
    rc = bs__each_entry(bs, verify_one, &v);
    collect_ctx c;
    memset(&c, 0, sizeof(c));
    /* Phase 2: with this machine's writers excluded, find dangling entries,
     * orphans and temps. */
    if (!rc && !v.stop && (rc = bs__excl_enter(bs)) == 0) {
        if ((rc = bs__tx_begin(bs, 0)) == 0) {
            rc = bs->meta->iterate(bs->meta, NULL, bs__collect, &c);
            int rc2 = bs__tx_end(bs, 1);
            if (!rc)
                rc = rc2;
        }
        for (size_t i = 0; !rc && i < c.n; i++) {
            if (!c.blobs[i])
                continue;
            int ex = bs->blobs->exists(bs->blobs, c.blobs[i]);
            if (ex < 0)
                rc = ex;
            else if (ex == 0)
                rc = check_dangling(&v, c.keys[i], c.blobs[i]);
        }
        if (!rc) {
            v.refs = bs__calloc(2 * c.n + 1, sizeof(char *));
            v.own = bs__calloc(c.n + 1, sizeof(char *));
            if (!v.refs || !v.own)
                rc = BLOBSTORE_ENOMEM;
            for (size_t i = 0; !rc && i < c.n; i++) {
                if (!c.blobs[i])
                    continue;
                v.refs[v.nrefs++] = c.blobs[i];
                char name[128]; /* its key record */
                if (bs->ca && !bs__is_keyrec(c.blobs[i]) &&
                    bs__keyrec_name(name, c.keys[i], c.blobs[i]) == 0) {
                    if (!(v.own[v.nown] = bs__strdup(name)))
                        rc = BLOBSTORE_ENOMEM;
                    else
                        v.refs[v.nrefs++] = v.own[v.nown++];
                }
            }
            if (!rc) {
                qsort(v.refs, v.nrefs, sizeof(char *), bs__cmp_strp);
                rc = bs->blobs->list(bs->blobs, orphan_cb, &v);
            }
            if (!rc) {
                if (v.nrecs)
                    qsort(v.recs, v.nrecs, sizeof(char *), bs__cmp_strp);
                rc = shared_blobs(&v);
            }
            if (!rc)
                rc = missing_records(&v, &c);
        }
        bs__excl_leave(bs);
    }
    free(v.refs);
    for (size_t i = 0; i < v.nown; i++)
        free(v.own[i]);
    free(v.own);
    for (size_t i = 0; i < v.nrecs; i++)
        free(v.recs[i]);
    free(v.recs);
    for (size_t i = 0; i < v.ndeferred; i++) {
        free(v.deferred[i]);
        free(v.deferred_of[i]);
    }
    free(v.deferred);
    free(v.deferred_of);
    bs__collect_free(&c);
    if (out)
        *out = st;
    return rc;
}
