#include "daemon/ledger.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/control.h"
#include "daemon/event.h"
#include "daemon/fault.h"
#include "daemon/log.h"
#include "daemon/loop.h"
#include "daemon/slots.h"
#include "drivers/rack.h"

/* What counts as a noticeable change of a battery's values: written at
 * once, rather than at the next write_interval_s. */
#define SOC_STEP 5.0
#define SOH_STEP 0.5

static struct config_ledger lc;  /* a copy: a reload frees the config */
static struct store *store;
static char boot_id[33];

/* What the ledger knows of each slot index. */
static struct {
	bool known;          /* the slot's battery was read since start */
	uint64_t battery;    /* the battery read in it (0: none) */
	bool sealed;         /* since it was read there, its door has been
			      * closed and locked, and the slot online, at
			      * every reading: nobody could have taken it */
	double soc, soh;     /* as last written */
	int64_t cycles;
	int64_t read_at;     /* the read time of the values last written */
	int64_t written;     /* loop_now() of the last write */
} at[RACK_MAX_SLOTS];

static const char *battery_name(uint64_t id, char buf[24])
{
	snprintf(buf, 24, "BAT-%05" PRIu64, id);
	return buf;
}

bool ledger_parse_battery(const char *s, uint64_t *id)
{
	char *end;

	if (strncasecmp(s, "BAT-", 4) == 0)
		s += 4;
	if (!isdigit((unsigned char)s[0]))
		return false;
	errno = 0;
	*id = strtoull(s, &end, 10);
	return !*end && errno == 0 && *id != 0;
}

/* The payload of battery.quarantined and battery.released (mqtt.md:
 * battery, slot, reason; and who decided it). */
static json_object *battery_fields(uint64_t id, int slot_no, const char *reason, const char *who)
{
	json_object *f = json_object_new_object();
	char name[24];

	json_object_object_add(f, "battery", json_object_new_string(battery_name(id, name)));
	json_object_object_add(f, "slot", slot_no ? json_object_new_int(slot_no) : NULL);
	json_object_object_add(f, "reason", json_object_new_string(reason));
	json_object_object_add(f, "by", json_object_new_string(who));
	return f;
}

enum sw_err ledger_battery_quarantine(uint64_t id, bool on, const char *reason, const char *who)
{
	struct store_battery b;
	bool found;
	char name[24], detail[128];
	enum sw_err e = store_battery_get(store, id, &b, &found);

	if (e != SW_OK)
		return e;
	if (!found)
		return SW_ENOENT;
	if (b.quarantined == on)
		return SW_EEXIST;
	int slot_no = strcmp(b.place, "slot") == 0 ? b.slot : 0;
	json_object *f = battery_fields(id, slot_no, reason, who);
	snprintf(detail, sizeof detail, "%s: %s", battery_name(id, name), reason);
	store_tx_begin(store);
	store_battery_quarantine(store, id, on, on ? reason : NULL,
				 &(struct store_event){ on ? "battery.quarantined" : "battery.released",
							boot_id, f });
	store_audit(store, who, on ? "battery-quarantine" : "battery-release", detail, NULL);
	e = store_tx_commit(store, on ? "quarantining a battery" : "releasing a battery");
	json_object_put(f);
	if (e != SW_OK)
		return e;
	log_msg(LOG_NOTICE, "ledger: %s %s by %s: %s", name, on ? "quarantined" : "released", who,
		reason);
	struct event ev = { .type = on ? EV_BATTERY_QUARANTINED : EV_BATTERY_RELEASED,
			    .slot = slot_no ? slots_index(slot_no) : -1, .slot_no = slot_no,
			    .battery = id, .what = reason, .who = who };
	event_publish(&ev);
	return SW_OK;
}

struct out_query {
	int slot;
	bool out;
};

static void find_out(int slot, const char *reason, void *arg)
{
	struct out_query *q = arg;

	(void)reason;
	if (slot == q->slot)
		q->out = true;
}

/* Whether slot number slot is out of service, as the store has it. */
static enum sw_err slot_out(int slot, bool *out)
{
	struct out_query q = { slot, false };
	enum sw_err e = store_slots_out(store, find_out, &q);

	*out = q.out;
	return e;
}

enum sw_err ledger_slot_quarantine(int slot, bool out, const char *reason, const char *who)
{
	int i = slots_index(slot), moved = 0;
	uint64_t id = 0;
	bool was;
	char detail[128];
	enum sw_err e;

	if (i < 0)
		return SW_ENOENT;
	if ((e = slot_out(slot, &was)) != SW_OK)
		return e;
	if (was == out)
		return SW_EEXIST;
	bool read = slots_battery(i, &id);
	snprintf(detail, sizeof detail, "slot %d: %s", slot, reason);
	store_tx_begin(store);
	store_slot_service(store, slot, out ? reason : NULL, who, NULL);
	if (!out && read)
		store_battery_vacate(store, slot, id, false, &moved, NULL);
	store_audit(store, who, out ? "slot-quarantine" : "slot-release", detail, NULL);
	e = store_tx_commit(store, out ? "taking a slot out of service" : "returning a slot to service");
	if (e != SW_OK)
		return e;
	log_msg(LOG_NOTICE, "ledger: slot %d %s by %s: %s%s", slot,
		out ? "out of service" : "back in service", who, reason,
		moved ? "; the battery its sensor had lost is gone" : "");
	slots_set_service(i, out);
	if (!out)
		fault_slot_released(slot, who);
	return SW_OK;
}

const char *ledger_unfit(const struct rack_reading *r, int soh_min)
{
	static const struct { enum rack_fault f; const char *reason; } faults[] = {
		{ RFLT_OVER_TEMP, "fault_over_temp" }, { RFLT_CELL_OV, "fault_cell_ov" },
		{ RFLT_BMS_INVALID, "fault_bms_invalid" },
	};
	const struct rack_profile *p = rack_profile();

	for (size_t k = 0; k < sizeof faults / sizeof faults[0]; k++) {
		int bit = p->fault_bit[faults[k].f];
		if (bit >= 0 && (r->fault_bits >> bit) & 1)
			return faults[k].reason;
	}
	if (soh_min && r->have[RF_SOH] && r->soh < soh_min)
		return "low_soh";
	return NULL;
}

/* The quarantine rule for a battery that came into slot index i outside
 * a swap (the swap flow judges what a rider returns): a battery fault, or
 * a state of health under ledger.quarantine_soh. */
static void inspect(int i, uint64_t id)
{
	const struct rack_reading *r = rack_reading(i);
	const char *holder = slots_holder(i, NULL), *reason = ledger_unfit(r, lc.quarantine_soh);
	struct store_battery b;
	bool found;

	if (holder && strcmp(holder, "swap") == 0)
		return;
	if (!reason || store_battery_get(store, id, &b, &found) != SW_OK || !found || b.quarantined)
		return;
	log_msg(LOG_WARNING, "ledger: slot %d: BAT-%05" PRIu64 " (SOH %.1f %%) came in outside a swap: %s",
		slots_number(i), id, r->soh, reason);
	ledger_battery_quarantine(id, true, reason, "ledger");
}

/* Whether battery id comes into slot number slot, rather than being read
 * again where its row says it is: at start (at_start), or found again by
 * a presence sensor that had lost it. Only an arrival is judged, so that
 * a battery staff released stays released. A swap's or a job's own
 * record of an arrival, which may come first, is no reading again. */
static bool arrives(uint64_t id, int slot, bool at_start)
{
	struct store_battery b;
	bool found;

	if (store_battery_get(store, id, &b, &found) != SW_OK || !found)
		return true;
	return strcmp(b.place, "slot") != 0 || b.slot != slot || (!at_start && !b.unseen_since);
}

/* Writes slot index i's battery with the values of reading r (all of
 * them, or none when its health is not read), joining the caller's
 * transaction if there is one. */
static enum sw_err record_in(int i, const struct rack_reading *r)
{
	bool values = r->slow_at && r->have[RF_SOC] && r->have[RF_SOH];

	at[i].written = loop_now();
	if (values) {
		at[i].soc = r->soc;
		at[i].soh = r->soh;
		at[i].cycles = r->have[RF_CYCLES] ? r->cycles : 0;
		at[i].read_at = r->slow_at;
	}
	return store_battery_in_slot(store, at[i].battery, slots_number(i), values ? r->soc : -1,
				     values ? r->soh : -1, at[i].cycles, r->slow_at, NULL);
}

/* A battery's values, written when they changed noticeably or after
 * ledger.write_interval_s (or, with force, whenever newer ones were read),
 * not at every reading: each write is a transaction on flash. */
static void record_values(int i, bool force)
{
	const struct rack_reading *r = rack_reading(i);

	if (!at[i].battery || !r->present || r->health_pending || !r->have[RF_BATTERY_ID] ||
	    r->battery_id != at[i].battery || !r->have[RF_SOC] || !r->have[RF_SOH] ||
	    r->slow_at <= at[i].read_at)
		return;
	if (!force && fabs(r->soc - at[i].soc) < SOC_STEP && fabs(r->soh - at[i].soh) < SOH_STEP &&
	    (!r->have[RF_CYCLES] || r->cycles == at[i].cycles) &&
	    loop_now() - at[i].written < (int64_t)lc.write_interval_s * 1000)
		return;
	record_in(i, r); /* a failure is the store's health; tried again later */
}

/* Slot index i's battery, as first read since start (or again after a
 * failed write): it is where the rows say, or they are put right. A slot
 * read empty keeps a battery its presence sensor had lost. */
static void baseline(int i)
{
	uint64_t id;

	if (!slots_battery(i, &id))
		return;
	bool arrived = id && arrives(id, slots_number(i), true);
	at[i].battery = id;
	at[i].sealed = false;
	store_tx_begin(store);
	if (id)
		record_in(i, rack_reading(i));
	store_battery_vacate(store, slots_number(i), id, id == 0, NULL, NULL);
	at[i].known = store_tx_commit(store, "recording a slot's battery") == SW_OK;
	if (at[i].known && arrived)
		inspect(i, id);
}

static void on_reading(const struct event *ev, void *arg)
{
	int i = ev->slot;

	(void)arg;
	if (!at[i].known) {
		baseline(i);
		return;
	}
	/* Watched: its door shut at every reading since the battery came. */
	if (!slots_secure(i))
		at[i].sealed = false;
	else if (at[i].battery)
		at[i].sealed = true;
	record_values(i, false);
}

static void on_inserted(const struct event *ev, void *arg)
{
	int i = ev->slot;

	(void)arg;
	bool arrived = arrives(ev->battery, ev->slot_no, false);
	at[i].battery = ev->battery;
	at[i].sealed = false;
	at[i].read_at = 0;
	store_tx_begin(store);
	record_in(i, rack_reading(i));
	store_battery_vacate(store, ev->slot_no, ev->battery, false, NULL, NULL);
	/* not recorded: the next reading records the slot afresh */
	at[i].known = store_tx_commit(store, "recording a battery put in") == SW_OK;
	if (at[i].known && arrived)
		inspect(i, ev->battery);
}

/* The presence sensor reads empty, but the door stayed closed and locked
 * since the battery was read: nobody can have taken it. It stays in its
 * slot, flagged, and the slot goes out of service, so that no swap puts a
 * second battery into it, until someone looks (slot-release). */
static void sensor_lost(int i, uint64_t id)
{
	char name[24], reason[64];
	bool out;
	int slot = slots_number(i);

	snprintf(reason, sizeof reason, "presence sensor lost %s", battery_name(id, name));
	store_tx_begin(store);
	store_battery_unseen(store, id, loop_wall_ms(), NULL);
	if (slot_out(slot, &out) == SW_OK && !out)
		store_slot_service(store, slot, reason, "ledger", NULL);
	store_audit(store, "ledger", "presence-lost", reason, NULL);
	if (store_tx_commit(store, "recording a lost presence sensor") != SW_OK) {
		at[i].known = false;
		return;
	}
	log_msg(LOG_WARNING, "ledger: slot %d reads empty, but its door stayed shut: %s is kept in"
		" it, and the slot out of service until released", slot, name);
	slots_set_service(i, true);
}

/* A battery gone from its slot: to "unknown" if its row still says it is
 * there. The swap or the job that took it records where it went, before
 * or after this; either way that is what the row ends with. */
static void on_removed(const struct event *ev, void *arg)
{
	int i = ev->slot;
	/* Only the presence sensor itself reading empty can be a sensor
	 * that lost a battery: a battery id read as 0 by the health block
	 * while the fast block (presence, door, lock) is older says nothing
	 * of the door at the moment the battery went. */
	bool sealed = at[i].sealed && slots_secure(i) && !rack_reading(i)->present, found;
	struct store_battery b;
	int64_t ref;
	char name[24];

	(void)arg;
	at[i].battery = 0;
	at[i].sealed = false;
	if (sealed) {
		sensor_lost(i, ev->battery);
		return;
	}
	if (store_battery_get(store, ev->battery, &b, &found) != SW_OK || !found ||
	    strcmp(b.place, "slot") != 0 || b.slot != ev->slot_no)
		return;
	if (store_battery_left(store, ev->battery, "unknown", 0, NULL, NULL) != SW_OK) {
		at[i].known = false;
		return;
	}
	const char *holder = slots_holder(i, &ref);
	if (holder)
		log_msg(LOG_INFO, "ledger: %s left slot %d held by %s %" PRId64,
			battery_name(ev->battery, name), ev->slot_no, holder, ref);
	else
		log_msg(LOG_WARNING, "ledger: %s was taken from slot %d outside a swap or a job",
			battery_name(ev->battery, name), ev->slot_no);
}

/* A door opened or unlocked: what is inside can be taken. */
static void on_door(const struct event *ev, void *arg)
{
	(void)arg;
	if (ev->slot >= 0 && (ev->type == EV_DOOR_OPENED || !ev->on))
		at[ev->slot].sealed = false;
}

/* An offline slot keeps its battery in the ledger with the last values
 * read, and their time; what happens inside meanwhile is not watched. */
static void on_offline(const struct event *ev, void *arg)
{
	(void)arg;
	at[ev->slot].sealed = false;
	record_values(ev->slot, true);
}

static json_object *cmd_batteries(const struct control_req *req)
{
	json_object *r = json_object_new_object();

	(void)req;
	json_object_object_add(r, "batteries", store_batteries_json(store));
	return control_ok(r);
}

json_object *ledger_battery_reply(const char *battery, bool on, const char *reason,
				  const char *who)
{
	uint64_t id;
	char name[24];

	if (!ledger_parse_battery(battery, &id))
		return control_error("bad_request", "\"battery\": not a battery id (\"BAT-00042\" or 42)");
	switch (ledger_battery_quarantine(id, on, reason, who)) {
	case SW_OK:
		break;
	case SW_ENOENT:
		return control_error("unknown_battery", "%s was never seen at this station",
				     battery_name(id, name));
	case SW_EEXIST:
		return control_error(on ? "already_quarantined" : "not_quarantined", "%s is %s",
				     battery_name(id, name), on ? "quarantined already" : "not quarantined");
	default:
		return control_error("store_failed", "the change could not be recorded; nothing changed");
	}
	json_object *r = json_object_new_object();
	json_object_object_add(r, "battery", json_object_new_string(battery_name(id, name)));
	json_object_object_add(r, "quarantined", json_object_new_boolean(on));
	return control_ok(r);
}

static json_object *cmd_battery_quarantine(const struct control_req *req)
{
	return ledger_battery_reply(control_arg_str(req, "battery"), true,
				    control_arg_str(req, "reason"), req->who);
}

static json_object *cmd_battery_release(const struct control_req *req)
{
	return ledger_battery_reply(control_arg_str(req, "battery"), false,
				    control_arg_str(req, "reason"), req->who);
}

json_object *ledger_slot_reply(int slot, bool out, const char *reason, const char *who)
{
	switch (ledger_slot_quarantine(slot, out, reason, who)) {
	case SW_OK:
		break;
	case SW_ENOENT:
		return control_error("unknown_slot", "no slot %d", slot);
	case SW_EEXIST:
		return control_error(out ? "already_quarantined" : "not_quarantined",
				     "slot %d is %s", slot, out ? "out of service already" : "in service");
	default:
		return control_error("store_failed", "the change could not be recorded; nothing changed");
	}
	json_object *r = json_object_new_object();
	json_object_object_add(r, "slot", json_object_new_int(slot));
	json_object_object_add(r, "in_service", json_object_new_boolean(!out));
	return control_ok(r);
}

static json_object *cmd_slot_quarantine(const struct control_req *req)
{
	return ledger_slot_reply((int)control_arg_int(req, "slot", 0), true,
				 control_arg_str(req, "reason"), req->who);
}

static json_object *cmd_slot_release(const struct control_req *req)
{
	return ledger_slot_reply((int)control_arg_int(req, "slot", 0), false,
				 control_arg_str(req, "reason"), req->who);
}

#define SLOT_ARG { "slot", ARG_INT, .required = true, .min = 1, .max = 999 }

static const struct command ledger_commands[] = {
	{ .name = "batteries", .level = LEVEL_VIEWER, .fn = cmd_batteries,
	  .help = "every battery seen here and where it is now" },
	{ .name = "battery-quarantine", .level = LEVEL_STAFF, .fn = cmd_battery_quarantine,
	  .help = "quarantine a battery: never handed out (audited)",
	  .args = { LEDGER_BATTERY_ARG, LEDGER_REASON_ARG } },
	{ .name = "battery-release", .level = LEVEL_STAFF, .fn = cmd_battery_release,
	  .help = "release a quarantined battery (audited)",
	  .args = { LEDGER_BATTERY_ARG, LEDGER_REASON_ARG } },
	{ .name = "slot-quarantine", .level = LEVEL_ADMIN, .fn = cmd_slot_quarantine,
	  .help = "take a slot out of service (audited)",
	  .args = { SLOT_ARG, LEDGER_REASON_ARG } },
	{ .name = "slot-release", .level = LEVEL_ADMIN, .fn = cmd_slot_release,
	  .help = "put a slot back into service (audited)",
	  .args = { SLOT_ARG, LEDGER_REASON_ARG } },
};

static const struct { enum event_type type; event_fn fn; } subs[] = {
	{ EV_SLOT_READING, on_reading }, { EV_SLOT_OFFLINE, on_offline },
	{ EV_BATTERY_INSERTED, on_inserted }, { EV_BATTERY_REMOVED, on_removed },
	{ EV_DOOR_OPENED, on_door }, { EV_LOCK_CHANGED, on_door },
};

void ledger_stop(void)
{
	for (size_t k = 0; k < sizeof subs / sizeof subs[0]; k++)
		event_unsubscribe(subs[k].type, subs[k].fn, NULL);
}

enum sw_err ledger_start(const struct config *cfg, struct store *st, const char *boot,
			 char *why, size_t whylen)
{
	lc = cfg->ledger;
	store = st;
	snprintf(boot_id, sizeof boot_id, "%s", boot);
	memset(at, 0, sizeof at);
	enum sw_err e = command_register(ledger_commands, COMMAND_ROWS(ledger_commands), why, whylen);
	for (size_t k = 0; e == SW_OK && k < sizeof subs / sizeof subs[0]; k++)
		if ((e = event_subscribe(subs[k].type, subs[k].fn, NULL)) != SW_OK)
			snprintf(why, whylen, "cannot subscribe to %s", event_name(subs[k].type));
	return e;
}

void ledger_reconfigure(const struct config *cfg)
{
	lc = cfg->ledger;
}
