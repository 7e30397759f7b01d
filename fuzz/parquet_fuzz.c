/*
 * parquet_fuzz.c - libFuzzer target: the Parquet reader (footer, Thrift,
 * pages, levels, every encoding and codec) must turn any input into an error
 * or a table, never a crash or an out-of-bounds access. The corpus has
 * nested files (DuckDB's LIST / STRUCT / MAP, v1 and v2, and quirks.py's
 * legacy lists and maps).
 */
#include "parquet/parquet.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pq_table t;
    if (bs__pq_read(&t, data, size, NULL, 0) == 0)
        bs__pq_table_free(&t);
    /* The put path (a row group at a time) and a dotted path into a struct
     * (nested columns: levels, lists, structs, maps). */
    if (bs__pq_check_ranged(&t, data, size, NULL, NULL, NULL) == 0)
        bs__pq_table_free(&t);
    static const char *const names[] = {"s.a"};
    if (bs__pq_read(&t, data, size, names, 1) == 0)
        bs__pq_table_free(&t);
    return 0;
}
