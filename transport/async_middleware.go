package transport

import "context"

// After sees the outcome of an attempt and may replace it: the second
// half of a middleware built with Around.
type After func(*Response, error) (*Response, error)

// Around builds a Middleware from before, which runs as each attempt
// enters the layer and returns the context and request for the rest of
// the chain, and an After (nil for none) for the outcome; an error from
// before refuses the attempt (the rest of the chain never sees it; wrap
// ErrNotSent, as for any layer that refuses).
//
// A layer written as a Send function can only wait, so an asynchronous
// send through it costs a goroutine (SendAsync falls back to one). A
// layer built by Around keeps it asynchronous: its Sender is an
// AsyncSender, before runs on the caller's goroutine and After on the
// goroutine that settles the request (for the Pool, a stream's receive
// loop), so After must be quick and must not block. Around suits layers
// that tag, encode, count or refuse; a layer that must wait around the
// call (a limiter's permit held for the call's duration is fine: release
// it in After) or retry is written as a plain Middleware.
func Around(before func(ctx context.Context, req *Request) (context.Context, *Request, After, error)) Middleware {
	return func(next Sender) Sender {
		return &aroundSender{before: before, next: next}
	}
}

type aroundSender struct {
	before func(ctx context.Context, req *Request) (context.Context, *Request, After, error)
	next   Sender
}

func (s *aroundSender) Send(ctx context.Context, req *Request) (*Response, error) {
	ctx, req, after, err := s.before(ctx, req)
	if err != nil {
		return nil, err
	}
	resp, err := s.next.Send(ctx, req)
	if after != nil {
		return after(resp, err)
	}
	return resp, err
}

func (s *aroundSender) SendAsync(ctx context.Context, req *Request, cb Callback) {
	ctx, req, after, err := s.before(ctx, req)
	if err != nil {
		cb(nil, err)
		return
	}
	if after == nil {
		SendAsync(ctx, s.next, req, cb)
		return
	}
	SendAsync(ctx, s.next, req, func(resp *Response, err error) { cb(after(resp, err)) })
}

// SenderFuncs makes an AsyncSender of two functions, for a layer that
// decides per request how to send (Send) and how to send asynchronously
// (SendAsync; nil: SendAsync runs Send on a goroutine).
type SenderFuncs struct {
	SendFunc      SenderFunc
	SendAsyncFunc func(ctx context.Context, req *Request, cb Callback)
}

// Send calls f.SendFunc.
func (f SenderFuncs) Send(ctx context.Context, req *Request) (*Response, error) {
	return f.SendFunc(ctx, req)
}

// SendAsync calls f.SendAsyncFunc, or runs f.SendFunc on a goroutine.
func (f SenderFuncs) SendAsync(ctx context.Context, req *Request, cb Callback) {
	if f.SendAsyncFunc == nil {
		SendAsync(ctx, f.SendFunc, req, cb)
		return
	}
	f.SendAsyncFunc(ctx, req, cb)
}
