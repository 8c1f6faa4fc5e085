/* What sync.c (the link and the outbox) shares with sync_msg.c (the
 * messages and the `sync` command). Private to the sync module. */
#ifndef SWAPD_SYNC_PRIV_H
#define SWAPD_SYNC_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "daemon/config.h"
#include "daemon/loop.h"
#include "daemon/store.h"

struct mosquitto;
struct mosquitto_message;

/* The largest command payload taken (mqtt.md's commands are a few hundred
 * bytes; transport.job with 99 battery ids under 2 KiB). */
#define SYNC_CMD_PAYLOAD_MAX 16384

enum sync_link { SYNC_OFF, SYNC_WAITING, SYNC_CONNECTING, SYNC_CONNECTED };

/* One event handed to libmosquitto and not yet acknowledged. */
struct sync_flight {
	int mid;
	int64_t seq;
};

struct sync_module {
	struct config_sync cfg;
	char sid[25], digest[65], boot[33];
	char topic[3][64];           /* status, birth, event (SYNC_T_*) */
	struct store *store;
	struct mosquitto *m;
	int fd;                      /* the socket on the loop, -1 none */
	enum sync_link link;
	bool broken;                 /* a callback saw the link fail: torn down
				      * once libmosquitto returned */
	struct loop_timer retry, timeout, misc, pump, flush;
	int64_t backoff_ms;          /* the next retry's ceiling */
	int64_t retry_at;            /* monotonic, when waiting */
	char last_error[128];
	struct sync_flight *win;     /* cfg.inflight entries, oldest first */
	int nwin;
	int64_t sent_seq;            /* highest seq handed over this connection */
	int64_t *acked;              /* acknowledged, not yet deleted */
	size_t nacked, capacked;
	int64_t depth;               /* events in the outbox */
	bool full;                   /* depth at the cap: swaps refused */
	int64_t last_puback_ms;      /* wall, 0 never */
	int64_t connected_ms;        /* wall, since when connected */
	uint64_t reconnects, published, acknowledged;
	int status_mid;              /* the offline status at a clean stop */
	bool status_acked;
};

enum { SYNC_T_STATUS, SYNC_T_BIRTH, SYNC_T_EVENT };

extern struct sync_module sync_m;

/* mqtt.md's status payload: online, boot, and when online since and
 * version; the caller frees it. */
json_object *sync_status_json(bool online);

/* mqtt.md's birth: boot, version, seq_next, slots, models, config_digest,
 * and "clock":"unsynced" while the system clock is not synchronised. */
json_object *sync_birth_json(void);

/* One outbox row as mqtt.md's event: the common fields (seq, id, type, ts
 * as RFC 3339, boot) and the stored payload's fields. NULL when the stored
 * payload is not a JSON object (never written so; logged by the caller). */
json_object *sync_event_json(const struct store_outbox_row *r);

/* Publishes the online status and the birth (both retained, QoS 1), as
 * after every CONNACK and for the rebirth command; false when the link
 * could not take them (it is then torn down). */
bool sync_announce(void);

/* Commands from the fleet (sync_cmd.c): sets up the cmd and reply topics
 * and the hourly purge of replies older than 24 h. */
void sync_cmd_start(void);
void sync_cmd_stop(void);

/* Subscribes to swap/v1/<sid>/cmd at QoS 1 (after each CONNACK: every
 * connection is a clean session); false when the client refused. */
bool sync_cmd_subscribe(void);

/* libmosquitto's message callback: a command handled and its reply, if
 * it has one, published on swap/v1/<sid>/cmd/reply at QoS 1. */
void sync_cmd_on_message(struct mosquitto *m, void *obj, const struct mosquitto_message *msg);

/* One message from the broker, on topic, handled: the reply text to send
 * (the caller frees it), or NULL when there is none (no usable id). Every
 * refusal is also a cmd.rejected event. Never blocks; bounded by
 * SYNC_CMD_PAYLOAD_MAX. */
char *sync_cmd_handle(const char *topic, const void *payload, size_t len);

/* Registers the `sync` command. */
enum sw_err sync_commands(char *why, size_t whylen);

#endif
