/* The fault registry (daemon/fault.c) on a store in a temp dir, in
 * simulated time: idempotent raising, clearing only after the condition
 * stayed gone, escalation to one ticket re-announced until acknowledged,
 * and all of it surviving a restart. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "daemon/command.h"
#include "daemon/fault.h"
#include "daemon/health.h"
#include "daemon/loop.h"

static struct config cfg;
static struct store *st;
static char dir[64], path[128];

struct count {
	const char *type;
	int n;
	char last[512]; /* the payload of the last one */
};

static int count_row(const struct store_outbox_row *r, void *arg)
{
	struct count *c = arg;

	if (strcmp(r->type, c->type) == 0) {
		c->n++;
		snprintf(c->last, sizeof c->last, "%s", r->payload);
	}
	return 0;
}

/* How many events of type are in the outbox; *last: the newest payload. */
static int events(const char *type, char *last, size_t lastlen)
{
	struct count c = { .type = type };

	assert_int_equal(store_outbox_read(st, 0, 10000, count_row, &c), SW_OK);
	if (last)
		snprintf(last, lastlen, "%s", c.last);
	return c.n;
}

static bool never(void *arg)
{
	(void)arg;
	return false;
}

static void run_s(int s)
{
	loop_run_until(never, NULL, (int64_t)s * 1000);
}

static int nopen(void)
{
	json_object *a = fault_open_json();
	int n = (int)json_object_array_length(a);

	json_object_put(a);
	return n;
}

static void start(void)
{
	char why[256];

	assert_int_equal(fault_start(&cfg, st, "boot-1", why, sizeof why), SW_OK);
}

static void stop(void)
{
	fault_stop();
	command_forget();
}

static int setup(void **state)
{
	char why[256];

	(void)state;
	snprintf(dir, sizeof dir, "/tmp/swapd-fault-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/swapd.db", dir);
	config_defaults(&cfg);
	loop_set_clock(true);
	assert_int_equal(store_open(path, 1000, &st, why, sizeof why), SW_OK);
	start();
	return 0;
}

static int teardown(void **state)
{
	static const char *const files[] = { "swapd.db", "swapd.db-wal", "swapd.db-shm" };
	char p[160];

	(void)state;
	stop();
	store_close(st);
	loop_set_clock(false);
	loop_free();
	health_reset();
	for (size_t k = 0; k < sizeof files / sizeof files[0]; k++) {
		snprintf(p, sizeof p, "%s/%s", dir, files[k]);
		unlink(p);
	}
	rmdir(dir);
	return 0;
}

static void test_every_code_has_a_rule(void **state)
{
	(void)state;
	for (int k = 0; k < FAULT_CODE_COUNT; k++) {
		const struct fault_rule *r = fault_rule((enum fault_code)k);
		assert_int_equal(r->code, k);
		assert_non_null(r->name);
		assert_non_null(r->summary);
		assert_true(r->level == 1 || r->level == 3);
		assert_true(r->clear_after_s >= 0 && r->escalate_after_s >= 0);
		for (int j = 0; j < k; j++)
			assert_string_not_equal(fault_code_name((enum fault_code)j), r->name);
	}
	assert_string_equal(fault_code_name(FAULT_OVER_TEMP), "over_temperature");
}

static void test_raise_is_idempotent(void **state)
{
	char last[512];

	(void)state;
	int64_t id = fault_raise(FAULT_OVER_TEMP, 2, 42, "61 C", "charging stopped");
	assert_true(id > 0);
	assert_int_equal(fault_raise(FAULT_OVER_TEMP, 2, 42, "62 C", NULL), id);
	assert_int_equal(events("fault.raised", last, sizeof last), 1);
	assert_non_null(strstr(last, "\"code\":\"over_temperature\""));
	assert_non_null(strstr(last, "\"battery\":\"BAT-00042\""));
	assert_non_null(strstr(last, "\"action\":\"charging stopped\""));
	json_object *a = fault_open_json();
	assert_int_equal(json_object_array_length(a), 1);
	json_object *f = json_object_array_get_idx(a, 0), *v;
	assert_true(json_object_object_get_ex(f, "detail", &v));
	assert_string_equal(json_object_get_string(v), "62 C");
	assert_true(json_object_object_get_ex(f, "actions", &v));
	assert_int_equal(json_object_array_length(v), 1);
	json_object_put(a);
	/* another slot is another fault */
	assert_true(fault_raise(FAULT_OVER_TEMP, 3, 43, "60 C", NULL) != id);
	assert_int_equal(nopen(), 2);
	assert_true(fault_blocks_slot(2));
	assert_false(fault_blocks_slot(1));
	assert_false(fault_blocks_station());
}

static void test_clears_only_after_gone_long_enough(void **state)
{
	int clear_s = fault_rule(FAULT_OVER_TEMP)->clear_after_s;

	(void)state;
	fault_raise(FAULT_OVER_TEMP, 2, 0, "61 C", NULL);
	fault_gone(FAULT_OVER_TEMP, 2, 0);
	run_s(clear_s - 1);
	fault_gone(FAULT_OVER_TEMP, 2, 0); /* still gone: the deadline stays */
	assert_int_equal(nopen(), 1);
	assert_int_equal(events("fault.cleared", NULL, 0), 0);
	run_s(2);
	assert_int_equal(nopen(), 0);
	assert_int_equal(events("fault.cleared", NULL, 0), 1);
	assert_false(fault_blocks_slot(2));
}

static void test_reraise_keeps_it_open(void **state)
{
	int clear_s = fault_rule(FAULT_OVER_TEMP)->clear_after_s;

	(void)state;
	int64_t id = fault_raise(FAULT_OVER_TEMP, 2, 0, "61 C", NULL);
	fault_gone(FAULT_OVER_TEMP, 2, 0);
	run_s(clear_s / 2);
	assert_int_equal(fault_raise(FAULT_OVER_TEMP, 2, 0, "61 C", NULL), id);
	run_s(clear_s * 2);
	assert_int_equal(nopen(), 1);
	assert_int_equal(events("fault.cleared", NULL, 0), 0);
	assert_int_equal(events("fault.raised", NULL, 0), 1);
}

static void test_gone_when_not_open_is_a_no_op(void **state)
{
	(void)state;
	fault_gone(FAULT_CHARGER, 4, 0);
	run_s(3600);
	assert_int_equal(nopen(), 0);
	assert_int_equal(events("fault.cleared", NULL, 0), 0);
}

static void test_escalates_to_one_ticket(void **state)
{
	char last[512], ticket[24];
	int esc = fault_rule(FAULT_SLOT_OFFLINE)->escalate_after_s;

	(void)state;
	int64_t id = fault_raise(FAULT_SLOT_OFFLINE, 1, 0, "no answer for 30 s", NULL);
	snprintf(ticket, sizeof ticket, "F%lld", (long long)id);
	run_s(esc - 1);
	assert_int_equal(events("ticket.opened", NULL, 0), 0);
	assert_int_equal(fault_ticket_ack(ticket, "tech-7"), SW_ENOENT); /* no ticket yet */
	run_s(2);
	assert_int_equal(events("ticket.opened", last, sizeof last), 1);
	assert_non_null(strstr(last, ticket));
	run_s(cfg.faults.ticket_reannounce_s);
	assert_int_equal(events("ticket.opened", last, sizeof last), 2);
	assert_non_null(strstr(last, ticket));
	assert_int_equal(fault_ticket_ack(ticket, "tech-7"), SW_OK);
	assert_int_equal(fault_ticket_ack("F999", "tech-7"), SW_ENOENT);
	run_s(cfg.faults.ticket_reannounce_s * 3);
	assert_int_equal(events("ticket.opened", NULL, 0), 2);
	json_object *a = fault_open_json(), *f = json_object_array_get_idx(a, 0), *t, *v;
	assert_true(json_object_object_get_ex(f, "level", &v));
	assert_int_equal(json_object_get_int(v), 3);
	assert_true(json_object_object_get_ex(f, "ticket", &t));
	assert_true(json_object_object_get_ex(t, "state", &v));
	assert_string_equal(json_object_get_string(v), "acknowledged");
	json_object_put(a);
}

static void test_survives_a_restart(void **state)
{
	char ticket[24];

	(void)state;
	int64_t id = fault_raise(FAULT_UNKNOWN_BATTERY, 3, 0, "swap 1: unknown battery locked in", NULL);
	snprintf(ticket, sizeof ticket, "F%lld", (long long)id);
	assert_int_equal(events("ticket.opened", NULL, 0), 1); /* level 3 from the start */
	fault_raise(FAULT_OVER_TEMP_WARN, 2, 0, "51 C", NULL); /* never a ticket by time */
	stop();
	start();
	assert_int_equal(nopen(), 2);
	assert_true(fault_blocks_slot(3));
	assert_true(fault_raise(FAULT_OVER_TEMP_WARN, 2, 0, "51 C", NULL) > id);
	assert_int_equal(events("fault.raised", NULL, 0), 2);
	run_s(cfg.faults.ticket_reannounce_s + 1);
	assert_int_equal(events("ticket.opened", NULL, 0), 2);
	assert_int_equal(fault_ticket_ack(ticket, "tech-7"), SW_OK);
	stop();
	start();
	run_s(cfg.faults.ticket_reannounce_s * 2);
	assert_int_equal(events("ticket.opened", NULL, 0), 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_code_has_a_rule),
		cmocka_unit_test_setup_teardown(test_raise_is_idempotent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_clears_only_after_gone_long_enough, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reraise_keeps_it_open, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gone_when_not_open_is_a_no_op, setup, teardown),
		cmocka_unit_test_setup_teardown(test_escalates_to_one_ticket, setup, teardown),
		cmocka_unit_test_setup_teardown(test_survives_a_restart, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
