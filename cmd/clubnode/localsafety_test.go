package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"
	leveldb "github.com/ipfs/go-ds-leveldb"

	"github.com/clubnode/clubnode/internal/daemontest"
	"github.com/clubnode/clubnode/internal/testutil"
	"github.com/clubnode/clubnode/node/apiv1"
	"github.com/clubnode/clubnode/node/home"
)

// attackEnv makes the test binary an attacker of the API at its value
// (runAttacker) instead of running tests.
const attackEnv = "CLUBNODE_TEST_ATTACK"

// attackers is how many connections the attacker holds.
const attackers = 300

// runAttacker holds attackers connections to addr the way another user of
// the computer could without the token: headers trickled a byte a second,
// bodies trickled after complete headers, idle keep-alives after a page.
// A connection the daemon closes is opened again. It prints a line per
// 100 connections opened, and runs until killed.
func runAttacker(addr string) {
	var mu sync.Mutex
	var total int
	for i := range attackers {
		go func() {
			for {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					time.Sleep(100 * time.Millisecond) // the daemon is out of descriptors
					continue
				}
				mu.Lock()
				if total++; total%100 == 0 {
					fmt.Println("opened", total)
				}
				mu.Unlock()
				hold(context.Background(), c, addr, i%3)
				c.Close()
			}
		}()
	}
	select {}
}

// startAttacker runs the test binary as runAttacker, as user nobody: the
// daemon trusts its own user's connections, and the point is someone
// else. It returns once attackers connections were opened.
func startAttacker(t *testing.T, addr string) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// nobody must be able to run a copy of this binary.
	dir, err := os.MkdirTemp("", "clubnode-attacker-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	exe := filepath.Join(dir, "attacker")
	data, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(exe, data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = []string{attackEnv + "=" + addr}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if sc.Text() == fmt.Sprint("opened ", attackers) {
			go func() { _, _ = io.Copy(io.Discard, out) }()
			return
		}
	}
	t.Fatal("the attacker stopped before opening its connections")
}

// hold keeps one attacking connection busy until the daemon closes it or
// ctx ends.
func hold(ctx context.Context, c net.Conn, addr string, mode int) {
	var start, trickle string
	switch mode {
	case 0:
		start, trickle = "POST /api/v1/profile HTTP/1.1\r\nHost: "+addr+"\r\n", "X"
	case 1:
		start, trickle = "POST /api/v1/profile HTTP/1.1\r\nHost: "+addr+"\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{", " "
	default:
		start = "GET / HTTP/1.1\r\nHost: " + addr + "\r\n\r\n"
	}
	if _, err := io.WriteString(c, start); err != nil {
		return
	}
	closed := make(chan struct{})
	go func() { io.Copy(io.Discard, c); close(closed) }()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			c.Close()
			<-closed
			return
		case <-closed:
			return
		case <-tick.C:
			if trickle != "" {
				if _, err := io.WriteString(c, trickle); err != nil {
					c.Close()
					<-closed
					return
				}
			}
		}
	}
}

// TestOwnerCLIDuringConnectionFlood: another user holds 300 connections
// to the API of a daemon that may have 256 file descriptors; the owner's
// `clubnode id` still answers, each time within a few seconds.
func TestOwnerCLIDuringConnectionFlood(t *testing.T) {
	prlimit, err := exec.LookPath("prlimit")
	if err != nil {
		t.Skip("needs prlimit (util-linux) to give the daemon few file descriptors")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to run the attacker as another user")
	}
	dir := initHome(t, "Alice")
	d := startDaemonVia(t, []string{prlimit, "--nofile=256:256", "--"}, dir, "127.0.0.1:0")
	addr, _, err := home.ReadAPIEndpoint(home.Home{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	startAttacker(t, addr)
	for i := range 5 {
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		cmd := exec.CommandContext(ctx, daemontest.MustBinary(t), "--home", dir, "id", "--json")
		out, err := cmd.CombinedOutput()
		cancel()
		took := time.Since(start)
		if err != nil || !strings.Contains(string(out), `"peer_id"`) {
			t.Fatalf("clubnode id #%d under attack: %v after %s: %s\ndaemon log:\n%.2000s", i, err, took, out, d.Log())
		}
		if took > 5*time.Second {
			t.Errorf("clubnode id #%d took %s under attack", i, took)
		}
		t.Logf("clubnode id #%d under attack: %s", i, took.Round(time.Millisecond))
	}
}

// TestJoinSurvivesSIGKILL: a joiner killed at a random moment of `join`
// and restarted (on new ports, so the inviter cannot call it back) is
// either not a member, and joins again, or a member that reaches the
// inviter by itself: never a member that knows nobody.
func TestJoinSurvivesSIGKILL(t *testing.T) {
	a := initHome(t, "Alice")
	startDaemon(t, a)
	mustRun(t, a, "network", "create", "Night Owls")
	idA := mustJSON[apiv1.Identity](t, a, "id").PeerID
	token := strings.TrimSpace(mustRun(t, a, "invite", "--uses", "100"))
	var members, rejoined int
	for round := range 10 {
		b := initHome(t, fmt.Sprintf("Bob%d", round))
		db := startDaemon(t, b)
		join := exec.Command(daemontest.MustBinary(t), "--home", b, "join", token)
		if err := join.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(rand.IntN(400)) * time.Millisecond) // a random moment of the join, on purpose
		db.Kill()
		_ = join.Wait()
		db = startDaemon(t, b)
		if mustJSON[apiv1.Identity](t, b, "id").Network == nil {
			rejoined++
			mustRun(t, b, "join", token)
		} else {
			members++
		}
		testutil.Eventually(t, 30*time.Second, func() error { return connectedTo(t, db, idA) })
	}
	t.Logf("10 kills during join: %d restarted as members, %d joined again", members, rejoined)
}

// TestMemberWithNoPeersRejoins: a member whose datastore holds its chain
// but no peer (as a kill between two writes used to leave it) gets back in
// with the token: `join` dials the token's addresses instead of answering
// "already a member".
func TestMemberWithNoPeersRejoins(t *testing.T) {
	a, b := initHome(t, "Alice"), initHome(t, "Bob")
	startDaemon(t, a)
	db := startDaemon(t, b)
	mustRun(t, a, "network", "create", "Night Owls")
	idA := mustJSON[apiv1.Identity](t, a, "id").PeerID
	token := strings.TrimSpace(mustRun(t, a, "invite"))
	mustRun(t, b, "join", token)
	db.Stop()
	forgetPeers(t, b)
	db = startDaemon(t, b) // new ports: Alice cannot call Bob back
	out := mustRun(t, b, "join", token)
	if !strings.Contains(out, "already a member") {
		t.Errorf("join again: %q", out)
	}
	testutil.Eventually(t, 30*time.Second, func() error { return connectedTo(t, db, idA) })
}

// forgetPeers deletes every remembered peer and the join record from a
// stopped node's datastore.
func forgetPeers(t *testing.T, dir string) {
	t.Helper()
	ctx := context.Background()
	d, err := leveldb.NewDatastore(filepath.Join(dir, home.DatastoreDir), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	res, err := d.Query(ctx, query.Query{KeysOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	entries, err := res.Rest()
	if err != nil {
		t.Fatal(err)
	}
	var n int
	for _, e := range entries {
		if strings.HasPrefix(e.Key, "/peers/") || e.Key == "/network/join-bootstrap" {
			if err := d.Delete(ctx, ds.NewKey(e.Key)); err != nil {
				t.Fatal(err)
			}
			n++
		}
	}
	if n == 0 {
		t.Fatal("no remembered peer to forget")
	}
}

// TestInitRefusesEmptyName: `init --name ""` (the README's "$USER" in a
// root shell used to be empty) is refused and says what to do.
func TestInitRefusesEmptyName(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "home")
	for _, name := range []string{"", "   ", "\u200b"} {
		_, err := clubnode(dir, "init", "--name", name)
		if err == nil {
			t.Fatalf("init --name %q succeeded", name)
		}
		if name == "" && !strings.Contains(err.Error(), "a name is needed (--name NAME)") {
			t.Errorf("init --name \"\": %v", err)
		}
	}
	if ok, _ := (home.Home{Dir: dir}).Exists(); ok {
		t.Error("a refused init left an initialised home")
	}
}
