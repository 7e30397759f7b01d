/*
 * internal.h - declarations shared by the library's modules.
 *
 * Cross-file internals use the bs__ prefix and hidden visibility; only
 * blobstore_* functions are exported.
 */
#ifndef BLOBSTORE_INTERNAL_H
#define BLOBSTORE_INTERNAL_H

#include "blobstore.h"
#include "blobstore/sys/blob_backend.h"
#include "blobstore/sys/meta_backend.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(__GNUC__)
#define BS_PRINTF(a, b)  __attribute__((format(printf, a, b)))
#define BS_ALWAYS_INLINE __attribute__((always_inline))
#else
#define BS_PRINTF(a, b)
#define BS_ALWAYS_INLINE
#endif

/* ---- errors (error.c) ---- */

/* Set the thread's last error message and return code. */
int bs__error(int code, const char *fmt, ...) BS_PRINTF(2, 3);
/* Prefix the current message with context: "ctx: old message". Returns code. */
int bs__error_wrap(int code, const char *fmt, ...) BS_PRINTF(2, 3);
/* Report errno as BLOBSTORE_EIO (or ENOMEM/ENOENT mapping) with context. */
int bs__error_errno(int err, const char *fmt, ...) BS_PRINTF(2, 3);
void bs__error_clear(void);
/* The error of an operation, kept while its cleanup runs: cleanup (closing a
 * reader, aborting a writer, rolling back) may fail and set a message of its
 * own, which must not replace the one that explains the failure (as libgit2's
 * git_error_state_capture/restore). capture saves code and message and
 * clears the message; restore puts them back and returns the code. */
#define BS_ERRMSG_MAX 1024
typedef struct {
    int code;
    char msg[BS_ERRMSG_MAX];
} bs_error_state;
void bs__error_state_capture(bs_error_state *st, int code);
int bs__error_state_restore(const bs_error_state *st);
/* A full disk (ENOSPC, EDQUOT, SQLITE_FULL) is noted by the error paths that
 * see it; take returns whether one was noted since the last take, and
 * forgets it. Deletes use it to retry with the space reserve released. */
void bs__nospace_note(void);
int bs__nospace_take(void);

/* ---- memory and checked arithmetic (util.c) ---- */

void *bs__malloc(size_t n);
void *bs__malloc_large(size_t n); /* huge pages from 4 MiB; free() frees */
/* XXH3-64 of n bytes (XXH3_64bits), with AVX2 where the CPU has it (xxh3_fast.c). */
uint64_t bs__xxh3_64(const void *p, size_t n);
/* The same, seeded (XXH3_64bits_withSeed): the frame's chunk checksums. */
uint64_t bs__xxh3_64_seed(const void *p, size_t n, uint64_t seed);
extern int bs__xxh3_lib_only; /* tests and the bench: 1 calls the library always */
/* Segments first..last of a file of len bytes at base (segment k: the seg
 * bytes from k * seg, the last one shorter) against their XXH3-64 sums[k]:
 * 0 if all hold, else 1 with the first failing segment's first and last
 * byte in bad (for the caller's message). */
int bs__segments_check(const uint8_t *base, uint64_t len, uint64_t seg, const uint64_t *sums,
                       size_t first, size_t last, uint64_t bad[2]);
void *bs__calloc(size_t n, size_t m);
void *bs__realloc(void *p, size_t n);
char *bs__strdup(const char *s);
char *bs__strndup(const char *s, size_t n);
/* 1 if a + b (a * b) overflows size_t, else stores the result. */
int bs__add_overflow(size_t *out, size_t a, size_t b);
int bs__mul_overflow(size_t *out, size_t a, size_t b);

/* A growable byte buffer. */
typedef struct {
    unsigned char *data;
    size_t len, cap;
} bs_buf;
int bs__buf_reserve(bs_buf *b, size_t extra);
int bs__buf_append(bs_buf *b, const void *p, size_t n);
void bs__buf_free(bs_buf *b);

/* ---- keys, hashes, time (util.c) ---- */

/* 0 if key is a valid key (1..1024 bytes of valid UTF-8), else EINVAL with a message. */
int bs__key_check(const char *key);
/* bs__key_check, and no control characters (0x01-0x1F, 0x7F): the rule for
 * a new key (put). Keys that older versions let in are still read, listed
 * and deleted with bs__key_check alone. */
int bs__key_check_new(const char *key);
int bs__utf8_valid(const unsigned char *s, size_t n);
void bs__hex(char *out, const unsigned char *in, size_t n); /* writes 2n chars + NUL */
int bs__random_bytes(void *out, size_t n);
/* ISO-8601 UTC with microseconds, e.g. 2026-11-24T15:13:31.123456Z (28 bytes + NUL). */
void bs__now_iso(char out[32]);
/* The time as bs__now_iso writes it ("YYYY-MM-DDTHH:MM:SS.uuuuuuZ", UTC). */
void bs__iso_time(char out[32], const struct timespec *ts);

/* A library the core is compiled against but loads (dlopen) at its first
 * use, not at start-up: libcrypto, libblosc and libsnappy cost a process
 * 2.1 ms of CPU to map and relocate (with the C++ runtime snappy brings),
 * twice what sqlite3 takes to start, and a `blobstore get` of a small value
 * or `--version` uses none of them. Each symbol's slot is a typed function
 * pointer, filled from dlsym. bs__library_load: 0 once loaded, else
 * BLOBSTORE_EIO naming the library and dlerror() (every later call too). */
typedef struct {
    const char *name;
    void **slot;
} bs_symbol;
typedef struct {
    const char *soname;
    const bs_symbol *syms;
    size_t n;
    int state; /* 0: not tried, 1: loaded, -1: failed (why) */
    char why[256];
} bs_library;
int bs__library_load(bs_library *lib);

typedef struct bs_sha256 bs_sha256;
bs_sha256 *bs__sha256_new(void);
void bs__sha256_update(bs_sha256 *h, const void *p, size_t n);
void bs__sha256_final(bs_sha256 *h, unsigned char md[32]); /* frees h */
void bs__sha256_final_hex(bs_sha256 *h, char out[65]);     /* frees h */
void bs__sha256_free(bs_sha256 *h);
void bs__sha256_hex(char out[65], const void *p, size_t n);

/* 1 if name is a blob name a blob backend accepts (1..255 of [0-9A-Za-z._-],
 * not starting with '.'). Inline: the S3 module, which calls no library
 * function but through its host table, needs it too. */
static inline int bs__blob_name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 255 || name[0] == '.')
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              c == '-' || c == '_' || c == '.'))
            return 0;
    }
    return 1;
}

/* ---- files (util.c) ---- */

int bs__mkdir_p(const char *path, int mode);
int bs__fsync_dir(const char *dir);
/* Write a whole file atomically: temp in the same directory, fsync (if sync),
 * rename, fsync the directory (if sync). */
int bs__write_file_atomic(const char *path, const void *data, size_t len, int sync);
/* Read a whole file; ENOTFOUND if absent, ECORRUPT if a symbolic link (the
 * store reads only its own files with it). */
int bs__read_file(const char *path, bs_buf *out);
char *bs__path_join(const char *a, const char *b);
int bs__write_all(int fd, const void *p, size_t n);

/* 1 if the store could have made blob name name (store.c): verify --repair
 * removes nothing else. */
int bs__blob_name_own(const char *name);

/* ---- backends opened by the store (read-only: create and write nothing) ---- */

int bs__meta_json_open(blobstore_meta_backend **out, const char *path, int durable, int readonly);
int bs__meta_sqlite_open(blobstore_meta_backend **out, const char *path, int durable, int readonly);
int bs__blob_fs_open(blobstore_blob_backend **out, const char *base_dir, int shard_chars,
                     int readonly);

/* ---- codecs (codec.c) ---- */

typedef struct bs_codec {
    const char *name;
    int id; /* stored in frames: never renumber */
    size_t (*bound)(size_t n);
    /* Returns 0 and *out_n, or a negative error. */
    int (*compress)(void *dst, size_t cap, const void *src, size_t n, int level, size_t *out_n);
    /* Decompress exactly raw_n bytes; ECORRUPT if the input does not produce them. */
    int (*decompress)(void *dst, size_t raw_n, const void *src, size_t n);
} bs_codec;

enum {
    BS_CODEC_NONE = 0,
    BS_CODEC_LZ4 = 1,
    BS_CODEC_ZSTD = 2,
    BS_CODEC_GZIP = 3,
    BS_CODEC_BLOSCLZ = 4
};

const bs_codec *bs__codec_by_name(const char *name);
const bs_codec *bs__codec_by_id(int id);
/* The i-th codec of the table, or NULL past its end. */
const bs_codec *bs__codec_at(size_t i);

/* ---- the store's blob frame (frame.c) ---- */

#define BS_FRAME_CHUNK (1u << 20)

/* Sink for encoded bytes. */
typedef int (*bs_sink_fn)(void *ctx, const void *p, size_t n);
/* The sink that appends to a bs_buf (ctx); the decoder writes into it directly. */
int bs__sink_buf(void *ctx, const void *p, size_t n);

typedef struct bs_frame_writer bs_frame_writer;
int bs__frame_writer_new(bs_frame_writer **out, const bs_codec *codec, int level, bs_sink_fn sink,
                         void *sink_ctx);
/* Feed original bytes; compresses whole chunks as they fill. */
int bs__frame_write(bs_frame_writer *fw, const void *p, size_t n);
/* Flush the last chunk and the trailer. Fills the SHA-256 hex and sizes. */
int bs__frame_finish(bs_frame_writer *fw, char hash_out[65], uint64_t *raw_size,
                     uint64_t *stored_size);
void bs__frame_writer_free(bs_frame_writer *fw);
/* The entry record written in the trailer (a copy is kept; NULL: none). */
#define BS_FRAME_RECORD_MAX (1u << 20)
int bs__frame_set_record(bs_frame_writer *fw, const char *record);
/* Write a key record's frame (version 3, version 2's layout; frame.c). */
void bs__frame_set_keyrec(bs_frame_writer *fw);
/* The caller keeps the bytes it feeds valid and unchanged until the sink's
 * owner is done with them: chunks stored as they are (incompressible, or
 * codec "none") that come whole from the caller's bytes go to ref_sink
 * instead of the sink, without a copy (an S3 upload sends them from there). */
void bs__frame_set_ref_sink(bs_frame_writer *fw, bs_sink_fn ref_sink, void *ctx);

/* Source of encoded bytes: fill up to cap, *out_n = 0 at end. */
typedef int (*bs_source_fn)(void *ctx, void *p, size_t cap, size_t *out_n);

/* Decode a frame from src, passing original bytes to sink. Every chunk's
 * checksum is checked before it is passed on; the trailer's SHA-256 and size
 * are checked against expect_hash / expect_size (if non-NULL / not
 * UINT64_MAX); full_hash also recomputes the SHA-256 of the output. */
int bs__frame_decode(bs_source_fn src, void *src_ctx, bs_sink_fn sink, void *sink_ctx,
                     const char *expect_hash, uint64_t expect_size, int full_hash,
                     const char **codec_name);
/* The same; record (if non-NULL) receives the entry record of a version 2
 * frame, NUL-terminated (empty for version 1). */
int bs__frame_decode_record(bs_source_fn src, void *src_ctx, bs_sink_fn sink, void *sink_ctx,
                            const char *expect_hash, uint64_t expect_size, int full_hash,
                            const char **codec_name, bs_buf *record);

/* A frame read from its two ends only (the rebuild and verify read the entry
 * record so). bs__frame_head checks the first n >= 24 bytes: 0 with the
 * version and codec, 1 if they do not start with the frame magic (not a
 * frame), or ECORRUPT/EUNSUPPORTED. */
int bs__frame_head(const unsigned char *p, size_t n, int *version, const char **codec_name);
typedef struct {
    uint64_t size;               /* original bytes, as the trailer records them */
    uint64_t chunks;             /* chunks, as the trailer records them */
    char hash[65];               /* the SHA-256 the trailer records (hex) */
    const unsigned char *record; /* the entry record (into the buffer given), or NULL */
    size_t record_len;
} bs_frame_tail;
/* Parse the trailer from buf, the last n bytes of a frame of the given
 * version (whole: buf is the whole frame). 0: t filled (its size and chunk
 * count not yet checked against the chunks: only a full decode does);
 * 1: the trailer does not fit in n bytes (read more); ECORRUPT: damaged. */
int bs__frame_tail(const unsigned char *buf, size_t n, int version, int whole, bs_frame_tail *t);
/* A whole frame of n bytes with record as its entry record, into out (a
 * copy of its bytes with the trailer's record put in): how a value kept
 * inline, whose frame carries no record (the index row says it all), is
 * written as a blob file, which needs one for a rebuild. A frame that
 * carries a record already, or of version 1, is copied as it is. */
int bs__frame_with_record(const unsigned char *frame, size_t n, const char *record, bs_buf *out);

/* The compact frame of a value kept inline in an index row (frame.c): the
 * row holds the size and SHA-256, so the frame holds only
 *   1  magic 0xB5 (a full frame starts with 0x89)
 *   1  codec id; top bit set: stored uncompressed
 *   .. stored bytes
 *   8  XXH3-64 of the bytes before it, seeded with the XXH3-64 of the row's
 *      content hash (hex text) seeded with its size: damaged bytes, and data
 *      moved from another row, fail it
 * 10 bytes against a full frame's 116 (issue 16). */
#define BS_INLINE_OVERHEAD 10
/* 1 if p starts as a compact inline frame. */
int bs__inline_is_compact(const void *p, size_t n);
/* Encode n bytes (whose SHA-256 hex is hash) into out (replaced). */
int bs__inline_encode(const bs_codec *codec, int level, const void *p, size_t n, const char *hash,
                      bs_buf *out);
/* Check and decode a compact inline frame of the value recorded with hash
 * and size, passing its bytes to sink (decoded straight into a bs__sink_buf
 * buffer); full_hash also recomputes the SHA-256. ECORRUPT if damaged. */
int bs__inline_decode(const void *p, size_t n, const char *hash, uint64_t size, int full_hash,
                      bs_sink_fn sink, void *sink_ctx, const char **codec_name);
/* A full frame (no entry record unless record) of a compact inline frame's
 * value, checked first: how it is written where a full frame is needed. */
int bs__inline_to_frame(const void *p, size_t n, const char *hash, uint64_t size,
                        const char *record, bs_buf *out);

/* Private blob backend ctl operations (the built-in backends). */
#define BS__BLOB_CTL_SIZE 0x42530001 /* arg bs_blob_size *: an object's size in bytes */
typedef struct {
    const char *name;
    uint64_t size;
} bs_blob_size;
/* arg bs_blob_fd *: the object's file opened read-only (fd, closed by the
 * caller), for memory-mapping; the filesystem backend only */
#define BS__BLOB_CTL_OPEN_FD 0x42530004
typedef struct {
    const char *name;
    int fd; /* out */
} bs_blob_fd;
/* 0 if reader(), read_range() and exists() may run on several threads at
 * once and gain from it (remote objects) */
#define BS__BLOB_CTL_PARALLEL 0x42530002
/* arg bs_blob_writer_for *: a writer for an object whose name is known
 * before its bytes, where the backend can write it under that name directly
 * and still invisibly until commit (S3: a multipart upload, which is no
 * object until completed), instead of a temporary copied at commit. commit
 * must then be given the same name. EUNSUPPORTED: use writer(). */
#define BS__BLOB_CTL_WRITER_FOR 0x42530003
typedef struct {
    const char *name;
    blobstore_blob_writer *writer; /* out */
    /* out, NULL if the backend has none: appends n bytes as write() does,
     * without copying them (S3: sent from where they are), the caller
     * keeping them valid and unchanged until commit or abort returns */
    int (*write_ref)(blobstore_blob_writer *w, const void *p, size_t n);
} bs_blob_writer_for;

/* Private metadata backend ctl operation (PostgreSQL, SQLite): record
 * e as one write transaction of its own - the same as begin(write), get of
 * e->key, put (unless no_overwrite and an entry exists: BLOBSTORE_EEXISTS,
 * nothing changed), commit - in as few round trips as the backend can.
 * *old_blob receives the replaced entry's blob (malloc'd) or NULL. The
 * store calls it outside any transaction, in stores that are not
 * content-addressed (those write key records between get and put);
 * EUNSUPPORTED: it uses the steps. */
#define BS__META_CTL_REPLACE 0x42530101
typedef struct {
    const blobstore_entry *e;
    int no_overwrite;
    char *old_blob;
} bs_meta_replace;

/* Private metadata backend ctl operation (the SQLite backend): fn is called
 * with the entry under key, read and checked as get() would (row checksums,
 * NULL fields; lean: only the fields a get of the value needs, and their
 * checksum, getsum), but without copying it: its strings and inline data point
 * into the backend's memory, valid during the call only (a reader copies
 * what it keeps: blobstore_entry_copy). Inside a transaction of the store,
 * like get(). Returns what fn returns, or get()'s errors
 * (BLOBSTORE_ENOTFOUND, BLOBSTORE_ECORRUPT, ...); EUNSUPPORTED: the store
 * uses get(). */
#define BS__META_CTL_VIEW 0x42530102
/* A built-in backend's flag: its index's schema says inline values may be
 * compact frames (bs__inline_encode), which older libraries do not read. */
#define BS__META_COMPACT_INLINE (1u << 30)
typedef struct {
    const char *key;
    int (*fn)(void *ctx, const blobstore_entry *e);
    void *ctx;
    /* 1: a get's read - the entry may hold only what decoding its value
     * needs (key, blob, format, content_hash, info, size, raw, inline data;
     * the others NULL or 0), checked by a checksum over just those */
    int lean;
    /* 1: no entry under key is BLOBSTORE_ENOTFOUND without a message (a
     * put's read of the entry it replaces: a new key, the common case, is
     * no error, and its message was formatted only to be cleared) */
    int quiet_missing;
} bs_meta_view;

/* ---- format modules' files in the store (store.c) ---- */

struct json_t;
/* Add the caller's format_info (extra: JSON object text, or NULL) to info,
 * the details the store computed of a file (dtype, shape, columns...). A
 * member the store computed, or one named with a leading '_' (the store's
 * own bookkeeping, hidden from get_metadata), is refused (EINVAL): the
 * caller's text never replaces what describes the file. info is changed
 * only when the whole of extra is accepted. */
int bs__info_extend(struct json_t *info, const char *extra);
/* EINVAL if a member of extra (a caller's format_info) is named with a
 * leading '_'. */
int bs__info_names_check(struct json_t *extra);
/* Put a self-describing file (b2nd, parquet) as it is. info, a JSON object
 * of format details shown by get_metadata, is consumed; extra (JSON object
 * text or NULL) is added to it (bs__info_extend). codec: the file's own
 * codec, recorded. */
int bs__put_file(char **out_key, blobstore *bs, const char *key, const void *file, size_t len,
                 const char *format, const char *codec, const char *metadata, struct json_t *info,
                 const char *extra, unsigned int put_flags);
/* The same for a file given in pieces, in order (no copy into one buffer):
 * the pieces are hashed, checksummed per segment and written slice by slice. */
typedef struct {
    const void *data;
    size_t len;
} bs_iov;
/* SHA-256 of pieces on a thread of its own, beside the caller's work on the
 * same bytes (a put's compression, checksums and writes): for writes of at
 * least BS_SHA_THREAD_MIN. bs__sha256_thread_start: 1 if the thread runs
 * (the pieces and h left alone until bs__sha256_thread_join), 0 if no
 * thread was to be had (the caller hashes them itself). */
#define BS_SHA_THREAD_MIN ((size_t)4 << 20)
typedef struct {
    bs_sha256 *h;
    const bs_iov *iov;
    size_t niov;
    pthread_t tid;
} bs_sha_thread;
int bs__sha256_thread_start(bs_sha_thread *t, bs_sha256 *h, const bs_iov *iov, size_t niov);
void bs__sha256_thread_join(bs_sha_thread *t);
int bs__put_file_iov(char **out_key, blobstore *bs, const char *key, const bs_iov *iov, size_t niov,
                     const char *format, const char *codec, const char *metadata,
                     struct json_t *info, const char *extra, unsigned int put_flags);
/* A file put as it streams in (bs__put_file_stream): finish is called once
 * its bytes have all been read, before anything commits; it gives the
 * format details (*info, a new JSON object reference or NULL) and the
 * file's own codec (*codec, malloc'd, or NULL: "none"), or an error that
 * fails the put. The per-segment checksums are computed on the way. */
typedef struct {
    int (*finish)(void *ctx, struct json_t **info, char **codec);
    void *ctx;
} bs_file_hooks;
int bs__put_file_stream(char **out_key, blobstore *bs, const char *key, blobstore_read_fn fn,
                        void *ctx, const char *format, const char *metadata,
                        const bs_file_hooks *hooks, unsigned int put_flags);
/* The store's codec for new blobs (its name, as codec.c spells it) and level. */
void bs__store_codec(const blobstore *bs, const char **name, int *level);
/* The stored bytes of key, checked, if its entry has this format; else
 * EINVAL naming what was expected ("an array", "a table"). */
int bs__get_file(void **out, size_t *len, blobstore *bs, const char *key, const char *format,
                 const char *what);

/* Parts of a stored file (array slices, table columns) without reading the
 * rest. Files stored as they are carry an XXH3-64 checksum per segment (in
 * their entry, hidden from get_metadata). For files over BS_RANGED_MIN, when
 * the blob backend reads ranges, bs__ranged_fetch() reads only the segments
 * asked for and checks each; otherwise the whole file is read and checked at
 * open. */
#define BS_RANGED_MIN ((size_t)8 << 20)
typedef struct bs_ranged bs_ranged;
/* Open key, which must hold format (else EINVAL naming what); whole: read
 * all of it now (the caller will need most of it). */
int bs__ranged_open(bs_ranged **out, blobstore *bs, const char *key, const char *format,
                    const char *what, int whole);
/* The file's bytes: only fetched ranges are valid. */
const uint8_t *bs__ranged_data(const bs_ranged *r, size_t *len);
/* Make [off, off + len) of the data valid (clamped to the file); thread-safe.
 * ECORRUPT if a segment fails its checksum; ENOTFOUND if the blob vanished
 * (the entry was replaced meanwhile). */
int bs__ranged_fetch(bs_ranged *r, uint64_t off, uint64_t len);
/* Undo one bs__ranged_fetch(r, off, len) that succeeded (the same off and
 * len): a segment no fetch holds any longer is dropped (read and checked
 * again if fetched again), its pages kept to receive the next segments
 * read. A range fetched and never released stays until close. */
void bs__ranged_release(bs_ranged *r, uint64_t off, uint64_t len);
void bs__ranged_close(bs_ranged *r);
/* The segment checksums recorded in an entry's info for a file of len
 * bytes: 1 with *seg, *nseg and *sums (malloc'd), or 0 when absent. */
int bs__segments_parse(const char *info, uint64_t len, uint64_t *seg, size_t *nseg,
                       uint64_t **sums);
/* The blob file of a raw entry opened read-only (for mapping): *fd, or
 * EUNSUPPORTED when the blob backend has no files (only the filesystem
 * backend has), ENOTFOUND when the blob is gone. */
int bs__blob_open_fd(blobstore *bs, const char *blob, int *fd);

/* ---- metadata filters (query.c) and JSON text (json.c) ---- */

struct json_t;
/* Compact JSON with reals in their shortest round-trip form; free(). */
char *bs__json_dumps(const struct json_t *v);
/* The text bs__json_dumps would give for the JSON object text (parsed with
 * duplicate members refused), without parsing it into values, for the flat
 * objects of printable ASCII names and strings, integers, true, false and
 * null that most metadata is: 1 and *out (free()), or 0 (not such an
 * object, or not valid: parse it), or BLOBSTORE_ENOMEM. */
int bs__json_object_compact(const char *text, char **out);
/* 1 if an entry (its user metadata, and its store fields as a JSON object,
 * which may be NULL unless bs__filter_uses_fields) matches filter. */
int bs__filter_match(const struct json_t *filter, const struct json_t *meta,
                     const struct json_t *fields);
/* EINVAL, with a message naming the offending part, if filter is invalid. */
int bs__filter_check(const struct json_t *filter);
int bs__filter_uses_fields(const struct json_t *filter);
int bs__path_check(const char *path);
/* EINVAL unless path is dotted identifiers ([A-Za-z_][A-Za-z0-9_]*), the
 * only paths a backend may spell out in an index definition. */
int bs__index_path_check(const char *path);
const struct json_t *bs__path_resolve(const char *path, const struct json_t *meta,
                                      const struct json_t *fields);
int bs__order_compare(const struct json_t *a, const struct json_t *b);

#endif
