/*
 * blobstore.h - the public API of libblobstore.
 *
 * A blobstore keeps binary blobs (and, through format modules, typed arrays
 * and tables) under string keys, with a JSON metadata object per entry. Blobs
 * are compressed, checksummed and written crash-safely. Metadata lives in a
 * JSON file, a SQLite database or a PostgreSQL database (which machines
 * share); blobs live in sharded files, in memory, in an S3 bucket (AWS S3,
 * Ceph RGW, MinIO), or in a custom backend (see blobstore/sys/).
 * blobstore_name() lists the backends, codecs and formats this build knows.
 *
 * Conventions
 *  - Functions return 0 on success or a negative BLOBSTORE_E* code. The
 *    thread-local message of the last failure is blobstore_errmsg().
 *  - Output parameters come first and are named out*. Memory returned through
 *    them belongs to the caller and is released with blobstore_free().
 *
 * Threads and processes
 *  - A blobstore handle may be shared by threads; every call is thread-safe.
 *    Error messages are per thread.
 *  - A batch (blobstore_batch_begin) belongs to the thread that began it:
 *    that thread's calls on the handle join the batch; other threads' calls
 *    on the same handle wait until it ends, so only the thread that began it
 *    can commit or roll it back (a commit from another thread waits for the
 *    batch to end, then fails with BLOBSTORE_EINVAL, "no batch is open").
 *  - blobstore_close() must not run while other threads use the handle.
 *  - Many processes may open the same local store at once: writers exclude
 *    one another through the store's lock file and the metadata backend's
 *    own locking, so every process sees whole entries only. A PostgreSQL
 *    store may be opened by processes on many machines.
 *  - fork(): a handle open in the parent must be neither used nor closed in
 *    the child. The child shares its descriptors (the store's flock, the
 *    SQLite database, a PostgreSQL connection's socket) and inherits its
 *    mutexes in whatever state other threads held them; closing it there
 *    could checkpoint the parent's SQLite WAL or end the parent's PostgreSQL
 *    session. The child opens the store anew and leaves the inherited handle
 *    alone (its memory and descriptors go at exit or exec). The files the
 *    library opens itself are close-on-exec.
 *  - Keys are 1..1024 bytes of valid UTF-8 (no NUL). They are never used as
 *    file names, so any such key is safe. A put refuses keys with control
 *    characters (0x01-0x1F, 0x7F: a newline would split a listing line);
 *    such keys that older versions stored are still read, listed, deleted.
 *  - Metadata is passed and returned as JSON text.
 */
#ifndef BLOBSTORE_H
#define BLOBSTORE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(BLOBSTORE_BUILDING) && defined(__GNUC__)
#define BLOBSTORE_API __attribute__((visibility("default")))
#else
#define BLOBSTORE_API
#endif

#define BLOBSTORE_VERSION_MAJOR  0
#define BLOBSTORE_VERSION_MINOR  1
#define BLOBSTORE_VERSION_PATCH  0
#define BLOBSTORE_VERSION_STRING "0.1.0"

/** Longest key, in bytes. */
#define BLOBSTORE_KEY_MAX 1024

/** Error codes. Stable: values never change meaning. */
typedef enum {
    BLOBSTORE_OK = 0,
    BLOBSTORE_ENOTFOUND = -1,    /**< no such key */
    BLOBSTORE_ECORRUPT = -2,     /**< stored data fails its checksum or is malformed */
    BLOBSTORE_EINVAL = -3,       /**< invalid argument (bad key, bad JSON, bad option) */
    BLOBSTORE_EIO = -4,          /**< operating-system or backend I/O failure */
    BLOBSTORE_ENOMEM = -5,       /**< out of memory */
    BLOBSTORE_EEXISTS = -6,      /**< already exists */
    BLOBSTORE_EUNSUPPORTED = -7, /**< a format feature or operation this build does not support */
    BLOBSTORE_ECONFLICT = -8,    /**< options conflict with the store's recorded settings */
    BLOBSTORE_ECALLBACK = -9,    /**< a user callback returned an error */
    BLOBSTORE_EREADONLY = -10,   /**< a write to a store opened BLOBSTORE_OPEN_READONLY */
} blobstore_error;

/** A static description of an error code; never NULL. */
BLOBSTORE_API const char *blobstore_strerror(int code);

/**
 * The message of the last error raised on this thread, with detail (file
 * names, offending key...). Never NULL; "" when there was none. Valid until
 * the next blobstore call on this thread.
 */
BLOBSTORE_API const char *blobstore_errmsg(void);

/** Release memory returned by this library. blobstore_free(NULL) is a no-op. */
BLOBSTORE_API void blobstore_free(void *p);

/** The library version, "MAJOR.MINOR.PATCH". */
BLOBSTORE_API const char *blobstore_version(void);

/** What blobstore_name() lists. */
typedef enum {
    BLOBSTORE_NAMES_META_BACKENDS = 1, /**< "json", "sqlite", "postgresql://" */
    BLOBSTORE_NAMES_BLOB_BACKENDS = 2, /**< "filesystem", "memory", "s3://" */
    BLOBSTORE_NAMES_CODECS = 3,        /**< "none", "lz4", "zstd", "gzip", "blosclz" */
    BLOBSTORE_NAMES_FORMATS = 4,       /**< "bytes", "b2nd", "parquet", "pickle" */
} blobstore_names_kind;

/**
 * The i-th name (from 0) of a kind of thing this library knows, or NULL past
 * the last: what blobstore_options.backend, .blob_backend and .compression
 * and blobstore_put_options.format accept. A backend chosen by a URL is
 * listed as its scheme ("postgresql://"). The strings are static. For usage
 * texts and bindings: the library itself checks every name it is given.
 */
BLOBSTORE_API const char *blobstore_name(blobstore_names_kind kind, size_t i);

typedef struct blobstore blobstore;
typedef struct blobstore_meta_backend blobstore_meta_backend; /* blobstore/sys/meta_backend.h */
typedef struct blobstore_blob_backend blobstore_blob_backend; /* blobstore/sys/blob_backend.h */

/** Tri-state booleans in options: 0 = default / as recorded by the store. */
#define BLOBSTORE_YES 1
#define BLOBSTORE_NO  (-1)

/** shard_chars value meaning "no sharding" (0 itself means default). */
#define BLOBSTORE_SHARD_NONE (-1)

typedef enum {
    BLOBSTORE_DURABILITY_DEFAULT = 0, /**< DURABLE */
    /** A put that returned survives a power loss: blob and directory are
     *  fsynced, metadata commits synchronously. */
    BLOBSTORE_DURABILITY_DURABLE = 1,
    /** No fsync: a put that returned survives a crash of the process but
     *  may be lost (never half-visible) on power loss. */
    BLOBSTORE_DURABILITY_RELAXED = 2,
} blobstore_durability;

#define BLOBSTORE_OPTIONS_VERSION 3

/** open_flags (blobstore_options version 3). With none, blobstore_open()
 *  creates the store if cache_dir does not exist or is empty, opens it if it
 *  is a store (holds its settings file, blobstore.json), and refuses any
 *  other directory (BLOBSTORE_ECONFLICT): a store never takes over a
 *  directory that holds files of its own. */
/** Open an existing store only: a directory that is not a store (or does
 *  not exist) fails with BLOBSTORE_ENOTFOUND, "DIR is not a blobstore store
 *  (no blobstore.json)", and nothing is created. */
#define BLOBSTORE_OPEN_EXISTING 1u
/** Open an existing store (as BLOBSTORE_OPEN_EXISTING) for reading only:
 *  nothing is ever written to its directory (no lock or index file is
 *  created; files are opened read-only), so a user with read permission only
 *  can get, list and verify without repair. Writes fail with
 *  BLOBSTORE_EREADONLY. (Like LMDB's MDB_RDONLY.) */
#define BLOBSTORE_OPEN_READONLY 2u

/**
 * Options for blobstore_open(). Initialise with BLOBSTORE_OPTIONS_INIT; a
 * zero / NULL field means "the default, or what the store recorded when it
 * was created". Fields are only ever added at the end.
 */
typedef struct blobstore_options {
    unsigned int version;
    /** Store directory. Default ".blobstore". */
    const char *cache_dir;
    /** Metadata backend: "json" (default), "sqlite", or a PostgreSQL URL
     *  ("postgresql://USER@HOST:PORT/DB", see blobstore_meta_backend_pg_new). */
    const char *backend;
    /** A custom metadata backend; overrides `backend`. The store takes
     *  ownership and frees it on close (also when open fails). */
    blobstore_meta_backend *meta_backend;
    /** Default codec: "lz4" (default), "zstd", "gzip", "blosclz", "none". */
    const char *compression;
    /** 1..9, default 3. */
    int compression_level;
    /** BLOBSTORE_YES: keys are the SHA-256 of the content. */
    int content_addressable;
    /** Blob backend: "filesystem" (default), "memory", or an S3 URL
     *  ("s3://BUCKET/PREFIX?endpoint=...", see blobstore_blob_backend_s3_new).
     *  With "memory" the whole store lives in this process: nothing is
     *  written to disk. */
    const char *blob_backend;
    /** A custom blob backend; overrides `blob_backend`. Owned as above. */
    blobstore_blob_backend *blob_backend_impl;
    /** Hex characters of shard directory names: 1..8, BLOBSTORE_SHARD_NONE
     *  for none; default 2. */
    int shard_chars;
    /** See blobstore_durability. Not recorded: chosen per open. */
    int durability;
    /** BLOBSTORE_YES: every get also recomputes the SHA-256 of the content.
     *  By default a get checks each stored chunk's 64-bit checksum, the exact
     *  decoded length and the recorded SHA-256 against the entry (so damaged
     *  bytes are never returned), and leaves the full SHA-256 recomputation
     *  to blobstore_verify(): SHA-256 is slower than lz4 or zstd decoding. */
    int verify_content_hash;
    /* ---- version 2 ---- */
    /** Name of the settings file in cache_dir; NULL: "blobstore.json". Lets
     *  a second store be set up in the same directory (blobstore migrate
     *  without --to-dir) before it replaces the first. A plain file name. */
    const char *settings_name;
    /* ---- version 3 ---- */
    /** BLOBSTORE_OPEN_* flags; 0: create the store if needed (see above). */
    unsigned int open_flags;
} blobstore_options;

#define BLOBSTORE_OPTIONS_INIT                                                                     \
    {                                                                                              \
        .version = BLOBSTORE_OPTIONS_VERSION                                                       \
    }

/**
 * Open the store described by opts (NULL: defaults), creating it in a new or
 * empty directory unless opts->open_flags say otherwise (see
 * BLOBSTORE_OPEN_EXISTING and BLOBSTORE_OPEN_READONLY).
 * A store records its settings on creation; reopening with options that
 * contradict them fails with BLOBSTORE_ECONFLICT (compression and level may
 * differ: each blob records its own codec).
 * Errors: BLOBSTORE_EINVAL, BLOBSTORE_ECONFLICT (also: a directory that is
 * neither empty nor a store), BLOBSTORE_ENOTFOUND (not a store, with
 * BLOBSTORE_OPEN_EXISTING / READONLY), BLOBSTORE_EIO, BLOBSTORE_ECORRUPT.
 */
BLOBSTORE_API int blobstore_open(blobstore **out, const blobstore_options *opts);

/** Close the store and free the handle. NULL is a no-op. */
BLOBSTORE_API void blobstore_close(blobstore *bs);

/** Reader callback for streamed puts: fill buf with up to cap bytes, store
 *  the count in *out_n (0 = end of data); return 0, or nonzero to abort. */
typedef int (*blobstore_read_fn)(void *ctx, void *buf, size_t cap, size_t *out_n);
/** Writer callback for streamed gets: consume len bytes; return 0, or
 *  nonzero to abort (the get then fails with BLOBSTORE_ECALLBACK). */
typedef int (*blobstore_write_fn)(void *ctx, const void *buf, size_t len);

#define BLOBSTORE_PUT_OPTIONS_VERSION 2

/** Put flag (blobstore_put_options.flags, version 2): refuse to replace an
 *  existing entry; the put then fails with BLOBSTORE_EEXISTS and stores
 *  nothing. The check and the new entry's commit are one transaction, so
 *  of two such puts of one key exactly one succeeds. */
#define BLOBSTORE_PUT_NO_OVERWRITE 1u

/** Per-put options; initialise with BLOBSTORE_PUT_OPTIONS_INIT. */
typedef struct blobstore_put_options {
    unsigned int version;
    /** User metadata: a JSON object, or NULL for {}. */
    const char *metadata;
    /** Codec for this blob; NULL: the store's default. */
    const char *compression;
    /** 1..9; 0: the store's default. */
    int compression_level;
    /** What the bytes are: "bytes" (NULL), or a format module's name
     *  ("b2nd", "parquet", "pickle"). Shown as `format` by get_metadata. */
    const char *format;
    /** Non-zero: store the bytes exactly as given (a self-describing file
     *  such as .b2nd or .parquet), not compressed into the store's frame.
     *  Its SHA-256 is still recorded and checked on every get. */
    int raw;
    /** Format details (a JSON object, e.g. {"dtype":"<f8","shape":[3]})
     *  shown at the top level of get_metadata. NULL: none. Member names
     *  starting with '_' are the store's own: refused (EINVAL). */
    const char *format_info;
    /** Blob file extension, e.g. ".b2nd"; NULL: derived from `format`. */
    const char *extension;
    /* ---- version 2 ---- */
    /** BLOBSTORE_PUT_* flags; 0: replace any existing entry. */
    unsigned int flags;
} blobstore_put_options;

#define BLOBSTORE_PUT_OPTIONS_INIT                                                                 \
    {                                                                                              \
        .version = BLOBSTORE_PUT_OPTIONS_VERSION                                                   \
    }

/**
 * The format a converting put (blobstore_put_file) makes of a file named
 * name, chosen by its extension among the format modules' (.npy and .b2nd:
 * "b2nd", an array; .parquet: "parquet", a table); NULL if none takes it
 * (it is stored as its bytes). *what (if what is not NULL) receives what
 * that is, for people ("an array (Blosc2 .b2nd)"), or NULL.
 */
BLOBSTORE_API const char *blobstore_file_format(const char *name, const char **what);

/**
 * Put the file open on fd as what it is: the format module its name's
 * extension selects (blobstore_file_format) checks and converts it; name
 * NULL: the module whose detector recognises the file's first and last
 * bytes (a Blosc2 frame or .npy file, Parquet's PAR1 at both ends, ...;
 * fd must be a regular file for that). A file no module takes is stored as
 * its bytes (blobstore_put_fd). opts: metadata, flags (and, for bytes, the
 * codec). Errors: those of the module's put (BLOBSTORE_ECORRUPT: the file
 * is not valid as its format), BLOBSTORE_EEXISTS, BLOBSTORE_EIO.
 */
BLOBSTORE_API int blobstore_put_file(char **out_key, blobstore *bs, const char *key, int fd,
                                     const char *name, const blobstore_put_options *opts);

/**
 * Write key's entry to fd converted into the kind of file name's extension
 * names, by the entry's format module (an array as a .npy file).
 * BLOBSTORE_EUNSUPPORTED (no message) if the entry's format has no such
 * conversion: its bytes (blobstore_get_fd) are then what a file holds.
 * Errors: BLOBSTORE_ENOTFOUND, BLOBSTORE_ECORRUPT, BLOBSTORE_EIO.
 */
BLOBSTORE_API int blobstore_get_file(blobstore *bs, const char *key, int fd, const char *name);

/**
 * Store len bytes under key (NULL: a random 16-hex-character key; ignored in
 * a content-addressable store, where the key is the SHA-256 hex of data).
 * Replaces any existing entry with that key, data and metadata both.
 * metadata is a JSON object text or NULL. On success *out_key (if out_key is
 * not NULL) receives the key, to be freed with blobstore_free().
 * Errors: BLOBSTORE_EINVAL (bad key -- empty, too long, not UTF-8, or with
 * a control character -- or bad metadata), BLOBSTORE_EIO.
 */
BLOBSTORE_API int blobstore_put(char **out_key, blobstore *bs, const char *key, const void *data,
                                size_t len, const char *metadata);

/** blobstore_put() with per-put options (opts may be NULL). With
 *  BLOBSTORE_PUT_NO_OVERWRITE in opts->flags an existing key fails with
 *  BLOBSTORE_EEXISTS (nothing is stored). */
BLOBSTORE_API int blobstore_put_ex(char **out_key, blobstore *bs, const char *key, const void *data,
                                   size_t len, const blobstore_put_options *opts);

/** Streamed put: reads until the callback reports end of data. Memory use
 *  is bounded whatever the size. */
BLOBSTORE_API int blobstore_put_stream(char **out_key, blobstore *bs, const char *key,
                                       blobstore_read_fn read, void *ctx,
                                       const blobstore_put_options *opts);

/** Streamed put from a file descriptor, read to its end. */
BLOBSTORE_API int blobstore_put_fd(char **out_key, blobstore *bs, const char *key, int fd,
                                   const blobstore_put_options *opts);

/**
 * Read the blob under key into a new buffer (*out, *out_len; free with
 * blobstore_free). The data is checked against its recorded SHA-256 before
 * it is returned.
 * Errors: BLOBSTORE_ENOTFOUND, BLOBSTORE_ECORRUPT, BLOBSTORE_EIO.
 */
BLOBSTORE_API int blobstore_get(void **out, size_t *out_len, blobstore *bs, const char *key);

/** What blobstore_get_value() read with the value. */
typedef struct blobstore_value_info {
    char format[33];       /**< the entry's format: "bytes", "pickle", "b2nd", ... */
    char content_hash[65]; /**< SHA-256 hex of the value */
    uint64_t size;         /**< the value's size in bytes */
    char *info;    /**< format details (JSON object text; free with blobstore_free) or NULL */
    int has_value; /**< 1: *out holds the value; 0: its format was not asked for */
} blobstore_value_info;

/**
 * One read of the entry under key and, when its format is one of formats
 * (a NULL-terminated list; NULL: any format), its value, checked as by
 * blobstore_get (*out, *out_len; free with blobstore_free). An entry of
 * another format is not read further: *vi describes it, vi->has_value is
 * 0 and *out is NULL. The value and *vi come from the same read of the
 * entry (a concurrent put cannot pair one's value with the other's hash).
 * Errors: BLOBSTORE_ENOTFOUND, BLOBSTORE_ECORRUPT, BLOBSTORE_EIO.
 */
BLOBSTORE_API int blobstore_get_value(void **out, size_t *out_len, blobstore_value_info *vi,
                                      blobstore *bs, const char *key, const char *const *formats);

/**
 * Streamed get in bounded memory. Each stored chunk is checked before it
 * is handed to write; the whole-blob SHA-256 is checked at the end (a
 * mismatch there returns BLOBSTORE_ECORRUPT after the data was written,
 * so write to a temporary file when that matters).
 */
BLOBSTORE_API int blobstore_get_stream(blobstore *bs, const char *key, blobstore_write_fn write,
                                       void *ctx);

/** Streamed get to a file descriptor. */
BLOBSTORE_API int blobstore_get_fd(blobstore *bs, const char *key, int fd);

/**
 * The entry's metadata as a JSON object text (free with blobstore_free):
 * key, metadata (the user's object), size, file_size, format, compression,
 * content_hash, created_at, updated_at, blob, and format details. Never
 * reads the blob. Errors: BLOBSTORE_ENOTFOUND.
 */
BLOBSTORE_API int blobstore_get_metadata(char **out_json, blobstore *bs, const char *key);

/**
 * Change counters for read caches: *theirs changes whenever another
 * connection to the index (another handle, another process) has committed a
 * change, *ours whenever this handle has begun a write or a batch. A value
 * read after both were taken is still current while neither has changed.
 * Errors: BLOBSTORE_EUNSUPPORTED (an index without a counter: JSON,
 * PostgreSQL, custom backends).
 */
BLOBSTORE_API int blobstore_changes(blobstore *bs, uint64_t *theirs, uint64_t *ours);

/** Merge the top-level members of a JSON object into the entry's user
 *  metadata. Errors: BLOBSTORE_ENOTFOUND, BLOBSTORE_EINVAL. */
BLOBSTORE_API int blobstore_update_metadata(blobstore *bs, const char *key, const char *json);

/** Delete an entry and its blob. Errors: BLOBSTORE_ENOTFOUND. */
BLOBSTORE_API int blobstore_delete(blobstore *bs, const char *key);

/** 1 if the entry and its blob both exist, 0 if not, or a negative error. */
BLOBSTORE_API int blobstore_exists(blobstore *bs, const char *key);

/** A list of keys; free with blobstore_list_free(). */
typedef struct blobstore_list {
    size_t count;
    char **keys;
} blobstore_list;

BLOBSTORE_API void blobstore_list_free(blobstore_list *list);

/**
 * Keys in byte order, optionally only those starting with prefix and whose
 * metadata matches filter (a JSON object in the filter language of
 * blobstore_query; a plain object means each member must be present in the
 * user metadata with an equal value). prefix/filter may be NULL.
 * Errors: BLOBSTORE_EINVAL (bad filter).
 */
BLOBSTORE_API int blobstore_list_keys(blobstore_list *out, blobstore *bs, const char *prefix,
                                      const char *filter);

#define BLOBSTORE_QUERY_VERSION 1

/**
 * A metadata query; initialise with BLOBSTORE_QUERY_INIT.
 *
 * filter is a JSON object in the filter language: exact matches
 * ({"deployed": true}), operators on a path ({"accuracy": {"$gt": 0.9}}:
 * $eq $ne $gt $gte $lt $lte $in $nin $exists $prefix $not), combined with
 * $and, $or, $not. Paths are dotted paths into the user's metadata
 * ("hyperparameters.learning_rate") or "@field" for the store's own fields
 * (@key @size @file_size @format @compression @content_hash @created_at
 * @updated_at). Comparisons only hold between values of the operand's JSON
 * type (a number never equals or exceeds a string); {"x": null} matches a
 * present null, {"x": {"$exists": false}} an absent field.
 */
typedef struct blobstore_query {
    unsigned int version;
    const char *prefix;   /**< keys starting with this; NULL: all */
    const char *filter;   /**< JSON filter; NULL: all */
    const char *order_by; /**< a path or @field, "-" first for descending; NULL: by key.
                               Missing values sort last; ties are broken by key. */
    size_t limit;         /**< at most this many results; 0: no limit */
    size_t offset;        /**< skip this many results first */
    int with_metadata;    /**< non-zero: also return each entry's get_metadata JSON */
} blobstore_query;

#define BLOBSTORE_QUERY_INIT                                                                       \
    {                                                                                              \
        .version = BLOBSTORE_QUERY_VERSION                                                         \
    }

/** Query results; free with blobstore_result_free(). */
typedef struct blobstore_result {
    size_t count;
    char **keys;
    char **metadata; /**< NULL unless with_metadata; then one JSON text per key */
} blobstore_result;

BLOBSTORE_API void blobstore_result_free(blobstore_result *r);

/**
 * Run a query. The answers are the same on every metadata backend.
 * Errors: BLOBSTORE_EINVAL (invalid filter or order_by; the message names
 * the offending part).
 */
BLOBSTORE_API int blobstore_query_run(blobstore_result *out, blobstore *bs,
                                      const blobstore_query *q);

/**
 * Declare an index on a metadata path ("accuracy", "hyperparameters.lr"),
 * so filters on it are answered without a scan where the metadata backend
 * supports indexes (SQLite, PostgreSQL); elsewhere it is accepted and has no
 * effect. Indexable paths are dotted names of letters, digits and '_'.
 * Errors: BLOBSTORE_EINVAL.
 */
BLOBSTORE_API int blobstore_create_index(blobstore *bs, const char *path);

/** Delete every entry; *out_count (may be NULL) receives how many. */
BLOBSTORE_API int blobstore_clear(size_t *out_count, blobstore *bs);

/**
 * Batches: between begin and commit, puts, deletes and metadata updates on
 * this handle by the thread that began the batch are committed together,
 * with a single sync at commit. Other threads using the same handle wait for
 * the batch to end (see "Threads and processes" above). Rollback undoes
 * the metadata of an uncommitted batch (blobs already written become
 * orphans that verify --repair removes).
 */
BLOBSTORE_API int blobstore_batch_begin(blobstore *bs);
BLOBSTORE_API int blobstore_batch_commit(blobstore *bs);
BLOBSTORE_API int blobstore_batch_rollback(blobstore *bs);

/** What blobstore_verify() found. */
typedef enum {
    BLOBSTORE_PROBLEM_CORRUPT = 1,  /**< blob fails its checksum or cannot be decoded */
    BLOBSTORE_PROBLEM_DANGLING = 2, /**< an entry whose blob is missing */
    BLOBSTORE_PROBLEM_ORPHAN = 3,   /**< a superseded or foreign-content blob no entry refers to */
    BLOBSTORE_PROBLEM_TEMP = 4,     /**< a leftover temporary file of an interrupted write */
    /** A file that makes the store unsafe to use: the pickle signing key
     *  (blob "pickle_secret.key") is a symbolic link, not a regular file,
     *  owned by another user than the caller and root, or open to others
     *  (mode other than 0600/0400). Never removed; not counted in
     *  blobstore_verify_stats. */
    BLOBSTORE_PROBLEM_UNSAFE = 5,
    /** Something in the store's directories it did not create: a symbolic
     *  link (where blobs/, tmp/ or a shard directory should be, too: never
     *  followed), a stray directory, a file whose name the store never
     *  makes. blob is its path in the store, e.g. "tmp/notes.txt". Never
     *  removed (not counted in blobstore_verify_stats). */
    BLOBSTORE_PROBLEM_FOREIGN = 6,
    /** A blob no entry refers to whose entry record (frame trailer, or the
     *  sidecar of a file stored as it is) names a key the index lacks, or
     *  holds an older entry for, or whose record cannot be read: the only
     *  copy of a commit the index lost (a deleted SQLite -wal, an older copy
     *  of the index put back), or a put that never committed; verify cannot
     *  tell which. key is the record's key (NULL if unreadable). Never
     *  removed; blobstore_rebuild_index() (verify --rebuild-index) restores
     *  it. Not counted in blobstore_verify_stats. Only blobs proven
     *  superseded (their key's entry is newer and its blob present) or not
     *  the store's at all (no frame, no sidecar, no record) are orphans. */
    BLOBSTORE_PROBLEM_UNINDEXED = 7,
    /** An entry of a content-addressed store without its key record (the
     *  small object naming its key, metadata and shared blob, from which
     *  blobstore_rebuild_index() restores it): a rebuild would lose it.
     *  blob is the missing record's name. Repair writes it from the entry
     *  (repaired is then nonzero). Not counted in blobstore_verify_stats. */
    BLOBSTORE_PROBLEM_NORECORD = 8,
} blobstore_problem_kind;

typedef struct blobstore_problem {
    blobstore_problem_kind kind;
    const char *key;    /**< the entry's key, or NULL for orphans and temps */
    const char *blob;   /**< the blob name, or NULL */
    const char *detail; /**< a human-readable explanation */
    int repaired;       /**< non-zero if repair removed it */
} blobstore_problem;

/** Called once per problem; return nonzero to stop. */
typedef int (*blobstore_problem_fn)(void *ctx, const blobstore_problem *p);

typedef struct blobstore_verify_stats {
    size_t entries;  /**< entries checked */
    size_t ok;       /**< entries whose blob verified */
    size_t corrupt;  /**< corrupt blobs (never removed) */
    size_t dangling; /**< entries without a blob */
    size_t orphans;  /**< blobs without an entry */
    size_t temps;    /**< leftover temporary files */
    size_t repaired; /**< problems removed by repair */
} blobstore_verify_stats;

/** Remove dangling entries, orphans and temps: only files the store can
 *  prove it made (its own names, in its own directories, not links). */
#define BLOBSTORE_VERIFY_REPAIR 1u

/**
 * Check every blob against its checksum and look for orphans, dangling
 * entries and temporary files. With BLOBSTORE_VERIFY_REPAIR, removes what is
 * safe to remove (corrupt blobs are kept and reported). fn may be NULL.
 */
BLOBSTORE_API int blobstore_verify(blobstore_verify_stats *out, blobstore *bs, unsigned int flags,
                                   blobstore_problem_fn fn, void *ctx);

/** What blobstore_rebuild_index() did. */
typedef struct blobstore_rebuild_stats {
    size_t blobs;      /**< blobs (and sidecars) read */
    size_t restored;   /**< entries written from the records the blobs carry */
    size_t kept;       /**< keys whose entry the index still had, with its blob */
    size_t superseded; /**< older blobs of a key a newer blob replaced */
    size_t unreadable; /**< blobs that give no entry (corrupt, or without a record) */
} blobstore_rebuild_stats;

/**
 * Rebuild the index from the blobs. Every blob written by this version
 * carries its key and the metadata it was put with (framed blobs in their
 * trailer; files stored as they are, .b2nd and .parquet, in a small sidecar
 * object "<name>.entry"); each blob is read whole and checked, and for each
 * key the newest blob's entry is written, unless the index still has an
 * entry for the key whose blob is there (its metadata may be newer). Values
 * kept inline in a SQLite index have no blob and cannot be rebuilt.
 * Blobs written before (frame version 1) are reported as problems, not
 * restored. fn (may be NULL) receives each blob that gives no entry.
 * To rebuild a damaged or missing index, open the store with
 * blobstore_open_rebuilding() first.
 * Errors: BLOBSTORE_EIO, BLOBSTORE_ENOMEM.
 */
BLOBSTORE_API int blobstore_rebuild_index(blobstore_rebuild_stats *out, blobstore *bs,
                                          blobstore_problem_fn fn, void *ctx);

/**
 * Open a store like blobstore_open(), except that a local index (JSON,
 * SQLite) that is damaged or missing is set aside, renamed
 * "<file>.damaged-<UTC time>" (kept, never deleted), and a new empty one
 * created, for blobstore_rebuild_index() to fill. An intact index is kept.
 * Errors: as blobstore_open().
 */
BLOBSTORE_API int blobstore_open_rebuilding(blobstore **out, const blobstore_options *opts);

/** The store's settings as a JSON object (free with blobstore_free). */
BLOBSTORE_API int blobstore_settings(char **out_json, blobstore *bs);

#define BLOBSTORE_STATS_VERSION 1

/** One line of a breakdown of blobstore_stats(): the entries of one format
 *  ("bytes", "b2nd", "parquet", "pickle", ...) or of one codec. */
typedef struct blobstore_stats_group {
    char *name;              /**< the format's or codec's name */
    uint64_t entries;        /**< entries of this format or codec */
    uint64_t stored_bytes;   /**< their stored (compressed) bytes, file_size summed */
    uint64_t original_bytes; /**< their original bytes (as given to put), size summed */
} blobstore_stats_group;

/**
 * What blobstore_stats() reports. An out-struct: the caller sets version
 * (initialise with BLOBSTORE_STORE_STATS_INIT) and the library fills the
 * fields of that version; fields are only ever added at the end. Free the
 * breakdowns with blobstore_stats_free().
 */
typedef struct blobstore_store_stats {
    unsigned int version;    /**< set by the caller: BLOBSTORE_STATS_VERSION */
    uint64_t entries;        /**< number of entries (keys) */
    uint64_t stored_bytes;   /**< stored bytes summed over entries (a shared blob once per entry) */
    uint64_t original_bytes; /**< original (uncompressed) bytes summed over entries */
    size_t n_formats;        /**< length of formats */
    blobstore_stats_group *formats; /**< by format, in name order */
    size_t n_codecs;                /**< length of codecs */
    blobstore_stats_group *codecs;  /**< by codec, in name order */
    /** Entries whose value the metadata backend keeps inline (SQLite and
     *  PostgreSQL keep small values so): they have no blob. */
    uint64_t inline_entries;
    uint64_t blobs;      /**< distinct blobs the other entries refer to */
    uint64_t blob_bytes; /**< stored bytes of those blobs, each counted once */
    /** Bytes that shared blobs save: the stored bytes of the entries that
     *  have a blob minus blob_bytes. Non-zero only in a content-addressed
     *  store where keys share content. */
    uint64_t dedup_saved_bytes;
    /** Size of the index on disk: the metadata backend's files in the store
     *  directory (cache_metadata.json and its journal, cache_metadata.db and
     *  its -wal), or the PostgreSQL table with its indexes and TOAST. -1
     *  when unknown (an index in memory, a custom backend without files). */
    int64_t index_bytes;
} blobstore_store_stats;

#define BLOBSTORE_STORE_STATS_INIT                                                                 \
    {                                                                                              \
        .version = BLOBSTORE_STATS_VERSION                                                         \
    }

/**
 * Statistics of the whole store, aggregated inside the metadata backend
 * (one scan of the table in SQLite, SQL GROUP BY in PostgreSQL, one pass
 * over the index in memory for JSON): no blob is read. out->version must be set (see
 * BLOBSTORE_STORE_STATS_INIT). On success free out with
 * blobstore_stats_free(); on failure nothing needs freeing.
 * Errors: BLOBSTORE_EINVAL (NULL or an unknown version), BLOBSTORE_EIO,
 * BLOBSTORE_ENOMEM.
 */
BLOBSTORE_API int blobstore_stats(blobstore_store_stats *out, blobstore *bs);

/** Free the breakdowns of *st and zero them (version is kept). NULL is a
 *  no-op. */
BLOBSTORE_API void blobstore_stats_free(blobstore_store_stats *st);

/** What blobstore_migrate() did. */
typedef struct blobstore_migrate_stats {
    size_t entries; /**< source entries seen */
    size_t copied;  /**< copied and verified */
    size_t skipped; /**< already in the destination (same content and metadata) */
    size_t failed;  /**< source blob corrupt or missing: reported, not copied */
    uint64_t bytes; /**< stored bytes copied */
} blobstore_migrate_stats;

/**
 * Copy every entry of src into dst (e.g. a local store into PostgreSQL and
 * S3, or back): metadata, timestamps, format details and the stored bytes as
 * they are (nothing is recompressed). Each copy is read back from dst and
 * checked (chunk checksums and the full SHA-256) before its entry is
 * committed there, so dst never holds an entry for a bad copy. Entries dst
 * already holds with the same content and metadata are skipped: an
 * interrupted migration resumes where it stopped. A source entry whose blob
 * is corrupt or missing is reported through fn (kind CORRUPT or DANGLING),
 * left out, and makes the result BLOBSTORE_ECORRUPT once all others are
 * copied. src is not changed.
 */
BLOBSTORE_API int blobstore_migrate(blobstore_migrate_stats *out, blobstore *dst, blobstore *src,
                                    blobstore_problem_fn fn, void *ctx);

/** blobstore_migrate_to() flag: move the store to its new backends in its
 *  own directory. */
#define BLOBSTORE_MIGRATE_IN_PLACE 1u

/**
 * Copy the store src to the backends `to` names, as blobstore_migrate()
 * copies: to->backend, blob_backend and shard_chars (those not named stay
 * src's), to->durability; the codec, level and content addressing are src's.
 * Without flags, the copy is a new store in to->cache_dir (created there
 * as blobstore_open() creates one) and src is not changed.
 * With BLOBSTORE_MIGRATE_IN_PLACE the store moves in its own directory
 * (to->cache_dir NULL or src's): the new store is set up beside it, its
 * settings in "blobstore.json.migrating", and once every entry is copied and
 * checked they replace src's settings in one rename. Until then the
 * directory is src's store; a migration that stopped resumes when run again
 * with the same backends. Index files of the new backend's kind that an
 * earlier store there left are renamed "<file>.old-<UTC time>" first, never
 * adopted; the old index and blobs are left as they were. src stays open
 * on its old backends: close it and open the directory again.
 * Errors: BLOBSTORE_EINVAL (no directory, nothing to change, a memory blob
 * backend, in place onto src's own index files), BLOBSTORE_ECONFLICT (an
 * unfinished migration to other backends), BLOBSTORE_EREADONLY, those of
 * blobstore_open() and blobstore_migrate() (BLOBSTORE_ECORRUPT: some source
 * entries could not be copied; an in-place store then does not switch).
 */
BLOBSTORE_API int blobstore_migrate_to(blobstore_migrate_stats *out, blobstore *src,
                                       const blobstore_options *to, unsigned int flags,
                                       blobstore_problem_fn fn, void *ctx);

/**
 * Progress of a long scan: fn(ctx, done, total) is called after each entry
 * that blobstore_verify() checks and blobstore_migrate() /
 * blobstore_migrate_to() copy from this store (their source), with the
 * entries done and the entries the scan found at its start. It runs on the
 * calling thread; it must not call into the store. fn NULL turns it off.
 * (The CLI draws its progress bar for verify and migrate with it.)
 */
typedef void (*blobstore_progress_fn)(void *ctx, uint64_t done, uint64_t total);
BLOBSTORE_API void blobstore_set_progress(blobstore *bs, blobstore_progress_fn fn, void *ctx);

#ifdef __cplusplus
}
#endif

#include "blobstore/array.h"
#include "blobstore/table.h"

#endif /* BLOBSTORE_H */
