package node

import (
	"context"
	"errors"
	"io/fs"

	"github.com/clubnode/clubnode/node/apiv1"
	"github.com/clubnode/clubnode/node/home"
)

// readStartFile reads the config file as the daemon starts; a missing or
// unreadable file counts as none (Start has its settings already).
func (n *Node) readStartFile() (home.Config, bool) {
	cfg, err := home.LoadConfig(n.cfg.Home.ConfigPath())
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			n.log.Warn("config file unreadable: Settings cannot say what it set", "err", err)
		}
		return home.Config{}, false
	}
	return cfg, true
}

// Settings shows the settings the UI may change, as the config file has
// them, next to what the running daemon uses and where that comes from.
func (n *Node) Settings(context.Context) (apiv1.Settings, error) {
	cfg, err := n.configFile()
	if err != nil {
		return apiv1.Settings{}, err
	}
	return n.settingsOf(cfg), nil
}

func (n *Node) settingsOf(cfg home.Config) apiv1.Settings {
	run, start, ok := n.cfg.Settings, n.web.startFile, n.web.startFileOK
	def := home.DefaultConfig()
	from := func(running, inFile, dflt any) string {
		switch {
		case ok && running == inFile:
			return apiv1.FromFile
		case !ok && running == dflt:
			return apiv1.FromDefault
		}
		return apiv1.FromFlag
	}
	out := apiv1.Settings{RelayCapacity: cfg.RelayCapacity, APIAddr: cfg.APIAddr, RunningAPIAddr: n.APIAddr(),
		ConfigPath: n.cfg.Home.ConfigPath(),
		InEffect: apiv1.SettingsInEffect{
			RelayCapacity: run.RelayCapacity, RelayCapacityFrom: from(run.RelayCapacity, start.RelayCapacity, def.RelayCapacity),
			APIAddr: run.APIAddr, APIAddrFrom: from(run.APIAddr, start.APIAddr, def.APIAddr)}}
	// What the file says now against what it said at the start: a value
	// the daemon's flags override is not news, a saved one is.
	if !ok {
		start = run
	}
	out.RestartNeeded = cfg.RelayCapacity != start.RelayCapacity || cfg.APIAddr != start.APIAddr
	return out
}

// configFile reads the config file, or the running settings if there is
// none yet (a node started without init, as tests do).
func (n *Node) configFile() (home.Config, error) {
	cfg, err := home.LoadConfig(n.cfg.Home.ConfigPath())
	if errors.Is(err, fs.ErrNotExist) {
		return n.cfg.Settings, nil
	}
	return cfg, err
}

// SetSettings writes changed settings to the config file; the daemon
// uses them from its next start.
func (n *Node) SetSettings(_ context.Context, req apiv1.SetSettingsRequest) (apiv1.Settings, error) {
	n.web.settingsMu.Lock()
	defer n.web.settingsMu.Unlock()
	cfg, err := n.configFile()
	if err != nil {
		return apiv1.Settings{}, err
	}
	if req.RelayCapacity != nil {
		cfg.RelayCapacity = *req.RelayCapacity
	}
	if req.APIAddr != nil {
		cfg.APIAddr = *req.APIAddr
	}
	if err := cfg.Validate(); err != nil {
		return apiv1.Settings{}, invalid("%w", err)
	}
	if err := n.cfg.Home.EnsureDir(); err != nil {
		return apiv1.Settings{}, err
	}
	if err := home.SaveConfig(n.cfg.Home.ConfigPath(), cfg); err != nil {
		return apiv1.Settings{}, err
	}
	return n.settingsOf(cfg), nil
}
