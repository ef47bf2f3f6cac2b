# fiscal_core — every target sets up what it needs from a fresh clone.
# The interpreter for the virtualenv: the distribution's CPython (/usr/bin/python3, built with PGO and LTO and
# libpython linked in) when it is 3.11+ with venv and its headers, else the first python3 on PATH. On the CI VM
# the distribution's build runs the server ~20 % faster than a plain --enable-shared build (bench/RESULTS.md).
PY      ?= $(shell /usr/bin/python3 -c 'import sys, sysconfig, os, venv, ensurepip; \
             sys.exit(sys.version_info < (3, 11) or not os.path.exists(sysconfig.get_paths()["include"] + "/Python.h"))' \
             2>/dev/null && echo /usr/bin/python3 || echo python3)
VENV    ?= .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
PYTEST  := $(BIN)/python -m pytest
BENCH_ARGS := -p no:cacheprovider -o python_files='bench_*.py' -o python_functions='bench_* test_*' -o testpaths=bench

.PHONY: install serve run test bench bench-smoke bench-compare fuzz fuzz-api crash-api load-api load load-report browser-deps test-browser fuzz-asan lint clean

$(STAMP): pyproject.toml setup.py fiscal_core/api/_validate_py.py fiscal_core/api/_fastpath_py.py fiscal_core/api/_fastpath_py.pxd $(wildcard native/*/*.pyx native/*/*.pxi native/*/*.c native/*/include/*.h native/*.py)
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## The main job: the service on its embedded default (./fiscal-data, sandbox tenant, in-process OFD emulator,
## http://127.0.0.1:8080). Pass options with SERVE_ARGS='--port 9000 --workers 2'.
serve run: $(STAMP)
	$(BIN)/fiscal-core serve $(SERVE_ARGS)

## The test suite (CI runs it with FISCAL_CORE_REQUIRE_EXTENSIONS=1, then FISCAL_CORE_NO_EXTENSIONS=1).
test: $(STAMP)
	$(PYTEST) -q

## The dashboard in a real headless browser: Debian's chromium (never Playwright's download), driven by
## Playwright; screenshots of every step under tests/artifacts/. `make test` runs them too when chromium is there.
browser-deps:
	test -x /usr/bin/chromium || (apt-get update && apt-get install -y chromium)

test-browser: $(STAMP) browser-deps
	FISCAL_CORE_REQUIRE_BROWSER=1 $(PYTEST) -q tests/browser tests/test_dashboard.py

## Benchmarks: every hot path, py vs native; JSON saved under .benchmarks/.
bench: $(STAMP)
	$(PYTEST) $(BENCH_ARGS) --benchmark-only --benchmark-autosave --benchmark-columns=median,ops,rounds bench

bench-smoke: $(STAMP)
	$(PYTEST) $(BENCH_ARGS) -q --benchmark-disable bench

bench-compare: $(STAMP)
	@$(BIN)/python bench/last_run.py
	$(PYTEST) $(BENCH_ARGS) --benchmark-only --benchmark-compare --benchmark-compare-fail=median:10% bench

## Full-size fuzzing of the native decoder (1,000,000 inputs), and the same under ASAN/UBSAN with the
## other native modules' suites (receipt bodies, CRC, Magma, the drive).
fuzz: $(STAMP)
	FISCAL_CORE_FUZZ_INPUTS=1000000 FISCAL_CORE_REQUIRE_EXTENSIONS=1 $(PYTEST) -q tests/test_tlv_fuzz.py

## The API's heavy checks at full size: hypothesis against the live server, 60 SIGKILLs of the server under bulk
## load, and 50 of the fiscal-only worker of the tiered layout.
fuzz-api: $(STAMP)
	FISCAL_CORE_API_FUZZ=5000 $(PYTEST) -q tests/test_api_fuzz.py

crash-api: $(STAMP)
	FISCAL_CORE_API_CRASH_KILLS=60 $(PYTEST) -q -s tests/test_api_crash.py
	FISCAL_CORE_TIER_KILLS=50 $(PYTEST) -q -s tests/test_api_tiers.py -k sigkill

## API throughput on one server core: wrk on single ATOL POSTs and the bulk load (bench/RESULTS.md).
load-api: $(STAMP)
	$(BIN)/python bench/api_wrk.py
	$(BIN)/python bench/api_load.py

## Locust load suites (shop vs the FastAPI baseline, marketplace bulk, utility surge, flash peak) against fresh
## servers on 127.0.0.1, headless, CSVs + PNGs + summary.md under load/results/<UTC time>/. LOAD_DURATION=60 s
## per scenario (five scenarios: ~6 min); pass more with LOAD_ARGS='--scenarios shop,shop-baseline --users 32'.
LOAD_DURATION ?= 60
load: $(STAMP)
	$(BIN)/python load/run.py --duration $(LOAD_DURATION) $(LOAD_ARGS)

## Re-render the PNGs and summary.md of the newest load/results/ run (or LOAD_RESULTS=DIR).
load-report: $(STAMP)
	$(BIN)/python load/report.py $(LOAD_RESULTS)

fuzz-asan:
	test -x .venv-asan/bin/python || $(PY) -m venv .venv-asan
	.venv-asan/bin/python -m pip install --quiet --upgrade pip
	# Built from a copy of the sources: pip builds in the tree it is given, and ASAN objects must not end up here.
	rm -rf build/asan-src && mkdir -p build/asan-src
	tar --exclude=./.venv --exclude=./.venv-asan --exclude=./build --exclude=./.git --exclude='*.so' -cf - . \
	  | tar -xf - -C build/asan-src
	.venv-asan/bin/python -m pip install --quiet './build/asan-src[test]'
	# then the sanitized build over it, from scratch: setuptools would otherwise reuse the plain objects
	rm -rf build/asan-src/build
	FISCAL_CORE_SANITIZE=1 .venv-asan/bin/python -m pip install --quiet --no-cache-dir --force-reinstall --no-deps ./build/asan-src
	for so in .venv-asan/lib/python3*/site-packages/fiscal_core/_native/_*.so; do \
	  nm -D $$so | grep -q __asan_ || { echo "$$so is not an ASAN build" >&2; exit 1; }; done
	cd tests && LD_PRELOAD=$$(gcc -print-file-name=libasan.so):$$(gcc -print-file-name=libubsan.so) \
	  ASAN_OPTIONS=detect_leaks=0 FISCAL_CORE_REQUIRE_EXTENSIONS=1 \
	  FISCAL_CORE_FUZZ_INPUTS=$${FISCAL_CORE_FUZZ_INPUTS:-1000000} \
	  ../.venv-asan/bin/python -m pytest -q -p no:cacheprovider --rootdir=.. test_tlv_fuzz.py test_tlv_equivalence.py \
	    test_receipt_body.py test_crc.py test_magma.py test_drive.py test_seal.py

lint: $(STAMP)
	$(BIN)/ruff check fiscal_core tests bench load
	$(BIN)/mypy

clean:
	rm -rf build dist *.egg-info fiscal_core/_native/*.so native/validate native/tlv/_tlv.c native/tlv/_receipt.c native/tlv/_seal.c .benchmarks
