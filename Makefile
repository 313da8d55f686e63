# cell-chain: `make run` serves the app, `make test` runs the whole suite. Both set up
# everything they need on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Two workers halve the suite on the two-core CI machine; each owns its PostgreSQL database.
PYTEST_ARGS ?= -n auto
export FLASK_APP := wsgi

.PHONY: run test install system-deps db clean messages

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# Debian packages: Chromium for the browser tests (Playwright's own browser download does
# not work offline), Pango and fonts for WeasyPrint's PDF labels (Noto CJK for the Chinese
# wristbands and assignment labels).
system-deps:
	@missing=""; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	[ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || missing="$$missing fonts-dejavu-core"; \
	fc-list 2>/dev/null | grep -q "Noto Sans CJK" || missing="$$missing fonts-noto-cjk"; \
	ldconfig -p 2>/dev/null | grep -q libpangoft2-1.0 || missing="$$missing libpango-1.0-0 libpangoft2-1.0-0"; \
	if [ -n "$$missing" ]; then \
	  echo "Installing Debian packages:$$missing"; \
	  SUDO=""; [ "$$(id -u)" -eq 0 ] || SUDO="sudo"; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

db: $(STAMP)
	$(BIN)/flask db upgrade
	$(BIN)/flask seed-demo --if-new

run: db
	$(BIN)/flask run --host 127.0.0.1 --port 5000

test: $(STAMP) system-deps
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Catalogues: extract every message from code and templates, merge into the zh_Hans catalogue,
# compile. The compiled .mo files are committed (tests/i18n checks they are current).
messages: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -k _ -k N_ -k _l -o cell_chain/translations/messages.pot \
	  --no-location --sort-output --project cell-chain --version 0.1.0 --copyright-holder cell-chain .
	$(BIN)/pybabel update -i cell_chain/translations/messages.pot -d cell_chain/translations -l zh_Hans \
	  --no-fuzzy-matching --width 110
	$(BIN)/pybabel compile -d cell_chain/translations --statistics

clean:
	rm -rf $(VENV) .pytest_cache test-output .cache
