/*
 * das_profile.c - the shipped NAS profiles of the RFC 5176 client: one
 * table row per kind of NAS (mode, default port, identification attributes,
 * Calling-Station-Id spelling, CoA attributes, whether answers must be
 * signed), found by name; and the Calling-Station-Id spellings.  Data only:
 * the encoder (das_packet.c) and the sender (das.c) treat every row alike,
 * so a vendor is a row here and never a code path elsewhere.
 *
 * Where each row's values come from, and what could not be verified, is in
 * doc/nas-profiles.md; tests/nas/das-vendor-nas.py plays each vendor's DAS
 * by those rules for tests/integration/test_nas_vendors.sh.
 */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "base/mac.h"
#include "enforce/das_packet.h"

/* NAS and session identification, Event-Timestamp, Message-Authenticator. */
#define RFC5176_ATTRS	(CB_DAS_A_NAS_IP_ADDRESS | CB_DAS_A_NAS_IDENTIFIER | CB_DAS_A_USER_NAME | \
			 CB_DAS_A_ACCT_SESSION_ID | CB_DAS_A_CALLING_STATION_ID | \
			 CB_DAS_A_EVENT_TIMESTAMP | CB_DAS_A_MESSAGE_AUTHENTICATOR)
#define SIGNED		(CB_DAS_A_EVENT_TIMESTAMP | CB_DAS_A_MESSAGE_AUTHENTICATOR)

/* Cisco-AVPair (vendor 9, attribute 1; FreeRADIUS dictionary.cisco): re-authenticate the session. */
static uint8_t const cisco_reauth[] = "subscriber:command=reauthenticate";
static cb_das_attr_t const cisco_coa[] = {
	{ .type = 26, .vendor = 9, .vendor_type = 1, .value = cisco_reauth, .len = sizeof(cisco_reauth) - 1 },
};

#define MAC_IETF	"AA-BB-CC-DD-EE-FF"	/* RFC 3580 section 3.21. */
#define MAC_UPPER_COLON	"AA:BB:CC:DD:EE:FF"

/* The spellings of CB_DAS_MAC_FORMATS, "as-is" first (NULL). */
static char const *const mac_formats[] = {
	"as-is", MAC_IETF, "aa-bb-cc-dd-ee-ff", MAC_UPPER_COLON, "aa:bb:cc:dd:ee:ff",
	"AABBCCDDEEFF", "aabbccddeeff", "aabb.ccdd.eeff", NULL
};

static cb_das_profile_t const das_profiles[] = {
	{
		/*
		 * hostapd (src/radius/radius_das.c, src/ap/hostapd.c): Disconnect
		 * only (its CoA handles only the Hotspot 2.0 T&C attribute).  A
		 * session matches when every attribute given matches: the
		 * station's address for Calling-Station-Id, its 16 hex digit
		 * Acct-Session-Id, and its EAP identity for User-Name;
		 * NAS-IP-Address must be own_ip_addr and NAS-Identifier
		 * nas_identifier.  It drops requests without Event-Timestamp or
		 * Message-Authenticator when configured to, and always signs its
		 * answers.
		 */
		.name = "hostapd", .mode = CB_DAS_MODE_DISCONNECT, .port = CB_DAS_DEFAULT_PORT,
		.attrs = RFC5176_ATTRS,
		.required = CB_DAS_A_ACCT_SESSION_ID | CB_DAS_A_CALLING_STATION_ID,
		.require_response_authenticator = true,
	},
	{
		/* A NAS that follows RFC 5176. */
		.name = "rfc5176", .mode = CB_DAS_MODE_DISCONNECT, .port = CB_DAS_DEFAULT_PORT,
		.attrs = RFC5176_ATTRS,
	},
	{
		/*
		 * ArubaOS controllers and Instant (aaa rfc-3576-server): the
		 * session by User-Name, Framed-IP-Address, Calling-Station-Id or
		 * Acct-Session-Id, other attributes ignored, 503 when nothing
		 * matches; replay-protection with event-timestamp-required drops
		 * requests without a fresh Event-Timestamp.
		 */
		.name = "aruba", .mode = CB_DAS_MODE_DISCONNECT, .port = CB_DAS_DEFAULT_PORT,
		.attrs = CB_DAS_A_USER_NAME | CB_DAS_A_ACCT_SESSION_ID | CB_DAS_A_CALLING_STATION_ID |
			 CB_DAS_A_FRAMED_IP_ADDRESS | SIGNED,
	},
	{
		/*
		 * Cisco WLC (AireOS, Catalyst 9800) and IOS/IOS-XE: a CoA-Request
		 * with Cisco-AVPair "subscriber:command=reauthenticate" (the
		 * device stays associated and gets the new decision), the session
		 * by Calling-Station-Id and Acct-Session-Id (every one given must
		 * match); a refused CoA falls back to a Disconnect-Request.  Port
		 * 1700, Cisco's default for dynamic authorization.
		 */
		.name = "cisco", .mode = CB_DAS_MODE_COA_THEN_DISCONNECT, .port = 1700,
		.attrs = CB_DAS_A_NAS_IP_ADDRESS | CB_DAS_A_ACCT_SESSION_ID | CB_DAS_A_CALLING_STATION_ID | SIGNED,
		.required = CB_DAS_A_CALLING_STATION_ID,
		.coa_attrs = cisco_coa, .num_coa_attrs = sizeof(cisco_coa) / sizeof(cisco_coa[0]),
	},
	{
		/*
		 * Meraki MR ("RADIUS CoA support"): each AP its own DAS; the
		 * client by Calling-Station-Id, which Meraki spells
		 * AA-BB-CC-DD-EE-FF.
		 */
		.name = "meraki", .mode = CB_DAS_MODE_DISCONNECT, .port = CB_DAS_DEFAULT_PORT,
		.attrs = CB_DAS_A_USER_NAME | CB_DAS_A_CALLING_STATION_ID | SIGNED,
		.required = CB_DAS_A_CALLING_STATION_ID,
		.calling_station_format = MAC_IETF,
	},
	{
		/*
		 * MikroTik RouterOS (/radius incoming): the session by User-Name,
		 * Acct-Session-Id, Framed-IP-Address, Calling-Station-Id (the MAC
		 * in capital letters, colon-separated, as RouterOS reports it).
		 */
		.name = "mikrotik", .mode = CB_DAS_MODE_DISCONNECT, .port = CB_DAS_DEFAULT_PORT,
		.attrs = CB_DAS_A_USER_NAME | CB_DAS_A_ACCT_SESSION_ID | CB_DAS_A_FRAMED_IP_ADDRESS |
			 CB_DAS_A_CALLING_STATION_ID | SIGNED,
		.calling_station_format = MAC_UPPER_COLON,
	},
	{
		/*
		 * Ruckus SmartZone / ZoneDirector / Unleashed: the controller (or
		 * AP) named by NAS-IP-Address, the session by User-Name,
		 * Calling-Station-Id and Acct-Session-Id.
		 */
		.name = "ruckus", .mode = CB_DAS_MODE_DISCONNECT, .port = CB_DAS_DEFAULT_PORT,
		.attrs = CB_DAS_A_NAS_IP_ADDRESS | CB_DAS_A_USER_NAME | CB_DAS_A_ACCT_SESSION_ID |
			 CB_DAS_A_CALLING_STATION_ID | SIGNED,
	},
	{
		/*
		 * UniFi access points: Disconnect by Calling-Station-Id and
		 * User-Name; not every model signs its answers.
		 */
		.name = "unifi", .mode = CB_DAS_MODE_DISCONNECT, .port = CB_DAS_DEFAULT_PORT,
		.attrs = CB_DAS_A_USER_NAME | CB_DAS_A_CALLING_STATION_ID | SIGNED,
		.required = CB_DAS_A_CALLING_STATION_ID,
	},
};

#define NUM_PROFILES	(sizeof(das_profiles) / sizeof(das_profiles[0]))
#define DEFAULT_PROFILE	(&das_profiles[1])

cb_das_profile_t const *cb_das_profile_find(char const *name)
{
	size_t i;

	if (!name) return NULL;
	for (i = 0; i < NUM_PROFILES; i++) {
		if (strcasecmp(das_profiles[i].name, name) == 0) return &das_profiles[i];
	}
	return NULL;
}

char const *cb_das_profile_names(void)
{
	/* The table's names in its order; test_das checks that they agree. */
	return "hostapd, rfc5176, aruba, cisco, meraki, mikrotik, ruckus, unifi";
}

cb_das_profile_t const *cb_das_packet_profile(cb_das_request_t const *req)
{
	return req->nas->profile ? req->nas->profile : DEFAULT_PROFILE;
}

int cb_das_mac_format_find(char const *name, char const **format)
{
	size_t i;

	if (!name || !format) return -1;
	for (i = 0; mac_formats[i]; i++) {
		if (strcmp(mac_formats[i], name) == 0) {
			*format = i == 0 ? NULL : mac_formats[i];
			return 0;
		}
	}
	return -1;
}

char const *cb_das_packet_calling_station(cb_das_profile_t const *prof, char const *value,
					  char out[CB_DAS_PACKET_MAC_MAX + 1])
{
	char const *f = prof->calling_station_format;
	char digits[12];
	size_t n = 0, o = 0;

	if (!f || !value || cb_mac_at(value, digits) != strlen(value)) return value;
	/* Bounded: the spellings are at most 17 characters with 12 letters. */
	for (; *f && o < CB_DAS_PACKET_MAC_MAX; f++) {
		if (isxdigit((unsigned char)*f) && isalpha((unsigned char)*f) && n < 12) {
			out[o++] = (char)(isupper((unsigned char)*f) ? toupper((unsigned char)digits[n]) :
					  tolower((unsigned char)digits[n]));
			n++;
		} else {
			out[o++] = *f;
		}
	}
	out[o] = '\0';
	return n == 12 ? out : value;
}
