// Package color carries a request's traffic color (SEEDS.md C4) through a context.
//
// A color marks load-test traffic: a service that sees one writes to shadow storage instead of
// production. The color travels between processes in the [Header] header; inside a process it
// travels in the context, where [With] puts it and [From] reads it. The httpmw middleware moves
// it from the header into the context on the way in, and from the context into the header on
// outgoing calls.
//
// A color is a short token: 1 to [MaxLen] characters from [A-Za-z0-9._-]. [Valid] says whether
// a string is one; [With] ignores anything else, so an invalid header value never reaches a
// service as a color.
//
// The package sits on the bottom floor: it imports only the standard library, so that every
// floor can use it.
package color

import "context"

// Header is the HTTP header that carries the color between processes.
const Header = "Bulwark-Color"

// MaxLen is the longest valid color.
const MaxLen = 64

type ctxKey struct{}

// With returns a copy of ctx that carries color c. An empty or invalid c returns ctx unchanged,
// so the color of ctx (if any) stays.
func With(ctx context.Context, c string) context.Context {
	if !Valid(c) {
		return ctx
	}
	return context.WithValue(ctx, ctxKey{}, c)
}

// From returns the color that ctx carries, or "" for uncolored (production) traffic.
func From(ctx context.Context) string {
	c, _ := ctx.Value(ctxKey{}).(string)
	return c
}

// Valid reports whether c is a well-formed color: 1 to MaxLen characters from [A-Za-z0-9._-].
func Valid(c string) bool {
	if len(c) == 0 || len(c) > MaxLen {
		return false
	}
	for i := 0; i < len(c); i++ {
		b := c[i]
		switch {
		case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9', b == '.', b == '_', b == '-':
		default:
			return false
		}
	}
	return true
}
