#!/bin/sh
# dev-setup.sh BUILD DEV_DIR PORT - the development environment of `make run`.
#
# Creates what is missing under DEV_DIR (relative paths are relative to the
# repository root), then runs capstoned in the foreground:
#   softhsm2.conf, tokens/       a SoftHSM token labelled "capstone"
#   pin, so-pin                  its PINs (random, mode 0600)
#   pki/ca.crt                   dev CA; its key (capstone-dev-ca) is in the token
#   pki/server.crt               TLS server cert for 127.0.0.1 and localhost;
#                                its key (capstone-tls) is in the token
#   pki/admin.crt, admin.key     the admin client identity (software key)
#   capstoned.conf               the daemon configuration
#   store/                       the LMDB store
# and the master key in the token (capstone token init).  Running it again
# reuses all of it.  PINs are handed to the PKCS#11 tools through the
# environment or a file, never on a command line.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
MODULE=/usr/lib/softhsm/libsofthsm2.so
TOKEN=capstone
CA_LABEL=capstone-dev-ca
CA_ID=c0de01
TLS_LABEL=capstone-tls
TLS_ID=c0de02
MK_LABEL=capstone-master

usage() {
	echo "usage: dev-setup.sh BUILD DEV_DIR PORT" >&2
	exit 2
}
die() {
	echo "dev-setup: $*" >&2
	exit 1
}

[ $# -eq 3 ] || usage
case $3 in
'' | *[!0-9]*) usage ;;
esac
if [ "$3" -lt 1 ] || [ "$3" -gt 65535 ]; then
	usage
fi
PORT=$3

abs() {
	case $1 in
	/*) printf '%s\n' "$1" ;;
	*) printf '%s\n' "$ROOT/$1" ;;
	esac
}
BUILD=$(abs "$1")
DEV=$(abs "$2")

# The directory ends up inside pkcs11: URIs and INI values unquoted.
case $DEV in
*[!A-Za-z0-9/._-]*) die "DEV_DIR must use only [A-Za-z0-9/._-]: $DEV" ;;
esac

[ -x "$BUILD/capstoned" ] || die "$BUILD/capstoned is not built (run make)"
[ -x "$BUILD/capstone" ] || die "$BUILD/capstone is not built (run make)"
[ -r "$MODULE" ] || die "$MODULE missing (apt-get install softhsm2)"
command -v pkcs11-tool >/dev/null || die "pkcs11-tool missing (apt-get install opensc)"

umask 077
mkdir -p "$DEV/tokens" "$DEV/pki" "$DEV/store"
PKI=$DEV/pki

# ---- SoftHSM configuration and token ----

if [ ! -f "$DEV/softhsm2.conf" ]; then
	cat >"$DEV/softhsm2.conf" <<EOF
# SoftHSM configuration of the Capstone development token
directories.tokendir = $DEV/tokens
objectstore.backend = file
log.level = ERROR
slots.removable = false
EOF
	chmod 0644 "$DEV/softhsm2.conf"
fi
SOFTHSM2_CONF=$DEV/softhsm2.conf
export SOFTHSM2_CONF

token_exists() {
	softhsm2-util --show-slots 2>/dev/null |
	    grep -q "^[[:space:]]*Label:[[:space:]]*${TOKEN}[[:space:]]*\$"
}

if ! token_exists; then
	[ ! -f "$DEV/pin" ] || die "$DEV/pin exists but the token does not; remove $DEV to start over"
	echo "dev-setup: creating SoftHSM token '$TOKEN' in $DEV/tokens"
	# 96-bit PINs: libp11 0.4.12 truncates a pin-source file at 31 bytes.
	openssl rand -hex 12 | tr -d '\n' >"$DEV/so-pin.tmp"
	openssl rand -hex 12 | tr -d '\n' >"$DEV/pin.tmp"
	chmod 0600 "$DEV/so-pin.tmp" "$DEV/pin.tmp"
	DEV_SO_PIN=$(cat "$DEV/so-pin.tmp")
	DEV_PIN=$(cat "$DEV/pin.tmp")
	export DEV_SO_PIN DEV_PIN
	# The free slot is the only one in a token directory with no token.
	free=$(softhsm2-util --show-slots | sed -n 's/^Slot \([0-9][0-9]*\)$/\1/p' | tail -n 1)
	[ -n "$free" ] || die "no free SoftHSM slot"
	pkcs11-tool --module "$MODULE" --slot "$free" --init-token \
	    --label "$TOKEN" --so-pin env:DEV_SO_PIN >/dev/null ||
	    die "token initialisation failed"
	pkcs11-tool --module "$MODULE" --token-label "$TOKEN" --login \
	    --login-type so --so-pin env:DEV_SO_PIN --init-pin \
	    --pin env:DEV_PIN >/dev/null || die "user PIN initialisation failed"
	unset DEV_SO_PIN DEV_PIN
	mv "$DEV/so-pin.tmp" "$DEV/so-pin"
	mv "$DEV/pin.tmp" "$DEV/pin"
fi
[ -f "$DEV/pin" ] || die "token '$TOKEN' exists but $DEV/pin is missing; remove $DEV to start over"

# p11 ARGS...: pkcs11-tool logged in to the dev token.
p11() {
	DEV_PIN=$(cat "$DEV/pin") pkcs11-tool --module "$MODULE" \
	    --token-label "$TOKEN" --login --pin env:DEV_PIN "$@"
}

# has_object TYPE LABEL: the token holds an object of TYPE labelled LABEL.
has_object() {
	p11 --list-objects --type "$1" 2>/dev/null |
	    grep -q "^[[:space:]]*label:[[:space:]]*${2}[[:space:]]*\$"
}

# ---- development PKI ----

# The libp11 engine, configured for the SoftHSM module only (never the
# default engine); its PIN comes from the pin-source file in the key URI.
cat >"$PKI/engine.cnf" <<EOF
openssl_conf = openssl_init
[openssl_init]
engines = engine_section
[engine_section]
pkcs11 = pkcs11_section
[pkcs11_section]
engine_id = pkcs11
MODULE_PATH = $MODULE
[req]
distinguished_name = req_dn
prompt = no
[req_dn]
CN = unused
EOF

key_uri() {
	printf 'pkcs11:token=%s;object=%s;type=private?pin-source=file:%s\n' \
	    "$TOKEN" "$1" "$DEV/pin"
}

eng() {
	OPENSSL_CONF=$PKI/engine.cnf openssl "$@" 2>"$PKI/openssl.err" || {
		cat "$PKI/openssl.err" >&2
		return 1
	}
}

serial() {
	printf '0x%s\n' "$(openssl rand -hex 8)"
}

if ! has_object privkey "$CA_LABEL"; then
	echo "dev-setup: generating the dev CA key in the token"
	p11 --keypairgen --key-type EC:prime256v1 --label "$CA_LABEL" \
	    --id "$CA_ID" >/dev/null || die "CA key generation failed"
	rm -f "$PKI/ca.crt" "$PKI/server.crt" "$PKI/admin.crt"
fi
if [ ! -f "$PKI/ca.crt" ]; then
	eng req -new -x509 -engine pkcs11 -keyform engine \
	    -key "$(key_uri "$CA_LABEL")" -subj "/CN=Capstone Dev CA" \
	    -days 3650 -sha256 -set_serial "$(serial)" \
	    -addext basicConstraints=critical,CA:true \
	    -addext keyUsage=critical,keyCertSign,cRLSign \
	    -out "$PKI/ca.crt.tmp" || die "dev CA certificate failed"
	chmod 0644 "$PKI/ca.crt.tmp"
	mv "$PKI/ca.crt.tmp" "$PKI/ca.crt"
	rm -f "$PKI/server.crt" "$PKI/admin.crt"
fi

# sign CSR EXTFILE OUT: a certificate from the dev CA.
sign() {
	eng x509 -req -in "$1" -engine pkcs11 -CA "$PKI/ca.crt" \
	    -CAkeyform engine -CAkey "$(key_uri "$CA_LABEL")" \
	    -set_serial "$(serial)" -days 825 -sha256 -extfile "$2" \
	    -out "$3.tmp" && chmod 0644 "$3.tmp" && mv "$3.tmp" "$3"
}

if ! has_object privkey "$TLS_LABEL"; then
	echo "dev-setup: generating the server TLS key in the token"
	p11 --keypairgen --key-type EC:prime256v1 --label "$TLS_LABEL" \
	    --id "$TLS_ID" >/dev/null || die "TLS key generation failed"
	rm -f "$PKI/server.crt"
fi
if [ ! -f "$PKI/server.crt" ]; then
	printf '%s\n' 'basicConstraints=critical,CA:false' \
	    'keyUsage=critical,digitalSignature' \
	    'extendedKeyUsage=serverAuth' \
	    'subjectAltName=IP:127.0.0.1,DNS:localhost' >"$PKI/server.ext"
	eng req -new -engine pkcs11 -keyform engine \
	    -key "$(key_uri "$TLS_LABEL")" -subj /CN=localhost \
	    -out "$PKI/server.csr" || die "server CSR failed"
	sign "$PKI/server.csr" "$PKI/server.ext" "$PKI/server.crt" ||
	    die "server certificate failed"
fi

if [ ! -f "$PKI/admin.crt" ] || [ ! -f "$PKI/admin.key" ]; then
	printf '%s\n' 'basicConstraints=critical,CA:false' \
	    'keyUsage=critical,digitalSignature' \
	    'extendedKeyUsage=clientAuth' >"$PKI/client.ext"
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
	    -out "$PKI/admin.key" || die "admin key failed"
	chmod 0600 "$PKI/admin.key"
	openssl req -new -key "$PKI/admin.key" -subj /CN=admin \
	    -out "$PKI/admin.csr" || die "admin CSR failed"
	sign "$PKI/admin.csr" "$PKI/client.ext" "$PKI/admin.crt" ||
	    die "admin certificate failed"
fi
rm -f "$PKI/openssl.err"

# ---- daemon configuration ----

if [ ! -f "$DEV/capstoned.conf" ]; then
	cat >"$DEV/capstoned.conf" <<EOF
# capstoned development configuration written by tools/dev-setup.sh
[server]
listen = 127.0.0.1:$PORT
tls_cert = $PKI/server.crt
tls_key = pkcs11:token=$TOKEN;object=$TLS_LABEL;type=private
tls_client_ca = $PKI/ca.crt

[token]
uri = pkcs11:token=$TOKEN?module-path=$MODULE
pin = file:$DEV/pin

[store]
path = $DEV/store

[seal]
mode = memory

[auth]
admins = CN=admin

[log]
target = stderr
level = info
EOF
else
	# An existing configuration keeps everything but follows PORT.
	sed -i "s/^listen = 127\.0\.0\.1:[0-9]*\$/listen = 127.0.0.1:$PORT/" \
	    "$DEV/capstoned.conf"
	# Authorisation is default-deny: older files lack the admin.
	if ! grep -q '^\[auth\]' "$DEV/capstoned.conf"; then
		printf '\n[auth]\nadmins = CN=admin\n' >>"$DEV/capstoned.conf"
	fi
fi

# ---- master key ----

if ! has_object secrkey "$MK_LABEL" && ! has_object privkey "$MK_LABEL"; then
	echo "dev-setup: creating the master key"
	"$BUILD/capstone" token init -c "$DEV/capstoned.conf" ||
	    die "capstone token init failed"
fi

cat <<EOF

capstoned: development daemon on https://127.0.0.1:$PORT (Ctrl-C stops it)
From another terminal:
  export CAPSTONE_ADDR=https://127.0.0.1:$PORT CAPSTONE_CACERT=$PKI/ca.crt CAPSTONE_CERT=$PKI/admin.crt CAPSTONE_KEY=$PKI/admin.key
  $BUILD/capstone domain create payments
  $BUILD/capstone secret put payments/db user=app password=s3cr3t
  $BUILD/capstone secret get payments/db

EOF

exec "$BUILD/capstoned" -c "$DEV/capstoned.conf"
