/* Host HAL: the simulator's memory stands in for pins and the bus. */
#include "firmware/hal_host.h"

static void host_send(void *ctx, const uint8_t *buf, size_t len)
{
	struct hal_host_port *p = ctx;

	p->tx(p->bus, buf, len);
}

static void host_sense(void *ctx, struct slot_sensors *s)
{
	const struct hal_host_port *p = ctx;

	*s = p->sensors;
}

static void host_actuate(void *ctx, const struct slot_outputs *o)
{
	struct hal_host_port *p = ctx;

	p->outputs = *o;
}

const struct hal_ops hal_host_ops = { host_send, host_sense, host_actuate };
