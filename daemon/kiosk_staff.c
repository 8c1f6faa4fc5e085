/* The staff part of the kiosk's view (kiosk_priv.h): while a badge session
 * is open (staff.c, EV_STAFF_SESSION), the actions its role may run, with
 * their labels and argument names, and what needs looking at. */
#include <stdio.h>
#include <string.h>

#include "daemon/kiosk_priv.h"
#include "daemon/token.h"

/* staff.c's commands: staff-open needs an admin badge, the rest a staff
 * one (daemon/DESIGN.md, "Staff badges"). */
static const struct action {
	const char *cmd;
	bool admin;
	const char *args[3];
} actions[] = {
	{ "staff-open", true, { "slot" } },
	{ "staff-quarantine", false, { "battery", "reason" } },
	{ "staff-release", false, { "battery", "reason" } },
	{ "staff-abort", false, { "swap", "reason" } },
	{ "staff-ack", false, { "ticket" } },
	{ "staff-end", false, { NULL } },
};

static struct {
	bool open;
	char id[TOKEN_SUBJECT_MAX + 1];
	char role[8];
	int64_t until;
} session;

void kiosk_staff_event(const struct event *ev)
{
	session.open = ev->on;
	snprintf(session.id, sizeof session.id, "%s", ev->on && ev->who ? ev->who : "");
	snprintf(session.role, sizeof session.role, "%s", ev->on && ev->what ? ev->what : "");
	session.until = ev->on ? ev->ref : 0;
}

void kiosk_staff_reset(void)
{
	memset(&session, 0, sizeof session);
}

static json_object *actions_json(bool admin)
{
	json_object *a = json_object_new_array();
	char key[48];

	for (size_t x = 0; x < sizeof actions / sizeof actions[0]; x++) {
		const struct action *ac = &actions[x];
		if (ac->admin && !admin)
			continue;
		json_object *o = json_object_new_object(), *args = json_object_new_array();
		json_object_object_add(o, "cmd", json_object_new_string(ac->cmd));
		snprintf(key, sizeof key, "action.%s", ac->cmd);
		json_object_object_add(o, "label", json_object_new_string(kiosk_text(key)));
		for (size_t y = 0; y < 3 && ac->args[y]; y++)
			json_object_array_add(args, json_object_new_string(ac->args[y]));
		json_object_object_add(o, "args", args);
		json_object_array_add(a, o);
	}
	return a;
}

json_object *kiosk_staff_json(json_object *faults, json_object *swaps)
{
	if (!session.open) {
		json_object_put(faults);
		json_object_put(swaps);
		return NULL;
	}
	json_object *o = json_object_new_object();
	json_object_object_add(o, "id", json_object_new_string(session.id));
	json_object_object_add(o, "role", json_object_new_string(session.role));
	json_object_object_add(o, "until", json_object_new_int64(session.until));
	json_object_object_add(o, "actions", actions_json(strcmp(session.role, "admin") == 0));
	json_object_object_add(o, "faults", faults);
	/* level-3 tickets come with the faults module (issue 13) */
	json_object_object_add(o, "tickets", json_object_new_array());
	json_object_object_add(o, "swaps", swaps);
	return o;
}
