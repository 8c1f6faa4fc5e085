/* What the swap module's files share, and nothing else includes: swap.c
 * (start, stop, the token claim, slot events, recovery), swap_run.c (a
 * transition: its record, then its actions), swap_door.c (door commands
 * and their retries) and swap_cmd.c (commands and their views). */
#ifndef SWAPD_SWAP_PRIV_H
#define SWAPD_SWAP_PRIV_H

#include <stdbool.h>
#include <stdint.h>

#include <json-c/json.h>

#include "daemon/config.h"
#include "daemon/loop.h"
#include "daemon/store_swaps.h"
#include "daemon/swap_fsm.h"
#include "daemon/swap_pick.h"
#include "drivers/rack_config.h"

/* One swap in progress. */
struct swap {
	bool used;
	bool recovering;         /* loaded at start, waiting for its slots' readings */
	enum swap_stage stage;
	int in, out;             /* slot indices of slot_in and slot_out */
	struct store_swap rec;   /* as on disk */
	char note[96];           /* a staff abort's who and why, for its record */
	struct loop_timer timer; /* the stage's wait */
};

struct swap_module {
	struct config_swap cfg;  /* a copy: a reload frees the config */
	struct store *store;
	char boot[33];
	bool running;
	bool estop;
	bool store_failed;       /* the last transition could not be recorded */
	int64_t failed_swap;
	int poll_ms;             /* rack.poll_interval_ms: recovery looks this often */
	struct swap swaps[SWAP_MAX_CONCURRENT];
	bool alarm[RACK_MAX_SLOTS];     /* the door was left open (EV_DOOR_ALARM) */
	signed char door[RACK_MAX_SLOTS]; /* last door event: 1 open, 0 closed, -1 none */
};

extern struct swap_module swap_m;

/* Runs ev through the table for s with the conditions read now, plus
 * extra (SE_RESTART's), and carries out the transition (swap_run.c). */
void swap_feed(struct swap *s, enum swap_ev ev, unsigned extra);

/* The swap whose current stage acts on slot index i, or NULL. */
struct swap *swap_at_slot(int i);

/* The swap in progress with this id, or NULL. */
struct swap *swap_find(int64_t id);

/* Fills v[0..slots_count()) with what the swap module chooses from. */
void swap_views(struct swap_slot_view *v);

/* Whether slot index i's door is open, as last heard. */
bool swap_door_open(int i);

/* Writes the swap's health entry from the module's state. */
void swap_health(void);

/* The timer length of a wait (ms). */
int64_t swap_wait_ms(enum swap_timeout t);

/* Door commands (swap_door.c). swap_door_unlock() and swap_door_lock()
 * supersede whatever this slot's door was asked before; the outcome goes to
 * the swap whose stage acts on the slot, as SE_UNLOCKED/SE_UNLOCK_FAILED or
 * SE_LOCKED/SE_LOCK_FAILED. A lock is retried until swap.unlock_timeout_s.
 * A lock that ends after its swap did releases the slot's hold (and, when
 * it failed, takes the slot out of service). */
void swap_door_unlock(int i, int64_t swap);
void swap_door_lock(int i, int64_t swap);
/* Whether a lock is still owed on slot index i. */
bool swap_door_locking(int i);
void swap_door_start(void);
void swap_door_stop(void);

/* Slot index i's door did not lock for swap (ended): out of service, with a
 * staff ticket (swap_run.c). */
void swap_door_failed(int i, int64_t swap);

/* Releases slot index i if swap holds it. */
void swap_unhold(int i, int64_t swap);

/* A battery id as the fleet writes it ("BAT-00042", mqtt.md), NULL for 0;
 * a duration in seconds to the millisecond (swap_cmd.c). */
json_object *swap_battery_json(uint64_t id);
json_object *swap_seconds_json(int64_t ms);

/* Registers the swaps and swap-abort commands (swap_cmd.c). */
enum sw_err swap_cmd_start(char *why, size_t whylen);

#endif
