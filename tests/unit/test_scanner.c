/* The scanner driver over a pseudo-terminal, through the real loop: line
 * endings, lines split across writes, over-long and non-printable lines
 * reported as unreadable, repeats inside and outside the dedup window, the
 * rate limit, a device that goes away and comes back; and libserialport's
 * errors for a port it cannot open. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pty.h>
#include <termios.h>
#include <unistd.h>

#include <cmocka.h>

#include "daemon/health.h"
#include "daemon/log.h"
#include "daemon/loop.h"
#include "drivers/scanner.h"

#define MAX_GOT 16
#define UNREADABLE "<unreadable>"

static char got[MAX_GOT][SCANNER_LINE_MAX + 1];
static int64_t got_at[MAX_GOT]; /* loop_now() each line came */
static size_t ngot;
static size_t want;        /* stop the loop after this many lines */
static bool timed_out;
static struct loop_timer deadline;

static void on_deadline(void *arg)
{
	(void)arg;
	timed_out = true;
	loop_stop();
}

static void on_line(const char *line, size_t len, void *arg)
{
	(void)arg;
	assert_true(ngot < MAX_GOT);
	got_at[ngot] = loop_now();
	if (!line) {
		assert_int_equal(len, 0);
		snprintf(got[ngot++], sizeof got[0], UNREADABLE);
	} else {
		assert_int_equal(strlen(line), len);
		memcpy(got[ngot++], line, len + 1);
	}
	if (ngot == want)
		loop_stop();
}

/* Runs the loop until `lines` lines came or timeout_ms passed. */
static void run_for(size_t lines, int timeout_ms)
{
	want = lines;
	timed_out = false;
	loop_timer_init(&deadline, on_deadline, NULL);
	loop_timer_arm(&deadline, timeout_ms);
	assert_int_equal(loop_run(), 0);
	loop_timer_cancel(&deadline);
}

struct pty {
	int master, slave;
	char name[64];
};

static void pty_open(struct pty *p)
{
	struct termios t;

	memset(&t, 0, sizeof t);
	cfmakeraw(&t);
	assert_int_equal(openpty(&p->master, &p->slave, p->name, &t, NULL), 0);
}

static void pty_close(struct pty *p)
{
	close(p->master);
	close(p->slave);
}

static void put(int fd, const void *buf, size_t len)
{
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
}

static void cfg_for(struct scanner_config *cfg, const char *backend, const char *device)
{
	memset(cfg, 0, sizeof *cfg);
	cfg->enabled = true;
	snprintf(cfg->backend, sizeof cfg->backend, "%s", backend);
	snprintf(cfg->device, sizeof cfg->device, "%s", device);
	cfg->baud = 9600;
	cfg->dedup_ms = 1000;
	cfg->reconnect_ms = SCANNER_RECONNECT_MS_MIN;
}

static void open_ok(const struct scanner_config *cfg)
{
	char why[256] = "";

	ngot = 0;
	assert_int_equal(scanner_open(cfg, on_line, NULL, why, sizeof why), SW_OK);
}

static void finish(void)
{
	scanner_close();
	loop_free();
	health_reset();
}

static struct pty late_pty;
static const char *late_text;

static void write_late(void *arg)
{
	(void)arg;
	put(late_pty.master, late_text, strlen(late_text));
}

static void test_line_endings_and_split_writes(void **state)
{
	struct scanner_config cfg;
	struct loop_timer later;

	(void)state;
	pty_open(&late_pty);
	cfg_for(&cfg, "tty", late_pty.name);
	open_ok(&cfg);
	put(late_pty.master, "A1\rB2\nC3\r\nD", 11);
	/* the rest of D4 arrives in a later read */
	late_text = "4\r\n";
	loop_timer_init(&later, write_late, NULL);
	loop_timer_arm(&later, 30);
	run_for(4, 2000);
	assert_false(timed_out);
	assert_string_equal(got[0], "A1");
	assert_string_equal(got[1], "B2");
	assert_string_equal(got[2], "C3");
	assert_string_equal(got[3], "D4");
	struct scanner_stats st;
	scanner_stats(&st);
	assert_int_equal(st.lines, 4);
	assert_true(st.connected);
	assert_int_equal(health_get("scanner"), HEALTH_OK);
	finish();
	pty_close(&late_pty);
}

static void test_overlong_line(void **state)
{
	struct scanner_config cfg;
	struct pty p;
	char big[1100];

	(void)state;
	pty_open(&p);
	cfg_for(&cfg, "tty", p.name);
	open_ok(&cfg);
	/* exactly the limit is a line */
	memset(big, 'a', SCANNER_LINE_MAX);
	put(p.master, big, SCANNER_LINE_MAX);
	put(p.master, "\r", 1);
	/* over it twice over: dropped, up to its CR, and counted once */
	memset(big, 'b', sizeof big);
	put(p.master, big, sizeof big);
	put(p.master, "\rOK\r", 4);
	run_for(3, 2000);
	assert_false(timed_out);
	assert_int_equal(strlen(got[0]), SCANNER_LINE_MAX);
	assert_string_equal(got[1], UNREADABLE);
	assert_string_equal(got[2], "OK");
	struct scanner_stats st;
	scanner_stats(&st);
	assert_int_equal(st.too_long, 1);
	assert_int_equal(st.lines, 2);
	finish();
	pty_close(&p);
}

static void test_garbage_bytes(void **state)
{
	struct scanner_config cfg;
	struct pty p;
	static const char junk[] = "\x01\xff" "ab\r" "a\0b\n" "\x1b[0m\r\n" "GOOD\r";

	(void)state;
	pty_open(&p);
	cfg_for(&cfg, "tty", p.name);
	open_ok(&cfg);
	put(p.master, junk, sizeof junk - 1);
	run_for(4, 2000);
	assert_false(timed_out);
	/* each bad line is reported, never its bytes */
	for (int i = 0; i < 3; i++)
		assert_string_equal(got[i], UNREADABLE);
	assert_string_equal(got[3], "GOOD");
	struct scanner_stats st;
	scanner_stats(&st);
	assert_int_equal(st.unprintable, 3);
	assert_int_equal(st.lines, 1);
	finish();
	pty_close(&p);
}

static void test_repeats_within_and_after_window(void **state)
{
	struct scanner_config cfg;
	struct loop_timer later;

	(void)state;
	pty_open(&late_pty);
	cfg_for(&cfg, "tty", late_pty.name);
	cfg.dedup_ms = 100;
	open_ok(&cfg);
	/* a code held in front of the scanner: one scan */
	put(late_pty.master, "T-1\rT-1\r\nT-1\n", 13);
	/* the same code shown again after the window: a second scan */
	late_text = "T-1\r";
	loop_timer_init(&later, write_late, NULL);
	loop_timer_arm(&later, 250);
	run_for(2, 2000);
	assert_false(timed_out);
	assert_int_equal(ngot, 2);
	assert_string_equal(got[0], "T-1");
	assert_string_equal(got[1], "T-1");
	struct scanner_stats st;
	scanner_stats(&st);
	assert_int_equal(st.repeats, 2);
	finish();
	pty_close(&late_pty);
}

/* A flood of distinct lines, as from a stuck or hostile scanner: a burst
 * goes through, then lines pass at the rate; every line is either passed on
 * or counted as rate-limited, and no window of time passes more than the
 * token bucket allows. */
static struct pty flood_pty;

static void put_batch(int fd, int first, int n)
{
	char buf[32];

	for (int i = first; i < first + n; i++) {
		int len = snprintf(buf, sizeof buf, "F-%03d\r", i);
		put(fd, buf, (size_t)len);
	}
}

static void write_second_batch(void *arg)
{
	(void)arg;
	put_batch(flood_pty.master, 100, 20);
}

static void test_rate_limit(void **state)
{
	struct scanner_config cfg;
	struct loop_timer later;
	struct scanner_stats st;

	(void)state;
	pty_open(&flood_pty);
	cfg_for(&cfg, "tty", flood_pty.name);
	open_ok(&cfg);
	put_batch(flood_pty.master, 0, 20);
	loop_timer_init(&later, write_second_batch, NULL);
	loop_timer_arm(&later, 600);
	run_for(MAX_GOT, 900);
	assert_true(timed_out);
	/* the burst: the first lines, in order */
	for (int i = 0; i < SCANNER_BURST; i++) {
		char line[16];
		snprintf(line, sizeof line, "F-%03d", i);
		assert_string_equal(got[i], line);
	}
	/* the refill: 600 ms later, at least two more, from the second batch */
	assert_true(ngot >= SCANNER_BURST + 2);
	assert_string_equal(got[SCANNER_BURST], "F-100");
	for (size_t i = 0; i < ngot; i++)
		for (size_t j = i; j < ngot; j++)
			assert_true((int64_t)(j - i + 1) <=
				    SCANNER_BURST + (got_at[j] - got_at[i]) * SCANNER_RATE_PER_S / 1000);
	scanner_stats(&st);
	assert_int_equal(st.lines, ngot);
	assert_int_equal(st.lines + st.rate_limited, 40);
	finish();
	pty_close(&flood_pty);
}

/* Reconnect: the device is a symlink, as /dev/serial/by-id is. Closing the
 * pty is the unplug; a new pty behind the same name is the plug. The test
 * follows the scanner's health, the signal swapd itself would see. */
static char link_path[64];
static struct pty plugged;
static int health_changes;

static void on_health(void)
{
	health_changes++;
	if (health_get("scanner") == HEALTH_FAILED) {
		pty_open(&plugged);
		char tmp[80];
		snprintf(tmp, sizeof tmp, "%s.new", link_path);
		assert_int_equal(symlink(plugged.name, tmp), 0);
		assert_int_equal(rename(tmp, link_path), 0);
	} else if (health_get("scanner") == HEALTH_OK) {
		put(plugged.master, "AFTER\r", 6);
	}
}

static void test_device_gone_and_back(void **state)
{
	struct scanner_config cfg;
	struct pty first;

	(void)state;
	snprintf(link_path, sizeof link_path, "/tmp/test_scanner.%d", (int)getpid());
	pty_open(&first);
	unlink(link_path);
	assert_int_equal(symlink(first.name, link_path), 0);
	cfg_for(&cfg, "tty", link_path);
	open_ok(&cfg);
	assert_int_equal(health_get("scanner"), HEALTH_OK);
	put(first.master, "BEFORE\r", 7);
	run_for(1, 2000);
	assert_false(timed_out);
	health_changes = 0;
	health_on_change(on_health);
	pty_close(&first); /* unplug */
	run_for(2, 3000);
	health_on_change(NULL);
	assert_false(timed_out);
	assert_string_equal(got[0], "BEFORE");
	assert_string_equal(got[1], "AFTER");
	assert_int_equal(health_changes, 2);
	struct scanner_stats st;
	scanner_stats(&st);
	assert_int_equal(st.disconnects, 1);
	assert_true(st.connected);
	finish();
	pty_close(&plugged);
	unlink(link_path);
}

/* The health detail of "scanner", from the JSON that status shows. */
static void health_detail(char *buf, size_t len)
{
	json_object *arr = health_json();

	buf[0] = '\0';
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		json_object *e = json_object_array_get_idx(arr, i), *v;
		if (json_object_object_get_ex(e, "name", &v) &&
		    strcmp(json_object_get_string(v), "scanner") == 0 &&
		    json_object_object_get_ex(e, "detail", &v))
			snprintf(buf, len, "%s", json_object_get_string(v));
	}
	json_object_put(arr);
}

static void test_serialport_errors(void **state)
{
	struct scanner_config cfg;
	struct pty p;
	char detail[256];

	(void)state;
	/* a missing device is retried, not fatal, and named */
	cfg_for(&cfg, "serialport", "/dev/ttyACM-no-such-scanner");
	open_ok(&cfg);
	assert_int_equal(health_get("scanner"), HEALTH_FAILED);
	health_detail(detail, sizeof detail);
	assert_non_null(strstr(detail, "/dev/ttyACM-no-such-scanner"));
	run_for(1, 100); /* a few retries go by without trouble */
	assert_true(timed_out);
	assert_int_equal(ngot, 0);
	finish();

	/* libserialport refuses a pty; the reason says which device */
	pty_open(&p);
	cfg_for(&cfg, "serialport", p.name);
	open_ok(&cfg);
	assert_int_equal(health_get("scanner"), HEALTH_FAILED);
	health_detail(detail, sizeof detail);
	assert_non_null(strstr(detail, p.name));
	struct scanner_stats st;
	scanner_stats(&st);
	assert_false(st.connected);
	finish();
	pty_close(&p);
}

static void test_bad_config(void **state)
{
	struct scanner_config cfg;
	char why[256];

	(void)state;
	cfg_for(&cfg, "usb", "/dev/ttyACM0");
	assert_int_equal(scanner_open(&cfg, on_line, NULL, why, sizeof why), SW_EINVAL);
	assert_non_null(strstr(why, "scanner.backend"));
	cfg_for(&cfg, "tty", "");
	assert_int_equal(scanner_open(&cfg, on_line, NULL, why, sizeof why), SW_EINVAL);
	assert_non_null(strstr(why, "scanner.device"));
	cfg_for(&cfg, "tty", "/dev/ttyACM0");
	cfg.baud = 1234;
	assert_int_equal(scanner_open(&cfg, on_line, NULL, why, sizeof why), SW_EINVAL);
	assert_non_null(strstr(why, "1234"));
	cfg.baud = 9600;
	cfg.dedup_ms = -1;
	assert_int_equal(scanner_open(&cfg, on_line, NULL, why, sizeof why), SW_EINVAL);
	assert_non_null(strstr(why, "scanner.dedup_ms"));
	/* nothing was started */
	scanner_close();
	loop_free();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_line_endings_and_split_writes),
		cmocka_unit_test(test_overlong_line),
		cmocka_unit_test(test_garbage_bytes),
		cmocka_unit_test(test_repeats_within_and_after_window),
		cmocka_unit_test(test_rate_limit),
		cmocka_unit_test(test_device_gone_and_back),
		cmocka_unit_test(test_serialport_errors),
		cmocka_unit_test(test_bad_config),
	};

	log_init(LOG_DEBUG);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
