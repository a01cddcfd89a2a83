package node

import (
	"context"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"

	"github.com/clubnode/clubnode/internal/natkind"
)

// An always-on node tells members, and only members, where its STUN
// server is (for their NAT test), and gives no credentials with it.
func TestSTUNServerAddressForMembersOnly(t *testing.T) {
	a := startAlwaysOn(t)
	b := joinAlwaysOn(t, a, "bob")[0]
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	outsider, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableMetrics())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = outsider.Close() })
	if err := outsider.Connect(ctx, loopbackInfo(a)); err != nil {
		t.Fatal(err)
	}
	if reply, err := turnProto.Call(ctx, outsider, a.ID(), turnRequest{Servers: true}); err == nil {
		t.Fatalf("an outsider learnt the STUN server: %+v", reply)
	}

	reply, err := turnProto.Call(ctx, b.p2p.MemberHost(), a.ID(), turnRequest{Servers: true})
	if err != nil {
		t.Fatal(err)
	}
	if reply.Username != "" || reply.Password != "" || len(reply.URLs) == 0 {
		t.Fatalf("reply %+v: want the URLs and no credentials", reply)
	}
	for _, u := range reply.URLs {
		if _, err := natkind.ParseServer(u); err != nil {
			t.Errorf("the server's own URL does not parse: %v", err)
		}
	}
	if _, err := turnProto.Call(ctx, b.p2p.MemberHost(), a.ID(),
		turnRequest{Servers: true, Peers: []string{a.ID().String()}}); err == nil {
		t.Fatal("asking where the server is while naming a peer was answered")
	}
	if got := a.nat.kind(); got != natkind.Public {
		t.Errorf("the public node reports %s, want public", got)
	}
}
