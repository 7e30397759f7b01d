# The core test suite. Each file is one executable, registered with ctest.
blobstore_add_test(test_util SOURCES tests/test_util.c)
blobstore_add_test(test_frame SOURCES tests/test_frame.c)
blobstore_add_test(test_store SOURCES tests/test_store.c tests/conformance.c)
blobstore_add_test(test_backends SOURCES tests/test_backends.c tests/conformance.c src/s3_xml.c)
blobstore_add_test(test_faults SOURCES tests/test_faults.c tests/conformance.c)
blobstore_add_test(test_rebuild SOURCES tests/test_rebuild.c tests/conformance.c)
blobstore_add_test(test_index_damage SOURCES tests/test_index_damage.c)
blobstore_add_test(test_shared_keys SOURCES tests/test_shared_keys.c)
blobstore_add_test(test_procs SOURCES tests/test_procs.c)
add_test(NAME test_cli COMMAND ${PROJECT_SOURCE_DIR}/tests/cli.sh $<TARGET_FILE:blobstore_cli>)
add_test(NAME test_cli_index COMMAND ${PROJECT_SOURCE_DIR}/tests/cli_index.sh $<TARGET_FILE:blobstore_cli>)
add_test(NAME test_cli_stats COMMAND ${PROJECT_SOURCE_DIR}/tests/cli_stats.sh $<TARGET_FILE:blobstore_cli>)
add_test(NAME test_make_run COMMAND ${PROJECT_SOURCE_DIR}/tests/make_run.sh)
set_tests_properties(test_cli PROPERTIES TIMEOUT 300)
# Mounts a small tmpfs: needs root, else reported as skipped (exit 77).
add_test(NAME test_full_disk COMMAND ${PROJECT_SOURCE_DIR}/tests/full_disk.sh $<TARGET_FILE:blobstore_cli>)
set_tests_properties(test_full_disk PROPERTIES TIMEOUT 300 SKIP_RETURN_CODE 77)
blobstore_add_test(test_own SOURCES tests/test_own.c)
add_test(NAME test_ownership COMMAND ${PROJECT_SOURCE_DIR}/tests/ownership.sh $<TARGET_FILE:blobstore_cli>)
set_tests_properties(test_ownership PROPERTIES TIMEOUT 300)
blobstore_add_test(test_query SOURCES tests/test_query.c)
# Local use loads no network module; a URL loads its own (LD_DEBUG).
add_test(NAME test_modules COMMAND ${PROJECT_SOURCE_DIR}/tests/modules.sh $<TARGET_FILE:blobstore_cli> ${PROJECT_BINARY_DIR})
include(${PROJECT_SOURCE_DIR}/fuzz/fuzz.cmake)
blobstore_add_test(test_b2nd SOURCES tests/b2nd/test_b2nd.c)
# Memory-mapped uncompressed arrays (issue 16).
blobstore_add_test(test_b2nd_map SOURCES tests/b2nd/test_b2nd_map.c)
blobstore_add_test(test_parquet SOURCES tests/parquet/test_parquet.c)
# Nested columns written (issue 15): seeded random trees read back item by item.
blobstore_add_test(test_parquet_nested_write SOURCES tests/parquet/test_parquet_nested_write.c)
blobstore_add_test(test_table_store SOURCES tests/parquet/test_table_store.c)
blobstore_add_test(test_pqtypes SOURCES tests/parquet/test_pqtypes.c)
add_executable(pq_tool tests/parquet/pq_tool.c)
target_include_directories(pq_tool PRIVATE ${PROJECT_SOURCE_DIR}/src)
target_link_libraries(pq_tool PRIVATE blobstore_static)
add_test(NAME test_parquet_interop COMMAND ${PROJECT_SOURCE_DIR}/tests/parquet/interop.sh $<TARGET_FILE:pq_tool>)
set_tests_properties(test_parquet_interop PROPERTIES TIMEOUT 300)
add_test(NAME test_parquet_store_codecs COMMAND ${PROJECT_SOURCE_DIR}/tests/parquet/store_codecs.sh $<TARGET_FILE:blobstore_cli>)
set_tests_properties(test_parquet_store_codecs PROPERTIES TIMEOUT 300)
add_test(NAME test_parquet_csv_guess COMMAND ${PROJECT_SOURCE_DIR}/tests/parquet/csv_guess.sh $<TARGET_FILE:blobstore_cli>)
set_tests_properties(test_parquet_csv_guess PROPERTIES TIMEOUT 300)
add_test(NAME test_parquet_vectors COMMAND ${PROJECT_SOURCE_DIR}/tests/parquet/vectors.sh $<TARGET_FILE:pq_tool>)
add_test(NAME test_parquet_types COMMAND ${PROJECT_SOURCE_DIR}/tests/parquet/types.sh $<TARGET_FILE:blobstore_cli>)
set_tests_properties(test_parquet_types PROPERTIES TIMEOUT 300)
# Online: real servers (PostgreSQL 15, Ceph RADOS Gateway) started on
# 127.0.0.1 and stopped by tests/online/servers.sh around each program. They
# need the network modules (libblobstore-pg.so, libblobstore-s3.so); without
# them each is reported as skipped, saying why.
set(online_missing "")
foreach(m pg s3)
  if(NOT m IN_LIST BLOBSTORE_NETWORK_MODULES)
    list(APPEND online_missing libblobstore-${m}.so)
  endif()
endforeach()
if(online_missing)
  foreach(t test_pg test_s3 test_online_cli)
    add_test(NAME ${t} COMMAND sh -c
      "echo '${t}: SKIPPED: ${online_missing} not built (libpq-dev / libcurl4-openssl-dev missing: scripts/install-deps.sh)' >&2; exit 77")
    set_tests_properties(${t} PROPERTIES SKIP_RETURN_CODE 77)
  endforeach()
else()
  # The programs reach the server themselves too (libpq), beside the store.
  foreach(t pg s3)
    add_executable(test_${t} tests/online/test_${t}.c tests/online/online.c tests/conformance.c tests/test.c)
    target_include_directories(test_${t} PRIVATE ${PROJECT_SOURCE_DIR}/include ${PROJECT_SOURCE_DIR}/src ${PROJECT_SOURCE_DIR}/tests)
    target_compile_options(test_${t} PRIVATE ${BLOBSTORE_WARNINGS})
    target_link_libraries(test_${t} PRIVATE blobstore_static PkgConfig::DEPS_pg)
  endforeach()
  add_test(NAME test_pg COMMAND ${PROJECT_SOURCE_DIR}/tests/online/servers.sh --pg $<TARGET_FILE:test_pg>)
  add_test(NAME test_s3 COMMAND ${PROJECT_SOURCE_DIR}/tests/online/servers.sh --pg --rgw $<TARGET_FILE:test_s3>)
  add_test(NAME test_online_cli COMMAND ${PROJECT_SOURCE_DIR}/tests/online/servers.sh --pg --rgw ${PROJECT_SOURCE_DIR}/tests/online/cli.sh $<TARGET_FILE:blobstore_cli>)
  set_tests_properties(test_pg test_s3 test_online_cli PROPERTIES TIMEOUT 900)
endif()
# The differential table suite (tests/parquet/differential.py): random tables
# in through `put --csv` and Python, out as CSV, Parquet and pandas, checked
# value by value against the input with DuckDB, parquet-wasm and hyparquet as
# oracles. The Python package is built here from this tree (blobstore/_core
# beside copies of python/blobstore/*.py) so that ctest tests the current code.
# Not in the sanitizer build: an ASan extension cannot load into Python.
if(NOT Python3_EXECUTABLE AND EXISTS /usr/bin/python3)
  set(Python3_EXECUTABLE /usr/bin/python3) # Debian's, with its NumPy and pandas
endif()
find_package(Python3 COMPONENTS Interpreter Development.Module)
if(Python3_Development.Module_FOUND AND NOT BLOBSTORE_SANITIZE)
  set(BLOBSTORE_PYDIR ${PROJECT_BINARY_DIR}/python/blobstore)
  Python3_add_library(blobstore_pycore MODULE WITH_SOABI python/blobstore/_core.c)
  set_target_properties(blobstore_pycore PROPERTIES OUTPUT_NAME _core
    LIBRARY_OUTPUT_DIRECTORY ${BLOBSTORE_PYDIR})
  target_include_directories(blobstore_pycore PRIVATE ${PROJECT_SOURCE_DIR}/include ${PROJECT_SOURCE_DIR}/src)
  target_compile_definitions(blobstore_pycore PRIVATE BLOBSTORE_BUILDING)
  target_link_libraries(blobstore_pycore PRIVATE blobstore_static PkgConfig::LOADED)
  file(GLOB BLOBSTORE_PY_FILES ${PROJECT_SOURCE_DIR}/python/blobstore/*.py)
  add_custom_target(blobstore_pypkg ALL
    COMMAND ${CMAKE_COMMAND} -E copy_if_different ${BLOBSTORE_PY_FILES} ${BLOBSTORE_PYDIR}
    DEPENDS blobstore_pycore)
  add_test(NAME test_table_differential
    COMMAND ${PROJECT_SOURCE_DIR}/tests/parquet/differential.sh ${Python3_EXECUTABLE}
            ${PROJECT_BINARY_DIR}/python $<TARGET_FILE:blobstore_cli>)
  set_tests_properties(test_table_differential PROPERTIES TIMEOUT 600)
  # Nested columns (issue 15): DuckDB's files, CSV and pandas against DuckDB.
  add_test(NAME test_parquet_nested
    COMMAND ${PROJECT_SOURCE_DIR}/tests/parquet/nested.sh $<TARGET_FILE:blobstore_cli>
            ${Python3_EXECUTABLE} ${PROJECT_BINARY_DIR}/python)
  set_tests_properties(test_parquet_nested PROPERTIES TIMEOUT 600)
elseif(NOT BLOBSTORE_SANITIZE)
  add_test(NAME test_table_differential COMMAND sh -c
    "echo 'test_table_differential: Python 3 development files are missing (python3-dev: make deps)' >&2; exit 1")
endif()
# The registries: names, versioned vtables, a toy backend that registers itself.
blobstore_add_test(test_registry SOURCES tests/registry/test_registry.c tests/registry/toy_meta.c tests/registry/toy_format.c tests/conformance.c)
target_include_directories(test_registry PRIVATE ${PROJECT_SOURCE_DIR}/tests/registry)
# Hand-made files of other writers' codecs and quirks (issue 15), against
# DuckDB and parquet-wasm; in the sanitizer build too.
add_test(NAME test_parquet_quirks COMMAND ${PROJECT_SOURCE_DIR}/tests/parquet/quirks.sh
         $<TARGET_FILE:blobstore_cli> ${Python3_EXECUTABLE})
set_tests_properties(test_parquet_quirks PROPERTIES TIMEOUT 300)
# Nested columns' CSV against DuckDB without Python: in the sanitizer build.
if(BLOBSTORE_SANITIZE)
  add_test(NAME test_parquet_nested
    COMMAND ${PROJECT_SOURCE_DIR}/tests/parquet/nested.sh $<TARGET_FILE:blobstore_cli> none)
  set_tests_properties(test_parquet_nested PROPERTIES TIMEOUT 900)
endif()
