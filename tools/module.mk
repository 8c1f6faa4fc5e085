# tools/: command-line tools around the daemon.

# --- Station tokens (daemon/TOKENS.md). daemon/token.c and token_keys.c are
# a library without daemon state, linked on its own into swaptoken, its unit
# test, fuzz target and bench.
TOKEN_OBJS := $(O)/obj/daemon/token.o $(O)/obj/daemon/token_keys.o $(O)/obj/daemon/fileio.o \
	$(O)/obj/daemon/jsonfile.o
TOKEN_LIBS = $(LIB_CRYPTO) $(LIB_JSON)

# swaptoken: issue, verify and render tokens.
BINS += $(O)/bin/swaptoken
BIN_PROGS += swaptoken

$(O)/bin/swaptoken: $(O)/obj/tools/swaptoken.o $(O)/obj/daemon/qr.o $(TOKEN_OBJS)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(TOKEN_LIBS) $(LIB_QR) $(LIB_PNG)

UNIT_TESTS += $(O)/tests/test_token

$(O)/tests/test_token: $(O)/obj/tests/unit/test_token.o $(TOKEN_OBJS)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(TOKEN_LIBS) $(LIB_CMOCKA)

# `make fuzz`: the token parser under libFuzzer with ASan and UBSan, for
# FUZZ_SECONDS on a fresh copy of the seed corpus; any crash, sanitizer
# report or broken property fails the target (its input is left in
# build/fuzz/artifacts/). Built with clang whatever CC is.
FUZZ_SECONDS ?= 60
FUZZ_CC ?= clang
FUZZERS += fuzz-token
.PHONY: fuzz-token

build/fuzz/fuzz_token: tests/fuzz/fuzz_token.c daemon/token.c daemon/token_keys.c \
		daemon/token.h daemon/token_priv.h daemon/fileio.c daemon/jsonfile.c
	@mkdir -p $(@D)
	$(FUZZ_CC) -std=gnu11 -D_GNU_SOURCE -I. $(WARN) -g -O1 \
		-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all $(PKG_CFLAGS) \
		-o $@ tests/fuzz/fuzz_token.c daemon/token.c daemon/token_keys.c daemon/fileio.c \
		daemon/jsonfile.c $(TOKEN_LIBS)

fuzz-token: build/fuzz/fuzz_token
	rm -rf build/fuzz/corpus/token
	mkdir -p build/fuzz/corpus/token build/fuzz/artifacts
	cp tests/fuzz/corpus/token/* build/fuzz/corpus/token/
	build/fuzz/fuzz_token -max_total_time=$(FUZZ_SECONDS) -timeout=10 \
		-dict=tests/fuzz/token.dict -artifact_prefix=build/fuzz/artifacts/ \
		-print_final_stats=1 build/fuzz/corpus/token

# `make bench`: verifications per second as ratios against a bare HMAC and
# the parse alone, measured in the same process; BENCH_SECONDS per case.
BENCH_SECONDS ?= 1
BENCHES += bench-token
.PHONY: bench-token

$(O)/bench/swaptoken_bench: $(O)/obj/tools/swaptoken_bench.o $(TOKEN_OBJS)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(TOKEN_LIBS)

bench-token: $(O)/bench/swaptoken_bench
	$< $(BENCH_SECONDS)

# `make bench`: scan-to-unlock latency and the software time per swap, on the
# real swapd with rack-sim and the scanner on a pty (tools/bench_swap.py).
BENCHES += bench-swap
.PHONY: bench-swap
bench-swap: $(BINS)
	@SWAPD_BUILD=$(O) /usr/bin/python3 tools/bench_swap.py

# `make bench`: fleet sync's drain rate from a 100,000-event backlog beside
# mosquitto_pub, swapd's memory while draining, and the live path's latency
# (tools/bench_sync.py).
BENCHES += bench-sync
.PHONY: bench-sync
bench-sync: $(BINS)
	@SWAPD_BUILD=$(O) /usr/bin/python3 tools/bench_sync.py

# `make bench`: how fast the kiosk page follows a scan, against a bare
# server-sent-events client, and view requests over HTTP against the
# control socket (tools/bench_kiosk.py).
BENCHES += bench-kiosk
.PHONY: bench-kiosk
bench-kiosk: $(BINS)
	@SWAPD_BUILD=$(O) /usr/bin/python3 tools/bench_kiosk.py
