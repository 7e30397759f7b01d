/*
 * test_shared_keys.c - keys that share one content-addressed blob, each
 * with its key record (store_keyrec.c): the index rebuilt from the blobs
 * restores every one of them with its own metadata, a deleted one stays
 * deleted, verify names a missing record and --repair writes it back, and
 * --repair never removes a live key's record (JSON and SQLite indexes,
 * filesystem blobs).
 */
#include "internal.h"
#include "test.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#define VLEN 6000 /* over INLINE_MAX: a blob, not a value inline in SQLite */

static blobstore *open_store(const char *dir, const char *backend, int rebuilding)
{
    blobstore_options o = BLOBSTORE_OPTIONS_INIT;
    o.cache_dir = dir;
    o.backend = backend;
    o.content_addressable = BLOBSTORE_YES;
    blobstore *bs = NULL;
    if ((rebuilding ? blobstore_open_rebuilding : blobstore_open)(&bs, &o) != 0)
        return NULL;
    return bs;
}

static void value_of(char *v, char c)
{
    memset(v, c, VLEN);
    snprintf(v, 16, "content %c", c);
}

static int put_shared(blobstore *bs, const char *key, char content)
{
    char v[VLEN], meta[64];
    value_of(v, content);
    snprintf(meta, sizeof(meta), "{\"owner\": \"%s\"}", key);
    blobstore_put_options po = BLOBSTORE_PUT_OPTIONS_INIT;
    po.metadata = meta;
    return blobstore_put_ex(NULL, bs, key, v, VLEN, &po);
}

/* 1 if key is there with content's bytes and its own metadata. */
static int has(blobstore *bs, const char *key, char content)
{
    void *got = NULL;
    size_t len = 0;
    char v[VLEN], want[64];
    value_of(v, content);
    if (blobstore_get(&got, &len, bs, key) != 0)
        return 0;
    int ok = len == VLEN && memcmp(got, v, VLEN) == 0;
    blobstore_free(got);
    char *m = NULL;
    snprintf(want, sizeof(want), "\"metadata\":{\"owner\":\"%s\"}", key);
    ok = ok && blobstore_get_metadata(&m, bs, key) == 0 && strstr(m, want) != NULL;
    blobstore_free(m);
    return ok;
}

static void lose_index(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL) {
        if (strncmp(de->d_name, "cache_metadata.", 15) == 0 &&
            strstr(de->d_name, ".lock") == NULL) {
            char *p = bs__path_join(dir, de->d_name);
            unlink(p);
            free(p);
        }
    }
    if (d)
        closedir(d);
}

/* Walk dir: count the key records (".ref") and find the one of key (its
 * name starts with 32 hex of SHA-256(key)) into path. */
static size_t walk_recs(const char *dir, const char *key, char *path, size_t cap)
{
    size_t n = 0;
    DIR *d = opendir(dir);
    struct dirent *de;
    char kh[65];
    if (key)
        bs__sha256_hex(kh, key, strlen(key));
    while (d && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.' || strcmp(de->d_name, "tmp") == 0)
            continue;
        char *p = bs__path_join(dir, de->d_name);
        struct stat sb;
        if (lstat(p, &sb) == 0 && S_ISDIR(sb.st_mode)) {
            n += walk_recs(p, key, path, cap);
        } else {
            size_t l = strlen(de->d_name);
            if (l > 4 && strcmp(de->d_name + l - 4, ".ref") == 0) {
                n++;
                if (key && strncmp(de->d_name, kh, 32) == 0)
                    snprintf(path, cap, "%s", p);
            }
        }
        free(p);
    }
    if (d)
        closedir(d);
    return n;
}

static void copy_file(const char *from, const char *to)
{
    bs_buf buf = {0};
    if (bs__read_file(from, &buf) == 0) {
        FILE *f = fopen(to, "wb");
        if (f) {
            fwrite(buf.data, 1, buf.len, f);
            fclose(f);
        }
    } else {
        unlink(to);
    }
    bs__buf_free(&buf);
}

typedef struct {
    int unindexed, norecord, orphans, written, removed;
    char keys[256]; /* unindexed and norecord keys, each followed by ' ' */
} seen;

static int note(void *ctx, const blobstore_problem *p)
{
    seen *s = ctx;
    if (p->kind == BLOBSTORE_PROBLEM_UNINDEXED)
        s->unindexed++;
    if (p->kind == BLOBSTORE_PROBLEM_NORECORD) {
        s->norecord++;
        s->written += p->repaired != 0;
    }
    if (p->kind == BLOBSTORE_PROBLEM_ORPHAN) {
        s->orphans++;
        s->removed += p->repaired != 0;
    }
    if ((p->kind == BLOBSTORE_PROBLEM_UNINDEXED || p->kind == BLOBSTORE_PROBLEM_NORECORD) &&
        p->key && strlen(s->keys) + strlen(p->key) + 2 < sizeof(s->keys)) {
        strcat(s->keys, p->key);
        strcat(s->keys, " ");
    }
    return 0;
}

/* Three keys share one blob, a fourth has its own; the index is deleted;
 * the rebuild restores all four, each with its own metadata. */
static void rebuild_all(const char *backend)
{
    const char *dir = test_tmpdir();
    blobstore *bs = open_store(dir, backend, 0);
    CHECK(bs != NULL);
    CHECK_EQ(put_shared(bs, "a", 'X'), 0);
    CHECK_EQ(put_shared(bs, "b", 'X'), 0);
    CHECK_EQ(put_shared(bs, "c", 'X'), 0);
    CHECK_EQ(put_shared(bs, "u", 'Y'), 0);
    CHECK_EQ(blobstore_update_metadata(bs, "c", "{\"owner\": \"c\", \"more\": 1}"), 0);
    blobstore_close(bs);
    size_t recs = walk_recs(dir, NULL, NULL, 0);
    lose_index(dir);
    CHECK((bs = open_store(dir, backend, 1)) != NULL);
    blobstore_rebuild_stats st;
    CHECK_EQ(blobstore_rebuild_index(&st, bs, NULL, NULL), 0);
    CHECK_EQ(st.restored, 4);
    CHECK(has(bs, "a", 'X'));
    CHECK(has(bs, "b", 'X'));
    CHECK(has(bs, "u", 'Y'));
    char *m = NULL; /* c's metadata as updated */
    CHECK_EQ(blobstore_get_metadata(&m, bs, "c"), 0);
    CHECK(strstr(m, "\"more\":1") != NULL);
    blobstore_free(m);
    blobstore_list l;
    CHECK_EQ(blobstore_list_keys(&l, bs, NULL, NULL), 0);
    CHECK_EQ(l.count, 4);
    blobstore_list_free(&l);
    blobstore_verify_stats vs;
    seen s;
    memset(&s, 0, sizeof(s));
    CHECK_EQ(blobstore_verify(&vs, bs, 0, note, &s), 0);
    CHECK_EQ(vs.ok, 4);
    CHECK_EQ(s.unindexed + s.norecord + s.orphans, 0);
    CHECK_EQ(recs, 4); /* one per key */
    blobstore_close(bs);
}

TEST(rebuild_shared_json)
{
    rebuild_all("json");
}

TEST(rebuild_shared_sqlite)
{
    rebuild_all("sqlite");
}

/* A deleted key sharing a blob does not come back from a rebuild, whether
 * it was the first to put the content (whose key an older blob frame
 * named) or not; the others do, and the blob stays until its last key
 * goes. */
static void delete_then_rebuild(const char *backend)
{
    const char *dir = test_tmpdir();
    blobstore *bs = open_store(dir, backend, 0);
    CHECK(bs != NULL);
    CHECK_EQ(put_shared(bs, "a", 'X'), 0);
    CHECK_EQ(put_shared(bs, "b", 'X'), 0);
    CHECK_EQ(put_shared(bs, "c", 'X'), 0);
    CHECK_EQ(put_shared(bs, "u", 'Y'), 0);
    CHECK_EQ(blobstore_delete(bs, "a"), 0);
    CHECK_EQ(blobstore_delete(bs, "c"), 0);
    CHECK(has(bs, "b", 'X'));
    blobstore_close(bs);
    size_t recs = walk_recs(dir, NULL, NULL, 0);
    lose_index(dir);
    CHECK((bs = open_store(dir, backend, 1)) != NULL);
    blobstore_rebuild_stats st;
    CHECK_EQ(blobstore_rebuild_index(&st, bs, NULL, NULL), 0);
    CHECK_EQ(st.restored, 2);
    CHECK_EQ(blobstore_exists(bs, "a"), 0);
    CHECK_EQ(blobstore_exists(bs, "c"), 0);
    CHECK(has(bs, "b", 'X'));
    CHECK(has(bs, "u", 'Y'));
    CHECK_EQ(recs, 2); /* b's and u's */
    /* the last key of the shared blob goes: so do the blob and the record */
    CHECK_EQ(blobstore_delete(bs, "b"), 0);
    blobstore_close(bs);
    CHECK_EQ(walk_recs(dir, NULL, NULL, 0), 1);
    lose_index(dir);
    CHECK((bs = open_store(dir, backend, 1)) != NULL);
    CHECK_EQ(blobstore_rebuild_index(&st, bs, NULL, NULL), 0);
    CHECK_EQ(st.restored, 1);
    CHECK_EQ(blobstore_exists(bs, "b"), 0);
    CHECK(has(bs, "u", 'Y'));
    blobstore_close(bs);
}

/* An index rebuilt from a content-addressed store's blobs into a store
 * that is not content-addressed (a new index over those blobs, as a fresh
 * PostgreSQL database over an S3 bucket) is refused and writes nothing: its
 * keys would each own the shared blob, and deleting one would break the
 * others. Into a content-addressed one it restores every key. */
static blobstore *open_over(const char *dir, const char *blobs, int ca)
{
    blobstore_blob_backend *fs = NULL;
    if (blobstore_blob_backend_fs_new(&fs, blobs, 2) != 0)
        return NULL;
    blobstore_options o = BLOBSTORE_OPTIONS_INIT;
    o.cache_dir = dir;
    o.backend = "sqlite";
    o.blob_backend_impl = fs;
    o.content_addressable = ca ? BLOBSTORE_YES : 0;
    blobstore *bs = NULL;
    return blobstore_open_rebuilding(&bs, &o) == 0 ? bs : NULL;
}

TEST(rebuild_needs_content_addressed)
{
    char blobs[512], plain[512], ca[512];
    snprintf(blobs, sizeof(blobs), "%s/blobs", test_tmpdir());
    snprintf(plain, sizeof(plain), "%s/plain", test_tmpdir());
    snprintf(ca, sizeof(ca), "%s/ca", test_tmpdir());
    CHECK_EQ(mkdir(blobs, 0700) | mkdir(plain, 0700) | mkdir(ca, 0700), 0);
    blobstore *bs = open_store(blobs, "sqlite", 0);
    CHECK(bs != NULL);
    CHECK_EQ(put_shared(bs, "a", 'X'), 0);
    CHECK_EQ(put_shared(bs, "b", 'X'), 0);
    blobstore_close(bs);
    size_t recs = walk_recs(blobs, NULL, NULL, 0);
    CHECK((bs = open_over(plain, blobs, 0)) != NULL);
    blobstore_rebuild_stats st;
    CHECK_EQ(blobstore_rebuild_index(&st, bs, NULL, NULL), BLOBSTORE_ECONFLICT);
    CHECK(strstr(blobstore_errmsg(), "content-addressed") != NULL);
    blobstore_list l;
    CHECK_EQ(blobstore_list_keys(&l, bs, NULL, NULL), 0);
    CHECK_EQ(l.count, 0);
    blobstore_list_free(&l);
    blobstore_close(bs);
    CHECK_EQ(walk_recs(blobs, NULL, NULL, 0), recs);
    CHECK((bs = open_over(ca, blobs, 1)) != NULL);
    CHECK_EQ(blobstore_rebuild_index(&st, bs, NULL, NULL), 0);
    CHECK_EQ(st.restored, 2);
    CHECK(has(bs, "a", 'X'));
    CHECK(has(bs, "b", 'X'));
    CHECK_EQ(blobstore_delete(bs, "a"), 0);
    CHECK(has(bs, "b", 'X')); /* the shared blob survives a's delete */
    blobstore_close(bs);
}

static void json_field(char *out, size_t cap, const char *json, const char *field)
{
    char pat[64];
    snprintf(pat, sizeof(pat), "\"%s\":", field);
    const char *p = strstr(json, pat);
    out[0] = 0;
    if (!p)
        return;
    p += strlen(pat);
    if (*p == '"')
        p++;
    size_t n = strcspn(p, "\",}");
    snprintf(out, cap, "%.*s", (int)(n < cap ? n : cap - 1), p);
}

static int put_codec(blobstore *bs, const char *key, char content, const char *codec)
{
    char v[VLEN];
    value_of(v, content);
    blobstore_put_options po = BLOBSTORE_PUT_OPTIONS_INIT;
    po.compression = codec;
    char meta[64];
    snprintf(meta, sizeof(meta), "{\"owner\": \"%s\"}", key);
    po.metadata = meta;
    return blobstore_put_ex(NULL, bs, key, v, VLEN, &po);
}

/* A put whose content is stored already, asked for another codec, keeps
 * the stored blob: its entry records that blob's codec and size, not the
 * codec asked for. A stored blob whose trailer is damaged is replaced by
 * the identical content of the next put of it, which repairs the keys
 * that share it. */
TEST(shared_blob_described_as_stored)
{
    const char *dir = test_tmpdir();
    blobstore *bs = open_store(dir, "sqlite", 0);
    CHECK(bs != NULL);
    CHECK_EQ(put_codec(bs, "a", 'X', "lz4"), 0);
    CHECK_EQ(put_codec(bs, "b", 'X', "zstd"), 0);
    char *ma = NULL, *mb = NULL, ca[32], cb[32], fa[32], fb[32], blob[160];
    CHECK_EQ(blobstore_get_metadata(&ma, bs, "a"), 0);
    CHECK_EQ(blobstore_get_metadata(&mb, bs, "b"), 0);
    json_field(ca, sizeof(ca), ma, "compression");
    json_field(cb, sizeof(cb), mb, "compression");
    json_field(fa, sizeof(fa), ma, "file_size");
    json_field(fb, sizeof(fb), mb, "file_size");
    json_field(blob, sizeof(blob), mb, "blob");
    blobstore_free(ma);
    blobstore_free(mb);
    CHECK_STR(ca, "lz4");
    CHECK_STR(cb, "lz4");
    char path[700];
    snprintf(path, sizeof(path), "%s/blobs/%.2s/%s", dir, blob, blob);
    struct stat sb;
    CHECK_EQ(stat(path, &sb), 0);
    CHECK_EQ(strtoull(fb, NULL, 10), (unsigned long long)sb.st_size);
    CHECK_STR(fa, fb);
    /* damage the trailer's last byte: the blob reads as corrupt */
    FILE *f = fopen(path, "r+b");
    CHECK(f != NULL);
    fseek(f, -1, SEEK_END);
    int c = fgetc(f);
    fseek(f, -1, SEEK_END);
    fputc(c ^ 0x5a, f);
    fclose(f);
    void *got = NULL;
    size_t len = 0;
    CHECK_EQ(blobstore_get(&got, &len, bs, "a"), BLOBSTORE_ECORRUPT);
    CHECK_EQ(put_codec(bs, "c", 'X', "zstd"), 0); /* writes the content whole again */
    CHECK(has(bs, "a", 'X'));
    CHECK(has(bs, "b", 'X'));
    CHECK(has(bs, "c", 'X'));
    char *mc = NULL, cc[32];
    CHECK_EQ(blobstore_get_metadata(&mc, bs, "c"), 0);
    json_field(cc, sizeof(cc), mc, "compression");
    blobstore_free(mc);
    CHECK_STR(cc, "zstd");
    blobstore_close(bs);
}

TEST(delete_then_rebuild_json)
{
    delete_then_rebuild("json");
}

TEST(delete_then_rebuild_sqlite)
{
    delete_then_rebuild("sqlite");
}

/* The index loses its last commits (an older copy put back, as
 * test_index_damage does): keys b and c, put since onto a blob that key a
 * already used, have only their records. verify names them unindexed,
 * --repair keeps them, the rebuild restores them. */
static void lost_commits(const char *backend)
{
    const char *dir = test_tmpdir();
    const char *files[] = {"cache_metadata.json", "cache_metadata.json.journal",
                           "cache_metadata.db"};
    blobstore *bs = open_store(dir, backend, 0);
    CHECK(bs != NULL);
    CHECK_EQ(put_shared(bs, "a", 'X'), 0);
    CHECK_EQ(put_shared(bs, "u", 'Y'), 0);
    blobstore_close(bs);
    char from[4096], to[4096];
    for (size_t i = 0; i < 3; i++) {
        snprintf(from, sizeof(from), "%s/%s", dir, files[i]);
        snprintf(to, sizeof(to), "%s/%s.saved", dir, files[i]);
        copy_file(from, to);
    }
    CHECK((bs = open_store(dir, backend, 0)) != NULL);
    CHECK_EQ(put_shared(bs, "b", 'X'), 0);
    CHECK_EQ(put_shared(bs, "c", 'X'), 0);
    blobstore_close(bs);
    for (size_t i = 0; i < 3; i++) {
        snprintf(from, sizeof(from), "%s/%s.saved", dir, files[i]);
        snprintf(to, sizeof(to), "%s/%s", dir, files[i]);
        copy_file(from, to);
    }
    snprintf(to, sizeof(to), "%s/cache_metadata.db-wal", dir);
    unlink(to);
    snprintf(to, sizeof(to), "%s/cache_metadata.db-shm", dir);
    unlink(to);
    CHECK((bs = open_store(dir, backend, 0)) != NULL);
    CHECK_EQ(blobstore_exists(bs, "b"), 0);
    CHECK(has(bs, "a", 'X'));
    seen s;
    memset(&s, 0, sizeof(s));
    blobstore_verify_stats vs;
    CHECK_EQ(blobstore_verify(&vs, bs, 0, note, &s), 0);
    CHECK_EQ(s.unindexed, 2);
    CHECK(strstr(s.keys, "b ") != NULL && strstr(s.keys, "c ") != NULL);
    memset(&s, 0, sizeof(s));
    CHECK_EQ(blobstore_verify(&vs, bs, BLOBSTORE_VERIFY_REPAIR, note, &s), 0);
    CHECK_EQ(s.unindexed, 2);
    CHECK_EQ(s.removed, 0);
    CHECK_EQ(walk_recs(dir, NULL, NULL, 0), 4);
    blobstore_rebuild_stats st;
    CHECK_EQ(blobstore_rebuild_index(&st, bs, NULL, NULL), 0);
    CHECK_EQ(st.restored, 2);
    CHECK_EQ(st.kept, 2);
    CHECK(has(bs, "a", 'X'));
    CHECK(has(bs, "b", 'X'));
    CHECK(has(bs, "c", 'X'));
    CHECK(has(bs, "u", 'Y'));
    blobstore_close(bs);
}

TEST(lost_commits_json)
{
    lost_commits("json");
}

TEST(lost_commits_sqlite)
{
    lost_commits("sqlite");
}

/* verify names an entry whose key record is missing; --repair writes it
 * from the entry, and a rebuild then restores the key. --repair removes a
 * record superseded by a newer entry of its key, keeps one whose key the
 * index lacks (unindexed), and never a live key's. */
static void records_verified(const char *backend)
{
    const char *dir = test_tmpdir();
    blobstore *bs = open_store(dir, backend, 0);
    CHECK(bs != NULL);
    CHECK_EQ(put_shared(bs, "a", 'X'), 0);
    CHECK_EQ(put_shared(bs, "b", 'X'), 0);
    CHECK_EQ(put_shared(bs, "c", 'X'), 0);
    CHECK_EQ(put_shared(bs, "u", 'Y'), 0);
    char rb[4096] = "", rc[4096] = "", rb_old[4096], rc_old[4096];
    walk_recs(dir, "b", rb, sizeof(rb));
    walk_recs(dir, "c", rc, sizeof(rc));
    CHECK(rb[0] && rc[0]);
    /* b's record lost */
    unlink(rb);
    seen s;
    memset(&s, 0, sizeof(s));
    blobstore_verify_stats vs;
    CHECK_EQ(blobstore_verify(&vs, bs, 0, note, &s), 0);
    CHECK_EQ(s.norecord, 1);
    CHECK_STR(s.keys, "b ");
    CHECK_EQ(access(rb, F_OK), -1);
    memset(&s, 0, sizeof(s));
    CHECK_EQ(blobstore_verify(&vs, bs, BLOBSTORE_VERIFY_REPAIR, note, &s), 0);
    CHECK_EQ(s.norecord, 1);
    CHECK_EQ(s.written, 1);
    CHECK_EQ(access(rb, F_OK), 0);
    /* a stale record of b (its put onto X, b now on Y: superseded) and a
     * record of c kept from before c's delete (c absent: unindexed) */
    snprintf(rb_old, sizeof(rb_old), "%s.keep", rb);
    snprintf(rc_old, sizeof(rc_old), "%s.keep", rc);
    copy_file(rb, rb_old);
    copy_file(rc, rc_old);
    CHECK_EQ(put_shared(bs, "b", 'Y'), 0);
    CHECK_EQ(access(rb, F_OK), -1); /* removed by the overwrite */
    CHECK_EQ(blobstore_delete(bs, "c"), 0);
    CHECK_EQ(access(rc, F_OK), -1); /* removed by the delete */
    rename(rb_old, rb);
    rename(rc_old, rc);
    CHECK_EQ(walk_recs(dir, NULL, NULL, 0), 5);
    memset(&s, 0, sizeof(s));
    CHECK_EQ(blobstore_verify(&vs, bs, BLOBSTORE_VERIFY_REPAIR, note, &s), 0);
    CHECK_EQ(s.unindexed, 1);
    CHECK_STR(s.keys, "c ");
    CHECK_EQ(s.orphans, 1);
    CHECK_EQ(s.removed, 1);
    CHECK_EQ(access(rb, F_OK), -1);             /* the superseded one */
    CHECK_EQ(access(rc, F_OK), 0);              /* the unindexed one */
    CHECK_EQ(walk_recs(dir, NULL, NULL, 0), 4); /* a, b, u live; c unindexed */
    memset(&s, 0, sizeof(s));
    CHECK_EQ(blobstore_verify(&vs, bs, BLOBSTORE_VERIFY_REPAIR, note, &s), 0);
    CHECK_EQ(s.orphans + s.norecord, 0);
    CHECK_EQ(vs.ok, 3);
    blobstore_close(bs);
    /* the rebuild restores the live keys, and c from its kept record */
    lose_index(dir);
    CHECK((bs = open_store(dir, backend, 1)) != NULL);
    blobstore_rebuild_stats st;
    CHECK_EQ(blobstore_rebuild_index(&st, bs, NULL, NULL), 0);
    CHECK_EQ(st.restored, 4);
    CHECK(has(bs, "a", 'X'));
    CHECK(has(bs, "b", 'Y'));
    CHECK(has(bs, "c", 'X'));
    CHECK(has(bs, "u", 'Y'));
    blobstore_close(bs);
}

TEST(records_verified_json)
{
    records_verified("json");
}

TEST(records_verified_sqlite)
{
    records_verified("sqlite");
}

/* A migration copies each key's record with the blobs: the copy's index
 * rebuilt from its blobs has every key. */
TEST(migrated_records)
{
    const char *src_dir = test_tmpdir();
    char dst_dir[4200];
    snprintf(dst_dir, sizeof(dst_dir), "%s/copy", src_dir);
    blobstore *src = open_store(src_dir, "json", 0), *dst = NULL;
    CHECK(src != NULL);
    CHECK_EQ(put_shared(src, "a", 'X'), 0);
    CHECK_EQ(put_shared(src, "b", 'X'), 0);
    CHECK_EQ(put_shared(src, "c", 'X'), 0);
    CHECK_EQ(put_shared(src, "u", 'Y'), 0);
    CHECK_EQ(blobstore_delete(src, "a"), 0);
    CHECK((dst = open_store(dst_dir, "sqlite", 0)) != NULL);
    blobstore_migrate_stats ms;
    CHECK_EQ(blobstore_migrate(&ms, dst, src, NULL, NULL), 0);
    CHECK_EQ(ms.copied, 3);
    blobstore_close(dst);
    blobstore_close(src);
    lose_index(dst_dir);
    CHECK((dst = open_store(dst_dir, "sqlite", 1)) != NULL);
    blobstore_rebuild_stats st;
    CHECK_EQ(blobstore_rebuild_index(&st, dst, NULL, NULL), 0);
    CHECK_EQ(st.restored, 3);
    CHECK_EQ(blobstore_exists(dst, "a"), 0);
    CHECK(has(dst, "b", 'X'));
    CHECK(has(dst, "c", 'X'));
    CHECK(has(dst, "u", 'Y'));
    blobstore_close(dst);
}

/* Batches: a rolled-back put leaves no record (the key's old one stays);
 * a committed delete removes its record, a committed put writes its own. */
TEST(batch_records)
{
    const char *dir = test_tmpdir();
    blobstore *bs = open_store(dir, "sqlite", 0);
    CHECK(bs != NULL);
    CHECK_EQ(put_shared(bs, "a", 'X'), 0);
    CHECK_EQ(put_shared(bs, "b", 'X'), 0);
    CHECK_EQ(blobstore_batch_begin(bs), 0);
    CHECK_EQ(put_shared(bs, "r", 'X'), 0);
    CHECK_EQ(put_shared(bs, "b", 'Y'), 0);
    CHECK_EQ(walk_recs(dir, NULL, NULL, 0), 4);
    CHECK_EQ(blobstore_batch_rollback(bs), 0);
    CHECK_EQ(walk_recs(dir, NULL, NULL, 0), 2); /* a's and b's, on X */
    CHECK(has(bs, "b", 'X'));
    CHECK_EQ(blobstore_batch_begin(bs), 0);
    CHECK_EQ(blobstore_delete(bs, "a"), 0);
    CHECK_EQ(put_shared(bs, "r", 'X'), 0);
    CHECK_EQ(blobstore_batch_commit(bs), 0);
    char ra[4096] = "", rr[4096] = "";
    CHECK_EQ(walk_recs(dir, "a", ra, sizeof(ra)), 2); /* b's and r's */
    CHECK(ra[0] == 0);
    walk_recs(dir, "r", rr, sizeof(rr));
    CHECK(rr[0] != 0);
    seen s;
    memset(&s, 0, sizeof(s));
    blobstore_verify_stats vs;
    CHECK_EQ(blobstore_verify(&vs, bs, 0, note, &s), 0);
    CHECK_EQ(s.unindexed + s.norecord + s.orphans, 0);
    blobstore_close(bs);
}

static const test_case tests[] = {
    TEST_ENTRY(rebuild_shared_json),
    TEST_ENTRY(rebuild_shared_sqlite),
    TEST_ENTRY(delete_then_rebuild_json),
    TEST_ENTRY(delete_then_rebuild_sqlite),
    TEST_ENTRY(lost_commits_json),
    TEST_ENTRY(lost_commits_sqlite),
    TEST_ENTRY(records_verified_json),
    TEST_ENTRY(records_verified_sqlite),
    TEST_ENTRY(migrated_records),
    TEST_ENTRY(batch_records),
    TEST_ENTRY(rebuild_needs_content_addressed),
    TEST_ENTRY(shared_blob_described_as_stored),
};
TEST_MAIN(tests)
