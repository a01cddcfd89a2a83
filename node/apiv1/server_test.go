package apiv1

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestReadJSON(t *testing.T) {
	tests := []struct {
		name, contentType, body, wantErr string
	}{
		{"ok", "application/json", `{"name":"x"}`, ""},
		{"ok with charset", "application/json; charset=utf-8", `{"name":"x"}`, ""},
		{"form post", "application/x-www-form-urlencoded", `name=x`, "application/json"},
		{"text/plain", "text/plain", `{"name":"x"}`, "application/json"},
		{"no content type", "", `{"name":"x"}`, "application/json"},
		{"unknown field", "application/json", `{"name":"x","nmae":"y"}`, "nmae"},
		{"trailing data", "application/json", `{"name":"x"} {}`, "after the JSON object"},
		{"empty", "application/json", ``, "empty request body"},
		{"too large", "application/json", `{"name":"` + strings.Repeat("x", MaxRequestSize) + `"}`, "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, PathNetwork, strings.NewReader(tt.body))
			if tt.contentType != "" {
				r.Header.Set("Content-Type", tt.contentType)
			}
			var req CreateNetworkRequest
			err := ReadJSON(r, &req)
			if tt.wantErr == "" {
				if err != nil || req.Name != "x" {
					t.Fatalf("ReadJSON = %+v, %v", req, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("err = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestWriteJSON(t *testing.T) {
	rec := httptest.NewRecorder()
	if err := WriteJSON(rec, http.StatusCreated, Network{ID: "n"}); err != nil {
		t.Fatal(err)
	}
	if rec.Code != http.StatusCreated || rec.Header().Get("Content-Type") != "application/json" ||
		rec.Header().Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("code %d, header %v", rec.Code, rec.Header())
	}
	if got := rec.Body.String(); got != `{"id":"n","name":"","founder":""}`+"\n" {
		t.Errorf("body = %q", got)
	}
	if err := WriteJSON(httptest.NewRecorder(), 200, func() {}); err == nil {
		t.Error("WriteJSON of a func succeeded")
	}
}
