# Chorus: the verbs. `make run` and `make test` are all a new machine needs.
SHELL := /bin/bash
PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app wsgi
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck format translations translations-update bench schema worker clean

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
	$(FLASK) seed-demo
	@echo
	@echo "  Chorus is running at http://127.0.0.1:$${PORT:-5000}/"
	@echo "  Phone simulator:    http://127.0.0.1:$${PORT:-5000}/staff/simulator"
	@echo
	$(FLASK) run --port $${PORT:-5000}

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

# Regenerate the single initial migration from app/models.py (pre-release only).
schema: $(STAMP)
	rm -f migrations/versions/*.py /tmp/chorus-schema.sqlite3
	DATABASE_URL=sqlite:////tmp/chorus-schema.sqlite3 SECRET_KEY=schema $(FLASK) db upgrade
	DATABASE_URL=sqlite:////tmp/chorus-schema.sqlite3 SECRET_KEY=schema $(FLASK) db revision --autogenerate --rev-id 0001 -m "initial schema"
	$(BIN)/ruff format migrations/versions

clean:
	rm -rf $(VENV) instance/*.sqlite3*
