/*
 * module.c - loading the network backends on demand (module.h).
 *
 * blobstore_meta_backend_pg_new() and blobstore_blob_backend_s3_new() are
 * trampolines: the first call loads the backend's module with dlopen, checks
 * that it was built for this library (ABI and version) and hands it the
 * table of the library's helpers; every call then goes to the module's
 * constructor. A module stays loaded for the life of the process (libpq and
 * libcurl do not expect to be unloaded). A module that is not installed is
 * BLOBSTORE_EUNSUPPORTED, naming the file and where it was looked for.
 */
#include "module.h"

#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <unistd.h>

#ifndef BS_MODULE_DIR
#define BS_MODULE_DIR "/usr/local/lib/blobstore"
#endif
#ifndef BS_MODULE_FROM_BINDIR
#define BS_MODULE_FROM_BINDIR "../lib/blobstore"
#endif

static int host_error_set(int code, const char *msg)
{
    return bs__error(code, "%s", msg);
}

static const bs_module_host host = {
    .abi = BS_MODULE_ABI,
    .version = BLOBSTORE_VERSION_STRING,
    .error_set = host_error_set,
    .errmsg = blobstore_errmsg,
    .nospace_note = bs__nospace_note,
    .malloc = bs__malloc,
    .calloc = bs__calloc,
    .realloc = bs__realloc,
    .strdup = bs__strdup,
    .strndup = bs__strndup,
    .buf_reserve = bs__buf_reserve,
    .buf_append = bs__buf_append,
    .buf_free = bs__buf_free,
    .utf8_valid = bs__utf8_valid,
    .hex = bs__hex,
    .random_bytes = bs__random_bytes,
    .sha256_hex = bs__sha256_hex,
    .index_path_check = bs__index_path_check,
    .json_dumps = bs__json_dumps,
    .entry_clear = blobstore_entry_clear,
};

typedef struct {
    const char *what; /* "PostgreSQL", for messages */
    const char *file; /* "libblobstore-pg.so" */
    pthread_mutex_t mu;
    int loaded;
    bs_module mod;
} module_slot;

static module_slot pg_slot = {
    "PostgreSQL", "libblobstore-pg.so", PTHREAD_MUTEX_INITIALIZER, 0, {0}};
static module_slot s3_slot = {"S3", "libblobstore-s3.so", PTHREAD_MUTEX_INITIALIZER, 0, {0}};

/* Appends the directories to search, separated by '\n', to *dirs. */
static int search_dirs(bs_buf *dirs)
{
    const char *env = getenv("BLOBSTORE_MODULE_DIR");
    if (env && *env)
        return bs__buf_append(dirs, env, strlen(env) + 1);
    int rc = 0;
    Dl_info info;
    /* The object holding this code: libblobstore.so, a program linked with
     * libblobstore.a, the Python extension. */
    if (dladdr((void *)&host, &info) && info.dli_fname && strchr(info.dli_fname, '/')) {
        char obj[PATH_MAX];
        const char *slash = strrchr(info.dli_fname, '/');
        int n = snprintf(obj, sizeof(obj), "%.*s", (int)(slash - info.dli_fname), info.dli_fname);
        if (n > 0 && (size_t)n < sizeof(obj)) {
            const char *rel[] = {"", "/blobstore", "/" BS_MODULE_FROM_BINDIR};
            for (size_t i = 0; !rc && i < sizeof(rel) / sizeof(rel[0]); i++) {
                rc = bs__buf_append(dirs, obj, (size_t)n);
                if (!rc)
                    rc = bs__buf_append(dirs, rel[i], strlen(rel[i]) + 1);
            }
        }
    }
    if (!rc)
        rc = bs__buf_append(dirs, BS_MODULE_DIR, sizeof(BS_MODULE_DIR));
    return rc;
}

static int load(module_slot *m)
{
    bs_buf dirs = {0};
    int rc = search_dirs(&dirs);
    char path[PATH_MAX];
    const char *found = NULL;
    for (size_t off = 0; !rc && !found && off < dirs.len;) {
        const char *d = (const char *)dirs.data + off;
        off += strlen(d) + 1;
        int n = snprintf(path, sizeof(path), "%s/%s", d, m->file);
        if (n > 0 && (size_t)n < sizeof(path) && access(path, F_OK) == 0)
            found = path;
    }
    if (!rc && !found) {
        /* The list, for the message: "A, B, C". */
        char list[2048] = "";
        size_t ll = 0;
        for (size_t off = 0; off < dirs.len && ll < sizeof(list);) {
            const char *d = (const char *)dirs.data + off;
            off += strlen(d) + 1;
            ll += (size_t)snprintf(list + ll, sizeof(list) - ll, "%s%s", ll ? ", " : "", d);
        }
        rc = bs__error(BLOBSTORE_EUNSUPPORTED,
                       "the %s backend is not installed: %s not found in %s (set "
                       "BLOBSTORE_MODULE_DIR to the directory that holds it)",
                       m->what, m->file, list);
    }
    bs__buf_free(&dirs);
    if (rc)
        return rc;
    void *h = dlopen(found, RTLD_NOW | RTLD_LOCAL);
    if (!h)
        return bs__error(BLOBSTORE_EUNSUPPORTED, "the %s backend cannot be loaded: %s", m->what,
                         dlerror());
    bs_module_entry_fn entry;
    *(void **)&entry = dlsym(h, BS_MODULE_ENTRY);
    if (!entry) {
        dlclose(h);
        return bs__error(BLOBSTORE_EUNSUPPORTED, "the %s backend's module %s has no %s", m->what,
                         found, BS_MODULE_ENTRY);
    }
    bs_module mod;
    entry(&host, &mod);
    if (mod.abi != BS_MODULE_ABI || !mod.version || strcmp(mod.version, host.version) != 0) {
        rc = bs__error(BLOBSTORE_EUNSUPPORTED,
                       "the %s backend's module %s is from blobstore %s (module ABI %d); this is "
                       "blobstore %s (ABI %d)",
                       m->what, found, mod.version ? mod.version : "?", mod.abi, host.version,
                       BS_MODULE_ABI);
        dlclose(h);
        return rc;
    }
    m->mod = mod;
    m->loaded = 1;
    return 0;
}

/* The module of slot m, loaded on first use. */
static int module_get(const bs_module **out, module_slot *m)
{
    pthread_mutex_lock(&m->mu);
    int rc = m->loaded ? 0 : load(m);
    pthread_mutex_unlock(&m->mu);
    *out = &m->mod;
    return rc;
}

BLOBSTORE_API int blobstore_meta_backend_pg_new(blobstore_meta_backend **out, const char *conninfo)
{
    const bs_module *mod;
    int rc = module_get(&mod, &pg_slot);
    if (!rc && !mod->meta_new)
        rc = bs__error(BLOBSTORE_EUNSUPPORTED, "%s serves no metadata backend", pg_slot.file);
    return rc ? rc : mod->meta_new(out, conninfo);
}

BLOBSTORE_API int blobstore_blob_backend_s3_new(blobstore_blob_backend **out, const char *url,
                                                int shard_chars)
{
    const bs_module *mod;
    int rc = module_get(&mod, &s3_slot);
    if (!rc && !mod->blob_new)
        rc = bs__error(BLOBSTORE_EUNSUPPORTED, "%s serves no blob backend", s3_slot.file);
    return rc ? rc : mod->blob_new(out, url, shard_chars);
}
