/* The fleet outbox (mqtt.md, "Events"): each event is appended with its seq
 * in the transaction of the change that causes it; the MQTT link (sync.c)
 * reads the oldest and deletes what the broker acknowledged. seq is an
 * AUTOINCREMENT key, so it is never reused even after its event is deleted. */
#include "daemon/store.h"
#include "daemon/store_priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "daemon/loop.h"

#define CLOCK_UNSYNCED "\"clock\":\"unsynced\""

/* An event made while the system clock is not synchronised says so in its
 * payload, stamped now, since its ts may be far off and a later resend
 * must not pretend otherwise (issue 11). The payload is the module's JSON
 * object, so its text ends in '}'; the field goes in before it. */
static char *stamp_clock(const char *payload)
{
	size_t n = strlen(payload);
	char *out = malloc(n + sizeof CLOCK_UNSYNCED + 1);

	if (!out || n < 2 || payload[n - 1] != '}') {
		free(out);
		return NULL;
	}
	bool empty = strspn(payload + 1, " ") == n - 2;
	snprintf(out, n + sizeof CLOCK_UNSYNCED + 1, "%.*s%s" CLOCK_UNSYNCED "}", (int)(n - 1),
		 payload, empty ? "" : ",");
	return out;
}

int store_outbox_put(struct store *st, const struct store_event *ev)
{
	const char *payload = json_object_to_json_string_ext(ev->payload, JSON_C_TO_STRING_PLAIN);
	char *stamped = loop_wall_synced() ? NULL : stamp_clock(payload);

	int rc = store_exec(st, "INSERT INTO outbox (type, ts, boot, payload) VALUES (?, ?, ?, ?)",
			    STORE_VALS(STORE_T(ev->type), STORE_I(store_now_ms()), STORE_T(ev->boot),
				       STORE_T(stamped ? stamped : payload)));
	free(stamped);
	if (rc == SQLITE_OK)
		st->tx_events++;
	return rc;
}

enum sw_err store_outbox_add(struct store *st, const struct store_event *ev)
{
	return store_finish(st, store_begin(st), ev, "writing a fleet event");
}

enum sw_err store_outbox_read(struct store *st, int64_t after, int limit,
			      int (*fn)(const struct store_outbox_row *r, void *arg), void *arg)
{
	sqlite3_stmt *q;
	int rc = store_stmt(st, "SELECT seq, type, ts, boot, payload FROM outbox WHERE seq > ? "
				"ORDER BY seq LIMIT ?", &q);

	if (rc == SQLITE_OK)
		rc = store_bind(q, STORE_VALS(STORE_I(after), STORE_I(limit)));
	while (rc == SQLITE_OK && (rc = sqlite3_step(q)) == SQLITE_ROW) {
		struct store_outbox_row r = {
			.seq = sqlite3_column_int64(q, 0),
			.type = (const char *)sqlite3_column_text(q, 1),
			.ts = sqlite3_column_int64(q, 2),
			.boot = (const char *)sqlite3_column_text(q, 3),
			.payload = (const char *)sqlite3_column_text(q, 4),
		};
		rc = fn(&r, arg) ? SQLITE_DONE : SQLITE_OK;
	}
	store_done(q);
	return rc == SQLITE_DONE ? SW_OK : store_fail(st, rc, "reading the fleet outbox");
}

enum sw_err store_outbox_delete(struct store *st, const int64_t *seqs, size_t n)
{
	int rc = store_begin(st);

	for (size_t i = 0; i < n && rc == SQLITE_OK; i++)
		rc = store_exec(st, "DELETE FROM outbox WHERE seq = ?", STORE_VALS(STORE_I(seqs[i])));
	return store_finish(st, rc, NULL, "deleting acknowledged fleet events");
}

void store_set_outbox_hook(struct store *st, void (*fn)(int added, void *arg), void *arg)
{
	st->outbox_fn = fn;
	st->outbox_arg = arg;
}

int store_outbox_stats(struct store *st, struct store_stats *out)
{
	int rc = store_query_int(st, "SELECT count(*) FROM outbox", NULL, 0, 0, &out->events);

	if (rc == SQLITE_OK)
		rc = store_query_int(st, "SELECT seq FROM sqlite_sequence WHERE name = 'outbox'",
				     NULL, 0, 0, &out->seq_next);
	out->seq_next += 1;
	if (rc == SQLITE_OK)
		rc = store_query_int(st, "SELECT ts FROM outbox ORDER BY seq LIMIT 1", NULL, 0, 0,
				     &out->oldest_ms);
	return rc;
}
