# The two commands of the README: `make run` and `make test`. Everything else is their plumbing.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
BABEL_KEYWORDS := -k _l -k lazy_gettext -k lazy_ngettext:1,2

.PHONY: run test install migrate demo lint bench clean browser translations messages

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP) translations

# The .po catalogs are in the repository; their compiled .mo files are built here (the app also
# compiles a stale one at start).
translations: $(STAMP)
	$(BIN)/pybabel --quiet compile -d idp/translations

# After changing messages: extract them and merge them into every catalog, then translate what
# is new (a test fails while a message is missing or fuzzy in zh_Hans).
messages: install
	$(BIN)/pybabel --quiet extract -F babel.cfg $(BABEL_KEYWORDS) --add-location=file \
	  --sort-by-file --project=seller-idp -o idp/translations/messages.pot .
	$(BIN)/pybabel --quiet update -i idp/translations/messages.pot -d idp/translations \
	  --no-fuzzy-matching --ignore-obsolete

migrate: install
	$(BIN)/idp db upgrade

demo: migrate
	$(BIN)/idp demo --if-empty

run: demo
	$(BIN)/idp serve

# Browser tests drive Debian's Chromium (never a downloaded browser build).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for the browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

test: install browser
	$(BIN)/pytest -q -n 2 --dist loadfile

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The benchmark: PostgreSQL and Redis on this machine, wrk (installed when missing).
bench: install
	@command -v wrk >/dev/null 2>&1 || { apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) instance .pytest_cache
