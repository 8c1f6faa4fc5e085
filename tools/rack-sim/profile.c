/* Register profile translation: a profile loaded by swapd's own parser,
 * served in front of the firmware's map. */
#include "tools/rack-sim/profile.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/config_errors.h"
#include "drivers/rack_profile.h"

/* The profile's types are the firmware's, in the same order. */
_Static_assert((int)RT_U16 == SLOT_U16 && (int)RT_S16 == SLOT_S16 && (int)RT_U32 == SLOT_U32 &&
		       (int)RT_S32 == SLOT_S32 && (int)RT_U64 == SLOT_U64,
	       "enum rack_type and enum slot_type differ");

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
	/* the bit numbers of firmware/REGISTERS.md's fault_bits */
	json_object *bits = json_object_new_object();
	json_object_object_add(bits, "over_temp", json_object_new_int(__builtin_ctz(SLOT_FAULT_OVER_TEMP)));
	json_object_object_add(bits, "cell_ov", json_object_new_int(__builtin_ctz(SLOT_FAULT_CELL_OV)));
	json_object_object_add(bits, "master_lost", json_object_new_int(__builtin_ctz(SLOT_FAULT_MASTER_LOST)));
	json_object_object_add(bits, "lock_stuck", json_object_new_int(__builtin_ctz(SLOT_FAULT_LOCK_STUCK)));
	json_object_object_add(bits, "bms_invalid", json_object_new_int(__builtin_ctz(SLOT_FAULT_BMS_INVALID)));
	json_object_object_add(bits, "charger", json_object_new_int(__builtin_ctz(SLOT_FAULT_CHARGER)));
	json_object_object_add(doc, "fault_bits", bits);
	return doc;
}

/* The profile as swapd reads it (drivers/rack_profile.c, one parser for
 * both), turned into the firmware fields it serves. */
int prof_load(const char *path, struct prof *p, char *err, size_t errlen)
{
	struct rack_profile *rp = malloc(sizeof *rp);
	struct config_errors *errs = malloc(sizeof *errs);
	int rc = -1;

	memset(p, 0, sizeof(*p));
	if (!rp || !errs) {
		snprintf(err, errlen, "%s: out of memory", path);
		goto out;
	}
	if (rack_profile_load(path, rp, errs) < 0) {
		/* a file error names the file already; a field error does not */
		bool named = strncmp(errs->msg[0], path, strlen(path)) == 0;
		snprintf(err, errlen, "%s%s%s", named ? "" : path, named ? "" : ": ", errs->msg[0]);
		goto out;
	}
	snprintf(p->name, sizeof(p->name), "%s", rp->name);
	for (enum rack_field f = 0; f < RF_COUNT; f++) {
		const struct rack_field_map *m = &rp->f[f];
		struct prof_field *pf = &p->f[p->n];
		if (!m->mapped)
			continue;
		if (!(pf->fw = fw_field(rack_field_name(f)))) {
			snprintf(err, errlen, "%s: fields.%s: the firmware has no such field", path,
				 rack_field_name(f));
			goto out;
		}
		*pf = (struct prof_field){
			.fw = pf->fw, .fc = m->fc, .addr = m->addr, .type = (uint8_t)m->type,
			.scale = m->scale, .offset = m->offset, .low_first = m->low_first,
			.invert = m->invert,
		};
		p->n++;
	}
	rc = 0;
out:
	free(rp);
	free(errs);
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
