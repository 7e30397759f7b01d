/*
 * store_keyrec.c - key records: one small object per key that refers to a
 * content-addressed blob.
 *
 * In a content-addressed store any number of keys share one blob (its
 * name is the content hash). The blob cannot say which keys use it: they
 * come and go after it is written. So each such entry has a key record of
 * its own, "<32 hex of SHA-256(key)>-<16 hex of SHA-256(blob)>.ref": an
 * empty frame (frame version 3, see frame.c) whose entry record is the
 * entry's (key, blob, format, sizes, content hash, metadata, times). Its
 * name follows from the entry alone, so the index stores nothing more and
 * a delete, an overwrite or verify finds it without a listing.
 *
 * The blob itself then carries {"keyrecs": 1} and no key: it restores no
 * entry by itself (a blob written before key records existed still
 * restores the key its frame names, unless a key record names the blob).
 *
 * Order, as for blobs: the record is written before the index commits the
 * entry, and removed after the index dropped it (delete) or moved the key
 * to another blob (overwrite). A crash therefore leaves at worst a record
 * the index does not refer to, which verify classes as it does blobs.
 */
#include "store_int.h"

#include <jansson.h>

int bs__keyrec_name(char out[128], const char *key, const char *blob)
{
    char kh[65], bh[65];
    bs__sha256_hex(kh, key, strlen(key));
    bs__sha256_hex(bh, blob, strlen(blob));
    snprintf(out, 128, "%.32s-%.16s%s", kh, bh, KEYREC_EXT);
    return 0;
}

int bs__is_keyrec(const char *name)
{
    size_t n = strlen(name), k = strlen(KEYREC_EXT);
    return n > k && strcmp(name + n - k, KEYREC_EXT) == 0;
}

int bs__keyrec_wanted(const blobstore *bs, const blobstore_entry *e)
{
    return bs->ca && e->blob && !e->inline_data && !bs__is_keyrec(e->blob);
}

/* The record: everything the entry holds but its blob's bytes. */
static char *keyrec_text(const blobstore_entry *e)
{
    json_error_t err;
    json_t *m = json_loads(e->metadata ? e->metadata : "{}", 0, &err);
    json_t *info = e->info ? json_loads(e->info, 0, &err) : NULL;
    json_t *r =
        json_pack("{s:i, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:b, s:o?, s:o?, s:s, s:s}", "keyrec",
                  1, "key", e->key, "blob", e->blob, "format", e->format ? e->format : "bytes",
                  "compression", e->compression ? e->compression : "none", "content_hash",
                  e->content_hash ? e->content_hash : "", "size", (json_int_t)e->size, "file_size",
                  (json_int_t)e->file_size, "raw", e->raw ? 1 : 0, "metadata", m, "info", info,
                  "created", e->created_at ? e->created_at : "", "at",
                  e->updated_at ? e->updated_at : (e->created_at ? e->created_at : ""));
    char *text = r ? bs__json_dumps(r) : NULL;
    json_decref(r);
    return text;
}

int bs__keyrec_write(blobstore *bs, const blobstore_entry *e)
{
    char name[128];
    char *text = keyrec_text(e);
    if (!text)
        return bs__error(BLOBSTORE_ENOMEM, "out of memory");
    int rc = bs__keyrec_name(name, e->key, e->blob);
    if (!rc)
        rc = bs__write_record_frame(bs, name, text, 1);
    free(text);
    if (rc)
        bs__error_wrap(rc, "key record of \"%s\"", e->key);
    return rc;
}

void bs__keyrec_forget(blobstore *bs, const char *key, const char *blob)
{
    char name[128];
    if (!bs->ca || !blob || bs__is_keyrec(blob) || bs__keyrec_name(name, key, blob) != 0)
        return;
    if (bs->batch) { /* after the commit: nothing refers to it, so it goes */
        bs__remember(&bs->batch_old, &bs->n_old, name);
        return;
    }
    char saved[1024];
    snprintf(saved, sizeof(saved), "%s", blobstore_errmsg());
    bs->blobs->remove(bs->blobs, name);
    bs__error(0, "%s", saved);
}

int bs__keyrec_parse(bs_keyrec *k, const char *text, size_t len)
{
    memset(k, 0, sizeof(*k));
    json_error_t err;
    json_t *r = json_loadb(text, len, 0, &err);
    json_t *key = json_object_get(r, "key"), *blob = json_object_get(r, "blob");
    json_t *h = json_object_get(r, "content_hash"), *at = json_object_get(r, "at");
    json_t *fmt = json_object_get(r, "format");
    if (!json_is_object(r) || json_integer_value(json_object_get(r, "keyrec")) != 1 ||
        !json_is_string(key) || !json_is_string(blob) || !json_is_string(h) ||
        strlen(json_string_value(h)) != 64 || !json_is_string(at) || !json_is_string(fmt)) {
        json_decref(r);
        return bs__error(BLOBSTORE_ECORRUPT, "not a key record");
    }
    k->rec = r;
    k->key = json_string_value(key);
    k->blob = json_string_value(blob);
    k->content_hash = json_string_value(h);
    k->at = json_string_value(at);
    return 0;
}

int bs__keyrec_entry(blobstore_entry *e, const bs_keyrec *k)
{
    memset(e, 0, sizeof(*e));
    json_t *r = k->rec;
    json_t *m = json_object_get(r, "metadata"), *info = json_object_get(r, "info");
    json_t *comp = json_object_get(r, "compression"), *cr = json_object_get(r, "created");
    json_int_t size = json_integer_value(json_object_get(r, "size"));
    json_int_t fsize = json_integer_value(json_object_get(r, "file_size"));
    e->key = bs__strdup(k->key);
    e->blob = bs__strdup(k->blob);
    e->format = bs__strdup(json_string_value(json_object_get(r, "format")));
    e->compression = bs__strdup(json_is_string(comp) ? json_string_value(comp) : "none");
    e->content_hash = bs__strdup(k->content_hash);
    e->created_at =
        bs__strdup(json_is_string(cr) && *json_string_value(cr) ? json_string_value(cr) : k->at);
    e->updated_at = bs__strdup(k->at);
    e->metadata = json_is_object(m) ? bs__json_dumps(m) : bs__strdup("{}");
    e->info = json_is_object(info) ? bs__json_dumps(info) : NULL;
    e->size = size > 0 ? (uint64_t)size : 0;
    e->file_size = fsize > 0 ? (uint64_t)fsize : 0;
    e->raw = json_is_true(json_object_get(r, "raw"));
    if (!e->key || !e->blob || !e->format || !e->compression || !e->content_hash ||
        !e->created_at || !e->updated_at || !e->metadata || (json_is_object(info) && !e->info)) {
        blobstore_entry_clear(e);
        return BLOBSTORE_ENOMEM;
    }
    return 0;
}

void bs__keyrec_free(bs_keyrec *k)
{
    json_decref(k->rec);
    memset(k, 0, sizeof(*k));
}
