// Package netlab builds, for tests, a small Internet out of Linux network
// namespaces: an "internet" bridge (203.0.113.0/24), hosts with a public
// address on it, and homes behind NAT routers (198.18.N.0/24 LANs) that
// behave like the routers people have at home.
//
// Every host, router and the bridge live in namespaces of their own and are
// wired with veth pairs created directly inside them, so nothing is ever
// attached to the machine's own network and no namespace has a route out of
// the lab: the bridge's namespace, where every default route ends, forwards
// nothing. IPv6 is off in every namespace, so the only addresses that carry
// traffic are the lab's own.
//
// The routers do NAT with iptables (its nf_tables backend):
//
//   - PortPreserving: MASQUERADE keeps the home's source port, so a socket
//     has one public mapping whatever it sends to (endpoint-independent
//     mapping), and only replies from the exact address and port it sent to
//     get back in (address-and-port-dependent filtering). Two such homes
//     can punch a hole to each other with a simultaneous UDP open.
//   - Symmetric: MASQUERADE --random-fully gives every new destination a
//     new random port, so the mapping a third party observed is useless to
//     a peer: hole punching fails and only a relay gets through.
//
// Both drop unsolicited inbound traffic, to the router itself too.
//
// A test gets a lab with New, which skips the test (saying why) where
// namespaces cannot be made, and removes everything it built when the test
// ends, pass or fail. Programs run inside a host with Host.Command; Go code
// in the test process can open sockets inside a host with Host.Do and the
// Listen and Dial helpers built on it.
package netlab
