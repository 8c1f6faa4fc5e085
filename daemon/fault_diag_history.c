/* The diagnosis's history (fault_diag.h): per slot the latest reading and
 * a fixed ring of one sample every FAULT_DIAG_SAMPLE_S over 30 minutes,
 * and the faults raised in the last 30 days, all in static memory: a
 * reading costs no allocation and a diagnosis no disk read. */
#include "daemon/fault_diag.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "daemon/event.h"
#include "daemon/log.h"
#include "daemon/loop.h"
#include "daemon/slots.h"
#include "daemon/store_faults.h"
#include "drivers/rack.h"

/* How far back the faults are loaded and kept. */
#define PAST_MS (30LL * 86400 * 1000)

static struct fault_diag_slot slots[RACK_MAX_SLOTS];
static int nslots;
static struct fault_diag_past past[FAULT_DIAG_PAST];
static int npast, past_next;
static bool running;

void fault_diag_note(enum fault_code code, int slot_no, uint64_t battery, int64_t at)
{
	if (!running)
		return;
	past[past_next] = (struct fault_diag_past){ code, slot_no, battery, at };
	past_next = (past_next + 1) % FAULT_DIAG_PAST;
	if (npast < FAULT_DIAG_PAST)
		npast++;
}

static float field(const struct rack_reading *r, enum rack_field f, double v)
{
	return r->have[f] ? (float)v : NAN;
}

/* Slot index i's latest values from its reading. A new battery starts a
 * new ring: the history is of the battery in this slot. */
static void take_now(int i)
{
	const struct rack_reading *r = rack_reading(i);
	struct fault_diag_slot *s = &slots[i];
	uint64_t battery = r->present ? r->battery_id : 0;

	s->online = r->online;
	s->present = r->present;
	if (battery != s->battery) {
		s->battery = battery;
		s->n = s->next = 0;
		s->now.at = 0;
	}
	if (!r->online || !r->present || !r->slow_at)
		return;
	s->now = (struct fault_diag_sample){
		.at = r->slow_at, .temp_c = field(r, RF_TEMPERATURE, r->temperature),
		.current_a = field(r, RF_CURRENT, r->current), .soc = field(r, RF_SOC, r->soc),
		.spread_mv = r->have[RF_CELL_MIN] && r->have[RF_CELL_MAX]
			     ? (float)((r->cell_max - r->cell_min) * 1000) : NAN,
	};
}

void fault_diag_history(struct fault_diag_history *out)
{
	/* the readings as of now, whichever module heard them first */
	for (int i = 0; running && i < nslots; i++)
		take_now(i);
	*out = (struct fault_diag_history){ .now = loop_wall_ms(), .nslots = running ? nslots : 0,
					    .slots = slots, .npast = running ? npast : 0,
					    .past = past };
}

/* A reading of slot index i: its latest values, and a sample in its ring
 * when the last one is FAULT_DIAG_SAMPLE_S old. */
static void on_reading(const struct event *ev, void *arg)
{
	(void)arg;
	if (ev->slot < 0 || ev->slot >= nslots)
		return;
	struct fault_diag_slot *s = &slots[ev->slot];
	take_now(ev->slot);
	if (!s->now.at)
		return;
	int last = (s->next + FAULT_DIAG_SAMPLES - 1) % FAULT_DIAG_SAMPLES;
	if (s->n && s->now.at - s->ring[last].at < FAULT_DIAG_SAMPLE_S * 1000)
		return;
	s->ring[s->next] = s->now;
	s->next = (s->next + 1) % FAULT_DIAG_SAMPLES;
	if (s->n < FAULT_DIAG_SAMPLES)
		s->n++;
}

static void load(const struct store_fault *f, void *arg)
{
	enum fault_code code;

	(void)arg;
	if (fault_code_of(f->code, &code))
		fault_diag_note(code, f->slot, f->battery, f->raised_at);
}

enum sw_err fault_diag_start(const struct config *cfg, struct store *st, char *why,
			     size_t whylen)
{
	memset(slots, 0, sizeof slots);
	npast = past_next = 0;
	nslots = cfg->rack.enabled ? slots_count() : 0;
	for (int i = 0; i < nslots; i++)
		slots[i].slot_no = slots_number(i);
	running = true; /* fault_diag_note keeps what load gives it */
	enum sw_err e = store_faults_since(st, loop_wall_ms() - PAST_MS, load, NULL);
	if (e != SW_OK) {
		snprintf(why, whylen, "cannot read the past faults: %s", store_errmsg(st));
		fault_diag_stop();
		return e;
	}
	if (nslots && (e = event_subscribe(EV_SLOT_READING, on_reading, NULL)) != SW_OK) {
		snprintf(why, whylen, "cannot subscribe to %s", event_name(EV_SLOT_READING));
		fault_diag_stop();
		return e;
	}
	log_msg(LOG_INFO, "fault diagnosis: %d faults of the last 30 days, %d slots", npast, nslots);
	return SW_OK;
}

void fault_diag_stop(void)
{
	event_unsubscribe(EV_SLOT_READING, on_reading, NULL);
	running = false;
	nslots = npast = past_next = 0;
}
