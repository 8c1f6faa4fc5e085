/* The fleet outbox (mqtt.md, "Events"): each event is appended with its seq
 * in the transaction of the change that causes it; the MQTT link will read
 * the oldest and delete what the fleet acknowledged. seq is an AUTOINCREMENT
 * key, so it is never reused even after its event is deleted. */
#include "daemon/store.h"
#include "daemon/store_priv.h"

#include <json-c/json.h>

int store_outbox_put(struct store *st, const struct store_event *ev)
{
	const char *payload = json_object_to_json_string_ext(ev->payload, JSON_C_TO_STRING_PLAIN);

	return store_exec(st, "INSERT INTO outbox (type, ts, boot, payload) VALUES (?, ?, ?, ?)",
			  STORE_VALS(STORE_T(ev->type), STORE_I(store_now_ms()), STORE_T(ev->boot),
				     STORE_T(payload)));
}

enum sw_err store_outbox_add(struct store *st, const struct store_event *ev)
{
	return store_finish(st, store_begin(st), ev, "writing a fleet event");
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
