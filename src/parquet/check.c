/*
 * check.c - the writer's output checked against its input.
 *
 * Every row group the writer makes is decoded again by the reader and
 * compared with the rows it was given before a byte of it is emitted. The
 * comparison hashes each column (XXH3-64) in a canonical form, so that what
 * differs only in representation compares equal and nothing else does:
 *
 *   per row: the validity byte (1 valid, 0 null);
 *   fixed-width types: the value's bytes at their table width (bools as
 *     0/1), zeros for a null row, whatever the caller left in its slot;
 *   strings and binary: the length as 8 bytes LE (0 for a null), then the
 *     bytes of the valid rows in order.
 *
 * Floats compare bit for bit (NaN payloads included), as the writer copies
 * them. Names, types, nullability and the UTC flag of timestamps compare
 * exactly.
 */
#include "parquet.h"

#include <xxhash.h>

int bs__pq_fault;   /* tests only: corrupt the writer's output (see parquet.h) */
int bs__pq_nocheck; /* tests and bench only: skip the check */

#define BLOCK 1024

static int valid_at(const pq_column *c, size_t r)
{
    return !c->valid || c->valid[r];
}

/* The canonical hash of rows [r0, r1) of c. */
static int hash_rows(uint64_t *out, const pq_column *c, size_t r0, size_t r1)
{
    XXH3_state_t *st = XXH3_createState();
    if (!st)
        return BLOBSTORE_ENOMEM;
    XXH3_64bits_reset(st);
    size_t w = bs__pq_width(c->type);
    uint8_t vb[BLOCK];
    uint64_t tmp[2 * BLOCK]; /* a block of values (w <= 16: decimals) or of string lengths */
    for (size_t b0 = r0; b0 < r1; b0 += BLOCK) {
        size_t b1 = r1 - b0 < BLOCK ? r1 : b0 + BLOCK, n = b1 - b0;
        int nulls = 0;
        for (size_t i = 0; i < n; i++) {
            vb[i] = (uint8_t)valid_at(c, b0 + i);
            nulls |= !vb[i];
        }
        XXH3_64bits_update(st, vb, n);
        if (w) {
            const uint8_t *src = (const uint8_t *)c->values + b0 * w;
            uint8_t *dst = (uint8_t *)tmp;
            if (c->type == PQ_BOOL) {
                for (size_t i = 0; i < n; i++)
                    dst[i] = vb[i] && src[i];
            } else if (!nulls) {
                dst = (uint8_t *)src;
            } else {
                for (size_t i = 0; i < n; i++)
                    if (vb[i])
                        memcpy(dst + i * w, src + i * w, w);
                    else
                        memset(dst + i * w, 0, w);
            }
            XXH3_64bits_update(st, dst, n * w);
            continue;
        }
        for (size_t i = 0; i < n; i++) {
            uint64_t len = vb[i] ? c->offsets[b0 + i + 1] - c->offsets[b0 + i] : 0;
            memcpy(&tmp[i], &len, 8);
        }
        XXH3_64bits_update(st, tmp, n * 8);
        if (!nulls) {
            XXH3_64bits_update(st, c->bytes + c->offsets[b0],
                               (size_t)(c->offsets[b1] - c->offsets[b0]));
        } else {
            for (size_t i = 0; i < n; i++)
                if (vb[i])
                    XXH3_64bits_update(st, c->bytes + c->offsets[b0 + i],
                                       (size_t)(c->offsets[b0 + i + 1] - c->offsets[b0 + i]));
        }
    }
    *out = XXH3_64bits_digest(st);
    XXH3_freeState(st);
    return 0;
}

/*
 * Nested columns: item i of c fed to st, depth first: its validity byte
 * (0 when an enclosing struct is null: null_above), then a leaf's value as
 * above, a list's or map's length (8 bytes) and items, a struct's fields.
 * Items hidden under a null list are not fed, nor fields of a null struct.
 */
static void hash_item(XXH3_state_t *st, const pq_column *c, size_t i, int null_above)
{
    uint8_t ok = (uint8_t)(!null_above && valid_at(c, i));
    XXH3_64bits_update(st, &ok, 1);
    if (!ok)
        return;
    size_t w = bs__pq_width(c->type);
    if (c->type == PQ_STRUCT) {
        for (size_t k = 0; k < c->nchildren; k++)
            hash_item(st, &c->children[k], i, 0);
    } else if (c->type == PQ_LIST || c->type == PQ_MAP) {
        uint64_t b = c->offsets[i], e = c->offsets[i + 1], n = e - b;
        XXH3_64bits_update(st, &n, 8);
        for (uint64_t x = b; x < e; x++)
            hash_item(st, &c->children[0], (size_t)x, 0);
    } else if (c->type == PQ_BOOL) {
        uint8_t v = ((const uint8_t *)c->values)[i] != 0;
        XXH3_64bits_update(st, &v, 1);
    } else if (w) {
        XXH3_64bits_update(st, (const uint8_t *)c->values + i * w, w);
    } else {
        uint64_t n = c->offsets[i + 1] - c->offsets[i];
        XXH3_64bits_update(st, &n, 8);
        XXH3_64bits_update(st, c->bytes + c->offsets[i], (size_t)n);
    }
}

/* The canonical hash of items [r0, r1) of nested column c. */
static int hash_nested(uint64_t *out, const pq_column *c, size_t r0, size_t r1)
{
    XXH3_state_t *st = XXH3_createState();
    if (!st)
        return BLOBSTORE_ENOMEM;
    XXH3_64bits_reset(st);
    for (size_t i = r0; i < r1; i++)
        hash_item(st, c, i, 0);
    *out = XXH3_64bits_digest(st);
    XXH3_freeState(st);
    return 0;
}

static int is_timestamp(pq_type t);

/* What differs between the shapes of given column a and b, read back (a's
 * field of a nullable struct reads as nullable: in_null_struct), or NULL. */
static const char *shape_differs(const pq_column *a, const pq_column *b, int in_null_struct)
{
    if (strcmp(a->name, b->name) != 0)
        return "the name of a field differs";
    if (a->type != b->type || a->nchildren != b->nchildren)
        return "the type of a field differs";
    int nullable = a->nullable || in_null_struct;
    if (nullable != (b->nullable != 0))
        return "the nullability of a field differs";
    if (is_timestamp(a->type) && (a->utc != 0) != (b->utc != 0))
        return "the time zone (UTC) of a field differs";
    for (size_t k = 0; k < a->nchildren; k++) {
        const char *d =
            shape_differs(&a->children[k], &b->children[k], a->type == PQ_STRUCT && nullable);
        if (d)
            return d;
    }
    return NULL;
}

static int is_timestamp(pq_type t)
{
    return t == PQ_TIMESTAMP_MS || t == PQ_TIMESTAMP_US || t == PQ_TIMESTAMP_NS;
}

static int mismatch(size_t group, const char *col, const char *what)
{
    return bs__error(BLOBSTORE_ECORRUPT,
                     "parquet: the file written does not read back as the table given "
                     "(row group %zu%s%s%s: %s); nothing was stored",
                     group, col ? ", column \"" : "", col ? col : "", col ? "\"" : "", what);
}

int bs__pq_check_rows(const pq_table *given, size_t r0, size_t r1, const pq_table *back,
                      size_t group)
{
    if (back->nrows != r1 - r0)
        return mismatch(group, NULL, "the row count differs");
    if (back->ncols != given->ncols)
        return mismatch(group, NULL, "the column count differs");
    for (size_t k = 0; k < given->ncols; k++) {
        const pq_column *a = &given->cols[k], *b = &back->cols[k];
        if (strcmp(a->name, b->name) != 0)
            return mismatch(group, a->name, "the name differs");
        if (a->type != b->type)
            return mismatch(group, a->name, "the type differs");
        if ((a->nullable != 0) != (b->nullable != 0))
            return mismatch(group, a->name, "the nullability differs");
        if (is_timestamp(a->type) && (a->utc != 0) != (b->utc != 0))
            return mismatch(group, a->name, "the time zone (UTC) differs");
        uint64_t ha, hb;
        int rc;
        if (PQ_NESTED(a->type)) {
            const char *d = shape_differs(a, b, 0);
            if (d)
                return mismatch(group, a->name, d);
            rc = hash_nested(&ha, a, r0, r1);
            if (!rc)
                rc = hash_nested(&hb, b, 0, back->nrows);
        } else {
            rc = hash_rows(&ha, a, r0, r1);
            if (!rc)
                rc = hash_rows(&hb, b, 0, back->nrows);
        }
        if (rc)
            return rc;
        if (ha != hb)
            return mismatch(group, a->name, "the values differ");
    }
    return 0;
}
