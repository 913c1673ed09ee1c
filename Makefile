# strata — a declarative reconciler for libvirt
#
#   make            build ./strata
#   make check      build and run every test (unit, golden, ASan+UBSan, TSan)
#   make deps       install the Debian packages the build and tests need
#   make bench      run the benchmarks and print their figures
#   make fuzz       run the spec and planner fuzzers (FUZZ_SECONDS=60 each)
#   make install    PREFIX=/usr/local DESTDIR= (the binary and its manual pages)

PREFIX  ?= /usr/local
BINDIR  ?= $(PREFIX)/bin
MANDIR  ?= $(PREFIX)/share/man
CC      ?= cc
PKG_CONFIG ?= pkg-config

SPEC_PKGS := glib-2.0 yaml-0.1
PKGS      := $(SPEC_PKGS) json-glib-1.0 libvirt libxml-2.0 sqlite3 libgit2 gnutls gpgme libarchive libvirt-qemu libxcrypt \
	libmicrohttpd libcurl libpq
TEST_PKGS := cmocka

# Debian packages behind the pkg-config names above, and what the tests use
# (clang for the fuzzer, git, tzdata for time zones such as Europe/Paris,
# cmark-gfm to render `plan -o markdown` as GitHub does; gnupg and
# openssh-client verify signed commits, and the tests make keys and signed
# commits with them).
DEB_PKGS := build-essential pkg-config libyaml-dev libglib2.0-dev \
	libjson-glib-dev libvirt-dev libgit2-dev libsqlite3-dev libxml2-dev libcrypt-dev \
	libcmocka-dev libgnutls28-dev libgpgme-dev libarchive-dev clang libclang-rt-14-dev git tzdata \
	cmark-gfm gnupg openssh-client libmicrohttpd-dev libcurl4-openssl-dev \
	groff-base man-db bsdextrautils prometheus prometheus-alertmanager curl \
	libpq-dev postgresql-15
# The end-to-end suite's real hypervisors (make e2e).
E2E_PKGS := libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients \
	qemu-system-x86 qemu-utils binutils util-linux procps xorriso
# The side-by-side benchmark's competitor (make bench-deps; not needed to test).
BENCH_PKGS := ansible python3-libvirt python3-lxml

WARN    := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	-Wformat=2 -Wno-format-nonliteral -Wpointer-arith -Wvla
CFLAGS  ?= -O2 -g
CFLAGS  += -std=gnu11 $(WARN) -D_GNU_SOURCE
PKG_CFLAGS = $(shell $(PKG_CONFIG) --cflags $(PKGS) $(TEST_PKGS) 2>/dev/null)
PKG_LIBS   = $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null)
SPEC_LIBS  = $(shell $(PKG_CONFIG) --libs $(SPEC_PKGS) 2>/dev/null)
TEST_LIBS  = $(shell $(PKG_CONFIG) --libs $(TEST_PKGS) 2>/dev/null)

B := build
SPEC_SRC := $(wildcard spec/*.c)
RECON_SRC := $(wildcard reconciler/*.c)
SPEC_OBJ := $(SPEC_SRC:%.c=$(B)/%.o)
RECON_OBJ := $(RECON_SRC:%.c=$(B)/%.o)
RECON_LIB_OBJ := $(filter-out $(B)/reconciler/main.o,$(RECON_OBJ))

UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)
TESTLIB_SRC := tests/unit/testutil.c tests/unit/recon.c tests/unit/http_sink.c
TESTLIB_OBJ := $(TESTLIB_SRC:tests/unit/%.c=$(B)/tests/lib/%.o)

# Every test again under AddressSanitizer + UndefinedBehaviorSanitizer + LeakSanitizer.
A := $(B)/asan
SAN := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
SAN_TESTS := test_shard test_telemetry test_waiter test_qcow2_snap test_spec_load test_spec_validate test_spec_corpus test_cli_validate \
	test_reconcile test_cli_reconcile test_daemon test_schedule test_plan_observed test_copy \
	test_observe_snapshot test_plan_markdown test_verify test_snapshot test_media test_seed

# Keep the sanitizer objects between runs (they are built by pattern rules).
.PRECIOUS: $(A)/%.o
.SECONDARY: $(TESTLIB_OBJ)

.PHONY: all check check-unit check-asan check-tsan check-man check-obs check-pg deps deps-check bench bench-deps fuzz install clean e2e

all: deps-check strata

deps-check:
	@$(PKG_CONFIG) --exists $(PKGS) $(TEST_PKGS) || { \
	  echo "strata: missing build dependencies: run 'make deps' (installs Debian packages)" >&2; \
	  for p in $(PKGS) $(TEST_PKGS); do $(PKG_CONFIG) --exists $$p || echo "  missing: $$p" >&2; done; \
	  exit 1; }

deps:
	@missing=""; for p in $(DEB_PKGS) $(E2E_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -z "$$missing" ]; then echo "all build dependencies are installed"; \
	else echo "installing:$$missing"; \
	  SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; fi

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -MMD -MP -c $< -o $@

strata: $(SPEC_OBJ) $(RECON_OBJ)
	$(CC) $(CFLAGS) -o $@ $^ $(PKG_LIBS) $(LDFLAGS)

$(B)/tests/test_%: tests/unit/test_%.c $(TESTLIB_OBJ) $(SPEC_OBJ) $(RECON_LIB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -DSRCDIR='"$(CURDIR)"' -MMD -MP -o $@ $(filter %.c %.o,$^) $(PKG_LIBS) $(TEST_LIBS)

$(B)/tests/lib/%.o: tests/unit/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -DSRCDIR='"$(CURDIR)"' -MMD -MP -c $< -o $@

check: deps-check strata check-unit check-asan check-tsan check-man check-obs check-pg

# The manual pages render without a warning and name every verb, flag and spec key.
check-man: strata
	tests/man/check.sh $(CURDIR)/strata $(CURDIR)/man

# Shard leases and fencing against a real PostgreSQL 15 started for the test.
check-pg: $(B)/tests/test_lease_pg $(A)/tests/test_lease_pg
	timeout -s KILL 600 tests/pg/with_postgres.sh $(B)/tests/test_lease_pg
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp:print_suppressions=0 \
	  timeout -s KILL 600 tests/pg/with_postgres.sh $(A)/tests/test_lease_pg

$(A)/tests/test_lease_pg: $(A)/tests/pg/test_lease_pg.o $(SPEC_SRC:%.c=$(A)/%.o) $(RECON_LIB_OBJ:$(B)/%=$(A)/%)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(SAN) -o $@ $^ $(PKG_LIBS) $(TEST_LIBS)

$(B)/tests/test_lease_pg: tests/pg/test_lease_pg.c $(SPEC_OBJ) $(RECON_LIB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -MMD -MP -o $@ $(filter %.c %.o,$^) $(PKG_LIBS) $(TEST_LIBS)

# The real Prometheus, promtool and Alertmanager against a daemon on the test driver.
check-obs: strata
	STRATA=$(CURDIR)/strata tests/obs/check.sh

check-unit: strata $(UNIT_BIN)
	@fail=0; for t in $(UNIT_BIN); do \
	  echo "== $$t"; timeout -s KILL 900 $$t || { echo "FAILED (or timed out): $$t"; fail=1; }; \
	done; exit $$fail

# Spec tests again under AddressSanitizer + UndefinedBehaviorSanitizer.
$(A)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -O1 $(SAN) $(PKG_CFLAGS) -DSRCDIR='"$(CURDIR)"' -MMD -MP -c $< -o $@

$(A)/tests/%: $(A)/tests/unit/%.o $(TESTLIB_SRC:%.c=$(A)/%.o) $(SPEC_SRC:%.c=$(A)/%.o) \
		$(RECON_LIB_OBJ:$(B)/%=$(A)/%)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(SAN) -o $@ $^ $(PKG_LIBS) $(TEST_LIBS)

$(A)/strata: $(SPEC_SRC:%.c=$(A)/%.o) $(RECON_OBJ:$(B)/%=$(A)/%)
	$(CC) $(CFLAGS) $(SAN) -o $@ $^ $(PKG_LIBS)

# The executor and daemon tests again under ThreadSanitizer: the loop and
# the worker pool share plans, connections and caches.
T := $(B)/tsan
TSAN := -fsanitize=thread -fno-omit-frame-pointer
TSAN_TESTS := test_reconcile test_daemon test_waiter test_telemetry
.PRECIOUS: $(T)/%.o

$(T)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -O1 $(TSAN) $(PKG_CFLAGS) -DSRCDIR='"$(CURDIR)"' -MMD -MP -c $< -o $@

$(T)/tests/%: $(T)/tests/unit/%.o $(TESTLIB_SRC:%.c=$(T)/%.o) $(SPEC_SRC:%.c=$(T)/%.o) \
		$(RECON_LIB_OBJ:$(B)/%=$(T)/%)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(TSAN) -o $@ $^ $(PKG_LIBS) $(TEST_LIBS)

check-tsan: $(TSAN_TESTS:%=$(T)/tests/%)
	@fail=0; for t in $(TSAN_TESTS:%=$(T)/tests/%); do \
	  echo "== $$t (tsan)"; \
	  G_SLICE=always-malloc \
	  TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1:suppressions=$(CURDIR)/tests/tsan.supp \
	  timeout -s KILL 900 $$t || { echo "FAILED (or timed out): $$t"; fail=1; }; \
	done; exit $$fail

check-asan: $(SAN_TESTS:%=$(A)/tests/%) $(A)/strata
	@fail=0; for t in $(SAN_TESTS:%=$(A)/tests/%); do \
	  echo "== $$t (asan+ubsan)"; \
	  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:fast_unwind_on_malloc=0 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp:print_suppressions=0 \
	  STRATA_BIN=$(CURDIR)/$(A)/strata timeout -s KILL 900 $$t || { echo "FAILED (or timed out): $$t"; fail=1; }; \
	done; exit $$fail

bench: strata $(B)/bench/bench_validate $(B)/bench/bench_reconcile $(B)/bench/bench_place \
		$(B)/bench/bench_watch $(B)/bench/bench_teardown $(B)/bench/bench_metrics
	$(B)/bench/bench_metrics
	$(B)/bench/bench_validate
	$(B)/bench/bench_reconcile
	$(B)/bench/bench_place
	$(B)/bench/bench_watch
	$(B)/bench/bench_teardown
	STRATA=$(CURDIR)/strata tests/bench/bench_e2e.sh
	STRATA=$(CURDIR)/strata tests/bench/bench_copy.sh

bench-deps:
	@SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $(BENCH_PKGS)

$(B)/bench/bench_place: tests/bench/bench_place.c $(SPEC_OBJ) $(RECON_LIB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -o $@ $^ $(PKG_LIBS)

$(B)/bench/bench_metrics: tests/bench/bench_metrics.c $(SPEC_OBJ) $(RECON_LIB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -o $@ $^ $(PKG_LIBS)

$(B)/bench/bench_watch: tests/bench/bench_watch.c tests/bench/benchgen.c $(SPEC_OBJ) $(RECON_LIB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -DSRCDIR='"$(CURDIR)"' -o $@ $^ $(PKG_LIBS)

$(B)/bench/bench_reconcile: tests/bench/bench_reconcile.c tests/bench/benchgen.c $(SPEC_OBJ) $(RECON_LIB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -o $@ $^ $(PKG_LIBS)

$(B)/bench/bench_teardown: tests/bench/bench_teardown.c tests/bench/benchgen.c $(SPEC_OBJ) $(RECON_LIB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -o $@ $^ $(PKG_LIBS)

$(B)/bench/bench_validate: tests/bench/bench_validate.c $(SPEC_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -o $@ $^ $(SPEC_LIBS)

# Real libvirtd + QEMU hosts (root; see tests/e2e/README.md).  E2E=PATTERN
# picks scenarios.
e2e: strata
	STRATA=$(CURDIR)/strata tests/e2e/run.sh "$(E2E)"

FUZZ_SECONDS ?= 60
FUZZ := -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
fuzz: $(B)/fuzz/fuzz_spec $(B)/fuzz/fuzz_plan
	@mkdir -p $(B)/fuzz/corpus $(B)/fuzz/corpus_plan
	$(B)/fuzz/fuzz_spec -max_total_time=$(FUZZ_SECONDS) -max_len=65536 \
	  -timeout=10 -rss_limit_mb=2048 -artifact_prefix=$(B)/fuzz/ \
	  $(B)/fuzz/corpus tests/data/spec/bad examples/webstack examples/minimal
	@# No per-input leak check for the planner fuzzer: observer threads are
	@# detached (a hung host must not hold a pass) and end at their own
	@# moment; a check that runs while one tears down its thread-local
	@# storage (GLib's, libxml2's) reports it as leaked, about once in
	@# 5 minutes.  The planner's leaks are checked by the sanitizer half of
	@# `make check`, at exit, after every thread has ended.
	FUZZ_PLAN_STATS=1 $(B)/fuzz/fuzz_plan -max_total_time=$(FUZZ_SECONDS) -max_len=512 \
	  -timeout=10 -rss_limit_mb=2048 -detect_leaks=0 -artifact_prefix=$(B)/fuzz/plan- \
	  $(B)/fuzz/corpus_plan tests/data/fuzz_plan

$(B)/fuzz/fuzz_spec: tests/fuzz/fuzz_spec.c $(SPEC_SRC)
	@mkdir -p $(dir $@)
	clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE \
	  $(shell $(PKG_CONFIG) --cflags $(SPEC_PKGS)) -o $@ $^ $(SPEC_LIBS)

# The planner fuzzer links the whole reconciler (not main.c) and libvirt.
$(B)/fuzz/fuzz_plan: tests/fuzz/fuzz_plan.c $(SPEC_SRC) $(filter-out reconciler/main.c,$(RECON_SRC))
	@mkdir -p $(dir $@)
	clang -g -O1 $(FUZZ) -D_GNU_SOURCE -std=gnu11 $(PKG_CFLAGS) -o $@ $^ $(PKG_LIBS)

install: strata
	install -d $(DESTDIR)$(BINDIR)
	install -m 0755 strata $(DESTDIR)$(BINDIR)/strata
	install -d $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5
	install -m 0644 man/strata.1 $(DESTDIR)$(MANDIR)/man1/strata.1
	install -m 0644 man/strata-spec.5 $(DESTDIR)$(MANDIR)/man5/strata-spec.5

clean:
	rm -rf $(B) strata

-include $(shell find $(B) -name '*.d' 2>/dev/null)
