package rtc

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
)

// DropRandomly returns an interceptor factory that drops the given fraction
// (0 to 1) of outgoing RTP packets, retransmissions included, to test loss
// repair on loopback. Register it through Config.Interceptors, which puts it
// nearest the network. Each PeerConnection draws from its own generator
// seeded from seed and the order PeerConnections were made in, so a test
// that makes them in the same order drops the same packets.
func DropRandomly(rate float64, seed int64) interceptor.Factory {
	return &lossFactory{rate: min(max(rate, 0), 1), seed: uint64(seed)}
}

type lossFactory struct {
	rate    float64
	seed    uint64
	made    atomic.Uint64
	dropped atomic.Uint64 // over all its interceptors, for tests
	passed  atomic.Uint64
}

func (f *lossFactory) NewInterceptor(string) (interceptor.Interceptor, error) {
	return &lossInterceptor{f: f, rng: rand.New(rand.NewPCG(f.seed, f.made.Add(1)))}, nil
}

type lossInterceptor struct {
	interceptor.NoOp
	f   *lossFactory
	mu  sync.Mutex // rand.Rand is not safe for concurrent use; streams write concurrently
	rng *rand.Rand
}

func (l *lossInterceptor) drop() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.rng.Float64() < l.f.rate
}

func (l *lossInterceptor) BindLocalStream(_ *interceptor.StreamInfo, next interceptor.RTPWriter) interceptor.RTPWriter {
	return interceptor.RTPWriterFunc(func(h *rtp.Header, payload []byte, a interceptor.Attributes) (int, error) {
		if l.drop() {
			l.f.dropped.Add(1)
			return h.MarshalSize() + len(payload), nil // lost on the wire, not an error
		}
		l.f.passed.Add(1)
		return next.Write(h, payload, a)
	})
}
