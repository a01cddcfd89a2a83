package node

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/clubnode/clubnode/node/apiv1"
	"github.com/clubnode/clubnode/node/home"
)

// startDiskNode starts a node on a real LevelDB datastore in dir, made
// with Init the first time.
func startDiskNode(t *testing.T, dir string) *Node {
	t.Helper()
	h := home.Home{Dir: dir}
	if ok, err := h.Exists(); err != nil {
		t.Fatal(err)
	} else if !ok {
		if _, err := Init(h, "Alice"); err != nil {
			t.Fatal(err)
		}
	}
	settings := home.DefaultConfig()
	settings.ListenAddrs = []string{"/ip4/127.0.0.1/tcp/0"}
	settings.APIAddr = "127.0.0.1:0"
	settings.MDNS = false
	n, err := Start(Config{Home: h, Settings: settings, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// sameName reports whether `id` and `profile show` name the same person.
func sameName(t *testing.T, n *Node) error {
	t.Helper()
	ctx := context.Background()
	id, err := n.Identity(ctx)
	if err != nil {
		t.Fatal(err)
	}
	m, err := n.Profile(ctx, id.PeerID)
	if err != nil {
		t.Fatal(err)
	}
	if id.Name != m.Name {
		return fmt.Errorf("id names %q, profile show names %q", id.Name, m.Name)
	}
	return nil
}

// TestConcurrentProfileChanges: four profile changes at once, a hundred
// times; after each round, and after a restart, `id` and `profile show`
// name the same person.
func TestConcurrentProfileChanges(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "home")
	n := startDiskNode(t, dir)
	ctx := context.Background()
	if _, err := n.CreateNetwork(ctx, apiv1.CreateNetworkRequest{Name: "Night Owls"}); err != nil {
		t.Fatal(err)
	}
	var torn int
	for round := range 100 {
		var wg sync.WaitGroup
		for who := range 4 {
			wg.Go(func() {
				name := fmt.Sprintf("%c-%d", 'A'+who, round)
				if _, err := n.SetProfile(ctx, apiv1.SetProfileRequest{Name: name, Bio: "bio of " + name}); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if err := sameName(t, n); err != nil {
			torn++
			t.Logf("round %d: %v", round, err)
		}
	}
	if torn > 0 {
		t.Errorf("%d of 100 rounds left two different names", torn)
	}
	n.Close()
	if err := sameName(t, startDiskNode(t, dir)); err != nil {
		t.Errorf("after a restart: %v", err)
	}
}

// TestNamesRefused: an empty name, and names or bios that could forge
// rows or hide, are refused with a clear message, at init and through
// the API.
func TestNamesRefused(t *testing.T) {
	if _, err := Init(home.Home{Dir: filepath.Join(t.TempDir(), "h")}, ""); err == nil || !strings.Contains(err.Error(), "name is needed") {
		t.Errorf("init with an empty name: %v", err)
	}
	n := startTestNode(t, "a")
	ctx := context.Background()
	for _, req := range []apiv1.SetProfileRequest{{Name: ""}, {Name: "  "}, {Name: "Bob\t12D3KooWFake"},
		{Name: "Bob\u202e"}, {Name: "\u200b"}, {Name: "Bob", Bio: "\u2066hidden"}} {
		if _, err := n.SetProfile(ctx, req); statusOf(err) != 400 {
			t.Errorf("SetProfile(%+v): %v (status %d)", req, err, statusOf(err))
		}
	}
	for _, name := range []string{"Night\nOwls", "\u202eslwO", "\u2060"} {
		if _, err := n.CreateNetwork(ctx, apiv1.CreateNetworkRequest{Name: name}); statusOf(err) != 400 {
			t.Errorf("CreateNetwork(%q): %v", name, err)
		}
	}
}
