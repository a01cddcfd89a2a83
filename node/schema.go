package node

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	ds "github.com/ipfs/go-datastore"

	"github.com/clubnode/clubnode/internal/version"
)

// keySchema holds the datastore's schema version as a decimal number. A
// store written before versions existed has no such key: version 0.
var keySchema = ds.NewKey("/schema/version")

// SchemaVersion is the layout of the datastore this build reads and
// writes. Raise it with a new step in migrations whenever a key's meaning
// or encoding changes.
const SchemaVersion = 1

// ErrSchemaTooNew: the datastore was written by a newer clubnode.
var ErrSchemaTooNew = errors.New("datastore schema is newer than this clubnode")

// migrations[v] upgrades a store at version v to v+1. Each step must be
// safe to run again after a crash halfway: the version is written only
// once the step has succeeded.
var migrations = []func(ctx context.Context, s *store) error{
	0: migrateUnversioned,
}

// migrateUnversioned takes a store from before schema versions (version 0)
// to version 1. The layout did not change; what the step adds is a check
// that the store is one clubnode wrote, so a datastore folder from
// something else is refused rather than stamped as ours.
func migrateUnversioned(ctx context.Context, s *store) error {
	if _, err := s.nodeKey(ctx); err != nil {
		return fmt.Errorf("an unversioned datastore must hold a node key: %w", err)
	}
	return nil
}

// schemaVersion reads the stored version: 0 when the key is absent.
func (s *store) schemaVersion(ctx context.Context) (int, error) {
	data, err := s.get(ctx, keySchema)
	if err != nil || data == nil {
		return 0, err
	}
	v, err := strconv.Atoi(string(data))
	if err != nil || v < 0 {
		return 0, fmt.Errorf("%w: %s holds %q, not a schema version", ErrStorage, keySchema, clipBytes(data, 32))
	}
	return v, nil
}

func (s *store) setSchemaVersion(ctx context.Context, v int) error {
	return s.put(ctx, keySchema, []byte(strconv.Itoa(v)))
}

// migrate brings the store up to SchemaVersion, one step at a time. A
// store newer than this build is refused before anything is written, so
// running an old binary by mistake cannot damage it.
func (s *store) migrate(ctx context.Context) error {
	v, err := s.schemaVersion(ctx)
	if err != nil {
		return err
	}
	if v > SchemaVersion {
		return fmt.Errorf("%w: the datastore is at schema version %d and this clubnode (%s) reads up to %d: "+
			"run a newer clubnode, or restore a backup made by this version; nothing was changed",
			ErrSchemaTooNew, v, version.Get().Version, SchemaVersion)
	}
	for ; v < SchemaVersion; v++ {
		if err := migrations[v](ctx, s); err != nil {
			return fmt.Errorf("migrate datastore from schema version %d to %d: %w", v, v+1, err)
		}
		if err := s.setSchemaVersion(ctx, v+1); err != nil {
			return err
		}
		s.log.Info("datastore migrated", "from", v, "to", v+1)
	}
	return nil
}

func clipBytes(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}
