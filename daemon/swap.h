/* The swap itself (issue 10): a rider's S token opens an empty slot for the
 * returned battery, then a charged one, "in, then out" (OCPP 2.1's default
 * swap order). Each swap is one row in the store whose stage is durable
 * before the next physical action, driven by a pure transition table
 * (swap_fsm.h) on the slot events; several swaps run at once, each holding
 * its own two slots (slots_hold). */
#ifndef SWAPD_SWAP_H
#define SWAPD_SWAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daemon/config.h"
#include "daemon/err.h"
#include "daemon/store.h"
#include "daemon/token.h"

/* The queue's say on a rider at the kiosk: NULL lets the swap start, or a
 * reason the rider is told ("not_your_turn"). charged is how many charged
 * batteries are on hand and free right now. A rider admitted gets the
 * queue's ticket in *ticket (0: none). */
typedef const char *(*swap_admit_fn)(const struct token *tok, int charged, int64_t *ticket,
				     void *arg);

/* Sets (NULL: removes) the queue's admission check; without one every
 * rider is admitted while the station can serve. */
void swap_set_admit(swap_admit_fn fn, void *arg);

/* Set by fleet sync while its outbox is at the cap (mqtt.md, rule 4): new
 * swaps are refused with "outbox_full"; swaps under way go on. */
void swap_set_outbox_full(bool full);

/* Claims S tokens (access_set_claim), registers the swaps and swap-abort
 * commands, and takes up every swap the store holds unfinished: once both
 * its slots were read (or could not be, within a few poll cycles) each goes
 * on from its stage or ends with swap.aborted (reason "restart"). The rack
 * (slots_start) and access must be started before. */
enum sw_err swap_start(const struct config *cfg, struct store *st, const char *boot, char *why,
		       size_t whylen);

/* Takes a reloaded swap section: swaps in progress keep the waits they are
 * in; every later wait, and every new swap, follows the new values. */
void swap_reconfigure(const struct config *cfg);

/* Ends staff's way the swap in progress with this id: recorded in the audit
 * trail with who and reason first, then swap.aborted (or swap.completed,
 * once the rider has taken the charged battery) with every door locked.
 * SW_ENOENT when no such swap is in progress, SW_EIO when the audit entry
 * could not be written (nothing was done). */
enum sw_err swap_abort(int64_t id, const char *who, const char *reason);

/* Stops claiming tokens and following slots. Every swap's stage is on disk
 * already; the doors are locked by the rack's stop after this, and the
 * next start takes each swap up. */
void swap_stop(void);

#endif
