// Package testutil holds what the project's tests share.
package testutil

import (
	"testing"
	"time"
)

// Eventually waits for cond to return nil, checking it every 20 ms, and
// fails the test with cond's last error if timeout passes first. Tests wait
// for what they need this way instead of sleeping a guessed time.
func Eventually(t testing.TB, timeout time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %v", timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
