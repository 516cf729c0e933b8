# qemu-sculpt: the two commands of the README, and the targets behind them.
#
#   make demo    build everything, boot the test guest with a sculpt object
#   make check   build everything and run every test
#   make bench   build everything and run the end-to-end benchmark (root)
#
# Everything is built under build/ (git-ignored); downloads and ccache live
# under $(SCULPT_CACHE), outside the repository.

SCULPT_CACHE ?= /var/cache/qemu-sculpt
export SCULPT_CACHE
export CCACHE_DIR ?= $(SCULPT_CACHE)/ccache
# Clones in other folders (CI) share the cache: hash paths relative to here.
export CCACHE_BASEDIR ?= $(CURDIR)
export CCACHE_NOHASHDIR ?= 1

BUILD := $(CURDIR)/build
QEMU := $(BUILD)/qemu/qemu-system-x86_64
NINJA_TARGETS := qemu-system-x86_64 tests/qtest/sculpt-test \
	tests/qtest/qmp-cmd-test tests/qtest/test-hmp

.PHONY: all build configure core check check-core demo bench guest fuzz-core clean

all: build

# configure is cheap when nothing changed: it installs only missing
# packages, re-extracts only a new tarball, re-patches only a new series
# and links new overlay files.
configure:
	./configure

build: configure core
	ninja -C $(BUILD)/qemu $(NINJA_TARGETS)

core:
	@if [ ! -f $(BUILD)/core/build.ninja ]; then \
	    meson setup $(BUILD)/core subprojects/sculpt-core; fi
	ninja -C $(BUILD)/core

guest: configure
	guest/build-guest $(BUILD)/guest

check: build guest
	build-aux/check

check-core: core
	meson test -C $(BUILD)/core --print-errorlogs

demo: build guest
	build-aux/demo

# Every workload, side by side: unconstrained, kernel reclaim under the
# same memory limit, sculpt, sculpt with the recency policy (as root;
# bench/e2e/README.md).  BENCH_ARGS replaces the options, e.g.
# BENCH_ARGS="--workloads phases-cycle --repeat 3 --out /tmp/r.md".
BENCH_ARGS ?= --interval 250 --timeout 400 --out bench/e2e/RESULTS.md
bench: build guest
	bench/e2e/run.py $(BENCH_ARGS)

fuzz-core:
	sh subprojects/sculpt-core/fuzz/run-fuzz.sh $(or $(FUZZ_SECONDS),60)

clean:
	rm -rf $(BUILD)
