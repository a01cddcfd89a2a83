package version

import (
	"runtime/debug"
	"strings"
	"testing"
)

func TestFromBuildInfo(t *testing.T) {
	bi := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/clubnode/clubnode", Version: "v0.3.0"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "0123456789abcdef0123"}, {Key: "vcs.modified", Value: "true"},
			{Key: "vcs.time", Value: "2026-01-02T03:04:05Z"}}}
	got := fromBuildInfo(bi)
	if got.Version != "v0.3.0" || got.Revision != "0123456789abcdef0123" || !got.Modified || got.Time == "" {
		t.Fatalf("got %+v", got)
	}
	if s := got.String(); s != "clubnode v0.3.0 (revision 0123456789ab, modified) go1.26.8" {
		t.Fatalf("String() = %q", s)
	}
}

func TestDevelBuild(t *testing.T) {
	got := fromBuildInfo(&debug.BuildInfo{Main: debug.Module{Path: "github.com/clubnode/clubnode"}})
	if got.Version != "(devel)" || strings.Contains(got.String(), "revision") {
		t.Fatalf("got %+v, %q", got, got.String())
	}
}
