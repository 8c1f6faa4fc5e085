/* The swap's transition table (daemon/DESIGN.md, "Swap flow"): (stage,
 * event, conditions) -> (next stage, actions, timeout of the new wait).
 * Pure: no I/O, no clock, no state of its own. The swap module (swap.c)
 * turns slot events and timers into the events below, reads the conditions
 * from the rack, and carries out the actions, recording each transition
 * before any door moves. Order "in, then out" (OCPP 2.1's default). */
#ifndef SWAPD_SWAP_FSM_H
#define SWAPD_SWAP_FSM_H

#include <stdbool.h>

enum swap_stage {
	SWAP_UNLOCK_IN,   /* the empty slot's door is being unlocked */
	SWAP_WAIT_INSERT, /* unlocked: waiting for the returned battery */
	SWAP_CLOSE_IN,    /* returned battery in and identified: waiting for the door */
	SWAP_LOCK_IN,     /* locking it in */
	SWAP_UNLOCK_OUT,  /* the charged battery's door is being unlocked */
	SWAP_WAIT_TAKE,   /* unlocked: waiting for the battery to be taken */
	SWAP_CLOSE_OUT,   /* taken: waiting for the door */
	SWAP_LOCK_OUT,    /* locking the emptied slot */
	SWAP_COMPLETED,   /* terminal */
	SWAP_ABORTED,     /* terminal */
	SWAP_STAGE_COUNT
};

enum swap_ev {
	SE_UNLOCKED,        /* the stage's unlock read back */
	SE_UNLOCK_FAILED,
	SE_LOCKED,          /* the stage's lock read back */
	SE_LOCK_FAILED,     /* it did not within swap.unlock_timeout_s, retried */
	SE_DOOR_OPENED,     /* the stage's slot's door */
	SE_DOOR_CLOSED,     /* ... closed with something inside */
	SE_DOOR_CLOSED_EMPTY, /* ... closed on an empty slot */
	SE_BATTERY_IN,      /* a battery of the fleet, identified and healthy */
	SE_BATTERY_BAD,     /* identified, but SOH under swap.quarantine_soh or a
			     * battery fault (over-temperature, cell over-voltage) */
	SE_BATTERY_UNKNOWN, /* id 0 (BMS silent) or BMS flagged invalid */
	SE_BATTERY_OUT,     /* the battery left the stage's slot */
	SE_TIMEOUT,         /* the stage's wait ran out */
	SE_STAFF_ABORT,
	SE_OFFLINE,         /* the stage's slot controller went offline */
	SE_ESTOP,           /* the emergency stop was pressed */
	SE_RESTART,         /* swapd started with this swap unfinished */
	SE_COUNT
};

/* Conditions, as bits: what the module read when the event came. */
#define SC_OPEN       (1u << 0) /* the stage's slot's door is open */
#define SC_REOPEN     (1u << 1) /* the door may be opened once more (swap.reopen_once) */
#define SC_READ       (1u << 2) /* SE_RESTART: both slots were read after the start */
#define SC_IN_KNOWN   (1u << 3) /* slot_in holds the returned battery (or, none
				 * recorded yet, a healthy battery of the fleet) */
#define SC_IN_BAD     (1u << 4) /* none recorded yet: it holds an SE_BATTERY_BAD one */
#define SC_IN_UNKNOWN (1u << 5) /* none recorded yet: it holds an unknown one */
#define SC_OUT_FULL   (1u << 6) /* slot_out still holds the battery to hand out */
#define SC_FRESH      (1u << 7) /* the stored stage is younger than its wait:
				 * a rider may still be there */
#define SC_NO_OUT     (1u << 8) /* no battery can be handed out any more: the
				 * one picked is gone and none other is there */

/* Actions, as bits, carried out in this order after the transition is on
 * disk (the records first, then the doors). */
#define SA_RECORD_IN    (1u << 0)  /* the returned battery into the ledger, in slot_in */
#define SA_QUARANTINE   (1u << 1)  /* quarantine it (never handed out) */
#define SA_TAKEN_BACK   (1u << 2)  /* the rider took it back out: it left with them */
#define SA_REOPEN       (1u << 3)  /* count the door's second opening */
#define SA_HOLD_UNKNOWN (1u << 4)  /* unknown battery: slot_in out of service,
				    * the battery (if it has an id) quarantined,
				    * a staff ticket */
#define SA_SERVICE_IN   (1u << 5)  /* slot_in's door does not lock: out of service, ticket */
#define SA_SERVICE_OUT  (1u << 6)  /* the same for slot_out */
#define SA_RESTOCK      (1u << 7)  /* the charged battery stays in stock */
#define SA_COMPLETE     (1u << 8)  /* swap.completed; the battery left with the rider */
#define SA_ABORT        (1u << 9)  /* swap.aborted with the row's reason and the stage */
#define SA_ALARM_IN     (1u << 10) /* slot_in's door left open: EV_DOOR_ALARM */
#define SA_ALARM_OUT    (1u << 11)
#define SA_UNLOCK_IN    (1u << 12)
#define SA_LOCK_IN      (1u << 13)
#define SA_UNLOCK_OUT   (1u << 14)
#define SA_LOCK_OUT     (1u << 15)

/* The wait the new stage starts (its length is the config's). */
enum swap_timeout {
	ST_KEEP,   /* the stage does not change: its timer runs on */
	ST_NONE,   /* no timer: a lock stage (the lock is retried until
		    * swap.unlock_timeout_s, then SE_LOCK_FAILED), or the end */
	ST_DOOR,   /* swap.unlock_timeout_s */
	ST_INSERT, /* swap.insert_timeout_s */
	ST_TAKE,   /* swap.take_timeout_s */
	ST_CLOSE,  /* swap.door_close_timeout_s */
};

struct swap_step {
	enum swap_stage next;
	unsigned actions;
	enum swap_timeout timeout;
	const char *reason; /* SA_ABORT: mqtt.md's swap.aborted reason */
};

/* The transition for event ev in stage st with conditions conds (SC_*
 * bits): true with *out filled, or false when the table has no row for it
 * and the event changes nothing (terminal stages absorb every event). */
bool swap_fsm_step(enum swap_stage st, enum swap_ev ev, unsigned conds, struct swap_step *out);

/* The stage's name as stored and shown ("wait_insert"); "?" if out of range. */
const char *swap_stage_name(enum swap_stage st);

/* The stage called name, or SWAP_STAGE_COUNT. */
enum swap_stage swap_stage_parse(const char *name);

/* The event's name, for logs and tests ("door_closed_empty"). */
const char *swap_ev_name(enum swap_ev ev);

/* Whether st is COMPLETED or ABORTED. */
bool swap_stage_final(enum swap_stage st);

/* Whether st is one of the "out" stages, whose slot is slot_out (the "in"
 * stages act on slot_in). */
bool swap_stage_out(enum swap_stage st);

#endif
