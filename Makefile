# Each target sets up .venv first (Python >= 3.12, pinned requirements).
PY := .venv/bin/python
export NO_MKDOCS_2_WARNING := 1  # silence Material's end-of-life banner

.PHONY: serve test site lint format env hf-env

env:
	@scripts/bootstrap.sh

# torch + transformers, the reference of tests/test_llama_hf.py only; like
# .venv, re-installed only when requirements-hf.txt changes.
hf-env:
	@scripts/hf_reference_env.sh

# Rebuilds reuse page runs whose code is unchanged (sitebuild/cache.py); the
# tests and `make site` never do.
serve: env  ## serve the site at http://127.0.0.1:8000, rebuilding on changes
	SITEBUILD_CACHE=true $(PY) -m mkdocs serve --dev-addr 127.0.0.1:8000

test: env hf-env  ## lint, then every test: pages, numerics, strict site build
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m pytest $(PYTEST_ARGS)

site: env  ## build the static site into site/
	$(PY) -m mkdocs build --strict --site-dir site

format: env
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .
