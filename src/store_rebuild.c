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

/* The candidate a blob (or a sidecar) offers; 1: it offers none (reported). */
static int rb_candidate(blobstore *bs, const char *name, rb_names *all, rb_cand *c,
                        blobstore_problem_fn fn, void *ctx)
{
    memset(c, 0, sizeof(*c));
    bs_buf rec = {0};
    int rc = rb_read_frame(bs, name, c, &rec);
    if (rc == BLOBSTORE_ENOTFOUND) { /* removed meanwhile */
        bs__buf_free(&rec);
        bs__error_clear();
        return 1;
    }
    if (rc == BLOBSTORE_ECORRUPT || rc == BLOBSTORE_EUNSUPPORTED) {
        char sc[160];
        int has_sidecar =
            !bs__is_sidecar(name) && bs__sidecar_name(sc, name) == 0 &&
            bsearch(&(const char *){sc}, all->names, all->n, sizeof(char *), bs__cmp_strp) != NULL;
        bs__buf_free(&rec);
        if (has_sidecar) { /* a file stored as it is: its sidecar speaks for it */
            bs__error_clear();
            return 1;
        }
        char detail[1200];
        snprintf(detail, sizeof(detail), "cannot be read for the rebuild: %s", blobstore_errmsg());
        bs__error_clear();
        rb_problem(fn, ctx, BLOBSTORE_PROBLEM_CORRUPT, NULL, name, detail);
        return 2;
    }
    if (rc) {
        bs__buf_free(&rec);
        return rc;
    }
    json_error_t err;
    c->rec = rec.len ? json_loadb((const char *)rec.data, rec.len, 0, &err) : NULL;
    bs__buf_free(&rec);
    json_t *key = json_object_get(c->rec, "key"), *at = json_object_get(c->rec, "at");
    json_t *format = json_object_get(c->rec, "format");
    if (!json_is_object(c->rec) || !json_is_string(at) || !json_is_string(format)) {
        cand_free(c);
        memset(c, 0, sizeof(*c));
        rb_problem(fn, ctx, BLOBSTORE_PROBLEM_ORPHAN, NULL, name,
                   "carries no entry record (written before frame format 2): not restored");
        return 2;
    }
    const char *blob = name;
    if (bs__is_sidecar(name)) {
        /* a file stored as it is: named, hashed and sized by its sidecar */
        json_t *b = json_object_get(c->rec, "blob"), *h = json_object_get(c->rec, "content_hash");
        if (!json_is_string(b) || !json_is_string(h) || strlen(json_string_value(h)) != 64) {
            cand_free(c);
            rb_problem(fn, ctx, BLOBSTORE_PROBLEM_CORRUPT, NULL, name, "sidecar lacks its file");
            return 2;
        }
        blob = json_string_value(b);
        if (!bsearch(&blob, all->names, all->n, sizeof(char *), bs__cmp_strp)) {
            cand_free(c);
            rb_problem(fn, ctx, BLOBSTORE_PROBLEM_ORPHAN, NULL, name,
                       "sidecar whose file is missing: not restored");
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
    int on = 1, off = 0, all_ages = 0;
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
    for (size_t i = 0; !rc && i < all.n; i++) {
        st.blobs++;
        int r = rb_candidate(bs, all.names[i], &all, &cands[nc], fn, ctx);
        if (r == 0)
            nc++;
        else if (r == 2)
            st.unreadable++;
        else if (r != 1)
            rc = r;
    }
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
