/* Logging to stderr, one line per event. Under systemd (JOURNAL_STREAM names
 * our stderr) each line starts with a syslog priority prefix such as "<3>" so
 * journald files it at the right level; elsewhere lines carry a UTC time and
 * a level word. Priorities are the <syslog.h> ones (LOG_ERR ... LOG_DEBUG). */
#ifndef SWAPD_LOG_H
#define SWAPD_LOG_H

#include <stdbool.h>
#include <stdint.h>
#include <syslog.h>

/* Decides the output style from the environment; lines above `level` are
 * dropped. Safe to call again. */
void log_init(int level);

/* Changes the level at run time (config reload, -v). */
void log_set_level(int level);

/* The priority for a name ("err", "warning", "notice", "info", "debug"),
 * or -1 for an unknown name. */
int log_level_parse(const char *name);

/* The name of a priority, as log_level_parse accepts it. */
const char *log_level_name(int level);

/* Writes one line at priority prio (newlines in the text are flattened). */
void log_msg(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A condition that may repeat many times a second (a slave that does not
 * answer, a failing disk). It is logged when it changes and then summarised
 * at most once per LOG_COND_SUMMARY_S, so a flapping line cannot fill the
 * flash. Zero-initialise; state 0 means "fine". */
#define LOG_COND_SUMMARY_S 300
struct log_cond {
	int state;            /* last reported state; 0 = fine */
	unsigned long repeats; /* occurrences since the last line */
	int64_t next_ms;      /* monotonic ms when a summary is due */
};

/* Reports that `lc` is now in `state` (0 = fine). Logs the message when the
 * state changed (after a summary of the repeats of the old one), otherwise
 * only counts, and logs "... (repeated N times)" when a summary is due.
 * Returns true when it wrote a line. */
bool log_cond(struct log_cond *lc, int state, int prio, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#endif
