#include "daemon/status.h"

#include <stdio.h>
#include <string.h>

#include "daemon/command.h"
#include "daemon/health.h"
#include "daemon/loop.h"

static const struct command status_commands[] = {
	{ .name = "status", .level = LEVEL_VIEWER, .fn = status_cmd,
	  .help = "uptime, version, config digest, health per subsystem" },
};

static const struct config *cfg;
static struct store *store;
static char boot_id[33];
static int64_t started_at;

enum sw_err status_start(const struct config *c, struct store *st, const char *boot,
			 char *why, size_t whylen)
{
	cfg = c;
	store = st;
	snprintf(boot_id, sizeof boot_id, "%s", boot);
	started_at = loop_now();
	enum sw_err e = command_register(status_commands, COMMAND_ROWS(status_commands), why, whylen);
	if (e != SW_OK)
		return e;
	health_set("control", HEALTH_OK, "0 clients");
	return SW_OK;
}

void status_reconfigure(const struct config *c)
{
	cfg = c;
}

/* The store's entry as health_json gave it, with the store's size and
 * backlog added to the detail while it is healthy. Only the reply changes:
 * the "store" health entry is the store's own, and a failed store keeps
 * saying why it failed. */
static void add_store_figures(json_object *subsystems)
{
	struct store_stats ss;
	char detail[200];

	if (health_get("store") != HEALTH_OK || store_stats(store, &ss) != SW_OK)
		return;
	snprintf(detail, sizeof detail, "%.120s, %lld events waiting, %lld KiB", cfg->store.path,
		 (long long)ss.events, (long long)ss.db_bytes / 1024);
	for (size_t i = 0; i < json_object_array_length(subsystems); i++) {
		json_object *o = json_object_array_get_idx(subsystems, i), *name;
		if (json_object_object_get_ex(o, "name", &name) &&
		    strcmp(json_object_get_string(name), "store") == 0)
			json_object_object_add(o, "detail", json_object_new_string(detail));
	}
}

json_object *status_cmd(const struct control_req *req)
{
	json_object *r = json_object_new_object(), *subsystems;

	(void)req;
	health_set("control", HEALTH_OK, "%d client%s", control_clients(),
		   control_clients() == 1 ? "" : "s");
	/* The store checks its file first: one removed since the last write
	 * turns the store's health failed in this very reply. */
	bool store_ok = store_check(store) == SW_OK;
	subsystems = health_json();
	if (store_ok)
		add_store_figures(subsystems);
	json_object_object_add(r, "version", json_object_new_string(SWAPD_VERSION));
	json_object_object_add(r, "station", json_object_new_string(cfg->station.id));
	json_object_object_add(r, "boot", json_object_new_string(boot_id));
	json_object_object_add(r, "uptime_s", json_object_new_int64((loop_now() - started_at) / 1000));
	json_object_object_add(r, "config_path", json_object_new_string(cfg->path));
	json_object_object_add(r, "config_digest", json_object_new_string(cfg->digest));
	json_object_object_add(r, "health",
			       json_object_new_string(health_state_name(health_overall())));
	json_object_object_add(r, "subsystems", subsystems);
	return control_ok(r);
}

void status_stop(void)
{
	cfg = NULL;
	store = NULL;
}
