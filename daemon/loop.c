#include "daemon/loop.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timex.h>
#include <time.h>

#include "daemon/log.h"

struct watch {
	loop_fd_fn fn;
	void *arg;
	bool dead; /* removed during dispatch; compacted afterwards */
};

static struct pollfd *pfds;
static struct watch *watches;
static size_t nfds, capfds;
static bool dispatching, any_dead;

static struct loop_timer **heap;
static size_t nheap, capheap;

static bool stopping;

/* The simulated clock (loop_set_clock): sim_now is loop_now(), and the wall
 * clock moves with it from sim_wall0. */
static bool simulated;
static int64_t sim_now, sim_wall0;
static bool sim_synced = true;

static int64_t clock_ms(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t loop_now(void)
{
	return simulated ? sim_now : clock_ms(CLOCK_MONOTONIC);
}

int64_t loop_wall_ms(void)
{
	return simulated ? sim_wall0 + sim_now : clock_ms(CLOCK_REALTIME);
}

bool loop_wall_synced(void)
{
	struct timex tx = { .modes = 0 };

	if (simulated)
		return sim_synced;
	/* What timedatectl calls "System clock synchronized": the kernel's
	 * TIME_ERROR state, which STA_UNSYNC (set until NTP disciplines the
	 * clock) also gives. */
	int state = adjtimex(&tx);
	return state != TIME_ERROR && state >= 0 && !(tx.status & STA_UNSYNC);
}

void loop_set_wall_synced(bool synced)
{
	sim_synced = synced;
}

void loop_set_clock(bool sim)
{
	/* Both clocks go on from where they are, so armed timers keep
	 * their delays and read times stay plausible. */
	if (sim && !simulated) {
		sim_wall0 = clock_ms(CLOCK_REALTIME) - clock_ms(CLOCK_MONOTONIC);
		sim_now = clock_ms(CLOCK_MONOTONIC);
	}
	simulated = sim;
}

static ssize_t find_fd(int fd)
{
	for (size_t i = 0; i < nfds; i++)
		if (pfds[i].fd == fd && !watches[i].dead)
			return (ssize_t)i;
	return -1;
}

int loop_add_fd(int fd, short events, loop_fd_fn fn, void *arg)
{
	if (fd < 0 || find_fd(fd) >= 0)
		return -1;
	if (nfds == capfds) {
		size_t cap = capfds ? capfds * 2 : 16;
		struct pollfd *p = realloc(pfds, cap * sizeof *p);
		if (!p)
			return -1;
		pfds = p;
		struct watch *w = realloc(watches, cap * sizeof *w);
		if (!w)
			return -1;
		watches = w;
		capfds = cap;
	}
	pfds[nfds] = (struct pollfd){ .fd = fd, .events = events };
	watches[nfds] = (struct watch){ .fn = fn, .arg = arg };
	nfds++;
	return 0;
}

void loop_set_events(int fd, short events)
{
	ssize_t i = find_fd(fd);

	if (i >= 0)
		pfds[i].events = events;
}

static void compact(void)
{
	size_t j = 0;

	for (size_t i = 0; i < nfds; i++) {
		if (watches[i].dead)
			continue;
		pfds[j] = pfds[i];
		watches[j] = watches[i];
		j++;
	}
	nfds = j;
	any_dead = false;
}

void loop_del_fd(int fd)
{
	ssize_t i = find_fd(fd);

	if (i < 0)
		return;
	/* While dispatching, the arrays are being walked: mark and compact
	 * later, so a callback may remove any fd, its own included. */
	watches[i].dead = true;
	pfds[i].fd = -1;
	any_dead = true;
	if (!dispatching)
		compact();
}

/* Binary min-heap on due time; t->slot is the 1-based index so that cancel
 * and re-arm are O(log n) without searching. */
static void heap_swap(size_t a, size_t b)
{
	struct loop_timer *t = heap[a];

	heap[a] = heap[b];
	heap[b] = t;
	heap[a]->slot = a + 1;
	heap[b]->slot = b + 1;
}

static void sift_up(size_t i)
{
	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (heap[parent]->due <= heap[i]->due)
			break;
		heap_swap(parent, i);
		i = parent;
	}
}

static void sift_down(size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < nheap && heap[l]->due < heap[m]->due)
			m = l;
		if (r < nheap && heap[r]->due < heap[m]->due)
			m = r;
		if (m == i)
			return;
		heap_swap(i, m);
		i = m;
	}
}

void loop_timer_init(struct loop_timer *t, loop_timer_fn fn, void *arg)
{
	*t = (struct loop_timer){ .fn = fn, .arg = arg };
}

bool loop_timer_armed(const struct loop_timer *t)
{
	return t->slot != 0;
}

void loop_timer_cancel(struct loop_timer *t)
{
	if (!t->slot)
		return;
	size_t i = t->slot - 1;
	t->slot = 0;
	nheap--;
	if (i == nheap)
		return;
	heap[i] = heap[nheap];
	heap[i]->slot = i + 1;
	sift_up(i);
	sift_down(heap[i]->slot - 1);
}

void loop_timer_arm(struct loop_timer *t, int64_t delay_ms)
{
	loop_timer_cancel(t);
	if (nheap == capheap) {
		size_t cap = capheap ? capheap * 2 : 16;
		struct loop_timer **h = realloc(heap, cap * sizeof *h);
		if (!h) {
			/* A timer that cannot be armed would silently stop a
			 * watchdog or a retry: that is not recoverable. */
			log_msg(LOG_CRIT, "loop: out of memory arming a timer");
			abort();
		}
		heap = h;
		capheap = cap;
	}
	t->due = loop_now() + (delay_ms > 0 ? delay_ms : 0);
	heap[nheap] = t;
	t->slot = ++nheap;
	sift_up(nheap - 1);
}

static void run_timers(void)
{
	int64_t now = loop_now();

	/* Timers armed by a callback for "now" run in the next round, after
	 * the fds had a chance: a busy timer cannot starve the sockets. */
	size_t budget = nheap;
	while (budget-- > 0 && nheap > 0 && heap[0]->due <= now && !stopping) {
		struct loop_timer *t = heap[0];
		loop_timer_cancel(t);
		t->fn(t->arg);
	}
}

static int next_timeout(void)
{
	if (nheap == 0)
		return -1;
	int64_t left = heap[0]->due - loop_now();
	if (left <= 0)
		return 0;
	return left > 60000 ? 60000 : (int)left;
}

/* One round: timers that are due, then a poll() of at most max_wait ms
 * (-1: until the next timer) and the callbacks of the ready fds. */
static int loop_once(int max_wait)
{
	run_timers();
	if (stopping)
		return 0;
	int wait = next_timeout();
	if (max_wait >= 0 && (wait < 0 || wait > max_wait))
		wait = max_wait;
	/* Simulated time does not pass while poll() waits: look, and when
	 * nothing is ready, jump to where the wait would have ended. */
	int n = poll(pfds, nfds, simulated && wait > 0 ? 0 : wait);
	if (n < 0) {
		if (errno == EINTR)
			return 0;
		log_msg(LOG_CRIT, "loop: poll: %s", strerror(errno));
		return -1;
	}
	if (n == 0 && simulated && wait > 0)
		sim_now += wait;
	if (n == 0)
		return 0;
	dispatching = true;
	size_t count = nfds; /* fds added now wait for the next round */
	for (size_t i = 0; i < count && !stopping; i++) {
		short re = pfds[i].revents;
		if (!re || watches[i].dead)
			continue;
		pfds[i].revents = 0;
		watches[i].fn(pfds[i].fd, re, watches[i].arg);
	}
	dispatching = false;
	if (any_dead)
		compact();
	return 0;
}

int loop_run(void)
{
	stopping = false;
	while (!stopping)
		if (loop_once(-1) < 0)
			return -1;
	return 0;
}

bool loop_run_until(bool (*done)(void *arg), void *arg, int64_t timeout_ms)
{
	int64_t end = loop_now() + timeout_ms;

	stopping = false;
	while (!done(arg)) {
		int64_t left = end - loop_now();
		if (left <= 0 || stopping || loop_once((int)left) < 0)
			return false;
	}
	return true;
}

void loop_stop(void)
{
	stopping = true;
}

void loop_free(void)
{
	free(pfds);
	free(watches);
	free(heap);
	pfds = NULL;
	watches = NULL;
	heap = NULL;
	nfds = capfds = nheap = capheap = 0;
}
