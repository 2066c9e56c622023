// Package progress carries a progress callback through a context, so long
// steps deep inside a detector (feature extraction over hundreds of
// images) can report how far they are without knowing who listens.
package progress

import "context"

// Func receives the units done so far out of total.
type Func func(done, total int)

type key struct{}

// With returns a context whose Report calls reach fn.
func With(ctx context.Context, fn Func) context.Context {
	return context.WithValue(ctx, key{}, fn)
}

// Report tells the listener in ctx, if any, that done of total units are
// finished.
func Report(ctx context.Context, done, total int) {
	if fn, ok := ctx.Value(key{}).(Func); ok && fn != nil {
		fn(done, total)
	}
}
