/* Register profile loading and translation. */
#include "tools/rack-sim/profile.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const char *const type_names[] = { "u16", "s16", "u32", "s32", "u64" };

/* Number of 16-bit registers a value of type t occupies. */
static unsigned prof_words(uint8_t type)
{
	return type == SLOT_U64 ? 4 : type >= SLOT_U32 ? 2 : 1;
}

static const struct slot_field *fw_field(const char *name)
{
	for (size_t i = 0; i < slot_field_count; i++)
		if (!strcmp(slot_fields[i].name, name))
			return &slot_fields[i];
	return NULL;
}

json_object *prof_builtin_json(void)
{
	json_object *doc = json_object_new_object(), *fields = json_object_new_object();

	json_object_object_add(doc, "profile", json_object_new_string("swapd-slot-v1"));
	json_object_object_add(doc, "description", json_object_new_string(
		"swapd slot controller firmware 1.0, built-in register map (firmware/REGISTERS.md)"));
	json_object_object_add(doc, "word_order", json_object_new_string("high_first"));
	for (size_t i = 0; i < slot_field_count; i++) {
		const struct slot_field *f = &slot_fields[i];
		json_object *o = json_object_new_object();
		char s[16];
		snprintf(s, sizeof(s), "%.*f", f->scale_exp < 0 ? -f->scale_exp : 0,
			 pow(10, f->scale_exp));
		json_object_object_add(o, "fc", json_object_new_int(f->fc));
		json_object_object_add(o, "addr", json_object_new_int(f->addr));
		json_object_object_add(o, "type", json_object_new_string(type_names[f->type]));
		json_object_object_add(o, "scale", f->scale_exp ? json_object_new_double_s(pow(10, f->scale_exp), s)
							       : json_object_new_int(1));
		json_object_object_add(o, "offset", json_object_new_int(0));
		json_object_object_add(fields, f->name, o);
	}
	json_object_object_add(doc, "fields", fields);
	return doc;
}

static bool word_order(json_object *v, bool *low_first)
{
	const char *s = json_object_get_string(v);

	if (!json_object_is_type(v, json_type_string))
		return false;
	if (!strcmp(s, "high_first"))
		*low_first = false;
	else if (!strcmp(s, "low_first"))
		*low_first = true;
	else
		return false;
	return true;
}

static bool is_number(json_object *v)
{
	return json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double);
}

/* Checks one field object; returns NULL or what is wrong with it. */
static const char *load_field(struct prof_field *pf, json_object *o, bool low_first, char *why,
			      size_t whylen)
{
	json_object *v;

	pf->low_first = low_first;
	pf->offset = 0;
	if (!json_object_is_type(o, json_type_object))
		return "is not an object";
	json_object_object_foreach(o, key, val) {
		/* every key swapd's own parser takes ("unit" and "_..." are notes) */
		if (key[0] != '_' && strcmp(key, "fc") && strcmp(key, "addr") && strcmp(key, "type") &&
		    strcmp(key, "scale") && strcmp(key, "offset") && strcmp(key, "word_order") &&
		    strcmp(key, "unit") && strcmp(key, "invert")) {
			snprintf(why, whylen, "%s: unknown key", key);
			return why;
		}
		(void)val;
	}
	if (!json_object_object_get_ex(o, "fc", &v) || !json_object_is_type(v, json_type_int) ||
	    (json_object_get_int(v) != 3 && json_object_get_int(v) != 4))
		return "fc: missing or not 3 (holding) or 4 (input)";
	pf->fc = (uint8_t)json_object_get_int(v);
	if (pf->fw->fc == 3 && pf->fc != 3)
		return "fc: a writable field must be a holding register (3)";
	if (!json_object_object_get_ex(o, "addr", &v) || !json_object_is_type(v, json_type_int) ||
	    json_object_get_int64(v) < 0 || json_object_get_int64(v) > 65535)
		return "addr: missing or not an integer 0..65535";
	pf->addr = (uint16_t)json_object_get_int(v);
	if (!json_object_object_get_ex(o, "type", &v))
		return "type: missing";
	pf->type = 0xFF;
	for (uint8_t t = 0; t < 5; t++)
		if (json_object_is_type(v, json_type_string) &&
		    !strcmp(json_object_get_string(v), type_names[t]))
			pf->type = t;
	if (pf->type == 0xFF)
		return "type: not one of u16, s16, u32, s32, u64";
	if (pf->addr + prof_words(pf->type) > 65536)
		return "addr: the value runs past register 65535";
	pf->scale = 1;
	if (json_object_object_get_ex(o, "scale", &v)) {
		if (!is_number(v) || json_object_get_double(v) == 0 || !isfinite(json_object_get_double(v)))
			return "scale: zero or not a number";
		pf->scale = json_object_get_double(v);
	}
	pf->invert = json_object_object_get_ex(o, "invert", &v) && json_object_get_boolean(v);
	if (json_object_object_get_ex(o, "offset", &v)) {
		if (!is_number(v))
			return "offset: not a number";
		pf->offset = json_object_get_double(v);
	}
	if (json_object_object_get_ex(o, "word_order", &v) && !word_order(v, &pf->low_first))
		return "word_order: not \"high_first\" or \"low_first\"";
	return NULL;
}

static bool overlaps(const struct prof_field *a, const struct prof_field *b)
{
	return a->fc == b->fc && a->addr < b->addr + prof_words(b->type) &&
	       b->addr < a->addr + prof_words(a->type);
}

int prof_load(const char *path, struct prof *p, char *err, size_t errlen)
{
	json_object *doc = json_object_from_file(path), *v, *fields;
	bool low_first = false;
	char why[128];
	int rc = -1;

	memset(p, 0, sizeof(*p));
	if (!doc) {
		snprintf(err, errlen, "%s: %s", path, json_util_get_last_err());
		return -1;
	}
	if (!json_object_is_type(doc, json_type_object)) {
		snprintf(err, errlen, "%s: the top level is not a JSON object", path);
		goto out;
	}
	if (!json_object_object_get_ex(doc, "profile", &v) || !json_object_is_type(v, json_type_string)) {
		snprintf(err, errlen, "%s: profile: missing or not a string", path);
		goto out;
	}
	snprintf(p->name, sizeof(p->name), "%s", json_object_get_string(v));
	if (json_object_object_get_ex(doc, "word_order", &v) && !word_order(v, &low_first)) {
		snprintf(err, errlen, "%s: word_order: not \"high_first\" or \"low_first\"", path);
		goto out;
	}
	if (!json_object_object_get_ex(doc, "fields", &fields) ||
	    !json_object_is_type(fields, json_type_object)) {
		snprintf(err, errlen, "%s: fields: missing or not an object", path);
		goto out;
	}
	json_object_object_foreach(fields, name, fo) {
		struct prof_field *pf = &p->f[p->n];
		const char *bad;
		if (!(pf->fw = fw_field(name))) {
			snprintf(err, errlen, "%s: fields.%s: unknown field", path, name);
			goto out;
		}
		if ((bad = load_field(pf, fo, low_first, why, sizeof(why)))) {
			snprintf(err, errlen, "%s: fields.%s.%s", path, name, bad);
			goto out;
		}
		for (size_t i = 0; i < p->n; i++)
			if (overlaps(&p->f[i], pf)) {
				snprintf(err, errlen, "%s: fields.%s overlaps fields.%s", path, name,
					 p->f[i].fw->name);
				goto out;
			}
		p->n++;
	}
	rc = 0;
out:
	json_object_put(doc);
	return rc;
}

/* The firmware field's value in engineering units. */
static double fw_value(const struct slot *s, const struct slot_field *f)
{
	const uint16_t *r = (f->fc == 4 ? s->in : s->hr) + f->addr;
	uint64_t raw = 0;
	double v;

	for (unsigned i = 0; i < prof_words(f->type); i++)
		raw = raw << 16 | r[i];
	switch (f->type) {
	case SLOT_S16:
		v = (int16_t)raw;
		break;
	case SLOT_S32:
		v = (int32_t)raw;
		break;
	default:
		v = (double)raw;
		break;
	}
	return v * pow(10, f->scale_exp);
}

/* The profile field's raw value for v, saturated to its type; an inverted
 * 0/1 field holds 1 for 0 and 0 otherwise. */
static uint64_t encode(const struct prof_field *pf, double v)
{
	double raw = pf->invert ? v == 0 : round((v - pf->offset) / pf->scale);
	double lo = 0, hi;

	switch (pf->type) {
	case SLOT_S16:
		lo = -32768, hi = 32767;
		break;
	case SLOT_U16:
		hi = 65535;
		break;
	case SLOT_S32:
		lo = -2147483648.0, hi = 2147483647.0;
		break;
	case SLOT_U32:
		hi = 4294967295.0;
		break;
	default:
		hi = 18446744073709549568.0; /* largest double below 2^64 */
		break;
	}
	raw = raw < lo ? lo : raw > hi ? hi : raw;
	return raw < 0 ? (uint64_t)(int64_t)raw : (uint64_t)raw;
}

/* Word i (0 = at the field's address) of the field's value. */
static uint16_t word_of(const struct prof_field *pf, uint64_t raw, unsigned i)
{
	unsigned n = prof_words(pf->type);
	unsigned k = pf->low_first ? i : n - 1 - i; /* k-th least significant */
	return (uint16_t)(raw >> (16 * k));
}

static const struct prof_field *field_at(const struct prof *p, uint8_t fc, uint32_t a)
{
	for (size_t i = 0; i < p->n; i++)
		if (p->f[i].fc == fc && a >= p->f[i].addr && a < p->f[i].addr + prof_words(p->f[i].type))
			return &p->f[i];
	return NULL;
}

static bool in_span(const struct prof *p, uint8_t fc, uint32_t a)
{
	bool lo = false, hi = false;

	for (size_t i = 0; i < p->n; i++)
		if (p->f[i].fc == fc) {
			lo |= p->f[i].addr <= a;
			hi |= a < p->f[i].addr + prof_words(p->f[i].type);
		}
	return lo && hi;
}

/* u64 values (the battery id) keep all their bits: a double would round. */
static uint64_t field_raw(const struct prof_field *pf, const struct slot *s)
{
	if (pf->type == SLOT_U64 && pf->fw->type == SLOT_U64 && pf->scale == 1 && pf->offset == 0) {
		const uint16_t *r = s->in + pf->fw->addr;
		return (uint64_t)r[0] << 48 | (uint64_t)r[1] << 32 | (uint64_t)r[2] << 16 | r[3];
	}
	return encode(pf, fw_value(s, pf->fw));
}

static uint8_t prof_read(void *ctx, enum mb_table t, uint16_t addr, uint16_t qty, uint16_t *out)
{
	const struct prof_port *pp = ctx;

	for (uint32_t a = addr; a < (uint32_t)addr + qty; a++)
		if (!field_at(pp->p, (uint8_t)t, a) && !in_span(pp->p, (uint8_t)t, a))
			return MB_EX_ILLEGAL_ADDRESS;
	for (uint32_t a = addr; a < (uint32_t)addr + qty; a++) {
		const struct prof_field *pf = field_at(pp->p, (uint8_t)t, a);
		out[a - addr] = pf ? word_of(pf, field_raw(pf, pp->slot), a - pf->addr) : 0;
	}
	return MB_EX_NONE;
}

static uint8_t prof_write(void *ctx, uint16_t addr, uint16_t qty, const uint16_t *val)
{
	const struct prof_port *pp = ctx;
	uint32_t end = (uint32_t)addr + qty;

	for (uint32_t a = addr; a < end; a++) {
		const struct prof_field *pf = field_at(pp->p, MB_HOLDING, a);
		if (!pf || pf->addr < addr || pf->addr + prof_words(pf->type) > end)
			return MB_EX_ILLEGAL_ADDRESS;
	}
	for (uint32_t a = addr; a < end;) {
		const struct prof_field *pf = field_at(pp->p, MB_HOLDING, a);
		unsigned n = prof_words(pf->type);
		uint64_t raw = 0;
		for (unsigned i = 0; i < n; i++) {
			unsigned k = pf->low_first ? i : n - 1 - i;
			raw |= (uint64_t)val[a - addr + i] << (16 * k);
		}
		double v = pf->type == SLOT_S16   ? (int16_t)raw
			   : pf->type == SLOT_S32 ? (int32_t)raw
						  : (double)raw;
		double fw = pf->invert ? v == 0
				       : round((v * pf->scale + pf->offset) / pow(10, pf->fw->scale_exp));
		if (fw < 0 || fw > 65535)
			return MB_EX_ILLEGAL_VALUE;
		uint16_t w = (uint16_t)fw;
		uint8_t ex = slot_backend.write(pp->slot, pf->fw->addr, 1, &w);
		if (ex != MB_EX_NONE)
			return ex;
		a += n;
	}
	return MB_EX_NONE;
}

const struct mb_slave_backend prof_backend = { prof_read, prof_write };
