/*
 * decide.c - the one decision use-case (see decide.h): the facts a
 * provider gave, the exceptions register, the acknowledgement, IT's
 * revocations, the policy, the audit trail's veto.
 *
 * Worked example: the directory watcher asks about bob, who has a session.
 * Its provider (lib/directory/dirwatch.c) gives bob's facts: staff, his
 * account now locked.  cb_decide() finds no register exception through the
 * state it is given, finds bob's acknowledgement in the index, finds no
 * revocation, and the policy says reject, account_disabled; the enforcer
 * compares that with the status bob's session was admitted with (onboard)
 * and disconnects it.
 */
#include <string.h>

#include "core/decide.h"

void cb_facts_add_email(cb_facts_t *facts, char const *email)
{
	if (!email || !*email || facts->num_emails >= CB_FACTS_EMAILS_MAX) return;
	facts->emails[facts->num_emails++] = email;
}

/**
 * register_exception - the register's exception for identity on the
 * device, used when the provider gave none or one that ends sooner.
 */
static void register_exception(cb_decide_env_t const *env, char const *identity, cb_facts_t const *facts,
			       time_t now, cb_decide_result_t *out)
{
	cb_exception_t *exc = &out->in.exception;
	cb_decide_exception_t *x = &out->exception;

	if (!env->state.exception || !env->state.exception(env->state.ctx, identity, facts->device, now, x)) return;
	if (exc->present && (exc->until == 0 || exc->until >= x->until)) return;	/* The provider's lasts longer. */
	out->exception_used = true;
	exc->present = true;
	exc->until = x->until;
}

static void acknowledgement(cb_decide_env_t const *env, cb_facts_t const *facts, cb_decide_result_t *out)
{
	cb_ack_record_t const *ack = cb_ack_index_find_latest(env->acks, facts->emails, facts->num_emails);

	out->ack = ack;
	out->ack_email = ack ? ack->email : facts->num_emails ? facts->emails[0] : "";
	if (!ack) return;
	out->in.ack.present = true;
	out->in.ack.revoked = ack->revoked;
	out->in.ack.ack_time = ack->ack_time;
	out->in.ack.policy_version = ack->policy_version;
}

static void revocation(cb_decide_env_t const *env, char const *identity, cb_decide_result_t *out)
{
	if (out->in.dir.revoked || !env->state.is_revoked) return;
	if (!env->state.is_revoked(env->state.ctx, identity, out->revoked_reason, sizeof(out->revoked_reason))) return;
	out->revoked = true;
	out->in.dir.revoked = true;
	out->in.dir.revoked_reason = out->revoked_reason;
}

void cb_decide(cb_decide_env_t const *env, char const *identity, cb_facts_t const *facts, time_t now,
	       cb_decide_result_t *out)
{
	cb_decision_t *d = &out->decision;

	memset(out, 0, sizeof(*out));
	out->ack_email = "";
	out->in.dir = facts->dir;
	out->in.exception = facts->exception;
	register_exception(env, identity, facts, now, out);
	acknowledgement(env, facts, out);
	out->in.source.stale = env->source_stale;
	revocation(env, identity, out);

	out->policy = cb_roles_policy(env->roles, &out->in.dir, env->policy);
	cb_policy_decide(out->policy, &out->in, now, d);
	if (env->audit_refuses && d->status != CB_STATUS_REJECT) {
		d->status = CB_STATUS_REJECT;
		d->reason = CB_REASON_AUDIT_UNAVAILABLE;
		d->valid_until = 0;
	}
}
