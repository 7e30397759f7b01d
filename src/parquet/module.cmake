# The Parquet module: Thrift compact protocol, table writer and reader.
pkg_check_modules(SNAPPY REQUIRED IMPORTED_TARGET snappy)
pkg_check_modules(BROTLIDEC REQUIRED IMPORTED_TARGET libbrotlidec)
list(APPEND BLOBSTORE_SOURCES
  src/parquet/thrift.c
  src/parquet/table.c
  src/parquet/write.c
  src/parquet/check.c
  src/parquet/read.c
  src/parquet/table_store.c
)
list(APPEND BLOBSTORE_MODULE_LIBS PkgConfig::SNAPPY PkgConfig::BROTLIDEC)
