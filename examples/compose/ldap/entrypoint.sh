#!/bin/sh
# Start slapd for the compose example: write slapd.conf from the environment, seed an empty
# directory once (root entry, then /seed/*.ldif through a running slapd so that the memberof
# overlay computes memberOf), then run slapd in the foreground as the openldap user.
set -eu

suffix=${LDAP_SUFFIX:?}
admin="cn=admin,$suffix"
if [ -n "${LDAP_ADMIN_PASSWORD:-}" ]; then password=$LDAP_ADMIN_PASSWORD
elif [ -r "${LDAP_ADMIN_PASSWORD_FILE:-}" ]; then password=$(cat "$LDAP_ADMIN_PASSWORD_FILE")
else echo "ldap: set LDAP_ADMIN_PASSWORD or mount a file at LDAP_ADMIN_PASSWORD_FILE" >&2; exit 2
fi

conf=/etc/ldap/slapd.conf
cat > "$conf" <<CONF
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload memberof
pidfile /run/slapd/slapd.pid
argsfile /run/slapd/slapd.args
database mdb
maxsize 104857600
suffix "$suffix"
rootdn "$admin"
rootpw $(slappasswd -h '{SSHA}' -s "$password")
directory /var/lib/ldap
overlay memberof
memberof-group-oc groupOfNames
memberof-member-ad member
memberof-memberof-ad memberOf
memberof-refint TRUE
CONF
chown root:openldap "$conf"
chmod 0640 "$conf"

ldapi="ldapi://%2Frun%2Fslapd%2Fldapi"
if [ ! -e /var/lib/ldap/data.mdb ]; then
  echo "ldap: first start, creating $suffix"
  slapd -f "$conf" -h "$ldapi" -u openldap -g openldap
  i=0
  until ldapsearch -x -H "$ldapi" -b "" -s base >/dev/null 2>&1; do
    i=$((i + 1)); [ "$i" -lt 100 ] || { echo "ldap: slapd did not start" >&2; exit 1; }
    sleep 0.1
  done
  rdn=${suffix%%,*}
  printf 'dn: %s\nobjectClass: dcObject\nobjectClass: organization\ndc: %s\no: %s\n' "$suffix" "${rdn#dc=}" "${LDAP_ORGANISATION:-$suffix}" |
    ldapadd -x -H "$ldapi" -D "$admin" -w "$password" >/dev/null
  for f in /seed/*.ldif; do
    [ -e "$f" ] || continue
    echo "ldap: loading $f"
    ldapadd -x -H "$ldapi" -D "$admin" -w "$password" -f "$f" >/dev/null
  done
  kill "$(cat /run/slapd/slapd.pid)"
  i=0
  while [ -e /run/slapd/slapd.pid ] && [ "$i" -lt 100 ]; do i=$((i + 1)); sleep 0.1; done
fi
echo "ldap: serving $suffix on ldap://:389/"
exec slapd -f "$conf" -h "ldap:/// $ldapi" -u openldap -g openldap -d "${LDAP_LOG_LEVEL:-0}"
