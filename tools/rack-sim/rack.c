/* Rack model: the controllers on their bus, the batteries' physics, what
 * each controller senses. The verbs that change it are in rack_verbs.c and
 * rack_rider.c. */
#include "tools/rack-sim/rack.h"

#include <stdlib.h>
#include <string.h>

#include "tools/rack-sim/rack_priv.h"

/* xorshift64*: reproducible noise, seeded by the noise verb. */
static double rnd(struct rack *r)
{
	r->rng ^= r->rng >> 12;
	r->rng ^= r->rng << 25;
	r->rng ^= r->rng >> 27;
	return (double)((r->rng * 0x2545F4914F6CDD1DULL) >> 11) / 9007199254740992.0;
}

/* The controller's transmitter: a silenced slot's line is cut, noise may
 * flip one bit of the frame. */
static void slot_tx(void *bus, const uint8_t *buf, size_t len)
{
	struct rack_slot *s = bus;
	struct rack *r = s->rack;
	uint8_t f[MB_SLAVE_FRAME_MAX];

	if (s->silent || len > sizeof(f))
		return;
	memcpy(f, buf, len);
	if (r->noise > 0 && rnd(r) < r->noise)
		f[(size_t)(rnd(r) * (double)len)] ^= (uint8_t)(1u << (int)(rnd(r) * 8));
	r->tx(r->bus, f, len);
}

/* What the controller senses: the bolt follows its actuator unless stuck. */
void rack_sync_slot(struct rack *r, struct rack_slot *s)
{
	struct slot_sensors *in = &s->port.sensors;

	if (!s->stuck_lock)
		s->lock_closed = s->port.outputs.lock;
	memset(in, 0, sizeof(*in));
	in->door_open = s->door_open;
	in->lock_closed = s->lock_closed;
	in->charger_fault = s->charger_fault;
	if (s->bat >= 0) {
		in->present = true;
		in->bms_ok = true;
		bat_bms(&r->bats[s->bat], &in->bms);
	}
}

int rack_slot_no(const struct rack *r, const struct rack_slot *s)
{
	return (int)(s - r->slots) + 1;
}

int rack_init(struct rack *r, int n, uint32_t baud, const struct prof *profile,
	      void (*tx)(void *bus, const uint8_t *buf, size_t len), void *bus, uint32_t now_us)
{
	memset(r, 0, sizeof(*r));
	r->slots = calloc((size_t)n, sizeof(*r->slots));
	if (!r->slots)
		return -1;
	r->n = n;
	r->ambient_c = 25.0;
	r->rng = 0x9E3779B97F4A7C15ULL;
	r->tx = tx;
	r->bus = bus;
	for (int i = 0; i < n; i++) {
		struct rack_slot *s = &r->slots[i];
		s->rack = r;
		s->bat = -1;
		s->lock_closed = true;
		s->close_at = -1;
		s->port.tx = slot_tx;
		s->port.bus = s;
		s->port.outputs.lock = true;
		s->pport.p = profile;
		s->pport.slot = &s->fw.slot;
		fw_init(&s->fw, (uint8_t)(i + 1), baud, &hal_host_ops, &s->port,
			profile ? &prof_backend : NULL, &s->pport, now_us);
		rack_sync_slot(r, s);
	}
	return 0;
}

void rack_free(struct rack *r)
{
	free(r->slots);
	free(r->bats);
	memset(r, 0, sizeof(*r));
}

void rack_poll(struct rack *r, uint64_t now_us)
{
	for (int i = 0; i < r->n; i++) {
		struct rack_slot *s = &r->slots[i];
		bool was = s->port.outputs.lock;
		fw_poll(&s->fw, (uint32_t)now_us);
		/* every time the actuator let go: a door that could open; the
		 * firmware has just taken the write that did it */
		if (was && !s->port.outputs.lock) {
			s->unlocks++;
			s->unlocked_at_us = now_us;
		}
	}
}

void rack_physics(struct rack *r, double dt)
{
	r->sim_s += dt;
	for (size_t b = 0; b < r->nbats; b++) {
		bool on = false;
		double limit = 0;
		for (int i = 0; i < r->n; i++)
			if (r->slots[i].bat == (int)b) {
				const struct rack_slot *s = &r->slots[i];
				on = s->port.outputs.charger_on && !s->charger_dead;
				limit = s->port.outputs.current_limit_da / 10.0;
				/* a welded relay feeds the battery at the last limit
				 * the master set, whatever the firmware drives */
				if (s->relay_welded) {
					on = true;
					limit = s->fw.slot.hr[SLOT_HR_CURRENT_LIMIT] / 10.0;
				}
			}
		bat_step(&r->bats[b], dt, on, limit, r->ambient_c);
	}
	for (int i = 0; i < r->n; i++) {
		struct rack_slot *s = &r->slots[i];
		if (s->close_at >= 0 && r->sim_s >= s->close_at) {
			s->door_open = false;
			s->close_at = -1;
		}
		rack_sync_slot(r, s);
	}
}

void rack_rx(struct rack *r, uint8_t byte, uint32_t now_us)
{
	/* A frame of ~8 bytes is hit with probability ~noise. */
	if (r->noise > 0 && rnd(r) < r->noise / 8)
		byte ^= (uint8_t)(1u << (int)(rnd(r) * 8));
	for (int i = 0; i < r->n; i++)
		if (!r->slots[i].silent)
			fw_rx(&r->slots[i].fw, byte, now_us);
}
