/* rack.c and slots.c on the simulated bus ("sim:N": the real firmware in
 * this process) in simulated time: no pty, no simulator process, no
 * sleeping. A battery goes in and out of a slot and the slot events come
 * in order; riders return and take batteries; a silenced slot goes offline
 * and is probed with backoff for an hour of simulated time, in a fraction
 * of a second. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "daemon/config.h"
#include "daemon/charge.h"
#include "daemon/command.h"
#include "daemon/event.h"
#include "daemon/loop.h"
#include "daemon/slots.h"
#include "daemon/store.h"
#include "drivers/rack.h"
#include "drivers/rack_bus.h"

#define HOUR_MS (3600 * 1000)

static struct config cfg;
static struct store *store;
static char dir[64];

/* Every event heard, in order. */
static struct event heard[256];
static int nheard;

static void record(const struct event *ev, void *arg)
{
	(void)arg;
	if (nheard < (int)(sizeof heard / sizeof heard[0]))
		heard[nheard++] = *ev;
}

static const enum event_type slot_events[] = {
	EV_SLOT_OFFLINE, EV_SLOT_ONLINE, EV_DOOR_OPENED, EV_DOOR_CLOSED, EV_LOCK_CHANGED,
	EV_BATTERY_INSERTED, EV_BATTERY_REMOVED,
};

static int64_t real_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int setup(void **state)
{
	char why[256];
	struct rack_config *rc = &cfg.rack;

	(void)state;
	snprintf(dir, sizeof dir, "/tmp/swapd-slots-sim-XXXXXX");
	assert_non_null(mkdtemp(dir));
	char path[128];
	snprintf(path, sizeof path, "%s/swapd.db", dir);
	assert_int_equal(store_open(path, 1000, &store, why, sizeof why), SW_OK);
	memset(&cfg, 0, sizeof cfg);
	rc->enabled = true;
	snprintf(rc->device, sizeof rc->device, "sim:2");
	snprintf(rc->profile, sizeof rc->profile, "config/profiles/swapd-slot-v1.json");
	rc->baud = 19200;
	rc->parity = 'N';
	rc->data_bits = 8;
	rc->stop_bits = 1;
	rc->response_timeout_ms = 100;
	rc->offline_after = 3;
	rc->poll_interval_ms = 250;
	rc->slow_every = 10;
	rc->heartbeat_ms = 1000;
	rc->watchdog_s = 5;
	rc->reconnect_ms = 500;
	rc->charged_soc = 95;
	/* no telemetry rows in these tests: their writes wait on the disk */
	rc->telemetry_interval_ms = 2 * HOUR_MS;
	rc->telemetry_rows = 10;
	rc->nslots = 2;
	for (int i = 0; i < 2; i++)
		rc->slots[i] = (struct rack_slot_config){ .slot = i + 1, .unit = i + 1 };
	loop_set_clock(true);
	nheard = 0;
	for (size_t k = 0; k < sizeof slot_events / sizeof slot_events[0]; k++)
		assert_int_equal(event_subscribe(slot_events[k], record, NULL), SW_OK);
	assert_int_equal(slots_start(&cfg, store, why, sizeof why), SW_OK);
	return 0;
}

static int teardown(void **state)
{
	char path[128];

	(void)state;
	slots_stop();
	command_forget(); /* slots_start registers its commands again next time */
	for (size_t k = 0; k < sizeof slot_events / sizeof slot_events[0]; k++)
		event_unsubscribe(slot_events[k], record, NULL);
	store_close(store);
	loop_set_clock(false);
	loop_free();
	snprintf(path, sizeof path, "%s/swapd.db", dir);
	unlink(path);
	snprintf(path, sizeof path, "%s/swapd.db-wal", dir);
	unlink(path);
	snprintf(path, sizeof path, "%s/swapd.db-shm", dir);
	unlink(path);
	rmdir(dir);
	return 0;
}

static void sim(const char *verb)
{
	char why[256];
	json_object *r = rack_bus_sim_exec(verb, why, sizeof why);

	if (!r)
		fail_msg("%s: %s", verb, why);
	json_object_put(r);
}

struct want {
	enum event_type type;
	int slot;
	int from;      /* heard from this index on */
};

static bool seen(void *arg)
{
	const struct want *w = arg;

	for (int k = w->from; k < nheard; k++)
		if (heard[k].type == w->type && heard[k].slot == w->slot)
			return true;
	return false;
}

/* Runs simulated time until slot index i publishes type; at most 10 s. */
static void wait_event(enum event_type type, int i)
{
	struct want w = { type, i, nheard };

	if (!loop_run_until(seen, &w, 10000))
		fail_msg("no %s from slot index %d", event_name(type), i);
}

static bool lock_confirmed(void *arg)
{
	(void)arg;
	return rack_reading(0)->online && rack_reading(1)->online && !rack_safe_pending(0) &&
	       !rack_safe_pending(1);
}

static void write_done(enum sw_err e, void *arg)
{
	*(enum sw_err *)arg = e;
}

static bool write_finished(void *arg)
{
	return *(enum sw_err *)arg != SW_EBUSY;
}

/* A command the way slots.c sends one, waited for until it read back. */
static void command(int i, enum rack_field f, double value)
{
	enum sw_err result = SW_EBUSY;

	assert_int_equal(rack_write(i, f, value, write_done, &result), SW_OK);
	assert_true(loop_run_until(write_finished, &result, 5000));
	assert_int_equal(result, SW_OK);
}

/* Unlock, open, insert, close, lock; then the door forced open, the
 * battery taken, the door closed: each step's events, in order, for the
 * slot it happened in and nothing else. */
static void test_battery_in_and_out(void **state)
{
	int64_t t0 = real_ms();

	(void)state;
	assert_true(loop_run_until(lock_confirmed, NULL, 5000));
	nheard = 0; /* the slots coming online: not what this test is about */

	command(0, RF_LOCK_CMD, 0);
	wait_event(EV_LOCK_CHANGED, 0);
	sim("{\"op\": \"open\", \"slot\": 1}");
	wait_event(EV_DOOR_OPENED, 0);
	sim("{\"op\": \"insert\", \"slot\": 1, \"battery\": 42, \"soc\": 40}");
	wait_event(EV_BATTERY_INSERTED, 0);
	sim("{\"op\": \"close\", \"slot\": 1}");
	wait_event(EV_DOOR_CLOSED, 0);
	command(0, RF_LOCK_CMD, 1);
	wait_event(EV_LOCK_CHANGED, 0);
	assert_int_not_equal(slots_state(0), SLOT_EMPTY);

	/* The door is locked: only force opens it (a broken door). */
	sim("{\"op\": \"open\", \"slot\": 1, \"force\": true}");
	wait_event(EV_DOOR_OPENED, 0);
	sim("{\"op\": \"remove\", \"slot\": 1}");
	wait_event(EV_BATTERY_REMOVED, 0);
	sim("{\"op\": \"close\", \"slot\": 1}");
	wait_event(EV_DOOR_CLOSED, 0);
	/* and a few seconds more: nothing else happens */
	struct want none = { EV_COUNT, -1, 0 };
	assert_false(loop_run_until(seen, &none, 5000));

	static const struct {
		enum event_type type;
		bool on;
		uint64_t battery;
	} want[] = {
		{ EV_LOCK_CHANGED, false, 0 }, { EV_DOOR_OPENED, false, 0 },
		{ EV_BATTERY_INSERTED, false, 42 }, { EV_DOOR_CLOSED, false, 0 },
		{ EV_LOCK_CHANGED, true, 0 }, { EV_DOOR_OPENED, false, 0 },
		{ EV_BATTERY_REMOVED, false, 42 }, { EV_DOOR_CLOSED, false, 0 },
	};
	for (int k = 0; k < nheard; k++)
		print_message("event %d: %s slot %d on %d battery %llu\n", k, event_name(heard[k].type),
			      heard[k].slot_no, heard[k].on, (unsigned long long)heard[k].battery);
	assert_int_equal(nheard, sizeof want / sizeof want[0]);
	for (int k = 0; k < nheard; k++) {
		assert_int_equal(heard[k].type, want[k].type);
		assert_int_equal(heard[k].slot, 0);
		assert_int_equal(heard[k].slot_no, 1);
		assert_int_equal(heard[k].on, want[k].on);
		assert_int_equal(heard[k].battery, want[k].battery);
	}
	assert_int_equal(slots_state(0), SLOT_EMPTY);
	/* simulated seconds of it, no real sleeping */
	assert_true(real_ms() - t0 < 2000);
}

/* The heard events of type for slot index 0 from index from on. */
static int count(enum event_type type, int from)
{
	int n = 0;

	for (int k = from; k < nheard; k++)
		n += heard[k].type == type && heard[k].slot == 0;
	return n;
}

/* The riders' verbs on the in-process bus, on the loop's clock: a locked
 * door refuses a rider; a return is heard as the door opening, the battery
 * arriving and, after the dwell in simulated time, the door shutting; a
 * take with no dwell is heard only as the battery gone. */
static void test_riders(void **state)
{
	char why[256];

	(void)state;
	assert_true(loop_run_until(lock_confirmed, NULL, 5000));
	assert_null(rack_bus_sim_exec("{\"op\": \"return\", \"slot\": 1, \"battery\": 7}", why,
				      sizeof why));
	assert_string_equal(why, "slot 1: the door is locked: a rider cannot open it");
	command(0, RF_LOCK_CMD, 0);
	wait_event(EV_LOCK_CHANGED, 0);

	nheard = 0;
	int64_t t = loop_now();
	sim("{\"op\": \"return\", \"slot\": 1, \"battery\": 7, \"soc\": 30, \"dwell\": 2}");
	wait_event(EV_DOOR_CLOSED, 0);
	assert_true(loop_now() - t >= 2000);
	assert_int_equal(count(EV_DOOR_OPENED, 0), 1);
	assert_int_equal(count(EV_BATTERY_INSERTED, 0), 1);
	assert_int_equal(heard[nheard - 1].type, EV_DOOR_CLOSED);
	for (int k = 0; k < nheard; k++)
		if (heard[k].type == EV_BATTERY_INSERTED)
			assert_int_equal(heard[k].battery, 7);

	int from = nheard;
	sim("{\"op\": \"take\", \"slot\": 1, \"dwell\": 0}");
	wait_event(EV_BATTERY_REMOVED, 0);
	struct want none = { EV_COUNT, -1, 0 };
	assert_false(loop_run_until(seen, &none, 3000));
	assert_int_equal(count(EV_DOOR_OPENED, from) + count(EV_DOOR_CLOSED, from), 0);
	assert_int_equal(slots_state(0), SLOT_EMPTY);
}

static bool never(void *arg)
{
	(void)arg;
	return false;
}

/* Slot 2 goes silent: after rack.offline_after misses it is offline, then
 * probed after 1, 2, 4, ... s up to 30 s, so an hour costs about 125
 * timeouts, not the 14400 a probe every cycle would; slot 1 stays online
 * throughout; slot 2 is back within one backoff of answering again. */
static void test_hour_offline_backoff(void **state)
{
	struct rack_stats st;
	int64_t t0 = real_ms(), s0;

	(void)state;
	assert_true(loop_run_until(lock_confirmed, NULL, 5000));
	nheard = 0;
	rack_stats(&st);
	uint64_t timeouts0 = st.timeouts;
	sim("{\"op\": \"silence\", \"slot\": 2}");
	s0 = loop_now();
	assert_false(loop_run_until(never, NULL, HOUR_MS));
	assert_true(loop_now() - s0 >= HOUR_MS);

	rack_stats(&st);
	uint64_t probes = st.timeouts - timeouts0;
	print_message("an hour silent: %llu timeouts, %lld ms real time\n",
		      (unsigned long long)probes, (long long)(real_ms() - t0));
	/* 3 misses, then 1+2+4+8+16 s and 30 s apart: 3 + 5 + 119 */
	assert_true(probes >= 120 && probes <= 130);
	int offline = 0;
	for (int k = 0; k < nheard; k++) {
		assert_int_equal(heard[k].slot, 1); /* slot 1 never went anywhere */
		offline += heard[k].type == EV_SLOT_OFFLINE;
	}
	assert_int_equal(offline, 1);
	assert_true(rack_reading(0)->online);
	assert_false(rack_reading(1)->online);
	assert_int_equal(slots_state(1), SLOT_OFFLINE);

	sim("{\"op\": \"silence\", \"slot\": 2, \"on\": false}");
	s0 = loop_now();
	wait_event(EV_SLOT_ONLINE, 1);
	assert_true(loop_now() - s0 <= 30000 + 1000);
	assert_true(real_ms() - t0 < 1000);
}

static int readings;

static void count_reading(const struct event *ev, void *arg)
{
	(void)ev;
	(void)arg;
	readings++;
}

static bool charging_off_confirmed(void *arg)
{
	(void)arg;
	for (int i = 0; i < 2; i++)
		if (rack_safe_pending(i) & (1u << RACK_SAFE_CHARGE_OFF))
			return false;
	return true;
}

/* An emergency stop already pressed when swapd starts (slots_start calls
 * the same hold before the first cycle): charging off goes to every slot
 * before any slot is read, not after a cycle of reads. */
static void test_estop_at_start_goes_first(void **state)
{
	(void)state;
	readings = 0;
	assert_int_equal(event_subscribe(EV_SLOT_READING, count_reading, NULL), SW_OK);
	rack_hold_charging_off(true);
	assert_true(loop_run_until(charging_off_confirmed, NULL, 5000));
	assert_int_equal(readings, 0);
	event_unsubscribe(EV_SLOT_READING, count_reading, NULL);
	rack_hold_charging_off(false);
}

static bool slot_is(void *arg)
{
	const int *want = arg;

	return slots_state(0) == (enum slot_state)*want;
}

/* A battery locked in below the charged level is charged at the configured
 * limit, without anyone asking; with charge.auto off it is left alone. */
static void test_idle_battery_is_charged(void **state)
{
	char why[256];
	int charging = SLOT_CHARGING, idle = SLOT_IDLE;

	(void)state;
	cfg.charge = (struct config_charge){ .automatic = false, .current_a = 30, .retry_s = 60 };
	assert_int_equal(charge_start(&cfg, store, why, sizeof why), SW_OK);
	assert_true(loop_run_until(lock_confirmed, NULL, 5000));
	sim("{\"op\": \"insert\", \"slot\": 1, \"battery\": 42, \"soc\": 40, \"force\": true}");
	assert_true(loop_run_until(slot_is, &idle, 10000));
	assert_false(loop_run_until(slot_is, &charging, 10000));
	charge_stop();

	cfg.charge.automatic = true;
	assert_int_equal(charge_start(&cfg, store, why, sizeof why), SW_OK);
	assert_true(loop_run_until(slot_is, &charging, 10000));
	json_object *truth = rack_bus_sim_exec("{\"op\": \"get\", \"slot\": 1}", why, sizeof why);
	assert_non_null(truth);
	json_object *v;
	assert_true(json_object_object_get_ex(truth, "current_limit", &v));
	assert_true(json_object_get_double(v) == 30.0);
	json_object_put(truth);
	charge_stop();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_battery_in_and_out, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hour_offline_backoff, setup, teardown),
		cmocka_unit_test_setup_teardown(test_riders, setup, teardown),
		cmocka_unit_test_setup_teardown(test_estop_at_start_goes_first, setup, teardown),
		cmocka_unit_test_setup_teardown(test_idle_battery_is_charged, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
