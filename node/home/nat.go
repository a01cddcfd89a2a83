package home

import (
	"fmt"

	ma "github.com/multiformats/go-multiaddr"
)

// Bounds of the relay service's limits.
const (
	MaxRelayReservations  = 100_000
	MaxRelayCircuits      = 1000
	MaxRelayCircuitSecs   = 24 * 3600
	MaxRelayCircuitBytes  = 1 << 30
	MaxListedNATAddresses = 32
)

func (c Config) validateNAT() error {
	switch c.Reachability {
	case "", "auto", "public", "private":
	default:
		return fmt.Errorf("reachability: %q: want auto, public or private", c.Reachability)
	}
	for _, b := range []struct {
		name string
		v    int64
		max  int64
	}{
		{"relay_max_reservations", int64(c.RelayMaxReservations), MaxRelayReservations},
		{"relay_max_circuits", int64(c.RelayMaxCircuits), MaxRelayCircuits},
		{"relay_circuit_seconds", int64(c.RelayCircuitSeconds), MaxRelayCircuitSecs},
		{"relay_circuit_bytes", c.RelayCircuitBytes, MaxRelayCircuitBytes},
	} {
		if b.v < 0 || b.v > b.max {
			return fmt.Errorf("%s: %d is outside 0..%d", b.name, b.v, b.max)
		}
	}
	if len(c.PublicAddrs) > MaxListedNATAddresses || len(c.StaticRelays) > MaxListedNATAddresses {
		return fmt.Errorf("public_addrs, static_relays: at most %d each", MaxListedNATAddresses)
	}
	for i, s := range c.PublicAddrs {
		if _, err := ma.NewMultiaddr(s); err != nil {
			return fmt.Errorf("public_addrs[%d] %q: %w", i, s, err)
		}
	}
	for i, s := range c.StaticRelays {
		m, err := ma.NewMultiaddr(s)
		if err != nil {
			return fmt.Errorf("static_relays[%d] %q: %w", i, s, err)
		}
		if _, err := m.ValueForProtocol(ma.P_P2P); err != nil {
			return fmt.Errorf("static_relays[%d] %q: missing /p2p/<peer id>", i, s)
		}
	}
	return nil
}
