# tradeledger — the Makefile targets are the interface (CONVENTIONS.md).
# Each target creates .venv and installs what it needs on a fresh machine.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
STORE  ?= sqlite:///var/ledger.db
PYTEST_WORKERS ?= 2

.PHONY: demo test lint bench venv promtool clean schemas

$(STAMP): pyproject.toml adapters/store/_chainlink.c
	@test -f /usr/include/openssl/evp.h || { \
	  echo "installing Debian's libssl-dev (OpenSSL headers for the hash chain's C link)"; \
	  SUDO=$$(test "$$(id -u)" -eq 0 || echo sudo); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends libssl-dev >/dev/null; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

# promtool (Debian's prometheus package) for the alert-rule tests and the scrape test.
promtool:
	@command -v promtool >/dev/null 2>&1 && test -x /usr/bin/prometheus || { \
	  echo "installing Debian's prometheus package (promtool, prometheus)"; \
	  SUDO=$$(test "$$(id -u)" -eq 0 || echo sudo); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends prometheus >/dev/null && \
	  if [ -d /run/systemd/system ]; then $$SUDO systemctl disable --now prometheus || true; fi; }

# A simulated session on the embedded default: a deterministic backtest of the bundled
# sample data through the live ledger code (SQLite, simulated broker), then the tools
# an engineer reaches for afterwards; and the bundled contract messages ingested.
BACKTEST := var/backtest
demo: $(STAMP)
	$(BIN)/ledger backtest --data data/sample --seed 42 --out $(BACKTEST)
	$(BIN)/ledger --store sqlite:///$(BACKTEST)/backtest.db verify
	$(BIN)/ledger --store sqlite:///$(BACKTEST)/backtest.db replay --as-of 2024-01-24T00:00:00Z --format json > $(BACKTEST)/state-2024-01-24.json
	@echo "state as of 2024-01-24 written to $(BACKTEST)/state-2024-01-24.json"
	$(BIN)/ledger --store $(STORE) ingest data/demo/session.jsonl
	$(BIN)/ledger --store $(STORE) positions
	$(BIN)/ledger --store $(STORE) orders
	$(BIN)/ledger --store $(STORE) killswitch status

test: $(STAMP) promtool
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadfile -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/verify.py
	$(BIN)/python bench/replay.py
	$(BIN)/python bench/rebuild.py
	$(BIN)/python bench/serve.py
	$(BIN)/python bench/backtest.py --bars 1000000 --json var/bench/backtest.json --results

schemas: $(STAMP)
	$(BIN)/python -m contracts.schemas

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache .hypothesis
