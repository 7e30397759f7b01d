/*
 * thrift.c - the Thrift compact protocol, the encoding of Parquet's footer
 * and page headers.
 *
 * Integers are zigzag varints; a field header is one byte (id delta << 4 |
 * type) when the id grows by 1..15, else the type byte and a zigzag i16 id;
 * booleans live in the header's type nibble; lists start with (size << 4 |
 * element type), or 0xF0 | type and a varint size; a struct ends with 0. The
 * reader checks every length against the input and can skip any field, so
 * files with fields this code does not know still read.
 */
#include "parquet.h"

static void put_byte(tc_writer *w, uint8_t b)
{
    w->bad |= bs__buf_append(w->out, &b, 1) != 0;
}

static void put_varint(tc_writer *w, uint64_t v)
{
    uint8_t b[10];
    int n = 0;
    do {
        b[n] = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v)
            b[n] |= 0x80;
        n++;
    } while (v);
    w->bad |= bs__buf_append(w->out, b, (size_t)n) != 0;
}

static uint64_t zigzag(int64_t v)
{
    return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

void bs__tc_struct_begin(tc_writer *w)
{
    if (w->depth + 1 >= 32) {
        w->bad = 1;
        return;
    }
    w->last[++w->depth] = 0;
}

void bs__tc_struct_end(tc_writer *w)
{
    put_byte(w, TC_STOP);
    if (w->depth > 0)
        w->depth--;
}

void bs__tc_field(tc_writer *w, int16_t id, int type)
{
    int16_t delta = (int16_t)(id - w->last[w->depth]);
    if (delta > 0 && delta <= 15) {
        put_byte(w, (uint8_t)(delta << 4 | type));
    } else {
        put_byte(w, (uint8_t)type);
        put_varint(w, zigzag(id));
    }
    w->last[w->depth] = id;
}

void bs__tc_i32(tc_writer *w, int16_t id, int32_t v)
{
    bs__tc_field(w, id, TC_I32);
    put_varint(w, zigzag(v));
}

void bs__tc_i64(tc_writer *w, int16_t id, int64_t v)
{
    bs__tc_field(w, id, TC_I64);
    put_varint(w, zigzag(v));
}

void bs__tc_bool(tc_writer *w, int16_t id, int v)
{
    bs__tc_field(w, id, v ? TC_TRUE : TC_FALSE);
}

void bs__tc_binary(tc_writer *w, int16_t id, const void *p, size_t n)
{
    bs__tc_field(w, id, TC_BINARY);
    put_varint(w, n);
    w->bad |= bs__buf_append(w->out, p, n) != 0;
}

void bs__tc_string(tc_writer *w, int16_t id, const char *s)
{
    bs__tc_binary(w, id, s, strlen(s));
}

void bs__tc_list(tc_writer *w, int16_t id, int elem_type, size_t n)
{
    bs__tc_field(w, id, TC_LIST);
    if (n < 15) {
        put_byte(w, (uint8_t)(n << 4 | (size_t)elem_type));
    } else {
        put_byte(w, (uint8_t)(0xf0 | elem_type));
        put_varint(w, n);
    }
}

void bs__tc_list_i32(tc_writer *w, int32_t v)
{
    put_varint(w, zigzag(v));
}

void bs__tc_list_string(tc_writer *w, const char *s)
{
    size_t n = strlen(s);
    put_varint(w, n);
    w->bad |= bs__buf_append(w->out, s, n) != 0;
}

void bs__tc_field_struct(tc_writer *w, int16_t id)
{
    bs__tc_field(w, id, TC_STRUCT);
    bs__tc_struct_begin(w);
}

/* ---- reading ---- */

static uint64_t get_varint(tc_reader *r)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (r->p >= r->end) {
            r->bad = 1;
            return 0;
        }
        uint8_t b = *r->p++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return v;
    }
    r->bad = 1;
    return 0;
}

static int64_t unzigzag(uint64_t v)
{
    return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

tc_fieldinfo bs__tc_next(tc_reader *r, int16_t *last)
{
    tc_fieldinfo f = {0, TC_STOP, 0};
    if (r->bad || r->p >= r->end) {
        r->bad = 1;
        return f;
    }
    uint8_t b = *r->p++;
    if (b == 0)
        return f;
    int type = b & 15, delta = b >> 4;
    if (delta)
        f.id = (int16_t)(*last + delta);
    else
        f.id = (int16_t)unzigzag(get_varint(r));
    *last = f.id;
    f.type = type;
    if (type == TC_TRUE || type == TC_FALSE)
        f.bval = type == TC_TRUE;
    if (type > TC_STRUCT)
        r->bad = 1;
    return f;
}

int64_t bs__tc_read_int(tc_reader *r)
{
    return unzigzag(get_varint(r));
}

const uint8_t *bs__tc_read_binary(tc_reader *r, size_t *len)
{
    uint64_t n = get_varint(r);
    if (r->bad || n > (uint64_t)(r->end - r->p)) {
        r->bad = 1;
        *len = 0;
        return NULL;
    }
    const uint8_t *p = r->p;
    r->p += n;
    *len = (size_t)n;
    return p;
}

double bs__tc_read_double(tc_reader *r)
{
    double d = 0;
    if ((size_t)(r->end - r->p) < 8) {
        r->bad = 1;
        return 0;
    }
    memcpy(&d, r->p, 8);
    r->p += 8;
    return d;
}

size_t bs__tc_read_list(tc_reader *r, int *elem_type)
{
    if (r->p >= r->end) {
        r->bad = 1;
        return 0;
    }
    uint8_t b = *r->p++;
    *elem_type = b & 15;
    size_t n = b >> 4;
    if (n == 15) {
        uint64_t v = get_varint(r);
        if (v > (uint64_t)(r->end - r->p)) { /* every element takes at least a byte */
            r->bad = 1;
            return 0;
        }
        n = (size_t)v;
    }
    return n;
}

void bs__tc_skip(tc_reader *r, int type, int depth)
{
    size_t n;
    if (r->bad || depth > 64) {
        r->bad = 1;
        return;
    }
    switch (type) {
    case TC_TRUE:
    case TC_FALSE:
        break;
    case TC_BYTE:
        if (r->p >= r->end)
            r->bad = 1;
        else
            r->p++;
        break;
    case TC_I16:
    case TC_I32:
    case TC_I64:
        get_varint(r);
        break;
    case TC_DOUBLE:
        bs__tc_read_double(r);
        break;
    case TC_BINARY:
        bs__tc_read_binary(r, &n);
        break;
    case TC_LIST:
    case TC_SET: {
        int et;
        n = bs__tc_read_list(r, &et);
        for (size_t i = 0; i < n && !r->bad; i++)
            bs__tc_skip(r, et == TC_TRUE ? TC_BYTE : et, depth + 1); /* list booleans take a byte */
        break;
    }
    case TC_MAP: {
        uint64_t m = get_varint(r);
        if (m == 0)
            break;
        if (r->p >= r->end || m > (uint64_t)(r->end - r->p)) {
            r->bad = 1;
            break;
        }
        uint8_t kv = *r->p++;
        for (uint64_t i = 0; i < m && !r->bad; i++) {
            bs__tc_skip(r, kv >> 4, depth + 1);
            bs__tc_skip(r, kv & 15, depth + 1);
        }
        break;
    }
    case TC_STRUCT: {
        int16_t last = 0;
        for (;;) {
            tc_fieldinfo f = bs__tc_next(r, &last);
            if (r->bad || f.type == TC_STOP)
                break;
            bs__tc_skip(r, f.type, depth + 1);
        }
        break;
    }
    default:
        r->bad = 1;
    }
}
