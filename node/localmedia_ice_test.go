package node

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/clubnode/clubnode/node/apiv1"
	"github.com/clubnode/clubnode/node/home"
)

// A STUN and a TURN server in ice_servers that never answer do not hold
// up a local listener's session: it is answered on host candidates. (A
// session's answer waits for gathering, and pion waits 5 s for STUN and
// longer for a TURN allocation before it gives up on them.)
func TestLocalSessionsSkipICEServers(t *testing.T) {
	hole, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hole.Close()
	addr := hole.LocalAddr().String()
	n, _ := startWith(t, "alice", func(c *home.Config) {
		c.ICEServers = []home.ICEServer{{URLs: []string{"stun:" + addr}},
			{URLs: []string{"turn:" + addr + "?transport=udp"}, Username: "u", Credential: "p"}}
	})
	if err := n.cfg.Home.EnsureDir(); err != nil {
		t.Fatal(err)
	}
	u := serveUINode(t, n, "alice")
	ctx := context.Background()
	if _, err := u.CreateNetwork(ctx, apiv1.CreateNetworkRequest{Name: "Night Owls"}); err != nil {
		t.Fatal(err)
	}
	room, err := u.CreateRoom(ctx, apiv1.CreateRoomRequest{Title: "Slow servers"})
	if err != nil {
		t.Fatal(err)
	}
	offer := localOffer(t, webrtc.RTPTransceiverDirectionRecvonly)
	// Under pion's 5 s STUN timeout, with room for a busy machine.
	reqCtx, cancel := context.WithTimeout(ctx, 4*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(reqCtx, http.MethodPost, u.url+apiv1.MediaPath(room.ID, apiv1.WHEP),
		strings.NewReader(offer))
	req.Header.Set("Authorization", "Bearer "+u.APIToken())
	req.Header.Set("Content-Type", apiv1.ContentTypeSDP)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("no answer while the ICE servers do not answer: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("WHEP: %s", resp.Status)
	}
	if loc := resp.Header.Get("Location"); loc != "" {
		del, _ := http.NewRequest(http.MethodDelete, u.url+loc, nil)
		del.Header.Set("Authorization", "Bearer "+u.APIToken())
		if r, err := http.DefaultClient.Do(del); err == nil {
			r.Body.Close()
		}
	}
}
