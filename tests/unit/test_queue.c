/* The queue on the simulated rack ("sim:4") in simulated time: joins and
 * positions, ETAs with and without charged batteries (and waiting for
 * charging), capacity and duplicates, cancel, arrival reports, expiry and
 * no-shows on the loop's clock, the admission check the swap flow asks,
 * riders served by a swap, and a restart that keeps the queue. Each change
 * is checked in the fleet outbox, where it must be with its event. */
#include <setjmp.h>
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
#include "daemon/event.h"
#include "daemon/loop.h"
#include "daemon/queue.h"
#include "daemon/slots.h"
#include "daemon/store.h"
#include "drivers/rack.h"
#include "drivers/rack_bus.h"
#include "tests/unit/station_sim.h"

#define NSLOTS 4


/* EV_QUEUE_CHANGED as heard: ticket and what. */
static struct { int64_t ref; char what[16]; } heard[64];
static int nheard;

static void on_changed(const struct event *ev, void *arg)
{
	(void)arg;
	if (nheard < (int)(sizeof heard / sizeof heard[0])) {
		heard[nheard].ref = ev->ref;
		snprintf(heard[nheard].what, sizeof heard[nheard].what, "%s", ev->what);
		nheard++;
	}
}

static void run_s(int64_t s)
{
	station_run_ms(s * 1000);
}

static void start_queue(void)
{
	char why[256];

	assert_int_equal(queue_start(&station_cfg, station_store, "test-boot", why, sizeof why), SW_OK);
}

static void stop_queue(void)
{
	queue_stop();
	command_forget(); /* so that queue_start registers its commands again */
}

static int setup(void **state)
{
	(void)state;
	station_init(NSLOTS, "ST-1", false);
	station_cfg.rack.telemetry_rows = 100;
	nheard = 0;
	assert_int_equal(event_subscribe(EV_QUEUE_CHANGED, on_changed, NULL), SW_OK);
	station_start(0);
	station_ready();
	start_queue();
	return 0;
}

static int teardown(void **state)
{
	stop_queue();
	event_unsubscribe(EV_QUEUE_CHANGED, on_changed, NULL);
	return station_teardown(state);
}

struct slot_wait {
	int i;
	enum slot_state st;
};

static bool slot_in(void *arg)
{
	const struct slot_wait *w = arg;

	return slots_state(w->i) == w->st;
}

/* Puts battery id with soc into slot number slot (a transporter's key:
 * the door stays shut) and waits until the slot table says want. */
static void battery(int slot, int id, int soc, enum slot_state want)
{
	struct slot_wait w = { slot - 1, want };

	station_sim("{\"op\": \"insert\", \"slot\": %d, \"battery\": %d, \"soc\": %d, \"force\": true}", slot,
	    id, soc);
	if (!loop_run_until(slot_in, &w, 10000))
		fail_msg("slot %d is %s, not %s", slot, slots_state_name(slots_state(slot - 1)),
			 slots_state_name(want));
}

static struct queue_place reserve(const char *user, const char *nonce, int eta_s)
{
	struct queue_place p;

	assert_int_equal(queue_reserve(user, nonce, eta_s, 0, &p), QUEUE_OK);
	return p;
}

static struct queue_place place(int64_t ticket)
{
	struct queue_place p;

	if (!queue_find(ticket, &p))
		fail_msg("ticket %lld is not waiting", (long long)ticket);
	return p;
}

/* The first column of the first row of sql, on a connection of our own. */
static int64_t sql_int(const char *sql)
{
	sqlite3 *h;
	sqlite3_stmt *st;
	int64_t v = -1;

	assert_int_equal(sqlite3_open(station_db, &h), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(h, sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(h);
	return v;
}

static void sql_exec(const char *sql)
{
	sqlite3 *h;

	assert_int_equal(sqlite3_open(station_db, &h), SQLITE_OK);
	assert_int_equal(sqlite3_exec(h, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(h);
}

/* How many queue.left events name ticket with reason. */
static int64_t left_events(int64_t ticket, const char *reason)
{
	char sql[256];

	snprintf(sql, sizeof sql,
		 "SELECT count(*) FROM outbox WHERE type = 'queue.left' AND"
		 " json_extract(payload, '$.ticket') = %lld AND json_extract(payload, '$.reason') = '%s'",
		 (long long)ticket, reason);
	return sql_int(sql);
}

static bool waiting(int64_t ticket)
{
	struct queue_place p;

	return queue_find(ticket, &p);
}

static int64_t now_s(void)
{
	return loop_wall_ms() / 1000;
}

/* An empty station: the riders wait for charging, and their ETAs say so. */
static void test_join_positions_eta_without_stock(void **state)
{
	(void)state;
	struct queue_place a = reserve("u-a", "nonce-a1", 0);
	struct queue_place b = reserve("u-b", "nonce-b1", 0);

	assert_int_equal(a.position, 1);
	assert_int_equal(b.position, 2);
	assert_true(b.ticket > a.ticket);
	assert_true(a.waits_for_charging && b.waits_for_charging);
	/* no battery at all: a full charge for the first; the second gets the
	 * battery the first brings back, a swap and a full charge later */
	assert_int_equal(a.eta_s, 3600);
	assert_int_equal(b.eta_s, 3600 + 60 + 3600);
	assert_string_equal(a.arrival, "en_route");

	/* a battery at 40 % in slot 1: the first rider waits for it */
	battery(1, 41, 40, SLOT_IDLE);
	double soc = rack_reading(0)->soc;
	int want = (int)((95 - soc) / 95 * 3600 + 0.999);
	assert_int_equal(place(a.ticket).eta_s, want);
	assert_true(place(a.ticket).waits_for_charging);

	/* each join is in the outbox with its fields */
	assert_int_equal(sql_int("SELECT count(*) FROM outbox WHERE type = 'queue.joined'"), 2);
	assert_int_equal(sql_int("SELECT json_extract(payload, '$.eta_s') FROM outbox WHERE"
				 " type = 'queue.joined' ORDER BY seq DESC"), 7260);
	assert_int_equal(sql_int("SELECT count(*) FROM outbox WHERE type = 'queue.joined' AND"
				 " json_extract(payload, '$.position') = 2 AND"
				 " json_extract(payload, '$.source') = 'fleet' AND"
				 " json_extract(payload, '$.user') = 'u-b'"), 1);
	assert_int_equal(nheard, 2);
	assert_string_equal(heard[1].what, "joined");
	assert_int_equal(heard[1].ref, b.ticket);
}

static void swap_event(enum event_type type, int64_t swap, const char *user, const char *nonce,
		       bool completed)
{
	struct event ev = { .type = type, .slot = -1, .ref = swap, .who = user, .what = nonce,
			    .on = completed };

	event_publish(&ev);
}

/* Two charged batteries: the first two riders do not wait for charging,
 * one swap apart; the third waits for a returned battery to charge. The
 * swap time follows completed swaps, not aborted ones. */
static void test_eta_with_stock(void **state)
{
	(void)state;
	battery(1, 101, 100, SLOT_CHARGED);
	battery(2, 102, 100, SLOT_CHARGED);
	struct queue_place a = reserve("u-a", "nonce-a1", 0);
	struct queue_place b = reserve("u-b", "nonce-b1", 0);
	struct queue_place c = reserve("u-c", "nonce-c1", 0);

	assert_false(a.waits_for_charging);
	assert_false(b.waits_for_charging);
	assert_true(c.waits_for_charging);
	assert_int_equal(a.eta_s, 0);
	assert_int_equal(b.eta_s, 60);
	assert_int_equal(c.eta_s, 60 + 3600); /* the first rider's battery, charged */

	/* a swap of someone not in the queue takes 40 s; one aborts after 500 s */
	swap_event(EV_SWAP_STARTED, 1, "u-x", "nonce-x1", false);
	run_s(40);
	swap_event(EV_SWAP_ENDED, 1, NULL, NULL, true);
	swap_event(EV_SWAP_STARTED, 2, "u-y", "nonce-y1", false);
	run_s(500);
	swap_event(EV_SWAP_ENDED, 2, NULL, NULL, false);
	assert_int_equal(place(b.ticket).eta_s, 40);
	json_object *j = queue_json(), *v;
	assert_true(json_object_object_get_ex(j, "swap_s", &v));
	assert_int_equal(json_object_get_int(v), 40);
	assert_true(json_object_object_get_ex(j, "charged", &v));
	assert_int_equal(json_object_get_int(v), 2);
	json_object_put(j);
}

/* A full queue refuses, a nonce or user waiting already is a duplicate,
 * what token.md would refuse is a bad request; a walk-in who finds the
 * queue full gets no place; none of them reaches the outbox. */
static void test_capacity_duplicate_bad(void **state)
{
	struct queue_place p;

	(void)state;
	station_cfg.queue.capacity = 2;
	queue_reconfigure(&station_cfg);
	reserve("u-a", "nonce-a1", 0);
	reserve("u-b", "nonce-b1", 0);
	assert_int_equal(queue_reserve("u-c", "nonce-c1", 0, 0, &p), QUEUE_FULL);
	assert_string_equal(queue_result_code(QUEUE_FULL), "queue_full");
	assert_int_equal(queue_reserve("u-c", "nonce-a1", 0, 0, &p), QUEUE_DUPLICATE);
	assert_int_equal(queue_reserve("u-a", "nonce-c1", 0, 0, &p), QUEUE_DUPLICATE);
	assert_string_equal(queue_result_code(QUEUE_DUPLICATE), "duplicate");
	assert_int_equal(queue_reserve("u c", "nonce-c1", 0, 0, &p), QUEUE_BAD_REQUEST);
	assert_int_equal(queue_reserve("u-c", "short", 0, 0, &p), QUEUE_BAD_REQUEST);
	assert_int_equal(queue_reserve("u-c", "nonce-c1", -1, 0, &p), QUEUE_BAD_REQUEST);
	assert_int_equal(queue_reserve("u-c", "nonce-c1", 0, now_s() - 3600, &p), QUEUE_BAD_REQUEST);

	struct event ev = { .type = EV_TICKET_ISSUED, .slot = -1, .who = "walkin-1", .what = "walkin-n1" };
	event_publish(&ev);
	json_object *j = queue_json(), *v;
	assert_true(json_object_object_get_ex(j, "waiting", &v));
	assert_int_equal(json_object_get_int(v), 2);
	json_object_put(j);
	assert_int_equal(sql_int("SELECT count(*) FROM outbox WHERE type LIKE 'queue.%'"), 2);

	/* room again: the capacity counts who waits now */
	station_cfg.queue.capacity = 3;
	queue_reconfigure(&station_cfg);
	assert_int_equal(queue_reserve("u-c", "nonce-c1", 0, 0, &p), QUEUE_OK);
	assert_int_equal(p.position, 3);
}

/* A cancelled rider leaves with its event; those behind move up. */
static void test_cancel(void **state)
{
	(void)state;
	struct queue_place a = reserve("u-a", "nonce-a1", 0);
	struct queue_place b = reserve("u-b", "nonce-b1", 0);
	struct queue_place c = reserve("u-c", "nonce-c1", 0);

	assert_int_equal(queue_cancel(b.ticket), QUEUE_OK);
	assert_int_equal(queue_cancel(b.ticket), QUEUE_UNKNOWN_TICKET);
	assert_string_equal(queue_result_code(QUEUE_UNKNOWN_TICKET), "unknown_ticket");
	assert_int_equal(queue_cancel(9999), QUEUE_UNKNOWN_TICKET);
	assert_int_equal(place(a.ticket).position, 1);
	assert_int_equal(place(c.ticket).position, 2);
	assert_int_equal(left_events(b.ticket, "cancelled"), 1);
	assert_int_equal(sql_int("SELECT count(*) FROM outbox WHERE type = 'queue.left'"), 1);
	assert_int_equal(heard[nheard - 1].ref, b.ticket);
	assert_string_equal(heard[nheard - 1].what, "cancelled");
	/* the nonce may wait again once it left */
	assert_true(reserve("u-b", "nonce-b1", 0).position == 3);
}

/* Reported distances set the arrival state by the configured radii; a
 * rider still on the road adds the time they said they need. */
static void test_arrival(void **state)
{
	struct queue_place p;

	(void)state;
	battery(1, 101, 100, SLOT_CHARGED);
	struct queue_place a = reserve("u-a", "nonce-a1", 600);
	assert_int_equal(a.eta_s, 600);
	assert_false(a.waits_for_charging);

	static const struct { int m; const char *arrival; } steps[] = {
		{ 5000, "en_route" }, { 1000, "approaching" }, { 800, "approaching" },
		{ 501, "approaching" }, { 500, "arrived" }, { 0, "arrived" }, { 1001, "en_route" },
		{ 400, "arrived" },
	};
	for (size_t k = 0; k < sizeof steps / sizeof steps[0]; k++) {
		assert_int_equal(queue_arrival(a.ticket, steps[k].m, &p), QUEUE_OK);
		assert_string_equal(p.arrival, steps[k].arrival);
	}
	assert_int_equal(p.eta_s, 0); /* here, and a battery is charged */
	assert_int_equal(queue_arrival(777, 10, &p), QUEUE_UNKNOWN_TICKET);
	assert_int_equal(sql_int("SELECT distance_m FROM queue WHERE ticket = 1"), 400);
	assert_int_equal(sql_int("SELECT count(*) FROM queue WHERE arrival = 'arrived'"), 1);
	assert_string_equal(heard[nheard - 1].what, "arrival");
}

/* A reservation whose token would no longer verify (exp plus the allowed
 * skew) leaves as expired, on the loop's clock, also while it waits for
 * charging. */
static void test_expiry(void **state)
{
	struct queue_place p;

	(void)state;
	assert_int_equal(queue_reserve("u-b", "nonce-b1", 0, INT64_MAX, &p), QUEUE_OK);
	/* no S token lives longer than tokens.life_swap_s: nor does its place */
	assert_int_equal(sql_int("SELECT exp FROM queue WHERE user = 'u-b'"),
			 now_s() + station_cfg.tokens.life_swap_s);
	assert_int_equal(queue_reserve("u-a", "nonce-a1", 0, now_s() + 100, &p), QUEUE_OK);
	run_s(100 + station_cfg.tokens.skew_s - 2);
	assert_true(waiting(p.ticket));
	run_s(4);
	assert_false(waiting(p.ticket));
	assert_int_equal(left_events(p.ticket, "expired"), 1);
	assert_string_equal(heard[nheard - 1].what, "expired");
}

/* A rider who could have swapped is a no-show queue.grace_s after the
 * later of their ETA and the moment they could; waiting for charging is
 * no fault of theirs, and an arrival report gives them the grace again. */
static void test_no_show(void **state)
{
	(void)state;
	struct queue_place a = reserve("u-a", "nonce-a1", 60);
	run_s(3 * 3600);
	assert_true(waiting(a.ticket)); /* nothing to swap to: no no-show */

	battery(1, 101, 100, SLOT_CHARGED);
	run_s(station_cfg.queue.grace_s - 60);
	struct queue_place p;
	assert_int_equal(queue_arrival(a.ticket, 900, &p), QUEUE_OK);
	run_s(station_cfg.queue.grace_s - 2);
	assert_true(waiting(a.ticket));
	run_s(4);
	assert_false(waiting(a.ticket));
	assert_int_equal(left_events(a.ticket, "no_show"), 1);
}

static const char *admit(const char *user, const char *nonce, int charged, int64_t *ticket)
{
	struct token tok = { .kind = TOKEN_SWAP };

	snprintf(tok.subject, sizeof tok.subject, "%s", user);
	snprintf(tok.nonce, sizeof tok.nonce, "%s", nonce);
	return queue_admit(&tok, charged, ticket, NULL);
}

/* A reservation on the road holds nothing; once arrived it has a battery
 * counted as its own ahead of everyone behind it and everyone without a
 * place; a walk-in is at the station from the start. */
static void test_admission(void **state)
{
	int64_t t;
	struct queue_place p;

	(void)state;
	struct queue_place a = reserve("u-a", "nonce-a1", 300);
	struct event ev = { .type = EV_TICKET_ISSUED, .slot = -1, .who = "walkin-w", .what = "nonce-w1" };
	event_publish(&ev);
	struct queue_place w = place(a.ticket + 1);
	assert_int_equal(w.position, 2);
	assert_string_equal(w.arrival, "arrived");
	assert_int_equal(sql_int("SELECT count(*) FROM outbox WHERE type = 'queue.joined' AND"
				 " json_extract(payload, '$.source') = 'walkin'"), 1);

	/* one charged: A is on the road, so the walk-in may go */
	assert_null(admit("walkin-w", "nonce-w1", 1, &t));
	assert_int_equal(t, w.ticket);
	/* a rider without a place comes after the walk-in */
	assert_string_equal(admit("u-x", "nonce-x1", 1, &t), "not_your_turn");
	assert_int_equal(t, 0);
	/* the walk-in scanning their own app's token: found by user */
	assert_null(admit("walkin-w", "nonce-o1", 1, &t));
	assert_int_equal(t, w.ticket);
	/* a reservation is only its own nonce's */
	assert_string_equal(admit("u-a", "nonce-o2", 1, &t), "not_your_turn");
	assert_int_equal(t, 0);

	/* A arrives: the one battery is A's */
	assert_int_equal(queue_arrival(a.ticket, 200, &p), QUEUE_OK);
	assert_null(admit("u-a", "nonce-a1", 1, &t));
	assert_int_equal(t, a.ticket);
	assert_string_equal(admit("walkin-w", "nonce-w1", 1, &t), "not_your_turn");
	assert_int_equal(t, w.ticket);
	/* two: the walk-in too, not yet someone without a place; three: all */
	assert_null(admit("walkin-w", "nonce-w1", 2, &t));
	assert_string_equal(admit("u-x", "nonce-x1", 2, &t), "not_your_turn");
	assert_null(admit("u-x", "nonce-x1", 3, &t));
	/* nothing charged: the swap flow's own refusal, not the queue's */
	assert_null(admit("u-x", "nonce-x1", 0, &t));
}

/* A swap that starts serves the rider it names: by nonce, or a walk-in
 * by user; anyone else stays. */
static void test_served(void **state)
{
	(void)state;
	struct queue_place a = reserve("u-a", "nonce-a1", 0);
	struct queue_place b = reserve("u-b", "nonce-b1", 0);
	struct event ev = { .type = EV_TICKET_ISSUED, .slot = -1, .who = "walkin-w", .what = "nonce-w1" };
	event_publish(&ev);
	int64_t w = b.ticket + 1;

	swap_event(EV_SWAP_STARTED, 7, "u-a", "nonce-a1", false);
	assert_false(waiting(a.ticket));
	assert_int_equal(left_events(a.ticket, "served"), 1);
	swap_event(EV_SWAP_STARTED, 8, "walkin-w", "nonce-z1", false);
	assert_false(waiting(w));
	assert_int_equal(left_events(w, "served"), 1);
	swap_event(EV_SWAP_STARTED, 9, "u-b", "nonce-z2", false);
	assert_true(waiting(b.ticket));
	assert_int_equal(place(b.ticket).position, 1);
}

/* Stopped and started again (as after a crash), the queue is what it was,
 * arrival states and all; a ticket a stored swap names leaves as served;
 * no ticket is given twice. */
static void test_restart_keeps_queue(void **state)
{
	struct queue_place p;

	(void)state;
	struct queue_place a = reserve("u-a", "nonce-a1", 0);
	struct queue_place b = reserve("u-b", "nonce-b1", 900);
	struct queue_place c = reserve("u-c", "nonce-c1", 0);
	assert_int_equal(queue_arrival(a.ticket, 100, &p), QUEUE_OK);
	assert_int_equal(queue_cancel(c.ticket), QUEUE_OK);

	stop_queue();
	start_queue();
	assert_int_equal(place(a.ticket).position, 1);
	assert_string_equal(place(a.ticket).arrival, "arrived");
	assert_int_equal(place(b.ticket).position, 2);
	assert_string_equal(place(b.ticket).arrival, "en_route");
	assert_false(waiting(c.ticket));
	assert_true(place(b.ticket).eta_s > 800); /* still on the road */

	/* a swap recorded with b's ticket just before a crash */
	sql_exec("INSERT INTO swaps (nonce, user, ticket, slot_in, slot_out, stage, started_at,"
		 " stage_at, battery_out) VALUES ('nonce-b1', 'u-b', 2, 1, 2, 'unlock_in', 0, 0, 7)");
	stop_queue();
	start_queue();
	assert_false(waiting(b.ticket));
	assert_int_equal(left_events(b.ticket, "served"), 1);
	assert_true(waiting(a.ticket));
	assert_true(reserve("u-d", "nonce-d1", 0).ticket > c.ticket);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_join_positions_eta_without_stock, setup, teardown),
		cmocka_unit_test_setup_teardown(test_eta_with_stock, setup, teardown),
		cmocka_unit_test_setup_teardown(test_capacity_duplicate_bad, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_arrival, setup, teardown),
		cmocka_unit_test_setup_teardown(test_expiry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_show, setup, teardown),
		cmocka_unit_test_setup_teardown(test_admission, setup, teardown),
		cmocka_unit_test_setup_teardown(test_served, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restart_keeps_queue, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
