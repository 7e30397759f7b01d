# The Parquet module: Thrift compact protocol, table writer and reader
# (Snappy, listed in deps/packages.txt with the core's libraries).
list(APPEND BLOBSTORE_SOURCES
  src/parquet/thrift.c
  src/parquet/table.c
  src/parquet/write.c
  src/parquet/check.c
  src/parquet/read.c
  src/parquet/table_store.c
)
