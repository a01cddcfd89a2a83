package apiv1

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
)

// MaxRequestSize bounds a request body; every request is a few fields.
const MaxRequestSize = 64 << 10

// MaxResponseSize bounds a response body the client reads, so a confused
// or hostile process on the API port cannot exhaust the CLI's memory.
const MaxResponseSize = 4 << 20

// WriteJSON answers with v as JSON and the given status.
func WriteJSON(w http.ResponseWriter, status int, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		WriteError(w, http.StatusInternalServerError, "encode response")
		return fmt.Errorf("encode response: %w", err)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	// Keep browsers from sniffing a JSON answer into HTML or script.
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	if _, err := w.Write(append(data, '\n')); err != nil {
		return fmt.Errorf("write response: %w", err)
	}
	return nil
}

// WriteError answers with {"error": msg} and the given status.
func WriteError(w http.ResponseWriter, status int, msg string) {
	// Marshalling a struct of one string cannot fail; a write error means
	// the client left, and there is no one left to tell.
	_ = WriteJSON(w, status, ErrorResponse{Error: msg})
}

// ReadJSON decodes a request body into v. It insists on a JSON content
// type: an HTML form cannot send one without a CORS preflight, which the
// API never grants, so this blocks form-based cross-site posts even before
// the token check. Unknown fields are rejected so that a client built for
// a newer API fails loudly instead of having options silently ignored.
// Its errors are meant to be sent back with status 400.
func ReadJSON(r *http.Request, v any) error {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return errors.New("request body must be application/json")
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, MaxRequestSize+1))
	if err != nil {
		return fmt.Errorf("read request body: %w", err)
	}
	if len(data) > MaxRequestSize {
		return fmt.Errorf("request body larger than %d bytes", MaxRequestSize)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return errors.New("empty request body, expected a JSON object")
		}
		return fmt.Errorf("bad request body: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("bad request body: unexpected data after the JSON object")
	}
	return nil
}
