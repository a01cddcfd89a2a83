package session

import (
	"encoding/json"
	"errors"
	"maps"
	"strings"
	"testing"
	"time"
)

// memStore is a Store in a map, counting writes; the node's own Store (on
// its datastore) is tested through the node.
type memStore struct {
	records map[Digest]Record
	puts    int
	failAll bool
}

func (s *memStore) LoadSessions() (map[Digest]Record, error) {
	if s.failAll {
		return nil, errors.New("disk on fire")
	}
	return maps.Clone(s.records), nil
}

func (s *memStore) PutSession(d Digest, r Record) error {
	if s.failAll {
		return errors.New("disk on fire")
	}
	s.puts++
	s.records[d] = r
	return nil
}

func (s *memStore) DeleteSession(d Digest) error {
	delete(s.records, d)
	return nil
}

func signIn(t *testing.T, m *Manager) Session {
	t.Helper()
	login, _, err := m.NewLogin()
	if err != nil {
		t.Fatal(err)
	}
	s, err := m.Redeem(login.String())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestSessionsSurviveRestart: a Manager made again on the same Store (a
// daemon restart) knows the session, with its CSRF token; an ended
// session is gone from the Store, and the Store never holds the ID.
func TestSessionsSurviveRestart(t *testing.T) {
	c := &clock{time.Unix(1_800_000_000, 0)}
	st := &memStore{records: map[Digest]Record{}}
	cfg := Config{CookieName: "s", IdleTTL: 24 * time.Hour, Now: c.now, Store: st}
	s := signIn(t, NewManager(cfg))
	if _, ok := st.records[s.ID.digest()]; !ok || len(st.records) != 1 {
		t.Fatalf("store after sign-in: %v", st.records)
	}
	raw, err := json.Marshal(st.records[s.ID.digest()])
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), s.ID.String()) {
		t.Fatalf("the stored record carries the session ID: %s", raw)
	}

	c.t = c.t.Add(3 * time.Hour)
	again := NewManager(cfg)
	got, ok := again.Lookup(requestWith(again.Cookie(s)))
	if !ok || got != s {
		t.Fatalf("after restart: %v, %v; want the same session", got, ok)
	}
	again.End(s.ID)
	if len(st.records) != 0 {
		t.Fatalf("store after sign-out: %v", st.records)
	}
	if _, ok := NewManager(cfg).Lookup(requestWith(again.Cookie(s))); ok {
		t.Fatal("a signed-out session came back after a restart")
	}
}

// TestStoredSessionsExpire: a session idle past IdleTTL while the daemon
// was down is dropped at start, from the Store too; use within the TTL
// is written back at most every touchEvery.
func TestStoredSessionsExpire(t *testing.T) {
	c := &clock{time.Unix(1_800_000_000, 0)}
	st := &memStore{records: map[Digest]Record{}}
	cfg := Config{CookieName: "s", IdleTTL: 24 * time.Hour, Now: c.now, Store: st}
	m := NewManager(cfg)
	s := signIn(t, m)
	puts := st.puts
	for range 10 {
		c.t = c.t.Add(time.Minute)
		m.Lookup(requestWith(m.Cookie(s)))
	}
	if st.puts != puts {
		t.Errorf("10 uses within %s wrote the store %d times, want 0", touchEvery, st.puts-puts)
	}
	c.t = c.t.Add(touchEvery)
	m.Lookup(requestWith(m.Cookie(s)))
	if st.puts != puts+1 || !st.records[s.ID.digest()].LastSeen.Equal(c.t) {
		t.Errorf("a use after %s: %d writes, stored last seen %v; want 1, %v", touchEvery, st.puts-puts, st.records[s.ID.digest()].LastSeen, c.t)
	}

	c.t = c.t.Add(25 * time.Hour) // the daemon was off for a day
	if _, ok := NewManager(cfg).Lookup(requestWith(m.Cookie(s))); ok {
		t.Fatal("a session idle past IdleTTL survived a restart")
	}
	if len(st.records) != 0 {
		t.Fatalf("the expired session is still stored: %v", st.records)
	}
}

// TestUnreadableStore: a store that fails to load leaves the Manager
// empty but working, and deletes nothing; one that fails to write makes
// sign-in fail with the reason rather than hand out a session that would
// not survive.
func TestUnreadableStore(t *testing.T) {
	c := &clock{time.Unix(1_800_000_000, 0)}
	st := &memStore{records: map[Digest]Record{{1}: {Created: c.t, LastSeen: c.t}}, failAll: true}
	m := NewManager(Config{CookieName: "s", Now: c.now, Store: st})
	if len(st.records) != 1 {
		t.Fatal("a failed load deleted stored sessions")
	}
	login, _, err := m.NewLogin()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Redeem(login.String()); err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("redeem with a failing store: %v, want the store's error", err)
	}
}
