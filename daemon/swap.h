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

#endif
