/*
 * store_open.c - opening and closing a store: its settings read, reconciled with the options and
 * written, the backends chosen, the directory claimed.
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

/* ---- open / close ---- */

void bs__batch_lists_free(blobstore *bs)
{
    for (size_t i = 0; i < bs->n_old; i++)
        free(bs->batch_old[i]);
    for (size_t i = 0; i < bs->n_new; i++)
        free(bs->batch_new[i]);
    free(bs->batch_old);
    free(bs->batch_new);
    bs->batch_old = bs->batch_new = NULL;
    bs->n_old = bs->n_new = 0;
}

BLOBSTORE_API void blobstore_close(blobstore *bs)
{
    if (!bs)
        return;
    bs__reap_wait(bs); /* (a removal a put left running) */
    if (bs->batch) {
        bs->batch = 0;
        bs->meta->rollback(bs->meta);
    }
    bs__batch_lists_free(bs);
    if (bs->meta)
        bs->meta->free(bs->meta);
    if (bs->blobs)
        bs->blobs->free(bs->blobs);
    if (bs->lockfd >= 0)
        close(bs->lockfd);
    pthread_mutex_destroy(&bs->mu);
    pthread_mutex_destroy(&bs->opmu);
    pthread_rwlock_destroy(&bs->oprw);
    free(bs->dir);
    free(bs->backend_name);
    free(bs->blob_backend_name);
    free(bs);
}

static const char *settings_name_of(const blobstore_options *o)
{
    return o->version >= 2 && o->settings_name ? o->settings_name : SETTINGS_FILE;
}

/* ---- space to free space ----
 *
 * On a full disk a delete must still be able to commit: the JSON journal
 * appends its "del" records, SQLite writes WAL frames. So a local store
 * keeps SPACE_RESERVE: a preallocated file of RESERVE_BYTES in its
 * directory. A delete or clear that fails for want of space removes it and
 * tries again (SQLite has also folded its WAL back by then); once the
 * delete has freed space the reserve is made again (and at every open, if it
 * is missing and there is room). A clear that still does not fit deletes in
 * small transactions, each freeing its blobs before the next. */
#define SPACE_RESERVE "space.reserve"
#define RESERVE_BYTES (1 << 20)

/* A store whose index is local: its deletes write to this disk. */
static int has_reserve(const blobstore *bs)
{
    return bs->dir && !bs->readonly && bs->meta_kind && bs->meta_kind->files;
}

/* Best effort: no reserve is made when there is no room for all of it. */
void bs__reserve_make(blobstore *bs)
{
    if (!has_reserve(bs))
        return;
    char *path = bs__path_join(bs->dir, SPACE_RESERVE);
    struct stat sb;
    if (path && lstat(path, &sb) != 0 && errno == ENOENT) {
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd >= 0) {
            int e = posix_fallocate(fd, 0, RESERVE_BYTES);
            close(fd);
            if (e)
                unlink(path);
        }
    }
    free(path);
    bs__error_clear();
}

/* Give the reserve's space back to the disk; 1 if there was one. */
int bs__reserve_release(blobstore *bs)
{
    if (!has_reserve(bs))
        return 0;
    char *path = bs__path_join(bs->dir, SPACE_RESERVE);
    int done = path && unlink(path) == 0;
    free(path);
    return done;
}

/* 1 if name in dir (fd) is an empty directory (not a link to one). */
static int empty_subdir(int dfd, const char *name)
{
    int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        if (fd >= 0)
            close(fd);
        return 0;
    }
    struct dirent *de;
    int empty = 1;
    while (empty && (de = readdir(d)) != NULL)
        empty = !strcmp(de->d_name, ".") || !strcmp(de->d_name, "..");
    closedir(d);
    return empty;
}

static int in_list(const char *const *list, const char *name)
{
    for (size_t i = 0; list && list[i]; i++)
        if (!strcmp(list[i], name))
            return 1;
    return 0;
}

/* Files a store creates before it records its settings: left alone they
 * mean a creation that failed (an unreachable server, a bad URL), not a
 * user's files. Those of every backend in the registry, the lock and the
 * space reserve; a blob backend's directories must be empty. */
static int creation_leftover(int dfd, const char *name)
{
    static const char *const own[] = {"lock", SPACE_RESERVE, NULL};
    const bs_blob_kind *b;
    for (size_t i = 0; (b = bs__blob_kind_at(i)) != NULL; i++)
        if (in_list(b->dirs, name))
            return empty_subdir(dfd, name);
    int ours = in_list(own, name);
    const bs_meta_kind *m;
    for (size_t i = 0; !ours && (m = bs__meta_kind_at(i)) != NULL; i++)
        ours = in_list(m->files, name) || in_list(m->leftovers, name);
    struct stat st;
    return ours && fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode);
}

/* A directory becomes a store only while it is new or empty (or it holds a
 * store's settings, which read_settings found otherwise: a migration in
 * place sets up a second settings file beside them). Empty blobs/ and tmp/
 * directories count as empty (a filesystem blob backend made by the caller
 * for this directory creates them before the store opens), and so do the
 * leftovers of a creation that failed. must_exist: refuse to create one at
 * all. no_create: accept a new or empty directory but create nothing (a
 * read-only open of a store whose settings PostgreSQL holds). sname: the
 * settings file looked for. */
static int claim_dir(const char *dir, const char *sname, int must_exist, int no_create)
{
    struct stat st;
    char *sp = bs__path_join(dir, SETTINGS_FILE);
    if (!sp)
        return BLOBSTORE_ENOMEM;
    int other = strcmp(sname, SETTINGS_FILE) != 0 && lstat(sp, &st) == 0 && S_ISREG(st.st_mode);
    free(sp);
    if (must_exist)
        return bs__error(BLOBSTORE_ENOTFOUND, "%s is not a blobstore store (no %s)", dir, sname);
    if (other)
        return 0;
    DIR *d = opendir(dir);
    if (!d) {
        if (errno == ENOENT)
            return no_create ? 0 : bs__mkdir_p(dir, 0755);
        return bs__error_errno(errno, "cannot open directory %s", dir);
    }
    struct dirent *de;
    const char *found = NULL;
    while (!found && (de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0 &&
            !creation_leftover(dirfd(d), de->d_name))
            found = de->d_name;
    int rc = 0;
    if (found)
        rc = bs__error(BLOBSTORE_ECONFLICT,
                       "%s is not a blobstore store (no %s) and not empty (it holds %s): a "
                       "store is created only in a new or empty directory",
                       dir, sname, found);
    closedir(d);
    return rc;
}

/* What an open decides, step by step (each step below fills its part). */
typedef struct {
    const char *meta_spec, *blob_spec; /* names or URLs; "custom": a backend passed in */
    const char *sname;                 /* the settings file's name */
    char *settings_path;               /* NULL: a store in memory */
    bs_settings rec;                   /* the settings recorded, if found */
    int found;                         /* settings recorded, here or in a shared backend */
    int local;                         /* ... in this directory */
    int shared;                        /* ... by the shared metadata backend */
    int must_exist;                    /* BLOBSTORE_OPEN_EXISTING / READONLY */
    char here[4096];                   /* this directory, to compare with a recorded blob_dir */
} open_plan;

/* The options alone: names known, values in range, custom backends checked. */
static int plan_options(blobstore *bs, const blobstore_options *o, open_plan *p)
{
    int rc = 0;
    if (o->meta_backend)
        rc = bs__meta_backend_check(o->meta_backend);
    else if (o->backend && !bs__meta_kind(o->backend))
        rc = BLOBSTORE_EINVAL;
    if (!rc && o->blob_backend_impl)
        rc = bs__blob_backend_check(o->blob_backend_impl);
    else if (!rc && o->blob_backend && !bs__blob_kind(o->blob_backend))
        rc = BLOBSTORE_EINVAL;
    if (rc)
        return rc;
    p->meta_spec = o->meta_backend ? "custom" : o->backend;
    p->blob_spec = o->blob_backend_impl ? "custom" : o->blob_backend;
    if (o->compression_level && (o->compression_level < 1 || o->compression_level > 9))
        return bs__error(BLOBSTORE_EINVAL, "compression_level must be 1..9, not %d",
                         o->compression_level);
    if (o->shard_chars && o->shard_chars != BLOBSTORE_SHARD_NONE &&
        (o->shard_chars < 1 || o->shard_chars > 8))
        return bs__error(BLOBSTORE_EINVAL, "shard_chars must be 0..8, not %d", o->shard_chars);
    if (o->durability < 0 || o->durability > BLOBSTORE_DURABILITY_RELAXED)
        return bs__error(BLOBSTORE_EINVAL, "unknown durability %d", o->durability);
    if (o->compression && !bs__codec_by_name(o->compression))
        return BLOBSTORE_EINVAL;
    unsigned open_flags = o->version >= 3 ? o->open_flags : 0;
    if (open_flags & ~(BLOBSTORE_OPEN_EXISTING | BLOBSTORE_OPEN_READONLY))
        return bs__error(BLOBSTORE_EINVAL, "unknown open_flags 0x%x", open_flags);
    p->sname = settings_name_of(o);
    if (!*p->sname || strchr(p->sname, '/') || !strcmp(p->sname, ".") || !strcmp(p->sname, ".."))
        return bs__error(BLOBSTORE_EINVAL, "settings_name must be a plain file name, not \"%s\"",
                         p->sname);
    bs->durable = o->durability != BLOBSTORE_DURABILITY_RELAXED;
    bs->full_hash = o->verify_content_hash > 0;
    bs->readonly = (open_flags & BLOBSTORE_OPEN_READONLY) != 0;
    p->must_exist = open_flags != 0;
    return 0;
}

/* The settings in the store directory (none for a store in memory); a
 * directory without them is claimed. */
static int read_local(blobstore *bs, const blobstore_options *o, open_plan *p)
{
    const bs_blob_kind *bk = p->blob_spec ? bs__blob_kind_find(p->blob_spec) : NULL;
    if (bk && bk->in_memory) {
        /* a memory store named after a store on disk would hide it: refused */
        if (!o->cache_dir || !*o->cache_dir)
            return 0;
        char *sp = bs__path_join(o->cache_dir, p->sname);
        if (!sp)
            return BLOBSTORE_ENOMEM;
        bs_settings rec;
        int found = 0, rc = 0;
        struct stat sst;
        memset(&rec, 0, sizeof(rec));
        if (lstat(sp, &sst) == 0 && (rc = bs__settings_read(sp, &rec, &found)) == 0 && found)
            rc = bs__error(BLOBSTORE_ECONFLICT,
                           "the store in %s uses the blob backend \"%s\", not \"memory\" "
                           "(a memory store is a new, empty store of this process only)",
                           o->cache_dir, rec.blob_backend[0] ? rec.blob_backend : "filesystem");
        free(sp);
        return rc;
    }
    const bs_meta_kind *mk = p->meta_spec ? bs__meta_kind_find(p->meta_spec) : NULL;
    bs->dir = bs__strdup(o->cache_dir && *o->cache_dir ? o->cache_dir : ".blobstore");
    p->settings_path = bs->dir ? bs__path_join(bs->dir, p->sname) : NULL;
    if (!p->settings_path)
        return BLOBSTORE_ENOMEM;
    struct stat dst;
    int rc;
    if (stat(bs->dir, &dst) == 0 && !S_ISDIR(dst.st_mode))
        rc = bs__error(BLOBSTORE_ENOTFOUND, "%s is not a blobstore store (no %s)", bs->dir,
                       p->sname);
    else
        rc = bs__settings_read(p->settings_path, &p->rec, &p->found);
    /* A shared backend may record the settings (another machine's store):
     * read_shared checks. */
    if (!rc && !p->found)
        rc = claim_dir(bs->dir, p->sname, p->must_exist && !(mk && mk->shared), bs->readonly);
    p->local = p->found;
    if (!realpath(bs->dir, p->here))
        snprintf(p->here, sizeof(p->here), "%s", bs->dir);
    return rc;
}

/* A metadata backend that machines share (PostgreSQL) records the settings
 * for all of them: a machine opening the store for the first time takes
 * them from there, and local settings must agree. */
static int read_shared(blobstore *bs, open_plan *p)
{
    const char *spec = p->meta_spec ? p->meta_spec : p->found ? p->rec.backend : NULL;
    const bs_meta_kind *mk = spec ? bs__meta_kind_find(spec) : NULL;
    int rc = 0;
    if (mk && mk->shared) {
        bs_settings sh;
        bs_backend_args a = {bs->dir, spec, bs->durable, bs->readonly, bs->rebuilding, 0};
        rc = mk->open(&bs->meta, &a);
        if (!rc)
            rc = bs__settings_load_shared(bs->meta, &sh, &p->shared);
        if (!rc && p->shared) {
            snprintf(sh.backend, sizeof(sh.backend), "%s", spec);
            /* with no local settings, only where the files are can differ */
            rc = bs__settings_shared_conflict(&sh, p->found ? &p->rec : &sh, p->here, bs->dir);
            if (!p->found)
                p->rec = sh;
            p->found = 1;
        }
    }
    if (!rc && p->must_exist && !p->found && bs->dir)
        rc = bs__error(BLOBSTORE_ENOTFOUND, "%s is not a blobstore store (no %s)", bs->dir,
                       p->sname);
    return rc;
}

/* The options reconciled with the settings found; the registry rows of the
 * backends chosen. */
static int decide(blobstore *bs, const blobstore_options *o, open_plan *p)
{
    const char *where = p->shared && !p->local ? "PostgreSQL" : bs->dir;
    int rc = bs__settings_reconcile(bs, o, p->found ? &p->rec : NULL, where, &p->meta_spec,
                                    &p->blob_spec);
    if (rc)
        return rc;
    if (!o->meta_backend && !(bs->meta_kind = bs__meta_kind(p->meta_spec)))
        return BLOBSTORE_EINVAL;
    if (!o->blob_backend_impl && !(bs->blob_kind = bs__blob_kind(p->blob_spec)))
        return BLOBSTORE_EINVAL;
    bs->backend_name = bs__strdup(p->meta_spec);
    bs->blob_backend_name = bs__strdup(p->blob_spec);
    return bs->backend_name && bs->blob_backend_name ? 0 : BLOBSTORE_ENOMEM;
}

/* A local index the recorded settings name must be there: a missing one is
 * damage, not an empty store (blobstore verify --rebuild-index makes a new
 * one from the blobs). */
static int check_index(blobstore *bs, const open_plan *p)
{
    const bs_meta_kind *mk = bs->meta_kind;
    if (!p->found || !bs->dir || !mk || !mk->files || bs->rebuilding)
        return 0;
    int rc = 0, there = 0;
    for (size_t i = 0; !rc && !there && i < mk->present; i++) {
        char *f = bs__path_join(bs->dir, mk->files[i]);
        struct stat st;
        if (!f)
            rc = BLOBSTORE_ENOMEM;
        else
            there = stat(f, &st) == 0 || errno != ENOENT;
        free(f);
    }
    if (!rc && !there)
        rc = bs__error(BLOBSTORE_ECORRUPT,
                       "the index is damaged: %s/%s is missing, but %s/%s records a store with a "
                       "%s index (nothing was changed; blobstore verify --rebuild-index rebuilds "
                       "it from the blobs)",
                       bs->dir, mk->files[0], bs->dir, p->sname, bs->backend_name);
    return rc;
}

/* The backends, made by their registry rows (or passed in). */
static int open_backends(blobstore *bs, const blobstore_options *o)
{
    bs_backend_args a = {bs->dir,      bs->backend_name, bs->durable,
                         bs->readonly, bs->rebuilding,   bs->shard_chars};
    const bs_meta_kind *mk = bs->meta_kind;
    int rc = 0;
    if (o->meta_backend) {
        bs->meta = o->meta_backend;
    } else if (!bs->meta) { /* a shared one is open already */
        rc = mk->open(&bs->meta, &a);
        if (rc == BLOBSTORE_ECORRUPT && bs->rebuilding && bs->dir && mk->files) {
            /* a damaged index is set aside, kept for inspection */
            a.rebuilding = a.readonly = 0;
            if ((rc = bs__set_aside(bs->dir, mk->files, "damaged", 1)) == 0)
                rc = mk->open(&bs->meta, &a);
        }
        if (!rc)
            rc = bs__meta_backend_check(bs->meta);
    }
    if (rc)
        return rc;
    a.spec = bs->blob_backend_name;
    if (o->blob_backend_impl)
        bs->blobs = o->blob_backend_impl;
    else if ((rc = bs->blob_kind->open(&bs->blobs, &a)) == 0)
        rc = bs__blob_backend_check(bs->blobs);
    /* A local index means every writer is on this machine. */
    if (!rc && mk && !mk->shared && bs->blobs->ctl) {
        rc = bs->blobs->ctl(bs->blobs, BLOBSTORE_BLOB_CTL_LOCAL_WRITERS, NULL);
        if (rc == BLOBSTORE_EUNSUPPORTED) {
            bs__error_clear();
            rc = 0;
        }
    }
    bs->can_inline = (bs->meta->flags & BLOBSTORE_META_INLINE) && !o->blob_backend_impl;
    bs->compact_inline = bs->can_inline && (bs->meta->flags & BS__META_COMPACT_INLINE);
    return rc;
}

/* Settings are recorded only once the backends they name have opened: in
 * a shared backend by the first machine, in a new store's directory. */
static int record_settings(blobstore *bs, open_plan *p)
{
    int rc = 0;
    if (bs->meta_kind && bs->meta_kind->shared && !p->shared && bs->dir) {
        /* Blob files are shared only where every machine sees them at the
         * same path: record it. */
        const char *blob_dir = bs->blob_kind && bs->blob_kind->dirs ? p->here : NULL;
        char *text = bs__settings_json(bs, 0, bs->meta_kind->name, blob_dir);
        rc = text ? bs->meta->ctl(bs->meta, BLOBSTORE_META_CTL_SETTINGS_INIT, text)
                  : BLOBSTORE_ENOMEM;
        free(text);
        bs_settings mine, sh;
        memset(&mine, 0, sizeof(mine));
        snprintf(mine.blob_backend, sizeof(mine.blob_backend), "%s", bs->blob_backend_name);
        mine.ca = bs->ca ? BLOBSTORE_YES : BLOBSTORE_NO;
        mine.shard_chars = bs->shard_chars;
        if (!rc) /* another machine may have been first */
            rc = bs__settings_load_shared(bs->meta, &sh, &p->shared);
        if (!rc && p->shared)
            rc = bs__settings_shared_conflict(&sh, &mine, blob_dir ? blob_dir : "", bs->dir);
    }
    if (!rc && !p->local && bs->dir && !bs->readonly) {
        char *text = bs__settings_json(bs, 1, NULL, NULL);
        rc = text ? bs__write_file_atomic(p->settings_path, text, strlen(text), 1)
                  : BLOBSTORE_ENOMEM;
        free(text);
    }
    return rc;
}

/* The cross-process half of the store lock. Read-only: a lock file that is
 * not there is not created (flock works on a descriptor open for reading). */
static int open_lock(blobstore *bs)
{
    if (!bs->dir)
        return 0;
    char *lp = bs__path_join(bs->dir, "lock");
    if (!lp)
        return BLOBSTORE_ENOMEM;
    if (bs->readonly)
        bs->lockfd = open(lp, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    else
        bs->lockfd = open(lp, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
    int rc = bs->lockfd < 0 && !(bs->readonly && errno == ENOENT)
                 ? bs__error_errno(errno, "cannot open %s", lp)
                 : 0;
    free(lp);
    return rc;
}

static int open_store(blobstore *bs, const blobstore_options *o)
{
    open_plan p;
    memset(&p, 0, sizeof(p));
    int rc = plan_options(bs, o, &p);
    if (!rc)
        rc = read_local(bs, o, &p);
    if (!rc)
        rc = read_shared(bs, &p);
    if (!rc)
        rc = decide(bs, o, &p);
    if (!rc)
        rc = check_index(bs, &p);
    if (!rc)
        rc = open_backends(bs, o);
    if (!rc)
        rc = record_settings(bs, &p);
    if (!rc)
        rc = open_lock(bs);
    if (!rc)
        bs__reserve_make(bs);
    free(p.settings_path);
    return rc;
}

static int open_impl(blobstore **out, const blobstore_options *opts, int rebuilding);

BLOBSTORE_API int blobstore_open(blobstore **out, const blobstore_options *opts)
{
    return open_impl(out, opts, 0);
}

BLOBSTORE_API int blobstore_open_rebuilding(blobstore **out, const blobstore_options *opts)
{
    return open_impl(out, opts, 1);
}

/* Backends passed in are owned by the store from open on, even when it
 * fails: those bs did not take are freed here (through their free slot, if
 * they have one: a backend refused for lacking it cannot be freed). */
static void free_given(const blobstore_options *o, const blobstore *bs)
{
    blobstore_meta_backend *m = o->meta_backend;
    blobstore_blob_backend *b = o->blob_backend_impl;
    if (m && (!bs || bs->meta != m) && m->free)
        m->free(m);
    if (b && (!bs || bs->blobs != b) && b->free)
        b->free(b);
}

static int open_impl(blobstore **out, const blobstore_options *opts, int rebuilding)
{
    blobstore_options defaults = BLOBSTORE_OPTIONS_INIT;
    const blobstore_options *o = opts ? opts : &defaults;
    if (!out)
        return bs__error(BLOBSTORE_EINVAL, "out is NULL");
    *out = NULL;
    if (o->version < 1 || o->version > BLOBSTORE_OPTIONS_VERSION) {
        return bs__error(BLOBSTORE_EINVAL, "blobstore_options version %u is not supported",
                         o->version);
    }
    blobstore *bs = bs__calloc(1, sizeof(*bs));
    if (!bs) {
        free_given(o, NULL);
        return BLOBSTORE_ENOMEM;
    }
    bs->lockfd = -1;
    bs->rebuilding = rebuilding;
    pthread_mutexattr_t ma;
    pthread_mutexattr_init(&ma);
    pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&bs->mu, &ma);
    pthread_mutexattr_destroy(&ma);
    pthread_mutex_init(&bs->opmu, NULL);
    pthread_rwlockattr_t ra;
    pthread_rwlockattr_init(&ra);
    pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&bs->oprw, &ra);
    pthread_rwlockattr_destroy(&ra);
    int rc = open_store(bs, o);
    if (rc) {
        free_given(o, bs);
        blobstore_close(bs);
        return rc;
    }
    *out = bs;
    return 0;
}
