package rtc

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"

	"github.com/clubnode/clubnode/internal/testutil"
)

// A link that carries no audio sends no RTCP reports: pion's report
// interceptors would wake both ends every second and send a receiver
// report on every stream bound (the speaker's track down, the uplink up),
// heard from or not. Once audio flows, the reports run as pion runs them
// (TestLinkStats reads their RTT).
func TestNoReportsBeforeAudio(t *testing.T) {
	var parentReports, childReports atomic.Int64
	parentAPI := newTestAPI(t, Config{Interceptors: countReports(&parentReports)})
	childAPI := newTestAPI(t, Config{Interceptors: countReports(&childReports)})
	root, child := newTestForwarder(t, "alice"), newTestForwarder(t, "alice")
	l := connect(t, parentAPI, root, childAPI, child, ChildOptions{}, ParentOptions{Uplink: NewUplink()})
	defer l.stop()
	testutil.Eventually(t, 10*time.Second, func() error {
		l.up(t)
		for _, p := range append(parentAPI.LinkPaths(nil), childAPI.LinkPaths(nil)...) {
			if p.Path == "" {
				return errors.New("link not connected yet")
			}
		}
		return nil
	})

	time.Sleep(2500 * time.Millisecond) // the quiet being measured: two report intervals and a half
	if p, c := parentReports.Load(), childReports.Load(); p+c != 0 {
		t.Fatalf("a link with no audio sent %d reports from the parent and %d from the child, want none", p, c)
	}

	got := newCollector()
	defer child.AddSink(got.sink)()
	src := &source{speaker: "alice", ssrc: 3}
	warmUp(t, got, root.Write, src)
	testutil.Eventually(t, 5*time.Second, func() error {
		burst(10, 3*time.Millisecond, "more", root.Write, src)
		if p, c := parentReports.Load(), childReports.Load(); p == 0 || c == 0 {
			return errorf("reports once audio flows: parent %d, child %d", p, c)
		}
		return nil
	})
}

// countReports counts the sender and receiver reports written nearest
// the network.
func countReports(n *atomic.Int64) func(*interceptor.Registry) error {
	return func(r *interceptor.Registry) error {
		r.Add(reportCounter{n})
		return nil
	}
}

type reportCounter struct{ n *atomic.Int64 }

func (f reportCounter) NewInterceptor(string) (interceptor.Interceptor, error) {
	return &reportCounting{n: f.n}, nil
}

type reportCounting struct {
	interceptor.NoOp
	n *atomic.Int64
}

func (c *reportCounting) BindRTCPWriter(w interceptor.RTCPWriter) interceptor.RTCPWriter {
	return interceptor.RTCPWriterFunc(func(pkts []rtcp.Packet, a interceptor.Attributes) (int, error) {
		for _, p := range pkts {
			switch p.(type) {
			case *rtcp.ReceiverReport, *rtcp.SenderReport:
				c.n.Add(1)
			}
		}
		return w.Write(pkts, a)
	})
}
