#include "pop3d/pop3_ahead.h"

#include <stdlib.h>

#include "common/xalloc.h"
#include "pop3d/pop3_session.h"

struct pop3_ahead *pop3_ahead_plan(struct pop3_session *s, uint32_t first)
{
	struct pop3d *d = pop3d_of(s);
	struct pop3_maildrop *md = s->drop;
	if (d->aheads_held >= POP3_AHEAD_SESSIONS)
		return NULL;
	struct pop3_ahead *a = NULL;
	uint64_t total = 0;
	for (uint32_t n = first; n >= 1 && n <= md->count; n++) {
		const struct pop3_msg *m = &md->msgs[n - 1];
		if ((m->marks & POP3_MSG_DELETED) || m->size > POP3_AHEAD_BYTES - total ||
		    (a != NULL && a->count == POP3_AHEAD_MAX))
			break;
		if (a == NULL)
			a = xcalloc(1, sizeof(*a));
		a->msgs[a->count++] = (struct pop3_ahead_msg){ .number = n, .uid = m->uid,
							       .size = m->size };
		total += m->size;
	}
	if (a != NULL) {
		a->held = &d->aheads_held;
		d->aheads_held++;
	}
	return a;
}

bool pop3_ahead_take(struct pop3_ahead *a, uint32_t number, const uint8_t **answer_r,
		     size_t *len_r)
{
	while (a->next < a->read && a->msgs[a->next].number < number)
		a->next++;
	if (a->next >= a->read || a->msgs[a->next].number != number)
		return false;
	const struct pop3_ahead_msg *m = &a->msgs[a->next++];
	*answer_r = a->data.data + m->start;
	*len_r = m->len;
	return true;
}

void pop3_ahead_free(struct pop3_ahead **ap)
{
	struct pop3_ahead *a = *ap;
	if (a == NULL)
		return;
	*ap = NULL;
	(*a->held)--;
	buf_free(&a->data);
	free(a);
}
