/* The queue's control commands: `queue` for anyone, and the fleet's three
 * queue commands (mqtt.md) for admins until the MQTT link carries them,
 * each a thin wrapper of the function in queue.h the link will call, with
 * the same result and error codes. */
#include <stdio.h>

#include "daemon/control.h"
#include "daemon/queue.h"
#include "daemon/queue_priv.h"
#include "daemon/store_queue.h"
#include "daemon/token.h"

/* The farthest a phone may report: around the earth, with room. */
#define DISTANCE_MAX_M 100000000

static json_object *refused(enum queue_result r)
{
	const char *msg = r == QUEUE_FULL ? "the queue is at its capacity (queue.capacity)"
		: r == QUEUE_DUPLICATE ? "that nonce or user has a place in the queue already"
		: r == QUEUE_UNKNOWN_TICKET ? "no such ticket is waiting"
		: r == QUEUE_BAD_REQUEST ? "user or nonce outside token.md's grammar, or exp past"
		: "the change could not be recorded, so it was not made";

	return control_error(queue_result_code(r), "%s", msg);
}

static json_object *cmd_queue(const struct control_req *req)
{
	json_object *r = queue_json();
	int recent = (int)control_arg_int(req, "recent", 0);

	if (recent > 0)
		json_object_object_add(r, "left", store_queue_left_json(queue_store, recent));
	return control_ok(r);
}

static json_object *cmd_reserve(const struct control_req *req)
{
	struct queue_place p;
	char detail[96];
	enum queue_result r = queue_reserve(control_arg_str(req, "user"), control_arg_str(req, "nonce"),
					    (int)control_arg_int(req, "eta_s", 0),
					    control_arg_int(req, "exp", 0), &p);

	if (r != QUEUE_OK)
		return refused(r);
	snprintf(detail, sizeof detail, "ticket %lld for %s", (long long)p.ticket,
		 control_arg_str(req, "user"));
	store_audit(queue_store, req->who, "queue-reserve", detail, NULL);
	return control_ok(queue_place_json(&p));
}

static json_object *cmd_cancel(const struct control_req *req)
{
	int64_t ticket = control_arg_int(req, "ticket", 0);
	char detail[32];
	enum queue_result r = queue_cancel(ticket);

	if (r != QUEUE_OK)
		return refused(r);
	snprintf(detail, sizeof detail, "ticket %lld", (long long)ticket);
	store_audit(queue_store, req->who, "queue-cancel", detail, NULL);
	json_object *o = json_object_new_object();
	json_object_object_add(o, "ticket", json_object_new_int64(ticket));
	json_object_object_add(o, "reason", json_object_new_string("cancelled"));
	return control_ok(o);
}

static json_object *cmd_arrival(const struct control_req *req)
{
	struct queue_place p;
	enum queue_result r = queue_arrival(control_arg_int(req, "ticket", 0),
					    (int)control_arg_int(req, "distance_m", 0), &p);

	return r == QUEUE_OK ? control_ok(queue_place_json(&p)) : refused(r);
}

static const struct command queue_commands[] = {
	{ .name = "queue", .level = LEVEL_VIEWER, .fn = cmd_queue,
	  .help = "the riders waiting: position, source, ETA, arrival; recent: those who left",
	  .args = { { "recent", ARG_INT, .min = 0, .max = STORE_QUEUE_HISTORY } } },
	{ .name = "queue-reserve", .level = LEVEL_ADMIN, .fn = cmd_reserve,
	  .help = "reserve a place for a fleet rider's S token (mqtt.md queue.reserve; audited)",
	  .args = { { "user", ARG_STRING, .required = true, .min = 1, .max = TOKEN_SUBJECT_MAX },
		    { "nonce", ARG_STRING, .required = true, .min = TOKEN_NONCE_MIN,
		      .max = TOKEN_NONCE_MAX },
		    { "eta_s", ARG_INT, .required = true, .min = 0, .max = QUEUE_ETA_MAX_S },
		    { "exp", ARG_INT, .min = 0, .max = INT64_MAX } } },
	{ .name = "queue-cancel", .level = LEVEL_ADMIN, .fn = cmd_cancel,
	  .help = "take a ticket out of the queue (mqtt.md queue.cancel; audited)",
	  .args = { { "ticket", ARG_INT, .required = true, .min = 1, .max = INT64_MAX } } },
	{ .name = "queue-arrival", .level = LEVEL_ADMIN, .fn = cmd_arrival,
	  .help = "a rider's distance from the station (mqtt.md queue.arrival)",
	  .args = { { "ticket", ARG_INT, .required = true, .min = 1, .max = INT64_MAX },
		    { "distance_m", ARG_INT, .required = true, .min = 0, .max = DISTANCE_MAX_M } } },
};

enum sw_err queue_cmd_register(char *why, size_t whylen)
{
	return command_register(queue_commands, COMMAND_ROWS(queue_commands), why, whylen);
}
