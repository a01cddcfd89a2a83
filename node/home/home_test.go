package home

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestResolve(t *testing.T) {
	userHome, err := os.UserHomeDir()
	if err != nil {
		t.Skip("no user home directory:", err)
	}
	cwd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, flag, env, want string
	}{
		{"flag wins", "/tmp/a", "/tmp/b", "/tmp/a"},
		{"env", "", "/tmp/b", "/tmp/b"},
		{"default", "", "", filepath.Join(userHome, DefaultDirName)},
		{"relative flag is made absolute", "rel/dir", "", filepath.Join(cwd, "rel/dir")},
		{"tilde", "~/x", "", filepath.Join(userHome, "x")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(EnvVar, tt.env)
			got, err := Resolve(tt.flag)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("Resolve(%q) with $%s=%q = %q, want %q", tt.flag, EnvVar, tt.env, got, tt.want)
			}
		})
	}
}

func TestLayoutAndExists(t *testing.T) {
	h := Home{Dir: filepath.Join(t.TempDir(), "home")}
	if got := h.ConfigPath(); got != filepath.Join(h.Dir, "config.json") {
		t.Errorf("ConfigPath = %s", got)
	}
	if got := h.DatastorePath(); got != filepath.Join(h.Dir, "datastore") {
		t.Errorf("DatastorePath = %s", got)
	}
	if got := h.APIFilePath(); got != filepath.Join(h.Dir, "api") {
		t.Errorf("APIFilePath = %s", got)
	}
	if got := h.TokenPath(); got != filepath.Join(h.Dir, "api-token") {
		t.Errorf("TokenPath = %s", got)
	}
	if ok, err := h.Exists(); err != nil || ok {
		t.Fatalf("Exists before init = %v, %v", ok, err)
	}
	if err := h.EnsureDir(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(h.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("home mode = %v, want 0700", fi.Mode().Perm())
	}
	if err := SaveConfig(h.ConfigPath(), DefaultConfig()); err != nil {
		t.Fatal(err)
	}
	if ok, err := h.Exists(); err != nil || !ok {
		t.Fatalf("Exists after SaveConfig = %v, %v", ok, err)
	}
}

func TestWriteAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "secret")
	for _, content := range []string{"first", "second, longer than the first"} {
		if err := WriteAtomic(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != content {
			t.Errorf("content = %q, want %q", got, content)
		}
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode = %v, want 0600", fi.Mode().Perm())
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("temp files left behind: %v", entries)
	}
	if err := WriteAtomic(filepath.Join(dir, "missing", "x"), []byte("x"), 0o600); err == nil {
		t.Error("WriteAtomic into a missing folder succeeded")
	}
}

func TestAPIToken(t *testing.T) {
	a, err := NewAPIToken()
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewAPIToken()
	if err != nil {
		t.Fatal(err)
	}
	if a == b {
		t.Error("two tokens are equal")
	}
	if len(a) != 43 || strings.ContainsAny(a, "+/=") {
		t.Errorf("token %q is not 32 bytes of unpadded base64url", a)
	}
}

func TestAPIEndpoint(t *testing.T) {
	h := Home{Dir: t.TempDir()}

	_, _, err := ReadAPIEndpoint(h)
	if !errors.Is(err, ErrNoDaemon) {
		t.Fatalf("missing api file: err = %v, want ErrNoDaemon", err)
	}
	want := "no clubnode daemon is running for home " + h.Dir + " (start it with: clubnode daemon)"
	if err.Error() != want {
		t.Errorf("message = %q, want %q", err, want)
	}

	if err := WriteAPIEndpoint(h, "127.0.0.1:7700", "tok"); err != nil {
		t.Fatal(err)
	}
	addr, token, err := ReadAPIEndpoint(h)
	if err != nil || addr != "127.0.0.1:7700" || token != "tok" {
		t.Fatalf("ReadAPIEndpoint = %q, %q, %v", addr, token, err)
	}
	for _, p := range []string{h.APIFilePath(), h.TokenPath()} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode = %v, want 0600", p, fi.Mode().Perm())
		}
	}

	// A tampered api file must not make the CLI send its token elsewhere.
	if err := os.WriteFile(h.APIFilePath(), []byte("evil.example:80\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ReadAPIEndpoint(h); err == nil || errors.Is(err, ErrNoDaemon) {
		t.Errorf("non-loopback api file: err = %v", err)
	}
	if err := WriteAPIEndpoint(h, "10.0.0.1:7700", "tok"); err == nil {
		t.Error("WriteAPIEndpoint accepted a non-loopback address")
	}

	if err := RemoveAPIFile(h); err != nil {
		t.Fatal(err)
	}
	if err := RemoveAPIFile(h); err != nil {
		t.Fatalf("second RemoveAPIFile: %v", err)
	}
	if _, _, err := ReadAPIEndpoint(h); !errors.Is(err, ErrNoDaemon) {
		t.Errorf("after RemoveAPIFile: err = %v, want ErrNoDaemon", err)
	}
}

func TestConfigRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.json")
	cfg := Config{
		ListenAddrs:    []string{"/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"},
		APIAddr:        "localhost:0",
		RelayCapacity:  40,
		StandbyLinks:   true,
		MDNS:           false,
		BootstrapAddrs: []string{"/ip4/192.0.2.1/tcp/4001/p2p/12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA"},
	}
	if err := SaveConfig(path, cfg); err != nil {
		t.Fatal(err)
	}
	got, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, cfg) {
		t.Errorf("round trip: got %+v, want %+v", got, cfg)
	}
	if err := DefaultConfig().Validate(); err != nil {
		t.Errorf("default config invalid: %v", err)
	}
}

func TestLoadConfigKeepsDefaults(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(path, []byte(`{"relay_capacity": 9}`), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultConfig()
	want.RelayCapacity = 9
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestLoadConfigErrors(t *testing.T) {
	tests := []struct {
		name, content, wantInErr string
	}{
		{"unknown field", `{"relay_capacty": 3}`, `relay_capacty`},
		{"wrong type", `{"relay_capacity": "many"}`, `relay_capacity`},
		{"bad listen addr", `{"listen_addrs": ["/ip4/0.0.0.0/tcp/0", "tcp://x"]}`, `listen_addrs[1]`},
		{"no listen addr", `{"listen_addrs": []}`, `listen_addrs`},
		{"public api addr", `{"api_addr": "0.0.0.0:7700"}`, `api_addr`},
		{"api host name", `{"api_addr": "127.0.0.1.nip.io:7700"}`, `api_addr`},
		{"api addr without port", `{"api_addr": "127.0.0.1"}`, `api_addr`},
		{"capacity too big", `{"relay_capacity": 1001}`, `relay_capacity`},
		{"capacity negative", `{"relay_capacity": -1}`, `relay_capacity`},
		{"bootstrap without peer id", `{"bootstrap_addrs": ["/ip4/192.0.2.1/tcp/4001"]}`, `bootstrap_addrs[0]`},
		{"syntax", `{"mdns": tru}`, `invalid JSON`},
		{"trailing data", `{} {}`, `after the JSON object`},
		{"empty", ``, `empty`},
		{"null", "null\n", `expected a JSON object, got "null"`},
		{"a list", `[]`, `expected a JSON object`},
		{"too large", `{"bootstrap_addrs": ["` + strings.Repeat("x", MaxConfigSize) + `"]}`, `larger than`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "config.json")
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := LoadConfig(path)
			if err == nil {
				t.Fatal("LoadConfig succeeded")
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name the file", err)
			}
			if !strings.Contains(err.Error(), tt.wantInErr) {
				t.Errorf("error %q does not contain %q", err, tt.wantInErr)
			}
		})
	}
	if _, err := LoadConfig(filepath.Join(t.TempDir(), "absent.json")); err == nil || !strings.Contains(err.Error(), "absent.json") {
		t.Errorf("missing file: err = %v", err)
	}
}

func TestSaveConfigRejectsInvalid(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.json")
	cfg := DefaultConfig()
	cfg.APIAddr = "192.0.2.1:7700"
	if err := SaveConfig(path, cfg); err == nil {
		t.Fatal("SaveConfig accepted a public API address")
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("invalid config was written: %v", err)
	}
}

func TestMetricsAddrNeedsLoopbackUnlessAllowed(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MetricsAddr = "0.0.0.0:9700"
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "metrics_allow_remote") {
		t.Fatalf("non-loopback metrics address: %v", err)
	}
	cfg.MetricsAllowRemote = true
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	cfg.MetricsAddr = "127.0.0.1:notaport"
	if err := cfg.Validate(); err == nil {
		t.Fatal("bad port accepted")
	}
	cfg.MetricsAddr, cfg.UplinkKbps = "127.0.0.1:9700", -1
	if err := cfg.Validate(); err == nil {
		t.Fatal("negative uplink accepted")
	}
}
