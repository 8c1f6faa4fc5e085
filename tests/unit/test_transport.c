/* Transport jobs on the simulated rack ("sim:6", the real firmware in this
 * process) in simulated time: a job announced, its T token scanned through
 * access_scan with a test key, the quarantined and the most worn battery
 * picked up, charged ones dropped off (one of them quarantined for its
 * SOH), the ledger rows and the transport.completed payload; tokens for no
 * job, an expired job, the wrong counts and too few free slots refused;
 * the timeout locking every door; a job a restart interrupted ended from
 * what its slots hold. */
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>
#include <sqlite3.h>

#include "daemon/access.h"
#include "daemon/command.h"
#include "daemon/config.h"
#include "daemon/event.h"
#include "daemon/fault.h"
#include "daemon/health.h"
#include "daemon/loop.h"
#include "daemon/slots.h"
#include "daemon/store.h"
#include "daemon/token.h"
#include "daemon/transport.h"
#include "drivers/rack.h"
#include "drivers/rack_bus.h"
#include "tests/unit/station_sim.h"

#define STATION "ST-DEL-001"
#define NSLOTS 6

/* The transport and quarantine events heard, in order. */
static struct event heard[32];
static char heard_what[32][40];
static int nheard;

static void record(const struct event *ev, void *arg)
{
	(void)arg;
	if (nheard == (int)(sizeof heard / sizeof heard[0]))
		return;
	heard[nheard] = *ev;
	snprintf(heard_what[nheard], sizeof heard_what[0], "%s", ev->what ? ev->what : "");
	nheard++;
}

static bool all_online_locked(void *arg)
{
	(void)arg;
	for (int i = 0; i < NSLOTS; i++)
		if (!rack_reading(i)->online || rack_safe_pending(i) || !rack_reading(i)->locked)
			return false;
	return true;
}

/* Slots 1..3 hold their batteries, identity and health read. */
static bool batteries_read(void *arg)
{
	(void)arg;
	for (int i = 0; i < 3; i++)
		if (!rack_reading(i)->present || rack_reading(i)->health_pending ||
		    slots_state(i) == SLOT_EMPTY)
			return false;
	return true;
}

static void run_until(bool (*pred)(void *), void *arg, const char *what)
{
	if (!loop_run_until(pred, arg, 20000))
		fail_msg("20 s of simulated time without %s", what);
}

/* Slots 1..3 hold batteries 101 (quarantined), 102 (SOH 95) and 103 (SOH
 * 80); 4..6 are empty. */
static int setup(void **state)
{
	(void)state;
	station_init(NSLOTS, STATION, true);
	station_cfg.rack.slow_every = 2;
	station_cfg.rack.telemetry_interval_ms = 2 * 3600 * 1000;
	station_cfg.transport.timeout_s = 120;
	nheard = 0;
	assert_int_equal(event_subscribe(EV_TRANSPORT_DONE, record, NULL), SW_OK);
	assert_int_equal(event_subscribe(EV_BATTERY_QUARANTINED, record, NULL), SW_OK);
	station_start(STATION_ACCESS | STATION_TRANSPORT | STATION_FAULT);
	run_until(all_online_locked, NULL, "every slot online and locked");
	station_step("{\"op\": \"insert\", \"slot\": 1, \"battery\": 101, \"soc\": 50, \"soh\": 90, \"force\": true}");
	station_step("{\"op\": \"insert\", \"slot\": 2, \"battery\": 102, \"soc\": 100, \"soh\": 95, \"force\": true}");
	station_step("{\"op\": \"insert\", \"slot\": 3, \"battery\": 103, \"soc\": 60, \"soh\": 80, \"force\": true}");
	assert_int_equal(store_battery_quarantine(station_store, 101, true, "test", NULL), SW_OK);
	run_until(batteries_read, NULL, "the batteries read");
	return 0;
}

static int teardown(void **state)
{
	event_unsubscribe(EV_TRANSPORT_DONE, record, NULL);
	event_unsubscribe(EV_BATTERY_QUARANTINED, record, NULL);
	return station_teardown(state);
}

static int64_t now_s(void)
{
	return loop_wall_ms() / 1000;
}

/* transport_job() with these args; returns its error code, or "ok". */
static const char *announce(const char *job, const char *pickup_json, int dropoff, int64_t exp)
{
	char text[256], msg[160];

	snprintf(text, sizeof text, "{\"job\": \"%s\", \"pickup\": %s, \"dropoff\": %d, \"exp\": %lld}",
		 job, pickup_json, dropoff, (long long)exp);
	json_object *args = json_tokener_parse(text);
	assert_non_null(args);
	const char *code = transport_job(args, "test", msg, sizeof msg);
	json_object_put(args);
	return code ? code : "ok";
}

/* A T token for job, signed with k1, scanned at the kiosk. */
static const char *scan(const char *job, const char *arg)
{
	return station_scan(TOKEN_TRANSPORT, job, arg, "control", NULL);
}

struct lock_want {
	int slot;   /* number */
	bool locked;
};

static bool lock_is(void *arg)
{
	const struct lock_want *w = arg;

	return rack_reading(slots_index(w->slot))->locked == w->locked;
}

static void wait_lock(int slot, bool locked)
{
	struct lock_want w = { slot, locked };

	run_until(lock_is, &w, locked ? "a door locked" : "a door unlocked");
}

static bool locked_all(void *arg)
{
	(void)arg;
	for (int i = 0; i < NSLOTS; i++)
		if (!rack_reading(i)->locked)
			return false;
	return true;
}

static bool done_heard(void *arg)
{
	(void)arg;
	for (int k = 0; k < nheard; k++)
		if (heard[k].type == EV_TRANSPORT_DONE)
			return true;
	return false;
}

/* The payload of the last outbox event of type, parsed (NULL: none). */
static json_object *outbox(const char *type)
{
	sqlite3 *h;
	sqlite3_stmt *st;
	json_object *o = NULL;

	assert_int_equal(sqlite3_open(station_db, &h), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(h, "SELECT payload FROM outbox WHERE type = ? ORDER BY seq DESC",
					    -1, &st, NULL), SQLITE_OK);
	sqlite3_bind_text(st, 1, type, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		o = json_tokener_parse((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	sqlite3_close(h);
	return o;
}

/* The array field of o as "A,B,C". */
static const char *list(json_object *o, const char *field)
{
	static char buf[256];
	json_object *a;

	buf[0] = '\0';
	assert_true(json_object_object_get_ex(o, field, &a));
	for (size_t k = 0; k < json_object_array_length(a); k++)
		snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "%s%s", k ? "," : "",
			 json_object_get_string(json_object_array_get_idx(a, k)));
	return buf;
}

static const char *field(json_object *o, const char *name)
{
	json_object *v;

	return json_object_object_get_ex(o, name, &v) ? json_object_get_string(v) : NULL;
}

static void assert_battery(uint64_t id, const char *place, int slot, bool quarantined)
{
	struct store_battery b;
	bool found;

	assert_int_equal(store_battery_get(station_store, id, &b, &found), SW_OK);
	assert_true(found);
	assert_string_equal(b.place, place);
	if (slot)
		assert_int_equal(b.slot, slot);
	assert_int_equal(b.quarantined, quarantined);
}

static bool held(int slot)
{
	const char *h = slots_holder(slots_index(slot), NULL);

	return h && strcmp(h, "transport") == 0;
}

/* p2d3: the quarantined 101 and the most worn 103 are picked up, three
 * empty slots opened for drop-offs; the transporter empties 1 and 3,
 * puts a charged battery into 3 and two into 4 and 5 (202 too worn),
 * opens and shuts 6 empty. Each door locks when it closes; the job ends
 * when the last one did. */
static void test_pickup_and_dropoff(void **state)
{
	(void)state;
	assert_string_equal(announce("job-1", "2", 3, now_s() + 3600), "ok");
	assert_string_equal(scan("job-1", "p2d3"), "ok");
	for (int n = 1; n <= NSLOTS; n++)
		assert_int_equal(held(n), n != 2);
	for (int n = 1; n <= NSLOTS; n++)
		if (n != 2)
			wait_lock(n, false);
	assert_true(rack_reading(1)->locked); /* 102 stays */

	station_step("{\"op\": \"open\", \"slot\": 1}");
	station_step("{\"op\": \"remove\", \"slot\": 1}");
	station_step("{\"op\": \"close\", \"slot\": 1}");
	wait_lock(1, true);
	station_step("{\"op\": \"open\", \"slot\": 3}");
	station_step("{\"op\": \"remove\", \"slot\": 3}");
	station_step("{\"op\": \"insert\", \"slot\": 3, \"battery\": 201, \"soc\": 100, \"soh\": 98}");
	station_step("{\"op\": \"close\", \"slot\": 3}");
	station_step("{\"op\": \"open\", \"slot\": 4}");
	station_step("{\"op\": \"insert\", \"slot\": 4, \"battery\": 202, \"soc\": 100, \"soh\": 60}");
	station_step("{\"op\": \"close\", \"slot\": 4}");
	station_step("{\"op\": \"open\", \"slot\": 5}");
	station_step("{\"op\": \"insert\", \"slot\": 5, \"battery\": 203, \"soc\": 99, \"soh\": 97}");
	station_step("{\"op\": \"close\", \"slot\": 5}");
	station_step("{\"op\": \"open\", \"slot\": 6}");
	station_step("{\"op\": \"close\", \"slot\": 6}");
	run_until(done_heard, NULL, "the job's end");

	json_object *done = outbox("transport.completed");
	assert_non_null(done);
	assert_string_equal(field(done, "job"), "job-1");
	assert_string_equal(list(done, "picked_up"), "BAT-00101,BAT-00103");
	assert_string_equal(list(done, "dropped_off"), "BAT-00201,BAT-00202,BAT-00203");
	assert_string_equal(field(done, "reason"), "closed");
	json_object_put(done);
	json_object *q = outbox("battery.quarantined");
	assert_non_null(q);
	assert_string_equal(field(q, "battery"), "BAT-00202");
	assert_string_equal(field(q, "reason"), "low_soh");
	assert_int_equal(json_object_get_int(json_object_object_get(q, "slot")), 4);
	json_object_put(q);
	assert_int_equal(heard[0].type, EV_BATTERY_QUARANTINED);
	assert_int_equal(heard[0].battery, 202);
	assert_int_equal(heard[nheard - 1].type, EV_TRANSPORT_DONE);
	assert_string_equal(heard_what[nheard - 1], "job-1");

	assert_battery(101, "transport", 0, true);
	assert_battery(103, "transport", 0, false);
	assert_battery(201, "slot", 3, false);
	assert_battery(202, "slot", 4, true);
	assert_battery(203, "slot", 5, false);
	struct store_battery b;
	bool found;
	assert_int_equal(store_battery_get(station_store, 103, &b, &found), SW_OK);
	assert_string_equal(b.holder, "job-1");
	run_until(locked_all, NULL, "every door locked");
	for (int n = 1; n <= NSLOTS; n++)
		assert_false(held(n));
	/* the job is done: its token, or another for it, opens nothing */
	assert_string_equal(scan("job-1", "p2d3"), "job_done");
	assert_string_equal(announce("job-1", "2", 3, now_s() + 3600), "duplicate");
}

/* Listed batteries: only those, in their slots, whatever else is there. */
static void test_listed_pickup(void **state)
{
	(void)state;
	assert_string_equal(announce("job-2", "[\"BAT-00102\"]", 0, now_s() + 3600), "ok");
	assert_string_equal(scan("job-2", "p1d0"), "ok");
	assert_true(held(2));
	assert_false(held(1));
	assert_false(held(3));
	wait_lock(2, false);
	station_step("{\"op\": \"open\", \"slot\": 2}");
	station_step("{\"op\": \"remove\", \"slot\": 2}");
	station_step("{\"op\": \"close\", \"slot\": 2}");
	run_until(done_heard, NULL, "the job's end");
	json_object *done = outbox("transport.completed");
	assert_string_equal(list(done, "picked_up"), "BAT-00102");
	assert_string_equal(list(done, "dropped_off"), "");
	json_object_put(done);
}

/* What opens nothing, and says why; a refused token stays unused. */
static void test_refusals(void **state)
{
	(void)state;
	assert_string_equal(scan("job-none", "p1d1"), "unknown_job");

	assert_string_equal(announce("job-3", "2", 3, now_s() + 3600), "ok");
	assert_string_equal(scan("job-3", "p3d3"), "wrong_counts");
	assert_string_equal(scan("job-3", "p0d0"), "wrong_counts");
	health_set("estop", HEALTH_FAILED, "pressed (test)");
	assert_string_equal(scan("job-3", "p2d3"), "estop");
	health_set("estop", HEALTH_OK, "released");

	assert_string_equal(announce("job-4", "0", 4, now_s() + 3600), "ok");
	assert_string_equal(scan("job-4", "p0d4"), "no_free_slot");
	/* a job's part: two of its four drop-offs */
	assert_string_equal(scan("job-4", "p0d2"), "ok");
	assert_string_equal(scan("job-4", "p0d2"), "job_started");

	assert_string_equal(announce("job-5", "1", 0, now_s() + 60), "ok");
	assert_false(loop_run_until(done_heard, NULL, 120 * 1000));
	assert_string_equal(scan("job-5", "p1d0"), "job_expired");
	assert_string_equal(announce("job-5", "1", 0, now_s() + 3600), "duplicate");

	assert_string_equal(announce("job-6", "1", 0, now_s() - 1), "expired");
	assert_string_equal(announce("job 6", "1", 0, now_s() + 60), "bad_request");
	assert_string_equal(announce("job-6", "[\"BAT-1\", 1]", 0, now_s() + 60), "bad_request");
	assert_string_equal(announce("job-6", "100", 0, now_s() + 60), "bad_request");
	assert_string_equal(announce("job-6", "\"BAT-00042,x\"", 0, now_s() + 60), "bad_request");
	assert_string_equal(announce("job-6", "0", 0, now_s() + 60), "bad_request");
	/* the control command's string form, for a job not started: new terms */
	assert_string_equal(announce("job-6", "\"BAT-00042,43\"", 0, now_s() + 60), "ok");
	assert_string_equal(announce("job-6", "\"3\"", 1, now_s() + 60), "ok");
}

/* An open fault keeps a drop-off out of the slot it blocks, and one that
 * blocks the station refuses the job as it refuses a swap. */
static void test_faults_block(void **state)
{
	(void)state;
	assert_string_equal(announce("job-f", "0", 3, now_s() + 3600), "ok");
	int64_t id = fault_raise(FAULT_DOOR_UNEXPECTED, 4, 0, "test", NULL);
	assert_true(id > 0);
	assert_string_equal(scan("job-f", "p0d3"), "no_free_slot");
	assert_true(fault_raise(FAULT_STORE, 0, 0, "test", NULL) > 0);
	assert_string_equal(scan("job-f", "p0d2"), "unsafe");
	fault_gone(FAULT_STORE, 0, 0);
	station_run_ms((int64_t)fault_rule(FAULT_STORE)->clear_after_s * 1000 + 1000);
	assert_false(fault_blocks_station());
	assert_string_equal(scan("job-f", "p0d2"), "ok");
	assert_true(held(5) && held(6));
	assert_false(held(4));
}

/* The transporter takes 103 and walks off, its door open, the drop-off
 * slot never opened: at the timeout every door is locked and the job
 * ends with what happened. */
static void test_timeout_locks_doors(void **state)
{
	(void)state;
	station_cfg.transport.timeout_s = 60;
	transport_reconfigure(&station_cfg);
	assert_string_equal(announce("job-7", "[\"BAT-00103\"]", 1, now_s() + 3600), "ok");
	assert_string_equal(scan("job-7", "p1d1"), "ok");
	wait_lock(3, false);
	wait_lock(4, false);
	station_step("{\"op\": \"open\", \"slot\": 3}");
	station_step("{\"op\": \"remove\", \"slot\": 3}");
	int64_t t0 = loop_now();
	assert_false(loop_run_until(done_heard, NULL, 55 * 1000));
	run_until(done_heard, NULL, "the job's end at its timeout");
	assert_true(loop_now() - t0 >= 55 * 1000);
	run_until(locked_all, NULL, "every door locked");
	for (int n = 1; n <= NSLOTS; n++)
		assert_false(held(n));
	json_object *done = outbox("transport.completed");
	assert_string_equal(list(done, "picked_up"), "BAT-00103");
	assert_string_equal(list(done, "dropped_off"), "");
	assert_string_equal(field(done, "reason"), "timeout");
	json_object_put(done);
}

static void lock_done(enum sw_err e, void *arg)
{
	(void)e;
	(void)arg;
}

/* swapd goes down mid-job (the job stays started); meanwhile 101 leaves
 * slot 1 and 301 arrives in slot 4. At the next start the doors are
 * locked (the rack's rule, done by hand here: this rack lives on) and the
 * job ends from what the slots hold. */
static void test_restart_ends_the_job(void **state)
{
	(void)state;
	assert_string_equal(announce("job-8", "1", 1, now_s() + 3600), "ok");
	assert_string_equal(scan("job-8", "p1d1"), "ok");
	wait_lock(1, false);
	wait_lock(4, false);
	transport_stop();
	assert_false(held(1));
	station_step("{\"op\": \"open\", \"slot\": 1}");
	station_step("{\"op\": \"remove\", \"slot\": 1}");
	station_step("{\"op\": \"close\", \"slot\": 1}");
	station_step("{\"op\": \"open\", \"slot\": 4}");
	station_step("{\"op\": \"insert\", \"slot\": 4, \"battery\": 301, \"soc\": 100, \"soh\": 99}");
	station_step("{\"op\": \"close\", \"slot\": 4}");
	for (int i = 0; i < NSLOTS; i++)
		assert_int_equal(slots_set_lock(i, true, lock_done, NULL), SW_OK);
	run_until(locked_all, NULL, "every door locked");
	char why[256];
	command_forget(); /* a restart registers the commands afresh */
	assert_int_equal(transport_start(&station_cfg, station_store, "boot-test-2", why, sizeof why), SW_OK);
	assert_true(held(1) && held(4));
	run_until(done_heard, NULL, "the interrupted job's end");
	json_object *done = outbox("transport.completed");
	assert_string_equal(field(done, "job"), "job-8");
	assert_string_equal(list(done, "picked_up"), "BAT-00101");
	assert_string_equal(list(done, "dropped_off"), "BAT-00301");
	assert_string_equal(field(done, "reason"), "restart");
	json_object_put(done);
	assert_battery(101, "transport", 0, true);
	assert_battery(301, "slot", 4, false);
	assert_false(held(1) || held(4));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_pickup_and_dropoff, setup, teardown),
		cmocka_unit_test_setup_teardown(test_listed_pickup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_faults_block, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timeout_locks_doors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restart_ends_the_job, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
