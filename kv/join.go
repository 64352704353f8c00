package kv

import "strings"

// Join returns an error that wraps every non-nil err (errors.Is and
// errors.As see each of them) and whose message is theirs on one line,
// separated by "; ". It returns nil when every err is nil, and the error
// itself when only one is non-nil.
//
// It is errors.Join for messages a caller reads: errors.Join puts a newline
// between the parts, which breaks log lines and error strings that are
// meant to name what happened in one line.
func Join(errs ...error) error {
	n, last := 0, error(nil)
	for _, e := range errs {
		if e != nil {
			n++
			last = e
		}
	}
	switch n {
	case 0:
		return nil
	case 1:
		return last
	}
	j := &joinError{errs: make([]error, 0, n)}
	for _, e := range errs {
		if e != nil {
			j.errs = append(j.errs, e)
		}
	}
	return j
}

type joinError struct{ errs []error }

func (e *joinError) Error() string {
	var b strings.Builder
	for i, err := range e.errs {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(err.Error())
	}
	return b.String()
}

func (e *joinError) Unwrap() []error { return e.errs }
