#!/bin/sh
# pkg.sh BUILD - VNF package signing and verification throughput: a CSAR
# with one large artifact (BENCH_PKG_MIB MiB of random bytes, stored, not
# deflated) and a few small files is signed by `capstone pkg sign` against
# a real capstoned (local CA, code-signing certificate whose key is in the
# token; the CLI hashes the artifacts, writes the inner CSAR with its
# manifest, hashes that and sends the daemon only the manifest text and the
# digest) and verified by `capstone pkg verify` (no daemon). Wall time and
# peak RSS of each, by GNU time, median of BENCH_PKG_RUNS runs.
#
# Measured in the same run, over the same artifact file, beside:
# `openssl dgst -sha256` and `sha256sum` (one pass of SHA-256), and `cp`
# (one read and one write of the file). Every file is read once before the
# first timed run, so all runs read from the page cache. MB/s is the
# artifact's size (10^6 bytes) over the wall time. Nothing asserts a speed.
#
# Tunables (environment): BENCH_PKG_MIB (default 512), BENCH_PKG_RUNS
# (default 3), BENCH_KEEP=1 keeps the temp dir.
set -eu

BUILD=${1:?usage: sh tests/bench/pkg.sh BUILD}
BUILD=$(cd "$BUILD" && pwd)
MIB=${BENCH_PKG_MIB:-512}
RUNS=${BENCH_PKG_RUNS:-3}
BENCH_NAME=pkg
# shellcheck source=tests/bench/lib.sh
. "$(dirname "$0")/lib.sh"

[ -x "$DAEMON" ] || die "$DAEMON is missing (run make)"
[ -x "$CLI" ] || die "$CLI is missing (run make)"
[ -x /usr/bin/time ] || die "/usr/bin/time is missing (apt-get install time)"
command -v python3 >/dev/null || die "python3 is missing"
command -v jq >/dev/null || die "jq is missing"

bench_pki
bench_token memory yes
start_daemon memory yes

# api METHOD PATH BODY: fails unless the answer is 2xx; body in $T/out.
api() {
	# shellcheck disable=SC2086
	curl $CURL_TLS -f -o "$T/out" -X "$1" -H 'Content-Type: application/json' \
	    --data-binary "$3" "$CAP_URL$2" || {
		cat "$T/out" >&2 2>/dev/null || true
		die "$1 $2 failed"
	}
}

api POST /v1/cas '{"name":"pkg","protocol":"local","subject":"CN=Capstone Bench Package Root","key":{"type":"ec-p256"},"validity":"30d"}'
jq -r '.chain[0]' "$T/out" >"$T/root.pem"
api POST /v1/certs '{"ca":"pkg","subject":"CN=Bench VNF Signer","key":{"type":"ec-p256"},"profile":"code-signing","validity":"30d"}'
SIGNER=$(jq -r .id "$T/out")
case $SIGNER in
"" | null) die "no code-signing certificate: $(head -c 300 "$T/out")" ;;
esac

# --- the package ---------------------------------------------------------
say "pkg: writing a $MIB MiB artifact ..."
P=$T/vnf
mkdir -p "$P/TOSCA-Metadata" "$P/Definitions" "$P/Files/scripts"
printf 'TOSCA-Meta-File-Version: 1.0\nCSAR-Version: 1.1\nCreated-By: pkg.sh\nEntry-Definitions: Definitions/vnf.yaml\n' \
    >"$P/TOSCA-Metadata/TOSCA.meta"
printf 'tosca_definitions_version: tosca_simple_yaml_1_3\n' >"$P/Definitions/vnf.yaml"
printf '#!/bin/sh\necho install\n' >"$P/Files/scripts/install.sh"
head -c 65536 /dev/urandom >"$P/Files/config.bin"
ART=$P/Files/disk.img
openssl rand -out "$ART" $((MIB * 1048576)) || die "cannot write the artifact"
python3 - "$P" "$T/in.csar" <<'PY' || die "cannot write the CSAR"
import os, sys, zipfile
src, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:
    for d, _, fs in os.walk(src):
        for f in sorted(fs):
            p = os.path.join(d, f)
            z.write(p, os.path.relpath(p, src))
PY
BYTES=$(stat -c %s "$ART")
CSAR_BYTES=$(stat -c %s "$T/in.csar")

# --- timing ---------------------------------------------------------------
# timed NAME CMD ARGS...: one run under GNU time; "NAME seconds KiB" to
# $T/times. Fails the bench (STATUS=1) when CMD fails.
timed() {
	_n=$1
	shift
	if /usr/bin/time -f '%e %M' -o "$T/time.out" "$@" >"$T/cmd.out" 2>&1; then
		printf '%s %s\n' "$_n" "$(tail -n 1 "$T/time.out")" >>"$T/times"
	else
		say "pkg: $_n failed: $(tail -n 3 "$T/cmd.out")"
		STATUS=1
	fi
}

# the CLI's connection to the daemon, for pkg sign
CAPSTONE_ADDR=$CAP_URL CAPSTONE_CACERT=$CA CAPSTONE_CERT=$CERT CAPSTONE_KEY=$KEY
export CAPSTONE_ADDR CAPSTONE_CACERT CAPSTONE_CERT CAPSTONE_KEY

# read every input once: all timed runs start from the page cache
cat "$ART" "$T/in.csar" >/dev/null
: >"$T/times"
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
i=0
while [ "$i" -lt "$RUNS" ]; do
	say "pkg: run $((i + 1)) of $RUNS ..."
	timed "openssl dgst -sha256" openssl dgst -sha256 "$ART"
	timed "sha256sum" sha256sum "$ART"
	timed "cp (read + write)" cp "$ART" "$T/copy.img"
	rm -f "$T/copy.img"
	rm -f "$T/out.zip"
	timed "capstone pkg sign" "$CLI" pkg sign --cert "$SIGNER" \
	    --provider ACME --product vBench --version 1.0 \
	    "$T/in.csar" -o "$T/out.zip"
	timed "capstone pkg verify" "$CLI" pkg verify --trust "$T/root.pem" "$T/out.zip"
	i=$((i + 1))
done
VERIFY_LINE=$("$CLI" pkg verify --trust "$T/root.pem" "$T/out.zip" 2>&1) ||
    VERIFY_LINE="(verify failed) $VERIFY_LINE"
OUT_BYTES=$(stat -c %s "$T/out.zip" 2>/dev/null || echo 0)
stop_pid "$DAEMON_PID"
DAEMON_PID=""

# --- report --------------------------------------------------------------
printf '\nMachine: %s CPU(s), %s\n' "$(nproc)" \
    "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
printf 'Load average before the runs: %s; %s, %s\n' "$LOAD_BEFORE" \
    "$(openssl version | cut -d' ' -f1-2)" "$(sha256sum --version | head -n 1)"
printf 'Artifact Files/disk.img: %s bytes of random data; CSAR (stored) %s bytes,\n' \
    "$BYTES" "$CSAR_BYTES"
printf '5 files; signed package %s bytes. Local CA "pkg", EC P-256 signer key in the token.\n' \
    "$OUT_BYTES"
printf 'pkg verify: %s\n' "$(printf '%s' "$VERIFY_LINE" | head -n 1)"
printf 'Median of %s runs, inputs in the page cache; MB/s = artifact bytes / 10^6 / wall s.\n\n' "$RUNS"
awk -v bytes="$BYTES" '
	{
		n = split($0, w, " "); name = w[1]
		for (i = 2; i <= n - 2; i++) name = name " " w[i]
		if (!(name in cnt)) order[++k] = name
		t[name, ++cnt[name]] = w[n - 1]
		if (w[n] > rss[name]) rss[name] = w[n]
	}
	END {
		for (j = 1; j <= k; j++) {
			nm = order[j]; c = cnt[nm]
			for (a = 1; a <= c; a++) s[a] = t[nm, a]
			for (a = 1; a <= c; a++) for (b = a + 1; b <= c; b++)
				if (s[b] < s[a]) { x = s[a]; s[a] = s[b]; s[b] = x }
			med[nm] = s[int((c + 1) / 2)]
		}
		ref = med["openssl dgst -sha256"]
		printf "| %-22s | %7s | %8s | %10s | %-12s |\n", "command", "wall s",
		    "MB/s", "peak RSS", "vs openssl"
		printf "|%s|%s|%s|%s|%s|\n", "------------------------", "---------",
		    "----------", "------------", "--------------"
		for (j = 1; j <= k; j++) {
			nm = order[j]
			mbs = med[nm] > 0 ? sprintf("%.0f", bytes / 1e6 / med[nm]) : "-"
			ratio = (med[nm] > 0 && ref > 0) ? sprintf("%.2f", ref / med[nm]) : "-"
			printf "| %-22s | %7.2f | %8s | %6.1f MiB | %-12s |\n", nm,
			    med[nm], mbs, rss[nm] / 1024, ratio
		}
	}' "$T/times"
printf '\n"vs openssl" is the MB/s of the command over the MB/s of openssl dgst -sha256 on the same file.\n'
printf 'Peak RSS is the highest of the runs (GNU time %%M).\n'
exit "$STATUS"
