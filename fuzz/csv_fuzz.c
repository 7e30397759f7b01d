/*
 * csv_fuzz.c - libFuzzer target: CSV text read as a table
 * (blobstore_table_from_csv: quoting, nulls, type inference, or a schema
 * chosen by the first byte). Whatever the text, an error or a table, never a
 * crash; a table that reads is written as CSV again, and that text reads
 * back with the same columns (names) and rows.
 */
#include "internal.h"

#include <blobstore/table.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const schemas[] = {
        NULL,     NULL, NULL, NULL, "a:int32,b:string", "a:timestamp[ms],b:date", "a:bool,b:double",
        "a:int64"};
    if (size == 0)
        return 0;
    const char *schema = schemas[data[0] % (sizeof(schemas) / sizeof(schemas[0]))];
    blobstore_table t, back;
    if (blobstore_table_from_csv(&t, (const char *)data + 1, size - 1, schema) != 0)
        return 0;
    char *text;
    size_t len;
    if (blobstore_table_to_csv(&text, &len, &t) == 0) {
        if (blobstore_table_from_csv(&back, text, len, schema) != 0) {
            fprintf(stderr, "csv_fuzz: the table's own CSV does not read: %s\n",
                    blobstore_errmsg());
            abort();
        }
        if (back.nrows != t.nrows || back.ncols != t.ncols)
            abort();
        for (size_t k = 0; k < t.ncols; k++)
            if (strcmp(back.cols[k].name, t.cols[k].name) != 0)
                abort();
        blobstore_table_clear(&back);
        blobstore_free(text);
    }
    blobstore_table_clear(&t);
    return 0;
}
