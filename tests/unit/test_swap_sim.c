/* The swap module (daemon/swap*.c) for real: tokens scanned through
 * access_scan with a test key, the simulated rack ("sim:8": the slot
 * firmware in process) driven by the rider's verbs, a real store in a
 * temporary directory, and simulated time, so a 90 s wait costs
 * milliseconds. Slots 1-4 hold charged batteries, 5-8 are empty. Every
 * test checks what the fleet is told (the outbox, in order), the ledger,
 * and that every door ends locked, read from the simulator's own bolts. */
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

#include "daemon/access.h"
#include "daemon/command.h"
#include "daemon/config.h"
#include "daemon/control.h"
#include "daemon/event.h"
#include "daemon/fault.h"
#include "daemon/health.h"
#include "daemon/loop.h"
#include "daemon/slots.h"
#include "daemon/store.h"
#include "daemon/store_swaps.h"
#include "daemon/swap.h"
#include "drivers/rack.h"
#include "drivers/rack_bus.h"
#include "tests/unit/station_sim.h"

#define NSLOTS 8

/* The swap module's events, with their strings copied. */
static struct heard {
	enum event_type type;
	int64_t ref;
	int slot_no;
	uint64_t battery;
	bool on;
	char what[32], who[32];
} heard[512];
static int nheard;

static void record(const struct event *ev, void *arg)
{
	(void)arg;
	if (nheard == (int)(sizeof heard / sizeof heard[0]))
		return;
	struct heard *h = &heard[nheard++];
	*h = (struct heard){ .type = ev->type, .ref = ev->ref, .slot_no = ev->slot_no,
			     .battery = ev->battery, .on = ev->on };
	snprintf(h->what, sizeof h->what, "%s", ev->what ? ev->what : "");
	snprintf(h->who, sizeof h->who, "%s", ev->who ? ev->who : "");
}

static const enum event_type swap_events[] = {
	EV_SWAP_STARTED, EV_SWAP_STAGE, EV_SWAP_ENDED, EV_DOOR_ALARM, EV_BATTERY_QUARANTINED,
};

/* The simulator's truth: is slot n's bolt thrown? */
static bool bolt_locked(int n)
{
	char verb[64], why[256];

	snprintf(verb, sizeof verb, "{\"op\":\"get\",\"slot\":%d}", n);
	json_object *r = rack_bus_sim_exec(verb, why, sizeof why), *v;
	if (!r)
		fail_msg("%s: %s", verb, why);
	bool locked = json_object_object_get_ex(r, "lock_closed", &v) && json_object_get_boolean(v);
	json_object_put(r);
	return locked;
}

/* Lets simulated time pass: a rider's pause. */
static void pause_s(int s)
{
	station_run_ms((int64_t)s * 1000);
}

/* The charged stock: SOC and SOH differ so the pick has something to do. */
static void stock(void)
{
	static const struct { int slot; int soc, soh; } b[] = {
		{ 1, 99, 90 }, { 2, 98, 95 }, { 3, 97, 85 }, { 4, 96, 95 },
	};

	for (size_t k = 0; k < sizeof b / sizeof b[0]; k++)
		station_sim("{\"op\":\"insert\",\"slot\":%d,\"battery\":%d,\"soc\":%d,\"soh\":%d,\"force\":true}",
		    b[k].slot, 100 + b[k].slot, b[k].soc, b[k].soh);
}

static int setup(void **state)
{
	(void)state;
	station_init(NSLOTS, "ST-1", true);
	station_cfg.rack.reconnect_ms = 500;
	station_cfg.swap.min_soc = station_cfg.rack.charged_soc;
	nheard = 0;
	for (size_t k = 0; k < sizeof swap_events / sizeof swap_events[0]; k++)
		assert_int_equal(event_subscribe(swap_events[k], record, NULL), SW_OK);
	station_start(STATION_ACCESS);
	stock();
	station_read();
	station_start(STATION_SWAP);
	return 0;
}

static int teardown(void **state)
{
	for (size_t k = 0; k < sizeof swap_events / sizeof swap_events[0]; k++)
		event_unsubscribe(swap_events[k], record, NULL);
	return station_teardown(state);
}

/* Scans a freshly issued S token for user (its text in text, if given). */
static const char *scan(const char *user, char *text)
{
	return station_scan(TOKEN_SWAP, user, "-", "control", text);
}

/* The id of the latest swap started. */
static int64_t last_swap(void)
{
	for (int k = nheard - 1; k >= 0; k--)
		if (heard[k].type == EV_SWAP_STARTED)
			return heard[k].ref;
	fail_msg("no swap started");
	return -1;
}

struct want {
	enum event_type type;
	int64_t ref;
	const char *what;  /* NULL: any */
	int from;
};

static bool heard_it(void *arg)
{
	const struct want *w = arg;

	for (int k = w->from; k < nheard; k++)
		if (heard[k].type == w->type && heard[k].ref == w->ref &&
		    (!w->what || strcmp(heard[k].what, w->what) == 0))
			return true;
	return false;
}

/* Runs simulated time until swap id enters stage (from now on). */
static void wait_stage(int64_t id, const char *stage, int64_t ms)
{
	struct want w = { EV_SWAP_STAGE, id, stage, 0 };

	if (!loop_run_until(heard_it, &w, ms))
		fail_msg("swap %lld never reached %s", (long long)id, stage);
}

/* Runs until swap id ended; returns whether it completed. */
static bool wait_end(int64_t id, int64_t ms)
{
	struct want w = { EV_SWAP_ENDED, id, NULL, 0 };

	if (!loop_run_until(heard_it, &w, ms))
		fail_msg("swap %lld never ended", (long long)id);
	for (int k = 0; k < nheard; k++)
		if (heard[k].type == EV_SWAP_ENDED && heard[k].ref == id)
			return heard[k].on;
	return false;
}

static struct store_swap row_of(int64_t id)
{
	struct store_swap s;
	bool found;

	assert_int_equal(store_swap_get(station_store, id, &s, &found), SW_OK);
	assert_true(found);
	return s;
}

/* The fleet events of the outbox, in seq order, as "type type ...";
 * a second connection, as the MQTT sender or an engineer would read. */
static const char *outbox(void)
{
	static char buf[1024];
	sqlite3 *d;
	sqlite3_stmt *q;

	buf[0] = '\0';
	assert_int_equal(sqlite3_open(station_db, &d), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(d, "SELECT type FROM outbox ORDER BY seq", -1, &q, NULL),
			 SQLITE_OK);
	while (sqlite3_step(q) == SQLITE_ROW)
		snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "%s%s", buf[0] ? " " : "",
			 (const char *)sqlite3_column_text(q, 0));
	sqlite3_finalize(q);
	sqlite3_close(d);
	return buf;
}

/* A field of the latest outbox event of a type, as text. */
static const char *payload(const char *type, const char *field)
{
	static char buf[128];
	char sql[160];
	sqlite3 *d;
	sqlite3_stmt *q;

	snprintf(sql, sizeof sql, "SELECT json_extract(payload, '$.%s') FROM outbox WHERE type = ?"
		 " ORDER BY seq DESC LIMIT 1", field);
	buf[0] = '\0';
	assert_int_equal(sqlite3_open(station_db, &d), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(d, sql, -1, &q, NULL), SQLITE_OK);
	sqlite3_bind_text(q, 1, type, -1, SQLITE_STATIC);
	if (sqlite3_step(q) == SQLITE_ROW && sqlite3_column_text(q, 0))
		snprintf(buf, sizeof buf, "%s", (const char *)sqlite3_column_text(q, 0));
	sqlite3_finalize(q);
	sqlite3_close(d);
	return buf;
}

static struct store_battery battery(uint64_t id)
{
	struct store_battery b;
	bool found;

	assert_int_equal(store_battery_get(station_store, id, &b, &found), SW_OK);
	assert_true(found);
	return b;
}

static void all_locked(void)
{
	for (int n = 1; n <= NSLOTS; n++)
		if (!bolt_locked(n))
			fail_msg("slot %d is not locked", n);
}

/* The rider comes a moment after the door was unlocked (the bolt moves at
 * the simulator's next tick, after the command read back). */
static void rider_returns(int slot, int id, int soc, int soh)
{
	pause_s(1);
	station_sim("{\"op\":\"open\",\"slot\":%d}", slot);
	pause_s(2);
	station_sim("{\"op\":\"insert\",\"slot\":%d,\"battery\":%d,\"soc\":%d,\"soh\":%d}", slot, id, soc, soh);
	pause_s(2);
	station_sim("{\"op\":\"close\",\"slot\":%d}", slot);
}

static void rider_takes(int slot)
{
	pause_s(1);
	station_sim("{\"op\":\"open\",\"slot\":%d}", slot);
	pause_s(2);
	station_sim("{\"op\":\"remove\",\"slot\":%d}", slot);
	pause_s(2);
	station_sim("{\"op\":\"close\",\"slot\":%d}", slot);
}

/* The returned battery's slot goes silent as the swap starts: the unlock
 * fails, the swap aborts, and the lock it owes cannot be read back while
 * the slot is offline. That is slot_offline's business, not a stuck lock:
 * the slot is held until it answers and is locked then, with no lock_stuck
 * and no slot out of service. */
static void test_slot_silent_at_unlock(void **state)
{
	(void)state;
	assert_string_equal(scan("u-1", NULL), "ok");
	int64_t id = last_swap();
	station_sim("{\"op\":\"silence\",\"slot\":5}");
	assert_false(wait_end(id, 10000));
	pause_s(station_cfg.swap.unlock_timeout_s * 2 + 5);
	assert_string_equal(slots_holder(slots_index(5), NULL), "swap");
	station_sim("{\"op\":\"silence\",\"slot\":5,\"on\":false}");
	pause_s(40);
	assert_null(slots_holder(slots_index(5), NULL));
	assert_true(bolt_locked(5));
	assert_string_equal(station_sql("SELECT count(*) FROM faults WHERE code = 'lock_stuck'"), "0");
	assert_string_equal(station_sql("SELECT count(*) FROM slot_service"), "0");
}

/* A whole swap: the healthiest charged battery (slot 2: SOH 95, SOC 98)
 * goes out, the returned one is in the ledger in slot 5, the token is
 * spent, and the fleet hears swap.started then swap.completed. */
static void test_full_swap(void **state)
{
	char text[TOKEN_TEXT_MAX + 1];
	struct token tok;

	(void)state;
	assert_string_equal(scan("u-1", text), "ok");
	int64_t id = last_swap();
	struct store_swap r = row_of(id);
	assert_int_equal(r.slot_in, 5);
	assert_int_equal(r.slot_out, 2);
	assert_int_equal(r.battery_out, 102);
	wait_stage(id, "wait_insert", 5000);
	pause_s(1);
	assert_false(bolt_locked(5));
	assert_true(bolt_locked(2)); /* the charged one stays locked until the battery is in */
	rider_returns(5, 500, 20, 92);
	wait_stage(id, "wait_take", 10000);
	pause_s(1);
	assert_true(bolt_locked(5));
	assert_false(bolt_locked(2));
	rider_takes(2);
	assert_true(wait_end(id, 10000));
	pause_s(2);
	all_locked();

	r = row_of(id);
	assert_string_equal(r.result, "completed");
	assert_int_equal(r.battery_in, 500);
	assert_true(r.soc_in == 20.0);
	assert_true(r.soh_in == 92.0);
	assert_string_equal(outbox(), "swap.started swap.completed");
	assert_string_equal(payload("swap.started", "slot_in"), "5");
	assert_string_equal(payload("swap.completed", "battery_in"), "BAT-00500");
	assert_string_equal(payload("swap.completed", "battery_out"), "BAT-00102");
	assert_string_equal(payload("swap.completed", "user"), "u-1");
	assert_string_equal(payload("swap.completed", "soc_in"), "20.0");
	struct store_battery b = battery(500);
	assert_string_equal(b.place, "slot");
	assert_int_equal(b.slot, 5);
	b = battery(102);
	assert_string_equal(b.place, "rider");
	assert_int_equal(b.swap, id);
	assert_string_equal(b.holder, "u-1");
	for (int i = 0; i < NSLOTS; i++)
		assert_null(slots_holder(i, NULL));
	/* the token is spent */
	assert_string_equal(access_scan(text, strlen(text), "control", &tok), "replayed");
	/* and `swapctl swaps` shows it among the recent */
	const struct command *c = command_find("swaps", 5);
	struct control_req req = { .level = LEVEL_VIEWER };
	json_object *reply = c->fn(&req), *res, *recent;
	assert_true(json_object_object_get_ex(reply, "result", &res));
	assert_true(json_object_object_get_ex(res, "recent", &recent));
	assert_int_equal(json_object_array_length(recent), 1);
	json_object *first = json_object_array_get_idx(recent, 0), *v;
	assert_true(json_object_object_get_ex(first, "battery_out", &v));
	assert_string_equal(json_object_get_string(v), "BAT-00102");
	json_object_put(reply);
}

static void test_rider_never_inserts(void **state)
{
	(void)state;
	assert_string_equal(scan("u-2", NULL), "ok");
	int64_t id = last_swap();
	wait_stage(id, "wait_insert", 5000);
	int64_t t0 = loop_now();
	assert_false(wait_end(id, 120000));
	/* the configured 90 s, give or take a poll */
	assert_true(loop_now() - t0 >= 90000 && loop_now() - t0 < 91000);
	pause_s(2);
	all_locked();
	assert_string_equal(outbox(), "swap.started swap.aborted");
	assert_string_equal(payload("swap.aborted", "reason"), "insert_timeout");
	assert_string_equal(payload("swap.aborted", "stage"), "wait_insert");
	for (int i = 0; i < NSLOTS; i++)
		assert_null(slots_holder(i, NULL));
}

/* Closed on an empty slot: opened once more, then the swap ends. */
static void test_door_closed_empty(void **state)
{
	(void)state;
	assert_string_equal(scan("u-3", NULL), "ok");
	int64_t id = last_swap();
	wait_stage(id, "wait_insert", 5000);
	pause_s(1);
	station_sim("{\"op\":\"open\",\"slot\":5}");
	pause_s(2);
	station_sim("{\"op\":\"close\",\"slot\":5}");
	wait_stage(id, "unlock_in", 5000);
	nheard = 0;
	wait_stage(id, "wait_insert", 5000);
	assert_int_equal(row_of(id).reopens, 1);
	pause_s(1);
	station_sim("{\"op\":\"open\",\"slot\":5}");
	pause_s(2);
	station_sim("{\"op\":\"close\",\"slot\":5}");
	assert_false(wait_end(id, 5000));
	pause_s(2);
	all_locked();
	assert_string_equal(payload("swap.aborted", "reason"), "door_closed_empty");
	assert_string_equal(outbox(), "swap.started swap.aborted");
}

/* A fault that blocks the station refuses new swaps as "unsafe" until it
 * clears; one that blocks a slot keeps the swap off that slot, for the
 * returned battery and the one handed out alike (daemon/FAULTS.md). */
static void test_blocked_slots(void **state)
{
	(void)state;
	assert_true(fault_raise(FAULT_POWER_LOST, 0, 0, "mains sense low", NULL) > 0);
	assert_string_equal(scan("u-1", NULL), "unsafe");
	assert_string_equal(outbox(), "fault.raised");
	fault_gone(FAULT_POWER_LOST, 0, 0);
	pause_s(fault_rule(FAULT_POWER_LOST)->clear_after_s + 1);
	assert_false(fault_blocks_station());
	/* 5 would take the battery in and 2 (the healthiest, the fullest of
	 * those) would go out; a slot fault on each (and a harmless one on 3) */
	assert_true(fault_raise(FAULT_DOOR_UNEXPECTED, 5, 0, "door open", NULL) > 0);
	assert_true(fault_raise(FAULT_CHARGER, 2, 102, "charger fault bit", NULL) > 0);
	assert_true(fault_raise(FAULT_CELL_IMBALANCE, 3, 103, "spread 80 mV", NULL) > 0);
	assert_string_equal(scan("u-1", NULL), "ok");
	int64_t id = last_swap();
	assert_string_equal(payload("swap.started", "slot_in"), "6");
	assert_string_equal(payload("swap.started", "slot_out"), "4");
	wait_stage(id, "wait_insert", 5000);
	pause_s(1);
	assert_false(bolt_locked(6));
	assert_true(bolt_locked(5));
}

static void note_out(int slot, const char *reason, void *arg)
{
	(void)reason;
	*(int *)arg = slot;
}

/* A battery whose BMS talks nonsense: kept locked in, the slot out of
 * service, a staff ticket, the battery quarantined; the door left open
 * raises the alarm until it is closed. */
static void test_unknown_battery(void **state)
{
	int out_of_service = 0;

	(void)state;
	assert_string_equal(scan("u-4", NULL), "ok");
	int64_t id = last_swap();
	wait_stage(id, "wait_insert", 5000);
	pause_s(1);
	station_sim("{\"op\":\"open\",\"slot\":5}");
	pause_s(1);
	station_sim("{\"op\":\"insert\",\"slot\":5,\"battery\":777}");
	station_sim("{\"op\":\"fault\",\"slot\":5,\"kind\":\"bms_nonsense\"}");
	assert_false(wait_end(id, 5000));
	pause_s(2);
	assert_true(bolt_locked(5));
	assert_true(bolt_locked(2));
	assert_string_equal(row_of(id).reason, "unknown_battery");
	/* the registry's level-3 fault, once the abort is on disk (FAULTS.md) */
	assert_string_equal(outbox(),
			    "swap.started battery.quarantined swap.aborted fault.raised ticket.opened");
	assert_string_equal(payload("fault.raised", "code"), "unknown_battery");
	assert_string_equal(payload("fault.raised", "battery"), "BAT-00777");
	assert_string_equal(payload("ticket.opened", "ticket"), "F1");
	assert_string_equal(payload("ticket.opened", "fault"), "1");
	assert_non_null(strstr(payload("ticket.opened", "summary"), "slot 5"));
	assert_true(fault_blocks_slot(5));
	assert_int_equal(fault_ticket_ack("F1", "tech-7"), SW_OK);
	assert_true(battery(777).quarantined);
	assert_int_equal(store_slots_out(station_store, note_out, &out_of_service), SW_OK);
	assert_int_equal(out_of_service, 5);
	/* the door was open: the alarm, then its end when it closes */
	struct want on = { EV_DOOR_ALARM, id, NULL, 0 };
	assert_true(heard_it(&on));
	int before = nheard;
	station_sim("{\"op\":\"close\",\"slot\":5}");
	pause_s(2);
	bool cleared = false;
	for (int k = before; k < nheard; k++)
		cleared |= heard[k].type == EV_DOOR_ALARM && !heard[k].on && heard[k].slot_no == 5;
	assert_true(cleared);
	/* the next rider never gets slot 5 */
	assert_string_equal(scan("u-5", NULL), "ok");
	assert_int_equal(row_of(last_swap()).slot_in, 6);
}

/* A worn battery returned: quarantined, never handed out, and the rider
 * still leaves with a charged one. */
static void test_low_soh_quarantined(void **state)
{
	(void)state;
	assert_string_equal(scan("u-6", NULL), "ok");
	int64_t id = last_swap();
	wait_stage(id, "wait_insert", 5000);
	/* full, but worn */
	rider_returns(5, 600, 99, 70);
	wait_stage(id, "wait_take", 10000);
	/* it came in with more charge than slot 2's battery: slot 1's goes out */
	assert_int_equal(row_of(id).slot_out, 1);
	rider_takes(1);
	assert_true(wait_end(id, 10000));
	assert_string_equal(outbox(), "swap.started battery.quarantined swap.completed");
	assert_string_equal(payload("battery.quarantined", "battery"), "BAT-00600");
	assert_string_equal(payload("battery.quarantined", "reason"), "low_soh");
	assert_true(battery(600).quarantined);
	struct want q = { EV_BATTERY_QUARANTINED, id, "low_soh", 0 };
	assert_true(heard_it(&q));
	/* three riders more: none of them gets battery 600 */
	for (int k = 0; k < 3; k++) {
		assert_string_equal(scan("u-7", NULL), "ok");
		assert_int_not_equal(row_of(last_swap()).battery_out, 600);
		assert_int_not_equal(row_of(last_swap()).slot_out, 5);
	}
}

/* The charged battery not taken: locked in again after 60 s, back in
 * stock (the next rider gets it), OCPP's BatteryOutTimeout. */
static void test_battery_not_taken(void **state)
{
	(void)state;
	assert_string_equal(scan("u-8", NULL), "ok");
	int64_t id = last_swap();
	wait_stage(id, "wait_insert", 5000);
	rider_returns(5, 500, 20, 92);
	wait_stage(id, "wait_take", 10000);
	int64_t t0 = loop_now();
	assert_false(wait_end(id, 120000));
	assert_true(loop_now() - t0 >= 60000 && loop_now() - t0 < 61000);
	pause_s(2);
	all_locked();
	assert_string_equal(payload("swap.aborted", "reason"), "battery_out_timeout");
	assert_string_equal(payload("swap.aborted", "stage"), "wait_take");
	struct store_battery b = battery(102);
	assert_string_equal(b.place, "slot");
	assert_int_equal(b.slot, 2);
	assert_string_equal(battery(500).place, "slot");
	assert_string_equal(scan("u-9", NULL), "ok");
	assert_int_equal(row_of(last_swap()).battery_out, 102);
}

/* Opened, not taken, left open: the alarm is raised when the wait ends,
 * and the slot gets no new swap until its door is closed. */
static void test_door_left_open(void **state)
{
	(void)state;
	assert_string_equal(scan("u-10", NULL), "ok");
	int64_t id = last_swap();
	wait_stage(id, "wait_insert", 5000);
	rider_returns(5, 500, 50, 99);
	wait_stage(id, "wait_take", 10000);
	pause_s(1);
	station_sim("{\"op\":\"open\",\"slot\":2}");
	assert_false(wait_end(id, 120000));
	struct want on = { EV_DOOR_ALARM, id, NULL, 0 };
	assert_true(heard_it(&on));
	/* slot 2 holds the healthiest battery, but its door is open */
	assert_string_equal(scan("u-11", NULL), "ok");
	int64_t next = last_swap();
	assert_int_not_equal(row_of(next).slot_out, 2);
	assert_int_equal(swap_abort(next, "test", "make room"), SW_OK);
	station_sim("{\"op\":\"close\",\"slot\":2}");
	pause_s(2);
	assert_string_equal(scan("u-12", NULL), "ok");
	assert_int_equal(row_of(last_swap()).slot_out, 2);
}

/* Three riders at once (swap.max_concurrent 3): six different slots, each
 * held by its own swap; a fourth is told busy; all three complete. */
static void test_three_at_once(void **state)
{
	int64_t id[3];
	struct store_swap r[3];
	bool used[NSLOTS + 1] = { false };

	(void)state;
	for (int k = 0; k < 3; k++) {
		assert_string_equal(scan("u-many", NULL), "ok");
		id[k] = last_swap();
		r[k] = row_of(id[k]);
		for (int n = 0; n < 2; n++) {
			int slot = n ? r[k].slot_out : r[k].slot_in;
			int64_t ref;
			assert_false(used[slot]);
			used[slot] = true;
			assert_string_equal(slots_holder(slots_index(slot), &ref), "swap");
			assert_int_equal(ref, id[k]);
		}
	}
	assert_string_equal(scan("u-late", NULL), "busy");
	for (int k = 0; k < 3; k++)
		wait_stage(id[k], "wait_insert", 5000);
	for (int k = 0; k < 3; k++)
		rider_returns(r[k].slot_in, 700 + k, 30, 90);
	for (int k = 0; k < 3; k++) {
		wait_stage(id[k], "wait_take", 10000);
		r[k] = row_of(id[k]);
	}
	for (int k = 0; k < 3; k++)
		rider_takes(r[k].slot_out);
	for (int k = 0; k < 3; k++)
		assert_true(wait_end(id[k], 10000));
	pause_s(2);
	all_locked();
	assert_string_equal(outbox(), "swap.started swap.started swap.started swap.completed"
			    " swap.completed swap.completed");
}

static void estop(bool pressed)
{
	struct event ev = { .type = pressed ? EV_ESTOP_PRESSED : EV_ESTOP_RELEASED, .slot = -1,
			    .on = pressed };

	event_publish(&ev);
}

/* No swap while the station is unsafe, has nothing to give or its fleet
 * outbox is at the cap (fleet sync's flag), and the token stays good for
 * when it can; the stop ends a swap under way. */
static void test_refusals(void **state)
{
	char text[TOKEN_TEXT_MAX + 1];
	struct token tok;

	(void)state;
	swap_set_outbox_full(true);
	assert_string_equal(scan("u-12", NULL), "outbox_full");
	swap_set_outbox_full(false);
	estop(true);
	assert_string_equal(scan("u-13", text), "estop");
	estop(false);
	assert_string_equal(access_scan(text, strlen(text), "control", &tok), "ok");
	int64_t id = last_swap();
	wait_stage(id, "wait_insert", 5000);
	estop(true);
	assert_false(wait_end(id, 1000));
	assert_string_equal(row_of(id).reason, "estop");
	pause_s(2);
	all_locked();
	estop(false);
	for (int n = 1; n <= 4; n++)
		station_sim("{\"op\":\"remove\",\"slot\":%d,\"force\":true}", n);
	pause_s(5);
	assert_string_equal(scan("u-14", NULL), "no_charged_battery");
	/* a refusal is no rejection of the token: the fleet hears nothing */
	assert_string_equal(outbox(), "swap.started swap.aborted");
}

/* Stops every module and the store as SIGTERM would, lets sec seconds
 * pass, then starts again on the same database, the rack as it was
 * (the simulator starts empty: the same batteries are put back). */
static void restart(int sec, int in_slot, int in_battery)
{
	station_stop();
	pause_s(sec);
	station_start(STATION_ACCESS);
	stock();
	if (in_slot)
		station_sim("{\"op\":\"insert\",\"slot\":%d,\"battery\":%d,\"soc\":20,\"soh\":92,\"force\":true}",
		    in_slot, in_battery);
	nheard = 0;
	station_start(STATION_SWAP);
}

/* Right after a start, before the rack read its slots, a rider is told
 * the station is starting, not that it has no slot or battery; once every
 * slot was read, the same token starts a swap. */
static void test_scan_while_starting(void **state)
{
	char text[TOKEN_TEXT_MAX + 1];
	struct token tok;

	(void)state;
	restart(0, 0, 0);
	assert_string_equal(scan("u-15", text), "starting");
	station_read();
	assert_string_equal(access_scan(text, strlen(text), "control", &tok), "ok");
}

/* Stopped while the charged battery's door was open for the rider: the
 * next start unlocks it again (the rider is still there), the rider takes
 * it, the swap completes; the token stays spent. */
static void test_restart_resumes(void **state)
{
	char text[TOKEN_TEXT_MAX + 1];
	struct token tok;

	(void)state;
	assert_string_equal(scan("u-15", text), "ok");
	int64_t id = last_swap();
	wait_stage(id, "wait_insert", 5000);
	rider_returns(5, 500, 20, 92);
	wait_stage(id, "wait_take", 10000);
	restart(3, 5, 500);
	assert_string_equal(row_of(id).stage, "wait_take");
	wait_stage(id, "wait_take", 10000);
	pause_s(1);
	assert_false(bolt_locked(2));
	rider_takes(2);
	assert_true(wait_end(id, 10000));
	pause_s(2);
	all_locked();
	assert_string_equal(outbox(), "swap.started swap.completed");
	assert_string_equal(access_scan(text, strlen(text), "control", &tok), "replayed");
}

/* Stopped for longer than a rider waits: the swap ends (restart), the
 * charged battery stays in stock, the returned one is in the ledger. */
static void test_restart_too_late(void **state)
{
	(void)state;
	assert_string_equal(scan("u-16", NULL), "ok");
	int64_t id = last_swap();
	wait_stage(id, "wait_insert", 5000);
	rider_returns(5, 500, 20, 92);
	wait_stage(id, "wait_take", 10000);
	restart(120, 5, 500);
	assert_false(wait_end(id, 10000));
	pause_s(2);
	all_locked();
	assert_string_equal(payload("swap.aborted", "reason"), "restart");
	assert_string_equal(payload("swap.aborted", "stage"), "wait_take");
	assert_string_equal(battery(500).place, "slot");
	assert_int_equal(battery(500).slot, 5);
	assert_string_equal(battery(102).place, "slot");
	assert_string_equal(outbox(), "swap.started swap.aborted");
}

/* Stopped while waiting for the returned battery, which the rider put in
 * while swapd was down: the start finds it, records it, and goes on. */
static void test_restart_finds_battery(void **state)
{
	(void)state;
	assert_string_equal(scan("u-17", NULL), "ok");
	int64_t id = last_swap();
	wait_stage(id, "wait_insert", 5000);
	restart(2, 5, 500);
	wait_stage(id, "wait_take", 10000);
	assert_int_equal(row_of(id).battery_in, 500);
	rider_takes(2);
	assert_true(wait_end(id, 10000));
	assert_string_equal(battery(500).place, "slot");
}

/* Two unfinished swaps on one slot (the older ended in memory when its
 * store write failed; the slot went to a newer one): at start the older
 * ends, the newer goes on. */
static void test_restart_shared_slot(void **state)
{
	char why[256];
	int64_t now = loop_wall_ms();
	struct store_swap older = { .slot_in = 5, .slot_out = 2, .stage = "lock_in", .started_at = now,
				    .stage_at = now, .battery_out = 102, .battery_in = 500 },
			  newer = { .slot_in = 5, .slot_out = 1, .stage = "wait_take", .started_at = now,
				    .stage_at = now, .battery_out = 101 };

	(void)state;
	swap_stop();
	command_forget();
	snprintf(older.user, sizeof older.user, "u-old");
	snprintf(newer.user, sizeof newer.user, "u-new");
	assert_int_equal(store_swap_start(station_store, &older, NULL), SW_OK);
	assert_int_equal(store_swap_start(station_store, &newer, NULL), SW_OK);
	assert_int_equal(store_swap_update(station_store, &older, NULL), SW_OK);
	assert_int_equal(swap_start(&station_cfg, station_store, "boot-2", why, sizeof why), SW_OK);
	assert_string_equal(row_of(older.id).result, "aborted");
	assert_string_equal(row_of(older.id).reason, "restart");
	wait_stage(newer.id, "wait_take", 10000);
	pause_s(1);
	assert_false(bolt_locked(1));
	assert_true(bolt_locked(2));
	assert_string_equal(outbox(), "swap.aborted");
}

/* The database removed under a swap: the next transition cannot be
 * recorded, so nothing acts on it: both doors locked, the health says so. */
static void test_store_failure(void **state)
{
	(void)state;
	assert_string_equal(scan("u-18", NULL), "ok");
	int64_t id = last_swap();
	wait_stage(id, "wait_insert", 5000);
	assert_int_equal(unlink(station_db), 0);
	rider_returns(5, 500, 20, 92);
	struct want end = { EV_SWAP_ENDED, id, "store_failed", 0 };
	assert_true(loop_run_until(heard_it, &end, 10000));
	pause_s(2);
	all_locked();
	assert_int_equal(health_get("swap"), HEALTH_FAILED);
	assert_string_equal(scan("u-19", NULL), "store_failed");
}

/* Staff end a stuck swap: audited, swap.aborted with who and why. */
static void test_staff_abort(void **state)
{
	(void)state;
	assert_string_equal(scan("u-20", NULL), "ok");
	int64_t id = last_swap();
	wait_stage(id, "wait_insert", 5000);
	const struct command *c = command_find("swap-abort", 10);
	assert_int_equal(c->level, LEVEL_STAFF);
	struct control_req req = { .level = LEVEL_STAFF, .who = "uid 1000 pid 1" };
	req.args = json_tokener_parse("{\"swap\": 99, \"reason\": \"x\"}");
	json_object *reply = c->fn(&req), *v;
	assert_true(json_object_object_get_ex(reply, "error", &v));
	assert_string_equal(json_object_get_string(v), "unknown_swap");
	json_object_put(reply);
	json_object_put(req.args);
	char args[96];
	snprintf(args, sizeof args, "{\"swap\": %lld, \"reason\": \"rider left\"}", (long long)id);
	req.args = json_tokener_parse(args);
	reply = c->fn(&req);
	json_object_put(req.args);
	assert_true(json_object_object_get_ex(reply, "ok", &v) && json_object_get_boolean(v));
	json_object_put(reply);
	assert_true(wait_end(id, 100) == false);
	pause_s(2);
	all_locked();
	assert_string_equal(payload("swap.aborted", "reason"), "staff_abort");
	assert_string_equal(payload("swap.aborted", "detail"), "uid 1000 pid 1: rider left");
	assert_int_equal(swap_abort(id, "test", "again"), SW_ENOENT);
}

/* A reload while a rider is at the door changes nothing of the wait under
 * way; the next swap waits as newly configured. */
static void test_reload_keeps_waits(void **state)
{
	struct config next = station_cfg;

	(void)state;
	assert_string_equal(scan("u-21", NULL), "ok");
	int64_t id = last_swap();
	wait_stage(id, "wait_insert", 5000);
	int64_t t0 = loop_now();
	next.swap.insert_timeout_s = 20;
	swap_reconfigure(&next);
	assert_false(wait_end(id, 120000));
	assert_true(loop_now() - t0 >= 90000);
	assert_string_equal(scan("u-22", NULL), "ok");
	id = last_swap();
	wait_stage(id, "wait_insert", 5000);
	t0 = loop_now();
	assert_false(wait_end(id, 120000));
	assert_true(loop_now() - t0 >= 20000 && loop_now() - t0 < 21000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_full_swap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_slot_silent_at_unlock, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rider_never_inserts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_door_closed_empty, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_battery, setup, teardown),
		cmocka_unit_test_setup_teardown(test_blocked_slots, setup, teardown),
		cmocka_unit_test_setup_teardown(test_low_soh_quarantined, setup, teardown),
		cmocka_unit_test_setup_teardown(test_battery_not_taken, setup, teardown),
		cmocka_unit_test_setup_teardown(test_door_left_open, setup, teardown),
		cmocka_unit_test_setup_teardown(test_three_at_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scan_while_starting, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restart_resumes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restart_too_late, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restart_finds_battery, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restart_shared_slot, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store_failure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_staff_abort, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reload_keeps_waits, setup, teardown),
	};

	return cmocka_run_group_tests_name("swap_sim", tests, NULL, NULL);
}
