// Package version tells which clubnode this binary is, from the build
// information the Go toolchain embeds: the module version (a tag, or
// "(devel)" for a build from a checkout) and the VCS revision it was
// built from.
package version

import (
	"fmt"
	"runtime/debug"
)

// Info describes the running binary.
type Info struct {
	Module    string `json:"module"`
	Version   string `json:"version"`
	Revision  string `json:"revision,omitempty"`
	Time      string `json:"time,omitempty"`     // the revision's commit time
	Modified  bool   `json:"modified,omitempty"` // built from a work tree with changes
	GoVersion string `json:"go_version"`
}

// Get reads the build information. A binary built without module
// support (never the case for clubnode) reports "unknown".
func Get() Info {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return Info{Version: "unknown"}
	}
	return fromBuildInfo(bi)
}

func fromBuildInfo(bi *debug.BuildInfo) Info {
	info := Info{Module: bi.Main.Path, Version: bi.Main.Version, GoVersion: bi.GoVersion}
	if info.Version == "" {
		info.Version = "(devel)"
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			info.Revision = s.Value
		case "vcs.time":
			info.Time = s.Value
		case "vcs.modified":
			info.Modified = s.Value == "true"
		}
	}
	return info
}

// String is one line: "clubnode v1.2.3 (revision abc123, modified) go1.26".
func (i Info) String() string {
	s := "clubnode " + i.Version
	if i.Revision != "" {
		rev := i.Revision
		if len(rev) > 12 {
			rev = rev[:12]
		}
		s += " (revision " + rev
		if i.Modified {
			s += ", modified"
		}
		s += ")"
	}
	if i.GoVersion != "" {
		s += fmt.Sprintf(" %s", i.GoVersion)
	}
	return s
}
