/* The error collector of every file swapd validates (the config, register
 * profiles): each problem becomes one "key.path: value problem" line, and
 * validation goes on, so a file's problems are all reported at once. */
#ifndef SWAPD_CONFIG_ERRORS_H
#define SWAPD_CONFIG_ERRORS_H

#include <stddef.h>

#define CONFIG_MAX_ERRORS 32
#define CONFIG_ERROR_LEN 256

struct config_errors {
	size_t n;       /* errors found (may exceed what msg holds) */
	char msg[CONFIG_MAX_ERRORS][CONFIG_ERROR_LEN];
};

/* Adds one message to errs; past CONFIG_MAX_ERRORS only counts it. */
void config_error_add(struct config_errors *errs, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
