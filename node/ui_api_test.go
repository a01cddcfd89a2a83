package node

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"

	"github.com/clubnode/clubnode/node/apiv1"
)

// TestUISettingsAndRelations covers the endpoints only the app uses, over
// the real API with the API token.
func TestUISettingsAndRelations(t *testing.T) {
	ctx := context.Background()
	a, b := startUINode(t, "Alice"), startUINode(t, "Bob")
	if _, err := a.CreateNetwork(ctx, apiv1.CreateNetworkRequest{Name: "Night Owls"}); err != nil {
		t.Fatal(err)
	}
	c := apiv1.NewClient(a.APIAddr(), a.APIToken())
	s, err := c.Settings(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if s.RelayCapacity != 4 || s.RestartNeeded || s.RunningAPIAddr != a.APIAddr() {
		t.Fatalf("settings before any change: %+v", s)
	}
	for _, bad := range []apiv1.SetSettingsRequest{
		{RelayCapacity: ptr(-1)}, {RelayCapacity: ptr(1001)},
		{APIAddr: ptr("0.0.0.0:7700")}, {APIAddr: ptr("evil.example:7700")}, {APIAddr: ptr("127.0.0.1")},
	} {
		_, err := c.SetSettings(ctx, bad)
		var apiErr *apiv1.APIError
		if !errors.As(err, &apiErr) || apiErr.Status != http.StatusBadRequest {
			t.Errorf("settings %+v: %v, want a 400", bad, err)
		}
	}
	if s, err = c.SetSettings(ctx, apiv1.SetSettingsRequest{RelayCapacity: ptr(12)}); err != nil {
		t.Fatal(err)
	}
	if s.RelayCapacity != 12 || !s.RestartNeeded {
		t.Fatalf("after setting relay capacity 12: %+v", s)
	}
	if cfg, err := a.configFile(); err != nil || cfg.RelayCapacity != 12 || cfg.APIAddr != "127.0.0.1:0" {
		t.Fatalf("config file: %+v, %v", cfg, err)
	}

	if err := c.Follow(ctx, b.ID().String(), true); err != nil {
		t.Fatal(err)
	}
	if err := c.Block(ctx, b.ID().String(), true); err != nil {
		t.Fatal(err)
	}
	rel, err := c.Relations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rel.Follows) != 1 || rel.Follows[0] != b.ID().String() || len(rel.Blocks) != 1 {
		t.Fatalf("relations: %+v", rel)
	}
	if err := c.Follow(ctx, b.ID().String(), false); err != nil {
		t.Fatal(err)
	}
	if rel, err = c.Relations(ctx); err != nil {
		t.Fatal(err)
	}
	if len(rel.Follows) != 0 || len(rel.Blocks) != 1 {
		t.Fatalf("relations after unfollowing: %+v", rel)
	}

	// The session endpoint is for browsers; the token has no CSRF token.
	req, err := http.NewRequest(http.MethodGet, a.url+apiv1.PathSession, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+a.APIToken())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("session info with the API token: %s, want 400", resp.Status)
	}
}

func ptr[T any](v T) *T { return &v }

// BenchmarkUIPoll measures one poll of the event stream's state source (identity,
// members, hallway and each room's state, marshalled and ready to diff) on
// a node in a network with a live room it hosts: the cost a browser tab
// adds to the daemon every uiStateInterval.
func BenchmarkUIPoll(b *testing.B) {
	ctx := context.Background()
	n := startTestNode(b, "bench")
	if _, err := n.CreateNetwork(ctx, apiv1.CreateNetworkRequest{Name: "Bench"}); err != nil {
		b.Fatal(err)
	}
	for i := range 5 {
		if _, err := n.CreateRoom(ctx, apiv1.CreateRoomRequest{Title: "Room " + string(rune('A'+i))}); err != nil {
			b.Fatal(err)
		}
	}
	var events int
	for b.Loop() {
		events = len(n.pollState(ctx))
	}
	b.ReportMetric(float64(events), "events/poll")
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/uiStateInterval.Seconds()/1e6*100, "%cpu-at-interval")
}

// TestAPIMissesAreJSON: a wrong method or an unknown endpoint answers like
// every other API error, as JSON, keeping its status and Allow header.
func TestAPIMissesAreJSON(t *testing.T) {
	a := startUINode(t, "Alice")
	for _, c := range []struct {
		method, path string
		status       int
		allow        string
	}{
		{http.MethodPost, apiv1.PathID, http.StatusMethodNotAllowed, "GET, HEAD"},
		{http.MethodDelete, apiv1.PathRooms, http.StatusMethodNotAllowed, "GET, HEAD, POST"},
		{http.MethodGet, "/api/v1/nowhere", http.StatusNotFound, ""},
	} {
		req, err := http.NewRequest(c.method, "http://"+a.APIAddr()+c.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+a.APIToken())
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body apiv1.ErrorResponse
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != c.status || resp.Header.Get("Content-Type") != "application/json" || err != nil || body.Error == "" {
			t.Errorf("%s %s: %d %q %+v (%v); want %d with a JSON error", c.method, c.path, resp.StatusCode,
				resp.Header.Get("Content-Type"), body, err, c.status)
		}
		if got := resp.Header.Get("Allow"); got != c.allow {
			t.Errorf("%s %s: Allow %q, want %q", c.method, c.path, got, c.allow)
		}
	}
}
