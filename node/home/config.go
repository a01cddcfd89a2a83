package home

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"

	ma "github.com/multiformats/go-multiaddr"
)

// MaxConfigSize bounds the config file: it is small by nature, and a
// bound keeps a corrupted or hostile file from eating memory.
const MaxConfigSize = 64 << 10

// MaxRelayCapacity bounds how many children a node may promise to carry
// in a room's relay tree; above this an uplink cannot keep the promise.
const MaxRelayCapacity = 1000

// Config is the node's config file, config.json in the home folder.
type Config struct {
	// ListenAddrs are the libp2p listen multiaddrs.
	ListenAddrs []string `json:"listen_addrs"`
	// APIAddr is the local HTTP API's host:port; the host must be
	// loopback because the API drives the node. Port 0 picks a free port
	// (the daemon publishes the real one in the api file).
	APIAddr string `json:"api_addr"`
	// RelayCapacity is how many listeners this node relays audio to.
	RelayCapacity int `json:"relay_capacity"`
	// StandbyLinks makes the node, as a listener, keep a standby link to
	// its first backup parent, for a faster repair (off by default).
	StandbyLinks bool `json:"standby_links,omitempty"`
	// MDNS enables peer discovery on the local network.
	MDNS bool `json:"mdns"`
	// BootstrapAddrs are extra peers to dial at start, as /p2p/ multiaddrs.
	BootstrapAddrs []string `json:"bootstrap_addrs"`
	// MetricsAddr, if set, is the host:port Prometheus scrapes /metrics
	// on. Off by default. A host other than loopback needs
	// MetricsAllowRemote: the metrics name rooms and peers.
	MetricsAddr        string `json:"metrics_addr,omitempty"`
	MetricsAllowRemote bool   `json:"metrics_allow_remote,omitempty"`
	// UplinkKbps, if set, is what the node's uplink carries (kbit/s); the
	// daemon warns when relay_capacity promises more than that.
	UplinkKbps int `json:"uplink_kbps,omitempty"`

	// NAT traversal (README: "Behind a home router").
	//
	// Reachability is "auto" (public when a listen address or
	// public_addrs is public), "public" or "private".
	Reachability string `json:"reachability"`
	// PublicAddrs are multiaddrs announced besides the listen ones,
	// e.g. the router's public address with a port forward.
	PublicAddrs []string `json:"public_addrs,omitempty"`
	// RelayService runs the circuit relay v2 service for members when
	// this node is public (default on).
	RelayService bool `json:"relay_service"`
	// The relay service's limits; 0 means the default.
	RelayMaxReservations int   `json:"relay_max_reservations,omitempty"`
	RelayMaxCircuits     int   `json:"relay_max_circuits,omitempty"`
	RelayCircuitSeconds  int   `json:"relay_circuit_seconds,omitempty"`
	RelayCircuitBytes    int64 `json:"relay_circuit_bytes,omitempty"`
	// StaticRelays are always-on nodes (/p2p/ multiaddrs) to keep relay
	// reservations on when private, besides the ones learned.
	StaticRelays []string `json:"static_relays,omitempty"`
	// PortMapping asks the router for a port forward (UPnP, NAT-PMP).
	PortMapping bool `json:"port_mapping,omitempty"`
	// TURNServer runs a STUN/TURN server for members when this node is
	// public (default on), on UDP TURNPort (default 3478), relaying on
	// ports TURNRelayPortMin..TURNRelayPortMax (default 49152-65535).
	TURNServer       bool `json:"turn_server"`
	TURNPort         int  `json:"turn_port"`
	TURNRelayPortMin int  `json:"turn_relay_port_min,omitempty"`
	TURNRelayPortMax int  `json:"turn_relay_port_max,omitempty"`
	// ICEServers are more STUN/TURN servers for the rooms' audio.
	ICEServers []ICEServer `json:"ice_servers,omitempty"`
}

// ICEServer is a STUN or TURN server: its URLs (stun:HOST:PORT,
// turn:HOST:PORT?transport=udp) and, for TURN, its credentials.
type ICEServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitempty"`
	Credential string   `json:"credential,omitempty"`
}

// DefaultConfig is the config written by init. Fixed ports (like kubo's
// 4001) let users forward one port on their router and let remembered
// peers find the node again after a restart.
func DefaultConfig() Config {
	return Config{
		ListenAddrs: []string{
			"/ip4/0.0.0.0/tcp/4001",
			"/ip4/0.0.0.0/udp/4001/quic-v1",
		},
		APIAddr:        "127.0.0.1:7700",
		RelayCapacity:  4,
		MDNS:           true,
		BootstrapAddrs: []string{},
		Reachability:   "auto",
		RelayService:   true,
		TURNServer:     true,
		TURNPort:       3478,
	}
}

// Validate checks every field; errors name the field as it is spelled in
// config.json so the user knows what to fix.
func (c Config) Validate() error {
	if len(c.ListenAddrs) == 0 {
		return errors.New("listen_addrs: at least one address is needed")
	}
	for i, s := range c.ListenAddrs {
		if _, err := ma.NewMultiaddr(s); err != nil {
			return fmt.Errorf("listen_addrs[%d] %q: %w", i, s, err)
		}
	}
	if err := checkAPIAddr(c.APIAddr, true); err != nil {
		return fmt.Errorf("api_addr: %w", err)
	}
	if c.RelayCapacity < 0 || c.RelayCapacity > MaxRelayCapacity {
		return fmt.Errorf("relay_capacity: %d is outside 0..%d", c.RelayCapacity, MaxRelayCapacity)
	}
	if err := checkMetricsAddr(c.MetricsAddr, c.MetricsAllowRemote); err != nil {
		return fmt.Errorf("metrics_addr: %w", err)
	}
	if c.UplinkKbps < 0 || c.UplinkKbps > MaxUplinkKbps {
		return fmt.Errorf("uplink_kbps: %d is outside 0..%d", c.UplinkKbps, MaxUplinkKbps)
	}
	if err := c.validateNAT(); err != nil {
		return err
	}
	for i, s := range c.BootstrapAddrs {
		m, err := ma.NewMultiaddr(s)
		if err != nil {
			return fmt.Errorf("bootstrap_addrs[%d] %q: %w", i, s, err)
		}
		// Dialing a bootstrap peer without its ID would skip the
		// identity check that the whole trust plane relies on.
		if _, err := m.ValueForProtocol(ma.P_P2P); err != nil {
			return fmt.Errorf("bootstrap_addrs[%d] %q: missing /p2p/<peer id>", i, s)
		}
	}
	return nil
}

// MaxUplinkKbps bounds uplink_kbps: 100 Gbit/s.
const MaxUplinkKbps = 100_000_000

func checkMetricsAddr(addr string, allowRemote bool) error {
	if addr == "" {
		return nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port: %w", addr, err)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("%q: bad port %q", addr, port)
	}
	if !IsLoopbackHost(host) && !allowRemote {
		return fmt.Errorf("%q is not a loopback address: the metrics name rooms and peers, so serving them to the network "+
			"needs \"metrics_allow_remote\": true (or --metrics-allow-remote)", addr)
	}
	return nil
}

// CheckAPIAddr reports whether addr is a host:port the local API may use:
// a loopback IP or "localhost" and a port in 1..65535.
func CheckAPIAddr(addr string) error { return checkAPIAddr(addr, false) }

func checkAPIAddr(addr string, allowZeroPort bool) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port: %w", addr, err)
	}
	if !IsLoopbackHost(host) {
		return fmt.Errorf("%q: host must be a loopback address or localhost, so only this machine can drive the node", addr)
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return fmt.Errorf("%q: bad port %q", addr, port)
	}
	if n == 0 && !allowZeroPort {
		return fmt.Errorf("%q: port 0 is not an address to connect to", addr)
	}
	return nil
}

// IsLoopbackHost reports whether host (no port, no brackets) names this
// machine: "localhost" or a loopback IP (127.0.0.0/8, ::1).
func IsLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Zone() == "" && ip.IsLoopback()
}

// LoadConfig reads and validates the config at path. Fields absent from
// the file keep their defaults; unknown fields are an error because they
// are almost always typos that would otherwise be silently ignored.
func LoadConfig(path string) (Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return Config{}, fmt.Errorf("read config: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxConfigSize+1))
	if err != nil {
		return Config{}, fmt.Errorf("read config %s: %w", path, err)
	}
	if len(data) > MaxConfigSize {
		return Config{}, fmt.Errorf("config %s: larger than %d bytes", path, MaxConfigSize)
	}
	cfg, err := parseConfig(data)
	if err != nil {
		return Config{}, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, nil
}

func parseConfig(data []byte) (Config, error) {
	// A JSON null decodes into a struct as nothing at all: "null" would
	// start the daemon on the defaults while an empty file is refused.
	if t := bytes.TrimSpace(data); len(t) > 0 && t[0] != '{' {
		return Config{}, fmt.Errorf("expected a JSON object, got %.20q", t)
	}
	cfg := DefaultConfig()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		var typeErr *json.UnmarshalTypeError
		var syntaxErr *json.SyntaxError
		switch {
		case errors.As(err, &typeErr) && typeErr.Field != "":
			return Config{}, fmt.Errorf("field %q: expected %s, got JSON %s", typeErr.Field, typeErr.Type, typeErr.Value)
		case errors.As(err, &syntaxErr):
			return Config{}, fmt.Errorf("invalid JSON at byte %d: %w", syntaxErr.Offset, err)
		case errors.Is(err, io.EOF):
			return Config{}, errors.New("empty file, expected a JSON object")
		default:
			return Config{}, err
		}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Config{}, errors.New("unexpected data after the JSON object")
	}
	// "null" for a list decodes to a nil slice; treat it like an empty
	// list so the file round-trips as [] and not null.
	if cfg.BootstrapAddrs == nil {
		cfg.BootstrapAddrs = []string{}
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// SaveConfig validates cfg and writes it to path atomically, readable by
// the owner only (bootstrap addresses reveal who invited this node).
func SaveConfig(path string, cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("save config %s: %w", path, err)
	}
	data, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return fmt.Errorf("save config %s: %w", path, err)
	}
	data = append(data, '\n')
	return WriteAtomic(path, data, 0o600)
}
