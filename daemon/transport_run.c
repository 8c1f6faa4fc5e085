/* A started transport job: its slots held and unlocked, every battery
 * that leaves or arrives recorded as it happens, each door locked again
 * when it closes, and the job's end (transport.completed) once every door
 * is locked again, or at its timeout with every door locked. At the end
 * the slots' readings are the truth: what they hold then, compared with
 * what they held at the start, fills in any move the events did not
 * record, which is also how a job a restart interrupted ends. */
#include "daemon/transport_priv.h"

#include <stdio.h>
#include <string.h>

#include "daemon/event.h"
#include "daemon/log.h"
#include "daemon/loop.h"
#include "daemon/slots.h"
#include "daemon/store_transport.h"
#include "drivers/rack.h"

#define OWNER "transport" /* slots_hold's owner */
/* After a restart, how long a job waits for its slots to read back before
 * it ends with what they told by then. */
#define RECOVER_WAIT_MS 30000
/* A job's end that could not be recorded is tried again this often. */
#define RETRY_MS 5000

enum phase { PH_UNLOCKING, PH_UNLOCKED, PH_LOCKING, PH_LOCKED };

/* OPEN: the transporter is at work; CLOSING: timeout or emergency stop,
 * every door being locked; RECOVERING: after a restart, waiting for the
 * slots' readings; FINISHING: the end could not be recorded yet. */
enum mode { RUN_OPEN, RUN_CLOSING, RUN_RECOVERING, RUN_FINISHING };

struct run;

struct tslot {
	struct run *run;
	int i;
	bool pickup;
	uint64_t before;      /* its battery when the job started (0: empty) */
	enum phase phase;
	bool opened;          /* its door was opened during the job */
	bool open;            /* and is open now, as its events tell */
	bool pending;         /* a lock command is out; its answer is awaited */
	bool want_lock;       /* lock once that answer is in */
	bool lock_failed;     /* it did not lock when the job ended */
};

struct run {
	bool used;
	enum mode mode;
	int64_t id;
	char job[33];
	const char *why;      /* how it ends: "closed", "timeout", "estop", "restart" */
	int n;
	struct tslot s[RACK_MAX_SLOTS];
	struct loop_timer timer;
};

static struct run runs[TRANSPORT_RUNS_MAX];

static void lock_done(enum sw_err e, void *arg);
static void settle(struct tslot *ts, enum sw_err e);

/* Sends a lock (or unlock) to ts's door; one command at a time per slot. */
static void send(struct tslot *ts, bool lock)
{
	if (ts->pending) {
		ts->want_lock = ts->want_lock || lock;
		return;
	}
	ts->phase = lock ? PH_LOCKING : PH_UNLOCKING;
	enum sw_err e = slots_set_lock(ts->i, lock, lock_done, ts);
	if (e == SW_OK)
		ts->pending = true;
	else
		settle(ts, e);
}

/* What a lock command's outcome means for the slot. */
static void settle(struct tslot *ts, enum sw_err e)
{
	bool locking = ts->phase == PH_LOCKING;

	if (e != SW_OK)
		log_msg(LOG_WARNING, "transport %s: slot %d did not %s: %s", ts->run->job,
			slots_number(ts->i), locking ? "lock" : "unlock", sw_strerror(e));
	if (!locking) {
		ts->phase = PH_UNLOCKED;
		/* a door that may have moved is locked again, not left */
		ts->want_lock = ts->want_lock || e != SW_OK;
	} else if (e == SW_OK) {
		ts->phase = PH_LOCKED;
	} else if (ts->run->mode == RUN_OPEN) {
		ts->phase = PH_UNLOCKED; /* tried again when it closes again, or at the end */
	} else {
		ts->phase = PH_LOCKED;
		ts->lock_failed = true;
	}
	bool again = ts->want_lock && ts->phase != PH_LOCKED;
	ts->want_lock = false;
	if (again)
		send(ts, true);
}

/* A door is settled when its battery (if any) is known or cannot be. */
static bool settled(int i)
{
	const struct rack_reading *r = rack_reading(i);

	return !r->online || !r->present || !r->health_pending;
}

static void finish(struct run *run)
{
	struct transport_slot s[RACK_MAX_SLOTS];

	for (int k = 0; k < run->n; k++)
		s[k] = (struct transport_slot){ .i = run->s[k].i, .pickup = run->s[k].pickup,
						.battery = run->s[k].before,
						.lock_failed = run->s[k].lock_failed };
	enum sw_err e = transport_record_end(run->id, run->job, run->why, s, run->n);
	if (e != SW_OK) {
		log_msg(LOG_ERR, "transport %s: its end is not recorded (%s); trying again in %d s",
			run->job, sw_strerror(e), RETRY_MS / 1000);
		run->mode = RUN_FINISHING;
		loop_timer_arm(&run->timer, RETRY_MS);
		return;
	}
	log_msg(LOG_NOTICE, "transport %s: completed (%s)", run->job, run->why);
	for (int k = 0; k < run->n; k++)
		slots_unhold(run->s[k].i);
	loop_timer_cancel(&run->timer);
	run->used = false;
	struct event ev = { .type = EV_TRANSPORT_DONE, .slot = -1, .what = run->job, .ref = run->id };
	event_publish(&ev);
}

/* The job ends once every door is locked again and what is behind it is
 * known. A door unlocked and never opened keeps it running to its
 * timeout: the transporter may still come for it. */
static void check_done(struct run *run)
{
	if (run->mode != RUN_OPEN && run->mode != RUN_CLOSING)
		return;
	for (int k = 0; k < run->n; k++) {
		const struct tslot *ts = &run->s[k];
		if (ts->pending || ts->phase != PH_LOCKED || !settled(ts->i))
			return;
	}
	finish(run);
}

static void lock_done(enum sw_err e, void *arg)
{
	struct tslot *ts = arg;

	/* a job forgotten since (swapd stopping) owes this answer nothing */
	if (!ts->pending || !ts->run->used)
		return;
	ts->pending = false;
	settle(ts, e);
	check_done(ts->run);
}

/* Locks every door of the job, and ends it once they are. */
static void close_run(struct run *run, const char *why)
{
	log_msg(LOG_NOTICE, "transport %s: %s: locking its doors", run->job, why);
	run->mode = RUN_CLOSING;
	run->why = why;
	loop_timer_cancel(&run->timer);
	for (int k = 0; k < run->n; k++) {
		struct tslot *ts = &run->s[k];
		if (ts->phase != PH_LOCKED)
			send(ts, true);
		if (ts->open)
			log_msg(LOG_WARNING, "transport %s: slot %d's door was left open", run->job,
				slots_number(ts->i));
	}
	check_done(run);
}

/* Recovering: whether every slot read back. */
static bool all_read(const struct run *run)
{
	uint64_t b;

	for (int k = 0; k < run->n; k++)
		if (!transport_slot_holds(run->s[k].i, &b))
			return false;
	return true;
}

static void on_timer(void *arg)
{
	struct run *run = arg;

	switch (run->mode) {
	case RUN_OPEN:
		close_run(run, "timeout");
		break;
	case RUN_RECOVERING:
		log_msg(LOG_WARNING, "transport %s: not every slot read back after the restart", run->job);
		finish(run);
		break;
	case RUN_FINISHING:
		finish(run);
		break;
	case RUN_CLOSING:
		break;
	}
}

/* The job slot behind a slot event, if slot index i is one. */
static struct tslot *job_slot(int i)
{
	int64_t ref;
	const char *owner = slots_holder(i, &ref);

	if (!owner || strcmp(owner, OWNER) != 0)
		return NULL;
	for (int r = 0; r < TRANSPORT_RUNS_MAX; r++)
		for (int k = 0; runs[r].used && runs[r].id == ref && k < runs[r].n; k++)
			if (runs[r].s[k].i == i)
				return &runs[r].s[k];
	return NULL;
}

static void on_slot_event(const struct event *ev, void *arg)
{
	struct tslot *ts = ev->slot >= 0 ? job_slot(ev->slot) : NULL;

	(void)arg;
	if (!ts)
		return;
	struct run *run = ts->run;
	bool live = run->mode != RUN_RECOVERING;
	switch (ev->type) {
	case EV_DOOR_OPENED:
		ts->opened = ts->open = true;
		break;
	case EV_DOOR_CLOSED:
		ts->open = false;
		break;
	case EV_BATTERY_REMOVED:
	case EV_BATTERY_INSERTED:
		/* its door opened, if between two readings */
		ts->opened = true;
		if (live)
			transport_moved(run->id, run->job, ts->i, ev->battery,
					ev->type == EV_BATTERY_INSERTED);
		break;
	default:
		break;
	}
	if (run->mode == RUN_OPEN && ts->opened && !ts->open && ts->phase == PH_UNLOCKED)
		send(ts, true);
	if (live)
		check_done(run);
	else if (all_read(run))
		finish(run);
}

/* The emergency stop: every running job's doors are locked, and it ends. */
static void on_estop(const struct event *ev, void *arg)
{
	(void)ev;
	(void)arg;
	for (int r = 0; r < TRANSPORT_RUNS_MAX; r++)
		if (runs[r].used && runs[r].mode == RUN_OPEN)
			close_run(&runs[r], "estop");
}

static struct run *new_run(int64_t id, const char *job, enum mode mode)
{
	for (int r = 0; r < TRANSPORT_RUNS_MAX; r++) {
		struct run *run = &runs[r];
		if (run->used)
			continue;
		memset(run, 0, sizeof *run);
		run->used = true;
		run->mode = mode;
		run->id = id;
		run->why = mode == RUN_RECOVERING ? "restart" : "closed";
		snprintf(run->job, sizeof run->job, "%s", job);
		loop_timer_init(&run->timer, on_timer, run);
		return run;
	}
	return NULL;
}

/* Takes slot index i into run, holding it; false when it cannot be held. */
static struct tslot *add_slot(struct run *run, int i, bool pickup, uint64_t before)
{
	enum sw_err e = slots_hold(i, OWNER, run->id);

	if (e != SW_OK) {
		log_msg(LOG_ERR, "transport %s: slot %d: %s; it stays out of the job", run->job,
			slots_number(i), sw_strerror(e));
		return NULL;
	}
	struct tslot *ts = &run->s[run->n++];
	*ts = (struct tslot){ .run = run, .i = i, .pickup = pickup, .before = before,
			      .phase = PH_LOCKED };
	return ts;
}

bool transport_runs_full(void)
{
	for (int r = 0; r < TRANSPORT_RUNS_MAX; r++)
		if (!runs[r].used)
			return false;
	return true;
}

void transport_run_begin(int64_t id, const char *job, const struct transport_slot *slots, int n)
{
	struct run *run = new_run(id, job, RUN_OPEN);

	if (!run)
		return; /* the check refused the token when full */
	for (int k = 0; k < n; k++) {
		struct tslot *ts = add_slot(run, slots[k].i, slots[k].pickup, slots[k].battery);
		if (ts)
			send(ts, false);
	}
	log_msg(LOG_NOTICE, "transport %s: started, %d doors opening", job, run->n);
	loop_timer_arm(&run->timer, (int64_t)transport_cfg.timeout_s * 1000);
}

static void recover(const struct store_transport_job *j, const struct store_transport_slot *s, int n,
		    void *arg)
{
	struct run *run = new_run(j->id, j->job, RUN_RECOVERING);

	(void)arg;
	if (!run) {
		log_msg(LOG_ERR, "transport %s: more than %d jobs running; it stays started",
			j->job, TRANSPORT_RUNS_MAX);
		return;
	}
	for (int k = 0; k < n; k++) {
		int i = slots_index(s[k].slot);
		if (i < 0)
			log_msg(LOG_WARNING, "transport %s: slot %d is no longer in the rack", j->job, s[k].slot);
		else
			add_slot(run, i, strcmp(s[k].role, "pickup") == 0, s[k].battery);
	}
	log_msg(LOG_NOTICE, "transport %s: interrupted by a restart; ends once its %d slots read back",
		j->job, run->n);
	loop_timer_arm(&run->timer, RECOVER_WAIT_MS);
}

static const enum event_type slot_events[] = {
	EV_SLOT_READING, EV_DOOR_OPENED, EV_DOOR_CLOSED, EV_BATTERY_INSERTED, EV_BATTERY_REMOVED,
};

static void unsubscribe(void)
{
	for (size_t k = 0; k < sizeof slot_events / sizeof slot_events[0]; k++)
		event_unsubscribe(slot_events[k], on_slot_event, NULL);
	event_unsubscribe(EV_ESTOP_PRESSED, on_estop, NULL);
}

enum sw_err transport_runs_start(char *why, size_t whylen)
{
	enum sw_err e = SW_OK;

	memset(runs, 0, sizeof runs);
	for (size_t k = 0; e == SW_OK && k < sizeof slot_events / sizeof slot_events[0]; k++)
		if ((e = event_subscribe(slot_events[k], on_slot_event, NULL)) != SW_OK)
			snprintf(why, whylen, "cannot subscribe to %s", event_name(slot_events[k]));
	if (e == SW_OK && (e = event_subscribe(EV_ESTOP_PRESSED, on_estop, NULL)) != SW_OK)
		snprintf(why, whylen, "cannot subscribe to %s", event_name(EV_ESTOP_PRESSED));
	if (e == SW_OK && (e = store_transport_running(transport_store, recover, NULL)) != SW_OK)
		snprintf(why, whylen, "cannot read the running transport jobs: %s",
			 store_errmsg(transport_store));
	return e;
}

void transport_runs_stop(void)
{
	unsubscribe();
	for (int r = 0; r < TRANSPORT_RUNS_MAX; r++) {
		struct run *run = &runs[r];
		if (!run->used)
			continue;
		for (int k = 0; k < run->n; k++) {
			run->s[k].pending = false;
			slots_unhold(run->s[k].i);
		}
		loop_timer_cancel(&run->timer);
		run->used = false;
	}
}

static const char *phase_name(const struct tslot *ts)
{
	switch (ts->phase) {
	case PH_UNLOCKING: return "unlocking";
	case PH_UNLOCKED: return ts->open ? "open" : "unlocked";
	case PH_LOCKING: return "locking";
	default: return ts->lock_failed ? "lock_failed" : "locked";
	}
}

bool transport_run_phases(int64_t id, json_object **phases)
{
	for (int r = 0; r < TRANSPORT_RUNS_MAX; r++) {
		const struct run *run = &runs[r];
		if (!run->used || run->id != id)
			continue;
		*phases = json_object_new_array();
		for (int k = 0; k < run->n; k++) {
			json_object *o = json_object_new_object();
			json_object_object_add(o, "slot", json_object_new_int(slots_number(run->s[k].i)));
			json_object_object_add(o, "role",
					       json_object_new_string(run->s[k].pickup ? "pickup" : "dropoff"));
			json_object_object_add(o, "door", json_object_new_string(phase_name(&run->s[k])));
			json_object_array_add(*phases, o);
		}
		return true;
	}
	return false;
}
