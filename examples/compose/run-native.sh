#!/usr/bin/env bash
# Bring up the compose example's three services natively on this machine — slapd (seeded with
# ldap/seed.ldif), regauth (regauth/auth_config.yml) and the Debian docker-registry
# (registry/config.yml) — on free loopback ports, push and pull an image through them with
# skopeo, check who may do what, and tear everything down. Needs: slapd ldap-utils
# docker-registry skopeo (apt) and a built regauth (npm ci). Exit 0 means every check passed.
#   examples/compose/run-native.sh            # run the checks, then stop
#   KEEP_RUNNING=1 examples/compose/run-native.sh   # leave the stack up until Ctrl-C
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
for tool in slapd ldapadd ldapsearch docker-registry skopeo node sha256sum gzip tar; do
  command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] || { echo "missing $tool: apt-get install -y slapd ldap-utils docker-registry skopeo" >&2; exit 2; }
done
[ -f "$root/dist/src/cli/main.js" ] || { echo "regauth is not built: run npm ci (or npm run build) in $root" >&2; exit 2; }

work=$(mktemp -d -t regauth-native-XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
step() { printf '\n== %s\n' "$*"; }
fail() { echo "FAILED: $*" >&2; for f in "$work"/*.log; do echo "--- $f" >&2; tail -20 "$f" >&2; done; exit 1; }
# N free loopback ports, all held open until each is known: separate probes could be handed the same port twice.
free_ports() { node -e 'const net=require("net"),n=+process.argv[1],all=[];let up=0;for(let i=0;i<n;i++)all.push(net.createServer().listen(0,"127.0.0.1",()=>{if(++up<n)return;console.log(all.map((s)=>s.address().port).join(" "));all.forEach((s)=>s.close())}))' "$1"; }
wait_for() { # wait_for DESCRIPTION COMMAND...
  local what=$1; shift
  for _ in $(seq 1 100); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  fail "$what did not come up"
}
http_ok() { node -e 'fetch(process.argv[1]).then(r=>process.exit(r.status<500?0:1),()=>process.exit(1))' "$1"; }

read -r ldap_port regauth_port registry_port < <(free_ports 3)
[ -n "$registry_port" ] || { echo "FAILED: no free loopback ports" >&2; exit 1; }

step "slapd on 127.0.0.1:$ldap_port (suffix dc=example,dc=org, memberof overlay)"
mkdir -p "$work/ldap-data"
cat > "$work/slapd.conf" <<CONF
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload memberof
pidfile $work/slapd.pid
argsfile $work/slapd.args
database mdb
suffix "dc=example,dc=org"
rootdn "cn=admin,dc=example,dc=org"
rootpw $(cat "$here/regauth/ldap-bind-password")
directory $work/ldap-data
overlay memberof
memberof-group-oc groupOfNames
memberof-member-ad member
memberof-memberof-ad memberOf
memberof-refint TRUE
CONF
/usr/sbin/slapd -f "$work/slapd.conf" -h "ldap://127.0.0.1:$ldap_port/" -d 0 > "$work/slapd.log" 2>&1 &
pids+=($!)
ldap=(-x -H "ldap://127.0.0.1:$ldap_port" -D "cn=admin,dc=example,dc=org" -w "$(cat "$here/regauth/ldap-bind-password")")
wait_for slapd ldapsearch "${ldap[@]}" -b "" -s base
# The directory's root entry (the ldap image's entrypoint makes it in the compose version), then the seed.
printf 'dn: dc=example,dc=org\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example\n' | ldapadd "${ldap[@]}" >/dev/null
ldapadd "${ldap[@]}" -f "$here/ldap/seed.ldif" >/dev/null
ldapsearch "${ldap[@]}" -b "dc=example,dc=org" "(uid=alice)" memberOf | grep -q "memberOf: cn=dev" || fail "memberOf was not computed"

step "regauth on 127.0.0.1:$regauth_port (regauth/auth_config.yml, addresses rewritten for this machine)"
node "$root/bin/regauth" keygen --out "$work/keys" --keep > /dev/null
sed -e "s#\"openldap:389\"#\"127.0.0.1:$ldap_port\"#" \
    -e "s#\":5001\"#\"127.0.0.1:$regauth_port\"#" \
    -e "s#/keys/#$work/keys/#g" \
    -e "s#/config/ldap-bind-password#$here/regauth/ldap-bind-password#" \
    "$here/regauth/auth_config.yml" > "$work/auth_config.yml"
node "$root/bin/regauth" check "$work/auth_config.yml" || fail "regauth check refused the config"
node --max-semi-space-size=32 "$root/bin/regauth" serve "$work/auth_config.yml" > "$work/regauth.log" 2>&1 &
pids+=($!)
wait_for regauth http_ok "http://127.0.0.1:$regauth_port/healthz"

step "docker-registry on 127.0.0.1:$registry_port (registry/config.yml, overridden by REGISTRY_* variables)"
REGISTRY_HTTP_ADDR="127.0.0.1:$registry_port" \
REGISTRY_AUTH_TOKEN_REALM="http://127.0.0.1:$regauth_port/auth" \
REGISTRY_AUTH_TOKEN_ROOTCERTBUNDLE="$work/keys/token.crt" \
REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY="$work/registry-data" \
  docker-registry serve "$here/registry/config.yml" > "$work/registry.log" 2>&1 &
pids+=($!)
wait_for registry http_ok "http://127.0.0.1:$registry_port/v2/"

step "a one-layer OCI image, made without a Docker engine"
img=$work/image
mkdir -p "$img/blobs/sha256" "$work/layer"
echo "hello from regauth's native example, $(date -u +%s%N)" > "$work/layer/hello.txt"
tar -C "$work/layer" -cf "$work/layer.tar" hello.txt
diff_id=$(sha256sum "$work/layer.tar" | cut -d' ' -f1)
gzip -n -c "$work/layer.tar" > "$work/layer.tar.gz"
blob() { # blob FILE -> prints "digest size" after storing it
  local d; d=$(sha256sum "$1" | cut -d' ' -f1); cp "$1" "$img/blobs/sha256/$d"; echo "$d $(stat -c%s "$1")"
}
read -r layer_digest layer_size < <(blob "$work/layer.tar.gz")
printf '{"architecture":"amd64","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' "$diff_id" > "$work/config.json"
read -r config_digest config_size < <(blob "$work/config.json")
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%s","size":%s}]}' \
  "$config_digest" "$config_size" "$layer_digest" "$layer_size" > "$work/manifest.json"
read -r manifest_digest manifest_size < <(blob "$work/manifest.json")
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"v1"}}]}' \
  "$manifest_digest" "$manifest_size" > "$img/index.json"
echo '{"imageLayoutVersion":"1.0.0"}' > "$img/oci-layout"

echo '{}' > "$work/auth.json"
echo '{"default":[{"type":"insecureAcceptAnything"}]}' > "$work/policy.json"
sk() { skopeo --policy "$work/policy.json" "$@"; }
reg=127.0.0.1:$registry_port

step "alice (LDAP, group dev) pushes dev-shared/hello:v1 and pulls it back"
sk copy --authfile "$work/auth.json" --dest-tls-verify=false --dest-creds alice:alice-password \
  "oci:$img:v1" "docker://$reg/dev-shared/hello:v1" || fail "alice could not push"
sk copy --authfile "$work/auth.json" --src-tls-verify=false --src-creds alice:alice-password \
  "docker://$reg/dev-shared/hello:v1" "oci:$work/pulled:v1" || fail "alice could not pull"
[ -f "$work/pulled/blobs/sha256/$layer_digest" ] || fail "the pulled image lacks the pushed layer"
cmp -s "$work/pulled/blobs/sha256/$layer_digest" "$img/blobs/sha256/$layer_digest" || fail "the pulled layer differs"
sk list-tags --authfile "$work/auth.json" --tls-verify=false --creds alice:alice-password "docker://$reg/dev-shared/hello" | grep -q '"v1"' || fail "list-tags does not show v1"
echo "ok: pushed, pulled back identical, tag listed"

step "bob (LDAP, group ops) may pull it but not push to dev-shared/"
sk copy --authfile "$work/auth.json" --src-tls-verify=false --src-creds bob:bob-password \
  "docker://$reg/dev-shared/hello:v1" "oci:$work/bob:v1" > /dev/null || fail "bob could not pull"
if sk copy --authfile "$work/auth.json" --dest-tls-verify=false --dest-creds bob:bob-password \
  "oci:$img:v1" "docker://$reg/dev-shared/hello:bob" > "$work/bob-push.out" 2>&1; then fail "bob pushed to dev-shared"; fi
grep -qi "denied\|unauthorized" "$work/bob-push.out" || fail "bob's push failed for another reason: $(cat "$work/bob-push.out")"
echo "ok: bob's push was denied"

step "a wrong LDAP password is refused; the CI robot (static user) pushes ci/app"
if sk copy --authfile "$work/auth.json" --src-tls-verify=false --src-creds alice:wrong \
  "docker://$reg/dev-shared/hello:v1" "oci:$work/wrong:v1" > /dev/null 2>&1; then fail "a wrong password was accepted"; fi
sk copy --authfile "$work/auth.json" --dest-tls-verify=false --dest-creds ci-robot:ci-robot-password \
  "oci:$img:v1" "docker://$reg/ci/app:v1" || fail "the CI robot could not push"
echo "ok"

printf '\nAll checks passed: registry 127.0.0.1:%s, regauth 127.0.0.1:%s, slapd 127.0.0.1:%s\n' "$registry_port" "$regauth_port" "$ldap_port"
if [ "${KEEP_RUNNING:-}" = 1 ]; then echo "KEEP_RUNNING=1: press Ctrl-C to stop"; wait; fi
