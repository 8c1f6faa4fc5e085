/* The one event loop of swapd: poll() over every registered fd, with the
 * timeout set to the nearest timer deadline (a binary heap on
 * CLOCK_MONOTONIC). Callbacks run one at a time in the loop's thread and must
 * not block beyond the I/O timeouts the config bounds. There is one loop per
 * process, so the functions keep module state, as chrony's scheduler does. */
#ifndef SWAPD_LOOP_H
#define SWAPD_LOOP_H

#include <poll.h> /* POLLIN, POLLOUT for loop_add_fd */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef void (*loop_fd_fn)(int fd, short revents, void *arg);
typedef void (*loop_timer_fn)(void *arg);

/* A timer lives in its owner's struct (no allocation); the fields are the
 * loop's, set them only through loop_timer_*. */
struct loop_timer {
	int64_t due;      /* monotonic ms */
	size_t slot;      /* heap index + 1, 0 when not armed */
	loop_timer_fn fn;
	void *arg;
};

/* Monotonic milliseconds; only differences mean anything. */
int64_t loop_now(void);

/* Wall-clock Unix milliseconds, for times that are shown or stored (when a
 * value was read); it moves with loop_now() under the simulated clock. */
int64_t loop_wall_ms(void);

/* Whether the system clock is synchronised (adjtimex: neither TIME_ERROR
 * nor STA_UNSYNC), so that wall times can be trusted; under the simulated
 * clock, what loop_set_wall_synced() said (true until then). */
bool loop_wall_synced(void);

/* For tests under the simulated clock: what loop_wall_synced() answers. */
void loop_set_wall_synced(bool synced);

/* For tests: true puts the loop on a simulated clock, from the current
 * time on. loop_now() and loop_wall_ms() then stand still while callbacks
 * run, and a round that finds no fd ready jumps to the next timer (or to
 * the end of loop_run_until's timeout) instead of waiting, so an hour of
 * timers runs in milliseconds. Only for fds that in-process code makes
 * ready (the simulated rack bus, a test's pipe): a thread or a peer doing
 * real work would be overtaken by the jumps. false goes back to the real
 * clocks. */
void loop_set_clock(bool simulated);

/* Watches fd for `events` (POLLIN, POLLOUT); fn runs with the revents,
 * which include POLLHUP/POLLERR. Returns 0, or -1 if fd is already watched
 * or memory ran out. */
int loop_add_fd(int fd, short events, loop_fd_fn fn, void *arg);

/* Changes the events watched on fd. */
void loop_set_events(int fd, short events);

/* Stops watching fd (safe from inside any callback, also fd's own). It does
 * not close fd. */
void loop_del_fd(int fd);

/* Prepares a timer; call once before arming it. */
void loop_timer_init(struct loop_timer *t, loop_timer_fn fn, void *arg);

/* Arms (or re-arms) the timer to fire once, delay_ms from now. */
void loop_timer_arm(struct loop_timer *t, int64_t delay_ms);

/* Disarms the timer if it is armed. */
void loop_timer_cancel(struct loop_timer *t);

/* Whether the timer is waiting to fire. */
bool loop_timer_armed(const struct loop_timer *t);

/* Runs until loop_stop(). Returns 0, or -1 when poll() itself fails. */
int loop_run(void);

/* Makes loop_run() return after the current callback. */
void loop_stop(void);

/* Runs the loop until done(arg) is true (checked before each round), at
 * most timeout_ms, or until loop_stop(); returns whether done. For the
 * last steps of a clean stop, after loop_run returned, and for tests. */
bool loop_run_until(bool (*done)(void *arg), void *arg, int64_t timeout_ms);

/* Frees the loop's tables (all fds must have been removed). */
void loop_free(void);

#endif
