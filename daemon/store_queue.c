/* The queue's rows (store_queue.h): waiting until they leave, then kept
 * with their reason as a short history. */
#include "daemon/store_queue.h"
#include "daemon/store_priv.h"

#include <stdio.h>
#include <string.h>

enum sw_err store_queue_add(struct store *st, const struct store_queue_entry *e, int64_t *ticket,
			    const struct store_event *ev)
{
	int rc = store_begin(st);

	*ticket = 0;
	if (rc == SQLITE_OK)
		rc = store_exec(st,
				"INSERT INTO queue (user, nonce, source, joined_at, eta_at, exp, eta_s,"
				" arrival, distance_m, arrival_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
				STORE_VALS(STORE_T(e->user), STORE_T(e->nonce), STORE_T(e->source),
					   STORE_I(e->joined_at), STORE_I(e->eta_at), STORE_I(e->exp),
					   STORE_I(e->eta_s), STORE_T(e->arrival),
					   e->distance_m >= 0 ? STORE_I(e->distance_m) : STORE_NULL,
					   e->arrival_at ? STORE_I(e->arrival_at) : STORE_NULL));
	if (rc == SQLITE_OK)
		*ticket = sqlite3_last_insert_rowid(st->db);
	return store_finish(st, rc, ev, "adding to the queue");
}

enum sw_err store_queue_arrival(struct store *st, int64_t ticket, const char *arrival,
				int distance_m, int64_t at, const struct store_event *ev)
{
	int rc = store_begin(st);

	if (rc == SQLITE_OK)
		rc = store_exec(st,
				"UPDATE queue SET arrival = ?, distance_m = ?, arrival_at = ?"
				" WHERE ticket = ? AND left_at IS NULL",
				STORE_VALS(STORE_T(arrival), STORE_I(distance_m), STORE_I(at),
					   STORE_I(ticket)));
	return store_finish(st, rc, ev, "recording a queue arrival");
}

enum sw_err store_queue_leave(struct store *st, int64_t ticket, const char *reason,
			      const struct store_event *ev)
{
	int rc = store_begin(st);

	if (rc == SQLITE_OK)
		rc = store_exec(st,
				"UPDATE queue SET left_at = ?, reason = ? WHERE ticket = ? AND left_at IS NULL",
				STORE_VALS(STORE_I(store_now_ms()), STORE_T(reason), STORE_I(ticket)));
	if (rc == SQLITE_OK)
		rc = store_exec(st,
				"DELETE FROM queue WHERE left_at IS NOT NULL AND ticket <= (SELECT ticket"
				" FROM queue WHERE left_at IS NOT NULL ORDER BY ticket DESC LIMIT 1 OFFSET ?)",
				STORE_VALS(STORE_I(STORE_QUEUE_HISTORY)));
	return store_finish(st, rc, ev, "recording a queue departure");
}

static void copy_text(char *dst, size_t len, sqlite3_stmt *s, int col)
{
	const unsigned char *t = sqlite3_column_text(s, col);

	snprintf(dst, len, "%s", t ? (const char *)t : "");
}

enum sw_err store_queue_load(struct store *st,
			     void (*fn)(const struct store_queue_entry *e, void *arg), void *arg)
{
	struct store_queue_entry e;
	sqlite3_stmt *s;
	int rc = store_stmt(st,
			    "SELECT ticket, user, nonce, source, joined_at, eta_at, exp, eta_s, arrival,"
			    " coalesce(distance_m, -1), coalesce(arrival_at, 0) FROM queue"
			    " WHERE left_at IS NULL ORDER BY ticket", &s);

	if (rc != SQLITE_OK)
		return store_fail(st, rc, "reading the queue");
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		memset(&e, 0, sizeof e);
		e.ticket = sqlite3_column_int64(s, 0);
		copy_text(e.user, sizeof e.user, s, 1);
		copy_text(e.nonce, sizeof e.nonce, s, 2);
		copy_text(e.source, sizeof e.source, s, 3);
		e.joined_at = sqlite3_column_int64(s, 4);
		e.eta_at = sqlite3_column_int64(s, 5);
		e.exp = sqlite3_column_int64(s, 6);
		e.eta_s = sqlite3_column_int(s, 7);
		copy_text(e.arrival, sizeof e.arrival, s, 8);
		e.distance_m = sqlite3_column_int(s, 9);
		e.arrival_at = sqlite3_column_int64(s, 10);
		fn(&e, arg);
	}
	store_done(s);
	return rc == SQLITE_DONE ? SW_OK : store_fail(st, rc, "reading the queue");
}

enum sw_err store_queue_in_swaps(struct store *st, void (*fn)(int64_t ticket, void *arg),
				 void *arg)
{
	sqlite3_stmt *s;
	/* swaps.ticket is the swap flow's record of the ticket it served
	 * (swap.started carries it, mqtt.md). */
	int rc = store_stmt(st, "SELECT ticket FROM queue WHERE left_at IS NULL AND ticket IN"
			" (SELECT ticket FROM swaps) ORDER BY ticket", &s);
	if (rc != SQLITE_OK)
		return store_fail(st, rc, "reading the queue's served tickets");
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		fn(sqlite3_column_int64(s, 0), arg);
	store_done(s);
	return rc == SQLITE_DONE ? SW_OK : store_fail(st, rc, "reading the queue's served tickets");
}

static json_object *text_json(sqlite3_stmt *s, int col)
{
	const unsigned char *t = sqlite3_column_text(s, col);

	return t ? json_object_new_string((const char *)t) : NULL;
}

static json_object *left_row(sqlite3_stmt *s)
{
	json_object *o = json_object_new_object();
	int64_t joined = sqlite3_column_int64(s, 3), left = sqlite3_column_int64(s, 4);

	json_object_object_add(o, "ticket", json_object_new_int64(sqlite3_column_int64(s, 0)));
	json_object_object_add(o, "user", text_json(s, 1));
	json_object_object_add(o, "source", text_json(s, 2));
	json_object_object_add(o, "joined_ms", json_object_new_int64(joined));
	json_object_object_add(o, "left_ms", json_object_new_int64(left));
	json_object_object_add(o, "reason", text_json(s, 5));
	json_object_object_add(o, "eta_s", json_object_new_int(sqlite3_column_int(s, 6)));
	json_object_object_add(o, "waited_s", json_object_new_int64((left - joined) / 1000));
	return o;
}

json_object *store_queue_left_json(struct store *st, int limit)
{
	json_object *arr = json_object_new_array();
	sqlite3_stmt *s;

	if (store_stmt(st, "SELECT ticket, user, source, joined_at, left_at, reason, eta_s FROM queue"
		       " WHERE left_at IS NOT NULL ORDER BY left_at DESC, ticket DESC LIMIT ?",
		       &s) != SQLITE_OK)
		return arr;
	if (store_bind(s, STORE_VALS(STORE_I(limit))) == SQLITE_OK)
		while (sqlite3_step(s) == SQLITE_ROW)
			json_object_array_add(arr, left_row(s));
	store_done(s);
	return arr;
}
