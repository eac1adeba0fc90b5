# Every target does its own set-up on a fresh Debian 12 (run as root): apt packages, a venv, the package.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
APT_PACKAGES := python3-venv python3-dev build-essential portaudio19-dev libasound2-dev alsa-utils systemd age espeak-ng sox postgresql

.PHONY: demo test bench deps venv proto install uninstall clean
DESTDIR ?=
PREFIX  ?= /opt/appliance

deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing apt packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	  else echo "missing apt packages:$$missing (run as root, or: sudo apt-get install$$missing)"; exit 1; fi; \
	fi

$(VENV)/.installed: pyproject.toml | deps
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

venv: deps $(VENV)/.installed

demo: venv
	$(VENV)/bin/appliance demo

test: venv
	$(PY) -m pytest -q

bench: venv
	$(PY) bench/run_all.py

proto: venv
	$(PY) -m grpc_tools.protoc -Iproto --python_out=. --pyi_out=. --grpc_python_out=. proto/appliance/v1/*.proto

# On the gateway, as root: system user, venv in $(PREFIX), units, udev rules, config skeleton.
install: deps
	DESTDIR=$(DESTDIR) PREFIX=$(PREFIX) PYTHON=$(PYTHON) scripts/install.sh

uninstall:
	DESTDIR=$(DESTDIR) PREFIX=$(PREFIX) PURGE=$(PURGE) scripts/uninstall.sh

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
