package main

import (
	"errors"
	"io"
	"testing"
	"time"
)

// TestParseConfigPresets: a preset sets the mix and distribution; an
// explicit proportion or distribution flag overrides only its own value.
func TestParseConfigPresets(t *testing.T) {
	cfg, err := parseConfig([]string{"-workload", "E"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Proportions{Scan: 0.95, Insert: 0.05}); cfg.Proportions != want || cfg.Distribution != Zipfian || cfg.Workload != "e" {
		t.Fatalf("workload e: %+v %s %q", cfg.Proportions, cfg.Distribution, cfg.Workload)
	}
	cfg, err = parseConfig([]string{"-workload", "d", "-insertprop", "0.2", "-distribution", "uniform"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Proportions{Read: 0.95, Insert: 0.2}); cfg.Proportions != want || cfg.Distribution != Uniform {
		t.Fatalf("workload d with overrides: %+v %s", cfg.Proportions, cfg.Distribution)
	}
	cfg, err = parseConfig([]string{"-scanprop", "1", "-readprop", "0", "-updateprop", "0", "-pd", "a:1, b:2"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Proportions{Scan: 1}); cfg.Proportions != want || len(cfg.PD) != 2 || cfg.PD[1] != "b:2" {
		t.Fatalf("explicit mix: %+v, pd %q", cfg.Proportions, cfg.PD)
	}
	if cfg.Duration != 10*time.Second || !cfg.HashedKeys {
		t.Fatalf("defaults: duration %v hashed %v", cfg.Duration, cfg.HashedKeys)
	}
	cfg, err = parseConfig([]string{"-operationcount", "5"}, io.Discard)
	if err != nil || cfg.Duration != 0 || cfg.OpCount != 5 {
		t.Fatalf("-operationcount alone: %+v, %v (want no default duration)", cfg, err)
	}
}

// TestParseConfigBadInput: each out-of-domain value is a *FlagError
// naming its flag; unparsable command lines wrap ErrUsage.
func TestParseConfigBadInput(t *testing.T) {
	for _, tc := range []struct {
		args []string
		flag string
	}{
		{[]string{"-mode", "sql"}, "mode"},
		{[]string{"-txnmode", "lazy"}, "txnmode"},
		{[]string{"-txnbatch", "0"}, "txnbatch"},
		{[]string{"-workload", "g"}, "workload"},
		{[]string{"-distribution", "hotspot"}, "distribution"},
		{[]string{"-theta", "1"}, "theta"},
		{[]string{"-recordcount", "0"}, "recordcount"},
		{[]string{"-operationcount", "-1"}, "operationcount"},
		{[]string{"-duration", "-1s"}, "duration"},
		{[]string{"-threads", "0"}, "threads"},
		{[]string{"-valuesize", "-1"}, "valuesize"},
		{[]string{"-scanlength", "0"}, "scanlength"},
		{[]string{"-loadbatch", "0"}, "loadbatch"},
		{[]string{"-insertorder", "random"}, "insertorder"},
		{[]string{"-prefix", ""}, "prefix"},
		{[]string{"-regions", "0"}, "regions"},
		{[]string{"-phase", "warmup"}, "phase"},
		{[]string{"-interval", "-1s"}, "interval"},
		{[]string{"-format", "xml"}, "format"},
		{[]string{"-updateprop", "-0.5"}, "updateprop"},
		{[]string{"-readprop", "0", "-updateprop", "0"}, "readprop"},
		{[]string{"-pd", "a:1,,b:2"}, "pd"},
	} {
		_, err := parseConfig(tc.args, io.Discard)
		var fe *FlagError
		if !errors.As(err, &fe) || fe.Flag != tc.flag {
			t.Errorf("parseConfig(%q) = %v, want *FlagError for -%s", tc.args, err, tc.flag)
		}
	}
	for _, args := range [][]string{{"-threads", "many"}, {"-nosuchflag"}, {"extra"}, {"-h"}} {
		if _, err := parseConfig(args, io.Discard); !errors.Is(err, ErrUsage) {
			t.Errorf("parseConfig(%q) = %v, want ErrUsage", args, err)
		}
	}
}
