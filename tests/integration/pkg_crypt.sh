#!/bin/sh
# pkg_crypt.sh - /v1/packages with keys in the token against OpenSSL: a
# detached signature over content and over a SHA-256 digest for EC P-256,
# P-384 and RSA keys, checked by `openssl cms -verify`; encryption by
# Capstone (RSA-OAEP and ECDH recipients, AES-256-GCM and AES-256-CBC)
# opened by `openssl cms -decrypt` with file keys; messages made by
# `openssl cms -encrypt` to token-key certificates opened by Capstone, by
# certificate and by key id; the refusals in the documented error shape;
# and the `capstone pkg encrypt|decrypt` verbs.
set -eu
T_MAX_BODY=4m
. "$(dirname "$0")/../lib/env.sh"

t_setup

t_expect "create a root CA" 201 POST /v1/cas \
    '{"name":"root","protocol":"local","subject":"CN=Package Root","key":{"type":"ec-p256"},"validity":"3650d"}'
jq -r '.chain[0]' "$T_BODY" >"$T_TMP/root.pem"

printf 'metadata:\nvnf_provider_id: ACME\n\nSource: a.yaml\nAlgorithm: SHA-256\nHash: 00\n' >"$T_TMP/data"
b64=$(base64 -w0 "$T_TMP/data")
sha=$(sha256sum "$T_TMP/data" | cut -d' ' -f1)

# ---- sign ----

for kt in ec-p256 ec-p384 rsa-2048; do
	t_expect "enroll a $kt code-signing certificate" 201 POST /v1/certs \
	    "{\"ca\":\"root\",\"subject\":\"CN=signer-$kt\",\"key\":{\"type\":\"$kt\"},\"profile\":\"code-signing\"}"
	cid=$(jq -r .id "$T_BODY")
	t_expect "$kt: sign content" 200 POST /v1/packages/sign \
	    "{\"cert\":\"$cid\",\"content\":\"$b64\"}"
	jq -r .cms "$T_BODY" >"$T_TMP/$kt.cms"
	t_jq "$kt: the reply carries the certificate and chain" \
	    '(.certificate | startswith("-----BEGIN CERTIFICATE-----")) and (.chain | length == 1)'
	if openssl cms -verify -binary -inform PEM -in "$T_TMP/$kt.cms" \
	    -content "$T_TMP/data" -CAfile "$T_TMP/root.pem" -purpose any \
	    -out /dev/null 2>"$T_TMP/v.err"; then
		t_ok "$kt: openssl cms -verify accepts the content signature"
	else
		t_fail "$kt: openssl cms -verify accepts the content signature" \
		    "$(t_short "$(cat "$T_TMP/v.err")")"
	fi
	printf 'changed' >"$T_TMP/other"
	if openssl cms -verify -binary -inform PEM -in "$T_TMP/$kt.cms" \
	    -content "$T_TMP/other" -CAfile "$T_TMP/root.pem" -purpose any \
	    -out /dev/null 2>/dev/null; then
		t_fail "$kt: the signature fails over other content" "verified"
	else
		t_ok "$kt: the signature fails over other content"
	fi
	openssl cms -cmsout -print -inform PEM -in "$T_TMP/$kt.cms" >"$T_TMP/print" 2>&1 || true
	if grep -q 'eContent: <ABSENT>' "$T_TMP/print" &&
	    grep -q 'messageDigest' "$T_TMP/print" &&
	    grep -q 'signingTime' "$T_TMP/print"; then
		t_ok "$kt: detached, with messageDigest and signingTime"
	else
		t_fail "$kt: detached, with messageDigest and signingTime" \
		    "$(t_short "$(cat "$T_TMP/print")")"
	fi
	t_expect "$kt: sign a SHA-256 digest" 200 POST /v1/packages/sign \
	    "{\"cert\":\"$cid\",\"sha256\":\"$sha\"}"
	jq -r .cms "$T_BODY" >"$T_TMP/$kt.d.cms"
	if openssl cms -verify -binary -inform PEM -in "$T_TMP/$kt.d.cms" \
	    -content "$T_TMP/data" -CAfile "$T_TMP/root.pem" -purpose any \
	    -out /dev/null 2>"$T_TMP/v.err"; then
		t_ok "$kt: openssl cms -verify accepts the digest signature"
	else
		t_fail "$kt: openssl cms -verify accepts the digest signature" \
		    "$(t_short "$(cat "$T_TMP/v.err")")"
	fi
	echo "$cid" >"$T_TMP/$kt.id"
done

t_expect "sign with content and sha256 both is 400" 400 POST /v1/packages/sign \
    "{\"cert\":\"$(cat "$T_TMP/ec-p256.id")\",\"content\":\"$b64\",\"sha256\":\"$sha\"}"
t_error_shape "the refusal has the error shape" bad_request
t_expect "sign with a short digest is 400" 400 POST /v1/packages/sign \
    "{\"cert\":\"$(cat "$T_TMP/ec-p256.id")\",\"sha256\":\"abcd\"}"
t_expect "sign with an unknown certificate is 404" 404 POST /v1/packages/sign \
    "{\"cert\":\"00000000000000000000000000000000\",\"content\":\"$b64\"}"
t_error_shape "the 404 has the error shape" not_found
t_expect "revoke the P-384 signer" 200 POST "/v1/certs/$(cat "$T_TMP/ec-p384.id")/revoke" \
    '{"reason":"keyCompromise"}'
t_expect "sign with a revoked certificate is 409" 409 POST /v1/packages/sign \
    "{\"cert\":\"$(cat "$T_TMP/ec-p384.id")\",\"content\":\"$b64\"}"
t_error_shape "the 409 has the error shape" conflict

# ---- encrypt with Capstone, decrypt with openssl and file keys ----

openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$T_TMP/rsa.key" 2>/dev/null
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T_TMP/ec.key" 2>/dev/null
for k in rsa ec; do
	openssl req -new -x509 -key "$T_TMP/$k.key" -subj "/CN=consumer-$k" \
	    -days 2 -out "$T_TMP/$k.crt" 2>/dev/null
done
head -c 300000 /dev/urandom >"$T_TMP/artifact"
base64 -w0 "$T_TMP/artifact" >"$T_TMP/artifact.b64"
for k in rsa ec; do
	for c in aes-256-gcm aes-256-cbc; do
		jq -n --rawfile r "$T_TMP/$k.crt" --rawfile d "$T_TMP/artifact.b64" --arg c "$c" \
		    '{recipients:[$r],content:$d,cipher:$c}' >"$T_TMP/enc.json"
		t_expect "$k/$c: encrypt" 200 POST /v1/packages/encrypt "@$T_TMP/enc.json"
		jq -r .cms "$T_BODY" >"$T_TMP/enc.cms"
		rm -f "$T_TMP/dec"
		if openssl cms -decrypt -inform PEM -in "$T_TMP/enc.cms" \
		    -inkey "$T_TMP/$k.key" -recip "$T_TMP/$k.crt" \
		    -out "$T_TMP/dec" 2>"$T_TMP/d.err" &&
		    cmp -s "$T_TMP/dec" "$T_TMP/artifact"; then
			t_ok "$k/$c: openssl cms -decrypt with the file key recovers the bytes"
		else
			t_fail "$k/$c: openssl cms -decrypt recovers the bytes" \
			    "$(t_short "$(cat "$T_TMP/d.err")")"
		fi
	done
done
openssl cms -cmsout -print -inform PEM -in "$T_TMP/enc.cms" >"$T_TMP/print" 2>&1 || true
if grep -q 'dhSinglePass-stdDH-sha256kdf-scheme' "$T_TMP/print"; then
	t_ok "EC recipients get dhSinglePass-stdDH-sha256kdf-scheme"
else
	t_fail "EC recipients get dhSinglePass-stdDH-sha256kdf-scheme" "$(t_short "$(grep -i kdf "$T_TMP/print")")"
fi
jq -n --rawfile r "$T_TMP/rsa.crt" --rawfile d "$T_TMP/artifact.b64" '{recipients:[$r],content:$d}' >"$T_TMP/enc.json"
t_api POST /v1/packages/encrypt "@$T_TMP/enc.json" | jq -r .cms >"$T_TMP/enc.cms"
openssl cms -cmsout -print -inform PEM -in "$T_TMP/enc.cms" >"$T_TMP/print" 2>&1 || true
if grep -q 'rsaesOaep' "$T_TMP/print" && grep -q 'sha256' "$T_TMP/print" &&
    grep -qi 'authEnvelopedData\|id-smime-ct-authEnvelopedData' "$T_TMP/print"; then
	t_ok "the default is AuthEnvelopedData with RSA-OAEP SHA-256"
else
	t_fail "the default is AuthEnvelopedData with RSA-OAEP SHA-256" "$(t_short "$(head -c 600 "$T_TMP/print")")"
fi
t_expect "encrypt to garbage is 400" 400 POST /v1/packages/encrypt \
    "{\"recipients\":[\"not a certificate\"],\"content\":\"$b64\"}"
t_error_shape "the encrypt refusal has the error shape" bad_request

# ---- openssl cms -encrypt to token keys, Capstone decrypts ----

for kt in rsa-2048 ec-p256 ec-p384; do
	t_expect "$kt: a token key" 201 POST /v1/keys "{\"type\":\"$kt\",\"label\":\"consumer-$kt\"}"
	kid=$(jq -r .id "$T_BODY")
	t_expect "$kt: a certificate for it" 201 POST /v1/certs \
	    "{\"ca\":\"root\",\"subject\":\"CN=consumer-$kt\",\"key_id\":\"$kid\"}"
	cid=$(jq -r .id "$T_BODY")
	jq -r .certificate "$T_BODY" >"$T_TMP/tok-$kt.pem"
	echo "$kid" >"$T_TMP/tok-$kt.kid"
	echo "$cid" >"$T_TMP/tok-$kt.cid"
	case $kt in
	rsa-*) kopt="-keyopt rsa_padding_mode:oaep" ;;
	*) kopt="" ;;
	esac
	for c in aes-256-cbc aes-256-gcm; do
		# shellcheck disable=SC2086
		if ! openssl cms -encrypt -binary -$c -in "$T_TMP/artifact" \
		    -recip "$T_TMP/tok-$kt.pem" $kopt -outform PEM \
		    -out "$T_TMP/o.cms" 2>"$T_TMP/e.err"; then
			t_fail "$kt/$c: openssl cms -encrypt" "$(t_short "$(cat "$T_TMP/e.err")")"
			continue
		fi
		jq -n --rawfile m "$T_TMP/o.cms" --arg c "$cid" '{cert:$c,cms:$m}' >"$T_TMP/dec.json"
		t_expect "$kt/$c: decrypt by certificate" 200 POST /v1/packages/decrypt "@$T_TMP/dec.json"
		jq -r .content "$T_BODY" | base64 -d >"$T_TMP/dec" 2>/dev/null || true
		t_run "$kt/$c: the token key recovers the bytes" "content differs" \
		    cmp -s "$T_TMP/dec" "$T_TMP/artifact"
	done
	openssl cms -cmsout -in "$T_TMP/o.cms" -inform PEM -outform DER -out "$T_TMP/o.der" 2>/dev/null
	base64 -w0 "$T_TMP/o.der" >"$T_TMP/o.b64"
	jq -n --rawfile m "$T_TMP/o.b64" --arg k "$kid" '{key_id:$k,cms:$m}' >"$T_TMP/dec.json"
	t_expect "$kt: decrypt base64 DER by key id" 200 POST /v1/packages/decrypt "@$T_TMP/dec.json"
	jq -r .content "$T_BODY" | base64 -d >"$T_TMP/dec" 2>/dev/null || true
	t_run "$kt: by key id the bytes come back" "content differs" \
	    cmp -s "$T_TMP/dec" "$T_TMP/artifact"
done

# A message for the RSA token key, offered to the EC and the other RSA key.
openssl cms -encrypt -binary -aes-256-cbc -in "$T_TMP/data" \
    -recip "$T_TMP/tok-rsa-2048.pem" -keyopt rsa_padding_mode:oaep \
    -outform PEM -out "$T_TMP/w.cms" 2>/dev/null
jq -n --rawfile m "$T_TMP/w.cms" --arg c "$(cat "$T_TMP/tok-ec-p256.cid")" \
    '{cert:$c,cms:$m}' >"$T_TMP/dec.json"
t_expect "decrypt for the wrong recipient is 400" 400 POST /v1/packages/decrypt "@$T_TMP/dec.json"
t_error_shape "the wrong-recipient refusal has the error shape" bad_request
t_expect "a second RSA token key" 201 POST /v1/keys '{"type":"rsa-2048"}'
jq -n --rawfile m "$T_TMP/w.cms" --arg k "$(jq -r .id "$T_BODY")" \
    '{key_id:$k,cms:$m}' >"$T_TMP/dec.json"
t_expect "decrypt with another RSA key is 400" 400 POST /v1/packages/decrypt "@$T_TMP/dec.json"
t_error_shape "that refusal has the error shape" bad_request
t_expect "garbage CMS is 400" 400 POST /v1/packages/decrypt \
    "{\"key_id\":\"$(cat "$T_TMP/tok-rsa-2048.kid")\",\"cms\":\"-----BEGIN CMS-----\\nAAAA\\n-----END CMS-----\\n\"}"
t_error_shape "the garbage refusal has the error shape" bad_request
t_expect "base64 garbage is 400" 400 POST /v1/packages/decrypt \
    "{\"key_id\":\"$(cat "$T_TMP/tok-rsa-2048.kid")\",\"cms\":\"MAMCAQA=\"}"
t_expect "an unknown key is 404" 404 POST /v1/packages/decrypt \
    "{\"key_id\":\"00000000000000000000000000000000\",\"cms\":\"MAMCAQA=\"}"
t_error_shape "the unknown-key refusal has the error shape" not_found
t_expect "a signed (not enveloped) message is 400" 400 POST /v1/packages/decrypt \
    "$(jq -n --rawfile m "$T_TMP/ec-p256.cms" --arg k "$(cat "$T_TMP/tok-ec-p256.kid")" '{key_id:$k,cms:$m}')"
if grep -r -q -F "$(head -c 48 "$T_TMP/data" | base64 -w0)" "$T_DIR"/*.log 2>/dev/null; then
	t_fail "no plaintext in the daemon log" "found"
else
	t_ok "no plaintext in the daemon log"
fi

# ---- verify: a package signed through the daemon, checked by the daemon ----

mkdir -p "$T_TMP/pkg/Definitions"
printf 'tosca_definitions_version: tosca_simple_yaml_1_3\n' >"$T_TMP/pkg/Definitions/main.yaml"
head -c 5000 /dev/urandom >"$T_TMP/pkg/image.bin"
if t_cli pkg sign --cert "$(cat "$T_TMP/ec-p256.id")" --provider ACME \
    --product vfw --version 1.0 "$T_TMP/pkg" -o "$T_TMP/signed.zip" \
    >"$T_TMP/sign.out" 2>&1; then
	base64 -w0 "$T_TMP/signed.zip" >"$T_TMP/signed.b64"
	jq -n --rawfile p "$T_TMP/signed.b64" --rawfile r "$T_TMP/root.pem" \
	    '{package:$p,trust:[$r]}' >"$T_TMP/ver.json"
	t_expect "verify a signed package" 200 POST /v1/packages/verify "@$T_TMP/ver.json"
	t_jq "the package is valid, signed-csar, by the P-256 signer" \
	    '.valid == true and .form == "signed-csar" and (.signer | contains("signer-ec-p256")) and (.errors | length == 0)'
	openssl req -new -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -keyout "$T_TMP/other.key" -subj /CN=other -out "$T_TMP/other.pem" 2>/dev/null
	jq -n --rawfile p "$T_TMP/signed.b64" --rawfile r "$T_TMP/other.pem" \
	    '{package:$p,trust:[$r]}' >"$T_TMP/ver.json"
	t_expect "verify against another root answers 200" 200 POST /v1/packages/verify "@$T_TMP/ver.json"
	t_jq "and reports it invalid: untrusted" \
	    '.valid == false and ([.errors[].code] | index("untrusted") != null)'
else
	t_fail "capstone pkg sign a package for /verify" "$(t_short "$(cat "$T_TMP/sign.out")")"
fi
t_expect "verify without trust is 400" 400 POST /v1/packages/verify '{"package":"UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA=="}'
t_error_shape "the verify refusal has the error shape" bad_request
t_expect "verify of a non-zip is 400" 400 POST /v1/packages/verify \
    "$(jq -n --rawfile r "$T_TMP/root.pem" '{package:"bm90IGEgemlw",trust:[$r]}')"

# ---- the CLI ----

if t_cli pkg encrypt --to "$T_TMP/ec.crt" --to "$T_TMP/rsa.crt" \
    --cipher aes-256-cbc "$T_TMP/artifact" -o "$T_TMP/cli.cms" >"$T_TMP/cli1.out" 2>&1; then
	t_ok "capstone pkg encrypt to two recipients"
else
	t_fail "capstone pkg encrypt to two recipients" "$(t_short "$(cat "$T_TMP/cli1.out")")"
fi
for k in ec rsa; do
	rm -f "$T_TMP/dec"
	if openssl cms -decrypt -inform PEM -in "$T_TMP/cli.cms" -inkey "$T_TMP/$k.key" \
	    -recip "$T_TMP/$k.crt" -out "$T_TMP/dec" 2>/dev/null &&
	    cmp -s "$T_TMP/dec" "$T_TMP/artifact"; then
		t_ok "the CLI's message opens with the $k file key"
	else
		t_fail "the CLI's message opens with the $k file key" "failed"
	fi
done
openssl cms -encrypt -binary -aes-256-gcm -in "$T_TMP/artifact" \
    -recip "$T_TMP/tok-ec-p256.pem" -outform PEM -out "$T_TMP/o.cms" 2>/dev/null
rm -f "$T_TMP/dec"
if t_cli pkg decrypt --key "$(cat "$T_TMP/tok-ec-p256.kid")" "$T_TMP/o.cms" \
    -o "$T_TMP/dec" >"$T_TMP/cli2.out" 2>&1 && cmp -s "$T_TMP/dec" "$T_TMP/artifact"; then
	t_ok "capstone pkg decrypt --key recovers the bytes"
else
	t_fail "capstone pkg decrypt --key recovers the bytes" "$(t_short "$(cat "$T_TMP/cli2.out")")"
fi
rm -f "$T_TMP/dec"
if t_cli pkg decrypt --cert "$(cat "$T_TMP/tok-ec-p256.cid")" "$T_TMP/o.cms" \
    -o "$T_TMP/dec" >"$T_TMP/cli3.out" 2>&1 && cmp -s "$T_TMP/dec" "$T_TMP/artifact"; then
	t_ok "capstone pkg decrypt --cert recovers the bytes"
else
	t_fail "capstone pkg decrypt --cert recovers the bytes" "$(t_short "$(cat "$T_TMP/cli3.out")")"
fi
rc=0
t_cli pkg decrypt --key "$(cat "$T_TMP/tok-rsa-2048.kid")" "$T_TMP/o.cms" \
    -o "$T_TMP/dec2" >"$T_TMP/cli4.out" 2>&1 || rc=$?
t_eq "capstone pkg decrypt with the wrong key exits 1" 1 "$rc"
t_run "and writes no output file" "output written" test ! -e "$T_TMP/dec2"
rc=0
t_cli pkg encrypt "$T_TMP/artifact" -o "$T_TMP/x.cms" >/dev/null 2>&1 || rc=$?
t_eq "capstone pkg encrypt without --to exits 2" 2 "$rc"

t_stop_ok "the daemon stops cleanly"
t_done
