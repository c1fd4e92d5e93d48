# Two commands a new user needs: `make run` and `make test`. Both are idempotent.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench demo clean samples

$(BIN)/python:
	bash scripts/need_venv.sh $(PY)
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# torch is pinned to the CPU build that lies on local disk; a bare `torch` would pull CUDA.
$(STAMP): pyproject.toml $(BIN)/python
	$(BIN)/pip install -q "torch==2.13.0"
	$(BIN)/pip install -q -e ".[dev,torch]"
	touch $(STAMP)

# Qt's xcb plugin needs X11 libraries the PySide6 wheel does not ship: the check installs the
# missing Debian/Ubuntu packages when root, or stops with the one `apt install` line to run.
# RUN_ARGS: e.g. `make run RUN_ARGS="--smoke-test"` (opens the window, checks it, exits).
run: $(STAMP)
	$(BIN)/python -m cockpit.cli.qt_xcb --install
	$(BIN)/cockpit demo $(RUN_ARGS)

# Debian packages the tests use (real sshd, Prometheus, Xvfb, ...): packaging/apt/*.txt,
# installed when root; a quick dpkg check when they are already there.
test: $(STAMP)
	bash scripts/apt_install.sh $(wildcard packaging/apt/*.txt)
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check cockpit tests benchmarks scripts
	$(BIN)/mypy cockpit

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run_all

samples: $(STAMP)
	$(BIN)/python scripts/make_sample_runs.py
	$(BIN)/python scripts/make_sample_evals.py
	$(BIN)/python scripts/make_triage_eval.py

clean:
	rm -rf $(VENV) build *.egg-info

# Installer (packaging/README.md): `make package` builds dist/cockpit (PyInstaller onedir),
# its tar.gz and the .deb from a venv of its own (build/pkg-venv: runtime dependencies +
# PyInstaller only, never the dev venv); `make package-test` installs the .deb (root) and
# smoke-tests it under Xvfb on the xcb platform.
.PHONY: package package-test
package:
	PY=$(PY) bash packaging/build.sh

package-test:
	bash packaging/linux/package_test.sh
