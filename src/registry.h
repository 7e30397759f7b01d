/*
 * registry.h - what a store can be made of: the tables of metadata backends,
 * blob backends and format modules (registry.c). Private to the library.
 *
 * Every decision that depends on a backend's or a format's name reads these
 * tables: open (which constructor, which files must be there, whose
 * settings are shared), migrate (which index files a new store must not
 * adopt), verify (which blobs carry sidecars), the CLI's usage text and
 * Python's name checks (through blobstore_names()). A new backend is its own
 * file plus one row here.
 */
#ifndef BLOBSTORE_REGISTRY_H
#define BLOBSTORE_REGISTRY_H

#include "internal.h"

/* What a constructor is given. */
typedef struct {
    const char *dir;  /* the store directory; NULL: the store lives in memory */
    const char *spec; /* the name or URL that selected the row */
    int durable, readonly;
    int rebuilding; /* blobstore_open_rebuilding: check the whole index */
    int shard_chars;
} bs_backend_args;

typedef int (*bs_meta_ctor)(blobstore_meta_backend **out, const bs_backend_args *a);
typedef int (*bs_blob_ctor)(blobstore_blob_backend **out, const bs_backend_args *a);

/* A metadata backend. */
typedef struct {
    const char *name;           /* what selects it and what the settings record */
    const char *const *schemes; /* URL prefixes that select it instead ("postgresql://"), or NULL */
    int shared;                 /* machines share it: it records the settings for all of them */
    const char *const *files;   /* its index files in the store directory, or NULL: none */
    size_t present;             /* one of the first `present` files there: the index is there */
    const char *const *leftovers; /* other files it may leave there (locks, journals), or NULL */
    bs_meta_ctor open;            /* the constructor (may load a module first) */
} bs_meta_kind;

/* A blob backend. */
typedef struct {
    const char *name;
    const char *const *schemes;
    int in_memory;           /* the store lives in this process: no directory at all */
    const char *const *dirs; /* directories it keeps in the store directory, or NULL */
    bs_blob_ctor open;
} bs_blob_kind;

/* A format module: what a put's `format` names. */
typedef struct {
    const char *name; /* "bytes", "b2nd", "parquet", "pickle" */
    const char *ext;  /* blob file extension */
    int raw;          /* stored as the file itself (a sidecar carries its record), not framed */
} bs_format;

/* The row a name or URL selects; NULL (with an EINVAL message listing the
 * known ones) if none. */
const bs_meta_kind *bs__meta_kind(const char *spec);
const bs_blob_kind *bs__blob_kind(const char *spec);
/* Without a message: NULL if unknown. */
const bs_meta_kind *bs__meta_kind_find(const char *spec);
const bs_blob_kind *bs__blob_kind_find(const char *spec);
/* The i-th row, or NULL past the last. */
const bs_meta_kind *bs__meta_kind_at(size_t i);
const bs_blob_kind *bs__blob_kind_at(size_t i);
/* Add a metadata backend row after the built-in ones (a backend linked into
 * a program registers itself, e.g. from a constructor function). The row
 * must outlive the library's use of it. EEXISTS if its name is taken. */
int bs__meta_kind_add(const bs_meta_kind *kind);

/* The format module of a name; the "bytes" row for NULL or unknown names. */
const bs_format *bs__format(const char *name);
/* The format whose extension ext (".b2nd") is, or NULL. */
const bs_format *bs__format_by_ext(const char *ext);

/* Versioned vtables: a backend handed to the store is checked before use.
 * Its version must be one this library knows and every required slot must
 * be set; else BLOBSTORE_EINVAL naming what is wrong. */
int bs__meta_backend_check(const blobstore_meta_backend *be);
int bs__blob_backend_check(const blobstore_blob_backend *be);

#endif
