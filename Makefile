# Two commands (see README.md):
#   make lab    set everything up and open the lessons in JupyterLab
#   make test   set everything up and run every test
#
# CPU machines get the pinned CPU wheel of torch. A GPU user picks a CUDA build instead:
#   make lab TORCH="torch --index-url https://download.pytorch.org/whl/cu124"
# (workbench itself only needs torch>=2.3, so any build that pip can find works.)

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
TORCH  ?= torch==2.13.0
STAMP  := $(VENV)/.installed
# JupyterLab settings for the lessons: ipywidgets saves each widget's last state in the
# notebook, so a lesson reopened after its kernel is gone redraws its charts instead of
# "Error displaying widget: model not found".
LABSET := $(VENV)/share/jupyter/lab/settings/overrides.json

.PHONY: setup lab test lint unit notebooks browser-deps bench claims clean

setup: $(STAMP) $(LABSET)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(TORCH)
	$(BIN)/python -m pip install -q -e ".[test]"
	touch $(STAMP)

$(LABSET): workbench/views/static/lab-overrides.json $(STAMP)
	mkdir -p $(dir $(LABSET))
	$(BIN)/python -c "import json, pathlib, sys; \
	  out = pathlib.Path(sys.argv[2]); old = json.loads(out.read_text()) if out.exists() else {}; \
	  old.update(json.loads(pathlib.Path(sys.argv[1]).read_text())); \
	  out.write_text(json.dumps(old, indent=2))" $< $@

# JupyterLab refuses to run as root without --allow-root (containers, CI machines).
lab: setup
	$(BIN)/jupyter lab --ServerApp.ip=127.0.0.1 --ServerApp.root_dir=notebooks \
		$$([ "$$(id -u)" = 0 ] && echo --allow-root)

# The browser test needs Chromium. As root we install Debian's package; otherwise the
# test skips itself and says how to install it.
browser-deps:
	@if ! command -v chromium >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing chromium for the browser test"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
			|| echo "could not install chromium; the browser test will be skipped"; \
	fi

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

# One thread per process: the unit tests and the notebooks run two at a time.
test: setup browser-deps lint
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(BIN)/python -m pytest -n 2 --dist loadscope \
		--nbval-lax --nbval-sanitize-with tests/nbval_sanitize.cfg tests notebooks

unit: setup
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -n 2 --dist loadscope tests -m "not browser"

notebooks: setup
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -n 2 --dist loadscope \
		--nbval-lax --nbval-sanitize-with tests/nbval_sanitize.cfg notebooks

bench: setup
	$(BIN)/python benchmarks/bench_fit.py

# Every lesson over seeds 0-9 (about ten times the lessons' run time): writes the table
# benchmarks/claims/README.md that the lessons' prose quotes (and lesson 07 with 25 validation
# labels, a variant its prose reports). Run it after changing a lesson.
claims: setup
	$(BIN)/python benchmarks/claims.py --seeds 0-9 --jobs 2
	$(BIN)/python benchmarks/claims.py notebooks/07_transfer_learning.ipynb --set N_VAL=25 --seeds 0-9 --jobs 2

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
