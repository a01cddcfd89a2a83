package rtc

import (
	"sync"
	"sync/atomic"

	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/report"
	"github.com/pion/rtp"
)

// RTCP sender and receiver reports once audio flows.
//
// pion's report interceptors start a ticker per PeerConnection when it is
// made, and the receiver's reports every stream bound, heard from or not.
// Every tree link has a stream in each direction (the speakers' down, the
// child's uplink up), so in a silent room each link still woke both ends
// every second and sent a receiver report on a stream that never carried
// a packet (BENCHMARKS.md, "a cheaper node"). Wrapped in untilMedia, an
// interceptor's reports start at the first RTP packet its PeerConnection
// sends or receives, and from then on run as pion runs them: the RTT and
// loss figures (LinkStats) need them only while there is audio to measure.

// reportsUntilMedia registers pion's receiver and sender reports, each
// started by the first packet.
func reportsUntilMedia(registry *interceptor.Registry) error {
	receiver, err := report.NewReceiverInterceptor()
	if err != nil {
		return err
	}
	sender, err := report.NewSenderInterceptor()
	if err != nil {
		return err
	}
	registry.Add(untilMediaFactory{receiver})
	registry.Add(untilMediaFactory{sender})
	return nil
}

type untilMediaFactory struct{ inner interceptor.Factory }

func (f untilMediaFactory) NewInterceptor(id string) (interceptor.Interceptor, error) {
	inner, err := f.inner.NewInterceptor(id)
	if err != nil {
		return nil, err
	}
	return &untilMedia{Interceptor: inner}, nil
}

// untilMedia holds back its interceptor's BindRTCPWriter, which starts its
// ticker, until a packet passes one of the streams bound to it. Everything
// else goes straight to the interceptor.
type untilMedia struct {
	interceptor.Interceptor
	started atomic.Bool // the one check per packet once running
	mu      sync.Mutex
	writer  interceptor.RTCPWriter // held until started
}

// BindRTCPWriter keeps writer for the start. pion's report interceptors
// return the writer they are given, so the chain is the same.
func (u *untilMedia) BindRTCPWriter(writer interceptor.RTCPWriter) interceptor.RTCPWriter {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.writer = writer
	return writer
}

func (u *untilMedia) start() {
	if u.started.Load() {
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.writer == nil || u.started.Load() {
		return
	}
	u.started.Store(true)
	u.Interceptor.BindRTCPWriter(u.writer)
}

func (u *untilMedia) BindLocalStream(info *interceptor.StreamInfo, writer interceptor.RTPWriter) interceptor.RTPWriter {
	next := u.Interceptor.BindLocalStream(info, writer)
	return interceptor.RTPWriterFunc(func(h *rtp.Header, payload []byte, a interceptor.Attributes) (int, error) {
		u.start()
		return next.Write(h, payload, a)
	})
}

func (u *untilMedia) BindRemoteStream(info *interceptor.StreamInfo, reader interceptor.RTPReader) interceptor.RTPReader {
	next := u.Interceptor.BindRemoteStream(info, reader)
	return interceptor.RTPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		n, attr, err := next.Read(b, a)
		if err == nil {
			u.start()
		}
		return n, attr, err
	})
}
