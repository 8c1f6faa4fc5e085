/* What the token module's two files share: token.c (the grammar, verify,
 * issue) and token_keys.c (the key file). Private to them; everyone else
 * includes token.h. */
#ifndef SWAPD_TOKEN_PRIV_H
#define SWAPD_TOKEN_PRIV_H

#include <stdbool.h>
#include <stddef.h>

/* Character classes of the grammar, ASCII only (no locale may widen them). */
bool token_is_digit(char c);
bool token_is_alnum(char c);

/* True if s[0..n) is min to max characters, each one of class cls. */
bool token_all_of(const char *s, size_t n, size_t min, size_t max, bool (*cls)(char));

/* Writes the message into err (errlen bytes); nothing when err is NULL. */
void token_set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
