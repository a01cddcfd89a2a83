package apiv1_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/clubnode/clubnode/node/apiguard"
	"github.com/clubnode/clubnode/node/apiv1"
)

const token = "test-token"

// fakeDaemon serves the API routes from canned answers behind the real
// guard, recording the last request body it decoded.
type fakeDaemon struct {
	srv  *httptest.Server
	last any
}

func newFakeDaemon(t *testing.T) *fakeDaemon {
	t.Helper()
	d := &fakeDaemon{}
	at := time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)
	net1 := apiv1.Network{ID: "net1", Name: "Friends", Founder: "peerF"}
	mux := http.NewServeMux()
	mux.HandleFunc(apiv1.RouteID, func(w http.ResponseWriter, r *http.Request) {
		apiv1.WriteJSON(w, 200, apiv1.Identity{PeerID: "peerA", Name: "alice", Addrs: []string{"/ip4/127.0.0.1/tcp/1"}, Network: &net1})
	})
	mux.HandleFunc(apiv1.RouteCreateNetwork, func(w http.ResponseWriter, r *http.Request) {
		var req apiv1.CreateNetworkRequest
		if !decode(w, r, &req) {
			return
		}
		d.last = req
		apiv1.WriteJSON(w, 200, apiv1.Network{ID: "net2", Name: req.Name, Founder: "peerA"})
	})
	mux.HandleFunc(apiv1.RouteCreateInvite, func(w http.ResponseWriter, r *http.Request) {
		var req apiv1.CreateInviteRequest
		if !decode(w, r, &req) {
			return
		}
		d.last = req
		apiv1.WriteJSON(w, 200, apiv1.Invite{Token: "inv-token", Network: net1, Expires: at, Uses: req.Uses, For: req.For})
	})
	mux.HandleFunc(apiv1.RouteJoin, func(w http.ResponseWriter, r *http.Request) {
		var req apiv1.JoinRequest
		if !decode(w, r, &req) {
			return
		}
		d.last = req
		if req.Token == "old" {
			apiv1.WriteError(w, http.StatusGone, "invite token expired at 2026-07-01T12:00:00Z")
			return
		}
		apiv1.WriteJSON(w, 200, apiv1.JoinResult{Network: net1, InvitedBy: "peerB", Chain: []string{"peerF", "peerB", "peerA"}})
	})
	mux.HandleFunc(apiv1.RouteMembers, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte("null"))
	})
	mux.HandleFunc(apiv1.RouteProfile, func(w http.ResponseWriter, r *http.Request) {
		apiv1.WriteJSON(w, 200, apiv1.Member{PeerID: r.PathValue("peer"), Name: "bob"})
	})
	mux.HandleFunc(apiv1.RouteSetProfile, func(w http.ResponseWriter, r *http.Request) {
		var req apiv1.SetProfileRequest
		if !decode(w, r, &req) {
			return
		}
		d.last = req
		apiv1.WriteJSON(w, 200, apiv1.Member{PeerID: "peerA", Name: req.Name, Bio: req.Bio})
	})
	mux.HandleFunc(apiv1.RouteRevoke, func(w http.ResponseWriter, r *http.Request) {
		var req apiv1.RevokeRequest
		if !decode(w, r, &req) {
			return
		}
		d.last = req
		apiv1.WriteJSON(w, 200, apiv1.Revocation{Peer: req.Peer, Revoker: "peerA", WithInvitees: req.WithInvitees, At: at})
	})
	mux.HandleFunc(apiv1.RoutePeers, func(w http.ResponseWriter, r *http.Request) {
		apiv1.WriteJSON(w, 200, []apiv1.Peer{{PeerID: "peerB", Addr: "/ip4/127.0.0.1/tcp/2", Member: true}})
	})
	d.srv = httptest.NewServer(apiguard.Guard{Token: token}.Wrap(mux))
	t.Cleanup(d.srv.Close)
	return d
}

func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := apiv1.ReadJSON(r, v); err != nil {
		apiv1.WriteError(w, http.StatusBadRequest, err.Error())
		return false
	}
	return true
}

func (d *fakeDaemon) client(tok string) *apiv1.Client {
	return apiv1.NewClient(strings.TrimPrefix(d.srv.URL, "http://"), tok)
}

func TestClientEndpoints(t *testing.T) {
	d := newFakeDaemon(t)
	c := d.client(token)
	ctx := t.Context()

	id, err := c.ID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if id.PeerID != "peerA" || id.Network == nil || id.Network.Name != "Friends" {
		t.Errorf("ID = %+v", id)
	}

	n, err := c.CreateNetwork(ctx, "Book club")
	if err != nil || n.Name != "Book club" {
		t.Errorf("CreateNetwork = %+v, %v", n, err)
	}

	req := apiv1.CreateInviteRequest{Uses: 2, ExpiresSeconds: 3600, For: "peerX"}
	inv, err := c.CreateInvite(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if d.last != req {
		t.Errorf("server got %+v, want %+v", d.last, req)
	}
	if inv.Token != "inv-token" || inv.Uses != 2 || inv.For != "peerX" || inv.Expires.IsZero() {
		t.Errorf("CreateInvite = %+v", inv)
	}

	jr, err := c.Join(ctx, "good")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(jr.Chain, []string{"peerF", "peerB", "peerA"}) || jr.InvitedBy != "peerB" {
		t.Errorf("Join = %+v", jr)
	}

	members, err := c.Members(ctx)
	if err != nil || members == nil || len(members) != 0 {
		t.Errorf("Members = %#v, %v; want an empty non-nil list", members, err)
	}

	// A peer ID is one path segment whatever it contains.
	m, err := c.Profile(ctx, "odd/peer id")
	if err != nil || m.PeerID != "odd/peer id" {
		t.Errorf("Profile = %+v, %v", m, err)
	}
	if _, err := c.Profile(ctx, ""); err == nil {
		t.Error("Profile with an empty peer ID succeeded")
	}

	m, err = c.SetProfile(ctx, apiv1.SetProfileRequest{Name: "Alice", Bio: "hi"})
	if err != nil || m.Name != "Alice" || m.Bio != "hi" {
		t.Errorf("SetProfile = %+v, %v", m, err)
	}

	rv, err := c.Revoke(ctx, apiv1.RevokeRequest{Peer: "peerC", WithInvitees: true})
	if err != nil || rv.Peer != "peerC" || !rv.WithInvitees || rv.Revoker != "peerA" {
		t.Errorf("Revoke = %+v, %v", rv, err)
	}

	peers, err := c.Peers(ctx)
	if err != nil || len(peers) != 1 || !peers[0].Member {
		t.Errorf("Peers = %+v, %v", peers, err)
	}
}

func TestClientServerError(t *testing.T) {
	d := newFakeDaemon(t)
	_, err := d.client(token).Join(t.Context(), "old")
	var apiErr *apiv1.APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("err = %v (%T), want *APIError", err, err)
	}
	if apiErr.Status != http.StatusGone {
		t.Errorf("status = %d", apiErr.Status)
	}
	if err.Error() != "invite token expired at 2026-07-01T12:00:00Z" {
		t.Errorf("message = %q", err)
	}

	_, err = d.client("wrong").ID(t.Context())
	if err == nil || err.Error() != "wrong API token" {
		t.Errorf("wrong token: err = %v", err)
	}
}

func TestClientNonJSONError(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "<html>teapot</html>", http.StatusTeapot)
	}))
	defer srv.Close()
	_, err := apiv1.NewClient(strings.TrimPrefix(srv.URL, "http://"), token).ID(t.Context())
	var apiErr *apiv1.APIError
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusTeapot || !strings.Contains(err.Error(), "418") {
		t.Errorf("err = %v", err)
	}
}

func TestClientResponseLimit(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"peer_id":"` + strings.Repeat("x", apiv1.MaxResponseSize) + `"}`))
	}))
	defer srv.Close()
	_, err := apiv1.NewClient(strings.TrimPrefix(srv.URL, "http://"), token).ID(t.Context())
	if err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("err = %v, want a size error", err)
	}
}

func TestClientNoDaemon(t *testing.T) {
	// Find a port nobody listens on.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	c := apiv1.NewClient(addr, token)
	c.Home = "/home/u/.clubnode"
	_, err = c.ID(t.Context())
	if !errors.Is(err, apiv1.ErrNoDaemon) {
		t.Fatalf("err = %v, want ErrNoDaemon", err)
	}
	want := "no clubnode daemon is running for home /home/u/.clubnode (start it with: clubnode daemon)"
	if err.Error() != want {
		t.Errorf("message = %q, want %q", err, want)
	}
}

func TestClientContext(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	_, err := apiv1.NewClient(strings.TrimPrefix(srv.URL, "http://"), token).ID(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want DeadlineExceeded", err)
	}
}
