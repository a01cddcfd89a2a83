package node

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/clubnode/clubnode/identity"
	"github.com/clubnode/clubnode/internal/testutil"
	"github.com/clubnode/clubnode/node/apiv1"
	"github.com/clubnode/clubnode/node/home"
	"github.com/clubnode/clubnode/node/metrics"
	"github.com/clubnode/clubnode/rooms"
)

// startWith starts a node like startTestNode, with settings changed by edit
// and its log kept.
func startWith(t *testing.T, name string, edit func(*home.Config)) (*Node, *testutil.LockedBuffer) {
	t.Helper()
	return startConfigured(t, name, edit, nil)
}

// startConfigured is startWith with a say in the node's Config too.
func startConfigured(t *testing.T, name string, edit func(*home.Config), configure func(*Config)) (*Node, *testutil.LockedBuffer) {
	t.Helper()
	d := dssync.MutexWrap(ds.NewMapDatastore())
	st := &store{ds: d, log: slog.Default()}
	key, err := identity.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	if err := st.setNodeKey(context.Background(), key); err != nil {
		t.Fatal(err)
	}
	settings := home.DefaultConfig()
	settings.ListenAddrs = []string{"/ip4/127.0.0.1/tcp/0"}
	settings.APIAddr = "127.0.0.1:0"
	settings.MDNS = false
	edit(&settings)
	logs := &testutil.LockedBuffer{}
	cfg := Config{Home: home.Home{Dir: filepath.Join(t.TempDir(), name)}, Settings: settings, Datastore: d,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo})),
		// Some nodes announce 203.0.113.77, which exists nowhere: no dial
		// or ICE check may leave for it through the default route.
		LocalDialsOnly: true}
	if configure != nil {
		configure(&cfg)
	}
	n, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n, logs
}

// With metrics_addr set, /metrics answers with clubnode's families and
// go-libp2p's own; without it there is no listener at all.
func TestMetricsEndpoint(t *testing.T) {
	n, _ := startWith(t, "alice", func(c *home.Config) { c.MetricsAddr = "127.0.0.1:0" })
	if err := n.cfg.Home.EnsureDir(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Serve(ctx) }()
	defer func() { cancel(); <-done }()
	if _, err := n.CreateNetwork(ctx, apiv1.CreateNetworkRequest{Name: "Night Owls"}); err != nil {
		t.Fatal(err)
	}
	room, err := n.CreateRoom(ctx, apiv1.CreateRoomRequest{Title: "Ops"})
	if err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		if _, ok := n.rooms.Load().Media(rooms.RoomID(room.ID)); !ok {
			return errors.New("the room's audio has not started")
		}
		return nil
	})
	resp, err := http.Get("http://" + n.MetricsAddr() + metrics.Path)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("scrape does not parse: %v", err)
	}
	value := func(name string, label ...string) float64 {
		f, ok := families[name]
		if !ok {
			t.Fatalf("no %s in the scrape", name)
		}
		for _, m := range f.Metric {
			if len(label) == 0 || len(m.Label) > 0 && m.Label[0].GetValue() == label[0] {
				return m.GetGauge().GetValue() + m.GetCounter().GetValue()
			}
		}
		t.Fatalf("no %s%v", name, label)
		return 0
	}
	if v := value("clubnode_members_known"); v != 1 {
		t.Errorf("members known %v, want 1", v)
	}
	if v := value("clubnode_rooms", "hosted"); v != 1 {
		t.Errorf("rooms hosted %v, want 1", v)
	}
	// The hosted room's signature check: its counters are there from the
	// start, at zero (the attack tests in rooms/roomnet count real refusals).
	if v := value("clubnode_media_refused_packets_total", "bad_signature"); v != 0 {
		t.Errorf("bad signatures %v in a room nobody spoke in", v)
	}
	value("clubnode_media_verified_packets_total")
	if v := value("clubnode_datastore_schema_version"); v != SchemaVersion {
		t.Errorf("schema version %v", v)
	}
	var libp2p int
	for name := range families {
		if strings.HasPrefix(name, "libp2p_") {
			libp2p++
		}
	}
	if libp2p == 0 {
		t.Error("no go-libp2p families in the scrape")
	}
	t.Logf("%d families, %d of them go-libp2p's, %d bytes", len(families), libp2p, len(body))

	plain := startTestNode(t, "bob")
	if plain.MetricsAddr() != "" || plain.metrics != nil {
		t.Fatal("a node without metrics_addr serves metrics")
	}
}

// relay_capacity beyond the stated uplink draws a warning that says what to
// set; a capacity within it does not.
func TestCapacityWarning(t *testing.T) {
	_, logs := startWith(t, "small", func(c *home.Config) { c.UplinkKbps = 1000; c.RelayCapacity = 20 })
	if !strings.Contains(logs.String(), "relay_capacity is more than the uplink can carry") ||
		!strings.Contains(logs.String(), "suggested_relay_capacity=9") {
		t.Fatalf("no capacity warning:\n%s", logs)
	}
	_, logs = startWith(t, "fine", func(c *home.Config) { c.UplinkKbps = 1000; c.RelayCapacity = 9 })
	if strings.Contains(logs.String(), "uplink can carry") {
		t.Fatalf("a warning for a capacity that fits:\n%s", logs)
	}
}
