/* Charging, until the plan under the site's power cap exists: every idle
 * battery below the charged level, in a healthy, closed and locked slot,
 * is charged at charge.current_a; a quarantined one never. The slot
 * controller's firmware cuts charging on its own faults and when swapd
 * is gone (its watchdog), so charging fails off; the emergency stop holds
 * it off in the rack driver whatever this module asks. */
#ifndef SWAPD_CHARGE_H
#define SWAPD_CHARGE_H

#include <stdbool.h>
#include <stddef.h>

#include "daemon/config.h"
#include "daemon/err.h"
#include "daemon/store.h"

/* Starts watching the slots (nothing without a rack or with charge.auto
 * off). */
enum sw_err charge_start(const struct config *cfg, struct store *st, char *why, size_t whylen);

/* Whether slot number slot_no must not be charged now: set by the fault
 * detectors (fault_battery.c) while a fault of theirs stopped its charging,
 * so that this module does not start it again. NULL removes it. */
typedef bool (*charge_veto_fn)(int slot_no);
void charge_set_veto(charge_veto_fn fn);

/* Takes a reloaded config's charge section. */
void charge_reconfigure(const struct config *cfg);

/* Stops; charging already on stays on under the controllers' watchdog. */
void charge_stop(void);

#endif
