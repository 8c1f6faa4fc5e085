/* The kiosk page's live parts (daemon/web.h): server-sent event streams
 * and commands posted by the page. Both keep their connection suspended
 * while they have nothing to send, so an idle stream or a command waiting
 * for a slot controller costs no MHD work and never a busy loop. */
#include <stdlib.h>
#include <string.h>

#include "daemon/command.h"
#include "daemon/control.h"
#include "daemon/log.h"
#include "daemon/web.h"
#include "daemon/web_priv.h"

/* A stream holding more than this unsent has a client that does not read:
 * it is closed (the page reconnects and gets the whole view again), so a
 * stalled client costs at most this much. */
#define STREAM_MAX (256 * 1024)
/* What MHD asks the stream for at a time (from its connection's pool). */
#define STREAM_BLOCK 2048

static struct web_req *streams, *commands;
static int nstreams;
static uint64_t next_serial = 1;

static void resume(struct web_req *r)
{
	if (!r->suspended)
		return;
	r->suspended = false;
	MHD_resume_connection(r->conn);
	web_kick();
}

/* Appends n bytes to a stream, or marks it closing when it is too far
 * behind. */
static void stream_append(struct web_req *r, const char *s, size_t n)
{
	if (r->closing)
		return;
	if (r->off > 0) {
		memmove(r->buf, r->buf + r->off, r->len - r->off);
		r->len -= r->off;
		r->off = 0;
	}
	if (r->len + n > STREAM_MAX) {
		log_msg(LOG_INFO, "kiosk page: closing an event stream %zu bytes behind", r->len);
		r->closing = true;
		return;
	}
	if (r->len + n > r->cap) {
		size_t cap = r->cap ? r->cap : 4096;
		while (cap < r->len + n)
			cap *= 2;
		char *b = realloc(r->buf, cap);
		if (!b) {
			r->closing = true;
			return;
		}
		r->buf = b;
		r->cap = cap;
	}
	memcpy(r->buf + r->len, s, n);
	r->len += n;
}

/* One SSE event: the event line, a data line per line of data, and the
 * blank line that ends it (WHATWG HTML, "Server-sent events"). */
static void stream_event(struct web_req *r, const char *event, const char *data)
{
	stream_append(r, "event: ", 7);
	stream_append(r, event, strlen(event));
	stream_append(r, "\n", 1);
	for (const char *p = data;;) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		stream_append(r, "data: ", 6);
		stream_append(r, p, n);
		stream_append(r, "\n", 1);
		if (!nl)
			break;
		p = nl + 1;
	}
	stream_append(r, "\n", 1);
}

/* MHD asks for the stream's next bytes: what is buffered, or, when
 * nothing is, the connection is suspended until web_push() resumes it. */
static ssize_t stream_read(void *cls, uint64_t pos, char *out, size_t max)
{
	struct web_req *r = cls;

	(void)pos;
	if (r->closing)
		return MHD_CONTENT_READER_END_WITH_ERROR;
	if (r->off == r->len) {
		r->off = r->len = 0;
		r->suspended = true;
		MHD_suspend_connection(r->conn);
		return 0;
	}
	size_t n = r->len - r->off < max ? r->len - r->off : max;
	memcpy(out, r->buf + r->off, n);
	r->off += n;
	return (ssize_t)n;
}

enum MHD_Result web_stream_open(struct MHD_Connection *c, const char *view_json, void **req_cls)
{
	struct web_req *r = calloc(1, sizeof *r);

	if (!r)
		return MHD_NO;
	r->kind = WEB_STREAM;
	r->conn = c;
	stream_append(r, "retry: 2000\n\n", 13);
	stream_event(r, "view", view_json);
	struct MHD_Response *resp =
		MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, STREAM_BLOCK, stream_read, r, NULL);
	if (!resp || r->closing) {
		if (resp)
			MHD_destroy_response(resp);
		free(r->buf);
		free(r);
		return MHD_NO;
	}
	web_headers(resp);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
	enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, resp);
	MHD_destroy_response(resp);
	/* From here MHD owns the request: it tells web_req_done() when it ends. */
	*req_cls = r;
	r->next = streams;
	streams = r;
	nstreams++;
	return ret;
}

void web_push(const char *event, const char *data)
{
	for (struct web_req *r = streams; r; r = r->next) {
		stream_event(r, event, data);
		resume(r);
	}
}

void web_stream_keepalive(void)
{
	/* also how a client that left is noticed: a suspended connection is
	 * not watched, the write of this comment fails */
	for (struct web_req *r = streams; r; r = r->next) {
		stream_append(r, ": keepalive\n\n", 13);
		resume(r);
	}
}

int web_stream_count(void)
{
	return nstreams;
}

static struct web_req *command_by_serial(uint64_t serial)
{
	for (struct web_req *r = commands; r; r = r->next)
		if (r->serial == serial)
			return r;
	return NULL;
}

/* The control reply for command `serial`, now or later. The request is
 * looked up by serial, as its connection may be gone (then the reply is
 * dropped). */
static void on_reply(json_object *reply, uint64_t serial)
{
	struct web_req *r = command_by_serial(serial);

	if (!r || r->reply) {
		json_object_put(reply);
		return;
	}
	r->reply = reply;
	resume(r);
}

static enum MHD_Result reply_now(struct MHD_Connection *c, struct web_req *r)
{
	enum MHD_Result ret = web_json(
		c, MHD_HTTP_OK, json_object_to_json_string_ext(r->reply, JSON_C_TO_STRING_PLAIN));

	json_object_put(r->reply);
	r->reply = NULL;
	return ret;
}

/* The body is in: {"cmd": string, "args": object (optional)}, run as a
 * kiosk-level client named "kiosk"; its reply may come later. */
static enum MHD_Result command_run(struct MHD_Connection *c, struct web_req *r)
{
	json_tokener *tok = json_tokener_new();
	json_object *req = tok ? json_tokener_parse_ex(tok, r->buf ? r->buf : "", (int)r->len) : NULL;
	json_object *cmd, *args = NULL;
	bool good = req && json_tokener_get_error(tok) == json_tokener_success &&
		    json_object_is_type(req, json_type_object) &&
		    json_object_object_get_ex(req, "cmd", &cmd) &&
		    json_object_is_type(cmd, json_type_string) &&
		    (!json_object_object_get_ex(req, "args", &args) ||
		     json_object_is_type(args, json_type_object));

	if (tok)
		json_tokener_free(tok);
	if (!good) {
		json_object_put(req);
		return web_error(c, MHD_HTTP_BAD_REQUEST, "bad_request",
				 "expected {\"cmd\": string, \"args\": object}");
	}
	r->serial = next_serial++;
	r->calling = true;
	control_call(json_object_get_string(cmd), args, LEVEL_KIOSK, "kiosk", on_reply, r->serial);
	r->calling = false;
	json_object_put(req);
	if (r->reply)
		return reply_now(c, r);
	r->suspended = true;
	MHD_suspend_connection(c);
	return MHD_YES;
}

static enum MHD_Result command_body(struct web_req *r, const char *upload, size_t n,
				    size_t body_max)
{
	/* A body declared too large got its 413 before any of it was read
	 * (web_command); one that turns out so (chunked) closes the
	 * connection, as the rest of it is not read. */
	if (r->len + n > body_max)
		return MHD_NO;
	if (!r->buf && !(r->buf = malloc(body_max)))
		return MHD_NO;
	memcpy(r->buf + r->len, upload, n);
	r->len += n;
	return MHD_YES;
}

/* A Content-Length over body_max. */
static bool declared_too_large(struct MHD_Connection *c, size_t body_max)
{
	const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
						     MHD_HTTP_HEADER_CONTENT_LENGTH);

	return cl && strtoull(cl, NULL, 10) > body_max;
}

enum MHD_Result web_command(struct MHD_Connection *c, const char *upload, size_t *upload_size,
			    void **req_cls, size_t body_max)
{
	struct web_req *r = *req_cls;

	if (!r) {
		if (declared_too_large(c, body_max))
			/* MHD then reads none of the body and closes the
			 * connection after the reply */
			return web_error(c, MHD_HTTP_CONTENT_TOO_LARGE, "too_large",
					 "the body is larger than kiosk.body_max");
		if (!(r = calloc(1, sizeof *r)))
			return MHD_NO;
		r->kind = WEB_COMMAND;
		r->conn = c;
		r->next = commands;
		commands = r;
		*req_cls = r;
		return MHD_YES;
	}
	if (*upload_size) {
		size_t n = *upload_size;
		*upload_size = 0;
		return command_body(r, upload, n, body_max);
	}
	if (r->reply)
		return reply_now(c, r);
	return command_run(c, r);
}

static void unlink_req(struct web_req **head, struct web_req *r)
{
	for (struct web_req **p = head; *p; p = &(*p)->next)
		if (*p == r) {
			*p = r->next;
			return;
		}
}

void web_req_done(struct web_req *r)
{
	if (r->kind == WEB_STREAM) {
		unlink_req(&streams, r);
		nstreams--;
	} else {
		unlink_req(&commands, r);
	}
	json_object_put(r->reply);
	free(r->buf);
	free(r);
}

void web_api_close(void)
{
	for (struct web_req *r = streams; r; r = r->next) {
		r->closing = true;
		resume(r);
	}
	for (struct web_req *r = commands; r; r = r->next)
		resume(r);
}
