# daemon/: swapd itself. Its modules are also linked into the unit tests, so
# they are listed once here.
SWAPD_CORE := err log loop health fileio jsonfile config_errors config config_fields config_reload \
	store store_runs store_tokens store_telemetry store_outbox store_batteries store_transport store_queue \
	store_swaps store_cmd store_history text command peer control notify event slots slots_view slots_lock token token_keys access \
	swap swap_fsm swap_pick swap_run swap_door swap_cmd charge transport transport_run \
	transport_moves ledger fault fault_diag fault_diag_history fault_battery fault_station store_faults staff queue queue_eta queue_cmd status sync sync_msg sync_cmd sync_tel \
	kiosk kiosk_text kiosk_staff qr web web_api
# The simulated bus (rack.device "sim:N") runs the rack simulator's model
# and the firmware core in process.
RACK_SIM_OBJS := $(patsubst %,$(O)/obj/tools/rack-sim/%.o,rack rack_args rack_verbs rack_rider \
	battery profile) $(O)/obj/firmware/mb_slave.o $(O)/obj/firmware/slot.o \
	$(O)/obj/firmware/fw.o $(O)/obj/firmware/hal_host.o
RACK_OBJS := $(O)/obj/drivers/rack.o $(O)/obj/drivers/rack_cmd.o $(O)/obj/drivers/rack_bus.o \
	$(O)/obj/drivers/rack_bus_modbus.o $(O)/obj/drivers/rack_bus_sim.o \
	$(O)/obj/drivers/rack_profile.o $(RACK_SIM_OBJS)
SWAPD_CORE_OBJS := $(SWAPD_CORE:%=$(O)/obj/daemon/%.o) $(RACK_OBJS)
SWAPD_LIBS = $(LIB_JSON) $(LIB_SQLITE) $(LIB_CRYPTO) $(LIB_MODBUS) $(LIB_MOSQ) $(LIB_MHD) $(LIB_QR) \
	-lpthread -lm

BINS += $(O)/bin/swapd
SBIN_PROGS += swapd

# The drivers (drivers/module.mk) list their own objects as DRIVER_OBJS.
$(O)/bin/swapd: $(O)/obj/daemon/main.o $(SWAPD_CORE_OBJS) $$(DRIVER_OBJS)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(SWAPD_LIBS) $(DRIVER_LIBS)

# swapctl is the daemon's client and speaks only JSON over the socket.
BINS += $(O)/bin/swapctl
BIN_PROGS += swapctl

$(O)/bin/swapctl: $(O)/obj/tools/swapctl.o $(O)/obj/tools/swapctl_kiosk.o $(O)/obj/tools/swapctl_faults.o
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIB_JSON)

UNIT_TESTS += $(O)/tests/test_config $(O)/tests/test_loop $(O)/tests/test_store \
	$(O)/tests/test_command \
	$(O)/tests/test_slots_sim $(O)/tests/test_transport $(O)/tests/test_ledger $(O)/tests/test_staff \
	$(O)/tests/test_swap_fsm $(O)/tests/test_swap_pick $(O)/tests/test_swap_sim \
	$(O)/tests/test_queue $(O)/tests/test_busy_hour $(O)/tests/test_kiosk $(O)/tests/test_fault \
	$(O)/tests/test_fault_battery $(O)/tests/test_fault_station $(O)/tests/test_fault_diag

$(O)/tests/test_config: $(O)/obj/tests/unit/test_config.o $(SWAPD_CORE_OBJS) $$(DRIVER_OBJS)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(SWAPD_LIBS) $(DRIVER_LIBS) $(LIB_CMOCKA)
$(O)/tests/test_loop: $(O)/obj/tests/unit/test_loop.o $(SWAPD_CORE_OBJS) $$(DRIVER_OBJS)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(SWAPD_LIBS) $(DRIVER_LIBS) $(LIB_CMOCKA)
# The command registry stands alone: no sockets, no loop.
$(O)/tests/test_command: $(O)/obj/tests/unit/test_command.o $(O)/obj/daemon/command.o \
	$(O)/obj/daemon/text.o
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIB_JSON) $(LIB_CMOCKA)
$(O)/tests/test_store: $(O)/obj/tests/unit/test_store.o $(SWAPD_CORE_OBJS) $$(DRIVER_OBJS)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(SWAPD_LIBS) $(DRIVER_LIBS) $(LIB_CMOCKA)
# rack.c and slots.c on the simulated bus, in simulated time.
$(O)/tests/test_slots_sim: $(O)/obj/tests/unit/test_slots_sim.o $(SWAPD_CORE_OBJS) $$(DRIVER_OBJS)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(SWAPD_LIBS) $(DRIVER_LIBS) $(LIB_CMOCKA)
# Transport jobs on the simulated bus, in simulated time.
$(O)/tests/test_transport: $(O)/obj/tests/unit/test_transport.o $(O)/obj/tests/unit/station_sim.o \
	$(SWAPD_CORE_OBJS) $$(DRIVER_OBJS)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(SWAPD_LIBS) $(DRIVER_LIBS) $(LIB_CMOCKA)

# The station's fault detectors on the simulated bus, in simulated time.
$(O)/tests/test_fault_station: $(O)/obj/tests/unit/test_fault_station.o \
	$(O)/obj/tests/unit/station_sim.o $(SWAPD_CORE_OBJS) $$(DRIVER_OBJS)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(SWAPD_LIBS) $(DRIVER_LIBS) $(LIB_CMOCKA)

# The fault registry on a store, in simulated time.
$(O)/tests/test_fault: $(O)/obj/tests/unit/test_fault.o $(SWAPD_CORE_OBJS) $$(DRIVER_OBJS)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(SWAPD_LIBS) $(DRIVER_LIBS) $(LIB_CMOCKA)

# Level-2 diagnosis: its heuristics, and the registry wired to it.
$(O)/tests/test_fault_diag: $(O)/obj/tests/unit/test_fault_diag.o $(O)/obj/tests/unit/station_sim.o \
	$(SWAPD_CORE_OBJS) $$(DRIVER_OBJS)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(SWAPD_LIBS) $(DRIVER_LIBS) $(LIB_CMOCKA)

# The battery fault detectors on the simulated station, in simulated time.
$(O)/tests/test_fault_battery: $(O)/obj/tests/unit/test_fault_battery.o $(O)/obj/tests/unit/station_sim.o \
	$(SWAPD_CORE_OBJS) $$(DRIVER_OBJS)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(SWAPD_LIBS) $(DRIVER_LIBS) $(LIB_CMOCKA)

# The battery ledger on the simulated bus, in simulated time. It and the
# tests below that link station_sim.o build their station with
# tests/unit/station_sim.c.
$(O)/tests/test_ledger: $(O)/obj/tests/unit/test_ledger.o $(O)/obj/tests/unit/station_sim.o \
	$(SWAPD_CORE_OBJS) $$(DRIVER_OBJS)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(SWAPD_LIBS) $(DRIVER_LIBS) $(LIB_CMOCKA)

# Staff badges on the simulated bus, in simulated time.
$(O)/tests/test_staff: $(O)/obj/tests/unit/test_staff.o $(O)/obj/tests/unit/station_sim.o \
	$(SWAPD_CORE_OBJS) $$(DRIVER_OBJS)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(SWAPD_LIBS) $(DRIVER_LIBS) $(LIB_CMOCKA)

# The swap's transition table and its choices: pure, nothing else linked.
$(O)/tests/test_swap_fsm: $(O)/obj/tests/unit/test_swap_fsm.o $(O)/obj/daemon/swap_fsm.o
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIB_CMOCKA)
$(O)/tests/test_swap_pick: $(O)/obj/tests/unit/test_swap_pick.o $(O)/obj/daemon/swap_pick.o
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIB_CMOCKA)
# The swap module on the simulated rack, in simulated time.
$(O)/tests/test_swap_sim: $(O)/obj/tests/unit/test_swap_sim.o $(O)/obj/tests/unit/station_sim.o \
	$(SWAPD_CORE_OBJS) $$(DRIVER_OBJS)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(SWAPD_LIBS) $(DRIVER_LIBS) $(LIB_CMOCKA)
# The queue on the simulated rack, in simulated time.
$(O)/tests/test_queue: $(O)/obj/tests/unit/test_queue.o $(O)/obj/tests/unit/station_sim.o \
	$(SWAPD_CORE_OBJS) $$(DRIVER_OBJS)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(SWAPD_LIBS) $(DRIVER_LIBS) $(LIB_CMOCKA)
# 60 riders in an hour at 12 slots: the swap flow, the queue and charging
# together, in simulated time.
$(O)/tests/test_busy_hour: $(O)/obj/tests/unit/test_busy_hour.o $(O)/obj/tests/unit/station_sim.o \
	$(SWAPD_CORE_OBJS) $$(DRIVER_OBJS)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(SWAPD_LIBS) $(DRIVER_LIBS) $(LIB_CMOCKA)
# The kiosk's view on the simulated station, in simulated time.
$(O)/tests/test_kiosk: $(O)/obj/tests/unit/test_kiosk.o $(O)/obj/tests/unit/station_sim.o \
	$(SWAPD_CORE_OBJS) $$(DRIVER_OBJS)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(SWAPD_LIBS) $(DRIVER_LIBS) $(LIB_CMOCKA)

# make bench: rack polling against the line limit (tools/bench_rack.py).
BENCHES += bench-rack
.PHONY: bench-rack
bench-rack: $(BINS)
	@SWAPD_BUILD=$(O) /usr/bin/python3 tools/bench_rack.py

# make bench: how fast the safety rules act (tools/bench_safety.py).
BENCHES += bench-safety
.PHONY: bench-safety
bench-safety: $(BINS)
	@SWAPD_BUILD=$(O) /usr/bin/python3 tools/bench_safety.py

# make bench: how much of a scan-to-unlock path is token verification.
BENCHES += bench-access
.PHONY: bench-access
bench-access: $(BINS)
	@SWAPD_BUILD=$(O) /usr/bin/python3 tools/bench_access.py
