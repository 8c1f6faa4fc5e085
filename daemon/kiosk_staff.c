/* The staff part of the kiosk's view (kiosk_priv.h): while a badge session
 * is open (staff.c, EV_STAFF_SESSION), the actions its role may run, with
 * their labels and argument names, and what needs looking at: kiosk.c's
 * lines from the slots, the fault registry's open faults and its level-3
 * tickets waiting for a person (daemon/FAULTS.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/fault.h"
#include "daemon/kiosk_priv.h"
#include "daemon/slots.h"
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

/* What kiosk.c's own lines say of a registry fault's code, when they say
 * it: the slot's offline or fault state (the firmware's fault bits), its
 * door alarm, a quarantined battery. The other codes, lock_stuck and
 * unknown_battery among them (a slot out of service until released), are
 * the registry's alone. */
static unsigned said_by(const char *code)
{
	static const struct { const char *code; unsigned says; } cover[] = {
		{ "slot_offline", KIOSK_SAYS_OFFLINE }, { "door_left_open", KIOSK_SAYS_DOOR },
		{ "over_temperature", KIOSK_SAYS_FAULT }, { "cell_over_voltage", KIOSK_SAYS_FAULT },
		{ "bms_implausible", KIOSK_SAYS_FAULT }, { "low_soh", KIOSK_SAYS_QUARANTINED },
	};

	for (size_t x = 0; x < sizeof cover / sizeof cover[0]; x++)
		if (strcmp(cover[x].code, code) == 0)
			return cover[x].says;
	return 0;
}

static const char *field(json_object *o, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) && v ? json_object_get_string(v) : "";
}

/* Whether a line of kiosk.c's says fault f already. */
static bool said_already(json_object *f, const struct kiosk_said *said)
{
	unsigned says = said_by(field(f, "code"));
	json_object *v;
	int i = json_object_object_get_ex(f, "slot", &v) && v ? slots_index(json_object_get_int(v))
								: -1;

	if (!says)
		return false;
	if (i >= 0 && i < RACK_MAX_SLOTS)
		return (said->slot[i] & says) != 0;
	return says == KIOSK_SAYS_QUARANTINED && said->away;
}

/* fault f in the catalogue's words: "fault.<code>" with its slot and its
 * battery's number ("BAT-00777": 777). */
static json_object *fault_text(json_object *f)
{
	char key[64], buf[512];
	const char *bat = field(f, "battery");
	json_object *v;
	int slot = json_object_object_get_ex(f, "slot", &v) && v ? json_object_get_int(v) : 0;

	snprintf(key, sizeof key, "fault.%s", field(f, "code"));
	kiosk_text_fmt(buf, sizeof buf, key, slot,
		       strncmp(bat, "BAT-", 4) == 0 ? (int64_t)strtoull(bat + 4, NULL, 10) : 0, 0);
	return json_object_new_string(buf);
}

static void add_line(json_object *a, const char *idk, json_object *id, json_object *text)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, idk, id);
	json_object_object_add(o, "text", text);
	json_object_array_add(a, o);
}

/* The registry's open faults: an unacknowledged ticket to tickets, the
 * rest to faults unless a derived line says it already. */
static void add_registry(json_object *faults, json_object *tickets, const struct kiosk_said *said)
{
	json_object *open = fault_open_json(), *t, *v;

	for (size_t x = 0; x < json_object_array_length(open); x++) {
		json_object *f = json_object_array_get_idx(open, x);
		bool ticket = json_object_object_get_ex(f, "ticket", &t) && t;
		if (ticket && strcmp(field(t, "state"), "open") == 0)
			add_line(tickets, "id", json_object_new_string(field(t, "ticket")), fault_text(f));
		else if (!said_already(f, said))
			add_line(faults, "slot", json_object_object_get_ex(f, "slot", &v) && v
						 ? json_object_get(v) : NULL, fault_text(f));
	}
	json_object_put(open);
}

json_object *kiosk_staff_json(json_object *faults, const struct kiosk_said *said,
			      json_object *swaps)
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
	json_object *tickets = json_object_new_array();
	add_registry(faults, tickets, said);
	json_object_object_add(o, "faults", faults);
	json_object_object_add(o, "tickets", tickets);
	json_object_object_add(o, "swaps", swaps);
	return o;
}
