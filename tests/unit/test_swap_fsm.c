/* The swap's transition table (daemon/swap_fsm.c), pure: first what must
 * hold of every row for every combination of conditions (terminal stages
 * absorb, every wait has its timeout, every end locks the doors, a restart
 * never opens a door on a stale decision), then the rider's journeys and
 * every rider mistake of issue 10, event by event. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "daemon/swap_fsm.h"

#define ALL_CONDS 0x1ffu /* every SC_* bit */

static bool final(enum swap_stage st)
{
	return st == SWAP_COMPLETED || st == SWAP_ABORTED;
}

/* The wait each stage has, whoever enters it. */
static enum swap_timeout wait_of(enum swap_stage st)
{
	switch (st) {
	case SWAP_UNLOCK_IN: case SWAP_UNLOCK_OUT: return ST_DOOR;
	case SWAP_WAIT_INSERT: return ST_INSERT;
	case SWAP_WAIT_TAKE: return ST_TAKE;
	case SWAP_CLOSE_IN: case SWAP_CLOSE_OUT: return ST_CLOSE;
	default: return ST_NONE;
	}
}

static void each_row(void (*fn)(enum swap_stage, enum swap_ev, unsigned, const struct swap_step *))
{
	struct swap_step s;

	for (int st = 0; st < SWAP_STAGE_COUNT; st++)
		for (int ev = 0; ev < SE_COUNT; ev++)
			for (unsigned c = 0; c <= ALL_CONDS; c++)
				if (swap_fsm_step((enum swap_stage)st, (enum swap_ev)ev, c, &s))
					fn((enum swap_stage)st, (enum swap_ev)ev, c, &s);
}

static void fail_row(const char *what, enum swap_stage st, enum swap_ev ev, unsigned c,
		     const struct swap_step *s)
{
	fail_msg("%s: %s on %s (conds 0x%x) -> %s actions 0x%x", what, swap_ev_name(ev),
		 swap_stage_name(st), c, swap_stage_name(s->next), s->actions);
}

static void test_terminal_stages_absorb(void **state)
{
	struct swap_step s;

	(void)state;
	for (int ev = 0; ev < SE_COUNT; ev++)
		for (unsigned c = 0; c <= ALL_CONDS; c++) {
			assert_false(swap_fsm_step(SWAP_COMPLETED, (enum swap_ev)ev, c, &s));
			assert_false(swap_fsm_step(SWAP_ABORTED, (enum swap_ev)ev, c, &s));
		}
}

/* Every row starts the wait of the stage it enters, and no other. */
static void check_timeout(enum swap_stage st, enum swap_ev ev, unsigned c, const struct swap_step *s)
{
	if (s->timeout != wait_of(s->next))
		fail_row("timer not the new stage's wait", st, ev, c, s);
}

/* The slot a stage acts on is locked at the end: by the row, or it read
 * back locked (the event), or it would not and is out of service. */
static void check_end(enum swap_stage st, enum swap_ev ev, unsigned c, const struct swap_step *s)
{
	bool out = swap_stage_out(st);
	unsigned lock = out ? SA_LOCK_OUT : SA_LOCK_IN, service = out ? SA_SERVICE_OUT : SA_SERVICE_IN;

	if (!final(s->next))
		return;
	if (s->actions & (SA_UNLOCK_IN | SA_UNLOCK_OUT))
		fail_row("a door opens at the end", st, ev, c, s);
	if (!(s->actions & lock) && ev != SE_LOCKED && !(ev == SE_LOCK_FAILED && (s->actions & service)))
		fail_row("the stage's door is not locked at the end", st, ev, c, s);
	bool aborted = s->next == SWAP_ABORTED;
	if (aborted != !!(s->actions & SA_ABORT) || aborted == !!(s->actions & SA_COMPLETE) ||
	    aborted != (s->reason != NULL))
		fail_row("an end without exactly its event and reason", st, ev, c, s);
}

/* Doors move only as the stage entered says; nothing is recorded of a
 * returned battery that was not read. */
static void check_actions(enum swap_stage st, enum swap_ev ev, unsigned c, const struct swap_step *s)
{
	unsigned a = s->actions;

	if (((a & SA_UNLOCK_IN) && s->next != SWAP_UNLOCK_IN) ||
	    ((a & SA_UNLOCK_OUT) && s->next != SWAP_UNLOCK_OUT) ||
	    ((a & SA_LOCK_IN) && s->next != SWAP_LOCK_IN && !final(s->next)) ||
	    ((a & SA_LOCK_OUT) && s->next != SWAP_LOCK_OUT && !final(s->next)))
		fail_row("a door command that does not match the stage", st, ev, c, s);
	if ((a & SA_QUARANTINE) && !(a & SA_RECORD_IN))
		fail_row("quarantine of a battery not recorded", st, ev, c, s);
	if ((a & SA_RECORD_IN) && ev != SE_BATTERY_IN && ev != SE_BATTERY_BAD && ev != SE_RESTART)
		fail_row("a battery recorded without being read", st, ev, c, s);
	if ((a & SA_RECORD_IN) && ev == SE_RESTART && !(c & SC_READ))
		fail_row("a battery recorded at restart without a reading", st, ev, c, s);
	if ((a & SA_COMPLETE) && swap_stage_out(st) == false)
		fail_row("completed before the out stages", st, ev, c, s);
}

/* A restart opens a door only for a rider who may still be there: the
 * charged battery's, with the slots read and the stage fresh. */
static void check_restart(enum swap_stage st, enum swap_ev ev, unsigned c, const struct swap_step *s)
{
	if (ev != SE_RESTART)
		return;
	if (s->actions & SA_UNLOCK_IN)
		fail_row("a restart opens the empty slot", st, ev, c, s);
	if ((s->actions & SA_UNLOCK_OUT) &&
	    (c & (SC_READ | SC_OUT_FULL | SC_FRESH)) != (SC_READ | SC_OUT_FULL | SC_FRESH))
		fail_row("a restart opens a door on a stale or unread stage", st, ev, c, s);
}

static void test_every_row(void **state)
{
	(void)state;
	each_row(check_timeout);
	each_row(check_end);
	each_row(check_actions);
	each_row(check_restart);
}

/* Whatever the conditions, these events always get an answer in every
 * stage that is not over, and the ones that stop a swap stop it. */
static void test_every_stage_answers(void **state)
{
	static const enum swap_ev stops[] = { SE_STAFF_ABORT, SE_OFFLINE, SE_ESTOP };
	struct swap_step s;

	(void)state;
	for (int st = 0; st < SWAP_COMPLETED; st++)
		for (unsigned c = 0; c <= ALL_CONDS; c++) {
			for (size_t k = 0; k < sizeof stops / sizeof stops[0]; k++) {
				assert_true(swap_fsm_step((enum swap_stage)st, stops[k], c, &s));
				assert_true(final(s.next));
			}
			assert_true(swap_fsm_step((enum swap_stage)st, SE_RESTART, c, &s));
			/* every wait ends; a lock stage ends with its lock's outcome */
			if (wait_of((enum swap_stage)st) != ST_NONE) {
				assert_true(swap_fsm_step((enum swap_stage)st, SE_TIMEOUT, c, &s));
				assert_true(final(s.next));
			} else {
				assert_true(swap_fsm_step((enum swap_stage)st, SE_LOCKED, c, &s));
				assert_true(swap_fsm_step((enum swap_stage)st, SE_LOCK_FAILED, c, &s));
			}
		}
}

/* Every timeout, stage by stage: the reason the fleet is told, and the
 * door alarm when the door is open. */
static void test_every_timeout(void **state)
{
	static const struct {
		enum swap_stage st;
		unsigned conds;
		enum swap_stage next;
		const char *reason;
		unsigned actions;
	} want[] = {
		{ SWAP_UNLOCK_IN, 0, SWAP_ABORTED, "unlock_timeout", SA_LOCK_IN | SA_ABORT },
		{ SWAP_WAIT_INSERT, 0, SWAP_ABORTED, "insert_timeout", SA_LOCK_IN | SA_ABORT },
		{ SWAP_WAIT_INSERT, SC_OPEN, SWAP_ABORTED, "insert_timeout",
		  SA_LOCK_IN | SA_ALARM_IN | SA_ABORT },
		{ SWAP_CLOSE_IN, SC_OPEN, SWAP_ABORTED, "door_left_open",
		  SA_LOCK_IN | SA_ALARM_IN | SA_ABORT },
		{ SWAP_UNLOCK_OUT, 0, SWAP_ABORTED, "unlock_timeout",
		  SA_LOCK_OUT | SA_RESTOCK | SA_ABORT },
		{ SWAP_WAIT_TAKE, 0, SWAP_ABORTED, "battery_out_timeout",
		  SA_LOCK_OUT | SA_RESTOCK | SA_ABORT },
		{ SWAP_WAIT_TAKE, SC_OPEN, SWAP_ABORTED, "battery_out_timeout",
		  SA_LOCK_OUT | SA_RESTOCK | SA_ALARM_OUT | SA_ABORT },
		/* taken: done, the door alarm on */
		{ SWAP_CLOSE_OUT, SC_OPEN, SWAP_COMPLETED, NULL,
		  SA_LOCK_OUT | SA_ALARM_OUT | SA_COMPLETE },
	};
	struct swap_step s;

	(void)state;
	for (size_t k = 0; k < sizeof want / sizeof want[0]; k++) {
		assert_true(swap_fsm_step(want[k].st, SE_TIMEOUT, want[k].conds | SC_REOPEN, &s));
		assert_int_equal(s.next, want[k].next);
		assert_int_equal(s.actions, want[k].actions);
		if (want[k].reason)
			assert_string_equal(s.reason, want[k].reason);
		else
			assert_null(s.reason);
	}
}

/* A journey: events with their conditions, from unlock_in. */
struct step_in {
	enum swap_ev ev;
	unsigned conds;
};

struct journey {
	enum swap_stage stage;
	unsigned actions[16]; /* of each step that matched */
	int n;
	const char *reason;
};

static void walk(const struct step_in *steps, size_t n, struct journey *j)
{
	struct swap_step s;

	memset(j, 0, sizeof *j);
	j->stage = SWAP_UNLOCK_IN;
	for (size_t k = 0; k < n; k++) {
		if (!swap_fsm_step(j->stage, steps[k].ev, steps[k].conds, &s))
			continue;
		j->stage = s.next;
		j->actions[j->n++] = s.actions;
		if (s.reason)
			j->reason = s.reason;
	}
}

static unsigned all_actions(const struct journey *j)
{
	unsigned a = 0;

	for (int k = 0; k < j->n; k++)
		a |= j->actions[k];
	return a;
}

#define WALK(j, ...) do { \
	static const struct step_in steps_[] = { __VA_ARGS__ }; \
	walk(steps_, sizeof steps_ / sizeof steps_[0], j); \
} while (0)

static void test_full_swap(void **state)
{
	struct journey j;

	(void)state;
	WALK(&j, { SE_UNLOCKED, 0 }, { SE_DOOR_OPENED, SC_OPEN }, { SE_BATTERY_IN, SC_OPEN },
	     { SE_DOOR_CLOSED, 0 }, { SE_LOCKED, 0 }, { SE_UNLOCKED, 0 },
	     { SE_DOOR_OPENED, SC_OPEN }, { SE_BATTERY_OUT, SC_OPEN }, { SE_DOOR_CLOSED_EMPTY, 0 },
	     { SE_LOCKED, 0 });
	assert_int_equal(j.stage, SWAP_COMPLETED);
	assert_null(j.reason);
	/* the doors opening changed nothing: no row */
	static const unsigned want[] = {
		0, SA_RECORD_IN, SA_LOCK_IN, SA_UNLOCK_OUT, 0, 0, SA_LOCK_OUT, SA_COMPLETE,
	};
	assert_int_equal(j.n, sizeof want / sizeof want[0]);
	for (int k = 0; k < j.n; k++)
		assert_int_equal(j.actions[k], want[k]);

	/* the door shut by the time the battery is identified, and the removal
	 * seen in the same reading as the door closing */
	WALK(&j, { SE_UNLOCKED, 0 }, { SE_DOOR_CLOSED, 0 }, { SE_BATTERY_IN, 0 }, { SE_LOCKED, 0 },
	     { SE_UNLOCKED, 0 }, { SE_DOOR_CLOSED_EMPTY, 0 }, { SE_BATTERY_OUT, 0 }, { SE_LOCKED, 0 });
	assert_int_equal(j.stage, SWAP_COMPLETED);

	/* the charged battery taken before the unlock's read-back came back:
	 * the rider has it, so the swap completes (a late "unlocked" changes
	 * nothing), never battery_out_timeout */
	WALK(&j, { SE_UNLOCKED, 0 }, { SE_BATTERY_IN, 0 }, { SE_LOCKED, 0 },
	     { SE_BATTERY_OUT, SC_OPEN }, { SE_DOOR_CLOSED_EMPTY, 0 }, { SE_UNLOCKED, 0 },
	     { SE_TIMEOUT, 0 }, { SE_LOCKED, 0 });
	assert_int_equal(j.stage, SWAP_COMPLETED);
	assert_null(j.reason);
}

static void test_rider_never_inserts(void **state)
{
	struct journey j;

	(void)state;
	WALK(&j, { SE_UNLOCKED, 0 }, { SE_TIMEOUT, SC_REOPEN });
	assert_int_equal(j.stage, SWAP_ABORTED);
	assert_string_equal(j.reason, "insert_timeout");
	assert_int_equal(j.actions[1], SA_LOCK_IN | SA_ABORT);
}

/* Closed on an empty slot: opened once more, then the swap ends. */
static void test_door_closed_empty(void **state)
{
	struct journey j;

	(void)state;
	WALK(&j, { SE_UNLOCKED, 0 }, { SE_DOOR_OPENED, SC_OPEN | SC_REOPEN },
	     { SE_DOOR_CLOSED_EMPTY, SC_REOPEN });
	assert_int_equal(j.stage, SWAP_UNLOCK_IN);
	assert_int_equal(j.actions[1], SA_REOPEN | SA_UNLOCK_IN);
	WALK(&j, { SE_UNLOCKED, 0 }, { SE_DOOR_CLOSED_EMPTY, SC_REOPEN }, { SE_UNLOCKED, 0 },
	     { SE_DOOR_OPENED, SC_OPEN }, { SE_DOOR_CLOSED_EMPTY, 0 });
	assert_int_equal(j.stage, SWAP_ABORTED);
	assert_string_equal(j.reason, "door_closed_empty");
	assert_int_equal(j.actions[j.n - 1], SA_LOCK_IN | SA_ABORT);
	/* with swap.reopen_once off, at the first time */
	WALK(&j, { SE_UNLOCKED, 0 }, { SE_DOOR_CLOSED_EMPTY, 0 });
	assert_int_equal(j.stage, SWAP_ABORTED);
	/* put in, identified, taken back out, door closed: the same */
	WALK(&j, { SE_UNLOCKED, 0 }, { SE_BATTERY_IN, SC_OPEN }, { SE_BATTERY_OUT, SC_OPEN },
	     { SE_DOOR_CLOSED_EMPTY, 0 });
	assert_int_equal(j.stage, SWAP_ABORTED);
	assert_int_equal(j.actions[2], SA_TAKEN_BACK);
	WALK(&j, { SE_UNLOCKED, 0 }, { SE_BATTERY_IN, SC_OPEN }, { SE_DOOR_CLOSED_EMPTY, 0 });
	assert_int_equal(j.actions[2], SA_TAKEN_BACK | SA_LOCK_IN | SA_ABORT);
}

/* An unknown battery is kept locked in: slot out of service, ticket. */
static void test_unknown_battery(void **state)
{
	struct journey j;

	(void)state;
	WALK(&j, { SE_UNLOCKED, 0 }, { SE_DOOR_CLOSED, 0 }, { SE_BATTERY_UNKNOWN, 0 });
	assert_int_equal(j.stage, SWAP_ABORTED);
	assert_string_equal(j.reason, "unknown_battery");
	assert_int_equal(j.actions[1], SA_LOCK_IN | SA_HOLD_UNKNOWN | SA_ABORT);
	WALK(&j, { SE_UNLOCKED, 0 }, { SE_BATTERY_UNKNOWN, SC_OPEN });
	assert_int_equal(j.actions[1], SA_LOCK_IN | SA_HOLD_UNKNOWN | SA_ALARM_IN | SA_ABORT);
}

/* A worn or faulty returned battery is quarantined; the rider still gets
 * a charged one. */
static void test_low_soh_quarantined(void **state)
{
	struct journey j;

	(void)state;
	WALK(&j, { SE_UNLOCKED, 0 }, { SE_BATTERY_BAD, SC_OPEN }, { SE_DOOR_CLOSED, 0 },
	     { SE_LOCKED, 0 }, { SE_UNLOCKED, 0 }, { SE_BATTERY_OUT, SC_OPEN },
	     { SE_DOOR_CLOSED_EMPTY, 0 }, { SE_LOCKED, 0 });
	assert_int_equal(j.stage, SWAP_COMPLETED);
	assert_int_equal(j.actions[1], SA_RECORD_IN | SA_QUARANTINE);
}

static void test_battery_not_taken(void **state)
{
	struct journey j;

	(void)state;
	WALK(&j, { SE_UNLOCKED, 0 }, { SE_BATTERY_IN, 0 }, { SE_LOCKED, 0 }, { SE_UNLOCKED, 0 },
	     { SE_DOOR_OPENED, SC_OPEN }, { SE_DOOR_CLOSED, 0 }, { SE_TIMEOUT, 0 });
	assert_int_equal(j.stage, SWAP_ABORTED);
	assert_string_equal(j.reason, "battery_out_timeout");
	assert_int_equal(j.actions[j.n - 1], SA_LOCK_OUT | SA_RESTOCK | SA_ABORT);
	assert_false(all_actions(&j) & SA_COMPLETE);
}

/* Doors that do not do as told. */
static void test_door_failures(void **state)
{
	struct journey j;

	(void)state;
	WALK(&j, { SE_UNLOCK_FAILED, 0 });
	assert_int_equal(j.stage, SWAP_ABORTED);
	assert_string_equal(j.reason, "unlock_failed");
	/* the returned battery will not lock in: out of service, rider served */
	WALK(&j, { SE_UNLOCKED, 0 }, { SE_BATTERY_IN, 0 }, { SE_LOCK_FAILED, 0 }, { SE_UNLOCKED, 0 },
	     { SE_BATTERY_OUT, SC_OPEN }, { SE_DOOR_CLOSED_EMPTY, 0 }, { SE_LOCK_FAILED, 0 });
	assert_int_equal(j.stage, SWAP_COMPLETED);
	assert_int_equal(j.actions[2], SA_SERVICE_IN | SA_UNLOCK_OUT);
	assert_int_equal(j.actions[j.n - 1], SA_SERVICE_OUT | SA_COMPLETE);
	/* reopened before the bolt went home: wait for the door again */
	WALK(&j, { SE_UNLOCKED, 0 }, { SE_BATTERY_IN, 0 }, { SE_DOOR_OPENED, SC_OPEN });
	assert_int_equal(j.stage, SWAP_CLOSE_IN);
	/* the battery picked for the rider is gone and none is left */
	WALK(&j, { SE_UNLOCKED, 0 }, { SE_BATTERY_IN, 0 }, { SE_LOCKED, SC_NO_OUT });
	assert_int_equal(j.stage, SWAP_ABORTED);
	assert_string_equal(j.reason, "no_charged_battery");
}

/* The swap at every stage after a restart, by what the rack shows. */
static void test_restart(void **state)
{
	static const struct {
		enum swap_stage st;
		unsigned conds;
		enum swap_stage next;
		unsigned actions;
	} want[] = {
		{ SWAP_WAIT_INSERT, SC_READ | SC_IN_KNOWN, SWAP_LOCK_IN, SA_RECORD_IN | SA_LOCK_IN },
		{ SWAP_WAIT_INSERT, SC_READ | SC_IN_BAD | SC_OPEN, SWAP_CLOSE_IN,
		  SA_RECORD_IN | SA_QUARANTINE },
		{ SWAP_WAIT_INSERT, SC_READ, SWAP_ABORTED, SA_LOCK_IN | SA_ABORT },
		{ SWAP_UNLOCK_IN, SC_READ | SC_FRESH, SWAP_ABORTED, SA_LOCK_IN | SA_ABORT },
		{ SWAP_CLOSE_IN, SC_READ | SC_IN_KNOWN, SWAP_LOCK_IN, SA_LOCK_IN },
		{ SWAP_LOCK_IN, SC_READ | SC_IN_KNOWN, SWAP_LOCK_IN, SA_LOCK_IN },
		{ SWAP_LOCK_IN, 0, SWAP_ABORTED, SA_LOCK_IN | SA_ABORT },
		{ SWAP_UNLOCK_OUT, SC_READ | SC_OUT_FULL | SC_FRESH, SWAP_UNLOCK_OUT, SA_UNLOCK_OUT },
		{ SWAP_UNLOCK_OUT, SC_READ | SC_OUT_FULL, SWAP_ABORTED, SA_LOCK_OUT | SA_RESTOCK | SA_ABORT },
		/* killed after the unlock went out: the rider took the battery */
		{ SWAP_UNLOCK_OUT, SC_READ, SWAP_LOCK_OUT, SA_LOCK_OUT },
		{ SWAP_UNLOCK_OUT, SC_READ | SC_OPEN | SC_FRESH, SWAP_CLOSE_OUT, 0 },
		{ SWAP_UNLOCK_OUT, SC_FRESH, SWAP_ABORTED, SA_LOCK_OUT | SA_ABORT },
		{ SWAP_WAIT_TAKE, SC_READ | SC_OUT_FULL | SC_FRESH, SWAP_UNLOCK_OUT, SA_UNLOCK_OUT },
		{ SWAP_WAIT_TAKE, SC_READ, SWAP_LOCK_OUT, SA_LOCK_OUT },
		{ SWAP_WAIT_TAKE, SC_READ | SC_OPEN, SWAP_CLOSE_OUT, 0 },
		{ SWAP_WAIT_TAKE, SC_FRESH, SWAP_ABORTED, SA_LOCK_OUT | SA_ABORT },
		{ SWAP_CLOSE_OUT, 0, SWAP_LOCK_OUT, SA_LOCK_OUT },
		{ SWAP_LOCK_OUT, 0, SWAP_LOCK_OUT, SA_LOCK_OUT },
	};
	struct swap_step s;

	(void)state;
	for (size_t k = 0; k < sizeof want / sizeof want[0]; k++) {
		assert_true(swap_fsm_step(want[k].st, SE_RESTART, want[k].conds, &s));
		if (s.next != want[k].next || s.actions != want[k].actions)
			fail_msg("restart in %s (0x%x): %s 0x%x, want %s 0x%x",
				 swap_stage_name(want[k].st), want[k].conds, swap_stage_name(s.next),
				 s.actions, swap_stage_name(want[k].next), want[k].actions);
		if (s.next == SWAP_ABORTED)
			assert_string_equal(s.reason, "restart");
	}
}

/* Every stage can be reached from the first, and each has a name that
 * parses back to it. */
static void test_reachable_and_named(void **state)
{
	bool seen[SWAP_STAGE_COUNT] = { [SWAP_UNLOCK_IN] = true };
	struct swap_step s;
	bool grew = true;

	(void)state;
	while (grew) {
		grew = false;
		for (int st = 0; st < SWAP_STAGE_COUNT; st++)
			for (int ev = 0; seen[st] && ev < SE_COUNT; ev++)
				for (unsigned c = 0; c <= ALL_CONDS; c++)
					if (ev != SE_RESTART &&
					    swap_fsm_step((enum swap_stage)st, (enum swap_ev)ev, c, &s) &&
					    !seen[s.next])
						grew = seen[s.next] = true;
	}
	for (int st = 0; st < SWAP_STAGE_COUNT; st++) {
		assert_true(seen[st]);
		assert_int_equal(swap_stage_parse(swap_stage_name((enum swap_stage)st)), st);
	}
	assert_int_equal(swap_stage_parse("nonsense"), SWAP_STAGE_COUNT);
	assert_string_equal(swap_ev_name(SE_DOOR_CLOSED_EMPTY), "door_closed_empty");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_terminal_stages_absorb),
		cmocka_unit_test(test_every_row),
		cmocka_unit_test(test_every_stage_answers),
		cmocka_unit_test(test_every_timeout),
		cmocka_unit_test(test_full_swap),
		cmocka_unit_test(test_rider_never_inserts),
		cmocka_unit_test(test_door_closed_empty),
		cmocka_unit_test(test_unknown_battery),
		cmocka_unit_test(test_low_soh_quarantined),
		cmocka_unit_test(test_battery_not_taken),
		cmocka_unit_test(test_door_failures),
		cmocka_unit_test(test_restart),
		cmocka_unit_test(test_reachable_and_named),
	};
	return cmocka_run_group_tests_name("swap_fsm", tests, NULL, NULL);
}
