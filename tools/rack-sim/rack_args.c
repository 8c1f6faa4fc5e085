/* Reading a verb's arguments, and the batteries they name. */
#include "tools/rack-sim/rack_priv.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BATS_MAX 1024

bool rack_fail(struct req *q, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(q->err, q->errlen, fmt, ap);
	va_end(ap);
	return false;
}

json_object *rack_refuse(struct req *q, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(q->err, q->errlen, fmt, ap);
	va_end(ap);
	return NULL;
}

json_object *rack_arg(struct req *q, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(q->cmd, key, &v) ? v : NULL;
}

bool rack_num(struct req *q, const char *key, double lo, double hi, bool has_def, double def,
	      double *out)
{
	json_object *v = rack_arg(q, key);

	if (!v) {
		if (!has_def)
			return rack_fail(q, "%s: missing", key);
		*out = def;
		return true;
	}
	if (!json_object_is_type(v, json_type_int) && !json_object_is_type(v, json_type_double))
		return rack_fail(q, "%s: %s is not a number", key, json_object_to_json_string(v));
	*out = json_object_get_double(v);
	if (!(*out >= lo && *out <= hi))
		return rack_fail(q, "%s: %s is out of range %g..%g", key, json_object_to_json_string(v),
				 lo, hi);
	return true;
}

bool rack_flag(struct req *q, const char *key, bool def, bool *out)
{
	json_object *v = rack_arg(q, key);

	if (!v) {
		*out = def;
		return true;
	}
	if (!json_object_is_type(v, json_type_boolean))
		return rack_fail(q, "%s: %s is not true or false", key, json_object_to_json_string(v));
	*out = json_object_get_boolean(v);
	return true;
}

bool rack_slot_arg(struct req *q, struct rack *r, struct rack_slot **s)
{
	double v;

	if (!rack_num(q, "slot", 1, r->n, false, 0, &v))
		return false;
	if (v != floor(v))
		return rack_fail(q, "slot: %g is not an integer", v);
	*s = &r->slots[(int)v - 1];
	return true;
}

bool rack_id_arg(struct req *q, const char *key, uint64_t *id)
{
	json_object *v = rack_arg(q, key);
	char *end;

	if (!v)
		return rack_fail(q, "%s: missing", key);
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
	return rack_fail(q, "%s: %s is not a battery id (a positive integer, or a string like \"0x1F\")",
			 key, json_object_to_json_string(v));
}

int rack_find_bat(const struct rack *r, uint64_t id)
{
	for (size_t i = 0; i < r->nbats; i++)
		if (r->bats[i].id == id)
			return (int)i;
	return -1;
}

int rack_slot_of(const struct rack *r, int bat)
{
	for (int i = 0; i < r->n; i++)
		if (r->slots[i].bat == bat)
			return i + 1;
	return 0;
}

/* Optional battery properties of the battery, insert and return verbs. */
static bool bat_props(struct req *q, struct bat *b)
{
	double v;

	if (!rack_num(q, "soc", 0, 100, true, b->soc * 100, &v))
		return false;
	b->soc = v / 100;
	if (!rack_num(q, "soh", 50, 100, true, b->soh * 100, &v))
		return false;
	b->soh = v / 100;
	/* a given SOH implies the cycles that faded it, unless given too */
	if (rack_arg(q, "soh"))
		b->cycles = (1 - b->soh) / 0.0002;
	if (!rack_num(q, "cycles", 0, 1e6, true, b->cycles, &b->cycles))
		return false;
	if (rack_arg(q, "cycles") && !rack_arg(q, "soh"))
		b->soh = fmax(0.5, 1 - 0.0002 * b->cycles);
	if (!rack_num(q, "temperature", -40, 120, true, b->temp_c, &b->temp_c))
		return false;
	return rack_num(q, "capacity", 1, 1000, true, b->capacity_ah, &b->capacity_ah);
}

/* Room for one more battery in r->bats; false when there is none. */
static bool bats_room(struct req *q, struct rack *r)
{
	if (r->nbats == BATS_MAX)
		return rack_fail(q, "battery: already %d batteries", BATS_MAX);
	if (r->nbats == r->capbats) {
		size_t cap = r->capbats ? 2 * r->capbats : 16;
		struct bat *nb = realloc(r->bats, cap * sizeof(*nb));
		if (!nb)
			return rack_fail(q, "out of memory");
		r->bats = nb;
		r->capbats = cap;
	}
	return true;
}

int rack_get_bat(struct req *q, struct rack *r, bool create)
{
	uint64_t id;
	struct bat tmp;
	int i;

	if (!rack_id_arg(q, "battery", &id))
		return -1;
	i = rack_find_bat(r, id);
	if (i < 0 && !create) {
		rack_fail(q, "battery: %" PRIu64 " is unknown", id);
		return -1;
	}
	if (i < 0) {
		if (!bats_room(q, r))
			return -1;
		bat_init(&tmp, id, 0.5);
	} else {
		tmp = r->bats[i];
	}
	if (!bat_props(q, &tmp))
		return -1;
	if (i < 0)
		i = (int)r->nbats++;
	r->bats[i] = tmp;
	return i;
}

json_object *rack_bat_json(const struct bat *b)
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

json_object *rack_ok(void)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "ok", json_object_new_boolean(true));
	return o;
}
