#include "daemon/control.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemon/log.h"
#include "daemon/loop.h"
#include "daemon/peer.h"
#include "daemon/text.h"

/* A client that does not read its replies is dropped past this. */
#define CONTROL_OUT_MAX (1024 * 1024)
/* The most of a client's own text an error message quotes back. */
#define CONTROL_ECHO_MAX 64

/* What a client waits for, which decides how long it may wait. */
enum client_wait {
	WAIT_IDLE,  /* nothing under way: idle_timeout_ms */
	WAIT_IO,    /* owes us the rest of a line or has not taken a reply: io_timeout_ms */
	WAIT_REPLY, /* a handler owes it a reply: bounded by that handler */
};

struct client {
	uint64_t serial; /* unique for the daemon's life, for deferred replies */
	int fd;
	struct ucred cred;
	enum command_level level;
	int pending;     /* deferred replies still owed to it */
	enum client_wait wait;
	int64_t idle_since;
	char *in;
	size_t inlen;
	char *out;
	size_t outlen, outcap;
	struct loop_timer timeout; /* waiting too long for what `wait` says */
	struct client *next;
};

static int listen_fd = -1;
static char sock_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
static struct config_control settings;
static struct client *clients;
static int nclients;
static struct log_cond accept_cond;
static uint64_t next_serial = 1;

struct control_pending {
	uint64_t client;
	json_object *id;
	control_reply_fn reply_fn; /* an in-process caller's (control_call) */
};

json_object *control_ok(json_object *result)
{
	json_object *r = json_object_new_object();

	json_object_object_add(r, "ok", json_object_new_boolean(1));
	json_object_object_add(r, "result", result ? result : json_object_new_object());
	return r;
}

json_object *control_error(const char *code, const char *fmt, ...)
{
	json_object *r = json_object_new_object();
	char msg[512], clean[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	/* handlers quote what clients sent; vsnprintf may also cut a character */
	text_clean(clean, sizeof clean, msg, strlen(msg));
	json_object_object_add(r, "ok", json_object_new_boolean(0));
	json_object_object_add(r, "error", json_object_new_string(code));
	json_object_object_add(r, "message", json_object_new_string(clean));
	return r;
}

/* The value of argument name, if the request has it: command_check()
 * has made sure it is of the spec's type. */
static json_object *arg_value(const struct control_req *req, const char *name)
{
	json_object *v;

	return json_object_object_get_ex(req->args, name, &v) ? v : NULL;
}

int64_t control_arg_int(const struct control_req *req, const char *name, int64_t dflt)
{
	json_object *v = arg_value(req, name);

	return v ? json_object_get_int64(v) : dflt;
}

const char *control_arg_str(const struct control_req *req, const char *name)
{
	json_object *v = arg_value(req, name);

	return v ? json_object_get_string(v) : NULL;
}

bool control_arg_bool(const struct control_req *req, const char *name, bool dflt)
{
	json_object *v = arg_value(req, name);

	if (!v)
		return dflt;
	if (json_object_is_type(v, json_type_boolean))
		return json_object_get_boolean(v);
	return strcmp(json_object_get_string(v), "on") == 0;
}

static json_object *cmd_help(const struct control_req *req)
{
	json_object *r = json_object_new_object();

	(void)req;
	json_object_object_add(r, "commands", command_list());
	return control_ok(r);
}

static const struct command control_commands[] = {
	{ .name = "help", .level = LEVEL_VIEWER, .fn = cmd_help,
	  .help = "every command, with its level, arguments and help" },
	{ .name = "commands", .level = LEVEL_VIEWER, .fn = cmd_help,
	  .help = "the same as help" },
};

static void client_free(struct client *c)
{
	struct client **pp = &clients;

	while (*pp && *pp != c)
		pp = &(*pp)->next;
	if (*pp)
		*pp = c->next;
	loop_timer_cancel(&c->timeout);
	loop_del_fd(c->fd);
	close(c->fd);
	free(c->in);
	free(c->out);
	free(c);
	nclients--;
}

/* Rearms c's timer for what it now waits for, after any event of c. A stall
 * is timed from its start; idleness from the client's last event, so an
 * active client is never idle; a deferred reply is bounded by its handler. */
static void client_update_timer(struct client *c)
{
	enum client_wait w = c->inlen > 0 || c->outlen > 0 ? WAIT_IO :
			     c->pending > 0 ? WAIT_REPLY : WAIT_IDLE;

	if (w == WAIT_IO && c->wait == WAIT_IO && loop_timer_armed(&c->timeout))
		return;
	loop_timer_cancel(&c->timeout);
	c->wait = w;
	if (w == WAIT_IO) {
		loop_timer_arm(&c->timeout, settings.io_timeout_ms);
	} else if (w == WAIT_IDLE) {
		c->idle_since = loop_now();
		loop_timer_arm(&c->timeout, settings.idle_timeout_ms);
	}
}

static struct client *client_by_serial(uint64_t serial)
{
	struct client *c = clients;

	while (c && c->serial != serial)
		c = c->next;
	return c;
}

/* Sends what it can without blocking; false when the client is gone. */
static bool client_flush(struct client *c)
{
	while (c->outlen > 0) {
		ssize_t n = send(c->fd, c->out, c->outlen, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0)
			return false;
		memmove(c->out, c->out + n, c->outlen - (size_t)n);
		c->outlen -= (size_t)n;
	}
	loop_set_events(c->fd, (short)(POLLIN | (c->outlen ? POLLOUT : 0)));
	return true;
}

/* Queues one reply line (taking reply); false when the client must go. */
static bool client_send(struct client *c, json_object *reply)
{
	const char *s = json_object_to_json_string_ext(reply, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	size_t n = strlen(s);
	bool ok = true;

	if (c->outlen + n + 1 > CONTROL_OUT_MAX) {
		ok = false;
	} else {
		if (c->outlen + n + 1 > c->outcap) {
			size_t cap = (c->outlen + n + 1) * 2;
			char *p = realloc(c->out, cap);
			if (!p) {
				json_object_put(reply);
				return false;
			}
			c->out = p;
			c->outcap = cap;
		}
		memcpy(c->out + c->outlen, s, n);
		c->out[c->outlen + n] = '\n';
		c->outlen += n + 1;
	}
	json_object_put(reply);
	return ok && client_flush(c);
}

static json_object *run(const char *name, size_t namelen, json_object *args, struct control_req *r);

static json_object *dispatch(struct client *c, const char *line, size_t len, json_object **id)
{
	json_tokener *tok = json_tokener_new();
	json_object *req, *cmdv, *args = NULL;
	json_object *reply;

	*id = NULL;
	if (!tok)
		return control_error("internal", "out of memory");
	req = json_tokener_parse_ex(tok, line, (int)len);
	bool parsed = req && json_tokener_get_error(tok) == json_tokener_success &&
		      json_tokener_get_parse_end(tok) == len;
	json_tokener_free(tok);
	if (!parsed || !json_object_is_type(req, json_type_object)) {
		json_object_put(req);
		return control_error("bad_request", "a request is one JSON object per line");
	}
	if (json_object_object_get_ex(req, "id", id))
		json_object_get(*id);
	if (!json_object_object_get_ex(req, "cmd", &cmdv) ||
	    !json_object_is_type(cmdv, json_type_string)) {
		reply = control_error("bad_request", "\"cmd\" (a string) is missing");
		goto out;
	}
	if (json_object_object_get_ex(req, "args", &args) &&
	    !json_object_is_type(args, json_type_object)) {
		reply = control_error("bad_request", "\"args\" must be an object");
		goto out;
	}
	struct control_req r = {
		.uid = c->cred.uid,
		.pid = c->cred.pid,
		.level = c->level,
		.client = c->serial,
		.id = *id,
	};
	snprintf(r.who, sizeof r.who, "uid %u pid %d", (unsigned)c->cred.uid, (int)c->cred.pid);
	reply = run(json_object_get_string(cmdv), (size_t)json_object_get_string_len(cmdv), args, &r);
out:
	json_object_put(req);
	return reply;
}

/* Finds the command, checks the caller's level and the arguments, and runs
 * it with r (its args set here): the reply, or NULL when deferred. */
static json_object *run(const char *name, size_t namelen, json_object *args, struct control_req *r)
{
	const struct command *cmd = command_find(name, namelen);
	char msg[256];

	if (!cmd) {
		char shown[CONTROL_ECHO_MAX + 1];
		text_clean(shown, sizeof shown, name, namelen);
		return control_error("unknown_command", "no command \"%s\"", shown);
	}
	if (r->level < cmd->level)
		return control_error("forbidden", "\"%s\" needs %s rights (group %s); this client has %s",
				     cmd->name, command_level_name(cmd->level),
				     peer_group_name(cmd->level), command_level_name(r->level));
	if (!command_check(cmd, args, msg, sizeof msg))
		return control_error("bad_request", "%s", msg);
	r->args = args ? args : json_object_new_object();
	json_object *reply = cmd->fn(r);
	if (!args)
		json_object_put(r->args);
	return reply;
}

void control_call(const char *name, json_object *args, enum command_level level, const char *who,
		  control_reply_fn fn, uint64_t ref)
{
	struct control_req r = { .level = level, .client = ref, .reply_fn = fn };

	snprintf(r.who, sizeof r.who, "%s", who);
	json_object *reply = run(name, strlen(name), args, &r);
	if (reply)
		fn(reply, ref);
}

struct control_pending *control_defer(const struct control_req *req)
{
	struct control_pending *p = malloc(sizeof *p);

	if (!p)
		return NULL;
	p->client = req->client;
	p->id = req->id ? json_object_get(req->id) : NULL;
	p->reply_fn = req->reply_fn;
	if (p->reply_fn)
		return p;
	struct client *c = client_by_serial(p->client);
	if (c)
		c->pending++; /* not idle while it waits for this */
	return p;
}

void control_finish(struct control_pending *p, json_object *reply)
{
	if (p->reply_fn) {
		p->reply_fn(reply, p->client);
		free(p);
		return;
	}
	struct client *c = client_by_serial(p->client);

	if (p->id)
		json_object_object_add(reply, "id", p->id);
	if (c)
		c->pending--;
	if (!c) {
		json_object_put(reply); /* the client left; p->id went with it */
	} else if (!client_send(c, reply)) {
		client_free(c);
	} else {
		client_update_timer(c);
	}
	free(p);
}

/* Handles each complete line in the input buffer; false: drop client. */
static bool client_lines(struct client *c)
{
	char *nl;

	while ((nl = memchr(c->in, '\n', c->inlen)) != NULL) {
		size_t len = (size_t)(nl - c->in);
		json_object *id;
		if (len > 0 && c->in[len - 1] == '\r')
			len--;
		json_object *reply = dispatch(c, c->in, len, &id);
		size_t used = (size_t)(nl - c->in) + 1;
		memmove(c->in, c->in + used, c->inlen - used);
		c->inlen -= used;
		if (!reply) { /* deferred: control_finish() answers */
			json_object_put(id);
			continue;
		}
		if (id)
			json_object_object_add(reply, "id", id);
		if (!client_send(c, reply))
			return false;
	}
	return true;
}

static void client_io(int fd, short revents, void *arg)
{
	struct client *c = arg;

	(void)fd;
	if (revents & POLLOUT) {
		if (!client_flush(c)) {
			client_free(c);
			return;
		}
	}
	if (revents & (POLLIN | POLLHUP | POLLERR)) {
		char buf[4096];
		ssize_t n = recv(c->fd, buf, sizeof buf, MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0) {
			client_free(c);
			return;
		}
		if (c->inlen + (size_t)n > CONTROL_LINE_MAX) {
			client_send(c, control_error("line_too_long",
						     "a request line is at most %d bytes",
						     CONTROL_LINE_MAX));
			client_free(c);
			return;
		}
		memcpy(c->in + c->inlen, buf, (size_t)n);
		c->inlen += (size_t)n;
		if (!client_lines(c)) {
			client_free(c);
			return;
		}
	}
	client_update_timer(c);
}

static void client_timeout(void *arg)
{
	struct client *c = arg;

	if (c->wait == WAIT_IDLE)
		log_msg(LOG_INFO, "control: dropping client uid %u pid %d: idle for %d ms",
			(unsigned)c->cred.uid, (int)c->cred.pid, settings.idle_timeout_ms);
	else
		log_msg(LOG_INFO, "control: dropping client uid %u pid %d: stalled for %d ms",
			(unsigned)c->cred.uid, (int)c->cred.pid, settings.io_timeout_ms);
	client_free(c);
}

static void refuse_busy(int cfd)
{
	static const char busy[] = "{\"ok\":false,\"error\":\"busy\",\"message\":\"too many control clients\"}\n";

	if (send(cfd, busy, sizeof busy - 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		log_msg(LOG_DEBUG, "control: could not tell a client it was refused");
	close(cfd);
}

/* Whether a newcomer may have a client slot. When all are taken, an admin
 * takes the place of the client idle longest, so idle connections (up to
 * max_clients of them, from anyone) cannot keep root out; a client with a
 * request under way is never dropped for this. */
static bool make_room(enum command_level level, const struct ucred *cred)
{
	struct client *victim = NULL;

	if (nclients < settings.max_clients)
		return true;
	if (level != LEVEL_ADMIN)
		return false;
	for (struct client *c = clients; c; c = c->next) /* newest first: <= prefers older */
		if (c->wait == WAIT_IDLE && (!victim || c->idle_since <= victim->idle_since))
			victim = c;
	if (!victim)
		return false;
	log_msg(LOG_NOTICE, "control: dropping idle client uid %u pid %d to make room for admin uid %u pid %d",
		(unsigned)victim->cred.uid, (int)victim->cred.pid, (unsigned)cred->uid, (int)cred->pid);
	client_free(victim);
	return true;
}

static void accept_client(int fd, short revents, void *arg)
{
	(void)revents;
	(void)arg;
	int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (cfd < 0) {
		if (errno != EAGAIN && errno != EINTR)
			log_cond(&accept_cond, errno, LOG_WARNING, "control: accept: %s",
				 strerror(errno));
		return;
	}
	log_cond(&accept_cond, 0, LOG_INFO, "control: accepting again");
	struct ucred cred;
	socklen_t len = sizeof cred;
	if (getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
		log_msg(LOG_WARNING, "control: no peer credentials: %s", strerror(errno));
		close(cfd);
		return;
	}
	enum command_level level = peer_level(&cred);
	if (!make_room(level, &cred)) {
		refuse_busy(cfd);
		return;
	}
	struct client *c = calloc(1, sizeof *c);
	if (!c || !(c->in = malloc(CONTROL_LINE_MAX)) ||
	    loop_add_fd(cfd, POLLIN, client_io, c) < 0) {
		log_msg(LOG_WARNING, "control: cannot take a client: %s", strerror(errno));
		if (c)
			free(c->in);
		free(c);
		close(cfd);
		return;
	}
	c->fd = cfd;
	c->cred = cred;
	c->level = level;
	c->serial = next_serial++;
	loop_timer_init(&c->timeout, client_timeout, c);
	c->next = clients;
	clients = c;
	nclients++;
	client_update_timer(c);
}

/* Whether something answers on the socket at path (another swapd). */
static bool socket_alive(const struct sockaddr_un *sa)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool alive;

	if (fd < 0)
		return false;
	alive = connect(fd, (const struct sockaddr *)sa, sizeof *sa) == 0;
	close(fd);
	return alive;
}

enum sw_err control_open(const struct config_control *cfg, char *why, size_t whylen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;

	settings = *cfg;
	enum sw_err re = command_register(control_commands, COMMAND_ROWS(control_commands), why, whylen);
	if (re != SW_OK)
		return re;
	peer_groups(cfg);
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", cfg->socket);
	if (lstat(cfg->socket, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			snprintf(why, whylen, "%s exists and is not a socket", cfg->socket);
			return SW_EEXIST;
		}
		if (socket_alive(&sa)) {
			snprintf(why, whylen, "%s: another swapd is already serving it", cfg->socket);
			return SW_EBUSY;
		}
		unlink(cfg->socket); /* stale, from a run that did not stop cleanly */
	}
	listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (listen_fd < 0 ||
	    bind(listen_fd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
	    chmod(cfg->socket, cfg->mode) < 0 ||
	    listen(listen_fd, 16) < 0 ||
	    loop_add_fd(listen_fd, POLLIN, accept_client, NULL) < 0) {
		int e = errno;
		snprintf(why, whylen, "%s: %s", cfg->socket, strerror(e));
		if (listen_fd >= 0)
			close(listen_fd);
		listen_fd = -1;
		return sw_from_errno(e);
	}
	snprintf(sock_path, sizeof sock_path, "%s", cfg->socket);
	return SW_OK;
}

void control_reconfigure(const struct config_control *cfg)
{
	settings.max_clients = cfg->max_clients;
	settings.io_timeout_ms = cfg->io_timeout_ms;
	settings.idle_timeout_ms = cfg->idle_timeout_ms;
	peer_groups(cfg);
}

int control_clients(void)
{
	return nclients;
}

void control_close(void)
{
	while (clients)
		client_free(clients);
	if (listen_fd >= 0) {
		loop_del_fd(listen_fd);
		close(listen_fd);
		unlink(sock_path);
		listen_fd = -1;
	}
	command_forget();
}
