/* The fault registry (fault.h, daemon/FAULTS.md): the fault table, the
 * open faults mirrored from the store, and one loop timer at the nearest
 * of their deadlines (a clearing, an escalation, a ticket's re-announcement),
 * all on the loop's wall clock so that they survive a restart and the test
 * clock drives them. */
#include "daemon/fault.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/command.h"
#include "daemon/control.h"
#include "daemon/event.h"
#include "daemon/fault_diag.h"
#include "daemon/log.h"
#include "daemon/loop.h"
#include "daemon/slots.h"
#include "daemon/store_faults.h"
#include "daemon/text.h"

/* The fault table: one row per code, in enum order (FAULTS.md says why
 * each value). Level 3 from the start: only a person can help. */
static const struct fault_rule rules[FAULT_CODE_COUNT] = {
	{ FAULT_SLOT_OFFLINE, "slot_offline", 1, FAULT_BLOCKS_SLOT, 60, 900, "slot not answering" },
	{ FAULT_BUS_ERRORS, "bus_errors", 1, FAULT_BLOCKS_NOTHING, 300, 3600,
	  "CRC or framing errors on the slot bus" },
	{ FAULT_OVER_TEMP_WARN, "over_temperature_warning", 1, FAULT_BLOCKS_NOTHING, 300, 0,
	  "battery warm: charging current halved" },
	{ FAULT_OVER_TEMP, "over_temperature", 1, FAULT_BLOCKS_SLOT, 600, 1800,
	  "battery over temperature" },
	{ FAULT_TEMP_RISE, "temperature_rise", 1, FAULT_BLOCKS_SLOT, 600, 1800,
	  "battery temperature rising fast" },
	{ FAULT_CELL_IMBALANCE, "cell_imbalance", 1, FAULT_BLOCKS_NOTHING, 3600, 86400,
	  "battery cells out of balance" },
	{ FAULT_CELL_OVER_VOLTAGE, "cell_over_voltage", 1, FAULT_BLOCKS_SLOT, 600, 1800,
	  "battery cell over voltage" },
	{ FAULT_CHARGER, "charger_fault", 1, FAULT_BLOCKS_SLOT, 300, 1800, "slot charger fault" },
	{ FAULT_CURRENT_MISMATCH, "current_mismatch", 1, FAULT_BLOCKS_SLOT, 300, 1800,
	  "charging current does not follow the charger" },
	{ FAULT_DOOR_UNEXPECTED, "door_unexpected", 1, FAULT_BLOCKS_SLOT, 60, 600,
	  "door open without a swap" },
	{ FAULT_LOCK_STUCK, "lock_stuck", 3, FAULT_BLOCKS_SLOT, 60, 0,
	  "lock does not follow its command" },
	{ FAULT_DOOR_LEFT_OPEN, "door_left_open", 1, FAULT_BLOCKS_SLOT, 30, 600, "door left open" },
	{ FAULT_LOW_SOH, "low_soh", 1, FAULT_BLOCKS_NOTHING, 0, 7 * 86400,
	  "worn battery quarantined: to be collected" },
	{ FAULT_BMS_IMPLAUSIBLE, "bms_implausible", 1, FAULT_BLOCKS_SLOT, 300, 3600,
	  "battery BMS reports impossible values" },
	/* blocks nothing here: the swap flow refuses and the rack holds
	 * charging off on the live input, and both end with its release */
	{ FAULT_ESTOP, "emergency_stop", 3, FAULT_BLOCKS_NOTHING, 10, 0, "emergency stop pressed" },
	{ FAULT_POWER_LOST, "power_lost", 1, FAULT_BLOCKS_STATION, 60, 900,
	  "site power lost: on battery" },
	{ FAULT_SERIAL_LOST, "serial_lost", 1, FAULT_BLOCKS_STATION, 30, 300,
	  "slot bus serial device lost" },
	{ FAULT_STORE, "store_error", 1, FAULT_BLOCKS_STATION, 60, 600,
	  "database error or disk almost full" },
	{ FAULT_OUTBOX_FULL, "outbox_full", 1, FAULT_BLOCKS_STATION, 60, 3600,
	  "fleet events over the outbox cap" },
	{ FAULT_BROKER_UNREACHABLE, "broker_unreachable", 1, FAULT_BLOCKS_NOTHING, 60, 0,
	  "fleet broker unreachable" },
	{ FAULT_CLOCK_UNSYNCED, "clock_unsynced", 1, FAULT_BLOCKS_NOTHING, 300, 86400,
	  "system clock not synchronised" },
	{ FAULT_UNKNOWN_BATTERY, "unknown_battery", 3, FAULT_BLOCKS_SLOT, 0, 0,
	  "unidentified battery locked in" },
};

/* Open faults at once, at most: a 32-slot station with every slot failing
 * several ways stays well under it; beyond it a raise is logged, not kept. */
#define FAULT_MAX 256
/* The faults `swapctl faults all` and the kiosk show at most. */
#define FAULT_SHOWN 100
/* A clearing the store refused is tried again this much later. */
#define RETRY_MS 60000

struct open_fault {
	int64_t id;
	enum fault_code code;
	int slot_no;
	uint64_t battery;
	char detail[160];
	int64_t raised_at;     /* wall ms */
	int64_t clear_at;      /* wall ms it clears unless raised again; 0: it holds */
	bool ticket, acked;
	int64_t announced_at;  /* wall ms ticket.opened last went out */
	int64_t retry_at;      /* a ticket the store refused: not before this */
	char how[64];          /* why clear_at clears it; "": the condition is gone */
	struct fault_diag diag; /* the latest diagnosis; by NULL: none (loaded from before) */
};

static struct config_faults fc;
static struct store *store;
static char boot_id[33];
static struct open_fault reg[FAULT_MAX];
static int nreg;
static struct loop_timer timer;

const struct fault_rule *fault_rule(enum fault_code code)
{
	return (unsigned)code < FAULT_CODE_COUNT ? &rules[code] : &rules[0];
}

const char *fault_code_name(enum fault_code code)
{
	return fault_rule(code)->name;
}

bool fault_code_of(const char *name, enum fault_code *code)
{
	for (int k = 0; k < FAULT_CODE_COUNT; k++)
		if (strcmp(rules[k].name, name) == 0) {
			*code = (enum fault_code)k;
			return true;
		}
	return false;
}

static struct open_fault *find(enum fault_code code, int slot_no, uint64_t battery)
{
	for (int k = 0; k < nreg; k++)
		if (reg[k].code == code && reg[k].slot_no == slot_no && reg[k].battery == battery)
			return &reg[k];
	return NULL;
}

static void publish(const struct open_fault *f, const char *what, bool open)
{
	struct event ev = { .type = EV_FAULT_CHANGED, .slot = f->slot_no ? slots_index(f->slot_no) : -1,
			    .slot_no = f->slot_no, .battery = f->battery, .on = open, .what = what,
			    .ref = f->id };

	event_publish(&ev);
}

static int64_t not_before(const struct open_fault *f, int64_t due)
{
	return due > f->retry_at ? due : f->retry_at;
}

static int64_t escalate_at(const struct open_fault *f)
{
	int64_t ms = (int64_t)rules[f->code].escalate_after_s * 10 * fc.escalate_after_pct;

	return f->ticket || !ms ? 0 : not_before(f, f->raised_at + ms);
}

static int64_t announce_at(const struct open_fault *f)
{
	return f->ticket && !f->acked
	       ? not_before(f, f->announced_at + (int64_t)fc.ticket_reannounce_s * 1000) : 0;
}

static void rearm(void)
{
	int64_t next = 0;

	for (int k = 0; k < nreg; k++) {
		int64_t d[] = { reg[k].clear_at, escalate_at(&reg[k]), announce_at(&reg[k]) };
		for (int x = 0; x < 3; x++)
			if (d[x] && (!next || d[x] < next))
				next = d[x];
	}
	if (!next) {
		loop_timer_cancel(&timer);
		return;
	}
	int64_t delay = next - loop_wall_ms();
	loop_timer_arm(&timer, delay > 0 ? delay : 0);
}

/* Appends a fleet event to the open transaction; takes f. */
static void emit(const char *type, json_object *f)
{
	store_outbox_add(store, &(struct store_event){ type, boot_id, f });
	json_object_put(f);
}

static void ticket_name(int64_t id, char buf[24])
{
	snprintf(buf, 24, "F%" PRId64, id);
}

/* Opens (or announces again) f's ticket in the open transaction:
 * ticket.opened [ticket, fault, summary] (mqtt.md), the same id each time. */
static void open_ticket(const struct open_fault *f)
{
	const struct fault_rule *r = &rules[f->code];
	char name[24], summary[512], where[48] = "";
	json_object *o = json_object_new_object();

	if (f->slot_no)
		snprintf(where, sizeof where, " at slot %d", f->slot_no);
	int n = snprintf(summary, sizeof summary, "%s%s: %s", r->summary, where, f->detail);
	if (f->diag.by && n > 0 && (size_t)n < sizeof summary)
		snprintf(summary + n, sizeof summary - (size_t)n, ". Diagnosis: %s (%s, likelihood %.2f);"
			 " recommended: %s", f->diag.cause, f->diag.detail, f->diag.likelihood,
			 f->diag.action);
	ticket_name(f->id, name);
	json_object_object_add(o, "ticket", json_object_new_string(name));
	json_object_object_add(o, "fault", json_object_new_int64(f->id));
	json_object_object_add(o, "summary", json_object_new_string(summary));
	store_fault_ticket(store, f->id, NULL);
	emit("ticket.opened", o);
}

/* fault.raised (mqtt.md): fault, code, level, slot or null, battery or
 * null, detail, action, and the extra field diagnosis (mqtt.md allows
 * extra fields). */
static json_object *raised_fields(const struct open_fault *f, int level, const char *action)
{
	json_object *o = json_object_new_object();
	char name[24];

	snprintf(name, sizeof name, "BAT-%05" PRIu64, f->battery);
	json_object_object_add(o, "fault", json_object_new_int64(f->id));
	json_object_object_add(o, "code", json_object_new_string(rules[f->code].name));
	json_object_object_add(o, "level", json_object_new_int(level));
	json_object_object_add(o, "slot", f->slot_no ? json_object_new_int(f->slot_no) : NULL);
	json_object_object_add(o, "battery", f->battery ? json_object_new_string(name) : NULL);
	json_object_object_add(o, "detail", json_object_new_string(f->detail));
	json_object_object_add(o, "action", action ? json_object_new_string(action) : NULL);
	json_object_object_add(o, "diagnosis", f->diag.by ? fault_diag_json(&f->diag) : NULL);
	return o;
}

/* Diagnoses f (fault_diag.h) from the history in memory; its JSON text for
 * the store in json (to be put by the caller). */
static void diagnose(struct open_fault *f, json_object **json)
{
	fault_diag_run(&(struct fault_diag_input){ f->code, f->slot_no, f->battery, f->detail,
						   f->raised_at },
		       &f->diag);
	*json = fault_diag_json(&f->diag);
}

/* A new fault, diagnosed: its row, fault.raised and, at level 3 (the
 * rule's or the diagnosis's), its ticket, in one transaction; kept only
 * once that is on disk. */
static int64_t raise_new(enum fault_code code, int slot_no, uint64_t battery, const char *detail,
			 const char *action)
{
	const struct fault_rule *r = &rules[code];
	struct open_fault f = { .code = code, .slot_no = slot_no, .battery = battery,
				.raised_at = loop_wall_ms() };
	json_object *diag;

	if (nreg == FAULT_MAX) {
		log_msg(LOG_ERR, "fault: %s at slot %d not recorded: %d faults are open already",
			r->name, slot_no, FAULT_MAX);
		return 0;
	}
	snprintf(f.detail, sizeof f.detail, "%s", detail ? detail : "");
	diagnose(&f, &diag);
	int level = f.diag.level > r->level ? f.diag.level : r->level;
	struct store_fault row = { .code = r->name, .slot = slot_no, .battery = battery,
				   .level = level, .detail = f.detail, .raised_at = f.raised_at,
				   .diagnosis = json_object_to_json_string(diag) };
	store_tx_begin(store);
	store_fault_raise(store, &row, NULL);
	json_object_put(diag);
	f.id = row.id;
	emit("fault.raised", raised_fields(&f, level, action));
	if (action)
		store_fault_action(store, f.id, action, "taken", NULL);
	if (level == 3) {
		open_ticket(&f);
		f.ticket = true;
		f.announced_at = f.raised_at;
	}
	if (store_tx_commit(store, "recording a fault") != SW_OK)
		return 0;
	reg[nreg++] = f;
	fault_diag_note(code, slot_no, battery, f.raised_at);
	log_msg(level == 3 ? LOG_WARNING : LOG_NOTICE,
		"fault %" PRId64 ": %s, slot %d: %s%s; diagnosis: %s, %s, level %d", f.id, r->name,
		slot_no, f.detail, f.ticket ? "; ticket opened" : "", f.diag.cause, f.diag.action,
		f.diag.level);
	publish(&f, "raised", true);
	rearm();
	return f.id;
}

int64_t fault_raise(enum fault_code code, int slot_no, uint64_t battery, const char *detail,
		    const char *action)
{
	if (!store || (unsigned)code >= FAULT_CODE_COUNT)
		return 0;
	struct open_fault *f = find(code, slot_no, battery);
	if (!f)
		return raise_new(code, slot_no, battery, detail, action);
	bool pending = f->clear_at != 0;
	f->clear_at = 0;
	f->how[0] = '\0';
	if (action)
		fault_action(f->id, action, "taken");
	if (detail && strncmp(f->detail, detail, sizeof f->detail - 1) != 0 &&
	    store_fault_detail(store, f->id, detail, NULL) == SW_OK) {
		snprintf(f->detail, sizeof f->detail, "%s", detail);
		publish(f, "updated", true);
	}
	if (pending)
		rearm();
	return f->id;
}

/* Ends f with fault.cleared [fault, code, how] (mqtt.md); its ticket, if
 * any, closes with it. False when the store refused it. */
static bool clear(struct open_fault *f, const char *how)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "fault", json_object_new_int64(f->id));
	json_object_object_add(o, "code", json_object_new_string(rules[f->code].name));
	json_object_object_add(o, "how", json_object_new_string(how));
	enum sw_err e = store_fault_clear(store, f->id, how,
					  &(struct store_event){ "fault.cleared", boot_id, o });
	json_object_put(o);
	if (e != SW_OK)
		return false;
	struct open_fault gone = *f;
	*f = reg[--nreg];
	log_msg(LOG_NOTICE, "fault %" PRId64 ": %s cleared (%s)", gone.id, rules[gone.code].name, how);
	publish(&gone, "cleared", false);
	return true;
}

void fault_gone(enum fault_code code, int slot_no, uint64_t battery)
{
	struct open_fault *f = store && (unsigned)code < FAULT_CODE_COUNT
			       ? find(code, slot_no, battery) : NULL;

	/* a clearing already pending keeps its deadline: gone since then */
	if (!f || f->clear_at)
		return;
	f->clear_at = loop_wall_ms() + (int64_t)rules[code].clear_after_s * 10 * fc.clear_after_pct;
	rearm();
}

/* The faults that keep their slot out of service until a person releases
 * it (daemon/FAULTS.md): nothing the station reads says they are gone. */
static bool cleared_by_release(enum fault_code code)
{
	return code == FAULT_LOCK_STUCK || code == FAULT_UNKNOWN_BATTERY;
}

void fault_slot_released(int slot_no, const char *who)
{
	char how[64];

	if (!store)
		return;
	snprintf(how, sizeof how, "released by %s", who);
	for (int k = 0; k < nreg; k++) {
		struct open_fault *f = &reg[k];
		if (f->slot_no != slot_no || !cleared_by_release(f->code))
			continue;
		if (clear(f, how)) {
			k--; /* the last fault moved into k */
			continue;
		}
		f->clear_at = loop_wall_ms() + RETRY_MS;
		snprintf(f->how, sizeof f->how, "%s", how);
	}
	rearm();
}

void fault_action(int64_t id, const char *action, const char *outcome)
{
	if (store && store_fault_action(store, id, action, outcome, NULL) == SW_OK)
		log_msg(LOG_INFO, "fault %" PRId64 ": %s: %s", id, action, outcome);
}

bool fault_blocks_station(void)
{
	for (int k = 0; k < nreg; k++)
		if (rules[reg[k].code].blocks == FAULT_BLOCKS_STATION)
			return true;
	return false;
}

bool fault_blocks_own_slot(int slot_no)
{
	for (int k = 0; k < nreg; k++)
		if (rules[reg[k].code].blocks == FAULT_BLOCKS_SLOT && reg[k].slot_no == slot_no)
			return true;
	return false;
}

bool fault_blocks_slot(int slot_no)
{
	return fault_blocks_station() || fault_blocks_own_slot(slot_no);
}

/* The open fault whose ticket is called name ("F12"), or NULL. */
static struct open_fault *find_ticket(const char *name)
{
	char *end;

	if (name[0] != 'F' || name[1] < '1' || name[1] > '9')
		return NULL;
	int64_t id = strtoll(name + 1, &end, 10);
	for (int k = 0; !*end && k < nreg; k++)
		if (reg[k].id == id && reg[k].ticket)
			return &reg[k];
	return NULL;
}

enum sw_err fault_ticket_ack(const char *ticket, const char *by)
{
	struct open_fault *f = store ? find_ticket(ticket) : NULL;

	if (!f)
		return SW_ENOENT;
	if (f->acked)
		return SW_OK; /* one person took it already: asking again changes nothing */
	store_tx_begin(store);
	store_fault_ack(store, f->id, by, NULL);
	store_audit(store, by, "ticket-ack", ticket, NULL);
	enum sw_err e = store_tx_commit(store, "acknowledging a ticket");
	if (e != SW_OK)
		return e;
	f->acked = true;
	log_msg(LOG_NOTICE, "fault %" PRId64 ": ticket %s acknowledged by %s", f->id, ticket, by);
	publish(f, "acknowledged", true);
	rearm();
	return SW_OK;
}

json_object *fault_ack_reply(const char *ticket, const char *by)
{
	char shown[24];

	switch (fault_ticket_ack(ticket, by)) {
	case SW_OK:
		break;
	case SW_ENOENT:
		text_clean(shown, sizeof shown, ticket, strlen(ticket));
		return control_error("unknown_ticket", "no open ticket \"%s\"", shown);
	default:
		return control_error("store_failed", "the acknowledgement could not be recorded");
	}
	json_object *r = json_object_new_object();
	json_object_object_add(r, "ticket", json_object_new_string(ticket));
	json_object_object_add(r, "state", json_object_new_string("acknowledged"));
	return control_ok(r);
}

json_object *fault_open_json(void)
{
	json_object *a = store ? store_faults_json(store, false, FAULT_SHOWN) : NULL;

	return a ? a : json_object_new_array();
}

/* An escalation by time: f diagnosed again with the longer history, the
 * diagnosis recorded in the open transaction for the ticket to carry. */
static void rediagnose(struct open_fault *f)
{
	json_object *diag;

	diagnose(f, &diag);
	store_fault_diagnosis(store, f->id, json_object_to_json_string(diag), NULL);
	json_object_put(diag);
}

/* Whatever is due now: clearings, escalations to level 3, re-announced
 * tickets. */
static void on_timer(void *arg)
{
	int64_t now = loop_wall_ms();

	(void)arg;
	for (int k = 0; k < nreg; k++) {
		struct open_fault *f = &reg[k];
		if (f->clear_at && f->clear_at <= now) {
			if (clear(f, f->how[0] ? f->how : "condition gone"))
				k--; /* the last fault moved into k */
			else
				f->clear_at = now + RETRY_MS;
			continue;
		}
		int64_t esc = escalate_at(f), ann = announce_at(f);
		if (!(esc && esc <= now) && !(ann && ann <= now))
			continue;
		store_tx_begin(store);
		if (!f->ticket)
			rediagnose(f);
		open_ticket(f);
		if (store_tx_commit(store, "opening a ticket") != SW_OK) {
			f->retry_at = now + RETRY_MS;
			continue;
		}
		log_msg(LOG_WARNING, "fault %" PRId64 ": ticket F%" PRId64 " %s", f->id, f->id,
			f->ticket ? "announced again" : "opened");
		f->announced_at = now;
		if (!f->ticket) {
			f->ticket = true;
			publish(f, "ticket", true);
		}
	}
	rearm();
}

static json_object *cmd_faults(const struct control_req *req)
{
	json_object *a = store_faults_json(store, control_arg_bool(req, "all", false), FAULT_SHOWN);

	if (!a)
		return control_error("store_failed", "the faults could not be read");
	json_object *r = json_object_new_object();
	json_object_object_add(r, "faults", a);
	return control_ok(r);
}

static json_object *cmd_fault_ack(const struct control_req *req)
{
	char name[24];

	ticket_name(control_arg_int(req, "fault", 0), name);
	return fault_ack_reply(name, req->who);
}

static const struct command fault_commands[] = {
	{ .name = "faults", .level = LEVEL_VIEWER, .fn = cmd_faults,
	  .help = "open faults, newest first: level, age, actions, ticket (all: cleared ones too)",
	  .args = { { "all", ARG_BOOL } } },
	{ .name = "fault-ack", .level = LEVEL_STAFF, .fn = cmd_fault_ack,
	  .help = "acknowledge a fault's level-3 ticket: a person is on it (audited)",
	  .args = { { "fault", ARG_INT, .required = true, .min = 1, .max = INT64_MAX } } },
};

/* One open fault from the store; a code this build does not know (a newer
 * one's) stays in the store, untouched. */
static void load(const struct store_fault *sf, void *arg)
{
	enum fault_code code;

	(void)arg;
	if (!fault_code_of(sf->code, &code) || nreg == FAULT_MAX) {
		log_msg(LOG_WARNING, "fault %" PRId64 ": %s not taken up", sf->id, sf->code);
		return;
	}
	struct open_fault *f = &reg[nreg++];
	memset(f, 0, sizeof *f);
	f->id = sf->id;
	f->code = code;
	f->slot_no = sf->slot;
	f->battery = sf->battery;
	snprintf(f->detail, sizeof f->detail, "%s", sf->detail ? sf->detail : "");
	f->raised_at = sf->raised_at;
	f->ticket = sf->ticket_at != 0;
	f->acked = sf->acked;
	f->announced_at = sf->announced_at;
	fault_diag_parse(sf->diagnosis, &f->diag); /* its ticket says it again */
}

enum sw_err fault_start(const struct config *cfg, struct store *st, const char *boot, char *why,
			size_t whylen)
{
	fc = cfg->faults;
	store = st;
	snprintf(boot_id, sizeof boot_id, "%s", boot);
	nreg = 0;
	loop_timer_init(&timer, on_timer, NULL);
	enum sw_err e = store_faults_open(st, load, NULL);
	if (e != SW_OK) {
		snprintf(why, whylen, "cannot read the open faults: %s", store_errmsg(st));
		return e;
	}
	e = command_register(fault_commands, COMMAND_ROWS(fault_commands), why, whylen);
	if (e == SW_OK && nreg)
		log_msg(LOG_NOTICE, "fault: %d open from before", nreg);
	rearm();
	return e;
}

void fault_reconfigure(const struct config *cfg)
{
	fc = cfg->faults;
	rearm();
}

void fault_stop(void)
{
	loop_timer_cancel(&timer);
	nreg = 0;
	store = NULL;
}
