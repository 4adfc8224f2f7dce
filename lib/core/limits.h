/*
 * limits.h - device limits and shared credentials, as a pure function.
 *
 * The trust's policy says "Staff are not permitted to share access details
 * to the network or Wi-Fi password with anyone else."  With 802.1X a shared
 * password shows up as one identity on many devices, often at once, and
 * sometimes at two NASes at once.  cb_limits_check() takes what the store
 * knows about one person (the devices seen for them, the sessions they
 * have open) and the request (its device, its NAS), and says whether the
 * admission the policy just decided goes beyond policy { max_devices } or
 * policy { max_concurrent }, and what to do about it: report it only,
 * onboard the device with a reason, or refuse it.
 *
 * The rules:
 *   - A device is known when it was seen for the person, and let in by the
 *     device limit, within the window (device_window days; 0: ever).  A
 *     known device is never held back by max_devices.
 *   - max_devices (0: no limit): a device that is not known, when the
 *     person already has max_devices known devices, is over the limit.
 *   - max_concurrent (0: no limit): when the person already has
 *     max_concurrent sessions open on other devices, the request is over
 *     the limit (known devices too: the limit counts sessions).  Sessions
 *     of the request's own device are not counted (a re-authentication, or
 *     a roam to another access point).
 *   - A session of another device open on another NAS is reported as
 *     "two_nases" (the same identity at two places at once); it is a flag,
 *     never an action.
 *   - When both limits are exceeded the stronger action is taken (reject,
 *     then onboard, then report); on a tie the device limit is named.
 *   - Only admissions are limited: a refusal stays a refusal.
 *
 * It does no I/O and keeps no state; the request path (the glue) reads the
 * store, calls this, logs and audits the result.  The store records the
 * device with the admission's decision: let in by the device limit
 * (counted) unless the decision's reason is a limit's; a device a limit
 * refused is recorded as held back.
 */
#ifndef CETBYOD_LIMITS_H
#define CETBYOD_LIMITS_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "base/name.h"
#include "core/policy.h"

/** What a limit does to an admission beyond it. */
typedef enum {
	CB_LIMIT_REPORT = 0,	/* Admit as decided; an audit record and the sharing report say so. */
	CB_LIMIT_ONBOARD,	/* The onboarding VLAN, with the reason in the Reply-Message. */
	CB_LIMIT_REJECT		/* Access-Reject, with the reason. */
} cb_limit_action_t;

/** Which limit applied. */
typedef enum {
	CB_LIMIT_NONE = 0,
	CB_LIMIT_DEVICES,
	CB_LIMIT_CONCURRENT
} cb_limit_kind_t;

typedef struct {
	unsigned int		max_devices;		/* 0: no limit. */
	unsigned int		device_window_days;	/* Devices seen within this many days count; 0: ever. */
	cb_limit_action_t	devices_action;
	unsigned int		max_concurrent;		/* 0: no limit. */
	cb_limit_action_t	concurrent_action;
} cb_limits_conf_t;

/** One device seen for the person (the store's devices table). */
typedef struct {
	char const	*mac;		/* AA-BB-CC-DD-EE-FF. */
	time_t		last_seen;
	bool		counted;	/* Let in by the device limit (false: held back by it). */
} cb_limits_device_t;

/** One open session of the person. */
typedef struct {
	char const	*mac;		/* The session's device, normalised; "" when not a MAC. */
	char const	*nas;		/* Its NAS (NAS-IP-Address, else NAS-Identifier, else the client). */
} cb_limits_session_t;

typedef struct {
	char const			*device;	/* The request's device, normalised; "" or NULL: none. */
	char const			*nas;		/* The request's NAS, as sessions name theirs. */
	cb_limits_device_t const	*devices;
	size_t				num_devices;
	cb_limits_session_t const	*sessions;
	size_t				num_sessions;
} cb_limits_input_t;

typedef struct {
	bool			has_device;	/* The request named a device (a MAC). */
	bool			known;		/* ... which is known (within the window, let in). */
	size_t			known_devices;	/* Known devices, the request's not included. */
	size_t			concurrent;	/* Sessions open on other devices. */
	bool			over_devices;
	bool			over_concurrent;
	char const		*other_nas;	/* A NAS (not the request's) with a session of another device
						 * open; NULL: none.  Points into the input. */
	cb_limit_kind_t		applied;	/* The limit whose action is taken; NONE: within both. */
	cb_limit_action_t	action;		/* Its action (REPORT when NONE). */
} cb_limits_result_t;

/** cb_limits_enabled - whether any limit is set. */
bool cb_limits_enabled(cb_limits_conf_t const *conf);

/** cb_limits_check - the limits for one request at now.  Never fails. */
void cb_limits_check(cb_limits_conf_t const *conf, cb_limits_input_t const *in, time_t now, cb_limits_result_t *out);

/**
 * cb_limits_apply - change the admission d by the result's action: ONBOARD
 * makes it onboard, REJECT a refusal, each with the limit's reason (and no
 * planned end).  A refusal, REPORT, or NONE leave d as it is.  Returns
 * whether d changed.
 */
bool cb_limits_apply(cb_limits_result_t const *res, cb_decision_t *d);

/** cb_limit_reason - CB_REASON_DEVICE_LIMIT or CB_REASON_CONCURRENT_LIMIT (DEVICES for NONE). */
cb_reason_t cb_limit_reason(cb_limit_kind_t kind);

/** The actions' names, for start-up's option check: "report", "onboard", "reject". */
extern cb_name_t const cb_limit_action_names[];

/** cb_limit_action_name - "report", "onboard", "reject". */
char const *cb_limit_action_name(cb_limit_action_t action);

/** cb_limit_action_from_name - -1 when unknown. */
int cb_limit_action_from_name(char const *name);

#endif
