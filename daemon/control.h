/* The control socket: a UNIX stream socket speaking one JSON object per line
 * in each direction. A request is {"cmd": NAME, "args": {...}, "id": ANY};
 * the reply is {"ok": true, "result": {...}} or {"ok": false, "error": CODE,
 * "message": TEXT}, with the request's id echoed when it had one. Modules
 * register their tables of commands with command_register() (command.h);
 * control.c owns the sockets, framing, limits, permissions and the checking
 * of arguments, so a client that sends garbage, stalls or vanishes mid-line
 * only ever affects itself. */
#ifndef SWAPD_CONTROL_H
#define SWAPD_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <json-c/json.h>

#include "daemon/command.h"
#include "daemon/config.h"
#include "daemon/err.h"

/* Longest request line accepted. */
#define CONTROL_LINE_MAX 65536

/* Where an in-process caller (control_call) gets its reply: taken by fn;
 * ref is the caller's own, to find what the reply is for. */
typedef void (*control_reply_fn)(json_object *reply, uint64_t ref);

struct control_req {
	json_object *args; /* the request's "args", checked against the command's spec */
	uid_t uid;         /* peer credentials (SO_PEERCRED) */
	pid_t pid;
	enum command_level level; /* what the peer may do (its groups, control.*_group) */
	char who[48];      /* "uid 1000 pid 4242", for the audit trail */
	uint64_t client;   /* control.c's: which connection asked (control_call: ref) */
	json_object *id;   /* control.c's: the request's id, if any */
	control_reply_fn reply_fn; /* control.c's: set for control_call */
};

/* A reply a handler owes and will send later (after a slot controller
 * answered, say). */
struct control_pending;

/* A command's handler (struct command's fn) returns the reply, built with
 * control_ok() or control_error(); the reply is sent and freed by
 * control.c. A handler that cannot answer yet calls control_defer() and
 * returns NULL. It runs only for a peer of the command's level or above,
 * and only with arguments that fit the command's spec. */

/* The value of int argument name, or dflt when the request left it out. */
int64_t control_arg_int(const struct control_req *req, const char *name, int64_t dflt);

/* The value of string argument name (NUL-free, within its bounds), or NULL
 * when the request left it out. Valid while the handler runs. */
const char *control_arg_str(const struct control_req *req, const char *name);

/* The value of bool or on-off argument name ("on" is true), or dflt when
 * the request left it out. */
bool control_arg_bool(const struct control_req *req, const char *name, bool dflt);

/* A success reply carrying result (taken; NULL gives {}). */
json_object *control_ok(json_object *result);

/* An error reply with a stable code ("bad_request", "unknown_command",
 * "forbidden", ...) and a human message. */
json_object *control_error(const char *code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Keeps what is needed to answer req later; the handler then returns NULL.
 * NULL when out of memory (the handler should answer an error now). */
struct control_pending *control_defer(const struct control_req *req);

/* Sends the deferred reply (taking it) if the client is still connected,
 * and frees p either way. */
void control_finish(struct control_pending *p, json_object *reply);

/* For in-process clients (the kiosk page, daemon/web.h): runs command name
 * with args (an object, or NULL for none; not taken) for a client of level
 * whose audit name is who, checked exactly as a socket request is. The reply
 * ({"ok": ...} as on the socket) goes to fn with ref once: before this
 * returns, or later when the command defers it. */
void control_call(const char *name, json_object *args, enum command_level level, const char *who,
		  control_reply_fn fn, uint64_t ref);

/* Registers `help` (alias `commands`), creates the socket at cfg->socket
 * with cfg->mode and starts serving it in the loop. Fails with a reason in
 * why when the path is unusable or another swapd already answers on it (a
 * live socket is never stolen). */
enum sw_err control_open(const struct config_control *cfg, char *why, size_t whylen);

/* Applies the reloadable settings (the groups, client limit, timeouts);
 * the timers already running keep their length. The group names are looked
 * up in /etc/group, never through NSS, so this cannot block the loop. */
void control_reconfigure(const struct config_control *cfg);

/* Number of connected clients. */
int control_clients(void);

/* Disconnects every client, removes the socket file, forgets every
 * registered command. */
void control_close(void);

#endif
