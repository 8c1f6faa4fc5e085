/* Fleet sync's link and outbox (mqtt.md; DESIGN.md, "Fleet sync").
 *
 * libmosquitto runs on swapd's loop, never a thread of its own: its socket
 * is a loop fd (write interest while mosquitto_want_write()), keepalive
 * runs from a one-second timer (mosquitto_loop_misc), and the connect is
 * mosquitto_connect_async() bounded by our own timeout, so a broker that
 * accepts TCP and then says nothing costs a timer, not the loop.
 *
 * Each connection is a fresh client: libmosquitto's queue of unacknowledged
 * messages lives in memory and would be resent on its own after a
 * reconnect, beside ours. The store is the truth: after every connect the
 * outbox is published again from its oldest event, in seq order, at most
 * sync.inflight at a time, and an event is deleted only after its PUBACK. */
#include "daemon/sync.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <mosquitto.h>

#include "daemon/fileio.h"
#include "daemon/health.h"
#include "daemon/log.h"
#include "daemon/swap.h"
#include "daemon/sync_priv.h"
#include "daemon/sync_tel.h"

#define MISC_MS 1000
#define FLUSH_RETRY_MS 1000

struct sync_module sync_m = { .fd = -1 };
static struct log_cond connect_cond; /* connects that fail, logged on change */
static char lib_error[128];          /* libmosquitto's last error log line */

static void connect_now(void *arg);

static void report(void)
{
	if (sync_m.full)
		health_set("sync", HEALTH_FAILED,
			   "outbox full: %lld events waiting (cap %d); new swaps refused",
			   (long long)sync_m.depth, sync_m.cfg.outbox_cap);
	else if (sync_m.link == SYNC_CONNECTED)
		health_set("sync", HEALTH_OK, "connected to %s:%d, %lld events waiting",
			   sync_m.cfg.host, sync_m.cfg.port, (long long)sync_m.depth);
	else
		health_set("sync", HEALTH_DEGRADED, "not connected to %s:%d (%s), %lld events waiting",
			   sync_m.cfg.host, sync_m.cfg.port,
			   sync_m.last_error[0] ? sync_m.last_error : "connecting",
			   (long long)sync_m.depth);
}

/* mqtt.md rule 4: at the cap the fault is raised and swaps are refused;
 * every event stays. Lifted once the backlog is below the cap again. */
static void set_depth(int64_t depth)
{
	bool full = depth >= sync_m.cfg.outbox_cap;

	sync_m.depth = depth < 0 ? 0 : depth;
	if (full != sync_m.full) {
		sync_m.full = full;
		swap_set_outbox_full(full);
		if (full)
			log_msg(LOG_ERR, "sync: the outbox holds %lld events, its cap; new swaps are refused until it drains",
				(long long)depth);
		else
			log_msg(LOG_NOTICE, "sync: the outbox is below its cap again; swaps resume");
		report();
	}
}

bool sync_outbox_full(void)
{
	return sync_m.full;
}

bool sync_connected(void)
{
	return sync_m.link == SYNC_CONNECTED && !sync_m.broken;
}

static void update_events(void)
{
	if (sync_m.fd >= 0)
		loop_set_events(sync_m.fd, POLLIN | (mosquitto_want_write(sync_m.m) ? POLLOUT : 0));
}

/* Lets go of the client, and retries after the backoff: a random delay in
 * its upper half (so stations that lost one broker do not all come back
 * at the same moment), the ceiling doubled each time up to backoff_max_ms. */
static void teardown(const char *why)
{
	if (why)
		snprintf(sync_m.last_error, sizeof sync_m.last_error, "%s", why);
	if (sync_m.fd >= 0)
		loop_del_fd(sync_m.fd);
	sync_m.fd = -1;
	if (sync_m.m)
		mosquitto_destroy(sync_m.m);
	sync_m.m = NULL;
	loop_timer_cancel(&sync_m.timeout);
	loop_timer_cancel(&sync_m.misc);
	loop_timer_cancel(&sync_m.pump);
	if (sync_m.link == SYNC_CONNECTED)
		log_msg(LOG_WARNING, "sync: lost the broker: %s", sync_m.last_error);
	if (sync_m.link == SYNC_CONNECTING) {
		/* TLS says why only in libmosquitto's log (OpenSSL's reason,
		 * "certificate verify failed"): the engineer needs that one. */
		if (lib_error[0])
			snprintf(sync_m.last_error + strlen(sync_m.last_error),
				 sizeof sync_m.last_error - strlen(sync_m.last_error), " (%s)",
				 lib_error);
		log_cond(&connect_cond, 1, LOG_WARNING, "sync: cannot connect to %s:%d: %s",
			 sync_m.cfg.host, sync_m.cfg.port, sync_m.last_error);
	}
	sync_m.nwin = 0;
	sync_m.broken = false;
	sync_m.link = SYNC_WAITING;
	uint32_t r = 0;
	if (getrandom(&r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r)
		r = (uint32_t)loop_now();
	int64_t delay = sync_m.backoff_ms / 2 + (int64_t)(r % (uint32_t)(sync_m.backoff_ms / 2 + 1));
	sync_m.backoff_ms = sync_m.backoff_ms * 2 > sync_m.cfg.backoff_max_ms ?
			    sync_m.cfg.backoff_max_ms : sync_m.backoff_ms * 2;
	sync_m.retry_at = loop_now() + delay;
	loop_timer_arm(&sync_m.retry, delay);
	report();
}

static int publish(int *mid, int topic, json_object *o, bool retain)
{
	const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);

	return mosquitto_publish(sync_m.m, mid, sync_m.topic[topic], (int)strlen(s), s, 1, retain);
}

/* Hands one outbox row to libmosquitto, at QoS 1, and notes it in flight. */
static int send_row(const struct store_outbox_row *r, void *arg)
{
	int mid = 0, rc;
	json_object *o = sync_event_json(r);

	(void)arg;
	if (!o) {
		/* Every writer stores a JSON object; one that is not can
		 * only be damage, and the seq still goes out, so the fleet
		 * sees no gap. */
		log_msg(LOG_ERR, "sync: event %lld has a payload that is not a JSON object; sent without it",
			(long long)r->seq);
		struct store_outbox_row empty = *r;
		empty.payload = "{}";
		o = sync_event_json(&empty);
	}
	rc = publish(&mid, SYNC_T_EVENT, o, false);
	json_object_put(o);
	if (rc != MOSQ_ERR_SUCCESS) {
		snprintf(sync_m.last_error, sizeof sync_m.last_error, "publish: %s",
			 mosquitto_strerror(rc));
		sync_m.broken = true;
		return 1;
	}
	sync_m.win[sync_m.nwin++] = (struct sync_flight){ mid, r->seq };
	sync_m.sent_seq = r->seq;
	sync_m.published++;
	return 0;
}

/* Fills the in-flight window from the outbox, oldest first. */
static void pump(void *arg)
{
	(void)arg;
	if (sync_m.link != SYNC_CONNECTED || sync_m.broken || sync_m.nwin >= sync_m.cfg.inflight)
		return;
	if (store_outbox_read(sync_m.store, sync_m.sent_seq, sync_m.cfg.inflight - sync_m.nwin,
			      send_row, NULL) != SW_OK)
		loop_timer_arm(&sync_m.pump, FLUSH_RETRY_MS); /* the store's trouble is its health */
	else if (sync_m.nwin == 0)
		sync_tel_pump(); /* mqtt.md: historical telemetry after the event backlog */
	if (sync_m.broken)
		teardown(NULL);
	else
		update_events();
}

/* Deletes what the broker acknowledged; batched per loop round, since each
 * delete is a transaction on flash. A failure keeps them to delete later:
 * at worst they are sent again, which the contract allows. */
static void flush(void *arg)
{
	(void)arg;
	if (!sync_m.nacked)
		return;
	if (store_outbox_delete(sync_m.store, sync_m.acked, sync_m.nacked) != SW_OK) {
		loop_timer_arm(&sync_m.flush, FLUSH_RETRY_MS);
		return;
	}
	set_depth(sync_m.depth - (int64_t)sync_m.nacked);
	sync_m.nacked = 0;
	if (sync_m.link == SYNC_CONNECTED)
		report();
}

/* Keeps an acknowledged seq for flush(). The list grows while deletes
 * fail; without memory the seq is only sent again later, which the
 * contract allows. */
static void note_acked(int64_t seq)
{
	if (sync_m.nacked == sync_m.capacked) {
		int64_t *a = realloc(sync_m.acked, 2 * sync_m.capacked * sizeof *a);
		if (!a)
			return;
		sync_m.acked = a;
		sync_m.capacked *= 2;
	}
	sync_m.acked[sync_m.nacked++] = seq;
}

static void on_publish(struct mosquitto *m, void *obj, int mid)
{
	(void)m;
	(void)obj;
	if (mid == sync_m.status_mid) {
		sync_m.status_acked = true;
		return;
	}
	for (int i = 0; i < sync_m.nwin; i++) {
		if (sync_m.win[i].mid != mid)
			continue;
		note_acked(sync_m.win[i].seq);
		memmove(&sync_m.win[i], &sync_m.win[i + 1],
			(size_t)(sync_m.nwin - i - 1) * sizeof sync_m.win[0]);
		sync_m.nwin--;
		sync_m.acknowledged++;
		sync_m.last_puback_ms = loop_wall_ms();
		loop_timer_arm(&sync_m.flush, 0);
		loop_timer_arm(&sync_m.pump, 0);
		return;
	}
	sync_tel_acked(mid);
}

bool sync_announce(void)
{
	json_object *status = sync_status_json(true), *birth = sync_birth_json();

	if (publish(NULL, SYNC_T_STATUS, status, true) != MOSQ_ERR_SUCCESS ||
	    publish(NULL, SYNC_T_BIRTH, birth, true) != MOSQ_ERR_SUCCESS)
		sync_m.broken = true;
	json_object_put(status);
	json_object_put(birth);
	return !sync_m.broken;
}

/* CONNACK: status, then birth (both retained), the cmd subscription,
 * then the outbox from its oldest event. */
static void on_connect(struct mosquitto *m, void *obj, int rc)
{
	(void)m;
	(void)obj;
	if (rc != 0) {
		snprintf(sync_m.last_error, sizeof sync_m.last_error, "broker refused: %s",
			 mosquitto_connack_string(rc));
		sync_m.broken = true;
		return;
	}
	loop_timer_cancel(&sync_m.timeout);
	log_cond(&connect_cond, 0, LOG_NOTICE, "sync: the broker takes connections again");
	sync_m.link = SYNC_CONNECTED;
	sync_m.reconnects += sync_m.connected_ms != 0; /* connections after this run's first */
	sync_m.connected_ms = loop_wall_ms();
	sync_m.backoff_ms = sync_m.cfg.backoff_min_ms;
	sync_m.last_error[0] = '\0';
	flush(NULL);
	sync_m.sent_seq = 0;
	sync_m.nwin = 0;
	if (sync_announce() && !sync_cmd_subscribe())
		sync_m.broken = true;
	log_msg(LOG_NOTICE, "sync: connected to %s:%d; %lld events to send", sync_m.cfg.host,
		sync_m.cfg.port, (long long)sync_m.depth);
	report();
	sync_tel_connected();
	loop_timer_arm(&sync_m.pump, 0);
}

static void on_disconnect(struct mosquitto *m, void *obj, int rc)
{
	(void)m;
	(void)obj;
	snprintf(sync_m.last_error, sizeof sync_m.last_error, "disconnected: %s",
		 mosquitto_strerror(rc));
	sync_m.broken = true;
}

static void on_fd(int fd, short revents, void *arg)
{
	int rc = MOSQ_ERR_SUCCESS;

	(void)fd;
	(void)arg;
	if (revents & (POLLIN | POLLHUP | POLLERR))
		rc = mosquitto_loop_read(sync_m.m, sync_m.cfg.inflight + 8);
	if (rc == MOSQ_ERR_SUCCESS && sync_m.m && (revents & POLLOUT))
		rc = mosquitto_loop_write(sync_m.m, sync_m.cfg.inflight + 8);
	if (rc != MOSQ_ERR_SUCCESS && !sync_m.broken) {
		snprintf(sync_m.last_error, sizeof sync_m.last_error, "%s", mosquitto_strerror(rc));
		sync_m.broken = true;
	}
	if (sync_m.broken)
		teardown(NULL);
	else
		update_events();
}

static void on_misc(void *arg)
{
	(void)arg;
	int rc = mosquitto_loop_misc(sync_m.m);
	if (rc != MOSQ_ERR_SUCCESS || sync_m.broken) {
		if (!sync_m.broken)
			snprintf(sync_m.last_error, sizeof sync_m.last_error, "keepalive: %s",
				 mosquitto_strerror(rc));
		teardown(NULL);
		return;
	}
	update_events();
	loop_timer_arm(&sync_m.misc, MISC_MS);
}

static void on_timeout(void *arg)
{
	char why[96];

	(void)arg;
	snprintf(why, sizeof why, "no CONNACK within %d s", sync_m.cfg.connect_timeout_s);
	teardown(why);
}

/* The password file's first line (checked at load: the daemon's alone). */
static int read_password(char *pw, size_t len)
{
	char why[256], *text;
	size_t n;

	if (fileio_load(sync_m.cfg.password_file, 4096, &text, &n, why, sizeof why) < 0) {
		snprintf(sync_m.last_error, sizeof sync_m.last_error, "%.120s", why);
		return -1;
	}
	snprintf(pw, len, "%.*s", (int)strcspn(text, "\r\n"), text);
	explicit_bzero(text, n);
	free(text);
	return 0;
}

static void on_log(struct mosquitto *m, void *obj, int level, const char *msg)
{
	(void)m;
	(void)obj;
	if (level == MOSQ_LOG_ERR)
		snprintf(lib_error, sizeof lib_error, "%s", msg);
}

/* A fresh client with the Will, TLS or credentials, on the way to the
 * broker; the rest happens in the callbacks. */
static int client_setup(void)
{
	char pw[512];
	json_object *will = sync_status_json(false);
	const char *w = json_object_to_json_string_ext(will, JSON_C_TO_STRING_PLAIN);
	int rc;

	sync_m.m = mosquitto_new(sync_m.cfg.client_id, true, NULL);
	if (!sync_m.m) {
		json_object_put(will);
		return MOSQ_ERR_NOMEM;
	}
	mosquitto_int_option(sync_m.m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
	mosquitto_max_inflight_messages_set(sync_m.m, 0); /* our window bounds it */
	mosquitto_connect_callback_set(sync_m.m, on_connect);
	mosquitto_disconnect_callback_set(sync_m.m, on_disconnect);
	mosquitto_publish_callback_set(sync_m.m, on_publish);
	mosquitto_message_callback_set(sync_m.m, sync_cmd_on_message);
	mosquitto_log_callback_set(sync_m.m, on_log);
	lib_error[0] = '\0';
	rc = mosquitto_will_set(sync_m.m, sync_m.topic[SYNC_T_STATUS], (int)strlen(w), w, 1, true);
	json_object_put(will);
	if (rc == MOSQ_ERR_SUCCESS && sync_m.cfg.cafile[0])
		rc = mosquitto_tls_set(sync_m.m, sync_m.cfg.cafile, NULL,
				       sync_m.cfg.certfile[0] ? sync_m.cfg.certfile : NULL,
				       sync_m.cfg.keyfile[0] ? sync_m.cfg.keyfile : NULL, NULL);
	if (rc == MOSQ_ERR_SUCCESS && sync_m.cfg.username[0]) {
		if (read_password(pw, sizeof pw) < 0)
			return MOSQ_ERR_AUTH;
		rc = mosquitto_username_pw_set(sync_m.m, sync_m.cfg.username, pw);
		explicit_bzero(pw, sizeof pw);
	}
	if (rc == MOSQ_ERR_SUCCESS)
		rc = mosquitto_connect_async(sync_m.m, sync_m.cfg.host, sync_m.cfg.port,
					     sync_m.cfg.keepalive_s);
	return rc;
}

static void connect_now(void *arg)
{
	(void)arg;
	sync_m.link = SYNC_CONNECTING;
	int rc = client_setup();
	int fd = sync_m.m ? mosquitto_socket(sync_m.m) : -1;
	if (rc != MOSQ_ERR_SUCCESS || fd < 0 ||
	    loop_add_fd(fd, POLLIN | POLLOUT, on_fd, NULL) < 0) {
		char why[128];
		snprintf(why, sizeof why, "connect: %s",
			 rc != MOSQ_ERR_SUCCESS ? mosquitto_strerror(rc) : "no socket");
		if (rc == MOSQ_ERR_AUTH && sync_m.last_error[0])
			snprintf(why, sizeof why, "%s", sync_m.last_error);
		teardown(why);
		return;
	}
	sync_m.fd = fd;
	loop_timer_arm(&sync_m.timeout, (int64_t)sync_m.cfg.connect_timeout_s * 1000);
	loop_timer_arm(&sync_m.misc, MISC_MS);
	update_events();
}

/* The store's word that events were committed: send them soon, in one
 * batch per loop round, and count them against the cap. */
static void on_added(int added, void *arg)
{
	(void)arg;
	set_depth(sync_m.depth + added);
	if (sync_m.link == SYNC_CONNECTED)
		loop_timer_arm(&sync_m.pump, 0);
}

static enum sw_err setup_state(const struct config *cfg, struct store *st, const char *boot)
{
	struct store_stats ss = { 0 };

	sync_m.cfg = cfg->sync;
	snprintf(sync_m.sid, sizeof sync_m.sid, "%s", cfg->station.id);
	snprintf(sync_m.digest, sizeof sync_m.digest, "%s", cfg->digest);
	snprintf(sync_m.boot, sizeof sync_m.boot, "%s", boot);
	static const char *const names[] = { "status", "birth", "event" };
	for (int i = 0; i < 3; i++)
		snprintf(sync_m.topic[i], sizeof sync_m.topic[i], "swap/v1/%s/%s", sync_m.sid,
			 names[i]);
	sync_m.store = st;
	sync_m.win = calloc((size_t)cfg->sync.inflight, sizeof *sync_m.win);
	sync_m.capacked = (size_t)cfg->sync.inflight;
	sync_m.acked = calloc(sync_m.capacked, sizeof *sync_m.acked);
	if (!sync_m.win || !sync_m.acked)
		return SW_ENOMEM;
	if (store_stats(st, &ss) != SW_OK)
		return SW_EIO;
	sync_m.backoff_ms = cfg->sync.backoff_min_ms;
	sync_m.status_mid = -1;
	set_depth(ss.events);
	return SW_OK;
}

enum sw_err sync_start(const struct config *cfg, struct store *st, const char *boot, char *why,
		       size_t whylen)
{
	enum sw_err e = sync_commands(why, whylen);

	if (e != SW_OK)
		return e;
	if (!cfg->sync.enabled) {
		health_set("sync", HEALTH_DISABLED, "no sync section in the config");
		return SW_OK;
	}
	if (mosquitto_lib_init() != MOSQ_ERR_SUCCESS) {
		snprintf(why, whylen, "libmosquitto did not initialise");
		return SW_EIO;
	}
	loop_timer_init(&sync_m.retry, connect_now, NULL);
	loop_timer_init(&sync_m.timeout, on_timeout, NULL);
	loop_timer_init(&sync_m.misc, on_misc, NULL);
	loop_timer_init(&sync_m.pump, pump, NULL);
	loop_timer_init(&sync_m.flush, flush, NULL);
	e = setup_state(cfg, st, boot);
	if (e == SW_OK)
		e = sync_tel_start();
	if (e != SW_OK) {
		snprintf(why, whylen, "%s", e == SW_ENOMEM ? "out of memory" : store_errmsg(st));
		return e;
	}
	store_set_outbox_hook(st, on_added, NULL);
	sync_cmd_start();
	connect_now(NULL);
	return SW_OK;
}

static bool stop_done(void *arg)
{
	(void)arg;
	return sync_m.status_acked || sync_m.broken || !sync_m.m;
}

void sync_stop(void)
{
	if (sync_m.link == SYNC_OFF)
		return;
	if (sync_m.link == SYNC_CONNECTED && !sync_m.broken) {
		json_object *status = sync_status_json(false);
		if (publish(&sync_m.status_mid, SYNC_T_STATUS, status, true) == MOSQ_ERR_SUCCESS) {
			update_events();
			loop_run_until(stop_done, NULL, sync_m.cfg.stop_timeout_ms);
		}
		json_object_put(status);
		if (sync_m.m && !sync_m.broken) {
			mosquitto_disconnect(sync_m.m);
			mosquitto_loop_write(sync_m.m, 1);
		}
	}
	flush(NULL);
	sync_m.link = SYNC_WAITING; /* not "lost": we leave */
	teardown(NULL);
	loop_timer_cancel(&sync_m.retry);
	loop_timer_cancel(&sync_m.flush);
	sync_cmd_stop();
	store_set_outbox_hook(sync_m.store, NULL, NULL);
	sync_tel_stop();
	swap_set_outbox_full(false);
	free(sync_m.win);
	free(sync_m.acked);
	mosquitto_lib_cleanup();
	sync_m = (struct sync_module){ .fd = -1 };
	connect_cond = (struct log_cond){ 0 };
}
