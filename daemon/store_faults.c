/* The fault registry's rows (store_faults.h): faults, their tickets and
 * the actions taken on them. */
#include "daemon/store_faults.h"
#include "daemon/store_priv.h"

#include <inttypes.h>
#include <stdio.h>

/* SQLite integers are signed: a 64-bit battery id is kept as its bit pattern. */
#define ID(x) STORE_I((int64_t)(x))

enum sw_err store_fault_raise(struct store *st, struct store_fault *f, const struct store_event *ev)
{
	int rc = store_begin(st);

	if (rc == SQLITE_OK)
		rc = store_exec(st,
				"INSERT INTO faults (code, slot, battery, level, detail, raised_at, diagnosis)"
				" VALUES (?, ?, ?, ?, ?, ?, ?)",
				STORE_VALS(STORE_T(f->code), STORE_I(f->slot), ID(f->battery),
					   STORE_I(f->level), STORE_T(f->detail), STORE_I(f->raised_at),
					   STORE_T(f->diagnosis)));
	if (rc == SQLITE_OK)
		f->id = sqlite3_last_insert_rowid(st->db);
	return store_finish(st, rc, ev, "recording a fault");
}

/* One UPDATE of an open fault, which must exist. */
static enum sw_err update(struct store *st, const char *sql, const struct store_val *v, size_t n,
			  const struct store_event *ev, const char *what)
{
	int rc = store_begin(st);

	if (rc == SQLITE_OK)
		rc = store_exec(st, sql, v, n);
	if (rc == SQLITE_OK && sqlite3_changes(st->db) == 0)
		rc = SQLITE_CONSTRAINT;
	return store_finish(st, rc, ev, what);
}

enum sw_err store_fault_detail(struct store *st, int64_t id, const char *detail,
			       const struct store_event *ev)
{
	return update(st, "UPDATE faults SET detail = ? WHERE id = ? AND cleared_at IS NULL",
		      STORE_VALS(STORE_T(detail), STORE_I(id)), ev, "updating a fault");
}

enum sw_err store_fault_diagnosis(struct store *st, int64_t id, const char *diagnosis,
				  const struct store_event *ev)
{
	return update(st, "UPDATE faults SET diagnosis = ? WHERE id = ? AND cleared_at IS NULL",
		      STORE_VALS(STORE_T(diagnosis), STORE_I(id)), ev, "recording a diagnosis");
}

enum sw_err store_fault_ticket(struct store *st, int64_t id, const struct store_event *ev)
{
	return update(st,
		      "UPDATE faults SET level = 3, ticket_at = coalesce(ticket_at, ?1), announced_at = ?1"
		      " WHERE id = ?2 AND cleared_at IS NULL",
		      STORE_VALS(STORE_I(store_now_ms()), STORE_I(id)), ev, "opening a fault's ticket");
}

enum sw_err store_fault_ack(struct store *st, int64_t id, const char *who,
			    const struct store_event *ev)
{
	return update(st,
		      "UPDATE faults SET ack_at = ?, ack_by = ? WHERE id = ? AND ticket_at IS NOT NULL"
		      " AND ack_at IS NULL AND cleared_at IS NULL",
		      STORE_VALS(STORE_I(store_now_ms()), STORE_T(who), STORE_I(id)), ev,
		      "acknowledging a ticket");
}

enum sw_err store_fault_clear(struct store *st, int64_t id, const char *how,
			      const struct store_event *ev)
{
	return update(st, "UPDATE faults SET cleared_at = ?, how = ? WHERE id = ? AND cleared_at IS NULL",
		      STORE_VALS(STORE_I(store_now_ms()), STORE_T(how), STORE_I(id)), ev,
		      "clearing a fault");
}

enum sw_err store_fault_action(struct store *st, int64_t id, const char *action,
			       const char *outcome, const struct store_event *ev)
{
	int rc = store_begin(st);

	if (rc == SQLITE_OK)
		rc = store_exec(st, "INSERT INTO fault_actions (fault, at, action, outcome) VALUES (?, ?, ?, ?)",
				STORE_VALS(STORE_I(id), STORE_I(store_now_ms()), STORE_T(action),
					   STORE_T(outcome)));
	return store_finish(st, rc, ev, "recording a fault's action");
}

#define FAULT_COLUMNS "id, code, slot, battery, level, detail, raised_at, coalesce(ticket_at, 0)," \
	" coalesce(announced_at, 0), ack_at IS NOT NULL, ack_by, cleared_at, how, diagnosis"

static void fault_row(sqlite3_stmt *s, struct store_fault *f)
{
	f->id = sqlite3_column_int64(s, 0);
	f->code = (const char *)sqlite3_column_text(s, 1);
	f->slot = sqlite3_column_int(s, 2);
	f->battery = (uint64_t)sqlite3_column_int64(s, 3);
	f->level = sqlite3_column_int(s, 4);
	f->detail = (const char *)sqlite3_column_text(s, 5);
	f->raised_at = sqlite3_column_int64(s, 6);
	f->ticket_at = sqlite3_column_int64(s, 7);
	f->announced_at = sqlite3_column_int64(s, 8);
	f->acked = sqlite3_column_int(s, 9);
	f->diagnosis = (const char *)sqlite3_column_text(s, 13);
}

/* Calls fn for every row of sql, its ?1 bound to arg1. */
static enum sw_err each(struct store *st, const char *sql, int64_t arg1,
			void (*fn)(const struct store_fault *f, void *arg), void *arg)
{
	sqlite3_stmt *s;
	struct store_fault f;
	int rc = store_stmt(st, sql, &s);

	if (rc == SQLITE_OK)
		rc = store_bind(s, STORE_VALS(STORE_I(arg1)));
	while (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		fault_row(s, &f);
		fn(&f, arg);
		rc = SQLITE_OK;
	}
	if (s)
		store_done(s);
	return rc == SQLITE_DONE ? SW_OK : store_fail(st, rc, "reading the faults");
}

enum sw_err store_faults_open(struct store *st, void (*fn)(const struct store_fault *f, void *arg),
			      void *arg)
{
	return each(st, "SELECT " FAULT_COLUMNS " FROM faults WHERE cleared_at IS NULL AND ?1 ORDER BY id",
		    1, fn, arg);
}

enum sw_err store_faults_since(struct store *st, int64_t since_ms,
			       void (*fn)(const struct store_fault *f, void *arg), void *arg)
{
	return each(st, "SELECT " FAULT_COLUMNS " FROM faults WHERE raised_at >= ?1 ORDER BY id",
		    since_ms, fn, arg);
}

static json_object *actions_json(struct store *st, int64_t id)
{
	sqlite3_stmt *s;
	json_object *a = json_object_new_array();
	/* the newest 16: enough to see a pattern of retries */
	int rc = store_stmt(st, "SELECT action, outcome, at FROM fault_actions WHERE fault = ?"
				" ORDER BY rowid DESC LIMIT 16", &s);

	if (rc == SQLITE_OK)
		rc = store_bind(s, STORE_VALS(STORE_I(id)));
	while (rc == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW) {
		json_object *o = json_object_new_object();
		json_object_object_add(o, "action", json_object_new_string((const char *)sqlite3_column_text(s, 0)));
		json_object_object_add(o, "outcome", json_object_new_string((const char *)sqlite3_column_text(s, 1)));
		json_object_object_add(o, "at", json_object_new_int64(sqlite3_column_int64(s, 2)));
		json_object_array_add(a, o);
	}
	if (s)
		store_done(s);
	return a;
}

static json_object *ticket_json(sqlite3_stmt *s, const struct store_fault *f)
{
	char name[24];

	if (!f->ticket_at)
		return NULL;
	json_object *t = json_object_new_object();
	const char *by = (const char *)sqlite3_column_text(s, 10);
	const char *state = sqlite3_column_type(s, 11) != SQLITE_NULL ? "closed"
			    : f->acked ? "acknowledged" : "open";
	snprintf(name, sizeof name, "F%" PRId64, f->id);
	json_object_object_add(t, "ticket", json_object_new_string(name));
	json_object_object_add(t, "state", json_object_new_string(state));
	json_object_object_add(t, "by", by ? json_object_new_string(by) : NULL);
	json_object_object_add(t, "opened_at", json_object_new_int64(f->ticket_at));
	return t;
}

static json_object *row_json(struct store *st, sqlite3_stmt *s)
{
	struct store_fault f;
	char name[24];
	json_object *o = json_object_new_object();

	fault_row(s, &f);
	snprintf(name, sizeof name, "BAT-%05" PRIu64, f.battery);
	json_object_object_add(o, "fault", json_object_new_int64(f.id));
	json_object_object_add(o, "code", json_object_new_string(f.code));
	json_object_object_add(o, "level", json_object_new_int(f.level));
	json_object_object_add(o, "slot", f.slot ? json_object_new_int(f.slot) : NULL);
	json_object_object_add(o, "battery", f.battery ? json_object_new_string(name) : NULL);
	json_object_object_add(o, "detail", json_object_new_string(f.detail ? f.detail : ""));
	json_object_object_add(o, "since", json_object_new_int64(f.raised_at));
	json_object_object_add(o, "age_s", json_object_new_int64((store_now_ms() - f.raised_at) / 1000));
	json_object_object_add(o, "actions", actions_json(st, f.id));
	/* written by this swapd (fault_diag_json()); unreadable text shows as none */
	json_object_object_add(o, "diagnosis", f.diagnosis ? json_tokener_parse(f.diagnosis) : NULL);
	json_object_object_add(o, "ticket", ticket_json(s, &f));
	if (sqlite3_column_type(s, 11) != SQLITE_NULL) {
		json_object_object_add(o, "cleared_at", json_object_new_int64(sqlite3_column_int64(s, 11)));
		json_object_object_add(o, "how", json_object_new_string((const char *)sqlite3_column_text(s, 12)));
	}
	return o;
}

json_object *store_faults_json(struct store *st, bool all, int max)
{
	sqlite3_stmt *s;
	json_object *a = json_object_new_array();
	int rc = store_stmt(st, "SELECT " FAULT_COLUMNS " FROM faults WHERE ?1 OR cleared_at IS NULL"
				" ORDER BY id DESC LIMIT ?2", &s);

	if (rc == SQLITE_OK)
		rc = store_bind(s, STORE_VALS(STORE_I(all), STORE_I(max)));
	while (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		/* the actions' statement is another one: this one stays on its row */
		json_object_array_add(a, row_json(st, s));
		rc = SQLITE_OK;
	}
	if (s)
		store_done(s);
	if (rc != SQLITE_DONE) {
		store_fail(st, rc, "reading the faults");
		json_object_put(a);
		return NULL;
	}
	return a;
}
