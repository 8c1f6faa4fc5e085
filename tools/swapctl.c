/* swapctl: the command-line client of swapd's control socket.
 *
 *   swapctl [-s PATH] [--json] [--timeout MS] COMMAND [ARG ...] [KEY=VALUE ...]
 *
 * (options anywhere; `--` ends them) sends {"cmd": COMMAND, "args": {KEY:
 * VALUE, ...}} as one line and prints the reply: formatted for a person, or
 * as the raw JSON result with --json. The commands and their arguments are
 * the daemon's (`swapctl help` lists them): positional ARGs fill a command's
 * arguments in the order it lists them (swapctl charge 3 on is swapctl
 * charge slot=3 on=on), and each VALUE is typed as the listing says. For a
 * command the daemon does not list, VALUE is JSON when it parses as a
 * number, true/false or null, and a string otherwise. A command of two
 * words may be typed as two (swapctl fault ack 3 is swapctl fault-ack 3),
 * and --all is all=true (swapctl faults --all). Exit: 0 ok, 1 the
 * daemon answered with an error, 64 usage, 69 no daemon to talk to, 75 the
 * daemon is busy (all its client slots taken): try again later. */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "tools/swapctl.h"

#define DEFAULT_SOCKET "/run/swapd/control.sock"

#define REPLY_MAX (4 * 1024 * 1024)
/* The most of an argument of ours a message quotes back. */
#define ECHO_MAX 40

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A VALUE for an argument swapd does not describe: JSON if it looks it. */
static json_object *arg_value(const char *s)
{
	json_object *v = json_tokener_parse(s);

	if (v && (json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double) ||
		  json_object_is_type(v, json_type_boolean)))
		return v;
	json_object_put(v);
	if (strcmp(s, "null") == 0)
		return NULL;
	return json_object_new_string(s);
}

bool swapctl_quiet;

/* A line on stderr about the connection, unless a full-screen view owns
 * the terminal (swapctl_quiet) and says it its own way. */
__attribute__((format(printf, 1, 2))) static void complain(const char *fmt, ...)
{
	va_list ap;

	if (swapctl_quiet)
		return;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
}

/* Sends one request line and reads one reply line, all within timeout_ms. */
static json_object *roundtrip(const char *path, const char *line, int timeout_ms, int *exit_code)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int64_t deadline = now_ms() + timeout_ms;
	size_t len = strlen(line), off = 0, got = 0;
	char *buf = NULL;

	*exit_code = EX_UNAVAILABLE;
	if (strlen(path) >= sizeof sa.sun_path) {
		complain("swapctl: socket path too long: %s\n", path);
		*exit_code = EX_USAGE;
		goto fail;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		complain("swapctl: cannot connect to %s: %s (is swapd running?)\n", path,
			strerror(errno));
		goto fail;
	}
	while (off < len) {
		ssize_t n = send(fd, line + off, len - off, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EPIPE || errno == ECONNRESET))
			break; /* it closed first; read why (a busy line, say) */
		if (n <= 0) {
			complain("swapctl: sending to %s: %s\n", path, strerror(errno));
			goto fail;
		}
		off += (size_t)n;
	}
	buf = malloc(REPLY_MAX + 1);
	if (!buf)
		goto fail;
	for (;;) {
		int left = (int)(deadline - now_ms());
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (left <= 0 || poll(&p, 1, left) == 0) {
			complain("swapctl: no reply from %s within %d ms\n", path, timeout_ms);
			goto fail;
		}
		ssize_t n = recv(fd, buf + got, REPLY_MAX - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			complain("swapctl: %s closed the connection without a reply\n", path);
			goto fail;
		}
		got += (size_t)n;
		if (memchr(buf + got - n, '\n', (size_t)n) || got == REPLY_MAX)
			break;
	}
	buf[got] = '\0';
	close(fd);
	json_object *reply = json_tokener_parse(buf);
	free(buf);
	if (!reply || !json_object_is_type(reply, json_type_object)) {
		complain("swapctl: the daemon's reply is not a JSON object\n");
		json_object_put(reply);
		*exit_code = 1;
		return NULL;
	}
	*exit_code = 0;
	return reply;
fail:
	free(buf);
	if (fd >= 0)
		close(fd);
	return NULL;
}

const char *swapctl_str(json_object *o, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !v)
		return "?";
	return json_object_get_string(v);
}

static int64_t num(json_object *o, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) ? json_object_get_int64(v) : 0;
}

static void print_slots(json_object *r)
{
	json_object *slots;

	if (!json_object_object_get_ex(r, "slots", &slots) ||
	    !json_object_is_type(slots, json_type_array))
		return;
	printf("%-4s %-4s %-11s %-10s %6s %6s %7s %7s %6s %-6s %-8s %-6s %s\n", "SLOT", "UNIT",
	       "STATE", "BATTERY", "SOC%", "SOH%", "V", "A", "C", "DOOR", "LOCK", "FAULT", "READ AT");
	for (size_t i = 0; i < json_object_array_length(slots); i++) {
		json_object *s = json_object_array_get_idx(slots, i), *bat, *faults;
		bool has = json_object_object_get_ex(s, "battery", &bat) && bat;
		char nums[64];
		static const struct { const char *key; int width, prec; } cols[] = {
			{ "soc", 6, 1 }, { "soh", 6, 1 }, { "v", 7, 2 }, { "i", 7, 2 }, { "t", 6, 1 },
		};
		size_t at = 0;
		for (size_t k = 0; k < sizeof cols / sizeof cols[0]; k++) {
			json_object *v;
			/* a value the rack does not report is "-", never 0 */
			if (has && json_object_object_get_ex(s, cols[k].key, &v))
				at += (size_t)snprintf(nums + at, sizeof nums - at, "%s%*.*f", k ? " " : "",
						       cols[k].width, cols[k].prec, json_object_get_double(v));
			else
				at += (size_t)snprintf(nums + at, sizeof nums - at, "%s%*s", k ? " " : "",
						       cols[k].width, "-");
		}
		json_object_object_get_ex(s, "faults", &faults);
		const char *f = faults && json_object_array_length(faults) ?
				json_object_get_string(json_object_array_get_idx(faults, 0)) : "-";
		printf("%-4s %-4s %-11s %-10s %s %-6s %-8s %-6s %s\n", swapctl_str(s, "slot"), swapctl_str(s, "unit"),
		       swapctl_str(s, "state"), has ? json_object_get_string(bat) : "-", nums, swapctl_str(s, "door"),
		       swapctl_str(s, "lock"), f, swapctl_str(s, "read_at"));
	}
}

/* A field that may be null, as "-". */
static const char *dash(json_object *o, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) && v ? json_object_get_string(v) : "-";
}

/* A number of the ledger, or "-" when it was never read. */
static void cell(char *buf, size_t len, json_object *o, const char *key, int width, int prec)
{
	json_object *v;

	if (json_object_object_get_ex(o, key, &v) && v)
		snprintf(buf, len, "%*.*f", width, prec, json_object_get_double(v));
	else
		snprintf(buf, len, "%*s", width, "-");
}

static void print_batteries(json_object *r)
{
	json_object *list, *v;

	if (!json_object_object_get_ex(r, "batteries", &list) ||
	    !json_object_is_type(list, json_type_array))
		return;
	printf("%-10s %-9s %-4s %-20s %6s %6s %6s %-24s %-24s %s\n", "BATTERY", "PLACE", "SLOT",
	       "HOLDER", "SOC%", "SOH%", "CYCLES", "SINCE", "READ AT", "NOTE");
	for (size_t i = 0; i < json_object_array_length(list); i++) {
		json_object *b = json_object_array_get_idx(list, i);
		char soc[16], soh[16], cycles[16], holder[48] = "-", note[128] = "";
		cell(soc, sizeof soc, b, "soc", 6, 1);
		cell(soh, sizeof soh, b, "soh", 6, 1);
		cell(cycles, sizeof cycles, b, "cycles", 6, 0);
		if (json_object_object_get_ex(b, "holder", &v) && v)
			snprintf(holder, sizeof holder, "%s", json_object_get_string(v));
		if (json_object_object_get_ex(b, "swap", &v) && v)
			snprintf(holder + strlen(holder), sizeof holder - strlen(holder), " swap %s",
				 json_object_get_string(v));
		if (json_object_object_get_ex(b, "quarantined", &v) && json_object_get_boolean(v))
			snprintf(note, sizeof note, "quarantined: %s", swapctl_str(b, "reason"));
		if (json_object_object_get_ex(b, "unseen_since", &v) && v)
			snprintf(note + strlen(note), sizeof note - strlen(note),
				 "%sthe slot's sensor lost it at %s", note[0] ? "; " : "",
				 json_object_get_string(v));
		printf("%-10s %-9s %-4s %-20s %s %s %s %-24s %-24s %s\n", swapctl_str(b, "battery"),
		       swapctl_str(b, "place"), dash(b, "slot"), holder, soc, soh, cycles, dash(b, "since"),
		       dash(b, "read_at"), note[0] ? note : "-");
	}
}

static void print_swap_list(json_object *r, const char *key, const char *title)
{
	json_object *list;

	if (!json_object_object_get_ex(r, key, &list) || !json_object_is_type(list, json_type_array))
		return;
	printf("%s: %zu\n", title, json_object_array_length(list));
	for (size_t i = 0; i < json_object_array_length(list); i++) {
		json_object *w = json_object_array_get_idx(list, i);
		const char *why = dash(w, "reason");
		bool has_why = strcmp(why, "-") != 0;
		time_t t = (time_t)(num(w, "started_ms") / 1000);
		struct tm tm;
		char when[24], took[24];
		snprintf(took, sizeof took, "%s%s", dash(w, "duration_s"),
			 strcmp(dash(w, "duration_s"), "-") ? "s" : "");
		gmtime_r(&t, &tm);
		strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
		printf("  %-6s %-14.14s %-11s in %-3s out %-3s %-10s %-10s %sZ %8s %s%s%s\n",
		       swapctl_str(w, "swap"), swapctl_str(w, "user"), swapctl_str(w, "stage"), swapctl_str(w, "slot_in"),
		       swapctl_str(w, "slot_out"), dash(w, "battery_in"), dash(w, "battery_out"), when,
		       took, dash(w, "result"), has_why ? " " : "", has_why ? why : "");
	}
}

static void print_swaps(json_object *r)
{
	print_swap_list(r, "in_progress", "in progress");
	print_swap_list(r, "recent", "recent");
}

const char *swapctl_duration(int64_t s, char *buf, size_t len)
{
	if (s < 60)
		snprintf(buf, len, "%llds", (long long)s);
	else if (s < 3600)
		snprintf(buf, len, "%lldm%02llds", (long long)(s / 60), (long long)(s % 60));
	else
		snprintf(buf, len, "%lldh%02lldm", (long long)(s / 3600), (long long)(s / 60 % 60));
	return buf;
}

static void print_queue(json_object *r)
{
	json_object *list, *v;
	char eta[24], waited[24];

	printf("%lld of %lld waiting; %lld charged, %lld charging; a swap takes %s (%lld seen)\n",
	       (long long)num(r, "waiting"), (long long)num(r, "capacity"), (long long)num(r, "charged"),
	       (long long)num(r, "charging"), swapctl_duration(num(r, "swap_s"), eta, sizeof eta),
	       (long long)num(r, "swaps_seen"));
	if (json_object_object_get_ex(r, "entries", &list) && json_object_array_length(list) > 0) {
		printf("%-4s %-7s %-20s %-7s %-12s %7s %8s %s\n", "POS", "TICKET", "USER", "SOURCE",
		       "ARRIVAL", "DIST_M", "ETA", "NOTE");
		for (size_t i = 0; i < json_object_array_length(list); i++) {
			json_object *e = json_object_array_get_idx(list, i);
			bool charging = json_object_object_get_ex(e, "waits_for_charging", &v) &&
					json_object_get_boolean(v);
			bool may = json_object_object_get_ex(e, "may_swap", &v) && json_object_get_boolean(v);
			printf("%-4s %-7s %-20s %-7s %-12s %7s %8s %s\n", swapctl_str(e, "position"), swapctl_str(e, "ticket"),
			       swapctl_str(e, "user"), swapctl_str(e, "source"), swapctl_str(e, "arrival"),
			       json_object_object_get_ex(e, "distance_m", &v) && v ? json_object_get_string(v) : "-",
			       swapctl_duration(num(e, "eta_s"), eta, sizeof eta),
			       may ? "may swap now" : charging ? "waits for charging" : "");
		}
	}
	if (!json_object_object_get_ex(r, "left", &list))
		return;
	printf("%-7s %-20s %-7s %-10s %8s %8s\n", "TICKET", "USER", "SOURCE", "LEFT", "WAITED", "ETA");
	for (size_t i = 0; i < json_object_array_length(list); i++) {
		json_object *e = json_object_array_get_idx(list, i);
		printf("%-7s %-20s %-7s %-10s %8s %8s\n", swapctl_str(e, "ticket"), swapctl_str(e, "user"), swapctl_str(e, "source"),
		       swapctl_str(e, "reason"), swapctl_duration(num(e, "waited_s"), waited, sizeof waited),
		       swapctl_duration(num(e, "eta_s"), eta, sizeof eta));
	}
}

static void print_status(json_object *r)
{
	int64_t up = num(r, "uptime_s");
	json_object *subs;

	printf("swapd %s, station %s, up %lldd %02lld:%02lld:%02lld, health %s\n", swapctl_str(r, "version"),
	       swapctl_str(r, "station"), (long long)(up / 86400), (long long)(up / 3600 % 24),
	       (long long)(up / 60 % 60), (long long)(up % 60), swapctl_str(r, "health"));
	printf("boot %s, config %s (digest %.12s)\n", swapctl_str(r, "boot"), swapctl_str(r, "config_path"),
	       swapctl_str(r, "config_digest"));
	if (!json_object_object_get_ex(r, "subsystems", &subs) ||
	    !json_object_is_type(subs, json_type_array))
		return;
	for (size_t i = 0; i < json_object_array_length(subs); i++) {
		json_object *s = json_object_array_get_idx(subs, i);
		printf("  %-10s %-9s %s\n", swapctl_str(s, "name"), swapctl_str(s, "state"), swapctl_str(s, "detail"));
	}
}

json_object *swapctl_request(const char *path, int timeout_ms, const char *cmd, json_object *args,
			    int *code)
{
	json_object *req = json_object_new_object();
	char *line;

	json_object_object_add(req, "cmd", json_object_new_string(cmd));
	json_object_object_add(req, "args", args);
	if (asprintf(&line, "%s\n", json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)) < 0) {
		json_object_put(req);
		*code = EX_OSERR;
		return NULL;
	}
	json_object_put(req);
	json_object *reply = roundtrip(path, line, timeout_ms, code);
	free(line);
	return reply;
}

static bool reply_ok(json_object *reply)
{
	json_object *ok;

	return json_object_object_get_ex(reply, "ok", &ok) && json_object_get_boolean(ok);
}

/* The daemon's list of commands (a reply to help, which the caller frees),
 * or NULL with *code set when it cannot be had. */
static json_object *fetch_commands(const char *path, int timeout_ms, json_object **list, int *code)
{
	json_object *reply = swapctl_request(path, timeout_ms, "help", json_object_new_object(), code), *r;

	*list = NULL;
	if (reply && reply_ok(reply) && json_object_object_get_ex(reply, "result", &r) &&
	    json_object_object_get_ex(r, "commands", list) &&
	    json_object_is_type(*list, json_type_array))
		return reply;
	if (reply)
		*code = 1; /* a swapd without help: an error like any other */
	json_object_put(reply);
	*list = NULL;
	return NULL;
}

/* The entry of command cmd in list, or NULL. */
static json_object *find_command(json_object *list, const char *cmd)
{
	for (size_t i = 0; list && i < json_object_array_length(list); i++) {
		json_object *c = json_object_array_get_idx(list, i);
		if (strcmp(swapctl_str(c, "name"), cmd) == 0)
			return c;
	}
	return NULL;
}

static json_object *spec_args(json_object *c)
{
	json_object *a;

	return c && json_object_object_get_ex(c, "args", &a) &&
	       json_object_is_type(a, json_type_array) ? a : NULL;
}

/* "charge SLOT on|off", "scans [LIMIT]": a command as it is typed. */
static void synopsis(json_object *c, char *out, size_t len)
{
	json_object *args = spec_args(c);
	size_t n = (size_t)snprintf(out, len, "%s", swapctl_str(c, "name"));

	for (size_t i = 0; args && i < json_object_array_length(args) && n < len; i++) {
		json_object *a = json_object_array_get_idx(args, i), *req;
		char word[40];
		bool required = json_object_object_get_ex(a, "required", &req) &&
				json_object_get_boolean(req);
		if (strcmp(swapctl_str(a, "type"), "on-off") == 0)
			snprintf(word, sizeof word, "on|off");
		else
			for (size_t k = 0; k < sizeof word; k++)
				if (!(word[k] = (char)toupper((unsigned char)swapctl_str(a, "name")[k])))
					break;
		word[sizeof word - 1] = '\0';
		n += (size_t)snprintf(out + n, len - n, required ? " %s" : " [%s]", word);
	}
}

/* One line a command, its columns as wide as the longest synopsis. */
static void print_commands(FILE *f, json_object *list)
{
	char syn[128];
	int width = 24;

	for (size_t i = 0; i < json_object_array_length(list); i++) {
		synopsis(json_object_array_get_idx(list, i), syn, sizeof syn);
		if ((int)strlen(syn) > width)
			width = (int)strlen(syn);
	}
	for (size_t i = 0; i < json_object_array_length(list); i++) {
		json_object *c = json_object_array_get_idx(list, i);
		synopsis(c, syn, sizeof syn);
		fprintf(f, "  %-*s %-6s  %s\n", width, syn, swapctl_str(c, "level"), swapctl_str(c, "help"));
	}
}

/* The usage, with the commands of the swapd at path when it answers. */
static void usage(FILE *f, const char *path, int timeout_ms)
{
	json_object *list;
	int code;

	fprintf(f,
		"usage: swapctl [-s PATH] [--json] [--timeout MS] COMMAND [ARG ...] [KEY=VALUE ...]\n"
		"       swapctl [-s PATH] kiosk [--once]\n"
		"  -s, --socket PATH  control socket (default $SWAPD_CONTROL or %s)\n"
		"  --json             print the reply's result as JSON\n"
		"  --timeout MS       give up after MS milliseconds (default 5000)\n"
		"  kiosk              the kiosk's view live in this terminal (q or Ctrl-C ends)\n"
		"  --once             kiosk: print one frame and exit\n"
		"  --all              all=true (swapctl faults --all: the cleared ones too)\n"
		"exit: 0 ok, 1 error reply, 64 usage, 69 no swapd, 75 swapd busy\n",
		DEFAULT_SOCKET);
	json_object *reply = fetch_commands(path, timeout_ms, &list, &code);
	if (!reply) {
		fprintf(f, "commands: those of a running swapd (swapctl help); none answers at %s\n",
			path);
		return;
	}
	fprintf(f, "commands (COMMAND, level needed, what it does):\n");
	print_commands(f, list);
	json_object_put(reply);
}

/* VALUE for argument a, typed as the daemon said; a text that is not of
 * the type goes as a string, so that the daemon says what is wrong. */
static json_object *typed_value(json_object *a, const char *s)
{
	const char *type = a ? swapctl_str(a, "type") : "";
	char *end;

	if (!a)
		return arg_value(s);
	if (strcmp(type, "int") == 0) {
		errno = 0;
		long long v = strtoll(s, &end, 10);
		if (*s && !*end && errno == 0)
			return json_object_new_int64(v);
	} else if (strcmp(type, "bool") == 0 || strcmp(type, "on-off") == 0) {
		if (strcmp(s, "true") == 0 || strcmp(s, "false") == 0)
			return json_object_new_boolean(strcmp(s, "true") == 0);
	}
	return json_object_new_string(s);
}

/* The argument of c called name (n bytes), or NULL. */
static json_object *find_arg(json_object *c, const char *name, size_t n)
{
	json_object *args = spec_args(c);

	for (size_t i = 0; args && i < json_object_array_length(args); i++) {
		json_object *a = json_object_array_get_idx(args, i);
		if (strlen(swapctl_str(a, "name")) == n && memcmp(swapctl_str(a, "name"), name, n) == 0)
			return a;
	}
	return NULL;
}

/* s for a message: at most ECHO_MAX bytes of it, so that a 100 kB argument
 * is not printed back whole. */
static const char *capped(const char *s, char buf[ECHO_MAX + 4])
{
	snprintf(buf, ECHO_MAX + 4, "%.*s%s", ECHO_MAX, s, strlen(s) > ECHO_MAX ? "..." : "");
	return buf;
}

/* Fills args from words: KEY=VALUE where KEY is an argument of c (any KEY
 * when c is unknown), the others in c's order (none for an unknown c).
 * 0, or EX_USAGE said why. */
static int fill_args(json_object *c, char **words, int n, json_object *args)
{
	char buf[ECHO_MAX + 4];
	json_object *spec = spec_args(c);
	size_t pos = 0;

	for (int i = 0; i < n; i++) {
		char *eq = strchr(words[i], '=');
		json_object *a = eq && eq > words[i] ? find_arg(c, words[i], (size_t)(eq - words[i])) : NULL;
		if (eq && eq > words[i] && (a || !c)) {
			*eq = '\0';
			json_object_object_add(args, words[i], typed_value(a, eq + 1));
			continue;
		}
		if (!c)
			continue; /* no such command: swapd says so (unknown_command) */
		if (!spec || pos >= json_object_array_length(spec)) {
			char syn[128];
			synopsis(c, syn, sizeof syn);
			fprintf(stderr, "swapctl: \"%s\" is one argument too many: %s\n",
				capped(words[i], buf), syn);
			return EX_USAGE;
		}
		a = json_object_array_get_idx(spec, pos++);
		json_object_object_add(args, swapctl_str(a, "name"), typed_value(a, words[i]));
	}
	return 0;
}

static void print_result(const char *cmd, json_object *result, bool as_json)
{
	json_object *list;

	if (as_json)
		printf("%s\n", json_object_to_json_string_ext(result, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	else if (strcmp(cmd, "status") == 0)
		print_status(result);
	else if (strcmp(cmd, "slots") == 0)
		print_slots(result);
	else if (strcmp(cmd, "batteries") == 0)
		print_batteries(result);
	else if (strcmp(cmd, "swaps") == 0)
		print_swaps(result);
	else if (strcmp(cmd, "queue") == 0)
		print_queue(result);
	else if (strcmp(cmd, "faults") == 0)
		swapctl_print_faults(result);
	else if ((strcmp(cmd, "help") == 0 || strcmp(cmd, "commands") == 0) &&
		 json_object_object_get_ex(result, "commands", &list))
		print_commands(stdout, list);
	else if (json_object_object_get_ex(result, "done", NULL))
		printf("slot %s: %s done\n", swapctl_str(result, "slot"), swapctl_str(result, "done"));
	else
		printf("%s\n", json_object_to_json_string_ext(result, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
}

int main(int argc, char **argv)
{
	const char *path = getenv("SWAPD_CONTROL");
	int as_json = 0, timeout_ms = 5000, opt, code, help = 0, once = 0, all = 0;
	char buf[ECHO_MAX + 4];

	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "help", no_argument, NULL, 'h' },
		{ "once", no_argument, NULL, 'o' },
		{ "all", no_argument, NULL, 'a' },
		{ 0 },
	};
	if (!path || !*path)
		path = DEFAULT_SOCKET;
	/* options anywhere (GNU getopt permutes): swapctl slots --json; and
	 * our own message for a bad one, which getopt would quote whole */
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "s:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 's': path = optarg; break;
		case 'j': as_json = 1; break;
		case 'T': timeout_ms = atoi(optarg); break;
		case 'h': help = 1; break;
		case 'o': once = 1; break;
		case 'a': all = 1; break;
		default:
			fprintf(stderr, "swapctl: bad option \"%s\" (swapctl --help)\n",
				capped(argv[optind - 1], buf));
			return EX_USAGE;
		}
	}
	if (timeout_ms <= 0) {
		fprintf(stderr, "swapctl: --timeout must be a positive number of milliseconds\n");
		return EX_USAGE;
	}
	if (help || optind >= argc) {
		usage(help ? stdout : stderr, path, timeout_ms);
		return help ? 0 : EX_USAGE;
	}
	const char *cmd = argv[optind];
	if (strcmp(cmd, "kiosk") == 0 && optind + 1 == argc)
		return swapctl_kiosk(path, timeout_ms, once);
	json_object *args = json_object_new_object(), *list = NULL, *listing = NULL;
	int nwords = argc - optind - 1;
	char joined[128];
	if (nwords > 0) { /* the listing says how to read them */
		listing = fetch_commands(path, timeout_ms, &list, &code);
		if (!listing && code != 1) {
			json_object_put(args);
			return code;
		}
		snprintf(joined, sizeof joined, "%s-%s", cmd, argv[optind + 1]);
		if (!find_command(list, cmd) && find_command(list, joined)) {
			cmd = joined;
			optind++;
			nwords--;
		}
	}
	if (all)
		json_object_object_add(args, "all", json_object_new_boolean(true));
	code = fill_args(nwords > 0 ? find_command(list, cmd) : NULL, argv + optind + 1, nwords,
			 args);
	json_object_put(listing);
	if (code) {
		json_object_put(args);
		return code;
	}
	json_object *reply = swapctl_request(path, timeout_ms, cmd, args, &code);
	if (!reply)
		return code;

	json_object *result = NULL;
	json_object_object_get_ex(reply, "result", &result);
	if (!reply_ok(reply)) {
		if (strcmp(swapctl_str(reply, "error"), "busy") == 0) {
			fprintf(stderr, "swapctl: busy: swapd has no room for another control client (%s); try again\n",
				swapctl_str(reply, "message"));
			json_object_put(reply);
			return EX_TEMPFAIL;
		}
		fprintf(stderr, "swapctl: %s: %s\n", swapctl_str(reply, "error"), swapctl_str(reply, "message"));
		json_object_put(reply);
		return 1;
	}
	print_result(cmd, result, as_json);
	json_object_put(reply);
	return 0;
}
