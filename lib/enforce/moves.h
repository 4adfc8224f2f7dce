/*
 * moves.h - whether a session the enforcer decided again must be moved
 * (disconnected, so that it re-authenticates) when its status alone does
 * not say: a session onboarded by a device limit stays where it is unless
 * the person is now refused, and an admitted session moves when its
 * person's role (and so, maybe, its VLAN) changed.  Both read the decision
 * the session was admitted under from the store.
 */
#ifndef CETBYOD_MOVES_H
#define CETBYOD_MOVES_H

#include <stdbool.h>
#include <stddef.h>

#include "store/store.h"

/** cb_moves_limit_reason - whether a decision's reason is a device limit's (core/limits.h). */
bool cb_moves_limit_reason(char const *reason);

/**
 * cb_moves_held_by_limit - whether session s was onboarded by a device
 * limit: it stays there while the person may be admitted at all (a
 * re-decision without the limits says admit, and the re-authentication a
 * disconnect forces would land it on the onboarding VLAN again); only a
 * refusal moves it.
 */
bool cb_moves_held_by_limit(cb_store_t *store, cb_store_session_t const *s);

/**
 * cb_moves_role_moved - whether admitted session s was admitted under
 * another role than role (moved from the governors group to a staff group,
 * say); the role it was admitted under goes to was (waslen bytes).
 * Decisions made before roles were kept ("") never count.
 */
bool cb_moves_role_moved(cb_store_t *store, cb_store_session_t const *s, char const *role, char *was, size_t waslen);

#endif
