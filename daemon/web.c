/* The kiosk's HTTP server (daemon/web.h): libmicrohttpd in its external
 * epoll mode, driven by swapd's loop. MHD's epoll fd is one fd of the
 * poll(), and one loop timer stays armed at MHD_get_timeout(), re-armed
 * after every MHD_run() and every resume (and at once when connections
 * fall below the limit: run_mhd()); MHD_run() never blocks. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon/fileio.h"
#include "daemon/health.h"
#include "daemon/log.h"
#include "daemon/loop.h"
#include "daemon/web.h"
#include "daemon/web_priv.h"

/* Every stream gets a comment this often: it keeps proxies and the page's
 * own watchdog from taking a quiet station for a dead one, and is how a
 * client gone from a suspended stream is found. */
#define KEEPALIVE_MS 15000
/* Largest page file read at start. */
#define ASSET_MAX (1024 * 1024)

/* The page: a fixed list read at start, so no path from a request ever
 * reaches the file system. */
static struct asset {
	const char *url, *file, *type;
	char *data;
	size_t len;
} assets[] = {
	{ "/", "index.html", "text/html; charset=utf-8", NULL, 0 },
	{ "/kiosk.css", "kiosk.css", "text/css; charset=utf-8", NULL, 0 },
	{ "/kiosk.js", "kiosk.js", "text/javascript; charset=utf-8", NULL, 0 },
};
#define NASSETS (sizeof assets / sizeof assets[0])

static struct {
	struct MHD_Daemon *d;
	int epfd;
	struct loop_timer timer, keepalive;
	struct config_kiosk cfg;
	json_object *(*view)(void);
	char addr[80];        /* "127.0.0.1:8080", "[::1]:8080" */
	char origins[2][128]; /* what a POST's Origin may be; "" none */
	int nconns;
	struct log_cond at_limit;
} web = { .epfd = -1 };

static void report(void)
{
	health_set("kiosk", HEALTH_OK, "serving on %s, %d streams, %d connections%s", web.addr,
		   web_stream_count(), web.nconns,
		   web.nconns >= web.cfg.max_connections ? " (at the limit)" : "");
}

/* A run that starts at the connection limit takes MHD's listen socket out
 * of its epoll set, and only the start of a later run puts it back
 * (MHD_epoll(), 0.9.75). When that run closes connections and leaves none
 * with a timeout, MHD_get_timeout() says "none", the epoll fd stays quiet
 * and no later run would come: the newcomers in the listen backlog would
 * wait for ever. So a run that ends below the limit it started at is
 * followed by another at once. */
static void run_mhd(void)
{
	MHD_UNSIGNED_LONG_LONG t;
	bool was_full = web.nconns >= web.cfg.max_connections;

	MHD_run(web.d);
	if (was_full && web.nconns < web.cfg.max_connections)
		loop_timer_arm(&web.timer, 0);
	else if (MHD_get_timeout(web.d, &t) == MHD_YES)
		loop_timer_arm(&web.timer, t > INT32_MAX ? INT32_MAX : (int64_t)t);
	else
		loop_timer_cancel(&web.timer);
}

static void on_epoll(int fd, short revents, void *arg)
{
	(void)fd;
	(void)revents;
	(void)arg;
	run_mhd();
}

static void on_timer(void *arg)
{
	(void)arg;
	run_mhd();
}

void web_kick(void)
{
	loop_timer_arm(&web.timer, 0);
}

static void on_keepalive(void *arg)
{
	(void)arg;
	web_stream_keepalive();
	loop_timer_arm(&web.keepalive, KEEPALIVE_MS);
}

/* Connections come and go: counted for health. At the limit MHD stops
 * accepting (the newcomers wait in the listen backlog); that is logged
 * when it starts and when it ends, never per connection. */
static void on_connection(void *cls, struct MHD_Connection *c, void **socket_ctx,
			  enum MHD_ConnectionNotificationCode code)
{
	(void)cls;
	(void)c;
	(void)socket_ctx;
	web.nconns += code == MHD_CONNECTION_NOTIFY_STARTED ? 1 : -1;
	bool full = web.nconns >= web.cfg.max_connections;
	if (full)
		log_cond(&web.at_limit, 1, LOG_WARNING,
			 "kiosk page: %d connections, the limit: new ones wait", web.nconns);
	else
		log_cond(&web.at_limit, 0, LOG_NOTICE, "kiosk page: below the connection limit again");
	report();
}

static void on_completed(void *cls, struct MHD_Connection *c, void **req_cls,
			 enum MHD_RequestTerminationCode why)
{
	(void)cls;
	(void)c;
	(void)why;
	if (*req_cls) {
		web_req_done(*req_cls);
		*req_cls = NULL;
		report();
	}
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[256];

	(void)cls;
	vsnprintf(msg, sizeof msg, fmt, ap);
	log_msg(LOG_DEBUG, "kiosk page: mhd: %s", msg);
}

void web_headers(struct MHD_Response *resp)
{
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
	MHD_add_response_header(resp, "Content-Security-Policy",
				"default-src 'self'; img-src 'self' data:; connect-src 'self'; "
				"frame-ancestors 'none'");
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
}

/* Sends resp (NULL: it could not be made) with the common headers and
 * name: value, and lets go of it. */
static enum MHD_Result send_with(struct MHD_Connection *c, unsigned int status,
				 struct MHD_Response *resp, const char *name, const char *value)
{
	if (!resp)
		return MHD_NO;
	web_headers(resp);
	MHD_add_response_header(resp, name, value);
	enum MHD_Result ret = MHD_queue_response(c, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result queue(struct MHD_Connection *c, unsigned int status, const char *type,
			     const char *body, size_t len, enum MHD_ResponseMemoryMode mode)
{
	return send_with(c, status, MHD_create_response_from_buffer(len, (void *)body, mode),
			 MHD_HTTP_HEADER_CONTENT_TYPE, type);
}

enum MHD_Result web_json(struct MHD_Connection *c, unsigned int status, const char *json)
{
	return queue(c, status, "application/json", json, strlen(json), MHD_RESPMEM_MUST_COPY);
}

enum MHD_Result web_error(struct MHD_Connection *c, unsigned int status, const char *code,
			  const char *msg)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "ok", json_object_new_boolean(0));
	json_object_object_add(o, "error", json_object_new_string(code));
	json_object_object_add(o, "message", json_object_new_string(msg));
	enum MHD_Result ret =
		web_json(c, status, json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return ret;
}

static char *view_json(void)
{
	json_object *v = web.view();
	char *s = strdup(json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN));

	json_object_put(v);
	return s;
}

static enum MHD_Result get_view(struct MHD_Connection *c)
{
	char *s = view_json();

	if (!s)
		return MHD_NO;
	enum MHD_Result ret = web_json(c, MHD_HTTP_OK, s);
	free(s);
	return ret;
}

static enum MHD_Result open_stream(struct MHD_Connection *c, void **req_cls)
{
	char *s = view_json();

	if (!s)
		return MHD_NO;
	enum MHD_Result ret = web_stream_open(c, s, req_cls);
	free(s);
	report();
	return ret;
}

/* A state change must come from the kiosk's own page: its Origin (which a
 * browser sets and a page cannot forge) and a JSON type (which a plain
 * cross-site form cannot send). */
static const char *post_refusal(struct MHD_Connection *c)
{
	const char *origin = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin");
	const char *type =
		MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
	bool origin_ok = false;

	for (size_t i = 0; origin && i < 2; i++)
		origin_ok |= web.origins[i][0] && strcmp(origin, web.origins[i]) == 0;
	if (!origin_ok)
		return "the request did not come from the kiosk page (Origin)";
	size_t n = strlen("application/json");
	if (!type || strncasecmp(type, "application/json", n) != 0 || (type[n] && type[n] != ';'))
		return "the body must be application/json";
	return NULL;
}

static enum MHD_Result method_not_allowed(struct MHD_Connection *c, const char *allow)
{
	return send_with(c, MHD_HTTP_METHOD_NOT_ALLOWED,
			 MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT),
			 MHD_HTTP_HEADER_ALLOW, allow);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **req_cls)
{
	bool get = strcmp(method, MHD_HTTP_METHOD_GET) == 0 ||
		   strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;

	(void)cls;
	(void)version;
	if (strcmp(url, "/api/command") == 0) {
		if (strcmp(method, MHD_HTTP_METHOD_POST) != 0)
			return method_not_allowed(c, "POST");
		const char *refusal = *req_cls ? NULL : post_refusal(c);
		if (refusal)
			return web_error(c, MHD_HTTP_FORBIDDEN, "forbidden", refusal);
		return web_command(c, upload, upload_size, req_cls, (size_t)web.cfg.body_max);
	}
	for (size_t i = 0; i < NASSETS; i++)
		if (strcmp(url, assets[i].url) == 0)
			return get ? queue(c, MHD_HTTP_OK, assets[i].type, assets[i].data,
					   assets[i].len, MHD_RESPMEM_PERSISTENT)
				   : method_not_allowed(c, "GET, HEAD");
	if (strcmp(url, "/api/view") == 0)
		return get ? get_view(c) : method_not_allowed(c, "GET, HEAD");
	if (strcmp(url, "/api/events") == 0)
		return get ? open_stream(c, req_cls) : method_not_allowed(c, "GET");
	return web_error(c, MHD_HTTP_NOT_FOUND, "not_found", "no such page");
}

static enum sw_err load_assets(const char *dir, char *why, size_t whylen)
{
	for (size_t i = 0; i < NASSETS; i++) {
		char path[PATH_MAX + 32];
		snprintf(path, sizeof path, "%s/%s", dir, assets[i].file);
		char reason[PATH_MAX + 96];
		if (fileio_load(path, ASSET_MAX, &assets[i].data, &assets[i].len, reason,
				sizeof reason) < 0) {
			snprintf(why, whylen, "kiosk.assets: %s", reason);
			return SW_ENOENT;
		}
	}
	return SW_OK;
}

static void free_assets(void)
{
	for (size_t i = 0; i < NASSETS; i++) {
		free(assets[i].data);
		assets[i].data = NULL;
		assets[i].len = 0;
	}
}

/* Binds kiosk.listen:kiosk.port here rather than in MHD, so that a bad
 * address or a taken port is said plainly. Sets *v6. */
static int bind_listen(const struct config_kiosk *k, bool *v6, char *why, size_t whylen)
{
	struct sockaddr_storage ss = { 0 };
	struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
	socklen_t len;
	int one = 1;

	if (inet_pton(AF_INET, k->listen, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t)k->port);
		len = sizeof *in4;
		*v6 = false;
	} else if (inet_pton(AF_INET6, k->listen, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)k->port);
		len = sizeof *in6;
		*v6 = true;
	} else {
		snprintf(why, whylen, "kiosk.listen: \"%s\" is not an IPv4 or IPv6 address",
			 k->listen);
		return -1;
	}
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
	    (*v6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) < 0) ||
	    bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 64) < 0) {
		snprintf(why, whylen, "cannot listen on %s: %s", web.addr, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* kiosk.origin, or the page's own address (and localhost's, on loopback:
 * where the kiosk's Chromium opens it). */
static void set_origins(const struct config_kiosk *k, bool v6)
{
	memset(web.origins, 0, sizeof web.origins);
	if (k->origin[0]) {
		snprintf(web.origins[0], sizeof web.origins[0], "%s", k->origin);
		return;
	}
	snprintf(web.origins[0], sizeof web.origins[0], "http://%s", web.addr);
	if (strcmp(k->listen, v6 ? "::1" : "127.0.0.1") == 0)
		snprintf(web.origins[1], sizeof web.origins[1], "http://localhost:%d", k->port);
}

static enum sw_err start_mhd(int fd, bool v6, char *why, size_t whylen)
{
	const struct config_kiosk *k = &web.cfg;

	web.d = MHD_start_daemon(
		MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG | (v6 ? MHD_USE_IPv6 : 0),
		0, NULL, NULL, on_request, NULL, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL,
		MHD_OPTION_LISTEN_SOCKET, fd,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned int)k->max_connections,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)k->request_max,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)k->idle_timeout_s,
		MHD_OPTION_NOTIFY_CONNECTION, on_connection, NULL, MHD_OPTION_NOTIFY_COMPLETED,
		on_completed, NULL, MHD_OPTION_END);
	if (!web.d) {
		/* fd is left to MHD, whose failure paths may have closed it:
		 * not closed a second time here (swapd exits on this) */
		snprintf(why, whylen, "cannot start the HTTP server on %s", web.addr);
		return SW_EIO;
	}
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(web.d, MHD_DAEMON_INFO_EPOLL_FD);
	if (!info || loop_add_fd(info->epoll_fd, POLLIN, on_epoll, NULL) < 0) {
		snprintf(why, whylen, "cannot watch the HTTP server's epoll fd");
		return SW_ENOMEM;
	}
	web.epfd = info->epoll_fd;
	return SW_OK;
}

enum sw_err web_start(const struct config_kiosk *cfg, json_object *(*view)(void), char *why,
		      size_t whylen)
{
	bool v6;

	if (!cfg->enabled)
		return SW_OK;
	web.cfg = *cfg;
	web.view = view;
	bool colon = strchr(cfg->listen, ':') != NULL;
	snprintf(web.addr, sizeof web.addr, colon ? "[%s]:%d" : "%s:%d", cfg->listen, cfg->port);
	enum sw_err e = load_assets(cfg->assets, why, whylen);
	if (e != SW_OK)
		return e;
	int fd = bind_listen(cfg, &v6, why, whylen);
	if (fd < 0)
		return SW_EINVAL;
	set_origins(cfg, v6);
	loop_timer_init(&web.timer, on_timer, NULL);
	loop_timer_init(&web.keepalive, on_keepalive, NULL);
	if ((e = start_mhd(fd, v6, why, whylen)) != SW_OK)
		return e;
	loop_timer_arm(&web.keepalive, KEEPALIVE_MS);
	run_mhd();
	report();
	log_msg(LOG_INFO, "kiosk page: serving on http://%s/", web.addr);
	return SW_OK;
}

void web_stop(void)
{
	if (web.d) {
		web_api_close();
		if (web.epfd >= 0)
			loop_del_fd(web.epfd);
		MHD_stop_daemon(web.d);
		web.d = NULL;
		web.epfd = -1;
		web.nconns = 0;
		loop_timer_cancel(&web.timer);
		loop_timer_cancel(&web.keepalive);
	}
	free_assets();
}
