# wedpool — top-level commands. `make` builds build/wedpool; `make test` and `make demo` run `make deps` first.
BUILD ?= build
ASAN_BUILD ?= build-asan
MESON ?= meson
PYTHON ?= /usr/bin/python3

DEB_PACKAGES = build-essential meson ninja-build pkg-config libevent-dev libssl-dev libinih-dev \
	libjansson-dev libcurl4-openssl-dev libical-dev libpq-dev libcmocka-dev \
	postgresql-15 postgresql-client-15 pgbouncer python3-pytest python3-psycopg python3-yaml procps curl prometheus clang strace libpg-query-dev python3-asyncpg \
	python3-aiosmtpd prometheus-alertmanager libpostgresql-jdbc-java default-jdk-headless nodejs

.PHONY: all deps build test unit integration asan asan-test demo bench loadtest fuzz clean

all: build

deps:
	@scripts/deps.sh $(DEB_PACKAGES)
	@scripts/deps-node.sh

$(BUILD)/build.ninja:
	$(MESON) setup $(BUILD)

build: $(BUILD)/build.ninja
	ninja -C $(BUILD)

unit: build
	$(MESON) test -C $(BUILD) --suite unit --print-errorlogs

integration: build
	WEDPOOL_BIN=$(CURDIR)/$(BUILD)/wedpool $(PYTHON) -m pytest -q tests/integration

test: deps
	$(MAKE) build
	$(MAKE) unit
	$(MAKE) integration

$(ASAN_BUILD)/build.ninja:
	$(MESON) setup $(ASAN_BUILD) -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug

asan: $(ASAN_BUILD)/build.ninja
	ninja -C $(ASAN_BUILD)

# The integration suite against the sanitizer build; any ASan/UBSan report fails the test that caused it.
asan-test: deps asan
	$(MESON) test -C $(ASAN_BUILD) --suite unit --print-errorlogs
	WEDPOOL_BIN=$(CURDIR)/$(ASAN_BUILD)/wedpool WEDPOOL_SANITIZED=1 $(PYTHON) -m pytest -q tests/integration

demo: deps
	$(MAKE) build
	scripts/demo.sh $(CURDIR)/$(BUILD)/wedpool

# Benchmarks (never fail on timing): wedpool vs PgBouncer vs direct, and lanes under overload.
bench: deps
	$(MAKE) build
	bench/compare.sh $(CURDIR)/$(BUILD)/wedpool
	bench/lanes.sh $(CURDIR)/$(BUILD)/wedpool
	bench/scrape.sh $(CURDIR)/$(BUILD)/wedpool

# The full set with wedpool-bench: INT-002 evidence (180 s), 10,000-client Saturday peak, SCRAM
# connect storm, idle memory and the data path under 10,000 idle clients against PgBouncer. About 12 minutes.
loadtest: deps
	$(MAKE) build
	bench/int002.sh $(CURDIR)/$(BUILD)/wedpool
	bench/saturday-peak.sh $(CURDIR)/$(BUILD)/wedpool
	bench/connect-storm.sh $(CURDIR)/$(BUILD)/wedpool
	bench/idle-10k.sh $(CURDIR)/$(BUILD)/wedpool
	bench/idle-active.sh $(CURDIR)/$(BUILD)/wedpool

# Every parser's libFuzzer target, FUZZ_SECONDS each (default 30).
fuzz:
	tests/fuzz/run.sh

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) build-fuzz
