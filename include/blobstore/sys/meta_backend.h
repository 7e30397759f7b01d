/*
 * blobstore/sys/meta_backend.h - for implementers of metadata backends.
 *
 * A metadata backend maps keys to entries, transactionally. The store calls
 * get/put/remove/iterate only between begin() and commit()/rollback(); a
 * write transaction excludes every other writer, in this process and in
 * others sharing the store. Entries are returned in key byte order.
 *
 * An implementation embeds blobstore_meta_backend as its first member,
 * fills the slots in its constructor and passes it in
 * blobstore_options.meta_backend. Slots marked "must" are required.
 *
 * Versions: the struct only grows at the end, and a slot added means the
 * version goes up. blobstore_open() checks a backend it is given: a version
 * it does not know (0, or newer than this header's) or a required slot left
 * NULL fails with BLOBSTORE_EINVAL and a message naming it. Older versions
 * are still accepted, and the slots they lack are never read from them: a
 * version 1 backend has no iterate_filtered nor create_index, a version 2
 * backend no stats (the store then iterates every entry).
 */
#ifndef BLOBSTORE_SYS_META_BACKEND_H
#define BLOBSTORE_SYS_META_BACKEND_H

#include "../../blobstore.h"

#ifdef __cplusplus
extern "C" {
#endif

#define BLOBSTORE_META_BACKEND_VERSION 3

/**
 * One entry. Strings are NUL-terminated; in entries a backend returns,
 * every pointer member is allocated with malloc and released by
 * blobstore_entry_clear().
 */
typedef struct blobstore_entry {
    char *key;
    char *blob;         /**< blob name in the blob backend; NULL when inline */
    char *format;       /**< "bytes", "b2nd", "parquet", "pickle", ... */
    char *compression;  /**< codec name */
    char *content_hash; /**< SHA-256 hex of the bytes given to put */
    char *created_at;   /**< ISO-8601 UTC */
    char *updated_at;   /**< ISO-8601 UTC */
    char *metadata;     /**< the user's metadata, a JSON object text; never NULL */
    char *info;         /**< format details, a JSON object text, or NULL */
    uint64_t size;      /**< bytes given to put */
    uint64_t file_size; /**< bytes stored */
    int raw;            /**< 1: blob holds the bytes as given; 0: store frame */
    void *inline_data;  /**< the stored blob, when kept in the metadata store */
    size_t inline_len;
} blobstore_entry;

/** Free every member of e and zero it. */
BLOBSTORE_API void blobstore_entry_clear(blobstore_entry *e);
/** Deep-copy src into *dst (which is overwritten, not cleared). */
BLOBSTORE_API int blobstore_entry_copy(blobstore_entry *dst, const blobstore_entry *src);

/** Called per entry by iterate(); return nonzero to stop (iterate then
 *  returns that value). The entry is valid during the call only. */
typedef int (*blobstore_entry_fn)(void *ctx, const blobstore_entry *e);

/**
 * ctl operations. A backend that many machines share (PostgreSQL) records
 * the store's settings (blob backend, content addressing, sharding, codec)
 * itself, so that every machine opens the store alike, whatever its local
 * directory holds. Backends without them return BLOBSTORE_EUNSUPPORTED.
 */
/** arg char **: receives the recorded settings (a JSON object text, free
 *  with free()), or NULL when none are recorded. */
#define BLOBSTORE_META_CTL_SETTINGS_GET 1
/** arg const char *: record these settings unless some are recorded
 *  already (then nothing changes; read them back to compare). */
#define BLOBSTORE_META_CTL_SETTINGS_INIT 2
/** arg unused: check the whole index for damage (may read all of it);
 *  0 or BLOBSTORE_ECORRUPT naming the damage. verify calls it before it
 *  trusts the index enough to remove blobs without an entry. */
#define BLOBSTORE_META_CTL_CHECK 3

/** arg blobstore_meta_blob_refs *: count the entries whose blob is
 *  arg->blob into arg->count, inside the current transaction. In a
 *  content-addressed store entries with identical content share one blob,
 *  which is removed only when no entry refers to it. Backends without it
 *  return BLOBSTORE_EUNSUPPORTED: the store then iterates every entry. */
#define BLOBSTORE_META_CTL_BLOB_REFS 4

typedef struct blobstore_meta_blob_refs {
    const char *blob;
    uint64_t count;
} blobstore_meta_blob_refs;

/** arg uint64_t *: a number that changes whenever a connection other than
 *  this backend's (in this process or another) has committed a change to
 *  the index since the last call (SQLite: PRAGMA data_version). Read caches
 *  use it to stay coherent across processes. */
#define BLOBSTORE_META_CTL_DATA_VERSION 5

/** One group of entries that stats() reports: those of one format and one
 *  codec. Strings are valid during the call only. */
typedef struct blobstore_meta_group {
    const char *format;
    const char *compression;
    uint64_t entries;        /**< entries in the group */
    uint64_t size;           /**< their size, summed */
    uint64_t file_size;      /**< their file_size, summed */
    uint64_t blob_entries;   /**< those of them with a blob (not inline) */
    uint64_t blob_file_size; /**< file_size summed over those */
} blobstore_meta_group;

/** What stats() is given and fills. */
typedef struct blobstore_meta_stats {
    /** Set by the store: stats() calls it once per (format, compression)
     *  group, in any order; nonzero stops (stats() then returns it). */
    int (*group)(void *ctx, const blobstore_meta_group *g);
    void *ctx;
    /** Filled by stats(): among entries with a blob, those whose blob
     *  other entries refer to too, one per blob excepted: a blob that n
     *  entries refer to adds n - 1... */
    uint64_t shared_entries;
    /** ...and their file_size, summed: the bytes shared blobs save. A blob
     *  counts once, at the largest file_size its entries record (each entry
     *  records the size of the frame its own put made), so this is the sum
     *  of its entries' file_size minus their largest. */
    uint64_t shared_bytes;
    /** Filled by stats(): bytes the backend's storage takes, or -1 (as the
     *  store sets it before the call) for the store to sum the index files
     *  its registry row names. */
    int64_t index_bytes;
} blobstore_meta_stats;

/** Backend capability flags. */
#define BLOBSTORE_META_INLINE 1u /**< put() keeps inline_data */

struct blobstore_meta_backend {
    unsigned int version; /**< BLOBSTORE_META_BACKEND_VERSION */
    unsigned int flags;   /**< BLOBSTORE_META_* */
    /** must: start a transaction; write != 0 for a write transaction. */
    int (*begin)(blobstore_meta_backend *be, int write);
    /** must: commit (durably, if the backend was made durable). */
    int (*commit)(blobstore_meta_backend *be);
    /** must: abandon the transaction's changes. */
    int (*rollback)(blobstore_meta_backend *be);
    /** must: fill *out (caller clears it); BLOBSTORE_ENOTFOUND if absent. */
    int (*get)(blobstore_meta_backend *be, const char *key, blobstore_entry *out);
    /** must: insert or replace the entry with e->key. */
    int (*put)(blobstore_meta_backend *be, const blobstore_entry *e);
    /** must: remove; BLOBSTORE_ENOTFOUND if absent. */
    int (*remove)(blobstore_meta_backend *be, const char *key);
    /** must: call fn for each entry whose key starts with prefix (NULL or
     *  "": all), in key byte order. Entries passed may omit inline_data. */
    int (*iterate)(blobstore_meta_backend *be, const char *prefix, blobstore_entry_fn fn,
                   void *ctx);
    /** may: backend-specific control; NULL: none. */
    int (*ctl)(blobstore_meta_backend *be, int op, void *arg);
    /** must: free the backend (rolling back an open transaction). */
    void (*free)(blobstore_meta_backend *be);
    /* ---- version 2 ---- */
    /** may: like iterate() (key byte order), but may skip entries that cannot match filter
     *  (the text of a valid filter, see blobstore_query), e.g. by using an
     *  index. It may also pass entries that do not match: the store checks
     *  every entry it is given. NULL: the store uses iterate(). */
    int (*iterate_filtered)(blobstore_meta_backend *be, const char *prefix, const char *filter,
                            blobstore_entry_fn fn, void *ctx);
    /** may: create (if missing) an index on a metadata path; called outside
     *  transactions. NULL: the backend keeps no indexes (queries scan). */
    int (*create_index)(blobstore_meta_backend *be, const char *path);
    /* ---- version 3 ---- */
    /** may: aggregate every entry into st (see blobstore_meta_stats), inside
     *  a read transaction, without returning entries one by one (GROUP BY,
     *  one pass over an index in memory): blobstore_stats() on a large
     *  store. NULL: the store iterates every entry and aggregates itself. */
    int (*stats)(blobstore_meta_backend *be, blobstore_meta_stats *st);
};

/** The JSON file backend. path NULL: kept in memory only. durable: fsync
 *  the file and its directory on commit. */
BLOBSTORE_API int blobstore_meta_backend_json_new(blobstore_meta_backend **out, const char *path,
                                                  int durable);

/** The SQLite backend. path ":memory:" for an in-memory database. */
BLOBSTORE_API int blobstore_meta_backend_sqlite_new(blobstore_meta_backend **out, const char *path,
                                                    int durable);

/** The PostgreSQL backend (libpq): any libpq connection string or URL
 *  ("postgresql://user@host:port/db"); the password comes from PGPASSWORD
 *  or ~/.pgpass as libpq finds it. Writers on any number of machines share
 *  it. The backend is a module, libblobstore-pg.so (libpq), loaded on the
 *  first call (from $BLOBSTORE_MODULE_DIR when set, else LIBDIR/blobstore or
 *  beside the library). Errors: BLOBSTORE_EIO (cannot connect),
 *  BLOBSTORE_EUNSUPPORTED (a newer schema; the module is not installed). */
BLOBSTORE_API int blobstore_meta_backend_pg_new(blobstore_meta_backend **out, const char *conninfo);

#ifdef __cplusplus
}
#endif

#endif
