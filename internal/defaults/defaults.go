// Package defaults fills the unset fields of a Config. A limit or a
// duration that is zero or negative means "the default" everywhere in
// clubnode; cmp.Or covers the fields whose only unset value is zero
// (names, loggers).
package defaults

// Positive returns v, or d when v is zero or negative.
func Positive[T ~int | ~int64](v, d T) T {
	if v <= 0 {
		return d
	}
	return v
}
