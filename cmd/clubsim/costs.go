package main

import (
	"fmt"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/clubnode/clubnode/identity"
	"github.com/clubnode/clubnode/internal/wire"
	"github.com/clubnode/clubnode/rooms"
)

// kind is a control message the host (or a delegate) handles.
type kind int

const (
	kJoinPlace  kind = iota // a joiner asks for a parent
	kRepair                 // an orphan asks for a new parent
	kRetry                  // a link could not connect; ask again
	kRenew                  // fresh backups before they expire, or when the standby one died
	kFailover               // a child tells where it failed over to
	kReferral               // the host refers a joiner to a delegate
	kReferJoin              // the same, carried in the room join's reply
	kLeave                  // a leaving node says goodbye to its delegate
	kDelegation             // the host signs (or renews) a delegation
	kHeartbeat              // heartbeats from the host's (or delegate's) direct children
	kConnect                // a joiner's new libp2p connection to the host
	kJoinRoom               // the room join request and its reply (the state)
	kLeaveRoom              // the room leave request and its reply
	kState                  // a new state published on the room's topic
	kinds
)

var kindNames = [kinds]string{"place (join)", "place (repair)", "place (retry)", "renew backups",
	"failover notice", "referral", "referral in the join reply", "leave notice", "delegation", "heartbeats received",
	"connection set-up", "room join", "room leave", "state publication"}

// Categories: placement is what this simulation is about; links are the
// tree links of the host's direct children; admission and state are the
// room protocol of today around it, counted apart.
func (k kind) category() string {
	switch {
	case k <= kDelegation:
		return "placement"
	case k == kHeartbeat:
		return "links"
	}
	return "admission+state"
}

// costs are the bytes each way and the CPU of one message of each kind,
// from real encoded messages and measured code where the code exists.
type costs struct {
	in, out [kinds]int
	cpu     [kinds]time.Duration
	// a room state's encoding: base + per listener in the audience list
	stateBase, statePerListener int
	signStateBase, signStatePer time.Duration
	notes                       []string
}

// Per exchange on an existing connection: multistream-select on the new
// stream (the protocol ID both ways, 96 bytes) and the QUIC packets of a
// request, a reply and their ACKs (4 packets of about 66 bytes of
// headers, AEAD tag, UDP and IP). An estimate from the protocols' formats.
const exchangeOverhead = 360

// The transport's CPU per exchange at the host (stream, multistream,
// QUIC crypto, framing) is from BenchmarkPlaceExchange in rooms/roomnet:
// a real place request over libp2p on loopback costs 232 µs of CPU for
// both ends together (2,000 runs, 2026-12-01); half of it, less the
// placement and signing measured here, is 80 µs. Not measured (there is
// no libp2p in the simulation), so estimates from the protocols: a new
// connection's bytes (QUIC handshake with padded Initials, certificates,
// identify both ways, the membership hello with certificate chains) and
// CPU (TLS 1.3 handshake, chain checks, about ten Ed25519 operations),
// and a heartbeat's CPU.
const (
	connectIn, connectOut = 4000, 5000
	connectCPU            = 2 * time.Millisecond
	exchangeCPU           = 80 * time.Microsecond
	heartbeatCPU          = 3 * time.Microsecond
)

// placeRequestWire is roomnet's placeRequest, with the fields placement
// now learns from (uplink, reach, always-on, coordinate, the backup a
// child failed over to), proposed as optional fields 5 to 9.
type placeRequestWire struct {
	V        int       `cbor:"0,keyasint"`
	Room     string    `cbor:"1,keyasint"`
	Capacity int       `cbor:"2,keyasint"`
	Avoid    []byte    `cbor:"3,keyasint,omitempty"`
	Children [][]byte  `cbor:"4,keyasint,omitempty"`
	Uplink   int       `cbor:"5,keyasint,omitempty"`
	Reach    int       `cbor:"6,keyasint,omitempty"`
	AlwaysOn bool      `cbor:"7,keyasint,omitempty"`
	Coord    []float32 `cbor:"8,keyasint,omitempty"`
	Under    []byte    `cbor:"9,keyasint,omitempty"`
	RTTs     []rttWire `cbor:"10,keyasint,omitempty"`
}

// rttWire is roomnet's placeRTT: one measured round trip.
type rttWire struct {
	Peer   []byte `cbor:"0,keyasint"`
	Micros uint32 `cbor:"1,keyasint"`
}

// placeReplyWire is roomnet's placeReply, with a referral (the delegate
// and two of its addresses) proposed as field 3.
type placeReplyWire struct {
	V          int      `cbor:"0,keyasint"`
	Assignment []byte   `cbor:"1,keyasint,omitempty"`
	Error      string   `cbor:"2,keyasint,omitempty"`
	Refer      [][]byte `cbor:"3,keyasint,omitempty"`
}

// heartbeatWire is audio/rtc's signalFrame as a heartbeat.
type heartbeatWire struct {
	Kind    int    `cbor:"1,keyasint"`
	Subtree uint32 `cbor:"3,keyasint,omitempty"`
}

type requestMsgWire struct {
	V       int    `cbor:"0,keyasint"`
	Request []byte `cbor:"1,keyasint"`
}

type replyMsgWire struct {
	V     int    `cbor:"0,keyasint"`
	State []byte `cbor:"1,keyasint,omitempty"`
}

// maker makes the real objects whose sizes and costs are measured. The
// first error sticks; the caller returns it.
type maker struct{ err error }

func (mk *maker) fail(err error) bool {
	if err != nil && mk.err == nil {
		mk.err = err
	}
	return mk.err != nil
}

// frame is a message's size as a length-prefixed CBOR frame.
func (mk *maker) frame(v any) int {
	data, err := wire.Marshal(v)
	if mk.fail(err) {
		return 0
	}
	n := len(data)
	for x := n; x >= 0x80; x >>= 7 {
		n++
	}
	return n + 1
}

type keyed struct {
	key crypto.PrivKey
	id  peer.ID
}

func (mk *maker) keyed() keyed {
	key, err := identity.GenerateKey()
	if mk.fail(err) {
		return keyed{}
	}
	id, err := peer.IDFromPrivateKey(key)
	if mk.fail(err) {
		return keyed{}
	}
	return keyed{key, id}
}

// cpuCosts is the CPU of the real code behind the messages, measured once
// per run of the command with testing.Benchmark and the process's CPU
// time (or fixed guesses, for tests).
type cpuCosts struct {
	placeToday, placeLearned  time.Duration // Placer.Place + signing the assignment
	refer, sign, verify       time.Duration
	signStateBase, signStateN time.Duration // a state's signing, base and per listener
	measured                  bool
}

var guessedCPU = cpuCosts{placeToday: 30 * time.Microsecond, placeLearned: 40 * time.Microsecond,
	refer: time.Microsecond, sign: 30 * time.Microsecond, verify: 60 * time.Microsecond,
	signStateBase: 60 * time.Microsecond, signStateN: 200 * time.Nanosecond}

func measureCPU() (cpuCosts, error) {
	mk := &maker{}
	host := mk.keyed()
	room, err := rooms.NewRoomID()
	mk.fail(err)
	if mk.err != nil {
		return cpuCosts{}, fmt.Errorf("measure CPU: %w", mk.err)
	}
	c := cpuCosts{measured: true}
	c.placeToday = benchPlace(mk, Policy{}, host, room)
	c.placeLearned = benchPlace(mk, Policy{Learned: true, Backups: 3}, host, room)
	c.refer, c.sign, c.verify = benchRefer(), benchSign(mk, host, room), benchVerify(mk, host, room)
	c.signStateBase, c.signStateN = benchSignState(mk, host, room)
	if mk.err != nil {
		return cpuCosts{}, fmt.Errorf("measure CPU: %w", mk.err)
	}
	return c, nil
}

// measureCosts encodes a real message of each kind for policy pol, with
// the CPU of cpu.
func measureCosts(pol Policy, cpu cpuCosts) (*costs, error) {
	c, mk := &costs{}, &maker{}
	host, child, parent, del := mk.keyed(), mk.keyed(), mk.keyed(), mk.keyed()
	var backups []peer.ID
	for range pol.Backups {
		backups = append(backups, mk.keyed().id)
	}
	room, err := rooms.NewRoomID()
	mk.fail(err)
	now := time.Now()
	assignment, err := rooms.AssignWithBackups(host.key, room, child.id, parent.id, backups, now)
	mk.fail(err)
	delegation, err := rooms.Delegate(host.key, room, del.id, now)
	if mk.fail(err) {
		return nil, fmt.Errorf("message sizes: %w", mk.err)
	}
	if pol.Delegate {
		// Delegates answer the place requests, with the delegation inside
		// each assignment.
		assignment, err = rooms.AssignDelegated(del.key, delegation, child.id, parent.id, backups, now)
		if mk.fail(err) {
			return nil, fmt.Errorf("message sizes: %w", mk.err)
		}
	}
	req := placeRequestWire{V: 1, Room: string(room), Capacity: 4}
	if pol.Learned {
		req.Uplink, req.Reach, req.Coord = 12_345, int(rooms.ReachPunchable), []float32{81.5, -3.25, 4.5}
		if pol.Near != nearCoord {
			req.Coord = nil
		}
		if pol.Near == nearMeasured {
			for i := range rooms.MaxMeasuredRTTs {
				req.RTTs = append(req.RTTs, rttWire{Peer: []byte(mk.keyed().id), Micros: uint32(20_000 + 997*i)})
			}
		}
	}
	reply := mk.frame(placeReplyWire{V: 1, Assignment: assignment.Bytes}) + exchangeOverhead/2
	for _, k := range []kind{kJoinPlace, kRepair, kRetry, kRenew, kFailover} {
		r := req
		switch k {
		case kRepair, kRetry:
			r.Avoid, r.Children = []byte(parent.id), [][]byte{[]byte(mk.keyed().id)}
		case kRenew:
			r.Under = []byte(parent.id)
		case kFailover:
			r.Avoid, r.Under = []byte(parent.id), []byte(del.id)
		}
		c.in[k], c.out[k] = mk.frame(r)+exchangeOverhead/2, reply
	}
	c.in[kReferral] = mk.frame(req) + exchangeOverhead/2
	referral := mk.frame(placeReplyWire{V: 1, Refer: [][]byte{[]byte(del.id), make([]byte, 30), make([]byte, 30)}})
	c.out[kReferral], c.out[kReferJoin] = referral+exchangeOverhead/2, referral
	c.in[kLeave] = mk.frame(placeRequestWire{V: 1, Room: string(room)}) + exchangeOverhead/2
	c.out[kDelegation] = mk.frame(placeReplyWire{V: 1, Assignment: delegation.Bytes}) + exchangeOverhead/2
	c.in[kHeartbeat] = mk.frame(heartbeatWire{Kind: 3, Subtree: 1234}) + 66 // one QUIC packet each
	c.in[kConnect], c.out[kConnect] = connectIn, connectOut
	c.measureRoomProtocol(mk, host, room, now)
	c.notes = append(c.notes, fmt.Sprintf("assignment %d B with %d backups, delegation %d B",
		len(assignment.Bytes), len(backups), len(delegation.Bytes)))
	c.cpu[kHeartbeat] = heartbeatCPU
	c.cpu[kConnect] = connectCPU
	place, refer, sign, verify := cpu.placeToday, cpu.refer, cpu.sign, cpu.verify
	if pol.Learned || pol.Backups > 0 {
		place = cpu.placeLearned
	}
	c.signStateBase, c.signStatePer = cpu.signStateBase, cpu.signStateN
	for _, k := range []kind{kJoinPlace, kRepair, kRetry, kRenew, kFailover} {
		c.cpu[k] = place + exchangeCPU
	}
	c.cpu[kReferral], c.cpu[kReferJoin] = refer+exchangeCPU, refer
	c.cpu[kLeave] = exchangeCPU
	c.cpu[kDelegation] = sign + exchangeCPU
	c.cpu[kJoinRoom], c.cpu[kLeaveRoom] = verify+exchangeCPU, verify+exchangeCPU
	if mk.err != nil {
		return nil, fmt.Errorf("message sizes: %w", mk.err)
	}
	return c, nil
}

// measureRoomProtocol sizes today's room join and leave (a signed request
// in, the new state back) and a state by its audience.
func (c *costs) measureRoomProtocol(mk *maker, host keyed, room rooms.RoomID, now time.Time) {
	joiner := mk.keyed()
	r, err := rooms.SignRequest(joiner.key, rooms.Request{Room: room, Kind: rooms.KindJoin, Time: now})
	if mk.fail(err) {
		return
	}
	c.in[kJoinRoom] = mk.frame(requestMsgWire{V: 1, Request: r.Bytes}) + exchangeOverhead/2
	c.in[kLeaveRoom] = c.in[kJoinRoom]
	small, big := mk.stateOf(host, room, now, 0), mk.stateOf(host, room, now, 1000)
	if mk.err == nil {
		c.stateBase, c.statePerListener = len(small.Bytes), (len(big.Bytes)-len(small.Bytes))/1000
	}
}

// stateOf is a signed room state listing audience listeners.
func (mk *maker) stateOf(host keyed, room rooms.RoomID, now time.Time, audience int) *rooms.SignedState {
	st, err := rooms.NewState(rooms.RoomConfig{Network: "net", Host: host.id, Title: "A room of thousands",
		Type: rooms.TypeOpen, Now: now})
	if mk.fail(err) {
		return nil
	}
	st.Room = room
	for range audience {
		st.Audience = append(st.Audience, mk.keyed().id)
	}
	signed, err := rooms.SignState(host.key, st)
	if mk.fail(err) {
		return nil
	}
	return signed
}

// stateBytes is a room state listing audience listeners (at most
// rooms.MaxAudience: today's limit).
func (c *costs) stateBytes(audience int) int {
	return c.stateBase + c.statePerListener*min(audience, rooms.MaxAudience)
}

func (c *costs) signState(audience int) time.Duration {
	return c.signStateBase + c.signStatePer*time.Duration(min(audience, rooms.MaxAudience))
}

// perOp is the CPU time (not wall time: the machine may be shared) per
// operation of benchmark f, over all the rounds testing.Benchmark runs.
func perOp(f func(b *testing.B)) time.Duration {
	ops := 0
	before := processCPU()
	testing.Benchmark(func(b *testing.B) {
		f(b)
		ops += b.N
	})
	return (processCPU() - before) / time.Duration(max(ops, 1))
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchPlace is Placer.Place on a 10,000-node tree (churned: a node
// leaves, its orphans are placed again, it comes back) plus signing the
// assignment: what one place request costs the host.
func benchPlace(mk *maker, pol Policy, host keyed, room rooms.RoomID) time.Duration {
	rng := rand.New(rand.NewPCG(1, 2))
	tr := rooms.NewTree(host.id, 8)
	pl := rooms.Placer{Tree: tr, Streams: 2, Backups: pol.Backups}
	var ids []peer.ID
	reqs := map[peer.ID]rooms.PlaceRequest{}
	for i := range 10_000 {
		id := peer.ID(fmt.Sprintf("%016x-%d", rng.Uint64(), i))
		req := rooms.PlaceRequest{Child: id, Capacity: 4}
		if pol.Learned {
			req.Traits = rooms.Traits{UplinkKbps: 300 + rng.IntN(20_000), Reach: rooms.Reach(1 + rng.IntN(3)),
				Coord: rooms.Coord{X: 40 * rng.NormFloat64(), Y: 40 * rng.NormFloat64(), Height: 4}, HasCoord: true}
		}
		reqs[id] = req
		ids = append(ids, id)
		_, _ = pl.Place(req)
	}
	child, parent := mk.keyed().id, mk.keyed().id
	backups := []peer.ID{mk.keyed().id, mk.keyed().id, mk.keyed().id}
	return perOp(func(b *testing.B) {
		for b.Loop() {
			id := ids[rng.IntN(len(ids))]
			for _, o := range tr.Remove(id) {
				r := reqs[o]
				r.Avoid, r.AvoidGone = id, true
				_, _ = pl.Place(r)
			}
			got, _ := pl.Place(reqs[id])
			if _, err := rooms.AssignWithBackups(host.key, room, child, parent, backups[:len(got.Backups)], time.Now()); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func benchRefer() time.Duration {
	var ds []rooms.DelegateLoad
	for i := range 8 {
		ds = append(ds, rooms.DelegateLoad{ID: peer.ID(fmt.Sprint(i)), Subtree: 1000 + i, HasCoord: true,
			Coord: rooms.Coord{X: float64(10 * i)}})
	}
	t := rooms.Traits{HasCoord: true, Coord: rooms.Coord{X: 33}}
	return perOp(func(b *testing.B) {
		for b.Loop() {
			rooms.Refer(ds, t)
		}
	})
}

func benchSign(mk *maker, host keyed, room rooms.RoomID) time.Duration {
	del := mk.keyed().id
	return perOp(func(b *testing.B) {
		for b.Loop() {
			if _, err := rooms.Delegate(host.key, room, del, time.Now()); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func benchVerify(mk *maker, host keyed, room rooms.RoomID) time.Duration {
	r, err := rooms.SignRequest(host.key, rooms.Request{Room: room, Kind: rooms.KindJoin, Time: time.Now()})
	if mk.fail(err) {
		return 0
	}
	return perOp(func(b *testing.B) {
		for b.Loop() {
			if _, err := rooms.ParseRequest(r.Bytes); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// benchSignState measures signing a state with no audience and with 1000
// listeners, for a linear cost by audience.
func benchSignState(mk *maker, host keyed, room rooms.RoomID) (base, per time.Duration) {
	cost := func(n int) time.Duration {
		signed := mk.stateOf(host, room, time.Now(), n)
		if signed == nil {
			return 0
		}
		st := signed.State
		return perOp(func(b *testing.B) {
			for b.Loop() {
				if _, err := rooms.SignState(host.key, st); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	base = cost(0)
	return base, max(cost(1000)-base, 0) / 1000
}
