/* The durable store: one SQLite database in WAL mode with synchronous=FULL,
 * its schema versioned by PRAGMA user_version and migrated forward at open.
 * No other module writes SQL. The functions are grouped by concern, one
 * store_<concern>.c each (daemon/DESIGN.md, "Store").
 *
 * Every store_* call that changes state is one transaction, on disk when it
 * returns SW_OK, and takes the fleet event the change causes, which it
 * writes to the outbox in that same transaction (mqtt.md, "Events", rule 1).
 * The calling module decides which event, if any (NULL: none). Calls made
 * between store_tx_begin() and store_tx_commit() join that one transaction
 * instead: for a change built from several calls, or whose event carries
 * what the change read. */
#ifndef SWAPD_STORE_H
#define SWAPD_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "daemon/err.h"

struct store;

/* The schema version this build writes and reads. */
#define STORE_SCHEMA_VERSION 12

/* A fleet event (mqtt.md, "Events"), written to the outbox with its seq in
 * the same transaction as the change that causes it. */
struct store_event {
	const char *type;     /* "station.started", "token.rejected", ... */
	const char *boot;     /* the run that emits it */
	json_object *payload; /* its fields; the store only reads it, the caller frees it */
};

struct store_stats {
	int64_t events;       /* events waiting in the outbox */
	int64_t seq_next;     /* seq the next event will carry */
	int64_t oldest_ms;    /* when the oldest waiting event was made; 0 when none */
	int64_t db_bytes;     /* size of the database file */
	int schema;           /* PRAGMA user_version */
};

/* Opens (creating if needed) the database at path, checks its integrity,
 * migrates it to STORE_SCHEMA_VERSION and sets busy_timeout_ms as the bound
 * on waiting for a lock; health "store" is then ok. On failure returns the
 * error with a human reason in why (naming the path) and *out is NULL: a
 * corrupt, newer-schema, unreadable or unwritable database is never used. */
enum sw_err store_open(const char *path, int busy_timeout_ms, struct store **out,
		       char *why, size_t whylen);

/* Closes the database; NULL is fine. */
void store_close(struct store *st);

/* Checks that the database file is still the one opened: not removed, not
 * replaced by another file. Every state-changing call checks this before it
 * begins and after it commits; this is for a caller that wants to know while
 * idle. Once the check fails the store is failed for the rest of the run
 * (health "store" failed, every change refused with SW_EIO): only a restart,
 * which opens whatever is at the path then, heals it. */
enum sw_err store_check(struct store *st);

/* The SQLite detail of the last error, for the caller's log line. */
const char *store_errmsg(const struct store *st);

/* Opens one transaction that the store_* calls up to the matching
 * store_tx_commit() join (as does a store_tx_begin() inside it). It is always
 * ended by store_tx_commit(), even when a call in it failed: after a failure
 * the remaining calls do nothing and return the error. */
void store_tx_begin(struct store *st);

/* Commits the transaction: SW_OK when every change in it is on disk. On the
 * first error in it (or at the commit) nothing of it is recorded, neither
 * the changes nor their events, and the error is returned, logged once and
 * shown in the store's health; `what` names the change for both. */
enum sw_err store_tx_commit(struct store *st, const char *what);

/* Appends a fleet event ev (store_outbox.c). */
enum sw_err store_outbox_add(struct store *st, const struct store_event *ev);

/* One event waiting in the outbox, as store_outbox_read() hands it over;
 * the strings are valid during the callback only. payload is the JSON
 * object the module wrote, with "clock":"unsynced" added when the system
 * clock was not synchronised as the event was made (mqtt.md, issue 11). */
struct store_outbox_row {
	int64_t seq;
	const char *type;
	int64_t ts;           /* Unix ms when it was made, never changed */
	const char *boot;
	const char *payload;
};

/* Calls fn for each event with a seq above `after`, in seq order, at most
 * limit of them; fn returns nonzero to stop early. */
enum sw_err store_outbox_read(struct store *st, int64_t after, int limit,
			      int (*fn)(const struct store_outbox_row *r, void *arg), void *arg);

/* Deletes the events seqs[0..n) (the fleet acknowledged them) in one
 * transaction; a seq no longer there is no error. */
enum sw_err store_outbox_delete(struct store *st, const int64_t *seqs, size_t n);

/* Calls fn (NULL: nobody) after each commit that added fleet events, with
 * how many: the MQTT link hears of new events the moment they are on disk. */
void store_set_outbox_hook(struct store *st, void (*fn)(int added, void *arg), void *arg);

/* Records the start of daemon run `boot` (store_runs.c). The reason is
 * "start" after a clean stop (or on a new database) and "unclean_shutdown"
 * when the previous run never recorded its end (crash, SIGKILL, power cut);
 * it is copied to reason (at least 24 bytes), also on failure. */
enum sw_err store_run_begin(struct store *st, const char *boot, const char *version,
			    char *reason, size_t reasonlen, const struct store_event *ev);

/* Records that run `boot` is still alive now (so the downtime after a power
 * cut is known). */
enum sw_err store_run_alive(struct store *st, const char *boot, const struct store_event *ev);

/* Records the clean end of run `boot`. */
enum sw_err store_run_end(struct store *st, const char *boot, const struct store_event *ev);

/* Appends an entry to the local audit trail: who did what (a control
 * command, a config reload), with a free-form detail. Never a secret. */
enum sw_err store_audit(struct store *st, const char *who, const char *what,
			const char *detail, const struct store_event *ev);

/* One slot's telemetry sample. battery is "" for an empty slot (its
 * values are then not stored); read_at is when the values were read. */
struct store_sample {
	int slot;
	const char *state;
	char battery[24];
	double soc, soh, v, i, t;
	bool door_open, locked;
	uint64_t fault_bits;
	int64_t read_at;
};

/* Appends n samples taken now and trims the ring to its newest keep_rows
 * (store_telemetry.c). */
enum sw_err store_telemetry_add(struct store *st, const struct store_sample *s, size_t n,
				int64_t keep_rows, const struct store_event *ev);

/* Token checks for token.md steps 7 and 8 (store_tokens.c). On an error the answer is
 * unknown: the caller must treat the token as revoked / used. */
enum sw_err store_token_used(struct store *st, const char *nonce, bool *used);
enum sw_err store_token_revoked(struct store *st, const char *nonce, bool *revoked);

/* One scan and its outcome. result is a token.md reason code ("ok", ...);
 * kind, subject, nonce and exp are those of the parsed token ("" kind when
 * it did not parse). Never the mac or the whole token. */
struct store_scan {
	const char *source;   /* "scanner", "control", ... */
	const char *result;
	char kind[2];
	char subject[33];
	char nonce[23];
	int64_t exp;
	bool mark_used;       /* an accepted S or T token: write its single-use mark */
};

/* Records a scan: the single-use mark when asked (it fails with SW_EEXIST
 * if the nonce is already marked, and then nothing is recorded) and the
 * scan row (the ring keeps keep_rows). */
enum sw_err store_scan(struct store *st, const struct store_scan *s, int64_t keep_rows,
		       const struct store_event *ev);

/* Adds nonce to the revocation list until exp (Unix seconds). */
enum sw_err store_token_revoke(struct store *st, const char *nonce, int64_t exp,
			       const struct store_event *ev);

/* Drops marks and revocations of tokens expired (beyond skew) by now_s. */
enum sw_err store_token_purge(struct store *st, int64_t now_s, int64_t skew_s,
			      const struct store_event *ev);

/* The latest scans, newest first, as a JSON array (never fails; empty on
 * error). */
json_object *store_scans_recent(struct store *st, int limit);

/* The battery ledger (store_batteries.c): every battery id the station
 * has seen and where it is now. A row is made at first sight and never
 * deleted; a move keeps the last values with their read time. */
struct store_battery {
	uint64_t id;
	char place[12];       /* "slot", "rider", "transport", "staff", "unknown" */
	int slot;             /* "slot": where it is; otherwise the last slot (0: none) */
	int64_t swap;         /* "rider": the swap that handed it out (0: none) */
	char holder[33];      /* "rider": the user; "transport": the job */
	int64_t since;        /* wall ms it got to its place */
	double soc, soh;      /* last known, read at read_at (0: never read) */
	int64_t cycles, read_at;
	bool quarantined;
	char reason[64];      /* why it is quarantined */
	int64_t unseen_since; /* "slot": wall ms since which the slot's presence
			       * sensor reads empty though the door stayed
			       * shut (0: it is seen) */
};

/* Battery id is in slot number slot, with these values read at read_at
 * (soc/soh < 0: not read; the old ones stay), and seen there. Creates the
 * row at first sight. */
enum sw_err store_battery_in_slot(struct store *st, uint64_t id, int slot, double soc, double soh,
				  int64_t cycles, int64_t read_at, const struct store_event *ev);

/* Battery id left its slot: to rider `holder` at swap `swap` (place
 * "rider"), to transport job `holder` (swap 0, place "transport"), to
 * staff member `holder` who opened the slot (place "staff"), or, with
 * place "unknown", to nobody the station knows of (taken outside a swap or
 * a job). The last slot and values stay. */
enum sw_err store_battery_left(struct store *st, uint64_t id, const char *place, int64_t swap,
			       const char *holder, const struct store_event *ev);

/* Battery id stays in its slot, but that slot's presence sensor has read
 * empty since wall ms `since` (the row must exist). Cleared when the
 * battery is seen in a slot again or leaves. */
enum sw_err store_battery_unseen(struct store *st, uint64_t id, int64_t since,
				 const struct store_event *ev);

/* Every battery whose row says it is in slot number slot, except keep (0:
 * none) and, when keep_unseen, except those flagged unseen, goes to place
 * "unknown" (last slot and values kept); *moved (may be NULL) is how many
 * did. For a slot read with another battery, or none, than the rows say. */
enum sw_err store_battery_vacate(struct store *st, int slot, uint64_t keep, bool keep_unseen,
				 int *moved, const struct store_event *ev);

/* Quarantines (on) or releases battery id, with the reason (or who
 * released it). Creates the row, place "unknown", if it was never seen. */
enum sw_err store_battery_quarantine(struct store *st, uint64_t id, bool on, const char *reason,
				     const struct store_event *ev);

/* Reads battery id's row: SW_OK with *found false when it was never seen. */
enum sw_err store_battery_get(struct store *st, uint64_t id, struct store_battery *out,
			      bool *found);

/* Every battery, most recently moved first, as a JSON array of objects
 * (battery "BAT-00042", place, slot, swap, holder, since, soc, soh,
 * cycles, read_at, quarantined, reason, unseen_since; times in RFC 3339);
 * never fails (empty on error). */
json_object *store_batteries_json(struct store *st);

/* Takes slot number slot out of service (reason, by whom) or, with reason
 * NULL, back into it. */
enum sw_err store_slot_service(struct store *st, int slot, const char *reason, const char *by,
			       const struct store_event *ev);

/* Calls fn for every slot out of service (at start, to rebuild the slot
 * table's view). */
enum sw_err store_slots_out(struct store *st, void (*fn)(int slot, const char *reason, void *arg),
			    void *arg);

/* Counts for status displays (the outbox's from store_outbox.c). */
enum sw_err store_stats(struct store *st, struct store_stats *out);

#endif
