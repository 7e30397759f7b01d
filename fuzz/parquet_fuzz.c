/*
 * parquet_fuzz.c - libFuzzer target: the Parquet reader (footer, Thrift,
 * pages, levels, every encoding and codec) must turn any input into an error
 * or a table, never a crash or an out-of-bounds access.
 */
#include "parquet/parquet.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pq_table t;
    if (bs__pq_read(&t, data, size, NULL, 0) == 0)
        bs__pq_table_free(&t);
    return 0;
}
