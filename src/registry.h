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

/* A format module: what a put's `format` names, and how a file becomes one
 * and an entry of it becomes a file again. The store's put and get, the
 * converting put of a file (blobstore_put_file: by its name's extension,
 * else by its content), the conversion on the way out (blobstore_get_file)
 * and verify read these rows; a new format is its own file plus one row. */
typedef struct bs_format bs_format;
/* How a store-wide check reports what it found (verify). */
typedef void (*bs_format_report)(void *ctx, blobstore_problem_kind kind, const char *blob,
                                 const char *detail);
struct bs_format {
    const char *name; /* "bytes", "b2nd", "parquet", "pickle" */
    const char *ext;  /* blob file extension */
    int raw;          /* stored as the file itself (a sidecar carries its record), not framed */
    const char *what; /* what a converting put made of a file ("an array (Blosc2 .b2nd)") */
    /* File name extensions a converting put stores as this format (".npy",
     * ".b2nd"), or NULL: none. */
    const char *const *imports;
    /* 1 if a file (or an entry's bytes) of size bytes, whose first hn and last
     * tn bytes these are (each at most BS_DETECT_BYTES), is of this format;
     * NULL: never detected from content. */
    int (*detect)(const unsigned char *head, size_t hn, const unsigned char *tail, size_t tn,
                  uint64_t size);
    /* The writer: store the file open on fd (read from its current offset;
     * name, its name or NULL) as this format under key; po's metadata and
     * flags apply. NULL: put as bytes (blobstore_put_fd with po.format). */
    int (*put_fd)(char **out_key, blobstore *bs, const char *key, int fd, const char *name,
                  const blobstore_put_options *po);
    /* The reader: write key's entry (of this format) to fd as a file of
     * extension ext (".npy"); BLOBSTORE_EUNSUPPORTED (no message) if it has
     * no such conversion. NULL: none (get writes the bytes). */
    int (*get_fd)(blobstore *bs, const char *key, int fd, const char *ext);
    /* Store-wide check verify runs (files the format keeps beside the
     * store, e.g. the pickle signing key), or NULL. */
    void (*check_store)(blobstore *bs, bs_format_report report, void *ctx);
};
#define BS_DETECT_BYTES 16

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
/* The format whose blob extension ext (".b2nd") is, or NULL. */
const bs_format *bs__format_by_ext(const char *ext);
/* The i-th row, or NULL past the last. */
const bs_format *bs__format_at(size_t i);
/* The format a converting put makes of a file named name (its extension
 * among a row's imports), or NULL: none by name. */
const bs_format *bs__format_for_name(const char *name);
/* The format whose detector takes these bytes; the "bytes" row if none. */
const bs_format *bs__format_detect(const unsigned char *head, size_t hn, const unsigned char *tail,
                                   size_t tn, uint64_t size);
/* Add a format row after the built-in ones (as bs__meta_kind_add). EEXISTS
 * if its name or its blob extension is taken. */
int bs__format_add(const bs_format *f);

/* The built-in formats' entry points (their own files). */
int bs__b2nd_detect(const unsigned char *head, size_t hn, const unsigned char *tail, size_t tn,
                    uint64_t size);
int bs__b2nd_put_fd(char **out_key, blobstore *bs, const char *key, int fd, const char *name,
                    const blobstore_put_options *po);
int bs__b2nd_get_fd(blobstore *bs, const char *key, int fd, const char *ext);
int bs__parquet_detect(const unsigned char *head, size_t hn, const unsigned char *tail, size_t tn,
                       uint64_t size);
int bs__parquet_put_fd(char **out_key, blobstore *bs, const char *key, int fd, const char *name,
                       const blobstore_put_options *po);
int bs__pickle_detect(const unsigned char *head, size_t hn, const unsigned char *tail, size_t tn,
                      uint64_t size);
void bs__pickle_check_store(blobstore *bs, bs_format_report report, void *ctx);
/* Read fd to its end into out (a converting put of a whole file). */
int bs__read_fd_all(int fd, bs_buf *out);
/* EEXISTS (with a message) if po asks for no overwrite and key exists: for
 * writers whose put has no flags. */
int bs__refuse_existing(blobstore *bs, const char *key, const blobstore_put_options *po);

/* Versioned vtables: a backend handed to the store is checked before use.
 * Its version must be one this library knows and every required slot must
 * be set; else BLOBSTORE_EINVAL naming what is wrong. */
int bs__meta_backend_check(const blobstore_meta_backend *be);
int bs__blob_backend_check(const blobstore_blob_backend *be);

#endif
