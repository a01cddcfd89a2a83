package home

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// FuzzLoadConfig checks that no file makes LoadConfig panic, that every
// error names the file, and that whatever loads survives marshal -> parse
// unchanged.
func FuzzLoadConfig(f *testing.F) {
	f.Add([]byte(`{}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"listen_addrs":["/ip4/127.0.0.1/tcp/0"],"api_addr":"[::1]:0","relay_capacity":3,"mdns":false}`))
	f.Add([]byte(`{"bootstrap_addrs":["/dns4/example.com/tcp/4001/p2p/12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA"]}`))
	f.Add([]byte(`{"listen_addrs":["/ip6/::/udp/4001/quic-v1/webtransport"]}`))
	f.Add([]byte(`{"relay_capacity":1e3}`))
	f.Add([]byte(`{"x":1}`))
	f.Add([]byte("\xff\xfe{"))
	// One file per worker process, rewritten on each call: a fresh temp
	// folder per input made fuzzing (and minimising) crawl.
	path := filepath.Join(f.TempDir(), "config.json")
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := LoadConfig(path)
		if err != nil {
			if !strings.Contains(err.Error(), path) {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		// SaveConfig is Validate + this marshalling + a write with fsync;
		// the fsync is left out to keep the fuzzer fast.
		if err := cfg.Validate(); err != nil {
			t.Fatalf("loaded config does not validate: %v", err)
		}
		out, err := json.MarshalIndent(cfg, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		again, err := parseConfig(out)
		if err != nil {
			t.Fatalf("saved config does not load: %v", err)
		}
		if !reflect.DeepEqual(cfg, again) {
			t.Fatalf("round trip changed the config: %+v -> %+v", cfg, again)
		}
	})
}
