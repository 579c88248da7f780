#!/usr/bin/env bash
# otaseal-agent install of a raw payload from a loopback HTTPS server (nginx),
# against the reference `curl -o` + `otaseal verify` of the same package:
# wall time and peak RSS (GNU time), and their ratios, measured in this script.
#
#   bash benches/agent.sh              # 1 GiB payload
#   SIZE_MB=256 bash benches/agent.sh  # smaller
#
# Needs: nginx, openssl, curl, GNU time (/usr/bin/time), cargo.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE_MB=${SIZE_MB:-1024}
TGT=${CARGO_TARGET_DIR:-target}
# PROFILE=debug measures the debug binaries (dependencies at opt-level 3,
# workspace crates not optimized): only when a release build is out of reach.
PROFILE=${PROFILE:-release}
if [ "${NO_BUILD:-0}" != 1 ]; then
  if [ "$PROFILE" = release ]; then
    cargo build -q --release -p otaseal-cli -p otaseal-agent
  else
    cargo build -q -p otaseal-cli -p otaseal-agent
  fi
fi
OTASEAL=$TGT/$PROFILE/otaseal
AGENT=$TGT/$PROFILE/otaseal-agent
W=$(mktemp -d)
trap 'kill "$(cat "$W/nginx.pid" 2>/dev/null)" 2>/dev/null || true; rm -rf "$W"' EXIT
PKI=$PWD/firmware-fixtures/pki

echo "payload: $SIZE_MB MiB raw; $PROFILE binaries; workdir $W"
{ printf 'ACMEFW'; head -c $((SIZE_MB * 1024 * 1024 - 6)) /dev/zero | openssl enc -aes-128-ctr -nosalt -pass pass:otaseal 2>/dev/null; } > "$W/fw.bin"
mkdir -p "$W/www" "$W/tmp"
"$OTASEAL" sign --out "$W/www/fw.ota" --product acme.router-x1 --version 9 --security-version 9 \
  --hw-compat acme-rev-a --target fw.bin=slot:boot \
  --signer "key=$PKI/ecdsa-p256/signer.key.pem,cert=$PKI/ecdsa-p256/signer.chain.pem" "$W/fw.bin" >/dev/null
rm "$W/fw.bin"

# TLS for 127.0.0.1 from a throwaway CA.
(cd "$W" &&
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=bench-ca 2>/dev/null &&
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout server.key -out server.csr -subj /CN=127.0.0.1 2>/dev/null &&
  printf 'subjectAltName=IP:127.0.0.1\n' > ext.cnf &&
  openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 -extfile ext.cnf 2>/dev/null)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$W/nginx.conf" <<EOF
daemon on; master_process off; pid $W/nginx.pid; error_log $W/error.log;
events {}
http { access_log off; client_body_temp_path $W/tmp; proxy_temp_path $W/tmp; fastcgi_temp_path $W/tmp;
  uwsgi_temp_path $W/tmp; scgi_temp_path $W/tmp;
  server { listen 127.0.0.1:$PORT ssl; ssl_certificate $W/server.pem; ssl_certificate_key $W/server.key; root $W/www; } }
EOF
nginx -p "$W" -e "$W/error.log" -c "$W/nginx.conf"
sleep 0.5
URL=https://127.0.0.1:$PORT/fw.ota

cat > "$W/agent.toml" <<EOF
hw_id = "acme-rev-a"
trust = ["$PKI/roots.pem"]
state_dir = "state"
ca_file = "ca.pem"
[bootloader]
kind = "file"
path = "state/bootenv"
[slots.A]
boot = { raw = "a.img" }
[slots.B]
boot = { raw = "b.img" }
EOF
"$AGENT" --config "$W/agent.toml" init >/dev/null

measure() { # label, command...
  local label=$1; shift
  /usr/bin/time -f '%e %M' -o "$W/time" "$@" >/dev/null
  read -r secs kb < "$W/time"
  echo "$label: ${secs} s, peak RSS $((kb / 1024)) MiB" >&2
  echo "$secs $kb"
}
sync
read -r a_s a_kb < <(measure "otaseal-agent install (fetch+verify+write slot)" "$AGENT" --config "$W/agent.toml" install --slot A "$URL")
read -r c_s c_kb < <(measure "curl -o" curl -s --cacert "$W/ca.pem" -o "$W/dl.ota" "$URL")
read -r v_s v_kb < <(measure "otaseal verify" "$OTASEAL" verify "$W/dl.ota" --trust "$PKI/roots.pem" --hw-id acme-rev-a)
python3 - "$PROFILE" "$a_s" "$a_kb" "$c_s" "$c_kb" "$v_s" "$v_kb" <<'PY'
import sys
prof=sys.argv[1]
a_s,a_kb,c_s,c_kb,v_s,v_kb=map(float,sys.argv[2:])
ref=c_s+v_s
print(f"reference curl+verify: {ref:.2f} s, peak RSS {max(c_kb,v_kb)/1024:.0f} MiB")
print(f"agent ({prof}) / reference time: {a_s/ref:.2f}x; agent peak RSS {a_kb/1024:.0f} MiB "
      f"(verify alone {v_kb/1024:.0f} MiB)")
PY
strip -o "$W/agent.stripped" "$AGENT"
echo "otaseal-agent $PROFILE binary: $(stat -c %s "$AGENT") bytes, stripped $(stat -c %s "$W/agent.stripped") bytes"
