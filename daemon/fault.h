/* Faults (issue 13): one registry of what is wrong at the station, each
 * fault with its code, level, what it blocks and how it clears, driven by
 * the detectors (daemon/fault_detect.c) from events and readings, with the
 * level-1 actions they take recorded with their outcome, the level-2
 * diagnosis (fault_diag.h) in the record, and level-3 tickets a person
 * must take (mqtt.md fault.raised, fault.cleared, ticket.opened,
 * ticket.ack). daemon/FAULTS.md is the fault table. */
#ifndef SWAPD_FAULT_H
#define SWAPD_FAULT_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <json-c/json.h>
#include "daemon/config.h"
#include "daemon/err.h"
#include "daemon/store.h"

/* Every fault code; fault_code_name() spells it as fault.raised's `code`. */
enum fault_code {
	FAULT_SLOT_OFFLINE,      /* slot not answering */
	FAULT_BUS_ERRORS,        /* CRC or framing errors above a rate */
	FAULT_OVER_TEMP_WARN,    /* battery at or above the warning temperature */
	FAULT_OVER_TEMP,         /* battery at or above the critical temperature */
	FAULT_TEMP_RISE,         /* temperature rising abnormally fast */
	FAULT_CELL_IMBALANCE,
	FAULT_CELL_OVER_VOLTAGE,
	FAULT_CHARGER,           /* the charger's fault bit */
	FAULT_CURRENT_MISMATCH,  /* current while charging is off, none while on */
	FAULT_DOOR_UNEXPECTED,   /* door open without a swap */
	FAULT_LOCK_STUCK,        /* lock not following its command */
	FAULT_DOOR_LEFT_OPEN,
	FAULT_LOW_SOH,           /* under ledger.quarantine_soh */
	FAULT_BMS_IMPLAUSIBLE,
	FAULT_ESTOP,
	FAULT_POWER_LOST,        /* mains sense on GPIO */
	FAULT_SERIAL_LOST,
	FAULT_STORE,             /* database error or disk almost full */
	FAULT_OUTBOX_FULL,
	FAULT_BROKER_UNREACHABLE,
	FAULT_CLOCK_UNSYNCED,
	FAULT_UNKNOWN_BATTERY,   /* a returned battery nobody can identify */
	FAULT_CODE_COUNT
};

/* What an open fault keeps from being used. */
enum fault_blocks { FAULT_BLOCKS_NOTHING, FAULT_BLOCKS_SLOT, FAULT_BLOCKS_STATION };

/* One row of the fault table (fault.c), the rules a code follows. */
struct fault_rule {
	enum fault_code code;
	const char *name;        /* "over_temperature" */
	int level;               /* where it starts: 1 (the station acts), 3 (a person must) */
	enum fault_blocks blocks;
	int clear_after_s;       /* the condition gone this long clears it */
	int escalate_after_s;    /* still open after this: level 3 (0: never by time) */
	const char *summary;     /* for the ticket and the logs */
};

/* The rule of code (never NULL for a valid code). */
const struct fault_rule *fault_rule(enum fault_code code);

/* fault.raised's `code` of code ("slot_offline"). */
const char *fault_code_name(enum fault_code code);

/* The code called name, in *code: false for a name this build does not
 * know (a newer build's, read back from the store). */
bool fault_code_of(const char *name, enum fault_code *code);

/* Opens the registry from the store (open faults and tickets survive a
 * restart), registers `faults` (viewer) and `fault-ack` (staff), arms the
 * timers. cfg is copied; st must outlive the module. */
enum sw_err fault_start(const struct config *cfg, struct store *st, const char *boot, char *why,
			size_t whylen);

/* Takes a reloaded faults section: later timers follow it. */
void fault_reconfigure(const struct config *cfg);

/* The condition of code holds for slot_no (0: not a slot) and battery (0:
 * none). Idempotent: one open fault per (code, slot_no, battery); the first
 * call records it with fault.raised (detail: what was seen; action: the
 * level-1 action the caller is taking, or NULL) in one transaction and
 * returns its id, later calls update its detail and return the same id and
 * cancel a pending clear. 0 when it could not be recorded (the caller still
 * acts: safety never waits on the disk). */
int64_t fault_raise(enum fault_code code, int slot_no, uint64_t battery, const char *detail,
		    const char *action);

/* The condition of code is gone for slot_no/battery: the fault clears with
 * fault.cleared (how: "condition gone") once it has stayed gone for the
 * rule's clear_after_s, unless raised again meanwhile. A no-op when no such
 * fault is open. */
void fault_gone(enum fault_code code, int slot_no, uint64_t battery);

/* A person put slot number slot_no back into service (the ledger's slot
 * release: `slot-release`, the fleet's slot.release): its open faults
 * that took it out of service and that only a person can clear
 * (lock_stuck, unknown_battery) clear now with fault.cleared (how:
 * "released by <who>"), their tickets with them. A no-op when none is
 * open; one the store refuses now is cleared by the timer later. */
void fault_slot_released(int slot_no, const char *who);

/* Records a level-1 action taken on fault id and its outcome ("ok",
 * "failed: ..."), shown by `swapctl faults`. */
void fault_action(int64_t id, const char *action, const char *outcome);

/* Whether an open fault blocks slot number slot_no (its own, or one that
 * blocks the station), and whether one blocks the whole station; the swap
 * flow starts no swap on either. */
bool fault_blocks_slot(int slot_no);
bool fault_blocks_station(void);

/* Whether an open fault of slot slot_no's own blocks it (fault_blocks_slot
 * without the station-wide ones): a swap in progress moves off such a
 * slot, while a station-wide fault only refuses new swaps. */
bool fault_blocks_own_slot(int slot_no);

/* Acknowledges level-3 ticket (mqtt.md ticket.ack) by who: SW_ENOENT when
 * no such ticket is open. */
enum sw_err fault_ticket_ack(const char *ticket, const char *by);

/* fault_ticket_ack() as a command's reply: {ticket, state}, or the error
 * unknown_ticket or store_failed (for ticket.ack, fault-ack, staff-ack). */
json_object *fault_ack_reply(const char *ticket, const char *by);

/* The open faults and tickets as the kiosk's staff panel and `swapctl
 * faults` show them: [{fault, code, level, slot, battery, detail, since,
 * actions: [{action, outcome, at}], diagnosis, ticket}]. */
json_object *fault_open_json(void);

/* Stops the timers and forgets the registry (the store keeps it). */
void fault_stop(void);
#endif
