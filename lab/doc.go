// Package lab builds small networks of Linux network namespaces for tests
// that need more than loopback: a LAN where nodes must find each other by
// mDNS with no other help, and (later) NAT routers. Its tests need root and
// iproute2; they skip with a clear message where those are missing.
package lab
