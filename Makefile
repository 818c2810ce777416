# Two targets do all set-up on a fresh machine: `make demo` and `make test`.
# The venv is created if missing and the package installed with the pinned constraints
# (torch==2.13.0, the CPU build on this kind of machine) - never a multi-GB CUDA build here.
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
STAMP   = $(VENV)/.specgap-installed

.PHONY: demo test docs bench mutate notebooks install install-check clean

$(STAMP): pyproject.toml constraints.txt
	@echo "installing specgap with every extra and the pinned versions into $(VENV) (about 2 minutes the first time)"
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[all,dev,docs]'
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/specgap reproduce fig2 --out results/fig2

test: $(STAMP)
	$(PY) -m pytest -q -n 2 --dist loadfile --durations=15 tests

# the documentation site into docs/_build/html: API pages from the docstrings, the gallery from the stored notebooks
# (nothing is executed), warnings and broken references are errors (~1 min)
docs: $(STAMP)
	rm -rf docs/_build docs/api docs/gallery
	MPLBACKEND=Agg OMP_NUM_THREADS=1 $(PY) -m sphinx -W --keep-going -n -q -b html docs docs/_build/html
	@echo "documentation: docs/_build/html/index.html"

bench: $(STAMP)
	SPECGAP_BENCH=full $(PY) -m pytest -q tests/benchmarks -o addopts=-ra --benchmark-enable -s -p no:cacheprovider

mutate: $(STAMP)
	$(PY) tests/mutate.py

# execute every notebook in notebooks/ in place (quick mode, from scratch) and store its outputs; the runs' files go
# to notebooks/results/make-notebooks/ (emptied first)
notebooks: $(STAMP)
	cd notebooks && MPLBACKEND=Agg OMP_NUM_THREADS=1 $(abspath $(PY)) ../tests/notebook_runner.py

# each extra installed alone into a fresh venv: every command works or exits 2 naming the extra (CI; ~15 min)
install-check: $(STAMP)
	$(PY) tests/install_extras.py

clean:
	rm -rf results .pytest_cache .hypothesis .benchmarks docs/_build docs/api docs/gallery
