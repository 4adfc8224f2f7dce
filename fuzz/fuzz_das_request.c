/*
 * fuzz_das_request.c - libFuzzer target for the DAS settings and request
 * encoding: hostile profile, mode and attribute-list settings (as an admin
 * or a configuration file might give them) and hostile session values (as a
 * NAS reported them in accounting), through cb_das_profile_find,
 * cb_das_mode_parse, cb_das_attrs_parse and cb_das_packet_encode.
 *
 * Input: two control octets, then fields separated by '\n':
 *
 *	ctl[0]  0x01 CoA-Request instead of Disconnect-Request; 0x02 a buffer of
 *	        20 + ctl[1] octets instead of 4096
 *	ctl[1]  the Identifier (and the small buffer's size)
 *	fields  profile name, mode, attribute list, required list, then the
 *	        session: NAS-IP-Address, NAS-Identifier, User-Name,
 *	        Acct-Session-Id, Calling-Station-Id, Called-Station-Id,
 *	        Framed-IP-Address (a missing or empty field is NULL: an unset
 *	        setting or an unknown value; the one octet 0x01 is ""),
 *	        then up to 8 CoA attributes: type octet, vendor-type octet, value
 *	        (type 26 is sent as a vendor 9 attribute).
 *
 * A request that encodes must be a well-formed RADIUS packet of the code
 * and Identifier asked for, within the buffer, every attribute inside it;
 * a refused one must give a reason.  Anything else aborts.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "enforce/das.h"
#include "enforce/das_packet.h"

#define MAX_FIELDS	19
#define FIRST_SESSION	4
#define FIRST_COA	11

/** split - the input's fields as NUL-terminated copies (free with free()); missing and empty ones NULL. */
static size_t split(uint8_t const *data, size_t size, char *fields[MAX_FIELDS], size_t lens[MAX_FIELDS])
{
	size_t n = 0, start = 0, i;

	memset(fields, 0, sizeof(char *) * MAX_FIELDS);
	for (i = 0; i <= size && n < MAX_FIELDS; i++) {
		if (i < size && data[i] != '\n') continue;
		lens[n] = i - start;
		if (lens[n] == 1 && data[start] == 0x01) lens[n] = 0;
		if (i > start) {
			fields[n] = malloc(lens[n] + 1);
			if (!fields[n]) break;
			memcpy(fields[n], data + start, lens[n]);
			fields[n][lens[n]] = '\0';
		}
		n++;
		start = i + 1;
	}
	return n;
}

/** check_packet - abort unless pkt[0..len-1] is a well-formed request of code and id within buflen. */
static void check_packet(uint8_t const *pkt, size_t len, size_t buflen, unsigned int code, uint8_t id)
{
	size_t pos = CB_DAS_PACKET_HDR_LEN;

	if (len < CB_DAS_PACKET_HDR_LEN || len > buflen || len > CB_DAS_MAX_PACKET) abort();
	if (pkt[0] != code || pkt[1] != id || (((size_t)pkt[2] << 8) | pkt[3]) != len) abort();
	while (pos < len) {
		if (len - pos < 2 || pkt[pos + 1] < 2 || pkt[pos + 1] > len - pos) abort();
		pos += pkt[pos + 1];
	}
}

/** settings - the profile the first four fields describe, starting from a shipped one. */
static void settings(char *const fields[MAX_FIELDS], cb_das_profile_t *prof)
{
	cb_das_profile_t const *found = cb_das_profile_find(fields[0]);
	cb_das_mode_t mode = CB_DAS_MODE_DISCONNECT;
	unsigned int mask = 0;
	char err[512] = "";

	*prof = *(found ? found : cb_das_profile_find("rfc5176"));
	if (fields[1] && cb_das_mode_parse(fields[1], &mode) == 0) prof->mode = mode;
	if (!cb_das_mode_name(prof->mode)[0]) abort();
	if (fields[2]) {
		if (cb_das_attrs_parse(fields[2], &mask, err, sizeof(err)) == 0) prof->attrs = mask;
		else if (!err[0]) abort();
	}
	if (fields[3] && cb_das_attrs_parse(fields[3], &mask, err, sizeof(err)) == 0) prof->required = mask;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *fields[MAX_FIELDS];
	size_t lens[MAX_FIELDS], nfields, ncoa = 0, i, len = 0, buflen;
	cb_das_attr_t coa[MAX_FIELDS - FIRST_COA];
	cb_das_profile_t prof;
	cb_das_session_t s;
	cb_das_nas_t nas = { .address = "192.0.2.1", .secret = "fuzz-das-secret", .profile = &prof };
	cb_das_request_t req = { .nas = &nas, .session = &s };
	uint8_t *pkt;
	unsigned int code;
	char err[256] = "";

	if (size < 2) return 0;
	code = (data[0] & 0x01) ? CB_DAS_CODE_COA_REQUEST : CB_DAS_CODE_DISCONNECT_REQUEST;
	buflen = (data[0] & 0x02) ? CB_DAS_PACKET_HDR_LEN + data[1] : CB_DAS_MAX_PACKET;
	nfields = split(data + 2, size - 2, fields, lens);
	settings(fields, &prof);

	s.nas_ip_address = fields[FIRST_SESSION];
	s.nas_identifier = fields[FIRST_SESSION + 1];
	s.user_name = fields[FIRST_SESSION + 2];
	s.acct_session_id = fields[FIRST_SESSION + 3];
	s.calling_station_id = fields[FIRST_SESSION + 4];
	s.called_station_id = fields[FIRST_SESSION + 5];
	s.framed_ip_address = fields[FIRST_SESSION + 6];
	for (i = FIRST_COA; i < nfields; i++) {
		cb_das_attr_t *a = &coa[ncoa++];

		memset(a, 0, sizeof(*a));
		a->type = lens[i] > 0 ? (uint8_t)fields[i][0] : 0;
		a->vendor = 9;
		a->vendor_type = lens[i] > 1 ? (uint8_t)fields[i][1] : 0;
		a->value = lens[i] > 2 ? (uint8_t const *)fields[i] + 2 : NULL;
		a->len = lens[i] > 2 ? lens[i] - 2 : 0;
	}
	req.coa_attrs = coa;
	req.num_coa_attrs = ncoa;

	/* Exactly the buffer's size, so that ASan sees any write past it. */
	pkt = malloc(buflen);
	if (pkt) {
		if (cb_das_packet_encode(&req, code, data[1], 1700000000u, pkt, buflen, &len, err, sizeof(err)) == 0) {
			check_packet(pkt, len, buflen, code, data[1]);
		} else if (!err[0]) {
			abort();
		}
		free(pkt);
	}
	for (i = 0; i < MAX_FIELDS; i++) free(fields[i]);
	return 0;
}
