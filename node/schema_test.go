package node

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"maps"
	"testing"

	"github.com/ipfs/go-datastore/query"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/clubnode/clubnode/identity"
	"github.com/clubnode/clubnode/node/diskstore"
	"github.com/clubnode/clubnode/node/home"
)

// oldFormatHome writes a home the way Init did before schema versions: a
// LevelDB with the node key and self info and no version key, and the
// config file.
func oldFormatHome(t *testing.T) (home.Home, *store) {
	t.Helper()
	h := home.Home{Dir: t.TempDir()}
	d, err := openDisk(h)
	if err != nil {
		t.Fatal(err)
	}
	st := &store{ds: d, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	key, err := identity.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := st.setNodeKey(ctx, key); err != nil {
		t.Fatal(err)
	}
	if err := st.setSelfInfo(ctx, selfInfo{Name: "Old"}); err != nil {
		t.Fatal(err)
	}
	if err := home.SaveConfig(h.ConfigPath(), home.DefaultConfig()); err != nil {
		t.Fatal(err)
	}
	return h, st
}

func startOnDisk(t *testing.T, h home.Home) (*Node, error) {
	t.Helper()
	settings := home.DefaultConfig()
	settings.ListenAddrs = []string{"/ip4/127.0.0.1/tcp/0"}
	settings.APIAddr = "127.0.0.1:0"
	settings.MDNS = false
	return Start(Config{Home: h, Settings: settings, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
}

// dump reads every key and value of a closed store's LevelDB.
func dump(t *testing.T, h home.Home) map[string]string {
	t.Helper()
	d, err := openDisk(h)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	res, err := d.Query(context.Background(), query.Query{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for r := range res.Next() {
		if r.Error != nil {
			t.Fatal(r.Error)
		}
		out[r.Key] = string(r.Value)
	}
	return out
}

// A store from before schema versions opens: the migration step stamps it
// version 1 and everything in it is still there.
func TestSchemaMigratesUnversionedStore(t *testing.T) {
	h, st := oldFormatHome(t)
	key, err := st.nodeKey(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if v, err := st.schemaVersion(context.Background()); err != nil || v != 0 {
		t.Fatalf("old store: version %d, %v", v, err)
	}
	st.ds.Close()
	before := dump(t, h)

	n, err := startOnDisk(t, h)
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := peerIDOf(key); n.ID() != want {
		t.Fatalf("node came up as %s, want the stored identity %s", n.ID(), want)
	}
	n.Close()
	after := dump(t, h)
	if after[keySchema.String()] != "1" {
		t.Fatalf("schema version after migration: %q", after[keySchema.String()])
	}
	for k, v := range before {
		if after[k] != v {
			t.Fatalf("migration changed %s", k)
		}
	}
}

// A store from a newer clubnode is refused with a message that says what
// to do, and nothing in it changes.
func TestSchemaRefusesNewerStore(t *testing.T) {
	h, st := oldFormatHome(t)
	if err := st.setSchemaVersion(context.Background(), SchemaVersion+1); err != nil {
		t.Fatal(err)
	}
	st.ds.Close()
	before := dump(t, h)
	_, err := startOnDisk(t, h)
	if !errors.Is(err, ErrSchemaTooNew) {
		t.Fatalf("Start: %v, want ErrSchemaTooNew", err)
	}
	t.Log(err)
	if after := dump(t, h); !maps.Equal(before, after) {
		t.Fatal("a refused store was changed")
	}
}

// A new home is written at the current version.
func TestInitWritesSchemaVersion(t *testing.T) {
	h := home.Home{Dir: t.TempDir() + "/home"}
	if _, err := Init(h, "New"); err != nil {
		t.Fatal(err)
	}
	if v := dump(t, h)[keySchema.String()]; v != "1" {
		t.Fatalf("schema version of a new store: %q", v)
	}
}

// A datastore without a node key is not a clubnode store: migration
// refuses to stamp it.
func TestSchemaRefusesForeignStore(t *testing.T) {
	h := home.Home{Dir: t.TempDir()}
	d, err := openDisk(h)
	if err != nil {
		t.Fatal(err)
	}
	st := &store{ds: d, log: slog.Default()}
	defer d.Close()
	if err := st.migrate(context.Background()); err == nil {
		t.Fatal("an empty datastore was migrated")
	}
	if v, _ := st.schemaVersion(context.Background()); v != 0 {
		t.Fatalf("version written on a failed migration: %d", v)
	}
}

func peerIDOf(key interface{ GetPublic() crypto.PubKey }) (peer.ID, error) {
	return peer.IDFromPublicKey(key.GetPublic())
}

func openDisk(h home.Home) (*diskstore.Store, error) {
	return diskstore.Open(h.DatastorePath(), slog.New(slog.NewTextHandler(io.Discard, nil)))
}
