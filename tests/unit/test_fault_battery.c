/* The battery fault detectors (daemon/fault_battery.c) on the simulated
 * rack, in simulated time: each fault injected with a rack-sim verb is
 * raised, its level-1 action reaches the simulated controller and reads
 * back, and the fault clears once the condition has stayed gone. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "daemon/fault.h"
#include "daemon/fault_battery.h"
#include "daemon/ledger.h"
#include "daemon/loop.h"
#include "daemon/slots.h"
#include "drivers/rack.h"
#include "drivers/rack_bus.h"
#include "tests/unit/station_sim.h"

/* The truth of slot number n in the simulator: field of its `get`. */
static double sim_get(int n, const char *field)
{
	char verb[64], why[160];
	json_object *r, *v;

	snprintf(verb, sizeof verb, "{\"op\": \"get\", \"slot\": %d}", n);
	r = rack_bus_sim_exec(verb, why, sizeof why);
	if (!r)
		fail_msg("get: %s", why);
	assert_true(json_object_object_get_ex(r, field, &v));
	double d = json_object_get_double(v);
	json_object_put(r);
	return d;
}

static bool charger_off(void *arg)
{
	return sim_get(*(int *)arg, "charger_on") == 0;
}

static bool hot(void *arg)
{
	return rack_reading(0)->temperature >= *(double *)arg;
}

/* The open fault code (its name) of slot number n as `swapctl faults`
 * says it, as JSON text ("" when none is open). */
static const char *open_fault(const char *code, int n)
{
	static char out[2048];
	json_object *a = fault_open_json();

	out[0] = '\0';
	for (size_t k = 0; k < json_object_array_length(a); k++) {
		json_object *f = json_object_array_get_idx(a, k), *c, *s;
		json_object_object_get_ex(f, "code", &c);
		json_object_object_get_ex(f, "slot", &s);
		if (strcmp(json_object_get_string(c), code) == 0 && json_object_get_int(s) == n)
			snprintf(out, sizeof out, "%s", json_object_to_json_string(f));
	}
	json_object_put(a);
	return out;
}

static int setup(void **state)
{
	(void)state;
	station_setup(false);
	station_cfg.faults.warn_temp_c = 50; /* charging at 30 A warms a pack to about 47 C */
	station_cfg.faults.crit_temp_c = 55; /* under the firmware's own cut at 60 C */
	station_start(STATION_CHARGE | STATION_FAULT_BATTERY);
	station_ready();
	station_put_in(1, 1001, 95);
	station_run_ms(3000);
	assert_int_equal(sim_get(1, "charger_on"), 1);
	return 0;
}

/* The rule: charging off within one poll cycle of an
 * over-temperature reading, read back; the battery quarantined; the
 * fault cleared only once the battery stayed cool. */
static void test_over_temperature(void **state)
{
	double crit = 55;
	int n = 1;

	(void)state;
	station_sim("{\"op\": \"fault\", \"slot\": 1, \"kind\": \"overtemp\", \"value\": 57}");
	assert_true(loop_run_until(hot, &crit, 5000));
	int64_t read_at = loop_now();
	assert_true(loop_run_until(charger_off, &n, 5000));
	assert_in_range(loop_now() - read_at, 0, station_cfg.rack.poll_interval_ms);
	station_run_ms(1000);
	const char *f = open_fault("over_temperature", 1);
	assert_non_null(strstr(f, "\"battery\": \"BAT-01001\""));
	assert_non_null(strstr(f, "\"stop charging\", \"outcome\": \"ok\""));
	assert_non_null(strstr(f, "\"quarantine the battery\", \"outcome\": \"ok\""));
	assert_true(station_row(1001).quarantined);
	assert_int_equal(slots_state(0), SLOT_QUARANTINED);
	assert_true(fault_blocks_own_slot(1));
	assert_string_not_equal(open_fault("over_temperature_warning", 1), "");
	station_run_ms(400 * 1000); /* under 53 C after about 270 s: not yet 600 s gone */
	assert_string_not_equal(open_fault("over_temperature", 1), "");
	station_run_ms(1800 * 1000);
	assert_string_equal(open_fault("over_temperature", 1), "");
	assert_string_equal(open_fault("over_temperature_warning", 1), "");
	assert_string_equal(station_sql("SELECT group_concat(json_extract(payload, '$.code'))"
					 " FROM outbox WHERE type = 'fault.cleared'"),
			    "temperature_rise,over_temperature,over_temperature_warning"); /* a jump is a rise */
	assert_true(station_row(1001).quarantined); /* a person releases it */
	assert_int_equal(sim_get(1, "charger_on"), 0);
}

/* The warning halves the charging current and keeps charging; the current
 * comes back once the battery is cool. */
static void test_warning(void **state)
{
	(void)state;
	assert_int_equal(sim_get(1, "current_limit"), station_cfg.charge.current_a);
	station_sim("{\"op\": \"fault\", \"slot\": 1, \"kind\": \"overtemp\", \"value\": 52}");
	station_run_ms(2000);
	const char *f = open_fault("over_temperature_warning", 1);
	assert_non_null(strstr(f, "\"reduce the charging current\", \"outcome\": \"ok\""));
	assert_int_equal(sim_get(1, "current_limit"), station_cfg.charge.current_a / 2);
	assert_int_equal(sim_get(1, "charger_on"), 1);
	assert_string_equal(open_fault("over_temperature", 1), "");
	station_run_ms(1500 * 1000);
	assert_string_equal(open_fault("over_temperature_warning", 1), "");
	assert_int_equal(sim_get(1, "current_limit"), station_cfg.charge.current_a);
}

/* Heating fast: temperature_rise before the warning, charging off and not
 * started again while the fault is open. */
static void test_temperature_rise(void **state)
{
	(void)state;
	station_sim("{\"op\": \"fault\", \"slot\": 1, \"kind\": \"heating\", \"value\": 400}");
	station_run_ms(90 * 1000);
	const char *f = open_fault("temperature_rise", 1);
	assert_non_null(strstr(f, "\"stop charging\", \"outcome\": \"ok\""));
	assert_string_equal(open_fault("over_temperature_warning", 1), "");
	station_sim("{\"op\": \"fault\", \"slot\": 1, \"kind\": \"heating\", \"value\": 0}");
	station_run_ms(120 * 1000); /* past charge.retry_s */
	assert_int_equal(sim_get(1, "charger_on"), 0);
	station_run_ms(900 * 1000);
	assert_string_equal(open_fault("temperature_rise", 1), "");
}

/* A cell far above the others: cell_imbalance, charging off, the battery
 * quarantined. */
static void test_cell_imbalance(void **state)
{
	(void)state;
	station_sim("{\"op\": \"fault\", \"slot\": 1, \"kind\": \"imbalance\", \"value\": 150}");
	station_run_ms(3000);
	const char *f = open_fault("cell_imbalance", 1);
	assert_non_null(strstr(f, "\"stop charging\", \"outcome\": \"ok\""));
	assert_int_equal(sim_get(1, "charger_on"), 0);
	assert_true(station_row(1001).quarantined);
}

/* A BMS reporting nonsense: bms_implausible, the battery quarantined, and
 * none of the other detectors fooled by its numbers. */
static void test_bms_implausible(void **state)
{
	(void)state;
	station_sim("{\"op\": \"fault\", \"slot\": 1, \"kind\": \"bms_nonsense\"}");
	station_run_ms(3000);
	assert_string_not_equal(open_fault("bms_implausible", 1), "");
	assert_true(station_row(1001).quarantined);
	assert_string_equal(open_fault("over_temperature", 1), "");
	assert_string_equal(open_fault("cell_over_voltage", 1), "");
	/* its garbage current (6553.5 A with the charger off) is no welded
	 * relay: the soak found that one */
	station_run_ms(60 * 1000);
	assert_string_equal(open_fault("current_mismatch", 1), "");
	station_sim("{\"op\": \"fault\", \"slot\": 1, \"kind\": \"clear\"}");
	station_run_ms(400 * 1000);
	assert_string_equal(open_fault("bms_implausible", 1), "");
}

/* The ledger's low-SOH quarantine is the fault, raised from its event;
 * the battery's release clears it. */
static void test_low_soh(void **state)
{
	(void)state;
	station_put_in(2, 1002, 60);
	station_run_ms(2000);
	const char *f = open_fault("low_soh", 2);
	assert_non_null(strstr(f, "\"quarantine the battery\", \"outcome\": \"ok\""));
	assert_int_equal(ledger_battery_quarantine(1002, false, "checked", "tech-7"), SW_OK);
	station_run_ms(2000);
	assert_string_equal(open_fault("low_soh", 2), "");
	assert_string_equal(open_fault("over_temperature", 1), "");
}

static int open_count(const char *code)
{
	char q[160];

	snprintf(q, sizeof q, "SELECT count(*) FROM outbox WHERE type = 'fault.raised'"
		 " AND json_extract(payload, '$.code') = '%s'", code);
	return atoi(station_sql(q));
}

/* The charger's fault line: charging off and vetoed, the controller's
 * latch reset 10 s after the raise (refused while the line is on), again
 * 20 s later once it is off, each recorded with its outcome; cleared 300 s
 * after, and charging back by the charge module. */
static void test_charger_fault(void **state)
{
	(void)state;
	station_sim("{\"op\": \"fault\", \"slot\": 1, \"kind\": \"charger_fault\"}");
	station_run_ms(2000);
	const char *f = open_fault("charger_fault", 1);
	assert_non_null(strstr(f, "\"stop charging\", \"outcome\": \"ok\""));
	assert_non_null(strstr(f, "\"battery\": null"));
	assert_int_equal(sim_get(1, "charger_on"), 0);
	assert_int_equal((int)sim_get(1, "fault_bits"), 32);
	assert_true(fault_blocks_own_slot(1));
	station_run_ms(10 * 1000);
	f = open_fault("charger_fault", 1);
	assert_non_null(strstr(f, "\"reset the latch (1 of 3)\", \"outcome\": \"failed: still set\""));
	station_sim("{\"op\": \"fault\", \"slot\": 1, \"kind\": \"clear\"}");
	station_run_ms(10 * 1000);
	assert_int_equal((int)sim_get(1, "fault_bits"), 32); /* latched until the next reset */
	station_run_ms(12 * 1000);
	assert_int_equal((int)sim_get(1, "fault_bits"), 0);
	f = open_fault("charger_fault", 1);
	assert_non_null(strstr(f, "\"reset the latch (2 of 3)\", \"outcome\": \"ok\""));
	station_run_ms(200 * 1000);
	assert_int_equal(sim_get(1, "charger_on"), 0); /* vetoed while the fault is open */
	station_run_ms(250 * 1000);
	assert_string_equal(open_fault("charger_fault", 1), "");
	assert_int_equal(sim_get(1, "charger_on"), 1);
	assert_int_equal(open_count("charger_fault"), 1);
}

/* A charger whose fault line stays on: three resets 10, 20 and 40 s apart,
 * then none more, and the fault left open for a person. */
static void test_charger_fault_stays(void **state)
{
	(void)state;
	station_sim("{\"op\": \"fault\", \"slot\": 1, \"kind\": \"charger_fault\"}");
	station_run_ms(2000);
	station_run_ms(29 * 1000);
	const char *f = open_fault("charger_fault", 1);
	assert_non_null(strstr(f, "(2 of 3)"));
	assert_null(strstr(f, "(3 of 3)"));
	station_run_ms(42 * 1000);
	f = open_fault("charger_fault", 1);
	assert_non_null(strstr(f, "\"reset the latch (3 of 3)\", \"outcome\": \"failed: still set\""));
	assert_non_null(strstr(f, "\"escalate\""));
	station_run_ms(600 * 1000);
	f = open_fault("charger_fault", 1);
	assert_null(strstr(f, "(4 of 3)"));
	assert_int_equal(sim_get(1, "charger_on"), 0);
}

/* A charger on that delivers nothing: current_mismatch after 30 s,
 * charging off and kept off; it stays open while that battery stays. */
static void test_charger_dead(void **state)
{
	(void)state;
	station_sim("{\"op\": \"fault\", \"slot\": 1, \"kind\": \"charger_dead\"}");
	station_run_ms(25 * 1000);
	assert_string_equal(open_fault("current_mismatch", 1), "");
	station_run_ms(10 * 1000);
	const char *f = open_fault("current_mismatch", 1);
	assert_non_null(strstr(f, "no current"));
	assert_non_null(strstr(f, "\"stop charging\", \"outcome\": \"ok\""));
	assert_int_equal(sim_get(1, "charger_on"), 0);
	station_run_ms(900 * 1000); /* well past charge.retry_s */
	assert_int_equal(sim_get(1, "charger_on"), 0);
	assert_string_not_equal(open_fault("current_mismatch", 1), "");
	assert_int_equal(open_count("current_mismatch"), 1);
}

/* Current flowing with the charger read back off (a welded relay):
 * current_mismatch after 10 s; gone once it stops. */
static void test_relay_welded(void **state)
{
	(void)state;
	station_sim("{\"op\": \"fault\", \"slot\": 1, \"kind\": \"relay_welded\"}");
	assert_int_equal(rack_write(0, RF_CHARGE_ENABLE, 0, NULL, NULL), SW_OK);
	station_run_ms(8 * 1000);
	assert_int_equal(sim_get(1, "charger_on"), 0);
	assert_string_equal(open_fault("current_mismatch", 1), "");
	station_run_ms(5 * 1000);
	const char *f = open_fault("current_mismatch", 1);
	assert_non_null(strstr(f, "flowing with the charger off"));
	station_sim("{\"op\": \"fault\", \"slot\": 1, \"kind\": \"clear\"}");
	station_run_ms(200 * 1000);
	assert_string_not_equal(open_fault("current_mismatch", 1), "");
	station_run_ms(120 * 1000);
	assert_string_equal(open_fault("current_mismatch", 1), "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_over_temperature, setup, station_teardown),
		cmocka_unit_test_setup_teardown(test_warning, setup, station_teardown),
		cmocka_unit_test_setup_teardown(test_temperature_rise, setup, station_teardown),
		cmocka_unit_test_setup_teardown(test_cell_imbalance, setup, station_teardown),
		cmocka_unit_test_setup_teardown(test_bms_implausible, setup, station_teardown),
		cmocka_unit_test_setup_teardown(test_low_soh, setup, station_teardown),
		cmocka_unit_test_setup_teardown(test_charger_fault, setup, station_teardown),
		cmocka_unit_test_setup_teardown(test_charger_fault_stays, setup, station_teardown),
		cmocka_unit_test_setup_teardown(test_charger_dead, setup, station_teardown),
		cmocka_unit_test_setup_teardown(test_relay_welded, setup, station_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
