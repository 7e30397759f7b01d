/*
 * blosclz.c - the BloscLZ codec, written from its stream format.
 *
 * A stream is a sequence of tokens; the first byte's low five bits start a
 * literal run. A control byte c < 32 is a literal run of c + 1 bytes. A
 * control byte c >= 32 is a match: t = c >> 5 gives the length (t + 2 for
 * t < 7; for t == 7, 9 plus extension bytes summed while they are 255), the
 * high bits of the distance are c & 31, then one byte holds the low bits:
 * distance = ((c & 31) << 8) + low + 1. (low == 255 with high == 31 escapes
 * to a 16-bit distance beyond 8191, which the decoder supports and the
 * encoder never writes.) A match is always followed by at least one more
 * byte. The decoder checks every read and write against its buffers.
 */
#include "b2nd.h"

#define MAX_DISTANCE 8191

int bs__b2_blosclz_decompress(const uint8_t *in, size_t in_len, uint8_t *out, size_t out_len)
{
    const uint8_t *ip = in, *end = in + in_len;
    uint8_t *op = out, *op_end = out + out_len;
    if (in_len == 0)
        return out_len == 0 ? 0 : -1;
    uint32_t ctrl = *ip++ & 31u;
    for (;;) {
        if (ctrl >= 32) {
            size_t len = (ctrl >> 5) - 1;
            size_t dist = (size_t)(ctrl & 31) << 8;
            if (len == 6) {
                uint8_t code;
                do {
                    if (ip + 1 >= end)
                        return -1;
                    code = *ip++;
                    len += code;
                } while (code == 255);
            } else if (ip + 1 >= end) {
                return -1;
            }
            uint8_t code = *ip++;
            len += 3;
            dist += code;
            if (code == 255 && dist == (31u << 8) + 255) { /* 16-bit distance */
                if (ip + 1 >= end)
                    return -1;
                dist = ((size_t)ip[0] << 8) + ip[1] + MAX_DISTANCE;
                ip += 2;
            }
            dist += 1;
            if (dist > (size_t)(op - out) || len > (size_t)(op_end - op))
                return -1;
            const uint8_t *ref = op - dist;
            if (dist == 1) {
                memset(op, *ref, len);
                op += len;
            } else {
                for (size_t i = 0; i < len; i++)
                    op[i] = ref[i];
                op += len;
            }
            if (ip >= end)
                break;
            ctrl = *ip++;
        } else {
            size_t run = ctrl + 1;
            if (run > (size_t)(op_end - op) || run > (size_t)(end - ip))
                return -1;
            memcpy(op, ip, run);
            op += run;
            ip += run;
            if (ip >= end)
                break;
            ctrl = *ip++;
        }
    }
    return op == op_end ? 0 : -1;
}

/* A small hash-chain-free LZ encoder: one candidate per 4-byte hash. */
#define HASH_BITS 13

static uint32_t read32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* Emit pending literals [lit, ip) in runs of at most 32; returns the new op
 * or NULL when out of room. */
static uint8_t *emit_literals(uint8_t *op, uint8_t *op_end, const uint8_t *lit, const uint8_t *ip)
{
    while (lit < ip) {
        size_t run = (size_t)(ip - lit);
        if (run > 32)
            run = 32;
        if ((size_t)(op_end - op) < run + 1)
            return NULL;
        *op++ = (uint8_t)(run - 1);
        memcpy(op, lit, run);
        op += run;
        lit += run;
    }
    return op;
}

size_t bs__b2_blosclz_compress(const uint8_t *in, size_t in_len, uint8_t *out, size_t out_cap)
{
    uint32_t table[1u << HASH_BITS];
    const uint8_t *ip = in, *lit = in, *end = in + in_len;
    const uint8_t *match_limit = in_len > 12 ? end - 12 : in; /* the tail stays literal */
    uint8_t *op = out, *op_end = out + out_cap;
    memset(table, 0, sizeof(table));
    if (in_len < 16) /* too short to gain anything */
        return 0;
    ip++; /* the stream must start with a literal */
    while (ip < match_limit) {
        uint32_t seq = read32(ip);
        uint32_t h = (seq * 2654435761u) >> (32 - HASH_BITS);
        const uint8_t *ref = in + table[h];
        table[h] = (uint32_t)(ip - in);
        size_t dist = (size_t)(ip - ref);
        if (dist == 0 || dist > MAX_DISTANCE || read32(ref) != seq) {
            ip++;
            continue;
        }
        size_t len = 4;
        while (ip + len < match_limit && ref[len] == ip[len])
            len++;
        if (!(op = emit_literals(op, op_end, lit, ip)))
            return 0;
        size_t d = dist - 1;
        if ((size_t)(op_end - op) < 3 + len / 255)
            return 0;
        if (len < 9) {
            *op++ = (uint8_t)(((len - 2) << 5) | (d >> 8));
        } else {
            *op++ = (uint8_t)((7u << 5) | (d >> 8));
            size_t rest = len - 9;
            while (rest >= 255) {
                *op++ = 255;
                rest -= 255;
            }
            *op++ = (uint8_t)rest;
        }
        *op++ = (uint8_t)(d & 255);
        ip += len;
        lit = ip;
    }
    if (!(op = emit_literals(op, op_end, lit, end)))
        return 0;
    return (size_t)(op - out);
}
