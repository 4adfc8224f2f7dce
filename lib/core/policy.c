/*
 * policy.c - the school's BYOD policy as one pure function.
 *
 * The rules are checked in a fixed order, and the first that applies
 * decides.  The order matters, and is the policy:
 *
 *   1. Directory unavailable          -> reject  directory_unavailable
 *   2. Not in the directory           -> reject  not_in_directory
 *   3. Account disabled               -> reject  account_disabled
 *   4. Revoked by IT                  -> reject  revoked_by_admin
 *   5. Not staff (pupil or other):
 *        exception running            -> restricted exception_active
 *        exception ended              -> reject  exception_expired
 *        pupil, no exception          -> reject  pupil_without_exception
 *        other, no exception          -> reject  not_staff
 *   6. Acknowledgement source stale   -> reject  source_stale (unless admit_when_stale)
 *   7. No acknowledgement             -> unacknowledged action, no_acknowledgement
 *   8. Latest record is a withdrawal  -> reject  acknowledgement_revoked
 *   9. Acknowledged before the current policy took effect, or a different
 *      version                        -> unacknowledged action, acknowledgement_predates_policy
 *  10. Acknowledgement older than the validity:
 *        within the grace period      -> admit   acknowledged_in_grace
 *        after it                     -> unacknowledged action, acknowledgement_expired
 *  11. Otherwise                      -> admit   acknowledged
 *
 * The "unacknowledged action" is onboard (a VLAN that reaches only the form)
 * or reject, as configured.
 *
 * Worked example: validity_days = 365, school zone Europe/London.  Alice
 * acknowledged at 2026-03-28T10:00:00Z (10:00 GMT, the day before the clocks
 * go forward).  Her acknowledgement lapses at 10:00 local time 365 calendar
 * days later, 2027-03-28 10:00 BST = 2027-03-28T09:00:00Z: one hour "early" in
 * UTC, exactly on time on the staff-room clock.  At 09:00:00Z she is
 * onboarded with acknowledgement_expired; at 08:59:59Z she is admitted, and
 * that decision's valid_until is 09:00:00Z, which is when the enforcer moves
 * her session.
 */
#include <string.h>

#include "core/policy.h"

static char const *const reason_names[CB_REASON_MAX] = {
	[CB_REASON_ACKNOWLEDGED]			= "acknowledged",
	[CB_REASON_ACKNOWLEDGED_IN_GRACE]		= "acknowledged_in_grace",
	[CB_REASON_EXCEPTION_ACTIVE]			= "exception_active",
	[CB_REASON_INVALID_IDENTITY]			= "invalid_identity",
	[CB_REASON_NOT_IN_DIRECTORY]			= "not_in_directory",
	[CB_REASON_ACCOUNT_DISABLED]			= "account_disabled",
	[CB_REASON_NOT_STAFF]				= "not_staff",
	[CB_REASON_NO_ACKNOWLEDGEMENT]			= "no_acknowledgement",
	[CB_REASON_ACKNOWLEDGEMENT_EXPIRED]		= "acknowledgement_expired",
	[CB_REASON_ACKNOWLEDGEMENT_REVOKED]		= "acknowledgement_revoked",
	[CB_REASON_ACKNOWLEDGEMENT_PREDATES_POLICY]	= "acknowledgement_predates_policy",
	[CB_REASON_REVOKED_BY_ADMIN]			= "revoked_by_admin",
	[CB_REASON_SOURCE_STALE]			= "source_stale",
	[CB_REASON_DIRECTORY_UNAVAILABLE]		= "directory_unavailable",
	[CB_REASON_PUPIL_WITHOUT_EXCEPTION]		= "pupil_without_exception",
	[CB_REASON_EXCEPTION_EXPIRED]			= "exception_expired",
	[CB_REASON_AUDIT_UNAVAILABLE]			= "audit_unavailable",
	[CB_REASON_DEVICE_LIMIT]			= "device_limit",
	[CB_REASON_CONCURRENT_LIMIT]			= "concurrent_limit",
};

static char const *const reason_messages[CB_REASON_MAX] = {
	[CB_REASON_ACKNOWLEDGED]	= "Welcome: your BYOD acknowledgement is on record.",
	[CB_REASON_ACKNOWLEDGED_IN_GRACE] = "Your BYOD acknowledgement has lapsed; please complete the form again now.",
	[CB_REASON_EXCEPTION_ACTIVE]	= "Connected under a documented exception.",
	[CB_REASON_INVALID_IDENTITY]	= "Your user name is not valid here.",
	[CB_REASON_NOT_IN_DIRECTORY]	= "Your account was not found in the school directory.",
	[CB_REASON_ACCOUNT_DISABLED]	= "Your account is disabled.",
	[CB_REASON_NOT_STAFF]		= "Personal devices are for staff only.",
	[CB_REASON_NO_ACKNOWLEDGEMENT]	= "Please complete the BYOD acknowledgement form first.",
	[CB_REASON_ACKNOWLEDGEMENT_EXPIRED] = "Your annual BYOD acknowledgement has expired; please complete the form again.",
	[CB_REASON_ACKNOWLEDGEMENT_REVOKED] = "Your BYOD acknowledgement has been withdrawn.",
	[CB_REASON_ACKNOWLEDGEMENT_PREDATES_POLICY] = "The BYOD policy has changed; please acknowledge the new version.",
	[CB_REASON_REVOKED_BY_ADMIN]	= "Your BYOD access has been revoked by IT.",
	[CB_REASON_SOURCE_STALE]	= "Acknowledgements cannot be checked at the moment; please try again later.",
	[CB_REASON_DIRECTORY_UNAVAILABLE] = "The school directory cannot be reached; please try again later.",
	[CB_REASON_PUPIL_WITHOUT_EXCEPTION] = "Pupils may not connect personal devices.",
	[CB_REASON_EXCEPTION_EXPIRED]	= "Your device exception has ended.",
	[CB_REASON_AUDIT_UNAVAILABLE]	= "Connections cannot be recorded at the moment; please try again later.",
	[CB_REASON_DEVICE_LIMIT]	= "You have reached the number of personal devices allowed; ask IT to remove one you no "
					  "longer use.",
	[CB_REASON_CONCURRENT_LIMIT]	= "Your account is already connected on the allowed number of devices; network "
					  "access details must not be shared.",
};

char const *cb_reason_name(cb_reason_t reason)
{
	if ((unsigned) reason >= CB_REASON_MAX) return "unknown";
	return reason_names[reason];
}

int cb_reason_from_name(char const *name)
{
	for (int i = 0; i < CB_REASON_MAX; i++) {
		if (strcmp(reason_names[i], name) == 0) return i;
	}
	return -1;
}

char const *cb_reason_message(cb_reason_t reason)
{
	if ((unsigned) reason >= CB_REASON_MAX) return "Access refused.";
	return reason_messages[reason];
}

char const *cb_status_name(cb_status_t status)
{
	switch (status) {
	case CB_STATUS_ADMIT:		return "admit";
	case CB_STATUS_ONBOARD:		return "onboard";
	case CB_STATUS_RESTRICTED:	return "restricted";
	case CB_STATUS_REJECT:		break;
	}
	return "reject";
}

time_t cb_ack_expiry(cb_policy_conf_t const *conf, time_t ack_time)
{
	time_t fixed, local = -1;

	if (conf->validity_days == 0) return 0;
	fixed = ack_time + (time_t) conf->validity_days * 86400;
	if (conf->tz) local = cb_tz_add_days(conf->tz, ack_time, (int) conf->validity_days);

	/* Never let a calendar failure make an acknowledgement last for ever. */
	return (local > 0) ? local : fixed;
}

static void decide(cb_decision_t *out, cb_status_t status, cb_reason_t reason, time_t valid_until)
{
	out->status = status;
	out->reason = reason;
	out->valid_until = valid_until;
}

static void decide_unacknowledged(cb_policy_conf_t const *conf, cb_decision_t *out, cb_reason_t reason)
{
	decide(out, conf->unacknowledged == CB_UNACK_ONBOARD ? CB_STATUS_ONBOARD : CB_STATUS_REJECT, reason, 0);
}

/** decide_not_staff - pupils and others: only a running exception lets them on. */
static void decide_not_staff(cb_policy_input_t const *in, time_t now, cb_decision_t *out)
{
	if (in->exception.present) {
		if (in->exception.until == 0 || now < in->exception.until) {
			decide(out, CB_STATUS_RESTRICTED, CB_REASON_EXCEPTION_ACTIVE, in->exception.until);
		} else {
			decide(out, CB_STATUS_REJECT, CB_REASON_EXCEPTION_EXPIRED, 0);
		}
		return;
	}
	decide(out, CB_STATUS_REJECT,
	       in->dir.role == CB_ROLE_PUPIL ? CB_REASON_PUPIL_WITHOUT_EXCEPTION : CB_REASON_NOT_STAFF, 0);
}

static bool predates_policy(cb_policy_conf_t const *conf, cb_ack_facts_t const *ack)
{
	if (conf->effective_from && ack->ack_time < conf->effective_from) return true;
	if (conf->policy_version && *conf->policy_version &&
	    ack->policy_version && *ack->policy_version &&
	    strcmp(conf->policy_version, ack->policy_version) != 0) return true;
	return false;
}

void cb_policy_decide(cb_policy_conf_t const *conf, cb_policy_input_t const *in, time_t now, cb_decision_t *out)
{
	time_t expiry;

	memset(out, 0, sizeof(*out));
	switch (in->dir.result) {
	case CB_DIR_UNAVAILABLE:
		decide(out, CB_STATUS_REJECT, CB_REASON_DIRECTORY_UNAVAILABLE, 0);
		return;
	case CB_DIR_NOT_FOUND:
		decide(out, CB_STATUS_REJECT, CB_REASON_NOT_IN_DIRECTORY, 0);
		return;
	case CB_DIR_FOUND:
		break;
	}
	if (in->dir.disabled) {
		decide(out, CB_STATUS_REJECT, CB_REASON_ACCOUNT_DISABLED, 0);
		return;
	}
	if (in->dir.revoked) {
		decide(out, CB_STATUS_REJECT, CB_REASON_REVOKED_BY_ADMIN, 0);
		return;
	}
	if (in->dir.role != CB_ROLE_STAFF) {
		decide_not_staff(in, now, out);
		return;
	}
	if (in->source.stale && !conf->admit_when_stale) {
		decide(out, CB_STATUS_REJECT, CB_REASON_SOURCE_STALE, 0);
		return;
	}
	if (!in->ack.present) {
		decide_unacknowledged(conf, out, CB_REASON_NO_ACKNOWLEDGEMENT);
		return;
	}
	if (in->ack.revoked) {
		decide(out, CB_STATUS_REJECT, CB_REASON_ACKNOWLEDGEMENT_REVOKED, 0);
		return;
	}
	if (predates_policy(conf, &in->ack)) {
		decide_unacknowledged(conf, out, CB_REASON_ACKNOWLEDGEMENT_PREDATES_POLICY);
		return;
	}

	expiry = cb_ack_expiry(conf, in->ack.ack_time);
	out->ack_expires = expiry;
	if (expiry > 0 && now >= expiry) {
		time_t grace_end = expiry + (time_t) conf->grace_seconds;

		if (now < grace_end) {
			decide(out, CB_STATUS_ADMIT, CB_REASON_ACKNOWLEDGED_IN_GRACE, grace_end);
		} else {
			decide_unacknowledged(conf, out, CB_REASON_ACKNOWLEDGEMENT_EXPIRED);
		}
		return;
	}
	decide(out, CB_STATUS_ADMIT, CB_REASON_ACKNOWLEDGED, expiry);
}
