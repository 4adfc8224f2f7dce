/*
 * das_packet.c - the pure part of the RFC 5176 client: the names of
 * modes, results, codes, attributes and Error-Causes (and the parsing of
 * mode and attribute-list settings), the encoding of Disconnect-Request and
 * CoA-Request and the checking of their answers.  No sockets, no threads,
 * no clock, no state: it implements the pure functions of enforce/das.h and
 * enforce/das_packet.h, except the profile table (das_profile.c).
 *
 * Packets
 * -------
 * A request is encoded once per phase (cb_das_packet_encode): the header
 * with a zero authenticator, Message-Authenticator first (zero), the NAS
 * and session identification attributes the profile selects and the
 * session has, Event-Timestamp, and for CoA the authorisation change.  The
 * Message-Authenticator is HMAC-MD5(secret, packet) over that packet; then
 * the Request Authenticator is MD5(packet with zero authenticator + secret)
 * (RFC 5176 sections 2.3 and 3.5, RFC 3579 section 3.2), written into the
 * header.  Every length is checked against the caller's buffer, which is
 * never taken to be larger than 4096 octets.
 *
 * An answer (cb_das_packet_check_answer) is walked as hostapd walks its
 * packets, with a position and an end: the header and Length first, then
 * every attribute inside the Length (Error-Cause and Event-Timestamp 6
 * octets, Message-Authenticator 18 and at most one; unknown attributes
 * skipped but bounded like the rest), then the Response Authenticator and
 * Message-Authenticator (compared with CRYPTO_memcmp), then the
 * Event-Timestamp window.  The first failure is the reason given.
 *
 * Why not FreeRADIUS's own packet library: see lib/enforce/das.c.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
#include <openssl/core_names.h>
#include <openssl/params.h>
#endif

#include "base/name.h"
#include "enforce/das_packet.h"

/* RADIUS attribute types used here. */
enum {
	ATTR_USER_NAME = 1,
	ATTR_NAS_IP_ADDRESS = 4,
	ATTR_FRAMED_IP_ADDRESS = 8,
	ATTR_VENDOR_SPECIFIC = 26,
	ATTR_CALLED_STATION_ID = 30,
	ATTR_CALLING_STATION_ID = 31,
	ATTR_NAS_IDENTIFIER = 32,
	ATTR_ACCT_SESSION_ID = 44,
	ATTR_EVENT_TIMESTAMP = 55,
	ATTR_MESSAGE_AUTHENTICATOR = 80,
	ATTR_NAS_IPV6_ADDRESS = 95,
	ATTR_ERROR_CAUSE = 101
};

#define HDR_LEN		CB_DAS_PACKET_HDR_LEN
#define AUTH_OFF	4
#define AUTH_LEN	16
#define MA_LEN		16

/*
 * Names
 */

static cb_name_t const das_mode_names[] = {
	{ "disconnect",			CB_DAS_MODE_DISCONNECT },
	{ "coa",			CB_DAS_MODE_COA },
	{ "coa-then-disconnect",	CB_DAS_MODE_COA_THEN_DISCONNECT },
	{ NULL, -1 }
};

static cb_name_t const das_result_names[] = {
	{ "ACK",	CB_DAS_ACK },
	{ "NAK",	CB_DAS_NAK },
	{ "TIMEOUT",	CB_DAS_TIMEOUT },
	{ "ERROR",	CB_DAS_ERROR },
	{ NULL, -1 }
};

static cb_name_t const das_code_names[] = {
	{ "Disconnect-Request",	CB_DAS_CODE_DISCONNECT_REQUEST },
	{ "Disconnect-ACK",	CB_DAS_CODE_DISCONNECT_ACK },
	{ "Disconnect-NAK",	CB_DAS_CODE_DISCONNECT_NAK },
	{ "CoA-Request",	CB_DAS_CODE_COA_REQUEST },
	{ "CoA-ACK",		CB_DAS_CODE_COA_ACK },
	{ "CoA-NAK",		CB_DAS_CODE_COA_NAK },
	{ NULL, -1 }
};

/* RFC 5176 section 3.5. */
static cb_name_t const das_error_cause_names[] = {
	{ "Residual Session Context Removed",		201 },
	{ "Invalid EAP Packet (Ignored)",		202 },
	{ "Unsupported Attribute",			401 },
	{ "Missing Attribute",				402 },
	{ "NAS Identification Mismatch",		403 },
	{ "Invalid Request",				404 },
	{ "Unsupported Service",			405 },
	{ "Unsupported Extension",			406 },
	{ "Invalid Attribute Value",			407 },
	{ "Administratively Prohibited",		501 },
	{ "Request Not Routable (Proxy)",		502 },
	{ "Session Context Not Found",			503 },
	{ "Session Context Not Removable",		504 },
	{ "Other Proxy Processing Error",		505 },
	{ "Resources Unavailable",			506 },
	{ "Request Initiated",				507 },
	{ "Multiple Session Selection Unsupported",	508 },
	{ NULL, -1 }
};

/* The CB_DAS_A_* bits by name, in the order error messages list them. */
static cb_name_t const das_attr_names[] = {
	{ "NAS-IP-Address",		CB_DAS_A_NAS_IP_ADDRESS },
	{ "NAS-Identifier",		CB_DAS_A_NAS_IDENTIFIER },
	{ "User-Name",			CB_DAS_A_USER_NAME },
	{ "Acct-Session-Id",		CB_DAS_A_ACCT_SESSION_ID },
	{ "Calling-Station-Id",		CB_DAS_A_CALLING_STATION_ID },
	{ "Called-Station-Id",		CB_DAS_A_CALLED_STATION_ID },
	{ "Framed-IP-Address",		CB_DAS_A_FRAMED_IP_ADDRESS },
	{ "Event-Timestamp",		CB_DAS_A_EVENT_TIMESTAMP },
	{ "Message-Authenticator",	CB_DAS_A_MESSAGE_AUTHENTICATOR },
	{ NULL, -1 }
};

/**
 * name_nocase - the value of the entry of tab whose name is s[0..len-1],
 * compared without case (settings are case-insensitive, unlike
 * cb_name_value).  Returns: the value, or -1 when no entry has that name.
 */
static int name_nocase(cb_name_t const *tab, char const *s, size_t len)
{
	for (; tab->name; tab++) {
		if (strlen(tab->name) == len && strncasecmp(tab->name, s, len) == 0) return tab->value;
	}
	return -1;
}

int cb_das_mode_parse(char const *name, cb_das_mode_t *mode)
{
	int v;

	if (!name || !mode) return -1;
	v = name_nocase(das_mode_names, name, strlen(name));
	if (v < 0) return -1;
	*mode = (cb_das_mode_t)v;
	return 0;
}

char const *cb_das_mode_name(cb_das_mode_t mode)
{
	return cb_name_of(das_mode_names, (int)mode, "unknown");
}

int cb_das_attrs_parse(char const *list, unsigned int *mask, char *err, size_t errlen)
{
	unsigned int out = 0;
	char const *p, *end;
	char names[256];
	size_t len;
	int bit;

	if (!list || !mask) {
		snprintf(err, errlen, "no attribute list");
		return -1;
	}
	p = list;
	/* Bounded: every round consumes at least one character. */
	while (*p) {
		while (*p == ' ' || *p == '\t' || *p == ',') p++;
		if (!*p) break;
		end = p;
		while (*end && *end != ',' && *end != ' ' && *end != '\t') end++;
		len = (size_t)(end - p);
		if (len == 4 && strncasecmp(p, "none", 4) == 0) {
			p = end;
			continue;
		}
		bit = name_nocase(das_attr_names, p, len);
		if (bit < 0) {
			snprintf(err, errlen, "unknown attribute \"%.*s\": accepted are %s (or none)",
				 (int)(len > 64 ? 64 : len), p, cb_name_list(das_attr_names, names, sizeof(names)));
			return -1;
		}
		out |= (unsigned int)bit;
		p = end;
	}
	*mask = out;
	return 0;
}

char const *cb_das_result_name(cb_das_result_t result)
{
	return cb_name_of(das_result_names, (int)result, "unknown");
}

char const *cb_das_code_name(unsigned int code)
{
	if (code > 255) return "unknown";
	return cb_name_of(das_code_names, (int)code, "unknown");
}

char const *cb_das_error_cause_name(uint32_t cause)
{
	if (cause > 65535) return "Unknown";
	return cb_name_of(das_error_cause_names, (int)cause, "Unknown");
}

/*
 * Digests, through OpenSSL's EVP only.
 */

typedef struct {
	void const	*p;
	size_t		len;
} seg_t;

/** das_md5 - MD5 over the concatenation of segs.  Returns: 0, or -1 on an OpenSSL failure. */
static int das_md5(uint8_t out[16], seg_t const *segs, size_t nsegs)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned int olen = 0;
	size_t i;
	int ok;

	if (!ctx) return -1;
	ok = EVP_DigestInit_ex(ctx, EVP_md5(), NULL) == 1;
	for (i = 0; ok && i < nsegs; i++) ok = EVP_DigestUpdate(ctx, segs[i].p, segs[i].len) == 1;
	ok = ok && EVP_DigestFinal_ex(ctx, out, &olen) == 1 && olen == 16;
	EVP_MD_CTX_free(ctx);
	return ok ? 0 : -1;
}

/** das_hmac_md5 - HMAC-MD5 of data with key.  Returns: 0, or -1 on an OpenSSL failure. */
static int das_hmac_md5(uint8_t out[16], uint8_t const *key, size_t keylen, uint8_t const *data, size_t len)
{
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
	OSSL_PARAM params[2];
	size_t olen = 0;
	int ok;

	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"MD5", 0);
	params[1] = OSSL_PARAM_construct_end();
	ok = ctx && EVP_MAC_init(ctx, key, keylen, params) == 1 && EVP_MAC_update(ctx, data, len) == 1 &&
	     EVP_MAC_final(ctx, out, &olen, 16) == 1 && olen == 16;
	EVP_MAC_CTX_free(ctx);
	EVP_MAC_free(mac);
	return ok ? 0 : -1;
#else
	EVP_PKEY *pkey = EVP_PKEY_new_mac_key(EVP_PKEY_HMAC, NULL, key, (int)keylen);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	size_t olen = 16;
	int ok;

	ok = pkey && ctx && EVP_DigestSignInit(ctx, NULL, EVP_md5(), NULL, pkey) == 1 &&
	     EVP_DigestSignUpdate(ctx, data, len) == 1 && EVP_DigestSignFinal(ctx, out, &olen) == 1 && olen == 16;
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(pkey);
	return ok ? 0 : -1;
#endif
}

/** get_u32 - the 4-octet big-endian integer at p. */
static uint32_t get_u32(uint8_t const *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/*
 * Encoding
 */

typedef struct {
	uint8_t		*buf;
	size_t		cap;
	size_t		len;
	char		*err;
	size_t		errlen;
} wbuf_t;

/** put_attr - append one attribute.  Returns: 0, or -1 with err set when it does not fit. */
static int put_attr(wbuf_t *w, uint8_t type, void const *val, size_t vlen, char const *what)
{
	if (vlen > CB_DAS_MAX_VALUE) {
		snprintf(w->err, w->errlen, "%s is %zu octets long; an attribute holds at most %d", what, vlen,
			 CB_DAS_MAX_VALUE);
		return -1;
	}
	if (w->cap - w->len < 2 + vlen) {
		snprintf(w->err, w->errlen, "%s does not fit: the packet would exceed %zu octets", what, w->cap);
		return -1;
	}
	w->buf[w->len] = type;
	w->buf[w->len + 1] = (uint8_t)(2 + vlen);
	if (vlen) memcpy(w->buf + w->len + 2, val, vlen);
	w->len += 2 + vlen;
	return 0;
}

/** put_string - append a string attribute of 1 to 253 octets. */
static int put_string(wbuf_t *w, uint8_t type, char const *s, char const *what)
{
	size_t len = strnlen(s, CB_DAS_MAX_VALUE + 1);

	if (len == 0) {
		snprintf(w->err, w->errlen, "%s is empty", what);
		return -1;
	}
	return put_attr(w, type, s, len, what);
}

/** put_u32 - append a 4-octet integer attribute. */
static int put_u32(wbuf_t *w, uint8_t type, uint32_t v, char const *what)
{
	uint8_t b[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };

	return put_attr(w, type, b, sizeof(b), what);
}

/** put_coa_attr - append one authorisation change attribute (a VSA in RFC 2865 format for type 26). */
static int put_coa_attr(wbuf_t *w, cb_das_attr_t const *a)
{
	uint8_t vsa[CB_DAS_MAX_VALUE];

	if (a->len && !a->value) {
		snprintf(w->err, w->errlen, "CoA attribute %u has a length but no value", a->type);
		return -1;
	}
	switch (a->type) {
	case 0:
	case ATTR_MESSAGE_AUTHENTICATOR:
	case ATTR_EVENT_TIMESTAMP:
		snprintf(w->err, w->errlen, "CoA attribute %u cannot be given by the caller", a->type);
		return -1;
	case ATTR_VENDOR_SPECIFIC:
		if (a->len > CB_DAS_MAX_VALUE - 6) {
			snprintf(w->err, w->errlen, "vendor %u attribute %u is %zu octets long; at most %d fit",
				 a->vendor, a->vendor_type, a->len, CB_DAS_MAX_VALUE - 6);
			return -1;
		}
		vsa[0] = (uint8_t)(a->vendor >> 24);
		vsa[1] = (uint8_t)(a->vendor >> 16);
		vsa[2] = (uint8_t)(a->vendor >> 8);
		vsa[3] = (uint8_t)a->vendor;
		vsa[4] = a->vendor_type;
		vsa[5] = (uint8_t)(2 + a->len);
		if (a->len) memcpy(vsa + 6, a->value, a->len);
		return put_attr(w, ATTR_VENDOR_SPECIFIC, vsa, 6 + a->len, "Vendor-Specific");
	default:
		return put_attr(w, a->type, a->value, a->len, "CoA attribute");
	}
}

/** session_has - whether the session has a value for one CB_DAS_A_* identification bit. */
static bool session_has(cb_das_session_t const *s, unsigned int bit)
{
	switch (bit) {
	case CB_DAS_A_NAS_IP_ADDRESS:		return s->nas_ip_address != NULL;
	case CB_DAS_A_NAS_IDENTIFIER:		return s->nas_identifier != NULL;
	case CB_DAS_A_USER_NAME:		return s->user_name != NULL;
	case CB_DAS_A_ACCT_SESSION_ID:		return s->acct_session_id != NULL;
	case CB_DAS_A_CALLING_STATION_ID:	return s->calling_station_id != NULL;
	case CB_DAS_A_CALLED_STATION_ID:	return s->called_station_id != NULL;
	case CB_DAS_A_FRAMED_IP_ADDRESS:	return s->framed_ip_address != NULL;
	default:				return true;	/* Event-Timestamp, Message-Authenticator. */
	}
}

/** put_nas_ip - NAS-IP-Address or NAS-IPv6-Address, by the family of the session's value. */
static int put_nas_ip(wbuf_t *w, char const *value)
{
	uint8_t addr[16];

	if (inet_pton(AF_INET, value, addr) == 1) return put_attr(w, ATTR_NAS_IP_ADDRESS, addr, 4, "NAS-IP-Address");
	if (inet_pton(AF_INET6, value, addr) == 1) {
		return put_attr(w, ATTR_NAS_IPV6_ADDRESS, addr, 16, "NAS-IPv6-Address");
	}
	snprintf(w->err, w->errlen, "the session's NAS-IP-Address is not a numeric IPv4 or IPv6 address");
	return -1;
}

/** put_identification - NAS and session identification attributes the profile selects. */
static int put_identification(wbuf_t *w, cb_das_profile_t const *prof, cb_das_session_t const *s)
{
	unsigned int sel = prof->attrs;
	char mac[CB_DAS_PACKET_MAC_MAX + 1];
	uint8_t addr[4];

	if ((sel & CB_DAS_A_NAS_IP_ADDRESS) && s->nas_ip_address && put_nas_ip(w, s->nas_ip_address) < 0) return -1;
	if ((sel & CB_DAS_A_NAS_IDENTIFIER) && s->nas_identifier &&
	    put_string(w, ATTR_NAS_IDENTIFIER, s->nas_identifier, "NAS-Identifier") < 0) return -1;
	if ((sel & CB_DAS_A_USER_NAME) && s->user_name &&
	    put_string(w, ATTR_USER_NAME, s->user_name, "User-Name") < 0) return -1;
	if ((sel & CB_DAS_A_ACCT_SESSION_ID) && s->acct_session_id &&
	    put_string(w, ATTR_ACCT_SESSION_ID, s->acct_session_id, "Acct-Session-Id") < 0) return -1;
	if ((sel & CB_DAS_A_CALLING_STATION_ID) && s->calling_station_id &&
	    put_string(w, ATTR_CALLING_STATION_ID, cb_das_packet_calling_station(prof, s->calling_station_id, mac),
		       "Calling-Station-Id") < 0) return -1;
	if ((sel & CB_DAS_A_CALLED_STATION_ID) && s->called_station_id &&
	    put_string(w, ATTR_CALLED_STATION_ID, s->called_station_id, "Called-Station-Id") < 0) return -1;
	if ((sel & CB_DAS_A_FRAMED_IP_ADDRESS) && s->framed_ip_address) {
		if (inet_pton(AF_INET, s->framed_ip_address, addr) != 1) {
			snprintf(w->err, w->errlen, "the session's Framed-IP-Address is not a numeric IPv4 address");
			return -1;
		}
		if (put_attr(w, ATTR_FRAMED_IP_ADDRESS, addr, 4, "Framed-IP-Address") < 0) return -1;
	}
	return 0;
}

/** check_request - what cb_das_packet_encode refuses before writing anything.  Returns: 0, or -1 with err set. */
static int check_request(cb_das_request_t const *req, unsigned int code, uint8_t const *buf, size_t buflen,
			 size_t const *len, char *err, size_t errlen)
{
	if (!req || !req->nas || !req->session || !buf || !len) {
		snprintf(err, errlen, "incomplete request (no NAS or no session)");
		return -1;
	}
	if (code != CB_DAS_CODE_DISCONNECT_REQUEST && code != CB_DAS_CODE_COA_REQUEST) {
		snprintf(err, errlen, "code %u is neither Disconnect-Request nor CoA-Request", code);
		return -1;
	}
	if (buflen < HDR_LEN) {
		snprintf(err, errlen, "buffer of %zu octets is too small", buflen);
		return -1;
	}
	if (!req->nas->secret || !req->nas->secret[0]) {
		snprintf(err, errlen, "no DAS secret for NAS %s", req->nas->address ? req->nas->address : "(none)");
		return -1;
	}
	return 0;
}

/**
 * check_profile - whether the profile is sound, the session has what it
 * insists on, and something identifies the session.  Returns: 0, or -1 with
 * err set.
 */
static int check_profile(cb_das_profile_t const *prof, cb_das_session_t const *s, char *err, size_t errlen)
{
	char const *name = prof->name ? prof->name : "(unnamed)";
	unsigned int bit, missing = 0;

	if ((prof->attrs & ~CB_DAS_A_ALL) || (prof->required & ~CB_DAS_A_ALL)) {
		snprintf(err, errlen, "profile %s selects unknown attributes", name);
		return -1;
	}
	for (bit = 1; bit & CB_DAS_A_ALL; bit <<= 1) {
		if ((prof->required & bit) && !session_has(s, bit)) missing |= bit;
	}
	if (missing) {
		for (bit = 1; !(missing & bit); bit <<= 1) ;
		snprintf(err, errlen, "profile %s needs %s, which the session does not have", name,
			 cb_name_of(das_attr_names, (int)bit, "?"));
		return -1;
	}
	for (bit = 1; bit & CB_DAS_A_ALL; bit <<= 1) {
		if ((bit & CB_DAS_A_SESSION_IDS & prof->attrs) && session_has(s, bit)) return 0;
	}
	snprintf(err, errlen, "nothing identifies the session: it has none of the attributes profile %s sends "
		 "among User-Name, Acct-Session-Id, Calling-Station-Id, Framed-IP-Address", name);
	return -1;
}

/** put_attributes - everything after the header; *ma_off the Message-Authenticator's offset or 0. */
static int put_attributes(wbuf_t *w, cb_das_request_t const *req, cb_das_profile_t const *prof, unsigned int code,
			  uint32_t event_timestamp, size_t *ma_off)
{
	uint8_t zero[MA_LEN] = { 0 };
	size_t i;

	/* Message-Authenticator first, zero until the packet is complete. */
	*ma_off = 0;
	if (prof->attrs & CB_DAS_A_MESSAGE_AUTHENTICATOR) {
		*ma_off = w->len;
		if (put_attr(w, ATTR_MESSAGE_AUTHENTICATOR, zero, MA_LEN, "Message-Authenticator") < 0) return -1;
	}
	if (put_identification(w, prof, req->session) < 0) return -1;
	if ((prof->attrs & CB_DAS_A_EVENT_TIMESTAMP) &&
	    put_u32(w, ATTR_EVENT_TIMESTAMP, event_timestamp, "Event-Timestamp") < 0) return -1;
	if (code != CB_DAS_CODE_COA_REQUEST) return 0;
	for (i = 0; i < prof->num_coa_attrs; i++) {
		if (put_coa_attr(w, &prof->coa_attrs[i]) < 0) return -1;
	}
	for (i = 0; i < req->num_coa_attrs; i++) {
		if (put_coa_attr(w, &req->coa_attrs[i]) < 0) return -1;
	}
	return 0;
}

/** sign_request - Message-Authenticator (when ma_off), then the Request Authenticator.  Returns: 0, or -1. */
static int sign_request(uint8_t *buf, size_t len, size_t ma_off, char const *secret, char *err, size_t errlen)
{
	size_t secret_len = strlen(secret);
	uint8_t digest[16];
	seg_t segs[2];

	if (ma_off) {
		if (das_hmac_md5(digest, (uint8_t const *)secret, secret_len, buf, len) < 0) {
			snprintf(err, errlen, "HMAC-MD5 failed in OpenSSL");
			return -1;
		}
		memcpy(buf + ma_off + 2, digest, MA_LEN);
	}
	segs[0].p = buf;
	segs[0].len = len;
	segs[1].p = secret;
	segs[1].len = secret_len;
	if (das_md5(digest, segs, 2) < 0) {
		snprintf(err, errlen, "MD5 failed in OpenSSL");
		return -1;
	}
	memcpy(buf + AUTH_OFF, digest, AUTH_LEN);
	return 0;
}

int cb_das_packet_encode(cb_das_request_t const *req, unsigned int code, uint8_t id, uint32_t event_timestamp,
			 uint8_t *buf, size_t buflen, size_t *len, char *err, size_t errlen)
{
	cb_das_profile_t const *prof;
	wbuf_t w = { .buf = buf, .cap = buflen < CB_DAS_MAX_PACKET ? buflen : CB_DAS_MAX_PACKET, .len = HDR_LEN,
		     .err = err, .errlen = errlen };
	size_t ma_off;

	if (check_request(req, code, buf, buflen, len, err, errlen) < 0) return -1;
	prof = cb_das_packet_profile(req);
	if (check_profile(prof, req->session, err, errlen) < 0) return -1;

	memset(buf, 0, HDR_LEN);
	buf[0] = (uint8_t)code;
	buf[1] = id;
	if (put_attributes(&w, req, prof, code, event_timestamp, &ma_off) < 0) return -1;
	buf[2] = (uint8_t)(w.len >> 8);
	buf[3] = (uint8_t)w.len;
	if (sign_request(buf, w.len, ma_off, req->nas->secret, err, errlen) < 0) return -1;
	*len = w.len;
	return 0;
}

/*
 * Checking answers
 */

/**
 * check_header - length, code and Identifier of an answer to pkt.
 * Returns: 0 with *plen the Length field, or -1 with why set.
 */
static int check_header(uint8_t const *ans, size_t anslen, uint8_t const *pkt, size_t *plen, char *why, size_t whylen)
{
	unsigned int ack, nak;
	size_t len;

	if (anslen < HDR_LEN) {
		snprintf(why, whylen, "truncated: %zu octets, shorter than a RADIUS header", anslen);
		return -1;
	}
	len = ((size_t)ans[2] << 8) | ans[3];
	if (len < HDR_LEN) {
		snprintf(why, whylen, "Length field %zu is shorter than a RADIUS header", len);
		return -1;
	}
	if (len > CB_DAS_MAX_PACKET) {
		snprintf(why, whylen, "Length field %zu exceeds %d", len, CB_DAS_MAX_PACKET);
		return -1;
	}
	if (len > anslen) {
		snprintf(why, whylen, "truncated: Length field says %zu octets, %zu received", len, anslen);
		return -1;
	}
	ack = pkt[0] + 1u;
	nak = pkt[0] + 2u;
	if (ans[0] != ack && ans[0] != nak) {
		snprintf(why, whylen, "code %u (%s) does not answer a %s", ans[0], cb_das_code_name(ans[0]),
			 cb_das_code_name(pkt[0]));
		return -1;
	}
	if (ans[1] != pkt[1]) {
		snprintf(why, whylen, "Identifier %u does not match the request's %u", ans[1], pkt[1]);
		return -1;
	}
	*plen = len;
	return 0;
}

/**
 * take_attr - record one attribute of known bounds (pos[0] type, pos[1]
 * length, both checked by the caller).  Returns: 0, or -1 with why set.
 */
static int take_attr(uint8_t const *ans, uint8_t const *pos, cb_das_packet_answer_t *a, bool *have_cause,
		     size_t *ma_off, char *why, size_t whylen)
{
	unsigned int alen = pos[1];

	switch (pos[0]) {
	case ATTR_MESSAGE_AUTHENTICATOR:
		if (alen != 2 + MA_LEN) {
			snprintf(why, whylen, "Message-Authenticator has length %u, not 18", alen);
			return -1;
		}
		if (*ma_off) {
			snprintf(why, whylen, "more than one Message-Authenticator");
			return -1;
		}
		*ma_off = (size_t)(pos - ans);
		return 0;
	case ATTR_ERROR_CAUSE:
		if (alen != 6) {
			snprintf(why, whylen, "Error-Cause has length %u, not 6", alen);
			return -1;
		}
		if (!*have_cause) {
			a->error_cause = get_u32(pos + 2);
			*have_cause = true;
		}
		return 0;
	case ATTR_EVENT_TIMESTAMP:
		if (alen != 6) {
			snprintf(why, whylen, "Event-Timestamp has length %u, not 6", alen);
			return -1;
		}
		if (a->has_event_timestamp) {
			snprintf(why, whylen, "more than one Event-Timestamp");
			return -1;
		}
		a->has_event_timestamp = true;
		a->event_timestamp = get_u32(pos + 2);
		return 0;
	default:
		return 0;	/* Skipped: its bounds were checked. */
	}
}

/**
 * walk_attrs - every attribute of ans[HDR_LEN..plen-1] inside the packet,
 * the known ones of the right length.  Returns: 0 with *ma_off the offset
 * of the Message-Authenticator (0: none), or -1 with why set.
 */
static int walk_attrs(uint8_t const *ans, size_t plen, cb_das_packet_answer_t *a, size_t *ma_off,
		      char *why, size_t whylen)
{
	uint8_t const *pos = ans + HDR_LEN, *end = ans + plen;
	bool have_cause = false;
	unsigned int alen;

	*ma_off = 0;
	/* Bounded: every round advances pos by at least 2, never past end. */
	while (pos < end) {
		if (end - pos < 2) {
			snprintf(why, whylen, "attribute header at offset %zu cut off by the end of the packet",
				 (size_t)(pos - ans));
			return -1;
		}
		alen = pos[1];
		if (alen < 2) {
			snprintf(why, whylen, "attribute %u at offset %zu has length %u", pos[0], (size_t)(pos - ans), alen);
			return -1;
		}
		if (alen > (size_t)(end - pos)) {
			snprintf(why, whylen, "attribute %u at offset %zu has length %u, past the end of the packet (%zu)",
				 pos[0], (size_t)(pos - ans), alen, plen);
			return -1;
		}
		if (take_attr(ans, pos, a, &have_cause, ma_off, why, whylen) < 0) return -1;
		pos += alen;
	}
	return 0;
}

/**
 * check_authenticators - the Response Authenticator, then the
 * Message-Authenticator (or its absence, when require_ma).
 * Returns: 0, or -1 with why set.
 */
static int check_authenticators(uint8_t const *ans, size_t plen, uint8_t const *pkt, char const *secret,
				size_t ma_off, bool require_ma, char *why, size_t whylen)
{
	uint8_t copy[CB_DAS_MAX_PACKET];
	size_t secret_len = strlen(secret);
	uint8_t digest[16];
	seg_t segs[4];

	/* Response Authenticator = MD5(Code+ID+Length+RequestAuth+Attributes+Secret). */
	segs[0].p = ans;
	segs[0].len = AUTH_OFF;
	segs[1].p = pkt + AUTH_OFF;
	segs[1].len = AUTH_LEN;
	segs[2].p = ans + HDR_LEN;
	segs[2].len = plen - HDR_LEN;
	segs[3].p = secret;
	segs[3].len = secret_len;
	if (das_md5(digest, segs, 4) < 0) {
		snprintf(why, whylen, "MD5 failed in OpenSSL");
		return -1;
	}
	if (CRYPTO_memcmp(digest, ans + AUTH_OFF, AUTH_LEN) != 0) {
		snprintf(why, whylen, "Response Authenticator does not match (wrong secret?)");
		return -1;
	}
	if (!ma_off) {
		if (!require_ma) return 0;
		snprintf(why, whylen, "no Message-Authenticator, which this NAS profile requires");
		return -1;
	}

	/* Message-Authenticator: HMAC-MD5 with the Request Authenticator in place, itself zeroed. */
	memcpy(copy, ans, plen);
	memcpy(copy + AUTH_OFF, pkt + AUTH_OFF, AUTH_LEN);
	memset(copy + ma_off + 2, 0, MA_LEN);
	if (das_hmac_md5(digest, (uint8_t const *)secret, secret_len, copy, plen) < 0) {
		snprintf(why, whylen, "HMAC-MD5 failed in OpenSSL");
		return -1;
	}
	if (CRYPTO_memcmp(digest, ans + ma_off + 2, MA_LEN) != 0) {
		snprintf(why, whylen, "Message-Authenticator does not match");
		return -1;
	}
	return 0;
}

int cb_das_packet_check_answer(uint8_t const *ans, size_t anslen, uint8_t const *pkt, size_t pktlen,
			       char const *secret, bool require_ma, time_t now, unsigned int window,
			       cb_das_packet_answer_t *out, char *why, size_t whylen)
{
	cb_das_packet_answer_t a = { 0 };
	size_t plen, ma_off;

	if (!ans || !pkt || pktlen < HDR_LEN || !secret || !out) {
		snprintf(why, whylen, "nothing to check");
		return -1;
	}
	if (check_header(ans, anslen, pkt, &plen, why, whylen) < 0) return -1;
	if (walk_attrs(ans, plen, &a, &ma_off, why, whylen) < 0) return -1;
	if (check_authenticators(ans, plen, pkt, secret, ma_off, require_ma, why, whylen) < 0) return -1;
	a.has_message_authenticator = ma_off != 0;

	if (a.has_event_timestamp) {
		long long diff = (long long)now - (long long)a.event_timestamp;

		if (diff < 0) diff = -diff;
		if (diff > (long long)window) {
			snprintf(why, whylen, "Event-Timestamp %u is %lld s away from the local clock (window %u s)",
				 a.event_timestamp, diff, window);
			return -1;
		}
	}
	a.code = ans[0];
	*out = a;
	return 0;
}
