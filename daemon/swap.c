#include "daemon/swap.h"

static swap_admit_fn admit_fn;
static void *admit_arg;

void swap_set_admit(swap_admit_fn fn, void *arg)
{
	admit_fn = fn;
	admit_arg = arg;
}
