# Thin wrapper over CMake. The two quick-start commands are `make run` and
# `make test`; both install missing Debian packages first.
BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc)
CMAKE_FLAGS ?=
# Debian's Python (with Debian's NumPy, pandas and pytest), not another one on PATH.
PYTHON     ?= /usr/bin/python3
VENV       ?= $(BUILD)/venv

.PHONY: all deps deps-build build run test test-fast test-asan test-python bench bench-online fuzz install format check-format clean
.PHONY: soak soak-arrays soak-tables

all: build

# Everything the tests need (PostgreSQL, Ceph, the Node modules of the
# Parquet interop tests); the build and make run need only deps-build.
deps:
	@./scripts/install-deps.sh
	@./scripts/install-node-deps.sh

deps-build:
	@./scripts/install-deps.sh build core pg s3 python

$(BUILD)/Makefile: CMakeLists.txt
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBLOBSTORE_WERROR=ON $(CMAKE_FLAGS)

build: deps-build
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBLOBSTORE_WERROR=ON $(CMAKE_FLAGS) >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

run: build
	./scripts/demo.sh $(BUILD)/blobstore

# Every test: the normal build, then the same suite under ASan + UBSan.
FUZZ_SECONDS ?= 15

test: deps build test-asan test-python fuzz
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)
	./scripts/check-headers.sh
	./scripts/check-format.sh
	./scripts/check-install.sh $(BUILD)
	@echo "make test: all suites passed"

test-fast: deps build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

test-asan: deps
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DBLOBSTORE_SANITIZE=ON -DBLOBSTORE_WERROR=ON $(CMAKE_FLAGS) >/dev/null
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  BLOBSTORE_SANITIZED=1 ctest --output-on-failure -j $(JOBS)

# The Python package, installed offline into a venv that sees Debian's packages.
test-python: deps build
	rm -rf $(VENV)
	$(PYTHON) -m venv --system-site-packages $(VENV)
	$(VENV)/bin/pip install --no-build-isolation --no-index --no-deps -q ./python
	cd $(BUILD) && $(abspath $(VENV))/bin/python -m pytest -q -p no:cacheprovider --ignore=$(CURDIR)/python/tests/online $(CURDIR)/python/tests
	cd $(BUILD) && $(CURDIR)/tests/online/servers.sh --pg --rgw $(abspath $(VENV))/bin/python -m pytest -q -p no:cacheprovider $(CURDIR)/python/tests/online

# make soak: the long randomized differential runs (minutes; new seeds each
# run, printed, and printed again with the case that fails).
soak: soak-arrays soak-tables
	@echo "make soak: all soak runs passed"

# Arrays: random dtypes x ranks 0-6 x irregular shapes x codecs x shuffles,
# through b2nd_write/read and the store in C, then put/get/boxes in Python.
soak-arrays: build
	cd $(BUILD) && BLOBSTORE_SOURCE_DIR=$(CURDIR) B2ND_DIFF_CASES=4000 B2ND_DIFF_ITEMS=100000 ./test_b2nd random_differential
	cd $(BUILD) && BLOBSTORE_SOURCE_DIR=$(CURDIR) B2ND_DIFF_CASES=60 B2ND_DIFF_ITEMS=3000000 ./test_b2nd random_differential
	rm -rf $(VENV)
	$(PYTHON) -m venv --system-site-packages $(VENV)
	$(VENV)/bin/pip install --no-build-isolation --no-index --no-deps -q ./python
	cd $(BUILD) && BLOBSTORE_DIFF_CASES=2000 BLOBSTORE_DIFF_ITEMS=50000 $(abspath $(VENV))/bin/python -m pytest -q -s -p no:cacheprovider $(CURDIR)/python/tests/test_arrays.py -k random_differential

# The libFuzzer targets, FUZZ_SECONDS each (clang, ASan + UBSan).
fuzz: deps
	./fuzz/run.sh $(FUZZ_SECONDS)

# Tables: the differential suite at every row count x both ways in (x three
# rotations up to 8,193 rows) with every type, and ~1M rows (BLOBSTORE_TABLE_DIFF_SEED=N replays).
soak-tables: build
	./tests/parquet/differential.sh $(PYTHON) $(abspath $(BUILD))/python $(abspath $(BUILD))/blobstore --soak

# The benchmark (bench/run.sh): C, Python (vs diskcache, joblib), tables (vs
# DuckDB); each line with its same-run baseline, ratio and target.
# make bench BENCH_FLAGS=--quick for a short run; make bench-online adds S3
# and PostgreSQL against servers started on 127.0.0.1.
BENCH_FLAGS ?=
bench: build
	./bench/run.sh $(BUILD) $(BENCH_FLAGS)

bench-online: build
	./bench/run.sh $(BUILD) --online $(BENCH_FLAGS)

install: build
	cmake --install $(BUILD)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

check-format:
	./scripts/check-format.sh

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
