/* The queue (issue 10): riders waiting for a swap, in the order they
 * joined: reservations from the fleet (mqtt.md queue.reserve, .cancel,
 * .arrival; through `swapctl queue-*` until MQTT lands, which calls these
 * same functions) and walk-ins, who join when the kiosk issues their ticket
 * (EV_TICKET_ISSUED). Each rider gets a position and an ETA from the
 * observed swap duration and the charged batteries on hand; a rider who
 * has arrived has a charged battery counted as theirs ahead of anyone who
 * joined after them or has no place, which is what the swap flow's
 * admission check (swap_set_admit) asks of the queue. Riders leave served
 * (their swap started), cancelled, expired or as no-shows, each change
 * durable with its fleet event. daemon/DESIGN.md, "Queue", has the rules. */
#ifndef SWAPD_QUEUE_H
#define SWAPD_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "daemon/config.h"
#include "daemon/err.h"
#include "daemon/store.h"
#include "daemon/token.h"

/* The longest a reservation may say the rider is away. */
#define QUEUE_ETA_MAX_S 86400

/* What a queue command comes to; queue_result_code() spells it as
 * mqtt.md's error codes. */
enum queue_result {
	QUEUE_OK,
	QUEUE_FULL,           /* "queue_full": capacity reached */
	QUEUE_DUPLICATE,      /* "duplicate": that nonce or user waits already */
	QUEUE_UNKNOWN_TICKET, /* "unknown_ticket": no such ticket waiting */
	QUEUE_BAD_REQUEST,    /* "bad_request": an argument out of the contract */
	QUEUE_STORE_FAILED,   /* "store_failed": not recorded, so not done */
};

/* A rider's place, as the commands and the kiosk show it. */
struct queue_place {
	int64_t ticket;
	int position;            /* 1: next */
	int eta_s;               /* seconds until the rider's swap can start */
	bool waits_for_charging; /* beyond the charged stock: eta_s includes charging */
	const char *arrival;     /* "en_route", "approaching", "arrived" */
};

/* The mqtt.md code of r ("queue_full", ...; "ok"). */
const char *queue_result_code(enum queue_result r);

/* Rebuilds the queue from the store (a ticket a stored swap names leaves
 * as served), registers the queue commands, and subscribes to the events
 * it follows; sets the swap flow's admission check and the kiosk ticket's
 * queue note. cfg is copied; st must outlive the module. */
enum sw_err queue_start(const struct config *cfg, struct store *st, const char *boot, char *why,
			size_t whylen);

/* Takes a reloaded config: capacity, distances, grace and estimates. A
 * smaller capacity keeps whoever waits already. */
void queue_reconfigure(const struct config *cfg);

/* queue.reserve: user (token.md subject grammar) will arrive in eta_s
 * (0..QUEUE_ETA_MAX_S) and swap with the S token of nonce, which expires at exp
 * (Unix s; 0: unknown; unknown or later than tokens.life_swap_s from now
 * is taken as that). On QUEUE_OK *out is the new place. */
enum queue_result queue_reserve(const char *user, const char *nonce, int eta_s, int64_t exp,
				struct queue_place *out);

/* queue.cancel: ticket leaves with reason "cancelled". */
enum queue_result queue_cancel(int64_t ticket);

/* queue.arrival: the rider's phone is distance_m (>= 0) from the station;
 * sets the arrival state by queue.approaching_m and queue.arrived_m. On
 * QUEUE_OK *out is the place after it. */
enum queue_result queue_arrival(int64_t ticket, int distance_m, struct queue_place *out);

/* The admission check the queue sets with swap_set_admit() (swap.h):
 * whether the rider of tok may start a swap now, with `charged` batteries
 * free. A rider with a place (by tok's nonce, or a walk-in by user) may
 * when charged exceeds the arrived riders ahead of them; one without
 * (*ticket 0) when it exceeds all the arrived riders. Otherwise
 * "not_your_turn", with *ticket set too, for queue_find(). With nothing
 * charged it says NULL: the swap flow refuses with its own reason. */
const char *queue_admit(const struct token *tok, int charged, int64_t *ticket, void *arg);

/* The place of waiting ticket now; false when it is not waiting. */
bool queue_find(int64_t ticket, struct queue_place *out);

/* p as the JSON object a reservation's result is (mqtt.md: ticket,
 * position, eta_s; and waits_for_charging, arrival). */
json_object *queue_place_json(const struct queue_place *p);

/* The whole queue as `swapctl queue` shows it: capacity, the charged
 * stock and swap time the ETAs rest on, and every entry with its place. */
json_object *queue_json(void);

/* Clears the hooks, cancels the timer, unsubscribes, forgets the queue. */
void queue_stop(void);

#endif
