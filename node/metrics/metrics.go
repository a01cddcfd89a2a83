// Package metrics owns clubnode's Prometheus registry: the Go runtime and
// process collectors, go-libp2p's own (registered by libp2p itself when it
// is handed Registerer), the build, and collectors that read the node's
// state and its media links at scrape time. Nothing here is on a hot path:
// collectors read counters that already exist, and the two events counted
// here (a join's first audio) are rare.
package metrics

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/common/expfmt"

	"github.com/clubnode/clubnode/audio/rtc"
	"github.com/clubnode/clubnode/internal/version"
)

// Path is where the metrics listener answers scrapes.
const Path = "/metrics"

// Metrics is one node's registry and the few metrics it updates on events.
type Metrics struct {
	reg   *prometheus.Registry
	links LinkSource // nil until SetLinkSource

	scrapeMu sync.Mutex // one scrape at a time: they share the buffers
	out      []byte
	scratch  []byte
	linkBuf  []rtc.LinkStats

	// JoinToFirstAudio is the time from a local listener's request (WHEP,
	// which joins the room if need be) to the first packet of the room's
	// audio reaching it.
	JoinToFirstAudio prometheus.Histogram
}

// New makes a registry with the runtime, process and build collectors.
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.JoinToFirstAudio = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "clubnode_join_to_first_audio_seconds",
		Help: "From a local listener's request to the first packet of the room's audio reaching it.",
		// Milliseconds on a LAN to seconds across a relay tree.
		Buckets: []float64{0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10},
	})
	info := version.Get()
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "clubnode_build_info",
			Help:        "Always 1; the labels say which clubnode this is.",
			ConstLabels: prometheus.Labels{"version": info.Version, "revision": info.Revision, "goversion": info.GoVersion},
		}, func() float64 { return 1 }),
		m.JoinToFirstAudio,
	)
	return m
}

// SetLinkSource makes every scrape read the media links from src. Call
// it before serving.
func (m *Metrics) SetLinkSource(src LinkSource) { m.links = src }

// Registerer is where other collectors go (go-libp2p's, the node's).
func (m *Metrics) Registerer() prometheus.Registerer { return m.reg }

// Gatherer reads everything registered.
func (m *Metrics) Gatherer() prometheus.Gatherer { return m.reg }

// Handler answers scrapes at Path and liveness at /healthz.
func (m *Metrics) Handler(log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+Path, func(w http.ResponseWriter, _ *http.Request) { m.serveScrape(w, log) })
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	return mux
}

// serveScrape answers in the text format (0.0.4), which every Prometheus
// reads: the registry's families as client_golang encodes them, then the
// link families (links.go).
func (m *Metrics) serveScrape(w http.ResponseWriter, log *slog.Logger) {
	m.scrapeMu.Lock()
	defer m.scrapeMu.Unlock()
	families, err := m.reg.Gather()
	if err != nil {
		log.Warn("metrics: some collectors failed", "err", err) // the rest is still worth answering
	}
	buf := bytes.NewBuffer(m.out[:0])
	enc := expfmt.NewEncoder(buf, textFormat)
	for _, f := range families {
		if err := enc.Encode(f); err != nil {
			http.Error(w, "encoding metrics: "+err.Error(), http.StatusInternalServerError)
			return
		}
	}
	m.out = buf.Bytes()
	if m.links != nil {
		m.linkBuf = m.links(m.linkBuf[:0])
		m.out, m.scratch = appendLinks(m.out, m.linkBuf, m.scratch)
		clear(m.linkBuf) // keep no label strings alive between scrapes
	}
	w.Header().Set("Content-Type", string(textFormat))
	_, _ = w.Write(m.out)
}

var textFormat = expfmt.NewFormat(expfmt.TypeTextPlain)

// Serve answers on ln until ctx ends.
func (m *Metrics) Serve(ctx context.Context, ln net.Listener, log *slog.Logger) error {
	srv := &http.Server{
		Handler:           m.Handler(log),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("metrics listener: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutdownCtx)
	<-errc
	return nil
}
