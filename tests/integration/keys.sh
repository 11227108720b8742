#!/bin/sh
# keys.sh - keys in the token through /v1/keys and `capstone key`: every
# type is created, its public key parses with openssl, signatures made
# through the API verify with openssl, CSRs verify with `openssl req
# -verify` and carry the subject and SANs, AES-GCM and RSA-OAEP round-trip,
# private keys are sensitive and not extractable in the token, and delete
# removes the objects from the token.
set -eu
. "$(dirname "$0")/../lib/env.sh"

t_prepare
t_start_daemon "$T_DIR" || t_die "capstoned did not start"

# api METHOD PATH [BODY]: t_api that dies unless the answer is 2xx.
api() {
	t_api "$@" >/dev/null
	case $T_STATUS in
	2??) ;;
	*) t_die "$1 $2: HTTP $T_STATUS $(t_short "$(cat "$T_BODY")")" ;;
	esac
}

printf 'data signed by the token\n' >"$T_TMP/msg"
MSG64=$(base64 -w0 "$T_TMP/msg")

for type in ec-p256 ec-p384 rsa-2048 rsa-3072 ed25519; do
	api POST /v1/keys "{\"type\":\"$type\",\"label\":\"it-$type\"}"
	t_eq "$type: created with 201" 201 "$T_STATUS"
	id=$(jq -r .id "$T_BODY")
	jq -r .public_key "$T_BODY" >"$T_TMP/$type.pub"
	t_check "$type: id is 32 hex characters" \
	    "$(printf '%s' "$id" | grep -Eq '^[0-9a-f]{32}$'; echo $?)" "$id"
	t_check "$type: uri names the object id" \
	    "$(jq -r .uri "$T_BODY" | grep -q '^pkcs11:.*id=' ; echo $?)" \
	    "$(jq -r .uri "$T_BODY")"
	rc=0
	openssl pkey -pubin -in "$T_TMP/$type.pub" -noout 2>/dev/null || rc=$?
	t_check "$type: public key PEM parses with openssl" "$rc" "exit $rc"

	api POST "/v1/keys/$id/sign" "{\"data\":\"$MSG64\"}"
	jq -r .signature "$T_BODY" | base64 -d >"$T_TMP/$type.sig"
	rc=0
	case $type in
	ed25519)
		openssl pkeyutl -verify -pubin -inkey "$T_TMP/$type.pub" \
		    -rawin -in "$T_TMP/msg" -sigfile "$T_TMP/$type.sig" \
		    >/dev/null 2>&1 || rc=$? ;;
	ec-p384)
		openssl dgst -sha384 -verify "$T_TMP/$type.pub" \
		    -signature "$T_TMP/$type.sig" "$T_TMP/msg" >/dev/null 2>&1 ||
		    rc=$? ;;
	*)
		openssl dgst -sha256 -verify "$T_TMP/$type.pub" \
		    -signature "$T_TMP/$type.sig" "$T_TMP/msg" >/dev/null 2>&1 ||
		    rc=$? ;;
	esac
	t_check "$type: API signature verifies with openssl" "$rc" "exit $rc"

	SIG64=$(base64 -w0 "$T_TMP/$type.sig")
	api POST "/v1/keys/$id/verify" "{\"data\":\"$MSG64\",\"signature\":\"$SIG64\"}"
	t_eq "$type: API verify accepts its signature" true "$(jq -r .valid "$T_BODY")"
	api POST "/v1/keys/$id/verify" "{\"data\":\"$(printf other | base64)\",\"signature\":\"$SIG64\"}"
	t_eq "$type: API verify refuses other data" false "$(jq -r .valid "$T_BODY")"

	api POST "/v1/keys/$id/csr" '{"subject":"CN=vnf1,O=Example\\, Inc.","sans":["DNS:vnf1.example","IP:192.0.2.9","URI:spiffe://example/vnf1","email:ops@example.org"]}'
	jq -r .csr "$T_BODY" >"$T_TMP/$type.csr"
	rc=0
	openssl req -in "$T_TMP/$type.csr" -verify -noout >/dev/null 2>&1 || rc=$?
	t_check "$type: CSR verifies with openssl req -verify" "$rc" "exit $rc"
	openssl req -in "$T_TMP/$type.csr" -noout -text >"$T_TMP/$type.txt" 2>&1 || true
	t_check "$type: CSR carries the subject" \
	    "$(grep -q 'Subject: CN = vnf1, O = "Example, Inc."' "$T_TMP/$type.txt"; echo $?)" \
	    "$(grep Subject: "$T_TMP/$type.txt")"
	t_check "$type: CSR carries the SANs" \
	    "$(grep -q 'DNS:vnf1.example, IP Address:192.0.2.9, URI:spiffe://example/vnf1, email:ops@example.org' "$T_TMP/$type.txt"; echo $?)" \
	    "no matching SAN line"
	rc=0
	openssl pkey -pubin -in "$T_TMP/$type.pub" -outform DER -out "$T_TMP/a.der" 2>/dev/null &&
	    openssl req -in "$T_TMP/$type.csr" -pubkey -noout 2>/dev/null |
	    openssl pkey -pubin -outform DER -out "$T_TMP/b.der" 2>/dev/null &&
	    cmp -s "$T_TMP/a.der" "$T_TMP/b.der" || rc=1
	t_check "$type: CSR holds the key's public key" "$rc" "differs"
	echo "$id" >"$T_TMP/$type.id"
done

# ---- the token: sensitive, never extractable ----
id=$(cat "$T_TMP/ec-p256.id")
t_p11 "$T_DIR" --list-objects --type privkey --id "$id" >"$T_TMP/objs" 2>/dev/null || true
t_check "private key is in the token as a private key object" \
    "$(grep -q 'Private Key Object' "$T_TMP/objs"; echo $?)" "$(t_short "$(cat "$T_TMP/objs")")"
t_check "private key is sensitive" \
    "$(grep -qi 'Access:.*sensitive' "$T_TMP/objs"; echo $?)" "$(t_short "$(cat "$T_TMP/objs")")"
t_check "private key is never extractable" \
    "$(grep -qi 'never extractable' "$T_TMP/objs"; echo $?)" "$(t_short "$(cat "$T_TMP/objs")")"
rc=0
t_p11 "$T_DIR" --read-object --type privkey --id "$id" -o "$T_TMP/stolen" >/dev/null 2>&1 || rc=$?
t_check "pkcs11-tool cannot read the private key out" \
    "$([ "$rc" -ne 0 ] || [ ! -s "$T_TMP/stolen" ]; echo $?)" "it could"

# ---- encryption ----
api POST /v1/keys '{"type":"aes-256","label":"it-aes"}'
aes=$(jq -r .id "$T_BODY")
t_eq "aes-256: no public key" null "$(jq -r .public_key "$T_BODY")"
PT64=$(printf 'attack at dawn' | base64)
api POST "/v1/keys/$aes/encrypt" "{\"plaintext\":\"$PT64\"}"
ct=$(jq -r .ciphertext "$T_BODY")
iv=$(jq -r .iv "$T_BODY")
api POST "/v1/keys/$aes/decrypt" "{\"ciphertext\":\"$ct\",\"iv\":\"$iv\"}"
t_eq "aes-256: GCM round trip in the token" "$PT64" "$(jq -r .plaintext "$T_BODY")"
t_api POST "/v1/keys/$aes/decrypt" "{\"ciphertext\":\"$(printf 'AAAAAAAAAAAAAAAAAAAAAAAAAAAA' )\",\"iv\":\"$iv\"}" >/dev/null
t_eq "aes-256: a forged ciphertext is refused" 400 "$T_STATUS"
rsa=$(cat "$T_TMP/rsa-2048.id")
api POST "/v1/keys/$rsa/encrypt" "{\"plaintext\":\"$PT64\"}"
ct=$(jq -r .ciphertext "$T_BODY")
api POST "/v1/keys/$rsa/decrypt" "{\"ciphertext\":\"$ct\"}"
t_eq "rsa-2048: OAEP round trip, decrypted in the token" "$PT64" "$(jq -r .plaintext "$T_BODY")"
printf 'attack at dawn' | openssl pkeyutl -encrypt -pubin -inkey "$T_TMP/rsa-2048.pub" \
    -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha1 -out "$T_TMP/oaep" 2>/dev/null
api POST "/v1/keys/$rsa/decrypt" "{\"ciphertext\":\"$(base64 -w0 "$T_TMP/oaep")\"}"
t_eq "rsa-2048: openssl's OAEP ciphertext decrypts" "$PT64" "$(jq -r .plaintext "$T_BODY")"

# ---- errors ----
t_api POST /v1/keys '{"type":"dsa-1024"}' >/dev/null
t_eq "unknown key type is 400" 400 "$T_STATUS"
t_api GET /v1/keys/00000000000000000000000000000000 >/dev/null
t_eq "unknown key is 404" 404 "$T_STATUS"
head -c 70000 /dev/zero | base64 -w0 >"$T_TMP/big"
printf '{"data":"%s"}' "$(cat "$T_TMP/big")" >"$T_TMP/bigreq"
t_api POST "/v1/keys/$id/sign" "@$T_TMP/bigreq" >/dev/null
t_eq "sign data over 64 KiB is 413" 413 "$T_STATUS"
t_api POST "/v1/keys/$id/csr" '{"subject":"CN=x","sans":["FTP:x"]}' >/dev/null
t_eq "a malformed SAN is 400" 400 "$T_STATUS"

# ---- list and delete ----
api GET /v1/keys
t_eq "list shows every key" 6 "$(jq '.keys | length' "$T_BODY")"
api DELETE "/v1/keys/$id"
t_eq "delete is 204" 204 "$T_STATUS"
t_api GET "/v1/keys/$id" >/dev/null
t_eq "a deleted key is 404" 404 "$T_STATUS"
t_p11 "$T_DIR" --list-objects >"$T_TMP/objs" 2>/dev/null || true
rc=0
grep -q "ID: *$id" "$T_TMP/objs" && rc=1
t_check "delete removes the objects from the token" "$rc" "objects with ID $id remain"

# ---- the CLI ----
rc=0
t_cli --json key create ec-p256 --label cli >"$T_TMP/c.json" 2>"$T_TMP/c.err" || rc=$?
t_check "capstone key create succeeds" "$rc" "$(t_short "$(cat "$T_TMP/c.err")")"
cid=$(jq -r .id "$T_TMP/c.json")
jq -r .public_key "$T_TMP/c.json" >"$T_TMP/c.pub"
rc=0
t_cli key sign "$cid" "$T_TMP/msg" >"$T_TMP/c.sig64" 2>"$T_TMP/c.err" || rc=$?
t_check "capstone key sign succeeds" "$rc" "$(t_short "$(cat "$T_TMP/c.err")")"
base64 -d "$T_TMP/c.sig64" >"$T_TMP/c.sig" 2>/dev/null || true
rc=0
openssl dgst -sha256 -verify "$T_TMP/c.pub" -signature "$T_TMP/c.sig" "$T_TMP/msg" >/dev/null 2>&1 || rc=$?
t_check "capstone key sign output verifies with openssl" "$rc" "exit $rc"
rc=0
t_cli key verify "$cid" "$T_TMP/msg" "$T_TMP/c.sig" >/dev/null 2>&1 || rc=$?
t_check "capstone key verify accepts it" "$rc" "exit $rc"
rc=0
t_cli key csr "$cid" --subject "CN=cli" --san DNS:cli.example >"$T_TMP/c.csr" 2>/dev/null || rc=$?
openssl req -in "$T_TMP/c.csr" -verify -noout >/dev/null 2>&1 || rc=1
t_check "capstone key csr prints a CSR that verifies" "$rc" "exit $rc"
t_cli key list >"$T_TMP/c.list" 2>/dev/null || true
t_check "capstone key list shows the key" \
    "$(grep -q "^$cid" "$T_TMP/c.list"; echo $?)" "$(t_short "$(cat "$T_TMP/c.list")")"
rc=0
t_cli key rm "$cid" >/dev/null 2>&1 || rc=$?
t_check "capstone key rm succeeds" "$rc" "exit $rc"
rc=0
t_cli key show "$cid" >/dev/null 2>&1 || rc=$?
t_eq "capstone key show of a removed key exits 1" 1 "$rc"

t_stop_ok "daemon stops with status 0 on SIGTERM"
t_done
