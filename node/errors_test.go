package node

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/clubnode/clubnode/identity"
	"github.com/clubnode/clubnode/internal/rpc"
	"github.com/clubnode/clubnode/p2p"
	"github.com/clubnode/clubnode/rooms"
)

// TestStatusOf pins the one mapping from operation errors to HTTP
// statuses, including the cases the old blanket statuses got wrong: an
// unknown room or an unreachable host is not 403, a failed write is not 400.
func TestStatusOf(t *testing.T) {
	remote := func(sentinel error) error {
		// What rpc hands back for a peer's refusal with a known code.
		return fmt.Errorf("the host: %w", &wrapped{rpc.ErrRefused, sentinel})
	}
	for _, c := range []struct {
		name string
		err  error
		want int
	}{
		{"bad argument", invalid("%q is not a peer ID", "x"), http.StatusBadRequest},
		{"bad token", fmt.Errorf("invite: %w", identity.ErrMalformed), http.StatusBadRequest},
		{"banned by the host", remote(rooms.ErrBanned), http.StatusForbidden},
		{"not allowed", fmt.Errorf("%w: only the host", rooms.ErrNotAllowed), http.StatusForbidden},
		{"unknown room", fmt.Errorf("%w: room-x is not in this node's hallway", rooms.ErrUnknownRoom), http.StatusNotFound},
		{"unknown member", fmt.Errorf("member x: %w", ErrNotFound), http.StatusNotFound},
		{"nothing to change", remote(rooms.ErrNoChange), http.StatusConflict},
		{"not live", fmt.Errorf("%w", rooms.ErrNotLive), http.StatusConflict},
		{"not a member", p2p.ErrNotMember, http.StatusConflict},
		{"already a member", fmt.Errorf("%w: Night Owls", p2p.ErrAlreadyMember), http.StatusConflict},
		{"host unreachable", fmt.Errorf("the host: %w: dial failed", rpc.ErrUnreachable), http.StatusBadGateway},
		{"host did not answer", fmt.Errorf("the host: %w: deadline", rpc.ErrNoReply), http.StatusBadGateway},
		{"refused for an unknown reason", remote(errors.New("something new")), http.StatusForbidden},
		{"audio off", fmt.Errorf("audio is %w", ErrUnavailable), http.StatusServiceUnavailable},
		{"write failed", fmt.Errorf("%w: write /x: disk full", ErrStorage), http.StatusInternalServerError},
		{"anything else", errors.New("boom"), http.StatusInternalServerError},
	} {
		if got := statusOf(c.err); got != c.want {
			t.Errorf("%s: statusOf(%v) = %d, want %d", c.name, c.err, got, c.want)
		}
	}
	if err := invalid("bad: %w", rooms.ErrMalformed); err.Error() != "bad: malformed" || !errors.Is(err, rooms.ErrMalformed) {
		t.Errorf("invalid() = %q; it must read as its cause and wrap it", err)
	}
}

type wrapped struct{ a, b error }

func (w *wrapped) Error() string   { return w.b.Error() }
func (w *wrapped) Unwrap() []error { return []error{w.a, w.b} }
