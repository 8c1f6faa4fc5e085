# tools/: command-line tools around the daemon.

# --- station tokens (daemon/TOKENS.md). daemon/token.c is a library without
# daemon state, linked on its own into swaptoken, its unit test, fuzz target
# and bench.
TOKEN_OBJS := $(O)/obj/daemon/token.o
TOKEN_LIBS = $(LIB_CRYPTO) $(LIB_JSON)

UNIT_TESTS += $(O)/tests/test_token

$(O)/tests/test_token: $(O)/obj/tests/unit/test_token.o $(TOKEN_OBJS)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(TOKEN_LIBS) $(LIB_CMOCKA)

BINS += $(O)/bin/swaptoken
BIN_PROGS += swaptoken

$(O)/bin/swaptoken: $(O)/obj/tools/swaptoken.o $(TOKEN_OBJS)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(TOKEN_LIBS) $(LIB_QR) $(LIB_PNG)
