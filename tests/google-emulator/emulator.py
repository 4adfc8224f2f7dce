#!/usr/bin/python3
"""
emulator.py - a local stand-in for the Google services cetbyod talks to.

TEST FIXTURE, NOT PRODUCT CODE.  It owns nothing outside tests/google-emulator/.

One HTTPS server on a loopback address plays, on the same port:
  * the OAuth 2.0 token endpoint (POST /token, JWT-bearer grant for a service
    account; it verifies the RS256 signature with the service account's public
    key and the iss/aud/iat/exp/scope claims, and issues opaque access tokens);
  * Forms API v1: forms.get, forms.responses.list, forms.responses.get;
  * Sheets API v4: spreadsheets.get, spreadsheets.values.get;
  * Drive API v3: files.get (metadata only: modifiedTime, version, ...);
  * fault injection (429, 500, 503, hang, truncated body, malformed JSON,
    token expiry) and a control API under /_emulator/ used by the tests to
    load forms, responses and sheets and to read back a log of the requests.

Paths, parameters and response shapes follow Google's discovery documents
(forms.v1.json rev 20220908, sheets.v4.json rev 20250616, drive.v3.json
rev 20251019) and the error formats Google's front ends produce.  README.md
beside this file documents the control API and lists every place where the
emulator knowingly differs from the real services.

Standard library only, plus python3-cryptography (Debian) for RS256.
Run it with /usr/bin/python3.  It only ever listens on a loopback address.
"""

import argparse
import base64
import binascii
import bisect
import collections
import datetime
import gzip
import ipaddress
import json
import math
import os
import re
import secrets
import select
import signal
import socket
import socketserver
import ssl
import sys
import threading
import time
import urllib.parse
import zoneinfo
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from json.encoder import encode_basestring as jstr

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

# --------------------------------------------------------------------------
# Constants taken from the discovery documents and Google's documentation
# --------------------------------------------------------------------------

AUTH = "https://www.googleapis.com/auth/"
GOOGLE_TOKEN_AUDIENCES = (
    "https://oauth2.googleapis.com/token",
    "https://www.googleapis.com/oauth2/v4/token",   # legacy, still accepted
    "https://accounts.google.com/o/oauth2/token",   # legacy, still accepted
)
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"

# The "scopes" list of each method in the discovery documents: a token needs
# at least one of them.
SCOPES_FORMS_GET = {AUTH + s for s in ("drive", "drive.file", "drive.readonly",
                                       "forms.body", "forms.body.readonly")}
SCOPES_FORMS_RESPONSES = {AUTH + s for s in ("drive", "drive.file",
                                             "forms.responses.readonly")}
SCOPES_SHEETS_READ = {AUTH + s for s in ("drive", "drive.file", "drive.readonly",
                                         "spreadsheets", "spreadsheets.readonly")}
SCOPES_DRIVE_FILES_GET = {AUTH + s for s in (
    "drive", "drive.appdata", "drive.file", "drive.meet.readonly", "drive.metadata",
    "drive.metadata.readonly", "drive.photos.readonly", "drive.readonly")}

# Query parameters every Google API accepts (discovery "parameters").
SYSTEM_PARAMS = {"$.xgafv", "access_token", "alt", "callback", "fields", "key",
                 "oauth_token", "prettyPrint", "quotaUser", "uploadType",
                 "upload_protocol"}

# Properties of the Drive v3 File resource (drive.v3.json, schemas.File), for
# validating `fields` the way Drive does ("Invalid field selection ...").
DRIVE_FILE_FIELDS = {
    "appProperties", "capabilities", "contentHints", "contentRestrictions",
    "copyRequiresWriterPermission", "createdTime", "description",
    "downloadRestrictions", "driveId", "explicitlyTrashed", "exportLinks",
    "fileExtension", "folderColorRgb", "fullFileExtension", "hasAugmentedPermissions",
    "hasThumbnail", "headRevisionId", "iconLink", "id", "imageMediaMetadata",
    "inheritedPermissionsDisabled", "isAppAuthorized", "kind", "labelInfo",
    "lastModifyingUser", "linkShareMetadata", "md5Checksum", "mimeType",
    "modifiedByMe", "modifiedByMeTime", "modifiedTime", "name", "originalFilename",
    "ownedByMe", "owners", "parents", "permissionIds", "permissions", "properties",
    "quotaBytesUsed", "resourceKey", "sha1Checksum", "sha256Checksum", "shared",
    "sharedWithMeTime", "sharingUser", "shortcutDetails", "size", "spaces", "starred",
    "teamDriveId", "thumbnailLink", "thumbnailVersion", "trashed", "trashedTime",
    "trashingUser", "version", "videoMediaMetadata", "viewedByMe", "viewedByMeTime",
    "viewersCanCopyContent", "webContentLink", "webViewLink", "writersCanShare"}
DRIVE_DEFAULT_FIELDS = ("kind", "id", "name", "mimeType")

MIME_FORM = "application/vnd.google-apps.form"
MIME_SHEET = "application/vnd.google-apps.spreadsheet"

MSG_401_INVALID = ("Request had invalid authentication credentials. Expected OAuth 2 access "
                   "token, login cookie or other valid authentication credential. See "
                   "https://developers.google.com/identity/sign-in/web/devconsole-project.")
MSG_401_MISSING = ("Request is missing required authentication credential. Expected OAuth 2 "
                   "access token, login cookie or other valid authentication credential. See "
                   "https://developers.google.com/identity/sign-in/web/devconsole-project.")
MSG_JWT_TIME = ("Invalid JWT: Token must be a short-lived token (60 minutes) and in a "
                "reasonable timeframe. Check your iat and exp values in the JWT claim.")
REALM = 'Bearer realm="https://accounts.google.com/"'

MAX_PAGE_SIZE = 5000             # forms.responses.list: "at most 5000"
MAX_API_BODY = 1 << 20           # bodies accepted on the API paths
MAX_CONTROL_BODY = 512 << 20     # bodies accepted on /_emulator/ (bulk loads)
MAX_LOG_ENTRIES = 100000
MAX_TOKENS = 100000

STOP = threading.Event()         # set on SIGTERM: hung requests give up

# --------------------------------------------------------------------------
# Time
# --------------------------------------------------------------------------

UTC = datetime.timezone.utc
UNIX_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=UTC)
SERIAL_EPOCH = datetime.datetime(1899, 12, 30)       # spreadsheet day 0, local time

RFC3339_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})$")


def now_ns():
    return time.time_ns()


def parse_rfc3339(text, zulu_only=False):
    """An RFC 3339 instant -> nanoseconds since the Unix epoch; ValueError if malformed."""
    if not isinstance(text, str):
        raise ValueError("timestamp must be a string")
    m = RFC3339_RE.match(text)
    if not m:
        raise ValueError("not an RFC 3339 timestamp: %r" % text)
    year, mon, day, hh, mm, ss = (int(g) for g in m.groups()[:6])
    frac, zone = m.group(7), m.group(8)
    if zulu_only and zone != "Z":
        raise ValueError("timestamp must be in UTC \"Zulu\" format: %r" % text)
    if zone in ("Z", "z"):
        offset = 0
    else:
        sign = 1 if zone[0] == "+" else -1
        oh, om = int(zone[1:3]), int(zone[4:6])
        if oh > 23 or om > 59:
            raise ValueError("bad UTC offset in %r" % text)
        offset = sign * (oh * 3600 + om * 60)
    dt = datetime.datetime(year, mon, day, hh, mm, ss, tzinfo=UTC)  # validates ranges
    secs = (dt - UNIX_EPOCH) // datetime.timedelta(seconds=1) - offset
    nanos = int((frac or "").ljust(9, "0")) if frac else 0
    return secs * 1_000_000_000 + nanos


def format_rfc3339(ns):
    """Protobuf Timestamp JSON style: 0, 3, 6 or 9 fractional digits, "Z"."""
    secs, frac = divmod(ns, 1_000_000_000)
    base = (UNIX_EPOCH + datetime.timedelta(seconds=secs)).strftime("%Y-%m-%dT%H:%M:%S")
    if frac == 0:
        return base + "Z"
    if frac % 1_000_000 == 0:
        return "%s.%03dZ" % (base, frac // 1_000_000)
    if frac % 1000 == 0:
        return "%s.%06dZ" % (base, frac // 1000)
    return "%s.%09dZ" % (base, frac)


def format_drive_time(ns):
    """Drive's RFC 3339 form: always milliseconds, "Z"."""
    secs, frac = divmod(ns, 1_000_000_000)
    base = (UNIX_EPOCH + datetime.timedelta(seconds=secs)).strftime("%Y-%m-%dT%H:%M:%S")
    return "%s.%03dZ" % (base, frac // 1_000_000)


GMT_OFFSET_RE = re.compile(r"^(?:GMT|UTC)(?:([+-])(\d{1,2})(?::?(\d{2}))?)?$")


def load_timezone(name):
    """An IANA zone ("Europe/London") or Sheets' "GMT-07:00" style; ValueError if unknown."""
    if not isinstance(name, str) or not name:
        raise ValueError("timeZone must be a non-empty string")
    m = GMT_OFFSET_RE.match(name)
    if m:
        if not m.group(1):
            return UTC
        sign = 1 if m.group(1) == "+" else -1
        hours, mins = int(m.group(2)), int(m.group(3) or 0)
        if hours > 23 or mins > 59:
            raise ValueError("bad time zone offset %r" % name)
        return datetime.timezone(sign * datetime.timedelta(hours=hours, minutes=mins))
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as e:
        raise ValueError("unknown time zone %r" % name) from e


def instant_to_serial(ns, tz):
    """UTC instant -> spreadsheet serial (days since 1899-12-30, local wall time in tz)."""
    secs, frac = divmod(ns, 1_000_000_000)
    local = (UNIX_EPOCH + datetime.timedelta(seconds=secs)).astimezone(tz).replace(tzinfo=None)
    delta = local - SERIAL_EPOCH
    return (delta.days * 86400 + delta.seconds + frac / 1e9) / 86400.0


def date_to_serial(text):
    d = datetime.datetime.strptime(text, "%Y-%m-%d")
    return float((d - SERIAL_EPOCH).days)


DATE_TOKEN_RE = re.compile(r"yyyy|yy|MM|M|dd|d|HH|H|mm|ss")
LOCALE_PATTERNS = {
    # locale: (date-time pattern, date pattern) as Google Sheets shows them
    "en_GB": ("dd/MM/yyyy HH:mm:ss", "dd/MM/yyyy"),
    "en_US": ("M/d/yyyy H:mm:ss", "M/d/yyyy"),
}
DEFAULT_PATTERNS = ("yyyy-MM-dd HH:mm:ss", "yyyy-MM-dd")


def format_serial(serial, pattern):
    """Render a serial date-time with a small subset of Sheets' date patterns."""
    total = int(round(serial * 86400.0))
    dt = SERIAL_EPOCH + datetime.timedelta(seconds=total)
    values = {"yyyy": "%04d" % dt.year, "yy": "%02d" % (dt.year % 100),
              "MM": "%02d" % dt.month, "M": str(dt.month),
              "dd": "%02d" % dt.day, "d": str(dt.day),
              "HH": "%02d" % dt.hour, "H": str(dt.hour),
              "mm": "%02d" % dt.minute, "ss": "%02d" % dt.second}
    return DATE_TOKEN_RE.sub(lambda m: values[m.group(0)], pattern)


# --------------------------------------------------------------------------
# Errors and JSON output
# --------------------------------------------------------------------------

class ApiError(Exception):
    """An HTTP error answer: status, a JSON-able body, extra headers."""

    def __init__(self, status, body, headers=None):
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers or {}


def google_error(code, status, message, details=None, headers=None):
    """The error shape of Google's current APIs (google.rpc.Status)."""
    err = {"code": code, "message": message, "status": status}
    if details:
        err["details"] = details
    return ApiError(code, {"error": err}, headers)


def drive_error(code, message, reason, domain="global", location=None,
                location_type=None, status=None, details=None, headers=None):
    """Drive's shape: the old "errors" list, plus status/details where Drive sends them."""
    item = {"message": message, "domain": domain, "reason": reason}
    if location:
        item["location"] = location
        item["locationType"] = location_type
    err = {"code": code, "message": message, "errors": [item]}
    if status:
        err["status"] = status
    if details:
        err["details"] = details
    return ApiError(code, {"error": err}, headers)


def invalid_argument(message, field_violation=None):
    details = None
    if field_violation:
        details = [{"@type": "type.googleapis.com/google.rpc.BadRequest",
                    "fieldViolations": [{"description": field_violation}]}]
    return google_error(400, "INVALID_ARGUMENT", message, details)


def oauth_error(status, error, description):
    return ApiError(status, {"error": error, "error_description": description})


class ControlError(Exception):
    def __init__(self, message, status=400):
        super().__init__(message)
        self.status = status


def dumps(obj, pretty):
    if pretty:
        return json.dumps(obj, indent=2, ensure_ascii=False)
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def json_number(v):
    """Numbers as Google's JSON writes them: integral doubles without ".0"."""
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e15:
        return int(v)
    return v


# --------------------------------------------------------------------------
# Partial responses: the `fields` parameter
# --------------------------------------------------------------------------

FIELD_NAME_RE = re.compile(r"\s*([A-Za-z_$*@][A-Za-z0-9_$.@/]*)\s*")


def parse_fields(text):
    """Parse a field selector ("a,b/c,d(e,f)", "." accepted for "/") into a tree.

    The tree maps a name to None (the whole value) or to a sub-tree.
    ValueError on syntax errors.
    """
    pos = 0
    n = len(text)

    def parse_list(depth):
        nonlocal pos
        if depth > 16:
            raise ValueError("fields selector nested too deeply")
        tree = {}
        while pos < n:  # bounded: every iteration consumes input or raises
            m = FIELD_NAME_RE.match(text, pos)
            if not m:
                raise ValueError("bad fields selector at %d" % pos)
            pos = m.end()
            parts = re.split(r"[./]", m.group(1))
            if any(p == "" for p in parts):
                raise ValueError("bad fields selector")
            sub = None
            if pos < n and text[pos] == "(":
                pos += 1
                sub = parse_list(depth + 1)
                if pos >= n or text[pos] != ")":
                    raise ValueError("unbalanced parenthesis in fields selector")
                pos += 1
            node = tree
            for p in parts[:-1]:
                nxt = node.get(p, {})
                if nxt is None:       # already selected whole
                    break
                node[p] = nxt
                node = nxt
            else:
                last = parts[-1]
                if sub is None or node.get(last, {}) is None:
                    node[last] = None
                else:
                    merged = node.get(last) or {}
                    merged.update(sub)
                    node[last] = merged
            while pos < n and text[pos] == " ":
                pos += 1
            if pos < n and text[pos] == ",":
                pos += 1
                continue
            break
        return tree

    tree = parse_list(0)
    if pos != n:
        raise ValueError("bad fields selector")
    return tree


def apply_fields(obj, tree):
    if tree is None:
        return obj
    if isinstance(obj, list):
        return [apply_fields(x, tree) for x in obj]
    if not isinstance(obj, dict):
        return obj
    if "*" in tree:
        return obj
    out = {}
    for key, value in obj.items():
        if key in tree:
            out[key] = apply_fields(value, tree[key])
    return out


# --------------------------------------------------------------------------
# Data model
# --------------------------------------------------------------------------

def new_hex_id(n=8):
    return secrets.token_hex(n // 2)


def new_response_id():
    # Real response ids look like "ACYDBNj..." followed by URL-safe base64.
    return "ACYDBN" + secrets.token_urlsafe(45)


MAX_DRIVE_HISTORY = 256          # changes remembered per file for the Drive lag


class DriveFile:
    """Drive's view of a form or a spreadsheet: version and modifiedTime.

    version/modified_ns are the file's real state (the values.get cache
    keys on it).  history holds (changed_ns, version, modified_ns) of recent
    changes, so that files.get can show the state as Drive's change signal
    has it driveLagMs later (see seen())."""
    __slots__ = ("file_id", "kind", "version", "created_ns", "modified_ns", "history")

    def __init__(self, file_id, kind):
        self.file_id = file_id
        self.kind = kind
        self.version = 0
        self.created_ns = now_ns()
        self.modified_ns = self.created_ns
        self.history = collections.deque(maxlen=MAX_DRIVE_HISTORY)

    def touch(self):
        self.version += 1
        t = now_ns()
        # modifiedTime never goes backwards, even if the clock does
        self.modified_ns = max(t, self.modified_ns)
        # The first change (the file's creation) is visible at once.
        self.history.append((0 if self.version == 1 else t, self.version, self.modified_ns))

    def seen(self, lag_ms):
        """(version, modified_ns) as files.get shows them: the newest change at least lag_ms old."""
        if lag_ms <= 0 or not self.history:
            return self.version, self.modified_ns
        horizon = now_ns() - lag_ms * 1_000_000
        for changed, version, modified in reversed(self.history):   # bounded by MAX_DRIVE_HISTORY
            if changed <= horizon:
                return version, modified
        _, version, modified = self.history[0]                       # older changes were forgotten
        return version, modified


class Response:
    """One form response. Serialised JSON is cached per style."""
    __slots__ = ("rid", "seq", "create_ns", "last_ns", "email", "answers", "cache", "cache_gen")

    def __init__(self, rid, seq, create_ns, last_ns, email, answers):
        self.rid = rid
        self.seq = seq
        self.create_ns = create_ns
        self.last_ns = last_ns
        self.email = email
        self.answers = answers          # list of (questionId, [values])
        self.cache = None
        self.cache_gen = -1

    @property
    def key(self):
        return (self.last_ns, self.seq)

    def to_obj(self, form, with_form_id):
        obj = {}
        if with_form_id:
            obj["formId"] = form.form_id
        obj["responseId"] = self.rid
        obj["createTime"] = format_rfc3339(self.create_ns)
        obj["lastSubmittedTime"] = format_rfc3339(self.last_ns)
        if form.collects_emails() and self.email:
            obj["respondentEmail"] = self.email
        if self.answers:
            obj["answers"] = {qid: {"questionId": qid,
                                    "textAnswers": {"answers": [{"value": v} for v in vals]}}
                              for qid, vals in self.answers}
        return obj

    def serialised(self, form, pretty):
        """This response as it appears inside responses.list, cached."""
        if self.cache_gen != form.gen or self.cache is None:
            self.cache = [None, None]
            self.cache_gen = form.gen
        slot = 1 if pretty else 0
        s = self.cache[slot]
        if s is None:
            s = self._pretty(form) if pretty else self._compact(form)
            self.cache[slot] = s
        return s

    def _compact(self, form):
        parts = ['{"responseId":', jstr(self.rid),
                 ',"createTime":', jstr(format_rfc3339(self.create_ns)),
                 ',"lastSubmittedTime":', jstr(format_rfc3339(self.last_ns))]
        if form.collects_emails() and self.email:
            parts += [',"respondentEmail":', jstr(self.email)]
        if self.answers:
            parts.append(',"answers":{')
            parts.append(",".join(
                '%s:{"questionId":%s,"textAnswers":{"answers":[%s]}}' % (
                    jstr(qid), jstr(qid), ",".join('{"value":%s}' % jstr(v) for v in vals))
                for qid, vals in self.answers))
            parts.append("}")
        parts.append("}")
        return "".join(parts)

    def _pretty(self, form):
        # Same layout as json.dumps(indent=2) at nesting depth 2 (inside
        # {"responses": [...]}), written by hand because it is 6x faster.
        i0, i1, i2, i3, i4, i5 = ("    ", "      ", "        ", "          ",
                                  "            ", "              ")
        parts = [i0, "{\n", i1, '"responseId": ', jstr(self.rid), ",\n",
                 i1, '"createTime": ', jstr(format_rfc3339(self.create_ns)), ",\n",
                 i1, '"lastSubmittedTime": ', jstr(format_rfc3339(self.last_ns))]
        if form.collects_emails() and self.email:
            parts += [",\n", i1, '"respondentEmail": ', jstr(self.email)]
        if self.answers:
            parts += [",\n", i1, '"answers": {\n']
            items = []
            for qid, vals in self.answers:
                q = jstr(qid)
                if vals:
                    inner = ",\n".join('%s{\n%s  "value": %s\n%s}' % (i5, i5, jstr(v), i5)
                                       for v in vals)
                    arr = "[\n%s\n%s]" % (inner, i4)
                else:
                    arr = "[]"
                items.append('%s%s: {\n%s"questionId": %s,\n%s"textAnswers": {\n%s"answers": %s\n%s}\n%s}'
                             % (i2, q, i3, q, i3, i4, arr, i3, i2))
            parts += [",\n".join(items), "\n", i1, "}"]
        parts += ["\n", i0, "}"]
        return "".join(parts)


class Form:
    def __init__(self, form_id):
        self.form_id = form_id
        self.title = ""
        self.document_title = ""
        self.description = None
        self.items = []                 # API-shaped Item objects
        self.questions = {}             # questionId -> item title
        self.title_to_qid = {}          # exact title -> questionId
        self.linked_sheet_id = None
        self.email_collection = "DO_NOT_COLLECT"
        self.shared = True
        self.revision = 1
        self.mirror_to_sheet = False
        self.responses = []             # sorted by (last_ns, seq)
        self.keys = []                  # parallel list of keys for bisect
        self.by_id = {}
        self.sheet_rows = {}            # responseId -> row index in the linked sheet
        self.used_ids = set()           # ids of deleted items and questions: never given again
        self.gen = 0                    # bumps when cached serialisations go stale
        self.seq = 0

    def collects_emails(self):
        return self.email_collection in ("VERIFIED", "RESPONDER_INPUT")

    def responder_uri(self):
        tail = base64.urlsafe_b64encode(self.form_id.encode()).decode().rstrip("=")
        return "https://docs.google.com/forms/d/e/1FAIpQLS%s/viewform" % tail[:48]

    def to_api(self):
        info = {"title": self.title, "documentTitle": self.document_title}
        if self.description:
            info["description"] = self.description
        obj = {"formId": self.form_id, "info": info}
        # Newer revisions of the API than forms.v1.json add this setting.
        obj["settings"] = {"emailCollectionType": self.email_collection}
        if self.items:
            obj["items"] = self.items
        obj["revisionId"] = "%08d" % self.revision
        obj["responderUri"] = self.responder_uri()
        if self.linked_sheet_id:
            obj["linkedSheetId"] = self.linked_sheet_id
        return obj

    def insert(self, resp):
        key = resp.key
        i = bisect.bisect_left(self.keys, key)
        self.keys.insert(i, key)
        self.responses.insert(i, resp)
        self.by_id[resp.rid] = resp

    def remove(self, resp):
        i = bisect.bisect_left(self.keys, resp.key)
        if i < len(self.keys) and self.keys[i] == resp.key:
            del self.keys[i]
            del self.responses[i]
        del self.by_id[resp.rid]

    def next_seq(self):
        self.seq += 1
        return self.seq


# Cells of a sheet are stored as None (empty), str, bool, int/float, or one
# of these small classes.

class SerialCell:
    """A date/time stored as a serial number, shown with a date pattern."""
    __slots__ = ("serial", "pattern", "formatted")

    def __init__(self, serial, pattern=None, formatted=None):
        self.serial = float(serial)
        self.pattern = pattern          # None: the sheet locale's date-time pattern
        self.formatted = formatted

    def text(self, sheet):
        if self.formatted is not None:
            return self.formatted
        return format_serial(self.serial, self.pattern or sheet.patterns[0])


class FormulaCell:
    __slots__ = ("formula", "value")

    def __init__(self, formula, value):
        self.formula = formula
        self.value = value


class FormattedCell:
    """A value with an explicit display string (currency, percentages, ...)."""
    __slots__ = ("value", "formatted")

    def __init__(self, value, formatted):
        self.value = value
        self.formatted = formatted


def format_number(v):
    if isinstance(v, int):
        return str(v)
    if v.is_integer() and abs(v) < 1e15:
        return str(int(v))
    return "%.10g" % v


def render_cell(cell, vro, serial_numbers, sheet):
    """One cell under valueRenderOption vro; None means empty."""
    if cell is None or isinstance(cell, str):
        return cell
    if isinstance(cell, bool):
        return ("TRUE" if cell else "FALSE") if vro == "FORMATTED_VALUE" else cell
    if isinstance(cell, (int, float)):
        return format_number(cell) if vro == "FORMATTED_VALUE" else json_number(cell)
    if isinstance(cell, SerialCell):
        if vro == "FORMATTED_VALUE" or not serial_numbers:
            return cell.text(sheet)
        return json_number(cell.serial)
    if isinstance(cell, FormulaCell):
        if vro == "FORMULA":
            return cell.formula
        return render_cell(cell.value, vro, serial_numbers, sheet)
    if isinstance(cell, FormattedCell):
        if vro == "FORMATTED_VALUE":
            return cell.formatted
        return render_cell(cell.value, vro, serial_numbers, sheet)
    return str(cell)


class Sheet:
    def __init__(self, title, sheet_id, index):
        self.title = title
        self.sheet_id = sheet_id
        self.index = index
        self.rows = []
        self.row_count = 1000
        self.col_count = 26
        self.frozen_rows = 0
        self.patterns = LOCALE_PATTERNS["en_GB"]

    def grow_to_fit(self, new_rows=None):
        """Like Forms and the UI, grow the grid to hold the data."""
        self.row_count = max(self.row_count, len(self.rows))
        rows = self.rows if new_rows is None else new_rows
        self.col_count = max(self.col_count, max((len(r) for r in rows), default=0))


class Spreadsheet:
    def __init__(self, sid):
        self.sid = sid
        self.title = ""
        self.tz_name = "Europe/London"
        self.tz = load_timezone(self.tz_name)
        self.locale = "en_GB"
        self.sheets = []
        self.shared = True
        self.render_cache = collections.OrderedDict()

    def set_locale(self, locale):
        self.locale = locale
        for sh in self.sheets:
            sh.patterns = LOCALE_PATTERNS.get(locale, DEFAULT_PATTERNS)

    def find_sheet(self, name):
        for sh in self.sheets:
            if sh.title == name:
                return sh
        return None

    def to_api(self):
        sheets = []
        for sh in self.sheets:
            grid = {"rowCount": sh.row_count, "columnCount": sh.col_count}
            if sh.frozen_rows:
                grid["frozenRowCount"] = sh.frozen_rows
            props = {"sheetId": sh.sheet_id, "title": sh.title, "index": sh.index,
                     "sheetType": "GRID", "gridProperties": grid}
            sheets.append({"properties": props})
        return {"spreadsheetId": self.sid,
                "properties": {"title": self.title, "locale": self.locale,
                               "autoRecalc": "ON_CHANGE", "timeZone": self.tz_name},
                "sheets": sheets,
                "spreadsheetUrl": "https://docs.google.com/spreadsheets/d/%s/edit" % self.sid}


class Fault:
    KINDS = ("429", "500", "503", "hang", "truncate", "malformed_json", "expire_tokens")
    _ids = 0

    def __init__(self, spec):
        if not isinstance(spec, dict):
            raise ControlError("fault must be a JSON object")
        kind = str(spec.get("kind", ""))
        if kind not in self.KINDS:
            raise ControlError("kind must be one of %s" % ", ".join(self.KINDS))
        path = spec.get("path", "/")
        if not isinstance(path, str) or not path.startswith("/") or path.startswith("/_emulator"):
            raise ControlError("path must be a path prefix starting with / (not /_emulator)")
        count = spec.get("count", 1)
        after = spec.get("after", 0)
        if not isinstance(count, int) or isinstance(count, bool) or (count < 1 and count != -1):
            raise ControlError("count must be a positive integer, or -1 for every request")
        if not isinstance(after, int) or isinstance(after, bool) or after < 0:
            raise ControlError("after must be a non-negative integer")
        retry_after = spec.get("retryAfter")
        if retry_after is not None and (not isinstance(retry_after, (int, float))
                                        or isinstance(retry_after, bool) or retry_after < 0):
            raise ControlError("retryAfter must be a non-negative number of seconds")
        seconds = spec.get("seconds", 60)
        if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or not 0 <= seconds <= 3600:
            raise ControlError("seconds must be between 0 and 3600")
        method = spec.get("method")
        if method is not None and not isinstance(method, str):
            raise ControlError("method must be a string")
        Fault._ids += 1
        self.fid = Fault._ids
        self.kind = kind
        self.path = path
        self.count = count
        self.after = after
        self.retry_after = retry_after
        self.seconds = float(seconds)
        self.method = method.upper() if method else None
        self.hits = 0

    def to_json(self):
        return {"id": self.fid, "kind": self.kind, "path": self.path, "count": self.count,
                "after": self.after, "retryAfter": self.retry_after, "seconds": self.seconds,
                "method": self.method, "hits": self.hits}


# Per-user quotas, as Google documents them (per minute per user per
# project); the emulator has one project.  Metric: (service, Google's metric
# and limit names as its 429 message quotes them, the limit's id).
QUOTA_METRICS = {
    "sheets": ("sheets.googleapis.com", "Read requests", "Read requests per minute per user",
               "ReadRequestsPerMinutePerUser"),
    "forms": ("forms.googleapis.com", "Read requests", "Read requests per minute per user",
              "ReadRequestsPerMinutePerUser"),
    "formsExpensive": ("forms.googleapis.com", "Expensive read requests",
                       "Expensive read requests per minute per user",
                       "ExpensiveReadRequestsPerMinutePerUser"),
    "drive": ("drive.googleapis.com", "Queries", "Queries per minute per user", "QueriesPerMinutePerUser"),
}
MAX_QUOTA_WINDOWS = 10000        # (user, window) counters kept


def quota_metric(method):
    """The per-user quota metric a method counts against."""
    if method.startswith("google.apps.sheets."):
        return "sheets"
    if method == "google.apps.forms.v1.FormsService.ListFormResponses":
        return "formsExpensive"
    if method.startswith("google.apps.forms."):
        return "forms"
    return "drive"


class Quota:
    """Per-user request counts in fixed windows (windowSeconds, aligned to
    the epoch), and the per-user limits that answer 429 when exceeded.
    Every authenticated API request is counted (refused ones too, in
    `refused`), so a test can show that a client never sent more than N."""

    def __init__(self):
        self.window = 60
        self.limits = {k: None for k in QUOTA_METRICS}     # None: unlimited
        self.counts = collections.OrderedDict()           # (user, window index) -> counters

    def to_json(self):
        rows = []
        for (user, w), c in self.counts.items():
            rows.append(dict(c, user=user, windowStart=format_rfc3339(w * self.window * 1_000_000_000)))
        top = {}
        for r in rows:
            top[r["user"]] = max(top.get(r["user"], 0), r["requests"])
        return {"windowSeconds": self.window, "perUser": dict(self.limits), "counts": rows,
                "maxRequestsPerWindow": top}

    def configure(self, spec):
        require(isinstance(spec, dict), "quota must be an object")
        for k in spec:
            require(k in ("windowSeconds", "perUser"), "unknown quota key %r (known: perUser, windowSeconds)" % k)
        window = spec.get("windowSeconds", self.window)
        require(isinstance(window, int) and not isinstance(window, bool) and 1 <= window <= 3600,
                "windowSeconds must be an integer between 1 and 3600")
        per_user = spec.get("perUser", {})
        require(isinstance(per_user, dict), "perUser must be an object")
        for k, v in per_user.items():
            require(k in QUOTA_METRICS, "unknown quota metric %r (known: %s)" % (k, ", ".join(sorted(QUOTA_METRICS))))
            require(v is None or (isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 1_000_000),
                    "perUser.%s must be null (unlimited) or an integer between 0 and 1000000" % k)
        if window != self.window:
            self.counts.clear()
        self.window = window
        self.limits.update(per_user)

    def take(self, user, metric):
        """Count one request; None when it is within the quota, else the 429 to answer."""
        key = (user, int(time.time() // self.window))
        c = self.counts.get(key)
        if c is None:
            c = self.counts[key] = {"requests": 0, "refused": 0, "byMetric": {}}
            while len(self.counts) > MAX_QUOTA_WINDOWS:
                self.counts.popitem(last=False)
        c["requests"] += 1
        used = c["byMetric"].get(metric, 0)
        limit = self.limits.get(metric)
        if limit is not None and used >= limit:
            c["refused"] += 1
            return quota_error(metric, limit)
        c["byMetric"][metric] = used + 1
        return None


def quota_error(metric, limit):
    """Google's answer to a request over a per-user quota (429 RESOURCE_EXHAUSTED)."""
    svc, name, limit_name, limit_id = QUOTA_METRICS[metric]
    metric_id = "%s/%s" % (svc, "default" if metric == "drive" else
                           "expensive_read_requests" if metric == "formsExpensive" else "read_requests")
    message = ("Quota exceeded for quota metric '%s' and limit '%s' of service '%s' for consumer "
               "'project_number:123456789012'." % (name, limit_name, svc))
    details = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "RATE_LIMIT_EXCEEDED", "domain": "googleapis.com",
                "metadata": {"service": svc, "consumer": "projects/123456789012",
                             "quota_metric": metric_id, "quota_limit": limit_id,
                             "quota_location": "global", "quota_limit_value": str(limit)}},
               {"@type": "type.googleapis.com/google.rpc.Help",
                "links": [{"description": "Request a higher quota limit.",
                           "url": "https://cloud.google.com/docs/quotas/help/request_increase"}]}]
    if svc == "drive.googleapis.com":
        return drive_error(429, message, "rateLimitExceeded", domain="usageLimits",
                           status="RESOURCE_EXHAUSTED", details=details)
    return google_error(429, "RESOURCE_EXHAUSTED", message, details)


class State:
    """Everything the emulator knows. One lock guards it all."""

    def __init__(self, client_email, public_key, key_id, token_lifetime):
        self.lock = threading.RLock()
        self.client_email = client_email
        self.public_key = public_key
        self.key_id = key_id
        self.port = 0
        self.forms = {}
        self.sheets = {}
        self.files = {}                 # Drive metadata for forms and sheets, by id
        self.tokens = {}
        self.faults = []
        self.log = collections.deque(maxlen=MAX_LOG_ENTRIES)
        self.log_seq = 0
        self.config = {
            "tokenLifetime": token_lifetime,   # seconds; sent as expires_in
            "enforceScopes": True,             # 403 ACCESS_TOKEN_SCOPE_INSUFFICIENT
            "gzip": True,                      # honour Accept-Encoding: gzip
            "latencyMs": 0,                    # added to every API answer
            "tokenLength": 1024,               # real service-account tokens are ~1 kB
            "keyDeleted": False,               # the key was deleted in the Cloud console
            "driveLagMs": 0,                   # Drive's version/modifiedTime follow a change this late
        }
        self.startup_config = dict(self.config)    # what POST /_emulator/reset goes back to
        self.quota = Quota()

    # -- Drive bookkeeping --
    def drive_file(self, file_id, kind):
        f = self.files.get(file_id)
        if f is None or f.kind != kind:
            f = DriveFile(file_id, kind)
            self.files[file_id] = f
        return f

    def touch(self, file_id):
        f = self.files.get(file_id)
        if f is not None:
            f.touch()


# --------------------------------------------------------------------------
# Control API: building forms, responses and sheets from test fixtures
# --------------------------------------------------------------------------

def require(cond, message):
    if not cond:
        raise ControlError(message)


def get_str(spec, key, default=None, allow_none=False):
    v = spec.get(key, default)
    if v is None and (allow_none or default is None):
        return v
    require(isinstance(v, str), "%s must be a string" % key)
    return v


def get_bool(spec, key, default):
    v = spec.get(key, default)
    require(isinstance(v, bool), "%s must be true or false" % key)
    return v


def build_items(form, items):
    require(isinstance(items, list), "items must be a list")
    out, questions, titles = [], {}, {}
    used = set()
    for n, it in enumerate(items):
        require(isinstance(it, dict), "items[%d] must be an object" % n)
        if "questionItem" in it or "textItem" in it or "pageBreakItem" in it:
            item = json.loads(json.dumps(it))       # an API-shaped item, as given
            item.setdefault("itemId", new_hex_id())
            q = item.get("questionItem", {}).get("question")
            if q is not None:
                q.setdefault("questionId", new_hex_id())
                questions[q["questionId"]] = item.get("title", "")
                titles.setdefault(item.get("title", ""), q["questionId"])
            out.append(item)
            continue
        kind = it.get("kind", "text")
        title = get_str(it, "title", "")
        item = {"itemId": get_str(it, "itemId") or new_hex_id(), "title": title}
        if it.get("description"):
            item["description"] = get_str(it, "description")
        if kind in ("choice", "checkbox", "dropdown", "text", "paragraph"):
            qid = get_str(it, "questionId") or new_hex_id()
            require(qid not in used, "duplicate questionId %r" % qid)
            used.add(qid)
            question = {"questionId": qid}
            if it.get("required"):
                question["required"] = True
            if kind in ("choice", "checkbox", "dropdown"):
                default_type = {"choice": "RADIO", "checkbox": "CHECKBOX", "dropdown": "DROP_DOWN"}[kind]
                ctype = get_str(it, "choiceType", default_type)
                require(ctype in ("RADIO", "CHECKBOX", "DROP_DOWN"),
                        "choiceType must be RADIO, CHECKBOX or DROP_DOWN")
                options = it.get("options", [])
                require(isinstance(options, list) and all(isinstance(o, str) for o in options),
                        "options must be a list of strings")
                question["choiceQuestion"] = {"type": ctype,
                                              "options": [{"value": o} for o in options]}
            else:
                question["textQuestion"] = {"paragraph": True} if kind == "paragraph" else {}
            item["questionItem"] = {"question": question}
            questions[qid] = title
            titles.setdefault(title, qid)
        elif kind == "section":
            item["pageBreakItem"] = {}
        elif kind == "textItem":
            item["textItem"] = {}
        else:
            raise ControlError("items[%d].kind must be choice, checkbox, dropdown, text, "
                               "paragraph, section or textItem" % n)
        out.append(item)
    form.items = out
    form.questions = questions
    form.title_to_qid = titles


def rebuild_questions(form):
    """form.questions and form.title_to_qid from form.items."""
    form.questions, form.title_to_qid = {}, {}
    for it in form.items:
        q = it.get("questionItem", {}).get("question")
        if q is not None:
            form.questions[q["questionId"]] = it.get("title", "")
            form.title_to_qid.setdefault(it.get("title", ""), q["questionId"])


def find_item(form, key):
    """The index of the item whose questionId, itemId or title is key."""
    for n, it in enumerate(form.items):
        q = it.get("questionItem", {}).get("question", {})
        if key in (q.get("questionId"), it.get("itemId")):
            return n
    for n, it in enumerate(form.items):
        if it.get("title") == key:
            return n
    return None


def apply_form_spec(state, form, spec, partial):
    if "title" in spec or not partial:
        form.title = get_str(spec, "title", "Untitled form")
    if "documentTitle" in spec or not partial:
        form.document_title = get_str(spec, "documentTitle", form.title)
    if "description" in spec:
        form.description = get_str(spec, "description", allow_none=True)
    if "items" in spec or not partial:
        build_items(form, spec.get("items", []))
    if "linkedSheetId" in spec:
        form.linked_sheet_id = get_str(spec, "linkedSheetId", allow_none=True)
    if "emailCollectionType" in spec:
        ect = get_str(spec, "emailCollectionType")
        require(ect in ("DO_NOT_COLLECT", "VERIFIED", "RESPONDER_INPUT"),
                "emailCollectionType must be DO_NOT_COLLECT, VERIFIED or RESPONDER_INPUT")
        form.email_collection = ect
    elif "collectEmails" in spec:
        form.email_collection = "VERIFIED" if get_bool(spec, "collectEmails", False) else "DO_NOT_COLLECT"
    if "shared" in spec:
        form.shared = get_bool(spec, "shared", True)
    if "mirrorToSheet" in spec:
        form.mirror_to_sheet = get_bool(spec, "mirrorToSheet", False)
    form.revision += 1
    form.gen += 1


def resolve_answers(form, answers):
    """{"<question title or id>": ["value", ...] | "value"} -> [(questionId, [values])]."""
    if answers is None:
        return []
    require(isinstance(answers, dict), "answers must be an object")
    out, seen = [], set()
    for key, vals in answers.items():
        if key in form.questions:
            qid = key
        elif key in form.title_to_qid:
            qid = form.title_to_qid[key]
        else:
            raise ControlError("answers: no question with id or title %r in form %s"
                               % (key, form.form_id))
        if isinstance(vals, str):
            vals = [vals]
        require(isinstance(vals, list) and all(isinstance(v, str) for v in vals),
                "answers[%r] must be a string or a list of strings" % key)
        require(qid not in seen, "answers: question %r given twice" % key)
        seen.add(qid)
        if vals:                        # Forms leaves unanswered questions out
            out.append((qid, list(vals)))
    return out


def mirror_row(state, form, resp, replace):
    """Forms writes each response to the linked sheet; edits update the row in place."""
    if not form.mirror_to_sheet or not form.linked_sheet_id:
        return
    ss = state.sheets.get(form.linked_sheet_id)
    if ss is None or not ss.sheets:
        return
    sh = ss.sheets[0]
    qids = [it["questionItem"]["question"]["questionId"] for it in form.items
            if "questionItem" in it]
    if not sh.rows:
        header = ["Timestamp"] + (["Email address"] if form.collects_emails() else [])
        sh.rows.append(header + [form.questions[q] for q in qids])
        sh.frozen_rows = 1
    answers = dict(resp.answers)
    row = [SerialCell(instant_to_serial(resp.last_ns, ss.tz))]
    if form.collects_emails():
        row.append(resp.email)
    row += [", ".join(answers[q]) if q in answers else None for q in qids]
    idx = form.sheet_rows.get(resp.rid) if replace else None
    if idx is not None and idx < len(sh.rows):
        sh.rows[idx] = row
    else:
        form.sheet_rows[resp.rid] = len(sh.rows)
        sh.rows.append(row)
    sh.row_count = max(sh.row_count, len(sh.rows))
    sh.col_count = max(sh.col_count, len(row))


def new_response(state, form, spec, default_last_ns):
    require(isinstance(spec, dict), "a response must be an object")
    rid = get_str(spec, "responseId") or new_response_id()
    require(rid not in form.by_id, "response %r already exists" % rid)
    try:
        last_ns = parse_rfc3339(spec["lastSubmittedTime"]) if "lastSubmittedTime" in spec else default_last_ns
        create_ns = parse_rfc3339(spec["createTime"]) if "createTime" in spec else last_ns
    except ValueError as e:
        raise ControlError(str(e)) from e
    email = get_str(spec, "respondentEmail", allow_none=True)
    return Response(rid, form.next_seq(), create_ns, last_ns, email,
                    resolve_answers(form, spec.get("answers")))


def bulk_times(spec, count):
    step = spec.get("stepSeconds", 1.0)
    require(isinstance(step, (int, float)) and not isinstance(step, bool) and step >= 0,
            "stepSeconds must be a non-negative number")
    step_ns = int(step * 1e9)
    if "startTime" in spec:
        try:
            start = parse_rfc3339(spec["startTime"])
        except ValueError as e:
            raise ControlError(str(e)) from e
    else:
        start = now_ns() - count * step_ns
    return start, step_ns


def bulk_responses(state, form, spec):
    if "responses" in spec:
        items = spec["responses"]
        require(isinstance(items, list), "responses must be a list")
        base = now_ns()
        made = [new_response(state, form, s, base) for s in items]
    else:
        count = spec.get("count")
        require(isinstance(count, int) and not isinstance(count, bool) and 0 <= count <= 2_000_000,
                "count must be an integer between 0 and 2000000")
        template = spec.get("template", {})
        require(isinstance(template, dict), "template must be an object")
        start_index = spec.get("startIndex", 1)
        require(isinstance(start_index, int), "startIndex must be an integer")
        start, step_ns = bulk_times(spec, count)
        # Resolve question titles once; substitute "{i}" per response.
        tpl_answers = resolve_answers(form, template.get("answers"))
        email_tpl = get_str(template, "respondentEmail", allow_none=True)
        rid_tpl = get_str(template, "responseId", allow_none=True)
        made = []
        for k in range(count):
            i = start_index + k
            last = start + k * step_ns
            rid = rid_tpl.replace("{i}", str(i)) if rid_tpl else new_response_id()
            email = email_tpl.replace("{i}", str(i)) if email_tpl else None
            answers = [(qid, [v.replace("{i}", str(i)) if "{i}" in v else v for v in vals])
                       for qid, vals in tpl_answers]
            made.append(Response(rid, form.next_seq(), last, last, email, answers))
    ids = set()
    for r in made:
        require(r.rid not in form.by_id and r.rid not in ids, "response %r already exists" % r.rid)
        ids.add(r.rid)
    # One sort instead of n insertions.
    form.responses.extend(made)
    form.responses.sort(key=lambda r: (r.last_ns, r.seq))
    form.keys = [(r.last_ns, r.seq) for r in form.responses]
    for r in made:
        form.by_id[r.rid] = r
    for r in sorted(made, key=lambda r: (r.last_ns, r.seq)):
        mirror_row(state, form, r, replace=False)
    if made:
        state.touch(form.form_id)
        if form.mirror_to_sheet and form.linked_sheet_id:
            state.touch(form.linked_sheet_id)
            ss = state.sheets.get(form.linked_sheet_id)
            if ss:
                ss.render_cache.clear()
    return {"formId": form.form_id, "added": len(made), "total": len(form.responses),
            "firstResponseId": made[0].rid if made else None,
            "lastResponseId": made[-1].rid if made else None}


def parse_cell(value, ss):
    """A cell in the control API's notation -> stored cell."""
    if value is None or value == "":
        return None
    if isinstance(value, (str, bool, int, float)):
        return value
    require(isinstance(value, dict), "a cell must be a string, number, boolean, null or object")
    try:
        if "serial" in value:
            s = value["serial"]
            require(isinstance(s, (int, float)) and not isinstance(s, bool), "serial must be a number")
            return SerialCell(s, value.get("pattern"), value.get("formatted"))
        if "datetime" in value:
            return SerialCell(instant_to_serial(parse_rfc3339(value["datetime"]), ss.tz),
                              value.get("pattern"), value.get("formatted"))
        if "date" in value:
            pattern = value.get("pattern") or LOCALE_PATTERNS.get(ss.locale, DEFAULT_PATTERNS)[1]
            return SerialCell(date_to_serial(value["date"]), pattern, value.get("formatted"))
    except ValueError as e:
        raise ControlError(str(e)) from e
    if "formula" in value:
        f = value["formula"]
        require(isinstance(f, str) and f.startswith("="), "formula must be a string starting with =")
        return FormulaCell(f, parse_cell(value.get("value"), ss))
    if "formatted" in value:
        require(isinstance(value["formatted"], str), "formatted must be a string")
        return FormattedCell(parse_cell(value.get("value"), ss), value["formatted"])
    raise ControlError("unknown cell object %r" % sorted(value))


def parse_rows(rows, ss):
    require(isinstance(rows, list), "rows must be a list of lists")
    out = []
    for r in rows:
        require(isinstance(r, list), "rows must be a list of lists")
        out.append([parse_cell(c, ss) for c in r])
    return out


def apply_sheet_spec(state, ss, spec, partial):
    if "title" in spec or not partial:
        ss.title = get_str(spec, "title", "Untitled spreadsheet")
    if "timeZone" in spec:
        try:
            ss.tz = load_timezone(spec["timeZone"])
        except ValueError as e:
            raise ControlError(str(e)) from e
        ss.tz_name = spec["timeZone"]
    if "locale" in spec:
        ss.set_locale(get_str(spec, "locale"))
    if "shared" in spec:
        ss.shared = get_bool(spec, "shared", True)
    if "sheets" in spec or not partial:
        sheets = spec.get("sheets", [{"title": "Sheet1", "rows": []}])
        require(isinstance(sheets, list) and sheets, "sheets must be a non-empty list")
        new, seen = [], set()
        for n, s in enumerate(sheets):
            require(isinstance(s, dict), "sheets[%d] must be an object" % n)
            title = get_str(s, "title", "Sheet%d" % (n + 1))
            require(title.lower() not in seen, "duplicate sheet title %r" % title)
            seen.add(title.lower())
            sh = Sheet(title, s.get("sheetId", 0 if n == 0 else secrets.randbelow(2**31 - 1) + 1), n)
            sh.patterns = LOCALE_PATTERNS.get(ss.locale, DEFAULT_PATTERNS)
            sh.rows = parse_rows(s.get("rows", []), ss)
            sh.frozen_rows = s.get("frozenRowCount", 0)
            sh.row_count = s.get("rowCount", 1000)
            sh.col_count = s.get("columnCount", 26)
            require(all(isinstance(x, int) and x >= 0 for x in (sh.row_count, sh.col_count, sh.frozen_rows)),
                    "rowCount/columnCount/frozenRowCount must be non-negative integers")
            sh.grow_to_fit()
            new.append(sh)
        ss.sheets = new
    ss.render_cache.clear()


def control_sheet_for(ss, spec):
    name = spec.get("sheet")
    if name is None:
        return ss.sheets[0]
    sh = ss.find_sheet(name)
    require(sh is not None, "no sheet %r in spreadsheet %s" % (name, ss.sid))
    return sh


def bulk_rows(state, ss, spec):
    sh = control_sheet_for(ss, spec)
    if "rows" in spec:
        rows = parse_rows(spec["rows"], ss)
    else:
        count = spec.get("count")
        require(isinstance(count, int) and not isinstance(count, bool) and 0 <= count <= 2_000_000,
                "count must be an integer between 0 and 2000000")
        template = spec.get("template")
        require(isinstance(template, list), "template must be a list of cells")
        start_index = spec.get("startIndex", 1)
        require(isinstance(start_index, int), "startIndex must be an integer")
        start, step_ns = bulk_times(spec, count)
        # Pre-parse constant cells once; only "{i}" strings and timestamps vary.
        plan = []
        for c in template:
            if isinstance(c, dict) and c.get("timestamp") is True:
                plan.append(("ts", c.get("pattern")))
            elif isinstance(c, str) and "{i}" in c:
                plan.append(("sub", c))
            else:
                plan.append(("const", parse_cell(c, ss)))
        rows = []
        for k in range(count):
            i = start_index + k
            si = str(i)
            row = []
            for kind, v in plan:
                if kind == "const":
                    row.append(v)
                elif kind == "sub":
                    row.append(v.replace("{i}", si))
                else:
                    row.append(SerialCell(instant_to_serial(start + k * step_ns, ss.tz), v))
            rows.append(row)
    sh.rows.extend(rows)
    sh.grow_to_fit(rows)
    ss.render_cache.clear()
    state.touch(ss.sid)
    return {"spreadsheetId": ss.sid, "sheet": sh.title, "added": len(rows), "rows": len(sh.rows)}


# --------------------------------------------------------------------------
# A1 notation
# --------------------------------------------------------------------------

REF_RE = re.compile(r"^\$?([A-Za-z]{1,3})?\$?([0-9]{1,8})?$")
SIMPLE_SHEET_NAME_RE = re.compile(r"^[^\W\d][\w.]*$")
CELLISH_RE = re.compile(r"^(?:[A-Za-z]{1,3}[0-9]+|[Rr][0-9]*[Cc][0-9]*)$")


def col_index(letters):
    n = 0
    for ch in letters.upper():
        n = n * 26 + (ord(ch) - 64)
    return n - 1


def col_letters(i):
    s = ""
    i += 1
    while i > 0:                  # at most a few iterations
        i, r = divmod(i - 1, 26)
        s = chr(65 + r) + s
    return s


def quote_sheet(name):
    if SIMPLE_SHEET_NAME_RE.match(name) and not CELLISH_RE.match(name):
        return name
    return "'" + name.replace("'", "''") + "'"


def parse_ref_part(text):
    """'A1' -> (col, row); 'A' -> (col, None); '1' -> (None, row). 0-based; None if not a ref."""
    m = REF_RE.match(text)
    if not m or (m.group(1) is None and m.group(2) is None):
        return None
    col = col_index(m.group(1)) if m.group(1) else None
    row = int(m.group(2)) - 1 if m.group(2) else None
    if row is not None and row < 0:
        return None
    return col, row


def parse_cells(ref):
    """'A1:B2', 'A:Z', 'A2:F', '1:3', 'A1' -> (c0, r0, c1, r1) with None = unbounded."""
    if ":" in ref:
        a, b = ref.split(":", 1)
        pa, pb = parse_ref_part(a), parse_ref_part(b)
        if pa is None or pb is None:
            return None
        # a side with only a column needs the other side to be column-ish too, etc.
        if (pa[0] is None) != (pb[0] is None) and pa[0] is None:
            return None
        return pa[0], pa[1], pb[0], pb[1]
    p = parse_ref_part(ref)
    if p is None or p[0] is None or p[1] is None:
        return None                   # a lone "A" or "7" is not a cell
    return p[0], p[1], p[0], p[1]


def parse_a1(text, ss):
    """Resolve an A1 range in spreadsheet ss -> (sheet, c0, r0, c1, r1), inclusive, clipped.

    Raises ApiError 400 as Sheets does ("Unable to parse range: ...", "exceeds grid limits").
    """
    bad = invalid_argument("Unable to parse range: %s" % text)
    sheet_name, ref = None, None
    if text.startswith("'"):
        i, name = 1, []
        while True:                   # bounded by len(text)
            if i >= len(text):
                raise bad
            ch = text[i]
            if ch == "'":
                if i + 1 < len(text) and text[i + 1] == "'":
                    name.append("'")
                    i += 2
                    continue
                break
            name.append(ch)
            i += 1
        sheet_name, rest = "".join(name), text[i + 1:]
        if rest:
            if not rest.startswith("!"):
                raise bad
            ref = rest[1:]
    elif "!" in text:
        sheet_name, ref = text.split("!", 1)
        if not SIMPLE_SHEET_NAME_RE.match(sheet_name):
            raise bad                 # names with spaces or punctuation must be quoted
    else:
        if parse_cells(text) is not None:
            ref = text
        else:
            sheet_name = text
    if sheet_name is None:
        if not ss.sheets:
            raise bad
        sh = ss.sheets[0]
    else:
        sh = ss.find_sheet(sheet_name)
        if sh is None:
            raise bad
    if ref is None:
        c0, r0, c1, r1 = 0, 0, None, None
    else:
        cells = parse_cells(ref)
        if cells is None:
            raise bad
        c0, r0, c1, r1 = cells
        c0 = 0 if c0 is None else c0
        r0 = 0 if r0 is None else r0
    if c0 >= sh.col_count or r0 >= sh.row_count:
        raise invalid_argument("Range (%s!%s) exceeds grid limits. Max rows: %d, max columns: %d"
                               % (quote_sheet(sh.title), ref or "", sh.row_count, sh.col_count))
    c1 = sh.col_count - 1 if c1 is None else min(c1, sh.col_count - 1)
    r1 = sh.row_count - 1 if r1 is None else min(r1, sh.row_count - 1)
    if c1 < c0:
        c0, c1 = c1, c0
    if r1 < r0:
        r0, r1 = r1, r0
    return sh, c0, r0, c1, r1


def a1_string(sh, c0, r0, c1, r1):
    start = "%s%d" % (col_letters(c0), r0 + 1)
    end = "%s%d" % (col_letters(c1), r1 + 1)
    return "%s!%s" % (quote_sheet(sh.title), start if start == end else start + ":" + end)


# --------------------------------------------------------------------------
# Query parameters, ESF style
# --------------------------------------------------------------------------

def snake(name):
    return re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), name)


def check_params(params, allowed):
    """Reject unknown query parameters like Google's front end; map snake_case names."""
    out = {}
    for name, values in params.items():
        canon = name
        if name not in allowed and name not in SYSTEM_PARAMS:
            camel = re.sub(r"_([a-z])", lambda m: m.group(1).upper(), name)
            if camel in allowed:
                canon = camel
            else:
                msg = ("Invalid JSON payload received. Unknown name \"%s\": Cannot bind query "
                       "parameter. Field '%s' could not be found in request message." % (name, name))
                raise invalid_argument(msg, msg)
        out.setdefault(canon, []).extend(values)
    return out


def param(params, name, default=None):
    v = params.get(name)
    return v[0] if v else default


def enum_param(params, name, choices, type_name, default):
    v = param(params, name)
    if v is None:
        return default
    if v not in choices:
        msg = "Invalid value at '%s' (%s), \"%s\"" % (snake(name), type_name, v)
        raise invalid_argument(msg, msg)
    return v


def int32_param(params, name):
    v = param(params, name)
    if v is None:
        return None
    if not re.fullmatch(r"-?[0-9]{1,10}", v) or not -2**31 <= int(v) < 2**31:
        msg = "Invalid value at '%s' (TYPE_INT32), \"%s\"" % (snake(name), v)
        raise invalid_argument(msg, msg)
    return int(v)


def bool_param(params, name, default):
    v = param(params, name)
    if v is None:
        return default
    low = v.lower()
    if low in ("true", "1"):
        return True
    if low in ("false", "0"):
        return False
    msg = "Invalid value at '%s' (TYPE_BOOL), \"%s\"" % (snake(name), v)
    raise invalid_argument(msg, msg)


FILTER_RE = re.compile(r"^\s*timestamp\s*(>=|>)\s*(\S+)\s*$")


def parse_filter(text):
    """forms.responses.list filter: 'timestamp > N' or 'timestamp >= N', N RFC 3339 Zulu."""
    m = FILTER_RE.match(text)
    if not m:
        raise invalid_argument("Invalid filter: %s" % text,
                               "filter must be \"timestamp > T\" or \"timestamp >= T\"")
    try:
        ns = parse_rfc3339(m.group(2), zulu_only=True)
    except ValueError:
        raise invalid_argument("Invalid filter: %s" % text,
                               "timestamp must be RFC3339 UTC \"Zulu\" format") from None
    return m.group(1), ns


def encode_page_token(filter_key, key):
    raw = json.dumps({"f": filter_key, "k": list(key)}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_page_token(token, filter_key):
    bad = invalid_argument("Request contains an invalid argument.", "invalid page token")
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        obj = json.loads(raw)
        key = obj["k"]
        if not (isinstance(key, list) and len(key) == 2 and all(isinstance(x, int) for x in key)):
            raise ValueError
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise bad from None
    if obj.get("f") != filter_key:
        raise invalid_argument("Request contains an invalid argument.",
                               "the filter must be the same as in the request that returned the page token")
    return tuple(key)


# --------------------------------------------------------------------------
# JWT (RS256) verification for the token endpoint
# --------------------------------------------------------------------------

B64URL_RE = re.compile(r"^[A-Za-z0-9_-]*$")


def b64url_decode(part):
    if not B64URL_RE.match(part) or len(part) % 4 == 1:
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def verify_assertion(state, assertion, own_audiences):
    """Check a service-account JWT as Google's token endpoint does. Returns the claims."""
    parts = assertion.split(".")
    if len(parts) != 3:
        raise oauth_error(400, "invalid_grant", "Invalid JWT: the assertion must have 3 parts.")
    try:
        header = json.loads(b64url_decode(parts[0]))
        claims = json.loads(b64url_decode(parts[1]))
        signature = b64url_decode(parts[2])
    except (ValueError, UnicodeDecodeError):
        raise oauth_error(400, "invalid_grant", "Invalid JWT: could not decode the assertion.") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise oauth_error(400, "invalid_grant", "Invalid JWT: header and claims must be JSON objects.")
    if header.get("alg") != "RS256" or header.get("typ", "JWT") != "JWT":
        raise oauth_error(400, "invalid_grant", "Invalid JWT: unsupported algorithm; use RS256.")
    if claims.get("iss") != state.client_email:
        raise oauth_error(400, "invalid_grant", "Invalid grant: account not found")
    if state.key_id is not None and "kid" in header and header["kid"] != state.key_id:
        raise oauth_error(400, "invalid_grant", "Invalid JWT Signature.")
    try:
        state.public_key.verify(signature, (parts[0] + "." + parts[1]).encode("ascii"),
                                padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        raise oauth_error(400, "invalid_grant", "Invalid JWT Signature.") from None
    with state.lock:
        deleted = state.config["keyDeleted"]
    if deleted:
        # Google no longer holds the key, so it can verify the signature with
        # none of the account's keys: the same answer as a wrong key.
        raise oauth_error(400, "invalid_grant", "Invalid JWT Signature.")
    aud = claims.get("aud")
    if aud not in GOOGLE_TOKEN_AUDIENCES and aud not in own_audiences:
        raise oauth_error(400, "invalid_grant",
                          "Invalid JWT: Failed audience check. The right audience is "
                          "https://oauth2.googleapis.com/token")
    iat, exp = claims.get("iat"), claims.get("exp")
    now = time.time()
    if (not isinstance(iat, (int, float)) or isinstance(iat, bool)
            or not isinstance(exp, (int, float)) or isinstance(exp, bool)
            or iat > now + 60 or exp <= now or exp - iat > 3600 or exp < iat):
        raise oauth_error(400, "invalid_grant", MSG_JWT_TIME)
    scope = claims.get("scope")
    if not isinstance(scope, str) or not scope.split():
        raise oauth_error(400, "invalid_scope", "Invalid OAuth scope or ID token audience provided.")
    for s in scope.split():
        if not (s.startswith(AUTH) or s in ("openid", "email", "profile")):
            raise oauth_error(400, "invalid_scope", "Invalid OAuth scope or ID token audience provided.")
    return claims


# --------------------------------------------------------------------------
# HTTP
# --------------------------------------------------------------------------

class Reply:
    """What a handler produced: status, body bytes, headers."""

    def __init__(self, status, body, headers=None, content_type="application/json; charset=UTF-8"):
        self.status = status
        self.body = body if isinstance(body, bytes) else body.encode("utf-8")
        self.headers = dict(headers or {})
        self.headers.setdefault("Content-Type", content_type)


def service_of(path):
    if path.startswith("/v1/forms"):
        return "forms.googleapis.com"
    if path.startswith("/v4/spreadsheets"):
        return "sheets.googleapis.com"
    if path.startswith("/drive/"):
        return "drive.googleapis.com"
    if path == "/token":
        return "oauth2"
    return None


def not_found_html(path):
    body = ("<!DOCTYPE html>\n<html lang=en>\n  <meta charset=utf-8>\n"
            "  <title>Error 404 (Not Found)!!1</title>\n"
            "  <p><b>404.</b> <ins>That\u2019s an error.</ins>\n"
            "  <p>The requested URL <code>%s</code> was not found on this server."
            "  <ins>That\u2019s all we know.</ins>\n" % path.replace("<", "&lt;").replace(">", "&gt;"))
    return Reply(404, body, content_type="text/html; charset=UTF-8")


def fault_error(kind, service, retry_after):
    """The error a 429/500/503 fault answers with, in the service's own shape."""
    headers = {}
    if retry_after is not None:
        headers["Retry-After"] = str(int(retry_after) if float(retry_after).is_integer() else retry_after)
    if service == "oauth2":
        if kind == "429":
            return ApiError(429, {"error": "rate_limit_exceeded",
                                  "error_description": "Rate limit exceeded."}, headers)
        return ApiError(int(kind), {"error": "internal_failure",
                                    "error_description": "Backend Error"}, headers)
    if kind == "429":
        svc = service or "googleapis.com"
        metric, limit = {
            "forms.googleapis.com": ("forms.googleapis.com/expensive_read_requests",
                                     "ExpensiveReadRequestsPerMinutePerUser"),
            "sheets.googleapis.com": ("sheets.googleapis.com/read_requests",
                                      "ReadRequestsPerMinutePerUser"),
            "drive.googleapis.com": ("drive.googleapis.com/default", "defaultPerMinutePerUser"),
        }.get(svc, ("%s/default" % svc, "DefaultPerMinutePerUser"))
        message = ("Quota exceeded for quota metric '%s' and limit '%s' of service '%s' for "
                   "consumer 'project_number:123456789012'." % (metric, limit, svc))
        details = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "RATE_LIMIT_EXCEEDED", "domain": "googleapis.com",
                    "metadata": {"service": svc, "consumer": "projects/123456789012",
                                 "quota_metric": metric, "quota_limit": limit,
                                 "quota_location": "global", "quota_limit_value": "60"}},
                   {"@type": "type.googleapis.com/google.rpc.Help",
                    "links": [{"description": "Request a higher quota limit.",
                               "url": "https://cloud.google.com/docs/quotas/help/request_increase"}]}]
        if service == "drive.googleapis.com":
            return drive_error(429, message, "rateLimitExceeded", domain="usageLimits",
                               status="RESOURCE_EXHAUSTED", details=details, headers=headers)
        return google_error(429, "RESOURCE_EXHAUSTED", message, details, headers)
    if kind == "500":
        if service == "drive.googleapis.com":
            return drive_error(500, "Internal Error", "internalError", status="INTERNAL", headers=headers)
        return google_error(500, "INTERNAL", "Internal error encountered.", headers=headers)
    if service == "drive.googleapis.com":
        return drive_error(503, "The service is currently unavailable.", "backendError",
                           status="UNAVAILABLE", headers=headers)
    return google_error(503, "UNAVAILABLE", "The service is currently unavailable.", headers=headers)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 120                       # idle keep-alive connections are closed after this

    def version_string(self):
        return "ESF"

    def log_message(self, fmt, *args):
        self.server.log_line("%s %s" % (self.client_address[0], fmt % args))

    def do_GET(self):
        self.dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_GET

    # ---------------------------------------------------------------- plumbing

    def read_body(self, limit):
        te = self.headers.get("Transfer-Encoding", "").lower()
        if te == "chunked":
            chunks, total = [], 0
            for _ in range(1 << 20):          # bounded number of chunks
                line = self.rfile.readline(1024)
                try:
                    size = int(line.split(b";")[0].strip(), 16)
                except ValueError:
                    raise ControlError("bad chunked encoding") from None
                if size == 0:
                    for _ in range(100):      # trailers
                        if self.rfile.readline(8192) in (b"\r\n", b"\n", b""):
                            break
                    return b"".join(chunks)
                total += size
                if total > limit:
                    raise ControlError("request body too large", 413)
                chunks.append(self.rfile.read(size))
                self.rfile.readline(8)
            raise ControlError("too many chunks")
        length = self.headers.get("Content-Length")
        if not length:
            return b""
        try:
            n = int(length)
        except ValueError:
            raise ControlError("bad Content-Length") from None
        if n < 0 or n > limit:
            self.close_connection = True
            raise ControlError("request body too large", 413)
        return self.rfile.read(n)

    def send_reply(self, reply, mangle=None, entry=None, started=None):
        """Answer. With entry, the request is logged before the first byte goes out, so a client
        that has seen the answer also finds the request in GET /_emulator/requests."""
        body = reply.body
        headers = reply.headers
        if mangle == "malformed_json":
            body = body[:max(1, len(body) // 2)]
        if (self.server.state.config["gzip"] and len(body) > 0 and self.command != "HEAD"
                and "gzip" in self.headers.get("Accept-Encoding", "").lower()
                and reply.status != 204 and "Content-Encoding" not in headers):
            body = gzip.compress(body, compresslevel=1)
            headers = dict(headers, **{"Content-Encoding": "gzip"})
        announced = len(body)
        announce_close = self.close_connection
        if mangle == "truncate":
            body = body[:len(body) // 2]
            self.close_connection = True
        if entry is not None:
            entry.update(status=reply.status, bytes=len(body),
                         durationMs=int((time.monotonic() - started) * 1000))
            self.server.record(entry)
        self.send_response(reply.status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(announced))
        if reply.headers.get("Content-Type", "").startswith("application/json") and self.path.startswith(("/v", "/drive")):
            self.send_header("Vary", "Origin, X-Origin, Referer")
            self.send_header("Cache-Control", "private")
        if announce_close:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.wfile.flush()
        return len(body)

    def hang(self, seconds):
        """Accept the request and never answer: wait until the client gives up or time runs out."""
        deadline = time.monotonic() + seconds
        conn = self.connection
        while not STOP.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return "timeout"
            try:
                readable, _, _ = select.select([conn], [], [], min(0.2, left))
            except (OSError, ValueError):
                return "client closed"
            if readable:
                try:
                    conn.settimeout(0.5)
                    if conn.recv(1) == b"":
                        return "client closed"
                except (OSError, ssl.SSLError):
                    return "client closed"
        return "server stopping"

    # ---------------------------------------------------------------- dispatch

    def dispatch(self):
        state = self.server.state
        started = time.monotonic()
        raw_path, _, raw_query = self.path.partition("?")
        if raw_path.startswith("http://") or raw_path.startswith("https://"):
            raw_path = "/" + raw_path.split("/", 3)[-1] if raw_path.count("/") >= 3 else "/"
        entry = {"method": self.command, "path": raw_path, "query": raw_query}
        try:
            params = {}
            for k, v in urllib.parse.parse_qsl(raw_query, keep_blank_values=True):
                params.setdefault(k, []).append(v)
        except ValueError:
            params = {}
        entry["params"] = params
        if raw_path.startswith("/_emulator/") or raw_path == "/_emulator":
            self.dispatch_control(raw_path, params)
            return

        mangle = None
        service = service_of(raw_path)
        try:
            self.req_body = self.read_body(MAX_API_BODY)
        except ControlError as e:
            self.close_connection = True
            reply = Reply(e.status, dumps({"error": {"code": e.status, "message": str(e),
                                                     "status": "INVALID_ARGUMENT"}}, True))
            self.send_reply(reply, entry=entry, started=started)
            return
        except (OSError, ssl.SSLError):
            self.close_connection = True
            return
        fault = self.take_fault(raw_path)
        try:
            if fault is not None:
                entry["fault"] = fault.kind
                if fault.kind in ("429", "500", "503"):
                    raise fault_error(fault.kind, service, fault.retry_after)
                if fault.kind == "hang":
                    entry.update(status=None, hang="waiting")
                    self.server.record(entry)
                    outcome = self.hang(fault.seconds)
                    self.close_connection = True
                    with state.lock:
                        entry.update(hang=outcome, durationMs=int((time.monotonic() - started) * 1000))
                    return
                if fault.kind == "expire_tokens":
                    with state.lock:
                        for t in state.tokens.values():
                            t["revoked"] = True
                else:
                    mangle = fault.kind
            latency = state.config["latencyMs"]
            if latency and service and service != "oauth2":
                STOP.wait(latency / 1000.0)
            reply = self.route(raw_path, params, entry)
        except ApiError as e:
            reply = Reply(e.status, dumps(e.body, True) + "\n", e.headers)
        except ControlError as e:
            reply = Reply(e.status, dumps({"error": {"code": e.status, "message": str(e),
                                                     "status": "INVALID_ARGUMENT"}}, True))
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, socket.timeout):
            self.close_connection = True
            return
        except Exception as e:          # a bug in the emulator: answer 500 and say so
            self.server.log_line("internal error on %s %s: %r" % (self.command, raw_path, e))
            reply = Reply(500, dumps({"error": {"code": 500, "status": "INTERNAL",
                                                "message": "emulator bug: %r" % e}}, True))
        try:
            self.send_reply(reply, mangle, entry, started)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, socket.timeout):
            self.close_connection = True
            with state.lock:
                entry["bytes"] = None

    def take_fault(self, raw_path):
        state = self.server.state
        decoded = urllib.parse.unquote(raw_path)
        with state.lock:
            for f in state.faults:
                if not (raw_path.startswith(f.path) or decoded.startswith(f.path)):
                    continue
                if f.method and f.method != self.command:
                    continue
                f.hits += 1
                if f.hits <= f.after:
                    continue
                if f.count != -1:
                    f.count -= 1
                    if f.count == 0:
                        state.faults.remove(f)
                return f
        return None

    def route(self, raw_path, params, entry):
        if raw_path == "/token":
            if self.command != "POST":
                return not_found_html(raw_path)
            return self.token_endpoint(entry)
        segs = raw_path.split("/")[1:]           # split before decoding: %2F stays inside a segment
        try:
            segs = [urllib.parse.unquote(s, errors="strict") for s in segs]
        except UnicodeDecodeError:
            return not_found_html(raw_path)
        if self.command not in ("GET", "HEAD"):
            return not_found_html(raw_path)
        n = len(segs)
        if n >= 3 and segs[0] == "v1" and segs[1] == "forms" and segs[2]:
            if n == 3:
                return self.forms_get(segs[2], params, entry)
            if n == 4 and segs[3] == "responses":
                return self.responses_list(segs[2], params, entry)
            if n == 5 and segs[3] == "responses" and segs[4]:
                return self.responses_get(segs[2], segs[4], params, entry)
        if n >= 3 and segs[0] == "v4" and segs[1] == "spreadsheets" and segs[2]:
            if n == 3:
                return self.spreadsheets_get(segs[2], params, entry)
            if n == 5 and segs[3] == "values" and segs[4]:
                return self.values_get(segs[2], segs[4], params, entry)
        if n == 4 and segs[0] == "drive" and segs[1] == "v3" and segs[2] == "files" and segs[3]:
            return self.drive_files_get(segs[3], params, entry)
        return not_found_html(raw_path)

    # ---------------------------------------------------------------- auth

    def authenticate(self, params, scopes, service, method, entry):
        state = self.server.state
        header = self.headers.get("Authorization")
        token = None
        if header is not None:
            scheme, _, value = header.strip().partition(" ")
            token = value.strip() if scheme.lower() == "bearer" and value.strip() else ""
        elif param(params, "access_token"):
            token = param(params, "access_token")
        elif param(params, "oauth_token"):
            token = param(params, "oauth_token")
        drive = service == "drive.googleapis.com"
        if token is None:
            entry["auth"] = "missing"
            details = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                        "reason": "CREDENTIALS_MISSING", "domain": "googleapis.com",
                        "metadata": {"service": service, "method": method}}]
            hdr = {"WWW-Authenticate": REALM}
            if drive:
                raise drive_error(401, MSG_401_MISSING, "required", location="Authorization",
                                  location_type="header", status="UNAUTHENTICATED",
                                  details=details, headers=hdr)
            raise google_error(401, "UNAUTHENTICATED", MSG_401_MISSING, details, hdr)
        with state.lock:
            rec = state.tokens.get(token)
            now = time.time()
            if rec is None or rec["revoked"] or rec["expiresAt"] <= now:
                reason = "ACCESS_TOKEN_TYPE_UNSUPPORTED" if rec is None else "ACCESS_TOKEN_EXPIRED"
                entry["auth"] = "invalid" if rec is None else "expired"
                details = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                            "reason": reason, "domain": "googleapis.com",
                            "metadata": {"service": service, "method": method}}]
                hdr = {"WWW-Authenticate": REALM + ', error="invalid_token"'}
                if drive:
                    raise drive_error(401, MSG_401_INVALID, "authError", location="Authorization",
                                      location_type="header", status="UNAUTHENTICATED",
                                      details=details, headers=hdr)
                raise google_error(401, "UNAUTHENTICATED", MSG_401_INVALID, details, hdr)
            entry["auth"] = "ok"
            entry["tokenScopes"] = rec["scopes"]
            if state.config["enforceScopes"] and not scopes.intersection(rec["scopes"]):
                details = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                            "reason": "ACCESS_TOKEN_SCOPE_INSUFFICIENT", "domain": "googleapis.com",
                            "metadata": {"service": service, "method": method}}]
                hdr = {"WWW-Authenticate": REALM + ', error="insufficient_scope", scope="%s"'
                       % " ".join(sorted(scopes))}
                entry["auth"] = "insufficient_scope"
                if drive:
                    raise drive_error(403, "Request had insufficient authentication scopes.",
                                      "insufficientPermissions", status="PERMISSION_DENIED",
                                      details=details, headers=hdr)
                raise google_error(403, "PERMISSION_DENIED",
                                   "Request had insufficient authentication scopes.", details, hdr)
            entry["user"] = rec.get("user")
            refused = state.quota.take(rec.get("user"), quota_metric(method))
            if refused is not None:
                entry["quota"] = "exceeded"
                raise refused

    def common_options(self, params):
        alt = param(params, "alt", "json")
        if alt != "json":
            raise invalid_argument("Request contains an invalid argument.",
                                   "the emulator only serves alt=json")
        pretty = bool_param(params, "prettyPrint", True)
        fields = param(params, "fields")
        tree = None
        if fields is not None and fields != "":
            try:
                tree = parse_fields(fields)
            except ValueError:
                raise invalid_argument("Request contains an invalid argument.",
                                       "Invalid field selection %s" % fields) from None
        return pretty, tree

    def json_reply(self, obj, pretty, tree=None):
        if tree is not None:
            obj = apply_fields(obj, tree)
        return Reply(200, dumps(obj, pretty) + ("\n" if pretty else ""))

    # ---------------------------------------------------------------- OAuth

    def token_endpoint(self, entry):
        state = self.server.state
        body = self.req_body
        if len(body) > 65536:
            raise oauth_error(400, "invalid_request", "Request body too large.")
        ctype = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if ctype != "application/x-www-form-urlencoded":
            raise oauth_error(400, "invalid_request",
                              "Content-Type must be application/x-www-form-urlencoded.")
        try:
            form = urllib.parse.parse_qs(body.decode("utf-8"), keep_blank_values=True,
                                         strict_parsing=False)
        except (UnicodeDecodeError, ValueError):
            raise oauth_error(400, "invalid_request", "Malformed request body.") from None
        grant = form.get("grant_type", [None])[0]
        if not grant:
            raise oauth_error(400, "invalid_request", "Missing required parameter: grant_type")
        if grant != JWT_BEARER:
            raise oauth_error(400, "unsupported_grant_type", "Invalid grant_type: %s" % grant)
        assertion = form.get("assertion", [None])[0]
        if not assertion:
            raise oauth_error(400, "invalid_request", "Missing required parameter: assertion")
        host = self.headers.get("Host", "")
        own = {"https://%s/token" % h for h in
               ("127.0.0.1:%d" % state.port, "localhost:%d" % state.port, "[::1]:%d" % state.port, host) if h}
        claims = verify_assertion(state, assertion, own)
        with state.lock:
            lifetime = state.config["tokenLifetime"]
            length = state.config["tokenLength"]
            token = "ya29.c." + secrets.token_urlsafe(max(16, length * 3 // 4))[:max(16, length - 7)]
            now = time.time()
            if len(state.tokens) >= MAX_TOKENS:
                for k in [k for k, v in state.tokens.items() if v["expiresAt"] <= now or v["revoked"]]:
                    del state.tokens[k]
            scopes = claims["scope"].split()
            state.tokens[token] = {"token": token, "scopes": scopes, "issuedAt": now,
                                   "expiresAt": now + lifetime, "revoked": False,
                                   "sub": claims.get("sub"),
                                   # Quotas count per user: the impersonated user with
                                   # domain-wide delegation, else the service account.
                                   "user": claims.get("sub") or claims["iss"]}
        entry["tokenScopes"] = scopes
        return Reply(200, dumps({"access_token": token, "expires_in": lifetime,
                                 "token_type": "Bearer"}, True) + "\n",
                     {"Cache-Control": "no-cache, no-store, max-age=0, must-revalidate",
                      "Pragma": "no-cache"})

    # ---------------------------------------------------------------- Forms

    def lookup_form(self, form_id):
        form = self.server.state.forms.get(form_id)
        if form is None:
            raise google_error(404, "NOT_FOUND", "Requested entity was not found.")
        if not form.shared:
            raise google_error(403, "PERMISSION_DENIED", "The caller does not have permission")
        return form

    def forms_get(self, form_id, params, entry):
        params = check_params(params, set())
        pretty, tree = self.common_options(params)
        self.authenticate(params, SCOPES_FORMS_GET, "forms.googleapis.com",
                          "google.apps.forms.v1.FormsService.GetForm", entry)
        with self.server.state.lock:
            obj = self.lookup_form(form_id).to_api()
            return self.json_reply(obj, pretty, tree)

    def responses_list(self, form_id, params, entry):
        params = check_params(params, {"filter", "pageSize", "pageToken"})
        pretty, tree = self.common_options(params)
        self.authenticate(params, SCOPES_FORMS_RESPONSES, "forms.googleapis.com",
                          "google.apps.forms.v1.FormsService.ListFormResponses", entry)
        page_size = int32_param(params, "pageSize")
        if page_size is not None and page_size < 0:
            raise invalid_argument("Request contains an invalid argument.", "page_size must not be negative")
        if not page_size:
            page_size = MAX_PAGE_SIZE
        page_size = min(page_size, MAX_PAGE_SIZE)
        ftext = param(params, "filter")
        flt = parse_filter(ftext) if ftext not in (None, "") else None
        filter_key = "%s%d" % flt if flt else ""
        token = param(params, "pageToken")
        with self.server.state.lock:
            form = self.lookup_form(form_id)
            keys = form.keys
            if token:
                start = bisect.bisect_right(keys, decode_page_token(token, filter_key))
            elif flt is None:
                start = 0
            elif flt[0] == ">":
                start = bisect.bisect_right(keys, (flt[1], math.inf))
            else:
                start = bisect.bisect_left(keys, (flt[1], -1))
            page = form.responses[start:start + page_size]
            next_token = None
            if start + page_size < len(form.responses) and page:
                next_token = encode_page_token(filter_key, page[-1].key)
            if tree is not None:
                obj = {}
                if page:
                    obj["responses"] = [r.to_obj(form, False) for r in page]
                if next_token:
                    obj["nextPageToken"] = next_token
                return self.json_reply(obj, pretty, tree)
            items = [r.serialised(form, pretty) for r in page]
        # Assemble the page outside the lock from cached pieces.
        if pretty:
            parts = ["{"]
            if items:
                parts += ['\n  "responses": [\n', ",\n".join(items), "\n  ]"]
            if next_token:
                parts += [",\n" if items else "\n", '  "nextPageToken": ', jstr(next_token)]
            parts.append("\n}\n" if (items or next_token) else "}\n")
        else:
            parts = ["{"]
            if items:
                parts += ['"responses":[', ",".join(items), "]"]
            if next_token:
                parts += ["," if items else "", '"nextPageToken":', jstr(next_token)]
            parts.append("}")
        return Reply(200, "".join(parts))

    def responses_get(self, form_id, response_id, params, entry):
        params = check_params(params, set())
        pretty, tree = self.common_options(params)
        self.authenticate(params, SCOPES_FORMS_RESPONSES, "forms.googleapis.com",
                          "google.apps.forms.v1.FormsService.GetFormResponse", entry)
        with self.server.state.lock:
            form = self.lookup_form(form_id)
            resp = form.by_id.get(response_id)
            if resp is None:
                raise google_error(404, "NOT_FOUND", "Requested entity was not found.")
            return self.json_reply(resp.to_obj(form, True), pretty, tree)

    # ---------------------------------------------------------------- Sheets

    def lookup_sheet(self, sid):
        ss = self.server.state.sheets.get(sid)
        if ss is None:
            raise google_error(404, "NOT_FOUND", "Requested entity was not found.")
        if not ss.shared:
            raise google_error(403, "PERMISSION_DENIED", "The caller does not have permission")
        return ss

    def spreadsheets_get(self, sid, params, entry):
        params = check_params(params, {"includeGridData", "ranges", "excludeTablesInBandedRanges"})
        pretty, tree = self.common_options(params)
        bool_param(params, "includeGridData", False)
        bool_param(params, "excludeTablesInBandedRanges", False)
        self.authenticate(params, SCOPES_SHEETS_READ, "sheets.googleapis.com",
                          "google.apps.sheets.v4.SpreadsheetsService.GetSpreadsheet", entry)
        with self.server.state.lock:
            ss = self.lookup_sheet(sid)
            for r in params.get("ranges", []):
                parse_a1(r, ss)            # validates like Sheets; grid data is not returned
            return self.json_reply(ss.to_api(), pretty, tree)

    def values_get(self, sid, rng, params, entry):
        params = check_params(params, {"majorDimension", "valueRenderOption", "dateTimeRenderOption"})
        pretty, tree = self.common_options(params)
        major = enum_param(params, "majorDimension", ("DIMENSION_UNSPECIFIED", "ROWS", "COLUMNS"),
                           "type.googleapis.com/google.apps.sheets.v4.Dimension", "ROWS")
        vro = enum_param(params, "valueRenderOption", ("FORMATTED_VALUE", "UNFORMATTED_VALUE", "FORMULA"),
                         "type.googleapis.com/google.apps.sheets.v4.ValueRenderOption", "FORMATTED_VALUE")
        dtro = enum_param(params, "dateTimeRenderOption", ("SERIAL_NUMBER", "FORMATTED_STRING"),
                          "type.googleapis.com/google.apps.sheets.v4.DateTimeRenderOption", "SERIAL_NUMBER")
        if major == "DIMENSION_UNSPECIFIED":
            major = "ROWS"
        self.authenticate(params, SCOPES_SHEETS_READ, "sheets.googleapis.com",
                          "google.apps.sheets.v4.SpreadsheetsService.GetValues", entry)
        state = self.server.state
        with state.lock:
            ss = self.lookup_sheet(sid)
            version = state.files[sid].version if sid in state.files else 0
            cache_key = (version, rng, major, vro, dtro, pretty, param(params, "fields"))
            cached = ss.render_cache.get(cache_key)
            if cached is not None:
                return Reply(200, cached)
            sh, c0, r0, c1, r1 = parse_a1(rng, ss)
            serial_numbers = dtro == "SERIAL_NUMBER"
            values = []
            last_nonempty = -1
            for i in range(r0, min(r1, len(sh.rows) - 1) + 1):
                row = [render_cell(c, vro, serial_numbers, sh) for c in sh.rows[i][c0:c1 + 1]]
                end = len(row)
                while end and row[end - 1] is None:      # bounded by the row length
                    end -= 1
                row = ["" if c is None else c for c in row[:end]]
                if row:
                    last_nonempty = len(values)
                values.append(row)
            del values[last_nonempty + 1:]
            if major == "COLUMNS":
                width = max((len(r) for r in values), default=0)
                cols = []
                for j in range(width):
                    col = [r[j] if j < len(r) else "" for r in values]
                    end = len(col)
                    while end and col[end - 1] == "":
                        end -= 1
                    cols.append(col[:end])
                while cols and not cols[-1]:
                    cols.pop()
                values = cols
            obj = {"range": a1_string(sh, c0, r0, c1, r1), "majorDimension": major}
            if values:
                obj["values"] = values
            if tree is not None:
                obj = apply_fields(obj, tree)
            body = (dumps(obj, pretty) + ("\n" if pretty else "")).encode("utf-8")
            ss.render_cache[cache_key] = body
            while len(ss.render_cache) > 8:
                ss.render_cache.popitem(last=False)
            return Reply(200, body)

    # ---------------------------------------------------------------- Drive

    def drive_files_get(self, file_id, params, entry):
        fields = param(params, "fields")
        pretty = bool_param(params, "prettyPrint", True)
        self.authenticate(params, SCOPES_DRIVE_FILES_GET, "drive.googleapis.com",
                          "google.apps.drive.v3.DriveFiles.Get", entry)
        tree = None
        if fields:
            try:
                tree = parse_fields(fields)
            except ValueError:
                tree = {"": None}
            for name in tree:
                if name != "*" and name not in DRIVE_FILE_FIELDS:
                    msg = "Invalid field selection %s" % name
                    raise drive_error(400, msg, "invalidParameter", location="fields",
                                      location_type="parameter")
        state = self.server.state
        with state.lock:
            f = state.files.get(file_id)
            res = None
            if f is not None:
                res = state.forms.get(file_id) if f.kind == "form" else state.sheets.get(file_id)
            if res is None or not res.shared:
                # Drive answers 404, not 403, for files the caller cannot see.
                msg = "File not found: %s." % file_id
                raise drive_error(404, msg, "notFound", location="fileId", location_type="parameter")
            if param(params, "alt") == "media":
                raise drive_error(403, "Only files with binary content can be downloaded. Use Export "
                                  "with Docs Editors files.", "fileNotDownloadable",
                                  location="alt", location_type="parameter")
            seen_version, seen_modified = f.seen(state.config["driveLagMs"])
            if f.kind == "form":
                name, mime = res.document_title, MIME_FORM
                link = "https://docs.google.com/forms/d/%s/edit" % file_id
            else:
                name, mime = res.title, MIME_SHEET
                link = "https://docs.google.com/spreadsheets/d/%s/edit" % file_id
            full = {"kind": "drive#file", "id": file_id, "name": name, "mimeType": mime,
                    "starred": False, "trashed": False, "explicitlyTrashed": False,
                    "spaces": ["drive"], "version": str(seen_version),
                    "webViewLink": link, "createdTime": format_drive_time(f.created_ns),
                    "modifiedTime": format_drive_time(seen_modified),
                    "shared": True, "ownedByMe": False}
        if tree is None:
            obj = {k: full[k] for k in DRIVE_DEFAULT_FIELDS}
        else:
            obj = apply_fields(full, tree)
        return Reply(200, dumps(obj, pretty) + ("\n" if pretty else ""))

    # ---------------------------------------------------------------- control API

    def dispatch_control(self, raw_path, params):
        state = self.server.state
        status, obj = 200, None
        try:
            body = self.read_body(MAX_CONTROL_BODY)
            spec = {}
            if body.strip():
                try:
                    spec = json.loads(body)
                except (ValueError, UnicodeDecodeError) as e:
                    raise ControlError("request body is not JSON: %s" % e) from None
            segs = [urllib.parse.unquote(s) for s in raw_path.split("/")[2:]]
            with state.lock:
                status, obj = self.control(segs, spec, params)
        except ControlError as e:
            status, obj = e.status, {"error": str(e)}
        except (OSError, ssl.SSLError):
            self.close_connection = True
            return
        except Exception as e:          # a bug, or a fixture the checks above missed
            self.server.log_line("control error on %s %s: %r" % (self.command, raw_path, e))
            status, obj = 500, {"error": "emulator error: %r" % e}
        reply = Reply(status, dumps(obj, False) + "\n")
        try:
            self.send_reply(reply)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, socket.timeout):
            self.close_connection = True

    def control(self, segs, spec, params):
        state = self.server.state
        m = self.command
        n = len(segs)
        if segs == ["health"] and m == "GET":
            return 200, {"ok": True, "port": state.port}
        if segs == ["reset"] and m == "POST":
            state.forms.clear()
            state.sheets.clear()
            state.files.clear()
            state.tokens.clear()
            state.faults.clear()
            state.log.clear()
            state.quota = Quota()
            state.config = dict(state.startup_config)
            return 200, {"ok": True}
        if segs == ["config"]:
            if m == "POST":
                require(isinstance(spec, dict), "config must be an object")
                for k, v in spec.items():
                    require(k in state.config, "unknown config key %r (known: %s)"
                            % (k, ", ".join(sorted(state.config))))
                    require(type(v) is type(state.config[k]), "config %s must be a %s"
                            % (k, type(state.config[k]).__name__))
                    limits = {"tokenLifetime": (0, 86400), "latencyMs": (0, 600000),
                              "tokenLength": (16, 4096), "driveLagMs": (0, 3600000)}
                    if k in limits:
                        require(limits[k][0] <= v <= limits[k][1], "config %s must be between %d and %d"
                                % (k, limits[k][0], limits[k][1]))
                for k, v in spec.items():
                    state.config[k] = v
                return 200, dict(state.config)
            if m == "GET":
                return 200, dict(state.config)
        if segs == ["faults"]:
            if m == "POST":
                specs = spec if isinstance(spec, list) else [spec]
                made = [Fault(s) for s in specs]
                state.faults.extend(made)
                return 200, {"faults": [f.to_json() for f in state.faults]}
            if m == "GET":
                return 200, {"faults": [f.to_json() for f in state.faults]}
            if m == "DELETE":
                state.faults.clear()
                return 200, {"faults": []}
        if segs == ["requests"]:
            if m == "GET":
                prefix = param(params, "path", "")
                since = param(params, "since", "0") or "0"
                require(since.isdigit(), "since must be a sequence number")
                since = int(since)
                # Copies, taken under the lock: an entry is logged before its answer goes out
                # and may still be completed (a hang's outcome) while this answer is written.
                reqs = [dict(e) for e in state.log
                        if e["seq"] > since and (not prefix or e["path"].startswith(prefix)
                                                 or urllib.parse.unquote(e["path"]).startswith(prefix))]
                return 200, {"requests": reqs, "lastSeq": state.log_seq}
            if m == "DELETE":
                state.log.clear()
                return 200, {"requests": [], "lastSeq": state.log_seq}
        if segs == ["quota"]:
            if m == "POST":
                state.quota.configure(spec)
                return 200, state.quota.to_json()
            if m == "GET":
                return 200, state.quota.to_json()
            if m == "DELETE":
                state.quota.counts.clear()
                return 200, state.quota.to_json()
        if segs == ["tokens"]:
            now = time.time()
            if m == "GET":
                return 200, {"tokens": [dict(t, valid=not t["revoked"] and t["expiresAt"] > now)
                                        for t in state.tokens.values()]}
            if m == "DELETE":
                for t in state.tokens.values():
                    t["revoked"] = True
                return 200, {"expired": len(state.tokens)}
        if n >= 2 and segs[0] == "forms" and segs[1]:
            return self.control_forms(segs[1], segs[2:], spec)
        if n >= 2 and segs[0] == "sheets" and segs[1]:
            return self.control_sheets(segs[1], segs[2:], spec)
        raise ControlError("no such control endpoint: %s /_emulator/%s" % (m, "/".join(segs)), 404)

    def control_forms(self, form_id, rest, spec):
        state = self.server.state
        m = self.command
        if not rest:
            if m == "PUT":
                require(isinstance(spec, dict), "body must be an object")
                require(form_id not in state.sheets, "id %r is already a spreadsheet" % form_id)
                old = state.forms.get(form_id)
                form = Form(form_id)
                if old is not None:
                    form.revision = old.revision
                apply_form_spec(state, form, spec, partial=False)
                form.shared = get_bool(spec, "shared", True)
                state.forms[form_id] = form
                state.drive_file(form_id, "form").touch()
                for r in spec.get("responses", []):
                    resp = new_response(state, form, r, now_ns())
                    form.insert(resp)
                    mirror_row(state, form, resp, replace=False)
                return 200, form.to_api()
            form = state.forms.get(form_id)
            if form is None:
                raise ControlError("no form %r" % form_id, 404)
            if m == "PATCH":
                require(isinstance(spec, dict), "body must be an object")
                apply_form_spec(state, form, spec, partial=True)
                state.touch(form_id)
                return 200, form.to_api()
            if m == "GET":
                obj = form.to_api()
                obj["_emulator"] = {"responses": len(form.responses), "shared": form.shared,
                                    "version": state.files[form_id].version,
                                    "mirrorToSheet": form.mirror_to_sheet}
                return 200, obj
            if m == "DELETE":
                del state.forms[form_id]
                state.files.pop(form_id, None)
                return 200, {"deleted": form_id}
            raise ControlError("method not allowed", 405)
        form = state.forms.get(form_id)
        if form is None:
            raise ControlError("no form %r" % form_id, 404)
        if rest == ["responses"]:
            if m == "POST":
                resp = new_response(state, form, spec, now_ns())
                form.insert(resp)
                mirror_row(state, form, resp, replace=False)
                self.after_form_change(form)
                return 200, resp.to_obj(form, True)
            if m == "GET":
                return 200, {"responses": [r.to_obj(form, True) for r in form.responses]}
            if m == "DELETE":
                form.responses, form.keys, form.by_id = [], [], {}
                self.after_form_change(form, sheet=False)
                return 200, {"deleted": "all"}
        if rest and rest[0] == "items":
            return self.control_items(form, rest[1:], spec)
        if rest == ["responses:bulk"] and m == "POST":
            require(isinstance(spec, dict), "body must be an object")
            return 200, bulk_responses(state, form, spec)
        if len(rest) == 2 and rest[0] == "responses":
            resp = form.by_id.get(rest[1])
            if resp is None:
                raise ControlError("no response %r in form %r" % (rest[1], form_id), 404)
            if m == "GET":
                return 200, resp.to_obj(form, True)
            if m == "DELETE":
                # Deleting a response in Forms leaves its row in the linked sheet.
                form.remove(resp)
                self.after_form_change(form, sheet=False)
                return 200, {"deleted": resp.rid}
            if m == "PATCH":
                require(isinstance(spec, dict), "body must be an object")
                form.remove(resp)
                try:
                    resp.last_ns = parse_rfc3339(spec["lastSubmittedTime"]) \
                        if "lastSubmittedTime" in spec else now_ns()
                    if "createTime" in spec:
                        resp.create_ns = parse_rfc3339(spec["createTime"])
                except ValueError as e:
                    form.insert(resp)
                    raise ControlError(str(e)) from e
                if "respondentEmail" in spec:
                    resp.email = get_str(spec, "respondentEmail", allow_none=True)
                if "answers" in spec:
                    try:
                        resp.answers = resolve_answers(form, spec["answers"])
                    except ControlError:
                        form.insert(resp)
                        raise
                resp.seq = form.next_seq()
                resp.cache = None
                form.insert(resp)
                mirror_row(state, form, resp, replace=True)
                self.after_form_change(form)
                return 200, resp.to_obj(form, True)
        raise ControlError("no such control endpoint for forms", 404)

    def control_items(self, form, rest, spec):
        """One question at a time, as an editor changes a form: its ids stay
        with it; a deleted question's ids are never used again, so a question
        added back gets new ones, and older responses keep their answers
        under the old questionId only."""
        state = self.server.state
        m = self.command
        if not rest and m == "POST":
            require(isinstance(spec, dict), "body must be an object")
            index = spec.get("index", len(form.items))
            require(isinstance(index, int) and not isinstance(index, bool) and 0 <= index <= len(form.items),
                    "index must be 0..%d" % len(form.items))
            item_spec = {k: v for k, v in spec.items() if k != "index"}
            for key in ("questionId", "itemId"):
                given = item_spec.get(key)
                require(given is None or (given not in form.used_ids and given not in form.questions),
                        "%s %r was already used in this form: Forms gives a new question new ids" % (key, given))
            before = len(form.items)
            build_items(form, form.items + [item_spec])
            require(len(form.items) == before + 1, "the item was not added")
            form.items.insert(index, form.items.pop())
            rebuild_questions(form)
            form.revision += 1
            form.gen += 1
            state.touch(form.form_id)
            return 200, form.items[index]
        require(len(rest) == 1, "no such control endpoint for items")
        i = find_item(form, rest[0])
        if i is None:
            raise ControlError("no item %r in form %r" % (rest[0], form.form_id), 404)
        item = form.items[i]
        if m == "PATCH":
            require(isinstance(spec, dict), "body must be an object")
            require(set(spec) <= {"title", "description"}, "only title and description can be changed here")
            if "title" in spec:
                item["title"] = get_str(spec, "title")
            if "description" in spec:
                item["description"] = get_str(spec, "description")
        elif m == "DELETE":
            del form.items[i]
            form.used_ids.add(item.get("itemId"))
            q = item.get("questionItem", {}).get("question")
            if q is not None:
                form.used_ids.add(q.get("questionId"))
        elif m != "GET":
            raise ControlError("method not allowed", 405)
        if m != "GET":
            rebuild_questions(form)
            form.revision += 1
            form.gen += 1
            state.touch(form.form_id)
        return 200, item

    def after_form_change(self, form, sheet=True):
        state = self.server.state
        state.touch(form.form_id)
        if sheet and form.mirror_to_sheet and form.linked_sheet_id in state.sheets:
            state.touch(form.linked_sheet_id)
            state.sheets[form.linked_sheet_id].render_cache.clear()

    def control_sheets(self, sid, rest, spec):
        state = self.server.state
        m = self.command
        if not rest:
            if m == "PUT":
                require(isinstance(spec, dict), "body must be an object")
                require(sid not in state.forms, "id %r is already a form" % sid)
                ss = Spreadsheet(sid)
                apply_sheet_spec(state, ss, spec, partial=False)
                state.sheets[sid] = ss
                state.drive_file(sid, "sheet").touch()
                return 200, ss.to_api()
            ss = state.sheets.get(sid)
            if ss is None:
                raise ControlError("no spreadsheet %r" % sid, 404)
            if m == "PATCH":
                require(isinstance(spec, dict), "body must be an object")
                apply_sheet_spec(state, ss, spec, partial=True)
                state.touch(sid)
                return 200, ss.to_api()
            if m == "GET":
                obj = ss.to_api()
                obj["_emulator"] = {"shared": ss.shared, "version": state.files[sid].version,
                                    "rows": {sh.title: len(sh.rows) for sh in ss.sheets}}
                return 200, obj
            if m == "DELETE":
                del state.sheets[sid]
                state.files.pop(sid, None)
                return 200, {"deleted": sid}
            raise ControlError("method not allowed", 405)
        ss = state.sheets.get(sid)
        if ss is None:
            raise ControlError("no spreadsheet %r" % sid, 404)
        require(isinstance(spec, dict), "body must be an object")
        if rest in (["rows"], ["rows:bulk"]) and m == "POST":
            if rest == ["rows"]:
                require("rows" in spec, "rows is required")
            return 200, bulk_rows(state, ss, spec)
        if len(rest) == 2 and rest[0] == "rows" and m == "DELETE":
            sh = control_sheet_for(ss, spec)
            require(rest[1].isdigit() and 1 <= int(rest[1]) <= len(sh.rows),
                    "row must be a row number between 1 and %d" % len(sh.rows))
            del sh.rows[int(rest[1]) - 1]
            for form in state.forms.values():        # keep mirrored row numbers right
                if form.linked_sheet_id == sid:
                    gone = int(rest[1]) - 1
                    form.sheet_rows = {k: (v - 1 if v > gone else v)
                                       for k, v in form.sheet_rows.items() if v != gone}
            ss.render_cache.clear()
            state.touch(sid)
            return 200, {"deleted": int(rest[1]), "rows": len(sh.rows)}
        if rest == ["cell"] and m == "PATCH":
            sh = control_sheet_for(ss, spec)
            cell = parse_cells(get_str(spec, "cell", ""))
            require(cell is not None and cell[0] == cell[2] and cell[1] == cell[3],
                    "cell must be a single cell like C5")
            col, row = cell[0], cell[1]
            require(row < 10_000_000 and col < 18278, "cell out of range")
            while len(sh.rows) <= row:                 # bounded by the check above
                sh.rows.append([])
            r = sh.rows[row]
            if len(r) <= col:
                r.extend([None] * (col + 1 - len(r)))
            r[col] = parse_cell(spec.get("value"), ss)
            sh.grow_to_fit([r])
            ss.render_cache.clear()
            state.touch(sid)
            return 200, {"cell": "%s!%s%d" % (quote_sheet(sh.title), col_letters(col), row + 1)}
        raise ControlError("no such control endpoint for sheets", 404)


# --------------------------------------------------------------------------
# Server
# --------------------------------------------------------------------------

class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, addr, ssl_ctx, state, log_file):
        host = addr[0]
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.ssl_ctx = ssl_ctx
        self.state = state
        self.log_file = log_file
        self.log_lock = threading.Lock()
        super().__init__(addr, Handler)

    def server_bind(self):
        # HTTPServer.server_bind would call socket.getfqdn(); no name lookups here.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def finish_request(self, request, client_address):
        # The TLS handshake runs here, in the connection's own thread, so a
        # slow or hostile client cannot stall the accept loop.
        request.settimeout(30)
        # Answers go out in more than one write (headers, then body): without
        # TCP_NODELAY, Nagle and delayed ACKs hold each one ~40 ms.
        request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            tls = self.ssl_ctx.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as e:
            self.log_line("%s TLS handshake failed: %s" % (client_address[0], e))
            request.close()
            return
        try:
            self.RequestHandlerClass(tls, client_address, self)
        except (ConnectionError, ssl.SSLError, socket.timeout, OSError):
            pass
        finally:
            try:
                tls.close()
            except OSError:
                pass

    def handle_error(self, request, client_address):
        self.log_line("%s error: %s" % (client_address[0], sys.exc_info()[1]))

    def log_line(self, text):
        if self.log_file is None:
            return
        with self.log_lock:
            self.log_file.write("%s %s\n" % (format_drive_time(now_ns()), text))
            self.log_file.flush()

    def record(self, entry):
        state = self.state
        with state.lock:
            state.log_seq += 1
            entry["seq"] = state.log_seq
            entry["time"] = format_rfc3339(now_ns())
            state.log.append(entry)
        self.log_line("%s %s%s -> %s%s" % (entry["method"], entry["path"],
                                           "?" + entry["query"] if entry["query"] else "",
                                           entry.get("status"),
                                           " [fault %s]" % entry["fault"] if "fault" in entry else ""))


def load_public_key(path):
    data = open(path, "rb").read()
    if b"BEGIN CERTIFICATE" in data:
        key = x509.load_pem_x509_certificate(data).public_key()
    else:
        key = serialization.load_pem_public_key(data)
    if not isinstance(key, rsa.RSAPublicKey):
        raise SystemExit("emulator: %s is not an RSA public key" % path)
    return key


def write_port_file(path, port):
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "w") as f:
        f.write("%d\n" % port)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def preload(state, path):
    """--load FILE: {"sheets": {id: spec}, "forms": {id: spec}} applied at start."""
    with open(path) as f:
        data = json.load(f)
    for sid, spec in data.get("sheets", {}).items():
        ss = Spreadsheet(sid)
        apply_sheet_spec(state, ss, spec, partial=False)
        state.sheets[sid] = ss
        state.drive_file(sid, "sheet").touch()
    for fid, spec in data.get("forms", {}).items():
        form = Form(fid)
        apply_form_spec(state, form, spec, partial=False)
        form.shared = spec.get("shared", True)
        state.forms[fid] = form
        state.drive_file(fid, "form").touch()
        for r in spec.get("responses", []):
            resp = new_response(state, form, r, now_ns())
            form.insert(resp)
            mirror_row(state, form, resp, replace=False)


def main(argv=None):
    ap = argparse.ArgumentParser(description="Local emulator of Google's token endpoint, "
                                 "Forms v1, Sheets v4 and Drive v3 files.get (test fixture).")
    ap.add_argument("--listen", default="127.0.0.1", help="loopback address to bind (default 127.0.0.1)")
    ap.add_argument("--port", type=int, default=0, help="port; 0 picks a free one (default)")
    ap.add_argument("--cert", required=True, help="server certificate chain (PEM)")
    ap.add_argument("--key", required=True, help="server private key (PEM)")
    ap.add_argument("--service-account-pubkey", required=True,
                    help="the service account's RSA public key or certificate (PEM)")
    ap.add_argument("--client-email", required=True, help="the service account's client_email")
    ap.add_argument("--key-id", default=None,
                    help="private_key_id; when given, a JWT header kid must match it")
    ap.add_argument("--port-file", default=None, help="write the bound port here once listening")
    ap.add_argument("--log", default=None, help="append a line per request here")
    ap.add_argument("--token-lifetime", type=int, default=3599, help="expires_in of issued tokens")
    ap.add_argument("--load", default=None, help="JSON fixture to load at start")
    args = ap.parse_args(argv)

    try:
        if not ipaddress.ip_address(args.listen).is_loopback:
            raise SystemExit("emulator: refusing to listen on non-loopback address %s" % args.listen)
    except ValueError:
        raise SystemExit("emulator: --listen must be a loopback IP address, not %r" % args.listen) from None
    if not 0 <= args.port <= 65535:
        raise SystemExit("emulator: bad --port")

    state = State(args.client_email, load_public_key(args.service_account_pubkey),
                  args.key_id, args.token_lifetime)
    if args.load:
        try:
            preload(state, args.load)
        except (OSError, ValueError, ControlError) as e:
            raise SystemExit("emulator: cannot load %s: %s" % (args.load, e)) from None

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(args.cert, args.key)
    ctx.set_alpn_protocols(["http/1.1"])

    log_file = open(args.log, "a", encoding="utf-8") if args.log else None
    server = Server((args.listen, args.port), ctx, state, log_file)
    state.port = server.server_address[1]

    def on_signal(signum, frame):
        STOP.set()
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    if args.port_file:
        write_port_file(args.port_file, state.port)
    server.log_line("listening on https://%s:%d/" % (args.listen, state.port))
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        server.log_line("stopped")
        if args.port_file:
            try:
                os.unlink(args.port_file)
            except OSError:
                pass
        if log_file:
            log_file.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
