/* The slot logic: safety cut-offs that hold whatever the master writes, the
 * master-lost watchdog, lock supervision, BMS plausibility, the register
 * writes' range checks, and the firmware core end to end over bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "firmware/fw.h"
#include "firmware/slot.h"

static struct slot s;
static struct slot_sensors in;
static struct slot_outputs out;

/* A healthy 14-cell pack at 50 %, door closed and locked. */
static int setup(void **state)
{
	(void)state;
	slot_init(&s, 0);
	memset(&in, 0, sizeof(in));
	in.present = true;
	in.bms_ok = true;
	in.lock_closed = true;
	in.bms = (struct slot_bms){ .id = 0x0123456789ABCDEFull, .voltage_cv = 5200,
		.current_ca = 0, .temperature_dc = 250, .soc_pm = 500, .soh_pm = 980,
		.cycles = 70000, .resistance_dmo = 450, .cell_min_mv = 3700,
		.cell_max_mv = 3720 };
	return 0;
}

static uint8_t wr(uint16_t addr, uint16_t v)
{
	return slot_backend.write(&s, addr, 1, &v);
}

static uint16_t rd(enum mb_table t, uint16_t addr)
{
	uint16_t v = 0xDEAD;
	assert_int_equal(slot_backend.read(&s, t, addr, 1, &v), MB_EX_NONE);
	return v;
}

static void tick(uint32_t ms)
{
	slot_tick(&s, ms, &in, &out);
}

static void test_defaults_and_registers(void **state)
{
	(void)state;
	tick(10);
	assert_int_equal(rd(MB_HOLDING, SLOT_HR_LOCK), 1);
	assert_int_equal(rd(MB_HOLDING, SLOT_HR_CHARGE), 0);
	assert_int_equal(rd(MB_HOLDING, SLOT_HR_CURRENT_LIMIT), 100);
	assert_int_equal(rd(MB_HOLDING, SLOT_HR_WATCHDOG), 5);
	assert_int_equal(rd(MB_INPUT, SLOT_IN_FW_VERSION), SLOT_FW_VERSION);
	assert_int_equal(rd(MB_INPUT, SLOT_IN_STATE), SLOT_STATE_IDLE);
	assert_int_equal(rd(MB_INPUT, SLOT_IN_BATTERY_ID), 0x0123);
	assert_int_equal(rd(MB_INPUT, SLOT_IN_BATTERY_ID + 3), 0xCDEF);
	assert_int_equal(rd(MB_INPUT, SLOT_IN_CYCLES), 1);
	assert_int_equal(rd(MB_INPUT, SLOT_IN_CYCLES + 1), 70000 - 65536);
	assert_int_equal(rd(MB_INPUT, SLOT_IN_VOLTAGE), 5200);
	assert_false(out.charger_on);
	assert_true(out.lock);

	/* the map ends where REGISTERS.md says */
	uint16_t buf[SLOT_IN_COUNT + 1];
	assert_int_equal(slot_backend.read(&s, MB_INPUT, 0, SLOT_IN_COUNT, buf), MB_EX_NONE);
	assert_int_equal(slot_backend.read(&s, MB_INPUT, 1, SLOT_IN_COUNT, buf), MB_EX_ILLEGAL_ADDRESS);
	assert_int_equal(slot_backend.read(&s, MB_HOLDING, SLOT_HR_COUNT, 1, buf), MB_EX_ILLEGAL_ADDRESS);

	/* no battery: measurements read 0, not stale values */
	in.present = false;
	tick(20);
	assert_int_equal(rd(MB_INPUT, SLOT_IN_STATE), SLOT_STATE_EMPTY);
	assert_int_equal(rd(MB_INPUT, SLOT_IN_VOLTAGE), 0);
	assert_int_equal(rd(MB_INPUT, SLOT_IN_BATTERY_ID + 3), 0);
}

static void test_write_ranges(void **state)
{
	(void)state;
	assert_int_equal(wr(SLOT_HR_LOCK, 2), MB_EX_ILLEGAL_VALUE);
	assert_int_equal(wr(SLOT_HR_CHARGE, 7), MB_EX_ILLEGAL_VALUE);
	assert_int_equal(wr(SLOT_HR_CURRENT_LIMIT, 501), MB_EX_ILLEGAL_VALUE);
	assert_int_equal(wr(SLOT_HR_WATCHDOG, 0), MB_EX_ILLEGAL_VALUE);
	assert_int_equal(wr(SLOT_HR_WATCHDOG, 3601), MB_EX_ILLEGAL_VALUE);
	assert_int_equal(wr(SLOT_HR_COUNT, 0), MB_EX_ILLEGAL_ADDRESS);
	assert_int_equal(wr(SLOT_HR_CURRENT_LIMIT, 500), MB_EX_NONE);
	assert_int_equal(wr(SLOT_HR_HEARTBEAT, 0xFFFF), MB_EX_NONE);
	/* all or nothing */
	const uint16_t v[] = { 0, 1, 999 };
	assert_int_equal(slot_backend.write(&s, 0, 3, v), MB_EX_ILLEGAL_VALUE);
	assert_int_equal(rd(MB_HOLDING, SLOT_HR_LOCK), 1);
	assert_int_equal(rd(MB_HOLDING, SLOT_HR_CHARGE), 0);
}

static void test_charging_needs_closed_locked_door(void **state)
{
	(void)state;
	wr(SLOT_HR_CHARGE, 1);
	wr(SLOT_HR_CURRENT_LIMIT, 200);
	tick(10);
	assert_true(out.charger_on);
	assert_int_equal(out.current_limit_da, 200);
	assert_int_equal(rd(MB_INPUT, SLOT_IN_STATE), SLOT_STATE_CHARGING);
	in.door_open = true;
	tick(20);
	assert_false(out.charger_on);
	assert_int_equal(out.current_limit_da, 0);
	in.door_open = false;
	in.lock_closed = false;
	tick(30);
	assert_false(out.charger_on);
	in.lock_closed = true;
	tick(40);
	assert_true(out.charger_on);
}

static void test_over_temperature_cutoff(void **state)
{
	(void)state;
	wr(SLOT_HR_CHARGE, 1);
	in.bms.temperature_dc = 599;
	tick(10);
	assert_true(out.charger_on);
	in.bms.temperature_dc = 600;
	tick(20);
	assert_false(out.charger_on);
	assert_int_equal(rd(MB_INPUT, SLOT_IN_FAULTS), SLOT_FAULT_OVER_TEMP);
	assert_int_equal(rd(MB_INPUT, SLOT_IN_STATE), SLOT_STATE_FAULT);
	assert_int_equal(rd(MB_HOLDING, SLOT_HR_CHARGE), 0);
	/* still off within the hysteresis */
	in.bms.temperature_dc = 560;
	tick(30);
	assert_false(out.charger_on);
	assert_int_equal(rd(MB_INPUT, SLOT_IN_FAULTS), SLOT_FAULT_OVER_TEMP);
	/* cooled down: the fault clears, but charging waits for the master */
	in.bms.temperature_dc = 549;
	tick(40);
	assert_int_equal(rd(MB_INPUT, SLOT_IN_FAULTS), 0);
	assert_false(out.charger_on);
	wr(SLOT_HR_CHARGE, 1);
	tick(50);
	assert_true(out.charger_on);
}

static void test_cell_over_voltage_cutoff(void **state)
{
	(void)state;
	wr(SLOT_HR_CHARGE, 1);
	in.bms.cell_max_mv = 4249;
	tick(10);
	assert_true(out.charger_on);
	in.bms.cell_max_mv = 4250;
	tick(20);
	assert_false(out.charger_on);
	assert_int_equal(rd(MB_INPUT, SLOT_IN_FAULTS), SLOT_FAULT_CELL_OV);
	/* the master enables again during the fault: stored, but the cut-off
	 * holds until the cells are back below 4.200 V */
	wr(SLOT_HR_CHARGE, 1);
	in.bms.cell_max_mv = 4210;
	tick(30);
	assert_false(out.charger_on);
	in.bms.cell_max_mv = 4199;
	tick(40);
	assert_true(out.charger_on);
	assert_int_equal(rd(MB_INPUT, SLOT_IN_FAULTS), 0);
}

/* The charger's fault latches: the line going off does not resume
 * charging, a reset while it is still on does not clear it, a reset after
 * it clears the bit (and reads 0), and charging waits for the master. */
static void test_charger_fault_latched(void **state)
{
	(void)state;
	wr(SLOT_HR_CHARGE, 1);
	tick(10);
	assert_true(out.charger_on);
	in.charger_fault = true;
	tick(20);
	assert_false(out.charger_on);
	assert_int_equal(rd(MB_INPUT, SLOT_IN_FAULTS), SLOT_FAULT_CHARGER);
	assert_int_equal(rd(MB_INPUT, SLOT_IN_STATE), SLOT_STATE_FAULT);
	assert_int_equal(rd(MB_HOLDING, SLOT_HR_CHARGE), 0);
	assert_int_equal(wr(SLOT_HR_FAULT_RESET, 1), MB_EX_NONE);
	tick(30);
	assert_int_equal(rd(MB_INPUT, SLOT_IN_FAULTS), SLOT_FAULT_CHARGER);
	in.charger_fault = false;
	wr(SLOT_HR_CHARGE, 1);
	tick(40);
	assert_false(out.charger_on);
	assert_int_equal(rd(MB_INPUT, SLOT_IN_FAULTS), SLOT_FAULT_CHARGER);
	assert_int_equal(wr(SLOT_HR_FAULT_RESET, 0), MB_EX_NONE);
	tick(50);
	assert_int_equal(rd(MB_INPUT, SLOT_IN_FAULTS), SLOT_FAULT_CHARGER);
	assert_int_equal(wr(SLOT_HR_FAULT_RESET, 2), MB_EX_ILLEGAL_VALUE);
	assert_int_equal(wr(SLOT_HR_FAULT_RESET, 1), MB_EX_NONE);
	assert_int_equal(rd(MB_INPUT, SLOT_IN_FAULTS), 0);
	assert_int_equal(rd(MB_HOLDING, SLOT_HR_FAULT_RESET), 0);
	tick(60);
	/* the enable written during the fault was stored */
	assert_true(out.charger_on);
}

static void test_bms_invalid(void **state)
{
	(void)state;
	static const struct {
		size_t off;
		int16_t val;
	} bad[] = {
		{ offsetof(struct slot_bms, soc_pm), 1001 },
		{ offsetof(struct slot_bms, soh_pm), -1 },
		{ offsetof(struct slot_bms, temperature_dc), -401 },
		{ offsetof(struct slot_bms, temperature_dc), 1251 },
		{ offsetof(struct slot_bms, voltage_cv), 0 },
		{ offsetof(struct slot_bms, cell_min_mv), 3800 }, /* above cell_max */
		{ offsetof(struct slot_bms, cell_max_mv), 5001 },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		setup(NULL);
		wr(SLOT_HR_CHARGE, 1);
		memcpy((char *)&in.bms + bad[i].off, &bad[i].val, 2);
		tick(10);
		print_message("case %zu\n", i);
		assert_false(out.charger_on);
		assert_int_equal(rd(MB_INPUT, SLOT_IN_FAULTS), SLOT_FAULT_BMS_INVALID);
	}
	setup(NULL);
	in.bms_ok = false;
	tick(10);
	assert_int_equal(rd(MB_INPUT, SLOT_IN_FAULTS), SLOT_FAULT_BMS_INVALID);
	/* nonsense temperature must not be read as an over-temperature */
	setup(NULL);
	in.bms.soc_pm = 2000;
	in.bms.temperature_dc = 900;
	tick(10);
	assert_int_equal(rd(MB_INPUT, SLOT_IN_FAULTS), SLOT_FAULT_BMS_INVALID);
}

static void test_master_lost(void **state)
{
	(void)state;
	wr(SLOT_HR_LOCK, 0);
	wr(SLOT_HR_CHARGE, 1);
	in.lock_closed = false;
	slot_heard(&s, 1000);
	tick(5999);
	assert_int_equal(rd(MB_INPUT, SLOT_IN_FAULTS), 0);
	assert_false(out.lock);
	tick(6000);
	assert_int_equal(rd(MB_INPUT, SLOT_IN_FAULTS), SLOT_FAULT_MASTER_LOST);
	assert_int_equal(rd(MB_INPUT, SLOT_IN_STATE), SLOT_STATE_SAFE);
	assert_true(out.lock);
	assert_false(out.charger_on);
	assert_int_equal(rd(MB_HOLDING, SLOT_HR_LOCK), 1);
	assert_int_equal(rd(MB_HOLDING, SLOT_HR_CHARGE), 0);
	/* latched: a read from the master does not clear it, a heartbeat does */
	in.lock_closed = true;
	slot_heard(&s, 6100);
	tick(6200);
	assert_int_equal(rd(MB_INPUT, SLOT_IN_FAULTS), SLOT_FAULT_MASTER_LOST);
	wr(SLOT_HR_HEARTBEAT, 1);
	tick(6300);
	assert_int_equal(rd(MB_INPUT, SLOT_IN_FAULTS), 0);
	assert_int_equal(rd(MB_INPUT, SLOT_IN_STATE), SLOT_STATE_IDLE);

	/* configurable, and the millisecond clock may wrap */
	setup(NULL);
	assert_int_equal(wr(SLOT_HR_WATCHDOG, 2), MB_EX_NONE);
	slot_heard(&s, 0xFFFFFF00u);
	tick(0xFFFFFF00u + 1999);
	assert_int_equal(rd(MB_INPUT, SLOT_IN_FAULTS), 0);
	tick(0xFFFFFF00u + 2000);
	assert_int_equal(rd(MB_INPUT, SLOT_IN_FAULTS), SLOT_FAULT_MASTER_LOST);
}

static void test_lock_stuck(void **state)
{
	(void)state;
	slot_heard(&s, 0);
	wr(SLOT_HR_LOCK, 0);
	tick(100); /* still sensed closed */
	tick(2099);
	assert_int_equal(rd(MB_INPUT, SLOT_IN_FAULTS), 0);
	tick(2100);
	assert_int_equal(rd(MB_INPUT, SLOT_IN_FAULTS), SLOT_FAULT_LOCK_STUCK);
	assert_int_equal(rd(MB_INPUT, SLOT_IN_STATE), SLOT_STATE_FAULT);
	in.lock_closed = false;
	tick(2200);
	assert_int_equal(rd(MB_INPUT, SLOT_IN_FAULTS), 0);
}

/* The core over bytes, with a HAL that records what it was asked. */
static uint8_t sent[MB_SLAVE_FRAME_MAX];
static size_t sent_len;

static void fake_send(void *ctx, const uint8_t *buf, size_t len)
{
	(void)ctx;
	memcpy(sent, buf, len);
	sent_len = len;
}

static void fake_sense(void *ctx, struct slot_sensors *si)
{
	(void)ctx;
	*si = in;
}

static void fake_actuate(void *ctx, const struct slot_outputs *o)
{
	(void)ctx;
	out = *o;
}

static const struct hal_ops fake_hal = { fake_send, fake_sense, fake_actuate };

static void test_fw_core(void **state)
{
	(void)state;
	struct fw f;
	uint8_t req[8] = { 3, 6, 0, SLOT_HR_CHARGE, 0, 1 };
	uint16_t crc = mb_slave_crc16(req, 6);
	req[6] = (uint8_t)crc;
	req[7] = (uint8_t)(crc >> 8);

	fw_init(&f, 3, 115200, &fake_hal, NULL, NULL, NULL, 1000);
	sent_len = 0;
	for (int i = 0; i < 8; i++)
		fw_rx(&f, req[i], 2000 + (uint32_t)i * 90);
	fw_poll(&f, 2000 + 7 * 90 + 1749);
	assert_int_equal(sent_len, 0);
	fw_poll(&f, 2000 + 7 * 90 + 1750);
	assert_int_equal(sent_len, 8);
	assert_memory_equal(sent, req, 8);
	assert_true(out.charger_on);
	/* 4.9 s later the write still counts; at 5 s after it, master lost */
	fw_poll(&f, 2000 + 4900000);
	assert_true(out.charger_on);
	fw_poll(&f, 2000 + 7 * 90 + 1750 + 5000000);
	assert_false(out.charger_on);
	assert_int_equal(f.slot.in[SLOT_IN_FAULTS], SLOT_FAULT_MASTER_LOST);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_defaults_and_registers, setup),
		cmocka_unit_test_setup(test_write_ranges, setup),
		cmocka_unit_test_setup(test_charging_needs_closed_locked_door, setup),
		cmocka_unit_test_setup(test_over_temperature_cutoff, setup),
		cmocka_unit_test_setup(test_cell_over_voltage_cutoff, setup),
		cmocka_unit_test_setup(test_charger_fault_latched, setup),
		cmocka_unit_test_setup(test_bms_invalid, setup),
		cmocka_unit_test_setup(test_master_lost, setup),
		cmocka_unit_test_setup(test_lock_stuck, setup),
		cmocka_unit_test_setup(test_fw_core, setup),
	};
	return cmocka_run_group_tests_name("fw_slot", tests, NULL, NULL);
}
