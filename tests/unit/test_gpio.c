/* The GPIO driver through the real loop, on the simulated chip driven from
 * outside as the end-to-end tests will: input edges become debounced
 * callbacks, outputs are reported to the test, bad requests get an error.
 * With no gpio-sim kernel module here, the libgpiod backend is tested for
 * its errors only. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "daemon/health.h"
#include "daemon/log.h"
#include "daemon/loop.h"
#include "drivers/gpio.h"

static char chip_path[64], peer_path[64];
static int peer = -1;
static char dgram[2048];
static bool got_dgram, timed_out;
static struct loop_timer deadline;

struct input { enum gpio_role role; int slot; bool active; };
static struct input inputs[8];
static int ninputs;

static void on_deadline(void *arg)
{
	(void)arg;
	timed_out = true;
	loop_stop();
}

static void on_input(enum gpio_role role, int slot, bool active, void *arg)
{
	(void)arg;
	assert_true(ninputs < 8);
	inputs[ninputs++] = (struct input){ role, slot, active };
	loop_stop();
}

static void on_peer(int fd, short revents, void *arg)
{
	(void)revents;
	(void)arg;
	ssize_t n = recv(fd, dgram, sizeof dgram - 1, 0);
	assert_true(n >= 0);
	dgram[n] = '\0';
	got_dgram = true;
	loop_stop();
}

/* Runs the loop until a callback stops it or timeout_ms passed. */
static void run(int timeout_ms)
{
	timed_out = false;
	got_dgram = false;
	loop_timer_init(&deadline, on_deadline, NULL);
	loop_timer_arm(&deadline, timeout_ms);
	assert_int_equal(loop_run(), 0);
	loop_timer_cancel(&deadline);
}

static void send_chip(const char *text)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };

	snprintf(a.sun_path, sizeof a.sun_path, "%s", chip_path);
	assert_int_equal(sendto(peer, text, strlen(text), 0, (struct sockaddr *)&a, sizeof a),
			 (ssize_t)strlen(text));
}

/* Sends a request and waits for the chip's answer. */
static void ask(const char *text)
{
	send_chip(text);
	run(2000);
	assert_true(got_dgram);
}

static void add_line(struct gpio_config *cfg, enum gpio_role role, int slot, const char *name,
		     bool active_low, int debounce_ms)
{
	struct gpio_line_config *l = &cfg->lines[cfg->nlines++];

	memset(l, 0, sizeof *l);
	l->role = role;
	l->slot = slot;
	snprintf(l->name, sizeof l->name, "%s", name);
	l->active_low = active_low;
	l->debounce_ms = debounce_ms;
}

/* A station with two slots: slot 1 a strike (active unlocks), slot 2 a
 * maglock wired active-low (held locked while active); door sensors close
 * to ground (active-low); one estop; one light. */
static void station(struct gpio_config *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	cfg->enabled = true;
	snprintf(cfg->chip, sizeof cfg->chip, "sim:%s", chip_path);
	add_line(cfg, GPIO_DOOR, 1, "door-1", true, 10);
	add_line(cfg, GPIO_LOCK, 1, "lock-1", false, 0);
	add_line(cfg, GPIO_LOCK, 2, "lock-2", true, 0);
	cfg->lines[cfg->nlines - 1].locked_active = true;
	add_line(cfg, GPIO_ESTOP, 0, "estop", false, 0);
	add_line(cfg, GPIO_LIGHT, 0, "green", false, 0);
}

static int setup(void **state)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };

	(void)state;
	snprintf(chip_path, sizeof chip_path, "/tmp/test_gpio.%d.chip", (int)getpid());
	snprintf(peer_path, sizeof peer_path, "/tmp/test_gpio.%d.peer", (int)getpid());
	snprintf(a.sun_path, sizeof a.sun_path, "%s", peer_path);
	unlink(peer_path);
	peer = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	assert_true(peer >= 0);
	assert_int_equal(bind(peer, (struct sockaddr *)&a, sizeof a), 0);
	assert_int_equal(loop_add_fd(peer, POLLIN, on_peer, NULL), 0);
	ninputs = 0;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	gpio_close();
	loop_del_fd(peer);
	close(peer);
	unlink(peer_path);
	loop_free();
	health_reset();
	return 0;
}

static void open_station(void)
{
	struct gpio_config cfg;
	char why[256] = "";

	station(&cfg);
	assert_int_equal(gpio_open(&cfg, on_input, NULL, why, sizeof why), SW_OK);
	assert_int_equal(health_get("gpio"), HEALTH_OK);
}

static void test_input_edge_reaches_callback(void **state)
{
	bool active;

	(void)state;
	open_station();
	assert_int_equal(gpio_get(GPIO_DOOR, 1, &active), SW_OK);
	assert_false(active); /* the sim starts with doors shut */
	send_chip("door-1=0"); /* active-low: pulled to ground is open */
	run(2000);
	assert_false(timed_out);
	assert_int_equal(ninputs, 1);
	assert_int_equal(inputs[0].role, GPIO_DOOR);
	assert_int_equal(inputs[0].slot, 1);
	assert_true(inputs[0].active);
	assert_int_equal(gpio_get(GPIO_DOOR, 1, &active), SW_OK);
	assert_true(active);
	send_chip("estop=1");
	run(2000);
	assert_int_equal(ninputs, 2);
	assert_int_equal(inputs[1].role, GPIO_ESTOP);
	assert_true(inputs[1].active);
}

static void test_outputs_seen_from_outside(void **state)
{
	bool locked;

	(void)state;
	open_station();
	/* locks are requested first, in their locked level */
	ask("?");
	assert_string_equal(dgram, "state lock-1=0 lock-2=0 door-1=1 estop=0 green=0");
	assert_int_equal(gpio_get(GPIO_LOCK, 2, &locked), SW_OK);
	assert_true(locked);
	assert_int_equal(gpio_set_lock(1, false), SW_OK);
	run(2000);
	assert_string_equal(dgram, "out lock-1=1");
	assert_int_equal(gpio_set_lock(2, false), SW_OK);
	run(2000);
	assert_string_equal(dgram, "out lock-2=1"); /* maglock released: inactive, high */
	assert_int_equal(gpio_get(GPIO_LOCK, 2, &locked), SW_OK);
	assert_false(locked);
	assert_int_equal(gpio_set_light("green", true), SW_OK);
	run(2000);
	assert_string_equal(dgram, "out green=1");
	/* setting what is already set is no change */
	assert_int_equal(gpio_set_light("green", true), SW_OK);
	run(50);
	assert_true(timed_out);
	assert_int_equal(gpio_set_lock(7, false), SW_ENOENT);
	assert_int_equal(gpio_set_light("red", true), SW_ENOENT);
	assert_true(gpio_has_lock(2));
	assert_false(gpio_has_lock(3));
	/* closing locks every door again */
	gpio_close();
	char buf[64];
	ssize_t n = recv(peer, buf, sizeof buf - 1, 0);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_string_equal(buf, "out lock-1=0");
	n = recv(peer, buf, sizeof buf - 1, 0);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_string_equal(buf, "out lock-2=0");
}

static void test_bounce_is_one_change(void **state)
{
	(void)state;
	open_station();
	/* a contact bouncing back to where it was: nothing to report */
	send_chip("door-1=0 door-1=1 door-1=0 door-1=1");
	run(100);
	assert_true(timed_out);
	assert_int_equal(ninputs, 0);
	/* bouncing and settling open: one report */
	char burst[1024] = "";
	for (int i = 0; i < 30; i++)
		strcat(burst, i % 2 ? "door-1=1 " : "door-1=0 ");
	strcat(burst, "door-1=0");
	send_chip(burst);
	run(2000);
	assert_false(timed_out);
	assert_int_equal(ninputs, 1);
	assert_true(inputs[0].active);
	run(100);
	assert_int_equal(ninputs, 1);
}

static void test_bad_requests_get_errors(void **state)
{
	static const char *const bad[][2] = {
		{ "hello", "error \"hello\" is not NAME=0, NAME=1, NAME=fail, NAME=ok or ?" },
		{ "door-1=7", "error \"door-1=7\" is not NAME=0, NAME=1, NAME=fail, NAME=ok or ?" },
		{ "lock-1=1", "error line \"lock-1\" is an output" },
		{ "door-9=1", "error no line \"door-9\"" },
		{ "\xff\x01=1", "error no line \"\xff\x01\"" },
	};

	(void)state;
	open_station();
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		ask(bad[i][0]);
		assert_string_equal(dgram, bad[i][1]);
	}
	char huge[3000];
	memset(huge, 'x', sizeof huge - 1);
	huge[sizeof huge - 1] = '\0';
	ask(huge);
	assert_string_equal(dgram, "error datagram longer than 2048 bytes");
	/* and the chip still works */
	send_chip("door-1=0");
	run(2000);
	assert_int_equal(ninputs, 1);
}

static void test_missing_chip_is_named(void **state)
{
	struct gpio_config cfg;
	char why[256] = "";

	(void)state;
	station(&cfg);
	snprintf(cfg.chip, sizeof cfg.chip, "gpiochip-swapd-test");
	assert_int_equal(gpio_open(&cfg, on_input, NULL, why, sizeof why), SW_ENOENT);
	assert_string_equal(why, "gpio chip gpiochip-swapd-test: no such chip");
	assert_int_equal(health_get("gpio"), HEALTH_FAILED);
	snprintf(cfg.chip, sizeof cfg.chip, "/dev/gpiochip99");
	assert_int_equal(gpio_open(&cfg, on_input, NULL, why, sizeof why), SW_ENOENT);
	assert_non_null(strstr(why, "/dev/gpiochip99"));
	/* nothing is open after a failure */
	assert_false(gpio_has_lock(1));
	assert_int_equal(gpio_set_lock(1, false), SW_ENOENT);
}

static void expect_invalid(const struct gpio_config *cfg, const char *want)
{
	char why[256] = "";

	assert_int_equal(gpio_open(cfg, on_input, NULL, why, sizeof why), SW_EINVAL);
	assert_string_equal(why, want);
}

static void test_bad_config(void **state)
{
	struct gpio_config cfg;

	(void)state;
	station(&cfg);
	snprintf(cfg.lines[2].name, sizeof cfg.lines[2].name, "lock-1");
	expect_invalid(&cfg, "gpio.lines[2].line: \"lock-1\" is also lines[1]");
	station(&cfg);
	cfg.lines[1].slot = 0;
	expect_invalid(&cfg, "gpio.lines[1].slot: 0 is out of range 1..999");
	station(&cfg);
	cfg.lines[2].slot = 1;
	expect_invalid(&cfg, "gpio.lines[2].slot: slot 1 has a lock already (lines[1])");
	station(&cfg);
	add_line(&cfg, GPIO_ESTOP, 0, "estop-2", false, 0);
	expect_invalid(&cfg, "gpio.lines[5].role: a second estop (wire them in series)");
	station(&cfg);
	cfg.lines[0].debounce_ms = 5000;
	expect_invalid(&cfg, "gpio.lines[0].debounce_ms: 5000 is out of range 0..1000");
	station(&cfg);
	cfg.lines[0].locked_active = true;
	expect_invalid(&cfg, "gpio.lines[0].locked_active: only for locks");
	station(&cfg);
	cfg.lines[4].slot = 3;
	expect_invalid(&cfg, "gpio.lines[4].slot: only locks, doors and slot_power have a slot");
	station(&cfg);
	snprintf(cfg.lines[4].name, sizeof cfg.lines[4].name, "gr een");
	expect_invalid(&cfg, "gpio.lines[4].line: contains a space or '='");
	station(&cfg);
	cfg.chip[0] = '\0';
	expect_invalid(&cfg, "gpio.chip: empty");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_input_edge_reaches_callback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_outputs_seen_from_outside, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bounce_is_one_change, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_requests_get_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_chip_is_named, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_config, setup, teardown),
	};

	log_init(LOG_DEBUG);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
