/* Tokens (token.md): the single-use marks of accepted S and T nonces, the
 * fleet's revocation list (both purged once their token could no longer
 * verify anyway), and the record of every scan with its result, a ring
 * bounded by tokens.scan_history. Never the mac or the whole token. */
#include "daemon/store.h"
#include "daemon/store_priv.h"

#include <json-c/json.h>

/* A read-only check, for the token checks: *found is the answer. */
static enum sw_err exists(struct store *st, const char *sql, const char *nonce, bool *found)
{
	int64_t n = 0;
	int rc = store_query_int(st, sql, STORE_VALS(STORE_T(nonce)), 0, &n);

	*found = n != 0;
	return rc == SQLITE_OK ? SW_OK : store_fail(st, rc, "reading the token tables");
}

enum sw_err store_token_used(struct store *st, const char *nonce, bool *used)
{
	return exists(st, "SELECT count(*) FROM token_used WHERE nonce = ?", nonce, used);
}

enum sw_err store_token_revoked(struct store *st, const char *nonce, bool *revoked)
{
	return exists(st, "SELECT count(*) FROM token_revoked WHERE nonce = ?", nonce, revoked);
}

/* The scan's row; kind, subject, nonce and exp are NULL for a line that
 * did not parse. */
static int add_scan(struct store *st, int64_t t, const struct store_scan *s, int64_t keep_rows)
{
	bool parsed = s->kind[0] != '\0';
	int rc = store_exec(st,
			    "INSERT INTO scans (ts, source, result, kind, subject, nonce, exp)"
			    " VALUES (?, ?, ?, ?, ?, ?, ?)",
			    STORE_VALS(STORE_I(t), STORE_T(s->source), STORE_T(s->result),
				       STORE_T(parsed ? s->kind : NULL), STORE_T(parsed ? s->subject : NULL),
				       STORE_T(parsed ? s->nonce : NULL),
				       parsed ? STORE_I(s->exp) : STORE_NULL));

	if (rc == SQLITE_OK)
		rc = store_exec(st, "DELETE FROM scans WHERE id <= (SELECT max(id) FROM scans) - ?",
				STORE_VALS(STORE_I(keep_rows)));
	return rc;
}

enum sw_err store_scan(struct store *st, const struct store_scan *s, int64_t keep_rows,
		       const struct store_event *ev)
{
	int64_t t = store_now_ms();
	int rc = store_begin(st);

	if (rc == SQLITE_OK && s->mark_used)
		/* The single-use mark: a plain INSERT, so a nonce marked by
		 * someone else in the meantime fails the whole transaction. */
		rc = store_exec(st, "INSERT INTO token_used (nonce, kind, exp, used_at) VALUES (?, ?, ?, ?)",
				STORE_VALS(STORE_T(s->nonce), STORE_T(s->kind), STORE_I(s->exp),
					   STORE_I(t)));
	if (rc == SQLITE_OK)
		rc = add_scan(st, t, s, keep_rows);
	return store_finish(st, rc, ev, "recording a scan");
}

enum sw_err store_token_revoke(struct store *st, const char *nonce, int64_t exp,
			       const struct store_event *ev)
{
	int rc = store_begin(st);

	if (rc == SQLITE_OK)
		rc = store_exec(st, "INSERT OR REPLACE INTO token_revoked (nonce, exp, added_at) VALUES (?, ?, ?)",
				STORE_VALS(STORE_T(nonce), STORE_I(exp), STORE_I(store_now_ms())));
	return store_finish(st, rc, ev, "recording a revocation");
}

enum sw_err store_token_purge(struct store *st, int64_t now_s, int64_t skew_s,
			      const struct store_event *ev)
{
	int rc = store_begin(st);

	/* A mark or revocation can go once its token would be expired
	 * anyway (step 5 rejects it before steps 7 and 8 are reached). */
	if (rc == SQLITE_OK)
		rc = store_exec(st, "DELETE FROM token_used WHERE exp + ? < ?",
				STORE_VALS(STORE_I(skew_s), STORE_I(now_s)));
	if (rc == SQLITE_OK)
		rc = store_exec(st, "DELETE FROM token_revoked WHERE exp + ? < ?",
				STORE_VALS(STORE_I(skew_s), STORE_I(now_s)));
	return store_finish(st, rc, ev, "purging token marks");
}

/* One scans row as JSON: what store_scans_recent() lists. */
static json_object *scan_json(sqlite3_stmt *stmt)
{
	static const char *const names[] = { "kind", "subject", "nonce" };
	json_object *o = json_object_new_object();

	json_object_object_add(o, "ts_ms", json_object_new_int64(sqlite3_column_int64(stmt, 0)));
	json_object_object_add(o, "source", json_object_new_string((const char *)sqlite3_column_text(stmt, 1)));
	json_object_object_add(o, "result", json_object_new_string((const char *)sqlite3_column_text(stmt, 2)));
	for (int c = 0; c < 3; c++) {
		const unsigned char *v = sqlite3_column_text(stmt, 3 + c);
		json_object_object_add(o, names[c], v ? json_object_new_string((const char *)v) : NULL);
	}
	if (sqlite3_column_type(stmt, 6) != SQLITE_NULL)
		json_object_object_add(o, "exp", json_object_new_int64(sqlite3_column_int64(stmt, 6)));
	return o;
}

json_object *store_scans_recent(struct store *st, int limit)
{
	json_object *arr = json_object_new_array();
	sqlite3_stmt *stmt;

	if (store_stmt(st, "SELECT ts, source, result, kind, subject, nonce, exp FROM scans"
			   " ORDER BY id DESC LIMIT ?", &stmt) != SQLITE_OK)
		return arr;
	if (store_bind(stmt, STORE_VALS(STORE_I(limit))) == SQLITE_OK)
		while (sqlite3_step(stmt) == SQLITE_ROW)
			json_object_array_add(arr, scan_json(stmt));
	store_done(stmt);
	return arr;
}
