# Two commands on a fresh machine:  `make demo`  and  `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: install demo console test lint format services-up services-down bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml setup.py agentops/_spanbuf.c
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "Auraison needs Python >= 3.11 (set PYTHON=python3.11)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip uv
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python -e '.[dev,embed]'
	@# Bytecode for the checkout too: every spawn (gateway, hook, CLI) then skips compiling ~800
	@# modules, even where PYTHONDONTWRITEBYTECODE keeps Python from writing caches itself.
	$(BIN)/python -m compileall -q -j 0 -x '/(\.venv|\.cache|\.git|node_modules|console)/' .
	@touch $@

# The operator console (console/: a static Next.js export that `auraison control serve` serves at
# /console). Built when Node.js 20+ is here; without it the API still works and /console says how.
CONSOLE_SRC := $(wildcard console/package.json console/package-lock.json console/next.config.ts \
	console/app/*.* console/app/*/*.* console/components/*.* console/lib/*.*)

console: console/out/index.html

console/out/index.html: $(CONSOLE_SRC)
	@if command -v npm >/dev/null 2>&1 && node -e 'process.exit(+process.versions.node.split(".")[0] < 20 ? 1 : 0)'; then \
		cd console && npm ci --prefer-offline --no-audit --no-fund && NEXT_TELEMETRY_DISABLED=1 npm run build; \
	else \
		echo "console: not built — it needs Node.js 20+ and npm (Debian/Ubuntu: apt-get install -y nodejs npm;"; \
		echo "  or https://nodejs.org), then run: make console. The control API works without it."; \
	fi

demo: install
	@$(MAKE) --no-print-directory console || echo "console: the build failed (see above); the demo and the API run without it"
	$(BIN)/auraison doctor --fix || true
	$(BIN)/auraison demo --to kitchen --out out

test: install lint  # everything but the two `slow` corpora (their benchmarks run them in full)
	$(BIN)/python -m pytest -m "not slow"

test-all: install lint  # …and the slow corpora: 500 generated lake escapes, 510 random drive sequences
	$(BIN)/python -m pytest

test-unit: install  # the tier that needs no service: in-memory fakes, SQLite, in-process servers
	$(BIN)/python -m pytest tests/unit

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
	$(BIN)/python -m auraison.bench.chaos  # R1: the Ray job stream needs a Ray head (`auraison services up`)

clean:
	rm -rf $(VENV) .cache out .pytest_cache .ruff_cache console/node_modules console/.next console/out
