#include "daemon/command.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/text.h"

/* The most of a client's own text a message quotes back. */
#define ECHO_MAX 64

static const struct command *commands[COMMAND_MAX];
static size_t ncommands;

static const char *const level_names[] = { "viewer", "kiosk", "staff", "admin" };
static const char *const type_names[] = { "int", "string", "bool", "on-off" };

const char *command_level_name(enum command_level level)
{
	return level_names[level];
}

/* Why row cannot be registered, or NULL. Bounds are checked here, once, so
 * that every int and string argument has some. */
static const char *row_error(const struct command *row)
{
	if (!row->name || !row->name[0] || !row->fn || !row->help)
		return "has no name, handler or help";
	if ((unsigned)row->level > LEVEL_ADMIN)
		return "has no such level";
	for (size_t i = 0; i < COMMAND_ARGS_MAX && row->args[i].name; i++) {
		const struct command_arg *a = &row->args[i];
		if ((unsigned)a->type > ARG_ONOFF)
			return "has an argument of no such type";
		if ((a->type == ARG_INT || a->type == ARG_STRING) && a->min > a->max)
			return "has an argument whose bounds are empty";
		if (a->type == ARG_STRING && a->min < 0)
			return "has a string argument of negative length";
		for (size_t j = 0; j < i; j++)
			if (strcmp(row->args[j].name, a->name) == 0)
				return "names an argument twice";
	}
	return NULL;
}

enum sw_err command_register(const struct command *table, size_t n, char *why, size_t whylen)
{
	if (n > COMMAND_MAX - ncommands) {
		snprintf(why, whylen, "control: no room for %zu more commands (at most %d)", n,
			 COMMAND_MAX);
		return SW_EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		const char *bad = row_error(&table[i]);
		if (bad) {
			snprintf(why, whylen, "control: command \"%s\" %s",
				 table[i].name ? table[i].name : "(null)", bad);
			return SW_EINVAL;
		}
		bool dup = command_find(table[i].name, strlen(table[i].name)) != NULL;
		for (size_t j = 0; j < i; j++)
			dup = dup || strcmp(table[j].name, table[i].name) == 0;
		if (dup) {
			snprintf(why, whylen, "control: command \"%s\" is registered twice",
				 table[i].name);
			return SW_EEXIST;
		}
	}
	for (size_t i = 0; i < n; i++)
		commands[ncommands++] = &table[i];
	return SW_OK;
}

const struct command *command_find(const char *name, size_t len)
{
	/* by length: "status\u0000junk" is not "status" */
	for (size_t i = 0; i < ncommands; i++)
		if (strlen(commands[i]->name) == len && memcmp(commands[i]->name, name, len) == 0)
			return commands[i];
	return NULL;
}

static const struct command_arg *spec_arg(const struct command *cmd, const char *name)
{
	for (size_t i = 0; i < COMMAND_ARGS_MAX && cmd->args[i].name; i++)
		if (strcmp(cmd->args[i].name, name) == 0)
			return &cmd->args[i];
	return NULL;
}

/* Whether v fits a; if not, msg says why. */
static bool value_ok(const struct command_arg *a, json_object *v, char *msg, size_t msglen)
{
	const char *s;
	int64_t n;

	switch (a->type) {
	case ARG_INT:
		if (!json_object_is_type(v, json_type_int)) {
			snprintf(msg, msglen, "\"%s\": must be an integer", a->name);
			return false;
		}
		n = json_object_get_int64(v);
		if (n < a->min || n > a->max) {
			snprintf(msg, msglen, "\"%s\": must be %" PRId64 "..%" PRId64, a->name,
				 a->min, a->max);
			return false;
		}
		return true;
	case ARG_STRING:
		if (!json_object_is_type(v, json_type_string)) {
			snprintf(msg, msglen, "\"%s\": must be a string", a->name);
			return false;
		}
		n = json_object_get_string_len(v);
		s = json_object_get_string(v);
		if (n < a->min || n > a->max || memchr(s, '\0', (size_t)n)) {
			snprintf(msg, msglen, "\"%s\": must be %" PRId64 "..%" PRId64 " bytes, without NUL",
				 a->name, a->min, a->max);
			return false;
		}
		return true;
	case ARG_BOOL:
		if (!json_object_is_type(v, json_type_boolean)) {
			snprintf(msg, msglen, "\"%s\": must be true or false", a->name);
			return false;
		}
		return true;
	case ARG_ONOFF:
		s = json_object_is_type(v, json_type_string) ? json_object_get_string(v) : "";
		if (!json_object_is_type(v, json_type_boolean) && strcmp(s, "on") != 0 &&
		    strcmp(s, "off") != 0) {
			snprintf(msg, msglen, "\"%s\": must be on or off", a->name);
			return false;
		}
		return true;
	}
	return false;
}

bool command_check(const struct command *cmd, json_object *args, char *msg, size_t msglen)
{
	if (args) {
		json_object_object_foreach(args, key, val) {
			(void)val;
			if (!spec_arg(cmd, key)) {
				char shown[ECHO_MAX + 1];
				text_clean(shown, sizeof shown, key, strlen(key));
				snprintf(msg, msglen, "\"%s\": \"%s\" takes no such argument", shown,
					 cmd->name);
				return false;
			}
		}
	}
	for (size_t i = 0; i < COMMAND_ARGS_MAX && cmd->args[i].name; i++) {
		const struct command_arg *a = &cmd->args[i];
		json_object *v;
		if (!args || !json_object_object_get_ex(args, a->name, &v)) {
			if (!a->required)
				continue;
			snprintf(msg, msglen, "\"%s\" is missing", a->name);
			return false;
		}
		if (!value_ok(a, v, msg, msglen))
			return false;
	}
	return true;
}

static json_object *arg_json(const struct command_arg *a)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "name", json_object_new_string(a->name));
	json_object_object_add(o, "type", json_object_new_string(type_names[a->type]));
	json_object_object_add(o, "required", json_object_new_boolean(a->required));
	if (a->type == ARG_INT || a->type == ARG_STRING) {
		json_object_object_add(o, "min", json_object_new_int64(a->min));
		json_object_object_add(o, "max", json_object_new_int64(a->max));
	}
	return o;
}

static int by_name(const void *a, const void *b)
{
	return strcmp((*(const struct command *const *)a)->name,
		      (*(const struct command *const *)b)->name);
}

json_object *command_list(void)
{
	const struct command *sorted[COMMAND_MAX];
	json_object *list = json_object_new_array();

	memcpy(sorted, commands, ncommands * sizeof sorted[0]);
	qsort(sorted, ncommands, sizeof sorted[0], by_name);
	for (size_t i = 0; i < ncommands; i++) {
		const struct command *c = sorted[i];
		json_object *o = json_object_new_object(), *args = json_object_new_array();
		json_object_object_add(o, "name", json_object_new_string(c->name));
		json_object_object_add(o, "level", json_object_new_string(level_names[c->level]));
		json_object_object_add(o, "help", json_object_new_string(c->help));
		for (size_t k = 0; k < COMMAND_ARGS_MAX && c->args[k].name; k++)
			json_object_array_add(args, arg_json(&c->args[k]));
		json_object_object_add(o, "args", args);
		json_object_array_add(list, o);
	}
	return list;
}

void command_forget(void)
{
	ncommands = 0;
}
