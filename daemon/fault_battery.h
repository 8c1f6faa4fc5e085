/* Battery faults (issue 13, daemon/FAULTS.md): the detectors that judge
 * each slot's battery from its readings (over-temperature, temperature
 * rising fast, cell over-voltage and imbalance, current against the
 * charger's state, the charger's own fault, BMS values that cannot be)
 * and from the ledger's quarantine (low SOH), raise them in the registry (fault.h), take their
 * level-1 actions through the rack and the ledger, record each action's
 * outcome once it reads back, and say when the condition is gone. */
#ifndef SWAPD_FAULT_BATTERY_H
#define SWAPD_FAULT_BATTERY_H
#include <stddef.h>

#include "daemon/config.h"
#include "daemon/err.h"
#include "daemon/store.h"

/* The rules, fixed where the issue names no key (FAULTS.md says each). */
#define FB_TEMP_HYST_C 2.0        /* an over-temperature is gone this far under its threshold */
#define FB_WARN_CURRENT_FRACTION 0.5 /* the warning's charging current, of charge.current_a */
#define FB_RISE_C_PER_MIN 3.0     /* temperature_rise: faster than this ... */
#define FB_RISE_WINDOW_S 120      /* ... over this long */
#define FB_CELL_OV_V 4.25         /* cell_over_voltage: a cell at or above (the firmware's cut) */
#define FB_IMBALANCE_V 0.10       /* cell_imbalance: cell_max - cell_min above */
#define FB_DEAD_CURRENT_A 0.5     /* current_mismatch: under this with the charger read back on, */
#define FB_DEAD_S 30              /* ... for this long, below FB_FULL_SOC ... */
#define FB_FULL_SOC 98.0          /* ... (and below rack.charged_soc: a full battery draws none) */
#define FB_WELDED_CURRENT_A 1.0   /* current_mismatch: over this with the charger read back off, */
#define FB_WELDED_S 10            /* ... for this long */
#define FB_RESET_FIRST_S 10       /* charger_fault: the first latch reset this long after the raise, */
#define FB_RESET_TRIES 3          /* ... at most this many, each wait twice the last (10, 20, 40 s) */

/* Starts watching every slot's readings and the ledger's quarantines
 * (nothing without a rack). cfg is copied; the fault registry must be
 * started. */
enum sw_err fault_battery_start(const struct config *cfg, struct store *st, char *why,
				size_t whylen);

/* Takes a reloaded config (faults and charge sections). */
void fault_battery_reconfigure(const struct config *cfg);

/* Stops watching; open faults stay in the registry. */
void fault_battery_stop(void);

#endif
