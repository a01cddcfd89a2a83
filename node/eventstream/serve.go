package eventstream

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// WriteTimeout bounds one write to an event stream's client.
const WriteTimeout = 30 * time.Second

// ServeHTTP streams events as text/event-stream until the client leaves,
// is dropped for being slow, or the hub stops. The guard in front of it
// has already authenticated the request.
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	sub, err := h.Subscribe()
	if err != nil {
		status := http.StatusServiceUnavailable
		if errors.Is(err, ErrTooManySubscribers) {
			status = http.StatusTooManyRequests
		}
		http.Error(w, err.Error(), status)
		return
	}
	defer sub.Close()
	// The stream outlives the server's per-request timeouts: no read
	// deadline (the client sends nothing more; its leaving still ends the
	// request), and a write deadline renewed for each write, so a client
	// that stops reading is dropped rather than holding the stream.
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	renew := func() { _ = rc.SetWriteDeadline(time.Now().Add(WriteTimeout)) }
	renew()
	hdr := w.Header()
	hdr.Set("Content-Type", "text/event-stream")
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	// retry: how long the browser waits before reconnecting after a drop.
	if _, err := io.WriteString(w, "retry: 1000\n\n"); err != nil {
		return
	}
	if err := rc.Flush(); err != nil {
		return
	}
	for _, ev := range sub.initial {
		if err := WriteEvent(w, ev); err != nil {
			return
		}
	}
	sub.initial = nil
	keepAlive := time.NewTicker(h.cfg.KeepAlive)
	defer keepAlive.Stop()
	for {
		if err := rc.Flush(); err != nil {
			return
		}
		select {
		case ev := <-sub.ch:
			renew()
			if err := WriteEvent(w, ev); err != nil {
				return
			}
		case <-keepAlive.C:
			renew()
			if _, err := io.WriteString(w, ": keep-alive\n\n"); err != nil {
				return
			}
		case <-sub.gone:
			// Dropped for being slow, or the hub stopped (daemon
			// shutdown, which must not wait on open streams).
			return
		case <-r.Context().Done():
			return
		}
	}
}

// WriteEvent writes ev in the text/event-stream format. JSON from
// encoding/json holds no raw line breaks, so the data is one line.
func WriteEvent(w io.Writer, ev Event) error {
	if !validName(ev.Name) {
		return fmt.Errorf("event name %q: want lower-case letters, digits and dashes", ev.Name)
	}
	if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", ev.Name, ev.Data); err != nil {
		return fmt.Errorf("write event %s: %w", ev.Name, err)
	}
	return nil
}
