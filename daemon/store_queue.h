/* The queue's durable state (store_queue.c): one row per reservation or
 * walk-in, waiting until it leaves with its reason. Each change is one
 * transaction that takes the fleet event it causes, as everywhere in the
 * store (store.h); the queue module keeps the waiting rows in memory and
 * rebuilds them from here at start. */
#ifndef SWAPD_STORE_QUEUE_H
#define SWAPD_STORE_QUEUE_H

#include <stdint.h>

#include <json-c/json.h>

#include "daemon/err.h"
#include "daemon/store.h"

/* Rows that left kept for `swapctl queue --recent`; older ones go. */
#define STORE_QUEUE_HISTORY 1000

struct store_queue_entry {
	int64_t ticket;
	char user[33];
	char nonce[23];       /* of the rider's S token */
	char source[8];       /* "fleet", "walkin" */
	int64_t joined_at;    /* wall ms */
	int64_t eta_at;       /* wall ms the rider expected to be here */
	int64_t exp;          /* the token's expiry, Unix s */
	int eta_s;            /* the wait the station gave at the join */
	char arrival[12];     /* "en_route", "approaching", "arrived" */
	int distance_m;       /* last reported; -1: never */
	int64_t arrival_at;   /* wall ms of the last report; 0: none */
};

/* Adds e as waiting (e->ticket is not read) and sets *ticket to its new
 * ticket, one never given before. SW_EEXIST when e's nonce is waiting
 * already. Inside store_tx_begin(), *ticket is known before the commit,
 * for the event that carries it. */
enum sw_err store_queue_add(struct store *st, const struct store_queue_entry *e, int64_t *ticket,
			    const struct store_event *ev);

/* Records waiting ticket's arrival state and distance, reported at wall
 * ms `at`. */
enum sw_err store_queue_arrival(struct store *st, int64_t ticket, const char *arrival,
				int distance_m, int64_t at, const struct store_event *ev);

/* Records that waiting ticket left, with reason ("served", "cancelled",
 * "expired", "no_show"), and drops all but the newest STORE_QUEUE_HISTORY rows
 * that left. */
enum sw_err store_queue_leave(struct store *st, int64_t ticket, const char *reason,
			      const struct store_event *ev);

/* Calls fn for every waiting row, in ticket order. */
enum sw_err store_queue_load(struct store *st,
			     void (*fn)(const struct store_queue_entry *e, void *arg), void *arg);

/* Calls fn for every waiting ticket that a swap already names (a swap
 * that started just before a crash, its queue row not yet updated). */
enum sw_err store_queue_in_swaps(struct store *st, void (*fn)(int64_t ticket, void *arg),
				 void *arg);

/* The newest `limit` rows that left, newest first, as a JSON array of
 * {ticket, user, source, joined_ms, left_ms, reason, eta_s, waited_s};
 * never fails (empty on error). */
json_object *store_queue_left_json(struct store *st, int limit);

#endif
