/* swapctl: the command-line client of swapd's control socket.
 *
 *   swapctl [-s PATH] [--json] [--timeout MS] COMMAND [ARG ...] [KEY=VALUE ...]
 *
 * sends {"cmd": COMMAND, "args": {KEY: VALUE, ...}} as one line and prints
 * the reply: formatted for a person, or as the raw JSON result with --json.
 * VALUE is taken as JSON when it parses as a number, true/false or null, and
 * as a string otherwise. Some commands take positional ARGs (swapctl lock 3
 * is swapctl lock slot=3). Exit: 0 ok, 1 the daemon answered with an error,
 * 64 usage, 69 no daemon to talk to, 75 the daemon is busy (all its client
 * slots taken): try again later. */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
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

#define DEFAULT_SOCKET "/run/swapd/control.sock"

/* The names of the positional arguments of the commands that have them. */
static const struct {
	const char *cmd;
	const char *names[3];
} positional[] = {
	{ "lock", { "slot" } },
	{ "unlock", { "slot" } },
	{ "charge", { "slot", "on" } },
};
#define REPLY_MAX (4 * 1024 * 1024)

static void usage(FILE *f)
{
	fprintf(f,
		"usage: swapctl [-s PATH] [--json] [--timeout MS] COMMAND [KEY=VALUE ...]\n"
		"  -s, --socket PATH  control socket (default $SWAPD_CONTROL or %s)\n"
		"  --json             print the reply's result as JSON\n"
		"  --timeout MS       give up after MS milliseconds (default 5000)\n"
		"exit: 0 ok, 1 error reply, 64 usage, 69 no swapd, 75 swapd busy\n"
		"commands: status, slots, lock SLOT, unlock SLOT, charge SLOT on|off;\n"
		"any other command is sent as is with its KEY=VALUE args\n",
		DEFAULT_SOCKET);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

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
		fprintf(stderr, "swapctl: socket path too long: %s\n", path);
		*exit_code = EX_USAGE;
		goto fail;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		fprintf(stderr, "swapctl: cannot connect to %s: %s (is swapd running?)\n", path,
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
			fprintf(stderr, "swapctl: sending to %s: %s\n", path, strerror(errno));
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
			fprintf(stderr, "swapctl: no reply from %s within %d ms\n", path, timeout_ms);
			goto fail;
		}
		ssize_t n = recv(fd, buf + got, REPLY_MAX - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			fprintf(stderr, "swapctl: %s closed the connection without a reply\n", path);
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
		fprintf(stderr, "swapctl: the daemon's reply is not a JSON object\n");
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

static const char *str(json_object *o, const char *key)
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
		char nums[64] = "";
		if (has)
			snprintf(nums, sizeof nums, "%6.1f %6.1f %7.2f %7.2f %6.1f", 
				 json_object_get_double(json_object_object_get(s, "soc")),
				 json_object_get_double(json_object_object_get(s, "soh")),
				 json_object_get_double(json_object_object_get(s, "v")),
				 json_object_get_double(json_object_object_get(s, "i")),
				 json_object_get_double(json_object_object_get(s, "t")));
		else
			snprintf(nums, sizeof nums, "%6s %6s %7s %7s %6s", "-", "-", "-", "-", "-");
		json_object_object_get_ex(s, "faults", &faults);
		const char *f = faults && json_object_array_length(faults) ?
				json_object_get_string(json_object_array_get_idx(faults, 0)) : "-";
		printf("%-4s %-4s %-11s %-10s %s %-6s %-8s %-6s %s\n", str(s, "slot"), str(s, "unit"),
		       str(s, "state"), has ? json_object_get_string(bat) : "-", nums, str(s, "door"),
		       str(s, "lock"), f, str(s, "read_at"));
	}
}

static void print_status(json_object *r)
{
	int64_t up = num(r, "uptime_s");
	json_object *subs;

	printf("swapd %s, station %s, up %lldd %02lld:%02lld:%02lld, health %s\n", str(r, "version"),
	       str(r, "station"), (long long)(up / 86400), (long long)(up / 3600 % 24),
	       (long long)(up / 60 % 60), (long long)(up % 60), str(r, "health"));
	printf("boot %s, config %s (digest %.12s)\n", str(r, "boot"), str(r, "config_path"),
	       str(r, "config_digest"));
	if (!json_object_object_get_ex(r, "subsystems", &subs) ||
	    !json_object_is_type(subs, json_type_array))
		return;
	for (size_t i = 0; i < json_object_array_length(subs); i++) {
		json_object *s = json_object_array_get_idx(subs, i);
		printf("  %-10s %-9s %s\n", str(s, "name"), str(s, "state"), str(s, "detail"));
	}
}

int main(int argc, char **argv)
{
	const char *path = getenv("SWAPD_CONTROL");
	int as_json = 0, timeout_ms = 5000, opt, code;

	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	if (!path || !*path)
		path = DEFAULT_SOCKET;
	while ((opt = getopt_long(argc, argv, "+s:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 's': path = optarg; break;
		case 'j': as_json = 1; break;
		case 'T': timeout_ms = atoi(optarg); break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return EX_USAGE;
		}
	}
	if (optind >= argc || timeout_ms <= 0) {
		usage(stderr);
		return EX_USAGE;
	}
	const char *cmd = argv[optind];
	json_object *req = json_object_new_object(), *args = json_object_new_object();
	json_object_object_add(req, "cmd", json_object_new_string(cmd));
	const char *const *names = NULL;
	for (size_t k = 0; k < sizeof positional / sizeof positional[0]; k++)
		if (strcmp(positional[k].cmd, cmd) == 0)
			names = positional[k].names;
	for (int i = optind + 1, pos = 0; i < argc; i++) {
		char *eq = strchr(argv[i], '=');
		if (!eq && names && pos < 3 && names[pos]) {
			json_object_object_add(args, names[pos++], arg_value(argv[i]));
			continue;
		}
		if (!eq || eq == argv[i]) {
			fprintf(stderr, "swapctl: argument \"%s\" is not KEY=VALUE\n", argv[i]);
			json_object_put(req);
			json_object_put(args);
			return EX_USAGE;
		}
		*eq = '\0';
		json_object_object_add(args, argv[i], arg_value(eq + 1));
	}
	json_object_object_add(req, "args", args);
	char *line;
	if (asprintf(&line, "%s\n", json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)) < 0)
		return EX_OSERR;
	json_object_put(req);
	json_object *reply = roundtrip(path, line, timeout_ms, &code);
	free(line);
	if (!reply)
		return code;

	json_object *ok, *result = NULL;
	json_object_object_get_ex(reply, "result", &result);
	if (!json_object_object_get_ex(reply, "ok", &ok) || !json_object_get_boolean(ok)) {
		if (strcmp(str(reply, "error"), "busy") == 0) {
			fprintf(stderr, "swapctl: busy: swapd has no room for another control client (%s); try again\n",
				str(reply, "message"));
			json_object_put(reply);
			return EX_TEMPFAIL;
		}
		fprintf(stderr, "swapctl: %s: %s\n", str(reply, "error"), str(reply, "message"));
		json_object_put(reply);
		return 1;
	}
	if (as_json)
		printf("%s\n", json_object_to_json_string_ext(result, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	else if (strcmp(cmd, "status") == 0)
		print_status(result);
	else if (strcmp(cmd, "slots") == 0)
		print_slots(result);
	else if (json_object_object_get_ex(result, "done", NULL))
		printf("slot %s: %s done\n", str(result, "slot"), str(result, "done"));
	else
		printf("%s\n", json_object_to_json_string_ext(result, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(reply);
	return 0;
}
