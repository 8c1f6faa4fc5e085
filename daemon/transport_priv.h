/* What transport.c (jobs, their tokens, the commands) shares with
 * transport_run.c (the doors and batteries of a started job), and nobody
 * else. */
#ifndef SWAPD_TRANSPORT_PRIV_H
#define SWAPD_TRANSPORT_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "daemon/config.h"
#include "daemon/err.h"
#include "daemon/store.h"
#include "drivers/rack_config.h"

extern struct store *transport_store;
extern char transport_boot[33];
extern struct config_transport transport_cfg; /* a copy: a reload frees the config */
extern int transport_quarantine_soh;          /* ledger.quarantine_soh: the station's one */

/* A slot a job opens: its index, whether it is there for a pickup, and
 * the battery in it when the job starts (0: empty). */
struct transport_slot {
	int i;
	bool pickup;
	uint64_t battery;
	bool lock_failed;     /* at the job's end: it did not lock */
};

/* Jobs running at once, at most. */
#define TRANSPORT_RUNS_MAX 4

/* Subscribes to the slot events and takes up the jobs a restart
 * interrupted (their doors are locked by the rack's start): each ends once
 * its slots read back, from what they hold then. */
enum sw_err transport_runs_start(char *why, size_t whylen);

/* Forgets the running jobs (they stay started in the store, and the next
 * start ends them) and lets their slots go. */
void transport_runs_stop(void);

/* Whether another job can run now. */
bool transport_runs_full(void);

/* Runs job id (its decision on disk): holds its n slots, unlocks each and
 * arms its timeout. The slots must be free (the token's check saw them). */
void transport_run_begin(int64_t id, const char *job, const struct transport_slot *slots, int n);

/* Whether job id is running, and then in *phases each of its slots: its
 * number, its role ("pickup", "dropoff") and where its door is
 * ("unlocking", "unlocked", "open", "locking", "locked", "lock_failed"). */
bool transport_run_phases(int64_t id, json_object **phases);

/* transport_moves.c */

/* What slot index i holds now (*battery, 0: nothing), when its reading
 * tells: read since the start, its battery's identity read. */
bool transport_slot_holds(int i, uint64_t *battery);

/* Battery moved out of (in false) or into slot index i while job id
 * (named job) ran, as the slot's events tell: recorded in the job and the
 * ledger at once, and a battery dropped off unfit (SOH under
 * ledger.quarantine_soh, a battery fault) quarantined. A failed record
 * is the store's health, and is made good at the job's end. */
void transport_moved(int64_t id, const char *job, int i, uint64_t battery, bool in);

/* Records the end of job id (why: "closed", "timeout", "estop",
 * "restart") in one transaction with its transport.completed event: first
 * what the n slots hold now compared with their start, for any move the
 * events did not record, and each slot that did not lock out of service.
 * SW_OK when it is on disk; the quarantines it decided are published then. */
enum sw_err transport_record_end(int64_t id, const char *job, const char *why,
				 const struct transport_slot *slots, int n);

#endif
