// Package cli is the command-line plumbing that the umbrella binaries share: flag sets
// whose --help says what a command is for, flag errors printed once, exit codes, logs.
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
)

// NewFlagSet returns a flag set for the command invoked as usageName ("umbrella
// client") whose --help prints what the command is for.
func NewFlagSet(usageName, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(usageName, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: %s [flags]\n\n%s\n\nFlags:\n", usageName, strings.TrimSpace(synopsis))
		fs.PrintDefaults()
	}
	return fs
}

// FlagError is a command-line error the flag package has already printed, with usage.
type FlagError struct{ error }

func (e FlagError) Unwrap() error { return e.error }

// ExitError is an error whose command asks for an exit status other than 2 (health's
// 1, which container engines read as "unhealthy").
type ExitError struct {
	Code int
	Err  error
}

func (e ExitError) Error() string { return e.Err.Error() }
func (e ExitError) Unwrap() error { return e.Err }

// ParseFlags parses args into fs and refuses arguments that are not flags.
func ParseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return FlagError{err}
	}
	if fs.NArg() > 0 {
		err := fmt.Errorf("unexpected argument %q", fs.Arg(0))
		fmt.Fprintln(fs.Output(), err)
		fs.Usage()
		return FlagError{err}
	}
	return nil
}

// NewLogger returns a text logger at level ("debug", "info", "warn", "error").
func NewLogger(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: want debug, info, warn or error", level)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l})), nil
}

// Exit ends the program prog after its command returned err: status 0 for none or
// for --help, the ExitError's code, or 2; the error is printed unless the flag package
// already did.
func Exit(prog string, err error) {
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return // --help asked for the usage it printed
	}
	var fe FlagError
	if !errors.As(err, &fe) {
		fmt.Fprintf(os.Stderr, "%s: %v\n", prog, err)
	}
	code := 2
	if ee := (ExitError{}); errors.As(err, &ee) {
		code = ee.Code
	}
	os.Exit(code)
}
