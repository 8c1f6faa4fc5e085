#include "daemon/text.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* Length of the character at s (n bytes left) when it is valid UTF-8 and
 * printable, else 0: overlong forms, surrogates, C0 and C1 controls and DEL
 * all give 0. */
static size_t utf8_printable(const unsigned char *s, size_t n)
{
	unsigned lead = s[0];
	size_t len;
	uint32_t cp;

	if (lead >= 0x20 && lead < 0x7f)
		return 1;
	if (lead < 0xc2 || lead > 0xf4)
		return 0;
	len = lead < 0xe0 ? 2 : lead < 0xf0 ? 3 : 4;
	if (len > n)
		return 0;
	cp = lead & (0x7fu >> len);
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3fu);
	}
	if (cp < (len == 2 ? 0x80u : len == 3 ? 0x800u : 0x10000u) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff) || (cp >= 0x80 && cp < 0xa0))
		return 0;
	return len;
}

void text_clean(char *dst, size_t cap, const char *src, size_t len)
{
	const unsigned char *s = (const unsigned char *)src;
	size_t o = 0;

	for (size_t i = 0; i < len;) {
		size_t n = utf8_printable(s + i, len - i);
		size_t w = n ? n : 1;
		if (o + w >= cap)
			break;
		if (n)
			memcpy(dst + o, s + i, n);
		else
			dst[o] = '?';
		o += w;
		i += w;
	}
	dst[o] = '\0';
}

const char *text_time(int64_t ms, char *buf, size_t len)
{
	time_t s = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&s, &tm);
	size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, len - n, ".%03dZ", (int)(ms % 1000));
	return buf;
}
