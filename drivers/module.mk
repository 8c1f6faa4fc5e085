# drivers/: the scanner and GPIO drivers (the rack's objects are listed in
# daemon/module.mk). DRIVER_OBJS is what swapd links besides the core.
SCANNER_OBJS := $(O)/obj/drivers/scanner.o $(O)/obj/drivers/scanner_serialport.o \
	$(O)/obj/drivers/scanner_tty.o
GPIO_OBJS := $(O)/obj/drivers/gpio.o $(O)/obj/drivers/gpio_gpiod.o $(O)/obj/drivers/gpio_sim.o
DRIVER_OBJS := $(SCANNER_OBJS) $(GPIO_OBJS)
DRIVER_LIBS = $(LIB_SERIAL) $(LIB_GPIOD)

UNIT_TESTS += $(O)/tests/test_scanner $(O)/tests/test_gpio $(O)/tests/test_rack_profile

# openpty() for the tests' fake scanner is in libutil.
$(O)/tests/test_scanner: $(O)/obj/tests/unit/test_scanner.o $(DRIVER_OBJS) $(SWAPD_CORE_OBJS)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(SWAPD_LIBS) $(DRIVER_LIBS) -lutil $(LIB_CMOCKA)

$(O)/tests/test_gpio: $(O)/obj/tests/unit/test_gpio.o $(DRIVER_OBJS) $(SWAPD_CORE_OBJS)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(SWAPD_LIBS) $(DRIVER_LIBS) $(LIB_CMOCKA)

$(O)/tests/test_rack_profile: $(O)/obj/tests/unit/test_rack_profile.o $(DRIVER_OBJS) $(SWAPD_CORE_OBJS)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(SWAPD_LIBS) $(DRIVER_LIBS) $(LIB_CMOCKA)
