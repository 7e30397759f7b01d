/*
 * blobstore/sys/blob_backend.h - for implementers of blob backends.
 *
 * A blob backend is a thin byte store of named objects. The store computes
 * every name (lowercase hex, '-', '.', letters of an extension; never a
 * user key), frames, compresses, hashes and verifies; the backend only
 * writes, reads, lists and removes bytes. Objects are immutable once
 * committed: a name is never committed twice with different content.
 *
 * An implementation embeds blobstore_blob_backend as its first member,
 * fills the slots in its constructor, and hands the result to
 * blobstore_options.blob_backend_impl. Slots marked "must" are required.
 *
 * Versions: the struct only grows at the end, and a slot added means the
 * version goes up. blobstore_open() checks a backend it is given: a version
 * it does not know or a required slot left NULL fails with BLOBSTORE_EINVAL
 * naming it. Slots of a later version than the backend's are never read.
 */
#ifndef BLOBSTORE_SYS_BLOB_BACKEND_H
#define BLOBSTORE_SYS_BLOB_BACKEND_H

#include "../../blobstore.h"

#ifdef __cplusplus
extern "C" {
#endif

#define BLOBSTORE_BLOB_BACKEND_VERSION 2

/** An object being written. Not visible under any name until commit. */
typedef struct blobstore_blob_writer blobstore_blob_writer;
struct blobstore_blob_writer {
    /** must: append len bytes. */
    int (*write)(blobstore_blob_writer *w, const void *buf, size_t len);
    /** must: make the object visible under name, atomically (readers see
     *  the whole object or nothing), durable first when sync is non-zero.
     *  Frees w, also on failure. */
    int (*commit)(blobstore_blob_writer *w, const char *name, int sync);
    /** must: discard the object and free w. */
    void (*abort)(blobstore_blob_writer *w);
};

/** An object being read, from its start. */
typedef struct blobstore_blob_reader blobstore_blob_reader;
struct blobstore_blob_reader {
    /** must: read up to cap bytes into buf; *out_n = 0 at the end. */
    int (*read)(blobstore_blob_reader *r, void *buf, size_t cap, size_t *out_n);
    /** must: free r. */
    void (*close)(blobstore_blob_reader *r);
};

/** Called by list() per object; return nonzero to stop listing.
 *  is_temp: a leftover of an interrupted write (name is then the
 *  backend's own name for it, valid for remove_temp()), or
 *  BLOBSTORE_BLOB_LIST_FOREIGN. */
typedef int (*blobstore_blob_list_fn)(void *ctx, const char *name, int is_temp);

/** is_temp value for something in the backend's space that it did not create
 *  (a name outside its scheme, a symbolic link, a stray directory): name is
 *  its path relative to the backend (e.g. "tmp/notes.txt", "blobs"). The
 *  store reports it and never removes it. */
#define BLOBSTORE_BLOB_LIST_FOREIGN 2

/** ctl operations (backends answer BLOBSTORE_EUNSUPPORTED to those they do
 *  not know). LOCAL_WRITERS (arg unused): every writer of the store runs on
 *  this machine, behind the store lock that verify takes, so list() need not
 *  hold back young objects (the store sends it when its index is local). */
#define BLOBSTORE_BLOB_CTL_LOCAL_WRITERS 1
/** LIST_ALL (arg const int *: 1 on, 0 off): list() lists objects of every
 *  age, for an index rebuild, which must see every blob, however young. */
#define BLOBSTORE_BLOB_CTL_LIST_ALL 2

struct blobstore_blob_backend {
    unsigned int version; /**< BLOBSTORE_BLOB_BACKEND_VERSION */
    /** must: start writing a new object. */
    int (*writer)(blobstore_blob_writer **out, blobstore_blob_backend *be);
    /** must: open an object for reading; BLOBSTORE_ENOTFOUND if absent. */
    int (*reader)(blobstore_blob_reader **out, blobstore_blob_backend *be, const char *name);
    /** must: 1 if the object exists, 0 if not, negative on error. */
    int (*exists)(blobstore_blob_backend *be, const char *name);
    /** must: remove an object; BLOBSTORE_ENOTFOUND if absent. */
    int (*remove)(blobstore_blob_backend *be, const char *name);
    /** must: list every object (any order), and leftover temporaries. */
    int (*list)(blobstore_blob_backend *be, blobstore_blob_list_fn fn, void *ctx);
    /** may: remove a leftover temporary reported by list(). NULL: none. */
    int (*remove_temp)(blobstore_blob_backend *be, const char *name);
    /** may: make every object committed with sync == 0 durable. NULL: no-op. */
    int (*sync)(blobstore_blob_backend *be);
    /** may: backend-specific control operations; NULL: none. */
    int (*ctl)(blobstore_blob_backend *be, int op, void *arg);
    /** must: free the backend. */
    void (*free)(blobstore_blob_backend *be);
    /* ---- version 2 ---- */
    /** may: read up to len bytes at offset off of an object into buf;
     *  *out_n < len only at its end. BLOBSTORE_ENOTFOUND if absent. Lets
     *  the store read parts of large array and table files (slices, columns)
     *  without fetching the rest. NULL: the store reads whole objects. */
    int (*read_range)(blobstore_blob_backend *be, const char *name, uint64_t off, void *buf,
                      size_t len, size_t *out_n);
};

/**
 * The filesystem backend: objects are files under base_dir, in
 * subdirectories named by the first shard_chars characters of the name
 * (0: none), written to base_dir/tmp, fsynced, renamed, and the directory
 * fsynced.
 */
BLOBSTORE_API int blobstore_blob_backend_fs_new(blobstore_blob_backend **out, const char *base_dir,
                                                int shard_chars);

/** The memory backend: objects live in this process only. */
BLOBSTORE_API int blobstore_blob_backend_mem_new(blobstore_blob_backend **out);

/**
 * The S3 backend (AWS S3, Ceph RGW, MinIO, ...): objects under
 * s3://BUCKET/PREFIX, sharded by the first shard_chars characters of the
 * name as in the filesystem backend. URL parameters: endpoint=URL (else
 * AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL; any endpoint means path-style
 * addressing; none means AWS), region=NAME (else AWS_REGION, default
 * us-east-1), orphan_grace=SECONDS (list() leaves out objects younger than
 * this, default 3600, so that a verify never removes what another
 * machine's put is about to reference; 0 when the store's index is local,
 * see BLOBSTORE_BLOB_CTL_LOCAL_WRITERS), timeout=SECONDS (a request without
 * progress for this long is retried, default 30), copy_limit=BYTES (the size above
 * which commit copies part by part; 5 GiB) and list_page_size=N (keys per
 * listing request, 1..1000) for tests. Credentials: AWS_ACCESS_KEY_ID,
 * AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN. The bucket is created when
 * missing. The backend is a module, libblobstore-s3.so (libcurl), loaded on
 * the first call (from $BLOBSTORE_MODULE_DIR when set, else LIBDIR/blobstore
 * or beside the library); BLOBSTORE_EUNSUPPORTED, naming the file and where
 * it was looked for, when it is not installed.
 */
BLOBSTORE_API int blobstore_blob_backend_s3_new(blobstore_blob_backend **out, const char *url,
                                                int shard_chars);

#ifdef __cplusplus
}
#endif

#endif
