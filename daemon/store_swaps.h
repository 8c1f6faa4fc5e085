/* The store's swaps concern (store_swaps.c): one row per swap, written at
 * every transition before the door it leads to moves (daemon/DESIGN.md,
 * "Swap flow"). Its own header, as DESIGN.md's Store section suggests once
 * store.h grows long. */
#ifndef SWAPD_STORE_SWAPS_H
#define SWAPD_STORE_SWAPS_H

#include <stdbool.h>
#include <stdint.h>

#include "daemon/err.h"
#include "daemon/store.h"

/* One swap as stored. Times are wall-clock Unix ms. */
struct store_swap {
	int64_t id;           /* set by store_swap_start; never reused */
	char nonce[23];       /* the S token's nonce */
	char user[33];        /* its subject */
	int64_t ticket;       /* the queue's ticket, 0: none */
	int slot_in, slot_out; /* station slot numbers */
	char stage[16];       /* swap_stage_name() */
	int64_t started_at, stage_at, ended_at; /* ended_at 0: unfinished */
	int reopens;          /* times the door was opened again after closing empty */
	uint64_t battery_in;  /* the returned battery, 0 until its id was read */
	double soc_in, soh_in;
	uint64_t battery_out; /* the battery handed out (or meant to be) */
	double soc_out;
	char result[12];      /* "completed", "aborted"; "" unfinished */
	char reason[32];      /* an abort's reason (mqtt.md swap.aborted) */
	char abort_stage[16]; /* the stage it was aborted in */
	char note[96];        /* a staff abort: who, and their words */
};

/* Records a new swap from s (every field but id) and sets s->id. */
enum sw_err store_swap_start(struct store *st, struct store_swap *s, const struct store_event *ev);

/* Writes every changing field of swap s->id: stage, times, counts,
 * batteries, slot_out (a better battery may replace the first pick), the
 * result. */
enum sw_err store_swap_update(struct store *st, const struct store_swap *s,
			      const struct store_event *ev);

/* Reads swap id: SW_OK with *found false when there is no such swap. */
enum sw_err store_swap_get(struct store *st, int64_t id, struct store_swap *out, bool *found);

/* Calls fn for each unfinished swap (open true), oldest first, or for the
 * latest `limit` finished ones (open false), newest first. */
enum sw_err store_swaps_each(struct store *st, bool open, int limit,
			     void (*fn)(const struct store_swap *s, void *arg), void *arg);

#endif
