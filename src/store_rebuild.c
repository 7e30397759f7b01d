/*
 * store_rebuild.c - rebuilding the index from the blobs.
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

/* ---- rebuilding the index from the blobs ---- */

/* The sidecar of a file stored as it is ("<stem>.entry" beside "<stem>.ext"):
 * an empty frame whose entry record names the file, its hash and size. */
int bs__sidecar_name(char out[160], const char *blob)
{
    const char *dot = strrchr(blob, '.');
    size_t stem = dot ? (size_t)(dot - blob) : strlen(blob);
    if (stem + sizeof(SIDECAR_EXT) > 160)
        return bs__error(BLOBSTORE_EINVAL, "blob name too long");
    memcpy(out, blob, stem);
    memcpy(out + stem, SIDECAR_EXT, sizeof(SIDECAR_EXT));
    return 0;
}

int bs__is_sidecar(const char *name)
{
    size_t n = strlen(name), k = strlen(SIDECAR_EXT);
    return n > k && strcmp(name + n - k, SIDECAR_EXT) == 0;
}

typedef struct {
    char *key, *blob, *at;
    json_t *rec;   /* the entry record */
    char hash[65]; /* content SHA-256 */
    uint64_t size; /* original bytes */
    uint64_t file_size;
    const char *codec;
    int raw;
    int keyrec; /* from a key record (store_keyrec.c) */
} rb_cand;

typedef struct {
    char **names;
    size_t n, cap;
} rb_names;

static int rb_list_cb(void *ctx, const char *name, int is_temp)
{
    rb_names *l = ctx;
    if (is_temp)
        return 0;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 256;
        char **p = bs__realloc(l->names, cap * sizeof(char *));
        if (!p)
            return BLOBSTORE_ENOMEM;
        l->names = p;
        l->cap = cap;
    }
    if (!(l->names[l->n] = bs__strdup(name)))
        return BLOBSTORE_ENOMEM;
    l->n++;
    return 0;
}

typedef struct {
    bs_sha256 *sha;
    uint64_t n;
} rb_sink;

static int rb_sink_fn(void *ctx, const void *p, size_t n)
{
    rb_sink *s = ctx;
    bs__sha256_update(s->sha, p, n);
    s->n += n;
    return 0;
}

typedef struct {
    blobstore_blob_reader *r;
    uint64_t n;
} rb_src;

static int rb_src_fn(void *ctx, void *p, size_t cap, size_t *out_n)
{
    rb_src *s = ctx;
    int rc = s->r->read(s->r, p, cap, out_n);
    if (!rc)
        s->n += *out_n;
    return rc;
}

/* Read a framed blob whole, checking it: its record, content hash and sizes. */
static int rb_read_frame(blobstore *bs, const char *name, rb_cand *c, bs_buf *rec)
{
    rb_src src = {NULL, 0};
    rb_sink sink = {bs__sha256_new(), 0};
    if (!sink.sha)
        return BLOBSTORE_ENOMEM;
    int rc = bs->blobs->reader(&src.r, bs->blobs, name);
    if (!rc) {
        rc = bs__frame_decode_record(rb_src_fn, &src, rb_sink_fn, &sink, NULL, UINT64_MAX, 1,
                                     &c->codec, rec);
        src.r->close(src.r);
    }
    bs__sha256_final_hex(sink.sha, c->hash);
    c->size = sink.n;
    c->file_size = src.n;
    return rc;
}

/* The entry record of a framed blob and what its trailer records, read from
 * the blob's two ends only where the backend reads ranges (its first 64 KiB,
 * and its last 64 KiB unless that was all of it; more if the record is
 * longer): one request for a small blob on S3, three for a large one,
 * whatever its size. The chunks between are not read, nor checked: verify
 * and get check them. Without read_range the blob is read whole and
 * checked. 0: e filled (rec empty for a version 1 frame); ENOTFOUND;
 * ECORRUPT/EUNSUPPORTED: no readable record (e->framed: the blob at least
 * starts as a frame does); other errors. */
#define END_READ ((size_t)64 << 10)

int bs__blob_end_read(blobstore *bs, const char *name, bs_blob_end *e)
{
    memset(e, 0, sizeof(*e));
    blobstore_blob_backend *b = bs->blobs;
    unsigned char *head = NULL, *tail = NULL;
    size_t got = 0;
    int rc = 0, version = 0;
    bs_blob_size q = {name, 0};
    if (!b->read_range)
        goto whole;
    if (!(head = bs__malloc(END_READ)))
        return BLOBSTORE_ENOMEM;
    if ((rc = b->read_range(b, name, 0, head, END_READ, &got)) != 0)
        goto out;
    rc = bs__frame_head(head, got, &version, &e->codec);
    if (rc == 1) {
        rc = bs__error(BLOBSTORE_ECORRUPT, "blob %s is not a blobstore frame", name);
        goto out;
    }
    e->framed = 1;
    if (rc)
        goto out;
    bs_frame_tail t;
    if (got < END_READ) { /* the whole blob */
        e->file_size = got;
        rc = bs__frame_tail(head, got, version, 1, &t);
    } else {
        if (!b->ctl || (rc = b->ctl(b, BS__BLOB_CTL_SIZE, &q)) == BLOBSTORE_EUNSUPPORTED) {
            bs__error_clear();
            free(head);
            head = NULL;
            goto whole;
        }
        if (rc)
            goto out;
        e->file_size = q.size;
        size_t want = END_READ;
        for (;;) {
            if (want > q.size)
                want = (size_t)q.size;
            free(tail);
            if (!(tail = bs__malloc(want))) {
                rc = BLOBSTORE_ENOMEM;
                goto out;
            }
            size_t n = 0;
            if ((rc = b->read_range(b, name, q.size - want, tail, want, &n)) != 0)
                goto out;
            if (n != want) {
                rc = bs__error(BLOBSTORE_ECORRUPT, "blob %s changed size while read", name);
                goto out;
            }
            rc = bs__frame_tail(tail, want, version, want == q.size, &t);
            if (rc != 1 || want == q.size)
                break;
            want = BS_FRAME_RECORD_MAX + 128; /* the longest record there can be */
        }
        if (rc == 1)
            rc = bs__error(BLOBSTORE_ECORRUPT, "blob trailer is damaged");
    }
    if (!rc) {
        e->size = t.size;
        memcpy(e->hash, t.hash, sizeof(e->hash));
        if (bs__buf_append(&e->rec, t.record ? (const void *)t.record : "", t.record_len) ||
            bs__buf_append(&e->rec, "", 1))
            rc = BLOBSTORE_ENOMEM;
        else
            e->rec.len--; /* NUL-terminated, not counted */
    }
    goto out;
whole : {
    rb_cand c;
    memset(&c, 0, sizeof(c));
    rc = rb_read_frame(bs, name, &c, &e->rec);
    e->framed = rc == 0 || strstr(blobstore_errmsg(), "frame magic") == NULL;
    e->codec = c.codec;
    e->size = c.size;
    e->file_size = c.file_size;
    memcpy(e->hash, c.hash, sizeof(e->hash));
}
out:
    free(head);
    free(tail);
    if (rc)
        bs__buf_free(&e->rec);
    return rc;
}

static int cmp_cand(const void *pa, const void *pb)
{
    const rb_cand *a = pa, *b = pb;
    int k = strcmp(a->key, b->key);
    if (k)
        return k;
    k = strcmp(a->at, b->at); /* the newest last */
    return k ? k : strcmp(a->blob, b->blob);
}

static void cand_free(rb_cand *c)
{
    free(c->key);
    free(c->blob);
    free(c->at);
    json_decref(c->rec);
}

static int rb_problem(blobstore_problem_fn fn, void *ctx, blobstore_problem_kind kind,
                      const char *key, const char *blob, const char *detail)
{
    blobstore_problem p = {kind, key, blob, detail, 0};
    return fn ? fn(ctx, &p) : 0;
}

/* The candidate a blob (or a sidecar) offers: 0; 1: none (a file stored
 * as it is, whose sidecar speaks for it, or a blob removed meanwhile); 2:
 * none, for the reason in detail (a problem to report); 3: none, a blob
 * content-addressed keys share (their key records restore them). Runs on the
 * rebuild's reading threads: no callback, no shared state. */
static int rb_candidate(blobstore *bs, const char *name, const rb_names *all, rb_cand *c,
                        blobstore_problem_kind *kind, char detail[1200])
{
    memset(c, 0, sizeof(c[0]));
    char sc[160];
    if (!bs__is_sidecar(name) && bs__sidecar_name(sc, name) == 0 &&
        bsearch(&(const char *){sc}, all->names, all->n, sizeof(char *), bs__cmp_strp) != NULL)
        return 1; /* a file stored as it is: its sidecar speaks for it */
    bs_blob_end end;
    int rc = bs__blob_end_read(bs, name, &end);
    if (rc == BLOBSTORE_ENOTFOUND) { /* removed meanwhile */
        bs__error_clear();
        return 1;
    }
    if (rc == BLOBSTORE_ECORRUPT || rc == BLOBSTORE_EUNSUPPORTED) {
        snprintf(detail, 1200, "cannot be read for the rebuild: %s", blobstore_errmsg());
        bs__error_clear();
        *kind = BLOBSTORE_PROBLEM_CORRUPT;
        return 2;
    }
    if (rc)
        return rc;
    bs_buf rec = end.rec;
    c->codec = end.codec;
    c->size = end.size;
    c->file_size = end.file_size;
    memcpy(c->hash, end.hash, sizeof(c->hash));
    bs_keyrec k;
    if (bs__is_keyrec(name) && rec.len &&
        bs__keyrec_parse(&k, (const char *)rec.data, rec.len) == 0) {
        /* one key of a shared content-addressed blob (store_keyrec.c) */
        bs__buf_free(&rec);
        if (!bsearch(&k.blob, all->names, all->n, sizeof(char *), bs__cmp_strp)) {
            snprintf(detail, 1200, "key record of \"%s\" whose blob %s is missing: not restored",
                     k.key, k.blob);
            bs__keyrec_free(&k);
            *kind = BLOBSTORE_PROBLEM_ORPHAN;
            return 2;
        }
        c->rec = k.rec;
        c->key = bs__strdup(k.key);
        c->blob = bs__strdup(k.blob);
        c->at = bs__strdup(k.at);
        snprintf(c->hash, sizeof(c->hash), "%s", k.content_hash);
        c->keyrec = 1;
        if (!c->key || !c->blob || !c->at) {
            cand_free(c);
            return BLOBSTORE_ENOMEM;
        }
        return 0;
    }
    bs__error_clear();
    json_error_t err;
    c->rec = rec.len ? json_loadb((const char *)rec.data, rec.len, 0, &err) : NULL;
    bs__buf_free(&rec);
    if (json_object_get(c->rec, "keyrecs")) { /* its keys' records restore them */
        cand_free(c);
        memset(c, 0, sizeof(*c));
        return 3;
    }
    json_t *key = json_object_get(c->rec, "key"), *at = json_object_get(c->rec, "at");
    json_t *format = json_object_get(c->rec, "format");
    if (!json_is_object(c->rec) || !json_is_string(at) || !json_is_string(format)) {
        cand_free(c);
        memset(c, 0, sizeof(*c));
        *kind = BLOBSTORE_PROBLEM_ORPHAN;
        snprintf(detail, 1200,
                 "carries no entry record (written before frame format 2): not restored");
        return 2;
    }
    const char *blob = name;
    if (bs__is_sidecar(name)) {
        /* a file stored as it is: named, hashed and sized by its sidecar */
        json_t *b = json_object_get(c->rec, "blob"), *h = json_object_get(c->rec, "content_hash");
        if (!json_is_string(b) || !json_is_string(h) || strlen(json_string_value(h)) != 64) {
            cand_free(c);
            memset(c, 0, sizeof(*c));
            *kind = BLOBSTORE_PROBLEM_CORRUPT;
            snprintf(detail, 1200, "sidecar lacks its file");
            return 2;
        }
        blob = json_string_value(b);
        if (!bsearch(&blob, all->names, all->n, sizeof(char *), bs__cmp_strp)) {
            cand_free(c);
            memset(c, 0, sizeof(*c));
            *kind = BLOBSTORE_PROBLEM_ORPHAN;
            snprintf(detail, 1200, "sidecar whose file is missing: not restored");
            return 2;
        }
        snprintf(c->hash, sizeof(c->hash), "%s", json_string_value(h));
        json_int_t sz = json_integer_value(json_object_get(c->rec, "size"));
        c->size = c->file_size = sz > 0 ? (uint64_t)sz : 0;
        json_t *comp = json_object_get(c->rec, "compression");
        c->codec = json_is_string(comp) ? json_string_value(comp) : "none";
        c->raw = 1;
    }
    /* content-addressed: the key is the content hash */
    c->key = bs__strdup(json_is_string(key) ? json_string_value(key) : c->hash);
    c->blob = bs__strdup(blob);
    c->at = bs__strdup(json_string_value(at));
    if (!c->key || !c->blob || !c->at) {
        cand_free(c);
        return BLOBSTORE_ENOMEM;
    }
    return 0;
}

static int rb_entry(blobstore_entry *e, const rb_cand *c)
{
    if (c->keyrec) {
        bs_keyrec k = {c->rec, c->key, c->blob, c->hash, c->at};
        return bs__keyrec_entry(e, &k);
    }
    memset(e, 0, sizeof(*e));
    json_t *m = json_object_get(c->rec, "metadata"), *info = json_object_get(c->rec, "info");
    e->key = bs__strdup(c->key);
    e->blob = bs__strdup(c->blob);
    e->format = bs__strdup(json_string_value(json_object_get(c->rec, "format")));
    e->compression = bs__strdup(c->codec ? c->codec : "none");
    e->content_hash = bs__strdup(c->hash);
    e->created_at = bs__strdup(c->at);
    e->updated_at = bs__strdup(c->at);
    e->metadata = json_is_object(m) ? bs__json_dumps(m) : bs__strdup("{}");
    e->info = json_is_object(info) ? bs__json_dumps(info) : NULL;
    e->size = c->size;
    e->file_size = c->file_size;
    e->raw = c->raw;
    if (!e->key || !e->blob || !e->format || !e->compression || !e->content_hash ||
        !e->created_at || !e->updated_at || !e->metadata || (json_is_object(info) && !e->info)) {
        blobstore_entry_clear(e);
        return BLOBSTORE_ENOMEM;
    }
    return 0;
}

/* The blobs are read by several threads where the backend gains from it
 * (S3: each read is a request whose latency the others hide), each blob's
 * result kept in its slot and reported afterwards in name order. */
#define RB_THREADS 16

typedef struct {
    int r; /* rb_candidate's answer, or an error */
    blobstore_problem_kind kind;
    char *detail; /* the problem (r == 2), or the error's message */
} rb_result;

typedef struct {
    blobstore *bs;
    const rb_names *all;
    rb_cand *cands;
    rb_result *res;
    size_t next; /* the next name to read (atomic) */
    int stop;    /* an error: the others stop (atomic) */
} rb_read;

static void *rb_reader(void *arg)
{
    rb_read *rd = arg;
    char detail[1200];
    for (;;) {
        if (__atomic_load_n(&rd->stop, __ATOMIC_RELAXED))
            break;
        size_t i = __atomic_fetch_add(&rd->next, 1, __ATOMIC_RELAXED);
        if (i >= rd->all->n)
            break;
        rb_result *r = &rd->res[i];
        detail[0] = 0;
        r->r = rb_candidate(rd->bs, rd->all->names[i], rd->all, &rd->cands[i], &r->kind, detail);
        if (r->r < 0) {
            snprintf(detail, sizeof(detail), "%s", blobstore_errmsg());
            __atomic_store_n(&rd->stop, 1, __ATOMIC_RELAXED);
        }
        if ((r->r == 2 || r->r < 0) && !(r->detail = bs__strdup(detail)) && r->r == 2)
            r->r = BLOBSTORE_ENOMEM;
        bs__error_clear();
    }
    return NULL;
}

static int rb_read_all(rb_read *rd)
{
    blobstore_blob_backend *b = rd->bs->blobs;
    int threads = 1;
    if (b->ctl && rd->all->n > 1) {
        if (b->ctl(b, BS__BLOB_CTL_PARALLEL, NULL) == 0)
            threads = rd->all->n < RB_THREADS ? (int)rd->all->n : RB_THREADS;
        bs__error_clear();
    }
    pthread_t tid[RB_THREADS];
    int started = 0;
    for (int t = 1; t < threads; t++) {
        if (pthread_create(&tid[started], NULL, rb_reader, rd) != 0)
            break; /* fewer threads: the others read it all the same */
        started++;
    }
    rb_reader(rd);
    for (int t = 0; t < started; t++)
        pthread_join(tid[t], NULL);
    return 0;
}

BLOBSTORE_API int blobstore_rebuild_index(blobstore_rebuild_stats *out, blobstore *bs,
                                          blobstore_problem_fn fn, void *ctx)
{
    blobstore_rebuild_stats st;
    memset(&st, 0, sizeof(st));
    if (!bs)
        return bs__error(BLOBSTORE_EINVAL, "store is NULL");
    rb_names all = {NULL, 0, 0};
    rb_cand *cands = NULL;
    size_t nc = 0;
    /* With this machine's writers excluded, as verify's orphan scan. */
    int rc = bs__excl_enter(bs);
    if (rc)
        return rc;
    int on = 1, off = 0, all_ages = 0, shared = 0;
    if (bs->blobs->ctl) { /* every blob, however young (S3 holds young ones back) */
        all_ages = bs->blobs->ctl(bs->blobs, BLOBSTORE_BLOB_CTL_LIST_ALL, &on) == 0;
        bs__error_clear();
    }
    rc = bs->blobs->list(bs->blobs, rb_list_cb, &all);
    if (all_ages)
        bs->blobs->ctl(bs->blobs, BLOBSTORE_BLOB_CTL_LIST_ALL, &off);
    if (!rc) {
        qsort(all.names, all.n, sizeof(char *), bs__cmp_strp);
        cands = bs__calloc(all.n ? all.n : 1, sizeof(*cands));
        if (!cands)
            rc = BLOBSTORE_ENOMEM;
    }
    rb_read rd = {bs, &all, cands, NULL, 0, 0};
    if (!rc && !(rd.res = bs__calloc(all.n ? all.n : 1, sizeof(*rd.res))))
        rc = BLOBSTORE_ENOMEM;
    if (!rc)
        rc = rb_read_all(&rd);
    /* in name order, as read */
    for (size_t i = 0; !rc && i < all.n; i++) {
        rb_result *r = &rd.res[i];
        st.blobs++;
        if (r->r == 0) {
            if (nc != i) {
                cands[nc] = cands[i];
                memset(&cands[i], 0, sizeof(cands[i]));
            }
            nc++;
        } else if (r->r == 2) {
            st.unreadable++;
            rb_problem(fn, ctx, r->kind, NULL, all.names[i], r->detail ? r->detail : "");
        } else if (r->r == 3) {
            shared = 1;
        } else if (r->r != 1) {
            rc = bs__error(r->r, "%s", r->detail ? r->detail : "reading blobs for the rebuild");
        }
    }
    for (size_t i = 0; rd.res && i < all.n; i++) {
        free(rd.res[i].detail);
        if (rc && rd.res[i].r == 0 && i >= nc)
            cand_free(&cands[i]); /* read, not yet kept */
    }
    free(rd.res);
    /* A blob that key records name restores no entry of its own (one
     * written before key records existed names the key of the put that
     * made it, which may have been deleted since). */
    const char **named = rc ? NULL : bs__calloc(nc ? nc : 1, sizeof(char *));
    size_t nn = 0;
    if (!rc && !named)
        rc = BLOBSTORE_ENOMEM;
    for (size_t i = 0; !rc && i < nc; i++)
        if (cands[i].keyrec)
            named[nn++] = cands[i].blob;
    /* Keys sharing a blob, restored into a store that is not content-
     * addressed, would each own it: deleting one would break the others. */
    if (!rc && (nn || shared) && !bs->ca)
        rc = bs__error(BLOBSTORE_ECONFLICT,
                       "the blobs are content-addressed (keys share blobs): rebuild the index "
                       "into a content-addressed store (content_addressable, "
                       "--content-addressable)");
    if (!rc && nn) {
        qsort(named, nn, sizeof(char *), bs__cmp_strp);
        size_t kept = 0;
        for (size_t i = 0; i < nc; i++) {
            if (!cands[i].keyrec &&
                bsearch(&cands[i].blob, named, nn, sizeof(char *), bs__cmp_strp)) {
                cand_free(&cands[i]);
                continue;
            }
            cands[kept++] = cands[i];
        }
        nc = kept;
    }
    free(named);
    if (!rc)
        qsort(cands, nc, sizeof(*cands), cmp_cand);
    /* The newest blob of each key; an entry the index still has wins when its
     * blob is there (it may be newer: update_metadata). */
    size_t in_tx = 0;
    for (size_t i = 0; !rc && i < nc; i++) {
        if (i + 1 < nc && strcmp(cands[i].key, cands[i + 1].key) == 0) {
            st.superseded++;
            continue;
        }
        if (in_tx == 0 && (rc = bs__tx_begin(bs, 1)) != 0)
            break;
        in_tx++;
        blobstore_entry old, e;
        int r = bs->meta->get(bs->meta, cands[i].key, &old);
        if (r == 0) {
            int present =
                old.inline_data || (old.blob && (strcmp(old.blob, cands[i].blob) == 0 ||
                                                 bs->blobs->exists(bs->blobs, old.blob) == 1));
            blobstore_entry_clear(&old);
            if (present) {
                st.kept++;
                goto next;
            }
        } else if (r != BLOBSTORE_ENOTFOUND) {
            rc = r;
            goto next;
        }
        bs__error_clear();
        if ((rc = rb_entry(&e, &cands[i])) == 0) {
            rc = bs->meta->put(bs->meta, &e);
            blobstore_entry_clear(&e);
            if (!rc)
                st.restored++;
        }
    next:
        if (in_tx && (rc || in_tx == 1000 || i + 1 == nc)) {
            int rc2 = bs__tx_end(bs, rc == 0);
            if (!rc)
                rc = rc2;
            in_tx = 0;
        }
    }
    if (in_tx)
        bs__tx_end(bs, 0);
    bs__excl_leave(bs);
    for (size_t i = 0; i < nc; i++)
        cand_free(&cands[i]);
    free(cands);
    for (size_t i = 0; i < all.n; i++)
        free(all.names[i]);
    free(all.names);
    if (out)
        *out = st;
    return rc;
}
