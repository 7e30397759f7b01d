/*
 * store_migrate.c - migrate: every entry of one store copied into another.
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

/* ---- migrate ---- */

typedef struct {
    blobstore *dst, *src;
    blobstore_migrate_stats *st;
    blobstore_problem_fn fn;
    void *ctx;
    int stop, bad;
} migrate_ctx;

static void migrate_report(migrate_ctx *m, blobstore_problem_kind kind, const blobstore_entry *e)
{
    blobstore_problem p = {kind, e->key, e->blob, blobstore_errmsg(), 0};
    m->st->failed++;
    if (m->fn && !m->stop && m->fn(m->ctx, &p) != 0)
        m->stop = 1;
}

/* Copy e's stored bytes (frame or raw file, as stored: nothing is
 * recompressed) into dst under a name of dst's, filling ne->blob or
 * ne->inline_data. */
/* The entry record of e's blob in dst (a sidecar, or a frame's trailer),
 * from its entry; malloc'd, NULL: out of memory. */
static char *migrate_record(blobstore *dst, const blobstore_entry *e)
{
    json_error_t err;
    json_t *m = json_loads(e->metadata ? e->metadata : "{}", 0, &err);
    json_t *info = e->info ? json_loads(e->info, 0, &err) : NULL;
    json_t *r = json_pack("{s:s, s:o?, s:o?, s:s, s:s}", "format", e->format, "metadata", m, "info",
                          info, "at", e->created_at ? e->created_at : "", "compression",
                          e->compression ? e->compression : "none");
    if (r && dst->ca && json_object_set_new(r, "keyrecs", json_integer(1)) != 0) {
        json_decref(r);
        r = NULL;
    }
    if (r && !dst->ca && json_object_set_new(r, "key", json_string(e->key)) != 0) {
        json_decref(r);
        r = NULL;
    }
    char *text = r ? bs__json_dumps(r) : NULL;
    json_decref(r);
    return text;
}

/* The sidecar of a file stored as it is, from its entry. */
static int migrate_sidecar(blobstore *dst, const blobstore_entry *e, const char *name)
{
    char *text = migrate_record(dst, e);
    int rc = text ? bs__write_sidecar(dst, name, text, e->content_hash, e->size) : BLOBSTORE_ENOMEM;
    free(text);
    return rc;
}

static int migrate_bytes(blobstore *dst, blobstore *src, const blobstore_entry *e,
                         blobstore_entry *ne)
{
    int compact = e->inline_data && !e->raw && bs__inline_is_compact(e->inline_data, e->inline_len);
    if (e->inline_data && dst->can_inline && (!compact || dst->compact_inline)) {
        if (!(ne->inline_data = bs__malloc(e->inline_len ? e->inline_len : 1)))
            return BLOBSTORE_ENOMEM;
        memcpy(ne->inline_data, e->inline_data, e->inline_len);
        ne->inline_len = e->inline_len;
        return 0;
    }
    const char *dot = e->blob ? strrchr(e->blob, '.') : NULL;
    const char *ext = dot && bs__ext_check(dot) == 0 ? dot : bs__format(e->format)->ext;
    char name[128];
    int rc = bs__make_blob_name(name, e->key, e->content_hash, dst->ca, ext);
    if (rc)
        return rc;
    if (!(ne->blob = bs__strdup(name)))
        return BLOBSTORE_ENOMEM;
    if (dst->ca && dst->blobs->exists(dst->blobs, name) == 1)
        return 0; /* identical content is there already */
    blob_src s = {NULL, NULL};
    mem_src mem = {e->inline_data, e->inline_len, 0};
    bs_buf framed = {0};
    if (e->inline_data && !e->raw) {
        /* an inline value's frame carries no record: the blob file gets
         * one, for a rebuild of dst */
        char *rec = migrate_record(dst, e);
        rc = !rec      ? BLOBSTORE_ENOMEM
             : compact ? bs__inline_to_frame(e->inline_data, e->inline_len, e->content_hash,
                                             e->size, rec, &framed)
                       : bs__frame_with_record(e->inline_data, e->inline_len, rec, &framed);
        free(rec);
        if (rc) {
            bs__buf_free(&framed);
            return rc;
        }
        mem.p = framed.data;
        mem.len = framed.len;
        ne->file_size = framed.len;
    }
    if (e->inline_data || !e->blob)
        s.m = &mem;
    else if ((rc = src->blobs->reader(&s.r, src->blobs, e->blob)) != 0)
        return rc;
    blobstore_blob_writer *w = NULL;
    unsigned char *buf = bs__malloc(IO_CHUNK);
    /* a content-addressed name is written only once its bytes are known */
    rc = buf ? bs__blob_writer(dst, &w, dst->ca ? NULL : name) : BLOBSTORE_ENOMEM;
    while (!rc) {
        size_t n = 0;
        if ((rc = bs__src_read(&s, buf, IO_CHUNK, &n)) != 0 || n == 0)
            break;
        rc = w->write(w, buf, n);
    }
    if (!rc) {
        rc = w->commit(w, name, dst->durable);
        w = NULL;
    }
    if (!rc && e->raw) /* a file stored as it is: its sidecar, for a rebuild of dst */
        rc = migrate_sidecar(dst, e, name);
    if (w)
        w->abort(w);
    if (s.r)
        s.r->close(s.r);
    bs__buf_free(&framed);
    free(buf);
    return rc;
}

/* Copy one entry; 1 if it was already there, 0 if copied, or an error
 * (BLOBSTORE_ECORRUPT / ENOTFOUND: the source's blob is bad or missing). */
static int migrate_one(migrate_ctx *m, const blobstore_entry *e)
{
    blobstore *dst = m->dst;
    blobstore_entry have;
    int rc = bs__get_entry(dst, e->key, &have);
    if (rc == 0) {
        int same = have.content_hash && strcmp(have.content_hash, e->content_hash) == 0 &&
                   have.format && e->format && strcmp(have.format, e->format) == 0 &&
                   strcmp(have.metadata, e->metadata) == 0;
        blobstore_entry_clear(&have);
        if (same)
            return 1;
    } else if (rc != BLOBSTORE_ENOTFOUND) {
        return rc;
    }
    blobstore_entry ne;
    if ((rc = blobstore_entry_copy(&ne, e)) != 0)
        return rc;
    free(ne.blob);
    free(ne.inline_data);
    ne.blob = NULL;
    ne.inline_data = NULL;
    ne.inline_len = 0;
    if ((rc = bs__op_enter(dst)) != 0) {
        blobstore_entry_clear(&ne);
        return rc;
    }
    rc = migrate_bytes(dst, m->src, e, &ne);
    /* The copy is checked as it now reads in dst: every chunk checksum and
     * the full SHA-256 of the content. */
    if (!rc)
        rc = bs__decode_entry(dst, &ne, bs__null_sink, NULL, 1);
    if (!rc) {
        rc = bs__commit_entry(dst, &ne, 0, NULL);
        if (!rc)
            m->st->bytes += ne.file_size;
    } else if (ne.blob && !dst->ca) {
        bs__remove_blob_quiet(dst, ne.blob);
    }
    bs__op_leave(dst);
    blobstore_entry_clear(&ne);
    return rc;
}

static int migrate_visit(void *ctx, blobstore_entry *e)
{
    migrate_ctx *m = ctx;
    m->st->entries++;
    int r = migrate_one(m, e);
    if (r == 1) {
        m->st->skipped++;
    } else if (r == 0) {
        m->st->copied++;
    } else if (r == BLOBSTORE_ECORRUPT || r == BLOBSTORE_ENOTFOUND || r == BLOBSTORE_EUNSUPPORTED) {
        if (r == BLOBSTORE_ENOTFOUND)
            bs__error(r, "key \"%s\": its blob %s is missing in the source", e->key,
                      e->blob ? e->blob : "");
        migrate_report(
            m, r == BLOBSTORE_ENOTFOUND ? BLOBSTORE_PROBLEM_DANGLING : BLOBSTORE_PROBLEM_CORRUPT,
            e);
        m->bad = 1;
    } else {
        return r; /* I/O: stop; a rerun resumes */
    }
    return m->stop;
}

BLOBSTORE_API int blobstore_migrate(blobstore_migrate_stats *out, blobstore *dst, blobstore *src,
                                    blobstore_problem_fn fn, void *ctx)
{
    blobstore_migrate_stats st;
    memset(&st, 0, sizeof(st));
    if (out)
        *out = st;
    if (!dst || !src || dst == src)
        return bs__error(BLOBSTORE_EINVAL, "migrate needs two different open stores");
    if (dst->ca && !src->ca)
        return bs__error(BLOBSTORE_EINVAL,
                         "cannot migrate into a content-addressable store from one that is "
                         "not: its keys are not content hashes");
    if (dst->readonly)
        return bs__refuse_readonly(dst);
    migrate_ctx m = {dst, src, &st, fn, ctx, 0, 0};
    int rc = bs__each_entry(src, migrate_visit, &m);
    if (out)
        *out = st;
    if (!rc && m.bad)
        rc = bs__error(BLOBSTORE_ECORRUPT, "%zu of %zu entries could not be copied", st.failed,
                       st.entries);
    return rc;
}

/* ---- migrate to other backends, in place or into another directory ---- */

#define MIGRATING_FILE SETTINGS_FILE ".migrating" /* the new store's settings, in place */

/* The destination's options: to's backends, directory and sharding; src's
 * codec, level and content addressing. */
static int migrate_options(blobstore_options *o, const blobstore *src, const blobstore_options *to,
                           int in_place)
{
    if (to->meta_backend || to->blob_backend_impl)
        return bs__error(BLOBSTORE_EINVAL, "to migrate to a custom backend, open the destination "
                                           "with it and call blobstore_migrate()");
    o->cache_dir = to->cache_dir;
    o->backend = to->backend;
    o->blob_backend = to->blob_backend;
    o->shard_chars = to->shard_chars;
    o->durability = to->durability;
    o->compression = src->codec->name;
    o->compression_level = src->level;
    o->content_addressable = src->ca ? BLOBSTORE_YES : 0;
    const bs_blob_kind *bk = o->blob_backend ? bs__blob_kind(o->blob_backend) : NULL;
    if (o->backend && !bs__meta_kind(o->backend))
        return BLOBSTORE_EINVAL;
    if (o->blob_backend && !bk)
        return BLOBSTORE_EINVAL;
    if (bk && bk->in_memory)
        return bs__error(BLOBSTORE_EINVAL,
                         "cannot migrate to the memory blob backend: the copy would vanish with "
                         "this process");
    if (!in_place) {
        if (!o->cache_dir || !*o->cache_dir)
            return bs__error(BLOBSTORE_EINVAL, "migrate needs a directory for the new store "
                                               "(or BLOBSTORE_MIGRATE_IN_PLACE)");
        return 0;
    }
    /* In place: the new store is set up in src's directory beside it. */
    if (!src->dir)
        return bs__error(BLOBSTORE_EINVAL, "a store in memory cannot move in place");
    if (o->cache_dir && strcmp(o->cache_dir, src->dir) != 0)
        return bs__error(BLOBSTORE_EINVAL,
                         "a migration in place stays in %s: give no other directory", src->dir);
    if (!o->backend && !o->blob_backend)
        return bs__error(BLOBSTORE_EINVAL,
                         "name the metadata and/or blob backend to move the store in %s to",
                         src->dir);
    o->backend = o->backend ? o->backend : src->backend_name;
    o->blob_backend = o->blob_backend ? o->blob_backend : src->blob_backend_name;
    if (!strcmp(o->backend, src->backend_name) && !strcmp(o->blob_backend, src->blob_backend_name))
        return bs__error(BLOBSTORE_EINVAL, "the store in %s already uses %s and %s", src->dir,
                         o->backend, o->blob_backend);
    const bs_meta_kind *mk = bs__meta_kind(o->backend);
    if (!mk)
        return BLOBSTORE_EINVAL;
    if (mk->files && !strcmp(o->backend, src->backend_name))
        return bs__error(BLOBSTORE_EINVAL,
                         "the new store would share this store's own %s index files: migrate "
                         "it into another directory",
                         src->backend_name);
    o->cache_dir = src->dir;
    o->settings_name = MIGRATING_FILE;
    return bs__refuse_readonly(src);
}

/* The index files of the new store's kind that an earlier store in this
 * directory left (say, before it moved to PostgreSQL) are stale: set aside,
 * never adopted. Not when an unfinished migration to the same backends is
 * resumed: then they are its own. */
static int set_aside_stale(const blobstore *src, const blobstore_options *o)
{
    char *mp = bs__path_join(src->dir, MIGRATING_FILE);
    if (!mp)
        return BLOBSTORE_ENOMEM;
    struct stat st;
    int resuming = lstat(mp, &st) == 0;
    free(mp);
    const bs_meta_kind *mk = bs__meta_kind_find(o->backend);
    return resuming || !mk ? 0 : bs__set_aside(src->dir, mk->files, "old", 1);
}

BLOBSTORE_API int blobstore_migrate_to(blobstore_migrate_stats *out, blobstore *src,
                                       const blobstore_options *to, unsigned int flags,
                                       blobstore_problem_fn fn, void *ctx)
{
    if (out)
        memset(out, 0, sizeof(*out));
    if (!src || !to)
        return bs__error(BLOBSTORE_EINVAL, "NULL argument");
    if (to->version < 1 || to->version > BLOBSTORE_OPTIONS_VERSION)
        return bs__error(BLOBSTORE_EINVAL, "blobstore_options version %u is not supported",
                         to->version);
    if (flags & ~BLOBSTORE_MIGRATE_IN_PLACE)
        return bs__error(BLOBSTORE_EINVAL, "unknown migrate flags 0x%x", flags);
    int in_place = (flags & BLOBSTORE_MIGRATE_IN_PLACE) != 0;
    blobstore_options o = BLOBSTORE_OPTIONS_INIT;
    int rc = migrate_options(&o, src, to, in_place);
    if (!rc && in_place)
        rc = set_aside_stale(src, &o);
    blobstore *dst = NULL;
    if (!rc && (rc = blobstore_open(&dst, &o)) == BLOBSTORE_ECONFLICT && in_place)
        rc = bs__error_wrap(rc,
                            "%s/%s is left by an unfinished migration to other backends: "
                            "run that one again, or remove the file",
                            src->dir, MIGRATING_FILE);
    if (!rc)
        rc = blobstore_migrate(out, dst, src, fn, ctx);
    bs_error_state es;
    bs__error_state_capture(&es, rc);
    blobstore_close(dst);
    rc = bs__error_state_restore(&es);
    if (!rc && in_place) /* the switch: one rename */
        rc = bs__settings_switch(src->dir, MIGRATING_FILE);
    return rc;
}
