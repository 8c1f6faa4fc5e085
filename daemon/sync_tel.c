/* Fleet telemetry (mqtt.md "Telemetry"; DESIGN.md, "Fleet sync").
 *
 * One timer: while connected it publishes the live message every
 * sync.telemetry_interval_s at QoS 0 (a lost one is replaced by the next);
 * otherwise it keeps a sample every sync.offline_telemetry_interval_s in
 * the store's bounded telemetry_history. After a reconnect, once the event
 * backlog has drained (sync.c's pump calls sync_tel_pump() when no event
 * waits), the kept samples go out at QoS 1 with "historical":true, oldest
 * first, through a window of sync.inflight, each deleted on its PUBACK. */
#include "daemon/sync_tel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mosquitto.h>

#include "daemon/log.h"
#include "daemon/queue.h"
#include "daemon/slots.h"
#include "daemon/store_history.h"
#include "daemon/sync_priv.h"
#include "daemon/text.h"
#include "drivers/rack.h"

#define RETRY_MS 1000

static struct {
	char topic[64];
	struct loop_timer tick, flush;
	struct sync_flight *win;   /* historical samples in flight; seq is the row id */
	int nwin;
	int64_t sent_id;           /* highest row handed over this connection */
	int64_t *acked;            /* acknowledged, not yet deleted (cfg.inflight) */
	int nacked;
	uint64_t live, kept, historical;
} tel;

/* The contract's slot keys, taken from the slot table's own view so that
 * a value is at its register's resolution and a missing one stays out. */
static json_object *slot_sample(json_object *s)
{
	static const char *const keys[] = { "slot", "state", "battery", "soc", "soh", "v", "i", "t",
					    "door" };
	json_object *o = json_object_new_object(), *v = NULL, *faults = NULL;

	for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
		if (json_object_object_get_ex(s, keys[k], &v))
			json_object_object_add(o, keys[k], json_object_get(v));
	/* fault: the first fault the controller reports, or null; every one
	 * of them in faults. */
	json_object_object_get_ex(s, "faults", &faults);
	json_object *first = faults && json_object_array_length(faults) ?
			     json_object_array_get_idx(faults, 0) : NULL;
	json_object_object_add(o, "fault", json_object_get(first));
	json_object_object_add(o, "faults", faults ? json_object_get(faults) : json_object_new_array());
	/* A value is never republished as fresh when it is not (mqtt.md): an
	 * offline slot's last values carry the time they were read. */
	json_object_object_get_ex(s, "state", &v);
	if (v && strcmp(json_object_get_string(v), "offline") == 0 &&
	    json_object_object_get_ex(s, "read_at", &v))
		json_object_object_add(o, "read_at", json_object_get(v));
	return o;
}

/* mqtt.md's telemetry message: ts, queue, charged, power_kw (the charging
 * slots' v * i), slots; "clock":"unsynced" while the clock is not. */
static json_object *telemetry_json(int64_t now)
{
	json_object *o = json_object_new_object(), *slots = json_object_new_array();
	json_object *view = slots_json(), *q = queue_json(), *v = NULL;
	char t[TEXT_TIME_LEN], kw[32];
	int charged = 0;
	double w = 0;

	for (int i = 0; i < slots_count(); i++) {
		const struct rack_reading *r = rack_reading(i);
		charged += slots_state(i) == SLOT_CHARGED;
		if (slots_state(i) == SLOT_CHARGING)
			w += r->voltage * r->current;
	}
	for (size_t k = 0; k < json_object_array_length(view); k++)
		json_object_array_add(slots, slot_sample(json_object_array_get_idx(view, k)));
	json_object_object_add(o, "ts", json_object_new_string(text_time(now, t, sizeof t)));
	json_object_object_get_ex(q, "waiting", &v);
	json_object_object_add(o, "queue", json_object_new_int(json_object_get_int(v)));
	json_object_object_add(o, "charged", json_object_new_int(charged));
	snprintf(kw, sizeof kw, "%.2f", w / 1000);
	json_object_object_add(o, "power_kw", json_object_new_double_s(strtod(kw, NULL), kw));
	json_object_object_add(o, "slots", slots);
	if (!loop_wall_synced())
		json_object_object_add(o, "clock", json_object_new_string("unsynced"));
	json_object_put(view);
	json_object_put(q);
	return o;
}

static int publish(int *mid, json_object *o, int qos)
{
	const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	int rc = mosquitto_publish(sync_m.m, mid, tel.topic, (int)strlen(s), s, qos, false);

	if (rc != MOSQ_ERR_SUCCESS) {
		snprintf(sync_m.last_error, sizeof sync_m.last_error, "publish telemetry: %s",
			 mosquitto_strerror(rc));
		sync_m.broken = true;
	}
	return rc;
}

/* Live while connected; kept in the store while not. A failed write is
 * the store's health, and the sample is only missed. */
static void tick(void *arg)
{
	int64_t now = loop_wall_ms();
	json_object *o = telemetry_json(now);

	(void)arg;
	if (sync_m.link == SYNC_CONNECTED && !sync_m.broken) {
		if (publish(NULL, o, 0) == MOSQ_ERR_SUCCESS) {
			tel.live++;
			loop_set_events(sync_m.fd, POLLIN | (mosquitto_want_write(sync_m.m) ?
							     POLLOUT : 0));
		}
		loop_timer_arm(&tel.tick, (int64_t)sync_m.cfg.telemetry_interval_s * 1000);
	} else {
		const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
		if (store_history_add(sync_m.store, now, s, sync_m.cfg.offline_telemetry_max,
				      NULL) == SW_OK)
			tel.kept++;
		loop_timer_arm(&tel.tick, (int64_t)sync_m.cfg.offline_telemetry_interval_s * 1000);
	}
	json_object_put(o);
}

/* Hands one kept sample to libmosquitto at QoS 1, marked historical. */
static int send_row(const struct store_history_row *r, void *arg)
{
	json_object *o = json_tokener_parse(r->payload);
	int mid = 0;

	(void)arg;
	if (!o || !json_object_is_type(o, json_type_object)) {
		/* Only damage makes a row that is not an object: skip it (it
		 * goes with the next delete), it carries nothing to send. */
		log_msg(LOG_ERR, "sync: kept telemetry row %lld is not a JSON object; dropped",
			(long long)r->id);
		json_object_put(o);
		tel.acked[tel.nacked++] = r->id;
		loop_timer_arm(&tel.flush, 0);
		tel.sent_id = r->id;
		return tel.nwin + tel.nacked >= sync_m.cfg.inflight;
	}
	json_object_object_add(o, "historical", json_object_new_boolean(true));
	int rc = publish(&mid, o, 1);
	json_object_put(o);
	if (rc != MOSQ_ERR_SUCCESS)
		return 1;
	tel.win[tel.nwin++] = (struct sync_flight){ mid, r->id };
	tel.sent_id = r->id;
	return 0;
}

void sync_tel_pump(void)
{
	/* in flight and acknowledged-not-deleted share acked's room */
	int room = sync_m.cfg.inflight - tel.nwin - tel.nacked;

	if (sync_m.broken || room <= 0)
		return;
	if (store_history_read(sync_m.store, tel.sent_id, room, send_row, NULL) != SW_OK)
		loop_timer_arm(&sync_m.pump, RETRY_MS); /* the store's trouble is its health */
}

/* Deletes what the broker acknowledged, one transaction per loop round; a
 * failure keeps them to delete later (at worst they are sent again). */
static void flush(void *arg)
{
	(void)arg;
	if (!tel.nacked)
		return;
	if (store_history_delete(sync_m.store, tel.acked, (size_t)tel.nacked) != SW_OK) {
		loop_timer_arm(&tel.flush, RETRY_MS);
		return;
	}
	tel.nacked = 0;
	if (sync_m.link == SYNC_CONNECTED)
		loop_timer_arm(&sync_m.pump, 0);
}

void sync_tel_acked(int mid)
{
	for (int i = 0; i < tel.nwin; i++) {
		if (tel.win[i].mid != mid)
			continue;
		tel.acked[tel.nacked++] = tel.win[i].seq;
		memmove(&tel.win[i], &tel.win[i + 1], (size_t)(tel.nwin - i - 1) * sizeof tel.win[0]);
		tel.nwin--;
		tel.historical++;
		loop_timer_arm(&tel.flush, 0);
		return;
	}
}

void sync_tel_connected(void)
{
	flush(NULL);
	tel.nwin = 0;
	tel.sent_id = 0;
	loop_timer_arm(&tel.tick, (int64_t)sync_m.cfg.telemetry_interval_s * 1000);
}

void sync_tel_json(json_object *o)
{
	int64_t kept = 0;

	store_history_count(sync_m.store, &kept); /* a failure is the store's health */
	json_object *t = json_object_new_object();
	json_object_object_add(t, "interval_s", json_object_new_int(sync_m.cfg.telemetry_interval_s));
	json_object_object_add(t, "kept", json_object_new_int64(kept));
	json_object_object_add(t, "historical_inflight", json_object_new_int(tel.nwin));
	json_object_object_add(t, "live_sent", json_object_new_int64((int64_t)tel.live));
	json_object_object_add(t, "samples_kept", json_object_new_int64((int64_t)tel.kept));
	json_object_object_add(t, "historical_acknowledged",
			       json_object_new_int64((int64_t)tel.historical));
	json_object_object_add(o, "telemetry", t);
}

enum sw_err sync_tel_start(void)
{
	snprintf(tel.topic, sizeof tel.topic, "swap/v1/%s/telemetry", sync_m.sid);
	tel.win = calloc((size_t)sync_m.cfg.inflight, sizeof *tel.win);
	tel.acked = calloc((size_t)sync_m.cfg.inflight, sizeof *tel.acked);
	if (!tel.win || !tel.acked)
		return SW_ENOMEM;
	loop_timer_init(&tel.tick, tick, NULL);
	loop_timer_init(&tel.flush, flush, NULL);
	loop_timer_arm(&tel.tick, (int64_t)sync_m.cfg.telemetry_interval_s * 1000);
	return SW_OK;
}

void sync_tel_stop(void)
{
	flush(NULL);
	loop_timer_cancel(&tel.tick);
	loop_timer_cancel(&tel.flush);
	free(tel.win);
	free(tel.acked);
	memset(&tel, 0, sizeof tel);
}
