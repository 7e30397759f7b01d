# The core test suite. Each file is one executable, registered with ctest.
blobstore_add_test(test_util SOURCES tests/test_util.c)
blobstore_add_test(test_frame SOURCES tests/test_frame.c)
blobstore_add_test(test_store SOURCES tests/test_store.c tests/conformance.c)
blobstore_add_test(test_backends SOURCES tests/test_backends.c)
blobstore_add_test(test_faults SOURCES tests/test_faults.c tests/conformance.c)
blobstore_add_test(test_procs SOURCES tests/test_procs.c)
blobstore_add_test(test_cli SOURCES tests/test_cli.c)
blobstore_add_test(test_query SOURCES tests/test_query.c)
