/* What web.c (the server, its loop hooks, routes and assets) and
 * web_api.c (event streams and commands) share. Everything runs in the
 * loop's thread. */
#ifndef SWAPD_WEB_PRIV_H
#define SWAPD_WEB_PRIV_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <microhttpd.h>
#include <json-c/json.h>

/* A request that outlives one call of the access handler: an event stream,
 * or a command being read or waiting for its reply. It is MHD's request
 * context and is freed when MHD says the request completed. */
enum web_kind { WEB_STREAM, WEB_COMMAND };
struct web_req {
	enum web_kind kind;
	struct MHD_Connection *conn;
	struct web_req *next;  /* in the streams' or the commands' list */
	bool suspended;        /* MHD_suspend_connection() in force */
	char *buf;             /* stream: bytes not yet sent; command: the body */
	size_t len, cap, off;  /* off: bytes of buf already sent (streams) */
	bool closing;          /* stream: end it at the next read */
	bool calling;          /* command: inside control_call() */
	uint64_t serial;       /* command: what its reply is looked up by */
	json_object *reply;    /* command: the control reply, once it came */
};

/* Calls MHD_run() soon: after a resume, MHD must run for it to count. */
void web_kick(void);

/* Adds the security and cache headers every response carries. */
void web_headers(struct MHD_Response *resp);

/* Queues a JSON response (copied) with status. */
enum MHD_Result web_json(struct MHD_Connection *c, unsigned int status, const char *json);

/* Queues {"ok": false, "error": code, "message": msg} with status. */
enum MHD_Result web_error(struct MHD_Connection *c, unsigned int status, const char *code,
			  const char *msg);

/* GET /api/events: opens a stream starting with the view (view_json). */
enum MHD_Result web_stream_open(struct MHD_Connection *c, const char *view_json, void **req_cls);

/* Appends a keepalive comment to every stream. */
void web_stream_keepalive(void);

/* The number of open streams. */
int web_stream_count(void);

/* POST /api/command, every call of the access handler for it once the
 * Origin and content type passed; body_max bounds the body. */
enum MHD_Result web_command(struct MHD_Connection *c, const char *upload, size_t *upload_size,
			    void **req_cls, size_t body_max);

/* MHD says the request ended (sent, failed or the client left): unlinks
 * and frees it. */
void web_req_done(struct web_req *r);

/* Ends every stream and every waiting command, resuming them so that
 * MHD_stop_daemon() finds no suspended connection. */
void web_api_close(void);
#endif
