/* `swapctl kiosk`: the kiosk's view (daemon/kiosk.h) in a terminal, for
 * engineers on SSH. It places the view's strings only, as the page does;
 * plain ANSI escapes, no curses. The alternate screen keeps the shell's
 * scrollback as it was, and every way out (q, Ctrl-C, SIGTERM, SIGHUP)
 * goes through the same restore. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sysexits.h>
#include <termios.h>
#include <unistd.h>

#include "tools/swapctl.h"

#define POLL_MS 500
#define TILE_W 22

static volatile sig_atomic_t stop;
static bool color;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static json_object *get(json_object *o, const char *key)
{
	json_object *v;

	return o && json_object_object_get_ex(o, key, &v) ? v : NULL;
}

/* A string of the view, "" when null or absent. */
static const char *s(json_object *o, const char *key)
{
	json_object *v = get(o, key);

	return v ? json_object_get_string(v) : "";
}

static size_t len(json_object *list)
{
	return json_object_is_type(list, json_type_array) ? json_object_array_length(list) : 0;
}

static const char *ansi(const char *code)
{
	return color ? code : "";
}

#define BOLD ansi("\033[1m")
#define YELLOW ansi("\033[1;33m")
#define OFF ansi("\033[0m")

/* A label of the catalogue (view.text), as a section's heading. */
static void heading(json_object *view, const char *key)
{
	printf("\n%s%s%s\n", YELLOW, s(get(view, "text"), key), OFF);
}

static const char *state_color(const char *state)
{
	static const struct { const char *state, *code; } map[] = {
		{ "charged", "\033[42;30m" }, { "charging", "\033[44;37m" },
		{ "quarantined", "\033[43;30m" }, { "fault", "\033[41;37m" },
		{ "offline", "\033[2m" },
	};

	for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
		if (strcmp(state, map[i].state) == 0)
			return ansi(map[i].code);
	return "";
}

static int columns(void)
{
	struct winsize ws;

	return ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 ? ws.ws_col : 80;
}

static void draw_slots(json_object *view)
{
	json_object *slots = get(view, "slots");
	int per_row = columns() / TILE_W;

	heading(view, "slots");
	for (size_t i = 0; i < len(slots); i++) {
		json_object *t = json_object_array_get_idx(slots, i), *soc = get(t, "soc");
		json_object *alarm = get(t, "alarm");
		char pct[8] = "";
		if (soc)
			snprintf(pct, sizeof pct, "%3.0f%%", json_object_get_double(soc));
		printf("%s%s%3s %-12.12s %4s%s%s", state_color(s(t, "state")),
		       alarm && json_object_get_boolean(alarm) ? "!" : " ", s(t, "slot"),
		       s(t, "label"), pct, OFF, " ");
		if ((int)(i + 1) % (per_row > 0 ? per_row : 1) == 0 || i + 1 == len(slots))
			printf("\n");
	}
}

static void draw_staff(json_object *view, json_object *staff)
{
	json_object *l;

	printf("\n%s%s %s (%s)%s\n", YELLOW, s(get(view, "text"), "staff"), s(staff, "id"),
	       s(staff, "role"), OFF);
	l = get(staff, "actions");
	for (size_t i = 0; i < len(l); i++)
		printf("  [%s] %s\n", s(json_object_array_get_idx(l, i), "cmd"),
		       s(json_object_array_get_idx(l, i), "label"));
	l = get(staff, "faults");
	for (size_t i = 0; i < len(l); i++)
		printf("  %s\n", s(json_object_array_get_idx(l, i), "text"));
	l = get(staff, "tickets");
	for (size_t i = 0; i < len(l); i++)
		printf("  %s %s\n", s(json_object_array_get_idx(l, i), "id"),
		       s(json_object_array_get_idx(l, i), "text"));
	l = get(staff, "swaps");
	for (size_t i = 0; i < len(l); i++) {
		json_object *w = json_object_array_get_idx(l, i);
		printf("  %s %s %s -> %s\n", s(w, "swap"), s(w, "stage"), s(w, "slot_in"),
		       s(w, "slot_out"));
	}
}

/* One frame of the view, from the top of the screen when full. */
static void draw(json_object *view, bool full)
{
	json_object *l, *scan = get(view, "scan"), *staff = get(view, "staff");

	if (full)
		printf("\033[H\033[2J");
	printf("%s%s%s  %s  v%s\n", BOLD, s(get(view, "text"), "title"), OFF, s(view, "station"),
	       s(view, "version"));
	l = get(view, "serving");
	if (len(l))
		printf("\n%s%s%s\n", YELLOW, s(json_object_array_get_idx(l, 0), "headline"), OFF);
	heading(view, "now_serving");
	for (size_t i = 0; i < len(l); i++) {
		json_object *w = json_object_array_get_idx(l, i);
		printf("  %-8s %-8s %s\n", s(w, "ticket"), s(w, "rider"), s(w, "headline"));
	}
	heading(view, "queue");
	l = get(view, "queue");
	for (size_t i = 0; i < len(l); i++) {
		json_object *q = json_object_array_get_idx(l, i);
		printf("  %3s  %-8s %s\n", s(q, "position"), s(q, "ticket"), s(q, "eta"));
	}
	if (scan)
		printf("\n%s%s%s\n", ansi(strcmp(s(scan, "result"), "ok") ? "\033[1;31m" : "\033[1;32m"),
		       s(scan, "text"), OFF);
	draw_slots(view);
	l = get(view, "alarms");
	if (len(l))
		heading(view, "alarms");
	for (size_t i = 0; i < len(l); i++)
		printf("  %s%s%s\n", ansi("\033[1;31m"), s(json_object_array_get_idx(l, i), "text"), OFF);
	if (staff)
		draw_staff(view, staff);
	fflush(stdout);
}

/* The view, or NULL with why filled (the daemon gone, or its error). */
static json_object *fetch(const char *path, int timeout_ms, char *why, size_t whylen, int *code)
{
	json_object *reply = swapctl_request(path, timeout_ms, "kiosk-view",
					     json_object_new_object(), code);
	json_object *ok = get(reply, "ok"), *view = get(reply, "result");

	if (!reply) {
		snprintf(why, whylen, "swapd not answering, retrying");
		return NULL;
	}
	if (!ok || !json_object_get_boolean(ok) || !view) {
		snprintf(why, whylen, "swapd: %s: %s", s(reply, "error"), s(reply, "message"));
		*code = 1;
		json_object_put(reply);
		return NULL;
	}
	json_object_get(view);
	json_object_put(reply);
	return view;
}

static int kiosk_once(const char *path, int timeout_ms)
{
	char why[256];
	int code;
	json_object *view = fetch(path, timeout_ms, why, sizeof why, &code);

	if (!view) {
		fprintf(stderr, "swapctl: %s\n", why);
		return code;
	}
	draw(view, false);
	json_object_put(view);
	return 0;
}

/* Waits up to POLL_MS for a key; true when it was q (or the input ended). */
static bool quit_key(void)
{
	struct pollfd p = { .fd = STDIN_FILENO, .events = POLLIN };
	char c;

	if (poll(&p, 1, POLL_MS) <= 0)
		return false;
	ssize_t n = read(STDIN_FILENO, &c, 1);
	return n == 0 || (n == 1 && (c == 'q' || c == 'Q'));
}

int swapctl_kiosk(const char *path, int timeout_ms, bool once)
{
	struct termios saved, raw;
	struct sigaction sa = { .sa_handler = on_signal };
	bool tty = isatty(STDIN_FILENO);
	int64_t shown = -1;
	char why[256], was[256] = "";
	int code;

	color = isatty(STDOUT_FILENO);
	if (once)
		return kiosk_once(path, timeout_ms);
	/* no SA_RESTART: a signal ends the poll() at once */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	if (tty && tcgetattr(STDIN_FILENO, &saved) == 0) {
		raw = saved;
		raw.c_lflag &= (tcflag_t) ~(ICANON | ECHO);
		raw.c_cc[VMIN] = 1;
		raw.c_cc[VTIME] = 0;
		tcsetattr(STDIN_FILENO, TCSANOW, &raw);
	} else {
		tty = false;
	}
	swapctl_quiet = true;
	printf("\033[?1049h\033[?25l");
	while (!stop) {
		json_object *view = fetch(path, timeout_ms < POLL_MS ? timeout_ms : POLL_MS, why,
					  sizeof why, &code);
		if (view && json_object_get_int64(get(view, "version")) != shown) {
			shown = json_object_get_int64(get(view, "version"));
			was[0] = '\0';
			draw(view, true);
		} else if (!view && strcmp(why, was) != 0) {
			snprintf(was, sizeof was, "%s", why);
			shown = -1; /* back again: redraw whatever version it has */
			printf("\033[H\033[2J%s\n", why);
			fflush(stdout);
		}
		json_object_put(view);
		if (quit_key())
			break;
	}
	printf("\033[?25h\033[?1049l");
	fflush(stdout);
	if (tty)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved);
	return 0;
}
