//go:build !linux

package netlab

import "errors"

// Do needs Linux network namespaces; New skips the test elsewhere.
func (h *Host) Do(func() error) error {
	return errors.New("netlab: network namespaces are Linux only")
}
