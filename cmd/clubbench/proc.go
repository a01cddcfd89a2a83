package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat:
// 100 on every Linux this runs on.
const clockTicks = 100

// cpuTicks reads a process's user plus system CPU time, in clock ticks.
func cpuTicks(pid int) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("cpu of %d: %w", pid, err)
	}
	// The command name may hold spaces; the fields after it are fixed.
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("cpu of %d: odd stat line", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("cpu of %d: short stat line", pid)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64) // field 14
	stime, err2 := strconv.ParseInt(f[12], 10, 64) // field 15
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("cpu of %d: bad utime/stime", pid)
	}
	return utime + stime, nil
}

// rssBytes reads a process's resident set size.
func rssBytes(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("rss of %d: %w", pid, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("rss of %d: %w", pid, err)
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("rss of %d: no VmRSS", pid)
}

// privateBytes reads the memory a process holds alone (smaps_rollup's
// Private_Clean + Private_Dirty): its RSS without the pages it shares
// with other processes, such as the clubnode binary's own, which every
// daemon of one binary maps once.
func privateBytes(pid int) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return 0, fmt.Errorf("private memory of %d: %w", pid, err)
	}
	var total int64
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) == 3 && (f[0] == "Private_Clean:" || f[0] == "Private_Dirty:") {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("private memory of %d: %w", pid, err)
			}
			total += kb << 10
		}
	}
	return total, nil
}

// cpuWindow measures what share of one core each of pids used between
// begin and end.
type cpuWindow struct {
	start  time.Time
	ticks  []int64
	shares []float64 // per pid, after end: 1.0 is one whole core
}

func beginCPU(pids []int) *cpuWindow {
	w := &cpuWindow{start: time.Now(), ticks: make([]int64, len(pids))}
	for i, pid := range pids {
		w.ticks[i], _ = cpuTicks(pid)
	}
	return w
}

func (w *cpuWindow) end(pids []int) []float64 {
	wall := time.Since(w.start)
	w.shares = make([]float64, len(pids))
	for i, used := range w.used(pids) {
		w.shares[i] = used.Seconds() / wall.Seconds()
	}
	return w.shares
}

// used is the CPU time each of pids used since begin (0 for a process
// that is gone).
func (w *cpuWindow) used(pids []int) []time.Duration {
	out := make([]time.Duration, len(pids))
	for i, pid := range pids {
		t, err := cpuTicks(pid)
		if err != nil {
			continue
		}
		out[i] = time.Duration(t-w.ticks[i]) * time.Second / clockTicks
	}
	return out
}

// loadAverage is the first figure of /proc/loadavg.
func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Join(strings.Fields(string(data))[:3], " ")
}

// ownCPU is the user plus system CPU time this process has used.
func ownCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// joinCPU is what the join phase cost the machine: every daemon's CPU
// (the host's among it) and the bench's own, which polls the members.
type joinCPU struct {
	daemons, host, bench time.Duration
}
