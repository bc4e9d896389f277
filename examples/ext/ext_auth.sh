#!/usr/bin/env bash
# ext_auth program (docker_auth's contract, which regauth keeps):
#   stdin:  "USER PASSWORD"  (one line, no trailing newline; the password may contain spaces)
#   exit 0: allow; stdout may be {"labels": {"NAME": ["value", ...]}}, labels the ACL can match
#   exit 1: deny (wrong password: no other method is tried)
#   exit 2: no match (not this program's user: the next method decides)
#   other:  error (the token request fails with a 503; stderr goes to regauth's log)
#
# This one lets the CI robot "cicd" in with the secret in $CICD_SECRET and gives it the
# label group: [CICD]; the ACL entry {labels: {group: CICD}} then lets it push.
# regauth passes only the variables listed in ext_auth.env (plus PATH, HOME, LANG...),
# so CICD_SECRET must be listed there. See examples/ext/regauth-ext.yml.
IFS= read -r line || true   # no newline at the end: read "fails" but still fills $line
user=${line%% *}
pass=${line#* }

[ "$user" = "cicd" ] || exit 2
if [ -n "${CICD_SECRET:-}" ] && [ "$pass" = "$CICD_SECRET" ]; then
  echo '{"labels": {"group": ["CICD"]}}'
  exit 0
fi
echo "cicd: wrong secret" >&2   # goes to regauth's log (never the password itself)
exit 1
