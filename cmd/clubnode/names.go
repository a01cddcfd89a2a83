package main

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/clubnode/clubnode/node/apiv1"
	"github.com/clubnode/clubnode/rooms"
)

// People and rooms by what a person types: a PEER argument is a full peer
// ID, a unique ID prefix or a unique name; a ROOM argument is a room ID or
// a unique prefix of one. Full IDs are checked before the daemon is asked;
// the rest is looked up in the daemon's members and hallway.

// names maps peer IDs to member names, for output.
type names map[string]string

// memberNames asks the daemon for the members' names. Output without
// names is still output: a failure leaves the map empty.
func memberNames(ctx context.Context, c *apiv1.Client) names {
	out := names{}
	members, err := c.Members(ctx)
	if err != nil {
		return out
	}
	for _, m := range members {
		if m.Name != "" {
			out[m.PeerID] = m.Name
		}
	}
	return out
}

// of is the name and short ID of p, for a table.
func (n names) of(p string) string { return person(p, n[p]) }

// pick keeps the names of ps, for --json.
func (n names) pick(ps ...string) map[string]string {
	out := map[string]string{}
	for _, p := range ps {
		if name, ok := n[p]; ok {
			out[p] = name
		}
	}
	return out
}

// resolvePeer turns a PEER argument into a full peer ID.
func resolvePeer(ctx context.Context, c *apiv1.Client, arg string) (string, error) {
	if id, err := peer.Decode(arg); err == nil {
		return id.String(), nil
	}
	members, err := c.Members(ctx)
	if err != nil {
		return "", fmt.Errorf("look up %q among the members: %w", arg, err)
	}
	var byName, byPrefix []apiv1.Member
	for _, m := range members {
		if m.Name != "" && strings.EqualFold(m.Name, arg) {
			byName = append(byName, m)
		}
		if strings.HasPrefix(m.PeerID, arg) {
			byPrefix = append(byPrefix, m)
		}
	}
	for _, found := range [][]apiv1.Member{byName, byPrefix} {
		switch len(found) {
		case 0:
			continue
		case 1:
			return found[0].PeerID, nil
		}
		var cands []string
		for _, m := range found {
			cands = append(cands, person(m.PeerID, m.Name)+" "+m.PeerID)
		}
		sort.Strings(cands)
		return "", usageError(fmt.Errorf("%q could be %d members: %s; give more of the peer ID", arg, len(found), strings.Join(cands, ", ")))
	}
	return "", &cliError{code: "not_found", err: fmt.Errorf("no member is called %q or has a peer ID starting with it (clubnode members lists them)", arg)}
}

// resolveRoom turns a ROOM argument into a full room ID.
func resolveRoom(ctx context.Context, c *apiv1.Client, arg string) (string, error) {
	if id, err := rooms.ParseRoomID(arg); err == nil {
		return id.String(), nil
	}
	list, err := c.Hallway(ctx)
	if err != nil {
		return "", fmt.Errorf("look up the room %q: %w", arg, err)
	}
	prefix := strings.ToLower(arg)
	var found []apiv1.Room
	for _, r := range list {
		if strings.HasPrefix(r.ID, prefix) {
			found = append(found, r)
		}
	}
	switch len(found) {
	case 0:
		return "", &cliError{code: "not_found", err: fmt.Errorf("no room in your hallway has an ID starting with %q (clubnode room list shows them)", arg)}
	case 1:
		return found[0].ID, nil
	}
	var cands []string
	for _, r := range found {
		cands = append(cands, fmt.Sprintf("%s (%q)", r.ID, clean(r.Title)))
	}
	return "", usageError(fmt.Errorf("%q could be %d rooms: %s; give more of the room ID", arg, len(found), strings.Join(cands, ", ")))
}

// checkRoomArg accepts a room ID or what may be a prefix of one
// ("room-" and a few of its characters), before the daemon is asked.
func checkRoomArg(s *string) error {
	if id, err := rooms.ParseRoomID(*s); err == nil {
		*s = id.String()
		return nil
	}
	rest, ok := strings.CutPrefix(strings.ToLower(strings.TrimSpace(*s)), "room-")
	if !ok || rest == "" || len(rest) >= roomIDChars || strings.Trim(rest, roomIDAlphabet) != "" {
		return fmt.Errorf("%q is not a room ID: give the room ID first, as clubnode room list shows it (room- and 26 characters, or enough of them to tell it apart)", *s)
	}
	*s = "room-" + rest
	return nil
}

// The room ID's characters: RFC 4648 base32, lower case.
const (
	roomIDAlphabet = "abcdefghijklmnopqrstuvwxyz234567"
	roomIDChars    = 26
)

// checkPeerArg accepts a peer ID, a prefix of one or a name, before the
// daemon is asked: only what cannot name anyone is refused here.
func checkPeerArg(s *string) error {
	*s = strings.TrimSpace(*s)
	if id, err := peer.Decode(*s); err == nil {
		*s = id.String()
		return nil
	}
	if *s == "" {
		return errors.New("an empty peer: give a peer ID, a unique start of one, or a member's name")
	}
	if _, err := rooms.ParseRoomID(*s); err == nil {
		return fmt.Errorf("%q is a room ID, not a peer: give a peer ID or a member's name (clubnode members lists them)", *s)
	}
	return nil
}
