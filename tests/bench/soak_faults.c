/* The fault soak (issue 13): a week of faults in simulated time on a
 * 32-slot station (tests/unit/station_sim.c: the simulated rack "sim:32",
 * the real modules, the store in a temporary directory under /tmp) with
 * riders swapping all along. Faults are injected at random through the
 * rack simulator's verbs, each on a random slot for a random while, then
 * taken away; every fault.raised and fault.cleared of the registry is
 * matched against them, and every swap's start against the slots' blocked
 * state. daemon/FAULTS.md "Soak" says what it injects and its numbers.
 *
 * SOAK_DAYS (default 7) and SOAK_SEED (default: the time) choose the run;
 * the seed is printed so that a run can be repeated; SOAK_POLL_MS is
 * rack.poll_interval_ms (default 2000). The exit status is
 * non-zero when a fault was missed, raised falsely, left open, or a swap
 * started on a blocked slot. */
#include <inttypes.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "daemon/event.h"
#include "daemon/fault.h"
#include "daemon/ledger.h"
#include "daemon/log.h"
#include "daemon/loop.h"
#include "daemon/slots.h"
#include "daemon/store.h"
#include "daemon/store_swaps.h"
#include "drivers/rack.h"
#include "drivers/rack_bus.h"
#include "tests/unit/station_sim.h"

#define NSLOTS 32
#define NSTOCK 24              /* batteries at the start; 8 slots empty */
#define RIDER_MEAN_S 900       /* a rider every 15 minutes on average */
#define RIDER_PATIENCE_S 1800
#define MAX_RIDERS 3           /* at the kiosk or the doors at once (swap.max_concurrent) */
#define FAULT_MEAN_S 7200      /* a fault every two hours on average */
#define MAX_ACTIVE 3           /* injections under way at once */
#define TAIL_S (4 * 3600)      /* no injection in the last hours: everything must clear */
#define GRACE_S 180            /* the detectors' own delays (bus window, polls) */
#define COOL_C 46.0            /* a heated battery is back to normal under this */
#define MAX_DAYS 60
#define MAX_INJ 2048
#define MAX_FAULTS 16384
#define MAX_SWAPS 8192

/* What is injected, and K_WARM: a battery charging warmed past a
 * threshold by itself (no injection, a real condition: the simulator's
 * battery is that warm), followed as an injection is but not counted as
 * one. */
enum kind {
	K_OVERTEMP, K_HEATING, K_IMBALANCE, K_BMS, K_SILENCE, K_DOOR, K_NOISE, K_STUCK, K_WARM, K_COUNT
};
#define K_INJECTED K_WARM

static const char *const kind_name[K_COUNT] = {
	"overtemp", "heating", "imbalance", "bms_nonsense", "silence", "door_open", "noise", "stuck_lock",
	"warm",
};

/* The codes an injection of each kind must raise one of (detected), and
 * those it may raise besides without being false. */
static const struct {
	enum fault_code want[3];
	int nwant;
	enum fault_code may[2];
	int nmay;
	bool battery;          /* needs a battery not charged yet in an idle slot */
} kinds[K_COUNT] = {
	[K_OVERTEMP] = { { FAULT_OVER_TEMP, FAULT_OVER_TEMP_WARN, FAULT_TEMP_RISE }, 3, { 0 }, 0, true },
	[K_HEATING] = { { FAULT_TEMP_RISE, FAULT_OVER_TEMP_WARN, FAULT_OVER_TEMP }, 3, { 0 }, 0, true },
	[K_IMBALANCE] = { { FAULT_CELL_IMBALANCE, FAULT_CELL_OVER_VOLTAGE }, 2, { 0 }, 0, true },
	[K_BMS] = { { FAULT_BMS_IMPLAUSIBLE }, 1, { 0 }, 0, true },
	[K_SILENCE] = { { FAULT_SLOT_OFFLINE }, 1, { 0 }, 0, false },
	[K_DOOR] = { { FAULT_DOOR_UNEXPECTED }, 1, { FAULT_DOOR_LEFT_OPEN }, 1, false },
	/* damaged frames make a slot miss polls: offline for a moment */
	[K_NOISE] = { { FAULT_BUS_ERRORS }, 1, { FAULT_SLOT_OFFLINE }, 1, false },
	/* armed at random, put on the next swap's door once it is open */
	[K_STUCK] = { { FAULT_LOCK_STUCK }, 1, { 0 }, 0, false },
	[K_WARM] = { { FAULT_OVER_TEMP_WARN, FAULT_OVER_TEMP }, 2, { 0 }, 0, true },
};

struct injection {
	enum kind kind;
	int slot;              /* station slot number, 0: the whole station (noise) */
	uint64_t battery;
	int64_t at, stop_at;   /* injected; taken away (ms, simulated) */
	int64_t end;           /* the condition gone (0: not yet) */
	int64_t detected;      /* first expected raise (0: not yet) */
	bool stopped, settled, missed;
};

struct seen_fault {
	int64_t id;
	enum fault_code code;
	int slot;
	uint64_t battery;
	int64_t raised, cleared;
	int inj;               /* the injection it belongs to, -1: none (false) */
};

struct rider {
	bool busy;
	char user[24];
	int64_t since, next;
	int64_t swap;
	int phase;             /* 0 at the kiosk, 1 returning, 2 taking, 3 ending */
};

static struct injection inj[MAX_INJ];
static int ninj;
static struct seen_fault seen[MAX_FAULTS];
static int nseen;
static struct rider riders[MAX_RIDERS];
static struct { char stage[16]; bool ended, completed; } swaps[MAX_SWAPS];
static int nriders, nserved, naborted, ngave_up, nswaps_blocked;
static uint64_t next_battery = 5000;
static int64_t t0, next_fault, next_rider;
static uint64_t rng;
static bool verbose;
static bool stuck_armed;
static int64_t stuck_swap;     /* the swap whose door the armed stuck lock waits for */
static char shm_dir[40];

/* splitmix64: the same run for the same seed on every machine. */
static uint64_t next_rand(void)
{
	uint64_t z = (rng += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static int uniform(int lo, int hi)
{
	return lo + (int)(next_rand() % (uint64_t)(hi - lo + 1));
}

/* An exponential wait of mean mean_s, in ms: a Poisson process. */
static int64_t poisson_ms(int mean_s)
{
	double u = ((double)(next_rand() >> 11) + 1) / 9007199254740993.0;

	return (int64_t)(-log(u) * mean_s * 1000);
}

static int64_t now_ms(void)
{
	return loop_now() - t0;
}

/* With SOAK_VERBOSE=1, a line for each step of an injection and each
 * raise and clearing. */
static void trace(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void trace(const char *fmt, ...)
{
	va_list ap;

	if (!verbose)
		return;
	printf("t=%-7" PRId64 " ", now_ms() / 1000);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

static int clear_after_s(enum fault_code code)
{
	return fault_rule(code)->clear_after_s * station_cfg.faults.clear_after_pct / 100;
}

static bool code_in(const enum fault_code *set, int n, enum fault_code code)
{
	for (int k = 0; k < n; k++)
		if (set[k] == code)
			return true;
	return false;
}

/* The code of open fault id, from the registry's own list. */
static bool open_fault_code(int64_t id, enum fault_code *code)
{
	json_object *all = fault_open_json(), *v;
	bool found = false;

	for (size_t k = 0; !found && k < json_object_array_length(all); k++) {
		json_object *f = json_object_array_get_idx(all, k);
		if (!json_object_object_get_ex(f, "fault", &v) || json_object_get_int64(v) != id)
			continue;
		json_object_object_get_ex(f, "code", &v);
		found = fault_code_of(json_object_get_string(v), code);
	}
	json_object_put(all);
	return found;
}

/* The battery in slot n as the simulator has it: its id and temperature
 * (false: none). */
static bool sim_battery(int n, uint64_t *id, double *temp)
{
	char why[256];
	char verb[64];
	json_object *r, *b, *v;
	bool ok = false;

	snprintf(verb, sizeof verb, "{\"op\":\"get\",\"slot\":%d}", n);
	if (!(r = rack_bus_sim_exec(verb, why, sizeof why)))
		fail_msg("%s: %s", verb, why);
	if (json_object_object_get_ex(r, "battery", &b) && b) {
		json_object_object_get_ex(b, "id", &v);
		*id = (uint64_t)json_object_get_int64(v);
		json_object_object_get_ex(b, "temperature", &v);
		*temp = json_object_get_double(v);
		ok = true;
	}
	json_object_put(r);
	return ok;
}

/* The injection a raise of code on slot belongs to, or -1: one on that
 * slot (noise: any slot) under way or not yet past its grace. */
static int belongs_to(enum fault_code code, int slot, bool *wanted)
{
	int64_t now = now_ms();

	for (int k = ninj; k-- > 0;) {
		const struct injection *j = &inj[k];
		bool open = !j->end || now <= j->end + GRACE_S * 1000LL;
		bool here = j->slot == slot || j->kind == K_NOISE;
		if (!open || !here)
			continue;
		if (j->slot == slot && code_in(kinds[j->kind].want, kinds[j->kind].nwant, code)) {
			*wanted = true;
			return k;
		}
		if (code_in(kinds[j->kind].may, kinds[j->kind].nmay, code)) {
			*wanted = false;
			return k;
		}
	}
	return -1;
}

/* Whether a temperature fault of code raised on slot with no injection is
 * the simulator's truth: its battery there that warm (charging heats a
 * worn battery; the reading may be a degree behind). */
static bool warm(enum fault_code code, int slot, uint64_t battery)
{
	uint64_t id;
	double temp;
	int limit = code == FAULT_OVER_TEMP ? station_cfg.faults.crit_temp_c
		    : station_cfg.faults.warn_temp_c;

	if ((code != FAULT_OVER_TEMP && code != FAULT_OVER_TEMP_WARN) || ninj == MAX_INJ)
		return false;
	return sim_battery(slot, &id, &temp) && id == battery && temp >= limit - 1.0;
}

static void fault_raised(const struct event *ev)
{
	struct seen_fault *f;
	enum fault_code code = FAULT_CODE_COUNT;
	bool wanted = false;

	if (nseen == MAX_FAULTS)
		fail_msg("more than %d faults", MAX_FAULTS);
	if (!open_fault_code(ev->ref, &code))
		fail_msg("fault %" PRId64 " raised but not open", ev->ref);
	f = &seen[nseen++];
	*f = (struct seen_fault){ .id = ev->ref, .code = code, .slot = ev->slot_no,
				  .battery = ev->battery, .raised = now_ms() };
	f->inj = belongs_to(code, ev->slot_no, &wanted);
	trace("raised %s (fault %" PRId64 ") slot %d battery %" PRIu64, fault_code_name(code), f->id,
	      f->slot, f->battery);
	if (f->inj < 0 && warm(code, ev->slot_no, ev->battery)) {
		f->inj = ninj++;
		inj[f->inj] = (struct injection){ .kind = K_WARM, .slot = ev->slot_no,
						  .battery = ev->battery, .at = f->raised,
						  .detected = f->raised, .stopped = true };
	}
	if (f->inj < 0)
		printf("FALSE  t=%" PRId64 " s: %s on slot %d battery %" PRIu64 " with no fault injected\n",
		       f->raised / 1000, fault_code_name(code), f->slot, f->battery);
	else if (wanted && !inj[f->inj].detected)
		inj[f->inj].detected = f->raised;
}

static void on_fault(const struct event *ev, void *arg)
{
	(void)arg;
	if (strcmp(ev->what, "raised") == 0) {
		fault_raised(ev);
		return;
	}
	if (strcmp(ev->what, "cleared") != 0)
		return;
	trace("cleared fault %" PRId64, ev->ref);
	for (int k = 0; k < nseen; k++)
		if (seen[k].id == ev->ref && !seen[k].cleared)
			seen[k].cleared = now_ms();
}

/* A swap starting on a slot an open fault blocks is a failure of the
 * swap flow's pick, whatever the rider does next. */
static void on_swap(const struct event *ev, void *arg)
{
	(void)arg;
	if (ev->ref <= 0 || ev->ref >= MAX_SWAPS)
		fail_msg("swap id %" PRId64 " beyond the soak's table", ev->ref);
	if (ev->type == EV_SWAP_STAGE) {
		snprintf(swaps[ev->ref].stage, sizeof swaps[0].stage, "%s", ev->what);
		if (stuck_armed && !stuck_swap && strcmp(ev->what, "wait_insert") == 0)
			stuck_swap = ev->ref;
		return;
	}
	if (ev->type == EV_SWAP_ENDED) {
		swaps[ev->ref].ended = true;
		swaps[ev->ref].completed = ev->on;
		trace("swap %" PRId64 " %s%s", ev->ref, ev->on ? "completed" : "aborted: ",
		      ev->on || !ev->what ? "" : ev->what);
		return;
	}
	struct store_swap s;
	bool found;

	assert_int_equal(store_swap_get(station_store, ev->ref, &s, &found), SW_OK);
	assert_true(found);
	for (int k = 0; k < MAX_RIDERS; k++)
		if (riders[k].busy && strcmp(riders[k].user, s.user) == 0)
			riders[k].swap = ev->ref;
	if (fault_blocks_slot(s.slot_in) || fault_blocks_slot(s.slot_out)) {
		nswaps_blocked++;
		printf("BLOCKED t=%" PRId64 " s: swap %" PRId64 " started on slot %d in, %d out, blocked %d/%d\n",
		       now_ms() / 1000, ev->ref, s.slot_in, s.slot_out, fault_blocks_slot(s.slot_in),
		       fault_blocks_slot(s.slot_out));
	}
}

static const struct {
	enum event_type type;
	event_fn fn;
} subs[] = {
	{ EV_FAULT_CHANGED, on_fault },
	{ EV_SWAP_STARTED, on_swap },
	{ EV_SWAP_STAGE, on_swap },
	{ EV_SWAP_ENDED, on_swap },
};

static bool slot_injected(int n)
{
	for (int k = 0; k < ninj; k++)
		if (!inj[k].settled && inj[k].slot == n)
			return true;
	return false;
}

/* Injections under way (warm batteries are not), and whether one is line
 * noise. */
static int active_injections(bool *noise)
{
	int a = 0;

	*noise = false;
	for (int k = 0; k < ninj; k++)
		if (!inj[k].settled && inj[k].kind != K_WARM) {
			a++;
			*noise |= inj[k].kind == K_NOISE;
		}
	return a;
}

/* Whether slot index i may take an injection of kind: nobody at its door,
 * online and shut, and for a battery fault a battery in it that is not
 * quarantined and not charged yet (a swap would not hand it out before
 * the detectors have seen it). */
static bool fit_for(enum kind k, int i)
{
	const struct rack_reading *r = rack_reading(i);
	uint64_t id;

	if (slots_holder(i, NULL) || !r->online || r->door_open || !r->locked ||
	    slot_injected(slots_number(i)))
		return false;
	if (!kinds[k].battery)
		return true;
	return slots_battery(i, &id) && id && !station_row(id).quarantined &&
	       slots_state(i) != SLOT_CHARGED && r->soc < station_cfg.rack.charged_soc - 3;
}

/* An armed stuck lock goes on the door the rider is about to put a
 * battery behind, once its bolt reads back (unlocked, so it stays back):
 * the swap flow must find that it does not lock. Staff repair it and
 * release the slot half an hour later. */
static void stuck_door(int64_t swap)
{
	struct store_swap s;
	bool found;

	stuck_swap = 0;
	if (strcmp(swaps[swap].stage, "wait_insert") != 0)
		return; /* the rider was quicker: the next swap's door */
	assert_int_equal(store_swap_get(station_store, swap, &s, &found), SW_OK);
	if (!found || slot_injected(s.slot_in) || ninj == MAX_INJ)
		return;
	if (rack_reading(slots_index(s.slot_in))->locked) {
		stuck_swap = swap;
		return;
	}
	stuck_armed = false;
	struct injection *j = &inj[ninj++];

	*j = (struct injection){ .kind = K_STUCK, .slot = s.slot_in, .at = now_ms(),
				 .stop_at = now_ms() + 30 * 60000LL };
	station_sim("{\"op\":\"fault\",\"slot\":%d,\"kind\":\"stuck_lock\"}", j->slot);
	trace("inject stuck_lock slot %d (swap %" PRId64 ")", j->slot, swap);
}

/* The verb that makes kind happen on slot n, and how long it lasts. */
static void start_fault(struct injection *j)
{
	int n = j->slot;

	switch (j->kind) {
	case K_OVERTEMP:
		station_sim("{\"op\":\"fault\",\"slot\":%d,\"kind\":\"overtemp\",\"value\":%d}", n,
			    uniform(62, 75));
		j->stop_at = j->at + uniform(20, 40) * 60000LL;
		return;
	case K_HEATING:
		station_sim("{\"op\":\"fault\",\"slot\":%d,\"kind\":\"heating\",\"value\":%d}", n,
			    uniform(300, 500));
		j->stop_at = j->at + uniform(180, 360) * 1000LL;
		return;
	case K_IMBALANCE:
		station_sim("{\"op\":\"fault\",\"slot\":%d,\"kind\":\"imbalance\",\"value\":%d}", n,
			    uniform(130, 300));
		j->stop_at = j->at + uniform(10, 60) * 60000LL;
		return;
	case K_BMS:
		station_sim("{\"op\":\"fault\",\"slot\":%d,\"kind\":\"bms_nonsense\"}", n);
		j->stop_at = j->at + uniform(5, 30) * 60000LL;
		return;
	case K_SILENCE:
		station_sim("{\"op\":\"silence\",\"slot\":%d}", n);
		j->stop_at = j->at + uniform(2, 20) * 60000LL;
		return;
	case K_DOOR:
		station_sim("{\"op\":\"open\",\"slot\":%d,\"force\":true}", n);
		j->stop_at = j->at + uniform(1, 10) * 60000LL;
		return;
	case K_NOISE:
		station_sim("{\"op\":\"noise\",\"rate\":%.2f,\"seed\":%d}", uniform(6, 15) / 100.0,
			    uniform(1, 1000000));
		j->stop_at = j->at + uniform(3, 10) * 60000LL;
		return;
	case K_STUCK:
	case K_WARM:
	case K_COUNT:
		return;
	}
}

static void stop_fault(struct injection *j)
{
	j->stopped = true;
	if (j->kind == K_DOOR)
		station_sim("{\"op\":\"close\",\"slot\":%d}", j->slot);
	else if (j->kind == K_NOISE)
		station_sim("{\"op\":\"noise\",\"rate\":0}");
	else
		station_sim("{\"op\":\"fault\",\"slot\":%d,\"kind\":\"clear\"}", j->slot);
	/* SW_EEXIST: the swap flow never took it out of service (a miss) */
	enum sw_err e = j->kind == K_STUCK ? ledger_slot_quarantine(j->slot, false, "soak: lock repaired",
								     "soak") : SW_OK;
	if (e != SW_OK && e != SW_EEXIST)
		fail_msg("slot %d: the release could not be recorded: %s", j->slot, sw_strerror(e));
	if (j->kind != K_OVERTEMP && j->kind != K_HEATING)
		j->end = now_ms();
	trace("stop %s slot %d", kind_name[j->kind], j->slot);
}

/* A new injection of a random kind on a random fit slot; none while the
 * bus is noisy (a noisy bus hides the other detectors' inputs) or too many
 * are under way. Tried again in a minute when nothing fits. */
static void inject(void)
{
	bool noise;
	int fit[NSLOTS], nfit = 0;
	enum kind k = (enum kind)uniform(0, K_INJECTED - 1);

	/* at any moment, not in step with the polls */
	station_run_ms(uniform(1, 999));
	int a = active_injections(&noise);

	if (noise || a >= MAX_ACTIVE || (k == K_NOISE && a > 0) || ninj == MAX_INJ ||
	    (k == K_STUCK && stuck_armed)) {
		next_fault = now_ms() + 60000;
		return;
	}
	if (k == K_STUCK) {
		stuck_armed = true;
		next_fault = now_ms() + poisson_ms(FAULT_MEAN_S);
		return;
	}
	for (int i = 0; k != K_NOISE && i < NSLOTS; i++)
		if (fit_for(k, i))
			fit[nfit++] = i;
	if (k != K_NOISE && !nfit) {
		next_fault = now_ms() + 60000;
		return;
	}
	struct injection *j = &inj[ninj++];

	*j = (struct injection){ .kind = k, .at = now_ms() };
	if (k != K_NOISE) {
		int i = fit[uniform(0, nfit - 1)];
		j->slot = slots_number(i);
		slots_battery(i, &j->battery);
	}
	start_fault(j);
	trace("inject %s slot %d battery %" PRIu64 " until t=%" PRId64, kind_name[k], j->slot,
	      j->battery, j->stop_at / 1000);
	next_fault = now_ms() + poisson_ms(FAULT_MEAN_S);
}

static int settle_s(enum kind k)
{
	int s = 0;

	for (int c = 0; c < kinds[k].nwant; c++)
		if (clear_after_s(kinds[k].want[c]) > s)
			s = clear_after_s(kinds[k].want[c]);
	for (int c = 0; c < kinds[k].nmay; c++)
		if (clear_after_s(kinds[k].may[c]) > s)
			s = clear_after_s(kinds[k].may[c]);
	return s + GRACE_S;
}

/* Each injection in turn: taken away when its time is up, its condition
 * gone (a heated battery cooled, or gone from the slot), then settled once
 * its faults had their time to clear: missed without a detection, and the
 * battery's quarantine released as staff would after checking it. */
static void follow(struct injection *j)
{
	int64_t now = now_ms();
	uint64_t id;
	double temp;

	if (!j->stopped && now >= j->stop_at)
		stop_fault(j);
	if (j->stopped && !j->end && (!sim_battery(j->slot, &id, &temp) || id != j->battery ||
				      temp < COOL_C))
		j->end = now;
	if (!j->end || now < j->end + settle_s(j->kind) * 1000LL)
		return;
	j->settled = true;
	if (!j->detected) {
		j->missed = true;
		printf("MISSED t=%" PRId64 " s: %s on slot %d battery %" PRIu64 " (until %" PRId64 " s)\n",
		       j->at / 1000, kind_name[j->kind], j->slot, j->battery, j->end / 1000);
	}
	if (j->battery && station_row(j->battery).quarantined &&
	    ledger_battery_quarantine(j->battery, false, "soak: checked by staff", "soak") != SW_OK)
		fail_msg("battery %" PRIu64 ": the quarantine could not be released", j->battery);
}

static void rider_done(struct rider *r)
{
	if (swaps[r->swap].completed)
		nserved++;
	else
		naborted++;
	r->busy = false;
}

/* A rider: scans an S token until a swap starts (or patience runs out),
 * puts a flat battery in when the door is open to them, takes the
 * charged one, and goes. */
static void rider_step(struct rider *r)
{
	int64_t now = now_ms();
	struct store_swap s;
	bool found;

	if (r->phase == 0) {
		const char *res = station_scan(TOKEN_SWAP, r->user, "-", "scanner", NULL);
		if (strcmp(res, "ok") == 0 && r->swap) {
			r->phase = 1;
		} else if (now - r->since > RIDER_PATIENCE_S * 1000LL) {
			ngave_up++;
			r->busy = false;
			return;
		} else {
			r->next = now + uniform(60, 180) * 1000LL;
			return;
		}
	}
	r->next = now + 1000;
	if (swaps[r->swap].ended) {
		rider_done(r);
		return;
	}
	assert_int_equal(store_swap_get(station_store, r->swap, &s, &found), SW_OK);
	assert_true(found);
	if (r->phase == 1 && strcmp(swaps[r->swap].stage, "wait_insert") == 0) {
		if (station_sim_try("{\"op\":\"return\",\"slot\":%d,\"battery\":%" PRIu64 ",\"soc\":%d,"
				    "\"soh\":%d,\"dwell\":%d}", s.slot_in, next_battery, uniform(10, 30),
				    uniform(85, 98), uniform(2, 5))) {
			next_battery++;
			r->phase = 2;
		}
	} else if (r->phase == 2 && strcmp(swaps[r->swap].stage, "wait_take") == 0) {
		if (station_sim_try("{\"op\":\"take\",\"slot\":%d,\"dwell\":%d}", s.slot_out, uniform(2, 4)))
			r->phase = 3;
	}
}

static void riders_step(void)
{
	int64_t now = now_ms();

	if (now >= next_rider) {
		next_rider = now + poisson_ms(RIDER_MEAN_S);
		for (int k = 0; k < MAX_RIDERS; k++)
			if (!riders[k].busy) {
				riders[k] = (struct rider){ .busy = true, .since = now, .next = now };
				snprintf(riders[k].user, sizeof riders[k].user, "rider-%05d", ++nriders);
				break;
			}
	}
	for (int k = 0; k < MAX_RIDERS; k++)
		if (riders[k].busy && now >= riders[k].next)
			rider_step(&riders[k]);
}

/* Environment variable name as a number in lo..hi, def when unset. */
static uint64_t env_num(const char *name, uint64_t def, uint64_t lo, uint64_t hi)
{
	const char *s = getenv(name);
	char *end;
	unsigned long long v;

	if (!s || !*s)
		return def;
	v = strtoull(s, &end, 0);
	if (*end || v < lo || v > hi) {
		fprintf(stderr, "%s=%s: not a number in %" PRIu64 "..%" PRIu64 "\n", name, s, lo, hi);
		exit(2);
	}
	return v;
}

static int setup(void **state)
{
	(void)state;
	station_init(NSLOTS, "ST-SOAK", true);
	/* The database in memory (tmpfs): a week of synchronous commits on
	 * a disk would be most of the run. */
	snprintf(shm_dir, sizeof shm_dir, "/dev/shm/swapd-soak-XXXXXX");
	assert_non_null(mkdtemp(shm_dir));
	snprintf(station_db, sizeof station_db, "%s/swapd.db", shm_dir);
	snprintf(station_cfg.store.path, sizeof station_cfg.store.path, "%s", station_db);
	/* A poll every 2 s (SOAK_POLL_MS) and a health reading every 5 polls:
	 * a week of 32 slots in minutes (rack.poll_interval_ms's 250 ms would
	 * take eight times as long); the detectors' windows are longer. */
	station_cfg.rack.poll_interval_ms = (int)env_num("SOAK_POLL_MS", 2000, 100, 5000);
	station_cfg.rack.slow_every = 5;
	station_cfg.swap.min_soc = station_cfg.rack.charged_soc;
	for (size_t k = 0; k < sizeof subs / sizeof subs[0]; k++)
		assert_int_equal(event_subscribe(subs[k].type, subs[k].fn, NULL), SW_OK);
	station_start(STATION_CHARGE | STATION_ACCESS | STATION_LEDGER | STATION_FAULT_BATTERY |
		      STATION_FAULT_STATION);
	for (int n = 1; n <= NSTOCK; n++)
		station_sim("{\"op\":\"insert\",\"slot\":%d,\"battery\":%d,\"soc\":%d,\"soh\":%d,"
			    "\"force\":true}", n, 100 + n, uniform(20, 100), uniform(85, 99));
	station_read();
	station_start(STATION_SWAP | STATION_QUEUE);
	return 0;
}

static int teardown(void **state)
{
	char cmd[96];

	for (size_t k = 0; k < sizeof subs / sizeof subs[0]; k++)
		event_unsubscribe(subs[k].type, subs[k].fn, NULL);
	int rc = station_teardown(state);
	snprintf(cmd, sizeof cmd, "rm -rf %s", shm_dir);
	return rc | system(cmd);
}

static int cmp_i64(const void *a, const void *b)
{
	return (*(const int64_t *)a > *(const int64_t *)b) - (*(const int64_t *)a < *(const int64_t *)b);
}

/* Median and p95 of the detection times of injections of kind (K_COUNT:
 * every injected kind), in simulated seconds; how many were injected and
 * detected. */
static void ttd(enum kind k, int *injected, int *detected, double *median, double *p95)
{
	int64_t t[MAX_INJ];
	int n = 0;

	*injected = 0;
	for (int j = 0; j < ninj; j++) {
		if (k == K_COUNT ? inj[j].kind == K_WARM : inj[j].kind != k)
			continue;
		++*injected;
		if (inj[j].detected)
			t[n++] = inj[j].detected - inj[j].at;
	}
	*detected = n;
	qsort(t, (size_t)n, sizeof t[0], cmp_i64);
	*median = n ? t[n / 2] / 1000.0 : 0;
	*p95 = n ? t[(n * 95 + 99) / 100 - 1] / 1000.0 : 0;
}

/* A fault still open at the end, or cleared later than its injection's
 * condition went plus its clear_after_s and the grace, stayed open
 * without a cause. */
static int left_open(void)
{
	int n = 0;

	for (int k = 0; k < nseen; k++) {
		const struct seen_fault *f = &seen[k];
		int64_t due = f->inj < 0 ? f->raised : inj[f->inj].end;
		if (f->inj >= 0 && !inj[f->inj].end)
			continue; /* its cause is still there */
		due += (clear_after_s(f->code) + GRACE_S) * 1000LL;
		if (f->cleared && f->cleared <= due)
			continue;
		if (f->inj < 0 && f->cleared)
			continue; /* counted false already; it went */
		n++;
		printf("LEFT   fault %" PRId64 " %s on slot %d battery %" PRIu64 ": raised t=%" PRId64
		       " s, %s%" PRId64 " s, due by t=%" PRId64 " s\n", f->id, fault_code_name(f->code),
		       f->slot, f->battery, f->raised / 1000, f->cleared ? "cleared t=" : "open at t=",
		       (f->cleared ? f->cleared : now_ms()) / 1000, due / 1000);
	}
	return n;
}

static int count_false(void)
{
	int n = 0;

	for (int k = 0; k < nseen; k++)
		n += seen[k].inj < 0;
	return n;
}

static int count_missed(void)
{
	int n = 0;

	for (int k = 0; k < ninj; k++)
		n += inj[k].kind != K_WARM && (inj[k].missed || !inj[k].settled);
	return n;
}

static int report(int days, uint64_t seed, double wall_s)
{
	int injected, detected, nfalse = count_false(), nleft = left_open(), missed = count_missed();
	double median, p95;

	printf("\nsoak: %d days simulated, %d slots, seed %" PRIu64 " (SOAK_SEED), wall %.1f s\n", days,
	       NSLOTS, seed, wall_s);
	printf("%-13s %8s %8s %8s %10s %10s\n", "kind", "injected", "detected", "missed", "median s",
	       "p95 s");
	for (int k = 0; k < K_INJECTED; k++) {
		ttd((enum kind)k, &injected, &detected, &median, &p95);
		printf("%-13s %8d %8d %8d %10.1f %10.1f\n", kind_name[k], injected, detected,
		       injected - detected, median, p95);
	}
	ttd(K_WARM, &injected, &detected, &median, &p95);
	printf("not injected: %d temperature faults of batteries warmed by charging (the simulator's"
	       " battery at the threshold)\n", injected);
	ttd(K_COUNT, &injected, &detected, &median, &p95);
	printf("injected %d, detected %d, missed %d, false %d, left_open %d, faults raised %d\n",
	       injected, detected, missed, nfalse, nleft, nseen);
	printf("riders %d: swaps_completed %d, swaps_aborted %d, gave_up %d, swaps_on_blocked %d\n",
	       nriders, nserved, naborted, ngave_up, nswaps_blocked);
	printf("time to detect: median %.1f s, p95 %.1f s (simulated)\n", median, p95);
	return missed + nfalse + nleft + nswaps_blocked;
}

static int days;
static uint64_t seed;

static void test_soak(void **state)
{
	struct timespec a, b;
	int64_t end_ms = days * 86400000LL;

	(void)state;
	clock_gettime(CLOCK_MONOTONIC, &a);
	t0 = loop_now();
	next_fault = poisson_ms(FAULT_MEAN_S);
	next_rider = poisson_ms(RIDER_MEAN_S);
	while (now_ms() < end_ms) {
		if (now_ms() >= next_fault && now_ms() < end_ms - TAIL_S * 1000LL)
			inject();
		if (stuck_swap)
			stuck_door(stuck_swap);
		for (int k = 0; k < ninj; k++)
			if (!inj[k].settled)
				follow(&inj[k]);
		riders_step();
		station_run_ms(1000);
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	if (report(days, seed, (double)(b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9))
		fail_msg("the soak found faults missed, false, left open or swaps on blocked slots");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_soak, setup, teardown),
	};

	days = (int)env_num("SOAK_DAYS", 7, 1, MAX_DAYS);
	seed = env_num("SOAK_SEED", (uint64_t)time(NULL), 0, UINT64_MAX);
	rng = seed;
	verbose = env_num("SOAK_VERBOSE", 0, 0, 1);
	printf("soak: seed %" PRIu64 ", %d days\n", seed, days);
	log_set_level(LOG_ERR); /* the summary is what this shows */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
