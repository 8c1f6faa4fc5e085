/* Station faults (issue 13, daemon/FAULTS.md): the detectors of what is
 * wrong with the station itself rather than a battery — a slot not
 * answering, doors, the emergency stop, the slot bus, the store and its
 * disk, the outbox, the broker, the clock — from events and a one-second
 * look at the rack, sync, the store and the clock. Each raises its fault
 * with the level-1 action taken, records that action's outcome once it is
 * known (read back, not sent) and says when the condition is gone. */
#ifndef SWAPD_FAULT_STATION_H
#define SWAPD_FAULT_STATION_H
#include <stddef.h>

#include "daemon/config.h"
#include "daemon/err.h"
#include "daemon/store.h"

/* Subscribes to the rack's, the doors' and the emergency stop's events and
 * starts the one-second look. Needs the fault registry started. */
enum sw_err fault_station_start(const struct config *cfg, struct store *st, char *why,
				size_t whylen);

/* Takes a reloaded faults section (broker_down_s, disk_min_mb). */
void fault_station_reconfigure(const struct config *cfg);

/* Stops listening and looking; open faults stay in the registry. */
void fault_station_stop(void);
#endif
