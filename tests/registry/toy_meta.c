/*
 * toy_meta.c - a toy metadata backend that registers itself: everything a
 * new backend needs is this file plus its one registry row (TOY_ROW below).
 *
 * It keeps its index in "toy.index" in the store directory (through the JSON
 * backend underneath: a toy), and it is a version 1 backend: its version 2
 * and 3 slots hold functions that must never be called, to show the store
 * does not read slots newer than a backend's version.
 */
#include "registry.h"
#include "toy_meta.h"

int toy_meta_opens, toy_meta_v2_calls;

typedef struct {
    blobstore_meta_backend parent;
    blobstore_meta_backend *inner;
} toy_backend;

#define INNER(be) (((toy_backend *)(be))->inner)

static int toy_begin(blobstore_meta_backend *be, int write)
{
    return INNER(be)->begin(INNER(be), write);
}
static int toy_commit(blobstore_meta_backend *be)
{
    return INNER(be)->commit(INNER(be));
}
static int toy_rollback(blobstore_meta_backend *be)
{
    return INNER(be)->rollback(INNER(be));
}
static int toy_get(blobstore_meta_backend *be, const char *key, blobstore_entry *out)
{
    return INNER(be)->get(INNER(be), key, out);
}
static int toy_put(blobstore_meta_backend *be, const blobstore_entry *e)
{
    return INNER(be)->put(INNER(be), e);
}
static int toy_remove(blobstore_meta_backend *be, const char *key)
{
    return INNER(be)->remove(INNER(be), key);
}
static int toy_iterate(blobstore_meta_backend *be, const char *prefix, blobstore_entry_fn fn,
                       void *ctx)
{
    return INNER(be)->iterate(INNER(be), prefix, fn, ctx);
}
static int toy_ctl(blobstore_meta_backend *be, int op, void *arg)
{
    return INNER(be)->ctl ? INNER(be)->ctl(INNER(be), op, arg) : BLOBSTORE_EUNSUPPORTED;
}
static void toy_free(blobstore_meta_backend *be)
{
    INNER(be)->free(INNER(be));
    free(be);
}
static int toy_never_filtered(blobstore_meta_backend *be, const char *prefix, const char *filter,
                              blobstore_entry_fn fn, void *ctx)
{
    (void)be, (void)prefix, (void)filter, (void)fn, (void)ctx;
    toy_meta_v2_calls++;
    return BLOBSTORE_EIO;
}
static int toy_never_index(blobstore_meta_backend *be, const char *path)
{
    (void)be, (void)path;
    toy_meta_v2_calls++;
    return BLOBSTORE_EIO;
}

static int toy_never_stats(blobstore_meta_backend *be, blobstore_meta_stats *st)
{
    (void)be, (void)st;
    toy_meta_v2_calls++;
    return BLOBSTORE_EIO;
}

int toy_meta_new(blobstore_meta_backend **out, const char *path)
{
    toy_backend *t = calloc(1, sizeof(*t));
    int rc = t ? blobstore_meta_backend_json_new(&t->inner, path, 0) : BLOBSTORE_ENOMEM;
    if (rc) {
        free(t);
        return rc;
    }
    t->parent.version = 1;
    t->parent.begin = toy_begin;
    t->parent.commit = toy_commit;
    t->parent.rollback = toy_rollback;
    t->parent.get = toy_get;
    t->parent.put = toy_put;
    t->parent.remove = toy_remove;
    t->parent.iterate = toy_iterate;
    t->parent.ctl = toy_ctl;
    t->parent.free = toy_free;
    t->parent.iterate_filtered = toy_never_filtered; /* version 2: never read */
    t->parent.create_index = toy_never_index;
    t->parent.stats = toy_never_stats; /* version 3: never read */
    *out = &t->parent;
    return 0;
}

static int toy_ctor(blobstore_meta_backend **out, const bs_backend_args *a)
{
    char *p = a->dir ? bs__path_join(a->dir, "toy.index") : NULL;
    if (a->dir && !p)
        return BLOBSTORE_ENOMEM;
    int rc = toy_meta_new(out, p);
    free(p);
    toy_meta_opens += rc == 0;
    return rc;
}

/* ---- the one registry row ---- */

static const char *const toy_files[] = {"toy.index", "toy.index.journal", NULL};
static const char *const toy_leftovers[] = {"toy.index.lock", NULL};
static const bs_meta_kind TOY_ROW = {"toy", NULL, 0, toy_files, 2, toy_leftovers, toy_ctor};

__attribute__((constructor)) static void toy_register(void)
{
    bs__meta_kind_add(&TOY_ROW);
}
