/* The event loop: timers fire in deadline order, cancel and re-arm work,
 * fd callbacks see their events, and a callback may remove any fd. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <unistd.h>

#include <cmocka.h>

#include "daemon/loop.h"

static int order[16];
static int norder;

static void record(void *arg)
{
	order[norder++] = (int)(intptr_t)arg;
}

static void stop_cb(void *arg)
{
	(void)arg;
	loop_stop();
}

static void test_timer_order(void **state)
{
	struct loop_timer t[5], stop;
	static const int delays[5] = { 30, 10, 20, 0, 25 };

	(void)state;
	norder = 0;
	for (int i = 0; i < 5; i++) {
		loop_timer_init(&t[i], record, (void *)(intptr_t)i);
		loop_timer_arm(&t[i], delays[i]);
	}
	loop_timer_cancel(&t[4]);
	assert_false(loop_timer_armed(&t[4]));
	loop_timer_arm(&t[2], 5); /* re-arm moves it earlier */
	loop_timer_init(&stop, stop_cb, NULL);
	loop_timer_arm(&stop, 40);
	int64_t start = loop_now();
	assert_int_equal(loop_run(), 0);
	assert_true(loop_now() - start >= 30);
	assert_int_equal(norder, 4);
	assert_int_equal(order[0], 3);
	assert_int_equal(order[1], 2);
	assert_int_equal(order[2], 1);
	assert_int_equal(order[3], 0);
	loop_free();
}

static int fds[2][2];
static int reads;

static void on_read(int fd, short revents, void *arg)
{
	char c;

	(void)arg;
	assert_true(revents & POLLIN);
	assert_int_equal(read(fd, &c, 1), 1);
	reads++;
	/* remove both fds from inside a callback, the other one included */
	loop_del_fd(fds[0][0]);
	loop_del_fd(fds[1][0]);
	loop_stop();
}

static void test_fd_and_delete_in_callback(void **state)
{
	(void)state;
	assert_int_equal(pipe(fds[0]), 0);
	assert_int_equal(pipe(fds[1]), 0);
	assert_int_equal(loop_add_fd(fds[0][0], POLLIN, on_read, NULL), 0);
	assert_int_equal(loop_add_fd(fds[1][0], POLLIN, on_read, NULL), 0);
	assert_int_equal(loop_add_fd(fds[1][0], POLLIN, on_read, NULL), -1);
	assert_int_equal(write(fds[0][1], "x", 1), 1);
	assert_int_equal(write(fds[1][1], "y", 1), 1);
	reads = 0;
	assert_int_equal(loop_run(), 0);
	assert_int_equal(reads, 1); /* the second fd was removed before its turn */
	/* both may be added again: they really are gone */
	assert_int_equal(loop_add_fd(fds[0][0], POLLIN, on_read, NULL), 0);
	loop_del_fd(fds[0][0]);
	for (int i = 0; i < 2; i++) {
		close(fds[i][0]);
		close(fds[i][1]);
	}
	loop_free();
}

static struct loop_timer many[200];

static void test_many_timers(void **state)
{
	struct loop_timer stop;

	(void)state;
	norder = 0;
	for (int i = 0; i < 200; i++) {
		loop_timer_init(&many[i], stop_cb, NULL);
		loop_timer_arm(&many[i], 1000 + i);
	}
	for (int i = 0; i < 200; i += 2)
		loop_timer_cancel(&many[i]);
	for (int i = 1; i < 200; i += 2)
		assert_true(loop_timer_armed(&many[i]));
	for (int i = 1; i < 200; i += 2)
		loop_timer_cancel(&many[i]);
	loop_timer_init(&stop, stop_cb, NULL);
	loop_timer_arm(&stop, 1);
	assert_int_equal(loop_run(), 0);
	loop_free();
}

static bool never(void *arg)
{
	(void)arg;
	return false;
}

/* On the simulated clock a round with no fd ready jumps to the next timer:
 * a day of timers runs without waiting, in deadline order, and the wall
 * clock moves with it. */
static void test_simulated_clock(void **state)
{
	struct loop_timer t[3];
	static const int64_t delays[3] = { 86399000, 1000, 3600000 };

	(void)state;
	loop_set_clock(true);
	norder = 0;
	int64_t start = loop_now(), wall = loop_wall_ms();
	for (int i = 0; i < 3; i++) {
		loop_timer_init(&t[i], record, (void *)(intptr_t)i);
		loop_timer_arm(&t[i], delays[i]);
	}
	assert_false(loop_run_until(never, NULL, 86400000));
	assert_int_equal(loop_now() - start, 86400000);
	assert_int_equal(loop_wall_ms() - wall, 86400000);
	assert_int_equal(norder, 3);
	assert_int_equal(order[0], 1);
	assert_int_equal(order[1], 2);
	assert_int_equal(order[2], 0);
	loop_set_clock(false);
	loop_free();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_simulated_clock),
		cmocka_unit_test(test_timer_order),
		cmocka_unit_test(test_fd_and_delete_in_callback),
		cmocka_unit_test(test_many_timers),
	};
	return cmocka_run_group_tests_name("loop", tests, NULL, NULL);
}
