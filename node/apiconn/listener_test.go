package apiconn

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// dialAccept dials l and returns both ends.
func dialAccept(t *testing.T, l *Listener) (client net.Conn, server net.Conn) {
	t.Helper()
	client, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	server, err = l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Close() })
	return client, server
}

// closedByServer reports whether the server closed the client's connection.
func closedByServer(t *testing.T, c net.Conn) bool {
	t.Helper()
	if err := c.SetReadDeadline(time.Now().Add(200 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	_, err := c.Read(make([]byte, 1))
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false
	}
	return errors.Is(err, io.EOF) || err != nil
}

func TestOldestUntrustedMakesRoom(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := NewListener(raw, 3, false)
	defer l.Close()

	c0, s0 := dialAccept(t, l)
	// The first connection authenticates: trusted from now on.
	Trust(ConnContext(context.Background(), s0))
	var clients, servers []net.Conn
	for range 5 {
		c, s := dialAccept(t, l)
		clients, servers = append(clients, c), append(servers, s)
	}
	if got := l.Untrusted(); got != 3 {
		t.Errorf("untrusted = %d, want the cap, 3", got)
	}
	if got := l.Evicted(); got != 2 {
		t.Errorf("evicted = %d, want 2", got)
	}
	for i, c := range clients {
		if want := i < 2; closedByServer(t, c) != want {
			t.Errorf("untrusted connection %d: closed = %v, want %v", i, !want, want)
		}
	}
	if closedByServer(t, c0) {
		t.Error("the trusted connection was closed to make room")
	}
	// Closing a connection stops counting it.
	for _, s := range servers[2:] {
		s.Close()
	}
	if got := l.Untrusted(); got != 0 {
		t.Errorf("untrusted after closing them = %d", got)
	}
}

// TestOwnConnectionsTrusted: the kernel says who is at the other end of a
// loopback connection; with trustOwner, this user's are never counted.
func TestOwnConnectionsTrusted(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := NewListener(raw, 1, true)
	defer l.Close()
	_, s := dialAccept(t, l)
	if uid, ok := peerUID(s.(*Conn).Conn); !ok || int(uid) != os.Getuid() {
		t.Skipf("the owner of a loopback connection is not known here (%d, %v)", uid, ok)
	}
	var clients []net.Conn
	for range 3 {
		c, _ := dialAccept(t, l)
		clients = append(clients, c)
	}
	if got := l.Untrusted(); got != 0 {
		t.Errorf("untrusted = %d, want 0: they are this user's", got)
	}
	for i, c := range clients {
		if closedByServer(t, c) {
			t.Errorf("connection %d of this user was closed", i)
		}
	}
}
