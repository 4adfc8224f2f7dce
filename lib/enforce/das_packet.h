/*
 * das_packet.h - the packet layer of the RFC 5176 client: encoding a
 * Disconnect-Request or CoA-Request and checking and decoding its answer.
 *
 * Pure code: no sockets, no threads, no clock (the Event-Timestamp to send
 * and the time an answer is judged against are arguments), no state.  The
 * sender loop (lib/enforce/das.c) calls it for every phase and every
 * datagram it receives; the unit tests and the fuzz targets call it
 * directly.  The types it works on (request, session, NAS, profile) are
 * the sender's, in enforce/das.h.
 */
#ifndef CETBYOD_DAS_PACKET_H
#define CETBYOD_DAS_PACKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "enforce/das.h"

#define CB_DAS_PACKET_HDR_LEN	20	/* Code, Identifier, Length, Authenticator (RFC 2865 section 3). */

/** What a valid answer said. */
typedef struct {
	unsigned int		code;
	uint32_t		error_cause;		/* 0 when absent. */
	bool			has_message_authenticator;
	bool			has_event_timestamp;
	uint32_t		event_timestamp;
} cb_das_packet_answer_t;

/**
 * cb_das_packet_profile - the profile a request is encoded by: its NAS's,
 * or the shipped "rfc5176" one when the NAS names none.  req and req->nas
 * must not be NULL.
 */
cb_das_profile_t const *cb_das_packet_profile(cb_das_request_t const *req);

#define CB_DAS_PACKET_MAC_MAX	17	/* Longest Calling-Station-Id spelling of CB_DAS_MAC_FORMATS. */

/**
 * cb_das_packet_calling_station - the Calling-Station-Id a request of prof
 * carries for the session's value: value itself when the profile sends it
 * as accounting had it or value is not one MAC (base/mac.h), else value
 * spelled in the profile's calling_station_format, written to out.
 * Returns: value or out.
 */
char const *cb_das_packet_calling_station(cb_das_profile_t const *prof, char const *value,
					  char out[CB_DAS_PACKET_MAC_MAX + 1]);

/**
 * cb_das_packet_encode - build the request of the given code (40 or 43) for
 * req with the given Identifier and Event-Timestamp: attributes chosen by
 * the profile, Message-Authenticator (HMAC-MD5 over the packet with a zero
 * authenticator, RFC 5176 section 3.5 / RFC 3579 section 3.2) and Request
 * Authenticator (MD5 over the packet with a zero authenticator followed by
 * the secret, RFC 5176 section 2.3).
 * Returns: 0 and the packet in buf[0..*len-1], or -1 with the reason in err
 * (buf contents undefined).
 */
int cb_das_packet_encode(cb_das_request_t const *req, unsigned int code, uint8_t id, uint32_t event_timestamp,
			 uint8_t *buf, size_t buflen, size_t *len, char *err, size_t errlen);

/**
 * cb_das_packet_check_answer - validate an answer to the request
 * pkt[0..pktlen-1] (as cb_das_packet_encode built it): length and header,
 * code (ACK or NAK of the request's code), Identifier, every attribute's
 * bounds, Response Authenticator and Message-Authenticator (constant time),
 * the lengths of Error-Cause, Event-Timestamp and Message-Authenticator, and
 * the Event-Timestamp window around now.  Octets after the Length field are
 * padding and ignored (RFC 2865 section 3).
 * Returns: 0 with *out filled, or -1 with the reason in why and *out
 * untouched (the answer must then be silently discarded, RFC 5176 section 3
 * / RFC 2865).
 */
int cb_das_packet_check_answer(uint8_t const *ans, size_t anslen, uint8_t const *pkt, size_t pktlen,
			       char const *secret, bool require_ma, time_t now, unsigned int window,
			       cb_das_packet_answer_t *out, char *why, size_t whylen);

#endif
