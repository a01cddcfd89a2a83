package node

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/clubnode/clubnode/internal/testutil"

	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"

	"github.com/clubnode/clubnode/identity"
	"github.com/clubnode/clubnode/node/apiv1"
	"github.com/clubnode/clubnode/node/home"
)

// startServedNode starts a node (in-memory datastore) with the API
// limits changed by tune, logging at Info into log, and serves its API.
func startServedNode(t *testing.T, tune func(*apiLimits), log io.Writer) *Node {
	t.Helper()
	d := dssync.MutexWrap(ds.NewMapDatastore())
	st := &store{ds: d, log: slog.Default()}
	key, err := identity.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := st.setNodeKey(ctx, key); err != nil {
		t.Fatal(err)
	}
	if err := st.setSelfInfo(ctx, selfInfo{Name: "Alice"}); err != nil {
		t.Fatal(err)
	}
	settings := home.DefaultConfig()
	settings.ListenAddrs = []string{"/ip4/127.0.0.1/tcp/0"}
	settings.APIAddr = "127.0.0.1:0"
	settings.MDNS = false
	n, err := Start(Config{Home: home.Home{Dir: t.TempDir()}, Settings: settings, Datastore: d,
		Logger: slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelInfo}))})
	if err != nil {
		t.Fatal(err)
	}
	if tune != nil {
		tune(&n.limits)
	}
	sctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Serve(sctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
		n.Close()
	})
	return n
}

// closedWithin reports whether the server closes c within d, reading
// (and dropping) whatever it sends until then.
func closedWithin(c net.Conn, d time.Duration) bool {
	_ = c.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, c)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return false
	}
	return true
}

// TestAPIRefusesBeforeTheBody: a request without credentials is answered
// 401 from its headers alone, while its announced body has not come,
// and its connection is closed.
func TestAPIRefusesBeforeTheBody(t *testing.T) {
	n := startServedNode(t, nil, io.Discard)
	c, err := net.Dial("tcp", n.APIAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{", apiv1.PathProfile, n.APIAddr())
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer while the body trickles: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("status %s, want 401", resp.Status)
	}
	if !closedWithin(c, 2*time.Second) {
		t.Error("the refused connection stayed open")
	}
}

// TestAPIClosesIdleAndSlowConnections: keep-alive connections that sit
// idle, and connections that send their headers slowly, are closed by the
// server's timeouts (shortened here).
func TestAPIClosesIdleAndSlowConnections(t *testing.T) {
	n := startServedNode(t, func(l *apiLimits) {
		l.idle, l.readHeader, l.read, l.write = time.Second, time.Second, time.Second, time.Second
	}, io.Discard)
	var conns []net.Conn
	for i := range 20 {
		c, err := net.Dial("tcp", n.APIAddr())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if i%2 == 0 {
			// One request for the app's page, then idle on keep-alive.
			fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", n.APIAddr())
		} else {
			fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: %s\r\n", n.APIAddr()) // never finished
		}
		conns = append(conns, c)
	}
	for i, c := range conns {
		if !closedWithin(c, 5*time.Second) {
			t.Errorf("connection %d still open after 5 s", i)
		}
	}
}

// TestAPIEventStreamOutlivesTimeouts: the event stream is long-lived; the
// server's write and operation timeouts (shortened here) must not cut it.
func TestAPIEventStreamOutlivesTimeouts(t *testing.T) {
	n := startServedNode(t, func(l *apiLimits) {
		l.read, l.write, l.op = 300*time.Millisecond, 300*time.Millisecond, 300*time.Millisecond
	}, io.Discard)
	req, err := http.NewRequest(http.MethodGet, "http://"+n.APIAddr()+apiv1.PathEvents, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+n.APIToken())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	// Wait past every timeout, then change the name: the stream tells.
	time.Sleep(time.Second) // the point is to be later than the timeouts
	if _, err := n.SetProfile(context.Background(), apiv1.SetProfileRequest{Name: "Alice Later"}); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(10 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("the event stream ended")
			}
			if strings.Contains(l, "Alice Later") {
				return
			}
		case <-deadline:
			t.Fatal("no event about the new name")
		}
	}
}

// TestLoginRefusalsDoNotFloodTheLog: any web page can send browsers to
// /login with bad tokens; that must not write a line per request.
func TestLoginRefusalsDoNotFloodTheLog(t *testing.T) {
	var log testutil.LockedBuffer
	n := startServedNode(t, nil, &log)
	before := len(log.String())
	client := &http.Client{}
	for i := range 2000 {
		resp, err := client.Get(fmt.Sprintf("http://%s%s?token=bad%d", n.APIAddr(), apiv1.PathLogin, i))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("bad login token: %s", resp.Status)
		}
	}
	if grown := len(log.String()) - before; grown > 1024 {
		t.Errorf("2000 refused sign-ins wrote %d bytes of log at Info level:\n%.500s", grown, log.String()[before:])
	}
}
