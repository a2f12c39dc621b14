# Everything runs from the virtual environment in .venv, created on demand.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
export DJANGO_DEBUG ?= 1

.PHONY: run demo test install migrate messages makemessages clean

$(BIN)/activate: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(BIN)/activate

install: $(BIN)/activate

# Compile the translations with polib from requirements.txt: no GNU gettext needed.
messages: install
	$(PY) manage.py compile_translations

# Collect new strings into the zh_Hant catalog (needs GNU gettext's xgettext).
makemessages: install
	$(PY) manage.py makemessages -l zh_Hant --no-location --no-obsolete \
		--ignore=tests --ignore=var --ignore=test-output

migrate: messages
	$(PY) manage.py migrate --noinput

# Web server, RQ worker and cron scheduler under honcho (Ctrl-C stops them
# all), plus the embedded redis-server where REDIS_URL is unset. The cron
# scheduler starts a first fetch right away. NEWS_DEFAULT_SOURCES=0 skips
# adding the Google News sources, for a stack that stays offline.
# honcho exits 130 after Ctrl-C, which is the normal way to stop, not an error.
NEWS_DEFAULT_SOURCES ?= 1
run: migrate
	$(if $(filter 0,$(NEWS_DEFAULT_SOURCES)),,$(PY) manage.py add_default_sources)
	$(BIN)/honcho -f Procfile.dev start $(if $(REDIS_URL),web worker cron) || [ $$? -eq 130 ]

# Offline demo: serve saved Google News feeds on 127.0.0.1 and fetch them.
DEMO_FEEDS ?= ../shared/feeds/google-news
demo: migrate
	NEWS_ALLOW_PRIVATE_ADDRESSES=1 $(PY) manage.py demo_fetch $(DEMO_FEEDS)

test: messages
	$(BIN)/pytest

clean:
	rm -rf $(VENV) var
