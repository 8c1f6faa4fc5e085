/* A controller's lock command counts when the bolt follows it (slots.h,
 * slots_set_lock): the command register reading back proves only that the
 * controller took the order, and a stuck bolt takes orders too. So each
 * lock command is watched until a presence/door/lock read that began
 * after the command read back shows the bolt where it was sent, or fails
 * after the firmware's own LOCK_STUCK time (firmware/REGISTERS.md: 2 s)
 * and two poll cycles more. A newer command on the same door supersedes
 * the older one, whose caller hears SW_ECANCELED: only the latest
 * decision about a door is followed. */
#include "daemon/slots_priv.h"

#include "daemon/loop.h"

/* The firmware's LOCK_STUCK time: a bolt that has not followed by then
 * will not. */
#define LOCK_FOLLOW_MS 2000
/* Lock commands in flight at once: every door of a full rack, twice. */
#define WATCH_MAX (2 * RACK_MAX_SLOTS)

struct watch {
	bool used, written, want;
	bool write_pending;    /* the rack still owes its answer to the write:
				* the watch is not reused before it comes */
	bool fired;            /* the caller was told */
	int i;
	enum sw_err result;    /* decided, to be told from the timer */
	bool decided;
	int64_t written_at;    /* loop_now() when the command read back */
	int64_t deadline;
	rack_done_fn done;
	void *arg;
};

static struct watch watches[WATCH_MAX];
static struct loop_timer timer;
static bool timer_ready;

static void rearm(void)
{
	int64_t next = 0;

	for (int k = 0; k < WATCH_MAX; k++) {
		const struct watch *w = &watches[k];
		int64_t at = w->fired ? 0 : w->decided ? loop_now() : w->written ? w->deadline : 0;
		if (w->used && at && (!next || at < next))
			next = at;
	}
	if (next)
		loop_timer_arm(&timer, next > loop_now() ? next - loop_now() : 0);
	else
		loop_timer_cancel(&timer);
}

/* Decides w's outcome; its caller hears it from the loop's timer, never
 * from inside a rack or event callback that may be the caller's own. */
static void decide(struct watch *w, enum sw_err e)
{
	if (w->decided)
		return;
	w->decided = true;
	w->result = e;
	rearm();
}

static void on_timer(void *arg)
{
	int64_t now = loop_now();

	(void)arg;
	for (int k = 0; k < WATCH_MAX; k++) {
		struct watch *w = &watches[k];
		if (w->used && w->written && !w->decided && now >= w->deadline)
			decide(w, SW_ETIMEDOUT);
	}
	for (int k = 0; k < WATCH_MAX; k++) {
		struct watch *w = &watches[k];
		if (!w->used || !w->decided || w->fired)
			continue;
		w->fired = true;
		rack_done_fn done = w->done;
		void *done_arg = w->arg;
		enum sw_err e = w->result;
		if (!w->write_pending)
			*w = (struct watch){ 0 };
		if (done)
			done(e, done_arg);
	}
	rearm();
}

/* The bolt as the latest whole reading shows it, if that reading began
 * after the command read back. */
static void check(struct watch *w)
{
	const struct rack_reading *r = rack_reading(w->i);

	if (w->used && w->written && !w->decided && r->online && r->fast_at > w->written_at &&
	    r->locked == w->want)
		decide(w, SW_OK);
}

static void written(enum sw_err e, void *arg)
{
	struct watch *w = arg;

	if (!w->used)
		return; /* dropped by slots_lock_stop() */
	w->write_pending = false;
	if (w->fired) {
		*w = (struct watch){ 0 };
		return;
	}
	if (w->decided)
		return;
	if (e != SW_OK || !rack_reading(w->i)->have[RF_LOCK]) {
		decide(w, e); /* no bolt sensor: the command register is all there is */
		return;
	}
	w->written = true;
	w->written_at = loop_now();
	w->deadline = w->written_at + LOCK_FOLLOW_MS + 2 * (int64_t)slots_rc.poll_interval_ms;
	rearm();
}

enum sw_err slots_lock_controller(int i, bool lock, rack_done_fn done, void *arg)
{
	struct watch *w = NULL;

	if (!timer_ready) {
		loop_timer_init(&timer, on_timer, NULL);
		timer_ready = true;
	}
	for (int k = 0; k < WATCH_MAX && !w; k++)
		if (!watches[k].used)
			w = &watches[k];
	if (!w)
		return SW_EBUSY;
	*w = (struct watch){ .used = true, .want = lock, .i = i, .done = done, .arg = arg,
			     .write_pending = true };
	enum sw_err e = rack_write(i, RF_LOCK_CMD, lock, written, w);
	if (e != SW_OK) {
		*w = (struct watch){ 0 };
		return e;
	}
	for (int k = 0; k < WATCH_MAX; k++)
		if (&watches[k] != w && watches[k].used && watches[k].i == i)
			decide(&watches[k], SW_ECANCELED);
	return SW_OK;
}

void slots_lock_reading(int i)
{
	for (int k = 0; k < WATCH_MAX; k++)
		if (watches[k].i == i && !watches[k].fired)
			check(&watches[k]);
}

void slots_lock_stop(void)
{
	for (int k = 0; k < WATCH_MAX; k++) {
		struct watch w = watches[k];
		watches[k] = (struct watch){ 0 };
		if (w.used && !w.fired && w.done)
			w.done(SW_ECANCELED, w.arg);
	}
	if (timer_ready)
		loop_timer_cancel(&timer);
}
