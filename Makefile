# Two commands on a fresh machine:  `make demo`  and  `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: install demo test lint format services-up services-down bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml setup.py
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "Auraison needs Python >= 3.11 (set PYTHON=python3.11)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip uv
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python -e '.[dev,embed]'
	@# Bytecode for the checkout too: every spawn (gateway, hook, CLI) then skips compiling ~800
	@# modules, even where PYTHONDONTWRITEBYTECODE keeps Python from writing caches itself.
	$(BIN)/python -m compileall -q -j 0 -x '/(\.venv|\.cache|\.git|node_modules|console)/' .
	@touch $@

demo: install
	$(BIN)/auraison doctor --fix || true
	$(BIN)/auraison demo --to kitchen --out out

test: install lint
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

services-up: install
	$(BIN)/auraison services up

services-down: install
	$(BIN)/auraison services down

bench: install
	$(BIN)/python -m auraison.bench.sim_p5
	$(BIN)/python -m auraison.bench.nav_p7
	$(BIN)/python -m auraison.bench.nav_p7 --through robot
	$(BIN)/python -m auraison.bench.agentops_p1
	$(BIN)/python -m auraison.bench.agentops_r4
	$(BIN)/python -m auraison.bench.replay_p4
	$(BIN)/python -m auraison.bench.lake_p2
	$(BIN)/python -m auraison.bench.lake_query
	$(BIN)/python -m auraison.bench.billing_p6
	$(BIN)/python -m auraison.bench.dispatch_p3
	$(BIN)/python -m auraison.bench.dispatch_r5
	$(BIN)/python -m auraison.bench.dispatch_r5 --backend nats

clean:
	rm -rf $(VENV) .cache out .pytest_cache .ruff_cache
