#include "drivers/rack_profile.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "daemon/config_errors.h"
#include "daemon/fileio.h"
#include "daemon/jsonfile.h"
#include "drivers/rack.h"

#define PROFILE_MAX_BYTES (256 * 1024)

static const char *const field_names[RF_COUNT] = {
	[RF_PRESENT] = "present", [RF_DOOR] = "door", [RF_LOCK] = "lock",
	[RF_STATE] = "state", [RF_FAULT_BITS] = "fault_bits",
	[RF_BATTERY_ID] = "battery_id", [RF_VOLTAGE] = "voltage", [RF_CURRENT] = "current",
	[RF_TEMPERATURE] = "temperature", [RF_SOC] = "soc", [RF_SOH] = "soh",
	[RF_CYCLES] = "cycles", [RF_RESISTANCE] = "resistance", [RF_CELL_MIN] = "cell_min",
	[RF_CELL_MAX] = "cell_max", [RF_FW_VERSION] = "fw_version",
	[RF_LOCK_CMD] = "lock_cmd", [RF_CHARGE_ENABLE] = "charge_enable",
	[RF_CURRENT_LIMIT] = "current_limit", [RF_HEARTBEAT] = "heartbeat",
	[RF_WATCHDOG_S] = "watchdog_s", [RF_FAULT_RESET] = "fault_reset",
};

/* Without these the daemon cannot tell what is in a slot or keep its door.
 * `present` is not among them: a cabinet without a presence register has
 * its battery's id read every cycle instead (see in_fast_group). */
static const enum rack_field required[] = {
	RF_DOOR, RF_LOCK, RF_FAULT_BITS, RF_BATTERY_ID, RF_VOLTAGE, RF_CURRENT,
	RF_TEMPERATURE, RF_SOC, RF_LOCK_CMD, RF_CHARGE_ENABLE,
};

static const char *const fault_names[RFLT_COUNT] = {
	[RFLT_OVER_TEMP] = "over_temp", [RFLT_CELL_OV] = "cell_ov",
	[RFLT_MASTER_LOST] = "master_lost", [RFLT_LOCK_STUCK] = "lock_stuck",
	[RFLT_BMS_INVALID] = "bms_invalid", [RFLT_CHARGER] = "charger",
};

static const char *const type_names[] = {
	[RT_U16] = "u16", [RT_S16] = "s16", [RT_U32] = "u32", [RT_S32] = "s32", [RT_U64] = "u64",
};

const char *rack_field_name(enum rack_field f)
{
	return f < RF_COUNT ? field_names[f] : "?";
}

unsigned rack_type_words(enum rack_type t)
{
	switch (t) {
	case RT_U16:
	case RT_S16: return 1;
	case RT_U32:
	case RT_S32: return 2;
	case RT_U64: return 4;
	}
	return 1;
}

static const char *show(json_object *v)
{
	return json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN |
					      JSON_C_TO_STRING_NOSLASHESCAPE);
}

static int parse_word_order(json_object *v, const char *path, bool *low_first,
			    struct config_errors *errs)
{
	const char *s = json_object_is_type(v, json_type_string) ? json_object_get_string(v) : "";

	if (strcmp(s, "high_first") == 0)
		*low_first = false;
	else if (strcmp(s, "low_first") == 0)
		*low_first = true;
	else {
		config_error_add(errs, "%s: %.60s is not \"high_first\" or \"low_first\"", path, show(v));
		return -1;
	}
	return 0;
}

static bool get_number(json_object *v, double *out)
{
	if (!json_object_is_type(v, json_type_int) && !json_object_is_type(v, json_type_double))
		return false;
	*out = json_object_get_double(v);
	return isfinite(*out);
}

/* 0/1 fields: swapd reads them as value >= 0.5, writes them as 0 or 1. */
static bool is_flag(enum rack_field f)
{
	return f == RF_PRESENT || f == RF_DOOR || f == RF_LOCK || f == RF_LOCK_CMD ||
	       f == RF_CHARGE_ENABLE;
}

/* What the keys of a field object gave; `bad` when a key was there but
 * wrong (already reported, so not also "missing"). */
struct field_keys {
	bool fc, addr, type, bad;
};

/* One key of field f's object into m; reports a bad value once. */
static void parse_key(enum rack_field f, const char *key, json_object *v, const char *path,
		      struct rack_field_map *m, struct field_keys *k, struct config_errors *errs)
{
	size_t t;

	if (strcmp(key, "fc") == 0) {
		int64_t fc = json_object_get_int64(v);
		k->fc = json_object_is_type(v, json_type_int) && (fc == 3 || fc == 4);
		if (!k->fc)
			config_error_add(errs, "%s: %.60s is not 3 (holding) or 4 (input)", path, show(v));
		m->fc = (uint8_t)fc;
	} else if (strcmp(key, "addr") == 0) {
		int64_t a = json_object_get_int64(v);
		k->addr = json_object_is_type(v, json_type_int) && a >= 0 && a <= 65535;
		if (!k->addr)
			config_error_add(errs, "%s: %.60s is not a 0-based register address 0..65535", path,
					 show(v));
		m->addr = (uint16_t)a;
	} else if (strcmp(key, "type") == 0) {
		const char *s = json_object_is_type(v, json_type_string) ? json_object_get_string(v) : "";
		for (t = 0; t < sizeof type_names / sizeof type_names[0] && strcmp(type_names[t], s); t++)
			;
		k->type = t < sizeof type_names / sizeof type_names[0];
		if (!k->type)
			config_error_add(errs, "%s: %.60s is not one of u16, s16, u32, s32, u64", path, show(v));
		m->type = (enum rack_type)t;
	} else if (strcmp(key, "scale") == 0) {
		if (!get_number(v, &m->scale) || m->scale == 0) {
			config_error_add(errs, "%s: %.60s is not a non-zero number", path, show(v));
			k->bad = true;
		}
	} else if (strcmp(key, "offset") == 0) {
		if (!get_number(v, &m->offset)) {
			config_error_add(errs, "%s: %.60s is not a number", path, show(v));
			k->bad = true;
		}
	} else if (strcmp(key, "invert") == 0) {
		if (!json_object_is_type(v, json_type_boolean) || !is_flag(f)) {
			config_error_add(errs, "%s: only a 0/1 field (present, door, lock, lock_cmd, charge_enable) takes true or false",
					 path);
			k->bad = true;
		}
		m->invert = json_object_get_boolean(v);
	} else if (strcmp(key, "word_order") == 0) {
		k->bad |= parse_word_order(v, path, &m->low_first, errs) < 0;
	} else if (strcmp(key, "unit") != 0) {
		config_error_add(errs, "%s: unknown key", path);
		k->bad = true;
	}
}

static void parse_field(enum rack_field f, json_object *o, bool default_low_first,
			struct rack_profile *p, struct config_errors *errs)
{
	const char *name = field_names[f];
	char path[96];
	struct rack_field_map m = { .mapped = true, .scale = 1, .low_first = default_low_first };
	struct field_keys k = { 0 };

	if (!json_object_is_type(o, json_type_object)) {
		config_error_add(errs, "fields.%s: %.60s is not an object", name, show(o));
		return;
	}
	json_object_object_foreach(o, key, v) {
		snprintf(path, sizeof path, "fields.%s.%.32s", name, key);
		if (key[0] != '_')
			parse_key(f, key, v, path, &m, &k, errs);
	}
	if (!k.fc && !json_object_object_get_ex(o, "fc", NULL))
		config_error_add(errs, "fields.%s.fc: missing (required)", name);
	if (!k.addr && !json_object_object_get_ex(o, "addr", NULL))
		config_error_add(errs, "fields.%s.addr: missing (required)", name);
	if (!k.type && !json_object_object_get_ex(o, "type", NULL))
		config_error_add(errs, "fields.%s.type: missing (required)", name);
	if (!k.fc || !k.addr || !k.type || k.bad)
		return;
	if ((unsigned)m.addr + rack_type_words(m.type) - 1 > 65535) {
		config_error_add(errs, "fields.%s: a %s at %u runs past register 65535 (the last address a %s can start at is %u)",
				 name, type_names[m.type], m.addr, type_names[m.type],
				 65536 - rack_type_words(m.type));
		return;
	}
	if (f >= RF_FIRST_WRITABLE && m.fc != 3) {
		config_error_add(errs, "fields.%s: swapd writes it, so it must be a holding register (fc 3)", name);
		return;
	}
	if (m.invert && (m.scale != 1 || m.offset != 0)) {
		config_error_add(errs, "fields.%s: \"invert\" takes the place of scale and offset; leave them out",
				 name);
		return;
	}
	p->f[f] = m;
}

/* The register value swapd writes for value v into *raw, when it is in
 * the type's range and reads back as exactly v. */
static bool exact_raw(const struct rack_profile *p, enum rack_field f, double v, int64_t *raw)
{
	uint16_t regs[4];
	unsigned n = rack_profile_unscale(p, f, v, regs);
	const struct rack_field_map *m = &p->f[f];
	uint64_t u = 0;

	if (!n)
		return false;
	for (unsigned i = 0; i < n; i++)
		u = (u << 16) | regs[m->low_first ? n - 1 - i : i];
	*raw = m->type == RT_S16 ? (int16_t)u : m->type == RT_S32 ? (int32_t)u : (int64_t)u;
	return fabs(rack_profile_scale(p, f, *raw) - v) <= 1e-9 * fmax(1, fabs(v));
}

/* Every value lo..hi (in steps of 1) is written exactly; else reports the
 * first that is not. */
static bool writes_range(const struct rack_profile *p, enum rack_field f, int lo, int hi,
			 const char *what, struct config_errors *errs)
{
	const struct rack_field_map *m = &p->f[f];
	int64_t raw;

	for (int v = lo; v <= hi; v++)
		if (!exact_raw(p, f, v, &raw)) {
			config_error_add(errs, "fields.%s: %d is no exact %s value with scale %g and offset %g; swapd writes %s",
					 field_names[f], v, type_names[m->type], m->scale, m->offset, what);
			return false;
		}
	return true;
}

/* A scale or offset must not change what a field means to swapd: a 0/1
 * field reads register 0 as 0 and 1 as 1 and writes them so (or the
 * other way round with "invert"), and each command value swapd writes
 * lands on a register value exactly. */
static void check_meanings(const struct rack_profile *p, struct config_errors *errs)
{
	for (enum rack_field f = 0; f < RF_COUNT; f++) {
		const struct rack_field_map *m = &p->f[f];
		double v0 = rack_profile_scale(p, f, 0) + 0.0, v1 = rack_profile_scale(p, f, 1) + 0.0;
		int64_t r0, r1;
		if (!m->mapped || !is_flag(f) || m->invert)
			continue;
		if (f < RF_FIRST_WRITABLE) {
			if (v0 >= 0.5 || v1 < 0.5)
				config_error_add(errs, "fields.%s: scale %g and offset %g read register 0 as %g and 1 as %g, not as 0 and 1 (\"invert\": true inverts a 0/1 field)",
						 field_names[f], m->scale, m->offset, v0, v1);
			continue;
		}
		if (!writes_range(p, f, 0, 1, "0 and 1", errs))
			continue;
		exact_raw(p, f, 0, &r0);
		exact_raw(p, f, 1, &r1);
		if (r0 != 0 || r1 == 0)
			config_error_add(errs, "fields.%s: scale %g and offset %g write 0 as register value %lld and 1 as %lld; 0 must be written as 0 and 1 as non-zero (\"invert\": true inverts a 0/1 field)",
					 field_names[f], m->scale, m->offset, (long long)r0, (long long)r1);
	}
	if (p->f[RF_HEARTBEAT].mapped)
		writes_range(p, RF_HEARTBEAT, 0, RACK_HEARTBEAT_MAX, "a counter 0..9999", errs);
	if (p->f[RF_WATCHDOG_S].mapped)
		writes_range(p, RF_WATCHDOG_S, 1, 3600, "rack.watchdog_s, 1..3600 s", errs);
	if (p->f[RF_CURRENT_LIMIT].mapped)
		writes_range(p, RF_CURRENT_LIMIT, 0, 50, "0..50 A", errs);
	if (p->f[RF_FAULT_RESET].mapped)
		writes_range(p, RF_FAULT_RESET, 1, 1, "the reset command 1", errs);
	for (int k = 0; k < RFLT_COUNT && p->f[RF_FAULT_BITS].mapped; k++) {
		unsigned bits = 16 * rack_type_words(p->f[RF_FAULT_BITS].type);
		if (p->fault_bit[k] >= (int)bits)
			config_error_add(errs, "fault_bits.%s: bit %d is beyond the %u bits of fields.fault_bits (%s)",
					 fault_names[k], p->fault_bit[k], bits,
					 type_names[p->f[RF_FAULT_BITS].type]);
	}
}

static void check_overlaps(struct rack_profile *p, struct config_errors *errs)
{
	for (int a = 0; a < RF_COUNT; a++) {
		const struct rack_field_map *x = &p->f[a];
		if (!x->mapped)
			continue;
		for (int b = a + 1; b < RF_COUNT; b++) {
			const struct rack_field_map *y = &p->f[b];
			if (!y->mapped || x->fc != y->fc)
				continue;
			unsigned xe = x->addr + rack_type_words(x->type) - 1;
			unsigned ye = y->addr + rack_type_words(y->type) - 1;
			if (x->addr <= ye && y->addr <= xe)
				config_error_add(errs, "fields.%s: registers %u..%u (fc %u) overlap fields.%s",
				    field_names[b], y->addr, ye, y->fc, field_names[a]);
		}
	}
}

static int cmp_addr(const void *a, const void *b)
{
	const struct rack_field_map *x = *(const struct rack_field_map *const *)a;
	const struct rack_field_map *y = *(const struct rack_field_map *const *)b;

	return (int)x->addr - (int)y->addr;
}

/* Whether field f is read every cycle: the fast group, and the battery's id
 * when it stands in for a missing presence register (a battery is there
 * when its BMS reports a non-zero id). */
static bool in_fast_group(const struct rack_profile *p, enum rack_field f)
{
	return f < RF_FIRST_SLOW || (f == RF_BATTERY_ID && !p->f[RF_PRESENT].mapped);
}

/* Plans the reads: the fields of each group and function code, sorted by
 * address, with runs of contiguous registers merged into one transaction.
 * Only contiguous: a gap may hold addresses the slave answers with an
 * exception (Application Protocol v1.1b3, 7, code 02). */
static void plan_blocks(struct rack_profile *p, struct config_errors *errs)
{
	p->nblocks = 0;
	for (int fast = 1; fast >= 0; fast--) {
		for (uint8_t fc = 3; fc <= 4; fc++) {
			const struct rack_field_map *sel[RF_COUNT];
			size_t n = 0;
			for (int f = 0; f < RF_FIRST_WRITABLE; f++)
				if (p->f[f].mapped && p->f[f].fc == fc &&
				    in_fast_group(p, (enum rack_field)f) == (bool)fast)
					sel[n++] = &p->f[f];
			qsort(sel, n, sizeof sel[0], cmp_addr);
			for (size_t i = 0; i < n; i++) {
				unsigned start = sel[i]->addr;
				unsigned end = start + rack_type_words(sel[i]->type);
				struct rack_block *last = p->nblocks ? &p->blocks[p->nblocks - 1] : NULL;
				if (last && last->fc == fc && last->fast == fast &&
				    last->addr + last->count == start &&
				    end - last->addr <= RACK_MAX_READ) {
					last->count = (uint16_t)(end - last->addr);
					continue;
				}
				if (p->nblocks == RACK_MAX_BLOCKS) {
					config_error_add(errs, "fields: more than %d separate register runs; group the registers",
					    RACK_MAX_BLOCKS);
					return;
				}
				p->blocks[p->nblocks++] = (struct rack_block){
					.fc = fc, .addr = (uint16_t)start,
					.count = (uint16_t)(end - start), .fast = fast,
				};
			}
		}
	}
}

static void parse_fault_bits(json_object *o, struct rack_profile *p, struct config_errors *errs)
{
	if (!json_object_is_type(o, json_type_object)) {
		config_error_add(errs, "fault_bits: %.60s is not an object", show(o));
		return;
	}
	json_object_object_foreach(o, key, v) {
		int k;
		for (k = 0; k < RFLT_COUNT; k++)
			if (strcmp(fault_names[k], key) == 0)
				break;
		if (key[0] == '_')
			continue;
		if (k == RFLT_COUNT) {
			config_error_add(errs, "fault_bits.%.40s: unknown fault (over_temp, cell_ov, master_lost, lock_stuck, bms_invalid, charger)",
			    key);
			continue;
		}
		int64_t bit = json_object_get_int64(v);
		if (!json_object_is_type(v, json_type_int) || bit < 0 || bit > 63) {
			config_error_add(errs, "fault_bits.%s: %.60s is out of range 0..63", key, show(v));
			continue;
		}
		p->fault_bit[k] = (int8_t)bit;
	}
}

int rack_profile_parse(const char *text, size_t len, const char *name, struct rack_profile *p,
		       struct config_errors *errs)
{
	char why[CONFIG_ERROR_LEN];
	json_object *root, *v;
	bool low_first = false;

	errs->n = 0;
	memset(p, 0, sizeof *p);
	memset(p->fault_bit, -1, sizeof p->fault_bit);
	root = jsonfile_parse(text, len, name, false, why, sizeof why);
	if (!root) {
		config_error_add(errs, "%s", why);
		return -1;
	}

	json_object_object_foreach(root, key, val) {
		if (key[0] == '_' || strcmp(key, "description") == 0 || strcmp(key, "fields") == 0)
			continue;
		if (strcmp(key, "profile") == 0) {
			if (!json_object_is_type(val, json_type_string) ||
			    json_object_get_string_len(val) >= (int)sizeof p->name)
				config_error_add(errs, "profile: %.60s is not a name of up to 63 characters", show(val));
			else
				snprintf(p->name, sizeof p->name, "%s", json_object_get_string(val));
		} else if (strcmp(key, "word_order") == 0) {
			parse_word_order(val, "word_order", &low_first, errs);
		} else if (strcmp(key, "fault_bits") == 0) {
			parse_fault_bits(val, p, errs);
		} else {
			config_error_add(errs, "%.40s: unknown key", key);
		}
	}
	if (!p->name[0])
		config_error_add(errs, "profile: missing (required)");
	if (!json_object_object_get_ex(root, "fields", &v) || !json_object_is_type(v, json_type_object)) {
		config_error_add(errs, "fields: missing (required) or not an object");
	} else {
		json_object_object_foreach(v, fname, fo) {
			enum rack_field f;
			for (f = 0; f < RF_COUNT && strcmp(field_names[f], fname) != 0; f++)
				;
			if (f < RF_COUNT)
				parse_field(f, fo, low_first, p, errs);
			else if (fname[0] != '_')
				config_error_add(errs, "fields.%.40s: unknown field", fname);
		}
		for (size_t i = 0; i < sizeof required / sizeof required[0]; i++)
			if (!json_object_object_get_ex(v, field_names[required[i]], NULL))
				config_error_add(errs, "fields.%s: missing (required)", field_names[required[i]]);
	}
	json_object_put(root);
	if (errs->n == 0)
		check_meanings(p, errs);
	if (errs->n == 0)
		check_overlaps(p, errs);
	if (errs->n == 0)
		plan_blocks(p, errs);
	return errs->n ? -1 : 0;
}

int rack_profile_load(const char *path, struct rack_profile *p, struct config_errors *errs)
{
	char why[CONFIG_ERROR_LEN], *text;
	size_t len;
	int rc;

	errs->n = 0;
	if (fileio_load(path, PROFILE_MAX_BYTES, &text, &len, why, sizeof why) < 0) {
		config_error_add(errs, "%s", why);
		return -1;
	}
	rc = rack_profile_parse(text, len, path, p, errs);
	free(text);
	return rc;
}

bool rack_profile_raw(const struct rack_profile *p, enum rack_field f, const struct rack_block *b,
		      const uint16_t *regs, int64_t *raw)
{
	const struct rack_field_map *m = &p->f[f];
	unsigned words = rack_type_words(m->type);
	uint64_t v = 0;

	if (!m->mapped || m->fc != b->fc || m->addr < b->addr ||
	    m->addr + words > (unsigned)b->addr + b->count)
		return false;
	const uint16_t *r = regs + (m->addr - b->addr);
	for (unsigned i = 0; i < words; i++)
		v = (v << 16) | r[m->low_first ? words - 1 - i : i];
	switch (m->type) {
	case RT_S16: *raw = (int16_t)v; break;
	case RT_S32: *raw = (int32_t)v; break;
	default: *raw = (int64_t)v; break;
	}
	return true;
}

double rack_profile_scale(const struct rack_profile *p, enum rack_field f, int64_t raw)
{
	if (p->f[f].invert)
		return raw == 0 ? 1 : 0;
	return (double)raw * p->f[f].scale + p->f[f].offset;
}

/* Whether x is a whole number of 10^-d within the rounding of a double. */
static bool has_decimals(double x, int d)
{
	double scaled = fabs(x) * pow(10, d);

	return fabs(scaled - round(scaled)) <= 1e-6 * fmax(1, scaled);
}

int rack_profile_decimals(const struct rack_profile *p, enum rack_field f)
{
	const struct rack_field_map *m = &p->f[f];
	int d = 1;

	if (!m->mapped || m->invert)
		return d;
	while (d < 6 && !(has_decimals(m->scale, d) && has_decimals(m->offset, d)))
		d++;
	return d;
}

unsigned rack_profile_unscale(const struct rack_profile *p, enum rack_field f, double value,
			      uint16_t regs[4])
{
	const struct rack_field_map *m = &p->f[f];
	double raw = m->invert ? (value == 0 ? 1 : value == 1 ? 0 : -1)
			       : round((value - m->offset) / m->scale);
	unsigned words = rack_type_words(m->type);
	double lo = 0, hi;

	if (!m->mapped)
		return 0;
	switch (m->type) {
	case RT_S16: lo = -32768; hi = 32767; break;
	case RT_S32: lo = -2147483648.0; hi = 2147483647.0; break;
	case RT_U16: hi = 65535; break;
	case RT_U32: hi = 4294967295.0; break;
	default: hi = 9007199254740992.0; break; /* exact in a double */
	}
	if (!(raw >= lo && raw <= hi))
		return 0;
	uint64_t v = (uint64_t)(int64_t)raw;
	for (unsigned i = 0; i < words; i++) {
		/* regs[i] is the register at addr + i */
		unsigned shift = 16 * (m->low_first ? i : words - 1 - i);
		regs[i] = (uint16_t)(v >> shift);
	}
	return words;
}

static void store_field(struct rack_reading *r, enum rack_field f, int64_t raw, double v)
{
	switch (f) {
	case RF_PRESENT: r->present = v >= 0.5; break;
	case RF_DOOR: r->door_open = v >= 0.5; break;
	case RF_LOCK: r->locked = v >= 0.5; break;
	case RF_STATE: r->state = (int)v; break;
	case RF_FAULT_BITS: r->fault_bits = (uint64_t)raw; break;
	case RF_BATTERY_ID: r->battery_id = (uint64_t)raw; break;
	case RF_VOLTAGE: r->voltage = v; break;
	case RF_CURRENT: r->current = v; break;
	case RF_TEMPERATURE: r->temperature = v; break;
	case RF_SOC: r->soc = v; break;
	case RF_SOH: r->soh = v; break;
	case RF_CYCLES: r->cycles = (int64_t)v; break;
	case RF_RESISTANCE: r->resistance = v; break;
	case RF_CELL_MIN: r->cell_min = v; break;
	case RF_CELL_MAX: r->cell_max = v; break;
	case RF_FW_VERSION: r->fw_version = (int)v; break;
	default: break;
	}
}

void rack_profile_decode(const struct rack_profile *p, const struct rack_block *b,
			 const uint16_t *regs, int64_t at, struct rack_reading *r)
{
	int64_t raw;

	for (int f = 0; f < RF_FIRST_WRITABLE; f++) {
		if (!rack_profile_raw(p, (enum rack_field)f, b, regs, &raw))
			continue;
		r->have[f] = true;
		store_field(r, (enum rack_field)f, raw, rack_profile_scale(p, (enum rack_field)f, raw));
		if (f == RF_BATTERY_ID && !p->f[RF_PRESENT].mapped)
			r->present = raw != 0;
	}
	if (b->fast)
		r->fast_at = at;
	else
		r->slow_at = at;
}
