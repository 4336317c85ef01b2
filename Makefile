# sse-outbox: Server-Sent Events from an SQLite outbox, over FastCGI or CGI.

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man
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

PKGS = fcgi sqlite3 libcrypto jansson
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

ALL_CPPFLAGS = -D_GNU_SOURCE $(CPPFLAGS)
ALL_CFLAGS = -std=c11 $(WARN) $(PKG_CFLAGS) $(CFLAGS) -MMD -MP
ALL_LDFLAGS = $(LDFLAGS)
LIBS = $(PKG_LIBS) -lpthread

SRCS = \
	fcgi/auth.c \
	fcgi/buf.c \
	fcgi/config.c \
	fcgi/hub.c \
	fcgi/jwt.c \
	fcgi/log.c \
	fcgi/main.c \
	fcgi/outbox.c \
	fcgi/probe.c \
	fcgi/request.c \
	fcgi/server.c \
	fcgi/sse.c \
	fcgi/stats.c \
	fcgi/stream.c \
	fcgi/subs.c \
	fcgi/transport.c \
	fcgi/watch.c

OBJS = $(SRCS:fcgi/%.c=$(BUILD)/obj/%.o)

# Unit tests: one program per pure module, linking only what it needs.
UNIT_TESTS = sse request config buf subs transport jwt auth stats
UNIT_BINS = $(UNIT_TESTS:%=$(BUILD)/test_%)
JWT_LIBS := $(shell pkg-config --libs libcrypto jansson 2>/dev/null)
unit_deps_sse = sse buf
unit_deps_request = request auth jwt buf config
unit_libs_request = $(JWT_LIBS)
unit_deps_jwt = jwt
unit_libs_jwt = $(JWT_LIBS)
unit_deps_auth = auth request jwt buf config
unit_libs_auth = $(JWT_LIBS)
unit_deps_config = config
unit_deps_buf = buf
unit_deps_stats = stats buf
unit_deps_subs = subs
unit_deps_transport = transport buf

.PHONY: all clean test unit integration bench demo deps asan sanitize \
	install uninstall

all: $(BUILD)/sse-outbox

$(BUILD)/sse-outbox: $(OBJS)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $(OBJS) $(LIBS)

$(BUILD)/obj/%.o: fcgi/%.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/test_%: tests/unit/test_%.c $(OBJS)
	$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) -Ifcgi $(ALL_LDFLAGS) -o $@ $< \
		$(foreach m,$(unit_deps_$*),$(BUILD)/obj/$(m).o) \
		$(unit_libs_$*) $$(pkg-config --libs cmocka)

unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; $$t; done

integration: $(BUILD)/sse-outbox
	SSE_OUTBOX_BIN=$(abspath $(BUILD)/sse-outbox) \
		$(PYTHON) -m pytest -v -p no:cacheprovider tests/integration

test: deps
	$(MAKE) unit integration

asan sanitize: deps
	$(MAKE) BUILD=build-asan \
		CFLAGS="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all" \
		LDFLAGS="-fsanitize=address,undefined" unit integration

demo: deps all
	SSE_OUTBOX_BIN=$(abspath $(BUILD)/sse-outbox) $(PYTHON) demo/run_demo.py

$(BUILD)/sse_load: bench/sse_load.c
	@mkdir -p $(BUILD)
	$(CC) $(ALL_CPPFLAGS) -std=c11 $(WARN) $(CFLAGS) -o $@ $<

bench: deps all $(BUILD)/sse_load
	$(PYTHON) bench/run_bench.py

DEB_PACKAGES = build-essential pkg-config libfcgi-dev libsqlite3-dev \
	sqlite3 libcmocka-dev libssl-dev libjansson-dev lighttpd apache2 \
	libapache2-mod-fcgid nginx-light spawn-fcgi python3 python3-pytest \
	python3-jwt curl

deps:
	@missing=""; for p in $(DEB_PACKAGES); do \
		dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			--no-install-recommends $$missing; \
	fi

install: $(BUILD)/sse-outbox
	install -D -m 0755 $(BUILD)/sse-outbox $(DESTDIR)$(BINDIR)/sse-outbox

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/sse-outbox

clean:
	rm -rf build build-asan

-include $(OBJS:.o=.d)
