package node

import (
	"context"
	"testing"

	"github.com/clubnode/clubnode/node/apiv1"
)

// A member's support link is part of the signed profile: set with the
// profile, kept when a later change leaves it out, removable, and refused
// unless it is a web address (issue 16).
func TestProfileSupportLinkThroughAPI(t *testing.T) {
	ctx := context.Background()
	a := startTestNode(t, "a")
	if _, err := a.CreateNetwork(ctx, apiv1.CreateNetworkRequest{Name: "Night Owls"}); err != nil {
		t.Fatal(err)
	}
	link := "https://tips.example/alice"
	m, err := a.SetProfile(ctx, apiv1.SetProfileRequest{Name: "Alice", Bio: "hosts", Support: &link})
	if err != nil || m.Support != link {
		t.Fatalf("set: %+v, %v", m, err)
	}
	if m, err = a.SetProfile(ctx, apiv1.SetProfileRequest{Name: "Alice", Bio: "hosts at night"}); err != nil || m.Support != link {
		t.Fatalf("a change without the link dropped it: %+v, %v", m, err)
	}
	bad := "javascript:alert(1)"
	if _, err := a.SetProfile(ctx, apiv1.SetProfileRequest{Name: "Alice", Support: &bad}); statusOf(err) != 400 {
		t.Fatalf("a javascript: link: %v", err)
	}
	none := ""
	if m, err = a.SetProfile(ctx, apiv1.SetProfileRequest{Name: "Alice", Support: &none}); err != nil || m.Support != "" {
		t.Fatalf("removing the link: %+v, %v", m, err)
	}
}
