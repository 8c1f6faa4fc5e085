/* The station's fault detectors (daemon/fault_station.c) on the simulated
 * rack, in simulated time: each fault raised once from what the rack, the
 * doors, the e-stop, the clock, sync and the disk say, its level-1 action's
 * outcome recorded once it read back, and the fault cleared once its
 * condition stayed gone. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "daemon/event.h"
#include "daemon/fault.h"
#include "daemon/fault_station.h"
#include "daemon/loop.h"
#include "daemon/slots.h"
#include "drivers/rack_bus.h"
#include "drivers/gpio.h"
#include "drivers/rack.h"
#include "tests/unit/station_sim.h"

static int setup(void **state)
{
	(void)state;
	station_init(4, "ST-TEST-1", false);
	station_cfg.rack.poll_interval_ms = 250;
	station_cfg.rack.telemetry_interval_ms = 3600 * 1000;
	snprintf(station_cfg.store.path, sizeof station_cfg.store.path, "%s", station_db);
	return 0;
}

/* The open fault of code on slot number n: its id, "" for none. */
static const char *open_fault(const char *code, int n)
{
	char q[200];

	snprintf(q, sizeof q, "SELECT id FROM faults WHERE code = '%s' AND slot = %d AND cleared_at IS NULL",
		 code, n);
	return station_sql(q);
}

static int count(const char *query)
{
	return atoi(station_sql(query));
}

/* The last outcome recorded for fault id's action. */
static const char *outcome(int id, const char *action)
{
	char q[256];

	snprintf(q, sizeof q, "SELECT outcome FROM fault_actions WHERE fault = %d AND action = '%s' "
		 "ORDER BY rowid DESC LIMIT 1", id, action);
	return station_sql(q);
}

/* Runs until code's fault on slot n is open (or not), at most ms. */
static bool wait_open(const char *code, int n, bool open, int64_t ms)
{
	for (int64_t t = 0; t <= ms; t += 250) {
		if ((open_fault(code, n)[0] != 0) == open)
			return true;
		station_run_ms(250);
	}
	return false;
}

static void test_slot_offline(void **state)
{
	(void)state;
	station_start(STATION_FAULT_STATION);
	station_ready();
	assert_string_equal(open_fault("slot_offline", 2), "");
	station_sim("{\"op\": \"silence\", \"slot\": 2}");
	assert_true(wait_open("slot_offline", 2, true, 10000));
	int id = atoi(open_fault("slot_offline", 2));

	assert_true(fault_blocks_slot(2));
	assert_false(fault_blocks_slot(1));
	assert_string_equal(outcome(id, "probe with backoff (the rack retries)"), "taken");
	station_run_ms(30000); /* still silent: one fault, one fault.raised */
	assert_int_equal(count("SELECT count(*) FROM faults WHERE code = 'slot_offline'"), 1);
	assert_int_equal(count("SELECT count(*) FROM outbox WHERE type = 'fault.raised'"), 1);
	station_sim("{\"op\": \"silence\", \"slot\": 2, \"on\": false}");
	station_run_ms(20000);
	assert_string_equal(outcome(id, "probe with backoff (the rack retries)"),
			    "ok: the slot answers again");
	assert_int_equal(atoi(open_fault("slot_offline", 2)), id); /* until gone for 60 s */
	assert_true(wait_open("slot_offline", 2, false, 60000));
	assert_string_equal(station_sql("SELECT how FROM faults WHERE code = 'slot_offline'"),
			    "condition gone");
	assert_int_equal(count("SELECT count(*) FROM outbox WHERE type = 'fault.cleared'"), 1);
	assert_false(fault_blocks_slot(2));
}

/* A slot silent from the start never goes offline in the rack's eyes (it
 * never came online): the detector says so after its grace. */
static void test_offline_since_start(void **state)
{
	(void)state;
	station_start(0);
	station_sim("{\"op\": \"silence\", \"slot\": 3}");
	station_start(STATION_FAULT_STATION);
	assert_true(wait_open("slot_offline", 3, true, 15000));
	assert_string_equal(station_sql("SELECT detail FROM faults WHERE code = 'slot_offline'"),
			    "no answer since start");
	assert_string_equal(open_fault("slot_offline", 1), "");
}

static void publish(enum event_type type, int i, bool on)
{
	struct event ev = { .type = type, .slot = i, .slot_no = i < 0 ? 0 : i + 1, .on = on };

	event_publish(&ev);
}

static void test_door_left_open(void **state)
{
	(void)state;
	station_start(STATION_FAULT_STATION);
	station_ready();
	assert_int_equal(slots_hold(0, "swap", 1), SW_OK); /* a swap's door: expected */
	station_set_lock(0, false);
	station_step("{\"op\": \"open\", \"slot\": 1}");
	assert_string_equal(open_fault("door_unexpected", 1), "");
	publish(EV_DOOR_ALARM, 0, true); /* what the swap flow says */
	int id = atoi(open_fault("door_left_open", 1));

	assert_true(id > 0);
	assert_true(fault_blocks_slot(1));
	station_step("{\"op\": \"close\", \"slot\": 1}");
	publish(EV_DOOR_ALARM, 0, false);
	station_run_ms(2000);
	assert_string_equal(outcome(id, "lock when closed"), "taken");
	station_run_ms(10000); /* nobody locked it */
	assert_string_equal(outcome(id, "lock when closed"), "failed: not read back after the condition went");
	station_set_lock(0, true);
	assert_true(wait_open("door_left_open", 1, false, 40000));

	/* once more, locked in time this time */
	station_set_lock(0, false);
	station_step("{\"op\": \"open\", \"slot\": 1}");
	publish(EV_DOOR_ALARM, 0, true);
	id = atoi(open_fault("door_left_open", 1));
	station_step("{\"op\": \"close\", \"slot\": 1}");
	publish(EV_DOOR_ALARM, 0, false);
	station_set_lock(0, true);
	station_run_ms(2000);
	assert_string_equal(outcome(id, "lock when closed"), "ok: closed and locked (read back)");
}

static void test_door_unexpected(void **state)
{
	(void)state;
	station_start(STATION_FAULT_STATION);
	station_ready();
	station_run_ms(1500); /* the detector's look has seen the door shut */
	station_step("{\"op\": \"open\", \"slot\": 2, \"force\": true}"); /* broken open */
	int id = atoi(open_fault("door_unexpected", 2));

	assert_true(id > 0);
	station_run_ms(2000);
	assert_string_equal(outcome(id, "lock the door"), "ok: locked (read back)");
	station_step("{\"op\": \"close\", \"slot\": 2}");
	assert_true(wait_open("door_unexpected", 2, false, 70000));
	assert_string_equal(open_fault("door_unexpected", 1), "");
}

/* The fresh-Debian user run caught it: after a restart the first reading
 * finds the door of a swap being taken up open, before the swap flow holds
 * its slot again; that is not a door opened unexpectedly, and locking it
 * blocked the slot and fought the rider. */
static void test_door_open_at_start_is_not_unexpected(void **state)
{
	(void)state;
	station_start(0);
	station_ready();
	station_step("{\"op\": \"open\", \"slot\": 2, \"force\": true}");
	station_start(STATION_FAULT_STATION);
	publish(EV_DOOR_OPENED, 1, true); /* slot 2's first reading, as slots.c says it */
	station_run_ms(3000);
	assert_string_equal(open_fault("door_unexpected", 2), "");
	assert_false(fault_blocks_slot(2));
}

static void test_estop(void **state)
{
	(void)state;
	station_start(STATION_FAULT_STATION);
	station_ready();
	rack_hold_charging_off(true); /* what slots.c does before it says so */
	publish(EV_ESTOP_PRESSED, -1, true);
	int id = atoi(open_fault("emergency_stop", 0));

	assert_true(id > 0);
	/* the live input refuses swaps (swap flow) and holds charging off (rack);
	 * the open fault must not go on blocking for its 10 s after the release */
	assert_false(fault_blocks_station());
	assert_int_equal(count("SELECT count(*) FROM outbox WHERE type = 'ticket.opened'"), 1);
	station_run_ms(3000);
	assert_string_equal(outcome(id, "charging held off on every slot (the rack)"),
			    "ok: charging off read back on every online slot");
	rack_hold_charging_off(false);
	publish(EV_ESTOP_RELEASED, -1, false);
	assert_true(wait_open("emergency_stop", 0, false, 15000));
	assert_false(fault_blocks_station());
}

static void test_clock_and_broker(void **state)
{
	(void)state;
	station_cfg.sync.enabled = true; /* sync not started: never connected */
	station_cfg.faults.broker_down_s = 120;
	station_start(STATION_FAULT_STATION);
	loop_set_wall_synced(false);
	station_run_ms(110000);
	assert_string_equal(open_fault("broker_unreachable", 0), "");
	assert_true(wait_open("broker_unreachable", 0, true, 15000));
	assert_false(fault_blocks_station());
	assert_string_equal(open_fault("clock_unsynced", 0), "");
	assert_true(wait_open("clock_unsynced", 0, true, 200000));
	int id = atoi(open_fault("clock_unsynced", 0));

	assert_string_equal(outcome(id, "mark events clock: unsynced (the outbox)"), "ok: events marked");
	loop_set_wall_synced(true);
	assert_true(wait_open("clock_unsynced", 0, false, 310000));
	station_cfg.sync.enabled = false;
}

static void test_disk_low(void **state)
{
	(void)state;
	station_cfg.faults.disk_min_mb = 1000000; /* more than this disk has free */
	station_start(STATION_FAULT_STATION);
	assert_true(wait_open("store_error", 0, true, 3000));
	assert_true(fault_blocks_station());
	assert_non_null(strstr(station_sql("SELECT detail FROM faults WHERE code = 'store_error'"),
			       "MB free on the store's disk (under 1000000 MB)"));
	station_cfg.faults.disk_min_mb = 1;
	fault_station_reconfigure(&station_cfg);
	assert_true(wait_open("store_error", 0, false, 70000));
	assert_false(fault_blocks_station());
}

/* Whether slot number n's charger is on in the simulator. */
static bool charger_on(int n)
{
	char verb[64], why[160];
	json_object *r, *v;

	snprintf(verb, sizeof verb, "{\"op\": \"get\", \"slot\": %d}", n);
	r = rack_bus_sim_exec(verb, why, sizeof why);
	if (!r)
		fail_msg("get: %s", why);
	assert_true(json_object_object_get_ex(r, "charger_on", &v));
	bool on = json_object_get_boolean(v);
	json_object_put(r);
	return on;
}

/* Sets the simulated chip's mains sense line (drivers/gpio_sim.c). */
static void mains_level(const char *chip, int level)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	char text[32];
	int fd = socket(AF_UNIX, SOCK_DGRAM, 0);

	assert_true(fd >= 0);
	snprintf(a.sun_path, sizeof a.sun_path, "%s", chip);
	snprintf(text, sizeof text, "mains=%d", level);
	assert_int_equal(sendto(fd, text, strlen(text), 0, (struct sockaddr *)&a, sizeof a),
			 (ssize_t)strlen(text));
	close(fd);
}

/* Runs until slot n's supply relay reads cut (or not), at most ms. */
static bool wait_cut(int n, bool cut, int64_t ms)
{
	bool v = !cut;

	for (int64_t t = 0; t <= ms; t += 250) {
		if (gpio_get(GPIO_SLOT_POWER, n, &v) == SW_OK && v == cut)
			return true;
		station_run_ms(250);
	}
	return false;
}

/* The station's GPIO: the simulated chip at chip with the one line l
 * (its name given), before the modules start. */
static void one_gpio_line(char chip[64], struct gpio_line_config l, const char *name)
{
	snprintf(chip, 64, "/tmp/test_fault_station.%d.chip", (int)getpid());
	station_cfg.gpio.enabled = true;
	snprintf(station_cfg.gpio.chip, sizeof station_cfg.gpio.chip, "sim:%s", chip);
	snprintf(l.name, sizeof l.name, "%s", name);
	station_cfg.gpio.lines[0] = l;
	station_cfg.gpio.nlines = 1;
}

#define CYCLE "power-cycle the controller (its supply relay)"

/* A silent controller with a supply relay: power-cycled 30 s after its
 * slot_offline, judged 20 s after the supply came back (still silent:
 * failed), tried again after a longer wait, and ok once it answers; the
 * supply is never left cut. */
static void test_power_cycle(void **state)
{
	char chip[64];

	(void)state;
	one_gpio_line(chip, (struct gpio_line_config){ .role = GPIO_SLOT_POWER, .slot = 2 }, "ctl2");
	station_start(STATION_FAULT_STATION);
	station_ready();
	station_sim("{\"op\": \"silence\", \"slot\": 2}");
	assert_true(wait_open("slot_offline", 2, true, 10000));
	int id = atoi(open_fault("slot_offline", 2));
	station_run_ms(25000);
	assert_string_equal(outcome(id, CYCLE), ""); /* the rack's probes first */
	assert_true(wait_cut(2, true, 10000));
	assert_string_equal(outcome(id, CYCLE), "taken");
	assert_true(wait_cut(2, false, 4000));
	station_run_ms(21000);
	assert_string_equal(outcome(id, CYCLE), "failed: still silent");
	station_run_ms(30000);
	assert_true(wait_cut(2, false, 0)); /* the next try waits longer */
	assert_true(wait_cut(2, true, 60000));
	station_sim("{\"op\": \"silence\", \"slot\": 2, \"on\": false}"); /* it boots */
	assert_true(wait_cut(2, false, 4000));
	station_run_ms(3000);
	assert_string_equal(outcome(id, CYCLE), "ok: the controller answers again");
	assert_int_equal(count("SELECT count(*) FROM fault_actions WHERE action = '" CYCLE
			       "' AND outcome = 'taken'"), 2);
	unlink(chip);
}

/* Mains lost: power_lost blocks the station, charging is held off on
 * every slot and read back (the charge module's retries refused), an
 * emergency stop released meanwhile does not let charging go; mains back:
 * the fault clears and charging resumes. */
static void test_power_lost(void **state)
{
	char chip[64];

	(void)state;
	one_gpio_line(chip, (struct gpio_line_config){ .role = GPIO_POWER, .active_low = true,
							.debounce_ms = 20 }, "mains");
	station_start(STATION_FAULT_STATION | STATION_CHARGE);
	station_ready();
	station_sim("{\"op\": \"insert\", \"slot\": 1, \"battery\": 1001, \"soc\": 60, \"force\": true}");
	station_run_ms(3000);
	assert_true(charger_on(1));
	assert_string_equal(open_fault("power_lost", 0), "");

	mains_level(chip, 1); /* active low: mains gone */
	station_run_ms(200);  /* the input's own event, not the next look */
	int id = atoi(open_fault("power_lost", 0));
	assert_true(id > 0);
	assert_true(fault_blocks_station());
	station_run_ms(1300);
	assert_false(charger_on(1));
	station_run_ms(1500);
	assert_string_equal(outcome(id, "charging held off on every slot (the rack)"),
			    "ok: charging off read back on every online slot");
	station_run_ms(150 * 1000); /* past charge.retry_s: still off */
	assert_false(charger_on(1));

	rack_hold_charging_off(false); /* the e-stop's release, as slots.c does it */
	publish(EV_ESTOP_RELEASED, -1, false);
	station_run_ms(150 * 1000);
	assert_false(charger_on(1));

	mains_level(chip, 0);
	station_run_ms(30 * 1000);
	assert_string_not_equal(open_fault("power_lost", 0), ""); /* 60 s gone first */
	assert_true(wait_open("power_lost", 0, false, 40000));
	assert_false(fault_blocks_station());
	station_run_ms(90 * 1000);
	assert_true(charger_on(1));
	assert_int_equal(count("SELECT count(*) FROM outbox WHERE type = 'fault.raised'"
			       " AND json_extract(payload, '$.code') = 'power_lost'"), 1);
	unlink(chip);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_slot_offline, setup, station_teardown),
		cmocka_unit_test_setup_teardown(test_offline_since_start, setup, station_teardown),
		cmocka_unit_test_setup_teardown(test_door_left_open, setup, station_teardown),
		cmocka_unit_test_setup_teardown(test_door_unexpected, setup, station_teardown),
		cmocka_unit_test_setup_teardown(test_door_open_at_start_is_not_unexpected, setup,
						station_teardown),
		cmocka_unit_test_setup_teardown(test_estop, setup, station_teardown),
		cmocka_unit_test_setup_teardown(test_power_lost, setup, station_teardown),
		cmocka_unit_test_setup_teardown(test_power_cycle, setup, station_teardown),
		cmocka_unit_test_setup_teardown(test_clock_and_broker, setup, station_teardown),
		cmocka_unit_test_setup_teardown(test_disk_low, setup, station_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
