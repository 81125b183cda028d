/*
 * watchdog.c: the rules put back when another program took them
 * (watchdog.h).  A failure is retried every second but logged once, and
 * again when it ends.
 */
#include "../event/clock.h"
#include "../intercept/intercept.h"
#include "../util/log.h"
#include "watchdog.h"

void ns_watchdog_check(struct ns_watchdog *w, const struct ns_config *cfg, int ipv6,
                       int64_t now_ms)
{
	char what[512], err[512];
	int rc = ns_intercept_check(cfg, (enum ns_ipv6)ipv6, what, sizeof(what));

	if (rc < 0 && !w->unknown)
		ns_log(NS_LOG_WARN, "cannot read the firewall rules back; the watchdog retries "
		       "every second");
	w->unknown = rc < 0;
	if (rc <= 0)
		return;
	if (!w->missing)
		ns_log(NS_LOG_WARN, "rules removed by another program (missing: %s); putting them "
		       "back", what);
	if (ns_intercept_restore(cfg, (enum ns_ipv6)ipv6, err, sizeof(err)) != 0) {
		if (!w->missing) {
			ns_log(NS_LOG_ERROR, "cannot put the rules back: %s; the guard table keeps the "
			       "protected ports closed; retrying every second", err);
			w->missing_ms = now_ms;
			w->missing = true;
		}
		return;
	}
	w->restored++;
	if (w->missing)
		ns_log(NS_LOG_WARN, "rules put back after %.1f s of failures",
		       (double)(ns_now_ms() - w->missing_ms) / 1000.0);
	else
		ns_log(NS_LOG_INFO, "rules put back (%llu time%s so far)",
		       (unsigned long long)w->restored, w->restored == 1 ? "" : "s");
	w->missing = false;
}
