// Package diskstore is the node's datastore on disk: LevelDB through
// go-ds-leveldb, with two things that library leaves to its user.
//
// A failed write poisons it: goleveldb keeps the first error of its
// journal (say "no space left on device") and returns it for every later
// write, even once the disk has room again, until the database is opened
// anew. Store notices a failed write and, at the next write that has a
// chance (room on the disk, or at most once a second for other errors),
// closes and reopens the database and says so in the log.
//
// An open that fails says why in words (full or read-only disk, no
// permission, another daemon holding the lock) instead of one guess for
// every case.
package diskstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"syscall"
	"time"

	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"
	leveldb "github.com/ipfs/go-ds-leveldb"
)

// minFree is the room on the disk below which reopening after a failed
// write is not tried: the open would fail as the write did.
const minFree = 1 << 20

// retryEvery bounds how often a reopen is tried after one failed.
const retryEvery = time.Second

// ErrClosed is returned by a Store that was closed, or whose reopen
// failed (the next operation tries again).
var ErrClosed = errors.New("datastore closed")

// Store is a ds.Batching over LevelDB at one path; see the package
// comment.
type Store struct {
	path string
	log  *slog.Logger

	mu      sync.RWMutex // writes to the fields below take it exclusively
	db      *leveldb.Datastore
	broken  error // the write error that poisoned db, or nil
	closed  bool
	lastTry time.Time
}

var _ ds.Batching = (*Store)(nil)

// Open opens (creating if needed) the LevelDB datastore at path.
func Open(path string, log *slog.Logger) (*Store, error) {
	if log == nil {
		log = slog.Default()
	}
	db, err := open(path)
	if err != nil {
		return nil, err
	}
	return &Store{path: path, log: log, db: db}, nil
}

func open(path string) (*leveldb.Datastore, error) {
	db, err := leveldb.NewDatastore(path, nil)
	if err != nil {
		return nil, fmt.Errorf("open datastore %s: %s: %w", path, Cause(err), err)
	}
	return db, nil
}

// Cause names in words what an error from the file system means for the
// user.
func Cause(err error) string {
	switch {
	case errors.Is(err, syscall.EWOULDBLOCK):
		return "it is in use: is another clubnode daemon running for this home?"
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return "the disk is full"
	case errors.Is(err, syscall.EROFS):
		return "the disk is read-only"
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		return "permission denied: does the home folder belong to another user?"
	case errors.Is(err, syscall.EIO):
		return "the disk failed to read or write"
	}
	return "it could not be opened"
}

func (s *Store) read(op func(*leveldb.Datastore) error) error  { return s.do(false, op) }
func (s *Store) write(op func(*leveldb.Datastore) error) error { return s.do(true, op) }

// do runs op on the current database, holding it open meanwhile. A write
// first reopens a database that an earlier write poisoned; a failed write
// poisons it. Reads go on on a poisoned database: only writes are stuck.
func (s *Store) do(write bool, op func(*leveldb.Datastore) error) error {
	for range 2 {
		s.mu.RLock()
		if s.closed {
			s.mu.RUnlock()
			return ErrClosed
		}
		if db := s.db; db != nil && (!write || s.broken == nil) {
			err := op(db)
			s.mu.RUnlock()
			if write && err != nil {
				s.poison(db, err)
			}
			return err
		}
		s.mu.RUnlock()
		if err := s.reopen(); err != nil {
			return err
		}
	}
	return fmt.Errorf("datastore %s: %w", s.path, ErrClosed) // poisoned again at once
}

func (s *Store) poison(db *leveldb.Datastore, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.db == db && s.broken == nil {
		s.broken = err
		s.log.Warn("a datastore write failed; the datastore will be reopened at the next write",
			"path", s.path, "cause", Cause(err), "err", err)
	}
}

// reopen closes a poisoned database and opens it again, unless the disk
// still has no room or a try failed less than retryEvery ago.
func (s *Store) reopen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return ErrClosed
	case s.db != nil && s.broken == nil: // another caller reopened it
		return nil
	}
	cause := s.broken
	if cause == nil {
		cause = ErrClosed
	}
	if free, err := freeBytes(s.path); err == nil && free < minFree {
		return fmt.Errorf("datastore %s: the disk is full (%d bytes free): %w", s.path, free, cause)
	}
	if time.Since(s.lastTry) < retryEvery {
		return fmt.Errorf("datastore %s: waiting to reopen: %w", s.path, cause)
	}
	s.lastTry = time.Now()
	if s.db != nil {
		_ = s.db.Close() // it returns the poisoning error again
		s.db = nil
	}
	db, err := open(s.path)
	if err != nil {
		s.log.Error("could not reopen the datastore", "path", s.path, "err", err)
		return err
	}
	s.db, s.broken = db, nil
	s.log.Warn("datastore reopened after a failed write", "path", s.path, "cause", Cause(cause), "err", cause)
	return nil
}

func freeBytes(path string) (uint64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return 0, err
	}
	return st.Bavail * uint64(st.Bsize), nil
}

func (s *Store) Get(ctx context.Context, key ds.Key) (value []byte, err error) {
	err = s.read(func(db *leveldb.Datastore) error { value, err = db.Get(ctx, key); return err })
	return value, err
}

func (s *Store) Has(ctx context.Context, key ds.Key) (exists bool, err error) {
	err = s.read(func(db *leveldb.Datastore) error { exists, err = db.Has(ctx, key); return err })
	return exists, err
}

func (s *Store) GetSize(ctx context.Context, key ds.Key) (size int, err error) {
	err = s.read(func(db *leveldb.Datastore) error { size, err = db.GetSize(ctx, key); return err })
	return size, err
}

// Query reads all results at once: they must not depend on a database
// that a reopen may close while the caller iterates. The node's queries
// (members, peers, sessions) are small.
func (s *Store) Query(ctx context.Context, q query.Query) (query.Results, error) {
	var entries []query.Entry
	err := s.read(func(db *leveldb.Datastore) error {
		res, err := db.Query(ctx, q)
		if err != nil {
			return err
		}
		entries, err = res.Rest()
		return err
	})
	if err != nil {
		return nil, err
	}
	return query.ResultsWithEntries(q, entries), nil
}

func (s *Store) Put(ctx context.Context, key ds.Key, value []byte) error {
	return s.write(func(db *leveldb.Datastore) error { return db.Put(ctx, key, value) })
}

func (s *Store) Delete(ctx context.Context, key ds.Key) error {
	return s.write(func(db *leveldb.Datastore) error { return db.Delete(ctx, key) })
}

func (s *Store) Sync(ctx context.Context, prefix ds.Key) error {
	return s.write(func(db *leveldb.Datastore) error { return db.Sync(ctx, prefix) })
}

// Close closes the database; later calls fail with ErrClosed.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if s.db == nil {
		return nil
	}
	err := s.db.Close()
	s.db = nil
	if s.broken != nil {
		return nil // the poisoning error again, already logged
	}
	return err
}

// Batch collects writes and commits them as one LevelDB batch on
// whichever database is current at Commit.
func (s *Store) Batch(context.Context) (ds.Batch, error) { return &batch{s: s}, nil }

type batch struct {
	s   *Store
	ops []batchOp
}

type batchOp struct {
	key    ds.Key
	value  []byte
	delete bool
}

func (b *batch) Put(_ context.Context, key ds.Key, value []byte) error {
	b.ops = append(b.ops, batchOp{key: key, value: value})
	return nil
}

func (b *batch) Delete(_ context.Context, key ds.Key) error {
	b.ops = append(b.ops, batchOp{key: key, delete: true})
	return nil
}

func (b *batch) Commit(ctx context.Context) error {
	return b.s.write(func(db *leveldb.Datastore) error {
		lb, err := db.Batch(ctx)
		if err != nil {
			return err
		}
		for _, op := range b.ops {
			if op.delete {
				err = lb.Delete(ctx, op.key)
			} else {
				err = lb.Put(ctx, op.key, op.value)
			}
			if err != nil {
				return err
			}
		}
		return lb.Commit(ctx)
	})
}
