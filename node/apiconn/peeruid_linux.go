package apiconn

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
)

// peerUID finds the user that owns the other end of a loopback TCP
// connection: the kernel lists every socket with its owner in
// /proc/net/tcp (tcp6), and the other end is the socket whose local port
// is c's remote port and whose remote port is c's local port.
func peerUID(c net.Conn) (uint32, bool) {
	local, ok1 := c.LocalAddr().(*net.TCPAddr)
	remote, ok2 := c.RemoteAddr().(*net.TCPAddr)
	if !ok1 || !ok2 || !remote.IP.IsLoopback() {
		return 0, false
	}
	file := "/proc/net/tcp"
	if remote.IP.To4() == nil {
		file = "/proc/net/tcp6"
	}
	f, err := os.Open(file)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	want := fmt.Sprintf(":%04X", remote.Port)
	wantRem := fmt.Sprintf(":%04X", local.Port)
	sc := bufio.NewScanner(f)
	sc.Scan() // the header line
	for sc.Scan() {
		// sl local_address rem_address st tx:rx tr:when retrnsmt uid ...
		fields := strings.Fields(sc.Text())
		if len(fields) < 8 || !strings.HasSuffix(fields[1], want) || !strings.HasSuffix(fields[2], wantRem) {
			continue
		}
		uid, err := strconv.ParseUint(fields[7], 10, 32)
		if err != nil {
			return 0, false
		}
		return uint32(uid), true
	}
	return 0, false
}

// sameUser reports whether the other end of c belongs to the user this
// process runs as.
func sameUser(c net.Conn) bool {
	uid, ok := peerUID(c)
	return ok && uid == uint32(os.Getuid())
}
