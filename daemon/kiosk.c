/* A stand-in until the view lands (issue 12): the version only. */
#include "daemon/kiosk.h"

enum sw_err kiosk_start(const struct config *cfg, struct store *st, char *why, size_t whylen)
{
	(void)cfg;
	(void)st;
	(void)why;
	(void)whylen;
	return SW_OK;
}

json_object *kiosk_view(void)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "version", json_object_new_int(0));
	return o;
}

void kiosk_stop(void)
{
}
