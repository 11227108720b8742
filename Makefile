# Capstone - certificate and secret management for NFV and cloud-native telecom.
#
#   make            build capstoned, capstone and the test programs into $(BUILD)
#   make run        install missing packages, build, start a development daemon
#   make check      install missing packages, build, run every test tier
#   make asan       the same build with AddressSanitizer and UBSan ($(BUILD)-asan)
#   make fuzz       build the libFuzzer targets and run each for FUZZ_SECONDS
#   make bench      run the benchmarks in tests/bench/
#   make install    install binaries, example configuration and man pages

PREFIX	?= /usr/local
DESTDIR	?=
BUILD	?= build
PORT	?= 8443
DEV_DIR	?= var/dev
FUZZ_SECONDS ?= 60
CC	?= cc

PKGS	:= p11-kit-1 libsodium lmdb libevent libevent_openssl libevent_pthreads \
	   jansson inih libzip libssl libcrypto

PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)

OPT	?= -O2
CFLAGS	?= $(OPT) -g
HARDEN	:= -D_FORTIFY_SOURCE=2 -fstack-protector-strong -fPIE
WARN	:= -Wall -Wextra -Werror -Wshadow -Wpointer-arith -Wstrict-prototypes \
	   -Wmissing-prototypes -Wformat=2
ALL_CFLAGS = -std=c11 -D_GNU_SOURCE -I. $(WARN) $(HARDEN) $(CFLAGS) \
	     $(EXTRA_CFLAGS) $(PKG_CFLAGS) -MMD -MP
ALL_LDFLAGS = -pie -Wl,-z,relro,-z,now $(LDFLAGS) $(EXTRA_LDFLAGS)
LIBS	= $(PKG_LIBS) -lpthread -ldl

LIB_SRCS    := $(wildcard common/*.c hsm/*.c crypto/*.c store/*.c ca/*.c nfv/*.c api/*.c) \
	       $(filter-out daemon/capstoned.c,$(wildcard daemon/*.c))
DAEMON_SRCS := daemon/capstoned.c
CLI_SRCS    := $(wildcard tools/capstone/*.c)
UNIT_SRCS   := $(wildcard tests/unit/test_*.c)
UNIT_HELPER := $(filter-out $(UNIT_SRCS),$(wildcard tests/unit/*.c))
BENCH_SRCS  := $(wildcard tests/bench/*.c)
FUZZ_SRCS   := $(wildcard tests/fuzz/fuzz_*.c)

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))

# Quiet by default; V=1 shows the full commands.
ifeq ($(V),1)
Q :=
say = @true
else
Q := @
say = @printf '  %-4s %s\n' $(1) $(2)
endif

LIB	:= $(BUILD)/libcapstone.a
UNIT_BINS  := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRCS))
BENCH_BINS := $(patsubst tests/bench/%.c,$(BUILD)/bench/%,$(BENCH_SRCS))

.PHONY: all deps run check asan fuzz bench install clean
# Objects reached through pattern rules are kept, not deleted as intermediates.
.SECONDARY:
all: $(BUILD)/capstoned $(BUILD)/capstone $(UNIT_BINS) $(BENCH_BINS)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(call say,CC,$@)
	$(Q)$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(LIB): $(call obj,$(LIB_SRCS))
	@mkdir -p $(dir $@)
	$(call say,AR,$@)
	$(Q)rm -f $@
	$(Q)ar rcs $@ $^

$(BUILD)/capstoned: $(call obj,$(DAEMON_SRCS)) $(LIB)
	$(call say,LD,$@)
	$(Q)$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/capstone: $(call obj,$(CLI_SRCS)) $(LIB)
	$(call say,LD,$@)
	$(Q)$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(call obj,$(UNIT_HELPER)) $(LIB)
	@mkdir -p $(dir $@)
	$(call say,LD,$@)
	$(Q)$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/bench/%: $(BUILD)/obj/tests/bench/%.o $(LIB)
	@mkdir -p $(dir $@)
	$(call say,LD,$@)
	$(Q)$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

# Installs the Debian packages the build, the tests and the dev setup need.
deps:
	@sh tools/deps.sh

run: deps
	@$(MAKE) --no-print-directory all
	@sh tools/dev-setup.sh "$(BUILD)" "$(DEV_DIR)" "$(PORT)"

check: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory BUILD=$(BUILD)-asan OPT=-O1 \
	    EXTRA_CFLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
	    EXTRA_LDFLAGS="-fsanitize=address,undefined" all
	@$(MAKE) --no-print-directory fuzz-build
	@sh tests/run.sh "$(BUILD)" "$(BUILD)-asan" "$(BUILD)-fuzz"

asan:
	@$(MAKE) --no-print-directory BUILD=$(BUILD)-asan OPT=-O1 \
	    EXTRA_CFLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
	    EXTRA_LDFLAGS="-fsanitize=address,undefined" all

# libFuzzer targets, built with clang in $(BUILD)-fuzz.
.PHONY: fuzz-build
fuzz-build:
	@$(MAKE) --no-print-directory BUILD=$(BUILD)-fuzz CC=clang OPT=-O1 \
	    WARN="-Wall -Wextra -Werror" \
	    EXTRA_CFLAGS="-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer" \
	    $(BUILD)-fuzz/libcapstone.a \
	    $(patsubst tests/fuzz/%.c,$(BUILD)-fuzz/fuzz/%,$(FUZZ_SRCS))

$(BUILD)/fuzz/%: $(BUILD)/obj/tests/fuzz/%.o $(LIB)
	@mkdir -p $(dir $@)
	$(call say,LD,$@)
	$(Q)$(CC) $(ALL_CFLAGS) -fsanitize=fuzzer,address,undefined -o $@ $^ $(LIBS)

fuzz: deps fuzz-build
	@sh tests/fuzz/run.sh "$(BUILD)-fuzz" "$(FUZZ_SECONDS)"

bench: deps
	@$(MAKE) --no-print-directory all
	@sh tests/bench/run.sh "$(BUILD)"

install: all
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/bin \
	    $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/man/man8 \
	    $(DESTDIR)$(PREFIX)/share/capstone
	install -m 0755 $(BUILD)/capstoned $(DESTDIR)$(PREFIX)/sbin/capstoned
	install -m 0755 $(BUILD)/capstone $(DESTDIR)$(PREFIX)/bin/capstone
	install -m 0644 man/capstone.1 $(DESTDIR)$(PREFIX)/share/man/man1/capstone.1
	install -m 0644 man/capstoned.8 $(DESTDIR)$(PREFIX)/share/man/man8/capstoned.8
	install -m 0644 conf/capstoned.conf conf/capstoned.service \
	    $(DESTDIR)$(PREFIX)/share/capstone/

clean:
	rm -rf $(BUILD) $(BUILD)-asan $(BUILD)-fuzz

-include $(shell find $(BUILD) $(BUILD)-asan $(BUILD)-fuzz -name '*.d' 2>/dev/null)
