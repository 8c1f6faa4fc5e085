#include "daemon/config_errors.h"

#include <stdarg.h>
#include <stdio.h>

void config_error_add(struct config_errors *errs, const char *fmt, ...)
{
	va_list ap;

	if (errs->n < CONFIG_MAX_ERRORS) {
		va_start(ap, fmt);
		vsnprintf(errs->msg[errs->n], CONFIG_ERROR_LEN, fmt, ap);
		va_end(ap);
	}
	errs->n++;
}
