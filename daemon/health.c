#include "daemon/health.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "daemon/loop.h"

#define HEALTH_MAX 32

struct entry {
	char name[24];
	enum health_state st;
	char detail[160];
	int64_t since; /* loop_now() of the last state change */
};

static struct entry entries[HEALTH_MAX];
static size_t nentries;
static void (*change_hook)(void);

void health_on_change(void (*fn)(void))
{
	change_hook = fn;
}

static struct entry *find(const char *name, bool add)
{
	for (size_t i = 0; i < nentries; i++)
		if (strcmp(entries[i].name, name) == 0)
			return &entries[i];
	if (!add || nentries == HEALTH_MAX)
		return NULL;
	struct entry *e = &entries[nentries++];
	snprintf(e->name, sizeof e->name, "%s", name);
	e->st = HEALTH_DISABLED;
	e->since = loop_now();
	return e;
}

void health_set(const char *name, enum health_state st, const char *fmt, ...)
{
	struct entry *e = find(name, true);
	va_list ap;

	if (!e)
		return;
	bool changed = e->st != st;
	if (changed)
		e->since = loop_now();
	e->st = st;
	va_start(ap, fmt);
	vsnprintf(e->detail, sizeof e->detail, fmt, ap);
	va_end(ap);
	if (changed && change_hook)
		change_hook();
}

enum health_state health_get(const char *name)
{
	struct entry *e = find(name, false);

	return e ? e->st : HEALTH_DISABLED;
}

const char *health_state_name(enum health_state st)
{
	switch (st) {
	case HEALTH_OK: return "ok";
	case HEALTH_DEGRADED: return "degraded";
	case HEALTH_FAILED: return "failed";
	case HEALTH_DISABLED: return "disabled";
	}
	return "?";
}

enum health_state health_overall(void)
{
	enum health_state worst = HEALTH_OK;

	for (size_t i = 0; i < nentries; i++)
		if (entries[i].st != HEALTH_DISABLED && entries[i].st > worst)
			worst = entries[i].st;
	return worst;
}

json_object *health_json(void)
{
	json_object *arr = json_object_new_array();
	int64_t now = loop_now();

	for (size_t i = 0; i < nentries; i++) {
		json_object *o = json_object_new_object();
		json_object_object_add(o, "name", json_object_new_string(entries[i].name));
		json_object_object_add(o, "state",
				       json_object_new_string(health_state_name(entries[i].st)));
		json_object_object_add(o, "detail", json_object_new_string(entries[i].detail));
		json_object_object_add(o, "since_s",
				       json_object_new_int64((now - entries[i].since) / 1000));
		json_object_array_add(arr, o);
	}
	return arr;
}

void health_summary(char *buf, size_t len)
{
	enum health_state all = health_overall();
	size_t used = (size_t)snprintf(buf, len, "%s", health_state_name(all));
	const char *sep = ":";

	for (size_t i = 0; i < nentries && used < len; i++) {
		if (entries[i].st != HEALTH_DEGRADED && entries[i].st != HEALTH_FAILED)
			continue;
		used += (size_t)snprintf(buf + used, len - used, "%s %s %s", sep,
					 entries[i].name, health_state_name(entries[i].st));
		sep = ";";
	}
}

void health_reset(void)
{
	nentries = 0;
	change_hook = NULL;
}
