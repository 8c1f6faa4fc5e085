/* Rack model and its verbs. */
#include "tools/rack-sim/rack.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BATS_MAX 1024

/* xorshift64*: reproducible noise, seeded by the noise verb. */
static double rnd(struct rack *r)
{
	r->rng ^= r->rng >> 12;
	r->rng ^= r->rng << 25;
	r->rng ^= r->rng >> 27;
	return (double)((r->rng * 0x2545F4914F6CDD1DULL) >> 11) / 9007199254740992.0;
}

/* The controller's transmitter: a silenced slot's line is cut, noise may
 * flip one bit of the frame. */
static void slot_tx(void *bus, const uint8_t *buf, size_t len)
{
	struct rack_slot *s = bus;
	struct rack *r = s->rack;
	uint8_t f[MB_SLAVE_FRAME_MAX];

	if (s->silent || len > sizeof(f))
		return;
	memcpy(f, buf, len);
	if (r->noise > 0 && rnd(r) < r->noise)
		f[(size_t)(rnd(r) * (double)len)] ^= (uint8_t)(1u << (int)(rnd(r) * 8));
	r->tx(r->bus, f, len);
}

/* What the controller senses: the bolt follows its actuator unless stuck. */
static void sync_slot(struct rack *r, struct rack_slot *s)
{
	struct slot_sensors *in = &s->port.sensors;

	if (!s->stuck_lock)
		s->lock_closed = s->port.outputs.lock;
	memset(in, 0, sizeof(*in));
	in->door_open = s->door_open;
	in->lock_closed = s->lock_closed;
	if (s->bat >= 0) {
		in->present = true;
		in->bms_ok = true;
		bat_bms(&r->bats[s->bat], &in->bms);
	}
}

int rack_init(struct rack *r, int n, uint32_t baud, const struct prof *profile,
	      void (*tx)(void *bus, const uint8_t *buf, size_t len), void *bus, uint32_t now_us)
{
	memset(r, 0, sizeof(*r));
	r->slots = calloc((size_t)n, sizeof(*r->slots));
	if (!r->slots)
		return -1;
	r->n = n;
	r->ambient_c = 25.0;
	r->rng = 0x9E3779B97F4A7C15ULL;
	r->tx = tx;
	r->bus = bus;
	for (int i = 0; i < n; i++) {
		struct rack_slot *s = &r->slots[i];
		s->rack = r;
		s->bat = -1;
		s->lock_closed = true;
		s->port.tx = slot_tx;
		s->port.bus = s;
		s->port.outputs.lock = true;
		s->pport.p = profile;
		s->pport.slot = &s->fw.slot;
		fw_init(&s->fw, (uint8_t)(i + 1), baud, &hal_host_ops, &s->port,
			profile ? &prof_backend : NULL, &s->pport, now_us);
		sync_slot(r, s);
	}
	return 0;
}

void rack_free(struct rack *r)
{
	free(r->slots);
	free(r->bats);
	memset(r, 0, sizeof(*r));
}

void rack_poll(struct rack *r, uint32_t now_us)
{
	for (int i = 0; i < r->n; i++) {
		struct rack_slot *s = &r->slots[i];
		bool was = s->port.outputs.lock;
		fw_poll(&s->fw, now_us);
		/* every time the actuator let go: a door that could open */
		s->unlocks += was && !s->port.outputs.lock;
	}
}

void rack_physics(struct rack *r, double dt)
{
	r->sim_s += dt;
	for (size_t b = 0; b < r->nbats; b++) {
		bool on = false;
		double limit = 0;
		for (int i = 0; i < r->n; i++)
			if (r->slots[i].bat == (int)b) {
				on = r->slots[i].port.outputs.charger_on;
				limit = r->slots[i].port.outputs.current_limit_da / 10.0;
			}
		bat_step(&r->bats[b], dt, on, limit, r->ambient_c);
	}
	for (int i = 0; i < r->n; i++)
		sync_slot(r, &r->slots[i]);
}

void rack_rx(struct rack *r, uint8_t byte, uint32_t now_us)
{
	/* A frame of ~8 bytes is hit with probability ~noise. */
	if (r->noise > 0 && rnd(r) < r->noise / 8)
		byte ^= (uint8_t)(1u << (int)(rnd(r) * 8));
	for (int i = 0; i < r->n; i++)
		if (!r->slots[i].silent)
			fw_rx(&r->slots[i].fw, byte, now_us);
}

/* ---- verbs ---- */

struct req {
	json_object *cmd;
	char *err;
	size_t errlen;
};

static bool fail(struct req *q, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool fail(struct req *q, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(q->err, q->errlen, fmt, ap);
	va_end(ap);
	return false;
}

/* fail() for the verbs, which return their reply or NULL. */
static json_object *refuse(struct req *q, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static json_object *refuse(struct req *q, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(q->err, q->errlen, fmt, ap);
	va_end(ap);
	return NULL;
}

static json_object *arg(struct req *q, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(q->cmd, key, &v) ? v : NULL;
}

/* A number argument within lo..hi; def when absent and has_def. */
static bool num(struct req *q, const char *key, double lo, double hi, bool has_def, double def,
		double *out)
{
	json_object *v = arg(q, key);

	if (!v) {
		if (!has_def)
			return fail(q, "%s: missing", key);
		*out = def;
		return true;
	}
	if (!json_object_is_type(v, json_type_int) && !json_object_is_type(v, json_type_double))
		return fail(q, "%s: %s is not a number", key, json_object_to_json_string(v));
	*out = json_object_get_double(v);
	if (!(*out >= lo && *out <= hi))
		return fail(q, "%s: %s is out of range %g..%g", key, json_object_to_json_string(v), lo, hi);
	return true;
}

static bool flag(struct req *q, const char *key, bool def, bool *out)
{
	json_object *v = arg(q, key);

	if (!v) {
		*out = def;
		return true;
	}
	if (!json_object_is_type(v, json_type_boolean))
		return fail(q, "%s: %s is not true or false", key, json_object_to_json_string(v));
	*out = json_object_get_boolean(v);
	return true;
}

static bool slot_arg(struct req *q, struct rack *r, struct rack_slot **s)
{
	double v;

	if (!num(q, "slot", 1, r->n, false, 0, &v))
		return false;
	if (v != floor(v))
		return fail(q, "slot: %g is not an integer", v);
	*s = &r->slots[(int)v - 1];
	return true;
}

/* Battery ids: a non-negative integer, or a string ("0x1F", "1234") for
 * values JSON numbers cannot hold exactly. */
static bool id_arg(struct req *q, const char *key, uint64_t *id)
{
	json_object *v = arg(q, key);
	char *end;

	if (!v)
		return fail(q, "%s: missing", key);
	if (json_object_is_type(v, json_type_int) && json_object_get_int64(v) > 0) {
		*id = (uint64_t)json_object_get_int64(v);
		return true;
	}
	if (json_object_is_type(v, json_type_string)) {
		const char *s = json_object_get_string(v);
		errno = 0;
		*id = strtoull(s, &end, 0);
		if (*s && *s != '-' && !*end && !errno && *id)
			return true;
	}
	return fail(q, "%s: %s is not a battery id (a positive integer, or a string like \"0x1F\")",
		    key, json_object_to_json_string(v));
}

static int find_bat(const struct rack *r, uint64_t id)
{
	for (size_t i = 0; i < r->nbats; i++)
		if (r->bats[i].id == id)
			return (int)i;
	return -1;
}

static int slot_of(const struct rack *r, int bat)
{
	for (int i = 0; i < r->n; i++)
		if (r->slots[i].bat == bat)
			return i + 1;
	return 0;
}

/* Optional battery properties of the battery and insert verbs. */
static bool bat_props(struct req *q, struct bat *b)
{
	double v;

	if (!num(q, "soc", 0, 100, true, b->soc * 100, &v))
		return false;
	b->soc = v / 100;
	if (!num(q, "soh", 50, 100, true, b->soh * 100, &v))
		return false;
	b->soh = v / 100;
	/* a given SOH implies the cycles that faded it, unless given too */
	if (arg(q, "soh"))
		b->cycles = (1 - b->soh) / 0.0002;
	if (!num(q, "cycles", 0, 1e6, true, b->cycles, &b->cycles))
		return false;
	if (arg(q, "cycles") && !arg(q, "soh"))
		b->soh = fmax(0.5, 1 - 0.0002 * b->cycles);
	if (!num(q, "temperature", -40, 120, true, b->temp_c, &b->temp_c))
		return false;
	return num(q, "capacity", 1, 1000, true, b->capacity_ah, &b->capacity_ah);
}

/* The battery named by "battery": existing, or new with its properties. */
static int get_bat(struct req *q, struct rack *r, bool create)
{
	uint64_t id;
	int i;

	if (!id_arg(q, "battery", &id))
		return -1;
	i = find_bat(r, id);
	if (i < 0 && !create) {
		fail(q, "battery: %" PRIu64 " is unknown", id);
		return -1;
	}
	if (i < 0) {
		if (r->nbats == BATS_MAX) {
			fail(q, "battery: already %d batteries", BATS_MAX);
			return -1;
		}
		if (r->nbats == r->capbats) {
			size_t cap = r->capbats ? 2 * r->capbats : 16;
			struct bat *nb = realloc(r->bats, cap * sizeof(*nb));
			if (!nb) {
				fail(q, "out of memory");
				return -1;
			}
			r->bats = nb;
			r->capbats = cap;
		}
		bat_init(&r->bats[r->nbats], id, 0.5);
		struct bat tmp = r->bats[r->nbats];
		if (!bat_props(q, &tmp))
			return -1;
		r->bats[r->nbats] = tmp;
		return (int)r->nbats++;
	}
	struct bat tmp = r->bats[i];
	if (!bat_props(q, &tmp))
		return -1;
	r->bats[i] = tmp;
	return i;
}

static json_object *bat_json(const struct bat *b)
{
	json_object *o = json_object_new_object();
	double vmin, vmax;

	bat_cells(b, &vmin, &vmax);
	json_object_object_add(o, "id", json_object_new_uint64(b->id));
	json_object_object_add(o, "soc", json_object_new_double(b->soc * 100));
	json_object_object_add(o, "soh", json_object_new_double(b->soh * 100));
	json_object_object_add(o, "cycles", json_object_new_double(b->cycles));
	json_object_object_add(o, "voltage", json_object_new_double(bat_voltage(b)));
	json_object_object_add(o, "ocv", json_object_new_double(b->cells * bat_ocv_cell(b->soc)));
	json_object_object_add(o, "v_rc", json_object_new_double(b->v1));
	json_object_object_add(o, "current", json_object_new_double(b->current));
	json_object_object_add(o, "temperature", json_object_new_double(b->temp_c));
	json_object_object_add(o, "resistance", json_object_new_double(bat_r0(b) * 1000));
	json_object_object_add(o, "cell_min", json_object_new_double(vmin));
	json_object_object_add(o, "cell_max", json_object_new_double(vmax));
	json_object_object_add(o, "capacity", json_object_new_double(b->capacity_ah));
	json_object_object_add(o, "cells", json_object_new_int(b->cells));
	json_object_object_add(o, "full", json_object_new_boolean(b->full));
	json_object_object_add(o, "heater_w", json_object_new_double(b->heater_w));
	json_object_object_add(o, "imbalance_mv", json_object_new_double(b->imbalance_v * 1000));
	json_object_object_add(o, "bms_nonsense", json_object_new_boolean(b->nonsense));
	return o;
}

static json_object *regs_json(const uint16_t *r, size_t n)
{
	json_object *a = json_object_new_array();

	for (size_t i = 0; i < n; i++)
		json_object_array_add(a, json_object_new_int(r[i]));
	return a;
}

static json_object *ok(void)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "ok", json_object_new_boolean(true));
	return o;
}

static json_object *do_get(struct req *q, struct rack *r)
{
	struct rack_slot *s;

	if (!slot_arg(q, r, &s))
		return NULL;
	json_object *o = ok(), *regs = json_object_new_object();
	const struct slot *fs = &s->fw.slot;
	json_object_object_add(o, "slot", json_object_new_int((int)(s - r->slots) + 1));
	json_object_object_add(o, "door_open", json_object_new_boolean(s->door_open));
	json_object_object_add(o, "lock_closed", json_object_new_boolean(s->lock_closed));
	json_object_object_add(o, "lock_actuator", json_object_new_boolean(s->port.outputs.lock));
	json_object_object_add(o, "unlocks", json_object_new_int64((int64_t)s->unlocks));
	json_object_object_add(o, "charger_on", json_object_new_boolean(s->port.outputs.charger_on));
	json_object_object_add(o, "current_limit",
			       json_object_new_double(s->port.outputs.current_limit_da / 10.0));
	json_object_object_add(o, "stuck_lock", json_object_new_boolean(s->stuck_lock));
	json_object_object_add(o, "silent", json_object_new_boolean(s->silent));
	json_object_object_add(o, "state", json_object_new_int(fs->in[SLOT_IN_STATE]));
	json_object_object_add(o, "fault_bits", json_object_new_int(fs->in[SLOT_IN_FAULTS]));
	json_object_object_add(o, "battery", s->bat >= 0 ? bat_json(&r->bats[s->bat]) : NULL);
	json_object_object_add(regs, "input", regs_json(fs->in, SLOT_IN_COUNT));
	json_object_object_add(regs, "holding", regs_json(fs->hr, SLOT_HR_COUNT));
	json_object_object_add(o, "registers", regs);
	json_object_object_add(o, "ambient", json_object_new_double(r->ambient_c));
	json_object_object_add(o, "sim_time", json_object_new_double(r->sim_s));
	return o;
}

static json_object *do_battery(struct req *q, struct rack *r)
{
	int b = get_bat(q, r, true);

	if (b < 0)
		return NULL;
	json_object *o = ok();
	json_object_object_add(o, "battery", bat_json(&r->bats[b]));
	json_object_object_add(o, "slot", json_object_new_int(slot_of(r, b)));
	return o;
}

static json_object *do_insert(struct req *q, struct rack *r)
{
	struct rack_slot *s;
	bool force;

	if (!slot_arg(q, r, &s) || !flag(q, "force", false, &force))
		return NULL;
	if (s->bat >= 0)
		return refuse(q, "slot %d already holds battery %" PRIu64, (int)(s - r->slots) + 1,
			    r->bats[s->bat].id);
	if (!s->door_open && !force)
		return refuse(q, "slot %d: the door is closed (open it, or \"force\": true)",
			    (int)(s - r->slots) + 1);
	uint64_t id;
	if (!id_arg(q, "battery", &id))
		return NULL;
	int b = find_bat(r, id);
	if (b >= 0 && slot_of(r, b))
		return refuse(q, "battery %" PRIu64 " is in slot %d", id, slot_of(r, b));
	if ((b = get_bat(q, r, true)) < 0)
		return NULL;
	s->bat = b;
	sync_slot(r, s);
	return ok();
}

static json_object *do_remove(struct req *q, struct rack *r)
{
	struct rack_slot *s;
	bool force;

	if (!slot_arg(q, r, &s) || !flag(q, "force", false, &force))
		return NULL;
	if (s->bat < 0)
		return refuse(q, "slot %d is empty", (int)(s - r->slots) + 1);
	if (!s->door_open && !force)
		return refuse(q, "slot %d: the door is closed (open it, or \"force\": true)",
			    (int)(s - r->slots) + 1);
	json_object *o = ok();
	json_object_object_add(o, "battery", json_object_new_uint64(r->bats[s->bat].id));
	r->bats[s->bat].current = 0;
	s->bat = -1;
	sync_slot(r, s);
	return o;
}

static json_object *do_door(struct req *q, struct rack *r, bool open)
{
	struct rack_slot *s;
	bool force;

	if (!slot_arg(q, r, &s) || !flag(q, "force", false, &force))
		return NULL;
	if (open && s->lock_closed && !force)
		return refuse(q, "slot %d: the door is locked (\"force\": true breaks it open)",
			    (int)(s - r->slots) + 1);
	s->door_open = open;
	sync_slot(r, s);
	return ok();
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

	if (!slot_arg(q, r, &s) || !flag(q, "on", true, &s->silent))
		return NULL;
	return ok();
}

static json_object *do_fault(struct req *q, struct rack *r)
{
	struct rack_slot *s;
	json_object *k = arg(q, "kind");
	const char *kind = k && json_object_is_type(k, json_type_string) ? json_object_get_string(k) : "";
	struct bat *b;
	bool on;
	double v;

	if (!slot_arg(q, r, &s))
		return NULL;
	b = s->bat >= 0 ? &r->bats[s->bat] : NULL;
	if (!strcmp(kind, "stuck_lock")) {
		if (!flag(q, "on", true, &s->stuck_lock))
			return NULL;
	} else if (!strcmp(kind, "clear")) {
		s->stuck_lock = false;
		s->silent = false;
		if (b) {
			b->heater_w = 0;
			b->imbalance_v = 0;
			b->nonsense = false;
		}
	} else if (!strcmp(kind, "overtemp") || !strcmp(kind, "heating") ||
		   !strcmp(kind, "imbalance") || !strcmp(kind, "bms_nonsense")) {
		if (!b)
			return refuse(q, "slot %d is empty: %s needs a battery", (int)(s - r->slots) + 1,
				    kind);
		if (!strcmp(kind, "overtemp")) {
			if (!num(q, "value", -40, 150, true, 65, &b->temp_c))
				return NULL;
		} else if (!strcmp(kind, "heating")) {
			if (!num(q, "value", 0, 10000, true, 50, &b->heater_w))
				return NULL;
		} else if (!strcmp(kind, "imbalance")) {
			if (!num(q, "value", 0, 2000, true, 150, &v))
				return NULL;
			b->imbalance_v = v / 1000;
		} else {
			if (!flag(q, "on", true, &on))
				return NULL;
			b->nonsense = on;
		}
	} else {
		return refuse(q, "kind: %s is not one of overtemp, heating, imbalance, bms_nonsense, "
			       "stuck_lock, clear", k ? json_object_to_json_string(k) : "missing");
	}
	sync_slot(r, s);
	return ok();
}

static json_object *do_noise(struct req *q, struct rack *r)
{
	double rate, seed;

	if (!num(q, "rate", 0, 1, false, 0, &rate) || !num(q, "seed", 1, 1e15, true, 0, &seed))
		return NULL;
	r->noise = rate;
	if (seed > 0)
		r->rng = (uint64_t)seed;
	return ok();
}

static json_object *do_ambient(struct req *q, struct rack *r)
{
	return num(q, "value", -40, 80, false, 0, &r->ambient_c) ? ok() : NULL;
}

static json_object *do_list(struct req *q, struct rack *r)
{
	json_object *o = ok(), *slots = json_object_new_array(), *bats = json_object_new_array();

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
		json_object_object_add(e, "state", json_object_new_int(s->fw.slot.in[SLOT_IN_STATE]));
		json_object_array_add(slots, e);
	}
	for (size_t b = 0; b < r->nbats; b++) {
		json_object *e = bat_json(&r->bats[b]);
		json_object_object_add(e, "slot", json_object_new_int(slot_of(r, (int)b)));
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
		return refuse(&q, "not a JSON object");
	if (!json_object_object_get_ex(cmd, "op", &op) || !json_object_is_type(op, json_type_string))
		return refuse(&q, "op: missing or not a string");
	const char *name = json_object_get_string(op);
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (!strcmp(verbs[i].op, name))
			return verbs[i].fn(&q, r);
	return refuse(&q, "op: \"%s\" is not a verb (get, list, battery, insert, remove, open, "
			  "close, silence, fault, noise, ambient)", name);
}
