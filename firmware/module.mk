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
RACKSIM := main rack rack_args rack_verbs rack_rider battery profile scenario ctl
# The register profile parser is swapd's own (drivers/rack_profile.c).
RACKSIM_OBJS := $(RACKSIM:%=$(O)/obj/tools/rack-sim/%.o) $(FW_HOST_OBJS) \
	$(O)/obj/drivers/rack_profile.o $(O)/obj/daemon/config_errors.o \
	$(O)/obj/daemon/fileio.o $(O)/obj/daemon/jsonfile.o
BINS += $(O)/bin/rack-sim
BIN_PROGS += rack-sim

$(O)/bin/rack-sim: $(RACKSIM_OBJS)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIB_JSON) -lm

# The Cortex-M image: the same core plus the LM3S6965 HAL. It does not
# depend on SAN or $(O): it is the image one would flash, and the qemu
# tests boot exactly it.
FW_CC := arm-none-eabi-gcc
FW_CFLAGS := -std=gnu11 -mcpu=cortex-m3 -mthumb -Os -g -ffunction-sections -fdata-sections \
	-I. $(WARN)
FW_LDFLAGS := -nostartfiles -T firmware/lm3s6965.ld --specs=nano.specs -Wl,--gc-sections \
	-Wl,-Map=build/fw/slotfw.map
FW_OBJS := $(patsubst %,build/fw/obj/firmware/%.o,$(FW_CORE) hal_lm3s6965)
FIRMWARE += build/fw/slotfw.elf build/fw/slotfw.bin
TEST_DEPS += build/fw/slotfw.bin

build/fw/obj/firmware/%.o: firmware/%.c
	@mkdir -p $(@D)
	$(FW_CC) $(FW_CFLAGS) -MMD -MP -c -o $@ $<

build/fw/slotfw.elf: $(FW_OBJS) firmware/lm3s6965.ld
	$(FW_CC) $(FW_CFLAGS) $(FW_LDFLAGS) -o $@ $(FW_OBJS)

# Every build states the image's footprint against its budget.
.PHONY: fw-size
FIRMWARE += fw-size
fw-size: build/fw/slotfw.elf
	@arm-none-eabi-size -B $< | awk 'NR == 2 { printf "slotfw: flash %d bytes (budget 32768), RAM %d bytes incl. 2048 stack (budget 8192)\n", $$1 + $$2, $$2 + $$3 }'

build/fw/slotfw.bin: build/fw/slotfw.elf
	arm-none-eabi-objcopy -O binary $< $@
