/* The simulator's control socket: a UNIX stream socket where each line is a
 * JSON verb (the same verbs as scenario steps) and each gets one JSON line
 * back: the verb's reply, or {"ok": false, "error": "..."}. */
#ifndef RACKSIM_CTL_H
#define RACKSIM_CTL_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>

#include "tools/rack-sim/rack.h"

#define CTL_CLIENTS 16
#define CTL_LINE_MAX 4096

struct ctl_client {
	int fd; /* -1 when unused */
	size_t len;
	bool overlong; /* discarding the rest of a too long line */
	char buf[CTL_LINE_MAX];
};

struct ctl {
	int lfd; /* -1 when there is no control socket */
	char path[108];
	struct ctl_client c[CTL_CLIENTS];
};

/* No socket yet; ctl_close is safe after this. */
void ctl_init(struct ctl *c);

/* Listens on path (a stale socket there is replaced). Returns 0, or -1
 * with the reason in err. */
int ctl_open(struct ctl *c, const char *path, char *err, size_t errlen);

/* Adds the fds to watch to p (room for 1 + CTL_CLIENTS); returns how many. */
size_t ctl_pollfds(const struct ctl *c, struct pollfd *p);

/* Accepts clients, reads their lines and answers each through rack_exec. */
void ctl_handle(struct ctl *c, const struct pollfd *p, size_t n, struct rack *r);

/* Closes every socket and removes the socket file. */
void ctl_close(struct ctl *c);

#endif
