# SPDX-License-Identifier: BSD-2-Clause
# sse-outbox: Server-Sent Events from an SQLite outbox, over FastCGI or CGI.

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man
PKGDATADIR ?= $(PREFIX)/share/sse-outbox
CC ?= cc
CFLAGS ?= -O2 -g
PYTHON ?= /usr/bin/python3
BUILD ?= build

WARN = -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	-Wpointer-arith -Wformat=2
WERROR ?= 1
ifeq ($(WERROR),1)
WARN += -Werror
endif

# Read when make starts. Targets that install the libraries first (demo,
# test, asan, bench) build in a second make started after `deps`, which
# reads them again: a first run on a machine without the libraries links.
# libpq and libcrypto: headers only. The program loads them at run time
# when SSE_DB names PostgreSQL or SSE_AUTH=jwt (pq_load.c,
# crypto_load.c), so other processes never map them.
PKGS = fcgi sqlite3 libpq libcrypto jansson
LINKED_PKGS = fcgi sqlite3 jansson
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(LINKED_PKGS) 2>/dev/null)
NO_PKGS = pkg-config finds none of $(PKGS): run `make deps` (as root), \
	or install their -dev packages

ALL_CPPFLAGS = -D_GNU_SOURCE $(CPPFLAGS)
ALL_CFLAGS = -std=c11 $(WARN) $(PKG_CFLAGS) $(CFLAGS) -MMD -MP
ALL_LDFLAGS = $(LDFLAGS)
LIBS = $(PKG_LIBS) -lpthread -ldl -lm

# Every module of the program: fcgi/*.c and the doctor's own folder.
SRCS = $(sort $(wildcard fcgi/*.c fcgi/*/*.c))

OBJS = $(SRCS:fcgi/%.c=$(BUILD)/obj/%.o)

# Unit tests: one program per pure module, linking only what it needs.
UNIT_TESTS = sse request config buf subs transport jwt auth stats doctor \
	registry outbox settings resume dynlib rowring beat
UNIT_BINS = $(UNIT_TESTS:%=$(BUILD)/test_%)
JWT_LIBS := $(shell pkg-config --libs jansson 2>/dev/null) -ldl
unit_deps_sse = sse buf
unit_deps_request = request auth jwt crypto_load dynlib buf config
unit_libs_request = $(JWT_LIBS)
unit_deps_jwt = jwt crypto_load dynlib
unit_libs_jwt = $(JWT_LIBS) $$(pkg-config --libs libcrypto)
unit_deps_auth = auth request jwt crypto_load dynlib buf config
unit_libs_auth = $(JWT_LIBS)
unit_deps_config = config
unit_deps_settings = settings
unit_deps_buf = buf
unit_deps_stats = stats buf
unit_deps_subs = subs
unit_deps_registry = registry subs
unit_deps_transport = transport buf
unit_deps_doctor = doctor/url doctor/head doctor/body doctor/verdict \
	doctor/http doctor/report doctor/err
unit_deps_outbox = outbox outbox_sqlite outbox_pg pq_load dynlib log
unit_libs_outbox = $$(pkg-config --libs sqlite3) -ldl
unit_deps_resume = resume
unit_deps_rowring = rowring
unit_deps_beat = beat
unit_libs_beat = -lm
unit_deps_dynlib = dynlib
unit_libs_dynlib = -ldl

.PHONY: all clean test unit integration bench demo deps deps-test asan sanitize \
	install uninstall fuzz fuzz-build fuzz-smoke valgrind

# libFuzzer targets (tests/fuzz/): clang, with ASan and UBSan, in their
# own build directory. `make fuzz` runs each FUZZ_SECONDS; `make test`
# runs each FUZZ_SMOKE_SECONDS. New inputs go to $(FUZZ_BUILD)/corpus,
# never into the committed seeds (tests/fuzz/corpus/<target>/).
FUZZ_CC ?= clang
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_SMOKE_SECONDS ?= 3
FUZZ_SAN = -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_CFLAGS = -std=c11 $(WARN) $(PKG_CFLAGS) -O1 -g \
	-fno-omit-frame-pointer $(FUZZ_SAN)
FUZZ_TARGETS = sse query last_id jwt
FUZZ_BINS = $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/fuzz_%)
fuzz_deps_sse = sse buf
fuzz_deps_query = request auth jwt crypto_load dynlib buf config
fuzz_libs_query = $(JWT_LIBS)
fuzz_deps_last_id = request auth jwt crypto_load dynlib buf config
fuzz_libs_last_id = $(JWT_LIBS)
fuzz_deps_jwt = jwt crypto_load dynlib
fuzz_libs_jwt = $(JWT_LIBS)

all: $(BUILD)/sse-outbox

$(BUILD)/sse-outbox: $(OBJS)
	$(if $(strip $(PKG_LIBS)),,$(error $(NO_PKGS)))
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $(OBJS) $(LIBS)

$(BUILD)/obj/%.o: fcgi/%.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/test_%: tests/unit/test_%.c $(OBJS)
	$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) -Ifcgi $(ALL_LDFLAGS) -o $@ $< \
		$(foreach m,$(unit_deps_$*),$(BUILD)/obj/$(m).o) \
		$(unit_libs_$*) $$(pkg-config --libs cmocka)

# Every program runs, failing or not; the last line names the failures.
unit: $(UNIT_BINS)
	@failed=""; for t in $(UNIT_BINS); do echo "== $$t"; \
		$$t || failed="$$failed $${t##*/}"; done; \
	if [ -n "$$failed" ]; then echo "unit: FAILED:$$failed"; exit 1; fi; \
	echo "unit: $(words $(UNIT_BINS)) programs passed"

integration: $(BUILD)/sse-outbox tests/browser/node_modules
	SSE_OUTBOX_BIN=$(abspath $(BUILD)/sse-outbox) \
		$(PYTHON) -m pytest -v --durations=20 -p no:cacheprovider tests/integration

# Every stage runs even when an earlier one failed, each printing its
# runner's own summary; then one line for them all, and a non-zero exit
# when any failed.
TEST_STAGES = unit integration fuzz-smoke valgrind

test: deps-test
	@summary=""; failed=0; for s in $(TEST_STAGES); do \
		echo "== make $$s"; \
		if $(MAKE) --no-print-directory $$s; then r=passed; \
		else r=FAILED; failed=1; fi; \
		summary="$$summary$${summary:+, }$$s $$r"; \
	done; \
	echo "make test: $(words $(TEST_STAGES)) stages: $$summary"; \
	exit $$failed

# The whole suite against a build with AddressSanitizer (and its leak
# checker) and UndefinedBehaviorSanitizer. Any finding stops the
# process; its report goes to stderr, which is the web server's error
# log, and the integration harness fails the test whose servers logged
# one (the harness also hands these options to mod_fcgid's children).
ASAN_ENV = \
	ASAN_OPTIONS=halt_on_error=1:detect_leaks=1:print_summary=1 \
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:print_summary=1

asan sanitize: deps-test
	$(ASAN_ENV) $(MAKE) BUILD=build-asan \
		CFLAGS="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all" \
		LDFLAGS="-fsanitize=address,undefined" unit integration

$(FUZZ_BUILD)/obj/%.o: fcgi/%.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(ALL_CPPFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link \
		-MMD -MP -c -o $@ $<

FUZZ_MODULES = sse buf request auth jwt crypto_load dynlib config
FUZZ_OBJS = $(FUZZ_MODULES:%=$(FUZZ_BUILD)/obj/%.o)
.SECONDARY: $(FUZZ_OBJS)

$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_OBJS)
	$(FUZZ_CC) $(ALL_CPPFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer -Ifcgi \
		-o $@ $< $(foreach m,$(fuzz_deps_$*),$(FUZZ_BUILD)/obj/$(m).o) \
		$(fuzz_libs_$*)

fuzz-build: $(FUZZ_BINS)

# Each target runs for FUZZ_SECONDS from the seeds; the summary line
# gives the executions it ran clean. A crash fails make (after the other
# targets ran), leaving the input in $(FUZZ_BUILD)/crash-* (reproduce:
# $(FUZZ_BUILD)/fuzz_T FILE).
fuzz: $(FUZZ_BINS)
	@failed=""; for t in $(FUZZ_TARGETS); do \
		mkdir -p $(FUZZ_BUILD)/corpus/$$t; \
		log=$(FUZZ_BUILD)/fuzz_$$t.log; \
		if ! $(FUZZ_BUILD)/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) \
			-timeout=10 -print_final_stats=1 \
			-artifact_prefix=$(FUZZ_BUILD)/ \
			$(FUZZ_BUILD)/corpus/$$t tests/fuzz/corpus/$$t \
			>$$log 2>&1; then \
			tail -n 60 $$log; echo "fuzz_$$t: FAILED (see $$log)"; \
			failed="$$failed fuzz_$$t"; continue; \
		fi; \
		runs=$$(sed -n 's/^stat::number_of_executed_units: *//p' $$log); \
		cov=$$(grep -E '^Done|^#[0-9]+.*DONE' $$log | tail -n 1); \
		echo "fuzz_$$t: $$runs executions in $(FUZZ_SECONDS) s, no" \
			"failure ($$cov)"; \
	done; \
	if [ -n "$$failed" ]; then echo "fuzz: FAILED:$$failed"; exit 1; fi

fuzz-smoke:
	$(MAKE) fuzz FUZZ_SECONDS=$(FUZZ_SMOKE_SECONDS)

# The request path under valgrind --leak-check=full: as CGI (refusals,
# HEAD, a replaying stream ended by SIGTERM, token and --check), and one
# --listen process serving several streams behind lighttpd.
valgrind: $(BUILD)/sse-outbox
	SSE_OUTBOX_BIN=$(abspath $(BUILD)/sse-outbox) \
		$(PYTHON) -m pytest -v -p no:cacheprovider tests/valgrind

# playwright-core and eventsource for the browser tests, as locked in
# tests/browser/package-lock.json. The browser is Debian's chromium (in
# DEB_PACKAGES): nothing downloads one.
tests/browser/node_modules: tests/browser/package.json \
		tests/browser/package-lock.json
	cd tests/browser && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 \
		npm ci --no-audit --no-fund
	@touch $@

# The build runs in a second make, which reads pkg-config's answers after
# deps installed the libraries.
demo: deps
	$(MAKE) --no-print-directory all
	SSE_OUTBOX_BIN=$(abspath $(BUILD)/sse-outbox) $(PYTHON) demo/run_demo.py

$(BUILD)/sse_load: bench/sse_load.c
	@mkdir -p $(BUILD)
	$(CC) $(ALL_CPPFLAGS) -std=c11 $(WARN) $(CFLAGS) -o $@ $<

bench: deps-test
	$(MAKE) --no-print-directory all $(BUILD)/sse_load
	$(PYTHON) bench/run_bench.py

# What `make` and `make demo` need: the compiler, the five libraries, and
# for the demo lighttpd, the sqlite3 shell, python3 and curl.
DEB_PACKAGES = build-essential pkg-config libfcgi-dev libsqlite3-dev \
	libssl-dev libjansson-dev libpq-dev sqlite3 lighttpd python3 curl

# What the tests (and make asan, make bench) need on top: the other web
# servers, the test runners, the fuzzer's clang, valgrind, PHP for the
# producer example, and for the browser tests Debian's chromium and
# Node.js (Debian 12 ships Node 18; tests/browser pins client libraries
# that run on it). A node and npm already on PATH (NodeSource's nodejs
# includes npm and conflicts with Debian's npm) are used as they are.
DEB_TEST_PACKAGES = libcmocka-dev apache2 libapache2-mod-fcgid \
	apache2-suexec-pristine nginx-light libnginx-mod-nchan spawn-fcgi python3-pytest \
	python3-jwt clang libclang-rt-14-dev valgrind chromium php-cli \
	php-sqlite3 man-db postgresql python3-psycopg2 php-cgi php-pgsql systemd \
	$(if $(shell command -v node),,nodejs) $(if $(shell command -v npm),,npm)

# Installs what is missing, starting no service (scripts/apt-deps.sh).
deps:
	@sh scripts/apt-deps.sh $(DEB_PACKAGES)

deps-test: deps
	@sh scripts/apt-deps.sh $(DEB_TEST_PACKAGES)

INSTALLED = $(DESTDIR)$(BINDIR)/sse-outbox \
	$(DESTDIR)$(MANDIR)/man1/sse-outbox.1 \
	$(DESTDIR)$(PKGDATADIR)/schema.sql \
	$(DESTDIR)$(PKGDATADIR)/schema-postgresql.sql \
	$(DESTDIR)$(PKGDATADIR)/sse-outbox.js

install: $(BUILD)/sse-outbox
	install -D -m 0755 $(BUILD)/sse-outbox $(DESTDIR)$(BINDIR)/sse-outbox
	install -D -m 0644 sse-outbox.1 $(DESTDIR)$(MANDIR)/man1/sse-outbox.1
	install -D -m 0644 sql/schema.sql $(DESTDIR)$(PKGDATADIR)/schema.sql
	install -D -m 0644 sql/schema-postgresql.sql \
		$(DESTDIR)$(PKGDATADIR)/schema-postgresql.sql
	install -D -m 0644 js/dist/sse-outbox.js $(DESTDIR)$(PKGDATADIR)/sse-outbox.js

uninstall:
	rm -f $(INSTALLED)
	rmdir $(DESTDIR)$(PKGDATADIR) 2>/dev/null || true

clean:
	rm -rf build build-asan $(FUZZ_BUILD)

-include $(OBJS:.o=.d)
-include $(wildcard $(FUZZ_BUILD)/obj/*.d)
