# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test lint demo docs fuzz bench clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[aws,gce,kube,sandbox,dev]'
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 tests

# The resilience tests at full size (tests/resilience: 50 Services through a 30 % flaky
# cloud, 20 SIGKILLs); `make test` runs them smaller.
.PHONY: resilience
resilience: $(STAMP)
	LBCTL_RESILIENCE=long $(BIN)/python -m pytest -q -n 2 tests/resilience

# The property tests with >= 10 000 examples each (tests/property/conftest.py); failures
# are shrunk and kept in .hypothesis/ for the next run.
fuzz: $(STAMP)
	HYPOTHESIS_PROFILE=fuzz $(BIN)/python -m pytest -q -n 2 tests/property

# tests/aws against LocalStack instead of moto (localstack/README.md): needs a Docker engine
# and LOCALSTACK_AUTH_TOKEN, a licence that includes ELB. `make test` and CI use moto.
.PHONY: test-localstack
test-localstack: $(STAMP)
	LBCTL_PYTHON=$(BIN)/python localstack/test.sh

lint: $(STAMP)
	$(BIN)/ruff check lbctl providers tests examples
	$(BIN)/ruff format --check lbctl providers tests examples
	$(BIN)/mypy lbctl providers
	$(BIN)/lint-imports

docs: $(STAMP)
	$(BIN)/lbctl annotations --markdown > docs/annotations.md.body
	{ cat docs/annotations.header.md; cat docs/annotations.md.body; } > docs/annotations.md
	rm docs/annotations.md.body

demo: $(STAMP)
	$(BIN)/python examples/demo.py

# API-call budgets and timings (bench/README.md); not part of `make test`. BENCH_N=50 shrinks it.
bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
