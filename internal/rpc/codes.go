package rpc

import (
	"errors"

	"github.com/libp2p/go-libp2p/core/peer"
)

// A Code names a sentinel error on the wire. Names are short, stable words
// ("banned", "not-allowed"): peers of other versions must agree on them.
type Code struct {
	Name string
	Err  error
}

// Codes is the vocabulary of a protocol's refusals, most specific first: a
// refusal takes the first code whose error it wraps.
type Codes []Code

// Join returns the codes of c followed by those of more.
func (c Codes) Join(more ...Codes) Codes {
	out := append(Codes(nil), c...)
	for _, m := range more {
		out = append(out, m...)
	}
	return out
}

func (c Codes) code(err error) string {
	for _, e := range c {
		if errors.Is(err, e.Err) {
			return e.Name
		}
	}
	return ""
}

func (c Codes) sentinel(name string) error {
	if name == "" {
		return nil
	}
	for _, e := range c {
		if e.Name == name {
			return e.Err
		}
	}
	return nil
}

// RemoteError is a refusal a peer sent back.
type RemoteError struct {
	Peer    peer.ID
	Code    string // the wire code, "" if the peer sent none
	Message string // the peer's words, cleaned for display
	known   error  // the sentinel the code stands for, if it is in Codes
}

// Error is the peer's reason; callers say who refused ("the host …").
func (e *RemoteError) Error() string { return "refused: " + e.Message }

// Unwrap gives ErrRefused and, for a known code, its sentinel error.
func (e *RemoteError) Unwrap() []error {
	if e.known != nil {
		return []error{ErrRefused, e.known}
	}
	return []error{ErrRefused}
}

func (c Codes) remote(from peer.ID, code, msg string) error {
	msg = Clean(msg)
	if msg == "" {
		msg = "refused"
	}
	return &RemoteError{Peer: from, Code: Clean(code), Message: msg, known: c.sentinel(code)}
}
