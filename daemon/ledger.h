/* The battery ledger: every battery id the station has seen and where it
 * is now (in slot N since when, with its last values and their read time;
 * handed to a rider at a swap; with a transport job; with staff; or
 * unknown), kept from the slot events, so that a battery never vanishes
 * from it. The swap flow and transport jobs record the moves they cause
 * themselves; the ledger records the rest, in either order. Also the
 * quarantine of batteries and of slots, and the commands batteries,
 * battery-quarantine, battery-release, slot-quarantine and slot-release
 * (daemon/DESIGN.md, "Battery ledger"). */
#ifndef SWAPD_LEDGER_H
#define SWAPD_LEDGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "daemon/command.h"
#include "daemon/config.h"
#include "daemon/err.h"
#include "daemon/store.h"
#include "drivers/rack.h"

/* Subscribes to the slot events and registers the ledger's commands;
 * boot is this run's id for the fleet events. st must outlive the
 * module; cfg is copied. */
enum sw_err ledger_start(const struct config *cfg, struct store *st, const char *boot,
			 char *why, size_t whylen);

/* Takes a reloaded config (the SOH threshold, the write interval). */
void ledger_reconfigure(const struct config *cfg);

/* Unsubscribes. */
void ledger_stop(void);

/* A battery id as people and the fleet write it, "BAT-00042" or "42",
 * into *id; false for anything else, and for 0 (no battery). */
bool ledger_parse_battery(const char *s, uint64_t *id);

/* Quarantines battery id (on) or releases it, for reason, decided by who
 * (a control peer, a staff id, "fleet", "ledger"): recorded with its
 * battery.quarantined / battery.released event and an audit entry in one
 * transaction, then EV_BATTERY_QUARANTINED / EV_BATTERY_RELEASED.
 * SW_ENOENT for a battery the station never saw, SW_EEXIST when it is
 * quarantined (or released) already; a store error when it could not be
 * recorded, and then nothing changed. */
/* Why the battery read as r must not be handed out, as battery.quarantined
 * says it: a fault of its own ("fault_over_temp", "fault_cell_ov",
 * "fault_bms_invalid"; not the slot's, a stuck lock or a lost master say
 * nothing of the battery) or its SOH under soh_min, ledger.quarantine_soh
 * ("low_soh"; 0: never). NULL when it is fit. The station's one rule, for
 * every way a battery comes in. */
const char *ledger_unfit(const struct rack_reading *r, int soh_min);

enum sw_err ledger_battery_quarantine(uint64_t id, bool on, const char *reason, const char *who);

/* The arguments of a command that names a battery and why. */
#define LEDGER_BATTERY_ARG { "battery", ARG_STRING, .required = true, .min = 1, .max = 24 }
/* the store keeps 63 bytes of a reason */
#define LEDGER_REASON_ARG { "reason", ARG_STRING, .required = true, .min = 1, .max = 63 }

/* ledger_battery_quarantine for a command's arguments (battery as text),
 * as the command's reply: {"battery", "quarantined"}, or the error
 * bad_request, unknown_battery, already_quarantined, not_quarantined or
 * store_failed. */
json_object *ledger_battery_reply(const char *battery, bool on, const char *reason,
				  const char *who);

/* ledger_slot_quarantine as a command's reply (the control socket's and
 * the fleet's slot.quarantine / slot.release): {"slot", "in_service"}, or
 * the error unknown_slot, already_quarantined, not_quarantined or
 * store_failed. */
json_object *ledger_slot_reply(int slot, bool out, const char *reason, const char *who);

/* Takes slot number slot out of service (out) or back into it (mqtt.md
 * slot.quarantine / slot.release), for reason, decided by who, audited;
 * its state is `quarantined` while out. Releasing a slot whose battery
 * its presence sensor had lost, and that still reads empty, records that
 * battery as gone (place unknown): whoever released the slot found it
 * empty. SW_ENOENT for no such slot, SW_EEXIST when it is so already; a
 * store error when it could not be recorded. */
enum sw_err ledger_slot_quarantine(int slot, bool out, const char *reason, const char *who);

#endif
