#include "mailauth/result.h"

const char *mailauth_result_name(enum mailauth_result r)
{
	switch (r) {
	case MAILAUTH_NONE:
		return "none";
	case MAILAUTH_PASS:
		return "pass";
	case MAILAUTH_FAIL:
		return "fail";
	case MAILAUTH_SOFTFAIL:
		return "softfail";
	case MAILAUTH_NEUTRAL:
		return "neutral";
	case MAILAUTH_TEMPERROR:
		return "temperror";
	case MAILAUTH_PERMERROR:
		return "permerror";
	case MAILAUTH_POLICY:
		return "policy";
	case MAILAUTH_PENDING:
		return "pending";
	}
	return "none";
}
