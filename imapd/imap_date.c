#include "imapd/imap_date.h"

#include <time.h>

#define DAY_SECONDS 86400

static const char month_names[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };

static bool is_leap_year(unsigned int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static unsigned int days_in_month(unsigned int month, unsigned int year)
{
	static const unsigned char days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	return month == 1 && is_leap_year(year) ? 29 : days[month];
}

/* Days from 0001-01-01 to 1 January of `year` (>= 1), proleptic Gregorian. */
static int64_t days_before_year(int64_t year)
{
	int64_t y = year - 1;
	return 365 * y + y / 4 - y / 100 + y / 400;
}

/* Seconds at 00:00 UTC of the day. Shifted by one 400-year cycle (146097
   days) so that year 0000, which the grammar allows, needs no negative
   division. */
static int64_t day_to_epoch(unsigned int day, unsigned int month, unsigned int year)
{
	int64_t days = days_before_year((int64_t)year + 400) - 146097 - days_before_year(1970);
	for (unsigned int m = 0; m < month; m++)
		days += days_in_month(m, year);
	days += day - 1;
	return days * DAY_SECONDS;
}

static int parse_digits(struct span s, size_t *pos, size_t min, size_t max, unsigned int *value_r)
{
	size_t start = *pos;
	unsigned int v = 0;
	while (*pos < s.len && *pos - start < max && s.ptr[*pos] >= '0' && s.ptr[*pos] <= '9')
		v = v * 10 + (unsigned int)(s.ptr[(*pos)++] - '0');
	if (*pos - start < min)
		return -1;
	*value_r = v;
	return 0;
}

static int parse_month(struct span s, size_t *pos, unsigned int *month_r)
{
	if (s.len - *pos < 3)
		return -1;
	struct span m = span_make(s.ptr + *pos, 3);
	for (unsigned int i = 0; i < 12; i++) {
		if (span_eq_ci(m, month_names[i])) {
			*month_r = i;
			*pos += 3;
			return 0;
		}
	}
	return -1;
}

static int expect_byte(struct span s, size_t *pos, uint8_t c)
{
	if (*pos >= s.len || s.ptr[*pos] != c)
		return -1;
	(*pos)++;
	return 0;
}

/* "-Feb-1994" after the day: the month and year, checked with the day. */
static int parse_month_year(struct span s, size_t *pos, unsigned int day, int64_t *seconds_r)
{
	unsigned int month, year;
	if (expect_byte(s, pos, '-') < 0 || parse_month(s, pos, &month) < 0 ||
	    expect_byte(s, pos, '-') < 0 || parse_digits(s, pos, 4, 4, &year) < 0)
		return -1;
	if (day < 1 || day > days_in_month(month, year))
		return -1;
	*seconds_r = day_to_epoch(day, month, year);
	return 0;
}

bool imap_date_parse(struct span s, int64_t *day_seconds_r)
{
	size_t pos = 0;
	unsigned int day;
	return parse_digits(s, &pos, 1, 2, &day) == 0 &&
	       parse_month_year(s, &pos, day, day_seconds_r) == 0 && pos == s.len;
}

bool imap_datetime_parse(struct span s, int64_t *seconds_r)
{
	/* date-day-fixed "-" date-month "-" date-year SP time SP zone */
	size_t pos = 0;
	unsigned int day, hour, min, sec, zone;
	int64_t midnight;
	if (s.len != 26)
		return false;
	if (s.ptr[0] == ' ')
		pos = 1;
	if (parse_digits(s, &pos, 2 - pos, 2 - pos, &day) < 0 ||
	    parse_month_year(s, &pos, day, &midnight) < 0 || expect_byte(s, &pos, ' ') < 0 ||
	    parse_digits(s, &pos, 2, 2, &hour) < 0 || expect_byte(s, &pos, ':') < 0 ||
	    parse_digits(s, &pos, 2, 2, &min) < 0 || expect_byte(s, &pos, ':') < 0 ||
	    parse_digits(s, &pos, 2, 2, &sec) < 0 || expect_byte(s, &pos, ' ') < 0 ||
	    pos >= s.len || (s.ptr[pos] != '+' && s.ptr[pos] != '-'))
		return false;
	bool east = s.ptr[pos++] == '+';
	if (parse_digits(s, &pos, 4, 4, &zone) < 0 || pos != s.len || midnight < 0 || hour > 23 ||
	    min > 59 || sec > 60 || zone % 100 > 59)
		return false;
	int64_t offset = (int64_t)(zone / 100) * 3600 + (zone % 100) * 60;
	int64_t local = midnight + hour * 3600 + min * 60 + sec;
	*seconds_r = east ? local - offset : local + offset;
	return true;
}

void imap_datetime_write(struct buf *out, int64_t seconds)
{
	time_t t = (time_t)seconds;
	struct tm tm;
	gmtime_r(&t, &tm);
	buf_printf(out, "\"%02d-%s-%04d %02d:%02d:%02d +0000\"", tm.tm_mday, month_names[tm.tm_mon],
		   tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}
