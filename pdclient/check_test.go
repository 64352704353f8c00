package pdclient

import (
	"cmp"
	"errors"
	"fmt"
	"reflect"
	"testing"
)

// checker is a small assertion helper for this package's tests (the module's
// go.sum does not yet carry testify's yaml dependency). check reports and
// continues; must stops the test.
type checker struct{ fatal bool }

var (
	check = checker{}
	must  = checker{fatal: true}
)

func (c checker) fail(t testing.TB, what string, msgAndArgs []any) bool {
	t.Helper()
	if len(msgAndArgs) > 0 {
		if f, ok := msgAndArgs[0].(string); ok {
			what += ": " + fmt.Sprintf(f, msgAndArgs[1:]...)
		}
	}
	if c.fatal {
		t.Fatal(what)
	}
	t.Error(what)
	return false
}

func (c checker) NoError(t testing.TB, err error, msgAndArgs ...any) bool {
	t.Helper()
	if err != nil {
		return c.fail(t, fmt.Sprintf("unexpected error: %v", err), msgAndArgs)
	}
	return true
}

func (c checker) ErrorIs(t testing.TB, err, target error, msgAndArgs ...any) bool {
	t.Helper()
	if !errors.Is(err, target) {
		return c.fail(t, fmt.Sprintf("error %v is not %v", err, target), msgAndArgs)
	}
	return true
}

func (c checker) Equal(t testing.TB, want, got any, msgAndArgs ...any) bool {
	t.Helper()
	if !reflect.DeepEqual(want, got) {
		return c.fail(t, fmt.Sprintf("got %v, want %v", got, want), msgAndArgs)
	}
	return true
}

func (c checker) Same(t testing.TB, want, got any, msgAndArgs ...any) bool {
	t.Helper()
	if want != got {
		return c.fail(t, fmt.Sprintf("got %p (%v), want the same pointer as %p (%v)", got, got, want, want), msgAndArgs)
	}
	return true
}

func (c checker) True(t testing.TB, v bool, msgAndArgs ...any) bool {
	t.Helper()
	if !v {
		return c.fail(t, "want true", msgAndArgs)
	}
	return true
}

func (c checker) False(t testing.TB, v bool, msgAndArgs ...any) bool {
	t.Helper()
	if v {
		return c.fail(t, "want false", msgAndArgs)
	}
	return true
}

func isNil(v any) bool {
	if v == nil {
		return true
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Interface, reflect.Func, reflect.Chan:
		return rv.IsNil()
	}
	return false
}

func (c checker) Nil(t testing.TB, v any, msgAndArgs ...any) bool {
	t.Helper()
	if !isNil(v) {
		return c.fail(t, fmt.Sprintf("got %v, want nil", v), msgAndArgs)
	}
	return true
}

func (c checker) NotNil(t testing.TB, v any, msgAndArgs ...any) bool {
	t.Helper()
	if isNil(v) {
		return c.fail(t, "want non-nil", msgAndArgs)
	}
	return true
}

func (c checker) Zero(t testing.TB, v any, msgAndArgs ...any) bool {
	t.Helper()
	if v != nil && !reflect.ValueOf(v).IsZero() {
		return c.fail(t, fmt.Sprintf("got %v, want zero", v), msgAndArgs)
	}
	return true
}

func (c checker) Len(t testing.TB, v any, n int, msgAndArgs ...any) bool {
	t.Helper()
	if l := reflect.ValueOf(v).Len(); l != n {
		return c.fail(t, fmt.Sprintf("length %d, want %d", l, n), msgAndArgs)
	}
	return true
}

func (c checker) Empty(t testing.TB, v any, msgAndArgs ...any) bool {
	t.Helper()
	if v != nil && reflect.ValueOf(v).Len() != 0 {
		return c.fail(t, fmt.Sprintf("got %v, want empty", v), msgAndArgs)
	}
	return true
}

func (c checker) NotEmpty(t testing.TB, v any, msgAndArgs ...any) bool {
	t.Helper()
	if v == nil || reflect.ValueOf(v).Len() == 0 {
		return c.fail(t, "want non-empty", msgAndArgs)
	}
	return true
}

func order[T cmp.Ordered](t testing.TB, c checker, a, b T, ok bool, op string, msgAndArgs []any) bool {
	t.Helper()
	if !ok {
		return c.fail(t, fmt.Sprintf("want %v %s %v", a, op, b), msgAndArgs)
	}
	return true
}

func (c checker) LessOrEqual(t testing.TB, a, b int, msgAndArgs ...any) bool {
	t.Helper()
	return order(t, c, a, b, a <= b, "<=", msgAndArgs)
}

func (c checker) Less(t testing.TB, a, b int64, msgAndArgs ...any) bool {
	t.Helper()
	return order(t, c, a, b, a < b, "<", msgAndArgs)
}

func (c checker) GreaterOrEqual(t testing.TB, a, b int64, msgAndArgs ...any) bool {
	t.Helper()
	return order(t, c, a, b, a >= b, ">=", msgAndArgs)
}
