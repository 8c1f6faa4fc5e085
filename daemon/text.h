/* Text for people: text from outside (a control client, a device) made
 * safe to show, and times written as the fleet contract writes them. */
#ifndef SWAPD_TEXT_H
#define SWAPD_TEXT_H

#include <stddef.h>
#include <stdint.h>

/* Copies len bytes of src into dst (cap > 0 bytes, NUL-terminated) as text
 * that is safe to show a person: each invalid UTF-8 byte or control
 * character (C0, DEL, C1) becomes '?', and a character that does not fit
 * whole is left out. So the copy is valid UTF-8, carries no terminal escape
 * and is at most cap - 1 bytes. */
void text_clean(char *dst, size_t cap, const char *src, size_t len);

/* Writes wall time ms (Unix milliseconds) as RFC 3339 UTC with
 * milliseconds, "2026-11-22T10:15:00.123Z" (mqtt.md), into buf (at least
 * TEXT_TIME_LEN bytes) and returns buf. */
#define TEXT_TIME_LEN 32
const char *text_time(int64_t ms, char *buf, size_t len);

#endif
