// Package webui is the browser app the daemon serves on its local API
// address: plain HTML, CSS and JavaScript modules under static/, embedded
// in the binary, with no build step. static/README.md maps its files.
//
// The app talks only to its own node: the JSON API under /api/v1 (with
// the session cookie and the CSRF header), the event stream, and the
// node's WHIP and WHEP endpoints for the microphone and the room's sound.
package webui

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed static
var static embed.FS

// AssetPrefix is where the app's files are served; "/" serves index.html.
const AssetPrefix = "/app/"

// ContentSecurityPolicy allows the page its own files, its own API and
// nothing else: no inline script, no third-party origin, no framing (so no
// other page can overlay it to steal clicks). data: images are the QR
// codes the page draws; blob: and mediastream: carry the room's sound.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; media-src 'self' blob: mediastream:; manifest-src 'self'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// file is one embedded file, ready to serve.
type file struct {
	data []byte
	etag string
}

// Handler serves the app. Build it once; it hashes every file for ETags.
type Handler struct {
	files map[string]file // by path under static/, e.g. "index.html"
}

// New reads the embedded files.
func New() (*Handler, error) {
	h := &Handler{files: map[string]file{}}
	err := fs.WalkDir(static, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := static.ReadFile(p)
		if err != nil {
			return fmt.Errorf("read %s: %w", p, err)
		}
		sum := sha256.Sum256(data)
		h.files[strings.TrimPrefix(p, "static/")] = file{data: data, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("web UI files: %w", err)
	}
	if _, ok := h.files["index.html"]; !ok {
		return nil, fmt.Errorf("web UI files: index.html missing")
	}
	return h, nil
}

// Index serves the app's page (GET /).
func (h *Handler) Index(w http.ResponseWriter, r *http.Request) { h.serve(w, r, "index.html") }

// Asset serves a file under AssetPrefix; AssetPrefix itself is the app's
// page, as "/" is.
func (h *Handler) Asset(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, AssetPrefix)
	if name == "" {
		name = "index.html"
	}
	if path.Clean("/"+name) != "/"+name {
		http.NotFound(w, r)
		return
	}
	h.serve(w, r, name)
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request, name string) {
	f, ok := h.files[name]
	if !ok {
		http.NotFound(w, r)
		return
	}
	hdr := w.Header()
	SecurityHeaders(hdr)
	// Revalidate every time: a daemon upgrade must not leave a browser
	// running old modules against a new API. The ETag makes that cheap.
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("ETag", f.etag)
	if ct := contentType(name); ct != "" {
		hdr.Set("Content-Type", ct)
	}
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(f.data))
}

// SecurityHeaders sets the headers every page of the app carries.
func SecurityHeaders(hdr http.Header) {
	hdr.Set("Content-Security-Policy", ContentSecurityPolicy)
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("X-Frame-Options", "DENY")
	hdr.Set("Referrer-Policy", "no-referrer")
	hdr.Set("Cross-Origin-Opener-Policy", "same-origin")
	hdr.Set("Cross-Origin-Resource-Policy", "same-origin")
	hdr.Set("Permissions-Policy", "microphone=(self), camera=(), geolocation=()")
}

// contentType names the types the app uses, so they do not depend on the
// machine's MIME tables: a module script served as text/plain does not run.
func contentType(name string) string {
	switch path.Ext(name) {
	case ".html":
		return "text/html; charset=utf-8"
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".svg":
		return "image/svg+xml"
	case ".json", ".webmanifest":
		return "application/json"
	case ".md", ".txt":
		return "text/plain; charset=utf-8"
	}
	return ""
}
