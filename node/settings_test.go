package node

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/clubnode/clubnode/node/apiv1"
	"github.com/clubnode/clubnode/node/home"
)

// Settings say what is in effect and where it comes from: a daemon whose
// flags override its config file is not "saved, restart needed" when
// nothing was saved (issue 12, item 11); a save is.
func TestSettingsSayWhereFrom(t *testing.T) {
	ctx := context.Background()
	h := home.Home{Dir: filepath.Join(t.TempDir(), "a")}
	if err := h.EnsureDir(); err != nil {
		t.Fatal(err)
	}
	file := home.DefaultConfig()
	file.RelayCapacity = 6 // the daemon runs with 4: a flag says so
	file.APIAddr = "127.0.0.1:0"
	if err := home.SaveConfig(h.ConfigPath(), file); err != nil {
		t.Fatal(err)
	}
	n := startTestNodeAt(t, "a", h.Dir)
	s, err := n.Settings(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := apiv1.SettingsInEffect{RelayCapacity: 4, RelayCapacityFrom: apiv1.FromFlag, APIAddr: "127.0.0.1:0", APIAddrFrom: apiv1.FromFile}
	if s.RestartNeeded || s.RelayCapacity != 6 || s.InEffect != want {
		t.Fatalf("before any change: %+v; want the file's 6, no restart needed, in effect %+v", s, want)
	}
	if s, err = n.SetSettings(ctx, apiv1.SetSettingsRequest{RelayCapacity: ptr(8)}); err != nil {
		t.Fatal(err)
	}
	if !s.RestartNeeded || s.RelayCapacity != 8 || s.InEffect != want {
		t.Fatalf("after saving 8: %+v; want a restart needed, in effect still %+v", s, want)
	}

	// Without a config file, what is not the default came from the flags.
	bare := startTestNode(t, "b")
	if s, err = bare.Settings(ctx); err != nil {
		t.Fatal(err)
	}
	if s.RestartNeeded || s.InEffect.RelayCapacityFrom != apiv1.FromDefault || s.InEffect.APIAddrFrom != apiv1.FromFlag {
		t.Fatalf("no config file: %+v", s)
	}
}
