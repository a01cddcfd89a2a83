package main

import (
	"fmt"
	"net/netip"

	"github.com/spf13/cobra"

	"github.com/clubnode/clubnode/node/home"
)

// addNATFlags adds the daemon's NAT traversal flags; each overrides the
// config key of the same name.
func addNATFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.String("reachability", "", "auto, public or private (overrides the config's reachability; default auto)")
	f.StringArray("public-addr", nil, "multiaddr announced besides the listen ones, e.g. a port forward (repeatable; overrides public_addrs)")
	f.Bool("relay-service", true, "run the circuit relay service for members when public (overrides relay_service)")
	f.StringArray("static-relay", nil, "always-on node /p2p/ multiaddr to hold relay reservations on (repeatable; overrides static_relays)")
	f.Bool("port-mapping", false, "ask the router for a port forward with UPnP or NAT-PMP (overrides port_mapping)")
	f.StringArray("lab-internet", nil, "CIDR of a documentation range to take for the public Internet (network-namespace labs only)")
}

// applyNATFlags applies the flags that were given to settings.
func applyNATFlags(cmd *cobra.Command, settings *home.Config) ([]netip.Prefix, error) {
	f := cmd.Flags()
	if f.Changed("reachability") {
		settings.Reachability, _ = f.GetString("reachability")
	}
	if f.Changed("public-addr") {
		settings.PublicAddrs, _ = f.GetStringArray("public-addr")
	}
	if f.Changed("relay-service") {
		settings.RelayService, _ = f.GetBool("relay-service")
	}
	if f.Changed("static-relay") {
		settings.StaticRelays, _ = f.GetStringArray("static-relay")
	}
	if f.Changed("port-mapping") {
		settings.PortMapping, _ = f.GetBool("port-mapping")
	}
	if err := settings.Validate(); err != nil {
		return nil, err
	}
	lab, _ := f.GetStringArray("lab-internet")
	var prefixes []netip.Prefix
	for _, s := range lab {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("--lab-internet %q: %w", s, err)
		}
		prefixes = append(prefixes, p.Masked())
	}
	return prefixes, nil
}
