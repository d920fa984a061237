# Chorus: the verbs. `make run` and `make test` are all a new machine needs.
SHELL := /bin/bash
PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app wsgi
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck format translations translations-update bench migration worker clean

$(STAMP): pyproject.toml
	@$(PY) -c "import sys; sys.exit(sys.version_info < (3, 11))" || { echo "Python 3.11+ is needed (set PY=...)"; exit 1; }
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

translations: $(STAMP)
	@$(BIN)/pybabel compile --use-fuzzy -d translations 2>&1 | { grep -v "^compiling" || true; }; exit $${PIPESTATUS[0]}

# Extract every string (Python, HTML, SMS templates) and merge into all ten catalogs.
translations-update: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext --no-location --sort-output -o translations/messages.pot .
	$(BIN)/pybabel update -i translations/messages.pot -d translations --no-fuzzy-matching --ignore-obsolete

run: $(STAMP) translations
	$(FLASK) db upgrade
	@$(FLASK) seed-demo --admin | tee /tmp/chorus-seed.$$$$ | grep -v "^Staff console:"; \
	  signin=$$(grep "^Staff console:" /tmp/chorus-seed.$$$$ | sed 's/^Staff console: sign in as //'); rm -f /tmp/chorus-seed.$$$$; \
	  echo; \
	  echo "  Chorus is running at http://127.0.0.1:$${PORT:-5000}/"; \
	  echo "  Phone simulator:    http://127.0.0.1:$${PORT:-5000}/staff/simulator"; \
	  echo "  Staff console:      http://127.0.0.1:$${PORT:-5000}/staff/  ($$signin)"; \
	  echo
	SIMULATOR_OPEN=true $(FLASK) run --port $${PORT:-5000}

test: $(STAMP) translations
	$(BIN)/pytest $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# mypy, as configured in pyproject.toml: all of app/, strictly in app/domain and app/sms.
typecheck: $(STAMP)
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

worker: $(STAMP) translations
	$(FLASK) worker

bench: $(STAMP) translations
	$(BIN)/python -m bench.run $(ARGS)

# A new migration for a change to app/models.py: make migration M="what changed".
# Generated against a scratch SQLite database upgraded to head; read it before committing.
migration: $(STAMP)
	@test -n "$(M)" || { echo 'say what changed: make migration M="..."'; exit 1; }
	rm -f /tmp/chorus-schema.sqlite3
	DATABASE_URL=sqlite:////tmp/chorus-schema.sqlite3 SECRET_KEY=schema $(FLASK) db upgrade
	DATABASE_URL=sqlite:////tmp/chorus-schema.sqlite3 SECRET_KEY=schema $(FLASK) db revision --autogenerate \
		--rev-id $$(printf "%04d" $$(( $$(ls migrations/versions/[0-9]*.py | wc -l) + 1 ))) -m "$(M)"
	$(BIN)/ruff format migrations/versions

clean:
	rm -rf $(VENV) instance/*.sqlite3*
