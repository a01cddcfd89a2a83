package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/clubnode/clubnode/audio/rtc"
	"github.com/clubnode/clubnode/node/apiv1"
	"github.com/clubnode/clubnode/node/home"
)

// The CLI's errors: one line for a person, or under --json one JSON object
// on stderr, {"error": message, "code": code}, for a script.

// cliError is an error with its own code for --json.
type cliError struct {
	code string
	err  error
}

func (e *cliError) Error() string { return e.err.Error() }
func (e *cliError) Unwrap() error { return e.err }

// usageError marks a mistake in the command line itself.
func usageError(err error) error { return &cliError{code: "usage", err: err} }

// codeOfStatus names the daemon's HTTP statuses for scripts.
var codeOfStatus = map[int]string{
	http.StatusBadRequest:          "invalid",
	http.StatusUnauthorized:        "unauthorized",
	http.StatusForbidden:           "not_allowed",
	http.StatusNotFound:            "not_found",
	http.StatusConflict:            "conflict",
	http.StatusGone:                "gone",
	http.StatusTooManyRequests:     "rate_limited",
	http.StatusPreconditionFailed:  "precondition_failed",
	http.StatusBadGateway:          "unreachable",
	http.StatusServiceUnavailable:  "unavailable",
	http.StatusInternalServerError: "internal",
}

// errorCode is the code a script reads for err.
func errorCode(err error) string {
	var ce *cliError
	var nn *noNodeError
	var api *apiv1.APIError
	switch {
	case errors.As(err, &ce):
		return ce.code
	case errors.As(err, &nn):
		return "no_node"
	case errors.Is(err, home.ErrNoDaemon):
		return "no_daemon"
	case errors.As(err, &api):
		if c, ok := codeOfStatus[api.Status]; ok {
			return c
		}
		return fmt.Sprintf("http_%d", api.Status)
	}
	return "error"
}

// reportError prints err to w: a line, or a JSON object under --json.
func reportError(w io.Writer, err error, asJSON bool) {
	if !asJSON {
		fmt.Fprintln(w, "clubnode: "+oneLine(err))
		return
	}
	enc := json.NewEncoder(w)
	_ = enc.Encode(struct {
		Error string `json:"error"`
		Code  string `json:"code"`
	}{oneLine(err), errorCode(err)})
}

// mediaError turns a WHIP or WHEP refusal by the daemon into the daemon's
// own message (an APIError), instead of an HTTP status and escaped JSON.
func mediaError(err error) error {
	var se *rtc.StatusError
	if !errors.As(err, &se) {
		return err
	}
	var body apiv1.ErrorResponse
	if json.Unmarshal([]byte(se.Body), &body) != nil || body.Error == "" {
		body.Error = http.StatusText(se.Code)
	}
	return &apiv1.APIError{Status: se.Code, Message: body.Error}
}
