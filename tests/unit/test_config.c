/* Config validation: a table of bad inputs and the exact message each must
 * produce (key path and value named), plus the defaults and a reload check. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "daemon/config.h"

#define MIN "\"station\":{\"id\":\"ST-1\"}"
#define PROFILE "config/profiles/swapd-slot-v1.json"
/* a valid rack section with one more key first */
#define RACK(extra) "\"rack\":{" extra "\"device\":\"/dev/ttyS0\",\"profile\":\"" PROFILE "\"," \
	"\"slots\":[{\"slot\":1,\"unit\":1}]}"

struct bad {
	const char *json;
	const char *message;
};

static const struct bad bad_inputs[] = {
	{ "{}", "station.id: missing (required)" },
	{ "{\"station\":{}}", "station.id: missing (required)" },
	{ "{\"station\":{\"id\":\"st 1\"}}",
	  "station.id: \"st 1\" is not a station id (1 to 24 of A-Z, 0-9 and -, as in the token contract)" },
	{ "{\"station\":{\"id\":\"ABCDEFGHIJKLMNOPQRSTUVWXY\"}}",
	  "station.id: \"ABCDEFGHIJKLMNOPQRSTUVWXY\" is longer than 24 characters" },
	{ "{\"station\":{\"id\":7}}", "station.id: 7 is not a string" },
	{ "{" MIN ",\"colour\":\"red\"}", "colour: unknown key" },
	{ "{" MIN ",\"log\":{\"level\":\"loud\"}}",
	  "log.level: \"loud\" is not one of err, warning, notice, info, debug" },
	{ "{" MIN ",\"log\":{\"lvl\":\"info\"}}", "log.lvl: unknown key" },
	{ "{" MIN ",\"log\":\"info\"}", "log: \"info\" is not an object" },
	{ "{" MIN ",\"control\":{\"max_clients\":0}}", "control.max_clients: 0 is out of range 1..256" },
	{ "{" MIN ",\"control\":{\"max_clients\":\"8\"}}", "control.max_clients: \"8\" is not an integer" },
	{ "{" MIN ",\"control\":{\"max_clients\":2.5}}", "control.max_clients: 2.5 is not an integer" },
	{ "{" MIN ",\"control\":{\"io_timeout_ms\":99999999999}}",
	  "control.io_timeout_ms: 99999999999 is out of range 10..60000" },
	{ "{" MIN ",\"control\":{\"idle_timeout_ms\":99}}",
	  "control.idle_timeout_ms: 99 is out of range 100..86400000" },
	{ "{" MIN ",\"control\":{\"mode\":\"660\"}}",
	  "control.mode: \"660\" is not an octal file mode like \"0660\"" },
	{ "{" MIN ",\"control\":{\"mode\":\"0666\"}}",
	  "control.mode: \"0666\" gives others access; the control socket must not" },
	{ "{" MIN ",\"control\":{\"socket\":\"run/x.sock\"}}",
	  "control.socket: \"run/x.sock\" is not an absolute path" },
	{ "{" MIN ",\"control\":{\"admin_group\":\"Admins!\"}}",
	  "control.admin_group: \"Admins!\" is not a group name" },
	{ "{" MIN ",\"control\":{\"staff_group\":\"st aff\"}}",
	  "control.staff_group: \"st aff\" is not a group name" },
	{ "{" MIN ",\"control\":{\"kiosk_group\":7}}",
	  "control.kiosk_group: 7 is not a string" },
	{ "{" MIN ",\"store\":{\"path\":null}}", "store.path: null is not a string" },
	{ "{" MIN ",\"store\":{\"alive_interval_ms\":5}}",
	  "store.alive_interval_ms: 5 is out of range 10..3600000" },
	{ "{" MIN "," RACK("\"baud\":12345,") "}", "rack.baud: 12345 is not a standard rate" },
	{ "{" MIN "," RACK("\"parity\":\"mark\",") "}",
	  "rack.parity: \"mark\" is not one of none, even, odd" },
	{ "{" MIN "," RACK("\"rs485\":\"yes\",") "}", "rack.rs485: \"yes\" is not true or false" },
	{ "{" MIN ",\"rack\":{\"device\":\"/dev/ttyS0\",\"profile\":\"" PROFILE "\",\"slots\":[]}}",
	  "rack.slots: 0 entries; 1 to 64 are allowed" },
	{ "{" MIN ",\"rack\":{\"device\":\"/dev/ttyS0\",\"profile\":\"" PROFILE "\",\"slots\":[{\"slot\":1,\"unit\":300}]}}",
	  "rack.slots[0].unit: 300 is out of range 1..247" },
	{ "{" MIN ",\"rack\":{\"device\":\"/dev/ttyS0\",\"profile\":\"" PROFILE "\",\"slots\":[{\"slot\":1,\"unit\":1,\"lock\":\"relay\"}]}}",
	  "rack.slots[0].lock: \"relay\" is not \"controller\" or \"gpio\"" },
	{ "{" MIN ",\"rack\":{\"device\":\"/dev/ttyS0\",\"profile\":\"" PROFILE "\",\"slots\":[{\"slot\":1,\"unit\":1},{\"slot\":1,\"unit\":2}]}}",
	  "rack.slots[1].slot: 1 is also rack.slots[0]" },
	{ "{" MIN "," RACK("\"heartbeat_ms\":3000,") "}",
	  "rack.heartbeat_ms: 3000 is more than half of rack.watchdog_s (5 s); the slots would drop to their safe state" },
	{ "{" MIN ",\"rack\":{\"profile\":\"" PROFILE "\",\"slots\":[{\"slot\":1,\"unit\":1}]}}",
	  "rack.device: missing (required)" },
	{ "{" MIN ",\"rack\":{\"device\":\"/dev/ttyS0\",\"profile\":\"/nonexistent/p.json\",\"slots\":[{\"slot\":1,\"unit\":1}]}}",
	  "rack.profile: /nonexistent/p.json: cannot open: No such file or directory" },
	{ "{" MIN ",\"tokens\":{\"keys\":\"/nonexistent/k.json\",\"walkin_kid\":\"k-1\"}}",
	  "tokens.walkin_kid: \"k-1\" is not a key id (1 to 8 of A-Z, a-z, 0-9, as in the token contract)" },
	{ "{" MIN ",\"tokens\":{}}", "tokens.keys: missing (required)" },
	{ "{" MIN ",\"transport\":{\"timeout_s\":10}}", "transport.timeout_s: 10 is out of range 30..86400" },
	{ "{" MIN ",\"transport\":{\"timeout\":60}}", "transport.timeout: unknown key" },
	{ "{" MIN ",\"queue\":{\"capacity\":0}}", "queue.capacity: 0 is out of range 1..500" },
	{ "{" MIN ",\"queue\":{\"grace_s\":-1}}", "queue.grace_s: -1 is out of range 0..86400" },
	{ "{" MIN ",\"queue\":{\"swap_s\":\"60\"}}", "queue.swap_s: \"60\" is not an integer" },
	{ "{" MIN ",\"queue\":{\"arrived_m\":1200}}",
	  "queue.arrived_m: 1200 is farther than queue.approaching_m (1000)" },
	{ "{" MIN ",\"queue\":{\"size\":3}}", "queue.size: unknown key" },
	{ "[1,2]", "t.json: the top level is not a JSON object" },
	{ "{\"station\":{\"id\":\"ST-1\"},\n\"log\": {\"level\": \"info\",}\n}",
	  "t.json:2:25: JSON syntax error: unexpected character" },
	{ "{\"station\":{\"id\":\"ST-1\"}", "t.json:1:25: JSON syntax error: unexpected end of file" },
	{ "{\"station\":{\"id\":\"ST-1\"}} {}", "t.json:1:27: JSON syntax error: unexpected character" },
	{ "{\"station\":{\"id\":\"ST-1\\u0000\"}}",
	  "station.id: \"ST-1\\u0000\" contains a NUL character" },
	/* json-c keeps the last of two equal keys without a word */
	{ "{" MIN "," RACK("") ",\n" RACK("") "}", "rack: duplicate key" },
	{ "{" MIN ",\"log\":{\"level\":\"info\",\"level\":\"debug\"}}", "log.level: duplicate key" },
	{ "{" MIN ",\"log\":{\"level\":\"info\",\"l\\u0065vel\":\"debug\"}}", "log.level: duplicate key" },
	{ "{" MIN "," RACK("\"device\":\"/dev/ttyS1\",") "}", "rack.device: duplicate key" },
	{ "{" MIN ",\"rack\":{\"device\":\"/dev/ttyS0\",\"profile\":\"" PROFILE "\","
	  "\"slots\":[{\"slot\":1,\"unit\":1},{\"slot\":2,\"unit\":2,\"unit\":3}]}}",
	  "rack.slots[1].unit: duplicate key" },
	{ "{" MIN ",\"_c\":1,\"_c\":2}", "_c: duplicate key" },
	{ "{" MIN ",\"ledger\":{\"quarantine_soh\":101}}",
	  "ledger.quarantine_soh: 101 is out of range 0..100" },
	{ "{" MIN ",\"ledger\":{\"write_interval_s\":5}}",
	  "ledger.write_interval_s: 5 is out of range 10..86400" },
	{ "{" MIN ",\"ledger\":{\"soh\":70}}", "ledger.soh: unknown key" },
	{ "{" MIN ",\"faults\":{\"ticket_reannounce_s\":10}}",
	  "faults.ticket_reannounce_s: 10 is out of range 60..604800" },
	{ "{" MIN ",\"faults\":{\"warn_temp_c\":60,\"crit_temp_c\":55}}",
	  "faults.warn_temp_c: 60 is not below faults.crit_temp_c (55)" },
	{ "{" MIN ",\"faults\":{\"broker_down_s\":5}}",
	  "faults.broker_down_s: 5 is out of range 30..604800" },
	{ "{" MIN ",\"faults\":{\"disk_min_mb\":0}}",
	  "faults.disk_min_mb: 0 is out of range 1..1000000" },
	{ "{" MIN ",\"faults\":{\"clear_after_pct\":0}}",
	  "faults.clear_after_pct: 0 is out of range 1..1000" },
	{ "{" MIN ",\"faults\":{\"escalate_after_pct\":1001}}",
	  "faults.escalate_after_pct: 1001 is out of range 1..1000" },
	{ "{" MIN ",\"staff\":{\"session_s\":0}}", "staff.session_s: 0 is out of range 10..3600" },
	{ "{" MIN ",\"staff\":{\"open_timeout_s\":\"60\"}}",
	  "staff.open_timeout_s: \"60\" is not an integer" },
	{ "{" MIN ",\"swap\":{\"max_concurrent\":0}}", "swap.max_concurrent: 0 is out of range 1..16" },
	{ "{" MIN ",\"swap\":{\"max_concurrent\":17}}", "swap.max_concurrent: 17 is out of range 1..16" },
	{ "{" MIN ",\"swap\":{\"unlock_timeout_s\":0}}", "swap.unlock_timeout_s: 0 is out of range 1..600" },
	{ "{" MIN ",\"swap\":{\"insert_timeout_s\":5}}", "swap.insert_timeout_s: 5 is out of range 10..3600" },
	{ "{" MIN ",\"swap\":{\"take_timeout_s\":3601}}", "swap.take_timeout_s: 3601 is out of range 10..3600" },
	{ "{" MIN ",\"swap\":{\"door_close_timeout_s\":1}}",
	  "swap.door_close_timeout_s: 1 is out of range 5..3600" },
	{ "{" MIN ",\"swap\":{\"min_soc\":0}}", "swap.min_soc: 0 is out of range 1..100" },
	{ "{" MIN ",\"swap\":{\"reopen_once\":1}}", "swap.reopen_once: 1 is not true or false" },
	{ "{" MIN ",\"swap\":{\"timeout\":1}}", "swap.timeout: unknown key" },
	{ "{" MIN ",\"sync\":{}}", "sync.host: missing (required)" },
	{ "{" MIN ",\"sync\":{\"host\":\"b\",\"inflight\":0}}",
	  "sync.inflight: 0 is out of range 1..1000" },
	{ "{" MIN ",\"sync\":{\"host\":\"b\",\"port\":0}}", "sync.port: 0 is out of range 1..65535" },
	{ "{" MIN ",\"sync\":{\"host\":\"b\",\"backoff_min_ms\":5000,\"backoff_max_ms\":1000}}",
	  "sync.backoff_min_ms: 5000 is more than sync.backoff_max_ms (1000)" },
	{ "{" MIN ",\"sync\":{\"host\":\"b\",\"certfile\":\"/c.pem\"}}",
	  "sync.certfile: a client certificate needs both certfile and keyfile" },
	{ "{" MIN ",\"sync\":{\"host\":\"b\",\"certfile\":\"/c.pem\",\"keyfile\":\"/k.pem\"}}",
	  "sync.cafile: missing; a client certificate needs TLS, and TLS a CA to check the broker" },
	{ "{" MIN ",\"sync\":{\"host\":\"b\",\"username\":\"st\"}}",
	  "sync.username: username and password_file go together" },
	{ "{" MIN ",\"sync\":{\"host\":\"b\",\"username\":\"st\",\"password_file\":\"/nonexistent/pw\"}}",
	  "sync.password_file: /nonexistent/pw: cannot open: No such file or directory" },
	{ "{" MIN ",\"sync\":{\"host\":\"b\",\"qos\":2}}", "sync.qos: unknown key" },
	{ "{" MIN ",\"sync\":{\"host\":\"b\",\"telemetry_interval_s\":0}}",
	  "sync.telemetry_interval_s: 0 is out of range 1..3600" },
	{ "{" MIN ",\"sync\":{\"host\":\"b\",\"offline_telemetry_interval_s\":86401}}",
	  "sync.offline_telemetry_interval_s: 86401 is out of range 1..86400" },
	{ "{" MIN ",\"sync\":{\"host\":\"b\",\"offline_telemetry_max\":0}}",
	  "sync.offline_telemetry_max: 0 is out of range 1..10000000" },
};

static void test_bad_inputs(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof bad_inputs / sizeof bad_inputs[0]; i++) {
		struct config cfg;
		struct config_errors errs;
		const struct bad *b = &bad_inputs[i];
		int rc = config_parse(b->json, strlen(b->json), "t.json", &cfg, &errs);
		if (rc != -1 || errs.n < 1 || strcmp(errs.msg[0], b->message) != 0)
			fail_msg("input %zu: %s\n  want: %s\n  got:  %s (rc %d, %zu errors)", i, b->json,
				 b->message, errs.n ? errs.msg[0] : "(none)", rc, errs.n);
	}
}

static void test_every_error_reported(void **state)
{
	const char *json = "{\"station\":{\"id\":\"x\"},\"log\":{\"level\":1},\"bogus\":0}";
	struct config cfg;
	struct config_errors errs;

	(void)state;
	assert_int_equal(config_parse(json, strlen(json), "t", &cfg, &errs), -1);
	assert_int_equal(errs.n, 3);
}

static void test_defaults(void **state)
{
	const char *json = "{" MIN ",\"_comment\":{\"any\":1}}";
	struct config cfg;
	struct config_errors errs;

	(void)state;
	assert_int_equal(config_parse(json, strlen(json), "t", &cfg, &errs), 0);
	assert_string_equal(cfg.station.id, "ST-1");
	assert_string_equal(cfg.control.socket, "/run/swapd/control.sock");
	assert_int_equal(cfg.control.mode, 0660);
	assert_string_equal(cfg.control.staff_group, "");
	assert_string_equal(cfg.control.kiosk_group, "");
	assert_string_equal(cfg.store.path, "/var/lib/swapd/swapd.db");
	assert_int_equal(cfg.log.level, 6);
	assert_int_equal(cfg.transport.timeout_s, 600);
	assert_int_equal(cfg.ledger.quarantine_soh, 75);
	assert_int_equal(cfg.ledger.write_interval_s, 300);
	assert_int_equal(cfg.faults.ticket_reannounce_s, 3600);
	assert_int_equal(cfg.faults.warn_temp_c, 50);
	assert_int_equal(cfg.faults.crit_temp_c, 60);
	assert_int_equal(cfg.faults.broker_down_s, 1800);
	assert_int_equal(cfg.faults.disk_min_mb, 200);
	assert_int_equal(cfg.staff.session_s, 120);
	assert_int_equal(cfg.staff.open_timeout_s, 60);
	assert_int_equal(cfg.queue.capacity, 20);
	assert_int_equal(cfg.queue.approaching_m, 1000);
	assert_int_equal(cfg.queue.arrived_m, 500);
	assert_int_equal(cfg.queue.grace_s, 600);
	assert_int_equal(strlen(cfg.digest), 64);
	assert_int_equal(cfg.swap.max_concurrent, 3);
	assert_int_equal(cfg.swap.insert_timeout_s, 90);
	assert_int_equal(cfg.swap.take_timeout_s, 60);
	assert_int_equal(cfg.swap.quarantine_soh, 75);
	assert_true(cfg.swap.reopen_once);
	/* unset, min_soc is the rack's charged_soc */
	assert_int_equal(cfg.swap.min_soc, 95);
}

static void test_swap_min_soc(void **state)
{
	const char *rack = "{" MIN "," RACK("\"charged_soc\":90,") "}";
	const char *own = "{" MIN "," RACK("\"charged_soc\":90,") ",\"swap\":{\"min_soc\":80}}";
	struct config cfg;
	struct config_errors errs;

	(void)state;
	assert_int_equal(config_parse(rack, strlen(rack), "t.json", &cfg, &errs), 0);
	assert_int_equal(cfg.swap.min_soc, 90);
	assert_int_equal(config_parse(own, strlen(own), "t.json", &cfg, &errs), 0);
	assert_int_equal(cfg.swap.min_soc, 80);
}

static void test_rack_section(void **state)
{
	const char *json = "{" MIN "," RACK("\"parity\":\"none\",") "}";
	struct config cfg;
	struct config_errors errs;

	(void)state;
	assert_int_equal(config_parse(json, strlen(json), "t.json", &cfg, &errs), 0);
	assert_true(cfg.rack.enabled);
	assert_false(cfg.tokens.enabled);
	assert_int_equal(cfg.rack.nslots, 1);
	assert_int_equal(cfg.rack.parity, 'N');
	assert_int_equal(cfg.rack.baud, 19200);
	/* relative to the directory of the config file (here: none) */
	assert_string_equal(cfg.rack.profile, "./" PROFILE);
}

static void test_missing_file(void **state)
{
	struct config cfg;
	struct config_errors errs;

	(void)state;
	assert_int_equal(config_load("/nonexistent/swapd.json", &cfg, &errs), -1);
	assert_string_equal(errs.msg[0], "/nonexistent/swapd.json: cannot open: No such file or directory");
}

/* A FIFO as the register profile is refused at once, naming its path,
 * instead of waiting for a writer. The alarm turns a hang into a failure. */
static void test_profile_fifo(void **state)
{
	char dir[] = "/tmp/test_config.XXXXXX", path[64], json[256], want[128];
	struct config cfg;
	struct config_errors errs;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/profile.json", dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	snprintf(json, sizeof json, "{" MIN ",\"rack\":{\"device\":\"/dev/ttyS0\",\"profile\":\"%s\","
		 "\"slots\":[{\"slot\":1,\"unit\":1}]}}", path);
	alarm(10);
	assert_int_equal(config_parse(json, strlen(json), "t.json", &cfg, &errs), -1);
	alarm(0);
	snprintf(want, sizeof want, "rack.profile: %s: not a regular file", path);
	assert_string_equal(errs.msg[0], want);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(rmdir(dir), 0);
}

static void test_reload_restart_keys(void **state)
{
	const char *a = "{" MIN "}";
	const char *b = "{\"station\":{\"id\":\"ST-2\"},\"log\":{\"level\":\"debug\"}}";
	const char *c = "{" MIN ",\"log\":{\"level\":\"debug\"}}";
	struct config ca, cb, cc;
	struct config_errors errs;

	(void)state;
	assert_int_equal(config_parse(a, strlen(a), "a", &ca, &errs), 0);
	assert_int_equal(config_parse(b, strlen(b), "b", &cb, &errs), 0);
	assert_int_equal(config_parse(c, strlen(c), "c", &cc, &errs), 0);
	assert_int_equal(config_check_reload(&ca, &cb, &errs), -1);
	assert_string_equal(errs.msg[0],
			    "station.id: \"ST-2\" differs from the running \"ST-1\"; changing it needs a restart");
	assert_int_equal(config_check_reload(&ca, &cc, &errs), 0);
	assert_string_not_equal(ca.digest, cc.digest);
}

/* A reload of the same file is accepted whatever was parsed before it: a
 * relative profile path once left bytes of an earlier, longer path behind
 * its NUL, and comparing whole structs refused every reload. */
static void test_reload_relative_profile(void **state)
{
	const char *a = "{" MIN "," RACK("") "}";
	const char *longer = "{" MIN ",\"rack\":{\"device\":\"/dev/ttyS0\",\"profile\":"
			     "\"config/profiles/../profiles/../profiles/../profiles/swapd-slot-v1.json\","
			     "\"slots\":[{\"slot\":1,\"unit\":1}]}}";
	static struct config running, other, next;
	struct config_errors errs;

	(void)state;
	assert_int_equal(config_parse(a, strlen(a), "t.json", &running, &errs), 0);
	assert_int_equal(config_parse(longer, strlen(longer), "t.json", &other, &errs), 0);
	assert_int_equal(config_parse(a, strlen(a), "t.json", &next, &errs), 0);
	if (config_check_reload(&running, &next, &errs) != 0)
		fail_msg("same file refused: %s", errs.msg[0]);
}

struct reload_case {
	const char *running, *next;
	const char *message; /* NULL: the reload is accepted */
};

#define SCANNER(extra) "\"scanner\":{" extra "\"device\":\"/dev/ttyACM0\"}"
#define RESTART "; changing it needs a restart"

static const struct reload_case reload_cases[] = {
	{ "{" MIN "," RACK("") "}", "{" MIN "," RACK("") ",\"log\":{\"level\":\"debug\"}}", NULL },
	{ "{" MIN "," RACK("") "}", "{" MIN "," RACK("\"baud\":9600,") "}",
	  "rack.baud: 9600 differs from the running 19200" RESTART },
	{ "{" MIN "," RACK("") "}", "{" MIN "," RACK("\"parity\":\"odd\",") "}",
	  "rack.parity: differs from the running value" RESTART },
	{ "{" MIN "," RACK("") "}", "{" MIN "," RACK("\"rs485\":true,") "}",
	  "rack.rs485: true differs from the running false" RESTART },
	{ "{" MIN "," RACK("") "}", "{" MIN ",\"rack\":{\"device\":\"/dev/ttyS0\",\"profile\":\"" PROFILE
	  "\",\"slots\":[{\"slot\":1,\"unit\":2}]}}",
	  "rack.slots[0].unit: 2 differs from the running 1" RESTART },
	{ "{" MIN "," RACK("") "}", "{" MIN ",\"rack\":{\"device\":\"/dev/ttyS0\",\"profile\":\"" PROFILE
	  "\",\"slots\":[{\"slot\":1,\"unit\":1},{\"slot\":2,\"unit\":2}]}}",
	  "rack.slots: 2 entries differ from the running 1" RESTART },
	{ "{" MIN "," RACK("") "}", "{" MIN ",\"rack\":{\"device\":\"/dev/ttyS1\",\"profile\":\"" PROFILE
	  "\",\"slots\":[{\"slot\":1,\"unit\":1}]}}",
	  "rack.device: \"/dev/ttyS1\" differs from the running \"/dev/ttyS0\"" RESTART },
	{ "{" MIN "}", "{" MIN "," RACK("") "}", "rack: adding or removing the section needs a restart" },
	{ "{" MIN "," SCANNER("") "}", "{" MIN "," SCANNER("\"dedup_ms\":5,") "}",
	  "scanner.dedup_ms: 5 differs from the running 1000" RESTART },
	{ "{" MIN "}", "{" MIN ",\"control\":{\"mode\":\"0600\"}}",
	  "control.mode: differs from the running value" RESTART },
	{ "{" MIN "}", "{" MIN ",\"store\":{\"path\":\"/tmp/x.db\"}}",
	  "store.path: \"/tmp/x.db\" differs from the running \"/var/lib/swapd/swapd.db\"" RESTART },
	{ "{" MIN "}", "{" MIN ",\"control\":{\"max_clients\":3,\"io_timeout_ms\":50}}", NULL },
	{ "{" MIN "}", "{" MIN ",\"ledger\":{\"quarantine_soh\":80},\"staff\":{\"session_s\":60}}",
	  NULL },
	/* every swap key reloads: swaps in progress keep their waits */
	{ "{" MIN "}", "{" MIN ",\"swap\":{\"max_concurrent\":5,\"insert_timeout_s\":30,"
	  "\"min_soc\":90,\"reopen_once\":false}}", NULL },
};

static void test_reload_cases(void **state)
{
	static struct config running, next;
	struct config_errors errs;

	(void)state;
	for (size_t i = 0; i < sizeof reload_cases / sizeof reload_cases[0]; i++) {
		const struct reload_case *c = &reload_cases[i];
		if (config_parse(c->running, strlen(c->running), "t.json", &running, &errs) != 0 ||
		    config_parse(c->next, strlen(c->next), "t.json", &next, &errs) != 0)
			fail_msg("case %zu: does not parse: %s", i, errs.msg[0]);
		int rc = config_check_reload(&running, &next, &errs);
		if (c->message ? rc != -1 || errs.n != 1 || strcmp(errs.msg[0], c->message) != 0
			       : rc != 0)
			fail_msg("case %zu:\n  want: %s\n  got:  %s (rc %d, %zu errors)", i,
				 c->message ? c->message : "(accepted)", errs.n ? errs.msg[0] : "(none)",
				 rc, errs.n);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_inputs),
		cmocka_unit_test(test_every_error_reported),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_rack_section),
		cmocka_unit_test(test_swap_min_soc),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_profile_fifo),
		cmocka_unit_test(test_reload_restart_keys),
		cmocka_unit_test(test_reload_relative_profile),
		cmocka_unit_test(test_reload_cases),
	};
	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
