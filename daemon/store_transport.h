/* Transport jobs in the store (store_transport.c): announced by the fleet,
 * started by their T token, ended completed or expired, and what each one
 * moved. Every change is one transaction (or joins the caller's
 * store_tx_begin()), taking the fleet event it causes, as in store.h. */
#ifndef SWAPD_STORE_TRANSPORT_H
#define SWAPD_STORE_TRANSPORT_H

#include <stdbool.h>
#include <stdint.h>

#include <json-c/json.h>

#include "daemon/store.h"

/* token.md: a T token picks up and drops off 0..99 batteries each. */
#define STORE_TRANSPORT_MAX 99

struct store_transport_job {
	int64_t id;                  /* the row: a slot hold's ref */
	char job[33];                /* the fleet's job id, the T token's subject */
	int pickup;                  /* batteries to pick up (the list's length when listed) */
	int npickup_ids;             /* 0: pick up by count */
	uint64_t pickup_ids[STORE_TRANSPORT_MAX];
	int dropoff;                 /* charged batteries the transporter brings */
	int64_t exp;                 /* Unix seconds */
	char state[12];              /* "announced", "started", "completed", "expired" */
};

/* A slot a started job opened: its number, "pickup" or "dropoff", and the
 * battery it held when the job started (0: empty). */
struct store_transport_slot {
	int slot;
	char role[8];
	uint64_t battery;
};

/* Announces job j (its id is ignored): a new row, or new terms for a job
 * still only announced. SW_EEXIST when a job of that name started or ended:
 * nothing changes then. */
enum sw_err store_transport_announce(struct store *st, const struct store_transport_job *j,
				     const struct store_event *ev);

/* Reads job `name`: SW_OK with *found false when there is none. */
enum sw_err store_transport_get(struct store *st, const char *name,
				struct store_transport_job *out, bool *found);

/* Job id starts: its T token's nonce and counts, and the n slots it opens
 * (what each held then). SW_EEXIST when it is not in state announced. */
enum sw_err store_transport_start(struct store *st, int64_t id, const char *nonce, int pickup,
				  int dropoff, const struct store_transport_slot *slots, int n,
				  const struct store_event *ev);

/* Battery moved by job id: out of (in false) or into (in true) slot
 * number slot. Net: taking out a battery the job brought, or bringing
 * back one it took, removes the earlier move instead. */
enum sw_err store_transport_move(struct store *st, int64_t id, uint64_t battery, bool in,
				 int slot, const struct store_event *ev);

/* The batteries job id moved out (in false) or in, ascending, up to max
 * in ids; their number in *n. Reads the caller's transaction when one is
 * open. */
enum sw_err store_transport_moved(struct store *st, int64_t id, bool in, uint64_t *ids, int max,
				  int *n);

/* Ends started job id: completed, with why ("closed", "timeout",
 * "estop", "restart"). */
enum sw_err store_transport_end(struct store *st, int64_t id, const char *why,
				const struct store_event *ev);

/* Closes every job still only announced whose exp is before now_s. */
enum sw_err store_transport_expire(struct store *st, int64_t now_s, const struct store_event *ev);

/* The earliest exp of a job still only announced (0: none). */
enum sw_err store_transport_next_exp(struct store *st, int64_t *exp);

/* Calls fn for each started job (at start: a job a restart interrupted),
 * with the slots it opened. */
enum sw_err store_transport_running(struct store *st,
				    void (*fn)(const struct store_transport_job *j,
					       const struct store_transport_slot *slots, int n,
					       void *arg),
				    void *arg);

/* The latest `limit` jobs, newest first, as a JSON array of objects (id, job,
 * state, pickup (a count or ["BAT-00042", ...]), dropoff, exp, times,
 * token counts, end reason, slots [{slot, role, battery}], picked_up,
 * dropped_off); never fails (empty on error). */
json_object *store_transport_json(struct store *st, int limit);

#endif
