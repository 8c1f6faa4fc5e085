/* Command tables: a duplicate name, a full registry or a malformed row fails
 * the registration as a whole; arguments are checked against the spec,
 * naming the argument, before any handler could run; names match by length;
 * the listing has every command with its level and arguments. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "daemon/command.h"

static json_object *handler(const struct control_req *req)
{
	(void)req;
	return NULL;
}

static const struct command table_a[] = {
	{ .name = "status", .level = LEVEL_VIEWER, .fn = handler, .help = "h" },
	{ .name = "unlock", .level = LEVEL_ADMIN, .fn = handler, .help = "h",
	  .args = { { "slot", ARG_INT, .required = true, .min = 1, .max = 999 } } },
	{ .name = "every", .level = LEVEL_STAFF, .fn = handler, .help = "h",
	  .args = { { "n", ARG_INT, .min = -5, .max = 5 },
		    { "s", ARG_STRING, .min = 2, .max = 4 },
		    { "b", ARG_BOOL },
		    { "on", ARG_ONOFF } } },
};

static int reset(void **state)
{
	(void)state;
	command_forget();
	return 0;
}

static void test_duplicate_fails_whole_table(void **state)
{
	static const struct command again[] = {
		{ .name = "fresh", .level = LEVEL_VIEWER, .fn = handler, .help = "h" },
		{ .name = "unlock", .level = LEVEL_KIOSK, .fn = handler, .help = "h" },
	};
	static const struct command twice[] = {
		{ .name = "x", .level = LEVEL_VIEWER, .fn = handler, .help = "h" },
		{ .name = "x", .level = LEVEL_VIEWER, .fn = handler, .help = "h" },
	};
	char why[128];

	(void)state;
	assert_int_equal(command_register(table_a, COMMAND_ROWS(table_a), why, sizeof why), SW_OK);
	assert_int_equal(command_register(again, COMMAND_ROWS(again), why, sizeof why), SW_EEXIST);
	assert_string_equal(why, "control: command \"unlock\" is registered twice");
	assert_null(command_find("fresh", 5)); /* none of a failing table */
	assert_int_equal(command_register(twice, COMMAND_ROWS(twice), why, sizeof why), SW_EEXIST);
	assert_string_equal(why, "control: command \"x\" is registered twice");
}

static void test_full_registry_fails(void **state)
{
	static struct command many[COMMAND_MAX + 1];
	static char names[COMMAND_MAX + 1][8];
	char why[128];

	(void)state;
	for (int i = 0; i <= COMMAND_MAX; i++) {
		snprintf(names[i], sizeof names[i], "c%d", i);
		many[i] = (struct command){ .name = names[i], .fn = handler, .help = "h" };
	}
	assert_int_equal(command_register(many, COMMAND_MAX + 1, why, sizeof why), SW_EINVAL);
	assert_non_null(strstr(why, "no room"));
	assert_int_equal(command_register(many, COMMAND_MAX, why, sizeof why), SW_OK);
	assert_int_equal(command_register(many + COMMAND_MAX, 1, why, sizeof why), SW_EINVAL);
}

static void test_malformed_rows_fail(void **state)
{
	static const struct command bad[][1] = {
		{ { .name = "b", .fn = handler, .help = "h",
		    .args = { { "n", ARG_INT, .min = 5, .max = 1 } } } },
		{ { .name = "b", .fn = handler, .help = "h",
		    .args = { { "s", ARG_STRING } , { "s", ARG_BOOL } } } },
		{ { .name = "b", .fn = handler } },
		{ { .name = "", .fn = handler, .help = "h" } },
	};
	char why[128];

	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if (command_register(bad[i], 1, why, sizeof why) != SW_EINVAL)
			fail_msg("row %zu registered", i);
	assert_null(command_find("b", 1));
}

static const struct check_case {
	const char *cmd;
	const char *args; /* JSON, NULL for none */
	const char *message; /* NULL: fits */
} check_cases[] = {
	{ "status", NULL, NULL },
	{ "status", "{}", NULL },
	{ "status", "{\"x\":1}", "\"x\": \"status\" takes no such argument" },
	{ "unlock", "{}", "\"slot\" is missing" },
	{ "unlock", "{\"slot\":3}", NULL },
	{ "unlock", "{\"slot\":\"3\"}", "\"slot\": must be an integer" },
	{ "unlock", "{\"slot\":3.0}", "\"slot\": must be an integer" },
	{ "unlock", "{\"slot\":null}", "\"slot\": must be an integer" },
	{ "unlock", "{\"slot\":0}", "\"slot\": must be 1..999" },
	{ "unlock", "{\"slot\":99999999999999999999}", "\"slot\": must be 1..999" },
	{ "unlock", "{\"slot\":1,\"force\":true}", "\"force\": \"unlock\" takes no such argument" },
	{ "every", "{\"n\":-5,\"s\":\"ab\",\"b\":false,\"on\":\"off\"}", NULL },
	{ "every", "{\"n\":6}", "\"n\": must be -5..5" },
	{ "every", "{\"s\":5}", "\"s\": must be a string" },
	{ "every", "{\"s\":\"a\"}", "\"s\": must be 2..4 bytes, without NUL" },
	{ "every", "{\"s\":\"abcde\"}", "\"s\": must be 2..4 bytes, without NUL" },
	{ "every", "{\"s\":\"a\\u0000b\"}", "\"s\": must be 2..4 bytes, without NUL" },
	{ "every", "{\"b\":\"true\"}", "\"b\": must be true or false" },
	{ "every", "{\"b\":1}", "\"b\": must be true or false" },
	{ "every", "{\"on\":true}", NULL },
	{ "every", "{\"on\":\"maybe\"}", "\"on\": must be on or off" },
	{ "every", "{\"on\":1}", "\"on\": must be on or off" },
};

static void test_check_cases(void **state)
{
	char why[128], msg[256];

	(void)state;
	assert_int_equal(command_register(table_a, COMMAND_ROWS(table_a), why, sizeof why), SW_OK);
	for (size_t i = 0; i < sizeof check_cases / sizeof check_cases[0]; i++) {
		const struct check_case *c = &check_cases[i];
		json_object *args = c->args ? json_tokener_parse(c->args) : NULL;
		const struct command *cmd = command_find(c->cmd, strlen(c->cmd));
		assert_non_null(cmd);
		msg[0] = '\0';
		bool ok = command_check(cmd, args, msg, sizeof msg);
		if (c->message ? ok || strcmp(msg, c->message) != 0 : !ok)
			fail_msg("case %zu %s %s:\n  want: %s\n  got:  %s", i, c->cmd, c->args,
				 c->message ? c->message : "(fits)", ok ? "(fits)" : msg);
		json_object_put(args);
	}
}

/* A 100 kB argument name is quoted cut to 64 bytes, cleaned. */
static void test_unknown_name_echo_is_capped(void **state)
{
	static char big[100 * 1024];
	char why[128], msg[256];

	(void)state;
	assert_int_equal(command_register(table_a, COMMAND_ROWS(table_a), why, sizeof why), SW_OK);
	memset(big, 'k', sizeof big - 1);
	big[0] = '\x1b';
	json_object *args = json_object_new_object();
	json_object_object_add(args, big, json_object_new_int(1));
	assert_false(command_check(command_find("status", 6), args, msg, sizeof msg));
	assert_true(strlen(msg) < 100);
	assert_int_equal(msg[1], '?');
	json_object_put(args);
}

static void test_find_by_length_and_list(void **state)
{
	char why[128];

	(void)state;
	assert_int_equal(command_register(table_a, COMMAND_ROWS(table_a), why, sizeof why), SW_OK);
	assert_non_null(command_find("status", 6));
	assert_null(command_find("status\0junk", 11));
	assert_null(command_find("stat", 4));
	json_object *list = command_list();
	const char *want =
		"[{\"name\":\"every\",\"level\":\"staff\",\"help\":\"h\",\"args\":["
		"{\"name\":\"n\",\"type\":\"int\",\"required\":false,\"min\":-5,\"max\":5},"
		"{\"name\":\"s\",\"type\":\"string\",\"required\":false,\"min\":2,\"max\":4},"
		"{\"name\":\"b\",\"type\":\"bool\",\"required\":false},"
		"{\"name\":\"on\",\"type\":\"on-off\",\"required\":false}]},"
		"{\"name\":\"status\",\"level\":\"viewer\",\"help\":\"h\",\"args\":[]},"
		"{\"name\":\"unlock\",\"level\":\"admin\",\"help\":\"h\",\"args\":["
		"{\"name\":\"slot\",\"type\":\"int\",\"required\":true,\"min\":1,\"max\":999}]}]";
	assert_string_equal(json_object_to_json_string_ext(list, JSON_C_TO_STRING_PLAIN), want);
	json_object_put(list);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_duplicate_fails_whole_table, reset),
		cmocka_unit_test_setup(test_full_registry_fails, reset),
		cmocka_unit_test_setup(test_malformed_rows_fail, reset),
		cmocka_unit_test_setup(test_check_cases, reset),
		cmocka_unit_test_setup(test_unknown_name_echo_is_capped, reset),
		cmocka_unit_test_setup(test_find_by_length_and_list, reset),
	};
	return cmocka_run_group_tests_name("command", tests, NULL, NULL);
}
