#include "daemon/staff.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "daemon/access.h"
#include "daemon/control.h"
#include "daemon/event.h"
#include "daemon/fault.h"
#include "daemon/ledger.h"
#include "daemon/log.h"
#include "daemon/loop.h"
#include "daemon/slots.h"
#include "daemon/swap.h"
#include "daemon/token.h"

/* A lock that did not read back is tried again after this. */
#define RELOCK_RETRY_MS 1000

static struct config_staff sc;   /* a copy: a reload frees the config */
static struct store *store;

/* The one staff session at the kiosk. */
static struct {
	bool open;
	char id[TOKEN_SUBJECT_MAX + 1];
	enum token_role role;
	int64_t until;          /* loop_now() when it ends unless renewed */
	struct loop_timer timer;
} session;

/* A slot staff opened: unlocked, waited for its door to open (at most
 * staff.open_timeout_s) and to close again, then locked; held by "staff"
 * throughout, so that no swap or job takes it meanwhile. */
enum open_phase { OPEN_NONE, OPEN_UNLOCKING, OPEN_WAIT, OPEN_OPEN, OPEN_LOCKING };
static struct open_slot {
	enum open_phase phase;
	int i;
	char who[TOKEN_SUBJECT_MAX + 1];
	struct control_pending *pending;
	struct loop_timer timer;
	bool stuck;         /* its lock failed: lock_stuck raised, retrying */
} opens[RACK_MAX_SLOTS];
static int64_t open_count;  /* the ref of each hold, for logs */

static const char *role_name(enum token_role r)
{
	return r == TOKEN_ROLE_ADMIN ? "admin" : "staff";
}

/* The kiosk hears of the session: open until when, or ended. */
static void announce(void)
{
	int64_t left = session.until - loop_now();
	struct event ev = { .type = EV_STAFF_SESSION, .slot = -1, .on = session.open,
			    .who = session.id, .what = role_name(session.role),
			    .ref = session.open ? loop_wall_ms() + left : 0 };

	event_publish(&ev);
}

/* Starts or renews the session's time. */
static void renew(void)
{
	session.until = loop_now() + (int64_t)sc.session_s * 1000;
	loop_timer_arm(&session.timer, (int64_t)sc.session_s * 1000);
	announce();
}

static void end_session(const char *why)
{
	if (!session.open)
		return;
	session.open = false;
	loop_timer_cancel(&session.timer);
	log_msg(LOG_NOTICE, "staff: %s's session ended: %s", session.id, why);
	store_audit(store, session.id, "staff-end", why, NULL); /* a failure is the store's health */
	announce();
}

static void session_expired(void *arg)
{
	(void)arg;
	end_session("timeout");
}

/* A badge is always taken: its grammar gave it a role. */
static const char *badge_check(const struct token *tok, void *arg)
{
	(void)tok;
	(void)arg;
	return NULL;
}

/* The session's start, in the scan's own transaction. */
static enum sw_err badge_record(const struct token *tok, void *arg)
{
	char detail[64];

	(void)arg;
	snprintf(detail, sizeof detail, "role %s, badge %s", role_name(tok->role), tok->nonce);
	return store_audit(store, tok->subject, "staff-session", detail, NULL);
}

static void badge_done(const struct token *tok, bool committed, void *arg)
{
	(void)arg;
	if (!committed)
		return;
	/* issue 12: the session "ends on timeout or a second scan" of the
	 * same badge (its staff id), so staff sign out where they signed in */
	if (session.open && strcmp(session.id, tok->subject) == 0) {
		end_session("badge scanned again");
		return;
	}
	if (session.open)
		end_session("another badge was scanned");
	session.open = true;
	snprintf(session.id, sizeof session.id, "%s", tok->subject);
	session.role = tok->role;
	renew();
	log_msg(LOG_NOTICE, "staff: %s (%s) at the kiosk", session.id, role_name(session.role));
}

/* Whether a kiosk command may act for what needs role `need`: within a
 * session, which it renews, and with a badge of that role; else *err is
 * the reply. */
static bool in_session(enum token_role need, const char *cmd, json_object **err)
{
	if (!session.open) {
		*err = control_error("no_session", "no staff session: scan a staff badge first");
		return false;
	}
	renew();
	if (need == TOKEN_ROLE_ADMIN && session.role != TOKEN_ROLE_ADMIN) {
		*err = control_error("not_permitted", "%s needs an admin badge; %s's badge is staff",
				     cmd, session.id);
		return false;
	}
	return true;
}

static void opened_reply(struct open_slot *o, json_object *reply)
{
	if (o->pending)
		control_finish(o->pending, reply);
	else
		json_object_put(reply);
	o->pending = NULL;
}

static void relock(struct open_slot *o);

static void locked(enum sw_err e, void *arg)
{
	struct open_slot *o = arg;

	if (o->phase != OPEN_LOCKING)
		return;
	if (e != SW_OK) {
		/* said once: the fault's ticket calls a person, the retries
		 * go on quietly (the slot stays held meanwhile) */
		if (!o->stuck) {
			log_msg(LOG_WARNING, "staff: slot %d did not lock (%s); trying again every %d ms",
				slots_number(o->i), sw_strerror(e), RELOCK_RETRY_MS);
			fault_raise(FAULT_LOCK_STUCK, slots_number(o->i), 0,
				    "did not lock after staff opened it", "lock again every second");
		}
		o->stuck = true;
		loop_timer_arm(&o->timer, RELOCK_RETRY_MS);
		return;
	}
	o->phase = OPEN_NONE;
	slots_unhold(o->i);
	if (o->stuck)
		fault_gone(FAULT_LOCK_STUCK, slots_number(o->i), 0);
	o->stuck = false;
	log_msg(LOG_INFO, "staff: slot %d locked again", slots_number(o->i));
}

static void relock(struct open_slot *o)
{
	o->phase = OPEN_LOCKING;
	enum sw_err e = slots_set_lock(o->i, true, locked, o);
	if (e != SW_OK)
		locked(e, o);
}

static void open_timer(void *arg)
{
	struct open_slot *o = arg;

	if (o->phase == OPEN_WAIT)
		log_msg(LOG_NOTICE, "staff: nobody opened slot %d; locking it", slots_number(o->i));
	if (o->phase == OPEN_WAIT || o->phase == OPEN_LOCKING)
		relock(o);
}

static void unlocked(enum sw_err e, void *arg)
{
	struct open_slot *o = arg;
	json_object *r;

	if (o->phase != OPEN_UNLOCKING)
		return;
	if (e != SW_OK) {
		o->phase = OPEN_NONE;
		slots_unhold(o->i);
		opened_reply(o, control_error("slot_error", "slot %d did not unlock: %s",
					      slots_number(o->i), sw_strerror(e)));
		return;
	}
	o->phase = OPEN_WAIT;
	loop_timer_arm(&o->timer, (int64_t)sc.open_timeout_s * 1000);
	r = json_object_new_object();
	json_object_object_add(r, "slot", json_object_new_int(slots_number(o->i)));
	json_object_object_add(r, "done", json_object_new_string("unlock"));
	opened_reply(o, control_ok(r));
}

/* Opens a slot for an admin badge: audited first (a door opens only on a
 * durable decision), held, unlocked; the reply comes once it is. */
static json_object *cmd_staff_open(const struct control_req *req)
{
	int n = (int)control_arg_int(req, "slot", 0), i = slots_index(n);
	json_object *err;
	const char *holder;
	int64_t ref;
	char detail[96];

	if (!in_session(TOKEN_ROLE_ADMIN, "staff-open", &err))
		return err;
	if (i < 0)
		return control_error("unknown_slot", "no slot %d", n);
	if ((holder = slots_holder(i, &ref)))
		return control_error("slot_busy", "slot %d is held by %s %" PRId64, n, holder, ref);
	struct open_slot *o = &opens[i];
	if (!(o->pending = control_defer(req)))
		return control_error("internal", "out of memory");
	snprintf(detail, sizeof detail, "slot %d, at the kiosk (%s)", n, req->who);
	if (store_audit(store, session.id, "staff-open", detail, NULL) != SW_OK) {
		opened_reply(o, control_error("store_failed", "cannot record the opening; not opening"));
		return NULL;
	}
	slots_hold(i, "staff", ++open_count);
	o->phase = OPEN_UNLOCKING;
	o->i = i;
	snprintf(o->who, sizeof o->who, "%s", session.id);
	log_msg(LOG_NOTICE, "staff: %s opens slot %d", o->who, n);
	enum sw_err e = slots_set_lock(i, false, unlocked, o);
	if (e != SW_OK)
		unlocked(e, o);
	return NULL;
}

static void on_door(const struct event *ev, void *arg)
{
	(void)arg;
	if (ev->slot < 0)
		return;
	struct open_slot *o = &opens[ev->slot];
	if (ev->type == EV_DOOR_OPENED && o->phase == OPEN_WAIT) {
		o->phase = OPEN_OPEN;
		loop_timer_cancel(&o->timer);
	} else if (ev->type == EV_DOOR_CLOSED && o->phase == OPEN_OPEN) {
		relock(o);
	}
}

/* A battery taken from a slot staff opened went with them. */
static void on_removed(const struct event *ev, void *arg)
{
	(void)arg;
	if (ev->slot >= 0 && opens[ev->slot].phase != OPEN_NONE)
		store_battery_left(store, ev->battery, "staff", 0, opens[ev->slot].who, NULL);
}

static json_object *cmd_staff_battery(const struct control_req *req, bool on)
{
	json_object *err;

	if (!in_session(TOKEN_ROLE_STAFF, on ? "staff-quarantine" : "staff-release", &err))
		return err;
	return ledger_battery_reply(control_arg_str(req, "battery"), on,
				    control_arg_str(req, "reason"), session.id);
}

static json_object *cmd_staff_quarantine(const struct control_req *req)
{
	return cmd_staff_battery(req, true);
}

static json_object *cmd_staff_release(const struct control_req *req)
{
	return cmd_staff_battery(req, false);
}

/* A stuck swap ended by the staff member at the kiosk, on their badge:
 * audited with their id (swap_abort writes that first). */
static json_object *cmd_staff_abort(const struct control_req *req)
{
	json_object *err;
	int64_t id = control_arg_int(req, "swap", 0);

	if (!in_session(TOKEN_ROLE_STAFF, "staff-abort", &err))
		return err;
	switch (swap_abort(id, session.id, control_arg_str(req, "reason"))) {
	case SW_OK:
		return control_ok(NULL);
	case SW_ENOENT:
		return control_error("unknown_swap", "no swap %lld is in progress", (long long)id);
	default:
		return control_error("store_failed", "the abort could not be recorded; nothing was done");
	}
}

/* A level-3 ticket taken by the staff member at the kiosk: the registry
 * audits it with their id. */
static json_object *cmd_staff_ack(const struct control_req *req)
{
	json_object *err;

	if (!in_session(TOKEN_ROLE_STAFF, "staff-ack", &err))
		return err;
	return fault_ack_reply(control_arg_str(req, "ticket"), session.id);
}

static json_object *cmd_staff_end(const struct control_req *req)
{
	json_object *err;

	(void)req;
	if (!in_session(TOKEN_ROLE_STAFF, "staff-end", &err))
		return err;
	end_session("ended at the kiosk");
	return control_ok(NULL);
}

static json_object *cmd_staff_session(const struct control_req *req)
{
	json_object *r = json_object_new_object();

	(void)req;
	json_object_object_add(r, "staff", session.open ? json_object_new_string(session.id) : NULL);
	if (session.open) {
		json_object_object_add(r, "role", json_object_new_string(role_name(session.role)));
		json_object_object_add(r, "expires_in_s",
				       json_object_new_int64((session.until - loop_now() + 999) / 1000));
	}
	return control_ok(r);
}

static const struct command staff_commands[] = {
	{ .name = "staff-session", .level = LEVEL_KIOSK, .fn = cmd_staff_session,
	  .help = "the staff session at the kiosk, if a badge opened one" },
	{ .name = "staff-open", .level = LEVEL_KIOSK, .fn = cmd_staff_open,
	  .help = "open a slot, locked again once closed (admin badge; audited)",
	  .args = { { "slot", ARG_INT, .required = true, .min = 1, .max = 999 } } },
	{ .name = "staff-quarantine", .level = LEVEL_KIOSK, .fn = cmd_staff_quarantine,
	  .help = "quarantine a battery (staff badge; audited)",
	  .args = { LEDGER_BATTERY_ARG, LEDGER_REASON_ARG } },
	{ .name = "staff-release", .level = LEVEL_KIOSK, .fn = cmd_staff_release,
	  .help = "release a quarantined battery (staff badge; audited)",
	  .args = { LEDGER_BATTERY_ARG, LEDGER_REASON_ARG } },
	{ .name = "staff-abort", .level = LEVEL_KIOSK, .fn = cmd_staff_abort,
	  .help = "end a stuck swap, every door locked (a badge's session, audited)",
	  .args = { { "swap", ARG_INT, .required = true, .min = 1, .max = INT64_MAX },
		    LEDGER_REASON_ARG } },
	{ .name = "staff-ack", .level = LEVEL_KIOSK, .fn = cmd_staff_ack,
	  .help = "acknowledge a level-3 ticket: you are on it (staff badge; audited)",
	  .args = { { "ticket", ARG_STRING, .required = true, .min = 2, .max = 21 } } },
	{ .name = "staff-end", .level = LEVEL_KIOSK, .fn = cmd_staff_end,
	  .help = "end the staff session" },
};

static const struct { enum event_type type; event_fn fn; } subs[] = {
	{ EV_DOOR_OPENED, on_door }, { EV_DOOR_CLOSED, on_door }, { EV_BATTERY_REMOVED, on_removed },
};

enum sw_err staff_start(const struct config *cfg, struct store *st, char *why, size_t whylen)
{
	sc = cfg->staff;
	store = st;
	memset(&session, 0, sizeof session);
	memset(opens, 0, sizeof opens);
	loop_timer_init(&session.timer, session_expired, NULL);
	for (int i = 0; i < RACK_MAX_SLOTS; i++)
		loop_timer_init(&opens[i].timer, open_timer, &opens[i]);
	enum sw_err e = command_register(staff_commands, COMMAND_ROWS(staff_commands), why, whylen);
	for (size_t k = 0; e == SW_OK && k < sizeof subs / sizeof subs[0]; k++)
		if ((e = event_subscribe(subs[k].type, subs[k].fn, NULL)) != SW_OK)
			snprintf(why, whylen, "cannot subscribe to %s", event_name(subs[k].type));
	if (e == SW_OK)
		access_set_claim(TOKEN_BADGE, &(struct access_claim){ .check = badge_check,
								       .record = badge_record,
								       .done = badge_done });
	return e;
}

void staff_reconfigure(const struct config *cfg)
{
	sc = cfg->staff;
}

void staff_stop(void)
{
	access_set_claim(TOKEN_BADGE, NULL);
	end_session("swapd stopping");
	for (int i = 0; i < RACK_MAX_SLOTS; i++) {
		struct open_slot *o = &opens[i];
		if (o->phase == OPEN_NONE)
			continue;
		loop_timer_cancel(&o->timer);
		opened_reply(o, control_error("stopping", "swapd is stopping; every door is being locked"));
		slots_unhold(o->i);
		o->phase = OPEN_NONE;
	}
	for (size_t k = 0; k < sizeof subs / sizeof subs[0]; k++)
		event_unsubscribe(subs[k].type, subs[k].fn, NULL);
}
