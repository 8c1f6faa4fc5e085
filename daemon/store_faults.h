/* The fault registry's records (daemon/fault.c, daemon/FAULTS.md): one row
 * per fault from its raise to its clearing, with its level-3 ticket, and
 * the level-1 actions taken on it with their outcomes. */
#ifndef SWAPD_STORE_FAULTS_H
#define SWAPD_STORE_FAULTS_H
#include <stdbool.h>
#include <stdint.h>
#include <json-c/json.h>
#include "daemon/err.h"
#include "daemon/store.h"

/* One open fault as the registry keeps it; times are Unix ms. */
struct store_fault {
	int64_t id;
	const char *code;     /* fault_code_name() */
	int slot;             /* slot number, 0: none */
	uint64_t battery;     /* 0: none */
	int level;
	const char *detail;
	int64_t raised_at;
	int64_t ticket_at;    /* when its ticket was opened, 0: none */
	int64_t announced_at; /* when ticket.opened last went out */
	bool acked;
	const char *diagnosis; /* its level-2 diagnosis as JSON text, NULL: none */
};

/* Its migration in store.c's migrations[] (daemon/FAULTS.md): one
 * row per fault from its raise to its clearing, one open per (code,
 * slot, battery) (slot and battery 0 when none); its level-3 ticket
 * ("F<id>") with when it was opened, last announced and acknowledged;
 * the level-1 actions taken on it with their outcomes. */
#define STORE_FAULTS_MIGRATION \
	"CREATE TABLE faults (" \
	"  id INTEGER PRIMARY KEY AUTOINCREMENT," \
	"  code TEXT NOT NULL," \
	"  slot INTEGER NOT NULL," \
	"  battery INTEGER NOT NULL," \
	"  level INTEGER NOT NULL," \
	"  detail TEXT," \
	"  raised_at INTEGER NOT NULL," \
	"  ticket_at INTEGER," \
	"  announced_at INTEGER," \
	"  ack_at INTEGER," \
	"  ack_by TEXT," \
	"  cleared_at INTEGER," \
	"  how TEXT);" \
	"CREATE UNIQUE INDEX faults_open ON faults (code, slot, battery) WHERE cleared_at IS NULL;" \
	"CREATE TABLE fault_actions (" \
	"  fault INTEGER NOT NULL REFERENCES faults (id)," \
	"  at INTEGER NOT NULL," \
	"  action TEXT NOT NULL," \
	"  outcome TEXT NOT NULL);" \
	"CREATE INDEX fault_actions_fault ON fault_actions (fault);"

/* The registry's migrations, two entries of store.c's migrations[]: the
 * tables above (10 -> 11), then each fault's level-2 diagnosis, the JSON
 * of fault_diag_json() (11 -> 12). */
#define STORE_FAULTS_MIGRATIONS STORE_FAULTS_MIGRATION, \
	"ALTER TABLE faults ADD COLUMN diagnosis TEXT;"

/* Records a new open fault (id set on return), with its diagnosis. */
enum sw_err store_fault_raise(struct store *st, struct store_fault *f, const struct store_event *ev);

/* Replaces an open fault's detail. */
enum sw_err store_fault_detail(struct store *st, int64_t id, const char *detail,
			       const struct store_event *ev);

/* Replaces an open fault's diagnosis (JSON text, fault_diag_json()). */
enum sw_err store_fault_diagnosis(struct store *st, int64_t id, const char *diagnosis,
				  const struct store_event *ev);

/* Opens fault id's level-3 ticket now (level 3), or, when it has one,
 * records that it was announced again now. */
enum sw_err store_fault_ticket(struct store *st, int64_t id, const struct store_event *ev);

/* Records that who acknowledged fault id's ticket. */
enum sw_err store_fault_ack(struct store *st, int64_t id, const char *who,
			    const struct store_event *ev);

/* Ends open fault id, saying how. */
enum sw_err store_fault_clear(struct store *st, int64_t id, const char *how,
			      const struct store_event *ev);

/* Records a level-1 action on fault id and its outcome. */
enum sw_err store_fault_action(struct store *st, int64_t id, const char *action,
			       const char *outcome, const struct store_event *ev);

/* Calls fn for every open fault (the strings valid during the call). */
enum sw_err store_faults_open(struct store *st, void (*fn)(const struct store_fault *f, void *arg),
			      void *arg);

/* Calls fn for every fault raised at or after since_ms (Unix ms), open
 * or cleared, oldest first: the diagnosis's history. */
enum sw_err store_faults_since(struct store *st, int64_t since_ms,
			       void (*fn)(const struct store_fault *f, void *arg), void *arg);

/* At most max faults, newest first, the cleared ones too when all: [{fault,
 * code, level, slot, battery, detail, since, age_s, actions: [{action,
 * outcome, at}], diagnosis, ticket: {ticket, state, by} or null, cleared_at,
 * how}]; NULL when the store could not be read. */
json_object *store_faults_json(struct store *st, bool all, int max);
#endif
