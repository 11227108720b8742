#!/bin/sh
# master_key.sh - the master key is a token object that is sensitive and
# not extractable, as seen by pkcs11-tool directly and through
# GET /v1/sys/tokens.
set -eu
. "$(dirname "$0")/../lib/env.sh"

t_setup

# Straight from the token (the daemon holds a session at the same time).
t_p11 "$T_DIR" --token-label capstone --list-objects --type secrkey \
    >"$T_TMP/objs" 2>&1 || true
awk '/^Secret Key Object/ { o = $0 } /label:/ { l = $2 }
     /Access:/ { if (l == "capstone-master") print o "|" $0; l = "" }' \
    "$T_TMP/objs" >"$T_TMP/mk"
t_eq "exactly one capstone-master secret key in the token" 1 "$(wc -l <"$T_TMP/mk")"
access=$(sed 's/.*Access://' "$T_TMP/mk" | tr -d ' ')
t_run "master key is AES-256" "got $(t_short "$(cat "$T_TMP/mk")")" \
    grep -q 'AES length 32' "$T_TMP/mk"
case ",$access," in
*,sensitive,*) t_ok "pkcs11-tool: master key is sensitive" ;;
*) t_fail "pkcs11-tool: master key is sensitive" "Access: $access" ;;
esac
case ",$access," in
*,extractable,*) t_fail "pkcs11-tool: master key is not extractable" "Access: $access" ;;
*) t_ok "pkcs11-tool: master key is not extractable" ;;
esac
case ",$access," in
*,neverextractable,*) t_ok "pkcs11-tool: master key was never extractable" ;;
*) t_fail "pkcs11-tool: master key was never extractable" "Access: $access" ;;
esac
t_run "pkcs11-tool shows no key value" "a VALUE line was printed" \
    sh -c "! grep -q 'VALUE:' '$T_TMP/objs'"

t_expect "GET /v1/sys/tokens" 200 GET /v1/sys/tokens
t_jq "tokens lists the capstone token" '.tokens | map(.label) | index("capstone") != null'
t_jq "API: master key is sensitive" '.tokens[0].master_key.sensitive == true'
t_jq "API: master key is not extractable" '.tokens[0].master_key.extractable == false'
t_jq "API: master key kind is aes" '.tokens[0].master_key.kind | ascii_downcase | test("aes")'
t_jq "API: token reports its mechanisms" '.tokens[0].mechanisms | type == "object"'

# Domain keys live in the store wrapped, not as token objects.
t_expect "create domain" 201 POST /v1/domains '{"name":"mk"}'
t_p11 "$T_DIR" --token-label capstone --list-objects --type secrkey \
    >"$T_TMP/objs2" 2>&1 || true
t_eq "no new persistent secret keys after domain creation" \
    "$(grep -c '^Secret Key Object' "$T_TMP/objs")" \
    "$(grep -c '^Secret Key Object' "$T_TMP/objs2")"

t_stop_ok "daemon stops with status 0 on SIGTERM"
t_done
