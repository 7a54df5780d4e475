#include "pop3d/pop3_args.h"

int pop3_args_split(struct span args, struct span *words, size_t max)
{
	size_t count = 0, i = 0;
	while (i < args.len) {
		if (args.ptr[i] == ' ') {
			i++;
			continue;
		}
		size_t start = i;
		while (i < args.len && args.ptr[i] != ' ')
			i++;
		if (count == max)
			return -1;
		words[count++] = span_make(args.ptr + start, i - start);
	}
	return (int)count;
}

enum pop3_number_result pop3_number_parse(struct span word, uint64_t max, uint64_t *value_r)
{
	if (word.len == 0)
		return POP3_NUMBER_INVALID;
	for (size_t i = 0; i < word.len; i++)
		if (word.ptr[i] < '0' || word.ptr[i] > '9')
			return POP3_NUMBER_INVALID;
	uint64_t value = 0;
	for (size_t i = 0; i < word.len; i++) {
		unsigned digit = (unsigned)(word.ptr[i] - '0');
		/* value * 10 + digit <= max, without overflowing. */
		if (digit > max || value > (max - digit) / 10)
			return POP3_NUMBER_TOO_LARGE;
		value = value * 10 + digit;
	}
	*value_r = value;
	return POP3_NUMBER_OK;
}
