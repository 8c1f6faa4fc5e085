/* The queue's estimates: the batteries on hand and on charge, the observed
 * swap duration, and from them how long a rider at a given position waits
 * (DESIGN.md, "Queue"). */
#include <math.h>
#include <string.h>

#include "daemon/loop.h"
#include "daemon/queue_priv.h"
#include "daemon/slots.h"

/* Swaps under way whose start is remembered for the mean duration; one more
 * at once only costs a sample. */
#define STARTS_MAX 16
/* The mean swap duration: the plain mean of the first swaps, then each new
 * one weighs 1/MEAN_WINDOW, so it follows a station that gets slower. */
#define MEAN_WINDOW 16

/* A battery's charge is measured over at least this long: a reading's SOC
 * has a resolution, and the charger takes a while to reach its current. */
#define LEARN_MS (10 * 60 * 1000)

struct config_queue queue_qc;
int queue_charged_soc;
static double mean_swap_s;
/* The station's own charging speed, seconds per SOC point, learnt like the
 * swap time from the batteries charging here (0: none measured yet); and
 * where each slot's measure started. */
static double s_per_point;
static int64_t s_per_point_seen;
static struct { uint64_t battery; double soc; int64_t at; } measure[RACK_MAX_SLOTS];
static int64_t swaps_seen;
static struct { bool used; int64_t swap, at; } starts[STARTS_MAX];

/* Empty to charged: as this station's chargers did it, or queue.charge_s
 * until one was measured. */
static double full_charge_s(void)
{
	return s_per_point > 0 ? s_per_point * queue_charged_soc : queue_qc.charge_s;
}

/* A battery part-way takes its share. */
static int until_charged(const struct rack_reading *r)
{
	if (!r->have[RF_SOC])
		return (int)ceil(full_charge_s());
	double left = queue_charged_soc - r->soc;
	return left <= 0 ? 0 : (int)ceil(left / queue_charged_soc * full_charge_s());
}

/* Slot i's battery charging since the start of its measure gained SOC:
 * one sample of the speed, every LEARN_MS or more. */
static void learn(int i, const struct rack_reading *r, bool charging)
{
	int64_t now = loop_now(), dt = now - measure[i].at;

	if (!charging || !r->have[RF_SOC] || !r->battery_id || r->battery_id != measure[i].battery) {
		measure[i].battery = charging && r->have[RF_SOC] ? r->battery_id : 0;
		measure[i].soc = r->soc;
		measure[i].at = now;
		return;
	}
	if (dt < LEARN_MS || r->soc <= measure[i].soc)
		return;
	double s = (double)dt / 1000 / (r->soc - measure[i].soc);
	s_per_point_seen++;
	s_per_point += (s - s_per_point) / (s_per_point_seen < MEAN_WINDOW ? s_per_point_seen : MEAN_WINDOW);
	measure[i].soc = r->soc;
	measure[i].at = now;
}

void queue_stock_read(struct queue_stock *s)
{
	s->charged = s->pipeline = 0;
	for (int i = 0; i < slots_count(); i++) {
		enum slot_state st = slots_state(i);
		learn(i, rack_reading(i), st == SLOT_CHARGING);
		if (slots_holder(i, NULL))
			continue;
		if (st == SLOT_CHARGED) {
			s->charged++;
		} else if (st == SLOT_CHARGING || st == SLOT_IDLE) {
			int t = until_charged(rack_reading(i)), k = s->pipeline++;
			for (; k > 0 && s->ready_s[k - 1] > t; k--)
				s->ready_s[k] = s->ready_s[k - 1];
			s->ready_s[k] = t;
		}
	}
}

double queue_swap_s(void)
{
	return swaps_seen ? mean_swap_s : queue_qc.swap_s;
}

int64_t queue_swaps_seen(void)
{
	return swaps_seen;
}

/* Adds t to the sorted supply[from..*m). */
static void supply_add(double *supply, int from, int *m, double t)
{
	int k = (*m)++;

	for (; k > from && supply[k - 1] > t; k--)
		supply[k] = supply[k - 1];
	supply[k] = t;
}

/* The rider admission lets go next at t: the first in the queue of those
 * at the station by then; nobody there, the one who comes soonest, at the
 * moment they come (*t). */
static int next_rider(const int *at_s, const bool *done, int count, double *t)
{
	int pick = -1;

	for (int k = 0; k < count; k++) {
		if (done[k])
			continue;
		if (at_s[k] <= *t)
			return k;
		if (pick < 0 || at_s[k] < at_s[pick])
			pick = k;
	}
	*t = at_s[pick];
	return pick;
}

void queue_plan(const struct queue_stock *s, int count, const int *at_s, int *eta_s, bool *waits)
{
	double supply[RACK_MAX_SLOTS + QUEUE_MAX + 1], sw = queue_swap_s(), prev = -sw;
	double full = full_charge_s();
	bool done[QUEUE_MAX + 1] = { false };
	int head = 0, m = 0;

	for (int i = 0; i < s->charged; i++)
		supply[m++] = 0;
	for (int i = 0; i < s->pipeline; i++)
		supply[m++] = s->ready_s[i];
	for (int r = 0; r < count; r++) {
		double b = head < m ? supply[head++] : (prev > 0 ? prev : 0) + full;
		double start = b > prev + sw ? b : prev + sw;
		int k = next_rider(at_s, done, count, &start);
		done[k] = true;
		eta_s[k] = (int)ceil(start);
		waits[k] = r >= s->charged;
		prev = start;
		supply_add(supply, head, &m, start + sw + full);
	}
}

void queue_swap_began(int64_t swap)
{
	int oldest = 0;

	for (int i = 0; i < STARTS_MAX; i++) {
		if (!starts[i].used) {
			oldest = i;
			break;
		}
		if (starts[i].at < starts[oldest].at)
			oldest = i;
	}
	starts[oldest].used = true;
	starts[oldest].swap = swap;
	starts[oldest].at = loop_now();
}

void queue_swap_ended(int64_t swap, bool completed)
{
	for (int i = 0; i < STARTS_MAX; i++) {
		if (!starts[i].used || starts[i].swap != swap)
			continue;
		starts[i].used = false;
		/* An aborted swap ran into a timeout: not how long a swap takes. */
		if (completed) {
			double d = (double)(loop_now() - starts[i].at) / 1000;
			swaps_seen++;
			mean_swap_s += (d - mean_swap_s) / (swaps_seen < MEAN_WINDOW ? swaps_seen : MEAN_WINDOW);
		}
	}
}

void queue_eta_forget(void)
{
	swaps_seen = 0;
	mean_swap_s = 0;
	s_per_point_seen = 0;
	s_per_point = 0;
	memset(measure, 0, sizeof measure);
	memset(starts, 0, sizeof starts);
}
