/* Control socket: line-delimited JSON requests and replies. */
#include "tools/rack-sim/ctl.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

void ctl_init(struct ctl *c)
{
	c->lfd = -1;
	c->path[0] = '\0';
	for (int i = 0; i < CTL_CLIENTS; i++)
		c->c[i].fd = -1;
}

int ctl_open(struct ctl *c, const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;

	if (strlen(path) >= sizeof(sa.sun_path) || strlen(path) >= sizeof(c->path)) {
		snprintf(err, errlen, "--control %s: path longer than %zu bytes", path,
			 sizeof(sa.sun_path) - 1);
		return -1;
	}
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(path);
	strcpy(sa.sun_path, path);
	c->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->lfd < 0 || bind(c->lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(c->lfd, 8) < 0) {
		snprintf(err, errlen, "--control %s: %s", path, strerror(errno));
		if (c->lfd >= 0)
			close(c->lfd);
		c->lfd = -1;
		return -1;
	}
	strcpy(c->path, path);
	return 0;
}

size_t ctl_pollfds(const struct ctl *c, struct pollfd *p)
{
	size_t n = 0;

	if (c->lfd < 0)
		return 0;
	p[n++] = (struct pollfd){ .fd = c->lfd, .events = POLLIN };
	for (int i = 0; i < CTL_CLIENTS; i++)
		if (c->c[i].fd >= 0)
			p[n++] = (struct pollfd){ .fd = c->c[i].fd, .events = POLLIN };
	return n;
}

static void drop(struct ctl_client *cl)
{
	close(cl->fd);
	cl->fd = -1;
}

/* A client that does not read its replies is dropped, not waited for: the
 * simulated bus must keep its timing. */
static void reply(struct ctl_client *cl, json_object *o)
{
	const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	size_t n = strlen(s);
	char line[n + 1];

	memcpy(line, s, n);
	line[n] = '\n';
	if (send(cl->fd, line, n + 1, MSG_NOSIGNAL | MSG_DONTWAIT) != (ssize_t)(n + 1)) {
		fprintf(stderr, "rack-sim: control client not reading its replies, dropped\n");
		drop(cl);
	}
}

static void error_reply(struct ctl_client *cl, const char *msg)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "ok", json_object_new_boolean(false));
	json_object_object_add(o, "error", json_object_new_string(msg));
	reply(cl, o);
	json_object_put(o);
}

static void handle_line(struct ctl_client *cl, const char *text, struct rack *r)
{
	enum json_tokener_error jerr;
	json_object *cmd = json_tokener_parse_verbose(text, &jerr), *res;
	char err[256], msg[300];

	if (!cmd) {
		snprintf(msg, sizeof(msg), "bad JSON: %s", json_tokener_error_desc(jerr));
		error_reply(cl, msg);
		return;
	}
	res = rack_exec(r, cmd, err, sizeof(err));
	if (res) {
		reply(cl, res);
		json_object_put(res);
	} else {
		error_reply(cl, err);
	}
	json_object_put(cmd);
}

static void client_read(struct ctl_client *cl, struct rack *r)
{
	char chunk[1024];
	ssize_t got = read(cl->fd, chunk, sizeof(chunk));

	if (got <= 0) {
		if (got == 0 || (errno != EAGAIN && errno != EINTR))
			drop(cl);
		return;
	}
	for (ssize_t i = 0; i < got && cl->fd >= 0; i++) {
		char ch = chunk[i];
		if (ch == '\n') {
			if (cl->overlong)
				error_reply(cl, "request line longer than 4095 bytes");
			else if (cl->len > 0) {
				cl->buf[cl->len] = '\0';
				handle_line(cl, cl->buf, r);
			}
			cl->len = 0;
			cl->overlong = false;
		} else if (cl->len + 1 < sizeof(cl->buf)) {
			cl->buf[cl->len++] = ch;
		} else {
			cl->overlong = true;
		}
	}
}

void ctl_handle(struct ctl *c, const struct pollfd *p, size_t n, struct rack *r)
{
	for (size_t k = 1; k < n; k++) {
		if (!p[k].revents)
			continue;
		for (int i = 0; i < CTL_CLIENTS; i++)
			if (c->c[i].fd == p[k].fd)
				client_read(&c->c[i], r);
	}
	if (n && (p[0].revents & POLLIN)) {
		int fd = accept4(c->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		for (int i = 0; i < CTL_CLIENTS; i++)
			if (c->c[i].fd < 0) {
				c->c[i].fd = fd;
				c->c[i].len = 0;
				c->c[i].overlong = false;
				return;
			}
		fprintf(stderr, "rack-sim: control socket: more than %d clients, refused one\n",
			CTL_CLIENTS);
		close(fd);
	}
}

void ctl_close(struct ctl *c)
{
	for (int i = 0; i < CTL_CLIENTS; i++)
		if (c->c[i].fd >= 0)
			drop(&c->c[i]);
	if (c->lfd >= 0) {
		close(c->lfd);
		unlink(c->path);
	}
	c->lfd = -1;
}
