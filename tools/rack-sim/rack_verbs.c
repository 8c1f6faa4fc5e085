/* The engineer's verbs (what a test or a scenario does to the rack as a
 * whole: look, place batteries, open doors, inject faults) and the table
 * that dispatches every verb, the rider's too. */
#include "tools/rack-sim/rack_priv.h"

#include <inttypes.h>
#include <string.h>

static json_object *regs_json(const uint16_t *r, size_t n)
{
	json_object *a = json_object_new_array();

	for (size_t i = 0; i < n; i++)
		json_object_array_add(a, json_object_new_int(r[i]));
	return a;
}

/* When the slot's actuator last let go, on rack_poll's clock; null never. */
static json_object *unlocked_at(const struct rack_slot *s)
{
	return s->unlocked_at_us ? json_object_new_int64((int64_t)s->unlocked_at_us) : NULL;
}

static json_object *do_get(struct req *q, struct rack *r)
{
	struct rack_slot *s;

	if (!rack_slot_arg(q, r, &s))
		return NULL;
	json_object *o = rack_ok(), *regs = json_object_new_object();
	const struct slot *fs = &s->fw.slot;
	json_object_object_add(o, "slot", json_object_new_int(rack_slot_no(r, s)));
	json_object_object_add(o, "door_open", json_object_new_boolean(s->door_open));
	json_object_object_add(o, "closes_at", s->close_at >= 0 ? json_object_new_double(s->close_at) : NULL);
	json_object_object_add(o, "lock_closed", json_object_new_boolean(s->lock_closed));
	json_object_object_add(o, "lock_actuator", json_object_new_boolean(s->port.outputs.lock));
	json_object_object_add(o, "unlocks", json_object_new_int64((int64_t)s->unlocks));
	json_object_object_add(o, "unlocked_at_us", unlocked_at(s));
	json_object_object_add(o, "charger_on", json_object_new_boolean(s->port.outputs.charger_on));
	json_object_object_add(o, "current_limit",
			       json_object_new_double(s->port.outputs.current_limit_da / 10.0));
	json_object_object_add(o, "stuck_lock", json_object_new_boolean(s->stuck_lock));
	json_object_object_add(o, "silent", json_object_new_boolean(s->silent));
	json_object_object_add(o, "charger_fault", json_object_new_boolean(s->charger_fault));
	json_object_object_add(o, "charger_dead", json_object_new_boolean(s->charger_dead));
	json_object_object_add(o, "relay_welded", json_object_new_boolean(s->relay_welded));
	json_object_object_add(o, "state", json_object_new_int(fs->in[SLOT_IN_STATE]));
	json_object_object_add(o, "fault_bits", json_object_new_int(fs->in[SLOT_IN_FAULTS]));
	json_object_object_add(o, "battery", s->bat >= 0 ? rack_bat_json(&r->bats[s->bat]) : NULL);
	json_object_object_add(regs, "input", regs_json(fs->in, SLOT_IN_COUNT));
	json_object_object_add(regs, "holding", regs_json(fs->hr, SLOT_HR_COUNT));
	json_object_object_add(o, "registers", regs);
	json_object_object_add(o, "ambient", json_object_new_double(r->ambient_c));
	json_object_object_add(o, "sim_time", json_object_new_double(r->sim_s));
	return o;
}

static json_object *do_battery(struct req *q, struct rack *r)
{
	int b = rack_get_bat(q, r, true);

	if (b < 0)
		return NULL;
	json_object *o = rack_ok();
	json_object_object_add(o, "battery", rack_bat_json(&r->bats[b]));
	json_object_object_add(o, "slot", json_object_new_int(rack_slot_of(r, b)));
	return o;
}

static json_object *do_insert(struct req *q, struct rack *r)
{
	struct rack_slot *s;
	bool force;

	if (!rack_slot_arg(q, r, &s) || !rack_flag(q, "force", false, &force))
		return NULL;
	if (s->bat >= 0)
		return rack_refuse(q, "slot %d already holds battery %" PRIu64, rack_slot_no(r, s),
				   r->bats[s->bat].id);
	if (!s->door_open && !force)
		return rack_refuse(q, "slot %d: the door is closed (open it, or \"force\": true)",
				   rack_slot_no(r, s));
	uint64_t id;
	if (!rack_id_arg(q, "battery", &id))
		return NULL;
	int b = rack_find_bat(r, id);
	if (b >= 0 && rack_slot_of(r, b))
		return rack_refuse(q, "battery %" PRIu64 " is in slot %d", id, rack_slot_of(r, b));
	if ((b = rack_get_bat(q, r, true)) < 0)
		return NULL;
	s->bat = b;
	rack_sync_slot(r, s);
	return rack_ok();
}

static json_object *do_remove(struct req *q, struct rack *r)
{
	struct rack_slot *s;
	bool force;

	if (!rack_slot_arg(q, r, &s) || !rack_flag(q, "force", false, &force))
		return NULL;
	if (s->bat < 0)
		return rack_refuse(q, "slot %d is empty", rack_slot_no(r, s));
	if (!s->door_open && !force)
		return rack_refuse(q, "slot %d: the door is closed (open it, or \"force\": true)",
				   rack_slot_no(r, s));
	json_object *o = rack_ok();
	json_object_object_add(o, "battery", json_object_new_uint64(r->bats[s->bat].id));
	r->bats[s->bat].current = 0;
	s->bat = -1;
	rack_sync_slot(r, s);
	return o;
}

/* open and close: the door now, whatever a rider was about to do with it. */
static json_object *do_door(struct req *q, struct rack *r, bool open)
{
	struct rack_slot *s;
	bool force;

	if (!rack_slot_arg(q, r, &s) || !rack_flag(q, "force", false, &force))
		return NULL;
	if (open && s->lock_closed && !force)
		return rack_refuse(q, "slot %d: the door is locked (\"force\": true breaks it open)",
				   rack_slot_no(r, s));
	s->door_open = open;
	s->close_at = -1;
	rack_sync_slot(r, s);
	return rack_ok();
}

static json_object *do_open(struct req *q, struct rack *r)
{
	return do_door(q, r, true);
}

static json_object *do_close(struct req *q, struct rack *r)
{
	return do_door(q, r, false);
}

static json_object *do_silence(struct req *q, struct rack *r)
{
	struct rack_slot *s;

	if (!rack_slot_arg(q, r, &s) || !rack_flag(q, "on", true, &s->silent))
		return NULL;
	return rack_ok();
}

/* The battery faults: they travel with the battery. */
static bool bat_fault(struct req *q, const char *kind, struct bat *b)
{
	bool on;
	double v;

	if (!strcmp(kind, "overtemp"))
		return rack_num(q, "value", -40, 150, true, 65, &b->temp_c);
	if (!strcmp(kind, "heating"))
		return rack_num(q, "value", 0, 10000, true, 50, &b->heater_w);
	if (!strcmp(kind, "imbalance")) {
		if (!rack_num(q, "value", 0, 2000, true, 150, &v))
			return false;
		b->imbalance_v = v / 1000;
		return true;
	}
	if (!rack_flag(q, "on", true, &on))
		return false;
	b->nonsense = on;
	return true;
}

/* The slot's charger faults: they stay with the slot. */
static bool *charger_flag(struct rack_slot *s, const char *kind)
{
	if (!strcmp(kind, "charger_fault"))
		return &s->charger_fault;
	if (!strcmp(kind, "charger_dead"))
		return &s->charger_dead;
	if (!strcmp(kind, "relay_welded"))
		return &s->relay_welded;
	return NULL;
}

static json_object *do_fault(struct req *q, struct rack *r)
{
	struct rack_slot *s;
	json_object *k = rack_arg(q, "kind");
	const char *kind = k && json_object_is_type(k, json_type_string) ? json_object_get_string(k) : "";
	struct bat *b;

	if (!rack_slot_arg(q, r, &s))
		return NULL;
	b = s->bat >= 0 ? &r->bats[s->bat] : NULL;
	if (!strcmp(kind, "stuck_lock")) {
		if (!rack_flag(q, "on", true, &s->stuck_lock))
			return NULL;
	} else if (charger_flag(s, kind)) {
		if (!rack_flag(q, "on", true, charger_flag(s, kind)))
			return NULL;
	} else if (!strcmp(kind, "clear")) {
		s->stuck_lock = false;
		s->silent = false;
		s->charger_fault = false;
		s->charger_dead = false;
		s->relay_welded = false;
		if (b) {
			b->heater_w = 0;
			b->imbalance_v = 0;
			b->nonsense = false;
		}
	} else if (!strcmp(kind, "overtemp") || !strcmp(kind, "heating") ||
		   !strcmp(kind, "imbalance") || !strcmp(kind, "bms_nonsense")) {
		if (!b)
			return rack_refuse(q, "slot %d is empty: %s needs a battery", rack_slot_no(r, s),
					   kind);
		if (!bat_fault(q, kind, b))
			return NULL;
	} else {
		return rack_refuse(q, "kind: %s is not one of overtemp, heating, imbalance, bms_nonsense, "
				   "stuck_lock, charger_fault, charger_dead, relay_welded, clear", k ? json_object_to_json_string(k) : "missing");
	}
	rack_sync_slot(r, s);
	return rack_ok();
}

static json_object *do_noise(struct req *q, struct rack *r)
{
	double rate, seed;

	if (!rack_num(q, "rate", 0, 1, false, 0, &rate) || !rack_num(q, "seed", 1, 1e15, true, 0, &seed))
		return NULL;
	r->noise = rate;
	if (seed > 0)
		r->rng = (uint64_t)seed;
	return rack_ok();
}

static json_object *do_ambient(struct req *q, struct rack *r)
{
	return rack_num(q, "value", -40, 80, false, 0, &r->ambient_c) ? rack_ok() : NULL;
}

static json_object *do_list(struct req *q, struct rack *r)
{
	json_object *o = rack_ok(), *slots = json_object_new_array(), *bats = json_object_new_array();

	(void)q;
	for (int i = 0; i < r->n; i++) {
		const struct rack_slot *s = &r->slots[i];
		json_object *e = json_object_new_object();
		json_object_object_add(e, "slot", json_object_new_int(i + 1));
		json_object_object_add(e, "battery", s->bat >= 0 ? json_object_new_uint64(r->bats[s->bat].id) : NULL);
		json_object_object_add(e, "door_open", json_object_new_boolean(s->door_open));
		json_object_object_add(e, "lock_closed", json_object_new_boolean(s->lock_closed));
		json_object_object_add(e, "lock_actuator", json_object_new_boolean(s->port.outputs.lock));
		json_object_object_add(e, "charger_on", json_object_new_boolean(s->port.outputs.charger_on));
		json_object_object_add(e, "unlocks", json_object_new_int64((int64_t)s->unlocks));
		json_object_object_add(e, "unlocked_at_us", unlocked_at(s));
		json_object_object_add(e, "state", json_object_new_int(s->fw.slot.in[SLOT_IN_STATE]));
		json_object_array_add(slots, e);
	}
	for (size_t b = 0; b < r->nbats; b++) {
		json_object *e = rack_bat_json(&r->bats[b]);
		json_object_object_add(e, "slot", json_object_new_int(rack_slot_of(r, (int)b)));
		json_object_array_add(bats, e);
	}
	json_object_object_add(o, "slots", slots);
	json_object_object_add(o, "batteries", bats);
	return o;
}

static const struct {
	const char *op;
	json_object *(*fn)(struct req *q, struct rack *r);
} verbs[] = {
	{ "get", do_get }, { "list", do_list }, { "battery", do_battery },
	{ "insert", do_insert }, { "remove", do_remove }, { "silence", do_silence },
	{ "fault", do_fault }, { "noise", do_noise }, { "ambient", do_ambient },
	{ "open", do_open }, { "close", do_close },
	{ "return", rack_rider_return }, { "take", rack_rider_take },
	{ "leave_open", rack_rider_leave_open }, { "close_empty", rack_rider_close_empty },
};

bool rack_known_op(const char *op)
{
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (!strcmp(verbs[i].op, op))
			return true;
	return false;
}

json_object *rack_exec(struct rack *r, json_object *cmd, char *err, size_t errlen)
{
	struct req q = { cmd, err, errlen };
	json_object *op;

	if (!json_object_is_type(cmd, json_type_object))
		return rack_refuse(&q, "not a JSON object");
	if (!json_object_object_get_ex(cmd, "op", &op) || !json_object_is_type(op, json_type_string))
		return rack_refuse(&q, "op: missing or not a string");
	const char *name = json_object_get_string(op);
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (!strcmp(verbs[i].op, name))
			return verbs[i].fn(&q, r);
	return rack_refuse(&q, "op: \"%s\" is not a verb (get, list, battery, insert, remove, open, "
			   "close, silence, fault, noise, ambient, return, take, leave_open, "
			   "close_empty)", name);
}
