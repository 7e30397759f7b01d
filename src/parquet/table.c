/*
 * table.c - the in-memory columnar table shared by the Parquet writer and
 * reader.
 */
#include "parquet.h"

size_t bs__pq_width(pq_type t)
{
    switch (t) {
    case PQ_BOOL:
    case PQ_INT8:
    case PQ_UINT8:
        return 1;
    case PQ_INT16:
    case PQ_UINT16:
        return 2;
    case PQ_INT32:
    case PQ_UINT32:
    case PQ_FLOAT:
    case PQ_DATE:
        return 4;
    case PQ_STRING:
    case PQ_BINARY:
        return 0;
    case PQ_DECIMAL:
        return 16;
    case PQ_LIST:
    case PQ_STRUCT:
    case PQ_MAP:
        return 0;
    default:
        return 8;
    }
}

const char *bs__pq_type_name(pq_type t)
{
    static const char *names[] = {
        "bool",     "int8",          "int16",         "int32",         "int64",   "uint8",
        "uint16",   "uint32",        "uint64",        "float32",       "float64", "string",
        "binary",   "timestamp[ms]", "timestamp[us]", "timestamp[ns]", "date",    "time[ms]",
        "time[us]", "time[ns]",      "decimal",       "list",          "struct",  "map"};
    return (unsigned)t < sizeof(names) / sizeof(names[0]) ? names[t] : "?";
}

/* Appends to buf[*at .. size) what snprintf can. */
static void type_text(const pq_column *c, char *buf, size_t size, size_t *at)
{
    size_t n = *at < size ? size - *at : 0;
    int k;
    if (c->type == PQ_DECIMAL)
        k = snprintf(buf + *at, n, "decimal(%d,%d)", c->precision, c->scale);
    else if (!PQ_NESTED(c->type) || !c->children || !c->nchildren)
        k = snprintf(buf + *at, n, "%s", bs__pq_type_name(c->type));
    else
        k = snprintf(buf + *at, n, "%s<", bs__pq_type_name(c->type));
    *at += k > 0 ? (size_t)k : 0;
    if (!PQ_NESTED(c->type) || !c->children || !c->nchildren)
        return;
    const pq_column *e = c->type == PQ_STRUCT ? c : &c->children[0];
    if (c->type == PQ_LIST || e->type != PQ_STRUCT) {
        type_text(e, buf, size, at);
    } else {
        for (size_t i = 0; i < e->nchildren; i++) {
            n = *at < size ? size - *at : 0;
            if (c->type == PQ_STRUCT)
                k = snprintf(buf + *at, n, "%s%s: ", i ? ", " : "", e->children[i].name);
            else
                k = snprintf(buf + *at, n, "%s", i ? ", " : "");
            *at += k > 0 ? (size_t)k : 0;
            type_text(&e->children[i], buf, size, at);
        }
    }
    n = *at < size ? size - *at : 0;
    k = snprintf(buf + *at, n, ">");
    *at += k > 0 ? (size_t)k : 0;
}

const char *bs__pq_column_type_text(const pq_column *c, char *buf, size_t size)
{
    if (c->type != PQ_DECIMAL && !PQ_NESTED(c->type))
        return bs__pq_type_name(c->type);
    size_t at = 0;
    type_text(c, buf, size, &at);
    return buf;
}

size_t bs__pq_decimal_text(char *buf, const uint8_t *v, int scale)
{
    /* The magnitude in four 32-bit limbs, most significant first. */
    uint32_t limb[4];
    int neg = (v[15] & 0x80) != 0;
    uint64_t carry = neg;
    for (int i = 0; i < 4; i++) {
        uint32_t x = (uint32_t)v[4 * i] | (uint32_t)v[4 * i + 1] << 8 |
                     (uint32_t)v[4 * i + 2] << 16 | (uint32_t)v[4 * i + 3] << 24;
        if (neg) { /* two's complement: invert, add one */
            uint64_t y = (uint64_t)(uint32_t)~x + carry;
            x = (uint32_t)y;
            carry = y >> 32;
        }
        limb[3 - i] = x;
    }
    char digits[48];
    size_t nd = 0;
    for (;;) {
        uint64_t rem = 0;
        int zero = 1;
        for (int i = 0; i < 4; i++) {
            uint64_t cur = rem << 32 | limb[i];
            limb[i] = (uint32_t)(cur / 10);
            rem = cur % 10;
            zero &= limb[i] == 0;
        }
        digits[nd++] = (char)('0' + rem);
        if (zero)
            break;
    }
    while ((int)nd <= scale) /* at least one digit before the point */
        digits[nd++] = '0';
    size_t k = 0;
    if (neg)
        buf[k++] = '-';
    for (size_t i = nd; i-- > 0;) {
        buf[k++] = digits[i];
        if (scale > 0 && i == (size_t)scale)
            buf[k++] = '.';
    }
    buf[k] = 0;
    return k;
}

size_t bs__pq_time_text(char *buf, int64_t v, int64_t per)
{
    int64_t secs = v / per, frac = v % per;
    int digits = per == 1000 ? 3 : per == 1000000 ? 6 : per == 1000000000 ? 9 : 0;
    int n;
    if (digits)
        n = snprintf(buf, 24, "%02d:%02d:%02d.%0*lld", (int)(secs / 3600), (int)(secs / 60 % 60),
                     (int)(secs % 60), digits, (long long)frac);
    else
        n = snprintf(buf, 24, "%02d:%02d:%02d", (int)(secs / 3600), (int)(secs / 60 % 60),
                     (int)(secs % 60));
    return n < 0 ? 0 : (size_t)n;
}

void bs__pq_column_free(pq_column *c)
{
    free(c->name);
    free(c->values);
    free(c->offsets);
    free(c->bytes);
    free(c->valid);
    if (c->children)
        for (size_t i = 0; i < c->nchildren; i++)
            bs__pq_column_free(&c->children[i]);
    free(c->children);
    memset(c, 0, sizeof(*c));
}

size_t bs__pq_child_items(const pq_column *c, size_t n)
{
    return c->type == PQ_STRUCT ? n : c->offsets ? (size_t)c->offsets[n] : 0;
}

void bs__pq_table_free(pq_table *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->ncols; i++)
        bs__pq_column_free(&t->cols[i]);
    free(t->cols);
    memset(t, 0, sizeof(*t));
}
