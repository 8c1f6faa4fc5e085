/* Command tables. Each module declares its control commands as one const
 * table (name, permission level, argument spec, handler, help line) and
 * registers it at start. A request's arguments are checked against the spec
 * before its handler runs, so a handler reads arguments that are present,
 * of their type and within their bounds (control_arg_int() and friends).
 * The registry also lists every command for `help`. control.c owns the
 * socket and the peers; it asks here which command a name is. */
#ifndef SWAPD_COMMAND_H
#define SWAPD_COMMAND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "daemon/err.h"

/* Who may run a command. Ordered: a level may do all that those below may. */
enum command_level { LEVEL_VIEWER, LEVEL_KIOSK, LEVEL_STAFF, LEVEL_ADMIN };

enum command_type {
	ARG_INT,    /* a JSON integer within [min, max] */
	ARG_STRING, /* a JSON string of min..max bytes, without NUL */
	ARG_BOOL,   /* true or false */
	ARG_ONOFF,  /* "on" or "off" (true and false too) */
};

#define COMMAND_ARGS_MAX 4
/* Room for every module's commands; a full registry fails the start. */
#define COMMAND_MAX 64

struct command_arg {
	const char *name; /* NULL ends the list */
	enum command_type type;
	bool required;
	int64_t min, max; /* ARG_INT: the value's range; ARG_STRING: its length */
};

/* The number of rows of a table, for command_register(). */
#define COMMAND_ROWS(table) (sizeof(table) / sizeof((table)[0]))

struct control_req;

struct command {
	const char *name;
	enum command_level level;
	json_object *(*fn)(const struct control_req *req);
	const char *help; /* one line, for `swapctl help` */
	struct command_arg args[COMMAND_ARGS_MAX]; /* in the order swapctl takes them */
};

/* Adds the n commands of table (which must outlive the registry). Fails,
 * registering none of them and saying why, when a name is taken already
 * (SW_EEXIST), the registry is full or a row is malformed (SW_EINVAL). */
enum sw_err command_register(const struct command *table, size_t n, char *why, size_t whylen);

/* The command called exactly name (len bytes, which may hold a NUL), or NULL. */
const struct command *command_find(const char *name, size_t len);

/* Whether args (an object, or NULL for none) fit cmd's spec; if not, msg
 * says which argument and why, quoting at most 64 cleaned bytes of a name
 * the client made up. */
bool command_check(const struct command *cmd, json_object *args, char *msg, size_t msglen);

/* Every command, by name: [{"name", "level", "help", "args": [{"name",
 * "type", "required", "min", "max"}]}]. */
json_object *command_list(void);

/* "viewer", "kiosk", "staff" or "admin". */
const char *command_level_name(enum command_level level);

/* Empties the registry (at stop, so a later start registers afresh). */
void command_forget(void);

#endif
