# Everything runs from the virtual environment in .venv, created on demand.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
export DJANGO_DEBUG ?= 1

.PHONY: run test install migrate messages clean

$(BIN)/activate: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(BIN)/activate

install: $(BIN)/activate

migrate: install
	$(PY) manage.py migrate --noinput

# Web server, RQ worker and cron scheduler under honcho (Ctrl-C stops them
# all), plus the embedded redis-server where REDIS_URL is unset. The cron
# scheduler starts a first fetch right away.
run: migrate
	$(PY) manage.py add_default_sources
	$(BIN)/honcho -f Procfile.dev start $(if $(REDIS_URL),web worker cron)

test: install
	$(BIN)/pytest

clean:
	rm -rf $(VENV) var
