package roomnet

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/clubnode/clubnode/audio/audiotest"
	"github.com/clubnode/clubnode/internal/testutil"
	"github.com/clubnode/clubnode/rooms"
)

// TestChildFailsOverToItsBackup: the host names a backup parent with each
// listener's assignment; when the parent goes, the child links to that
// backup without asking the host (counted by LinkFailovers), hears the
// speaker again through it, and the host, told where it went, keeps it
// there.
func TestChildFailsOverToItsBackup(t *testing.T) {
	id, s, c, parent, other := stageChildUnderRelay(t, mediaConfig(t, func(int) int { return 2 }, nil))
	heardAt := listen(t, c, id)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); speak(t, ctx, s, id, audiotest.Speech(8*time.Second, 5)) }()
	defer func() { cancel(); wg.Wait() }()
	waitPackets(t, []*capture{heardAt}, s.id.String(), 25)

	killed := time.Now()
	parent.close()
	testutil.Eventually(t, 10*time.Second, func() error {
		if n := heardAt.countSince(s.id.String(), killed); n < 25 {
			return fmt.Errorf("child heard %d packets since its parent died", n)
		}
		if n := c.rooms.LinkFailovers(); n == 0 {
			return fmt.Errorf("no failover to a backup")
		}
		return nil
	})
	// A loaded machine may have moved it on since (a heartbeat late,
	// the host's better place): where it hangs now is only logged.
	st, _ := c.rooms.Media(id)
	t.Logf("failed over (backup %s, now under %s); longest silence %v", other.id, st.Parent,
		heardAt.longestGap(s.id.String(), killed.Add(-100*time.Millisecond)).Round(time.Millisecond))
}

// stageChildUnderRelay starts five members with cfg and stages a room
// whose speaker s is heard by two relays and a child c placed in that
// order, so that c hangs under one relay (parent) with the other as its
// backup; it fails the test if the host placed them otherwise.
func stageChildUnderRelay(t *testing.T, cfg func(int, *Config)) (id rooms.RoomID, s, c, parent, backup *member) {
	t.Helper()
	ms := startMembersWith(t, 5, cfg)
	h, s, r1, r2, c := ms[0], ms[1], ms[2], ms[3], ms[4]
	id = stageInOrder(t, h, []*member{r1, r2, c}, s)
	st, _ := c.rooms.Media(id)
	parent, backup = r1, r2
	if st.Parent == r2.id {
		parent, backup = r2, r1
	}
	if st.Parent != parent.id || !slices.Contains(st.Backups, backup.id) {
		t.Fatalf("child hangs under %s with backups %v; want a relay with the other one as backup", st.Parent, st.Backups)
	}
	return id, s, c, parent, backup
}
