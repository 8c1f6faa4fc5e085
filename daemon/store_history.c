/* The fleet's telemetry kept while the broker is unreachable (mqtt.md
 * "Telemetry"; DESIGN.md, "Fleet sync"). Unlike the outbox it is bounded:
 * a sample is a figure of the moment, and the newest are worth most. */
#include "daemon/store_history.h"
#include "daemon/store_priv.h"

enum sw_err store_history_add(struct store *st, int64_t ts, const char *payload, int64_t keep,
			      const struct store_event *ev)
{
	int rc = store_begin(st);

	if (rc == SQLITE_OK)
		rc = store_exec(st, "INSERT INTO telemetry_history (ts, payload) VALUES (?, ?)",
				STORE_VALS(STORE_I(ts), STORE_T(payload)));
	if (rc == SQLITE_OK)
		rc = store_exec(st, "DELETE FROM telemetry_history WHERE id <= "
				"(SELECT max(id) FROM telemetry_history) - ?",
				STORE_VALS(STORE_I(keep)));
	return store_finish(st, rc, ev, "keeping a telemetry sample");
}

enum sw_err store_history_read(struct store *st, int64_t after, int limit,
			       int (*fn)(const struct store_history_row *r, void *arg), void *arg)
{
	sqlite3_stmt *q;
	int rc = store_stmt(st, "SELECT id, ts, payload FROM telemetry_history WHERE id > ? "
				"ORDER BY id LIMIT ?", &q);

	if (rc == SQLITE_OK)
		rc = store_bind(q, STORE_VALS(STORE_I(after), STORE_I(limit)));
	while (rc == SQLITE_OK && (rc = sqlite3_step(q)) == SQLITE_ROW) {
		struct store_history_row r = {
			.id = sqlite3_column_int64(q, 0),
			.ts = sqlite3_column_int64(q, 1),
			.payload = (const char *)sqlite3_column_text(q, 2),
		};
		rc = fn(&r, arg) ? SQLITE_DONE : SQLITE_OK;
	}
	store_done(q);
	return rc == SQLITE_DONE ? SW_OK : store_fail(st, rc, "reading kept telemetry");
}

enum sw_err store_history_delete(struct store *st, const int64_t *ids, size_t n)
{
	int rc = store_begin(st);

	for (size_t i = 0; i < n && rc == SQLITE_OK; i++)
		rc = store_exec(st, "DELETE FROM telemetry_history WHERE id = ?",
				STORE_VALS(STORE_I(ids[i])));
	return store_finish(st, rc, NULL, "deleting published telemetry");
}

enum sw_err store_history_count(struct store *st, int64_t *n)
{
	int rc = store_query_int(st, "SELECT count(*) FROM telemetry_history", NULL, 0, 0, n);

	return rc == SQLITE_OK ? SW_OK : store_fail(st, rc, "counting kept telemetry");
}
