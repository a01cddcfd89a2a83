package netlab

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
)

// EnvRequire names the environment variable that turns New's skips into
// failures. CI sets it: there the lab must be built, and a machine that
// cannot build it is a broken CI machine, not a reason to skip silently.
const EnvRequire = "CLUBNODE_NETLAB_REQUIRE"

// InternetCIDR is the lab's "internet": public hosts and routers' WAN
// sides. It is a documentation range, which daemons must be told to take
// for public (clubnode daemon --lab-internet).
const InternetCIDR = "203.0.113.0/24"

// Addresses of the lab. They exist only inside its namespaces.
const (
	internetPrefix = "203.0.113." // the internet bridge, a /24 (InternetCIDR)
	gatewayLast    = 1            // the bridge's own address: default routes end there
	firstPublic    = 10           // public hosts: 203.0.113.10 to .99
	lastPublic     = 99
	firstRouter    = 100 // home routers' WAN side: 203.0.113.100 to .199
	lastRouter     = 199
	maxHomes       = lastRouter - firstRouter + 1 // LANs 198.18.1.0/24 to 198.18.100.0/24
)

// labPrefix starts the name of every namespace a lab makes; the creating
// process's pid follows, so concurrent test processes never collide and a
// later run can tell the leftovers of a killed one.
const labPrefix = "cnlab-"

var labCount atomic.Int64

// Lab is one set of namespaces wired into a small Internet. Build it with
// New; its methods may be called from several goroutines.
type Lab struct {
	t        testing.TB
	name     string // labPrefix + pid + "-" + counter
	internet string // the namespace holding the bridge

	mu         sync.Mutex
	closed     bool
	namespaces []string // in creation order
	hosts      map[string]*Host
	publics    int
	homes      int
	ports      int // veth ports on the bridge
}

// New builds an empty lab: the internet bridge and nothing on it. It skips
// the test, saying why, where namespaces cannot be made (not root, no ip or
// iptables, no nf_tables in the kernel), unless EnvRequire is set. Every
// namespace, veth and bridge is removed when the test ends, pass or fail,
// and so is every process still running inside them.
func New(t testing.TB) *Lab {
	t.Helper()
	if reason := unavailable(); reason != "" {
		if os.Getenv(EnvRequire) != "" {
			t.Fatalf("netlab: %s (and %s is set)", reason, EnvRequire)
		}
		t.Skipf("netlab: %s", reason)
	}
	l := &Lab{
		t:     t,
		name:  fmt.Sprintf("%s%d-%d", labPrefix, os.Getpid(), labCount.Add(1)),
		hosts: map[string]*Host{},
	}
	l.internet = l.name + "-net"
	t.Cleanup(l.Close)
	gw := internetPrefix + strconv.Itoa(gatewayLast) + "/24"
	if err := l.addNamespace(l.internet); err != nil {
		t.Fatal(err)
	}
	if err := ipSteps(
		step{l.internet, "link add br0 type bridge"},
		step{l.internet, "addr add " + gw + " dev br0"},
		step{l.internet, "link set br0 up"},
	); err != nil {
		t.Fatalf("netlab: internet bridge: %v", err)
	}
	return l
}

// Name is the prefix of every namespace of this lab.
func (l *Lab) Name() string { return l.name }

// Namespaces lists the lab's namespaces, the bridge's first.
func (l *Lab) Namespaces() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.namespaces...)
}

// Close kills what still runs inside the lab and removes its namespaces,
// and with them every veth and the bridge. New registers it as a cleanup;
// calling it again does nothing.
func (l *Lab) Close() {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.closed = true
	nss := append([]string(nil), l.namespaces...)
	l.mu.Unlock()

	for _, ns := range nss {
		killAll(ns)
	}
	var errs []error
	for i := len(nss) - 1; i >= 0; i-- {
		if err := run("ip", "netns", "del", nss[i]); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		l.t.Errorf("netlab: removing %s: %v", l.name, err)
	}
}

var validName = regexp.MustCompile(`^[a-z][a-z0-9]{0,19}$`)

// reserve checks a host name and claims it, so two hosts never share one.
func (l *Lab) reserve(name string) error {
	if !validName.MatchString(name) {
		return fmt.Errorf("host name %q: want 1 to 20 lowercase letters and digits, starting with a letter", name)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return errors.New("the lab is closed")
	}
	if _, dup := l.hosts[name]; dup {
		return fmt.Errorf("host name %q is taken", name)
	}
	l.hosts[name] = nil
	return nil
}

func (l *Lab) register(h *Host) {
	l.mu.Lock()
	l.hosts[h.Name] = h
	l.mu.Unlock()
}

// addNamespace makes a namespace with its loopback up, no IPv6 and no
// forwarding, and records it for Close before anything else can fail.
func (l *Lab) addNamespace(ns string) error {
	if err := run("ip", "netns", "add", ns); err != nil {
		return fmt.Errorf("netlab: %w", err)
	}
	l.mu.Lock()
	l.namespaces = append(l.namespaces, ns)
	l.mu.Unlock()
	// IPv6 goes off before any interface exists, so not even a link-local
	// address or a router solicitation ever appears.
	if err := sysctl(ns, map[string]string{
		"net.ipv6.conf.all.disable_ipv6":     "1",
		"net.ipv6.conf.default.disable_ipv6": "1",
		"net.ipv4.ip_forward":                "0",
	}); err != nil {
		return fmt.Errorf("netlab: %s: %w", ns, err)
	}
	if err := ip(ns, "link", "set", "lo", "up"); err != nil {
		return fmt.Errorf("netlab: %w", err)
	}
	return nil
}

// plug connects namespace ns to the internet bridge through a veth pair
// whose inside end is called dev and carries addr/24, and routes
// everything else to the bridge's own address, which forwards nothing.
func (l *Lab) plug(ns, dev string, addr netip.Addr) error {
	l.mu.Lock()
	l.ports++
	port := "port" + strconv.Itoa(l.ports)
	l.mu.Unlock()
	return ipSteps(
		step{l.internet, "link add " + port + " type veth peer name " + dev + " netns " + ns},
		step{l.internet, "link set " + port + " master br0 up"},
		step{ns, "addr add " + addr.String() + "/24 dev " + dev},
		step{ns, "link set " + dev + " up"},
		step{ns, "route add default via " + internetPrefix + strconv.Itoa(gatewayLast)},
	)
}

// ip runs `ip -n ns args...`.
func ip(ns string, args ...string) error {
	return run("ip", append([]string{"-n", ns}, args...)...)
}

// step is one ip command (space-separated arguments) inside a namespace.
type step struct{ ns, args string }

// ipSteps runs the steps in order, stopping at the first failure.
func ipSteps(steps ...step) error {
	for _, s := range steps {
		if err := ip(s.ns, strings.Fields(s.args)...); err != nil {
			return err
		}
	}
	return nil
}

// run runs a command and turns a failure into an error with its output.
func run(name string, args ...string) error {
	return runInput(nil, name, args...)
}

func runInput(stdin []byte, name string, args ...string) error {
	cmd := exec.Command(name, args...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// sysctl sets kernel parameters inside ns.
func sysctl(ns string, kv map[string]string) error {
	args := []string{"netns", "exec", ns, "sysctl", "-q", "-w"}
	for k, v := range kv {
		args = append(args, k+"="+v)
	}
	return run("ip", args...)
}

// killAll kills every process still running inside ns: processes a test
// started there and forgot, which would otherwise keep the namespace alive
// after its name is gone.
func killAll(ns string) {
	out, err := exec.Command("ip", "netns", "pids", ns).Output()
	if err != nil {
		return
	}
	for _, f := range strings.Fields(string(out)) {
		if pid, err := strconv.Atoi(f); err == nil && pid != os.Getpid() {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}
