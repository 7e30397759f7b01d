/*
 * conformance.c - the store conformance suite (see conformance.h).
 */
#include "conformance.h"
#include "test.h"

#include <jansson.h>

#include "internal.h"

static json_t *meta_of(blobstore *bs, const char *key)
{
    char *text = NULL;
    if (blobstore_get_metadata(&text, bs, key) != 0)
        return NULL;
    json_error_t err;
    json_t *o = json_loads(text, 0, &err);
    blobstore_free(text);
    return o;
}

static int get_equals(blobstore *bs, const char *key, const void *data, size_t len)
{
    void *out = NULL;
    size_t n = 0;
    int rc = blobstore_get(&out, &n, bs, key);
    int ok = rc == 0 && n == len && (len == 0 || memcmp(out, data, len) == 0);
    blobstore_free(out);
    return ok;
}

static void basic_put_get(blobstore *bs)
{
    char *key = NULL;
    CHECK_EQ(blobstore_put(&key, bs, "model_v1", "hello", 5,
                           "{\"accuracy\": 0.95, \"author\": \"alice\"}"),
             0);
    CHECK_STR(key, "model_v1");
    blobstore_free(key);
    CHECK(get_equals(bs, "model_v1", "hello", 5));
    CHECK_EQ(blobstore_exists(bs, "model_v1"), 1);
    CHECK_EQ(blobstore_exists(bs, "model_v2"), 0);

    json_t *m = meta_of(bs, "model_v1");
    CHECK(m != NULL);
    CHECK_STR(json_string_value(json_object_get(m, "key")), "model_v1");
    CHECK_STR(json_string_value(json_object_get(m, "format")), "bytes");
    CHECK_EQ(json_integer_value(json_object_get(m, "size")), 5);
    CHECK(json_integer_value(json_object_get(m, "file_size")) > 0);
    CHECK_STR(json_string_value(json_object_get(m, "content_hash")),
              "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
    const char *created = json_string_value(json_object_get(m, "created_at"));
    CHECK(created && strlen(created) == 27 && created[10] == 'T' && created[26] == 'Z');
    json_t *user = json_object_get(m, "metadata");
    CHECK_EQ(json_real_value(json_object_get(user, "accuracy")) == 0.95, 1);
    CHECK_STR(json_string_value(json_object_get(user, "author")), "alice");
    json_decref(m);

    /* Empty value, binary value with NULs. */
    CHECK_EQ(blobstore_put(NULL, bs, "empty", "", 0, NULL), 0);
    CHECK(get_equals(bs, "empty", "", 0));
    unsigned char bin[300];
    for (int i = 0; i < 300; i++)
        bin[i] = (unsigned char)(i * 7);
    CHECK_EQ(blobstore_put(NULL, bs, "bin", bin, sizeof(bin), "{}"), 0);
    CHECK(get_equals(bs, "bin", bin, sizeof(bin)));
}

static void missing_keys(blobstore *bs)
{
    void *out;
    size_t n;
    char *json;
    CHECK_EQ(blobstore_get(&out, &n, bs, "nope"), BLOBSTORE_ENOTFOUND);
    CHECK_EQ(blobstore_get_metadata(&json, bs, "nope"), BLOBSTORE_ENOTFOUND);
    CHECK_EQ(blobstore_update_metadata(bs, "nope", "{\"a\":1}"), BLOBSTORE_ENOTFOUND);
    CHECK_EQ(blobstore_delete(bs, "nope"), BLOBSTORE_ENOTFOUND);
    CHECK(strstr(blobstore_errmsg(), "nope") != NULL);
}

static void replace_and_update(blobstore *bs)
{
    CHECK_EQ(blobstore_put(NULL, bs, "r", "first", 5, "{\"v\":1,\"keep\":true}"), 0);
    CHECK_EQ(blobstore_put(NULL, bs, "r", "second!", 7, "{\"v\":2}"), 0);
    CHECK(get_equals(bs, "r", "second!", 7));
    json_t *m = meta_of(bs, "r");
    CHECK(m != NULL);
    json_t *user = json_object_get(m, "metadata");
    CHECK_EQ(json_integer_value(json_object_get(user, "v")), 2);
    CHECK(json_object_get(user, "keep") == NULL); /* put replaces metadata */
    CHECK_EQ(json_integer_value(json_object_get(m, "size")), 7);
    json_decref(m);

    CHECK_EQ(
        blobstore_update_metadata(bs, "r", "{\"deployed\": true, \"nested\": {\"a\": [1, 2]}}"), 0);
    m = meta_of(bs, "r");
    user = json_object_get(m, "metadata");
    CHECK(json_is_true(json_object_get(user, "deployed")));
    CHECK_EQ(json_integer_value(json_object_get(user, "v")), 2);
    CHECK_EQ(json_array_size(json_object_get(json_object_get(user, "nested"), "a")), 2);
    json_decref(m);
    CHECK(get_equals(bs, "r", "second!", 7)); /* data untouched */

    CHECK_EQ(blobstore_update_metadata(bs, "r", "[1,2]"), BLOBSTORE_EINVAL);
    CHECK_EQ(blobstore_update_metadata(bs, "r", "{bad json"), BLOBSTORE_EINVAL);
    CHECK_EQ(blobstore_put(NULL, bs, "r2", "x", 1, "\"not an object\""), BLOBSTORE_EINVAL);
    CHECK_EQ(blobstore_exists(bs, "r2"), 0);
}

static void hostile_keys(blobstore *bs)
{
    static const char *keys[] = {
        "../../etc/passwd", "a/b/c",       "..",          ".",   "/abs",       "back\\slash",
        " spaced key ",     "ключ/日本語", "k.with.dots", "CON", "tilde~ & $x"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        CHECK_EQ(blobstore_put(NULL, bs, keys[i], keys[i], strlen(keys[i]), NULL), 0);
    }
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        CHECK(get_equals(bs, keys[i], keys[i], strlen(keys[i])));
        CHECK_EQ(blobstore_exists(bs, keys[i]), 1);
    }
    char longkey[BLOBSTORE_KEY_MAX + 2];
    memset(longkey, 'k', sizeof(longkey));
    longkey[BLOBSTORE_KEY_MAX] = '\0';
    CHECK_EQ(blobstore_put(NULL, bs, longkey, "x", 1, NULL), 0);
    CHECK(get_equals(bs, longkey, "x", 1));
    longkey[BLOBSTORE_KEY_MAX] = 'k';
    longkey[BLOBSTORE_KEY_MAX + 1] = '\0';
    CHECK_EQ(blobstore_put(NULL, bs, longkey, "x", 1, NULL), BLOBSTORE_EINVAL);
    CHECK_EQ(blobstore_put(NULL, bs, "", "x", 1, NULL), BLOBSTORE_EINVAL);
    CHECK_EQ(blobstore_put(NULL, bs, "bad\xff\xfe", "x", 1, NULL), BLOBSTORE_EINVAL);
    CHECK_EQ(blobstore_put(NULL, bs, "over\xc0\xaflong", "x", 1, NULL), BLOBSTORE_EINVAL);
    CHECK_EQ(blobstore_put(NULL, bs, "surrogate\xed\xa0\x80", "x", 1, NULL), BLOBSTORE_EINVAL);
    CHECK(strstr(blobstore_errmsg(), "UTF-8") != NULL);
    /* Control characters (a newline would split a listing line) are refused,
     * each one, with a message naming it. */
    for (int c = 1; c < 0x80; c = c == 0x1F ? 0x7F : c + 1) {
        char k[8] = {'a', 'b', (char)c, 'z', 0};
        CHECK_EQ(blobstore_put(NULL, bs, k, "x", 1, NULL), BLOBSTORE_EINVAL);
        char want[64];
        snprintf(want, sizeof(want), "control character 0x%02X", c);
        CHECK(strstr(blobstore_errmsg(), want) != NULL);
        CHECK(strstr(blobstore_errmsg(), "at byte 2") != NULL);
        CHECK_EQ(blobstore_exists(bs, k), 0);
    }
    CHECK_EQ(blobstore_put(NULL, bs, "two\nlines", "x", 1, NULL), BLOBSTORE_EINVAL);
    CHECK(strstr(blobstore_errmsg(), "0x0A (newline)") != NULL);
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        CHECK_EQ(blobstore_delete(bs, keys[i]), 0);
    longkey[BLOBSTORE_KEY_MAX] = '\0';
    CHECK_EQ(blobstore_delete(bs, longkey), 0);
}

static void listing(blobstore *bs)
{
    size_t n;
    CHECK_EQ(blobstore_clear(&n, bs), 0);
    static const char *keys[] = {"model_b", "model_a", "data/x", "model_c", "zeta", "mode"};
    static const char *metas[] = {"{\"deployed\": true, \"n\": 1}",
                                  "{\"deployed\": false}",
                                  "{\"deployed\": true, \"n\": 1.0}",
                                  "{\"n\": \"1\"}",
                                  "{}",
                                  "{\"deployed\": true, \"n\": 2}"};
    for (int i = 0; i < 6; i++)
        CHECK_EQ(blobstore_put(NULL, bs, keys[i], "v", 1, metas[i]), 0);
    blobstore_list l;
    CHECK_EQ(blobstore_list_keys(&l, bs, NULL, NULL), 0);
    CHECK_EQ(l.count, 6);
    const char *sorted[] = {"data/x", "mode", "model_a", "model_b", "model_c", "zeta"};
    for (int i = 0; i < 6; i++)
        CHECK_STR(l.keys[i], sorted[i]);
    blobstore_list_free(&l);

    CHECK_EQ(blobstore_list_keys(&l, bs, "model_", NULL), 0);
    CHECK_EQ(l.count, 3);
    CHECK_STR(l.keys[0], "model_a");
    CHECK_STR(l.keys[2], "model_c");
    blobstore_list_free(&l);

    CHECK_EQ(blobstore_list_keys(&l, bs, NULL, "{\"deployed\": true}"), 0);
    CHECK_EQ(l.count, 3);
    CHECK_STR(l.keys[0], "data/x");
    CHECK_STR(l.keys[1], "mode");
    CHECK_STR(l.keys[2], "model_b");
    blobstore_list_free(&l);

    /* Numbers match by value; a string never equals a number. */
    CHECK_EQ(blobstore_list_keys(&l, bs, NULL, "{\"n\": 1}"), 0);
    CHECK_EQ(l.count, 2);
    CHECK_STR(l.keys[0], "data/x");
    CHECK_STR(l.keys[1], "model_b");
    blobstore_list_free(&l);

    CHECK_EQ(blobstore_list_keys(&l, bs, "mode", "{\"deployed\": true}"), 0);
    CHECK_EQ(l.count, 2);
    blobstore_list_free(&l);

    CHECK_EQ(blobstore_list_keys(&l, bs, NULL, "[1]"), BLOBSTORE_EINVAL);
    CHECK_EQ(blobstore_list_keys(&l, bs, "nothing", NULL), 0);
    CHECK_EQ(l.count, 0);
    blobstore_list_free(&l);

    CHECK_EQ(blobstore_clear(&n, bs), 0);
    CHECK_EQ(n, 6);
    CHECK_EQ(blobstore_list_keys(&l, bs, NULL, NULL), 0);
    CHECK_EQ(l.count, 0);
    blobstore_list_free(&l);
    CHECK_EQ(blobstore_exists(bs, "zeta"), 0);
}

static void auto_keys_and_codecs(blobstore *bs)
{
    char *k1 = NULL, *k2 = NULL;
    CHECK_EQ(blobstore_put(&k1, bs, NULL, "a", 1, NULL), 0);
    CHECK_EQ(blobstore_put(&k2, bs, NULL, "a", 1, NULL), 0);
    CHECK(k1 && k2 && strlen(k1) == 16 && strspn(k1, "0123456789abcdef") == 16);
    CHECK(strcmp(k1, k2) != 0);
    blobstore_free(k1);
    blobstore_free(k2);

    static const char *codecs[] = {"lz4", "zstd", "gzip", "blosclz", "none"};
    size_t big = 3 * 1024 * 1024 + 17;
    unsigned char *data = malloc(big);
    for (size_t i = 0; i < big; i++)
        data[i] = (unsigned char)((i % 251) ^ (i >> 13));
    for (int c = 0; c < 5; c++) {
        blobstore_put_options po = BLOBSTORE_PUT_OPTIONS_INIT;
        po.compression = codecs[c];
        po.compression_level = 1 + c;
        CHECK_EQ(blobstore_put_ex(NULL, bs, codecs[c], data, big, &po), 0);
        CHECK_EQ(blobstore_put_ex(NULL, bs, "small", "tiny", 4, &po), 0);
        CHECK(get_equals(bs, "small", "tiny", 4));
    }
    for (int c = 0; c < 5; c++) {
        CHECK(get_equals(bs, codecs[c], data, big));
        json_t *m = meta_of(bs, codecs[c]);
        CHECK_STR(json_string_value(json_object_get(m, "compression")), codecs[c]);
        if (strcmp(codecs[c], "none") != 0)
            CHECK(json_integer_value(json_object_get(m, "file_size")) < (json_int_t)big / 2);
        json_decref(m);
    }
    blobstore_put_options po = BLOBSTORE_PUT_OPTIONS_INIT;
    po.compression = "brotli";
    CHECK_EQ(blobstore_put_ex(NULL, bs, "x", "x", 1, &po), BLOBSTORE_EINVAL);
    free(data);
}

typedef struct {
    const unsigned char *p;
    size_t len, pos, step;
} reader;

static int read_cb(void *ctx, void *buf, size_t cap, size_t *out_n)
{
    reader *r = ctx;
    size_t n = r->len - r->pos;
    if (n > cap)
        n = cap;
    if (n > r->step)
        n = r->step;
    memcpy(buf, r->p + r->pos, n);
    r->pos += n;
    *out_n = n;
    return 0;
}

typedef struct {
    unsigned char *p;
    size_t len, cap;
} writer;

static int write_cb(void *ctx, const void *buf, size_t len)
{
    writer *w = ctx;
    if (w->len + len > w->cap)
        return -1;
    memcpy(w->p + w->len, buf, len);
    w->len += len;
    return 0;
}

static void streaming(blobstore *bs)
{
    size_t len = 5 * 1024 * 1024 + 3;
    unsigned char *data = malloc(len), *back = malloc(len);
    for (size_t i = 0; i < len; i++)
        data[i] = (unsigned char)(i * 2654435761u >> 24);
    reader r = {data, len, 0, 100000};
    blobstore_put_options po = BLOBSTORE_PUT_OPTIONS_INIT;
    po.metadata = "{\"stream\": true}";
    char *key = NULL;
    CHECK_EQ(blobstore_put_stream(&key, bs, "streamed", read_cb, &r, &po), 0);
    CHECK_STR(key, "streamed");
    blobstore_free(key);
    writer w = {back, 0, len};
    CHECK_EQ(blobstore_get_stream(bs, "streamed", write_cb, &w), 0);
    CHECK_EQ(w.len, len);
    CHECK(memcmp(back, data, len) == 0);
    /* A write callback that fails is reported as such. */
    writer small = {back, 0, 10};
    CHECK_EQ(blobstore_get_stream(bs, "streamed", write_cb, &small), BLOBSTORE_ECALLBACK);
    free(data);
    free(back);
}

static void no_overwrite(blobstore *bs)
{
    blobstore_put_options po = BLOBSTORE_PUT_OPTIONS_INIT;
    po.flags = BLOBSTORE_PUT_NO_OVERWRITE;
    po.metadata = "{\"v\":1}";
    CHECK_EQ(blobstore_put_ex(NULL, bs, "nx", "one", 3, &po), 0); /* new: stored */
    po.metadata = "{\"v\":2}";
    CHECK_EQ(blobstore_put_ex(NULL, bs, "nx", "two", 3, &po), BLOBSTORE_EEXISTS);
    CHECK(strstr(blobstore_errmsg(), "nx") != NULL);
    CHECK(get_equals(bs, "nx", "one", 3)); /* unchanged, data and metadata */
    json_t *m = meta_of(bs, "nx");
    CHECK_EQ(json_integer_value(json_object_get(json_object_get(m, "metadata"), "v")), 1);
    json_decref(m);
    /* streamed, and a large value that would make a blob file */
    size_t big = 200000;
    unsigned char *data = malloc(big);
    for (size_t i = 0; i < big; i++)
        data[i] = (unsigned char)(i * 31 + i / 7);
    reader r = {data, big, 0, 4096};
    CHECK_EQ(blobstore_put_stream(NULL, bs, "nx", read_cb, &r, &po), BLOBSTORE_EEXISTS);
    CHECK(get_equals(bs, "nx", "one", 3));
    /* inside a batch the refusal holds too, and the batch goes on */
    CHECK_EQ(blobstore_batch_begin(bs), 0);
    CHECK_EQ(blobstore_put_ex(NULL, bs, "nx", data, big, &po), BLOBSTORE_EEXISTS);
    CHECK_EQ(blobstore_put_ex(NULL, bs, "nx2", data, big, &po), 0);
    CHECK_EQ(blobstore_batch_commit(bs), 0);
    CHECK(get_equals(bs, "nx2", data, big));
    /* without the flag, the same put replaces */
    CHECK_EQ(blobstore_put(NULL, bs, "nx", "two", 3, NULL), 0);
    CHECK(get_equals(bs, "nx", "two", 3));
    /* unknown flags are refused */
    po.flags = 0x80;
    CHECK_EQ(blobstore_put_ex(NULL, bs, "nx3", "x", 1, &po), BLOBSTORE_EINVAL);
    /* a version 1 caller's options (no flags member) still replace */
    po.version = 1;
    CHECK_EQ(blobstore_put_ex(NULL, bs, "nx", "three", 5, &po), 0);
    CHECK(get_equals(bs, "nx", "three", 5));
    CHECK_EQ(blobstore_delete(bs, "nx"), 0);
    CHECK_EQ(blobstore_delete(bs, "nx2"), 0);
    free(data);
}

static void verify_clean(blobstore *bs)
{
    blobstore_verify_stats st;
    CHECK_EQ(blobstore_verify(&st, bs, 0, NULL, NULL), 0);
    CHECK(st.entries > 0);
    CHECK_EQ(st.ok, st.entries);
    CHECK_EQ(st.corrupt + st.dangling + st.orphans + st.temps, 0);
}

/* blobstore_get_value (#16): the value with its format, hash, size and
 * format details from one read; an entry of a format not asked for is
 * described but not read. */
static void get_value(blobstore *bs)
{
    static const char hash[] = "58100dc8fc06562ce3e578231dc948e083520ee49c4b4ee5a5a28bb4b4003feb";
    static const char *const small[] = {"bytes", "pickle", NULL}, *const arrays[] = {"b2nd", NULL};
    blobstore_put_options po = BLOBSTORE_PUT_OPTIONS_INIT;
    po.format = "pickle";
    po.format_info = "{\"signature\": \"abc\"}";
    CHECK_EQ(blobstore_put_ex(NULL, bs, "gv/p", "same bytes", 10, &po), 0);
    CHECK_EQ(blobstore_put(NULL, bs, "gv/b", "same bytes", 10, "{\"m\": 1}"), 0);
    void *v = NULL;
    size_t n = 0;
    blobstore_value_info vi;
    CHECK_EQ(blobstore_get_value(&v, &n, &vi, bs, "gv/p", small), 0);
    CHECK(vi.has_value && n == 10 && v && memcmp(v, "same bytes", 10) == 0);
    CHECK_STR(vi.format, "pickle");
    CHECK_STR(vi.content_hash, hash);
    CHECK_EQ(vi.size, 10);
    json_error_t err;
    json_t *info = vi.info ? json_loads(vi.info, 0, &err) : NULL;
    CHECK_STR(json_string_value(json_object_get(info, "signature")), "abc");
    json_decref(info);
    blobstore_free(v);
    blobstore_free(vi.info);
    CHECK_EQ(blobstore_get_value(&v, &n, &vi, bs, "gv/b", arrays), 0);
    CHECK(!vi.has_value && v == NULL && n == 0 && vi.info == NULL);
    CHECK_STR(vi.format, "bytes");
    CHECK_STR(vi.content_hash, hash);
    CHECK_EQ(blobstore_get_value(&v, &n, &vi, bs, "gv/b", NULL), 0);
    CHECK(vi.has_value && n == 10 && memcmp(v, "same bytes", 10) == 0);
    blobstore_free(v);
    CHECK_EQ(blobstore_get_value(&v, &n, &vi, bs, "gv/none", small), BLOBSTORE_ENOTFOUND);
    CHECK(v == NULL && !vi.has_value);
    CHECK_EQ(blobstore_delete(bs, "gv/p"), 0);
    CHECK_EQ(blobstore_delete(bs, "gv/b"), 0);
}

/* A caller's format_info never carries the store's own bookkeeping (members
 * named with a leading '_', hidden from get_metadata; "_segments" would be
 * taken for the raw file's checksums): refused, nothing stored. */
static void format_info_names(blobstore *bs)
{
    static const char *const bad[] = {"{\"_segments\": {\"size\": 4, \"xxh3\": \"0\"}}",
                                      "{\"ok\": 1, \"_x\": 2}"};
    blobstore_put_options po = BLOBSTORE_PUT_OPTIONS_INIT;
    for (int raw = 0; raw < 2; raw++)
        for (size_t i = 0; i < 2; i++) {
            po.raw = raw;
            po.format_info = bad[i];
            CHECK_EQ(blobstore_put_ex(NULL, bs, "fi/k", "12345678", 8, &po), BLOBSTORE_EINVAL);
            CHECK(strstr(blobstore_errmsg(), "the store's own") != NULL);
            CHECK_EQ(blobstore_exists(bs, "fi/k"), 0);
        }
    po.format_info = "{\"ok\": 1, \"x_\": 2}";
    CHECK_EQ(blobstore_put_ex(NULL, bs, "fi/k", "12345678", 8, &po), 0);
    json_t *m = meta_of(bs, "fi/k");
    CHECK_EQ(json_integer_value(json_object_get(m, "ok")), 1);
    CHECK_EQ(json_integer_value(json_object_get(m, "x_")), 2);
    json_decref(m);
    void *v = NULL;
    size_t n = 0;
    CHECK_EQ(blobstore_get(&v, &n, bs, "fi/k"), 0);
    CHECK(n == 8 && memcmp(v, "12345678", 8) == 0);
    blobstore_free(v);
    CHECK_EQ(blobstore_delete(bs, "fi/k"), 0);
}

void conformance_store(blobstore *bs)
{
    void (*steps[])(blobstore *) = {basic_put_get, missing_keys, replace_and_update,   no_overwrite,
                                    hostile_keys,  listing,      auto_keys_and_codecs, streaming,
                                    verify_clean,  get_value,    format_info_names};
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]) && !test__failed; i++)
        steps[i](bs);
}

static char *blob_of(blobstore *bs, const char *key)
{
    json_t *m = meta_of(bs, key);
    const char *b = json_string_value(json_object_get(m, "blob"));
    char *out = b ? strdup(b) : NULL;
    json_decref(m);
    return out;
}

/* Orphans verify finds (a blob nobody refers to that was not removed). */
static size_t orphans(blobstore *bs)
{
    blobstore_verify_stats st;
    if (blobstore_verify(&st, bs, 0, NULL, NULL) != 0 || st.ok != st.entries)
        return (size_t)-1; /* also a failure of the CHECK around it */
    return st.orphans;
}

void conformance_store_ca(blobstore *bs)
{
    char *k1 = NULL, *k2 = NULL;
    /* without a key: the content's hash is the key, identical content one entry */
    CHECK_EQ(blobstore_put(&k1, bs, NULL, "same bytes", 10, "{\"v\":1}"), 0);
    CHECK_EQ(blobstore_put(&k2, bs, NULL, "same bytes", 10, "{\"v\":2}"), 0);
    CHECK(k1 && k2);
    CHECK_STR(k1, k2);
    CHECK_EQ(strlen(k1), 64);
    CHECK_STR(k1, "58100dc8fc06562ce3e578231dc948e083520ee49c4b4ee5a5a28bb4b4003feb");
    CHECK(get_equals(bs, k1, "same bytes", 10));
    blobstore_list l;
    CHECK_EQ(blobstore_list_keys(&l, bs, NULL, NULL), 0);
    CHECK_EQ(l.count, 1);
    blobstore_list_free(&l);
    /* Streamed puts of the same content land on the same key. */
    reader r = {(const unsigned char *)"same bytes", 10, 0, 3};
    char *k3 = NULL;
    CHECK_EQ(blobstore_put_stream(&k3, bs, NULL, read_cb, &r, NULL), 0);
    CHECK_STR(k3, k1);
    blobstore_free(k3);
    verify_clean(bs);

    /* With a key (the reference's ML model example): stored under that key;
     * identical content under any number of keys is one blob. */
    size_t big = 100000; /* a blob file on every backend (no inline value) */
    unsigned char *model = malloc(big);
    for (size_t i = 0; i < big; i++)
        model[i] = (unsigned char)(i * 13 + i / 251);
    char *kk = NULL;
    CHECK_EQ(blobstore_put(&kk, bs, "fraud_detector_v2.1", model, big,
                           "{\"model_name\": \"fraud_detector\", \"accuracy\": 0.95}"),
             0);
    CHECK_STR(kk, "fraud_detector_v2.1");
    blobstore_free(kk);
    CHECK_EQ(blobstore_put(NULL, bs, "fraud_detector_v2.2", model, big, "{\"accuracy\": 0.96}"), 0);
    CHECK_EQ(blobstore_put(NULL, bs, "other_model", model, big, NULL), 0);
    CHECK_EQ(blobstore_list_keys(&l, bs, "fraud_detector", NULL), 0);
    CHECK_EQ(l.count, 2);
    if (l.count == 2) {
        CHECK_STR(l.keys[0], "fraud_detector_v2.1");
        CHECK_STR(l.keys[1], "fraud_detector_v2.2");
    }
    blobstore_list_free(&l);
    CHECK_EQ(blobstore_update_metadata(bs, "fraud_detector_v2.1", "{\"deployed\": true}"), 0);
    json_t *m = meta_of(bs, "fraud_detector_v2.1");
    CHECK(json_is_true(json_object_get(json_object_get(m, "metadata"), "deployed")));
    CHECK_EQ(json_real_value(json_object_get(json_object_get(m, "metadata"), "accuracy")) == 0.95,
             1);
    json_decref(m);
    char *b1 = blob_of(bs, "fraud_detector_v2.1"), *b2 = blob_of(bs, "fraud_detector_v2.2"),
         *b3 = blob_of(bs, "other_model");
    CHECK(b1 && b2 && b3);
    if (b1 && b2 && b3) { /* one blob, named by the content's hash */
        CHECK_STR(b1, b2);
        CHECK_STR(b1, b3);
    }
    CHECK(get_equals(bs, "fraud_detector_v2.2", model, big));
    CHECK_EQ(orphans(bs), 0);
    /* deleting one key never breaks another */
    CHECK_EQ(blobstore_delete(bs, "fraud_detector_v2.1"), 0);
    CHECK(get_equals(bs, "fraud_detector_v2.2", model, big));
    CHECK(get_equals(bs, "other_model", model, big));
    /* nor does replacing one with other content */
    CHECK_EQ(blobstore_put(NULL, bs, "fraud_detector_v2.2", "retrained", 9, NULL), 0);
    CHECK(get_equals(bs, "fraud_detector_v2.2", "retrained", 9));
    CHECK(get_equals(bs, "other_model", model, big));
    CHECK_EQ(blobstore_exists(bs, "other_model"), 1);
    /* nor a batch that deletes one and rolls back a put of the same content */
    CHECK_EQ(blobstore_put(NULL, bs, "copy", model, big, NULL), 0);
    CHECK_EQ(blobstore_batch_begin(bs), 0);
    CHECK_EQ(blobstore_put(NULL, bs, "copy2", model, big, NULL), 0);
    CHECK_EQ(blobstore_batch_rollback(bs), 0);
    CHECK_EQ(blobstore_batch_begin(bs), 0);
    CHECK_EQ(blobstore_delete(bs, "copy"), 0);
    CHECK_EQ(blobstore_batch_commit(bs), 0);
    CHECK(get_equals(bs, "other_model", model, big));
    CHECK_EQ(orphans(bs), 0);
    /* no-overwrite holds for explicit keys */
    blobstore_put_options po = BLOBSTORE_PUT_OPTIONS_INIT;
    po.flags = BLOBSTORE_PUT_NO_OVERWRITE;
    CHECK_EQ(blobstore_put_ex(NULL, bs, "other_model", "x", 1, &po), BLOBSTORE_EEXISTS);
    /* the last reference gone, the blob goes too: no orphan is left */
    CHECK_EQ(blobstore_delete(bs, "other_model"), 0);
    CHECK_EQ(blobstore_exists(bs, "other_model"), 0);
    CHECK_EQ(orphans(bs), 0);
    free(b1);
    free(b2);
    free(b3);
    free(model);
    blobstore_free(k1);
    blobstore_free(k2);
    verify_clean(bs);
}

/* ---- the metadata backend contract ---- */

blobstore_entry conformance_entry(const char *key, const char *blob, const char *meta)
{
    blobstore_entry e;
    memset(&e, 0, sizeof(e));
    e.key = (char *)key;
    e.blob = (char *)blob;
    e.format = (char *)"bytes";
    e.compression = (char *)"lz4";
    e.content_hash = (char *)"00";
    e.created_at = (char *)"2026-01-01T00:00:00.000000Z";
    e.updated_at = (char *)"2026-01-01T00:00:00.000000Z";
    e.metadata = (char *)meta;
    e.size = 42;
    e.file_size = 7;
    return e;
}

int conformance_record(void *ctx, const blobstore_entry *e)
{
    conformance_seen *s = ctx;
    if (s->n < 16)
        snprintf(s->keys[s->n], 64, "%s", e->key);
    s->n++;
    return 0;
}

static int stop_early(void *ctx, const blobstore_entry *e)
{
    (void)ctx;
    (void)e;
    return 77;
}

void conformance_meta(blobstore_meta_backend *be)
{
    const char *keys[] = {"b", "a", "ab", "a\xc3\xa9", "\xc3\xbf\xc3\xbf", "aa", "c/d"};
    CHECK_EQ(be->begin(be, 1), 0);
    for (int i = 0; i < 7; i++) {
        blobstore_entry e = conformance_entry(keys[i], i % 2 ? NULL : "blobname", "{\"i\": 1}");
        CHECK_EQ(be->put(be, &e), 0);
    }
    CHECK_EQ(be->commit(be), 0);

    CHECK_EQ(be->begin(be, 0), 0);
    blobstore_entry got;
    CHECK_EQ(be->get(be, "ab", &got), 0);
    CHECK_STR(got.key, "ab");
    CHECK_STR(got.blob, "blobname");
    CHECK(strstr(got.metadata, "\"i\"") != NULL);
    CHECK_EQ(got.size, 42);
    CHECK_EQ(got.file_size, 7);
    blobstore_entry_clear(&got);
    CHECK_EQ(be->get(be, "zz", &got), BLOBSTORE_ENOTFOUND);
    conformance_seen s = {.n = 0};
    CHECK_EQ(be->iterate(be, NULL, conformance_record, &s), 0);
    CHECK_EQ(s.n, 7);
    const char *order[] = {"a", "aa", "ab", "a\xc3\xa9", "b", "c/d", "\xc3\xbf\xc3\xbf"};
    for (int i = 0; i < 7; i++)
        CHECK_STR(s.keys[i], order[i]);
    s.n = 0;
    CHECK_EQ(be->iterate(be, "a", conformance_record, &s), 0);
    CHECK_EQ(s.n, 4);
    s.n = 0;
    CHECK_EQ(be->iterate(be, "\xc3\xbf", conformance_record, &s), 0);
    CHECK_EQ(s.n, 1);
    s.n = 0;
    CHECK_EQ(be->iterate(be, "a\xc3", conformance_record, &s), 0);
    CHECK_EQ(s.n, 1);
    CHECK_EQ(be->iterate(be, NULL, stop_early, NULL), 77);
    CHECK_EQ(be->commit(be), 0);

    /* Rollback undoes puts and removes. */
    CHECK_EQ(be->begin(be, 1), 0);
    blobstore_entry e = conformance_entry("new", NULL, "{}");
    CHECK_EQ(be->put(be, &e), 0);
    e = conformance_entry("a", NULL, "{\"changed\": true}");
    CHECK_EQ(be->put(be, &e), 0);
    CHECK_EQ(be->remove(be, "b"), 0);
    CHECK_EQ(be->remove(be, "b"), BLOBSTORE_ENOTFOUND);
    CHECK_EQ(be->rollback(be), 0);
    CHECK_EQ(be->begin(be, 0), 0);
    CHECK_EQ(be->get(be, "new", &got), BLOBSTORE_ENOTFOUND);
    CHECK_EQ(be->get(be, "b", &got), 0);
    blobstore_entry_clear(&got);
    CHECK_EQ(be->get(be, "a", &got), 0);
    CHECK(strstr(got.metadata, "changed") == NULL);
    blobstore_entry_clear(&got);
    CHECK_EQ(be->commit(be), 0);

    /* Removal commits. */
    CHECK_EQ(be->begin(be, 1), 0);
    CHECK_EQ(be->remove(be, "b"), 0);
    CHECK_EQ(be->commit(be), 0);
    CHECK_EQ(be->begin(be, 0), 0);
    CHECK_EQ(be->get(be, "b", &got), BLOBSTORE_ENOTFOUND);
    CHECK_EQ(be->commit(be), 0);
}

/* ---- the blob backend contract ---- */

int conformance_list_cb(void *ctx, const char *name, int is_temp)
{
    conformance_listing *l = ctx;
    if (is_temp)
        l->temps++;
    else
        l->objects++;
    snprintf(l->last, sizeof(l->last), "%s", name);
    return 0;
}

int conformance_read_all(blobstore_blob_backend *be, const char *name, bs_buf *out)
{
    blobstore_blob_reader *r;
    int rc = be->reader(&r, be, name);
    if (rc)
        return rc;
    unsigned char buf[1000];
    for (;;) {
        size_t n;
        if ((rc = r->read(r, buf, sizeof(buf), &n)) != 0 || n == 0)
            break;
        bs__buf_append(out, buf, n);
    }
    r->close(r);
    return rc;
}

void conformance_blob(blobstore_blob_backend *be)
{
    blobstore_blob_writer *w;
    CHECK_EQ(be->writer(&w, be), 0);
    CHECK_EQ(w->write(w, "hello ", 6), 0);
    CHECK_EQ(be->exists(be, "abc123.blob"), 0); /* nothing visible before commit */
    CHECK_EQ(w->write(w, "world", 5), 0);
    CHECK_EQ(w->commit(w, "abc123.blob", 1), 0);
    CHECK_EQ(be->exists(be, "abc123.blob"), 1);
    bs_buf b = {0};
    CHECK_EQ(conformance_read_all(be, "abc123.blob", &b), 0);
    CHECK_EQ(b.len, 11);
    CHECK_MEM(b.data, "hello world", 11);
    bs__buf_free(&b);

    /* A large object through many writes. */
    CHECK_EQ(be->writer(&w, be), 0);
    unsigned char chunk[70000];
    for (size_t i = 0; i < sizeof(chunk); i++)
        chunk[i] = (unsigned char)i;
    for (int i = 0; i < 30; i++)
        CHECK_EQ(w->write(w, chunk, sizeof(chunk)), 0);
    CHECK_EQ(w->commit(w, "def456-big.blob", 0), 0);
    CHECK_EQ(conformance_read_all(be, "def456-big.blob", &b), 0);
    CHECK_EQ(b.len, 30 * sizeof(chunk));
    CHECK_MEM(b.data + 29 * sizeof(chunk), chunk, sizeof(chunk));
    bs__buf_free(&b);

    /* Abort leaves nothing. */
    CHECK_EQ(be->writer(&w, be), 0);
    CHECK_EQ(w->write(w, "x", 1), 0);
    w->abort(w);
    conformance_listing l = {0, 0, ""};
    CHECK_EQ(be->list(be, conformance_list_cb, &l), 0);
    CHECK_EQ(l.objects, 2);
    CHECK_EQ(l.temps, 0);

    if (be->read_range) { /* parts of objects */
        char part[64];
        size_t n;
        CHECK_EQ(be->read_range(be, "abc123.blob", 6, part, 5, &n), 0);
        CHECK_EQ(n, 5);
        CHECK_MEM(part, "world", 5);
        CHECK_EQ(be->read_range(be, "abc123.blob", 3, part, 64, &n), 0);
        CHECK_EQ(n, 8); /* short only at the end */
        CHECK_MEM(part, "lo world", 8);
        CHECK_EQ(be->read_range(be, "abc123.blob", 11, part, 4, &n), 0);
        CHECK_EQ(n, 0);
        unsigned char big[3000];
        CHECK_EQ(be->read_range(be, "def456-big.blob", 69000, big, sizeof(big), &n), 0);
        CHECK_EQ(n, sizeof(big));
        CHECK_MEM(big, chunk + 69000, 1000);
        CHECK_MEM(big + 1000, chunk, 2000);
        CHECK_EQ(be->read_range(be, "missing.blob", 0, part, 4, &n), BLOBSTORE_ENOTFOUND);
    }
    blobstore_blob_reader *r;
    CHECK_EQ(be->reader(&r, be, "missing.blob"), BLOBSTORE_ENOTFOUND);
    CHECK_EQ(be->remove(be, "abc123.blob"), 0);
    CHECK_EQ(be->remove(be, "abc123.blob"), BLOBSTORE_ENOTFOUND);
    CHECK_EQ(be->exists(be, "abc123.blob"), 0);
    if (be->sync)
        CHECK_EQ(be->sync(be), 0);
}

/* ---- a blob backend that counts what is read ---- */

typedef struct {
    blobstore_blob_backend parent;
    blobstore_blob_backend *inner;
    conformance_counter *c;
} counting_blob;

typedef struct {
    blobstore_blob_reader parent;
    blobstore_blob_reader *inner;
    conformance_counter *c;
    uint64_t pos;
} counting_reader;

#define CB_INNER(pbe) (((counting_blob *)(pbe))->inner)

static void count_and_flip(conformance_counter *c, void *buf, uint64_t off, size_t n)
{
    c->bytes_read += n;
    if (c->flip_at >= 0 && (uint64_t)c->flip_at >= off && (uint64_t)c->flip_at < off + n)
        ((unsigned char *)buf)[(uint64_t)c->flip_at - off] ^= 0x40;
}

static int cr_read(blobstore_blob_reader *pr, void *buf, size_t cap, size_t *out_n)
{
    counting_reader *r = (counting_reader *)pr;
    int rc = r->inner->read(r->inner, buf, cap, out_n);
    if (!rc) {
        count_and_flip(r->c, buf, r->pos, *out_n);
        r->pos += *out_n;
    }
    return rc;
}

static void cr_close(blobstore_blob_reader *pr)
{
    counting_reader *r = (counting_reader *)pr;
    r->inner->close(r->inner);
    free(r);
}

static int cb_reader(blobstore_blob_reader **out, blobstore_blob_backend *pbe, const char *name)
{
    counting_reader *r = calloc(1, sizeof(*r));
    int rc = r ? CB_INNER(pbe)->reader(&r->inner, CB_INNER(pbe), name) : BLOBSTORE_ENOMEM;
    if (rc) {
        free(r);
        return rc;
    }
    r->c = ((counting_blob *)pbe)->c;
    r->parent.read = cr_read;
    r->parent.close = cr_close;
    *out = &r->parent;
    return 0;
}

static int cb_read_range(blobstore_blob_backend *pbe, const char *name, uint64_t off, void *buf,
                         size_t len, size_t *out_n)
{
    counting_blob *cb = (counting_blob *)pbe;
    int rc = cb->inner->read_range(cb->inner, name, off, buf, len, out_n);
    if (!rc) {
        cb->c->ranges++;
        count_and_flip(cb->c, buf, off, *out_n);
    }
    return rc;
}

static int cb_writer(blobstore_blob_writer **out, blobstore_blob_backend *pbe)
{
    return CB_INNER(pbe)->writer(out, CB_INNER(pbe));
}

static int cb_exists(blobstore_blob_backend *pbe, const char *name)
{
    return CB_INNER(pbe)->exists(CB_INNER(pbe), name);
}

static int cb_remove(blobstore_blob_backend *pbe, const char *name)
{
    return CB_INNER(pbe)->remove(CB_INNER(pbe), name);
}

static int cb_list(blobstore_blob_backend *pbe, blobstore_blob_list_fn fn, void *ctx)
{
    return CB_INNER(pbe)->list(CB_INNER(pbe), fn, ctx);
}

static void cb_free(blobstore_blob_backend *pbe)
{
    CB_INNER(pbe)->free(CB_INNER(pbe));
    free(pbe);
}

blobstore_blob_backend *conformance_counting_blob(blobstore_blob_backend *inner,
                                                  conformance_counter *c)
{
    counting_blob *cb = calloc(1, sizeof(*cb));
    if (!cb)
        return NULL;
    cb->inner = inner;
    cb->c = c;
    cb->parent.version = BLOBSTORE_BLOB_BACKEND_VERSION;
    cb->parent.writer = cb_writer;
    cb->parent.reader = cb_reader;
    cb->parent.exists = cb_exists;
    cb->parent.remove = cb_remove;
    cb->parent.list = cb_list;
    cb->parent.free = cb_free;
    cb->parent.read_range = inner->read_range ? cb_read_range : NULL;
    return &cb->parent;
}

/* ---- rebuilding the index from the blobs ---- */

/* Value i: 4200 bytes (over the inline limit) from a seeded generator. */
static void rebuild_value(unsigned char *p, size_t len, size_t i)
{
    uint64_t x = (uint64_t)i * 0x9E3779B97F4A7C15ull + 12345;
    for (size_t k = 0; k < len; k++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        p[k] = (unsigned char)(k % 64 < 8 ? x : 'a' + k % 7); /* compressible */
    }
}

#define REBUILD_LEN 4200
#define REBUILD_RAW 5

static void rebuild_check(blobstore *bs, size_t n)
{
    unsigned char want[REBUILD_LEN];
    char key[64], meta[128];
    blobstore_list l;
    CHECK_EQ(blobstore_list_keys(&l, bs, NULL, NULL), 0);
    size_t count = l.count;
    blobstore_list_free(&l);
    CHECK_EQ(count, n + REBUILD_RAW + 1);
    for (size_t i = 0; i < n; i++) {
        snprintf(key, sizeof(key), "key/%05zu", i);
        void *got = NULL;
        size_t len = 0;
        rebuild_value(want, sizeof(want), i);
        int rc = blobstore_get(&got, &len, bs, key);
        if (rc != 0)
            test__fail(__FILE__, __LINE__, "get %s: %s", key, blobstore_errmsg());
        CHECK_EQ(rc, 0);
        CHECK_EQ(len, sizeof(want));
        CHECK(memcmp(got, want, len) == 0);
        blobstore_free(got);
        char *m = NULL;
        CHECK_EQ(blobstore_get_metadata(&m, bs, key), 0);
        json_error_t err;
        json_t *doc = json_loads(m, 0, &err);
        blobstore_free(m);
        json_t *um = json_object_get(doc, "metadata");
        snprintf(meta, sizeof(meta), "{\"i\": %zu, \"tag\": \"t%zu\"}", i, i % 3);
        json_t *expect = json_loads(meta, 0, &err);
        int same = json_equal(um, expect);
        if (!same)
            test__fail(__FILE__, __LINE__, "metadata of %s", key);
        json_decref(expect);
        json_decref(doc);
        CHECK(same);
    }
    for (size_t i = 0; i < REBUILD_RAW; i++) {
        snprintf(key, sizeof(key), "raw/%zu", i);
        void *got = NULL;
        size_t len = 0;
        CHECK_EQ(blobstore_get(&got, &len, bs, key), 0);
        rebuild_value(want, sizeof(want), 100000 + i);
        CHECK_EQ(len, 1000 + i);
        CHECK(memcmp(got, want, len) == 0);
        blobstore_free(got);
        char *m = NULL;
        CHECK_EQ(blobstore_get_metadata(&m, bs, key), 0);
        CHECK(strstr(m, "\"format\":\"rawtest\"") != NULL);
        CHECK(strstr(m, "\"raw\":true") != NULL || strstr(m, "\"storage\":\"file\"") != NULL);
        CHECK(strstr(m, "\"compression\":\"zz\"") != NULL);
        blobstore_free(m);
    }
    /* Overwritten: the newest put comes back. */
    void *got = NULL;
    size_t len = 0;
    CHECK_EQ(blobstore_get(&got, &len, bs, "over"), 0);
    CHECK_EQ(len, REBUILD_LEN - 1);
    CHECK(memcmp(got, "second", 6) == 0);
    blobstore_free(got);
}

static double rb_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void conformance_rebuild(blobstore *(*open)(void *ctx, int rebuilding), void (*lose)(void *ctx),
                         void *ctx, size_t n)
{
    double t0 = rb_now(), t1, t2, t3, t4;
    blobstore *bs = open(ctx, 0);
    CHECK(bs != NULL);
    unsigned char v[REBUILD_LEN];
    char key[64], meta[128];
    CHECK_EQ(blobstore_batch_begin(bs), 0);
    for (size_t i = 0; i < n; i++) {
        snprintf(key, sizeof(key), "key/%05zu", i);
        /* the metadata the blob carries is that of its put: tag is added
         * later for a third of the keys, so put it here already */
        snprintf(meta, sizeof(meta), "{\"i\": %zu, \"tag\": \"t%zu\"}", i, i % 3);
        rebuild_value(v, sizeof(v), i);
        blobstore_put_options po = BLOBSTORE_PUT_OPTIONS_INIT;
        po.metadata = meta;
        int rc = blobstore_put_ex(NULL, bs, key, v, sizeof(v), &po);
        if (rc)
            test__fail(__FILE__, __LINE__, "put %s: %s", key, blobstore_errmsg());
        CHECK_EQ(rc, 0);
        if (i % 1000 == 999) {
            CHECK_EQ(blobstore_batch_commit(bs), 0);
            CHECK_EQ(blobstore_batch_begin(bs), 0);
        }
    }
    CHECK_EQ(blobstore_batch_commit(bs), 0);
    /* Files stored as they are: their record is in a sidecar. */
    for (size_t i = 0; i < REBUILD_RAW; i++) {
        snprintf(key, sizeof(key), "raw/%zu", i);
        rebuild_value(v, sizeof(v), 100000 + i);
        blobstore_put_options po = BLOBSTORE_PUT_OPTIONS_INIT;
        po.raw = 1;
        po.format = "rawtest";
        po.extension = ".rawt";
        po.compression = "zz";
        CHECK_EQ(blobstore_put_ex(NULL, bs, key, v, 1000 + i, &po), 0);
    }
    /* Overwritten (values over the inline limit: an inline value has no
     * blob and cannot come back). */
    rebuild_value(v, sizeof(v), 7);
    memcpy(v, "first", 5);
    CHECK_EQ(blobstore_put(NULL, bs, "over", v, sizeof(v), NULL), 0);
    memcpy(v, "second", 6);
    CHECK_EQ(blobstore_put(NULL, bs, "over", v, sizeof(v) - 1, NULL), 0);
    blobstore_list l0;
    CHECK_EQ(blobstore_list_keys(&l0, bs, NULL, NULL), 0);
    CHECK_EQ(l0.count, n + REBUILD_RAW + 1);
    blobstore_list_free(&l0);
    blobstore_close(bs);
    lose(ctx);
    /* Without the rebuild the lost index is an error, not an empty store. */
    bs = open(ctx, 0);
    if (bs) { /* a backend where losing the index cannot be told (a fresh database) */
        blobstore_list l;
        CHECK_EQ(blobstore_list_keys(&l, bs, NULL, NULL), 0);
        CHECK_EQ(l.count, 0);
        blobstore_list_free(&l);
        blobstore_close(bs);
    } else {
        CHECK(strstr(blobstore_errmsg(), "index is damaged") != NULL);
    }
    t1 = rb_now();
    bs = open(ctx, 1);
    CHECK(bs != NULL);
    blobstore_rebuild_stats st;
    CHECK_EQ(blobstore_rebuild_index(&st, bs, NULL, NULL), 0);
    t2 = rb_now();
    CHECK_EQ(st.restored, n + REBUILD_RAW + 1);
    CHECK_EQ(st.blobs, n + 2 * REBUILD_RAW + 1); /* with the sidecars */
    CHECK_EQ(st.unreadable, 0);
    CHECK_EQ(st.kept, 0);
    rebuild_check(bs, n);
    t3 = rb_now();
    /* A second rebuild on the intact index keeps everything. */
    CHECK_EQ(blobstore_rebuild_index(&st, bs, NULL, NULL), 0);
    CHECK_EQ(st.restored, 0);
    CHECK_EQ(st.kept, n + REBUILD_RAW + 1);
    blobstore_verify_stats vs;
    CHECK_EQ(blobstore_verify(&vs, bs, 0, NULL, NULL), 0);
    CHECK_EQ(vs.ok, n + REBUILD_RAW + 1);
    CHECK_EQ(vs.orphans, 0);
    blobstore_close(bs);
    t4 = rb_now();
    fprintf(stderr,
            "  %zu entries: put %.1f s, rebuild %.1f s, every get checked %.1f s, "
            "second rebuild + verify %.1f s\n",
            n, t1 - t0, t2 - t1, t3 - t2, t4 - t3);
}

/* ---- statistics ---- */

/* What the test put under one key: enough to compute every figure of
 * blobstore_stats() without the store. */
typedef struct {
    int present;
    int fmt, codec, content; /* content: which bytes (identical ids, identical bytes) */
    uint64_t size, file_size;
    int has_blob;
} stats_model;

static const char *const st_formats[] = {"bytes", "pickle", "b2nd", "parquet"};
static const char *const st_codecs[] = {"none", "lz4", "zstd", "gzip", "blosclz"};

static uint64_t st_rand(uint64_t *s)
{
    *s ^= *s << 13, *s ^= *s >> 7, *s ^= *s << 17;
    return *s;
}

/* Bytes of content id c, n long: half runs (compressible), half noise. */
static void st_fill(unsigned char *p, size_t n, int c)
{
    uint64_t s = 0x9E3779B97F4A7C15ull ^ (uint64_t)(c + 1) * 0xBF58476D1CE4E5B9ull;
    for (size_t i = 0; i < n; i++)
        p[i] = i % 64 < 32 ? (unsigned char)(c + i / 512) : (unsigned char)st_rand(&s);
}

static const blobstore_stats_group *st_find(const blobstore_stats_group *g, size_t n,
                                            const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(g[i].name, name))
            return &g[i];
    return NULL;
}

void conformance_stats(blobstore *bs, int ca, uint64_t seed)
{
    enum { KEYS = 48, OPS = 160, POOL = 9 };
    size_t cleared;
    CHECK_EQ(blobstore_clear(&cleared, bs), 0);
    blobstore_store_stats st = BLOBSTORE_STORE_STATS_INIT;
    CHECK_EQ(blobstore_stats(&st, bs), 0);
    CHECK_EQ(st.entries, 0);
    CHECK_EQ(st.n_formats + st.n_codecs, 0);
    CHECK_EQ(st.blobs + st.dedup_saved_bytes + st.stored_bytes, 0);
    blobstore_stats_free(&st);

    /* A content-addressed store: a pool of contents, each with its own
     * size, format and codec (so that keys sharing content share a blob);
     * otherwise every put its own content. Sizes straddle the 4 KiB that
     * SQLite and PostgreSQL keep inline. */
    uint64_t rs = seed ? seed : 1;
    uint64_t pool_size[POOL];
    int pool_fmt[POOL], pool_codec[POOL];
    for (int c = 0; c < POOL; c++) {
        pool_size[c] = 1 + st_rand(&rs) % 12000;
        pool_fmt[c] = (int)(st_rand(&rs) % 4);
        pool_codec[c] = (int)(st_rand(&rs) % 5);
    }
    stats_model m[KEYS];
    memset(m, 0, sizeof(m));
    unsigned char *buf = malloc(12001);
    CHECK(buf != NULL);
    int next_content = POOL;
    for (int op = 0; op < OPS; op++) {
        int k = (int)(st_rand(&rs) % KEYS);
        char key[32];
        snprintf(key, sizeof(key), "stats/%02d", k);
        if (m[k].present && st_rand(&rs) % 5 == 0) { /* a delete */
            CHECK_EQ(blobstore_delete(bs, key), 0);
            m[k].present = 0;
            continue;
        }
        stats_model e; /* a put, or an overwrite of a present key */
        memset(&e, 0, sizeof(e));
        e.present = 1;
        if (ca) {
            e.content = (int)(st_rand(&rs) % POOL);
            e.size = pool_size[e.content];
            e.fmt = pool_fmt[e.content];
            e.codec = pool_codec[e.content];
        } else {
            e.content = next_content++;
            e.size = 1 + st_rand(&rs) % 12000;
            e.fmt = (int)(st_rand(&rs) % 4);
            e.codec = (int)(st_rand(&rs) % 5);
        }
        st_fill(buf, (size_t)e.size, e.content);
        blobstore_put_options po = BLOBSTORE_PUT_OPTIONS_INIT;
        po.format = st_formats[e.fmt];
        po.compression = st_codecs[e.codec];
        po.raw = e.fmt >= 2; /* b2nd and parquet: a file stored as it is */
        po.metadata = "{\"t\":\"stats\"}";
        CHECK_EQ(blobstore_put_ex(NULL, bs, key, buf, (size_t)e.size, &po), 0);
        m[k] = e;
    }
    free(buf);

    /* The stored size of each entry as its metadata says (the one figure
     * the test cannot know: what the codecs made of the bytes). */
    for (int k = 0; k < KEYS; k++) {
        if (!m[k].present)
            continue;
        char key[32];
        snprintf(key, sizeof(key), "stats/%02d", k);
        json_t *o = meta_of(bs, key);
        CHECK(o != NULL);
        CHECK_EQ(json_integer_value(json_object_get(o, "size")), m[k].size);
        m[k].file_size = (uint64_t)json_integer_value(json_object_get(o, "file_size"));
        m[k].has_blob = json_is_string(json_object_get(o, "blob"));
        CHECK_STR(json_string_value(json_object_get(o, "format")), st_formats[m[k].fmt]);
        CHECK_STR(json_string_value(json_object_get(o, "compression")), st_codecs[m[k].codec]);
        json_decref(o);
        if (m[k].fmt >= 2) { /* stored as it is: never inline, stored bytes = bytes */
            CHECK(m[k].has_blob);
            CHECK_EQ(m[k].file_size, m[k].size);
        }
        if (m[k].size > 4096)
            CHECK(m[k].has_blob);
    }

    /* Every figure, computed from the model. */
    uint64_t entries = 0, stored = 0, original = 0, inl = 0, blob_entries = 0, blob_stored = 0;
    uint64_t f_n[4] = {0}, f_st[4] = {0}, f_or[4] = {0}, c_n[5] = {0}, c_st[5] = {0}, c_or[5] = {0};
    for (int k = 0; k < KEYS; k++) {
        if (!m[k].present)
            continue;
        entries++;
        stored += m[k].file_size;
        original += m[k].size;
        f_n[m[k].fmt]++, f_st[m[k].fmt] += m[k].file_size, f_or[m[k].fmt] += m[k].size;
        c_n[m[k].codec]++, c_st[m[k].codec] += m[k].file_size, c_or[m[k].codec] += m[k].size;
        if (m[k].has_blob) {
            blob_entries++;
            blob_stored += m[k].file_size;
        } else {
            inl++;
        }
    }
    /* Distinct blobs: one per content among entries with a blob, at the
     * largest size its entries record. */
    uint64_t blobs = 0, blob_bytes = 0;
    int seen[KEYS] = {0};
    for (int k = 0; k < KEYS; k++) {
        if (!m[k].present || !m[k].has_blob || seen[k])
            continue;
        uint64_t largest = 0;
        for (int j = k; j < KEYS; j++)
            if (m[j].present && m[j].has_blob && m[j].content == m[k].content) {
                seen[j] = 1;
                largest = m[j].file_size > largest ? m[j].file_size : largest;
            }
        blobs++;
        blob_bytes += largest;
    }
    if (ca)
        CHECK(blobs < blob_entries); /* the workload shares blobs */
    else
        CHECK_EQ(blobs, blob_entries);

    st.version = BLOBSTORE_STATS_VERSION;
    CHECK_EQ(blobstore_stats(&st, bs), 0);
    CHECK_EQ(st.entries, entries);
    CHECK_EQ(st.stored_bytes, stored);
    CHECK_EQ(st.original_bytes, original);
    CHECK_EQ(st.inline_entries, inl);
    CHECK_EQ(st.blobs, blobs);
    CHECK_EQ(st.blob_bytes, blob_bytes);
    CHECK_EQ(st.dedup_saved_bytes, blob_stored - blob_bytes);
    size_t nf = 0, nc = 0;
    for (int i = 0; i < 4; i++) {
        if (!f_n[i]) {
            CHECK(st_find(st.formats, st.n_formats, st_formats[i]) == NULL);
            continue;
        }
        nf++;
        const blobstore_stats_group *g = st_find(st.formats, st.n_formats, st_formats[i]);
        CHECK(g != NULL);
        CHECK_EQ(g->entries, f_n[i]);
        CHECK_EQ(g->stored_bytes, f_st[i]);
        CHECK_EQ(g->original_bytes, f_or[i]);
    }
    for (int i = 0; i < 5; i++) {
        if (!c_n[i]) {
            CHECK(st_find(st.codecs, st.n_codecs, st_codecs[i]) == NULL);
            continue;
        }
        nc++;
        const blobstore_stats_group *g = st_find(st.codecs, st.n_codecs, st_codecs[i]);
        CHECK(g != NULL);
        CHECK_EQ(g->entries, c_n[i]);
        CHECK_EQ(g->stored_bytes, c_st[i]);
        CHECK_EQ(g->original_bytes, c_or[i]);
    }
    CHECK_EQ(st.n_formats, nf);
    CHECK_EQ(st.n_codecs, nc);
    for (size_t i = 1; i < st.n_formats; i++) /* in name order */
        CHECK(strcmp(st.formats[i - 1].name, st.formats[i].name) < 0);
    for (size_t i = 1; i < st.n_codecs; i++)
        CHECK(strcmp(st.codecs[i - 1].name, st.codecs[i].name) < 0);
    blobstore_stats_free(&st);
    CHECK(st.formats == NULL && st.n_formats == 0 && st.version == BLOBSTORE_STATS_VERSION);

    /* a version this library does not know is refused, naming it */
    st.version = BLOBSTORE_STATS_VERSION + 1;
    CHECK_EQ(blobstore_stats(&st, bs), BLOBSTORE_EINVAL);
    CHECK(strstr(blobstore_errmsg(), "blobstore_store_stats version 2 is not supported") != NULL);
}
