#!/usr/bin/env python3
"""ext_auth program that asks an in-house user service over REST.

It POSTs {"user": ..., "password": ...} as JSON to $USER_SERVICE_URL (list USER_SERVICE_URL,
and USER_SERVICE_TOKEN if the service wants one, in ext_auth.env) and expects:
  200 {"groups": ["dev", ...]}  -> allow, with the label group: [dev, ...]
  401 or 403                    -> deny
  404                           -> not a user of this service: the next method decides
  anything else                 -> error (the token request fails with a 503)
Keep its own timeout below ext_auth.timeout_seconds, so that it can say why it failed.
"""
import json
import os
import sys
import urllib.error
import urllib.request

ALLOW, DENY, NO_MATCH, ERROR = 0, 1, 2, 3

user, _, password = sys.stdin.read().partition(" ")  # "USER PASSWORD", no newline
url = os.environ.get("USER_SERVICE_URL")
if not url:
    print("USER_SERVICE_URL is not set (list it in ext_auth.env)", file=sys.stderr)
    sys.exit(ERROR)

req = urllib.request.Request(
    url,
    data=json.dumps({"user": user, "password": password}).encode(),
    headers={"content-type": "application/json"},
    method="POST",
)
token = os.environ.get("USER_SERVICE_TOKEN")
if token:
    req.add_header("authorization", "Bearer " + token)

try:
    with urllib.request.urlopen(req, timeout=3) as resp:
        body = json.load(resp)
except urllib.error.HTTPError as e:
    if e.code in (401, 403):
        sys.exit(DENY)
    if e.code == 404:
        sys.exit(NO_MATCH)
    print(f"user service answered {e.code}", file=sys.stderr)
    sys.exit(ERROR)
except (urllib.error.URLError, OSError, ValueError) as e:
    print(f"user service unreachable or unreadable: {e}", file=sys.stderr)
    sys.exit(ERROR)

groups = [g for g in body.get("groups", []) if isinstance(g, str)]
print(json.dumps({"labels": {"group": groups}}))
sys.exit(ALLOW)
