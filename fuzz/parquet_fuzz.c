/*
 * parquet_fuzz.c - libFuzzer target: the Parquet reader (footer, Thrift,
 * pages, levels, every encoding and codec) must turn any input into an error
 * or a table, never a crash or an out-of-bounds access. The corpus has
 * nested files (DuckDB's LIST / STRUCT / MAP, v1 and v2, and quirks.py's
 * legacy lists and maps). A table that reads is written again by the
 * writer (nested columns too), whose check must find its output equal.
 */
#include "parquet/parquet.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pq_table t;
    if (bs__pq_read(&t, data, size, NULL, 0) == 0) {
        /* What reads is written again (nested columns too), in small row
         * groups and pages; the writer checks its output against t, so a
         * disagreement between writer and reader is ECORRUPT: a bug. */
        pq_write_options o = {.row_group_rows = 5, .page_rows = 3, .page_bytes = 64};
        uint8_t *out;
        size_t len;
        int rc = bs__pq_write(&out, &len, &t, &o);
        if (rc == BLOBSTORE_ECORRUPT) {
            fprintf(stderr, "parquet_fuzz: the writer's output differs: %s\n", blobstore_errmsg());
            abort();
        }
        if (!rc)
            free(out);
        bs__pq_table_free(&t);
    }
    /* The put path (a row group at a time) and a dotted path into a struct
     * (nested columns: levels, lists, structs, maps). */
    if (bs__pq_check_ranged(&t, data, size, NULL, NULL, NULL) == 0)
        bs__pq_table_free(&t);
    static const char *const names[] = {"s.a"};
    if (bs__pq_read(&t, data, size, names, 1) == 0)
        bs__pq_table_free(&t);
    return 0;
}
