/*
 * store_stats.c - blobstore_stats(): entries, stored and original bytes by
 * format and codec, dedup savings, index size.
 *
 * The metadata backend aggregates (its stats slot: SQL GROUP BY, or one pass
 * over an index in memory) and hands back one group per (format, codec);
 * here the groups are folded into the two breakdowns. A backend without the
 * slot (older versions, or one that leaves it NULL) is iterated entry by
 * entry and aggregated here instead: same figures, more time. No blob is
 * ever read.
 */
#include "store_int.h"

#include <sys/stat.h>

/* ---- folding groups into the breakdowns ---- */

typedef struct {
    blobstore_store_stats *out;
    uint64_t blob_entries, blob_file_size;
} fold_ctx;

static int add_to(blobstore_stats_group **list, size_t *n, const char *name,
                  const blobstore_meta_group *g)
{
    size_t i = 0;
    while (i < *n && strcmp((*list)[i].name, name) != 0)
        i++;
    if (i == *n) {
        blobstore_stats_group *l = bs__realloc(*list, (*n + 1) * sizeof(**list));
        if (!l)
            return BLOBSTORE_ENOMEM;
        *list = l;
        memset(&l[i], 0, sizeof(l[i]));
        if (!(l[i].name = bs__strdup(name)))
            return BLOBSTORE_ENOMEM;
        (*n)++;
    }
    (*list)[i].entries += g->entries;
    (*list)[i].stored_bytes += g->file_size;
    (*list)[i].original_bytes += g->size;
    return 0;
}

static int fold_group(void *ctx, const blobstore_meta_group *g)
{
    fold_ctx *f = ctx;
    blobstore_store_stats *o = f->out;
    o->entries += g->entries;
    o->stored_bytes += g->file_size;
    o->original_bytes += g->size;
    f->blob_entries += g->blob_entries;
    f->blob_file_size += g->blob_file_size;
    int rc = add_to(&o->formats, &o->n_formats, g->format ? g->format : "bytes", g);
    if (!rc)
        rc = add_to(&o->codecs, &o->n_codecs, g->compression ? g->compression : "none", g);
    return rc;
}

/* ---- the fallback: every entry, aggregated here ---- */

typedef struct {
    blobstore_meta_stats *st;
    blobstore_meta_group *groups; /* one per (format, compression); names owned */
    size_t n;
    struct blob_size {
        char *blob;
        uint64_t file_size;
    } * blobs;
    size_t nb, capb;
} scan_ctx;

static int same(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static int scan_entry(void *ctx, const blobstore_entry *e)
{
    scan_ctx *s = ctx;
    size_t i = 0;
    while (i < s->n && !(same(s->groups[i].format, e->format) &&
                         same(s->groups[i].compression, e->compression)))
        i++;
    if (i == s->n) {
        blobstore_meta_group *g = bs__realloc(s->groups, (s->n + 1) * sizeof(*g));
        if (!g)
            return BLOBSTORE_ENOMEM;
        s->groups = g;
        memset(&g[i], 0, sizeof(g[i]));
        s->n++;
        g[i].format = e->format ? bs__strdup(e->format) : NULL;
        g[i].compression = e->compression ? bs__strdup(e->compression) : NULL;
        if ((e->format && !g[i].format) || (e->compression && !g[i].compression))
            return BLOBSTORE_ENOMEM;
    }
    blobstore_meta_group *g = &s->groups[i];
    g->entries++;
    g->size += e->size;
    g->file_size += e->file_size;
    if (e->blob) {
        g->blob_entries++;
        g->blob_file_size += e->file_size;
        if (s->nb == s->capb) {
            size_t cap = s->capb ? s->capb * 2 : 256;
            struct blob_size *b = bs__realloc(s->blobs, cap * sizeof(*b));
            if (!b)
                return BLOBSTORE_ENOMEM;
            s->blobs = b;
            s->capb = cap;
        }
        if (!(s->blobs[s->nb].blob = bs__strdup(e->blob)))
            return BLOBSTORE_ENOMEM;
        s->blobs[s->nb++].file_size = e->file_size;
    }
    return 0;
}

/* by blob, then largest file_size first: a shared blob counts once, at the
 * largest size its entries record (the rule every backend follows) */
static int cmp_blob(const void *a, const void *b)
{
    const struct blob_size *x = a, *y = b;
    int c = strcmp(x->blob, y->blob);
    return c ? c : (x->file_size < y->file_size) - (x->file_size > y->file_size);
}

static int stats_by_iterating(blobstore *bs, blobstore_meta_stats *st)
{
    scan_ctx s;
    memset(&s, 0, sizeof(s));
    s.st = st;
    int rc = bs->meta->iterate(bs->meta, NULL, scan_entry, &s);
    if (!rc) {
        if (s.nb) /* NULL when empty: no qsort of it (undefined) */
            qsort(s.blobs, s.nb, sizeof(*s.blobs), cmp_blob);
        for (size_t i = 1; i < s.nb; i++)
            if (strcmp(s.blobs[i].blob, s.blobs[i - 1].blob) == 0) {
                st->shared_entries++;
                st->shared_bytes += s.blobs[i].file_size;
            }
    }
    for (size_t i = 0; i < s.n; i++) {
        if (!rc)
            rc = st->group(st->ctx, &s.groups[i]);
        free((char *)s.groups[i].format);
        free((char *)s.groups[i].compression);
    }
    for (size_t i = 0; i < s.nb; i++)
        free(s.blobs[i].blob);
    free(s.groups);
    free(s.blobs);
    return rc;
}

/* ---- the index's size ---- */

/* The files the registry row names for the backend, summed; -1 when the
 * index has no files in the store directory. */
static int64_t index_files_size(const blobstore *bs)
{
    if (!bs->dir || !bs->meta_kind || !bs->meta_kind->files)
        return -1;
    int64_t total = 0;
    for (size_t i = 0; bs->meta_kind->files[i]; i++) {
        char *p = bs__path_join(bs->dir, bs->meta_kind->files[i]);
        struct stat st;
        if (p && stat(p, &st) == 0 && S_ISREG(st.st_mode))
            total += (int64_t)st.st_size;
        free(p);
    }
    return total;
}

static int cmp_group(const void *a, const void *b)
{
    return strcmp(((const blobstore_stats_group *)a)->name,
                  ((const blobstore_stats_group *)b)->name);
}

BLOBSTORE_API void blobstore_stats_free(blobstore_store_stats *st)
{
    if (!st)
        return;
    for (size_t i = 0; i < st->n_formats; i++)
        free(st->formats[i].name);
    for (size_t i = 0; i < st->n_codecs; i++)
        free(st->codecs[i].name);
    free(st->formats);
    free(st->codecs);
    unsigned int version = st->version;
    memset(st, 0, sizeof(*st));
    st->version = version;
}

BLOBSTORE_API int blobstore_stats(blobstore_store_stats *out, blobstore *bs)
{
    if (!out || !bs)
        return bs__error(BLOBSTORE_EINVAL, "NULL argument");
    if (out->version < 1 || out->version > BLOBSTORE_STATS_VERSION)
        return bs__error(BLOBSTORE_EINVAL,
                         "blobstore_store_stats version %u is not supported (this library "
                         "knows versions 1..%d; initialise with BLOBSTORE_STORE_STATS_INIT)",
                         out->version, BLOBSTORE_STATS_VERSION);
    unsigned int version = out->version;
    memset(out, 0, sizeof(*out));
    out->version = version;
    fold_ctx f = {out, 0, 0};
    blobstore_meta_stats st;
    memset(&st, 0, sizeof(st));
    st.group = fold_group;
    st.ctx = &f;
    st.index_bytes = -1;
    int rc = bs__tx_begin(bs, 0);
    if (!rc) {
        if (bs->meta->version >= 3 && bs->meta->stats)
            rc = bs->meta->stats(bs->meta, &st);
        else
            rc = stats_by_iterating(bs, &st);
        int rc2 = bs__tx_end(bs, 1);
        if (!rc)
            rc = rc2;
    }
    if (rc) {
        blobstore_stats_free(out);
        return rc;
    }
    if (out->n_formats) /* NULL when empty: no qsort of it (undefined) */
        qsort(out->formats, out->n_formats, sizeof(*out->formats), cmp_group);
    if (out->n_codecs)
        qsort(out->codecs, out->n_codecs, sizeof(*out->codecs), cmp_group);
    out->inline_entries = out->entries - f.blob_entries;
    out->blobs = f.blob_entries - st.shared_entries;
    out->blob_bytes = f.blob_file_size - st.shared_bytes;
    out->dedup_saved_bytes = st.shared_bytes;
    out->index_bytes = st.index_bytes >= 0 ? st.index_bytes : index_files_size(bs);
    return 0;
}
