/*
 * module.h - the network backends as modules loaded on demand.
 *
 * The PostgreSQL (meta_pg.c, libpq) and S3 (blob_s3.c, libcurl) backends are
 * built as shared modules, libblobstore-pg.so and libblobstore-s3.so. Merely
 * linking libpq and libcurl (and through them GnuTLS, Kerberos, LDAP: some
 * forty libraries) costs every process milliseconds of CPU in library
 * constructors, so the library (module.c) loads a module with dlopen the
 * first time its constructor is called - the public
 * blobstore_meta_backend_pg_new() and blobstore_blob_backend_s3_new() are
 * trampolines - and local use never maps libpq or libcurl. Both the shared
 * and the static library do this.
 *
 * A module is built from its backend's file plus module_shim.c, and carries
 * no copy of the library's state: the shim defines the bs__ helpers the
 * backend calls (errors, allocation, hashing, JSON text) as calls through
 * the table of the library's functions (bs_module_host) that the library
 * hands to the module's one exported function, bs__module_entry. Errors thus
 * land in the library's own thread-local message.
 *
 * Where modules are looked for (module.c): only $BLOBSTORE_MODULE_DIR when
 * set; else beside the object holding the library (a build tree), its
 * blobstore/ subdirectory (LIBDIR/blobstore beside libblobstore.so; the
 * Python package's blobstore/blobstore/ beside _core), BS_MODULE_FROM_BINDIR
 * relative to it (a program in bindir linked with libblobstore.a) and the
 * configured BS_MODULE_DIR.
 */
#ifndef BLOBSTORE_MODULE_H
#define BLOBSTORE_MODULE_H

#include "internal.h"

/* Bumped whenever bs_module_host or bs_module changes: a module built for
 * another ABI, or from another version of the library, is refused. */
#define BS_MODULE_ABI 1

typedef struct bs_module_host {
    int abi;             /* BS_MODULE_ABI */
    const char *version; /* the library's blobstore_version() */
    /* errors: set the message verbatim and return code; the message */
    int (*error_set)(int code, const char *msg);
    const char *(*errmsg)(void);
    void (*nospace_note)(void);
    /* util.c, query.c, json.c, store */
    void *(*malloc)(size_t n);
    void *(*calloc)(size_t n, size_t m);
    void *(*realloc)(void *p, size_t n);
    char *(*strdup)(const char *s);
    char *(*strndup)(const char *s, size_t n);
    int (*buf_reserve)(bs_buf *b, size_t extra);
    int (*buf_append)(bs_buf *b, const void *p, size_t n);
    void (*buf_free)(bs_buf *b);
    int (*utf8_valid)(const unsigned char *s, size_t n);
    void (*hex)(char *out, const unsigned char *in, size_t n);
    int (*random_bytes)(void *out, size_t n);
    void (*sha256_hex)(char out[65], const void *p, size_t n);
    int (*index_path_check)(const char *path);
    char *(*json_dumps)(const struct json_t *v);
    void (*entry_clear)(blobstore_entry *e);
} bs_module_host;

/* What a module serves: a metadata or a blob backend's constructor (the
 * other is NULL), with the public constructor's arguments. */
typedef struct bs_module {
    int abi;             /* BS_MODULE_ABI the module was built for */
    const char *version; /* the library version it was built from */
    int (*meta_new)(blobstore_meta_backend **out, const char *conninfo);
    int (*blob_new)(blobstore_blob_backend **out, const char *url, int shard_chars);
} bs_module;

/* The module's one exported function: keeps host for the shim and fills
 * *out. Defined in module_shim.c; each backend file defines its
 * constructor as bs__module_meta_new or bs__module_blob_new. */
#define BS_MODULE_ENTRY "bs__module_entry"
typedef void (*bs_module_entry_fn)(const bs_module_host *host, bs_module *out);

int bs__module_meta_new(blobstore_meta_backend **out, const char *conninfo);
int bs__module_blob_new(blobstore_blob_backend **out, const char *url, int shard_chars);

#endif
