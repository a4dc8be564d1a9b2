#!/usr/bin/env bash
# TCP goodput through an OpenVPN tunnel (TCP transport, AES-256-GCM) between two
# existing network namespaces, for comparison with the `tunnel` bench. Needs root.
#
#   openvpn.sh NS_A NS_B SECONDS
#
# NS_A (10.204.0.1/24) and NS_B (10.204.0.2/24) must already be joined by a veth.
# Prints one line: the receiver's Mbit/s from iperf3 (NS_A -> NS_B over 10.8.0.1 -> 10.8.0.2),
# or `skipped: ...` (exit 0) or `failed: ...` (exit 1).
set -u

fail() { echo "failed: $*"; exit 1; }

[ $# -eq 3 ] || fail "usage: $0 NS_A NS_B SECONDS"
A=$1 B=$2 DUR=$3 # not SECONDS: that name is special in bash
[[ $DUR =~ ^[1-9][0-9]*$ ]] || fail "SECONDS must be a positive integer: $DUR"
for tool in openvpn openssl iperf3 python3; do
    command -v "$tool" >/dev/null || { echo "skipped: needs $tool"; exit 0; }
done
for ns in "$A" "$B"; do
    ip netns exec "$ns" true 2>/dev/null || fail "no network namespace $ns"
done

T=$(mktemp -d) || fail "mktemp"
IPERF_PID=
OVPN_PIDS=()

# Kill what we started and wait for the OpenVPN processes to go: the tun devices
# disappear only once their owner has exited.
cleanup() {
    [ -n "$IPERF_PID" ] && kill "$IPERF_PID" 2>/dev/null
    local pids=("${OVPN_PIDS[@]}")
    if [ ${#pids[@]} -gt 0 ]; then
        kill "${pids[@]}" 2>/dev/null
        for _ in $(seq 50); do
            kill -0 "${pids[@]}" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "${pids[@]}" 2>/dev/null
    fi
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# Throwaway PKI: CA, server and client certs, all EC P-256 (fast to generate).
# The EKUs let each side check the other's role with remote-cert-tls.
cd "$T" || fail "cd $T"
(
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
        -subj /CN=bench-ca -keyout ca.key -out ca.crt &&
    for who in server client; do
        openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
            -subj "/CN=$who" -keyout "$who.key" -out "$who.csr" &&
        printf 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=%s\n' \
            "$([ $who = server ] && echo serverAuth || echo clientAuth)" >"$who.ext" &&
        openssl x509 -req -in "$who.csr" -CA ca.crt -CAkey ca.key -set_serial "0x$(openssl rand -hex 8)" \
            -days 1 -extfile "$who.ext" -out "$who.crt" || exit 1
    done
) >pki.log 2>&1 || fail "openssl: $(tail -n1 pki.log)"

# Options shared by both ends. P2P TLS mode (no `server`/`client` helper macros).
# --cd: --daemon chdirs to /, and a restart (e.g. the client's first connect racing the
# server's listen) re-reads the relative key/cert paths.
# disable-dco: DCO needs the ovpn-dco kernel module; keep both ends on the same,
# always-available userspace data path. sndbuf/rcvbuf 0 leave the socket buffers to
# kernel autotuning; TCP_NODELAY stops Nagle delaying tunnelled packets.
common=(
    --dev-type tun --topology p2p --tun-mtu 1500
    --data-ciphers AES-256-GCM --cipher AES-256-GCM
    --ca ca.crt --sndbuf 0 --rcvbuf 0 --socket-flags TCP_NODELAY
    --disable-dco --verb 3 --daemon --cd "$T"
)
# start_ovpn NS ROLE ARGS...: start a daemon with ROLE.pid/ROLE.log in $T. The pid file
# exists once --daemon returns, but OpenVPN deletes it on exit, so keep the pid.
start_ovpn() {
    local ns=$1 role=$2 pid
    shift 2
    ip netns exec "$ns" openvpn "${common[@]}" "$@" \
        --writepid "$T/$role.pid" --log "$T/$role.log" || fail "openvpn $role did not start"
    pid=$(cat "$role.pid") || fail "openvpn $role wrote no pid file"
    OVPN_PIDS+=("$pid")
}
start_ovpn "$B" server --tls-server --dh none \
    --proto tcp-server --local 10.204.0.2 --lport 1194 \
    --dev ovpnb --ifconfig 10.8.0.2 10.8.0.1 \
    --cert server.crt --key server.key --remote-cert-tls client
start_ovpn "$A" client --tls-client \
    --proto tcp-client --remote 10.204.0.2 1194 --nobind \
    --dev ovpna --ifconfig 10.8.0.1 10.8.0.2 \
    --cert client.crt --key client.key --remote-cert-tls server

# Wait (at most 20 s) until a ping gets through the tunnel; give up early if an
# OpenVPN process has exited. $SECONDS is bash's clock (hence DUR above).
deadline=$((SECONDS + 20)) dead=
until ip netns exec "$A" ping -c1 -W1 10.8.0.2 >/dev/null 2>&1; do
    for pid in "${OVPN_PIDS[@]}"; do
        kill -0 "$pid" 2>/dev/null || dead="an openvpn process exited"
    done
    [ $SECONDS -ge $deadline ] && dead="timed out after 20 s"
    if [ -n "$dead" ]; then
        tail -n5 client.log server.log >&2
        fail "tunnel not up: $dead (logs on stderr)"
    fi
    sleep 0.2
done

# One-shot iperf3 server in NS_B; wait (at most 5 s) until it listens.
ip netns exec "$B" iperf3 -s -1 -B 10.8.0.2 >iperf-s.log 2>&1 &
IPERF_PID=$!
for _ in $(seq 50); do
    ip netns exec "$B" ss -Hltn 'sport = :5201' | grep -q . && break
    sleep 0.1
done
ip netns exec "$B" ss -Hltn 'sport = :5201' | grep -q . || fail "iperf3 server not listening"

# Bounded in case the tunnel stalls mid-run.
timeout $((DUR + 30)) ip netns exec "$A" iperf3 -c 10.8.0.2 -B 10.8.0.1 -t "$DUR" -J >iperf-c.json 2>&1
python3 - iperf-c.json <<'EOF' || exit 1
import json, sys
def fail(why):
    print("failed: iperf3: " + why)
    sys.exit(1)
try:
    d = json.load(open(sys.argv[1]))
except ValueError:
    fail("no JSON output (timed out?)")
if "error" in d:
    fail(d["error"])
print("%.1f" % (d["end"]["sum_received"]["bits_per_second"] / 1e6))
EOF
