#!/usr/bin/env bash
# A bed of network namespaces for multi-host tests of Grapevine (issue 10). Needs root, iproute2
# (`ip`) and iptables. test/fixtures/netns.ts drives this very script, so a bed made by hand is the
# one the tests in test/multihost/ use.
#
# Layout for TAG and N nodes (nothing is added to the root namespace, not even a veth end):
#   gvnb-TAG-hub         a namespace holding only the bridge br0 and the hub ends v1..vN
#   gvnb-TAG-1 .. -N     one namespace per node: lo up, eth0 = 10.77.NET.i/24 (IPv6 off)
#   iptables in each node namespace: INPUT jumps to GVLOSS (random drops) and GVCUT (cuts)
# Every drop happens at the receiving end's INPUT, so nothing sends RST or FIN: a silent cut.
#
# Usage (as root):
#   scripts/netns-bed.sh up TAG N [NET]     make the bed (NET: third octet, 0-255, default 77)
#   scripts/netns-bed.sh exec TAG I CMD...  run CMD inside node I, e.g.
#                                             scripts/netns-bed.sh exec demo 2 node app.js
#   scripts/netns-bed.sh loss TAG P         drop a share P (0.02 = 2 %) of packets arriving at
#                                             every node's eth0 (so on every link, not on its
#                                             loopback); P=0 removes it
#   scripts/netns-bed.sh cut TAG "1 2 3" "4 5"
#                                           silent cut between two groups, both ways
#   scripts/netns-bed.sh oneway TAG "1" "2" group 1 can send to group 2, not the reverse
#                                             (packets from group 2 are dropped at group 1)
#   scripts/netns-bed.sh heal TAG           remove every cut (not the loss)
#   scripts/netns-bed.sh remove TAG I       host I is gone for good: its processes are killed and
#                                             its namespace deleted (its address answers nothing)
#   scripts/netns-bed.sh reboot TAG I       host I crashes and comes back: processes killed, a
#                                             fresh namespace (new TCP stack, no old socket) at
#                                             the same address and MAC; peers got no FIN and no RST
#                                             (its own loss and cut rules start empty)
#   scripts/netns-bed.sh pids TAG           pids of the processes running in the bed
#   scripts/netns-bed.sh down TAG           kill every process in the bed, delete its namespaces
#   scripts/netns-bed.sh list               the beds that exist (their namespaces)
#   scripts/netns-bed.sh reap TAG PID [S]   wait until PID exits (at most S seconds, default
#                                             3600), then `down TAG`; the tests start one of these
#                                             detached, so a run killed with -9 leaves nothing
#
# Example by hand: a 3-node bed, two nodes talking, a cut, a heal, then cleanup:
#   scripts/netns-bed.sh up demo 3 && trap 'scripts/netns-bed.sh down demo' EXIT
#   scripts/netns-bed.sh exec demo 1 ping -c1 10.77.77.2
#   scripts/netns-bed.sh cut demo 1 "2 3"; scripts/netns-bed.sh heal demo
# TAG: letters and digits, at most 12 (namespace names are gvnb-TAG-...). Addresses 10.77.NET.i
# exist only inside the bed's namespaces; the root namespace's routing is untouched.
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"

PREFIX=gvnb

die () { echo "netns-bed: $*" >&2; exit 2; }
tag_ok () { [[ "$1" =~ ^[A-Za-z0-9]{1,12}$ ]] || die "bad TAG '$1' (letters and digits, 1-12)"; }
ns () { echo "$PREFIX-$1-$2"; }
nodes_of () { ip netns list | awk '{print $1}' | grep -E "^$PREFIX-$1-[0-9]+$" || true; }
ipt () { ip netns exec "$1" iptables -w 5 "${@:2}"; }
addr_of () {
  # the eth0 address of node I of TAG, read from the namespace itself
  ip -n "$(ns "$1" "$2")" -4 -o addr show dev eth0 | awk '{print $4}' | cut -d/ -f1
}

make_node () {
  # node namespace I of TAG at 10.77.NET.I, plugged into the hub's bridge (eth0's MAC: MAC if given)
  local tag=$1 i=$2 net=$3 mac=${4:-} node hub
  node=$(ns "$tag" "$i"); hub=$(ns "$tag" hub)
  ip netns add "$node"
  ip netns exec "$node" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 || true
  # Created inside the hub and moved straight into the node: no name in the root namespace.
  ip -n "$hub" link add "v$i" type veth peer name eth0 netns "$node" ${mac:+address "$mac"}
  ip -n "$hub" link set "v$i" master br0
  ip -n "$hub" link set "v$i" up
  ip -n "$node" link set lo up
  ip -n "$node" addr add "10.77.$net.$i/24" dev eth0
  ip -n "$node" link set eth0 up
  ipt "$node" -N GVLOSS
  ipt "$node" -N GVCUT
  ipt "$node" -A INPUT -j GVLOSS
  ipt "$node" -A INPUT -j GVCUT
}
kill_in () {
  local pids
  pids=$(ip netns pids "$1" 2>/dev/null || true)
  [ -z "$pids" ] || kill -9 $pids 2>/dev/null || true
}

cmd=${1:-}
[ -n "$cmd" ] || die "usage: $0 up|exec|loss|cut|oneway|heal|pids|down|list|reap ... (see the top of this file)"
shift

case "$cmd" in
  up)
    tag=${1:?TAG}; n=${2:?N}; net=${3:-77}
    tag_ok "$tag"
    [[ "$n" =~ ^[0-9]+$ ]] && [ "$n" -ge 1 ] && [ "$n" -le 64 ] || die "N must be 1-64"
    [[ "$net" =~ ^[0-9]+$ ]] && [ "$net" -le 255 ] || die "NET must be 0-255"
    command -v iptables >/dev/null || die "iptables is missing (apt-get install -y iptables)"
    hub=$(ns "$tag" hub)
    # Half a bed is removed again, so a failed `up` leaves nothing behind.
    trap '"$0" down "$tag" >/dev/null 2>&1 || true' ERR
    ip netns add "$hub"
    ip -n "$hub" link add br0 type bridge
    ip -n "$hub" link set br0 up
    for i in $(seq 1 "$n"); do make_node "$tag" "$i" "$net"; done
    trap - ERR
    ;;
  exec)
    tag=${1:?TAG}; i=${2:?I}; shift 2
    tag_ok "$tag"
    exec ip netns exec "$(ns "$tag" "$i")" "$@"
    ;;
  loss)
    tag=${1:?TAG}; p=${2:?P}
    tag_ok "$tag"
    [[ "$p" =~ ^(0|0?\.[0-9]+|1)$ ]] || die "P must be a probability, e.g. 0.02"
    for node in $(nodes_of "$tag"); do
      ipt "$node" -F GVLOSS
      if [ "$p" != 0 ]; then
        # eth0 only: a host's loopback (a relay in front of its node, its own clients) is no link.
        ipt "$node" -A GVLOSS -i eth0 -m statistic --mode random --probability "$p" -j DROP
      fi
    done
    ;;
  cut|oneway)
    tag=${1:?TAG}; a=${2:?GROUP_A}; b=${3:?GROUP_B}
    tag_ok "$tag"
    # cut: each side drops what comes from the other. oneway: only A drops what comes from B,
    # so A's packets reach B and B's never reach A.
    for i in $a; do
      for j in $b; do
        ipt "$(ns "$tag" "$i")" -A GVCUT -s "$(addr_of "$tag" "$j")" -j DROP
        if [ "$cmd" = cut ]; then ipt "$(ns "$tag" "$j")" -A GVCUT -s "$(addr_of "$tag" "$i")" -j DROP; fi
      done
    done
    ;;
  heal)
    tag=${1:?TAG}
    tag_ok "$tag"
    for node in $(nodes_of "$tag"); do ipt "$node" -F GVCUT; done
    ;;
  pids)
    tag=${1:?TAG}
    tag_ok "$tag"
    for node in $(nodes_of "$tag"); do ip netns pids "$node" 2>/dev/null || true; done
    ;;
  down)
    tag=${1:?TAG}
    tag_ok "$tag"
    all=$(ip netns list | awk '{print $1}' | grep -E "^$PREFIX-$tag-([0-9]+|hub)$" || true)
    for name in $all; do kill_in "$name"; done
    for name in $all; do ip netns del "$name" 2>/dev/null || true; done
    ;;
  remove|reboot)
    tag=${1:?TAG}; i=${2:?I}
    tag_ok "$tag"
    [[ "$i" =~ ^[0-9]+$ ]] || die "bad I"
    node=$(ns "$tag" "$i")
    net=$(addr_of "$tag" "$i" | cut -d. -f3)
    [ -n "$net" ] || die "no node $i in bed $tag"
    # A rebooted host keeps its NIC's MAC, so its peers' ARP entries stay right.
    mac=$(ip -n "$node" -o link show dev eth0 | grep -oE 'link/ether [0-9a-f:]+' | cut -d' ' -f2)
    # Unplugged first (deleting the hub's end deletes the pair): nothing it still sends gets out.
    ip -n "$(ns "$tag" hub)" link del "v$i" 2>/dev/null || true
    kill_in "$node"
    # The kernel may keep the old namespace (its orphaned sockets) a while after this; unplugged,
    # it is harmless, and the new one gets the same name at once.
    ip netns del "$node"
    if [ "$cmd" = reboot ]; then make_node "$tag" "$i" "$net" "$mac"; fi
    ;;
  list)
    ip netns list | awk '{print $1}' | grep -E "^$PREFIX-" || true
    ;;
  reap)
    tag=${1:?TAG}; pid=${2:?PID}; max=${3:-3600}
    tag_ok "$tag"
    [[ "$pid" =~ ^[0-9]+$ ]] || die "bad PID"
    [[ "$max" =~ ^[0-9]+$ ]] || die "bad S"
    # Bounded: at most max*2 checks, half a second apart.
    i=0
    while kill -0 "$pid" 2>/dev/null && [ "$i" -lt $((max * 2)) ]; do sleep 0.5; i=$((i + 1)); done
    "$0" down "$tag"
    ;;
  *)
    die "unknown command '$cmd' (see the top of this file)"
    ;;
esac
