/*
 * query.c - the metadata filter language: validation, evaluation and
 * ordering. Evaluation here is the single source of truth for what matches:
 * a backend may narrow the candidates (an index), never decide the answer.
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

/* ---- the filter language ----
 *
 * filter   := { member, ... }                  all members must hold
 * member   := "$and": [filter, ...] | "$or": [filter, ...] | "$not": filter
 *           | PATH: VALUE                      exact match (deep, numbers by value)
 *           | PATH: { OP: operand, ... }       every operator must hold
 * PATH     := dotted path into the user's metadata ("a.b.c"), or "@field"
 *             for a store field (@key @size @file_size @format @compression
 *             @content_hash @created_at @updated_at)
 * OP       := $eq $ne $gt $gte $lt $lte $in $nin $exists $prefix $not
 *
 * Comparisons ($gt, $gte, $lt, $lte) hold only for values of the operand's
 * JSON type: numbers with numbers (integers and reals by value), strings with
 * strings (byte order), booleans with booleans (false < true). $eq and exact
 * match on null hold for a field that is present and null; $exists tests
 * presence. $ne, $nin and $not are the negations of $eq, $in and their
 * filter, so they also hold when the field is missing.
 */

static const char *const store_fields[] = {"key",        "size",        "file_size",
                                           "format",     "compression", "content_hash",
                                           "created_at", "updated_at",  NULL};

static int is_op_object(const json_t *v)
{
    const char *k;
    json_t *m;
    if (!json_is_object(v) || json_object_size(v) == 0)
        return 0;
    json_object_foreach((json_t *)v, k, m)
    {
        (void)m;
        if (k[0] != '$')
            return 0;
    }
    return 1;
}

static int bad(const char *where, const char *why)
{
    return bs__error(BLOBSTORE_EINVAL, "invalid filter at %s: %s", where, why);
}

static void sub(char *out, size_t cap, const char *where, const char *name)
{
    snprintf(out, cap, "%s.%s", where, name);
}

static int check_path(const char *path, const char *where)
{
    if (!*path)
        return bad(where, "empty path");
    if (path[0] == '@') {
        for (int i = 0; store_fields[i]; i++)
            if (strcmp(path + 1, store_fields[i]) == 0)
                return 0;
        return bad(where, "unknown store field (expected @key, @size, @file_size, @format, "
                          "@compression, @content_hash, @created_at or @updated_at)");
    }
    size_t n = strlen(path);
    if (path[0] == '.' || path[n - 1] == '.' || strstr(path, ".."))
        return bad(where, "empty segment in dotted path");
    return 0;
}

static int check_filter(const json_t *f, const char *where);

static int check_ops(const json_t *ops, const char *where)
{
    const char *op;
    json_t *v;
    char w[512];
    json_object_foreach((json_t *)ops, op, v)
    {
        sub(w, sizeof(w), where, op);
        if (!strcmp(op, "$eq") || !strcmp(op, "$ne")) {
            continue;
        } else if (!strcmp(op, "$gt") || !strcmp(op, "$gte") || !strcmp(op, "$lt") ||
                   !strcmp(op, "$lte")) {
            if (!json_is_number(v) && !json_is_string(v) && !json_is_boolean(v))
                return bad(w, "the operand must be a number, a string or a boolean");
        } else if (!strcmp(op, "$in") || !strcmp(op, "$nin")) {
            if (!json_is_array(v))
                return bad(w, "the operand must be an array");
        } else if (!strcmp(op, "$exists")) {
            if (!json_is_boolean(v))
                return bad(w, "the operand must be true or false");
        } else if (!strcmp(op, "$prefix")) {
            if (!json_is_string(v))
                return bad(w, "the operand must be a string");
        } else if (!strcmp(op, "$not")) {
            if (!is_op_object(v))
                return bad(w, "the operand must be an object of operators");
            int rc = check_ops(v, w);
            if (rc)
                return rc;
        } else {
            return bad(w, "unknown operator");
        }
    }
    return 0;
}

static int check_filter(const json_t *f, const char *where)
{
    const char *k;
    json_t *v;
    char w[512];
    if (!json_is_object(f))
        return bad(where, "a filter must be a JSON object");
    json_object_foreach((json_t *)f, k, v)
    {
        sub(w, sizeof(w), where, k);
        if (!strcmp(k, "$and") || !strcmp(k, "$or")) {
            if (!json_is_array(v) || json_array_size(v) == 0)
                return bad(w, "the operand must be a non-empty array of filters");
            for (size_t i = 0; i < json_array_size(v); i++) {
                char wi[540];
                snprintf(wi, sizeof(wi), "%s[%zu]", w, i);
                int rc = check_filter(json_array_get(v, i), wi);
                if (rc)
                    return rc;
            }
        } else if (!strcmp(k, "$not")) {
            int rc = check_filter(v, w);
            if (rc)
                return rc;
        } else if (k[0] == '$') {
            return bad(w, "unknown operator (expected $and, $or or $not here)");
        } else {
            int rc = check_path(k, w);
            if (rc)
                return rc;
            if (json_is_object(v) && json_object_size(v) && !is_op_object(v)) {
                const char *k2;
                json_t *v2;
                json_object_foreach(v, k2, v2)
                {
                    (void)v2;
                    if (k2[0] == '$') {
                        char w2[600];
                        sub(w2, sizeof(w2), w, k2);
                        return bad(w2, "operators cannot be mixed with plain members");
                    }
                }
            }
            if (is_op_object(v) && (rc = check_ops(v, w)) != 0)
                return rc;
        }
    }
    return 0;
}

int bs__filter_check(const json_t *filter)
{
    return check_filter(filter, "$");
}

/* Resolve a path: user metadata by dotted path, or a store field. */
static const json_t *resolve(const char *path, const json_t *meta, const json_t *fields)
{
    if (path[0] == '@')
        return fields ? json_object_get(fields, path + 1) : NULL;
    const json_t *cur = meta;
    const char *seg = path;
    char buf[256];
    while (cur) {
        const char *dot = strchr(seg, '.');
        size_t n = dot ? (size_t)(dot - seg) : strlen(seg);
        if (!json_is_object(cur))
            return NULL;
        if (n < sizeof(buf)) {
            memcpy(buf, seg, n);
            buf[n] = '\0';
            cur = json_object_get(cur, buf);
        } else {
            char *big = bs__strndup(seg, n);
            cur = big ? json_object_get(cur, big) : NULL;
            free(big);
        }
        if (!dot)
            return cur;
        seg = dot + 1;
    }
    return NULL;
}

/* <0, 0, >0 for values of the same comparable type; sets *ok = 0 otherwise. */
static int compare(const json_t *a, const json_t *b, int *ok)
{
    *ok = 1;
    if (json_is_number(a) && json_is_number(b)) {
        if (json_is_integer(a) && json_is_integer(b)) {
            json_int_t x = json_integer_value(a), y = json_integer_value(b);
            return (x > y) - (x < y);
        }
        long double x = json_is_integer(a) ? (long double)json_integer_value(a)
                                           : (long double)json_real_value(a);
        long double y = json_is_integer(b) ? (long double)json_integer_value(b)
                                           : (long double)json_real_value(b);
        return (x > y) - (x < y);
    }
    if (json_is_string(a) && json_is_string(b)) {
        size_t la = json_string_length(a), lb = json_string_length(b);
        int c = memcmp(json_string_value(a), json_string_value(b), la < lb ? la : lb);
        return c ? c : (la > lb) - (la < lb);
    }
    if (json_is_boolean(a) && json_is_boolean(b))
        return json_is_true(a) - json_is_true(b);
    *ok = 0;
    return 0;
}

static int in_array(const json_t *v, const json_t *arr)
{
    for (size_t i = 0; i < json_array_size(arr); i++)
        if (value_equal(v, json_array_get(arr, i)))
            return 1;
    return 0;
}

static int ops_hold(const json_t *ops, const json_t *v)
{
    const char *op;
    json_t *x;
    json_object_foreach((json_t *)ops, op, x)
    {
        int ok, c, r;
        if (!strcmp(op, "$eq")) {
            r = v && value_equal(v, x);
        } else if (!strcmp(op, "$ne")) {
            r = !(v && value_equal(v, x));
        } else if (!strcmp(op, "$in")) {
            r = v && in_array(v, x);
        } else if (!strcmp(op, "$nin")) {
            r = !(v && in_array(v, x));
        } else if (!strcmp(op, "$exists")) {
            r = (v != NULL) == json_is_true(x);
        } else if (!strcmp(op, "$prefix")) {
            r = v && json_is_string(v) && json_string_length(v) >= json_string_length(x) &&
                memcmp(json_string_value(v), json_string_value(x), json_string_length(x)) == 0;
        } else if (!strcmp(op, "$not")) {
            r = !ops_hold(x, v);
        } else {
            if (!v)
                return 0;
            c = compare(v, x, &ok);
            if (!ok)
                return 0;
            if (!strcmp(op, "$gt"))
                r = c > 0;
            else if (!strcmp(op, "$gte"))
                r = c >= 0;
            else if (!strcmp(op, "$lt"))
                r = c < 0;
            else
                r = c <= 0;
        }
        if (!r)
            return 0;
    }
    return 1;
}

int bs__filter_match(const json_t *filter, const json_t *meta, const json_t *fields)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)filter, k, v)
    {
        if (!strcmp(k, "$and")) {
            for (size_t i = 0; i < json_array_size(v); i++)
                if (!bs__filter_match(json_array_get(v, i), meta, fields))
                    return 0;
        } else if (!strcmp(k, "$or")) {
            int any = 0;
            for (size_t i = 0; i < json_array_size(v) && !any; i++)
                any = bs__filter_match(json_array_get(v, i), meta, fields);
            if (!any)
                return 0;
        } else if (!strcmp(k, "$not")) {
            if (bs__filter_match(v, meta, fields))
                return 0;
        } else {
            const json_t *have = resolve(k, meta, fields);
            if (is_op_object(v) ? !ops_hold(v, have) : !(have && value_equal(v, have)))
                return 0;
        }
    }
    return 1;
}

int bs__filter_uses_fields(const json_t *filter)
{
    const char *k;
    json_t *v;
    if (json_is_array(filter)) {
        for (size_t i = 0; i < json_array_size(filter); i++)
            if (bs__filter_uses_fields(json_array_get(filter, i)))
                return 1;
        return 0;
    }
    if (!json_is_object(filter))
        return 0;
    json_object_foreach((json_t *)filter, k, v)
    {
        if (k[0] == '@')
            return 1;
        if ((!strcmp(k, "$and") || !strcmp(k, "$or") || !strcmp(k, "$not")) &&
            bs__filter_uses_fields(v))
            return 1;
    }
    return 0;
}

const json_t *bs__path_resolve(const char *path, const json_t *meta, const json_t *fields)
{
    return resolve(path, meta, fields);
}

/* Sort order of a value: numbers, strings, booleans, null, arrays and
 * objects; a missing value sorts after everything in either direction. */
int bs__order_compare(const json_t *a, const json_t *b)
{
    int ok, ra, rb;
#define RANK(v)                                                                                    \
    (!(v)                 ? 5                                                                      \
     : json_is_number(v)  ? 0                                                                      \
     : json_is_string(v)  ? 1                                                                      \
     : json_is_boolean(v) ? 2                                                                      \
     : json_is_null(v)    ? 3                                                                      \
                          : 4)
    ra = RANK(a);
    rb = RANK(b);
#undef RANK
    if (ra != rb)
        return ra - rb;
    if (ra >= 3)
        return 0;
    return compare(a, b, &ok);
}

int bs__path_check(const char *path)
{
    return check_path(path, path);
}

int bs__index_path_check(const char *path)
{
    size_t n = strlen(path);
    int start = 1;
    if (n == 0 || n > 200)
        return bs__error(BLOBSTORE_EINVAL, "an index path must be 1..200 characters");
    for (size_t i = 0; i < n; i++) {
        char c = path[i];
        int alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
        if (c == '.' && !start && i + 1 < n) {
            start = 1;
        } else if (alpha || (!start && c >= '0' && c <= '9')) {
            start = 0;
        } else {
            return bs__error(BLOBSTORE_EINVAL,
                             "cannot index \"%s\": an index path is dotted names of letters, "
                             "digits and '_' (queries on any path work without an index)",
                             path);
        }
    }
    return 0;
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
