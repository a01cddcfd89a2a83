package rooms

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/clubnode/clubnode/identity"
)

// t0 is the fixed "now" of the tests.
var t0 = time.Date(2026, 3, 1, 20, 0, 0, 0, time.UTC)

const testNetwork = identity.NetworkID("net-test")

func newKey(tb testing.TB) (crypto.PrivKey, peer.ID) {
	tb.Helper()
	key, err := identity.GenerateKey()
	if err != nil {
		tb.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	return key, id
}

// cast is a room's people, one per role, plus two targets:
//
//	H host, M and N moderators (M appointed first), S speaker, T target
//	speaker, L listener (hand down), U target listener, I invited,
//	O outsider
type cast struct {
	keys map[string]crypto.PrivKey
	ids  map[string]peer.ID
}

func newCast(tb testing.TB) *cast {
	tb.Helper()
	c := &cast{keys: map[string]crypto.PrivKey{}, ids: map[string]peer.ID{}}
	for _, n := range []string{"H", "M", "N", "S", "T", "L", "U", "I", "O", "X"} {
		c.keys[n], c.ids[n] = newKey(tb)
	}
	return c
}

func (c *cast) id(n string) peer.ID { return c.ids[n] }

// room is a live open room at version 1 with the whole cast in place but O.
func (c *cast) room(tb testing.TB) State {
	tb.Helper()
	s, err := NewState(RoomConfig{Network: testNetwork, Host: c.id("H"), Title: "Late-night Go", Type: TypeOpen, Now: t0})
	if err != nil {
		tb.Fatal(err)
	}
	s.Moderators = append(s.Moderators, c.id("M"), c.id("N"))
	for _, n := range []string{"M", "N", "S", "T"} {
		s.Speakers = append(s.Speakers, Speaker{Peer: c.id(n)})
	}
	s.Audience = []peer.ID{c.id("L"), c.id("U"), c.id("I")}
	s.Invited = []peer.ID{c.id("I")}
	if err := s.Validate(); err != nil {
		tb.Fatal(err)
	}
	return s
}

// req is an unsigned request at t0+1m: Apply trusts From, which
// ParseRequest has verified in real use.
func (c *cast) req(s State, from string, kind Kind, target string) Request {
	r := Request{Room: s.Room, From: c.id(from), Kind: kind, Time: t0.Add(time.Minute), Nonce: make([]byte, nonceSize)}
	if target != "" {
		r.Target = c.id(target)
	}
	return r
}

func (c *cast) sign(tb testing.TB, who string, s State) *SignedState {
	tb.Helper()
	ss, err := SignState(c.keys[who], s)
	if err != nil {
		tb.Fatal(err)
	}
	return ss
}

func mustApply(tb testing.TB, s State, r Request, adm Admission) State {
	tb.Helper()
	next, err := Apply(s, r, adm)
	if err != nil {
		tb.Fatalf("%s by %s: %v", r.Kind, s.RoleOf(r.From), err)
	}
	if err := next.Validate(); err != nil {
		tb.Fatalf("%s gave an invalid state: %v", r.Kind, err)
	}
	return next
}

func wantErr(tb testing.TB, err error, want ...error) {
	tb.Helper()
	if err == nil {
		tb.Fatalf("no error, want %v", want)
	}
	for _, w := range want {
		if !errors.Is(err, w) {
			tb.Fatalf("error %q does not wrap %v", err, w)
		}
	}
}

func mustEqual(tb testing.TB, what string, got, want any) {
	tb.Helper()
	if !reflect.DeepEqual(got, want) {
		tb.Fatalf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

var member = Admission{Member: true}

// rawRecord seals arbitrary payload bytes under a real domain and codec, to
// forge objects that SignX would refuse to make.
type rawRecord struct {
	domain  string
	codec   []byte
	payload []byte
}

func (r *rawRecord) Domain() string                    { return r.domain }
func (r *rawRecord) Codec() []byte                     { return r.codec }
func (r *rawRecord) MarshalRecord() ([]byte, error)    { return r.payload, nil }
func (r *rawRecord) UnmarshalRecord(data []byte) error { r.payload = data; return nil }

// forge seals payload as if it were rec's type, signed by key.
func forge(tb testing.TB, key crypto.PrivKey, like interface {
	Domain() string
	Codec() []byte
}, payload []byte) []byte {
	tb.Helper()
	data, err := seal(&rawRecord{domain: like.Domain(), codec: like.Codec(), payload: payload}, key)
	if err != nil {
		tb.Fatal(err)
	}
	return data
}
