/*
 * store_int.h - what the store's files (store*.c) share: the handle, the
 * store lock, metadata transactions and the helpers every operation uses.
 * Private to the library.
 */
#ifndef BLOBSTORE_STORE_INT_H
#define BLOBSTORE_STORE_INT_H

#include "internal.h"
#include "registry.h"

#include <jansson.h>
#include <pthread.h>

#define SETTINGS_FILE    "blobstore.json"
#define SETTINGS_FORMAT  "blobstore-store"
#define SETTINGS_VERSION 1
#define SIDECAR_EXT      ".entry" /* the entry record of a file stored as it is */
#define KEYREC_EXT       ".ref"   /* a key's record of a shared blob (store_keyrec.c) */
#define INLINE_MAX       4096     /* original bytes kept inline by backends that can */
#define IO_CHUNK         BS_FRAME_CHUNK

struct blobstore {
    char *dir; /* NULL: in-memory store */
    blobstore_meta_backend *meta;
    blobstore_blob_backend *blobs;
    char *backend_name, *blob_backend_name; /* as the settings record them */
    const bs_meta_kind *meta_kind;          /* NULL: a custom backend */
    const bs_blob_kind *blob_kind;          /* NULL: a custom backend */
    const bs_codec *codec;
    int level;
    int ca;
    int shard_chars;
    int durable;
    int can_inline;
    int compact_inline; /* inline values in compact frames (BS__META_COMPACT_INLINE) */
    int full_hash;      /* recompute SHA-256 on every get */
    pthread_mutex_t mu; /* recursive: metadata transactions */
    int batch;
    uint64_t writes;               /* write transactions and batches begun through this handle */
    char **batch_old, **batch_new; /* blobs to remove after commit / on rollback */
    size_t n_old, n_new;
    pthread_rwlock_t oprw; /* in-process half of the store lock */
    pthread_mutex_t opmu;
    int opcount;
    int lockfd;                     /* cross-process half: flock on <dir>/lock */
    int rebuilding;                 /* opened by blobstore_rebuild_index: a new index is expected */
    int readonly;                   /* BLOBSTORE_OPEN_READONLY: nothing is written */
    blobstore_progress_fn progress; /* blobstore_set_progress: bs__each_entry reports to it */
    void *progress_ctx;
    int no_replace; /* the metadata backend has no BS__META_CTL_REPLACE */
    int no_view;    /* ... nor BS__META_CTL_VIEW */
    /* The removal of the blob a large put replaced, on a thread of its own
     * after the put (store_put.c): it counts in opcount (the store lock's
     * shared flock stays held for it); reaping and reap_tid under opmu. */
    int reaping;
    pthread_t reap_tid;
};

/* Bytes in memory read as a stream. */
typedef struct {
    const unsigned char *p;
    size_t len, pos;
} mem_src;

/* A blob read from its backend, or an inline value from memory. */
typedef struct {
    blobstore_blob_reader *r;
    mem_src *m;
} blob_src;

/* What a scan of the entries collects (list, query, clear, verify). */
typedef struct {
    json_t *filter;
    int need_fields; /* the filter or the order uses store fields */
    const char *order_path;
    int with_meta;
    char **keys;
    size_t n, cap;
    char **blobs;     /* parallel to keys */
    json_t **order;   /* parallel to keys, when ordering: the value (or NULL) */
    char **meta_text; /* parallel to keys, when with_meta */
    size_t stop_at;   /* nonzero: stop the scan once this many are collected */
} collect_ctx;

/* store.c */
/* EREADONLY if bs was opened read-only. */
int bs__refuse_readonly(const blobstore *bs);
int bs__op_enter(blobstore *bs);
void bs__op_leave(blobstore *bs);
/* bs__op_leave's part for the store file's shared flock alone (one count of
 * opcount): for work that outlives the operation's hold of the rwlock. */
void bs__op_flock_leave(blobstore *bs);
int bs__excl_enter(blobstore *bs);
void bs__excl_leave(blobstore *bs);
/* Wait for the removal a put left running (store_put.c), if any. */
void bs__reap_wait(blobstore *bs);
/* For tests only: that removal first sleeps this many milliseconds (0). */
extern unsigned bs__reap_delay_ms;
int bs__tx_begin(blobstore *bs, int write);
/* Commit (ok) or roll back (!ok) unless a batch is open. */
int bs__tx_end(blobstore *bs, int ok);
int bs__ext_check(const char *ext);
/* Blob name: in a content-addressable store, the content hash; otherwise
 * 32 hex characters of SHA-256(key) and 16 random ones, so every put
 * writes a fresh name and never overwrites a blob an entry points to. */
int bs__make_blob_name(char out[128], const char *key, const char *hash, int ca, const char *ext);
/* A blob writer; name: the name it will be committed under when known
 * before the bytes (BS__BLOB_CTL_WRITER_FOR), else NULL. */
int bs__blob_writer(blobstore *bs, blobstore_blob_writer **w, const char *name);
/* The same; *write_ref receives the writer's write_ref (bs_blob_writer_for),
 * or NULL if it has none. */
int bs__blob_writer_ref(blobstore *bs, blobstore_blob_writer **w, const char *name,
                        int (**write_ref)(blobstore_blob_writer *, const void *, size_t));
int bs__random_key(char out[17]);
int bs__check_json_object(json_t **out, const char *text, const char *what);
int bs__remember(char ***list, size_t *n, const char *name);
void bs__remove_blob_quiet(blobstore *bs, const char *name);
/* Write the sidecar of a file stored as it is: an empty frame whose entry
 * record names the file, its content hash and size. */
int bs__write_sidecar(blobstore *bs, const char *blob, const char *record, const char *hash,
                      uint64_t size);
/* An empty frame carrying record, written as name (store.c). */
int bs__write_record_frame(blobstore *bs, const char *name, const char *record, int keyrec);
/* Record the entry (replacing any old one) and retire the old blob. */
int bs__commit_entry(blobstore *bs, blobstore_entry *e, unsigned int put_flags, char **release);
/* The same; with old_out set, a blob the entry replaced in a store that is
 * not content-addressed is not removed but handed back there (malloc'd;
 * NULL if none) for the caller to remove. */
int bs__commit_entry_ex(blobstore *bs, blobstore_entry *e, unsigned int put_flags, char **release,
                        char **old_out);
/* Entries whose blob is name (inside a transaction). */
int bs__blob_refs(blobstore *bs, const char *name, uint64_t *out);
/* Content-addressed stores: remove a blob no entry refers to any more
 * (counted afresh under the exclusive store lock; the caller holds no
 * lock nor transaction). */
void bs__release_blob(blobstore *bs, const char *name);

/* settings.c */
typedef struct {
    char backend[1024], blob_backend[1024], compression[16];
    char blob_dir[4096]; /* shared settings: where filesystem blobs are, or "" */
    int level, ca, shard_chars;
} bs_settings;
/* Read the settings file at path; *found = 0 (and 0) if there is none. */
int bs__settings_read(const char *path, bs_settings *s, int *found);
/* The settings as JSON; backend: the name to record for the metadata
 * backend (NULL: bs's); blob_dir: where filesystem blobs are (shared
 * settings), or NULL. NULL when out of memory. */
char *bs__settings_json(const blobstore *bs, int pretty, const char *backend, const char *blob_dir);
/* The settings a shared metadata backend records (*have = 0: none, or the
 * backend keeps none). */
int bs__settings_load_shared(blobstore_meta_backend *m, bs_settings *s, int *have);
/* Settings that must agree between machines sharing a store: a, recorded
 * by the metadata backend; b, this machine's, whose blob files (if any) are
 * in b_dir ("" for none). ECONFLICT naming the difference. */
int bs__settings_shared_conflict(const bs_settings *a, const bs_settings *b, const char *b_dir,
                                 const char *dir);
/* Decide bs's codec, level, content addressing and sharding, and the
 * backends (*meta_spec, *blob_spec: asked, or NULL; "custom" for a backend
 * passed in), from the options and the settings recorded (rec; NULL for a
 * new store). where: where rec was recorded, for messages. ECONFLICT when
 * the options contradict rec. */
int bs__settings_reconcile(blobstore *bs, const blobstore_options *o, const bs_settings *rec,
                           const char *where, const char **meta_spec, const char **blob_spec);
/* Rename each of files in dir that exists to "<file>.<tag>-<UTC time>[Z]". */
int bs__set_aside(const char *dir, const char *const *files, const char *tag, int z);
/* Make the settings file from_name in dir the store's (blobstore.json),
 * atomically: the switch of a migration in place. */
int bs__settings_switch(const char *dir, const char *from_name);

/* store_open.c */
void bs__batch_lists_free(blobstore *bs);
/* Best effort: no reserve is made when there is no room for all of it. */
void bs__reserve_make(blobstore *bs);
/* Give the reserve's space back to the disk; 1 if there was one. */
int bs__reserve_release(blobstore *bs);

/* store_put.c */
int bs__mem_read(void *ctx, void *buf, size_t cap, size_t *out_n);
/* Sinks: the frame writer emits into a blob writer or a memory buffer. */
int bs__sink_writer(void *ctx, const void *p, size_t n);

/* store_get.c */
int bs__get_entry(blobstore *bs, const char *key, blobstore_entry *e);
int bs__src_read(void *ctx, void *p, size_t cap, size_t *out_n);
/* Decode an entry's blob into sink, verifying it. ENOTFOUND: blob missing.
 * full_hash: recompute the SHA-256 of framed content too. */
int bs__decode_entry(blobstore *bs, const blobstore_entry *e, bs_sink_fn sink, void *sink_ctx,
                     int full_hash);

/* store_query.c */
int bs__collect(void *ctx, const blobstore_entry *e);
void bs__collect_free(collect_ctx *c);
/* Call fn on every entry of bs, each read afresh (entries deleted meanwhile
 * are skipped), without holding a transaction across calls. fn returns 0
 * to go on, 1 to stop, or an error (which stops and is returned). */
int bs__each_entry(blobstore *bs, int (*fn)(void *ctx, blobstore_entry *e), void *ctx);

/* store_verify.c */
int bs__null_sink(void *ctx, const void *p, size_t n);
int bs__cmp_strp(const void *a, const void *b);

/* store_keyrec.c: a key record per entry of a content-addressed store
 * (see there) */
/* "<32 hex of SHA-256(key)>-<16 hex of SHA-256(blob)>.ref" */
int bs__keyrec_name(char out[128], const char *key, const char *blob);
int bs__is_keyrec(const char *name);
/* 1 if e, an entry of bs, has a key record (content-addressed, in a blob) */
int bs__keyrec_wanted(const blobstore *bs, const blobstore_entry *e);
/* Write (or replace) e's key record. */
int bs__keyrec_write(blobstore *bs, const blobstore_entry *e);
/* Remove the record of key's entry in blob, quietly (in a batch: after
 * its commit). Nothing unless bs is content-addressed. */
void bs__keyrec_forget(blobstore *bs, const char *key, const char *blob);
/* A key record's contents (its strings point into rec). */
typedef struct {
    json_t *rec;
    const char *key, *blob, *content_hash, *at;
} bs_keyrec;
/* ECORRUPT unless text is a key record's entry record. */
int bs__keyrec_parse(bs_keyrec *k, const char *text, size_t len);
/* The entry k records. */
int bs__keyrec_entry(blobstore_entry *e, const bs_keyrec *k);
void bs__keyrec_free(bs_keyrec *k);

/* store_rebuild.c */
/* The sidecar of a file stored as it is ("<stem>.entry" beside "<stem>.ext"):
 * an empty frame whose entry record names the file, its hash and size. */
int bs__sidecar_name(char out[160], const char *blob);
int bs__is_sidecar(const char *name);
/* What a framed blob's ends say (bs__blob_end_read). */
typedef struct {
    int framed;         /* the blob starts with the frame magic */
    const char *codec;  /* its codec's name */
    uint64_t size;      /* original bytes, as its trailer records */
    uint64_t file_size; /* stored bytes */
    char hash[65];      /* content SHA-256, as its trailer records */
    bs_buf rec;         /* its entry record, NUL-terminated (len 0: none) */
} bs_blob_end;
/* Read a framed blob's entry record from its two ends (see store_rebuild.c);
 * e->rec is to be freed (bs__buf_free) when 0 is returned. */
int bs__blob_end_read(blobstore *bs, const char *name, bs_blob_end *e);

#endif
