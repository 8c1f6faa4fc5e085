/* A stand-in until the server lands (issue 12). */
#include "daemon/web.h"

enum sw_err web_start(const struct config_kiosk *cfg, json_object *(*view)(void), char *why,
		      size_t whylen)
{
	(void)cfg;
	(void)view;
	(void)why;
	(void)whylen;
	return SW_OK;
}

void web_push(const char *event, const char *data)
{
	(void)event;
	(void)data;
}

void web_stop(void)
{
}
