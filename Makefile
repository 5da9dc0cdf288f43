# Two commands matter: `make run` and `make test`. Both install what they need first.
PYTHON ?= python3
BOOT := .bootstrap/bin
UV := $(BOOT)/uv
VENV := .venv/bin
UV_VERSION := 0.13.9

.PHONY: install run demo test test-fast test-load chaos asyncapi docs clean

install: .venv/.installed

$(UV):
	$(PYTHON) -m venv .bootstrap
	$(BOOT)/pip install -q --disable-pip-version-check uv==$(UV_VERSION)

.venv/.installed: $(UV) pyproject.toml uv.lock shared/pyproject.toml services/*/pyproject.toml
	UV_PYTHON_DOWNLOADS=never $(UV) sync --all-packages --frozen --python $(PYTHON)
	touch $@

run: install
	$(VENV)/python deploy/embedded/stack.py run

demo: install
	$(VENV)/python deploy/embedded/stack.py demo

test: install
	$(VENV)/python -m pytest

test-fast: install
	$(VENV)/python -m pytest -m "not e2e"

# The service integration suites once more with every CPU kept busy: races that only show
# under load fail here instead of in a user's deadline rush (CI runs it after `make test`).
test-load: install
	$(VENV)/python tests/load/saturated.py -- $(VENV)/python -m pytest -m "not e2e" shared/tests services

# The chaos suite (tests/chaos/chaos_driver.py): a semester for 2,000 teachers on PostgreSQL and a 3-node
# JetStream cluster while every service, a NATS node and S3 are killed and restarted and another
# NATS node is lost; fails on any loss, duplicate, orphan or dead letter. Writes
# bench/results/chaos.json. Smaller: make chaos CHAOS_ARGS="--teachers 500".
CHAOS_ARGS ?= --teachers 2000
chaos: install
	$(VENV)/python tests/chaos/chaos_driver.py $(CHAOS_ARGS)

asyncapi: install
	$(VENV)/python -m kinerja_shared.catalog docs/asyncapi.yaml

docs: asyncapi
	$(VENV)/python tests/contract/openapi_docs.py

clean:
	rm -rf .venv .bootstrap data .run
