# tests/: programs that are neither the daemon's unit tests (daemon/module.mk)
# nor run by `make test`.

# `make bench`: a week of faults injected at random on a 32-slot station
# with riders swapping, in simulated time (tests/bench/soak_faults.c,
# daemon/FAULTS.md "Soak"); SOAK_DAYS and SOAK_SEED choose the run.
BENCHES += bench-soak
.PHONY: bench-soak

$(O)/bench/soak_faults: $(O)/obj/tests/bench/soak_faults.o $(O)/obj/tests/unit/station_sim.o \
	$$(SWAPD_CORE_OBJS) $$(DRIVER_OBJS)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(SWAPD_LIBS) $(DRIVER_LIBS) $(LIB_CMOCKA)

bench-soak: $(O)/bench/soak_faults
	$<
