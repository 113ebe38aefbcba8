.PHONY: setup test demo lint bench clean

VENV := .venv/bin

setup:
	@bash scripts/setup.sh

test: setup
	$(VENV)/pytest -q

demo: setup
	$(VENV)/yizhan demo

lint: setup
	$(VENV)/ruff check geo api maps tests bench
	$(VENV)/mypy

bench: setup
	$(VENV)/python bench/coverage.py
	$(VENV)/python bench/siting.py
	$(VENV)/python bench/network_cache.py
	$(VENV)/python bench/cli_coverage.py

clean:
	rm -rf .cache out test-artifacts
