package netlab

import (
	"fmt"
	"os/exec"
	"strings"
)

// natRules is the iptables-restore input of a home router: forward from
// the LAN out to the WAN with source NAT, and let in from the WAN only what
// conntrack knows as a reply. Conntrack entries are per 5-tuple, so a reply
// must come from the exact address and port the home sent to.
const natRules = `*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -i lo -j ACCEPT
-A INPUT -i lan -j ACCEPT
-A INPUT -i wan -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
-A FORWARD -i lan -o wan -j ACCEPT
-A FORWARD -i wan -o lan -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A POSTROUTING -o wan -j MASQUERADE%s
COMMIT
`

// startNAT loads a router's rules and turns forwarding on. Linux's
// MASQUERADE keeps the source port whenever the resulting tuple is free,
// which for one home computer is always: that is the port-preserving
// router. --random-fully draws the port at random for every new
// connection tracking entry, i.e. per destination: the symmetric one.
func startNAT(ns string, kind NAT) error {
	extra := ""
	if kind == Symmetric {
		extra = " --random-fully"
	}
	rules := fmt.Sprintf(natRules, extra)
	if err := runInput([]byte(rules), "ip", "netns", "exec", ns, "iptables-restore"); err != nil {
		return fmt.Errorf("NAT rules: %w", err)
	}
	if err := sysctl(ns, map[string]string{"net.ipv4.ip_forward": "1"}); err != nil {
		return fmt.Errorf("forwarding: %w", err)
	}
	return nil
}

// Diagnose describes the host for a failing test's log: its addresses,
// routes and, for a router, its rules with their packet counters.
func (h *Host) Diagnose() string {
	var b strings.Builder
	show := func(name string, args ...string) {
		out, err := exec.Command(name, args...).CombinedOutput()
		fmt.Fprintf(&b, "$ %s %s\n%s", name, strings.Join(args, " "), out)
		if err != nil {
			fmt.Fprintf(&b, "(%v)\n", err)
		}
	}
	show("ip", "-n", h.Namespace, "-brief", "addr")
	show("ip", "-n", h.Namespace, "route")
	if h.Router == nil && h.NAT != None {
		for _, table := range []string{"filter", "nat"} {
			show("ip", "netns", "exec", h.Namespace, "iptables", "-t", table, "-L", "-n", "-v")
		}
	}
	return b.String()
}
