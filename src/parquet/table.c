/*
 * table.c - the in-memory columnar table shared by the Parquet writer and
 * reader.
 */
#include "parquet.h"

size_t pq_width(pq_type t)
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
    default:
        return 8;
    }
}

const char *pq_type_name(pq_type t)
{
    static const char *names[] = {
        "bool",   "int8",          "int16",         "int32",         "int64",   "uint8",
        "uint16", "uint32",        "uint64",        "float32",       "float64", "string",
        "binary", "timestamp[ms]", "timestamp[us]", "timestamp[ns]", "date"};
    return (unsigned)t < sizeof(names) / sizeof(names[0]) ? names[t] : "?";
}

void pq_table_free(pq_table *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->ncols; i++) {
        pq_column *c = &t->cols[i];
        free(c->name);
        free(c->values);
        free(c->offsets);
        free(c->bytes);
        free(c->valid);
    }
    free(t->cols);
    memset(t, 0, sizeof(*t));
}
