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

// keepServers sees URLs other nodes sent (a TURN answer): whatever they
// hold, it does not panic and keeps only URLs whose IP the filter took.
func FuzzKeepServers(f *testing.F) {
	for _, u := range []string{"turn:127.0.0.1:3478?transport=udp", "stun:[::1]:1", "stun:[:]3", "turn:", ":", "stun:host:1"} {
		f.Add(u)
	}
	f.Fuzz(func(t *testing.T, u string) {
		keep := func(ip net.IP) bool { return ip.IsLoopback() }
		for _, s := range keepServers([]webrtc.ICEServer{{URLs: []string{u}}}, keep) {
			for _, kept := range s.URLs {
				if ip := urlIP(kept); ip == nil || !ip.IsLoopback() {
					t.Fatalf("kept %q", kept)
				}
			}
		}
	})
}
