/* Commands from the fleet (mqtt.md "Commands"; DESIGN.md, "Fleet sync").
 *
 * A command arrives on swap/v1/<sid>/cmd and is answered on .../cmd/reply.
 * It is checked in this order, each failure answered (when it has a usable
 * id) and told to the fleet as cmd.rejected: the topic, the size, JSON, an
 * object, the id, the id seen before, the command's name, its arguments
 * (against the row's spec, as the control socket checks its tables).
 * Then its handler runs inside one store transaction that also records the
 * reply under the id: a command's effect and its reply are durable
 * together, so a repeated id gets the stored reply and no second effect,
 * also after a crash or a restart. Replies are kept for 24 h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <mosquitto.h>

#include "daemon/access.h"
#include "daemon/command.h"
#include "daemon/control.h"
#include "daemon/fault.h"
#include "daemon/ledger.h"
#include "daemon/log.h"
#include "daemon/queue.h"
#include "daemon/store_cmd.h"
#include "daemon/store_transport.h"
#include "daemon/sync_priv.h"
#include "daemon/text.h"
#include "daemon/token.h"
#include "daemon/transport.h"

#define KEEP_MS (24LL * 3600 * 1000) /* mqtt.md: idempotent within 24 h */
#define PURGE_MS (3600LL * 1000)
#define ID_MAX 64

static struct {
	char topic[64], reply_topic[72];
	struct loop_timer purge;
	bool started;
} cm;

/* One fleet command: the control socket's row type, so that its arguments
 * are checked by command_check() before the handler runs. own_arg names
 * an argument whose type the handler checks itself (transport.job's
 * pickup is a count or a list of battery ids, which no spec type is). */
struct fleet_cmd {
	struct command c;
	const char *own_arg;
};

static json_object *queue_error(enum queue_result r)
{
	static const char *const why[] = {
		[QUEUE_FULL] = "the queue is at its capacity",
		[QUEUE_DUPLICATE] = "that nonce or that user waits already",
		[QUEUE_UNKNOWN_TICKET] = "no such ticket is waiting",
		[QUEUE_BAD_REQUEST] = "user or nonce outside token.md's grammar, or exp past",
		[QUEUE_STORE_FAILED] = "it could not be recorded; nothing changed",
	};
	return control_error(queue_result_code(r), "%s", why[r]);
}

static json_object *do_reserve(const struct control_req *req)
{
	struct queue_place p;
	enum queue_result r = queue_reserve(control_arg_str(req, "user"), control_arg_str(req, "nonce"),
					    (int)control_arg_int(req, "eta_s", 0),
					    control_arg_int(req, "exp", 0), &p);

	return r == QUEUE_OK ? control_ok(queue_place_json(&p)) : queue_error(r);
}

static json_object *do_cancel(const struct control_req *req)
{
	int64_t ticket = control_arg_int(req, "ticket", 0);
	enum queue_result r = queue_cancel(ticket);

	if (r != QUEUE_OK)
		return queue_error(r);
	json_object *o = json_object_new_object();
	json_object_object_add(o, "ticket", json_object_new_int64(ticket));
	json_object_object_add(o, "reason", json_object_new_string("cancelled"));
	return control_ok(o);
}

static json_object *do_arrival(const struct control_req *req)
{
	struct queue_place p;
	enum queue_result r = queue_arrival(control_arg_int(req, "ticket", 0),
					    (int)control_arg_int(req, "distance_m", 0), &p);

	return r == QUEUE_OK ? control_ok(queue_place_json(&p)) : queue_error(r);
}

static json_object *do_revoke(const struct control_req *req)
{
	const char *nonce = control_arg_str(req, "nonce");
	int64_t exp = control_arg_int(req, "exp", 0);

	switch (access_revoke(nonce, exp, req->who)) {
	case SW_OK:
		break;
	case SW_EINVAL:
		return control_error("bad_request", "\"nonce\": must be A-Z a-z 0-9 _ - only");
	default:
		return control_error("store_failed", "the revocation could not be recorded");
	}
	json_object *o = json_object_new_object();
	json_object_object_add(o, "nonce", json_object_new_string(nonce));
	json_object_object_add(o, "exp", json_object_new_int64(exp));
	return control_ok(o);
}

static json_object *do_slot_quarantine(const struct control_req *req)
{
	return ledger_slot_reply((int)control_arg_int(req, "slot", 0), true,
				 control_arg_str(req, "reason"), req->who);
}

static json_object *do_slot_release(const struct control_req *req)
{
	return ledger_slot_reply((int)control_arg_int(req, "slot", 0), false,
				 control_arg_str(req, "reason"), req->who);
}

/* The fleet's person took a level-3 ticket (the registry audits by whom). */
static json_object *do_ticket_ack(const struct control_req *req)
{
	return fault_ack_reply(control_arg_str(req, "ticket"), control_arg_str(req, "by"));
}

static json_object *do_transport_job(const struct control_req *req)
{
	char msg[160];
	const char *code = transport_job(req->args, req->who, msg, sizeof msg);

	if (code)
		return control_error(code, "%s", msg);
	json_object *o = json_object_new_object();
	json_object_object_add(o, "job", json_object_new_string(control_arg_str(req, "job")));
	json_object_object_add(o, "state", json_object_new_string("announced"));
	return control_ok(o);
}

static json_object *do_status_get(const struct control_req *req)
{
	json_object *o = sync_birth_json();

	(void)req;
	json_object_object_add(o, "queue", queue_json());
	return control_ok(o);
}

static json_object *do_rebirth(const struct control_req *req)
{
	(void)req;
	if (!sync_announce())
		return control_error("not_sent", "status and birth could not be handed to the broker link");
	return control_ok(NULL);
}

#define REASON_ARG { "reason", ARG_STRING, .required = true, .min = 1, .max = 63 }
#define SLOT_ARG { "slot", ARG_INT, .required = true, .min = 1, .max = 999 }
#define TICKET_ARG { "ticket", ARG_INT, .required = true, .min = 1, .max = INT64_MAX }

static const struct fleet_cmd fleet_cmds[] = {
	{ .c = { .name = "queue.reserve", .fn = do_reserve,
	    .args = { { "user", ARG_STRING, .required = true, .min = 1, .max = TOKEN_SUBJECT_MAX },
		      { "nonce", ARG_STRING, .required = true, .min = TOKEN_NONCE_MIN, .max = TOKEN_NONCE_MAX },
		      { "eta_s", ARG_INT, .required = true, .min = 0, .max = QUEUE_ETA_MAX_S },
		      { "exp", ARG_INT, .min = 0, .max = INT64_MAX } } } },
	{ .c = { .name = "queue.cancel", .fn = do_cancel, .args = { TICKET_ARG } } },
	{ .c = { .name = "queue.arrival", .fn = do_arrival,
	    .args = { TICKET_ARG, { "distance_m", ARG_INT, .required = true, .min = 0, .max = 100000000 } } } },
	{ .c = { .name = "token.revoke", .fn = do_revoke,
	    .args = { { "nonce", ARG_STRING, .required = true, .min = TOKEN_NONCE_MIN, .max = TOKEN_NONCE_MAX },
		      { "exp", ARG_INT, .required = true, .min = 0, .max = INT64_MAX } } } },
	{ .c = { .name = "slot.quarantine", .fn = do_slot_quarantine, .args = { SLOT_ARG, REASON_ARG } } },
	{ .c = { .name = "slot.release", .fn = do_slot_release, .args = { SLOT_ARG, REASON_ARG } } },
	{ .c = { .name = "ticket.ack", .fn = do_ticket_ack,
	    .args = { { "ticket", ARG_STRING, .required = true, .min = 1, .max = ID_MAX },
		      { "by", ARG_STRING, .required = true, .min = 1, .max = 63 } } } },
	{ .c = { .name = "transport.job", .fn = do_transport_job,
	    .args = { { "job", ARG_STRING, .required = true, .min = 1, .max = 32 },
		      { "dropoff", ARG_INT, .required = true, .min = 0, .max = STORE_TRANSPORT_MAX },
		      { "exp", ARG_INT, .required = true, .min = 0, .max = INT64_MAX } } },
	  .own_arg = "pickup" },
	{ .c = { .name = "status.get", .fn = do_status_get } },
	{ .c = { .name = "rebirth", .fn = do_rebirth } },
};

static const struct fleet_cmd *find_cmd(const char *name)
{
	for (size_t i = 0; i < sizeof fleet_cmds / sizeof fleet_cmds[0]; i++)
		if (strcmp(fleet_cmds[i].c.name, name) == 0)
			return &fleet_cmds[i];
	return NULL;
}

/* cmd.rejected [cmd_id, reason] (mqtt.md), and beyond the contract the
 * detail. Each rejection is told, so the fleet sees garbage it sent. */
static void rejected(const char *id, const char *reason, const char *detail)
{
	json_object *p = json_object_new_object();

	json_object_object_add(p, "cmd_id", id ? json_object_new_string(id) : NULL);
	json_object_object_add(p, "reason", json_object_new_string(reason));
	json_object_object_add(p, "detail", json_object_new_string(detail));
	struct store_event ev = { "cmd.rejected", sync_m.boot, p };
	store_tx_begin(sync_m.store);
	store_outbox_add(sync_m.store, &ev);
	store_tx_commit(sync_m.store, "recording a rejected fleet command"); /* logged there */
	json_object_put(p);
	log_msg(LOG_WARNING, "sync: fleet command %s rejected: %s: %s", id ? id : "without id",
		reason, detail);
}

/* The reply text: id first, then the handler's ok, result or error. */
static char *reply_text(const char *id, json_object *r)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "id", json_object_new_string(id));
	json_object_object_foreach(r, k, v)
		json_object_object_add(o, k, json_object_get(v));
	char *s = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return s;
}

/* An answered error that is also a rejection: the reply, and cmd.rejected. */
static char *refuse(const char *id, const char *code, const char *reason, const char *msg)
{
	json_object *r = control_error(code, "%s", msg);
	char *s = reply_text(id, r);

	json_object_put(r);
	rejected(id, reason, msg);
	return s;
}

/* A usable id: a string of 1..ID_MAX printable ASCII characters, which the
 * reply can carry back and the store key on as it is. */
static const char *usable_id(json_object *req)
{
	json_object *v;

	if (!json_object_object_get_ex(req, "id", &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	const char *id = json_object_get_string(v);
	size_t n = (size_t)json_object_get_string_len(v);
	if (n == 0 || n > ID_MAX || strlen(id) != n)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (id[i] < 0x20 || id[i] > 0x7e)
			return NULL;
	return id;
}

/* Checks the arguments against the row; msg says why not. */
static bool args_ok(const struct fleet_cmd *fc, json_object *args, char *msg, size_t msglen)
{
	json_object *own = NULL, *checked = NULL;
	bool ok;

	if (fc->own_arg && !json_object_object_get_ex(args, fc->own_arg, &own)) {
		snprintf(msg, msglen, "\"%s\" is missing", fc->own_arg);
		return false;
	}
	if (own) { /* the spec checks the others; the handler checks this one */
		checked = json_object_new_object();
		json_object_object_foreach(args, k, v)
			if (strcmp(k, fc->own_arg) != 0)
				json_object_object_add(checked, k, json_object_get(v));
	}
	ok = command_check(&fc->c, checked ? checked : args, msg, msglen);
	json_object_put(checked);
	return ok;
}

/* Runs a checked command, its effect and its stored reply in one
 * transaction. A failed commit recorded neither: the reply says so, and
 * the same id may be tried again. */
static char *run(const struct fleet_cmd *fc, const char *id, json_object *args,
		 const char *request)
{
	struct control_req req = { .args = args, .level = LEVEL_ADMIN };
	char detail[ID_MAX + 40];

	snprintf(req.who, sizeof req.who, "fleet %.40s", id);
	store_tx_begin(sync_m.store);
	json_object *r = fc->c.fn(&req);
	char *text = reply_text(id, r);
	json_object_put(r);
	snprintf(detail, sizeof detail, "%s %s", fc->c.name, id);
	store_audit(sync_m.store, "fleet", "fleet-cmd", detail, NULL);
	store_cmd_put(sync_m.store, id, request, text, NULL);
	if (store_tx_commit(sync_m.store, "running a fleet command") != SW_OK) {
		free(text);
		r = control_error("store_failed", "the command could not be recorded; try again");
		text = reply_text(id, r);
		json_object_put(r);
	}
	return text;
}

/* A command whose id was seen: the same request gets the same reply; a
 * different one under that id is refused. */
static char *repeat(const char *id, json_object *request, const char *stored_req,
		    const char *stored_reply)
{
	json_object *was = json_tokener_parse(stored_req);
	bool same = was && json_object_equal(was, request);

	json_object_put(was);
	if (same)
		return strdup(stored_reply);
	return refuse(id, "bad_request", "duplicate_id",
		      "this id was used for another command within 24 h");
}

/* From a parsed object with a usable id to its reply. */
static char *dispatch(const char *id, json_object *o)
{
	json_object *cmd = NULL, *args = NULL;
	char msg[200], *stored_req, *stored_reply, *out;
	bool found = false;

	json_object_object_get_ex(o, "cmd", &cmd);
	json_object_object_get_ex(o, "args", &args);
	json_object *request = json_object_new_object();
	json_object_object_add(request, "cmd", json_object_get(cmd));
	json_object_object_add(request, "args", json_object_get(args));
	const char *req_text = json_object_to_json_string_ext(request, JSON_C_TO_STRING_PLAIN);
	const struct fleet_cmd *fc = json_object_is_type(cmd, json_type_string) ?
				     find_cmd(json_object_get_string(cmd)) : NULL;

	if (store_cmd_get(sync_m.store, id, &found, &stored_req, &stored_reply) != SW_OK)
		out = refuse(id, "store_failed", "store_failed", "the store could not be read; try again");
	else if (found)
		out = repeat(id, request, stored_req, stored_reply);
	else if (!json_object_is_type(cmd, json_type_string))
		out = refuse(id, "bad_request", "bad_request", "\"cmd\" must be a string");
	else if (!fc)
		out = refuse(id, "unknown_command", "unknown_command", "no such command");
	else if (args && !json_object_is_type(args, json_type_object))
		out = refuse(id, "bad_request", "bad_request", "\"args\" must be an object");
	else if (!args_ok(fc, args, msg, sizeof msg))
		out = refuse(id, "bad_request", "bad_request", msg);
	else
		out = run(fc, id, args, req_text);
	json_object_put(request);
	free(stored_req);
	free(stored_reply);
	return out;
}

char *sync_cmd_handle(const char *topic, const void *payload, size_t len)
{
	char msg[96];

	if (strcmp(topic, cm.topic) != 0) {
		text_clean(msg, sizeof msg, topic, strlen(topic));
		rejected(NULL, "wrong_topic", msg);
		return NULL;
	}
	if (len > SYNC_CMD_PAYLOAD_MAX) {
		snprintf(msg, sizeof msg, "%zu bytes, more than %d", len, SYNC_CMD_PAYLOAD_MAX);
		rejected(NULL, "too_large", msg);
		return NULL;
	}
	json_tokener *tok = json_tokener_new();
	json_object *o = tok ? json_tokener_parse_ex(tok, payload, (int)len) : NULL;
	bool whole = o && json_tokener_get_error(tok) == json_tokener_success &&
		     json_tokener_get_parse_end(tok) == len;
	json_tokener_free(tok);
	char *out = NULL;
	const char *id;
	if (!whole)
		rejected(NULL, "not_json", "the payload is not one JSON value");
	else if (!json_object_is_type(o, json_type_object))
		rejected(NULL, "not_object", "the payload is not a JSON object");
	else if (!(id = usable_id(o)))
		rejected(NULL, "bad_id", "\"id\" must be a string of 1-64 printable characters");
	else
		out = dispatch(id, o);
	json_object_put(o);
	return out;
}

static void purge(void *arg)
{
	(void)arg;
	store_cmd_purge(sync_m.store, loop_wall_ms() - KEEP_MS); /* a failure is the store's health */
	loop_timer_arm(&cm.purge, PURGE_MS);
}

void sync_cmd_start(void)
{
	snprintf(cm.topic, sizeof cm.topic, "swap/v1/%s/cmd", sync_m.sid);
	snprintf(cm.reply_topic, sizeof cm.reply_topic, "%s/reply", cm.topic);
	loop_timer_init(&cm.purge, purge, NULL);
	loop_timer_arm(&cm.purge, 0);
	cm.started = true;
}

void sync_cmd_stop(void)
{
	if (cm.started)
		loop_timer_cancel(&cm.purge);
	cm.started = false;
}

bool sync_cmd_subscribe(void)
{
	return mosquitto_subscribe(sync_m.m, NULL, cm.topic, 1) == MOSQ_ERR_SUCCESS;
}

void sync_cmd_on_message(struct mosquitto *m, void *obj, const struct mosquitto_message *msg)
{
	(void)obj;
	char *reply = sync_cmd_handle(msg->topic, msg->payload,
				      msg->payloadlen > 0 ? (size_t)msg->payloadlen : 0);
	if (!reply)
		return;
	/* A reply lost with the link is asked for again under the same id. */
	int rc = mosquitto_publish(m, NULL, cm.reply_topic, (int)strlen(reply), reply, 1, false);
	if (rc != MOSQ_ERR_SUCCESS)
		log_msg(LOG_WARNING, "sync: a command's reply was not sent: %s", mosquitto_strerror(rc));
	free(reply);
}
