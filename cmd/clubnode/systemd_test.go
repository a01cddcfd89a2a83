package main

import (
	"github.com/clubnode/clubnode/internal/daemontest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// unitPath is the systemd unit the README tells hosts to install.
const unitPath = "../../contrib/systemd/clubnode.service"

// The unit passes systemd-analyze verify without a word (unknown keys
// and bad values are only warnings there, so any output fails), carries
// the hardening the README promises, keeps GOMEMLIMIT under MemoryMax,
// and systemd's own security review rates it well. The binary it names is
// this test's build, put where the unit expects it.
func TestSystemdUnit(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed (Debian's systemd package; scripts/install-deps.sh installs it)")
	}
	data, err := os.ReadFile(unitPath)
	if err != nil {
		t.Fatal(err)
	}
	unit := string(data)
	for _, want := range []string{"User=clubnode", "StateDirectory=clubnode", "NoNewPrivileges=yes", "ProtectSystem=strict",
		"MemoryMax=", "Environment=GOMEMLIMIT=", "ExecStart=/usr/local/bin/clubnode --home /var/lib/clubnode daemon",
		"ExecStop=/usr/local/bin/clubnode --home /var/lib/clubnode shutdown"} {
		if !strings.Contains(unit, want) {
			t.Errorf("the unit has no %q", want)
		}
	}
	checkMemoryLimits(t, unit)

	dir := t.TempDir()
	local := filepath.Join(dir, "clubnode.service")
	if err := os.WriteFile(local, []byte(strings.ReplaceAll(unit, "/usr/local/bin/clubnode", daemontest.MustBinary(t))), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", local).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	out, err = exec.Command(analyze, "security", "--offline=yes", local).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze security: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`Overall exposure level for clubnode.service: ([0-9.]+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no exposure level in:\n%s", out)
	}
	if level, _ := strconv.ParseFloat(string(m[1]), 64); level > 2 {
		t.Fatalf("exposure level %.1f, want at most 2 (systemd's \"OK\")", level)
	}
	t.Logf("systemd-analyze security: exposure %s", m[1])
}

// checkMemoryLimits wants GOMEMLIMIT below MemoryMax, so Go collects
// harder before the kernel would kill the daemon.
func checkMemoryLimits(t *testing.T, unit string) {
	t.Helper()
	max := regexp.MustCompile(`(?m)^MemoryMax=(\d+)([KMG])$`).FindStringSubmatch(unit)
	soft := regexp.MustCompile(`(?m)^Environment=GOMEMLIMIT=(\d+)(KiB|MiB|GiB)$`).FindStringSubmatch(unit)
	if max == nil || soft == nil {
		t.Fatalf("MemoryMax %v or GOMEMLIMIT %v not in the expected form", max, soft)
	}
	scale := map[string]float64{"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}
	hard, _ := strconv.ParseFloat(max[1], 64)
	limit, _ := strconv.ParseFloat(soft[1], 64)
	if limit*scale[soft[2]] >= hard*scale[max[2]] {
		t.Fatalf("GOMEMLIMIT=%s%s is not under MemoryMax=%s%s", soft[1], soft[2], max[1], max[2])
	}
}
