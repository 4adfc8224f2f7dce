/*
 * fuzz_das_answer.c - libFuzzer target for the DAS answer check: hostile
 * bytes as the NAS's answer to a Disconnect-Request or CoA-Request, through
 * cb_das_packet_check_answer (header, attribute walk, authenticators,
 * Error-Cause, Event-Timestamp window).
 *
 * Input: one control octet, then the answer.  The control octet chooses the
 * request the answer is checked against (encoded afresh with a fixed
 * session, secret, Identifier and Event-Timestamp on every run, so no state
 * carries over between inputs):
 *
 *	0x01  CoA-Request (43) instead of Disconnect-Request (40)
 *	0x02  the rfc5176 profile (Message-Authenticator optional) instead of hostapd
 *	0x04  sign: set the answer's Identifier, ACK/NAK code, Length and both
 *	      authenticators, so that random bytes reach the checks after them
 *	0x08  with 0x04: the NAK code instead of the ACK code
 *	0x10  the session's NAS address is IPv6
 *	0x20  the CoA-Request carries a vendor attribute and Session-Timeout
 *	0x40  the request has no Message-Authenticator
 *	0x80  an Event-Timestamp window of 1 s instead of 300 s
 *
 * An accepted answer must be an ACK or NAK of the request, signed when the
 * profile requires it; a refused one must leave the output untouched and
 * give a reason.  Anything else aborts.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "enforce/das.h"
#include "enforce/das_packet.h"

#define SECRET		"fuzz-das-secret"
#define NOW		1700000000u
#define ID		0x5a

enum {
	F_COA = 0x01,
	F_RFC5176 = 0x02,
	F_SIGN = 0x04,
	F_NAK = 0x08,
	F_IPV6 = 0x10,
	F_COA_ATTRS = 0x20,
	F_NO_MA = 0x40,
	F_NARROW = 0x80
};

static cb_das_attr_t const coa_attrs[] = {
	{ .type = 26, .vendor = 9, .vendor_type = 1, .value = (uint8_t const *)"subscriber:command=reauthenticate",
	  .len = 33 },
	{ .type = 27, .value = (uint8_t const *)"\x00\x00\x0e\x10", .len = 4 },
};

/** build_request - the request the control octet describes.  Returns: its length, or 0 (abort-worthy). */
static size_t build_request(uint8_t ctl, uint8_t *pkt, size_t pktlen)
{
	cb_das_session_t session = {
		.nas_ip_address = (ctl & F_IPV6) ? "2001:db8::1" : "192.0.2.1",
		.nas_identifier = "ap-1",
		.user_name = "alice@example.org",
		.acct_session_id = "0123456789ABCDEF",
		.calling_station_id = "02-00-00-00-00-01",
	};
	cb_das_profile_t prof = *cb_das_profile_find((ctl & F_RFC5176) ? "rfc5176" : "hostapd");
	cb_das_nas_t nas = { .address = "192.0.2.1", .secret = SECRET, .profile = &prof };
	cb_das_request_t req = { .nas = &nas, .session = &session };
	char err[256];
	size_t len = 0;

	if (ctl & F_NO_MA) prof.attrs &= ~CB_DAS_A_MESSAGE_AUTHENTICATOR;
	if (ctl & F_COA_ATTRS) {
		req.coa_attrs = coa_attrs;
		req.num_coa_attrs = sizeof(coa_attrs) / sizeof(coa_attrs[0]);
	}
	if (cb_das_packet_encode(&req, (ctl & F_COA) ? CB_DAS_CODE_COA_REQUEST : CB_DAS_CODE_DISCONNECT_REQUEST, ID,
				 NOW, pkt, pktlen, &len, err, sizeof(err)) < 0) return 0;
	return len;
}

/** sign - make ans[0..len-1] a correctly signed answer to pkt, whatever its attributes (len >= 20). */
static void sign(uint8_t *ans, size_t len, uint8_t const *pkt, bool nak)
{
	uint8_t tmp[CB_DAS_MAX_PACKET + sizeof(SECRET)];
	uint8_t d[EVP_MAX_MD_SIZE];
	unsigned int dlen = 0;
	size_t pos = 20, ma = 0;

	ans[0] = (uint8_t)(pkt[0] + (nak ? 2 : 1));
	ans[1] = pkt[1];
	ans[2] = (uint8_t)(len >> 8);
	ans[3] = (uint8_t)len;
	memcpy(ans + 4, pkt + 4, 16);
	while (pos + 2 <= len && ans[pos + 1] >= 2 && ans[pos + 1] <= len - pos) {
		if (ans[pos] == 80 && ans[pos + 1] == 18) {
			ma = pos;
			break;
		}
		pos += ans[pos + 1];
	}
	if (ma) {
		memset(ans + ma + 2, 0, 16);
		if (!HMAC(EVP_md5(), SECRET, (int)strlen(SECRET), ans, len, d, &dlen)) abort();
		memcpy(ans + ma + 2, d, 16);
	}
	memcpy(tmp, ans, len);
	memcpy(tmp + len, SECRET, strlen(SECRET));
	if (EVP_Digest(tmp, len + strlen(SECRET), d, &dlen, EVP_md5(), NULL) != 1) abort();
	memcpy(ans + 4, d, 16);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t pkt[CB_DAS_MAX_PACKET];
	uint8_t *ans;
	size_t pktlen, anslen;
	cb_das_packet_answer_t a = { .code = 12345 };
	bool require_ma;
	char why[256] = "";
	uint8_t ctl;
	int rc;

	if (size < 1) return 0;
	ctl = data[0];
	anslen = size - 1;
	pktlen = build_request(ctl, pkt, sizeof(pkt));
	if (!pktlen) abort();
	require_ma = !(ctl & F_RFC5176);

	/* A copy of exactly the answer's size, so that ASan sees any read past it. */
	ans = malloc(anslen ? anslen : 1);
	if (!ans) return 0;
	if (anslen) memcpy(ans, data + 1, anslen);
	if ((ctl & F_SIGN) && anslen >= 20) sign(ans, anslen < CB_DAS_MAX_PACKET ? anslen : CB_DAS_MAX_PACKET, pkt,
						    ctl & F_NAK);

	rc = cb_das_packet_check_answer(ans, anslen, pkt, pktlen, SECRET, require_ma, NOW,
					(ctl & F_NARROW) ? 1 : 300, &a, why, sizeof(why));
	if (rc == 0) {
		if (a.code != pkt[0] + 1u && a.code != pkt[0] + 2u) abort();
		if (require_ma && !a.has_message_authenticator) abort();
		if (a.code != ans[0]) abort();
	} else {
		if (rc != -1 || a.code != 12345 || !why[0] || !memchr(why, '\0', sizeof(why))) abort();
	}
	/* The names of whatever came back must be printable strings. */
	if (!cb_das_code_name(anslen ? ans[0] : 0)[0] || !cb_das_error_cause_name(a.error_cause)[0]) abort();
	free(ans);
	return 0;
}
