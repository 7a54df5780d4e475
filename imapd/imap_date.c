#include "imapd/imap_date.h"

#include <string.h>
#include <strings.h>
#include <time.h>

static const char months[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
				    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };

static bool digits(const uint8_t *p, size_t n, int *value)
{
	*value = 0;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		*value = *value * 10 + (p[i] - '0');
	}
	return true;
}

static bool leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

bool imap_datetime_parse(struct span text, int64_t *seconds_r)
{
	/* date-day-fixed "-" date-month "-" date-year SP time SP zone */
	if (text.len != 26)
		return false;
	const uint8_t *p = text.ptr;
	int day, year, hour, min, sec, zone;
	if (p[0] == ' ') {
		if (!digits(p + 1, 1, &day))
			return false;
	} else if (!digits(p, 2, &day)) {
		return false;
	}
	int month = -1;
	for (int m = 0; m < 12; m++)
		if (strncasecmp((const char *)p + 3, months[m], 3) == 0)
			month = m;
	if (p[2] != '-' || month < 0 || p[6] != '-' || !digits(p + 7, 4, &year) || p[11] != ' ' ||
	    !digits(p + 12, 2, &hour) || p[14] != ':' || !digits(p + 15, 2, &min) || p[17] != ':' ||
	    !digits(p + 18, 2, &sec) || p[20] != ' ' || (p[21] != '+' && p[21] != '-') ||
	    !digits(p + 22, 4, &zone))
		return false;
	static const int mdays[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int max_day = mdays[month] + (month == 1 && leap(year));
	if (day < 1 || day > max_day || year < 1970 || hour > 23 || min > 59 || sec > 60 ||
	    zone % 100 > 59)
		return false;
	struct tm tm = { .tm_year = year - 1900, .tm_mon = month, .tm_mday = day,
			 .tm_hour = hour, .tm_min = min, .tm_sec = sec };
	int64_t t = (int64_t)timegm(&tm);
	int64_t offset = (zone / 100) * 3600 + (zone % 100) * 60;
	*seconds_r = p[21] == '+' ? t - offset : t + offset;
	return true;
}

void imap_datetime_write(struct buf *out, int64_t seconds)
{
	time_t t = (time_t)seconds;
	struct tm tm;
	gmtime_r(&t, &tm);
	buf_printf(out, "\"%02d-%s-%04d %02d:%02d:%02d +0000\"", tm.tm_mday, months[tm.tm_mon],
		   tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}
