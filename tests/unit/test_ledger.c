/* The battery ledger (ledger.c) on the simulated rack ("sim:4", the real
 * firmware in this process) in simulated time, with a real store: a
 * battery put in and taken out outside a swap, a swap's own record before
 * or after the ledger's, a slot gone offline, a presence sensor that
 * fails behind a locked door, the quarantine of batteries that come in
 * outside a swap and their release, slots out of service and the faults
 * their release clears, the commands, and a restart that keeps all of
 * it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "daemon/fault.h"
#include "daemon/ledger.h"
#include "daemon/slots.h"
#include "daemon/store.h"
#include "drivers/rack.h"
#include "tests/unit/station_sim.h"

#define MIN_MS (60 * 1000)

static int setup(void **state)
{
	(void)state;
	return station_setup(false);
}

/* In, then out outside a swap: the row follows, the place "unknown" keeps
 * the last slot and values; the values are written when they change
 * noticeably or after ledger.write_interval_s, not at every reading. */
static void test_in_and_out(void **state)
{
	(void)state;
	station_ready();
	station_put_in(1, 42, 95);
	struct store_battery b = station_row(42);
	assert_true(b.soc > 59 && b.soc < 61);
	assert_true(b.soh > 94 && b.soh < 96);
	assert_int_equal(b.unseen_since, 0);
	assert_false(b.quarantined);
	int64_t first = b.read_at;
	assert_true(first > 0);

	station_run_ms(MIN_MS); /* read about 240 times since: not written */
	assert_int_equal(station_row(42).read_at, first);
	station_run_ms(station_cfg.ledger.write_interval_s * 1000);
	assert_true(station_row(42).read_at > first + MIN_MS);

	station_set_lock(0, false);
	station_sim("{\"op\": \"open\", \"slot\": 1}");
	station_sim("{\"op\": \"remove\", \"slot\": 1}");
	station_sim("{\"op\": \"close\", \"slot\": 1}");
	station_wait_place(42, "unknown", 1);
	b = station_row(42);
	assert_true(b.soh > 94 && b.soh < 96); /* the last values stay */
	assert_int_equal(slots_state(0), SLOT_EMPTY);
}

/* A swap (or a job) records where its battery went; the ledger's
 * "unknown" never overwrites that when the swap came first, and the
 * swap's record wins when it comes after. */
static void test_swap_record_either_order(void **state)
{
	(void)state;
	station_ready();
	station_put_in(1, 7, 95);
	station_put_in(2, 8, 95);

	/* the swap first: its record, then the battery leaves */
	assert_int_equal(slots_hold(0, "swap", 11), SW_OK);
	assert_int_equal(store_battery_left(station_store, 7, "rider", 11, "u-1", NULL), SW_OK);
	station_set_lock(0, false);
	station_sim("{\"op\": \"open\", \"slot\": 1}");
	station_sim("{\"op\": \"remove\", \"slot\": 1}");
	station_sim("{\"op\": \"close\", \"slot\": 1}");
	station_run_ms(3000);
	struct store_battery b = station_row(7);
	assert_string_equal(b.place, "rider");
	assert_int_equal(b.swap, 11);

	/* the battery leaves first, then the swap records it */
	assert_int_equal(slots_hold(1, "swap", 12), SW_OK);
	station_set_lock(1, false);
	station_sim("{\"op\": \"open\", \"slot\": 2}");
	station_sim("{\"op\": \"remove\", \"slot\": 2}");
	station_wait_place(8, "unknown", 2);
	assert_int_equal(store_battery_left(station_store, 8, "rider", 12, "u-2", NULL), SW_OK);
	station_sim("{\"op\": \"close\", \"slot\": 2}");
	station_run_ms(3000);
	b = station_row(8);
	assert_string_equal(b.place, "rider");
	assert_string_equal(b.holder, "u-2");
}

/* An offline slot keeps its battery, with the values last read and their
 * time; back online with the same battery, nothing moved. */
static void test_offline_keeps_place(void **state)
{
	(void)state;
	station_ready();
	station_put_in(3, 99, 90);
	station_run_ms(5000);
	const struct rack_reading *r = rack_reading(2);
	int64_t since = station_row(99).since;
	station_sim("{\"op\": \"silence\", \"slot\": 3}");
	station_run_ms(5000);
	assert_false(r->online);
	assert_int_equal(slots_state(2), SLOT_OFFLINE);
	struct store_battery b = station_row(99);
	assert_string_equal(b.place, "slot");
	assert_int_equal(b.slot, 3);
	assert_int_equal(b.read_at, r->slow_at); /* flushed at going offline */
	station_run_ms(10 * MIN_MS);
	assert_int_equal(station_row(99).read_at, b.read_at);
	station_sim("{\"op\": \"silence\", \"slot\": 3, \"on\": false}");
	station_run_ms(40000);
	assert_true(r->online);
	b = station_row(99);
	assert_string_equal(b.place, "slot");
	assert_int_equal(b.since, since);
}

/* The presence sensor reads empty while the door stayed closed and locked
 * (the simulator takes the battery out behind the locked door, which is
 * what swapd sees of a failed sensor): the battery stays in its slot,
 * flagged, and the slot is out of service. Released by an admin with the
 * slot still empty, the battery is gone after all. */
static void test_failed_presence_sensor(void **state)
{
	(void)state;
	station_ready();
	station_put_in(2, 55, 95);
	station_run_ms(2000);
	station_sim("{\"op\": \"remove\", \"slot\": 2, \"force\": true}");
	station_run_ms(3000);
	struct store_battery b = station_row(55);
	assert_string_equal(b.place, "slot");
	assert_int_equal(b.slot, 2);
	assert_true(b.unseen_since > 0);
	assert_int_equal(slots_state(1), SLOT_QUARANTINED);
	assert_string_equal(station_sql("SELECT reason FROM slot_service WHERE slot = 2"),
			    "presence sensor lost BAT-00055");
	assert_string_equal(station_sql("SELECT what FROM audit ORDER BY id DESC LIMIT 1"),
			    "presence-lost");

	/* an engineer looked, and found the slot empty */
	assert_int_equal(ledger_slot_quarantine(2, false, "checked: empty", "uid 0 pid 1"), SW_OK);
	b = station_row(55);
	assert_string_equal(b.place, "unknown");
	assert_int_equal(b.unseen_since, 0);
	station_run_ms(1000);
	assert_int_equal(slots_state(1), SLOT_EMPTY);
}

/* The sensor comes back: the battery is seen again, no longer flagged;
 * the slot stays out of service until someone releases it. */
static void test_presence_sensor_recovers(void **state)
{
	(void)state;
	station_ready();
	station_put_in(2, 56, 95);
	station_run_ms(2000);
	station_sim("{\"op\": \"remove\", \"slot\": 2, \"force\": true}");
	station_run_ms(3000);
	assert_true(station_row(56).unseen_since > 0);
	station_sim("{\"op\": \"insert\", \"slot\": 2, \"battery\": 56, \"force\": true}");
	station_run_ms(3000);
	struct store_battery b = station_row(56);
	assert_string_equal(b.place, "slot");
	assert_int_equal(b.unseen_since, 0);
	assert_int_equal(slots_state(1), SLOT_QUARANTINED);
}

/* A battery that comes in outside a swap with a low SOH is quarantined
 * (battery.quarantined, the event, the slot's state); released, it is a
 * battery like any other again. */
static void test_quarantine_outside_swap_and_release(void **state)
{
	(void)state;
	station_ready();
	station_put_in(1, 61, 60);
	station_run_ms(1000);
	struct store_battery b = station_row(61);
	assert_true(b.quarantined);
	assert_string_equal(b.reason, "low_soh");
	assert_int_equal(station_heard_count(EV_BATTERY_QUARANTINED, 61), 1);
	assert_int_equal(slots_state(0), SLOT_QUARANTINED);
	json_object *p = json_tokener_parse(
		station_sql("SELECT payload FROM outbox WHERE type = 'battery.quarantined'"));
	assert_non_null(p);
	json_object *v;
	assert_true(json_object_object_get_ex(p, "battery", &v));
	assert_string_equal(json_object_get_string(v), "BAT-00061");
	assert_true(json_object_object_get_ex(p, "slot", &v));
	assert_int_equal(json_object_get_int(v), 1);
	assert_true(json_object_object_get_ex(p, "reason", &v));
	assert_string_equal(json_object_get_string(v), "low_soh");
	json_object_put(p);

	/* a healthy one next to it is not */
	station_put_in(2, 62, 95);
	station_run_ms(1000);
	assert_false(station_row(62).quarantined);
	assert_int_not_equal(slots_state(1), SLOT_QUARANTINED);

	assert_int_equal(ledger_battery_quarantine(61, false, "inspected", "staff-17"), SW_OK);
	assert_false(station_row(61).quarantined);
	assert_int_equal(station_heard_count(EV_BATTERY_RELEASED, 61), 1);
	assert_int_not_equal(slots_state(0), SLOT_QUARANTINED);
	assert_string_equal(station_sql("SELECT json_extract(payload, '$.by') FROM outbox"
				     " WHERE type = 'battery.released'"), "staff-17");
	assert_int_equal(ledger_battery_quarantine(61, false, "again", "staff-17"), SW_EEXIST);
	assert_int_equal(ledger_battery_quarantine(12345, true, "recall", "staff-17"), SW_ENOENT);
	/* a battery quarantined by hand in its slot makes the slot quarantined */
	assert_int_equal(ledger_battery_quarantine(62, true, "dented case", "staff-17"), SW_OK);
	assert_int_equal(slots_state(1), SLOT_QUARANTINED);

	/* a transport job's drop-off is judged too, even when the job
	 * records the battery before the ledger hears of it */
	assert_int_equal(slots_hold(2, "transport", 9), SW_OK);
	assert_int_equal(store_battery_in_slot(station_store, 63, 3, -1, -1, 0, 0, NULL), SW_OK);
	station_put_in(3, 63, 60);
	station_run_ms(1000);
	assert_true(station_row(63).quarantined);
	/* what a swap takes back, the swap judges */
	assert_int_equal(slots_hold(3, "swap", 4), SW_OK);
	station_put_in(4, 64, 60);
	station_run_ms(1000);
	assert_false(station_row(64).quarantined);
}

/* A slot out of service is quarantined whatever it holds, in its state
 * and its state events; back in service it is what its reading says. */
static void test_slot_out_of_service(void **state)
{
	(void)state;
	station_ready();
	assert_int_equal(slots_state(2), SLOT_EMPTY);
	station_nheard = 0;
	assert_int_equal(ledger_slot_quarantine(3, true, "door sticks", "uid 0 pid 1"), SW_OK);
	assert_int_equal(slots_state(2), SLOT_QUARANTINED);
	assert_int_equal(station_nheard, 1);
	assert_int_equal(station_heard[0].type, EV_SLOT_STATE);
	assert_int_equal(station_heard[0].to, SLOT_QUARANTINED);
	json_object *all = slots_json(), *st;
	assert_true(json_object_object_get_ex(json_object_array_get_idx(all, 2), "state", &st));
	assert_string_equal(json_object_get_string(st), "quarantined");
	json_object_put(all);
	assert_int_equal(ledger_slot_quarantine(3, true, "again", "uid 0 pid 1"), SW_EEXIST);
	assert_int_equal(ledger_slot_quarantine(9, true, "no such", "uid 0 pid 1"), SW_ENOENT);
	station_run_ms(5000); /* readings do not undo it */
	assert_int_equal(slots_state(2), SLOT_QUARANTINED);
	assert_int_equal(ledger_slot_quarantine(3, false, "fixed", "uid 0 pid 1"), SW_OK);
	assert_int_equal(slots_state(2), SLOT_EMPTY);
	assert_string_equal(station_sql("SELECT group_concat(what) FROM audit"),
			    "slot-quarantine,slot-release");
}

/* Putting a slot back into service clears its open faults that only a
 * person clears (lock_stuck, unknown_battery: daemon/FAULTS.md), saying
 * who, with their ticket; its other faults, and other slots' faults, stay
 * open; a slot released with none open clears nothing. */
static void test_release_clears_slot_faults(void **state)
{
	static const char cleared[] = "SELECT group_concat(json_extract(payload, '$.code') || ':' ||"
		" json_extract(payload, '$.how'), ',') FROM outbox WHERE type = 'fault.cleared'";

	(void)state;
	station_start(STATION_FAULT);
	station_ready();
	int64_t unknown = fault_raise(FAULT_UNKNOWN_BATTERY, 3, 777, "BMS nonsense", NULL);
	assert_true(unknown > 0);
	assert_true(fault_raise(FAULT_LOCK_STUCK, 3, 0, "door does not lock", NULL) > 0);
	assert_true(fault_raise(FAULT_OVER_TEMP, 3, 777, "61 C", NULL) > 0);
	assert_true(fault_raise(FAULT_LOCK_STUCK, 2, 0, "door does not lock", NULL) > 0);
	assert_int_equal(ledger_slot_quarantine(3, true, "unknown battery", "ledger"), SW_OK);
	assert_int_equal(ledger_slot_quarantine(4, true, "checking", "tech-7"), SW_OK);
	assert_int_equal(ledger_slot_quarantine(4, false, "checked", "tech-7"), SW_OK);
	assert_string_equal(station_sql(cleared), "");
	assert_int_equal(ledger_slot_quarantine(3, false, "battery taken away", "tech-7"), SW_OK);
	assert_string_equal(station_sql(cleared),
			    "unknown_battery:released by tech-7,lock_stuck:released by tech-7");
	char ticket[24];
	snprintf(ticket, sizeof ticket, "F%lld", (long long)unknown);
	assert_int_equal(fault_ticket_ack(ticket, "tech-7"), SW_ENOENT);
	assert_true(fault_blocks_own_slot(3)); /* over temperature: the station reads when it is gone */
	assert_true(fault_blocks_own_slot(2));
	assert_string_equal(station_sql("SELECT count(*) FROM faults WHERE cleared_at IS NULL"), "2");
}

/* The commands: the ledger as JSON, arguments as people write them, and
 * their refusals. */
static void test_commands(void **state)
{
	json_object *r, *res, *list, *v;

	(void)state;
	station_ready();
	station_put_in(1, 42, 95);
	r = station_command("batteries", "{}");
	assert_true(json_object_object_get_ex(r, "result", &res));
	assert_true(json_object_object_get_ex(res, "batteries", &list));
	assert_int_equal(json_object_array_length(list), 1);
	json_object *b = json_object_array_get_idx(list, 0);
	static const char *const keys[] = { "battery", "place", "slot", "swap", "holder", "since",
					    "soc", "soh", "cycles", "read_at", "quarantined",
					    "reason", "unseen_since" };
	for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
		if (!json_object_object_get_ex(b, keys[k], &v))
			fail_msg("no \"%s\" in %s", keys[k], json_object_to_json_string(b));
	json_object_object_get_ex(b, "battery", &v);
	assert_string_equal(json_object_get_string(v), "BAT-00042");
	json_object_object_get_ex(b, "place", &v);
	assert_string_equal(json_object_get_string(v), "slot");
	json_object_put(r);

	assert_string_equal(station_error(station_command("battery-quarantine",
						    "{\"battery\": \"42\", \"reason\": \"x\"}")), "");
	assert_true(station_row(42).quarantined);
	assert_string_equal(station_error(station_command("battery-quarantine",
						    "{\"battery\": \"BAT-00042\", \"reason\": \"x\"}")),
			    "already_quarantined");
	assert_string_equal(station_error(station_command("battery-release",
						    "{\"battery\": \"bat-42\", \"reason\": \"ok\"}")), "");
	assert_string_equal(station_error(station_command("battery-release",
						    "{\"battery\": \"42\", \"reason\": \"ok\"}")),
			    "not_quarantined");
	assert_string_equal(station_error(station_command("battery-quarantine",
						    "{\"battery\": \"BAT-0x2A\", \"reason\": \"x\"}")),
			    "bad_request");
	assert_string_equal(station_error(station_command("battery-quarantine",
						    "{\"battery\": \"0\", \"reason\": \"x\"}")),
			    "bad_request");
	assert_string_equal(station_error(station_command("battery-quarantine",
						    "{\"battery\": \"77\", \"reason\": \"x\"}")),
			    "unknown_battery");
	assert_string_equal(station_error(station_command("slot-quarantine",
						    "{\"slot\": 5, \"reason\": \"x\"}")), "unknown_slot");
	assert_string_equal(station_error(station_command("slot-release",
						    "{\"slot\": 2, \"reason\": \"x\"}")), "not_quarantined");
	assert_string_equal(station_sql("SELECT who FROM audit WHERE what = 'battery-quarantine'"),
			    "uid 0 pid 1");
}

/* A restart keeps it all: a slot out of service, a quarantined battery's
 * slot, a battery its sensor lost, a battery staff released, and the
 * batteries still in their slots (since unchanged); one taken while swapd
 * was down is unknown. */
static void test_restart_keeps_everything(void **state)
{
	(void)state;
	station_ready();
	station_put_in(1, 71, 60);  /* quarantined: low SOH */
	station_put_in(2, 72, 95);  /* taken while swapd is down */
	station_put_in(3, 73, 95);  /* its sensor fails */
	station_put_in(4, 74, 60);  /* quarantined, then released by staff */
	assert_int_equal(ledger_battery_quarantine(74, false, "inspected", "staff-17"), SW_OK);
	station_run_ms(2000);
	station_sim("{\"op\": \"remove\", \"slot\": 3, \"force\": true}");
	station_run_ms(3000);
	assert_true(station_row(73).unseen_since > 0);
	int64_t since71 = station_row(71).since;

	station_stop();
	station_start(STATION_ACCESS | STATION_LEDGER | STATION_STAFF);
	/* the rack comes back as it was, but for slot 2's battery */
	station_sim("{\"op\": \"insert\", \"slot\": 1, \"battery\": 71, \"soc\": 60, \"soh\": 60, \"force\": true}");
	station_sim("{\"op\": \"insert\", \"slot\": 4, \"battery\": 74, \"soc\": 60, \"soh\": 60, \"force\": true}");
	station_nheard = 0;
	assert_int_equal(slots_state(2), SLOT_OFFLINE);
	station_ready();
	station_run_ms(3000);
	assert_int_equal(slots_state(0), SLOT_QUARANTINED);
	assert_int_equal(slots_state(2), SLOT_QUARANTINED);
	assert_int_equal(slots_state(1), SLOT_EMPTY);
	struct store_battery b = station_row(71);
	assert_string_equal(b.place, "slot");
	assert_int_equal(b.since, since71);
	assert_true(b.quarantined);
	assert_int_equal(station_heard_count(EV_BATTERY_QUARANTINED, 71), 0); /* not again */
	b = station_row(72);
	assert_string_equal(b.place, "unknown");
	assert_int_equal(b.slot, 2);
	b = station_row(73);
	assert_string_equal(b.place, "slot");
	assert_true(b.unseen_since > 0);
	assert_false(station_row(74).quarantined); /* staff's release stands */
	assert_int_equal(slots_state(3), SLOT_IDLE);
	json_object *all = store_batteries_json(station_store);
	assert_int_equal(json_object_array_length(all), 4);
	json_object_put(all);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_in_and_out, setup, station_teardown),
		cmocka_unit_test_setup_teardown(test_swap_record_either_order, setup, station_teardown),
		cmocka_unit_test_setup_teardown(test_offline_keeps_place, setup, station_teardown),
		cmocka_unit_test_setup_teardown(test_failed_presence_sensor, setup, station_teardown),
		cmocka_unit_test_setup_teardown(test_presence_sensor_recovers, setup, station_teardown),
		cmocka_unit_test_setup_teardown(test_quarantine_outside_swap_and_release, setup, station_teardown),
		cmocka_unit_test_setup_teardown(test_slot_out_of_service, setup, station_teardown),
		cmocka_unit_test_setup_teardown(test_release_clears_slot_faults, setup, station_teardown),
		cmocka_unit_test_setup_teardown(test_commands, setup, station_teardown),
		cmocka_unit_test_setup_teardown(test_restart_keeps_everything, setup, station_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
