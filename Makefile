# Two commands on a fresh machine: `make demo` and `make test`. Everything installs into .venv with the
# pinned versions in constraints.txt (torch pinned to the CPU build for the engines that need it).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip
STAMP  := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.installed-bench
SN_VENV := .venv-smartnoise
SN_STAMP := $(SN_VENV)/.installed
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: venv demo test lint bench clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet -c constraints.txt -e ".[test]"
	# anonymeter (privacy risks) pins numpy<1.27 in its metadata but runs on numpy 2: install it alone
	$(PIP) install --quiet --no-deps -c constraints.txt anonymeter
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/privsynth demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: $(STAMP)
	$(BIN)/ruff check .
	# two workers, one per core, one thread each: threads beyond the cores made the suite 2x slower here
	# the catalog's PostgreSQL tests get a throwaway server (.ci/postgres.sh; skipped with a reason where none runs)
	# the HTML report is rendered in Debian's chromium (.ci/chromium.sh installs it; under CI=true none fails the test)
	url="$${PRIVSYNTH_TEST_POSTGRES_URL:-$$(bash .ci/postgres.sh)}"; \
	browser="$${PRIVSYNTH_TEST_CHROMIUM:-$$(bash .ci/chromium.sh)}"; \
	PRIVSYNTH_TEST_POSTGRES_URL="$$url" PRIVSYNTH_TEST_CHROMIUM="$$browser" \
	  OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 \
	  $(BIN)/python -m pytest -n 2 --durations=15; rc=$$?; \
	[ -n "$${PRIVSYNTH_TEST_POSTGRES_URL:-}" ] || bash .ci/postgres.sh stop; exit $$rc

$(BENCH_STAMP): $(STAMP)
	$(PIP) install --quiet -c constraints.txt -e ".[test,bench]"
	# mostlyai-engine pins psutil<6 and torchvision/torchaudio (no CPU build here) that its tabular engine never imports
	$(PIP) install --quiet --no-deps -c constraints.txt mostlyai-engine
	touch $(BENCH_STAMP)

# SmartNoise (the DP peer) pins mbi<2 and opendp<0.15: it gets a virtualenv of its own
$(SN_STAMP): constraints-smartnoise.txt
	$(PYTHON) -m venv $(SN_VENV)
	$(SN_VENV)/bin/python -m pip install --quiet --no-deps -c constraints-smartnoise.txt smartnoise-synth
	$(SN_VENV)/bin/python -m pip install --quiet -c constraints-smartnoise.txt smartnoise-sql mbi disjoint-set Faker pyarrow
	touch $(SN_STAMP)

bench: $(BENCH_STAMP) $(SN_STAMP)
	$(BIN)/python benchmarks/bench_copula.py
	$(BIN)/python benchmarks/bench_evaluate.py
	$(BIN)/python benchmarks/bench_argn.py
	$(BIN)/python benchmarks/bench_dp.py
	$(BIN)/python benchmarks/bench_sequences.py
	$(BIN)/python benchmarks/bench_engines.py
	# issue 22: the cost of the output safeguards, streamed sampling, and the ledger's content sketch
	$(BIN)/python benchmarks/bench_outputs.py
	$(BIN)/python benchmarks/bench_stream.py
	$(BIN)/python benchmarks/bench_ledger.py 250

clean:
	rm -rf $(VENV) $(SN_VENV) privsynth-demo .pytest_cache
