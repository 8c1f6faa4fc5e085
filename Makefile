# swapd: top-level build. Plain GNU make, every library through pkg-config.
#
#   make              daemon, tools, rack simulator, Cortex-M firmware image
#   make test         all of the above, then everything again with
#                     -fsanitize=address,undefined, and every test against it
#   make demo         a station on simulated hardware, in the foreground
#   make bench        benchmarks (bounded in time)
#   make fuzz         fuzz campaigns (bounded in time, FUZZ_SECONDS each)
#   make lint         daemon/ and drivers/ within the size rules (tools/sizes.sh)
#   make install      PREFIX=/usr/local DESTDIR=
#   make clean
#
# Each directory adds its programs and tests in its own module.mk; this file
# only holds what they share. On a fresh Debian 12 machine the first make
# installs the Debian packages it needs (tools/deps.sh says what and why).

VERSION := 0.1.0

ifndef SWAPD_DEPS_DONE
# Outer make: check the Debian packages once, then run the real build.
GOALS := $(if $(MAKECMDGOALS),$(MAKECMDGOALS),all)
DEP_GROUPS := build \
	$(if $(filter test bench fuzz,$(GOALS)),test) \
	$(if $(filter demo,$(GOALS)),demo) \
	$(if $(filter fuzz,$(GOALS)),fuzz)
.PHONY: $(GOALS) _inner
$(GOALS): _inner ; @:
_inner:
ifneq ($(GOALS),clean)
	@sh tools/deps.sh $(DEP_GROUPS)
endif
	@$(MAKE) --no-print-directory SWAPD_DEPS_DONE=1 $(MAKECMDGOALS)
else

PREFIX  ?= /usr/local
DESTDIR ?=
SAN     ?= 0
O       ?= $(if $(filter 1,$(SAN)),build/san,build)

CFLAGS  ?= -O2 -g
WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2
ifeq ($(SAN),1)
SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
endif
PKGS    := json-c sqlite3 libcrypto libmodbus libserialport libgpiod libmosquitto libqrencode libpng libmicrohttpd cmocka
ALL_CFLAGS = -std=gnu11 -D_GNU_SOURCE -DSWAPD_VERSION='"$(VERSION)"' -I. $(WARN) \
	$(CFLAGS) $(SANFLAGS) $(PKG_CFLAGS)
ALL_LDFLAGS = $(LDFLAGS) $(SANFLAGS)
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS))
# One variable per library, so each program links only what it uses.
LIB_JSON    := $(shell pkg-config --libs json-c)
LIB_SQLITE  := $(shell pkg-config --libs sqlite3)
LIB_CRYPTO  := $(shell pkg-config --libs libcrypto)
LIB_MODBUS  := $(shell pkg-config --libs libmodbus)
LIB_MOSQ    := $(shell pkg-config --libs libmosquitto)
LIB_SERIAL  := $(shell pkg-config --libs libserialport)
LIB_GPIOD   := $(shell pkg-config --libs libgpiod)
LIB_MQTT    := $(shell pkg-config --libs libmosquitto)
LIB_QR      := $(shell pkg-config --libs libqrencode)
LIB_MHD     := $(shell pkg-config --libs libmicrohttpd)
LIB_PNG     := $(shell pkg-config --libs libpng)
LIB_CMOCKA  := $(shell pkg-config --libs cmocka)

# Filled in by the module.mk files:
BINS        :=   # programs, built into $(O)/bin
SBIN_PROGS  :=   # installed into sbin (names)
BIN_PROGS   :=   # installed into bin (names)
UNIT_TESTS  :=   # cmocka test programs, run by `make test`
FIRMWARE    :=   # cross-built images (not affected by SAN)
BENCHES     :=   # phony targets run by `make bench`
FUZZERS     :=   # phony targets run by `make fuzz`
TEST_DEPS   :=   # anything else the tests need built

.DEFAULT_GOAL := all
# Prerequisites written $$(VAR) are expanded after every module.mk is read,
# so a fragment may link objects that a later fragment lists.
.SECONDEXPANSION:
include $(sort $(wildcard */module.mk))

.PHONY: all test check demo bench fuzz lint install clean
all: $(BINS) $(FIRMWARE)

$(O)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

# `make test`: the plain build must be warning-free too, then the sanitizer
# build runs every test.
test:
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory SAN=1 check

# Build everything the tests use in $(O) and run them (tests/run reports).
check: $(BINS) $(UNIT_TESTS) $(TEST_DEPS)
	@SWAPD_BUILD=$(O) SWAPD_FIRMWARE_DIR=build/fw tests/run $(UNIT_TESTS)

demo: $(BINS)
	@SWAPD_BUILD=$(O) tools/demo.sh

bench: $(BENCHES)
fuzz: $(FUZZERS)

lint:
	@sh tools/sizes.sh

install: $(BINS)
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/bin
	$(foreach p,$(SBIN_PROGS),install -m 0755 $(O)/bin/$(p) $(DESTDIR)$(PREFIX)/sbin/$(p);)
	$(foreach p,$(BIN_PROGS),install -m 0755 $(O)/bin/$(p) $(DESTDIR)$(PREFIX)/bin/$(p);)
	install -d $(DESTDIR)$(PREFIX)/lib/systemd/system $(DESTDIR)$(PREFIX)/lib/sysusers.d
	sed 's|@SBINDIR@|$(PREFIX)/sbin|g' systemd/swapd.service.in \
		> $(DESTDIR)$(PREFIX)/lib/systemd/system/swapd.service
	install -m 0644 systemd/swapd.sysusers $(DESTDIR)$(PREFIX)/lib/sysusers.d/swapd.conf
	install -d $(DESTDIR)$(PREFIX)/lib/udev/rules.d
	install -m 0644 systemd/60-swapd-gpio.rules $(DESTDIR)$(PREFIX)/lib/udev/rules.d/
	install -d $(DESTDIR)$(PREFIX)/share/swapd
	cp -R config $(wildcard models) $(DESTDIR)$(PREFIX)/share/swapd/
	# the kiosk page and its message catalogues (kiosk.assets)
	install -d $(DESTDIR)$(PREFIX)/share/swapd/kiosk/lang
	install -m 0644 $(wildcard daemon/kiosk/*.html daemon/kiosk/*.css daemon/kiosk/*.js) \
		$(DESTDIR)$(PREFIX)/share/swapd/kiosk/
	install -m 0644 daemon/kiosk/lang/*.json $(DESTDIR)$(PREFIX)/share/swapd/kiosk/lang/

clean:
	rm -rf build

-include $(shell find $(O) build/fw -name "*.d" 2>/dev/null)

endif
