#!/bin/sh
# deps.sh - install the Debian packages that building, testing and running
# Capstone need, and only those that are missing.  Needs root (or sudo).
set -e

PKGS="build-essential pkg-config clang libclang-rt-14-dev valgrind
libp11-kit-dev p11-kit libsodium-dev liblmdb-dev lmdb-utils libevent-dev
libjansson-dev libinih-dev libssl-dev libzip-dev openssl curl time
softhsm2 opensc libengine-pkcs11-openssl
swtpm swtpm-tools libtpm2-pkcs11-1 libtpm2-pkcs11-tools tpm2-tools
nginx-light python3 jq scep strongswan-pki libstrongswan-standard-plugins
libstrongswan-extra-plugins"

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed'; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

echo "deps: installing$missing"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
