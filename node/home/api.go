package home

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
)

// ErrNoDaemon means no daemon is running for a home folder: its api file
// is missing, or nothing answers at the address in it. Callers test for
// it with errors.Is; the error they get is a *NoDaemonError.
var ErrNoDaemon = errors.New("no clubnode daemon is running")

// NoDaemonError says which home has no daemon and how to start one. Its
// text is one line because the CLI prints it as the whole error message.
type NoDaemonError struct {
	Home string // the home folder, or "" if unknown
	Addr string // the API address tried, named only when Home is unknown
	Err  error  // what revealed it: the missing api file, a refused dial
}

func (e *NoDaemonError) Error() string {
	if e.Home == "" {
		if e.Addr != "" {
			return fmt.Sprintf("%s at %s (start it with: clubnode daemon)", ErrNoDaemon, e.Addr)
		}
		return ErrNoDaemon.Error() + " (start it with: clubnode daemon)"
	}
	return fmt.Sprintf("%s for home %s (start it with: clubnode daemon)", ErrNoDaemon, e.Home)
}

// Is makes errors.Is(err, ErrNoDaemon) true.
func (e *NoDaemonError) Is(target error) bool { return target == ErrNoDaemon }

// Unwrap exposes the underlying cause.
func (e *NoDaemonError) Unwrap() error { return e.Err }

// maxAPIFileSize bounds what we read from the api and token files, which
// hold one short line each.
const maxAPIFileSize = 4 << 10

// NewAPIToken returns a fresh API token: 32 random bytes, base64url
// without padding so it survives shells, URLs and HTTP headers verbatim.
func NewAPIToken() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("new API token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// WriteAPIEndpoint publishes a running daemon's API address and token.
// The token goes first and the api file last because the api file's
// presence is what tells the CLI a daemon is up.
func WriteAPIEndpoint(h Home, addr, token string) error {
	if err := CheckAPIAddr(addr); err != nil {
		return fmt.Errorf("publish API address: %w", err)
	}
	if token == "" {
		return errors.New("publish API address: empty token")
	}
	if err := WriteAtomic(h.TokenPath(), []byte(token+"\n"), 0o600); err != nil {
		return fmt.Errorf("publish API token: %w", err)
	}
	if err := WriteAtomic(h.APIFilePath(), []byte(addr+"\n"), 0o600); err != nil {
		return fmt.Errorf("publish API address: %w", err)
	}
	return nil
}

// RemoveAPIFile withdraws the api file when the daemon stops cleanly, so
// the CLI says "no daemon" at once instead of trying a dead address. The
// token stays: it is useless without a listening daemon.
func RemoveAPIFile(h Home) error {
	if err := os.Remove(h.APIFilePath()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove api file: %w", err)
	}
	return nil
}

// ReadAPIEndpoint returns the API address and token of the daemon running
// for h. A missing api file gives a *NoDaemonError (errors.Is ErrNoDaemon).
// The address must be loopback: the CLI would otherwise send the token to
// whatever host a tampered api file names.
func ReadAPIEndpoint(h Home) (addr, token string, err error) {
	addr, err = readLine(h.APIFilePath())
	if errors.Is(err, fs.ErrNotExist) {
		return "", "", &NoDaemonError{Home: h.Dir, Err: err}
	}
	if err != nil {
		return "", "", fmt.Errorf("read API address: %w", err)
	}
	if err := CheckAPIAddr(addr); err != nil {
		return "", "", fmt.Errorf("api file %s: %w", h.APIFilePath(), err)
	}
	token, err = readLine(h.TokenPath())
	if err != nil {
		return "", "", fmt.Errorf("read API token: %w", err)
	}
	if token == "" {
		return "", "", fmt.Errorf("read API token: %s is empty", h.TokenPath())
	}
	return addr, token, nil
}

// readLine reads a small file holding one line and trims it.
func readLine(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxAPIFileSize+1))
	if err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	if len(data) > maxAPIFileSize {
		return "", fmt.Errorf("%s: larger than %d bytes", path, maxAPIFileSize)
	}
	return strings.TrimSpace(string(data)), nil
}
