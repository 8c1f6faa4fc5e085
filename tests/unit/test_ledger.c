/* The battery ledger (ledger.c) on the simulated rack ("sim:3", the real
 * firmware in this process) in simulated time, with a real store: a
 * battery put in and taken out outside a swap, a swap's own record before
 * or after the ledger's, a slot gone offline, a presence sensor that
 * fails behind a locked door, the quarantine of batteries that come in
 * outside a swap and their release, slots out of service, the commands,
 * and a restart that keeps all of it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>
#include <sqlite3.h>

#include "daemon/command.h"
#include "daemon/config.h"
#include "daemon/control.h"
#include "daemon/event.h"
#include "daemon/health.h"
#include "daemon/ledger.h"
#include "daemon/loop.h"
#include "daemon/slots.h"
#include "daemon/store.h"
#include "drivers/rack.h"
#include "drivers/rack_bus.h"

#define MIN_MS (60 * 1000)

static struct config cfg;
static struct store *store;
static char dir[64], path[128];

static struct event heard[64];
static int nheard;

static void record(const struct event *ev, void *arg)
{
	(void)arg;
	if (nheard < (int)(sizeof heard / sizeof heard[0]))
		heard[nheard++] = *ev;
}

static const enum event_type watched[] = {
	EV_BATTERY_QUARANTINED, EV_BATTERY_RELEASED, EV_SLOT_STATE,
};

static void start_all(void)
{
	char why[256];

	assert_int_equal(store_open(path, 1000, &store, why, sizeof why), SW_OK);
	assert_int_equal(slots_start(&cfg, store, why, sizeof why), SW_OK);
	assert_int_equal(ledger_start(&cfg, store, "boot-1", why, sizeof why), SW_OK);
}

static void stop_all(void)
{
	ledger_stop();
	slots_stop();
	command_forget();
	store_close(store);
	store = NULL;
}

static int setup(void **state)
{
	struct rack_config *rc = &cfg.rack;

	(void)state;
	snprintf(dir, sizeof dir, "/tmp/swapd-ledger-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/swapd.db", dir);
	config_defaults(&cfg);
	rc->enabled = true;
	snprintf(rc->device, sizeof rc->device, "sim:3");
	snprintf(rc->profile, sizeof rc->profile, "config/profiles/swapd-slot-v1.json");
	rc->parity = 'N';
	rc->poll_interval_ms = 250;
	rc->slow_every = 4;
	/* no telemetry rows in these tests */
	rc->telemetry_interval_ms = 3600 * 1000;
	rc->telemetry_rows = 100;
	rc->nslots = 3;
	for (int i = 0; i < 3; i++)
		rc->slots[i] = (struct rack_slot_config){ .slot = i + 1, .unit = i + 1 };
	loop_set_clock(true);
	nheard = 0;
	for (size_t k = 0; k < sizeof watched / sizeof watched[0]; k++)
		assert_int_equal(event_subscribe(watched[k], record, NULL), SW_OK);
	start_all();
	return 0;
}

static int teardown(void **state)
{
	char p[160];

	(void)state;
	stop_all();
	for (size_t k = 0; k < sizeof watched / sizeof watched[0]; k++)
		event_unsubscribe(watched[k], record, NULL);
	loop_set_clock(false);
	loop_free();
	health_reset();
	static const char *const files[] = { "swapd.db", "swapd.db-wal", "swapd.db-shm" };
	for (size_t k = 0; k < 3; k++) {
		snprintf(p, sizeof p, "%s/%s", dir, files[k]);
		unlink(p);
	}
	rmdir(dir);
	return 0;
}

static void sim(const char *fmt, ...)
{
	char verb[256], why[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(verb, sizeof verb, fmt, ap);
	va_end(ap);
	json_object *r = rack_bus_sim_exec(verb, why, sizeof why);
	if (!r)
		fail_msg("%s: %s", verb, why);
	json_object_put(r);
}

static bool never(void *arg)
{
	(void)arg;
	return false;
}

static void run_ms(int64_t ms)
{
	loop_run_until(never, NULL, ms);
}

static bool all_locked(void *arg)
{
	(void)arg;
	for (int i = 0; i < 3; i++)
		if (!rack_reading(i)->online || rack_safe_pending(i))
			return false;
	return true;
}

static void lock_done(enum sw_err e, void *arg)
{
	*(enum sw_err *)arg = e;
}

static bool lock_finished(void *arg)
{
	return *(enum sw_err *)arg != SW_EBUSY;
}

struct lock_want {
	int i;
	bool locked;
};

static bool bolt_read(void *arg)
{
	const struct lock_want *w = arg;

	return rack_reading(w->i)->locked == w->locked;
}

/* Locks or unlocks slot index i, until the bolt reads so. */
static void set_lock(int i, bool lock)
{
	enum sw_err result = SW_EBUSY;
	struct lock_want w = { i, lock };

	assert_int_equal(slots_set_lock(i, lock, lock_done, &result), SW_OK);
	assert_true(loop_run_until(lock_finished, &result, 5000));
	assert_int_equal(result, SW_OK);
	assert_true(loop_run_until(bolt_read, &w, 5000));
}

static struct store_battery row(uint64_t id)
{
	struct store_battery b;
	bool found;

	assert_int_equal(store_battery_get(store, id, &b, &found), SW_OK);
	if (!found)
		fail_msg("BAT-%05llu is not in the ledger", (unsigned long long)id);
	return b;
}

struct place_want {
	uint64_t id;
	const char *place;
	int slot;
};

static bool at_place(void *arg)
{
	const struct place_want *w = arg;
	struct store_battery b;
	bool found;

	return store_battery_get(store, w->id, &b, &found) == SW_OK && found &&
	       strcmp(b.place, w->place) == 0 && b.slot == w->slot;
}

/* Runs simulated time until battery id's row says place and slot. */
static void wait_place(uint64_t id, const char *place, int slot)
{
	struct place_want w = { id, place, slot };

	if (!loop_run_until(at_place, &w, 10000))
		fail_msg("BAT-%05llu never got to %s %d", (unsigned long long)id, place, slot);
}

/* A battery put into slot number n the way a transporter does: the door
 * unlocked, opened, the battery in, the door closed and locked again. */
static void put_in(int n, uint64_t id, int soh)
{
	set_lock(n - 1, false);
	sim("{\"op\": \"open\", \"slot\": %d}", n);
	sim("{\"op\": \"insert\", \"slot\": %d, \"battery\": %llu, \"soc\": 60, \"soh\": %d}", n,
	    (unsigned long long)id, soh);
	sim("{\"op\": \"close\", \"slot\": %d}", n);
	set_lock(n - 1, true);
	wait_place(id, "slot", n);
}

/* The one column of the first row of query, as text ("" for none). */
static const char *sql_text(const char *query)
{
	static char out[1024];
	sqlite3 *db;
	sqlite3_stmt *s;

	out[0] = '\0';
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, query, -1, &s, NULL), SQLITE_OK);
	if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_text(s, 0))
		snprintf(out, sizeof out, "%s", (const char *)sqlite3_column_text(s, 0));
	sqlite3_finalize(s);
	sqlite3_close(db);
	return out;
}

static int heard_count(enum event_type type, uint64_t battery)
{
	int n = 0;

	for (int k = 0; k < nheard; k++)
		n += heard[k].type == type && heard[k].battery == battery;
	return n;
}

/* A command as control.c runs it, with args given as JSON. */
static json_object *run_command(const char *name, const char *args)
{
	const struct command *c = command_find(name, strlen(name));
	struct control_req req = { .level = LEVEL_ADMIN };
	char msg[160];

	assert_non_null(c);
	snprintf(req.who, sizeof req.who, "uid 0 pid 1");
	req.args = json_tokener_parse(args);
	if (!command_check(c, req.args, msg, sizeof msg))
		fail_msg("%s %s: %s", name, args, msg);
	json_object *reply = c->fn(&req);
	json_object_put(req.args);
	return reply;
}

static const char *reply_error(json_object *reply)
{
	static char code[64];
	json_object *v;

	code[0] = '\0';
	if (json_object_object_get_ex(reply, "error", &v))
		snprintf(code, sizeof code, "%s", json_object_get_string(v));
	json_object_put(reply);
	return code;
}

/* In, then out outside a swap: the row follows, the place "unknown" keeps
 * the last slot and values; the values are written when they change
 * noticeably or after ledger.write_interval_s, not at every reading. */
static void test_in_and_out(void **state)
{
	(void)state;
	assert_true(loop_run_until(all_locked, NULL, 5000));
	put_in(1, 42, 95);
	struct store_battery b = row(42);
	assert_true(b.soc > 59 && b.soc < 61);
	assert_true(b.soh > 94 && b.soh < 96);
	assert_int_equal(b.unseen_since, 0);
	assert_false(b.quarantined);
	int64_t first = b.read_at;
	assert_true(first > 0);

	run_ms(MIN_MS); /* read about 240 times since: not written */
	assert_int_equal(row(42).read_at, first);
	run_ms(cfg.ledger.write_interval_s * 1000);
	assert_true(row(42).read_at > first + MIN_MS);

	set_lock(0, false);
	sim("{\"op\": \"open\", \"slot\": 1}");
	sim("{\"op\": \"remove\", \"slot\": 1}");
	sim("{\"op\": \"close\", \"slot\": 1}");
	wait_place(42, "unknown", 1);
	b = row(42);
	assert_true(b.soh > 94 && b.soh < 96); /* the last values stay */
	assert_int_equal(slots_state(0), SLOT_EMPTY);
}

/* A swap (or a job) records where its battery went; the ledger's
 * "unknown" never overwrites that when the swap came first, and the
 * swap's record wins when it comes after. */
static void test_swap_record_either_order(void **state)
{
	(void)state;
	assert_true(loop_run_until(all_locked, NULL, 5000));
	put_in(1, 7, 95);
	put_in(2, 8, 95);

	/* the swap first: its record, then the battery leaves */
	assert_int_equal(slots_hold(0, "swap", 11), SW_OK);
	assert_int_equal(store_battery_left(store, 7, "rider", 11, "u-1", NULL), SW_OK);
	set_lock(0, false);
	sim("{\"op\": \"open\", \"slot\": 1}");
	sim("{\"op\": \"remove\", \"slot\": 1}");
	sim("{\"op\": \"close\", \"slot\": 1}");
	run_ms(3000);
	struct store_battery b = row(7);
	assert_string_equal(b.place, "rider");
	assert_int_equal(b.swap, 11);

	/* the battery leaves first, then the swap records it */
	assert_int_equal(slots_hold(1, "swap", 12), SW_OK);
	set_lock(1, false);
	sim("{\"op\": \"open\", \"slot\": 2}");
	sim("{\"op\": \"remove\", \"slot\": 2}");
	wait_place(8, "unknown", 2);
	assert_int_equal(store_battery_left(store, 8, "rider", 12, "u-2", NULL), SW_OK);
	sim("{\"op\": \"close\", \"slot\": 2}");
	run_ms(3000);
	b = row(8);
	assert_string_equal(b.place, "rider");
	assert_string_equal(b.holder, "u-2");
}

/* An offline slot keeps its battery, with the values last read and their
 * time; back online with the same battery, nothing moved. */
static void test_offline_keeps_place(void **state)
{
	(void)state;
	assert_true(loop_run_until(all_locked, NULL, 5000));
	put_in(3, 99, 90);
	run_ms(5000);
	const struct rack_reading *r = rack_reading(2);
	int64_t since = row(99).since;
	sim("{\"op\": \"silence\", \"slot\": 3}");
	run_ms(5000);
	assert_false(r->online);
	assert_int_equal(slots_state(2), SLOT_OFFLINE);
	struct store_battery b = row(99);
	assert_string_equal(b.place, "slot");
	assert_int_equal(b.slot, 3);
	assert_int_equal(b.read_at, r->slow_at); /* flushed at going offline */
	run_ms(10 * MIN_MS);
	assert_int_equal(row(99).read_at, b.read_at);
	sim("{\"op\": \"silence\", \"slot\": 3, \"on\": false}");
	run_ms(40000);
	assert_true(r->online);
	b = row(99);
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
	assert_true(loop_run_until(all_locked, NULL, 5000));
	put_in(2, 55, 95);
	run_ms(2000);
	sim("{\"op\": \"remove\", \"slot\": 2, \"force\": true}");
	run_ms(3000);
	struct store_battery b = row(55);
	assert_string_equal(b.place, "slot");
	assert_int_equal(b.slot, 2);
	assert_true(b.unseen_since > 0);
	assert_int_equal(slots_state(1), SLOT_QUARANTINED);
	assert_string_equal(sql_text("SELECT reason FROM slot_service WHERE slot = 2"),
			    "presence sensor lost BAT-00055");
	assert_string_equal(sql_text("SELECT what FROM audit ORDER BY id DESC LIMIT 1"),
			    "presence-lost");

	/* an engineer looked, and found the slot empty */
	assert_int_equal(ledger_slot_quarantine(2, false, "checked: empty", "uid 0 pid 1"), SW_OK);
	b = row(55);
	assert_string_equal(b.place, "unknown");
	assert_int_equal(b.unseen_since, 0);
	run_ms(1000);
	assert_int_equal(slots_state(1), SLOT_EMPTY);
}

/* The sensor comes back: the battery is seen again, no longer flagged;
 * the slot stays out of service until someone releases it. */
static void test_presence_sensor_recovers(void **state)
{
	(void)state;
	assert_true(loop_run_until(all_locked, NULL, 5000));
	put_in(2, 56, 95);
	run_ms(2000);
	sim("{\"op\": \"remove\", \"slot\": 2, \"force\": true}");
	run_ms(3000);
	assert_true(row(56).unseen_since > 0);
	sim("{\"op\": \"insert\", \"slot\": 2, \"battery\": 56, \"force\": true}");
	run_ms(3000);
	struct store_battery b = row(56);
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
	assert_true(loop_run_until(all_locked, NULL, 5000));
	put_in(1, 61, 60);
	run_ms(1000);
	struct store_battery b = row(61);
	assert_true(b.quarantined);
	assert_string_equal(b.reason, "low_soh");
	assert_int_equal(heard_count(EV_BATTERY_QUARANTINED, 61), 1);
	assert_int_equal(slots_state(0), SLOT_QUARANTINED);
	json_object *p = json_tokener_parse(
		sql_text("SELECT payload FROM outbox WHERE type = 'battery.quarantined'"));
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
	put_in(2, 62, 95);
	run_ms(1000);
	assert_false(row(62).quarantined);
	assert_int_not_equal(slots_state(1), SLOT_QUARANTINED);

	assert_int_equal(ledger_battery_quarantine(61, false, "inspected", "staff-17"), SW_OK);
	assert_false(row(61).quarantined);
	assert_int_equal(heard_count(EV_BATTERY_RELEASED, 61), 1);
	assert_int_not_equal(slots_state(0), SLOT_QUARANTINED);
	assert_string_equal(sql_text("SELECT json_extract(payload, '$.by') FROM outbox"
				     " WHERE type = 'battery.released'"), "staff-17");
	assert_int_equal(ledger_battery_quarantine(61, false, "again", "staff-17"), SW_EEXIST);
	assert_int_equal(ledger_battery_quarantine(12345, true, "recall", "staff-17"), SW_ENOENT);
	/* a battery quarantined by hand in its slot makes the slot quarantined */
	assert_int_equal(ledger_battery_quarantine(62, true, "dented case", "staff-17"), SW_OK);
	assert_int_equal(slots_state(1), SLOT_QUARANTINED);
}

/* A slot out of service is quarantined whatever it holds, in its state
 * and its state events; back in service it is what its reading says. */
static void test_slot_out_of_service(void **state)
{
	(void)state;
	assert_true(loop_run_until(all_locked, NULL, 5000));
	assert_int_equal(slots_state(2), SLOT_EMPTY);
	nheard = 0;
	assert_int_equal(ledger_slot_quarantine(3, true, "door sticks", "uid 0 pid 1"), SW_OK);
	assert_int_equal(slots_state(2), SLOT_QUARANTINED);
	assert_int_equal(nheard, 1);
	assert_int_equal(heard[0].type, EV_SLOT_STATE);
	assert_int_equal(heard[0].to, SLOT_QUARANTINED);
	json_object *all = slots_json(), *st;
	assert_true(json_object_object_get_ex(json_object_array_get_idx(all, 2), "state", &st));
	assert_string_equal(json_object_get_string(st), "quarantined");
	json_object_put(all);
	assert_int_equal(ledger_slot_quarantine(3, true, "again", "uid 0 pid 1"), SW_EEXIST);
	assert_int_equal(ledger_slot_quarantine(9, true, "no such", "uid 0 pid 1"), SW_ENOENT);
	run_ms(5000); /* readings do not undo it */
	assert_int_equal(slots_state(2), SLOT_QUARANTINED);
	assert_int_equal(ledger_slot_quarantine(3, false, "fixed", "uid 0 pid 1"), SW_OK);
	assert_int_equal(slots_state(2), SLOT_EMPTY);
	assert_string_equal(sql_text("SELECT group_concat(what) FROM audit"),
			    "slot-quarantine,slot-release");
}

/* The commands: the ledger as JSON, arguments as people write them, and
 * their refusals. */
static void test_commands(void **state)
{
	json_object *r, *res, *list, *v;

	(void)state;
	assert_true(loop_run_until(all_locked, NULL, 5000));
	put_in(1, 42, 95);
	r = run_command("batteries", "{}");
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

	assert_string_equal(reply_error(run_command("battery-quarantine",
						    "{\"battery\": \"42\", \"reason\": \"x\"}")), "");
	assert_true(row(42).quarantined);
	assert_string_equal(reply_error(run_command("battery-quarantine",
						    "{\"battery\": \"BAT-00042\", \"reason\": \"x\"}")),
			    "already_quarantined");
	assert_string_equal(reply_error(run_command("battery-release",
						    "{\"battery\": \"bat-42\", \"reason\": \"ok\"}")), "");
	assert_string_equal(reply_error(run_command("battery-release",
						    "{\"battery\": \"42\", \"reason\": \"ok\"}")),
			    "not_quarantined");
	assert_string_equal(reply_error(run_command("battery-quarantine",
						    "{\"battery\": \"BAT-0x2A\", \"reason\": \"x\"}")),
			    "bad_request");
	assert_string_equal(reply_error(run_command("battery-quarantine",
						    "{\"battery\": \"0\", \"reason\": \"x\"}")),
			    "bad_request");
	assert_string_equal(reply_error(run_command("battery-quarantine",
						    "{\"battery\": \"77\", \"reason\": \"x\"}")),
			    "unknown_battery");
	assert_string_equal(reply_error(run_command("slot-quarantine",
						    "{\"slot\": 5, \"reason\": \"x\"}")), "unknown_slot");
	assert_string_equal(reply_error(run_command("slot-release",
						    "{\"slot\": 2, \"reason\": \"x\"}")), "not_quarantined");
	assert_string_equal(sql_text("SELECT who FROM audit WHERE what = 'battery-quarantine'"),
			    "uid 0 pid 1");
}

/* A restart keeps it all: a slot out of service, a quarantined battery's
 * slot, a battery its sensor lost, and the batteries still in their
 * slots (since unchanged); one taken while swapd was down is unknown. */
static void test_restart_keeps_everything(void **state)
{
	(void)state;
	assert_true(loop_run_until(all_locked, NULL, 5000));
	put_in(1, 71, 60);  /* quarantined: low SOH */
	put_in(2, 72, 95);  /* taken while swapd is down */
	put_in(3, 73, 95);  /* its sensor fails */
	run_ms(2000);
	sim("{\"op\": \"remove\", \"slot\": 3, \"force\": true}");
	run_ms(3000);
	assert_true(row(73).unseen_since > 0);
	int64_t since71 = row(71).since;

	stop_all();
	start_all();
	/* the rack comes back as it was, but for slot 2's battery */
	sim("{\"op\": \"insert\", \"slot\": 1, \"battery\": 71, \"soc\": 60, \"soh\": 60, \"force\": true}");
	nheard = 0;
	assert_int_equal(slots_state(2), SLOT_OFFLINE);
	assert_true(loop_run_until(all_locked, NULL, 5000));
	run_ms(3000);
	assert_int_equal(slots_state(0), SLOT_QUARANTINED);
	assert_int_equal(slots_state(2), SLOT_QUARANTINED);
	assert_int_equal(slots_state(1), SLOT_EMPTY);
	struct store_battery b = row(71);
	assert_string_equal(b.place, "slot");
	assert_int_equal(b.since, since71);
	assert_true(b.quarantined);
	assert_int_equal(heard_count(EV_BATTERY_QUARANTINED, 71), 0); /* not again */
	b = row(72);
	assert_string_equal(b.place, "unknown");
	assert_int_equal(b.slot, 2);
	b = row(73);
	assert_string_equal(b.place, "slot");
	assert_true(b.unseen_since > 0);
	json_object *all = store_batteries_json(store);
	assert_int_equal(json_object_array_length(all), 3);
	json_object_put(all);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_in_and_out, setup, teardown),
		cmocka_unit_test_setup_teardown(test_swap_record_either_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_offline_keeps_place, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failed_presence_sensor, setup, teardown),
		cmocka_unit_test_setup_teardown(test_presence_sensor_recovers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_quarantine_outside_swap_and_release, setup, teardown),
		cmocka_unit_test_setup_teardown(test_slot_out_of_service, setup, teardown),
		cmocka_unit_test_setup_teardown(test_commands, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restart_keeps_everything, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
