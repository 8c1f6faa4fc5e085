/* The messages of fleet sync (mqtt.md: status, birth, events) and the
 * `sync` command that shows the link. */
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "daemon/command.h"
#include "daemon/control.h"
#include "daemon/loop.h"
#include "daemon/slots.h"
#include "daemon/sync_priv.h"
#include "daemon/sync_tel.h"
#include "daemon/text.h"
#include "drivers/rack.h"

static json_object *time_json(int64_t ms)
{
	char t[TEXT_TIME_LEN];

	return ms ? json_object_new_string(text_time(ms, t, sizeof t)) : NULL;
}

json_object *sync_status_json(bool online)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "online", json_object_new_boolean(online));
	json_object_object_add(o, "boot", json_object_new_string(sync_m.boot));
	if (online) {
		json_object_object_add(o, "since", time_json(sync_m.connected_ms));
		json_object_object_add(o, "version", json_object_new_string(SWAPD_VERSION));
	}
	return o;
}

static json_object *slot_json(int i)
{
	const struct rack_reading *r = rack_reading(i);
	json_object *o = json_object_new_object();
	char bat[24];

	json_object_object_add(o, "slot", json_object_new_int(slots_number(i)));
	json_object_object_add(o, "state", json_object_new_string(slots_state_name(slots_state(i))));
	snprintf(bat, sizeof bat, "BAT-%05llu", (unsigned long long)r->battery_id);
	json_object_object_add(o, "battery",
			       r->present && r->battery_id ? json_object_new_string(bat) : NULL);
	json_object_object_add(o, "firmware", r->have[RF_FW_VERSION] ?
			       json_object_new_int(r->fw_version) : NULL);
	return o;
}

json_object *sync_birth_json(void)
{
	json_object *o = json_object_new_object(), *slots = json_object_new_array();
	struct store_stats ss = { 0 };

	store_stats(sync_m.store, &ss); /* a failure is the store's health */
	json_object_object_add(o, "boot", json_object_new_string(sync_m.boot));
	json_object_object_add(o, "version", json_object_new_string(SWAPD_VERSION));
	json_object_object_add(o, "station", json_object_new_string(sync_m.sid));
	json_object_object_add(o, "seq_next", json_object_new_int64(ss.seq_next));
	for (int i = 0; i < slots_count(); i++)
		json_object_array_add(slots, slot_json(i));
	json_object_object_add(o, "slots", slots);
	/* No on-station models exist yet (fault analysis, level 2): an empty
	 * list, which the contract allows, rather than invented entries. */
	json_object_object_add(o, "models", json_object_new_array());
	json_object_object_add(o, "config_digest", json_object_new_string(sync_m.digest));
	if (!loop_wall_synced())
		json_object_object_add(o, "clock", json_object_new_string("unsynced"));
	return o;
}

json_object *sync_event_json(const struct store_outbox_row *r)
{
	json_object *payload = json_tokener_parse(r->payload);
	char id[48];

	if (!payload || !json_object_is_type(payload, json_type_object)) {
		json_object_put(payload);
		return NULL;
	}
	json_object *o = json_object_new_object();
	snprintf(id, sizeof id, "%s:%lld", sync_m.sid, (long long)r->seq);
	json_object_object_add(o, "seq", json_object_new_int64(r->seq));
	json_object_object_add(o, "id", json_object_new_string(id));
	json_object_object_add(o, "type", json_object_new_string(r->type));
	json_object_object_add(o, "ts", time_json(r->ts));
	json_object_object_add(o, "boot", json_object_new_string(r->boot));
	/* The common fields are the contract's; a payload never names them,
	 * and if one did, the contract's value stays. */
	json_object_object_foreach(payload, k, v)
		if (!json_object_object_get_ex(o, k, NULL))
			json_object_object_add(o, k, json_object_get(v));
	json_object_put(payload);
	return o;
}

static const char *link_name(enum sync_link l)
{
	static const char *const names[] = { "disabled", "waiting", "connecting", "connected" };
	return names[l];
}

static int note_oldest(const struct store_outbox_row *r, void *arg)
{
	*(int64_t *)arg = r->seq;
	return 1;
}

static json_object *cmd_sync(const struct control_req *req)
{
	json_object *o = json_object_new_object();
	int64_t oldest = 0;

	(void)req;
	json_object_object_add(o, "state", json_object_new_string(link_name(sync_m.link)));
	if (sync_m.link == SYNC_OFF)
		return control_ok(o);
	store_outbox_read(sync_m.store, 0, 1, note_oldest, &oldest);
	char broker[300];
	snprintf(broker, sizeof broker, "%s:%d", sync_m.cfg.host, sync_m.cfg.port);
	json_object_object_add(o, "broker", json_object_new_string(broker));
	json_object_object_add(o, "tls", json_object_new_boolean(sync_m.cfg.cafile[0] != '\0'));
	json_object_object_add(o, "client_id", json_object_new_string(sync_m.cfg.client_id));
	json_object_object_add(o, "outbox", json_object_new_int64(sync_m.depth));
	json_object_object_add(o, "outbox_cap", json_object_new_int(sync_m.cfg.outbox_cap));
	json_object_object_add(o, "outbox_full", json_object_new_boolean(sync_m.full));
	json_object_object_add(o, "oldest_unacked", oldest ? json_object_new_int64(oldest) : NULL);
	json_object_object_add(o, "inflight", json_object_new_int(sync_m.nwin));
	json_object_object_add(o, "window", json_object_new_int(sync_m.cfg.inflight));
	json_object_object_add(o, "last_puback", time_json(sync_m.last_puback_ms));
	json_object_object_add(o, "connected_since", sync_m.link == SYNC_CONNECTED ?
			       time_json(sync_m.connected_ms) : NULL);
	json_object_object_add(o, "reconnects", json_object_new_int64((int64_t)sync_m.reconnects));
	json_object_object_add(o, "published", json_object_new_int64((int64_t)sync_m.published));
	json_object_object_add(o, "acknowledged",
			       json_object_new_int64((int64_t)sync_m.acknowledged));
	if (sync_m.link == SYNC_WAITING)
		json_object_object_add(o, "retry_in_ms", json_object_new_int64(
					       sync_m.retry_at > loop_now() ? sync_m.retry_at - loop_now() : 0));
	json_object_object_add(o, "last_error", sync_m.last_error[0] ?
			       json_object_new_string(sync_m.last_error) : NULL);
	sync_tel_json(o);
	return control_ok(o);
}

static const struct command sync_table[] = {
	{ .name = "sync", .level = LEVEL_VIEWER, .fn = cmd_sync,
	  .help = "fleet sync: broker link, outbox depth, oldest unacknowledged seq, last PUBACK, reconnects" },
};

enum sw_err sync_commands(char *why, size_t whylen)
{
	return command_register(sync_table, COMMAND_ROWS(sync_table), why, whylen);
}
