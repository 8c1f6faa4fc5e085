/* The slot table: what is in every slot and whether its door is shut, as
 * read from the rack, turned into one state per slot (empty, idle,
 * charging, charged, fault, quarantined, offline), shown by `swapctl
 * slots`, sampled into the store's telemetry ring, and the engineer
 * commands lock, unlock and charge. */
#ifndef SWAPD_SLOTS_H
#define SWAPD_SLOTS_H

#include <json-c/json.h>

#include "daemon/config.h"
#include "daemon/err.h"
#include "daemon/store.h"
#include "drivers/rack.h"

enum slot_state {
	SLOT_EMPTY, SLOT_IDLE, SLOT_CHARGING, SLOT_CHARGED, SLOT_FAULT, SLOT_QUARANTINED,
	SLOT_OFFLINE,
};

/* The name of a state, as mqtt.md spells it. */
const char *slots_state_name(enum slot_state st);

/* Starts the rack (when configured), registers the slot commands and the
 * telemetry timer. st must outlive the module; cfg is copied. */
enum sw_err slots_start(const struct config *cfg, struct store *st, char *why, size_t whylen);

/* The current state of slot index i. */
enum slot_state slots_state(int i);

/* Locks (lock true) or unlocks slot index i's door, by its GPIO relay or
 * its controller, and calls done (may be NULL) from the loop with the
 * outcome: SW_OK once the bolt reads back as commanded (a controller's
 * sensed lock, read after the command register read back; without a lock
 * sensor, the register; a relay: once it is switched); SW_ETIMEDOUT when
 * the bolt did not follow within the firmware's LOCK_STUCK time and two
 * polls; SW_ECANCELED when a newer command on the same door came first.
 * Not audited: the caller records its decision first. Errors as
 * rack_write(); SW_ECANCELED for an unlock while swapd is stopping. */
enum sw_err slots_set_lock(int i, bool lock, rack_done_fn done, void *arg);

/* Holds: a slot in a swap or a transport job is held by it, so that no
 * slot is ever in two at once. slots_hold() takes slot index i for owner
 * (a short static name: "swap", "transport", "staff") and ref (its swap
 * id, ...): SW_EBUSY when it is already held. Holds live in memory; the
 * owners rebuild theirs from the store at start. */
enum sw_err slots_hold(int i, const char *owner, int64_t ref);
void slots_unhold(int i);
/* Who holds slot index i (NULL: nobody), and its ref in *ref if not NULL. */
const char *slots_holder(int i, int64_t *ref);

/* The slot index of station slot number n, or -1. */
int slots_index(int n);

/* Slot index i's station slot number. */
int slots_number(int i);

/* How many slots the rack has (0 without a rack). */
int slots_count(void);

/* Takes slot index i out of service (out true) or back into it, as the
 * store already records (store_slot_service): a slot out of service is
 * `quarantined`. The slots out of service at start are read from the
 * store; a slot whose battery the ledger holds quarantined is
 * `quarantined` too (EV_BATTERY_QUARANTINED / RELEASED). */
void slots_set_service(int i, bool out);

/* The battery id slot index i holds as last read (0: empty); false while
 * that is not known yet (no reading since start, or the id not read). */
bool slots_battery(int i, uint64_t *id);

/* Whether slot index i's door is known closed and its lock known locked,
 * each as read from whichever speaks for it (GPIO or the controller). */
bool slots_secure(int i);

/* A JSON array describing every slot (what `swapctl slots --json` prints). */
json_object *slots_json(void);

/* Stops the rack and the timer. */
void slots_stop(void);

#endif
