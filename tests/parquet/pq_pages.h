/*
 * pq_pages.h - walk the page headers of a file written by bs__pq_write,
 * whose column chunks follow each other from offset 4 to the footer.
 */
#ifndef PQ_PAGES_H
#define PQ_PAGES_H

#include "parquet/parquet.h"

#include <stdint.h>
#include <string.h>

/* Read the page header at *pos (start at 4): its type (PageHeader field 1)
 * and compressed body; *pos moves past the body. 1: a page; 0: the footer
 * is reached exactly; -1: a malformed header or a body past the footer. */
static inline int pq_next_page(const uint8_t *file, size_t len, size_t *pos, int64_t *type,
                               const uint8_t **body, size_t *body_len)
{
    uint32_t flen;
    memcpy(&flen, file + len - 8, 4);
    size_t end = len - 8 - flen;
    if (*pos >= end)
        return *pos == end ? 0 : -1;
    tc_reader r = {file + *pos, file + end, 0};
    int16_t last = 0;
    int64_t csize = -1;
    *type = -1;
    for (;;) {
        tc_fieldinfo f = bs__tc_next(&r, &last);
        if (r.bad || f.type == TC_STOP)
            break;
        if (f.id == 1)
            *type = bs__tc_read_int(&r);
        else if (f.id == 3)
            csize = bs__tc_read_int(&r);
        else
            bs__tc_skip(&r, f.type, 0);
    }
    if (r.bad || csize < 0 || (size_t)csize > (size_t)(r.end - r.p))
        return -1;
    *body = r.p;
    *body_len = (size_t)csize;
    *pos = (size_t)(r.p - file) + (size_t)csize;
    return 1;
}

#endif
