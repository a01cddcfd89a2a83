package webui

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHandlerServesTheApp(t *testing.T) {
	h, err := New()
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", h.Index)
	mux.HandleFunc("GET "+AssetPrefix, h.Asset)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	tests := []struct {
		path, wantType string
		wantCode       int
	}{
		{"/", "text/html; charset=utf-8", 200},
		{"/app/js/main.js", "text/javascript; charset=utf-8", 200},
		{"/app/js/views/room.js", "text/javascript; charset=utf-8", 200},
		{"/app/css/app.css", "text/css; charset=utf-8", 200},
		{"/app/icon.svg", "image/svg+xml", 200},
		{"/app/", "text/html; charset=utf-8", 200}, // the README's other address of the app
		{"/app/nope.js", "", 404},
		{"/app/../webui.go", "", 404},
		{"/app/js/../../webui.go", "", 404},
		{"/app/%2e%2e/webui.go", "", 404},
	}
	for _, tt := range tests {
		resp, err := http.Get(srv.URL + tt.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.wantCode {
			t.Errorf("%s: %d, want %d", tt.path, resp.StatusCode, tt.wantCode)
			continue
		}
		if tt.wantCode != 200 {
			continue
		}
		if got := resp.Header.Get("Content-Type"); got != tt.wantType {
			t.Errorf("%s: Content-Type %q, want %q", tt.path, got, tt.wantType)
		}
		for _, hdr := range []string{"Content-Security-Policy", "X-Frame-Options", "X-Content-Type-Options", "ETag"} {
			if resp.Header.Get(hdr) == "" {
				t.Errorf("%s: no %s", tt.path, hdr)
			}
		}
		if len(body) == 0 {
			t.Errorf("%s: empty", tt.path)
		}
		// Revalidation answers 304 without the body.
		req, _ := http.NewRequest(http.MethodGet, srv.URL+tt.path, nil)
		req.Header.Set("If-None-Match", resp.Header.Get("ETag"))
		again, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		again.Body.Close()
		if again.StatusCode != http.StatusNotModified {
			t.Errorf("%s with its ETag: %d, want 304", tt.path, again.StatusCode)
		}
	}
}

// TestNoInlineCode: the CSP forbids inline scripts and styles, so the
// files must not rely on them (they would silently not run).
func TestNoInlineCode(t *testing.T) {
	h, err := New()
	if err != nil {
		t.Fatal(err)
	}
	for name, f := range h.files {
		text := string(f.data)
		switch {
		case strings.HasSuffix(name, ".html"):
			for _, bad := range []string{"<script>", "style=", "onclick=", "<style"} {
				if strings.Contains(text, bad) {
					t.Errorf("%s contains %q, which the CSP blocks", name, bad)
				}
			}
		case strings.HasSuffix(name, ".js"):
			for _, bad := range []string{"innerHTML", "eval(", "new Function", "setAttribute('style'"} {
				if strings.Contains(text, bad) {
					t.Errorf("%s uses %s", name, bad)
				}
			}
		}
	}
}

func TestSignInPage(t *testing.T) {
	page, err := SignInPage("http://127.0.0.1:7700/login?token=abc&x=<b>")
	if err != nil {
		t.Fatal(err)
	}
	if want := `content="0;url=http://127.0.0.1:7700/login?token=abc&amp;x=&lt;b&gt;"`; !strings.Contains(string(page), want) {
		t.Errorf("page lacks %s:\n%s", want, page)
	}
	for _, bad := range []string{"javascript:alert(1)", "file:///etc/passwd", "http://", "::"} {
		if _, err := SignInPage(bad); err == nil {
			t.Errorf("SignInPage(%q) accepted it", bad)
		}
	}
}
