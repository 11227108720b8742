#!/bin/sh
# config.sh - capstoned -n checks a configuration file: 0 when valid, 1
# with a message naming file:line and the key when not; -T prints an
# effective configuration that checks clean.
set -eu
. "$(dirname "$0")/../lib/env.sh"

D=$T_TMP/d
T_DIR=$D
mkdir -p "$D"
[ -x "$BUILD/capstoned" ] || t_die "$BUILD/capstoned not built"
t_pki "$D" >/dev/null 2>&1 || t_die "test PKI creation failed"
printf '0000\n' >"$D/pin"
t_conf "$D" 12345
GOOD=$D/capstoned.conf

# check NAME FILE EXPECTED-STATUS [PATTERN...]: capstoned -n -c FILE exits
# with EXPECTED-STATUS and its output holds every PATTERN (fixed strings).
check() {
	_n=$1
	_f=$2
	_want=$3
	shift 3
	_rc=0
	"$BUILD/capstoned" -n -c "$_f" >"$T_TMP/out" 2>&1 || _rc=$?
	if [ "$_rc" != "$_want" ]; then
		t_fail "$_n" "expected exit $_want, got $_rc: $(t_short "$(cat "$T_TMP/out")")"
		return 0
	fi
	for _p in "$@"; do
		if ! grep -q -F -e "$_p" "$T_TMP/out"; then
			t_fail "$_n" "expected the message to name '$_p', got: $(t_short "$(cat "$T_TMP/out")")"
			return 0
		fi
	done
	t_ok "$_n"
}

# edit NAME SED-SCRIPT: a copy of the good file edited by SED-SCRIPT.
edit() {
	sed "$2" "$GOOD" >"$T_TMP/$1.conf"
	echo "$T_TMP/$1.conf"
}

# line_of KEY FILE: the line number of "KEY = ..." in FILE.
line_of() {
	grep -n "^$1 = " "$2" | head -n 1 | cut -d: -f1
}

check "a valid file checks clean" "$GOOD" 0

f=$(edit workers 's/^workers = 2$/workers = many/')
check "bad number names file:line and key" "$f" 1 "$f:$(line_of workers "$f")" workers

f=$(edit listen 's/^listen = .*/listen = 127.0.0.1:99999/')
check "bad port names file:line and key" "$f" 1 "$f:$(line_of listen "$f")" listen

f=$(edit seal 's/^mode = .*/mode = sideways/')
check "bad seal mode names file:line and key" "$f" 1 "$f:$(line_of mode "$f")" mode

f=$(edit size 's/^max_body = .*/max_body = 12q/')
check "bad size names file:line and key" "$f" 1 "$f:$(line_of max_body "$f")" max_body

f=$(edit unknown 's/^workers = 2$/workers = 2\ncolour = blue/')
check "unknown key names file:line and key" "$f" 1 "$f:$(line_of colour "$f")" colour

f=$(edit section 's/^\[seal\]$/[sealz]/')
check "unknown section names file:line" "$f" 1 "$f:$(grep -n '^\[sealz\]' "$f" | cut -d: -f1)" sealz

f=$(edit dup 's/^workers = 2$/workers = 2\nworkers = 3/')
check "duplicate key names file:line and key" "$f" 1 "$f:$(grep -n '^workers = 3' "$f" | cut -d: -f1)" workers

f=$(edit missing '/^tls_cert = /d')
check "missing required key is named" "$f" 1 "$f" tls_cert

f=$(edit garbage 's/^workers = 2$/this is not ini/')
check "a line that is not key = value names file:line" "$f" 1 "$f:$(grep -n '^this is not ini' "$f" | cut -d: -f1)"

f=$(edit pinvalue 's|^uri = .*|uri = pkcs11:token=capstone;pin-value=1234?module-path=/usr/lib/softhsm/libsofthsm2.so|')
check "a pin-value in the token URI is refused" "$f" 1 "$f"
t_run "the refused pin-value is not echoed" "the PIN appeared in: $(t_short "$(cat "$T_TMP/out")")" \
    sh -c "! grep -q 1234 '$T_TMP/out'"

check "a missing file exits 1 and names it" "$T_TMP/absent.conf" 1 "$T_TMP/absent.conf"

rc=0
"$BUILD/capstoned" -T -c "$GOOD" >"$T_TMP/effective.conf" 2>"$T_TMP/err" || rc=$?
t_eq "capstoned -T exits 0" 0 "$rc"
check "capstoned -T output checks clean" "$T_TMP/effective.conf" 0
t_run "capstoned -T shows defaults" "no sessions/map_size keys in: $(t_short "$(cat "$T_TMP/effective.conf")")" \
    grep -q '^map_size' "$T_TMP/effective.conf"
t_done
