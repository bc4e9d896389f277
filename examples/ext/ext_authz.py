#!/usr/bin/env python3
"""ext_authz program: decides one scope of one token request.

stdin is the request as JSON, with docker_auth's field names:
  {"Account": "cicd", "Type": "repository", "Name": "ci/app", "Service": "registry",
   "IP": "10.0.0.7", "Actions": ["pull", "push"], "Labels": {"group": ["CICD"]}}
("IP" is "" when unknown.) Answer by exit status:
  exit 0, nothing printed         -> grant the requested actions
  exit 0, a JSON list printed     -> grant exactly those (of the requested; "*" = all requested)
  exit 1                          -> deny (the scope is in the token with no actions)
  anything else                   -> error (the token request fails with a 503)

This one: the CICD group pushes and pulls ci/*; everyone logged in pulls ci/*; the
rest is denied.
"""
import json
import sys

req = json.load(sys.stdin)
labels = req.get("Labels") or {}
name = req["Name"]

if req["Type"] == "repository" and name.startswith("ci/"):
    if "CICD" in (labels.get("group") or []):
        sys.exit(0)                  # everything asked for
    if req["Account"]:
        print(json.dumps(["pull"]))  # only pull, whatever was asked for
        sys.exit(0)
sys.exit(1)
