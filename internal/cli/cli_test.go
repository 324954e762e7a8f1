package cli

import (
	"errors"
	"flag"
	"io"
	"strings"
	"testing"
)

func TestParseFlags(t *testing.T) {
	tests := []struct {
		args    []string
		wantErr string // "" for none
	}{
		{args: []string{"--config", "x.yaml"}},
		{args: []string{"--config", "x.yaml", "extra"}, wantErr: `unexpected argument "extra"`},
		{args: []string{"--nope"}, wantErr: "flag provided but not defined: -nope"},
	}
	for _, tt := range tests {
		var out strings.Builder
		fs := NewFlagSet("umbrella test", "Tests the flags.", &out)
		fs.String("config", "", "a `file`")
		err := ParseFlags(fs, tt.args)
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("ParseFlags(%q) = %v", tt.args, err)
		case tt.wantErr != "" && (err == nil || err.Error() != tt.wantErr):
			t.Errorf("ParseFlags(%q) = %v, want %q", tt.args, err, tt.wantErr)
		case tt.wantErr != "":
			if !errors.As(err, new(FlagError)) {
				t.Errorf("ParseFlags(%q) = %T, want a FlagError (already printed)", tt.args, err)
			}
			if !strings.Contains(out.String(), "Usage: umbrella test [flags]\n\nTests the flags.") {
				t.Errorf("ParseFlags(%q) printed %q, want the usage", tt.args, out.String())
			}
		}
	}
}

func TestHelpIsNotAFailure(t *testing.T) {
	fs := NewFlagSet("umbrella test", "Tests the flags.", io.Discard)
	if err := ParseFlags(fs, []string{"--help"}); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("ParseFlags(--help) = %v, want flag.ErrHelp (which Exit treats as success)", err)
	}
}

func TestNewLoggerNamesTheLevels(t *testing.T) {
	for _, level := range []string{"debug", "info", "warn", "error", "INFO"} {
		if _, err := NewLogger(io.Discard, level); err != nil {
			t.Errorf("NewLogger(%q): %v", level, err)
		}
	}
	_, err := NewLogger(io.Discard, "verbose")
	if err == nil || !strings.Contains(err.Error(), "want debug, info, warn or error") {
		t.Errorf("NewLogger(verbose) = %v, want an error naming the levels", err)
	}
}

func TestExitErrorKeepsItsCause(t *testing.T) {
	cause := errors.New("unhealthy")
	err := error(ExitError{Code: 1, Err: cause})
	var ee ExitError
	if !errors.As(err, &ee) || ee.Code != 1 || !errors.Is(err, cause) || err.Error() != "unhealthy" {
		t.Errorf("ExitError = %v (code %d), want code 1 wrapping %v", err, ee.Code, cause)
	}
}
