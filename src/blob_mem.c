/*
 * blob_mem.c - the memory blob backend: objects in a hash table in this
 * process. Committed objects are immutable and reference-counted, so a reader
 * keeps its object alive while a writer replaces or removes the name.
 */
#include "internal.h"

#include <pthread.h>

typedef struct mem_obj {
    struct mem_obj *next; /* hash chain */
    char *name;
    unsigned char *data;
    size_t len;
    int refs; /* the table's reference plus open readers; under the lock */
} mem_obj;

typedef struct {
    blobstore_blob_backend parent;
    pthread_mutex_t lock;
    mem_obj **slots;
    size_t nslots, count;
} mem_backend;

typedef struct {
    blobstore_blob_writer parent;
    mem_backend *be;
    bs_buf buf;
} mem_writer;

typedef struct {
    blobstore_blob_reader parent;
    mem_backend *be;
    mem_obj *obj;
    size_t pos;
} mem_reader;

static size_t hash_name(const char *s)
{
    size_t h = 1469598103934665603ull;
    while (*s)
        h = (h ^ (unsigned char)*s++) * 1099511628211ull;
    return h;
}

static mem_obj **find_slot(mem_backend *be, const char *name)
{
    mem_obj **p = &be->slots[hash_name(name) & (be->nslots - 1)];
    while (*p && strcmp((*p)->name, name) != 0)
        p = &(*p)->next;
    return p;
}

static void obj_unref(mem_obj *o)
{
    if (--o->refs == 0) {
        free(o->name);
        free(o->data);
        free(o);
    }
}

static int grow(mem_backend *be)
{
    size_t n = be->nslots * 2;
    mem_obj **s = bs__calloc(n, sizeof(*s));
    if (!s)
        return BLOBSTORE_ENOMEM;
    for (size_t i = 0; i < be->nslots; i++) {
        mem_obj *o = be->slots[i];
        while (o) {
            mem_obj *next = o->next;
            size_t k = hash_name(o->name) & (n - 1);
            o->next = s[k];
            s[k] = o;
            o = next;
        }
    }
    free(be->slots);
    be->slots = s;
    be->nslots = n;
    return 0;
}

static int mw_write(blobstore_blob_writer *pw, const void *p, size_t n)
{
    return bs__buf_append(&((mem_writer *)pw)->buf, p, n);
}

static void mw_abort(blobstore_blob_writer *pw)
{
    mem_writer *w = (mem_writer *)pw;
    bs__buf_free(&w->buf);
    free(w);
}

static int mw_commit(blobstore_blob_writer *pw, const char *name, int sync)
{
    mem_writer *w = (mem_writer *)pw;
    mem_backend *be = w->be;
    (void)sync;
    mem_obj *o = bs__calloc(1, sizeof(*o));
    char *nm = bs__strdup(name);
    if (!o || !nm) {
        free(o);
        free(nm);
        mw_abort(pw);
        return BLOBSTORE_ENOMEM;
    }
    o->name = nm;
    o->data = w->buf.data;
    o->len = w->buf.len;
    o->refs = 1;
    free(w);
    pthread_mutex_lock(&be->lock);
    int rc = be->count * 2 >= be->nslots ? grow(be) : 0;
    if (!rc) {
        mem_obj **slot = find_slot(be, name);
        if (*slot) { /* replace: unlink the old object */
            mem_obj *old = *slot;
            o->next = old->next;
            *slot = o;
            obj_unref(old);
        } else {
            o->next = NULL;
            *slot = o;
            be->count++;
        }
    }
    pthread_mutex_unlock(&be->lock);
    if (rc)
        obj_unref(o);
    return rc;
}

static int mem_writer_new(blobstore_blob_writer **out, blobstore_blob_backend *pbe)
{
    mem_writer *w = bs__calloc(1, sizeof(*w));
    if (!w)
        return BLOBSTORE_ENOMEM;
    w->be = (mem_backend *)pbe;
    w->parent.write = mw_write;
    w->parent.commit = mw_commit;
    w->parent.abort = mw_abort;
    *out = &w->parent;
    return 0;
}

static int mr_read(blobstore_blob_reader *pr, void *buf, size_t cap, size_t *out_n)
{
    mem_reader *r = (mem_reader *)pr;
    size_t n = r->obj->len - r->pos;
    if (n > cap)
        n = cap;
    memcpy(buf, r->obj->data + r->pos, n);
    r->pos += n;
    *out_n = n;
    return 0;
}

static void mr_close(blobstore_blob_reader *pr)
{
    mem_reader *r = (mem_reader *)pr;
    pthread_mutex_lock(&r->be->lock);
    obj_unref(r->obj);
    pthread_mutex_unlock(&r->be->lock);
    free(r);
}

static int mem_reader_new(blobstore_blob_reader **out, blobstore_blob_backend *pbe,
                          const char *name)
{
    mem_backend *be = (mem_backend *)pbe;
    mem_reader *r = bs__calloc(1, sizeof(*r));
    if (!r)
        return BLOBSTORE_ENOMEM;
    pthread_mutex_lock(&be->lock);
    mem_obj *o = *find_slot(be, name);
    if (o)
        o->refs++;
    pthread_mutex_unlock(&be->lock);
    if (!o) {
        free(r);
        return bs__error(BLOBSTORE_ENOTFOUND, "blob %s does not exist", name);
    }
    r->be = be;
    r->obj = o;
    r->parent.read = mr_read;
    r->parent.close = mr_close;
    *out = &r->parent;
    return 0;
}

static int mem_read_range(blobstore_blob_backend *pbe, const char *name, uint64_t off, void *buf,
                          size_t len, size_t *out_n)
{
    mem_backend *be = (mem_backend *)pbe;
    *out_n = 0;
    pthread_mutex_lock(&be->lock);
    mem_obj *o = *find_slot(be, name);
    if (o && off < o->len) {
        *out_n = o->len - off < len ? o->len - (size_t)off : len;
        memcpy(buf, o->data + off, *out_n);
    }
    pthread_mutex_unlock(&be->lock);
    return o ? 0 : bs__error(BLOBSTORE_ENOTFOUND, "blob %s does not exist", name);
}

static int mem_exists(blobstore_blob_backend *pbe, const char *name)
{
    mem_backend *be = (mem_backend *)pbe;
    pthread_mutex_lock(&be->lock);
    int found = *find_slot(be, name) != NULL;
    pthread_mutex_unlock(&be->lock);
    return found;
}

static int mem_remove(blobstore_blob_backend *pbe, const char *name)
{
    mem_backend *be = (mem_backend *)pbe;
    pthread_mutex_lock(&be->lock);
    mem_obj **slot = find_slot(be, name), *o = *slot;
    if (o) {
        *slot = o->next;
        be->count--;
        obj_unref(o);
    }
    pthread_mutex_unlock(&be->lock);
    return o ? 0 : bs__error(BLOBSTORE_ENOTFOUND, "blob %s does not exist", name);
}

static int mem_list(blobstore_blob_backend *pbe, blobstore_blob_list_fn fn, void *ctx)
{
    mem_backend *be = (mem_backend *)pbe;
    /* Copy the names first: fn may call back into the backend. */
    pthread_mutex_lock(&be->lock);
    size_t n = 0;
    char **names = bs__calloc(be->count, sizeof(char *));
    int rc = names ? 0 : BLOBSTORE_ENOMEM;
    for (size_t i = 0; !rc && i < be->nslots; i++)
        for (mem_obj *o = be->slots[i]; o && !rc; o = o->next)
            if (!(names[n++] = bs__strdup(o->name)))
                rc = BLOBSTORE_ENOMEM;
    pthread_mutex_unlock(&be->lock);
    for (size_t i = 0; !rc && i < n; i++)
        rc = fn(ctx, names[i], 0);
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return rc;
}

static void mem_free(blobstore_blob_backend *pbe)
{
    mem_backend *be = (mem_backend *)pbe;
    if (!be)
        return;
    for (size_t i = 0; i < be->nslots; i++) {
        mem_obj *o = be->slots[i];
        while (o) {
            mem_obj *next = o->next;
            obj_unref(o);
            o = next;
        }
    }
    free(be->slots);
    pthread_mutex_destroy(&be->lock);
    free(be);
}

BLOBSTORE_API int blobstore_blob_backend_mem_new(blobstore_blob_backend **out)
{
    if (!out)
        return bs__error(BLOBSTORE_EINVAL, "out is NULL");
    mem_backend *be = bs__calloc(1, sizeof(*be));
    if (!be)
        return BLOBSTORE_ENOMEM;
    be->nslots = 64;
    be->slots = bs__calloc(be->nslots, sizeof(*be->slots));
    if (!be->slots) {
        free(be);
        return BLOBSTORE_ENOMEM;
    }
    pthread_mutex_init(&be->lock, NULL);
    be->parent.version = BLOBSTORE_BLOB_BACKEND_VERSION;
    be->parent.read_range = mem_read_range;
    be->parent.writer = mem_writer_new;
    be->parent.reader = mem_reader_new;
    be->parent.exists = mem_exists;
    be->parent.remove = mem_remove;
    be->parent.list = mem_list;
    be->parent.free = mem_free;
    *out = &be->parent;
    return 0;
}
