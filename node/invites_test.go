package node

import (
	"reflect"
	"testing"
)

// TestInviteAddrsReachable: a short token names the addresses others can
// dial, and loopback ones only when there is nothing else.
func TestInviteAddrsReachable(t *testing.T) {
	lan := []string{"/ip4/192.168.1.5/tcp/4001", "/ip4/192.168.1.5/udp/4001/quic-v1", "/ip6/2001:db8::5/tcp/4001"}
	local := []string{"/ip4/127.0.0.1/tcp/4001", "/ip6/::1/tcp/4001", "/ip6/fe80::1/tcp/4001"}
	if got := reachable(append(append([]string{}, local...), lan...)); !reflect.DeepEqual(got, lan) {
		t.Errorf("with LAN addresses: %v", got)
	}
	if got := reachable(local); !reflect.DeepEqual(got, local) {
		t.Errorf("loopback only: %v", got)
	}
}
