package roomnet

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/clubnode/clubnode/audio/audiotest"
	"github.com/clubnode/clubnode/internal/testutil"
)

// A listener keeps a standby link to its first backup, connected and
// carrying nothing; the backup holds it beside its children. When the
// parent goes, the listener activates that standby instead of opening a
// new link (StandbyActivations), and hears the speaker through it.
func TestChildActivatesItsStandby(t *testing.T) {
	media := mediaConfig(t, func(int) int { return 2 }, nil)
	id, s, c, parent, backup := stageChildUnderRelay(t, func(i int, c *Config) { media(i, c); c.StandbyLinks = true })
	testutil.Eventually(t, 20*time.Second, func() error {
		st, _ := c.rooms.Media(id)
		if st.Standby != backup.id {
			return fmt.Errorf("child's standby is %q, want the backup %s", st.Standby, backup.id)
		}
		bst, _ := backup.rooms.Media(id)
		if !slices.Contains(bst.Standbys, c.id) || slices.Contains(bst.Children, c.id) {
			return fmt.Errorf("backup holds standbys %v, children %v", bst.Standbys, bst.Children)
		}
		return nil
	})
	heardAt := listen(t, c, id)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); speak(t, ctx, s, id, audiotest.Speech(8*time.Second, 5)) }()
	defer func() { cancel(); wg.Wait() }()
	waitPackets(t, []*capture{heardAt}, s.id.String(), 25)

	killed := time.Now()
	parent.rooms.media.close()
	testutil.Eventually(t, 10*time.Second, func() error {
		if n := heardAt.countSince(s.id.String(), killed); n < 25 {
			return fmt.Errorf("child heard %d packets since its parent went", n)
		}
		if c.rooms.StandbyActivations() == 0 {
			return errors.New("no standby activated")
		}
		return nil
	})
	st, _ := c.rooms.Media(id)
	t.Logf("activated the standby to %s (now under %s, standby %q); longest silence %v", backup.id, st.Parent, st.Standby,
		heardAt.longestGap(s.id.String(), killed.Add(-100*time.Millisecond)).Round(time.Millisecond))
}
