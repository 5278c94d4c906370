// Package lab builds networks of Linux network namespaces and NAT routers for tests.
//
// It builds small networks of Linux network namespaces for tests that need more than
// loopback: a LAN where nodes must find each other by mDNS with no other help, and an
// "internet" (a bridge in its own namespace, addresses in 11.0.0.0/24 so that libp2p
// treats them as public) with hosts of four kinds: public, behind an easy NAT, behind
// a hard (symmetric) NAT, and behind a router that blocks UDP — nftables routers with
// a firewall as home routers have.
//
// Its tests need root, iproute2 and (for NAT) nftables; they skip with a
// clear message where those are missing:
//
//   - TestLANWithoutInternet: join over a LAN, rediscovery by mDNS alone.
//   - TestNATMapping: the routers map and filter as their kind says.
//   - TestLibp2pHolePunch: the lab proven with plain go-libp2p (a circuit
//     relay and hole punching, lab/internal/punch): easy/easy goes direct,
//     hard/hard stays relayed.
//   - TestNATMatrix: coconet nodes (`coco up --control`) for every pair of
//     kinds; prints pair, path, time to first message, time to direct
//     (bench/nat.sh runs it).
//   - TestConsortiumPartitions: three consortium validating nodes on public
//     hosts under `coco consortium put/get` from each while one is cut off
//     (nftables) and healed and another killed with SIGKILL and restarted;
//     the history is checked linearizable with porcupine.
package lab
