// Package pionlog routes pion's logs (WebRTC, ICE, TURN) into slog.
package pionlog

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/pion/logging"
)

// Factory routes pion's logs into log, one level down: pion warns about
// routine events (streams closed while closing, ping before candidates
// arrive) and logs every state change at Info, so its Info and Warn go to
// Debug and its Error to Warn. Trace goes below Debug.
func Factory(log *slog.Logger) logging.LoggerFactory { return factory{log: log} }

type factory struct{ log *slog.Logger }

func (f factory) NewLogger(scope string) logging.LeveledLogger {
	return pionLogger{log: f.log.With("pion", scope)}
}

type pionLogger struct{ log *slog.Logger }

const levelTrace = slog.LevelDebug - 4

func (p pionLogger) emit(level slog.Level, msg string) {
	p.log.Log(context.Background(), level, msg)
}

func (p pionLogger) emitf(level slog.Level, format string, args ...any) {
	if !p.log.Enabled(context.Background(), level) {
		return // skip formatting what nobody will read
	}
	p.log.Log(context.Background(), level, fmt.Sprintf(format, args...))
}

func (p pionLogger) Trace(msg string)                  { p.emit(levelTrace, msg) }
func (p pionLogger) Tracef(format string, args ...any) { p.emitf(levelTrace, format, args...) }
func (p pionLogger) Debug(msg string)                  { p.emit(slog.LevelDebug, msg) }
func (p pionLogger) Debugf(format string, args ...any) { p.emitf(slog.LevelDebug, format, args...) }
func (p pionLogger) Info(msg string)                   { p.emit(slog.LevelDebug, msg) }
func (p pionLogger) Infof(format string, args ...any)  { p.emitf(slog.LevelDebug, format, args...) }
func (p pionLogger) Warn(msg string)                   { p.emit(slog.LevelDebug, msg) }
func (p pionLogger) Warnf(format string, args ...any)  { p.emitf(slog.LevelDebug, format, args...) }
func (p pionLogger) Error(msg string)                  { p.emit(slog.LevelWarn, msg) }
func (p pionLogger) Errorf(format string, args ...any) { p.emitf(slog.LevelWarn, format, args...) }
