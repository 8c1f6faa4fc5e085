#include "daemon/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int log_threshold = LOG_INFO;
static bool log_journal;

static const char *const level_names[] = {
	[LOG_EMERG] = "emerg", [LOG_ALERT] = "alert", [LOG_CRIT] = "crit",
	[LOG_ERR] = "err", [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice",
	[LOG_INFO] = "info", [LOG_DEBUG] = "debug",
};

/* systemd sets JOURNAL_STREAM to "dev:ino" of the stream it connected to
 * stderr; only when that still is our stderr do we speak its prefix
 * protocol (see systemd.exec(5), "JOURNAL_STREAM"). */
static bool stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (!js || sscanf(js, "%llu:%llu", &dev, &ino) != 2)
		return false;
	if (fstat(STDERR_FILENO, &st) < 0)
		return false;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void log_init(int level)
{
	log_threshold = level;
	log_journal = stderr_is_journal();
}

void log_set_level(int level)
{
	log_threshold = level;
}

int log_level_parse(const char *name)
{
	for (int i = 0; i < (int)(sizeof level_names / sizeof level_names[0]); i++)
		if (strcmp(name, level_names[i]) == 0)
			return i;
	return -1;
}

const char *log_level_name(int level)
{
	if (level < 0 || level > LOG_DEBUG)
		return "?";
	return level_names[level];
}

static void log_vmsg(int prio, const char *fmt, va_list ap)
{
	char text[1024];
	char stamp[32] = "";

	if (prio > log_threshold)
		return;
	vsnprintf(text, sizeof text, fmt, ap);
	for (char *p = text; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	if (log_journal) {
		fprintf(stderr, "<%d>%s\n", prio, text);
		return;
	}
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
	fprintf(stderr, "%s.%03ldZ %s: %s\n", stamp, ts.tv_nsec / 1000000,
		log_level_name(prio), text);
}

void log_msg(int prio, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(prio, fmt, ap);
	va_end(ap);
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool log_cond(struct log_cond *lc, int state, int prio, const char *fmt, ...)
{
	int64_t now = mono_ms();
	va_list ap;

	if (state == lc->state) {
		if (state == 0)
			return false;
		lc->repeats++;
		if (now < lc->next_ms)
			return false;
		char text[900];
		va_start(ap, fmt);
		vsnprintf(text, sizeof text, fmt, ap);
		va_end(ap);
		log_msg(prio, "%s (repeated %lu times in %d s)", text, lc->repeats,
			LOG_COND_SUMMARY_S);
		lc->repeats = 0;
		lc->next_ms = now + LOG_COND_SUMMARY_S * 1000;
		return true;
	}
	if (lc->repeats > 0)
		log_msg(LOG_INFO, "previous condition repeated %lu more times", lc->repeats);
	va_start(ap, fmt);
	log_vmsg(prio, fmt, ap);
	va_end(ap);
	lc->state = state;
	lc->repeats = 0;
	lc->next_ms = now + LOG_COND_SUMMARY_S * 1000;
	return true;
}
