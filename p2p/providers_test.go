package p2p

import (
	"context"
	"fmt"
	"testing"

	ds "github.com/ipfs/go-datastore"
)

// A member cannot fill the store either: records per provider and in all
// are bounded.
func TestBoundedProviders(t *testing.T) {
	ctx := context.Background()
	b := newBoundedProviders()
	for owner := range 2 * maxProviderRecords / maxRecordsPerProvider {
		for key := range 2 * maxRecordsPerProvider {
			k := fmt.Sprintf("/providers/KEY%d/OWNER%d", key, owner)
			if err := b.Put(ctx, ds.NewKey(k), []byte{1}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if b.total != maxProviderRecords {
		t.Fatalf("holds %d records, bound %d", b.total, maxProviderRecords)
	}
	for o, n := range b.byOwner {
		if n > maxRecordsPerProvider {
			t.Fatalf("provider %s holds %d records, bound %d", o, n, maxRecordsPerProvider)
		}
	}
	// An update of a record held is not a new record, and a delete frees
	// room for another.
	if err := b.Put(ctx, ds.NewKey("/providers/KEY0/OWNER0"), []byte{2}); err != nil {
		t.Fatal(err)
	}
	if err := b.Delete(ctx, ds.NewKey("/providers/KEY0/OWNER0")); err != nil {
		t.Fatal(err)
	}
	if b.total != maxProviderRecords-1 || b.byOwner["OWNER0"] != maxRecordsPerProvider-1 {
		t.Fatalf("after an update and a delete: %d records, OWNER0 %d", b.total, b.byOwner["OWNER0"])
	}
}
