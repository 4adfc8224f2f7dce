#!/bin/bash
# test_class.sh - the keyed Class (lib/store/classtok.c, glue_class.c) in a
# real radiusd, driven by radclient: an Access-Accept carries the decision
# sealed in its Class (nothing written to the store; the identity not
# readable on the wire); accounting with it is tied to the person; a Class
# with a bit flipped, made up, or replayed from another device is not
# trusted (the session has no person, the audit record says why); the key
# file is made 0600; `cetbyodctl class-key rotate` keeps sessions admitted
# under the previous key tied, and once that key's grace has passed their
# Class is refused with a clear radiusd line; an identity too long for 253
# octets falls back to the decision row (the old "cetbyod:<id>" Class),
# which still ties its session.
. "$(dirname "$0")/lib.sh"

now=$(date +%s)
iso() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }
PY=/usr/bin/python3
long=$(printf 'l%.0s' $(seq 1 120))

cat > "$CB_TMP/users" <<EOF2
alice	Cleartext-Password := "alicepw", Cetbyod-Role := Staff
bob	Cleartext-Password := "bobpw", Cetbyod-Role := Staff
DEFAULT	Cleartext-Password := "anypw", Cetbyod-Role := Staff
EOF2
acks=$CB_TMP/acknowledgements
cat > "$acks" <<EOF2
alice@school.example	$(iso $((now - 86400)))	version=2026-1
bob@school.example	$(iso $((now - 86400)))
EOF2

cb_make_raddb "$CB_TMP/users" "$acks" || { cb_fail "build raddb"; cb_finish; }
# detail logs accounting where the site's comment puts such modules (after
# cetbyod), so the test reads the Acct-Unique-Session-Id other modules get.
ln -s ../mods-available/detail "$CB_TMP/raddb/mods-enabled/detail"
awk '/^\taccounting \{$/ { acct = 1 } acct && /^\t\tcetbyod$/ { print; print "\t\tdetail"; acct = 0; next } { print }' \
	"$CB_TMP/raddb/sites-enabled/cetbyod" > "$CB_TMP/site" && mv "$CB_TMP/site" "$CB_TMP/raddb/sites-enabled/cetbyod"
if cb_start_radiusd; then cb_pass "radiusd starts"; else cb_fail "radiusd starts"; cb_finish; fi
STATE=$CB_TMP/lib/cetbyod
CTL="$CB_BUILDDIR/cetbyodctl/cetbyodctl --state-dir $STATE"

# auth USER PASSWORD MAC - PAP from device MAC; the Class (hex) in $class.
auth() {
	printf 'User-Name = "%s"\nUser-Password = "%s"\nNAS-IP-Address = 127.0.0.9\nCalling-Station-Id = "%s"\n' \
		"$1" "$2" "$3" > "$CB_TMP/req"
	cb_pap_raw "$CB_TMP/req"
	class=$(printf '%s\n' "$CB_REPLY" | sed -n 's/.*Class = \(0x[0-9a-f]*\).*/\1/p' | head -n 1)
}
# acct TYPE SESSION MAC CLASS - accounting with only the anonymous outer identity.
acct() {
	printf 'Acct-Status-Type = %s\nAcct-Session-Id = "%s"\nUser-Name = "anonymous@school.example"\nNAS-IP-Address = 127.0.0.9\nCalling-Station-Id = "%s"\nClass = %s\n' \
		"$1" "$2" "$3" "$4" | "$RADCLIENT" -r 1 -t 3 "127.0.0.1:$CB_ACCT_PORT" acct testing123 >/dev/null 2>&1
}
# person SESSION - the identity of the open session SESSION ("" untied, "-" none).
person() {
	$CTL --json sessions | $PY -c 'import json, sys
s = [x for x in json.load(sys.stdin)["sessions"] if x["acct_session_id"] == sys.argv[1]]
print(s[0]["identity"] or "" if s else "-")' "$1"
}
# detail SESSION - the detail of its session_start audit record.
detail() {
	$CTL audit query --type session_start --format json 2>/dev/null | $PY -c 'import json, sys
r = [x for x in json.load(sys.stdin) if x.get("acct_session_id") == sys.argv[1]]
print(r[0].get("detail", "") + "|" + r[0].get("identity", "") if r else "-")' "$1"
}
# unique SESSION - the Acct-Unique-Session-Id that detail logged for SESSION's Start.
unique() {
	cat "$CB_TMP"/radacct/*/detail-* 2>/dev/null | awk -v s="$1" '
		/^[^ \t]/ { u = ""; mine = 0 } /Acct-Session-Id = / && index($0, "\"" s "\"") { mine = 1 }
		/Acct-Unique-Session-Id = / { u = $3; gsub(/"/, "", u) } /^$/ && mine && u != "" { print u; exit }'
}
md5of() { printf '%s' "$1" | md5sum | cut -d' ' -f1; }
# text HEX / hexof TEXT - a Class value as text and back.
text() { $PY -c 'import sys; print(bytes.fromhex(sys.argv[1][2:]).decode())' "$1"; }
hexof() { $PY -c 'import sys; print("0x" + sys.argv[1].encode().hex())' "$1"; }
decisions() { $CTL --json status | $PY -c 'import json, sys
def find(o):
    if isinstance(o, dict):
        for k, v in o.items():
            if k == "decisions" and isinstance(v, int): return v
            r = find(v)
            if r is not None: return r
    return None
print(find(json.load(sys.stdin)))'; }

MAC1=02-00-00-00-00-01
MAC2=02-00-00-00-00-02
MAC3=02-00-00-00-00-03

# --- The key file and the keyed Class -------------------------------------------
if [ "$(stat -c %a "$STATE/class.key" 2>/dev/null)" = 600 ]; then
	cb_pass "the class key file is made 0600 in state_dir"
else
	cb_fail "the class key file is made 0600 in state_dir"; ls -l "$STATE" | sed 's/^/    # /'
fi
auth alice alicepw $MAC1
alice_class=$class
cb_expect_reply "PAP: alice admitted" 'Received Access-Accept' 'Tunnel-Private-Group-Id:0 = "100"'
case $(text "$alice_class") in
cetbyod:2.*) cb_pass "the Access-Accept's Class is a keyed Class" ;;
*) cb_fail "the Access-Accept's Class is a keyed Class (got $(text "$alice_class"))" ;;
esac
if text "$alice_class" | grep -q alice || printf '%s' "$alice_class" | grep -q "$(printf alice | od -An -tx1 | tr -d ' \n')"; then
	cb_fail "the identity is not readable in the Class"
else
	cb_pass "the identity is not readable in the Class"
fi
if [ "$(decisions)" = 0 ]; then
	cb_pass "an Access-Accept writes no decision row"
else
	cb_fail "an Access-Accept writes no decision row (decisions: $(decisions))"
fi
if grep -q "Decision carried in the Class" "$CB_TMP/radiusd.out"; then
	cb_pass "radiusd -X says the decision is carried in the Class"
else
	cb_fail "radiusd -X says the decision is carried in the Class"
fi

acct Start s-alice $MAC1 "$alice_class"
if [ "$(person s-alice)" = alice ]; then
	cb_pass "accounting with the keyed Class is tied to alice (anonymous outer identity)"
else
	cb_fail "accounting with the keyed Class is tied to alice (got '$(person s-alice)')"
fi
if [ "$(decisions)" = 1 ]; then
	cb_pass "the decision is recorded once, with the session's Start"
else
	cb_fail "the decision is recorded with the session's Start (decisions: $(decisions))"
fi
# The site computes acct_unique's value itself for a keyed Class (README
# "The Class: what it carries, and its key"): the same as FreeRADIUS's policy gives for any Class not its
# own "ai:" one; an "ai:" Class still goes through the policy.
want=$(md5of "anonymous@school.example,s-alice,127.0.0.9,,,")
if [ "$(unique s-alice)" = "$want" ]; then
	cb_pass "a keyed Class's Acct-Unique-Session-Id is acct_unique's (User-Name, session, NAS)"
else
	cb_fail "a keyed Class's Acct-Unique-Session-Id is acct_unique's (got '$(unique s-alice)', want $want)"
fi
acct Start s-ai $MAC2 "$(hexof "ai:0123456789abcdef0123456789abcdef")"
want=$(md5of "0123456789abcdef0123456789abcdef,s-ai")
if [ "$(unique s-ai)" = "$want" ]; then
	cb_pass "an 'ai:' Class still gets acct_unique's own Acct-Unique-Session-Id (its id and the session)"
else
	cb_fail "an 'ai:' Class still gets acct_unique's own Acct-Unique-Session-Id (got '$(unique s-ai)', want $want)"
fi

# --- Forged, made up, replayed ----------------------------------------------------
t=$(text "$alice_class")
flipped=$($PY -c 'import sys
t = sys.argv[1]; i = len(t) // 2
a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
print(t[:i] + a[(a.index(t[i]) + 1) % 64] + t[i + 1:])' "$t")
acct Start s-forged $MAC1 "$(hexof "$flipped")"
acct Start s-madeup $MAC1 "$(hexof "cetbyod:2.AgFhbGljZWFsaWNlYWxpY2VhbGljZWFsaWNlYWxpY2VhbGljZWFsaWNlYWxpY2U")"
for s in s-forged s-madeup; do
	p=$(person $s)
	d=$(detail $s)
	if [ "$p" = "" ] && case $d in "Class not trusted"*"|") true ;; *) false ;; esac; then
		cb_pass "$s: the session is recorded without a person, audited as not trusted"
	else
		cb_fail "$s: recorded without a person, audited as not trusted (person '$p', audit '$d')"
	fi
done
if grep -q "Class of ours not trusted: it does not verify under its key" "$CB_TMP/radiusd.out"; then
	cb_pass "radiusd -X says the altered Class does not verify"
else
	cb_fail "radiusd -X says the altered Class does not verify"
fi

auth bob bobpw $MAC2
bob_class=$class
acct Start s-replay-bob $MAC1 "$bob_class"	# bob's Class from alice's device
acct Start s-replay-dev $MAC3 "$alice_class"	# alice's Class from a third device
for s in s-replay-bob s-replay-dev; do
	p=$(person $s)
	case $(detail $s) in
	"Class not trusted: Class issued to another device"*) d=ok ;;
	*) d=$(detail $s) ;;
	esac
	if [ "$p" = "" ] && [ "$d" = ok ]; then
		cb_pass "$s: a Class replayed from another device is not tied to its person"
	else
		cb_fail "$s: a replayed Class is not tied to its person (person '$p', audit '$d')"
	fi
done
acct Start s-bob $MAC2 "$bob_class"
if [ "$(person s-bob)" = bob ]; then cb_pass "bob's own Class from his device is tied to bob"; else cb_fail "bob's own Class is tied to bob"; fi

# --- Rotation -----------------------------------------------------------------------
if out=$($CTL class-key rotate --grace-days 2) && printf '%s' "$out" | grep -q "key 2 now seals"; then
	cb_pass "cetbyodctl class-key rotate: key 2 now seals"
else
	cb_fail "cetbyodctl class-key rotate (output: $out)"
fi
cb_stop_radiusd
if cb_start_radiusd; then cb_pass "radiusd restarts with the rotated key file"; else cb_fail "radiusd restarts"; cb_finish; fi
acct Start s-after-rotation $MAC1 "$alice_class"
if [ "$(person s-after-rotation)" = alice ]; then
	cb_pass "after rotation, a session admitted under the previous key is still tied to alice"
else
	cb_fail "after rotation, a session admitted under the previous key is still tied (got '$(person s-after-rotation)')"
fi
auth alice alicepw $MAC1
new_class=$class
acct Start s-new-key $MAC1 "$new_class"
if [ "$(person s-new-key)" = alice ] && [ "$new_class" != "$alice_class" ]; then
	cb_pass "a Class under the new key ties its session"
else
	cb_fail "a Class under the new key ties its session"
fi
# The previous key's grace is over: its line gets a verify-until in the past.
$PY - "$STATE/class.key" <<'EOP'
import os, sys, time
p = sys.argv[1]
lines = open(p).read().splitlines()
out = []
for l in lines:
    f = l.split()
    if f and f[0] == "1":
        f[2] = str(int(time.time()) - 60)
        l = " ".join(f)
    out.append(l)
open(p, "w").write("\n".join(out) + "\n")
os.chmod(p, 0o600)
EOP
cb_stop_radiusd
if cb_start_radiusd; then cb_pass "radiusd restarts after the previous key's grace"; else cb_fail "radiusd restarts"; cb_finish; fi
acct Start s-retired $MAC1 "$alice_class"
if [ "$(person s-retired)" = "" ]; then
	cb_pass "a Class under a rotated-out key is not tied to a person"
else
	cb_fail "a Class under a rotated-out key is not tied (got '$(person s-retired)')"
fi
if grep -q "Class under key 1, rotated out of .*class.key: not trusted" "$CB_TMP/radiusd.out"; then
	cb_pass "radiusd says the Class's key was rotated out"
else
	cb_fail "radiusd says the Class's key was rotated out"
fi
acct Start s-new-key-2 $MAC1 "$new_class"
if [ "$(person s-new-key-2)" = alice ]; then cb_pass "the current key still ties its sessions"; else cb_fail "the current key still ties its sessions"; fi

# --- Too long for 253 octets: the decision row, the old Class --------------------------
auth "$long" anypw $MAC3
long_class=$class
case $(text "$long_class") in
cetbyod:2.*) cb_fail "an identity of 120 bytes falls back to the decision row" ;;
cetbyod:*) cb_pass "an identity of 120 bytes falls back to the decision row (Class cetbyod:<id>)" ;;
*) cb_fail "an identity of 120 bytes: an Access-Accept with a Class (got '$long_class')" ;;
esac
if grep -q "does not fit in a Class of 253 octets" "$CB_TMP/radiusd.out"; then
	cb_pass "radiusd -X says the decision does not fit in a Class"
else
	cb_fail "radiusd -X says the decision does not fit in a Class"
fi
acct Start s-long $MAC3 "$long_class"
if [ "$(person s-long)" = "$long" ]; then cb_pass "the old Class form still ties its session"; else cb_fail "the old Class form still ties its session (got '$(person s-long)')"; fi

sleep 1
if $CTL audit verify >/dev/null 2>&1; then cb_pass "audit: the hash chain verifies"; else cb_fail "audit: the hash chain verifies"; fi

# --- A class_key_file named but missing refuses start-up, naming the option -------------
sed -i "s|^\tclass_key_file = .*|\tclass_key_file = \"$CB_TMP/missing.key\"|" "$CB_TMP/raddb/mods-available/cetbyod"
cb_radiusd_check "$CB_TMP/check.out"; rc=$?
if [ $rc -ne 0 ] && grep -q "Invalid 'class_key_file' .*missing.key: no such file" "$CB_TMP/check.out"; then
	cb_pass "a missing class_key_file refuses start-up, naming the option"
else
	cb_fail "a missing class_key_file refuses start-up (exit $rc)"; tail -n 5 "$CB_TMP/check.out" | sed 's/^/    # /'
fi
cb_finish
