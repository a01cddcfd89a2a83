package p2p

import "testing"

// A sync skips only what a node holds byte for byte: a held chain with a
// new profile, any revocation, or a chain that differs is checked.
func TestHeldSetHolds(t *testing.T) {
	h := heldSet{"chain-a": []byte("profile-a"), "chain-b": nil}
	cases := []struct {
		name string
		held heldSet
		e    memberEntry
		want bool
	}{
		{"held chain, held profile", h, memberEntry{V: 1, Chain: []byte("chain-a"), Profile: []byte("profile-a")}, true},
		{"held chain, no profile", h, memberEntry{V: 1, Chain: []byte("chain-a")}, true},
		{"held chain, new profile", h, memberEntry{V: 1, Chain: []byte("chain-a"), Profile: []byte("profile-a2")}, false},
		{"held chain without a profile, a profile now", h, memberEntry{V: 1, Chain: []byte("chain-b"), Profile: []byte("p")}, false},
		{"revocation", h, memberEntry{V: 1, Chain: []byte("chain-a"), Revocation: []byte("r")}, false},
		{"another chain", h, memberEntry{V: 1, Chain: []byte("chain-a'")}, false},
		{"not a member yet", nil, memberEntry{V: 1, Chain: []byte("chain-a")}, false},
	}
	for _, tc := range cases {
		if got := tc.held.holds(tc.e); got != tc.want {
			t.Errorf("%s: holds = %v, want %v", tc.name, got, tc.want)
		}
	}
}
