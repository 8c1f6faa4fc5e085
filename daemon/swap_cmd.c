/* The swap module's commands: `swaps` (what is in progress and what ended
 * lately, from the store, which every transition reaches first) and
 * `swap-abort` (staff), and the staff abort they and the badge module use. */
#include <inttypes.h>
#include <stdio.h>

#include "daemon/control.h"
#include "daemon/log.h"
#include "daemon/swap.h"
#include "daemon/swap_priv.h"

json_object *swap_battery_json(uint64_t id)
{
	char name[32];

	if (!id)
		return NULL;
	snprintf(name, sizeof name, "BAT-%05" PRIu64, id);
	return json_object_new_string(name);
}

json_object *swap_seconds_json(int64_t ms)
{
	char text[32];

	snprintf(text, sizeof text, "%.3f", (double)ms / 1000.0);
	return json_object_new_double_s((double)ms / 1000.0, text);
}

static json_object *opt_str(const char *s)
{
	return s[0] ? json_object_new_string(s) : NULL;
}

static json_object *swap_json(const struct store_swap *r)
{
	json_object *o = json_object_new_object();
	bool in = r->battery_in != 0;

	json_object_object_add(o, "swap", json_object_new_int64(r->id));
	json_object_object_add(o, "user", json_object_new_string(r->user));
	json_object_object_add(o, "ticket", r->ticket ? json_object_new_int64(r->ticket) : NULL);
	json_object_object_add(o, "stage", json_object_new_string(r->stage));
	json_object_object_add(o, "slot_in", json_object_new_int(r->slot_in));
	json_object_object_add(o, "slot_out", json_object_new_int(r->slot_out));
	json_object_object_add(o, "battery_in", swap_battery_json(r->battery_in));
	json_object_object_add(o, "soc_in", in ? json_object_new_double(r->soc_in) : NULL);
	json_object_object_add(o, "soh_in", in ? json_object_new_double(r->soh_in) : NULL);
	json_object_object_add(o, "battery_out", swap_battery_json(r->battery_out));
	json_object_object_add(o, "soc_out", json_object_new_double(r->soc_out));
	json_object_object_add(o, "reopens", json_object_new_int(r->reopens));
	json_object_object_add(o, "started_ms", json_object_new_int64(r->started_at));
	json_object_object_add(o, "stage_ms", json_object_new_int64(r->stage_at));
	json_object_object_add(o, "ended_ms", r->ended_at ? json_object_new_int64(r->ended_at) : NULL);
	json_object_object_add(o, "duration_s", r->ended_at ? swap_seconds_json(r->ended_at - r->started_at) : NULL);
	json_object_object_add(o, "result", opt_str(r->result));
	json_object_object_add(o, "reason", opt_str(r->reason));
	json_object_object_add(o, "abort_stage", opt_str(r->abort_stage));
	json_object_object_add(o, "note", opt_str(r->note));
	return o;
}

static void add_json(const struct store_swap *r, void *arg)
{
	json_object_array_add(arg, swap_json(r));
}

static json_object *cmd_swaps(const struct control_req *req)
{
	json_object *r = json_object_new_object(), *now = json_object_new_array(),
		    *recent = json_object_new_array();
	int limit = (int)control_arg_int(req, "limit", 20);

	if (store_swaps_each(swap_m.store, true, SWAP_MAX_CONCURRENT * 4, add_json, now) != SW_OK ||
	    store_swaps_each(swap_m.store, false, limit, add_json, recent) != SW_OK) {
		json_object_put(now);
		json_object_put(recent);
		json_object_put(r);
		return control_error("store_failed", "cannot read the swaps: %s",
				     store_errmsg(swap_m.store));
	}
	json_object_object_add(r, "in_progress", now);
	json_object_object_add(r, "recent", recent);
	return control_ok(r);
}

enum sw_err swap_abort(int64_t id, const char *who, const char *reason)
{
	struct swap *s = swap_find(id);
	char detail[128];

	if (!s)
		return SW_ENOENT;
	snprintf(detail, sizeof detail, "swap %" PRId64 ": %s", id, reason);
	if (store_audit(swap_m.store, who, "swap-abort", detail, NULL) != SW_OK)
		return SW_EIO;
	log_msg(LOG_NOTICE, "swap %" PRId64 ": aborted by %s: %s", id, who, reason);
	snprintf(s->note, sizeof s->note, "%s: %s", who, reason);
	/* A swap still waiting for its slots' readings is ended all the
	 * same: an abort needs no reading. */
	s->recovering = false;
	swap_feed(s, SE_STAFF_ABORT, 0);
	return SW_OK;
}

static json_object *cmd_abort(const struct control_req *req)
{
	int64_t id = control_arg_int(req, "swap", 0);
	struct store_swap rec;
	bool found;

	switch (swap_abort(id, req->who, control_arg_str(req, "reason"))) {
	case SW_OK:
		break;
	case SW_ENOENT:
		return control_error("unknown_swap", "no swap %" PRId64 " is in progress", id);
	default:
		return control_error("store_failed", "cannot record the abort; nothing was done");
	}
	/* Ended, in the store, unless that could not be written either: then
	 * the doors are locked and the swap ended in memory (health says so). */
	json_object *o = json_object_new_object();
	bool ok = store_swap_get(swap_m.store, id, &rec, &found) == SW_OK && found;
	json_object_object_add(o, "swap", ok ? swap_json(&rec) : NULL);
	return control_ok(o);
}

static const struct command swap_commands[] = {
	{ .name = "swaps", .level = LEVEL_VIEWER, .fn = cmd_swaps,
	  .help = "swaps in progress and the latest ended, with stages, slots, batteries, times",
	  .args = { { "limit", ARG_INT, .min = 1, .max = 1000 } } },
	{ .name = "swap-abort", .level = LEVEL_STAFF, .fn = cmd_abort,
	  .help = "end a swap in progress, every door locked (audited)",
	  .args = { { "swap", ARG_INT, .required = true, .min = 1, .max = INT64_MAX },
		    { "reason", ARG_STRING, .required = true, .min = 1, .max = 64 } } },
};

enum sw_err swap_cmd_start(char *why, size_t whylen)
{
	return command_register(swap_commands, COMMAND_ROWS(swap_commands), why, whylen);
}
