package main

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/clubnode/clubnode/internal/safetext"
	"github.com/clubnode/clubnode/node/apiv1"
)

// The human output of the client commands: short, aligned "label: value"
// lines or tables. Scripts should use --json instead.

// field appends an aligned "label: value" line.
func field(b *strings.Builder, label, value string) {
	fmt.Fprintf(b, "%-12s%s\n", label+":", value)
}

func formatIdentity(id apiv1.Identity) string {
	var b strings.Builder
	field(&b, "peer id", id.PeerID)
	field(&b, "name", orDash(clean(id.Name)))
	if id.Network == nil {
		field(&b, "network", "none (found one with: clubnode network create NAME, or join one with: clubnode join TOKEN)")
	} else {
		field(&b, "network", fmt.Sprintf("%s (id %s, founder %s)", clean(id.Network.Name), id.Network.ID, id.Network.Founder))
	}
	if id.NAT != "" {
		field(&b, "nat", id.NAT)
	}
	if len(id.Addrs) == 0 {
		field(&b, "addrs", "-")
	} else {
		b.WriteString("addrs:\n")
		for _, a := range id.Addrs {
			b.WriteString("  " + a + "\n")
		}
	}
	return b.String()
}

func formatJoin(res apiv1.JoinResult) string {
	var b strings.Builder
	if res.AlreadyMember {
		fmt.Fprintf(&b, "already a member of network %s (id %s); reconnected if it reached nobody\n", clean(res.Network.Name), res.Network.ID)
	} else {
		fmt.Fprintf(&b, "joined network %s (id %s)\n", clean(res.Network.Name), res.Network.ID)
	}
	field(&b, "invited by", res.InvitedBy)
	field(&b, "chain", formatChain(res.Chain))
	return b.String()
}

func formatMember(m apiv1.Member) string {
	var b strings.Builder
	field(&b, "peer id", m.PeerID)
	field(&b, "name", orDash(clean(m.Name)))
	field(&b, "bio", orDash(clean(m.Bio)))
	invitedBy := m.InvitedBy
	if invitedBy == "" {
		invitedBy = "- (founder)"
	}
	field(&b, "invited by", invitedBy)
	field(&b, "chain", formatChain(m.Chain))
	field(&b, "connected", yesNo(m.Connected))
	return b.String()
}

func formatMembers(members []apiv1.Member, nm names) string {
	if len(members) == 0 {
		return "no members known\n"
	}
	return table([]string{"NAME", "PEER", "INVITED BY", "CONNECTED"}, len(members), func(i int) []string {
		m := members[i]
		invitedBy := "- (founder)"
		if m.InvitedBy != "" {
			invitedBy = nm.of(m.InvitedBy)
		}
		return []string{orDash(clean(m.Name)), shortID(m.PeerID), invitedBy, yesNo(m.Connected)}
	})
}

func formatRevocation(rv apiv1.Revocation) string {
	if rv.WithInvitees {
		return fmt.Sprintf("revoked %s and everyone they invited\n", rv.Peer)
	}
	return fmt.Sprintf("revoked %s\n", rv.Peer)
}

func formatPeers(peers []apiv1.Peer, nm names) string {
	if len(peers) == 0 {
		return "no peers connected\n"
	}
	return table([]string{"PEER", "ADDR", "MEMBER"}, len(peers), func(i int) []string {
		p := peers[i]
		return []string{nm.of(p.PeerID), p.Addr, yesNo(p.Member)}
	})
}

// formatChain shows a certificate chain founder first.
func formatChain(chain []string) string {
	if len(chain) == 0 {
		return "-"
	}
	return strings.Join(chain, " -> ")
}

// table lays out a header and n rows in aligned columns.
func table(header []string, n int, row func(i int) []string) string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for i := range n {
		fmt.Fprintln(tw, strings.Join(row(i), "\t"))
	}
	tw.Flush() // writes to a strings.Builder cannot fail
	return b.String()
}

// clean makes text from the network safe for a terminal and a table: a
// tab, newline, escape or bidirectional control becomes a visible escape.
// The daemon refuses such text already; this holds even if it did not.
func clean(s string) string { return safetext.Printable(s) }

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func yesNo(v bool) string {
	if v {
		return "yes"
	}
	return "no"
}

// formatPreview says what an invite is, before joining.
func formatPreview(pv apiv1.InvitePreview, now time.Time) string {
	var b strings.Builder
	network := clean(pv.Network.Name)
	if network == "" {
		network = "a network its inviter's node did not name (not reached)"
	}
	field(&b, "network", fmt.Sprintf("%s (%s)", network, pv.Network.ID))
	field(&b, "invited by", person(pv.InviterID, pv.InviterName))
	when := pv.Expires.Local().Format("2006-01-02 15:04 MST")
	if pv.Expired {
		when += " (expired)"
	} else {
		when += " (in " + roughly(pv.Expires.Sub(now)) + ")"
	}
	field(&b, "expires", when)
	switch {
	case pv.For != "" && pv.ForYou:
		field(&b, "for", "this node only (works while the inviter is offline)")
	case pv.For != "":
		field(&b, "for", pv.For+" only: not this node, so you cannot join with it")
	case pv.UsesLeft >= 0:
		field(&b, "uses left", fmt.Sprintf("%d of %d", pv.UsesLeft, pv.Uses))
	default:
		field(&b, "uses left", fmt.Sprintf("unknown (of %d): the inviter's node was not reached", pv.Uses))
	}
	if pv.Unreachable != "" {
		field(&b, "note", pv.Unreachable)
	}
	return b.String()
}

// roughly writes a duration as a person says it: 2d 5h, 3h 10m, 45s.
func roughly(d time.Duration) string {
	switch {
	case d >= 24*time.Hour:
		return fmt.Sprintf("%dd %dh", d/(24*time.Hour), d%(24*time.Hour)/time.Hour)
	case d >= time.Hour:
		return fmt.Sprintf("%dh %dm", d/time.Hour, d%time.Hour/time.Minute)
	case d >= time.Minute:
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return fmt.Sprintf("%ds", max(0, d/time.Second))
}

// shortID is the start and end of a peer ID, enough to tell people apart
// in a table; --json has the whole ID.
func shortID(id string) string {
	if len(id) <= 14 {
		return id
	}
	return id[:8] + "…" + id[len(id)-4:]
}

// person is a name with its short ID, or the short ID alone.
func person(id, name string) string {
	if name == "" {
		return shortID(id)
	}
	return fmt.Sprintf("%s (%s)", clean(name), shortID(id))
}
