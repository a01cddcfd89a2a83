package rtc

import (
	"net"
	"slices"
	"testing"

	"github.com/pion/webrtc/v4"
)

// Under a RemoteIPs filter only the URLs it accepts reach pion: a TURN
// URL naming an address that exists nowhere, or a host name, is dropped.
func TestKeepServersFiltersURLs(t *testing.T) {
	loopback := func(ip net.IP) bool { return ip.IsLoopback() }
	in := []webrtc.ICEServer{
		{URLs: []string{"turn:203.0.113.77:3478?transport=udp", "turn:127.0.0.1:3478?transport=udp"}, Username: "u"},
		{URLs: []string{"stun:stun.example.com:3478"}},
		{URLs: []string{"stun:[::1]:3478"}},
	}
	got := keepServers(in, loopback)
	if len(got) != 2 || !slices.Equal(got[0].URLs, []string{"turn:127.0.0.1:3478?transport=udp"}) ||
		got[0].Username != "u" || !slices.Equal(got[1].URLs, []string{"stun:[::1]:3478"}) {
		t.Fatalf("kept %+v", got)
	}
	if len(in[0].URLs) != 2 {
		t.Fatal("the caller's servers were changed")
	}
	if got := keepServers(in, nil); len(got) != 3 {
		t.Fatalf("no filter kept %d servers", len(got))
	}
}
