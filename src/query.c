/*
 * query.c - matching user metadata against filters.
 *
 * A filter is a JSON object; an entry matches when every member of the
 * filter is present in the entry's metadata with an equal value. Numbers
 * are equal by value whatever their JSON spelling (1 == 1.0); other values
 * are equal when they have the same type and contents, recursively.
 */
#include "internal.h"

#include <jansson.h>

static int value_equal(const json_t *a, const json_t *b)
{
    if (json_is_number(a) && json_is_number(b)) {
        if (json_is_integer(a) && json_is_integer(b))
            return json_integer_value(a) == json_integer_value(b);
        return json_number_value(a) == json_number_value(b);
    }
    if (json_typeof(a) != json_typeof(b))
        return 0;
    if (json_is_array(a)) {
        size_t n = json_array_size(a);
        if (n != json_array_size(b))
            return 0;
        for (size_t i = 0; i < n; i++)
            if (!value_equal(json_array_get(a, i), json_array_get(b, i)))
                return 0;
        return 1;
    }
    if (json_is_object(a)) {
        const char *k;
        json_t *v;
        if (json_object_size(a) != json_object_size(b))
            return 0;
        json_object_foreach((json_t *)a, k, v)
        {
            json_t *w = json_object_get(b, k);
            if (!w || !value_equal(v, w))
                return 0;
        }
        return 1;
    }
    return json_equal((json_t *)a, (json_t *)b);
}

int bs__filter_check(const json_t *filter)
{
    if (!json_is_object(filter))
        return bs__error(BLOBSTORE_EINVAL, "a metadata filter must be a JSON object");
    return 0;
}

int bs__filter_match(const json_t *filter, const json_t *metadata)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)filter, k, v)
    {
        json_t *have = json_object_get(metadata, k);
        if (!have || !value_equal(v, have))
            return 0;
    }
    return 1;
}

BLOBSTORE_API void blobstore_entry_clear(blobstore_entry *e)
{
    if (!e)
        return;
    free(e->key);
    free(e->blob);
    free(e->format);
    free(e->compression);
    free(e->content_hash);
    free(e->created_at);
    free(e->updated_at);
    free(e->metadata);
    free(e->info);
    free(e->inline_data);
    memset(e, 0, sizeof(*e));
}

BLOBSTORE_API int blobstore_entry_copy(blobstore_entry *dst, const blobstore_entry *src)
{
    memset(dst, 0, sizeof(*dst));
    int oom = 0;
#define DUP(f)                                                                                     \
    if (src->f && !(dst->f = bs__strdup(src->f)))                                                  \
        oom = 1;
    DUP(key)
    DUP(blob)
    DUP(format)
    DUP(compression)
    DUP(content_hash)
    DUP(created_at)
    DUP(updated_at)
    DUP(metadata)
    DUP(info)
#undef DUP
    dst->size = src->size;
    dst->file_size = src->file_size;
    dst->raw = src->raw;
    if (src->inline_data) {
        dst->inline_data = bs__malloc(src->inline_len);
        if (dst->inline_data) {
            memcpy(dst->inline_data, src->inline_data, src->inline_len);
            dst->inline_len = src->inline_len;
        } else {
            oom = 1;
        }
    }
    if (oom) {
        blobstore_entry_clear(dst);
        return BLOBSTORE_ENOMEM;
    }
    return 0;
}
