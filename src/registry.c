/*
 * registry.c - the tables of metadata backends, blob backends and format
 * modules, and the checks every backend passes before the store uses it.
 *
 * A row says how a backend is selected (its name, or the scheme of a URL),
 * what it keeps in the store directory and how it is made. Nothing else in
 * the library compares backend or format names: a new backend is its own
 * file plus one row (or, for a backend linked into a program, one call to
 * bs__meta_kind_add).
 */
#include "registry.h"
#include "store_int.h"

#include <pthread.h>

/* ---- metadata backends ---- */

static int json_ctor(blobstore_meta_backend **out, const bs_backend_args *a)
{
    char *p = a->dir ? bs__path_join(a->dir, "cache_metadata.json") : NULL;
    if (a->dir && !p)
        return BLOBSTORE_ENOMEM;
    int rc = bs__meta_json_open(out, p, a->durable, a->readonly);
    free(p);
    return rc;
}

static int sqlite_ctor(blobstore_meta_backend **out, const bs_backend_args *a)
{
    char *p = a->dir ? bs__path_join(a->dir, "cache_metadata.db") : NULL;
    if (a->dir && !p)
        return BLOBSTORE_ENOMEM;
    int rc = bs__meta_sqlite_open(out, p ? p : ":memory:", a->durable, a->readonly && p);
    if (!rc && a->rebuilding && p) { /* checked whole, whatever its size */
        rc = (*out)->ctl(*out, BLOBSTORE_META_CTL_CHECK, NULL);
        if (rc) {
            (*out)->free(*out);
            *out = NULL;
        }
    }
    free(p);
    return rc;
}

static int pg_ctor(blobstore_meta_backend **out, const bs_backend_args *a)
{
    return blobstore_meta_backend_pg_new(out, a->spec);
}

static const char *const json_files[] = {"cache_metadata.json", "cache_metadata.json.journal",
                                         NULL};
static const char *const json_leftovers[] = {"cache_metadata.json.lock", NULL};
static const char *const sqlite_files[] = {"cache_metadata.db", "cache_metadata.db-wal",
                                           "cache_metadata.db-shm", NULL};
static const char *const sqlite_leftovers[] = {"cache_metadata.db-journal", NULL};
static const char *const pg_schemes[] = {"postgresql://", "postgres://", NULL};

static const bs_meta_kind builtin_meta[] = {
    {"json", NULL, 0, json_files, 2, json_leftovers, json_ctor},
    {"sqlite", NULL, 0, sqlite_files, 1, sqlite_leftovers, sqlite_ctor},
    {"postgresql", pg_schemes, 1, NULL, 0, NULL, pg_ctor},
};
#define N_BUILTIN_META (sizeof(builtin_meta) / sizeof(builtin_meta[0]))
#define MAX_ADDED_META 16

/* Rows added at run time; appended under the lock, read without it (a
 * row's pointer is published only once it is complete). */
static const bs_meta_kind *added_meta[MAX_ADDED_META];
static size_t n_added_meta;
static pthread_mutex_t added_mu = PTHREAD_MUTEX_INITIALIZER;

const bs_meta_kind *bs__meta_kind_at(size_t i)
{
    if (i < N_BUILTIN_META)
        return &builtin_meta[i];
    i -= N_BUILTIN_META;
    return i < __atomic_load_n(&n_added_meta, __ATOMIC_ACQUIRE) ? added_meta[i] : NULL;
}

/* 1 if spec selects a row of this name and these schemes. */
static int selects(const char *spec, const char *name, const char *const *schemes)
{
    if (!schemes)
        return strcmp(spec, name) == 0;
    for (size_t i = 0; schemes[i]; i++)
        if (!strncmp(spec, schemes[i], strlen(schemes[i])))
            return 1;
    return 0;
}

const bs_meta_kind *bs__meta_kind_find(const char *spec)
{
    const bs_meta_kind *k;
    for (size_t i = 0; spec && (k = bs__meta_kind_at(i)) != NULL; i++)
        if (selects(spec, k->name, k->schemes))
            return k;
    return NULL;
}

int bs__meta_kind_add(const bs_meta_kind *kind)
{
    if (!kind || !kind->name || !kind->open)
        return bs__error(BLOBSTORE_EINVAL, "a metadata backend row needs a name and a constructor");
    pthread_mutex_lock(&added_mu);
    int rc = 0;
    if (bs__meta_kind_find(kind->name))
        rc = bs__error(BLOBSTORE_EEXISTS, "a metadata backend named \"%s\" is registered already",
                       kind->name);
    else if (n_added_meta == MAX_ADDED_META)
        rc = bs__error(BLOBSTORE_ENOMEM, "too many metadata backends registered");
    else {
        added_meta[n_added_meta] = kind;
        __atomic_store_n(&n_added_meta, n_added_meta + 1, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&added_mu);
    return rc;
}

/* ---- blob backends ---- */

static int fs_ctor(blobstore_blob_backend **out, const bs_backend_args *a)
{
    return bs__blob_fs_open(out, a->dir, a->shard_chars, a->readonly);
}

static int mem_ctor(blobstore_blob_backend **out, const bs_backend_args *a)
{
    (void)a;
    return blobstore_blob_backend_mem_new(out);
}

static int s3_ctor(blobstore_blob_backend **out, const bs_backend_args *a)
{
    return blobstore_blob_backend_s3_new(out, a->spec, a->shard_chars);
}

static const char *const fs_dirs[] = {"blobs", "tmp", NULL};
static const char *const s3_schemes[] = {"s3://", NULL};

static const bs_blob_kind builtin_blob[] = {
    {"filesystem", NULL, 0, fs_dirs, fs_ctor},
    {"memory", NULL, 1, NULL, mem_ctor},
    {"s3", s3_schemes, 0, NULL, s3_ctor},
};
#define N_BUILTIN_BLOB (sizeof(builtin_blob) / sizeof(builtin_blob[0]))

const bs_blob_kind *bs__blob_kind_at(size_t i)
{
    return i < N_BUILTIN_BLOB ? &builtin_blob[i] : NULL;
}

const bs_blob_kind *bs__blob_kind_find(const char *spec)
{
    for (size_t i = 0; spec && i < N_BUILTIN_BLOB; i++)
        if (selects(spec, builtin_blob[i].name, builtin_blob[i].schemes))
            return &builtin_blob[i];
    return NULL;
}

/* "json, sqlite or a postgresql:// URL", from the rows. */
static void describe(char *out, size_t cap, const char *(*name_at)(size_t))
{
    size_t n = 0, len = 0;
    while (name_at(n))
        n++;
    out[0] = 0;
    for (size_t i = 0; i < n && len < cap; i++) {
        const char *s = name_at(i), *sep = i == 0 ? "" : i + 1 == n ? " or " : ", ";
        int url = strstr(s, "://") != NULL;
        /* "an s3:// URL": the article as the first letter is spoken */
        const char *art = !url ? "" : strchr("aefhilmnorsx", s[0]) ? "an " : "a ";
        int w = snprintf(out + len, cap - len, "%s%s%s%s", sep, art, s, url ? " URL" : "");
        len += w > 0 ? (size_t)w : 0;
    }
}

static const char *meta_name_at(size_t i);
static const char *blob_name_at(size_t i);

const bs_meta_kind *bs__meta_kind(const char *spec)
{
    const bs_meta_kind *k = bs__meta_kind_find(spec);
    if (!k) {
        char known[512];
        describe(known, sizeof(known), meta_name_at);
        bs__error(BLOBSTORE_EINVAL, "unknown metadata backend \"%s\" (expected %s)", spec, known);
    }
    return k;
}

const bs_blob_kind *bs__blob_kind(const char *spec)
{
    const bs_blob_kind *k = bs__blob_kind_find(spec);
    if (!k) {
        char known[512];
        describe(known, sizeof(known), blob_name_at);
        bs__error(BLOBSTORE_EINVAL, "unknown blob backend \"%s\" (expected %s)", spec, known);
    }
    return k;
}

/* ---- format modules ---- */

static const char *const b2nd_imports[] = {".npy", ".b2nd", NULL};
static const char *const parquet_imports[] = {".parquet", NULL};

static const bs_format builtin_formats[] = {
    {"bytes", ".blob", 0, NULL, NULL, NULL, NULL, NULL, NULL},
    {"b2nd", ".b2nd", 1, "an array (Blosc2 .b2nd)", b2nd_imports, bs__b2nd_detect, bs__b2nd_put_fd,
     bs__b2nd_get_fd, NULL},
    {"parquet", ".parquet", 1, "a table (Parquet)", parquet_imports, bs__parquet_detect,
     bs__parquet_put_fd, NULL, NULL},
    {"pickle", ".pkl", 0, NULL, NULL, bs__pickle_detect, NULL, NULL, bs__pickle_check_store},
};
#define N_BUILTIN_FORMATS (sizeof(builtin_formats) / sizeof(builtin_formats[0]))
#define MAX_ADDED_FORMATS 16

static const bs_format *added_formats[MAX_ADDED_FORMATS];
static size_t n_added_formats;

const bs_format *bs__format_at(size_t i)
{
    if (i < N_BUILTIN_FORMATS)
        return &builtin_formats[i];
    i -= N_BUILTIN_FORMATS;
    return i < __atomic_load_n(&n_added_formats, __ATOMIC_ACQUIRE) ? added_formats[i] : NULL;
}

static const bs_format *format_named(const char *name)
{
    const bs_format *f;
    for (size_t i = 0; name && (f = bs__format_at(i)) != NULL; i++)
        if (!strcmp(f->name, name))
            return f;
    return NULL;
}

const bs_format *bs__format(const char *name)
{
    const bs_format *f = format_named(name);
    return f ? f : &builtin_formats[0];
}

const bs_format *bs__format_by_ext(const char *ext)
{
    const bs_format *f;
    for (size_t i = 0; ext && (f = bs__format_at(i)) != NULL; i++)
        if (!strcmp(f->ext, ext))
            return f;
    return NULL;
}

const bs_format *bs__format_for_name(const char *name)
{
    const char *dot = name ? strrchr(name, '.') : NULL;
    const bs_format *f;
    if (!dot || strchr(dot, '/'))
        return NULL;
    for (size_t i = 0; (f = bs__format_at(i)) != NULL; i++)
        for (size_t j = 0; f->imports && f->imports[j]; j++)
            if (!strcmp(f->imports[j], dot))
                return f;
    return NULL;
}

const bs_format *bs__format_detect(const unsigned char *head, size_t hn, const unsigned char *tail,
                                   size_t tn, uint64_t size)
{
    const bs_format *f;
    for (size_t i = 0; (f = bs__format_at(i)) != NULL; i++)
        if (f->detect && f->detect(head, hn, tail, tn, size) == 1)
            return f;
    return &builtin_formats[0];
}

int bs__format_add(const bs_format *f)
{
    if (!f || !f->name || !f->ext)
        return bs__error(BLOBSTORE_EINVAL, "a format row needs a name and an extension");
    int rc = bs__ext_check(f->ext);
    if (rc)
        return rc;
    pthread_mutex_lock(&added_mu);
    if (format_named(f->name) || bs__format_by_ext(f->ext))
        rc = bs__error(BLOBSTORE_EEXISTS,
                       "a format named \"%s\" or with extension %s is registered already", f->name,
                       f->ext);
    else if (n_added_formats == MAX_ADDED_FORMATS)
        rc = bs__error(BLOBSTORE_ENOMEM, "too many formats registered");
    else {
        added_formats[n_added_formats] = f;
        __atomic_store_n(&n_added_formats, n_added_formats + 1, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&added_mu);
    return rc;
}

/* ---- names, for the CLI and Python ---- */

/* A URL-selected row is named by its first scheme. */
static const char *meta_name_at(size_t i)
{
    const bs_meta_kind *k = bs__meta_kind_at(i);
    return !k ? NULL : k->schemes ? k->schemes[0] : k->name;
}

static const char *blob_name_at(size_t i)
{
    if (i >= N_BUILTIN_BLOB)
        return NULL;
    return builtin_blob[i].schemes ? builtin_blob[i].schemes[0] : builtin_blob[i].name;
}

BLOBSTORE_API const char *blobstore_name(blobstore_names_kind kind, size_t i)
{
    switch (kind) {
    case BLOBSTORE_NAMES_META_BACKENDS:
        return meta_name_at(i);
    case BLOBSTORE_NAMES_BLOB_BACKENDS:
        return blob_name_at(i);
    case BLOBSTORE_NAMES_CODECS: {
        const bs_codec *c = bs__codec_at(i);
        return c ? c->name : NULL;
    }
    case BLOBSTORE_NAMES_FORMATS: {
        const bs_format *f = bs__format_at(i);
        return f ? f->name : NULL;
    }
    }
    return NULL;
}

/* ---- versioned vtables ---- */

#define REQUIRE(be, slot, what)                                                                    \
    do {                                                                                           \
        if (!(be)->slot)                                                                           \
            return bs__error(BLOBSTORE_EINVAL,                                                     \
                             "%s backend (version %u) lacks its required slot " #slot, what,       \
                             (be)->version);                                                       \
    } while (0)

int bs__meta_backend_check(const blobstore_meta_backend *be)
{
    if (!be)
        return bs__error(BLOBSTORE_EINVAL, "metadata backend is NULL");
    if (be->version < 1 || be->version > BLOBSTORE_META_BACKEND_VERSION)
        return bs__error(BLOBSTORE_EINVAL,
                         "metadata backend version %u is not supported (this library knows "
                         "versions 1..%d; see blobstore/sys/meta_backend.h)",
                         be->version, BLOBSTORE_META_BACKEND_VERSION);
    REQUIRE(be, begin, "metadata");
    REQUIRE(be, commit, "metadata");
    REQUIRE(be, rollback, "metadata");
    REQUIRE(be, get, "metadata");
    REQUIRE(be, put, "metadata");
    REQUIRE(be, remove, "metadata");
    REQUIRE(be, iterate, "metadata");
    REQUIRE(be, free, "metadata");
    return 0;
}

int bs__blob_backend_check(const blobstore_blob_backend *be)
{
    if (!be)
        return bs__error(BLOBSTORE_EINVAL, "blob backend is NULL");
    if (be->version < 1 || be->version > BLOBSTORE_BLOB_BACKEND_VERSION)
        return bs__error(BLOBSTORE_EINVAL,
                         "blob backend version %u is not supported (this library knows "
                         "versions 1..%d; see blobstore/sys/blob_backend.h)",
                         be->version, BLOBSTORE_BLOB_BACKEND_VERSION);
    REQUIRE(be, writer, "blob");
    REQUIRE(be, reader, "blob");
    REQUIRE(be, exists, "blob");
    REQUIRE(be, remove, "blob");
    REQUIRE(be, list, "blob");
    REQUIRE(be, free, "blob");
    return 0;
}
