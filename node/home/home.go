// Package home knows the layout of a node's home folder: the config file,
// the datastore, and the two files through which a running daemon tells
// its CLI where its local API listens and which token it expects.
package home

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// EnvVar names the environment variable that selects the home folder when
// no --home flag is given.
const EnvVar = "CLUBNODE_HOME"

// DefaultDirName is the home folder's name under the user's home directory.
const DefaultDirName = ".clubnode"

// Names of the entries inside a home folder.
const (
	ConfigFile   = "config.json"
	DatastoreDir = "datastore"
	APIFile      = "api"
	TokenFile    = "api-token"
)

// Resolve picks the home folder: the --home flag value if set, else
// $CLUBNODE_HOME, else ~/.clubnode. The result is absolute so that error
// messages and the api file name the same folder whatever the working
// directory of the process reading them.
func Resolve(flagValue string) (string, error) {
	dir := flagValue
	if dir == "" {
		dir = os.Getenv(EnvVar)
	}
	if dir == "" {
		userHome, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("resolve home folder (set --home or $%s): %w", EnvVar, err)
		}
		dir = filepath.Join(userHome, DefaultDirName)
	}
	// A literal "~" reaches us when the value came from a unit file or a
	// quoted shell word; expanding it is what the user meant.
	if dir == "~" || strings.HasPrefix(dir, "~"+string(filepath.Separator)) {
		userHome, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("resolve home folder %q: %w", dir, err)
		}
		dir = filepath.Join(userHome, dir[1:])
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("resolve home folder %q: %w", dir, err)
	}
	return abs, nil
}

// Home is a node's home folder.
type Home struct {
	Dir string
}

// ConfigPath is the node's config file.
func (h Home) ConfigPath() string { return filepath.Join(h.Dir, ConfigFile) }

// DatastorePath is the folder of the node's on-disk datastore.
func (h Home) DatastorePath() string { return filepath.Join(h.Dir, DatastoreDir) }

// APIFilePath is the file in which a running daemon publishes its API
// address (one line, host:port).
func (h Home) APIFilePath() string { return filepath.Join(h.Dir, APIFile) }

// TokenPath is the file holding the API token the CLI must present.
func (h Home) TokenPath() string { return filepath.Join(h.Dir, TokenFile) }

// Exists reports whether the home folder was initialised, that is whether
// its config file is present. Other errors (permissions) are returned
// rather than read as "not initialised", so init never overwrites a home
// it merely could not read.
func (h Home) Exists() (bool, error) {
	_, err := os.Stat(h.ConfigPath())
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	default:
		return false, fmt.Errorf("check home %s: %w", h.Dir, err)
	}
}

// EnsureDir creates the home folder and its datastore folder, readable by
// the owner only: the folder holds the node's private key and API token.
func (h Home) EnsureDir() error {
	if err := os.MkdirAll(h.DatastorePath(), 0o700); err != nil {
		return fmt.Errorf("create home %s: %w", h.Dir, err)
	}
	return nil
}
