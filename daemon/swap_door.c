/* The swap's door commands: each through slots_set_lock(), whose answer
 * comes when the bolt read back. An unlock is tried once (a door that does
 * not open aborts the swap); a lock is retried until it reads back, for
 * swap.unlock_timeout_s, because a door must not be left unlocked for want
 * of a second try; and for as long as the slot is offline, since a silent
 * controller's bolt is unknown, not stuck (FAULTS.md: slot_offline, not
 * lock_stuck). A newer command on a door makes the older one's answer
 * stale: only the latest decision about a door is acted on. */
#include <stdlib.h>

#include "daemon/log.h"
#include "daemon/slots.h"
#include "daemon/swap_priv.h"

/* A failed lock is tried again after this, as long as its time lasts. */
#define LOCK_RETRY_MS 500

struct door {
	unsigned gen;          /* the latest command's; older answers are stale */
	bool locking;          /* a lock is owed until it reads back */
	bool unlock_failed;    /* an unlock that could not be queued: say so from the loop */
	bool silent;           /* its time ran out with the slot offline: kept
				* trying until it answers */
	bool warned;           /* this lock's failure was logged: the retries
				* are not, until it succeeds or gives up */
	int64_t deadline;      /* loop_now() ms: when a lock that did not read back failed */
	int64_t swap;          /* the swap that asked */
	struct loop_timer timer;
};

static struct door doors[RACK_MAX_SLOTS];

struct cmd {
	int slot;
	unsigned gen;
	bool lock;
};

static int slot_of(const struct door *d)
{
	return (int)(d - doors);
}

/* The answer goes to the swap whose stage acts on the slot; the table
 * decides whether it means anything there. */
static void deliver(int i, enum swap_ev ev)
{
	struct swap *s = swap_at_slot(i);

	if (s && s->rec.id == doors[i].swap)
		swap_feed(s, ev, 0);
}

/* The lock is done, well or not. A swap that ended meanwhile left the slot
 * held for it: released now, out of service if the door did not lock. */
static void lock_over(int i, bool ok)
{
	struct door *d = &doors[i];

	d->locking = false;
	loop_timer_cancel(&d->timer);
	if (swap_find(d->swap)) {
		deliver(i, ok ? SE_LOCKED : SE_LOCK_FAILED);
		return;
	}
	if (!ok)
		swap_door_failed(i, d->swap);
	swap_unhold(i, d->swap);
}

static void done(enum sw_err e, void *arg)
{
	struct cmd *c = arg;
	int i = c->slot;
	bool lock = c->lock, stale = !swap_m.running || c->gen != doors[i].gen;

	free(c);
	if (stale)
		return;
	if (!lock) {
		if (e != SW_OK)
			log_msg(LOG_WARNING, "swap %lld: slot %d did not unlock: %s",
				(long long)doors[i].swap, slots_number(i), sw_strerror(e));
		deliver(i, e == SW_OK ? SE_UNLOCKED : SE_UNLOCK_FAILED);
		return;
	}
	if (e == SW_OK) {
		lock_over(i, true);
		return;
	}
	int64_t left = doors[i].deadline - loop_now();
	if (!doors[i].warned)
		log_msg(LOG_WARNING, "swap %lld: slot %d did not lock (%s); trying again for %lld s",
			(long long)doors[i].swap, slots_number(i), sw_strerror(e),
			(long long)(left > 0 ? left / 1000 : 0));
	doors[i].warned = true;
	loop_timer_arm(&doors[i].timer, left < LOCK_RETRY_MS ? (left > 0 ? left : 0) : LOCK_RETRY_MS);
}

static void issue(int i, bool lock)
{
	struct door *d = &doors[i];
	struct cmd *c = malloc(sizeof *c);
	enum sw_err e = SW_ENOMEM;

	if (c) {
		*c = (struct cmd){ i, d->gen, lock };
		e = slots_set_lock(i, lock, done, c);
	}
	if (e != SW_OK) {
		free(c);
		log_msg(LOG_WARNING, "swap %lld: cannot %s slot %d: %s", (long long)d->swap,
			lock ? "lock" : "unlock", slots_number(i), sw_strerror(e));
		d->unlock_failed = !lock;
		loop_timer_arm(&d->timer, lock ? LOCK_RETRY_MS : 0);
		return;
	}
	/* An answer that never comes (a slot gone quiet) ends at the
	 * deadline all the same. */
	if (lock)
		loop_timer_arm(&d->timer, d->deadline - loop_now());
}

/* A retry is due, a lock's time ran out, or an unlock could not be queued. */
static void on_timer(void *arg)
{
	struct door *d = arg;
	int i = slot_of(d);

	if (d->unlock_failed) {
		d->unlock_failed = false;
		deliver(i, SE_UNLOCK_FAILED);
	} else if (d->locking && loop_now() >= d->deadline && !rack_reading(i)->online) {
		/* A silent controller's bolt is unknown, not stuck (slot_offline
		 * says what is wrong): the slot stays held and the lock owed
		 * until it answers, rather than out of service for a person. */
		if (!d->silent)
			log_msg(LOG_WARNING, "swap %lld: slot %d is offline with its lock not read back; "
				"locking it once it answers", (long long)d->swap, slots_number(i));
		d->silent = true;
		d->deadline = loop_now() + (int64_t)swap_m.cfg.unlock_timeout_s * 1000;
		issue(i, true);
	} else if (d->locking && loop_now() >= d->deadline) {
		log_msg(LOG_ERR, "swap %lld: slot %d's door did not lock within %d s",
			(long long)d->swap, slots_number(i), swap_m.cfg.unlock_timeout_s);
		lock_over(i, false);
	} else if (d->locking) {
		issue(i, true);
	}
}

void swap_door_unlock(int i, int64_t swap)
{
	struct door *d = &doors[i];

	d->gen++;
	d->swap = swap;
	d->locking = false;
	d->unlock_failed = false;
	d->silent = false;
	loop_timer_cancel(&d->timer);
	issue(i, false);
}

void swap_door_lock(int i, int64_t swap)
{
	struct door *d = &doors[i];

	d->gen++;
	d->swap = swap;
	d->unlock_failed = false;
	if (!d->locking) {
		d->silent = false;
		d->warned = false;
		d->deadline = loop_now() + (int64_t)swap_m.cfg.unlock_timeout_s * 1000;
	}
	d->locking = true;
	issue(i, true);
}

bool swap_door_locking(int i)
{
	return doors[i].locking;
}

void swap_door_start(void)
{
	for (int i = 0; i < RACK_MAX_SLOTS; i++) {
		doors[i] = (struct door){ .gen = doors[i].gen + 1 };
		loop_timer_init(&doors[i].timer, on_timer, &doors[i]);
	}
}

/* Commands still with the rack are answered by it (slots_stop cancels
 * them); running is false by then, so their answers are dropped. */
void swap_door_stop(void)
{
	for (int i = 0; i < RACK_MAX_SLOTS; i++) {
		doors[i].gen++;
		doors[i].locking = false;
		loop_timer_cancel(&doors[i].timer);
	}
}
