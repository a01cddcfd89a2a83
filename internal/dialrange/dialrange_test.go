package dialrange

import (
	"testing"

	ma "github.com/multiformats/go-multiaddr"
)

func TestCheck(t *testing.T) {
	for addr, ok := range map[string]bool{
		"/ip4/127.0.0.1/tcp/4001":         true,
		"/ip6/::1/udp/4001/quic-v1":       true,
		"/ip4/203.0.113.77/tcp/4001":      false,
		"/dns4/example.com/tcp/4001":      false,
		"/ip4/198.51.100.9/udp/1/quic-v1": false,
		"/ip4/127.0.0.1/tcp/1/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN/p2p-circuit": true,
	} {
		err := Check(ma.StringCast(addr))
		if (err == nil) != ok {
			t.Errorf("Check(%s) = %v, want allowed %v", addr, err, ok)
		}
	}
}
