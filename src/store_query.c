/*
 * store_query.c - metadata, delete, exists, listing, queries (sorting and paging), clear, and
 * visiting every entry.
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

/* A clear that does not fit on a full disk deletes this many entries a
 * transaction (see "space to free space" in store_open.c). */
#define CLEAR_CHUNK 64

/* ---- metadata ---- */

static json_t *entry_json(const blobstore_entry *e)
{
    json_error_t err;
    json_t *m = json_loads(e->metadata ? e->metadata : "{}", 0, &err);
    json_t *o = json_object();
    if (!m || !o) {
        json_decref(m);
        json_decref(o);
        return NULL;
    }
    if (e->info) {
        json_t *info = json_loads(e->info, 0, &err);
        if (json_is_object(info)) {
            const char *k;
            json_t *v;
            json_object_foreach(info, k, v)
            {
                if (k[0] != '_') /* the store's own bookkeeping */
                    json_object_set(o, k, v);
            }
        }
        json_decref(info);
    }
    json_object_set_new(o, "key", json_string(e->key));
    json_object_set_new(o, "metadata", m);
    json_object_set_new(o, "size", json_integer((json_int_t)e->size));
    json_object_set_new(o, "file_size", json_integer((json_int_t)e->file_size));
    json_object_set_new(o, "format", json_string(e->format));
    json_object_set_new(o, "compression", json_string(e->compression ? e->compression : "none"));
    json_object_set_new(o, "content_hash", json_string(e->content_hash));
    json_object_set_new(o, "created_at", e->created_at ? json_string(e->created_at) : json_null());
    json_object_set_new(o, "updated_at", e->updated_at ? json_string(e->updated_at) : json_null());
    json_object_set_new(o, "blob", e->blob ? json_string(e->blob) : json_null());
    json_object_set_new(o, "storage",
                        json_string(e->blob ? (e->raw ? "file" : "framed") : "inline"));
    return o;
}

BLOBSTORE_API int blobstore_get_metadata(char **out_json, blobstore *bs, const char *key)
{
    if (!out_json)
        return bs__error(BLOBSTORE_EINVAL, "out_json is NULL");
    *out_json = NULL;
    blobstore_entry e;
    int rc = bs__get_entry(bs, key, &e);
    if (rc)
        return rc;
    json_t *o = entry_json(&e);
    blobstore_entry_clear(&e);
    if (o)
        *out_json = bs__json_dumps(o);
    json_decref(o);
    return *out_json ? 0 : bs__error(BLOBSTORE_ENOMEM, "out of memory");
}

BLOBSTORE_API int blobstore_changes(blobstore *bs, uint64_t *theirs, uint64_t *ours)
{
    if (!bs || !theirs || !ours)
        return bs__error(BLOBSTORE_EINVAL, "NULL argument");
    pthread_mutex_lock(&bs->mu);
    *ours = bs->writes;
    int rc = bs->meta->ctl ? bs->meta->ctl(bs->meta, BLOBSTORE_META_CTL_DATA_VERSION, theirs)
                           : BLOBSTORE_EUNSUPPORTED;
    pthread_mutex_unlock(&bs->mu);
    if (rc == BLOBSTORE_EUNSUPPORTED)
        return bs__error(rc, "the %s index keeps no change counter",
                         bs->backend_name ? bs->backend_name : "custom");
    return rc;
}

BLOBSTORE_API int blobstore_update_metadata(blobstore *bs, const char *key, const char *json)
{
    json_t *patch;
    if (!bs)
        return bs__error(BLOBSTORE_EINVAL, "store is NULL");
    int rc = bs__key_check(key);
    if (rc)
        return rc;
    if (!json)
        return bs__error(BLOBSTORE_EINVAL, "metadata is NULL");
    if ((rc = bs__check_json_object(&patch, json, "metadata")) != 0)
        return rc;
    blobstore_entry e;
    memset(&e, 0, sizeof(e));
    if ((rc = bs__tx_begin(bs, 1)) != 0) {
        json_decref(patch);
        return rc;
    }
    rc = bs->meta->get(bs->meta, key, &e);
    if (!rc) {
        json_error_t err;
        json_t *m = json_loads(e.metadata, 0, &err);
        char now[32], *text = NULL, *upd = NULL;
        bs__now_iso(now);
        if (!m || json_object_update(m, patch) != 0 || !(text = bs__json_dumps(m)) ||
            !(upd = bs__strdup(now))) {
            free(text);
            rc = bs__error(BLOBSTORE_ENOMEM, "cannot merge metadata");
        } else {
            free(e.metadata);
            e.metadata = text;
            free(e.updated_at);
            e.updated_at = upd;
            /* the key record says what a rebuild restores: the new metadata */
            rc = bs__keyrec_wanted(bs, &e) ? bs__keyrec_write(bs, &e) : 0;
            if (!rc)
                rc = bs->meta->put(bs->meta, &e);
        }
        json_decref(m);
    }
    int rc2 = bs__tx_end(bs, rc == 0);
    blobstore_entry_clear(&e);
    json_decref(patch);
    return rc ? rc : rc2;
}

/* *release: a content-addressed store's blob to release after the lock */
static int delete_once(blobstore *bs, const char *key, char **release)
{
    int rc;
    blobstore_entry e;
    memset(&e, 0, sizeof(e));
    if ((rc = bs__tx_begin(bs, 1)) == 0) {
        rc = bs->meta->get(bs->meta, key, &e);
        if (!rc)
            rc = bs->meta->remove(bs->meta, key);
        int batch = bs->batch;
        if (!rc && batch && e.blob)
            rc = bs__remember(&bs->batch_old, &bs->n_old, e.blob);
        int rc2 = bs__tx_end(bs, rc == 0);
        if (!rc)
            rc = rc2;
        if (!rc && e.blob) /* its key record, after the commit */
            bs__keyrec_forget(bs, key, e.blob);
        if (!rc && !batch && e.blob) {
            if (bs->ca) {
                free(*release);
                *release = e.blob;
                e.blob = NULL;
            } else {
                bs__remove_blob_quiet(bs, e.blob);
            }
        }
    }
    blobstore_entry_clear(&e);
    return rc;
}

BLOBSTORE_API int blobstore_delete(blobstore *bs, const char *key)
{
    if (!bs)
        return bs__error(BLOBSTORE_EINVAL, "store is NULL");
    int rc = bs__key_check(key);
    if (rc || (rc = bs__op_enter(bs)) != 0)
        return rc;
    bs__nospace_take();
    char *release = NULL;
    rc = delete_once(bs, key, &release);
    if (rc && !bs->batch && bs__nospace_take()) { /* full disk: use the reserve */
        bs__reserve_release(bs);
        rc = delete_once(bs, key, &release);
        if (!rc)
            bs__reserve_make(bs);
    }
    bs__op_leave(bs);
    if (release)
        bs__release_blob(bs, release);
    free(release);
    return rc;
}

BLOBSTORE_API int blobstore_exists(blobstore *bs, const char *key)
{
    blobstore_entry e;
    int rc = bs__get_entry(bs, key, &e);
    if (rc == BLOBSTORE_ENOTFOUND) {
        bs__error_clear();
        return 0;
    }
    if (rc)
        return rc;
    rc = (e.inline_data || !e.blob) ? 1 : bs->blobs->exists(bs->blobs, e.blob);
    blobstore_entry_clear(&e);
    return rc;
}

/* ---- list / clear ---- */

BLOBSTORE_API void blobstore_list_free(blobstore_list *list)
{
    if (!list)
        return;
    for (size_t i = 0; i < list->count; i++)
        free(list->keys[i]);
    free(list->keys);
    list->keys = NULL;
    list->count = 0;
}

static int grow_arrays(collect_ctx *c)
{
    size_t cap = c->cap ? c->cap * 2 : 64;
    char **k = bs__realloc(c->keys, cap * sizeof(char *));
    if (!k)
        return BLOBSTORE_ENOMEM;
    c->keys = k;
    char **b = bs__realloc(c->blobs, cap * sizeof(char *));
    if (!b)
        return BLOBSTORE_ENOMEM;
    c->blobs = b;
    if (c->order_path) {
        json_t **o = bs__realloc(c->order, cap * sizeof(json_t *));
        if (!o)
            return BLOBSTORE_ENOMEM;
        c->order = o;
    }
    if (c->with_meta) {
        char **m = bs__realloc(c->meta_text, cap * sizeof(char *));
        if (!m)
            return BLOBSTORE_ENOMEM;
        c->meta_text = m;
    }
    c->cap = cap;
    return 0;
}

/* bs__collect's stop signal once stop_at entries are collected: positive,
 * so never one of the BLOBSTORE_E* codes. */
#define COLLECT_ENOUGH 1

int bs__collect(void *ctx, const blobstore_entry *e)
{
    collect_ctx *c = ctx;
    json_t *m = NULL, *fields = NULL;
    if (c->filter || c->order_path || c->with_meta) {
        json_error_t err;
        m = json_loads(e->metadata, 0, &err);
        if (!m)
            return bs__error(BLOBSTORE_ECORRUPT, "metadata of \"%s\" is not valid JSON", e->key);
        if (c->need_fields || c->with_meta) {
            if (!(fields = entry_json(e))) {
                json_decref(m);
                return BLOBSTORE_ENOMEM;
            }
        }
        if (c->filter && !bs__filter_match(c->filter, m, fields)) {
            json_decref(m);
            json_decref(fields);
            return 0;
        }
    }
    int rc = c->n == c->cap ? grow_arrays(c) : 0;
    if (!rc) {
        c->keys[c->n] = bs__strdup(e->key);
        c->blobs[c->n] = e->blob ? bs__strdup(e->blob) : NULL;
        if (c->order_path)
            c->order[c->n] = json_incref((json_t *)bs__path_resolve(c->order_path, m, fields));
        if (c->with_meta)
            c->meta_text[c->n] = bs__json_dumps(fields);
        if (!c->keys[c->n] || (e->blob && !c->blobs[c->n]) ||
            (c->with_meta && !c->meta_text[c->n])) {
            free(c->keys[c->n]);
            free(c->blobs[c->n]);
            if (c->order_path)
                json_decref(c->order[c->n]);
            if (c->with_meta)
                free(c->meta_text[c->n]);
            rc = BLOBSTORE_ENOMEM;
        } else if (++c->n == c->stop_at) {
            rc = COLLECT_ENOUGH;
        }
    }
    json_decref(m);
    json_decref(fields);
    return rc;
}

void bs__collect_free(collect_ctx *c)
{
    for (size_t i = 0; i < c->n; i++) {
        free(c->keys[i]);
        free(c->blobs[i]);
        if (c->order)
            json_decref(c->order[i]);
        if (c->meta_text)
            free(c->meta_text[i]);
    }
    free(c->keys);
    free(c->blobs);
    free(c->order);
    free(c->meta_text);
    json_decref(c->filter);
}

static int prepare_filter(collect_ctx *c, const char *filter)
{
    int rc = bs__check_json_object(&c->filter, filter, "filter");
    if (rc == BLOBSTORE_EINVAL && filter) {
        char msg[1024];
        snprintf(msg, sizeof(msg), "%s", blobstore_errmsg());
        return bs__error(BLOBSTORE_EINVAL, "invalid filter: %s", msg + strlen("filter "));
    }
    if (!rc && c->filter) {
        rc = bs__filter_check(c->filter);
        c->need_fields = bs__filter_uses_fields(c->filter);
    }
    return rc;
}

static int run_scan(collect_ctx *c, blobstore *bs, const char *prefix, const char *filter)
{
    int rc = bs__tx_begin(bs, 0);
    if (!rc) {
        if (c->filter && filter && bs->meta->version >= 2 && bs->meta->iterate_filtered)
            rc = bs->meta->iterate_filtered(bs->meta, prefix, filter, bs__collect, c);
        else
            rc = bs->meta->iterate(bs->meta, prefix, bs__collect, c);
        if (rc == COLLECT_ENOUGH)
            rc = 0;
        int rc2 = bs__tx_end(bs, 1);
        if (!rc)
            rc = rc2;
    }
    return rc;
}

BLOBSTORE_API int blobstore_list_keys(blobstore_list *out, blobstore *bs, const char *prefix,
                                      const char *filter)
{
    if (!out || !bs)
        return bs__error(BLOBSTORE_EINVAL, "NULL argument");
    out->count = 0;
    out->keys = NULL;
    collect_ctx c;
    memset(&c, 0, sizeof(c));
    int rc = prepare_filter(&c, filter);
    if (!rc)
        rc = run_scan(&c, bs, prefix, filter);
    if (rc) {
        bs__collect_free(&c);
        return rc;
    }
    out->keys = c.keys;
    out->count = c.n;
    c.keys = NULL;
    for (size_t i = 0; i < c.n; i++)
        free(c.blobs[i]);
    free(c.blobs);
    json_decref(c.filter);
    return 0;
}

BLOBSTORE_API void blobstore_result_free(blobstore_result *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->count; i++) {
        free(r->keys[i]);
        if (r->metadata)
            free(r->metadata[i]);
    }
    free(r->keys);
    free(r->metadata);
    memset(r, 0, sizeof(*r));
}

BLOBSTORE_API int blobstore_create_index(blobstore *bs, const char *path)
{
    if (!bs || !path)
        return bs__error(BLOBSTORE_EINVAL, "NULL argument");
    int rc = bs__index_path_check(path);
    if (!rc)
        rc = bs__refuse_readonly(bs);
    if (rc || bs->meta->version < 2 || !bs->meta->create_index)
        return rc;
    pthread_mutex_lock(&bs->mu);
    rc = bs->batch ? bs__error(BLOBSTORE_EINVAL, "cannot create an index inside a batch")
                   : bs->meta->create_index(bs->meta, path);
    pthread_mutex_unlock(&bs->mu);
    return rc;
}

static _Thread_local collect_ctx *sort_ctx;
static _Thread_local int sort_desc;

static int cmp_order(const void *pa, const void *pb)
{
    size_t a = *(const size_t *)pa, b = *(const size_t *)pb;
    json_t *va = sort_ctx->order[a], *vb = sort_ctx->order[b];
    int c = bs__order_compare(va, vb);
    if (c && va && vb && sort_desc)
        c = -c;
    return c ? c : strcmp(sort_ctx->keys[a], sort_ctx->keys[b]);
}

BLOBSTORE_API int blobstore_query_run(blobstore_result *out, blobstore *bs,
                                      const blobstore_query *q)
{
    if (!out || !bs || !q)
        return bs__error(BLOBSTORE_EINVAL, "NULL argument");
    memset(out, 0, sizeof(*out));
    if (q->version < 1 || q->version > BLOBSTORE_QUERY_VERSION)
        return bs__error(BLOBSTORE_EINVAL, "blobstore_query version %u is not supported",
                         q->version);
    collect_ctx c;
    memset(&c, 0, sizeof(c));
    int desc = 0, rc = 0;
    if (q->order_by) {
        c.order_path = q->order_by;
        if (c.order_path[0] == '-') {
            desc = 1;
            c.order_path++;
        } else if (c.order_path[0] == '+') {
            c.order_path++;
        }
        if ((rc = bs__path_check(c.order_path)) != 0) {
            char msg[1024];
            snprintf(msg, sizeof(msg), "%s", blobstore_errmsg());
            return bs__error(BLOBSTORE_EINVAL, "invalid order_by: %s", msg);
        }
        c.need_fields = c.order_path[0] == '@';
    }
    c.with_meta = q->with_metadata != 0;
    /* Unordered, the entries arrive in key order: the first offset + limit
     * that match are the answer, and the scan stops there. */
    if (!c.order_path && q->limit && q->offset < SIZE_MAX - q->limit)
        c.stop_at = q->offset + q->limit;
    if (!(rc = prepare_filter(&c, q->filter)))
        rc = run_scan(&c, bs, q->prefix, q->filter);
    size_t *idx = NULL;
    if (!rc && !(idx = bs__calloc(c.n, sizeof(size_t))))
        rc = BLOBSTORE_ENOMEM;
    if (rc) {
        bs__collect_free(&c);
        return rc;
    }
    for (size_t i = 0; i < c.n; i++)
        idx[i] = i;
    if (c.order_path) { /* keys arrive sorted; order by value, ties by key */
        sort_ctx = &c;
        sort_desc = desc;
        qsort(idx, c.n, sizeof(size_t), cmp_order);
    }
    size_t start = q->offset < c.n ? q->offset : c.n, count = c.n - start;
    if (q->limit && count > q->limit)
        count = q->limit;
    out->keys = bs__calloc(count, sizeof(char *));
    if (c.with_meta)
        out->metadata = bs__calloc(count, sizeof(char *));
    if (!out->keys || (c.with_meta && !out->metadata)) {
        free(out->keys);
        free(out->metadata);
        memset(out, 0, sizeof(*out));
        free(idx);
        bs__collect_free(&c);
        return BLOBSTORE_ENOMEM;
    }
    for (size_t i = 0; i < count; i++) { /* move the selected strings out */
        size_t k = idx[start + i];
        out->keys[i] = c.keys[k];
        c.keys[k] = NULL;
        if (c.with_meta) {
            out->metadata[i] = c.meta_text[k];
            c.meta_text[k] = NULL;
        }
    }
    out->count = count;
    free(idx);
    bs__collect_free(&c);
    return 0;
}

/* Delete the entries of keys[from..to) that still exist in one transaction,
 * then their blobs (as they are now: another process may have replaced
 * some); *n counts them. */
static int clear_range(blobstore *bs, char **keys, size_t from, size_t to, size_t *n)
{
    int rc = bs__tx_begin(bs, 1);
    if (rc)
        return rc;
    char **blobs = bs__calloc(to - from + 1, sizeof(char *));
    size_t done = 0;
    if (!blobs)
        rc = BLOBSTORE_ENOMEM;
    for (size_t i = from; !rc && i < to; i++) {
        blobstore_entry e;
        rc = bs->meta->get(bs->meta, keys[i], &e);
        if (rc == BLOBSTORE_ENOTFOUND) { /* gone meanwhile */
            bs__error_clear();
            rc = 0;
            continue;
        }
        if (!rc && (rc = bs->meta->remove(bs->meta, keys[i])) == 0) {
            blobs[i - from] = e.blob;
            e.blob = NULL;
            done++;
        }
        blobstore_entry_clear(&e);
    }
    int batch = bs->batch;
    for (size_t i = 0; !rc && batch && i < to - from; i++)
        if (blobs[i])
            rc = bs__remember(&bs->batch_old, &bs->n_old, blobs[i]);
    int rc2 = bs__tx_end(bs, rc == 0);
    if (!rc)
        rc = rc2;
    for (size_t i = 0; blobs && i < to - from; i++) {
        if (!rc && blobs[i])
            bs__keyrec_forget(bs, keys[from + i], blobs[i]);
        if (!rc && !batch && blobs[i])
            bs__remove_blob_quiet(bs, blobs[i]);
        free(blobs[i]);
    }
    free(blobs);
    if (!rc)
        *n += done;
    return rc;
}

BLOBSTORE_API int blobstore_clear(size_t *out_count, blobstore *bs)
{
    if (!bs)
        return bs__error(BLOBSTORE_EINVAL, "store is NULL");
    if (out_count)
        *out_count = 0;
    int rc = bs__op_enter(bs);
    if (rc)
        return rc;
    collect_ctx c;
    memset(&c, 0, sizeof(c));
    size_t n = 0;
    bs__nospace_take();
    if ((rc = bs__tx_begin(bs, 1)) == 0) {
        rc = bs->meta->iterate(bs->meta, NULL, bs__collect, &c);
        for (size_t i = 0; !rc && i < c.n; i++)
            rc = bs->meta->remove(bs->meta, c.keys[i]);
        int batch = bs->batch;
        for (size_t i = 0; !rc && batch && i < c.n; i++)
            if (c.blobs[i])
                rc = bs__remember(&bs->batch_old, &bs->n_old, c.blobs[i]);
        int rc2 = bs__tx_end(bs, rc == 0);
        if (!rc)
            rc = rc2;
        for (size_t i = 0; !rc && i < c.n; i++)
            if (c.blobs[i])
                bs__keyrec_forget(bs, c.keys[i], c.blobs[i]);
        for (size_t i = 0; !rc && !batch && i < c.n; i++)
            if (c.blobs[i])
                bs__remove_blob_quiet(bs, c.blobs[i]);
        if (!rc)
            n = c.n;
    }
    if (rc && !bs->batch && bs__nospace_take()) {
        /* A full disk: with the reserve released, in small transactions
         * whose blobs are removed before the next one needs room. */
        int released = bs__reserve_release(bs);
        rc = 0;
        for (size_t i = 0; !rc && i < c.n; i += CLEAR_CHUNK) {
            size_t to = i + CLEAR_CHUNK < c.n ? i + CLEAR_CHUNK : c.n;
            bs__nospace_take();
            rc = clear_range(bs, c.keys, i, to, &n);
            if (rc && bs__nospace_take()) /* SQLite folded its WAL back: once more */
                rc = clear_range(bs, c.keys, i, to, &n);
        }
        if (!rc && released)
            bs__reserve_make(bs);
    }
    if (!rc && out_count)
        *out_count = n;
    bs__collect_free(&c);
    bs__op_leave(bs);
    return rc;
}

/* ---- visiting every entry ---- */

/* Call fn on every entry of bs, each read afresh (entries deleted meanwhile
 * are skipped), without holding a transaction across calls. fn returns 0
 * to go on, 1 to stop, or an error (which stops and is returned). */
int bs__each_entry(blobstore *bs, int (*fn)(void *ctx, blobstore_entry *e), void *ctx)
{
    collect_ctx c;
    memset(&c, 0, sizeof(c));
    int rc = bs__tx_begin(bs, 0);
    if (!rc) {
        rc = bs->meta->iterate(bs->meta, NULL, bs__collect, &c);
        int rc2 = bs__tx_end(bs, 1);
        if (!rc)
            rc = rc2;
    }
    for (size_t i = 0; !rc && i < c.n; i++) {
        blobstore_entry e;
        rc = bs__get_entry(bs, c.keys[i], &e);
        if (rc == BLOBSTORE_ENOTFOUND) {
            rc = 0; /* deleted meanwhile */
            continue;
        }
        if (!rc)
            rc = fn(ctx, &e);
        blobstore_entry_clear(&e);
        if (bs->progress)
            bs->progress(bs->progress_ctx, i + 1, c.n);
        if (rc == 1) {
            rc = 0;
            break;
        }
    }
    bs__collect_free(&c);
    return rc;
}

BLOBSTORE_API void blobstore_set_progress(blobstore *bs, blobstore_progress_fn fn, void *ctx)
{
    if (!bs)
        return;
    bs->progress = fn;
    bs->progress_ctx = ctx;
}
