#!/bin/bash
# selftest.sh - checks the Google API emulator against the behaviour the tests rely on.
#
# TEST FIXTURE. Starts emulator.py on a free 127.0.0.1 port in a temporary
# directory, drives it with curl (signing service-account JWTs with openssl),
# asserts the answers, stops it by PID and removes the directory, also on
# failure.  Last line: "N passed, M failed"; exit status non-zero on failure.
# Needs: bash, curl, openssl, /usr/bin/python3 with python3-cryptography.
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
PY=/usr/bin/python3
TMP=$(mktemp -d "${TMPDIR:-/tmp}/emulator-selftest.XXXXXX")
EMU_PID=""
EMU2_PID=""
PASS=0
FAIL=0

stop_pid() { # pid: TERM, wait up to 5 s, then KILL
    local pid=$1 _try
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    for _try in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
cleanup() {
    stop_pid "$EMU2_PID"
    stop_pid "$EMU_PID"
    if [ "$FAIL" -ne 0 ] && [ -s "$TMP/emulator.log.out" ]; then
        echo "# emulator stderr:"; sed 's/^/#   /' "$TMP/emulator.log.out" | tail -40
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ok()  { PASS=$((PASS + 1)); echo "ok   - $1"; }
bad() { FAIL=$((FAIL + 1)); echo "FAIL - $1"; [ -n "${2:-}" ] && echo "       $2"; return 0; }
# expect DESC ACTUAL EXPECTED
expect() {
    if [ "$2" = "$3" ]; then ok "$1"; else bad "$1" "expected [$3], got [$2]"; fi
}
# expect_match DESC ACTUAL REGEX
expect_match() {
    if [[ $2 =~ $3 ]]; then ok "$1"; else bad "$1" "[$2] does not match /$3/"; fi
}

# j EXPR [FILE]: evaluate a Python expression over the JSON document d
# (default: the last response body).  Strings print raw, others as JSON;
# "ERR" when the file is not JSON or the expression fails.
j() {
    "$PY" - "${2:-$TMP/body}" "$1" <<'EOF'
import json, sys
try:
    d = json.load(open(sys.argv[1], encoding="utf-8"))
    v = eval(sys.argv[2], {"d": d, "len": len, "sorted": sorted, "isinstance": isinstance,
                           "str": str, "int": int, "float": float, "all": all, "any": any})
except Exception:
    print("ERR")
    sys.exit(0)
print(v if isinstance(v, str) else json.dumps(v, separators=(",", ":")))
EOF
}

# ---------------------------------------------------------------- setup

"$HERE/mkcerts.sh" "$TMP/certs" >/dev/null || { echo "mkcerts.sh failed"; echo "0 passed, 1 failed"; exit 1; }
C=$TMP/certs
EMAIL=sa@test-project.iam.gserviceaccount.com
KID=$(sed -n 's/.*"private_key_id": "\([0-9a-f]*\)".*/\1/p' "$C/sa.json")

start_emulator() { # cert key portfile log -> sets STARTED_PID (a child of this shell)
    "$PY" "$HERE/emulator.py" --listen 127.0.0.1 --port 0 --cert "$1" --key "$2" \
        --service-account-pubkey "$C/sa_pub.pem" --client-email "$EMAIL" \
        --port-file "$3" --log "$4" >"$4.out" 2>&1 &
    STARTED_PID=$!
}
wait_port() { # portfile
    local _try
    for _try in $(seq 1 100); do
        [ -s "$1" ] && { cat "$1"; return 0; }
        sleep 0.1
    done
    return 1
}

start_emulator "$C/server.pem" "$C/server.key" "$TMP/port" "$TMP/emulator.log"
EMU_PID=$STARTED_PID
if ! PORT=$(wait_port "$TMP/port"); then
    echo "emulator did not start:"; cat "$TMP/emulator.log.out"
    echo "0 passed, 1 failed"; exit 1
fi
BASE=https://127.0.0.1:$PORT
CURL=(curl -sS --cacert "$C/ca.pem" --max-time 20)

# req METHOD PATH [curl args...]: sets STATUS; body in $TMP/body, headers in $TMP/headers
req() {
    local m=$1 p=$2
    shift 2
    STATUS=$("${CURL[@]}" -X "$m" -o "$TMP/body" -D "$TMP/headers" -w '%{http_code}' "$@" "$BASE$p")
    CURL_RC=$?
}
# ctl METHOD PATH [JSON]: the control API
ctl() {
    if [ $# -ge 3 ]; then
        req "$1" "$2" -H 'Content-Type: application/json' --data-binary "$3"
    else
        req "$1" "$2"
    fi
}
# api PATH [curl args]: GET with the current token
api() { local p=$1; shift; req GET "$p" -H "Authorization: Bearer $TOKEN" "$@"; }
header() { tr -d '\r' <"$TMP/headers" | sed -n "s/^$1: //Ip" | tail -1; }

# ---------------------------------------------------------------- JWT helpers

b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
# make_jwt KEY ISS AUD SCOPE IAT EXP
make_jwt() {
    local h p s
    h=$(printf '{"alg":"RS256","typ":"JWT","kid":"%s"}' "$KID" | b64url)
    p=$(printf '{"iss":"%s","scope":"%s","aud":"%s","iat":%s,"exp":%s}' "$2" "$4" "$3" "$5" "$6" | b64url)
    s=$(printf '%s.%s' "$h" "$p" | openssl dgst -sha256 -sign "$1" -binary | b64url)
    printf '%s.%s.%s' "$h" "$p" "$s"
}
AUD=https://oauth2.googleapis.com/token
A=https://www.googleapis.com/auth
SCOPES="$A/forms.responses.readonly $A/forms.body.readonly $A/spreadsheets.readonly $A/drive.metadata.readonly"
token_req() { # JWT [grant_type]
    req POST /token --data-urlencode "grant_type=${2:-urn:ietf:params:oauth:grant-type:jwt-bearer}" \
        --data-urlencode "assertion=$1"
}
new_token() { # [SCOPES] -> prints access token
    local now jwt
    now=$(date +%s)
    jwt=$(make_jwt "$C/sa.key" "$EMAIL" "$AUD" "${1:-$SCOPES}" "$now" $((now + 3600)))
    token_req "$jwt"
    j 'd["access_token"]'
}
wrong_key() { # a key that is not the service account's
    [ -f "$TMP/wrong.key" ] || openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
        -out "$TMP/wrong.key" 2>/dev/null
    echo "$TMP/wrong.key"
}

echo "# emulator on $BASE (pid $EMU_PID)"

# ---------------------------------------------------------------- token endpoint

NOW=$(date +%s)
token_req "$(make_jwt "$C/sa.key" "$EMAIL" "$AUD" "$SCOPES" "$NOW" $((NOW + 3600)))"
expect "token: valid JWT -> 200" "$STATUS" 200
expect "token: token_type Bearer, expires_in 3599" "$(j '[d["token_type"], d["expires_in"]]')" '["Bearer",3599]'
TOKEN=$(j 'd["access_token"]')
expect_match "token: access_token looks like ya29." "$TOKEN" '^ya29\.'

token_req "$(make_jwt "$(wrong_key)" "$EMAIL" "$AUD" "$SCOPES" "$NOW" $((NOW + 3600)))"
expect "token: wrong key -> 400 Invalid JWT Signature." "$STATUS $(j '[d["error"], d["error_description"]]')" \
    '400 ["invalid_grant","Invalid JWT Signature."]'

token_req "$(make_jwt "$C/sa.key" "$EMAIL" "$AUD" "$SCOPES" "$NOW" $((NOW + 7200)))"
expect_match "token: exp - iat > 3600 -> short-lived token error" "$STATUS $(j 'd["error_description"]')" \
    '^400 Invalid JWT: Token must be a short-lived token'

token_req "$(make_jwt "$C/sa.key" "$EMAIL" "$AUD" "$SCOPES" $((NOW - 4000)) $((NOW - 400)))"
expect_match "token: expired JWT -> invalid_grant" "$STATUS $(j 'd["error"]')" '^400 invalid_grant$'

token_req "$(make_jwt "$C/sa.key" "$EMAIL" "$AUD" "$SCOPES" $((NOW + 300)) $((NOW + 900)))"
expect_match "token: iat in the future -> invalid_grant" "$STATUS $(j 'd["error"]')" '^400 invalid_grant$'

token_req "$(make_jwt "$C/sa.key" "$EMAIL" "https://example.com/token" "$SCOPES" "$NOW" $((NOW + 3600)))"
expect_match "token: wrong aud -> audience check" "$STATUS $(j 'd["error_description"]')" '^400 Invalid JWT: Failed audience check'

token_req "$(make_jwt "$C/sa.key" "other@test-project.iam.gserviceaccount.com" "$AUD" "$SCOPES" "$NOW" $((NOW + 3600)))"
expect "token: unknown iss -> account not found" "$STATUS $(j 'd["error_description"]')" '400 Invalid grant: account not found'

token_req "$(make_jwt "$C/sa.key" "$EMAIL" "$AUD" "" "$NOW" $((NOW + 3600)))"
expect "token: no scope -> invalid_scope" "$STATUS $(j 'd["error"]')" '400 invalid_scope'

token_req "$(make_jwt "$C/sa.key" "$EMAIL" "$BASE/token" "$SCOPES" "$NOW" $((NOW + 3600)))"
expect "token: the emulator's own URL as aud -> 200" "$STATUS" 200

token_req "x.y" "client_credentials"
expect "token: unsupported grant_type" "$STATUS $(j 'd["error"]')" '400 unsupported_grant_type'

token_req "not-a-jwt"
expect "token: malformed assertion -> invalid_grant" "$STATUS $(j 'd["error"]')" '400 invalid_grant'

JWT=$(make_jwt "$C/sa.key" "$EMAIL" "$AUD" "$SCOPES" "$NOW" $((NOW + 3600)))
TAMPERED="${JWT%.*}.$(printf 'x%.0s' $(seq 1 342))"
token_req "$TAMPERED"
expect "token: tampered signature -> Invalid JWT Signature." "$(j 'd["error_description"]')" "Invalid JWT Signature."

ctl POST /_emulator/config '{"keyDeleted": true}'
token_req "$(make_jwt "$C/sa.key" "$EMAIL" "$AUD" "$SCOPES" "$NOW" $((NOW + 3600)))"
expect "token: a deleted key (config keyDeleted) -> 400 Invalid JWT Signature." \
    "$STATUS $(j '[d["error"], d["error_description"]]')" '400 ["invalid_grant","Invalid JWT Signature."]'
token_req "$(make_jwt "$C/sa.key" "other@test-project.iam.gserviceaccount.com" "$AUD" "$SCOPES" "$NOW" $((NOW + 3600)))"
expect "token: with keyDeleted the JWT is still checked (unknown iss)" "$STATUS $(j 'd["error_description"]')" \
    '400 Invalid grant: account not found'
ctl POST /_emulator/config '{"keyDeleted": false}'
token_req "$(make_jwt "$C/sa.key" "$EMAIL" "$AUD" "$SCOPES" "$NOW" $((NOW + 3600)))"
expect "token: key restored -> 200" "$STATUS" 200

ctl GET /_emulator/tokens
expect "control: tokens record their scopes" \
    "$(j 'all(sorted(t["scopes"]) == sorted("'"$SCOPES"'".split()) for t in d["tokens"])')" true

# ---------------------------------------------------------------- fixtures

ctl PUT /_emulator/sheets/sheet1 '{"title":"BYOD (Responses)","timeZone":"Europe/London","sheets":[
  {"title":"Form responses 1","rows":[
    ["Timestamp","Email address","I agree","Role","",""],
    [{"serial":46354.54513888889},"a@school.example","Yes","Teacher","",null],
    [{"datetime":"2026-11-28T14:00:00Z"},"b@school.example","Yes"],
    [],
    [{"formula":"=NOW()","value":{"serial":46355.5}},"c@school.example","No","", "note"],
    ["","","","",""],
    []]},
  {"title":"IT notes","rows":[["x",1,true,2.5]]}],"shared":true}'
expect "control: PUT spreadsheet" "$STATUS" 200

ctl PUT /_emulator/forms/form1 '{"title":"BYOD acknowledgement","collectEmails":true,"linkedSheetId":"sheet1",
  "items":[{"title":"I agree","questionId":"q-agree","kind":"choice","options":["Yes","No"]},
           {"title":"Role","questionId":"q-role","kind":"text"},
           {"title":"Section 2","kind":"section"},
           {"title":"Devices","questionId":"q-dev","kind":"checkbox","options":["Phone","Laptop","Tablet"]}]}'
expect "control: PUT form" "$STATUS" 200
ctl POST /_emulator/forms/form1/responses '{"responseId":"r1","respondentEmail":"a@school.example","lastSubmittedTime":"2026-09-01T08:00:00Z","answers":{"I agree":"Yes","q-role":["Teacher"]}}'
expect "control: POST response -> stored response" "$STATUS $(j 'd["responseId"]')" "200 r1"
ctl POST /_emulator/forms/form1/responses '{"responseId":"r2","respondentEmail":"b@school.example","lastSubmittedTime":"2026-09-02T08:00:00.5Z","answers":{"I agree":"Yes","Devices":["Phone","Laptop"]}}'
ctl POST /_emulator/forms/form1/responses '{"responseId":"r3","respondentEmail":"c@school.example","lastSubmittedTime":"2026-09-03T08:00:00.123456Z","answers":{"I agree":"No"}}'
ctl POST /_emulator/forms/form1/responses '{"responseId":"r0","respondentEmail":"z@school.example","lastSubmittedTime":"2026-08-31T08:00:00Z","answers":{"I agree":"Yes"}}'
ctl POST /_emulator/forms/form1/responses '{"answers":{"no such question":"x"}}'
expect "control: unknown question -> 400" "$STATUS" 400
ctl PUT /_emulator/forms/private '{"title":"Private","items":[],"shared":false}'
ctl PUT /_emulator/forms/noemail '{"title":"No emails","items":[{"title":"Q","questionId":"q1","kind":"text"}]}'
ctl POST /_emulator/forms/noemail/responses '{"respondentEmail":"x@y","answers":{"Q":"hello"}}'
ctl PUT /_emulator/forms/empty '{"title":"Empty","items":[]}'

# ---------------------------------------------------------------- API authentication

req GET /v1/forms/form1
expect "auth: no credentials -> 401 UNAUTHENTICATED" "$STATUS $(j 'd["error"]["status"]')" "401 UNAUTHENTICATED"
expect_match "auth: 401 carries WWW-Authenticate: Bearer realm" "$(header WWW-Authenticate)" '^Bearer realm='

req GET /v1/forms/form1 -H "Authorization: Bearer ya29.not-a-token"
expect "auth: unknown token -> 401" "$STATUS $(j 'd["error"]["code"]')" "401 401"
expect_match "auth: 401 message as Google's" "$(j 'd["error"]["message"]')" '^Request had invalid authentication credentials\. Expected OAuth 2 access token'
expect_match "auth: invalid token -> error=\"invalid_token\"" "$(header WWW-Authenticate)" 'error="invalid_token"'

SHEETS_ONLY=$(new_token "$A/spreadsheets.readonly")
req GET /v1/forms/form1/responses -H "Authorization: Bearer $SHEETS_ONLY"
expect "auth: token without a Forms scope -> 403 ACCESS_TOKEN_SCOPE_INSUFFICIENT" \
    "$STATUS $(j 'd["error"]["details"][0]["reason"]')" "403 ACCESS_TOKEN_SCOPE_INSUFFICIENT"

# ---------------------------------------------------------------- Forms API

api /v1/forms/form1
expect "forms.get: 200" "$STATUS" 200
expect "forms.get: formId, title, linkedSheetId" "$(j '[d["formId"], d["info"]["title"], d["linkedSheetId"]]')" \
    '["form1","BYOD acknowledgement","sheet1"]'
expect "forms.get: question ids and choice options" \
    "$(j '[d["items"][0]["questionItem"]["question"]["questionId"], d["items"][0]["questionItem"]["question"]["choiceQuestion"]["options"][1]["value"], d["items"][3]["questionItem"]["question"]["choiceQuestion"]["type"]]')" \
    '["q-agree","No","CHECKBOX"]'
expect "forms.get: textQuestion present, section has no question" \
    "$(j '["textQuestion" in d["items"][1]["questionItem"]["question"], "questionItem" in d["items"][2], "pageBreakItem" in d["items"][2]]')" \
    '[true,false,true]'
expect_match "forms.get: responderUri and revisionId" "$(j 'd["responderUri"] + " " + d["revisionId"]')" '^https://docs\.google\.com/forms/d/e/.*/viewform [0-9]+$'

api /v1/forms/form1/responses
expect "responses.list: sorted by lastSubmittedTime" "$(j '[r["responseId"] for r in d["responses"]]')" '["r0","r1","r2","r3"]'
expect "responses.list: no nextPageToken on the last page" "$(j '"nextPageToken" in d')" false
expect "responses.list: no formId in list items" "$(j '"formId" in d["responses"][0]')" false
expect "responses.list: answer shape" "$(j 'd["responses"][1]["answers"]["q-agree"]')" \
    '{"questionId":"q-agree","textAnswers":{"answers":[{"value":"Yes"}]}}'
expect "responses.list: checkbox -> one value per option" "$(j '[a["value"] for a in d["responses"][2]["answers"]["q-dev"]["textAnswers"]["answers"]]')" \
    '["Phone","Laptop"]'
expect "responses.list: timestamps keep their precision" "$(j '[r["lastSubmittedTime"] for r in d["responses"][1:]]')" \
    '["2026-09-01T08:00:00Z","2026-09-02T08:00:00.500Z","2026-09-03T08:00:00.123456Z"]'
expect "responses.list: respondentEmail when the form collects emails" "$(j 'd["responses"][1]["respondentEmail"]')" "a@school.example"
expect "responses.list: pretty-printed by default" "$(head -c 3 "$TMP/body" | od -An -c | tr -d ' ')" '{\n'

api "/v1/forms/form1/responses?pageSize=3"
expect "responses.list: pageSize=3 -> 3 and a token" "$(j '[len(d["responses"]), "nextPageToken" in d]')" '[3,true]'
PT=$(j 'd["nextPageToken"]')
api /v1/forms/form1/responses -G --data-urlencode "pageSize=3" --data-urlencode "pageToken=$PT"
expect "responses.list: second page" "$(j '[r["responseId"] for r in d["responses"]] + ["nextPageToken" in d]')" '["r3",false]'

api /v1/forms/form1/responses -G --data-urlencode "filter=timestamp > 2026-09-01T08:00:00Z"
expect "responses.list: filter timestamp > T excludes T" "$(j '[r["responseId"] for r in d["responses"]]')" '["r2","r3"]'
api /v1/forms/form1/responses -G --data-urlencode "filter=timestamp >= 2026-09-01T08:00:00Z"
expect "responses.list: filter timestamp >= T includes T" "$(j '[r["responseId"] for r in d["responses"]]')" '["r1","r2","r3"]'
api /v1/forms/form1/responses -G --data-urlencode "filter=timestamp >= 2026-09-02T08:00:00.500000001Z" --data-urlencode "pageSize=1"
expect "responses.list: nanosecond filter + paging" "$(j '[r["responseId"] for r in d["responses"]] + ["nextPageToken" in d]')" '["r3",false]'
api /v1/forms/form1/responses -G --data-urlencode "filter=timestamp > 2027-01-01T00:00:00Z"
expect "responses.list: nothing matches -> {} without a responses key" "$(j 'd')" '{}'
api /v1/forms/form1/responses -G --data-urlencode "filter=timestamp > 2026-09-01 08:00:00"
expect "responses.list: bad filter -> 400 INVALID_ARGUMENT" "$STATUS $(j 'd["error"]["status"]')" "400 INVALID_ARGUMENT"
api /v1/forms/form1/responses -G --data-urlencode "filter=timestamp > 2026-09-01T09:00:00+01:00"
expect "responses.list: non-Zulu filter -> 400" "$STATUS" 400
api /v1/forms/form1/responses -G --data-urlencode "filter=timestamp > 2026-08-01T00:00:00Z" --data-urlencode "pageSize=1"
PT=$(j 'd["nextPageToken"]')
api /v1/forms/form1/responses -G --data-urlencode "filter=timestamp > 2026-08-02T00:00:00Z" --data-urlencode "pageToken=$PT"
expect "responses.list: page token with another filter -> 400" "$STATUS" 400
api /v1/forms/form1/responses -G --data-urlencode "pageToken=garbage!"
expect "responses.list: garbage page token -> 400" "$STATUS" 400
api "/v1/forms/form1/responses?pageSize=abc"
expect "responses.list: pageSize=abc -> 400" "$STATUS $(j 'd["error"]["message"]')" "400 Invalid value at 'page_size' (TYPE_INT32), \"abc\""
api "/v1/forms/form1/responses?page_size=1"
expect "responses.list: snake_case page_size accepted" "$STATUS $(j 'len(d["responses"])')" "200 1"
api "/v1/forms/form1/responses?pageSzie=1"
expect_match "responses.list: unknown parameter -> 400 Cannot bind query parameter" "$STATUS $(j 'd["error"]["message"]')" '^400 .*Cannot bind query parameter'
api "/v1/forms/form1/responses?prettyPrint=false&pageSize=1"
expect "responses.list: prettyPrint=false -> compact" "$(head -c 14 "$TMP/body")" '{"responses":['

api /v1/forms/form1/responses/r2
expect "responses.get: formId, responseId, respondentEmail" "$(j '[d["formId"], d["responseId"], d["respondentEmail"]]')" '["form1","r2","b@school.example"]'
api /v1/forms/form1/responses/nope
expect "responses.get: unknown response -> 404 NOT_FOUND" "$STATUS $(j 'd["error"]["status"]')" "404 NOT_FOUND"
api /v1/forms/noemail/responses
expect "responses.list: no respondentEmail when not collecting" "$(j '"respondentEmail" in d["responses"][0]')" false
api /v1/forms/empty/responses
expect "responses.list: empty form -> {}" "$STATUS $(j 'd')" "200 {}"
api /v1/forms/missing
expect "forms.get: unknown id -> 404 NOT_FOUND" "$STATUS $(j 'd["error"]["message"]')" "404 Requested entity was not found."
api /v1/forms/private/responses
expect "forms: not shared -> 403 PERMISSION_DENIED" "$STATUS $(j '[d["error"]["status"], d["error"]["message"]]')" \
    '403 ["PERMISSION_DENIED","The caller does not have permission"]'
api /v1/forms/form1/responses:foo
expect "unknown path -> Google's HTML 404" "$STATUS $(header Content-Type)" "404 text/html; charset=UTF-8"

# re-submission moves a response to the end; deletion removes it
ctl PATCH /_emulator/forms/form1/responses/r0 '{"answers":{"I agree":"No"}}'
expect "control: PATCH re-submits (createTime kept)" "$(j 'd["createTime"] == "2026-08-31T08:00:00Z" and d["lastSubmittedTime"] > "2026-09-03"')" true
api /v1/forms/form1/responses
expect "responses.list: re-submitted response sorts last" "$(j '[r["responseId"] for r in d["responses"]]')" '["r1","r2","r3","r0"]'
ctl DELETE /_emulator/forms/form1/responses/r3
api /v1/forms/form1/responses
expect "responses.list: deleted response is gone" "$(j '[r["responseId"] for r in d["responses"]]')" '["r1","r2","r0"]'

# questions renamed, deleted and re-created: the ids stay with a question and never come back
ctl PUT /_emulator/forms/edits '{"title":"Edits","collectEmails":true,"items":[{"title":"I agree","questionId":"q-agree","itemId":"i-agree","kind":"choice","options":["Yes","No"]}]}'
ctl POST /_emulator/forms/edits/responses '{"responseId":"e1","respondentEmail":"a@school.example","lastSubmittedTime":"2026-09-01T08:00:00Z","answers":{"I agree":"Yes"}}'
ctl PATCH /_emulator/forms/edits/items/q-agree '{"title":"I agree (2026)"}'
api /v1/forms/edits
expect "control: a renamed question keeps its itemId and questionId" \
    "$(j '[d["items"][0]["title"], d["items"][0]["itemId"], d["items"][0]["questionItem"]["question"]["questionId"]]')" \
    '["I agree (2026)","i-agree","q-agree"]'
ctl DELETE /_emulator/forms/edits/items/q-agree
expect "control: DELETE removes the question" "$STATUS" 200
ctl POST /_emulator/forms/edits/items '{"title":"I agree (2026)","questionId":"q-agree","kind":"choice","options":["Yes","No"]}'
expect "control: a deleted question's id is never given again -> 400" "$STATUS" 400
ctl POST /_emulator/forms/edits/items '{"title":"I agree (2026)","kind":"choice","options":["Yes","No"]}'
NEWQ=$(j 'd["questionItem"]["question"]["questionId"]')
api /v1/forms/edits
expect "forms.get: the re-created question has new ids" \
    "$(j 'len(d["items"]) == 1 and d["items"][0]["itemId"] != "i-agree" and d["items"][0]["questionItem"]["question"]["questionId"] == "'"$NEWQ"'" != "q-agree"')" true
ctl POST /_emulator/forms/edits/responses '{"responseId":"e2","respondentEmail":"b@school.example","lastSubmittedTime":"2026-09-02T08:00:00Z","answers":{"I agree (2026)":"Yes"}}'
api /v1/forms/edits/responses
expect "responses.list: older answers stay under the old questionId only" \
    "$(j '[sorted(r["answers"]) for r in d["responses"]]')" "[[\"q-agree\"],[\"$NEWQ\"]]"
ctl POST /_emulator/forms/edits/responses '{"answers":{"q-agree":"Yes"}}'
expect "control: a new response cannot answer a deleted question -> 400" "$STATUS" 400

# ---------------------------------------------------------------- Sheets API

RANGE_Q=$("$PY" -c 'import urllib.parse,sys; print(urllib.parse.quote(sys.argv[1], safe=""))' "'Form responses 1'!A:Z")
api "/v4/spreadsheets/sheet1/values/$RANGE_Q"
expect "values.get: 200 on a quoted, percent-encoded range" "$STATUS" 200
expect "values.get: range normalised to the grid" "$(j 'd["range"]')" "'Form responses 1'!A1:Z1000"
expect "values.get: majorDimension ROWS" "$(j 'd["majorDimension"]')" ROWS
expect "values.get: trailing empty cells and rows omitted, interior empty row kept" \
    "$(j '[len(r) for r in d["values"]]')" '[4,4,3,0,5]'
expect "values.get: FORMATTED_VALUE date-time as the locale shows it" "$(j 'd["values"][1][0]')" "28/11/2026 13:05:00"
expect "values.get: datetime cell converted in the sheet's zone (GMT in November)" "$(j 'd["values"][2][0]')" "28/11/2026 14:00:00"
expect "values.get: interior empty cells are empty strings" "$(j 'd["values"][4]')" '["29/11/2026 12:00:00","c@school.example","No","","note"]'

api "/v4/spreadsheets/sheet1/values/$RANGE_Q?valueRenderOption=UNFORMATTED_VALUE&dateTimeRenderOption=SERIAL_NUMBER"
expect "values.get: UNFORMATTED_VALUE + SERIAL_NUMBER -> numbers" "$(j '[d["values"][1][0], d["values"][4][0]]')" '[46354.54513888889,46355.5]'
api "/v4/spreadsheets/sheet1/values/$RANGE_Q?valueRenderOption=UNFORMATTED_VALUE&dateTimeRenderOption=FORMATTED_STRING"
expect "values.get: UNFORMATTED_VALUE + FORMATTED_STRING -> strings" "$(j 'd["values"][1][0]')" "28/11/2026 13:05:00"
api "/v4/spreadsheets/sheet1/values/$RANGE_Q?valueRenderOption=FORMULA"
expect "values.get: FORMULA -> the formula" "$(j 'd["values"][4][0]')" "=NOW()"
api "/v4/spreadsheets/sheet1/values/A2:C3"
expect "values.get: no sheet name -> first sheet" "$(j '[d["range"], d["values"][0][1]]')" "[\"'Form responses 1'!A2:C3\",\"a@school.example\"]"
api "/v4/spreadsheets/sheet1/values/$("$PY" -c 'import urllib.parse; print(urllib.parse.quote("'"'"'IT notes'"'"'!A1:F", safe=""))')?valueRenderOption=UNFORMATTED_VALUE"
expect "values.get: typed values on another sheet" "$(j 'd["values"][0]')" '["x",1,true,2.5]'
api "/v4/spreadsheets/sheet1/values/$("$PY" -c 'import urllib.parse; print(urllib.parse.quote("'"'"'IT notes'"'"'!A1:F", safe=""))')"
expect "values.get: FORMATTED_VALUE of numbers and booleans" "$(j 'd["values"][0]')" '["x","1","TRUE","2.5"]'
api "/v4/spreadsheets/sheet1/values/$("$PY" -c 'import urllib.parse; print(urllib.parse.quote("'"'"'Form responses 1'"'"'!A1:B", safe=""))')?majorDimension=COLUMNS"
expect "values.get: COLUMNS" "$(j '[d["majorDimension"], d["values"][1][:3]]')" '["COLUMNS",["Email address","a@school.example","b@school.example"]]'
api "/v4/spreadsheets/sheet1/values/$("$PY" -c 'import urllib.parse; print(urllib.parse.quote("'"'"'Form responses 1'"'"'!A20:B30", safe=""))')"
expect "values.get: empty range -> no values key" "$(j '[d["range"], "values" in d]')" "[\"'Form responses 1'!A20:B30\",false]"
api "/v4/spreadsheets/sheet1/values/$("$PY" -c 'import urllib.parse; print(urllib.parse.quote("'"'"'Form Responses 2'"'"'!A:Z", safe=""))')"
expect "values.get: unknown sheet -> 400 Unable to parse range" "$STATUS $(j 'd["error"]["message"]')" "400 Unable to parse range: 'Form Responses 2'!A:Z"
api "/v4/spreadsheets/sheet1/values/A1:B2?valueRenderOption=PRETTY"
expect_match "values.get: bad enum -> 400" "$STATUS $(j 'd["error"]["message"]')" "^400 Invalid value at 'value_render_option'"
api "/v4/spreadsheets/sheet1?fields=properties.timeZone"
expect "spreadsheets.get: fields=properties.timeZone" "$(j 'd')" '{"properties":{"timeZone":"Europe/London"}}'
api "/v4/spreadsheets/sheet1"
expect "spreadsheets.get: full object with sheet titles" "$(j '[d["spreadsheetId"], d["properties"]["title"], [s["properties"]["title"] for s in d["sheets"]]]')" \
    '["sheet1","BYOD (Responses)",["Form responses 1","IT notes"]]'
api "/v4/spreadsheets/nosuch/values/A1"
expect "values.get: unknown spreadsheet -> 404" "$STATUS $(j 'd["error"]["status"]')" "404 NOT_FOUND"

# ---------------------------------------------------------------- Drive API

api "/drive/v3/files/sheet1?fields=modifiedTime,version"
expect "drive files.get: only the requested fields" "$(j 'sorted(d)')" '["modifiedTime","version"]'
expect_match "drive files.get: version is an int64 string" "$(j 'd["version"]')" '^[0-9]+$'
expect_match "drive files.get: modifiedTime with milliseconds, Z" "$(j 'd["modifiedTime"]')" '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$'
V1=$(j 'd["version"]'); M1=$(j 'd["modifiedTime"]')
sleep 0.01
ctl POST /_emulator/sheets/sheet1/rows '{"sheet":"Form responses 1","rows":[[{"datetime":"2026-11-30T09:00:00Z"},"d@school.example","Yes"]]}'
api "/drive/v3/files/sheet1?fields=modifiedTime,version"
expect "drive files.get: a change bumps version and modifiedTime" \
    "$(j 'int(d["version"]) > '"$V1"' and d["modifiedTime"] > "'"$M1"'"')" true
api "/drive/v3/files/form1"
expect "drive files.get: default fields" "$(j 'd')" '{"kind":"drive#file","id":"form1","name":"BYOD acknowledgement","mimeType":"application/vnd.google-apps.form"}'
api "/drive/v3/files/nope?fields=version"
expect "drive files.get: unknown id -> 404 notFound (old error shape)" \
    "$STATUS $(j '[d["error"]["errors"][0]["reason"], d["error"]["message"]]')" '404 ["notFound","File not found: nope."]'
api "/drive/v3/files/private?fields=version"
expect "drive files.get: not shared -> 404, as Drive hides such files" "$STATUS" 404
api "/drive/v3/files/sheet1?fields=bogus"
expect "drive files.get: invalid field selection -> 400" "$STATUS $(j 'd["error"]["errors"][0]["reason"]')" "400 invalidParameter"
req GET "/drive/v3/files/sheet1?fields=version" -H "Authorization: Bearer $SHEETS_ONLY"
expect "drive files.get: missing Drive scope -> 403 insufficientPermissions" "$STATUS $(j 'd["error"]["errors"][0]["reason"]')" "403 insufficientPermissions"

ctl PATCH /_emulator/sheets/sheet1 '{"shared":false}'
api "/v4/spreadsheets/sheet1/values/A1"
expect "sheets: not shared -> 403 PERMISSION_DENIED" "$STATUS $(j 'd["error"]["status"]')" "403 PERMISSION_DENIED"
ctl PATCH /_emulator/sheets/sheet1 '{"shared":true}'

# ---------------------------------------------------------------- typed cells, checkbox lists, responder input

# What people typed, as the sheet holds it: 1.0 as the number 1 shown "1.0", 2026-09 as a date shown "2026-09".
ctl PUT /_emulator/sheets/typed '{"sheets":[{"title":"Form responses 1","rows":[["Timestamp","Email address","Agree","Version"],
  [{"datetime":"2026-09-01T08:00:00Z"},"a@school.example","I agree",{"value":1,"formatted":"1.0"}],
  [{"datetime":"2026-09-01T08:00:00Z"},"b@school.example","I agree",{"date":"2026-09-01","pattern":"yyyy-MM"}]]}]}'
api "/v4/spreadsheets/typed/values/D2:D3?valueRenderOption=UNFORMATTED_VALUE"
expect "typed cells: UNFORMATTED_VALUE gives the number and the date serial" "$(j 'd["values"]')" '[[1],[46266]]'
api "/v4/spreadsheets/typed/values/D2:D3"
expect "typed cells: FORMATTED_VALUE gives them as the sheet shows them" "$(j 'd["values"]')" '[["1.0"],["2026-09"]]'
ctl PUT /_emulator/sheets/mirror '{"sheets":[{"title":"Form responses 1","rows":[]}]}'
ctl PUT /_emulator/forms/typedform '{"title":"BYOD","emailCollectionType":"RESPONDER_INPUT","linkedSheetId":"mirror",
  "mirrorToSheet":true,"items":[{"title":"Agree","questionId":"q1","kind":"checkbox","options":["I agree"]}]}'
ctl POST /_emulator/forms/typedform/responses '{"respondentEmail":"c@school.example","answers":{"Agree":["I agree","Other text"]}}'
api "/v4/spreadsheets/mirror/values/A1:C2"
expect "checkbox answer: one cell in the sheet, choices joined by ', '" "$(j 'd["values"][1][2]')" "I agree, Other text"
api "/v1/forms/typedform?fields=settings,linkedSheetId"
expect "forms.get: a responder-input form behind a sheet" "$(j 'd')" \
    '{"settings":{"emailCollectionType":"RESPONDER_INPUT"},"linkedSheetId":"mirror"}'

# ---------------------------------------------------------------- faults

ctl POST /_emulator/faults '{"path":"/v1/forms/","kind":"429","count":1,"retryAfter":7}'
api /v1/forms/form1/responses
expect "fault 429: RESOURCE_EXHAUSTED" "$STATUS $(j 'd["error"]["status"]')" "429 RESOURCE_EXHAUSTED"
expect "fault 429: ErrorInfo RATE_LIMIT_EXCEEDED" "$(j 'd["error"]["details"][0]["reason"]')" RATE_LIMIT_EXCEEDED
expect "fault 429: Retry-After header" "$(header Retry-After)" 7
api /v1/forms/form1/responses
expect "fault 429: count=1 -> next request succeeds" "$STATUS" 200

ctl POST /_emulator/faults '[{"path":"/v4/","kind":"500"},{"path":"/v4/","kind":"503"}]'
api /v4/spreadsheets/sheet1/values/A1
expect "fault 500: INTERNAL" "$STATUS $(j 'd["error"]["status"]')" "500 INTERNAL"
api /v4/spreadsheets/sheet1/values/A1
expect "fault 503: UNAVAILABLE" "$STATUS $(j 'd["error"]["status"]')" "503 UNAVAILABLE"

ctl POST /_emulator/faults '{"path":"/drive/","kind":"429"}'
api "/drive/v3/files/sheet1?fields=version"
expect "fault 429 on Drive: old shape reason rateLimitExceeded" "$STATUS $(j 'd["error"]["errors"][0]["reason"]')" "429 rateLimitExceeded"

ctl POST /_emulator/faults '{"path":"/v1/forms/form1/responses","kind":"503","after":1}'
api /v1/forms/form1/responses
R1=$STATUS
api /v1/forms/form1/responses
expect "fault after=1: second matching request fails" "$R1 $STATUS" "200 503"

ctl POST /_emulator/faults '{"path":"/v1/forms/","kind":"hang","seconds":30}'
T0=$(date +%s%N)
api /v1/forms/form1 --max-time 2
T1=$(date +%s%N)
expect "fault hang: client times out (curl exit 28)" "$CURL_RC" 28
expect "fault hang: gave up after ~2 s" "$(( (T1 - T0) / 1000000000 ))" 2
api /v1/forms/form1
expect "fault hang: server still answers afterwards" "$STATUS" 200

ctl POST /_emulator/faults '{"path":"/v1/forms/","kind":"truncate"}'
api /v1/forms/form1/responses
expect "fault truncate: curl reports a partial transfer (exit 18)" "$CURL_RC" 18

ctl POST /_emulator/faults '{"path":"/v1/forms/","kind":"malformed_json"}'
api /v1/forms/form1/responses
expect "fault malformed_json: 200 with a body that is not JSON" "$STATUS $(j 'd')" "200 ERR"

ctl POST /_emulator/faults '{"path":"/token","kind":"503"}'
token_req "$(make_jwt "$C/sa.key" "$EMAIL" "$AUD" "$SCOPES" "$NOW" $((NOW + 3600)))"
expect "fault on /token: 503 internal_failure" "$STATUS $(j 'd["error"]')" "503 internal_failure"

ctl POST /_emulator/faults '{"path":"/v4/","kind":"expire_tokens"}'
api /v4/spreadsheets/sheet1/values/A1
expect "fault expire_tokens: the call gets 401" "$STATUS $(j 'd["error"]["details"][0]["reason"]')" "401 ACCESS_TOKEN_EXPIRED"
TOKEN=$(new_token)
api /v4/spreadsheets/sheet1/values/A1
expect "fault expire_tokens: a new token works" "$STATUS" 200

ctl POST /_emulator/faults '{"path":"/v1/","kind":"500","count":-1}'
ctl GET /_emulator/faults
expect "control: GET faults lists them" "$(j 'd["faults"][0]["count"]')" -1
ctl DELETE /_emulator/faults
api /v1/forms/form1
expect "control: DELETE faults clears them" "$STATUS" 200

ctl POST /_emulator/config '{"tokenLifetime":1}'
T=$(new_token)
expect "config tokenLifetime: expires_in follows" "$(j 'd["expires_in"]')" 1
sleep 1.3
req GET /v1/forms/form1 -H "Authorization: Bearer $T"
expect "config tokenLifetime: token expires" "$STATUS" 401
ctl POST /_emulator/config '{"tokenLifetime":3599}'
ctl POST /_emulator/config '{"noSuchKey":1}'
expect "config: unknown key -> 400" "$STATUS" 400

# ---------------------------------------------------------------- per-user quotas, Drive lag

ctl DELETE /_emulator/quota
ctl POST /_emulator/quota '{"perUser":{"sheets":2}}'
expect "quota: configured" "$(j '[d["windowSeconds"], d["perUser"]["sheets"], d["perUser"]["forms"]]')" '[60,2,null]'
api "/v4/spreadsheets/sheet1?fields=properties.timeZone"
S1=$STATUS
api "/v4/spreadsheets/sheet1/values/A1"
S2=$STATUS
api "/v4/spreadsheets/sheet1/values/A1"
expect "quota: Sheets reads within the per-user quota pass, the next gets 429" "$S1 $S2 $STATUS" "200 200 429"
expect "quota: Google's 429 body (RESOURCE_EXHAUSTED, 'Read requests' per minute per user, RATE_LIMIT_EXCEEDED)" \
    "$(j '[d["error"]["code"], d["error"]["status"], "quota metric '"'"'Read requests'"'"' and limit '"'"'Read requests per minute per user'"'"' of service '"'"'sheets.googleapis.com'"'"'" in d["error"]["message"], d["error"]["details"][0]["reason"], d["error"]["details"][0]["metadata"]["quota_limit_value"]]')" \
    '[429,"RESOURCE_EXHAUSTED",true,"RATE_LIMIT_EXCEEDED","2"]'
api "/drive/v3/files/sheet1?fields=version"
expect "quota: other services have their own quotas" "$STATUS" 200
ctl GET /_emulator/quota
expect "quota: requests counted per user, refused ones too" \
    "$(j '[(c["user"], c["requests"], c["refused"], c["byMetric"]) for c in d["counts"]] + [d["maxRequestsPerWindow"]]')" \
    "[[\"$EMAIL\",4,1,{\"sheets\":2,\"drive\":1}],{\"$EMAIL\":4}]"
ctl POST /_emulator/quota '{"perUser":{"sheets":null},"windowSeconds":1}'
expect "quota: window shortened, counts restart" "$(j '[d["windowSeconds"], d["counts"]]')" '[1,[]]'
ctl POST /_emulator/quota '{"perUser":{"nosuch":1}}'
expect "quota: unknown metric -> 400" "$STATUS" 400
ctl POST /_emulator/quota '{"windowSeconds":60}'

ctl POST /_emulator/config '{"driveLagMs":1500}'
api "/drive/v3/files/sheet1?fields=version,modifiedTime"
V1=$(j 'd["version"]'); M1=$(j 'd["modifiedTime"]')
ctl POST /_emulator/sheets/sheet1/rows '{"sheet":"Form responses 1","rows":[[{"datetime":"2026-11-30T10:00:00Z"},"lag@school.example","Yes"]]}'
api "/drive/v3/files/sheet1?fields=version,modifiedTime"
expect "drive lag: version and modifiedTime do not move at once" "$(j '[d["version"], d["modifiedTime"]]')" "[\"$V1\",\"$M1\"]"
api "/v4/spreadsheets/sheet1/values/A:C"
expect "drive lag: the sheet itself has the new row at once" "$(j 'd["values"][-1][1]')" "lag@school.example"
sleep 1.6
api "/drive/v3/files/sheet1?fields=version,modifiedTime"
expect "drive lag: version moves driveLagMs after the change" "$(j 'int(d["version"]) > '"$V1"' and d["modifiedTime"] > "'"$M1"'"')" true
ctl POST /_emulator/config '{"driveLagMs":0}'

# ---------------------------------------------------------------- request log, gzip

ctl DELETE /_emulator/requests
api /v1/forms/form1/responses -G --data-urlencode "filter=timestamp > 2026-09-01T00:00:00Z"
api "/drive/v3/files/sheet1?fields=version"
ctl GET "/_emulator/requests?path=/v1/"
expect "request log: method, path, status and the filter parameter" \
    "$(j '[(e["method"], e["path"], e["status"], e["params"]["filter"][0]) for e in d["requests"]]')" \
    '[["GET","/v1/forms/form1/responses",200,"timestamp > 2026-09-01T00:00:00Z"]]'
ctl GET /_emulator/requests
expect "request log: all API requests, none of the control calls" "$(j 'len(d["requests"])')" 2

api /v1/forms/form1/responses --compressed
expect "gzip: Content-Encoding gzip when asked, body decodes" "$(header Content-Encoding) $(j 'len(d["responses"])')" "gzip 3"

# ---------------------------------------------------------------- mirroring and bulk load

ctl PUT /_emulator/sheets/linked '{"title":"Linked","sheets":[{"title":"Form responses 1"}]}'
ctl PUT /_emulator/forms/mirrored '{"title":"M","collectEmails":true,"linkedSheetId":"linked","mirrorToSheet":true,
  "items":[{"title":"I agree","questionId":"qa","kind":"choice","options":["Yes","No"]}]}'
ctl POST /_emulator/forms/mirrored/responses '{"respondentEmail":"m@school.example","lastSubmittedTime":"2026-07-01T12:00:00Z","answers":{"I agree":"Yes"}}'
RID=$(j 'd["responseId"]')
ctl PATCH "/_emulator/forms/mirrored/responses/$RID" '{"lastSubmittedTime":"2026-07-02T12:00:00Z","answers":{"I agree":"No"}}'
api "/v4/spreadsheets/linked/values/$RANGE_Q"
expect "mirrorToSheet: header and row, edit updates the row in place (BST)" "$(j 'd["values"]')" \
    '[["Timestamp","Email address","I agree"],["02/07/2026 13:00:00","m@school.example","No"]]'

ctl PUT /_emulator/forms/big '{"title":"Big","collectEmails":true,
  "items":[{"title":"I agree","questionId":"qa","kind":"choice","options":["Yes","No"]},{"title":"Role","questionId":"qr","kind":"text"}]}'
T0=$(date +%s%N)
ctl POST "/_emulator/forms/big/responses:bulk" '{"count":100000,"startTime":"2026-09-01T00:00:00Z","stepSeconds":1,
  "template":{"respondentEmail":"user{i}@school.example","answers":{"I agree":"Yes","Role":"Teacher {i}"}}}'
T1=$(date +%s%N)
expect "bulk: 100000 responses loaded" "$STATUS $(j 'd["total"]')" "200 100000"
LOAD_MS=$(( (T1 - T0) / 1000000 ))
if [ "$LOAD_MS" -lt 10000 ]; then ok "bulk: loaded in ${LOAD_MS} ms"; else bad "bulk: load took ${LOAD_MS} ms"; fi

T0=$(date +%s%N)
TOTAL=0; PAGES=0; PT=""; LAST=""; ORDERED=true
for _page in $(seq 1 30); do                     # bounded: 20 pages expected
    if [ -n "$PT" ]; then
        api /v1/forms/big/responses -G --data-urlencode "pageToken=$PT"
    else
        api /v1/forms/big/responses
    fi
    [ "$STATUS" = 200 ] || break
    "$PY" - "$TMP/body" "$TMP/pagestat" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
r = d.get("responses", [])
ts = [x["lastSubmittedTime"] for x in r]
open(sys.argv[2], "w").write("%d %s %s %s %s\n" % (len(r), d.get("nextPageToken", "-"),
      ts[0] if ts else "-", ts[-1] if ts else "-", "sorted" if ts == sorted(ts) else "unsorted"))
EOF
    read -r N PT FIRST LASTTS SORTED <"$TMP/pagestat"
    TOTAL=$((TOTAL + N)); PAGES=$((PAGES + 1))
    { [ "$SORTED" = sorted ] && { [ -z "$LAST" ] || [[ "$FIRST" > "$LAST" ]]; }; } || ORDERED=false
    LAST=$LASTTS
    [ "$PT" = "-" ] && PT="" && break
done
T1=$(date +%s%N)
expect "bulk: 100000 responses in 20 pages of 5000" "$TOTAL $PAGES" "100000 20"
expect "bulk: pages in lastSubmittedTime order" "$ORDERED" true
LIST_MS=$(( (T1 - T0) / 1000000 ))
if [ "$LIST_MS" -lt 30000 ]; then ok "bulk: listed in ${LIST_MS} ms"; else bad "bulk: listing took ${LIST_MS} ms"; fi

ctl POST "/_emulator/sheets/linked/rows:bulk" '{"count":50000,"template":[{"timestamp":true},"user{i}@school.example","Yes"]}'
expect "sheet bulk: 50000 rows appended" "$STATUS $(j 'd["rows"]')" "200 50002"
api "/v4/spreadsheets/linked/values/$RANGE_Q?valueRenderOption=UNFORMATTED_VALUE"
expect "sheet bulk: grid grows, all rows served" "$(j '[d["range"], len(d["values"]), isinstance(d["values"][-1][0], float)]')" \
    "[\"'Form responses 1'!A1:Z50002\",50002,true]"

# ---------------------------------------------------------------- request log order, reset

# The log entry is written before the answer goes out: a client that has its
# answer always finds its request (the C tests count requests right after).
MISSING=0
for _try in $(seq 1 40); do
    ctl GET /_emulator/requests
    SINCE=$(j 'd["lastSeq"]')
    api /drive/v3/files/linked
    ctl GET "/_emulator/requests?since=$SINCE"
    [ "$(j 'len(d["requests"])')" = 1 ] || MISSING=$((MISSING + 1))
done
expect "requests: each answered request is already in the log (40 tries)" "$MISSING" 0

ctl POST /_emulator/config '{"keyDeleted": true, "latencyMs": 5}'
ctl POST /_emulator/reset '{}'
ctl GET /_emulator/config
expect "reset: config goes back to its startup values" "$(j '[d["keyDeleted"], d["latencyMs"]]')" '[false,0]'

# ---------------------------------------------------------------- TLS: wrong certificate, shutdown

start_emulator "$C/wrong-server.pem" "$C/wrong-server.key" "$TMP/port2" "$TMP/emulator2.log"
EMU2_PID=$STARTED_PID
if PORT2=$(wait_port "$TMP/port2"); then
    curl -sS --cacert "$C/ca.pem" --max-time 5 -o /dev/null "https://127.0.0.1:$PORT2/_emulator/health" 2>/dev/null
    expect "tls: certificate from the untrusted CA is rejected (curl exit 60)" "$?" 60
    curl -sS --cacert "$C/wrong-ca.pem" --max-time 5 -o /dev/null "https://localhost:$PORT2/_emulator/health"
    expect "tls: the same server verifies against its own CA by DNS name" "$?" 0
else
    bad "tls: second emulator did not start"
fi
stop_pid "$EMU2_PID"; EMU2_PID=""

kill -TERM "$EMU_PID"
RC=""
for _try in $(seq 1 50); do
    if ! kill -0 "$EMU_PID" 2>/dev/null; then wait "$EMU_PID"; RC=$?; break; fi
    sleep 0.1
done
expect "SIGTERM: clean exit status 0" "$RC" 0
expect "SIGTERM: port file removed" "$([ -e "$TMP/port" ] && echo present || echo gone)" gone
[ -n "$RC" ] && EMU_PID=""

echo "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
