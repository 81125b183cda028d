# nodeseal: build, tests, fuzzing and the demo.
#
#   make                 build/nodeseal
#   make test            everything CI runs (installs what it needs; root)
#   make unit            unit tests (prove)
#   make SAN=1 unit      the same under ASan+UBSan, in build-asan/
#   make layers          src/ includes only downwards (docs/STYLE.md)
#   make analyse         cppcheck over the C sources
#   make install         build/nodeseal, its man page, systemd unit and example config
#                        under PREFIX (DESTDIR too)
#   make deb             build/nodeseal_VERSION_ARCH.deb (make install PREFIX=/usr + dpkg-deb)
#   make fuzz-run        each fuzz target for FUZZ_SECONDS (clang, libFuzzer)
#   make demo            three encrypted nodes in network namespaces (root)
#   make bench-tools     the in-memory benchmarks (build/bench/)
#   make bench           the benchmark suite against other transports (root)

SHELL    := /bin/bash
CC       ?= cc
SAN      ?=
BUILD    ?= $(if $(SAN),build-asan,build)
FUZZ_SECONDS ?= 60
PREFIX   ?= /usr/local
# Under /usr, the Debian places; elsewhere, under PREFIX.
SYSCONFDIR ?= $(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc)
UNITDIR  ?= $(if $(filter /usr,$(PREFIX)),/lib/systemd/system,$(PREFIX)/lib/systemd/system)
VERSION  := $(shell sed -n 's/^\#define NS_VERSION "\(.*\)"/\1/p' src/util/version.h)
DEB_ARCH ?= $(shell dpkg --print-architecture 2>/dev/null || echo amd64)
DEB_MAINTAINER ?= nodeseal maintainers <nodeseal@localhost>
DEB      = $(BUILD)/nodeseal_$(VERSION)_$(DEB_ARCH).deb

WARN     = -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
           -Wformat=2 -Wvla -Wpointer-arith -Wcast-qual -Wnull-dereference
CFLAGS   ?= -O2 -g
CFLAGS   += -std=c11 -D_GNU_SOURCE $(WARN) -fstack-protector-strong -fno-common
CPPFLAGS += -MMD -MP
LDLIBS   = -lcrypto -lpthread -lnetfilter_queue -lmnl -lcjson
ifeq ($(SAN),)
CPPFLAGS += -D_FORTIFY_SOURCE=2
else
CFLAGS   += -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
LDFLAGS  += -fsanitize=address,undefined
endif

LIB_SRC  = $(wildcard src/event/*.c src/crypto/*.c src/noise/*.c src/proto/*.c src/keys/*.c src/peers/*.c src/util/*.c src/chain/*.c \
                     src/packet/*.c src/config/*.c src/daemon/*.c src/relay/*.c src/intercept/*.c)
LIB_HDR  = $(wildcard src/*/*.h)
CLI_SRC  = $(wildcard src/cli/*.c)
TEST_SRC = $(wildcard tests/unit/test_*.c)
FUZZ_SRC = $(wildcard tests/fuzz/fuzz_*.c)

LIB_OBJ  = $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ  = $(CLI_SRC:%.c=$(BUILD)/%.o)
TESTS    = $(TEST_SRC:tests/unit/%.c=$(BUILD)/tests/%)
FUZZERS  = $(FUZZ_SRC:tests/fuzz/%.c=build-fuzz/%)
# The in-memory benchmarks link the library; bench/run.sh builds its own tools.
BENCH_TOOLS = $(BUILD)/bench/record_speed $(BUILD)/bench/handshake_speed $(BUILD)/bench/flow_speed \
              $(BUILD)/bench/blind_cut

# Keep test objects: they are not throwaway intermediates.
.SECONDARY:

.PHONY: all install deb unit test layers analyse fuzz fuzz-run integration integration-asan demo bench \
        bench-tools deps clean
all: $(BUILD)/nodeseal

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/libnodeseal.a: $(LIB_OBJ)
	$(AR) rcs $@ $^

$(BUILD)/nodeseal: $(CLI_OBJ) $(BUILD)/libnodeseal.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(BUILD)/libnodeseal.a
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(TEST_LIBS_$*)

# Extra libraries of the unit tests that need them (the Noise vectors are JSON).
TEST_LIBS_test_noise_vectors = -lcjson

$(BUILD)/bench/%: $(BUILD)/bench/%.o $(BUILD)/libnodeseal.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

bench-tools: $(BENCH_TOOLS)

# The example config is installed only where there is none: it is the
# operator's (mode 0600: it may hold the network key).
install: $(BUILD)/nodeseal
	install -D -m 0755 $(BUILD)/nodeseal $(DESTDIR)$(PREFIX)/bin/nodeseal
	install -D -m 0644 docs/nodeseal.8 $(DESTDIR)$(PREFIX)/share/man/man8/nodeseal.8
	install -d -m 0755 $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSCONFDIR)/nodeseal
	sed -e 's|@BINDIR@|$(PREFIX)/bin|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
	    dist/nodeseal.service.in > $(DESTDIR)$(UNITDIR)/nodeseal.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/nodeseal.service
	[ -e $(DESTDIR)$(SYSCONFDIR)/nodeseal/nodeseal.conf ] || \
	    install -m 0600 dist/nodeseal.conf $(DESTDIR)$(SYSCONFDIR)/nodeseal/nodeseal.conf

# The package is what "make install PREFIX=/usr" puts in a fresh root, with
# the man page compressed as Debian keeps them, and dist/debian's control
# files.  --root-owner-group: every file root's, without fakeroot.
# Never of the ASan build: the package would install a sanitised binary.
ifneq ($(SAN),)
deb:
	@echo "deb: not with SAN=$(SAN): the package would hold the ASan+UBSan binary; run make deb" >&2
	@exit 1
else
deb: $(DEB)
endif
$(DEB): $(BUILD)/nodeseal docs/nodeseal.8 $(wildcard dist/* dist/debian/*)
	@test -z "$(SAN)" || { echo "deb: not with SAN=$(SAN)" >&2; exit 1; }
	@test -n "$(VERSION)" || { echo "deb: no NS_VERSION found in src/util/version.h" >&2; exit 1; }
	rm -rf $(BUILD)/deb-root
	$(MAKE) --no-print-directory install BUILD=$(BUILD) DESTDIR=$(CURDIR)/$(BUILD)/deb-root PREFIX=/usr
	gzip -9n $(BUILD)/deb-root/usr/share/man/man8/nodeseal.8
	install -d -m 0755 $(BUILD)/deb-root/DEBIAN
	sed -e 's|@VERSION@|$(VERSION)|' -e 's|@ARCH@|$(DEB_ARCH)|' \
	    -e "s|@SIZE@|$$(du -sk $(BUILD)/deb-root | cut -f1)|" \
	    -e 's|^Maintainer: .*|Maintainer: $(DEB_MAINTAINER)|' \
	    dist/debian/control.in > $(BUILD)/deb-root/DEBIAN/control
	install -m 0644 dist/debian/conffiles $(BUILD)/deb-root/DEBIAN/conffiles
	install -m 0755 dist/debian/postinst dist/debian/prerm dist/debian/postrm \
	    $(BUILD)/deb-root/DEBIAN/
	dpkg-deb --root-owner-group -Zxz --build $(BUILD)/deb-root $@

# The bench tools are built (not run) so that they keep compiling.
unit: $(TESTS) $(BUILD)/nodeseal $(BENCH_TOOLS)
	set -o pipefail; NS_BUILD=$(BUILD) prove -v -e '' $(TESTS) 2>&1 | grep -v '^ok '

# Fuzz targets: clang with libFuzzer, ASan and UBSan; the library is compiled
# into each target so that coverage reaches it.  With no object files there
# is no -MMD: every header of src/ is a prerequisite instead.
FUZZ_CFLAGS = -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined \
              -fno-sanitize-recover=all
build-fuzz/%: tests/fuzz/%.c $(LIB_SRC) $(LIB_HDR) $(wildcard tests/unit/*.h)
	@mkdir -p $(@D)
	clang $(FUZZ_CFLAGS) -o $@ $(filter %.c,$^) $(LDLIBS)

fuzz: $(FUZZERS)

fuzz-run: fuzz
	@for f in $(FUZZERS); do \
	  name=$$(basename $$f); mkdir -p build-fuzz/corpus-$$name; \
	  echo "fuzz: $$name for $(FUZZ_SECONDS)s"; \
	  $$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	      build-fuzz/corpus-$$name tests/fuzz/corpus/$$name 2>build-fuzz/$$name.log \
	    || { tail -50 build-fuzz/$$name.log; exit 1; }; \
	  grep -E 'stat::number_of_executed_units|stat::peak_rss' build-fuzz/$$name.log; \
	done

deps:
	scripts/install-deps.sh

# Each directory of src/ includes only itself and the layers below it.
layers:
	scripts/check-layers.sh

# The flags are explicit so that every run judges the same: each finding
# is fixed, or suppressed where it is with the reason (cppcheck-suppress).
CPPCHECK_FLAGS = --std=c11 --enable=warning,portability,performance --error-exitcode=1 \
                 --inline-suppr -q -D_GNU_SOURCE
analyse:
	cppcheck $(CPPCHECK_FLAGS) src tests/unit tests/fuzz tests/tools bench

# The whole suite, as CI runs it.  Each fuzz target gets CI_FUZZ_SECONDS
# there, over the kept corpora (the long runs are scripts/fuzz-long.sh).
CI_FUZZ_SECONDS ?= 30
test: deps
	$(MAKE) layers
	$(MAKE) analyse
	$(MAKE) unit
	$(MAKE) SAN=1 unit
	$(MAKE) fuzz-run FUZZ_SECONDS=$(CI_FUZZ_SECONDS)
	$(MAKE) integration
	$(MAKE) integration-asan

demo: deps
	$(MAKE) all
	scripts/demo.sh

integration: $(BUILD)/nodeseal
	NS_BUILD=$(BUILD) pytest-3 -v -p no:cacheprovider tests/integration

# The whole integration suite against the ASan+UBSan daemon.  The sanitizers
# write to log files rather than to a stderr a test may not read: any log is
# a failure.  The resilience tests scale their CPU bounds to the sanitizers
# (cpu_factor) and report RSS without bounding it; the valgrind test skips.
SANLOG = $(CURDIR)/build-asan/sanitizer
# The container and package tests build their own nodeseal (from the tree,
# inside an image or a package), not build-asan's: the plain pass runs them.
ASAN_SUITES ?= tests/integration --ignore=tests/integration/test_container.py \
               --ignore=tests/integration/test_package.py
integration-asan:
	$(MAKE) SAN=1 build-asan/nodeseal
	rm -f $(SANLOG).*
	ASAN_OPTIONS=log_path=$(SANLOG):detect_leaks=1 \
	UBSAN_OPTIONS=log_path=$(SANLOG):print_stacktrace=1 \
	  NS_BUILD=build-asan pytest-3 -v -p no:cacheprovider $(ASAN_SUITES)
	@if ls $(SANLOG).* >/dev/null 2>&1; then \
	  echo "sanitizer reports:"; cat $(SANLOG).*; exit 1; \
	else echo "sanitizers: no report from any nodeseal process"; fi

clean:
	rm -rf build build-asan build-fuzz

-include $(shell find build build-asan -name '*.d' 2>/dev/null)
bench: all ; BENCH_NODESEAL=$(CURDIR)/$(BUILD)/nodeseal bench/run.sh
