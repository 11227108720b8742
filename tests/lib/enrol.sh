# enrol.sh - helpers of the enrolment-server scripts (enrol_*.sh), sourced
# after env.sh.  enrol_setup sets W (a work directory), EPORT (the [enrol]
# listener's port) and E (its .well-known/est URL) that the others use.

# enrol_setup [LINE...]: the fixture with an [enrol] listener (LINEs added
# to its section), a running daemon and a local CA "op" for the operator
# (its certificate in $W/op.pem).
enrol_setup() {
	t_prepare
	EPORT=$(t_free_port) || t_die "no free port"
	# "listen=" without blanks: t_start_daemon reads the API port from
	# "listen = "
	printf '\n[enrol]\nlisten=127.0.0.1:%s\nca = op\n' "$EPORT" \
	    >>"$T_DIR/capstoned.conf"
	for _line in "$@"; do
		printf '%s\n' "$_line" >>"$T_DIR/capstoned.conf"
	done
	t_start_daemon "$T_DIR" || t_die "capstoned did not start"
	E=https://127.0.0.1:$EPORT/.well-known/est
	W=$T_TMP/w
	mkdir -p "$W"
	t_expect "a local CA for the operator" 201 POST /v1/cas \
	    '{"name":"op","protocol":"local","subject":"CN=Operator CA","key":{"type":"ec-p256"}}'
	jq -r '.chain[0]' "$T_BODY" >"$W/op.pem"
}

# initcred ENTITY FILE: a bootstrap token for ENTITY (VNFCI_CERT, 1 h):
# FILE is a curl -K file (user = "REF:SECRET"), FILE.ref the reference,
# FILE.sec the secret (for openssl's file:) and FILE.up "REF:SECRET" (for
# pki), all mode 600, so the secret stays off command lines.
initcred() {
	t_api POST "/cmf/v1/entities/$1/initial-credentials" \
	    '{"certType":"VNFCI_CERT","ttl":"1h"}' >/dev/null
	[ "$T_STATUS" = 201 ] || return 1
	(umask 077 &&
	    jq -r '"user = \"" + .reference + ":" + .secret + "\""' \
	    "$T_BODY" >"$2" &&
	    jq -r .reference "$T_BODY" >"$2.ref" &&
	    jq -r .secret "$T_BODY" >"$2.sec" &&
	    jq -r '.reference + ":" + .secret' "$T_BODY" >"$2.up")
	: >"$T_BODY"
}

# est PATH OUT [CURL ARGS...]: POST the base64 body in $W/body; status in
# EST_STATUS, body in OUT, headers in OUT.hdr.
est() {
	_p=$1
	_o=$2
	shift 2
	EST_STATUS=$(curl -s -o "$_o" -D "$_o.hdr" -w '%{http_code}' \
	    --max-time 60 --cacert "$T_DIR/pki/ca.crt" \
	    -H 'Content-Type: application/pkcs10' -H 'Expect:' \
	    --data-binary "@$W/body" "$@" "$E/$_p") || EST_STATUS=000
}

# csr NAME CN [SAN]: key $W/NAME.key, DER request $W/NAME.der, its base64
# in $W/NAME.b64 and in $W/body.
csr() {
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
	    -out "$W/$1.key" 2>/dev/null
	if [ -n "${3:-}" ]; then
		set -- "$1" "$2" -addext "subjectAltName=$3"
	else
		set -- "$1" "$2"
	fi
	_n=$1
	_cn=$2
	shift 2
	openssl req -new -key "$W/$_n.key" -subj "/CN=$_cn" "$@" \
	    -outform DER -out "$W/$_n.der" 2>/dev/null
	base64 <"$W/$_n.der" >"$W/$_n.b64"
	cp "$W/$_n.b64" "$W/body"
}

# p7 IN OUT: the certificates of a base64 certs-only PKCS#7 as PEM.
p7() {
	base64 -d <"$1" >"$1.der" 2>/dev/null &&
	    openssl pkcs7 -inform DER -in "$1.der" -print_certs -out "$2" 2>/dev/null
}

# ocmp LOG ARGS...: openssl cmp against the enrolment listener, output in
# $W/LOG.log.
ocmp() {
	_l=$1
	shift
	timeout 60 openssl cmp -config "" -server "127.0.0.1:$EPORT" \
	    -path pkix/ -tls_used -tls_trusted "$T_DIR/pki/ca.crt" \
	    -recipient "/CN=capstone" -unprotected_errors "$@" \
	    >"$W/$_l.log" 2>&1
}

# newkey NAME: an EC P-256 key in $W/NAME.key.
newkey() {
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
	    -out "$W/$1.key" 2>/dev/null
}

# same_key KEY PEM: 0 when the certificate PEM is for the private key KEY.
same_key() {
	[ "$(openssl pkey -in "$1" -pubout 2>/dev/null)" = \
	    "$(openssl x509 -in "$2" -noout -pubkey 2>/dev/null)" ]
}

# est_peer_ca FILE: a CA connector "estpeer" to this EST server that
# authenticates with the initial credential in FILE ("REF:SECRET"); the
# secret goes to the vault (_ca/estpeer#password), never on a command line.
est_peer_ca() {
	(umask 077 && jq -Rn 'input | {data: {password: (split(":")[1:] |
	    join(":"))}}' <"$1" >"$W/peer-secret.json")
	t_api POST /v1/domains '{"name":"_ca"}' >/dev/null
	t_expect "the credential's secret goes to the vault" 200 \
	    PUT /v1/domains/_ca/secrets/estpeer "@$W/peer-secret.json"
	rm -f "$W/peer-secret.json"
	jq -Rn --arg url "https://127.0.0.1:$EPORT/.well-known/est" \
	    --rawfile tls "$T_DIR/pki/ca.crt" 'input | {
		name: "estpeer", protocol: "est", url: $url, trusted: $tls,
		username: (split(":")[0]),
		password: "vault:_ca/estpeer#password"}' <"$1" >"$W/peer.json"
	t_expect "an EST connector to this server" 201 POST /v1/cas \
	    "@$W/peer.json"
}

# secrets_not_logged FILE...: checks that no initial credential secret of
# the curl -K FILEs (user = "REF:SECRET") is in the daemon or audit log.
secrets_not_logged() {
	sed -n 's/^user = ".*:\(.*\)"$/\1/p' "$@" >"$W/secrets.txt"
	if [ ! -s "$W/secrets.txt" ]; then
		t_fail "no initial credential secret in the logs" "no secret to look for"
	elif grep -qF -f "$W/secrets.txt" "$T_DIR/daemon.log" "$T_DIR/audit.log"; then
		t_fail "no initial credential secret in the logs" "found"
	else
		t_ok "no initial credential secret in the logs"
	fi
	rm -f "$W/secrets.txt"
}
