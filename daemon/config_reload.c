/* The reload check of the config module: which keys a running swapd can
 * take from a new file, and which need a restart. Values are compared key
 * by key through the parser's own field tables (config_field.h), never as
 * whole structs: struct padding and the bytes after a string's NUL are not
 * part of the config, and a difference is reported under the key's name. */
#include "daemon/config.h"

#include <stdio.h>
#include <string.h>

#include "daemon/config_field.h"

/* Keys that only take effect at a restart, as paths into the tables. A
 * section stands for every key in it, and for its presence; `presence`
 * marks a section of which only adding or removing needs a restart. */
static const struct {
	const char *path;
	bool presence;
} restart_keys[] = {
	{ "station.id", false }, { "store.path", false }, { "control.socket", false },
	{ "control.mode", false }, { "rack", false }, { "gpio", false },
	{ "scanner", false }, { "tokens", true }, { "sync", false },
	{ "kiosk", false },
};

#define RESTART "changing it needs a restart"

static void diff_field(const struct field *f, const char *a, const char *b, const char *path,
		       bool presence, struct config_errors *errs);

/* Every key of the section described by fields, at a and b. */
static void diff_section(const struct field *fields, const char *a, const char *b,
			 const char *prefix, struct config_errors *errs)
{
	char path[160];

	for (const struct field *f = fields; f->key; f++) {
		snprintf(path, sizeof path, "%.120s.%s", prefix, f->key);
		diff_field(f, a, b, path, false, errs);
	}
}

static size_t count_of(const struct field *f, const char *base)
{
	if (f->count_size == sizeof(size_t))
		return *(const size_t *)(base + f->count_off);
	return (size_t)*(const int *)(base + f->count_off);
}

static void diff_array(const struct field *f, const char *a, const char *b, const char *path,
		       struct config_errors *errs)
{
	size_t na = count_of(f, a), nb = count_of(f, b);
	char ipath[160];

	if (na != nb)
		config_error_add(errs, "%s: %zu entries differ from the running %zu; " RESTART, path,
				 nb, na);
	for (size_t i = 0; i < na && i < nb; i++) {
		snprintf(ipath, sizeof ipath, "%.120s[%zu]", path, i);
		diff_section(f->sub, a + f->off + i * f->size, b + f->off + i * f->size, ipath, errs);
	}
}

/* Field f of the structs at a (running) and b (new); f->off is relative
 * to them. Strings compare up to their NUL, scalars by value. */
static void diff_field(const struct field *f, const char *a, const char *b, const char *path,
		       bool presence, struct config_errors *errs)
{
	const char *va = a + f->off, *vb = b + f->off;

	switch (f->type) {
	case F_STR:
		if (strcmp(va, vb) != 0)
			config_error_add(errs, "%s: \"%.80s\" differs from the running \"%.80s\"; " RESTART,
					 path, vb, va);
		return;
	case F_INT:
		if (*(const int *)va != *(const int *)vb)
			config_error_add(errs, "%s: %d differs from the running %d; " RESTART, path,
					 *(const int *)vb, *(const int *)va);
		return;
	case F_BOOL:
		if (*(const bool *)va != *(const bool *)vb)
			config_error_add(errs, "%s: %s differs from the running %s; " RESTART, path,
					 *(const bool *)vb ? "true" : "false",
					 *(const bool *)va ? "true" : "false");
		return;
	case F_CONV:
		if (memcmp(va, vb, f->size) != 0)
			config_error_add(errs, "%s: differs from the running value; " RESTART, path);
		return;
	case F_ARRAY:
		diff_array(f, a, b, path, errs);
		return;
	case F_OBJ:
		if (f->optional) {
			bool ea = *(const bool *)(a + f->enabled_off);
			bool eb = *(const bool *)(b + f->enabled_off);
			if (ea != eb)
				config_error_add(errs, "%s: adding or removing the section needs a restart",
						 path);
			if (ea != eb || !ea)
				return;
		}
		if (!presence)
			diff_section(f->sub, va, vb, path, errs);
		return;
	}
}

/* The field at a dotted path, and the offset of the struct it lies in. */
static const struct field *find_key(const char *path, size_t *base)
{
	const struct field *fields = config_top_fields;
	const char *p = path;

	*base = 0;
	for (;;) {
		size_t n = strcspn(p, ".");
		const struct field *f = fields;
		while (f->key && (strlen(f->key) != n || strncmp(f->key, p, n) != 0))
			f++;
		if (!f->key || !p[n])
			return f->key ? f : NULL;
		*base += f->off;
		fields = f->sub;
		p += n + 1;
	}
}

int config_check_reload(const struct config *running, const struct config *next,
			struct config_errors *errs)
{
	errs->n = 0;
	for (size_t i = 0; i < sizeof restart_keys / sizeof restart_keys[0]; i++) {
		size_t base;
		const struct field *f = find_key(restart_keys[i].path, &base);
		if (!f) /* a key renamed in the tables but not here: refuse */
			config_error_add(errs, "%s: no such key (internal)", restart_keys[i].path);
		else
			diff_field(f, (const char *)running + base, (const char *)next + base,
				   restart_keys[i].path, restart_keys[i].presence, errs);
	}
	return errs->n ? -1 : 0;
}
