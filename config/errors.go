package config

import (
	"errors"
	"fmt"
	"strings"

	"github.com/umbrella-edge/edge/bridge"
	"github.com/umbrella-edge/edge/internal/statefile"
)

// Errors a caller branches on. They are wrapped in a *FieldError (config files) or a
// *bridge.Error (bridge lines) that says where the problem is.
var (
	// ErrUnknownField: the file has a field the schema does not know, usually a typo.
	ErrUnknownField = errors.New("unknown field")
	// ErrMissing: a required field or bridge-line argument is absent or empty. It is
	// bridge.ErrMissing, so that one errors.Is covers a file and the bridge lines in it.
	ErrMissing = bridge.ErrMissing
	// ErrKeyFileMode: a key file can be read by other users, so it is refused. It is
	// the error of every key file of the module (TLS keys, transport state) alike.
	ErrKeyFileMode = statefile.ErrNotPrivate
)

// FieldError is a problem with one field of a config file:
//
//	gateway.yaml:12: listeners[1].transport: unknown transport "utsl" (known: tcp, utls)
//
// List indexes in Field count from 0.
type FieldError struct {
	File  string
	Line  int // 0 when the field is not in the file (a default, or a missing field)
	Field string
	Err   error
}

func (e *FieldError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	if e.Field != "" {
		b.WriteString(": ")
		b.WriteString(e.Field)
	}
	b.WriteString(": ")
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *FieldError) Unwrap() error { return e.Err }

// Line returns the line of field in the file, or of its nearest enclosing field that is
// in the file ("listeners[1].args.fp" falls back to "listeners[1].args", then
// "listeners[1]"), or 0.
func (s Source) Line(field string) int {
	for field != "" {
		if line, ok := s.Lines[field]; ok {
			return line
		}
		i := strings.LastIndexAny(field, ".[")
		if i < 0 {
			return 0
		}
		field = field[:i]
	}
	return 0
}

// Wrap returns err as a *FieldError naming the file, the line of field and field, for
// problems found after parsing (a listener that cannot bind, a transport argument the
// transport refuses). A nil err stays nil.
func (s Source) Wrap(field string, err error) error {
	if err == nil {
		return nil
	}
	return &FieldError{File: s.File, Line: s.Line(field), Field: field, Err: err}
}
