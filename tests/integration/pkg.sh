#!/bin/sh
# pkg.sh - VNF package signing and verification with a real daemon: a
# code-signing certificate from the local CA "op" whose key is in the
# token signs a CSAR (`capstone pkg sign`, signed-CSAR and manifest
# forms); `capstone pkg verify` and `openssl cms -verify` both accept the
# manifest's and the CSAR's signatures; a package signed by
# `openssl cms -sign` under a throw-away OpenSSL CA verifies too; a
# changed, missing and extra artifact, a manifest edited after signing, a
# signer from an untrusted root, an expired and a revoked signer each fail
# with exit 1 naming the cause and the path; a 1 GiB artifact is signed
# and verified in under 64 MiB of peak RSS.
set -eu
. "$(dirname "$0")/../lib/env.sh"

t_setup
W=$T_TMP/w
mkdir -p "$W"

# zipdir DIR OUT: every file below DIR, stored, into OUT.
zipdir() {
	python3 - "$1" "$2" <<'PY'
import os, sys, zipfile
src, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:
    for d, _, fs in os.walk(src):
        for f in sorted(fs):
            p = os.path.join(d, f)
            z.write(p, os.path.relpath(p, src))
PY
}

# unzipto ZIP DIR
unzipto() {
	python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' "$1" "$2"
}

# mkcsar DIR: a small CSAR tree
mkcsar() {
	mkdir -p "$1/TOSCA-Metadata" "$1/Definitions" "$1/Files/scripts"
	printf 'TOSCA-Meta-File-Version: 1.0\nCSAR-Version: 1.1\nCreated-By: pkg.sh\nEntry-Definitions: Definitions/vfw.yaml\nETSI-Entry-Manifest: vfw.mf\n' \
	    >"$1/TOSCA-Metadata/TOSCA.meta"
	printf 'tosca_definitions_version: tosca_simple_yaml_1_3\n' >"$1/Definitions/vfw.yaml"
	head -c 100000 /dev/urandom >"$1/Files/image.bin"
	printf '#!/bin/sh\necho install\n' >"$1/Files/scripts/install.sh"
}

# verify_fails NAME CODE PATH PACKAGE [OPTS...]: exit 1 and a line "CODE: PATH: ..."
verify_fails() {
	_n=$1 _code=$2 _path=$3 _pkg=$4
	shift 4
	_rc=0
	"$BUILD/capstone" pkg verify "$@" "$_pkg" >"$W/out" 2>&1 || _rc=$?
	if [ "$_rc" -eq 1 ] && grep -q "^$_code: $_path" "$W/out"; then
		t_ok "$_n"
	else
		t_fail "$_n" "expected exit 1 and '$_code: $_path', got $_rc $(t_short "$(cat "$W/out")")"
	fi
}

# ---- the signer: local CA "op", code-signing certificate, key in the token
t_expect "create the local CA op" 201 POST /v1/cas \
    '{"name":"op","protocol":"local","subject":"CN=Operator Package Root","key":{"type":"ec-p256"}}'
jq -r '.chain[0]' "$T_BODY" >"$W/root.pem"
t_expect "issue a code-signing certificate" 201 POST /v1/certs \
    '{"ca":"op","subject":"CN=VNF Provider Signer","key":{"type":"ec-p256"},"profile":"code-signing"}'
CERT=$(jq -r .id "$T_BODY")

mkcsar "$W/vfw"
zipdir "$W/vfw" "$W/vfw.csar"

rc=0
t_cli pkg sign --cert "$CERT" --provider ACME --product vFW --version 1.0 \
    "$W/vfw.csar" -o "$W/signed.zip" >"$W/out" 2>&1 || rc=$?
t_eq "pkg sign writes a signed CSAR" 0 "$rc"
[ "$rc" -eq 0 ] || cat "$W/out" | sed 's/^/# /'
rc=0
t_cli pkg verify --trust "$W/root.pem" "$W/signed.zip" >"$W/out" 2>&1 || rc=$?
t_eq "pkg verify accepts the signed CSAR" 0 "$rc"
if grep -q '^valid signed-csar package, 4 artifacts, 2 signatures' "$W/out"; then
	t_ok "both signatures of the signed CSAR checked"
else
	t_fail "both signatures of the signed CSAR checked" "$(t_short "$(cat "$W/out")")"
fi

# openssl cms -verify: the CSAR signature and the manifest signature
mkdir -p "$W/outer" "$W/inner"
unzipto "$W/signed.zip" "$W/outer"
if openssl cms -verify -binary -inform PEM -in "$W/outer/vfw.cms" \
    -content "$W/outer/vfw.csar" -CAfile "$W/root.pem" -purpose any \
    -out /dev/null 2>"$W/err"; then
	t_ok "openssl cms -verify accepts the CSAR signature"
else
	t_fail "openssl cms -verify accepts the CSAR signature" "$(t_short "$(cat "$W/err")")"
fi
unzipto "$W/outer/vfw.csar" "$W/inner"
python3 - "$W/inner/vfw.mf" "$W/mf.txt" "$W/mf.cms" <<'PY'
import sys
t = open(sys.argv[1], "rb").read()
i = t.index(b"-----BEGIN CMS-----")
open(sys.argv[2], "wb").write(t[:i])
open(sys.argv[3], "wb").write(t[i:])
PY
if openssl cms -verify -binary -inform PEM -in "$W/mf.cms" \
    -content "$W/mf.txt" -CAfile "$W/root.pem" -purpose any \
    -out /dev/null 2>"$W/err"; then
	t_ok "openssl cms -verify accepts the manifest signature"
else
	t_fail "openssl cms -verify accepts the manifest signature" "$(t_short "$(cat "$W/err")")"
fi
if [ -s "$W/inner/vfw.cert" ] && grep -q 'Source: Files/image.bin' "$W/inner/vfw.mf"; then
	t_ok "the inner CSAR carries the manifest and its certificate"
else
	t_fail "the inner CSAR carries the manifest and its certificate" "absent"
fi

# the manifest form, and the failure cases on it
rc=0
t_cli pkg sign --cert "$CERT" --form manifest --provider ACME --product vFW \
    --version 1.0 "$W/vfw" -o "$W/m.csar" >"$W/out" 2>&1 || rc=$?
t_eq "pkg sign --form manifest" 0 "$rc"
rc=0
"$BUILD/capstone" pkg verify --trust "$W/root.pem" "$W/m.csar" >"$W/out" 2>&1 || rc=$?
t_eq "pkg verify accepts the signed manifest form" 0 "$rc"

mkdir -p "$W/m"
unzipto "$W/m.csar" "$W/m"
cp -r "$W/m" "$W/changed"
printf 'x' >>"$W/changed/Files/image.bin"
verify_fails "changed artifact fails" changed Files/image.bin "$W/changed" --trust "$W/root.pem"
cp -r "$W/m" "$W/missing"
rm "$W/missing/Files/scripts/install.sh"
verify_fails "missing artifact fails" missing Files/scripts/install.sh "$W/missing" --trust "$W/root.pem"
cp -r "$W/m" "$W/extra"
printf 'evil\n' >"$W/extra/Files/backdoor.sh"
zipdir "$W/extra" "$W/extra.csar"
verify_fails "extra artifact fails" extra Files/backdoor.sh "$W/extra.csar" --trust "$W/root.pem"
cp -r "$W/m" "$W/edited"
sed -i 's/^vnf_package_version: 1.0/vnf_package_version: 9.9/' "$W/edited/vfw.mf"
verify_fails "manifest edited after signing fails" signature vfw.mf "$W/edited" --trust "$W/root.pem"

# ---- a throw-away OpenSSL CA: openssl-signed package, untrusted, expired, revoked
O=$W/ossl
mkdir -p "$O/new"
: >"$O/index.txt"
echo 1000 >"$O/serial"
cat >"$O/ca.cnf" <<CNF
[ca]
default_ca = cadef
[cadef]
dir = $O
database = $O/index.txt
new_certs_dir = $O/new
certificate = $O/root.pem
private_key = $O/root.key
serial = $O/serial
default_md = sha256
default_days = 30
default_crl_days = 7
policy = pol
unique_subject = no
x509_extensions = v3signer
[pol]
commonName = supplied
[v3signer]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = codeSigning
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[req]
distinguished_name = dn
[dn]
[v3root]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
CNF
openssl req -x509 -config "$O/ca.cnf" -extensions v3root -newkey ec \
    -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$O/root.key" \
    -out "$O/root.pem" -subj "/CN=Throwaway Root" -days 30 2>/dev/null ||
    t_die "openssl root"
# osign NAME [openssl ca options]: a signer certificate NAME.pem, key NAME.key
osign() {
	_nm=$1
	shift
	openssl req -new -config "$O/ca.cnf" -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
	    -nodes -keyout "$O/$_nm.key" -out "$O/$_nm.csr" -subj "/CN=$_nm" 2>/dev/null &&
	    openssl ca -batch -config "$O/ca.cnf" -in "$O/$_nm.csr" \
	    -out "$O/$_nm.pem" "$@" >/dev/null 2>&1
}
osign good || t_die "openssl ca good"
osign expired -startdate 20200101000000Z -enddate 20200201000000Z || t_die "openssl ca expired"
osign revoked || t_die "openssl ca revoked"
openssl ca -batch -config "$O/ca.cnf" -revoke "$O/revoked.pem" >/dev/null 2>&1 || t_die "openssl ca -revoke"
openssl ca -batch -config "$O/ca.cnf" -gencrl -out "$O/crl.pem" >/dev/null 2>&1 || t_die "openssl ca -gencrl"

# opkg NAME: the CSAR tree with a manifest signed by openssl cms -sign as NAME
opkg() {
	_d=$W/o-$1
	mkcsar "$_d"
	( cd "$_d" && {
		printf 'metadata:\nvnf_provider_id: ACME\nvnf_product_name: vFW\nvnf_release_date_time: 2024-05-01T00:00:00Z\nvnf_package_version: 1.0\n'
		for f in Definitions/vfw.yaml Files/image.bin Files/scripts/install.sh TOSCA-Metadata/TOSCA.meta; do
			printf '\nSource: %s\nAlgorithm: SHA-256\nHash: %s\n' "$f" "$(sha256sum "$f" | cut -c1-64)"
		done
	} >"$W/o.txt" )
	openssl cms -sign -binary -in "$W/o.txt" -signer "$O/$1.pem" -inkey "$O/$1.key" \
	    -md sha256 -outform PEM -out "$W/o.cms" 2>/dev/null || t_die "openssl cms -sign"
	cat "$W/o.txt" "$W/o.cms" >"$_d/vfw.mf"
	zipdir "$_d" "$W/o-$1.csar"
}
opkg good
rc=0
"$BUILD/capstone" pkg verify --trust "$O/root.pem" "$W/o-good.csar" >"$W/out" 2>&1 || rc=$?
t_eq "a package signed by openssl cms -sign verifies with capstone" 0 "$rc"
verify_fails "signer from an untrusted root fails" untrusted vfw.mf "$W/o-good.csar" --trust "$W/root.pem"
verify_fails "capstone-signed package under another root fails" untrusted vfw.csar "$W/signed.zip" --trust "$O/root.pem"
opkg expired
verify_fails "expired signer fails" expired vfw.mf "$W/o-expired.csar" --trust "$O/root.pem"
opkg revoked
rc=0
"$BUILD/capstone" pkg verify --trust "$O/root.pem" "$W/o-revoked.csar" >"$W/out" 2>&1 || rc=$?
t_eq "revoked signer passes without a CRL" 0 "$rc"
verify_fails "revoked signer fails with --crl" revoked vfw.mf "$W/o-revoked.csar" --trust "$O/root.pem" --crl "$O/crl.pem"
rc=0
"$BUILD/capstone" pkg verify "$W/o-good.csar" >/dev/null 2>&1 || rc=$?
t_eq "verify without --trust is bad usage" 2 "$rc"
rc=0
"$BUILD/capstone" pkg verify --json --trust "$W/root.pem" "$W/changed" >"$W/out.json" 2>/dev/null || rc=$?
t_jq "--json report names the changed artifact" \
    '.valid == false and .form == "manifest" and (.errors | map(select(.code == "changed" and .path == "Files/image.bin")) | length) == 1' "$W/out.json"

# ---- 1 GiB artifact, bounded memory
B=$W/big
mkcsar "$B"
truncate -s 1G "$B/Files/disk.img"
head -c 1048576 /dev/urandom | dd of="$B/Files/disk.img" bs=1M seek=512 conv=notrunc 2>/dev/null
rc=0
CAPSTONE_ADDR=https://127.0.0.1:$T_PORT CAPSTONE_CACERT=$T_DIR/pki/ca.crt \
    CAPSTONE_CERT=$T_DIR/pki/admin.crt CAPSTONE_KEY=$T_DIR/pki/admin.key \
    /usr/bin/time -f %M -o "$W/rss.sign" "$BUILD/capstone" pkg sign --cert "$CERT" \
    --provider ACME --product vFW --version 2.0 "$B" -o "$W/big.zip" >"$W/out" 2>&1 || rc=$?
t_eq "1 GiB package signed" 0 "$rc"
rm -rf "$B"
rc=0
/usr/bin/time -f %M -o "$W/rss.verify" "$BUILD/capstone" pkg verify --trust "$W/root.pem" \
    "$W/big.zip" >"$W/out" 2>&1 || rc=$?
t_eq "1 GiB package verified" 0 "$rc"
sign_kb=$(tail -n 1 "$W/rss.sign")
verify_kb=$(tail -n 1 "$W/rss.verify")
echo "# peak RSS with a 1 GiB artifact: pkg sign ${sign_kb} KiB, pkg verify ${verify_kb} KiB"
if [ "$sign_kb" -lt 65536 ] && [ "$verify_kb" -lt 65536 ]; then
	t_ok "1 GiB artifact signed and verified under 64 MiB peak RSS"
else
	t_fail "1 GiB artifact signed and verified under 64 MiB peak RSS" "sign ${sign_kb} KiB, verify ${verify_kb} KiB"
fi

t_done
