#include "common/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

static struct {
	char ident[32];
	enum log_target target;
	enum log_level min_level;
	bool syslog_open;
} logger = { "petrel", LOG_TARGET_STDERR, LOG_LEVEL_INFO, false };

static const char *const level_names[] = { "debug", "info", "warning", "error" };
static const int level_syslog[] = { LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERR };

void log_init(const char *ident, enum log_target target, enum log_level min_level,
	      int syslog_facility)
{
	snprintf(logger.ident, sizeof(logger.ident), "%s", ident);
	logger.target = target;
	logger.min_level = min_level;
	if (logger.syslog_open) {
		closelog();
		logger.syslog_open = false;
	}
	if (target == LOG_TARGET_SYSLOG) {
		openlog(logger.ident, LOG_PID | LOG_NDELAY, syslog_facility);
		logger.syslog_open = true;
	}
}

void log_deinit(void)
{
	if (logger.syslog_open)
		closelog();
	logger.syslog_open = false;
}

bool log_enabled(enum log_level level)
{
	return level >= logger.min_level;
}

void log_event(enum log_level level, const struct log_ctx *ctx, const char *event,
	       const char *fmt, ...)
{
	if (!log_enabled(level))
		return;

	/* Assemble the whole line first so concurrent writers (several
	   processes sharing stderr) never interleave within a line. */
	char line[2048];
	size_t len = 0;
#define APPEND(...) \
	do { \
		if (len < sizeof(line)) { \
			int n_ = snprintf(line + len, sizeof(line) - len, __VA_ARGS__); \
			if (n_ > 0) \
				len += (size_t)n_; \
		} \
	} while (0)

	if (logger.target == LOG_TARGET_STDERR) {
		struct timespec ts;
		struct tm tm;
		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		APPEND("%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s ", tm.tm_year + 1900,
		       tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		       ts.tv_nsec / 1000000, logger.ident, level_names[level]);
	} else {
		APPEND("%s ", level_names[level]);
	}
	APPEND("event=%s", event);
	if (ctx != NULL) {
		if (ctx->session[0] != '\0')
			APPEND(" session=%s", ctx->session);
		if (ctx->ip[0] != '\0')
			APPEND(" ip=%s", ctx->ip);
		if (ctx->user != NULL) {
			char quoted[300];
			APPEND(" user=%s", log_quote(quoted, sizeof(quoted), span_cstr(ctx->user), 256));
		}
	}
	if (fmt != NULL && fmt[0] != '\0' && len < sizeof(line)) {
		line[len++] = ' ';
		va_list ap;
		va_start(ap, fmt);
		if (len < sizeof(line)) {
			int n = vsnprintf(line + len, sizeof(line) - len, fmt, ap);
			if (n > 0)
				len += (size_t)n;
		}
		va_end(ap);
	}
#undef APPEND
	if (len >= sizeof(line) - 1)
		len = sizeof(line) - 2;

	if (logger.target == LOG_TARGET_SYSLOG) {
		line[len] = '\0';
		syslog(level_syslog[level], "%s", line);
	} else {
		line[len++] = '\n';
		fwrite(line, 1, len, stderr);
		fflush(stderr);
	}
}

static bool is_plain(uint8_t c)
{
	return c > 0x20 && c < 0x7f && c != '"' && c != '\\' && c != '=';
}

const char *log_quote(char *out, size_t outlen, struct span value, size_t max)
{
	if (outlen == 0)
		return out;
	bool plain = value.len > 0 && value.len <= max;
	for (size_t i = 0; plain && i < value.len; i++)
		plain = is_plain(value.ptr[i]);
	size_t o = 0;
	if (plain) {
		o = value.len < outlen - 1 ? value.len : outlen - 1;
		memcpy(out, value.ptr, o);
		out[o] = '\0';
		return out;
	}
	/* Reserve room for the closing quote, "..." and the NUL. */
	if (outlen < 8) {
		out[0] = '\0';
		return out;
	}
	size_t limit = outlen - 6;
	out[o++] = '"';
	size_t i;
	for (i = 0; i < value.len && i < max; i++) {
		uint8_t c = value.ptr[i];
		char esc[5];
		size_t n;
		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			n = 2;
		} else if (c < 0x20 || c >= 0x7f) {
			snprintf(esc, sizeof(esc), "\\x%02x", c);
			n = 4;
		} else {
			esc[0] = (char)c;
			n = 1;
		}
		if (o + n > limit)
			break;
		memcpy(out + o, esc, n);
		o += n;
	}
	if (i < value.len) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o++] = '"';
	out[o] = '\0';
	return out;
}

int log_level_parse(const char *s)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
		if (strcmp(s, level_names[i]) == 0)
			return (int)i;
	return -1;
}

int log_facility_parse(const char *s)
{
	static const struct {
		const char *name;
		int value;
	} facilities[] = {
		{ "mail", LOG_MAIL },	  { "daemon", LOG_DAEMON }, { "user", LOG_USER },
		{ "local0", LOG_LOCAL0 }, { "local1", LOG_LOCAL1 }, { "local2", LOG_LOCAL2 },
		{ "local3", LOG_LOCAL3 }, { "local4", LOG_LOCAL4 }, { "local5", LOG_LOCAL5 },
		{ "local6", LOG_LOCAL6 }, { "local7", LOG_LOCAL7 },
	};
	for (size_t i = 0; i < sizeof(facilities) / sizeof(facilities[0]); i++)
		if (strcmp(s, facilities[i].name) == 0)
			return facilities[i].value;
	return -1;
}
