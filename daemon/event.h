/* Events inside swapd: a small synchronous publish/subscribe, so that a
 * module reacts to what another saw (a door closed, a battery came, a scan
 * was accepted) without either calling the other. event_publish() calls the
 * subscribers of the event's type at once, in the order they subscribed,
 * in the loop's thread; nothing is queued and nothing is dropped.
 *
 * Adding an event type: append it to enum event_type (before EV_COUNT) and
 * its name to names[] in event.c, say below what it means and which payload
 * fields it fills, and publish it where the fact is decided, once. */
#ifndef SWAPD_EVENT_H
#define SWAPD_EVENT_H

#include <stdbool.h>
#include <stdint.h>

#include "daemon/err.h"

enum event_type {
	/* from the rack (drivers/rack.c): raw facts about a slot controller */
	EV_SLOT_READING,      /* slot's registers were read or written */
	EV_SLOT_ONLINE,       /* slot answered its fast read again */
	EV_SLOT_OFFLINE,      /* slot missed rack.offline_after times */
	/* derived from readings and GPIO inputs (daemon/slots.c) */
	EV_SLOT_STATE,        /* from -> to (enum slot_state) */
	EV_DOOR_OPENED,       /* slot_no's door (sensor or controller) */
	EV_DOOR_CLOSED,
	EV_LOCK_CHANGED,      /* on: locked */
	EV_BATTERY_INSERTED,  /* battery: its id, once it is read */
	EV_BATTERY_REMOVED,   /* battery: the id it had */
	EV_ESTOP_PRESSED,     /* after charging was held off */
	EV_ESTOP_RELEASED,
	/* from access (daemon/access.c), once the scan is on disk or refused */
	EV_SCAN_ACCEPTED,     /* what: "ok"; who: the token's subject */
	EV_SCAN_REJECTED,     /* what: the reason ("expired", "store_failed") */
	EV_TICKET_ISSUED,     /* a walk-in ticket: who: its user; what: its nonce */
	/* from the swap flow (daemon/swap.c), once its record is on disk */
	EV_SWAP_STARTED,      /* ref: swap id; who: user; what: token nonce;
			       * slot/slot_no: the slot the battery goes into */
	EV_SWAP_STAGE,        /* ref: swap id; what: the stage it entered */
	EV_SWAP_ENDED,        /* ref: swap id; on: completed (false: aborted);
			       * what: the abort's reason ("store_failed": ended
			       * in memory, not recorded), who: its stage */
	/* from the queue (daemon/queue.c), once on disk */
	EV_QUEUE_CHANGED,     /* ref: ticket; what: "joined", "arrival" (its
			       * arrival state changed), or why it left
			       * ("served", "cancelled", "expired", "no_show") */
	/* from the battery ledger, once on disk */
	EV_BATTERY_QUARANTINED, /* battery; slot/slot_no where it is (-1/0 none);
				 * what: the reason */
	EV_BATTERY_RELEASED,  /* battery; slot/slot_no; who: staff id */
	EV_DOOR_ALARM,        /* slot's door left open: on: raised (false: cleared) */
	EV_TRANSPORT_DONE,    /* what: the job id; ref: its row (a slot hold's ref) */
	/* from staff badges (daemon/staff.c), once audited */
	EV_STAFF_SESSION,     /* on: open (false: ended); who: staff id; what: role
			       * ("staff", "admin"); ref: wall ms it ends unless
			       * renewed (again at each renewal; 0 when ended) */
	/* from the fault registry (daemon/fault.c), once on disk */
	EV_FAULT_CHANGED,     /* ref: fault id; what: "raised", "updated",
			       * "ticket", "acknowledged", "cleared"; on: still
			       * open; slot_no/slot, battery: the fault's */
	/* from the GPIO inputs (daemon/slots.c) */
	EV_MAINS_CHANGED,     /* the power_sense input changed: on: mains present */
	EV_COUNT
};

/* What happened. Fields an event type does not name are 0 (slot -1). */
struct event {
	enum event_type type;
	int slot;             /* index into rack_config.slots; -1: not a rack slot */
	int slot_no;          /* the station's slot number; 0: none */
	uint64_t battery;     /* battery id */
	bool on;
	int from, to;         /* EV_SLOT_STATE */
	const char *what;     /* strings are valid during the call only */
	const char *who;
	int64_t ref;          /* a swap id, a queue ticket */
};

typedef void (*event_fn)(const struct event *ev, void *arg);

/* Calls fn(ev, arg) for every event of type from now on, after the
 * subscribers before it. SW_EINVAL for a bad type, SW_ENOSPC when the
 * type's table (EVENT_MAX_SUBS) is full: a module that cannot hear what it
 * needs must not start. */
#define EVENT_MAX_SUBS 8
enum sw_err event_subscribe(enum event_type type, event_fn fn, void *arg);

/* Removes the subscription of fn with arg to type, if there is one. */
void event_unsubscribe(enum event_type type, event_fn fn, void *arg);

/* Calls every subscriber of ev->type, in order, before returning. A
 * subscriber may publish (depth-first); subscribing or unsubscribing
 * during the call takes effect from the next event. */
void event_publish(const struct event *ev);

/* The type's name ("door_closed"), for logs and tests. */
const char *event_name(enum event_type type);

#endif
