/*
 * das.h - the RFC 5176 Dynamic Authorization Client ("disconnect sender"):
 * Disconnect-Request and CoA-Request to the NAS that owns a session.
 *
 * The sender knows sessions only through cb_das_session_t, which the caller
 * fills from its session table (accounting data, exactly as the NAS reported
 * it), and NASes only through cb_das_nas_t (address, port, secret, profile).
 * It never touches the session table itself: it sends, retransmits, checks
 * the answer and reports ACK, NAK (with Error-Cause), TIMEOUT or ERROR in the
 * request it was given.  The caller decides what to do with the outcome.
 *
 * cb_das_send() takes an array of requests and runs them all at once, each
 * with its own retransmission schedule, in one poll() loop: a burst of
 * revocations costs one round trip, not one round trip per session.  It
 * blocks until every request has an outcome, which is bounded by the
 * configured maximum retransmission duration (twice that for
 * coa-then-disconnect).  One cb_das_t may be used by several threads at once;
 * each call has its own sockets.
 *
 * The unit is split in two: lib/enforce/das_packet.c holds the pure code
 * (profiles, names, encoding and the checking of answers; the packet level
 * is declared in enforce/das_packet.h), lib/enforce/das.c the sockets,
 * timers and the matching of answers to requests.  Design and
 * retransmission rules: see the comments at the top of those two files.
 * Vendor differences: doc/nas-profiles.md.
 */
#ifndef CETBYOD_DAS_H
#define CETBYOD_DAS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "base/log.h"

#define CB_DAS_DEFAULT_PORT	3799	/* RFC 5176 section 2.3. */
#define CB_DAS_MAX_PACKET	4096	/* RFC 2865 section 3. */
#define CB_DAS_MAX_BATCH	65536	/* Most requests one cb_das_send() takes. */
#define CB_DAS_MAX_VALUE	253	/* Longest attribute value. */

/** The outcome of one request. */
typedef enum {
	CB_DAS_ACK = 0,		/* Disconnect-ACK or CoA-ACK: the NAS did it. */
	CB_DAS_NAK,		/* Disconnect-NAK or CoA-NAK; see error_cause. */
	CB_DAS_TIMEOUT,		/* No valid answer within the retransmission limits. */
	CB_DAS_ERROR		/* Not sent or not finished: bad input, socket error, cancelled. */
} cb_das_result_t;

/** What a NAS is sent. */
typedef enum {
	CB_DAS_MODE_DISCONNECT = 0,		/* Disconnect-Request only. */
	CB_DAS_MODE_COA,			/* CoA-Request only. */
	CB_DAS_MODE_COA_THEN_DISCONNECT		/* CoA-Request; on a CoA-NAK, a Disconnect-Request. */
} cb_das_mode_t;

/** RADIUS codes of RFC 5176 section 2. */
typedef enum {
	CB_DAS_CODE_DISCONNECT_REQUEST = 40,
	CB_DAS_CODE_DISCONNECT_ACK = 41,
	CB_DAS_CODE_DISCONNECT_NAK = 42,
	CB_DAS_CODE_COA_REQUEST = 43,
	CB_DAS_CODE_COA_ACK = 44,
	CB_DAS_CODE_COA_NAK = 45
} cb_das_code_t;

/*
 * Attribute selection, a bit mask per profile: which identification
 * attributes go into a request when the session has a value for them
 * (cb_das_profile_t.attrs), and which the session must have for a request
 * to be sent at all (cb_das_profile_t.required).
 */
#define CB_DAS_A_NAS_IP_ADDRESS		(1u << 0)	/* NAS-IP-Address (4) or NAS-IPv6-Address (95), by family. */
#define CB_DAS_A_NAS_IDENTIFIER		(1u << 1)	/* NAS-Identifier (32). */
#define CB_DAS_A_USER_NAME		(1u << 2)	/* User-Name (1). */
#define CB_DAS_A_ACCT_SESSION_ID	(1u << 3)	/* Acct-Session-Id (44). */
#define CB_DAS_A_CALLING_STATION_ID	(1u << 4)	/* Calling-Station-Id (31). */
#define CB_DAS_A_CALLED_STATION_ID	(1u << 5)	/* Called-Station-Id (30). */
#define CB_DAS_A_FRAMED_IP_ADDRESS	(1u << 6)	/* Framed-IP-Address (8). */
#define CB_DAS_A_EVENT_TIMESTAMP	(1u << 7)	/* Event-Timestamp (55), RFC 5176 section 6.3. */
#define CB_DAS_A_MESSAGE_AUTHENTICATOR	(1u << 8)	/* Message-Authenticator (80), RFC 3579 section 3.2. */
#define CB_DAS_A_ALL			((1u << 9) - 1)

/** Session identification attributes: a request needs at least one of these. */
#define CB_DAS_A_SESSION_IDS	(CB_DAS_A_USER_NAME | CB_DAS_A_ACCT_SESSION_ID | \
				 CB_DAS_A_CALLING_STATION_ID | CB_DAS_A_FRAMED_IP_ADDRESS)

/**
 * An attribute of a CoA-Request that changes the session's authorisation
 * (RFC 5176 section 3), sent as given.  type 26 (Vendor-Specific) is
 * encoded in the RFC 2865 section 5.26 format with vendor and vendor_type;
 * for other types those are ignored.  value is raw octets (integers in
 * network byte order), 0 to 253 octets (247 for a vendor attribute).
 */
typedef struct {
	uint8_t			type;
	uint32_t		vendor;
	uint8_t			vendor_type;
	uint8_t const		*value;
	size_t			len;
} cb_das_attr_t;

/**
 * What a kind of NAS needs.  The shipped profiles are found with
 * cb_das_profile_find(); a caller may also fill one of its own (from
 * configuration), which must outlive the cb_das_send() calls that use it.
 */
typedef struct {
	char const		*name;			/* A shipped profile's name, or the caller's. */
	cb_das_mode_t		mode;
	uint16_t		port;			/* Default DAS port of this kind of NAS. */
	unsigned int		attrs;			/* CB_DAS_A_*: sent when the session has a value. */
	unsigned int		required;		/* CB_DAS_A_*: the session must have these. */
	bool			require_response_authenticator;	/* Refuse answers without Message-Authenticator. */
	cb_das_attr_t const	*coa_attrs;		/* Authorisation change of a CoA-Request. */
	size_t			num_coa_attrs;
	char const		*calling_station_format;	/* NULL: as accounting had it; else one of
								 * CB_DAS_MAC_FORMATS (see below). */
} cb_das_profile_t;

/*
 * Calling-Station-Id spellings a profile may send: the session's value, when
 * it is one MAC by the rule of base/mac.h, is rewritten in the spelling
 * given (each letter a hex digit in that letter's case, the rest kept), and
 * sent unchanged otherwise.  "as-is" (or NULL) sends the accounting value.
 */
#define CB_DAS_MAC_FORMATS	"as-is, AA-BB-CC-DD-EE-FF, aa-bb-cc-dd-ee-ff, AA:BB:CC:DD:EE:FF, " \
				"aa:bb:cc:dd:ee:ff, AABBCCDDEEFF, aabbccddeeff, aabb.ccdd.eeff"

/**
 * cb_das_mac_format_find - the spelling named (one of CB_DAS_MAC_FORMATS,
 * exactly), as the static string a profile points at; NULL for "as-is".
 * Returns: 0, or -1 (and *format unchanged) for any other name.
 */
int cb_das_mac_format_find(char const *name, char const **format);

/**
 * A session as the NAS reported it in accounting.  Every field may be NULL
 * (not known); a given string is sent byte for byte, so it must be the
 * NAS's own value: for 802.1X, User-Name is the identity the NAS saw (often
 * the anonymous outer identity), not the inner identity the decision used.
 * Strings are 1 to 253 octets.
 */
typedef struct {
	char const		*nas_ip_address;	/* NAS-IP-Address or NAS-IPv6-Address, numeric. */
	char const		*nas_identifier;
	char const		*user_name;
	char const		*acct_session_id;
	char const		*calling_station_id;
	char const		*called_station_id;
	char const		*framed_ip_address;	/* Numeric IPv4. */
} cb_das_session_t;

/** Where a request goes. */
typedef struct {
	char const		*address;		/* Numeric IPv4 or IPv6 address; no DNS, ever. */
	uint16_t		port;			/* 0: the profile's port. */
	char const		*secret;		/* The DAS secret of this NAS (not the RADIUS one). */
	cb_das_profile_t const	*profile;		/* NULL: the "rfc5176" profile. */
} cb_das_nas_t;

/**
 * One request: the caller fills the inputs; cb_das_send() fills the outputs
 * (and nothing else).  The inputs must stay valid during the call.
 */
typedef struct {
	/* Inputs. */
	cb_das_nas_t const	*nas;
	cb_das_session_t const	*session;
	cb_das_attr_t const	*coa_attrs;		/* Added after the profile's, in CoA-Requests only. */
	size_t			num_coa_attrs;
	void			*uctx;			/* The caller's; not touched. */

	/* Outputs. */
	cb_das_result_t		result;
	cb_das_code_t		last_request;		/* The code of the last request sent (or prepared). */
	unsigned int		response_code;		/* Code of the answer (41, 42, 44, 45), or 0. */
	uint32_t		error_cause;		/* Error-Cause of the answer, or 0 when it had none. */
	unsigned int		transmissions;		/* Packets sent, all phases together. */
	bool			fell_back;		/* A CoA-NAK was followed by a Disconnect-Request. */
	uint64_t		queued_us;		/* Call start to first transmission (waiting for the NAS's window). */
	uint64_t		elapsed_us;		/* First transmission to outcome. */
	char			error[192];		/* Why, for NAK, TIMEOUT and ERROR; "" for ACK. */
} cb_das_request_t;

/** Sender configuration; start from cb_das_conf_defaults(). */
typedef struct {
	/* RFC 5080 section 2.2.1 retransmission (milliseconds). */
	unsigned int		irt_ms;			/* IRT, initial retransmission time (2000). */
	unsigned int		mrc;			/* MRC, most transmissions of one request (5). */
	unsigned int		mrt_ms;			/* MRT, largest retransmission time, 0 = none (16000). */
	unsigned int		mrd_ms;			/* MRD, longest duration of one request (30000). */

	unsigned int		time_window;		/* Seconds an answer's Event-Timestamp may be off (300). */
	unsigned int		max_inflight_per_nas;	/* Outstanding requests per NAS (32). */
	unsigned int		max_sockets;		/* Sockets of one call, 256 Identifiers each (16). */
	char const		*source_address;	/* Numeric address to send from; NULL: any. */

	cb_log_fn_t		log;			/* "DAS: ..." lines; NULL: silent. */
	void			*log_ctx;
} cb_das_conf_t;

typedef struct cb_das cb_das_t;

/**
 * cb_das_conf_defaults - fill conf with the defaults of RFC 5080 section
 * 2.2.1 and RFC 5176 section 6.3 (see cb_das_conf_t).
 */
void cb_das_conf_defaults(cb_das_conf_t *conf);

/**
 * cb_das_init - create a sender.  conf is copied (source_address too).
 * Returns: the sender, or NULL with a message naming the bad setting in err
 * when conf is out of range or memory runs out.
 */
cb_das_t *cb_das_init(cb_das_conf_t const *conf, char *err, size_t errlen);

/** cb_das_deinit - free a sender that no call is using (NULL is fine). */
void cb_das_deinit(cb_das_t *das);

/**
 * cb_das_send - send every request of reqs[0..n-1] to its NAS, retransmit,
 * and wait for all outcomes.  Requests to different NASes and to the same
 * NAS run concurrently (at most max_inflight_per_nas per NAS at a time).
 * Each request gets its outputs filled; a request that cannot be built
 * (missing required attribute, bad address, value too long) is ERROR
 * without being sent, and does not affect the others.
 * Returns: the number of requests that ended in ACK, or -1 when the call
 * itself is invalid (das or reqs NULL with n > 0, n > CB_DAS_MAX_BATCH), in
 * which case the requests are not touched.
 */
int cb_das_send(cb_das_t *das, cb_das_request_t *reqs, size_t n);

/**
 * cb_das_cancel - make every running and future cb_das_send() on das
 * finish at once, its unfinished requests ERROR ("cancelled").  For
 * shutdown; safe from any thread; cannot be undone.
 */
void cb_das_cancel(cb_das_t *das);

/**
 * cb_das_profile_find - a shipped profile by name, case-insensitive
 * ("hostapd", "rfc5176", "aruba", "cisco", "meraki", "mikrotik", "ruckus",
 * "unifi"; doc/nas-profiles.md), or NULL.
 */
cb_das_profile_t const *cb_das_profile_find(char const *name);

/** cb_das_profile_names - the shipped profiles' names, for messages: "hostapd, rfc5176, aruba, ...". */
char const *cb_das_profile_names(void);

/**
 * cb_das_mode_parse - "disconnect", "coa" or "coa-then-disconnect".
 * Returns: 0, or -1 (and *mode unchanged) for anything else.
 */
int cb_das_mode_parse(char const *name, cb_das_mode_t *mode);

/**
 * cb_das_attrs_parse - a comma-separated list of attribute names
 * ("NAS-IP-Address, User-Name, Acct-Session-Id", case-insensitive; "none"
 * for the empty set) to a CB_DAS_A_* mask.
 * Returns: 0, or -1 with err naming the unknown word and the accepted ones
 * (and *mask unchanged).
 */
int cb_das_attrs_parse(char const *list, unsigned int *mask, char *err, size_t errlen);

char const *cb_das_mode_name(cb_das_mode_t mode);
char const *cb_das_result_name(cb_das_result_t result);

/** cb_das_code_name - "Disconnect-Request", "CoA-NAK", ...; "unknown" otherwise. */
char const *cb_das_code_name(unsigned int code);

/**
 * cb_das_error_cause_name - the RFC 5176 section 3.5 name of an Error-Cause
 * ("Session Context Not Found" for 503).
 * Returns: a static string; "Unknown" for values the RFC does not list.
 */
char const *cb_das_error_cause_name(uint32_t cause);

#endif
