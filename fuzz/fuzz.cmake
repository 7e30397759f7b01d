# Fuzz targets. Each is also built with the normal compiler against a replay
# driver and run over its committed corpus as a test; fuzz/run.sh builds the
# libFuzzer versions with clang and runs them for a bounded time.
foreach(target frame journal b2nd parquet s3list json csv)
  file(GLOB corpus ${PROJECT_SOURCE_DIR}/fuzz/corpus/${target}/*)
  set(extra "")
  if(target STREQUAL "s3list")
    set(extra src/s3_xml.c) # the S3 listing parser, without the S3 module
  endif()
  blobstore_add_test(fuzz_replay_${target} SOURCES fuzz/${target}_fuzz.c fuzz/replay.c ${extra}
                     ARGS ${corpus})
endforeach()
