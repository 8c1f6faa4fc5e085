# firmware/: the slot controller firmware, built twice from one source tree:
# for the host, where tools/rack-sim runs N of them on a simulated RS-485
# bus, and for the Cortex-M (LM3S6965) as build/fw/slotfw.elf and .bin.

# The target-independent core: Modbus slave, slot logic, the glue.
FW_CORE := mb_slave slot fw
FW_HOST_OBJS := $(FW_CORE:%=$(O)/obj/firmware/%.o) $(O)/obj/firmware/hal_host.o

UNIT_TESTS += $(O)/tests/test_fw_modbus $(O)/tests/test_fw_slot

$(O)/tests/test_fw_modbus: $(O)/obj/tests/unit/test_fw_modbus.o $(O)/obj/firmware/mb_slave.o
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIB_CMOCKA)
$(O)/tests/test_fw_slot: $(O)/obj/tests/unit/test_fw_slot.o $(FW_CORE:%=$(O)/obj/firmware/%.o)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIB_CMOCKA)

# tools/rack-sim: the host build of the firmware, N controllers on one pty.
RACKSIM := main rack battery profile scenario ctl
RACKSIM_OBJS := $(RACKSIM:%=$(O)/obj/tools/rack-sim/%.o) $(FW_HOST_OBJS)
BINS += $(O)/bin/rack-sim
BIN_PROGS += rack-sim

$(O)/bin/rack-sim: $(RACKSIM_OBJS)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIB_JSON) -lm
