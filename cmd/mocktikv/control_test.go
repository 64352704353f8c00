package main

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestControlFlag: the command serves the control API by default, and
// -control=false turns it off.
func TestControlFlag(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want int
	}{
		{nil, http.StatusOK},
		{[]string{"-control=false"}, http.StatusNotFound},
	} {
		ctx, cancel := context.WithCancel(context.Background())
		out := &syncBuffer{}
		done := make(chan error, 1)
		go func() { done <- run(ctx, tc.args, out) }()
		var pd string
		for deadline := time.Now().Add(10 * time.Second); pd == "" && time.Now().Before(deadline); {
			if first, _, ok := strings.Cut(out.String(), "\n"); ok {
				pd = strings.TrimPrefix(first, "pd ")
			} else {
				time.Sleep(10 * time.Millisecond)
			}
		}
		require.NotEmpty(t, pd, "no PD address in %q", out.String())
		resp, err := http.Get("http://" + pd + "/mocktikv/v1/regions")
		require.NoError(t, err)
		resp.Body.Close()
		cancel()
		require.NoError(t, <-done)
		require.Equal(t, tc.want, resp.StatusCode, "args %q", tc.args)
	}
}
