/* The kiosk's HTTP server (issue 12): libmicrohttpd run from swapd's own
 * loop in its external mode (MHD's epoll fd joins the poll(), its timeout
 * the timer heap; no thread of its own), bound to kiosk.listen:kiosk.port.
 *
 *   GET  /, /kiosk.css, /kiosk.js   the page, from kiosk.assets, read at start
 *   GET  /api/view                  the view (kiosk.h) as JSON
 *   GET  /api/events                server-sent events: "view" with the whole
 *                                   view at once and at every web_push(),
 *                                   a comment line as keepalive
 *   POST /api/command               {"cmd", "args"} run as a kiosk-level
 *                                   control client (control_call): the reply
 *                                   as the control socket gives it
 *
 * A POST must carry the kiosk's own Origin and a JSON content type. Limits
 * bound what any client can cost: kiosk.max_connections, kiosk.request_max
 * (line and headers), kiosk.body_max, kiosk.idle_timeout_s. */
#ifndef SWAPD_WEB_H
#define SWAPD_WEB_H
#include <stddef.h>
#include <json-c/json.h>
#include "daemon/config.h"
#include "daemon/err.h"

/* Starts serving when the kiosk section is there (nothing otherwise).
 * view() gives the current view, a new reference. Fails, saying why, when
 * the address cannot be bound or an asset cannot be read. cfg is copied. */
enum sw_err web_start(const struct config_kiosk *cfg, json_object *(*view)(void), char *why,
		      size_t whylen);

/* Sends `event` with data (one line of JSON) to every open event stream;
 * a stream too far behind is closed (the page reconnects and gets it all). */
void web_push(const char *event, const char *data);

/* Closes every connection and stops serving. */
void web_stop(void);
#endif
