/* What queue.c shares with queue_eta.c and queue_cmd.c, and nobody else. */
#ifndef SWAPD_QUEUE_PRIV_H
#define SWAPD_QUEUE_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daemon/config.h"
#include "daemon/err.h"
#include "daemon/store.h"
#include "drivers/rack_config.h"

/* The store the queue records in, while the queue runs (NULL otherwise). */
extern struct store *queue_store;

/* Copies of the config the estimates use (a reload frees the struct). */
extern struct config_queue queue_qc;
extern int queue_charged_soc;

/* The batteries the ETAs rest on (queue_eta.c). A held slot is a swap's
 * already, so it counts for nobody waiting. */
struct queue_stock {
	int charged;                 /* slots SLOT_CHARGED, not held */
	int pipeline;                /* batteries in slots below charged, not held */
	int ready_s[RACK_MAX_SLOTS]; /* seconds until each is charged, soonest first */
};

/* Reads the stock from the slot table now. */
void queue_stock_read(struct queue_stock *s);

/* When each of count riders (count <= QUEUE_MAX + 1; at_s[k]: the earliest
 * rider k can be at the kiosk, 0 for now) can start, in seconds from now,
 * and whether they wait beyond the charged stock. Swaps follow one after
 * another (with several at once it is sooner), each taking the battery
 * that is charged soonest: the charged ones, then those in the slots by
 * how soon they are charged, then those the riders ahead bring back, each
 * queue.charge_s after its swap; and each going to the rider admission
 * lets go then: the first in the queue of those at the station, so a
 * reservation still on the road holds nothing against riders who are
 * here. A station with no battery at all: a full charge_s a rider, a
 * guess. */
void queue_plan(const struct queue_stock *s, int count, const int *at_s, int *eta_s, bool *waits);

/* The running mean of completed swaps' durations (queue.swap_s before
 * the first), and how many it rests on. */
double queue_swap_s(void);
int64_t queue_swaps_seen(void);

/* Swap `swap` started; it ended, completed or not (an aborted swap is no
 * measure of a swap's length). */
void queue_swap_began(int64_t swap);
void queue_swap_ended(int64_t swap, bool completed);

/* Forgets the swaps seen (at stop). */
void queue_eta_forget(void);

/* Registers queue, queue-reserve, queue-cancel and queue-arrival. */
enum sw_err queue_cmd_register(char *why, size_t whylen);

#endif
