package node

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/clubnode/clubnode/audio/rtc"
	"github.com/clubnode/clubnode/node/apiv1"
	"github.com/clubnode/clubnode/rooms"
)

// A WHEP offer's ?delay= is the depth of the jitter buffers the node mixes
// the room through for that listener (clubnode listen passes its --delay):
// a recorder's deep buffer rides out stalls upstream instead of playing
// them as gaps and dropping the backlog's pauses. Without it the mix ran
// 60 ms deep whatever the recorder asked. Delays that are not durations,
// not above zero or over a second are refused with 400.
func TestListenDelayReachesTheMix(t *testing.T) {
	ctx := context.Background()
	u := startUINode(t, "Alice")
	if _, err := u.CreateNetwork(ctx, apiv1.CreateNetworkRequest{Name: "Night Owls"}); err != nil {
		t.Fatal(err)
	}
	room, err := u.CreateRoom(ctx, apiv1.CreateRoomRequest{Title: "Deep"})
	if err != nil {
		t.Fatal(err)
	}
	endpoint := u.url + apiv1.MediaPath(room.ID, apiv1.WHEP)
	for _, bad := range []string{"0s", "-20ms", "2s", "soon", "1s%0a"} {
		req, _ := http.NewRequest(http.MethodPost, endpoint+"?delay="+bad, strings.NewReader("v=0\r\n"))
		req.Header.Set("Authorization", "Bearer "+u.APIToken())
		req.Header.Set("Content-Type", apiv1.ContentTypeSDP)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "delay") {
			t.Errorf("delay %q: %s %s, want 400 naming the delay", bad, resp.Status, body)
		}
	}

	api, err := rtc.NewAPI(rtc.Config{LoopbackOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	header := http.Header{"Authorization": []string{"Bearer " + u.APIToken()}}
	wc, err := rtc.DialWHEP(dctx, api, endpoint+"?delay=750ms", header, func(*rtp.Packet) {})
	if err != nil {
		t.Fatal(err)
	}
	defer wc.Close()
	u.media.mu.Lock()
	mix := u.media.mixes[rooms.RoomID(room.ID)]
	u.media.mu.Unlock()
	if mix == nil {
		t.Fatal("no mix for the WHEP listener")
	}
	if got := mix.Delay(); got != 750*time.Millisecond {
		t.Errorf("the mix's jitter buffers are %s deep, want the 750ms the listener asked for", got)
	}
}
