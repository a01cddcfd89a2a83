package netlab

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
)

var (
	probeOnce   sync.Once
	probeReason string
)

// unavailable says why this machine cannot build a lab, or "" if it can.
// It tries once per process: a namespace with a NAT rule in it, the most a
// lab asks of the kernel. It also removes the namespaces of lab processes
// that died without cleaning up (killed test binaries).
func unavailable() string {
	probeOnce.Do(func() { probeReason = probe() })
	return probeReason
}

func probe() string {
	if runtime.GOOS != "linux" {
		return "network namespaces are Linux only"
	}
	if os.Geteuid() != 0 {
		return "building network namespaces needs root (CI runs the lab tests as root)"
	}
	for _, tool := range []string{"ip", "iptables-restore", "sysctl"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Sprintf("%s is not installed (scripts/install-deps.sh installs iproute2, iptables and procps)", tool)
		}
	}
	sweepLeftovers()
	ns := fmt.Sprintf("%s%d-probe", labPrefix, os.Getpid())
	if err := run("ip", "netns", "add", ns); err != nil {
		return fmt.Sprintf("cannot make a network namespace: %v", err)
	}
	defer run("ip", "netns", "del", ns)
	rules := fmt.Sprintf(natRules, " --random-fully")
	if err := runInput([]byte(rules), "ip", "netns", "exec", ns, "iptables-restore"); err != nil {
		return fmt.Sprintf("cannot load NAT rules into a namespace (nf_tables missing?): %v", err)
	}
	return ""
}

// sweepLeftovers removes lab namespaces whose creating process is gone.
func sweepLeftovers() {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(out), "\n") {
		name, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		pidText, _, ok := strings.Cut(strings.TrimPrefix(name, labPrefix), "-")
		if !strings.HasPrefix(name, labPrefix) || !ok {
			continue
		}
		pid, err := strconv.Atoi(pidText)
		if err != nil || pid == os.Getpid() {
			continue
		}
		if _, err := os.Stat("/proc/" + pidText); err == nil {
			continue // still running: another test process's lab
		}
		_ = run("ip", "netns", "del", name)
	}
}
