/* The kiosk's view (kiosk.h), kept from the events swapd publishes and
 * built into JSON when asked; daemon/DESIGN.md, "Kiosk view". */
#include "daemon/kiosk.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/access.h"
#include "daemon/command.h"
#include "daemon/control.h"
#include "daemon/event.h"
#include "daemon/kiosk_priv.h"
#include "daemon/log.h"
#include "daemon/loop.h"
#include "daemon/qr.h"
#include "daemon/queue.h"
#include "daemon/slots.h"
#include "daemon/swap_fsm.h"
#include "daemon/token.h"
#include "daemon/web.h"
#include "drivers/rack.h"

/* ETAs and charge move with time: the view is pushed again this often
 * while someone waits or a battery charges. */
#define REFRESH_MS 5000
/* One walk-in ticket per press this far apart, so a stuck button or a
 * child cannot fill the queue. */
#define JOIN_GAP_MS 3000
/* Pixels a module of the walk-in QR: readable by a phone at arm's length. */
#define QR_PX 8
#define RIDERS_MAX 256
#define AWAY_MAX 32

struct serving {
	int64_t swap, ticket;
	char rider[TOKEN_SUBJECT_MAX + 1];
	char stage[24];
	int slot, slot_in, slot_out;
};

static struct {
	bool on;
	struct config_kiosk kc;
	char station[25];
	bool walkin;
	int64_t version;
	struct loop_timer push_timer, scan_timer, refresh_timer;
	struct serving serving[RACK_MAX_SLOTS]; /* oldest first */
	int nserving;
	/* the queue's riders as last heard, to name the one a swap serves */
	struct { int64_t ticket; char user[TOKEN_SUBJECT_MAX + 1]; } riders[RIDERS_MAX], served;
	int nriders;
	struct { bool shown; char result[32]; int64_t at; } scan;
	bool alarm[RACK_MAX_SLOTS];
	/* quarantined batteries in no slot (those in one show as its state) */
	uint64_t away[AWAY_MAX];
	int naway;
	bool joined;
	int64_t last_join;
} k;

/* "…" and the last 4 characters: enough for riders to find themselves. */
static json_object *masked(const char *user)
{
	char buf[TOKEN_SUBJECT_MAX + 8];
	size_t n = strlen(user);

	if (!n)
		return NULL;
	snprintf(buf, sizeof buf, "\u2026%s", user + (n > 4 ? n - 4 : 0));
	return json_object_new_string(buf);
}

static json_object *text_fmt(const char *key, int slot, int64_t n, int min)
{
	char buf[512];

	return json_object_new_string(kiosk_text_fmt(buf, sizeof buf, key, slot, n, min));
}

/* What the rider does now, by the swap's stage (swap_fsm.h). */
static const char *stage_action(const char *stage)
{
	switch (swap_stage_parse(stage)) {
	case SWAP_WAIT_INSERT: return "put";
	case SWAP_WAIT_TAKE: return "take";
	case SWAP_CLOSE_IN: case SWAP_CLOSE_OUT: return "close";
	default: return "wait";
	}
}

static json_object *serving_list(void)
{
	json_object *a = json_object_new_array();
	char key[32];

	for (int i = 0; i < k.nserving; i++) {
		const struct serving *s = &k.serving[i];
		const char *act = stage_action(s->stage);
		json_object *o = json_object_new_object();
		json_object_object_add(o, "swap", json_object_new_int64(s->swap));
		json_object_object_add(o, "ticket", s->ticket ? json_object_new_int64(s->ticket) : NULL);
		json_object_object_add(o, "rider", masked(s->rider));
		json_object_object_add(o, "stage", json_object_new_string(s->stage));
		json_object_object_add(o, "slot", json_object_new_int(s->slot));
		json_object_object_add(o, "action", json_object_new_string(act));
		snprintf(key, sizeof key, "headline.%s", act);
		json_object_object_add(o, "headline", text_fmt(key, s->slot, 0, 0));
		json_object_array_add(a, o);
	}
	return a;
}

static int64_t get_int(json_object *o, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) ? json_object_get_int64(v) : 0;
}

static const char *get_str(json_object *o, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) && v ? json_object_get_string(v) : "";
}

static json_object *eta_text(int eta_s)
{
	return eta_s <= 0 ? json_object_new_string(kiosk_text("eta.now"))
			  : text_fmt("eta.min", 0, 0, (eta_s + 59) / 60);
}

/* The queue's entries as the screen shows them, from queue_json(). */
static json_object *queue_view(json_object *qj)
{
	json_object *a = json_object_new_array(), *entries;

	if (!json_object_object_get_ex(qj, "entries", &entries))
		return a;
	for (size_t x = 0; x < json_object_array_length(entries); x++) {
		json_object *e = json_object_array_get_idx(entries, x), *o = json_object_new_object();
		char key[48];
		int eta_s = (int)get_int(e, "eta_s");
		json_object_object_add(o, "position", json_object_new_int((int)get_int(e, "position")));
		json_object_object_add(o, "ticket", json_object_new_int64(get_int(e, "ticket")));
		json_object_object_add(o, "rider", masked(get_str(e, "user")));
		json_object_object_add(o, "eta_s", json_object_new_int(eta_s));
		json_object_object_add(o, "eta", eta_text(eta_s));
		json_object_object_add(o, "arrival", json_object_new_string(get_str(e, "arrival")));
		snprintf(key, sizeof key, "arrival.%s", get_str(e, "arrival"));
		json_object_object_add(o, "arrival_text", json_object_new_string(kiosk_text(key)));
		json_object_array_add(a, o);
	}
	return a;
}

static json_object *scan_result(void)
{
	if (!k.scan.shown)
		return NULL;
	json_object *o = json_object_new_object();
	json_object_object_add(o, "result", json_object_new_string(k.scan.result));
	json_object_object_add(o, "text", json_object_new_string(kiosk_text_scan(k.scan.result)));
	json_object_object_add(o, "at", json_object_new_int64(k.scan.at));
	return o;
}

static json_object *slot_list(void)
{
	json_object *a = json_object_new_array();
	char key[32];

	for (int i = 0; i < slots_count(); i++) {
		const struct rack_reading *r = rack_reading(i);
		const char *st = slots_state_name(slots_state(i));
		json_object *o = json_object_new_object();
		bool soc = r && r->online && r->present && r->have[RF_SOC];
		json_object_object_add(o, "slot", json_object_new_int(slots_number(i)));
		json_object_object_add(o, "state", json_object_new_string(st));
		snprintf(key, sizeof key, "state.%s", st);
		json_object_object_add(o, "label", json_object_new_string(kiosk_text(key)));
		json_object_object_add(o, "soc", soc ? json_object_new_int((int)(r->soc + 0.5)) : NULL);
		json_object_object_add(o, "alarm", json_object_new_boolean(k.alarm[i]));
		json_object_array_add(a, o);
	}
	return a;
}

static void add_slot_text(json_object *a, int slot, json_object *text)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "slot", slot ? json_object_new_int(slot) : NULL);
	json_object_object_add(o, "text", text);
	json_object_array_add(a, o);
}

static json_object *alarm_list(void)
{
	json_object *a = json_object_new_array();

	for (int i = 0; i < slots_count(); i++)
		if (k.alarm[i])
			add_slot_text(a, slots_number(i), text_fmt("alarm.door", slots_number(i), 0, 0));
	return a;
}

/* What staff should look at: slots at fault, offline or quarantined,
 * doors left open, and quarantined batteries out of the rack; said notes
 * which (kiosk_staff.c adds the fault registry's other faults). */
static json_object *fault_list(struct kiosk_said *said)
{
	json_object *a = json_object_new_array();
	uint64_t id;

	memset(said, 0, sizeof *said);
	for (int i = 0; i < slots_count(); i++) {
		int n = slots_number(i);
		switch (slots_state(i)) {
		case SLOT_FAULT:
			add_slot_text(a, n, text_fmt("fault.slot", n, 0, 0));
			said->slot[i] |= KIOSK_SAYS_FAULT;
			break;
		case SLOT_OFFLINE:
			add_slot_text(a, n, text_fmt("fault.offline", n, 0, 0));
			said->slot[i] |= KIOSK_SAYS_OFFLINE;
			break;
		case SLOT_QUARANTINED:
			id = 0;
			slots_battery(i, &id);
			add_slot_text(a, n, text_fmt("fault.quarantined", n, (int64_t)id, 0));
			said->slot[i] |= KIOSK_SAYS_QUARANTINED;
			break;
		default: break;
		}
		if (k.alarm[i]) {
			add_slot_text(a, n, text_fmt("fault.door", n, 0, 0));
			said->slot[i] |= KIOSK_SAYS_DOOR;
		}
	}
	for (int x = 0; x < k.naway; x++)
		add_slot_text(a, 0, text_fmt("fault.quarantined_away", 0, (int64_t)k.away[x], 0));
	said->away = k.naway > 0;
	return a;
}

static json_object *swap_list(void)
{
	json_object *a = json_object_new_array();

	for (int i = 0; i < k.nserving; i++) {
		const struct serving *s = &k.serving[i];
		json_object *o = json_object_new_object();
		json_object_object_add(o, "swap", json_object_new_int64(s->swap));
		json_object_object_add(o, "stage", json_object_new_string(s->stage));
		json_object_object_add(o, "slot_in", s->slot_in ? json_object_new_int(s->slot_in) : NULL);
		json_object_object_add(o, "slot_out", s->slot_out ? json_object_new_int(s->slot_out) : NULL);
		json_object_array_add(a, o);
	}
	return a;
}

json_object *kiosk_view(void)
{
	json_object *o = json_object_new_object(), *w = json_object_new_object();
	json_object *qj = k.on ? queue_json() : NULL, *faults;
	struct kiosk_said said;

	json_object_object_add(o, "version", json_object_new_int64(k.version));
	json_object_object_add(o, "lang", json_object_new_string(kiosk_text_lang()));
	json_object_object_add(o, "dir", json_object_new_string(kiosk_text_dir()));
	json_object_object_add(o, "station", json_object_new_string(k.station));
	json_object_object_add(o, "at", json_object_new_int64(loop_wall_ms()));
	json_object_object_add(o, "text", kiosk_text_labels());
	json_object_object_add(o, "serving", serving_list());
	json_object_object_add(o, "queue", qj ? queue_view(qj) : json_object_new_array());
	json_object_object_add(o, "scan", scan_result());
	json_object_object_add(o, "slots", slot_list());
	json_object_object_add(o, "alarms", alarm_list());
	faults = fault_list(&said);
	json_object_object_add(o, "staff", kiosk_staff_json(faults, &said, swap_list()));
	json_object_object_add(w, "enabled", json_object_new_boolean(k.walkin));
	json_object_object_add(w, "text", json_object_new_string(kiosk_text(k.walkin ? "walkin.on"
											 : "walkin.off")));
	json_object_object_add(o, "walkin", w);
	json_object_put(qj);
	return o;
}

/* Whether time alone changes the view: someone waits (their ETA) or a
 * battery charges (its SOC). */
static bool moving(void)
{
	for (int i = 0; i < slots_count(); i++)
		if (slots_state(i) == SLOT_CHARGING)
			return true;
	return k.nriders > 0;
}

/* One push for every change of a loop round (a 0 ms timer), never from
 * inside a storm of events. */
static void push(void *arg)
{
	(void)arg;
	k.version++;
	json_object *v = kiosk_view();
	web_push("view", json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN));
	json_object_put(v);
	if (moving() && !loop_timer_armed(&k.refresh_timer))
		loop_timer_arm(&k.refresh_timer, REFRESH_MS);
}

void kiosk_changed(void)
{
	if (k.on && !loop_timer_armed(&k.push_timer))
		loop_timer_arm(&k.push_timer, 0);
}

static void refresh(void *arg)
{
	(void)arg;
	kiosk_changed();
}

static void scan_clear(void *arg)
{
	(void)arg;
	k.scan.shown = false;
	kiosk_changed();
}

static struct serving *serving_find(int64_t swap)
{
	for (int i = 0; i < k.nserving; i++)
		if (k.serving[i].swap == swap)
			return &k.serving[i];
	return NULL;
}

/* The queue's riders now, after noting who of them a swap serves. */
static void on_queue(const struct event *ev)
{
	json_object *qj = queue_json(), *entries;

	if (ev->what && strcmp(ev->what, "served") == 0)
		for (int x = 0; x < k.nriders; x++)
			if (k.riders[x].ticket == ev->ref)
				k.served = k.riders[x];
	k.nriders = 0;
	if (json_object_object_get_ex(qj, "entries", &entries))
		for (size_t x = 0; x < json_object_array_length(entries) && k.nriders < RIDERS_MAX; x++) {
			json_object *e = json_object_array_get_idx(entries, x);
			k.riders[k.nriders].ticket = get_int(e, "ticket");
			snprintf(k.riders[k.nriders].user, sizeof k.riders[0].user, "%s", get_str(e, "user"));
			k.nriders++;
		}
	json_object_put(qj);
}

/* A swap starts, moves on, ends. The queue hears EV_SWAP_STARTED first
 * (it started before the kiosk) and says "served" for the rider's ticket
 * during it, so k.served is this rider's when they had a place. */
static void on_swap(const struct event *ev)
{
	struct serving *s = serving_find(ev->ref);

	if (ev->type == EV_SWAP_STARTED && !s && k.nserving < RACK_MAX_SLOTS) {
		s = &k.serving[k.nserving++];
		*s = (struct serving){ .swap = ev->ref, .slot = ev->slot_no, .slot_in = ev->slot_no };
		snprintf(s->rider, sizeof s->rider, "%s", ev->who ? ev->who : "");
		snprintf(s->stage, sizeof s->stage, "%s", swap_stage_name(SWAP_UNLOCK_IN));
		if (k.served.ticket && strcmp(k.served.user, s->rider) == 0)
			s->ticket = k.served.ticket;
		k.served.ticket = 0;
	} else if (ev->type == EV_SWAP_STAGE && s) {
		snprintf(s->stage, sizeof s->stage, "%s", ev->what ? ev->what : "");
		s->slot = ev->slot_no;
		if (swap_stage_out(swap_stage_parse(s->stage)))
			s->slot_out = ev->slot_no;
	} else if (ev->type == EV_SWAP_ENDED && s) {
		int i = (int)(s - k.serving);
		memmove(s, s + 1, (size_t)(k.nserving - i - 1) * sizeof *s);
		k.nserving--;
	}
}

static void on_scan(const struct event *ev)
{
	k.scan.shown = true;
	snprintf(k.scan.result, sizeof k.scan.result, "%s", ev->what ? ev->what : "");
	k.scan.at = loop_wall_ms();
	loop_timer_arm(&k.scan_timer, (int64_t)k.kc.scan_show_s * 1000);
}

static void on_quarantine(const struct event *ev)
{
	int x = 0;

	while (x < k.naway && k.away[x] != ev->battery)
		x++;
	if (ev->type == EV_BATTERY_QUARANTINED && ev->slot < 0 && x == k.naway && k.naway < AWAY_MAX)
		k.away[k.naway++] = ev->battery;
	else if (ev->type == EV_BATTERY_RELEASED && x < k.naway)
		k.away[x] = k.away[--k.naway];
}

static void on_event(const struct event *ev, void *arg)
{
	(void)arg;
	switch (ev->type) {
	case EV_SWAP_STARTED: case EV_SWAP_STAGE: case EV_SWAP_ENDED: on_swap(ev); break;
	case EV_QUEUE_CHANGED: on_queue(ev); break;
	case EV_SCAN_ACCEPTED: case EV_SCAN_REJECTED: on_scan(ev); break;
	case EV_DOOR_ALARM:
		if (ev->slot >= 0 && ev->slot < RACK_MAX_SLOTS)
			k.alarm[ev->slot] = ev->on;
		break;
	case EV_BATTERY_QUARANTINED: case EV_BATTERY_RELEASED: on_quarantine(ev); break;
	case EV_STAFF_SESSION: kiosk_staff_event(ev); break;
	default: break; /* slot states and faults: read when the view is built */
	}
	kiosk_changed();
}

static const enum event_type followed[] = {
	EV_SWAP_STARTED, EV_SWAP_STAGE, EV_SWAP_ENDED, EV_QUEUE_CHANGED, EV_SCAN_ACCEPTED,
	EV_SCAN_REJECTED, EV_SLOT_STATE, EV_SLOT_OFFLINE, EV_SLOT_ONLINE, EV_DOOR_ALARM,
	EV_BATTERY_QUARANTINED, EV_BATTERY_RELEASED, EV_STAFF_SESSION, EV_FAULT_CHANGED,
};
#define NFOLLOWED (sizeof followed / sizeof followed[0])

static json_object *cmd_view(const struct control_req *req)
{
	(void)req;
	return control_ok(kiosk_view());
}

/* The place a walk-in ticket got, or the queue's refusal, as the reply. */
static json_object *join_reply(json_object *issued)
{
	json_object *res, *q, *e, *o;
	const char *token;

	json_object_object_get_ex(issued, "result", &res);
	token = get_str(res, "token");
	if (!json_object_object_get_ex(res, "queue", &q) || !q)
		return control_error("not_configured", "%s", kiosk_text("walkin.off"));
	if (json_object_object_get_ex(q, "error", &e))
		return control_error(json_object_get_string(e), "%s",
				     kiosk_text(strcmp(json_object_get_string(e), "queue_full") == 0
						? "join.full" : "scan.store_failed"));
	char *svg = qr_svg_text(token, QR_PX);
	if (!svg)
		return control_error("internal", "the ticket's code could not be drawn");
	o = json_object_new_object();
	json_object_object_add(o, "ticket", json_object_new_int64(get_int(q, "ticket")));
	json_object_object_add(o, "position", json_object_new_int((int)get_int(q, "position")));
	json_object_object_add(o, "eta_s", json_object_new_int((int)get_int(q, "eta_s")));
	json_object_object_add(o, "eta", eta_text((int)get_int(q, "eta_s")));
	json_object_object_add(o, "svg", json_object_new_string(svg));
	free(svg);
	return control_ok(o);
}

/* "Join the queue": a walk-in ticket as `ticket` issues it (audited by
 * "kiosk"), its QR only in this reply, to the one screen that pressed. */
static json_object *cmd_join(const struct control_req *req)
{
	int64_t now = loop_now();

	(void)req;
	if (!k.walkin)
		return control_error("not_configured", "%s", kiosk_text("walkin.off"));
	if (k.joined && now - k.last_join < JOIN_GAP_MS)
		return control_error("busy", "%s", kiosk_text("join.busy"));
	k.joined = true;
	k.last_join = now;
	json_object *issued = access_issue_walkin("kiosk", NULL), *ok;
	if (!json_object_object_get_ex(issued, "ok", &ok) || !json_object_get_boolean(ok))
		return issued;
	json_object *r = join_reply(issued);
	json_object_put(issued);
	return r;
}

static const struct command kiosk_commands[] = {
	{ .name = "kiosk-view", .level = LEVEL_VIEWER, .fn = cmd_view,
	  .help = "what the kiosk's screen shows now (riders masked, nothing secret)" },
	{ .name = "kiosk-join", .level = LEVEL_KIOSK, .fn = cmd_join,
	  .help = "the kiosk's \"Join the queue\": a walk-in ticket, its place and its QR (audited)" },
};

enum sw_err kiosk_start(const struct config *cfg, struct store *st, char *why, size_t whylen)
{
	char path[PATH_MAX + 64];
	enum sw_err e;

	(void)st;
	if (!cfg->kiosk.enabled)
		return SW_OK;
	memset(&k, 0, sizeof k);
	k.kc = cfg->kiosk;
	snprintf(k.station, sizeof k.station, "%s", cfg->station.id);
	k.walkin = cfg->tokens.enabled && cfg->tokens.walkin_kid[0];
	snprintf(path, sizeof path, "%s/lang/%s.json", k.kc.assets, k.kc.language);
	if ((e = kiosk_text_load(path, why, whylen)) != SW_OK)
		return e;
	loop_timer_init(&k.push_timer, push, NULL);
	loop_timer_init(&k.scan_timer, scan_clear, NULL);
	loop_timer_init(&k.refresh_timer, refresh, NULL);
	kiosk_staff_reset();
	if ((e = command_register(kiosk_commands, COMMAND_ROWS(kiosk_commands), why, whylen)) != SW_OK)
		return e;
	for (size_t x = 0; x < NFOLLOWED; x++)
		if ((e = event_subscribe(followed[x], on_event, NULL)) != SW_OK) {
			snprintf(why, whylen, "cannot subscribe to %s", event_name(followed[x]));
			return e;
		}
	k.on = true;
	on_queue(&(struct event){ .type = EV_QUEUE_CHANGED, .slot = -1 });
	kiosk_changed();
	return SW_OK;
}

void kiosk_stop(void)
{
	for (size_t x = 0; x < NFOLLOWED; x++)
		event_unsubscribe(followed[x], on_event, NULL);
	if (k.on) {
		loop_timer_cancel(&k.push_timer);
		loop_timer_cancel(&k.scan_timer);
		loop_timer_cancel(&k.refresh_timer);
	}
	k.on = false;
	kiosk_text_free();
}
