/* The fleet commands' replies, kept for idempotency (mqtt.md "Commands";
 * store_cmd.h). */
#include "daemon/store_cmd.h"
#include "daemon/store_priv.h"

#include <stdlib.h>
#include <string.h>

static char *col_text(sqlite3_stmt *s, int col)
{
	const unsigned char *t = sqlite3_column_text(s, col);

	return strdup(t ? (const char *)t : "");
}

enum sw_err store_cmd_get(struct store *st, const char *id, bool *found, char **request,
			  char **reply)
{
	sqlite3_stmt *s;
	int rc = store_stmt(st, "SELECT request, reply FROM cmd_replies WHERE id = ?", &s);

	*found = false;
	*request = *reply = NULL;
	if (rc == SQLITE_OK)
		rc = store_bind(s, STORE_VALS(STORE_T(id)));
	if (rc == SQLITE_OK) {
		rc = sqlite3_step(s);
		if (rc == SQLITE_ROW) {
			*request = col_text(s, 0);
			*reply = col_text(s, 1);
			rc = *request && *reply ? SQLITE_DONE : SQLITE_NOMEM;
			*found = rc == SQLITE_DONE;
		}
	}
	if (s)
		store_done(s);
	if (rc == SQLITE_DONE)
		return SW_OK;
	free(*request);
	free(*reply);
	*request = *reply = NULL;
	return store_fail(st, rc, "reading a command's reply");
}

enum sw_err store_cmd_put(struct store *st, const char *id, const char *request,
			  const char *reply, const struct store_event *ev)
{
	int rc = store_begin(st);

	if (rc == SQLITE_OK)
		rc = store_exec(st, "INSERT INTO cmd_replies (id, request, reply, at) VALUES (?, ?, ?, ?)",
				STORE_VALS(STORE_T(id), STORE_T(request), STORE_T(reply),
					   STORE_I(store_now_ms())));
	return store_finish(st, rc, ev, "recording a fleet command's reply");
}

enum sw_err store_cmd_purge(struct store *st, int64_t before_ms)
{
	int rc = store_begin(st);

	if (rc == SQLITE_OK)
		rc = store_exec(st, "DELETE FROM cmd_replies WHERE at < ?",
				STORE_VALS(STORE_I(before_ms)));
	return store_finish(st, rc, NULL, "purging old fleet command replies");
}
