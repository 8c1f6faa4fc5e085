/* The swap's transition table. Rows are read top to bottom; the first row
 * of the stage and event whose conditions all hold is taken. A stage and
 * event with no row change nothing (a door opened while we wait for it to
 * be unlocked, a battery removed from a slot we have locked). Terminal
 * stages have no rows: they absorb every event. */
#include "daemon/swap_fsm.h"

#include <stddef.h>
#include <string.h>

struct row {
	enum swap_stage st;
	enum swap_ev ev;
	unsigned need;         /* SC_* bits that must all hold */
	enum swap_stage next;
	unsigned actions;
	enum swap_timeout timeout;
	const char *reason;
};

#define ROW(st, ev, need, next, actions, timeout, reason) \
	{ SWAP_##st, SE_##ev, need, SWAP_##next, actions, ST_##timeout, reason }

/* Action sets the rows share. */
#define IN_OK   SA_RECORD_IN
#define IN_BAD  (SA_RECORD_IN | SA_QUARANTINE)
#define UNKNOWN (SA_LOCK_IN | SA_HOLD_UNKNOWN | SA_ABORT)
#define STOP_IN (SA_LOCK_IN | SA_ABORT)                 /* before the battery went in */
#define STOP_OUT (SA_LOCK_OUT | SA_RESTOCK | SA_ABORT)  /* the charged one stays */
#define DONE    (SA_LOCK_OUT | SA_COMPLETE)             /* it was taken already */

static const struct row table[] = {
	/* unlock_in: the empty slot's unlock, until it reads back. A battery
	 * can only come once it did (or, after a reopen, still is). */
	ROW(UNLOCK_IN, UNLOCKED, 0, WAIT_INSERT, 0, INSERT, NULL),
	ROW(UNLOCK_IN, UNLOCK_FAILED, 0, ABORTED, STOP_IN, NONE, "unlock_failed"),
	ROW(UNLOCK_IN, TIMEOUT, 0, ABORTED, STOP_IN, NONE, "unlock_timeout"),
	ROW(UNLOCK_IN, BATTERY_IN, SC_OPEN, CLOSE_IN, IN_OK, CLOSE, NULL),
	ROW(UNLOCK_IN, BATTERY_IN, 0, LOCK_IN, IN_OK | SA_LOCK_IN, NONE, NULL),
	ROW(UNLOCK_IN, BATTERY_BAD, SC_OPEN, CLOSE_IN, IN_BAD, CLOSE, NULL),
	ROW(UNLOCK_IN, BATTERY_BAD, 0, LOCK_IN, IN_BAD | SA_LOCK_IN, NONE, NULL),
	ROW(UNLOCK_IN, BATTERY_UNKNOWN, SC_OPEN, ABORTED, UNKNOWN | SA_ALARM_IN, NONE, "unknown_battery"),
	ROW(UNLOCK_IN, BATTERY_UNKNOWN, 0, ABORTED, UNKNOWN, NONE, "unknown_battery"),
	ROW(UNLOCK_IN, STAFF_ABORT, 0, ABORTED, STOP_IN, NONE, "staff_abort"),
	ROW(UNLOCK_IN, OFFLINE, 0, ABORTED, STOP_IN, NONE, "slot_offline"),
	ROW(UNLOCK_IN, ESTOP, 0, ABORTED, STOP_IN, NONE, "estop"),
	ROW(UNLOCK_IN, RESTART, SC_READ | SC_IN_KNOWN | SC_OPEN, CLOSE_IN, IN_OK, CLOSE, NULL),
	ROW(UNLOCK_IN, RESTART, SC_READ | SC_IN_KNOWN, LOCK_IN, IN_OK | SA_LOCK_IN, NONE, NULL),
	ROW(UNLOCK_IN, RESTART, SC_READ | SC_IN_BAD | SC_OPEN, CLOSE_IN, IN_BAD, CLOSE, NULL),
	ROW(UNLOCK_IN, RESTART, SC_READ | SC_IN_BAD, LOCK_IN, IN_BAD | SA_LOCK_IN, NONE, NULL),
	ROW(UNLOCK_IN, RESTART, SC_READ | SC_IN_UNKNOWN, ABORTED, UNKNOWN, NONE, "unknown_battery"),
	ROW(UNLOCK_IN, RESTART, 0, ABORTED, STOP_IN, NONE, "restart"),

	/* wait_insert: the door is unlocked for the returned battery. */
	ROW(WAIT_INSERT, BATTERY_IN, SC_OPEN, CLOSE_IN, IN_OK, CLOSE, NULL),
	ROW(WAIT_INSERT, BATTERY_IN, 0, LOCK_IN, IN_OK | SA_LOCK_IN, NONE, NULL),
	ROW(WAIT_INSERT, BATTERY_BAD, SC_OPEN, CLOSE_IN, IN_BAD, CLOSE, NULL),
	ROW(WAIT_INSERT, BATTERY_BAD, 0, LOCK_IN, IN_BAD | SA_LOCK_IN, NONE, NULL),
	ROW(WAIT_INSERT, BATTERY_UNKNOWN, SC_OPEN, ABORTED, UNKNOWN | SA_ALARM_IN, NONE, "unknown_battery"),
	ROW(WAIT_INSERT, BATTERY_UNKNOWN, 0, ABORTED, UNKNOWN, NONE, "unknown_battery"),
	ROW(WAIT_INSERT, DOOR_CLOSED_EMPTY, SC_REOPEN, UNLOCK_IN, SA_REOPEN | SA_UNLOCK_IN, DOOR, NULL),
	ROW(WAIT_INSERT, DOOR_CLOSED_EMPTY, 0, ABORTED, STOP_IN, NONE, "door_closed_empty"),
	ROW(WAIT_INSERT, TIMEOUT, SC_OPEN, ABORTED, STOP_IN | SA_ALARM_IN, NONE, "insert_timeout"),
	ROW(WAIT_INSERT, TIMEOUT, 0, ABORTED, STOP_IN, NONE, "insert_timeout"),
	ROW(WAIT_INSERT, STAFF_ABORT, 0, ABORTED, STOP_IN, NONE, "staff_abort"),
	ROW(WAIT_INSERT, OFFLINE, 0, ABORTED, STOP_IN, NONE, "slot_offline"),
	ROW(WAIT_INSERT, ESTOP, 0, ABORTED, STOP_IN, NONE, "estop"),
	ROW(WAIT_INSERT, RESTART, SC_READ | SC_IN_KNOWN | SC_OPEN, CLOSE_IN, IN_OK, CLOSE, NULL),
	ROW(WAIT_INSERT, RESTART, SC_READ | SC_IN_KNOWN, LOCK_IN, IN_OK | SA_LOCK_IN, NONE, NULL),
	ROW(WAIT_INSERT, RESTART, SC_READ | SC_IN_BAD | SC_OPEN, CLOSE_IN, IN_BAD, CLOSE, NULL),
	ROW(WAIT_INSERT, RESTART, SC_READ | SC_IN_BAD, LOCK_IN, IN_BAD | SA_LOCK_IN, NONE, NULL),
	ROW(WAIT_INSERT, RESTART, SC_READ | SC_IN_UNKNOWN, ABORTED, UNKNOWN, NONE, "unknown_battery"),
	ROW(WAIT_INSERT, RESTART, 0, ABORTED, STOP_IN, NONE, "restart"),

	/* close_in: the returned battery is in and recorded; the door is
	 * still open. Taken back out, the rider is where wait_insert was. */
	ROW(CLOSE_IN, DOOR_CLOSED, 0, LOCK_IN, SA_LOCK_IN, NONE, NULL),
	ROW(CLOSE_IN, DOOR_CLOSED_EMPTY, SC_REOPEN, UNLOCK_IN,
	    SA_TAKEN_BACK | SA_REOPEN | SA_UNLOCK_IN, DOOR, NULL),
	ROW(CLOSE_IN, DOOR_CLOSED_EMPTY, 0, ABORTED, SA_TAKEN_BACK | STOP_IN, NONE, "door_closed_empty"),
	ROW(CLOSE_IN, BATTERY_OUT, 0, WAIT_INSERT, SA_TAKEN_BACK, INSERT, NULL),
	ROW(CLOSE_IN, TIMEOUT, 0, ABORTED, STOP_IN | SA_ALARM_IN, NONE, "door_left_open"),
	ROW(CLOSE_IN, STAFF_ABORT, 0, ABORTED, STOP_IN, NONE, "staff_abort"),
	ROW(CLOSE_IN, OFFLINE, 0, ABORTED, STOP_IN, NONE, "slot_offline"),
	ROW(CLOSE_IN, ESTOP, 0, ABORTED, STOP_IN, NONE, "estop"),
	ROW(CLOSE_IN, RESTART, SC_READ | SC_IN_KNOWN | SC_OPEN, CLOSE_IN, 0, CLOSE, NULL),
	ROW(CLOSE_IN, RESTART, SC_READ | SC_IN_KNOWN, LOCK_IN, SA_LOCK_IN, NONE, NULL),
	ROW(CLOSE_IN, RESTART, 0, ABORTED, STOP_IN, NONE, "restart"),

	/* lock_in: locking the returned battery in. A door that will not
	 * lock takes the slot out of service; the rider is served anyway,
	 * unless the battery picked for them is gone and no other is left. */
	ROW(LOCK_IN, LOCKED, SC_NO_OUT, ABORTED, SA_ABORT, NONE, "no_charged_battery"),
	ROW(LOCK_IN, LOCKED, 0, UNLOCK_OUT, SA_UNLOCK_OUT, DOOR, NULL),
	ROW(LOCK_IN, LOCK_FAILED, SC_NO_OUT, ABORTED, SA_SERVICE_IN | SA_ABORT, NONE, "no_charged_battery"),
	ROW(LOCK_IN, LOCK_FAILED, 0, UNLOCK_OUT, SA_SERVICE_IN | SA_UNLOCK_OUT, DOOR, NULL),
	ROW(LOCK_IN, DOOR_OPENED, 0, CLOSE_IN, 0, CLOSE, NULL),
	ROW(LOCK_IN, STAFF_ABORT, 0, ABORTED, STOP_IN, NONE, "staff_abort"),
	ROW(LOCK_IN, OFFLINE, 0, ABORTED, STOP_IN, NONE, "slot_offline"),
	ROW(LOCK_IN, ESTOP, 0, ABORTED, STOP_IN, NONE, "estop"),
	ROW(LOCK_IN, RESTART, SC_READ | SC_IN_KNOWN, LOCK_IN, SA_LOCK_IN, NONE, NULL),
	ROW(LOCK_IN, RESTART, 0, ABORTED, STOP_IN, NONE, "restart"),

	/* unlock_out: the charged battery's door. Opened again after a
	 * restart only while a rider may still be waiting for it. */
	ROW(UNLOCK_OUT, UNLOCKED, 0, WAIT_TAKE, 0, TAKE, NULL),
	/* taken before the unlock's read-back came: served all the same */
	ROW(UNLOCK_OUT, BATTERY_OUT, SC_OPEN, CLOSE_OUT, 0, CLOSE, NULL),
	ROW(UNLOCK_OUT, BATTERY_OUT, 0, LOCK_OUT, SA_LOCK_OUT, NONE, NULL),
	ROW(UNLOCK_OUT, UNLOCK_FAILED, 0, ABORTED, STOP_OUT, NONE, "unlock_failed"),
	ROW(UNLOCK_OUT, TIMEOUT, 0, ABORTED, STOP_OUT, NONE, "unlock_timeout"),
	ROW(UNLOCK_OUT, STAFF_ABORT, 0, ABORTED, STOP_OUT, NONE, "staff_abort"),
	ROW(UNLOCK_OUT, OFFLINE, 0, ABORTED, SA_LOCK_OUT | SA_ABORT, NONE, "slot_offline"),
	ROW(UNLOCK_OUT, ESTOP, 0, ABORTED, STOP_OUT, NONE, "estop"),
	ROW(UNLOCK_OUT, RESTART, SC_READ | SC_OUT_FULL | SC_FRESH, UNLOCK_OUT, SA_UNLOCK_OUT, DOOR, NULL),
	ROW(UNLOCK_OUT, RESTART, SC_READ | SC_OUT_FULL, ABORTED, STOP_OUT, NONE, "restart"),
	/* the unlock went out before the crash and the rider took it */
	ROW(UNLOCK_OUT, RESTART, SC_READ | SC_OPEN, CLOSE_OUT, 0, CLOSE, NULL),
	ROW(UNLOCK_OUT, RESTART, SC_READ, LOCK_OUT, SA_LOCK_OUT, NONE, NULL),
	ROW(UNLOCK_OUT, RESTART, 0, ABORTED, SA_LOCK_OUT | SA_ABORT, NONE, "restart"),

	/* wait_take: the charged battery is the rider's to take (OCPP's
	 * BatteryOutTimeout when it is not). */
	ROW(WAIT_TAKE, BATTERY_OUT, SC_OPEN, CLOSE_OUT, 0, CLOSE, NULL),
	ROW(WAIT_TAKE, BATTERY_OUT, 0, LOCK_OUT, SA_LOCK_OUT, NONE, NULL),
	ROW(WAIT_TAKE, DOOR_CLOSED_EMPTY, 0, LOCK_OUT, SA_LOCK_OUT, NONE, NULL),
	ROW(WAIT_TAKE, TIMEOUT, SC_OPEN, ABORTED, STOP_OUT | SA_ALARM_OUT, NONE, "battery_out_timeout"),
	ROW(WAIT_TAKE, TIMEOUT, 0, ABORTED, STOP_OUT, NONE, "battery_out_timeout"),
	ROW(WAIT_TAKE, STAFF_ABORT, 0, ABORTED, STOP_OUT, NONE, "staff_abort"),
	ROW(WAIT_TAKE, OFFLINE, 0, ABORTED, SA_LOCK_OUT | SA_ABORT, NONE, "slot_offline"),
	ROW(WAIT_TAKE, ESTOP, 0, ABORTED, STOP_OUT, NONE, "estop"),
	ROW(WAIT_TAKE, RESTART, SC_READ | SC_OUT_FULL | SC_FRESH, UNLOCK_OUT, SA_UNLOCK_OUT, DOOR, NULL),
	ROW(WAIT_TAKE, RESTART, SC_READ | SC_OUT_FULL, ABORTED, STOP_OUT, NONE, "restart"),
	ROW(WAIT_TAKE, RESTART, SC_READ | SC_OPEN, CLOSE_OUT, 0, CLOSE, NULL),
	ROW(WAIT_TAKE, RESTART, SC_READ, LOCK_OUT, SA_LOCK_OUT, NONE, NULL),
	ROW(WAIT_TAKE, RESTART, 0, ABORTED, SA_LOCK_OUT | SA_ABORT, NONE, "restart"),

	/* close_out: taken; the swap is done whatever comes, only the door
	 * is left. Left open, it completes with the door alarm on. */
	ROW(CLOSE_OUT, DOOR_CLOSED_EMPTY, 0, LOCK_OUT, SA_LOCK_OUT, NONE, NULL),
	ROW(CLOSE_OUT, DOOR_CLOSED, 0, LOCK_OUT, SA_LOCK_OUT, NONE, NULL),
	ROW(CLOSE_OUT, TIMEOUT, 0, COMPLETED, DONE | SA_ALARM_OUT, NONE, NULL),
	ROW(CLOSE_OUT, STAFF_ABORT, 0, COMPLETED, DONE, NONE, NULL),
	ROW(CLOSE_OUT, OFFLINE, 0, COMPLETED, DONE, NONE, NULL),
	ROW(CLOSE_OUT, ESTOP, 0, COMPLETED, DONE, NONE, NULL),
	ROW(CLOSE_OUT, RESTART, SC_READ | SC_OPEN, CLOSE_OUT, 0, CLOSE, NULL),
	ROW(CLOSE_OUT, RESTART, 0, LOCK_OUT, SA_LOCK_OUT, NONE, NULL),

	/* lock_out: locking the emptied slot, then done. */
	ROW(LOCK_OUT, LOCKED, 0, COMPLETED, SA_COMPLETE, NONE, NULL),
	ROW(LOCK_OUT, LOCK_FAILED, 0, COMPLETED, SA_SERVICE_OUT | SA_COMPLETE, NONE, NULL),
	ROW(LOCK_OUT, DOOR_OPENED, 0, CLOSE_OUT, 0, CLOSE, NULL),
	ROW(LOCK_OUT, STAFF_ABORT, 0, COMPLETED, DONE, NONE, NULL),
	ROW(LOCK_OUT, OFFLINE, 0, COMPLETED, DONE, NONE, NULL),
	ROW(LOCK_OUT, ESTOP, 0, COMPLETED, DONE, NONE, NULL),
	ROW(LOCK_OUT, RESTART, 0, LOCK_OUT, SA_LOCK_OUT, NONE, NULL),
};

bool swap_fsm_step(enum swap_stage st, enum swap_ev ev, unsigned conds, struct swap_step *out)
{
	for (size_t k = 0; k < sizeof table / sizeof table[0]; k++) {
		const struct row *r = &table[k];
		if (r->st != st || r->ev != ev || (r->need & conds) != r->need)
			continue;
		*out = (struct swap_step){ r->next, r->actions, r->timeout, r->reason };
		return true;
	}
	return false;
}

static const char *const stage_names[SWAP_STAGE_COUNT] = {
	[SWAP_UNLOCK_IN] = "unlock_in", [SWAP_WAIT_INSERT] = "wait_insert",
	[SWAP_CLOSE_IN] = "close_in", [SWAP_LOCK_IN] = "lock_in",
	[SWAP_UNLOCK_OUT] = "unlock_out", [SWAP_WAIT_TAKE] = "wait_take",
	[SWAP_CLOSE_OUT] = "close_out", [SWAP_LOCK_OUT] = "lock_out",
	[SWAP_COMPLETED] = "completed", [SWAP_ABORTED] = "aborted",
};

static const char *const ev_names[SE_COUNT] = {
	[SE_UNLOCKED] = "unlocked", [SE_UNLOCK_FAILED] = "unlock_failed",
	[SE_LOCKED] = "locked", [SE_LOCK_FAILED] = "lock_failed",
	[SE_DOOR_OPENED] = "door_opened", [SE_DOOR_CLOSED] = "door_closed",
	[SE_DOOR_CLOSED_EMPTY] = "door_closed_empty", [SE_BATTERY_IN] = "battery_in",
	[SE_BATTERY_BAD] = "battery_bad", [SE_BATTERY_UNKNOWN] = "battery_unknown",
	[SE_BATTERY_OUT] = "battery_out", [SE_TIMEOUT] = "timeout",
	[SE_STAFF_ABORT] = "staff_abort", [SE_OFFLINE] = "offline", [SE_ESTOP] = "estop",
	[SE_RESTART] = "restart",
};

const char *swap_stage_name(enum swap_stage st)
{
	return (unsigned)st < SWAP_STAGE_COUNT ? stage_names[st] : "?";
}

enum swap_stage swap_stage_parse(const char *name)
{
	for (int k = 0; k < SWAP_STAGE_COUNT; k++)
		if (strcmp(stage_names[k], name) == 0)
			return (enum swap_stage)k;
	return SWAP_STAGE_COUNT;
}

const char *swap_ev_name(enum swap_ev ev)
{
	return (unsigned)ev < SE_COUNT ? ev_names[ev] : "?";
}

bool swap_stage_final(enum swap_stage st)
{
	return st == SWAP_COMPLETED || st == SWAP_ABORTED;
}

bool swap_stage_out(enum swap_stage st)
{
	return st >= SWAP_UNLOCK_OUT && st <= SWAP_LOCK_OUT;
}
