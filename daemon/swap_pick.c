/* The swap's choices (swap_pick.h): pure functions over a slot view. */
#include "daemon/swap_pick.h"

#define BATTERY_FAULTS ((1u << RFLT_OVER_TEMP) | (1u << RFLT_CELL_OV))

/* A slot fit to be opened for a rider at all; its own hold aside. */
static bool usable(const struct swap_slot_view *s)
{
	return s->online && !s->door_open && s->locked && !s->fault && !s->out_of_service &&
	       !s->alarm && !s->blocked;
}

int swap_pick_in(const struct swap_slot_view *v, int n)
{
	for (int i = 0; i < n; i++)
		if (usable(&v[i]) && !v[i].held && !v[i].present)
			return i;
	return -1;
}

/* What a BMS says is a percentage, or it is talking nonsense (a profile
 * need not name the firmware's own BMS_INVALID bit). */
static bool plausible(const struct swap_slot_view *s)
{
	return s->soc >= 0 && s->soc <= 100 && s->soh >= 0 && s->soh <= 100;
}

static bool candidate(const struct swap_slot_view *s, double min_soc)
{
	return usable(s) && s->present && s->identified && s->battery && plausible(s) &&
	       !s->quarantined && s->soc >= min_soc;
}

/* Whether a is the better battery to hand out than b (b < 0: none yet). */
static bool better(const struct swap_slot_view *v, int a, int b)
{
	if (b < 0)
		return true;
	if (v[a].soh != v[b].soh)
		return v[a].soh > v[b].soh;
	return v[a].soc > v[b].soc;
}

int swap_pick_out(const struct swap_slot_view *v, int n, double min_soc, double soc_in)
{
	int best = -1, best_enough = -1;

	for (int i = 0; i < n; i++) {
		if (v[i].held || !candidate(&v[i], min_soc))
			continue;
		if (better(v, i, best))
			best = i;
		if (soc_in >= 0 && v[i].soc >= soc_in && better(v, i, best_enough))
			best_enough = i;
	}
	return best_enough >= 0 ? best_enough : best;
}

int swap_pick_charged(const struct swap_slot_view *v, int n, double min_soc)
{
	int count = 0;

	for (int i = 0; i < n; i++)
		count += !v[i].held && candidate(&v[i], min_soc);
	return count;
}

int swap_pick_recheck(const struct swap_slot_view *v, int n, int cur, double min_soc,
		      double soc_in)
{
	int best = swap_pick_out(v, n, min_soc, soc_in);

	if (cur < 0 || cur >= n || !candidate(&v[cur], min_soc))
		return best;
	if (soc_in >= 0 && v[cur].soc < soc_in && best >= 0 && v[best].soc >= soc_in)
		return best;
	return cur;
}

enum swap_in_kind swap_pick_classify(const struct swap_slot_view *v, double quarantine_soh)
{
	if (!v->present)
		return SWAP_IN_EMPTY;
	if (!v->identified)
		return SWAP_IN_PENDING;
	if (!v->battery || (v->faults & (1u << RFLT_BMS_INVALID)) || !plausible(v))
		return SWAP_IN_UNKNOWN;
	if (v->soh < quarantine_soh || (v->faults & BATTERY_FAULTS))
		return SWAP_IN_BAD;
	return SWAP_IN_KNOWN;
}
