# tabi — build, test, image, demo.  `make help` lists the targets.
CC      ?= gcc
CLANG   ?= clang
CFLAGS_COMMON = -std=gnu11 -O2 -g -Wall -Wextra -Werror -Wno-format-truncation -D_GNU_SOURCE -Ivmm -Isnapshot
LDLIBS  = -lzstd -lxxhash -lpthread
BUILD   = build

# Core sources: everything but the entry point, shared by tabi, the unit
# tests and the fuzzers.
CORE_SRCS = $(filter-out vmm/main.c,$(wildcard vmm/*.c)) $(wildcard snapshot/*.c)
HDRS      = $(wildcard vmm/*.h snapshot/*.h)

REL_OBJS  = $(patsubst %.c,$(BUILD)/rel/%.o,$(CORE_SRCS))
SAN_OBJS  = $(patsubst %.c,$(BUILD)/san/%.o,$(CORE_SRCS))
FUZZ_OBJS = $(patsubst %.c,$(BUILD)/fuzz/%.o,$(CORE_SRCS))

UNIT_SRCS = $(wildcard tests/unit/test_*.c)
UNIT_BINS = $(patsubst tests/unit/%.c,$(BUILD)/unit/%,$(UNIT_SRCS))
FUZZ_SRCS = $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS = $(patsubst tests/fuzz/%.c,$(BUILD)/fuzzbin/%,$(FUZZ_SRCS))
FUZZ_SECONDS ?= 30

SAN = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

.PHONY: all tabi check unit fuzz test test-run system bench demo image deps clean help
all: tabi

tabi: $(BUILD)/tabi

$(BUILD)/tabi: $(BUILD)/rel/vmm/main.o $(BUILD)/rel/libcore.a
	$(CC) -static -o $@ $^ $(LDLIBS)

$(BUILD)/rel/libcore.a: $(REL_OBJS)
	@rm -f $@; ar rcs $@ $^
$(BUILD)/san/libcore.a: $(SAN_OBJS)
	@rm -f $@; ar rcs $@ $^
$(BUILD)/fuzz/libcore.a: $(FUZZ_OBJS)
	@rm -f $@; ar rcs $@ $^

$(BUILD)/rel/%.o: %.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_COMMON) -c -o $@ $<
$(BUILD)/san/%.o: %.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_COMMON) $(SAN) -O1 -c -o $@ $<
$(BUILD)/fuzz/%.o: %.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CLANG) $(CFLAGS_COMMON) -Wno-unknown-warning-option -fsanitize=fuzzer-no-link,address,undefined -c -o $@ $<

$(BUILD)/unit/%: tests/unit/%.c tests/unit/unit.h $(BUILD)/san/libcore.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_COMMON) -Itests/unit $(SAN) -O1 -o $@ $< $(BUILD)/san/libcore.a $(LDLIBS)

$(BUILD)/fuzzbin/%: tests/fuzz/%.c $(BUILD)/fuzz/libcore.a
	@mkdir -p $(dir $@)
	$(CLANG) $(CFLAGS_COMMON) -Wno-unknown-warning-option -fsanitize=fuzzer,address,undefined -o $@ $< $(BUILD)/fuzz/libcore.a $(LDLIBS)

# Fast loop: unit tests under ASan/UBSan, no QEMU.
check: unit
unit: $(UNIT_BINS)
	@tests/unit/run.sh $(UNIT_BINS)

fuzz: $(FUZZ_BINS)
	@tests/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_BINS)

# Everything: unit tests, bounded fuzzing, whole-system tests in nested KVM.
# Installs what is missing first, so it works on a fresh Debian 12.
test: deps
	@$(MAKE) --no-print-directory test-run
test-run: $(BUILD)/tabi $(UNIT_BINS) $(FUZZ_BINS)
	@tests/run-all.sh

system: $(BUILD)/tabi
	@tests/system/run.sh

bench: $(BUILD)/tabi
	@tests/system/bench.sh
	@if [ -x tests/stick/bench.sh ]; then tests/stick/bench.sh; fi

demo: deps
	@$(MAKE) --no-print-directory $(BUILD)/tabi
	@if [ -x tests/stick/demo.sh ]; then tests/stick/demo.sh; else tests/system/demo.sh; fi

# The stick image with the embedded demo guest (build/tabi.img).
image: deps
	@$(MAKE) --no-print-directory $(BUILD)/tabi
	@./mkusb.sh --image $(BUILD)/tabi.img

deps:
	@scripts/install-deps.sh

clean:
	rm -rf $(BUILD)

help:
	@echo "make demo   install what is missing, build, run the journey in QEMU"
	@echo "make test   unit tests, fuzzing, whole-system tests (nested KVM)"
	@echo "make check  unit tests only (fast)"
	@echo "make bench  boot/freeze/resume figures as ratios to QEMU"
	@echo "make image  stick image with the demo guest: build/tabi.img"
