package transports

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Args are the key=value arguments of a bridge line, as in Tor's bridge lines.
type Args map[string]string

// ArgError reports a bad or missing bridge-line argument, naming it.
type ArgError struct {
	Key string
	Err error
}

func (e *ArgError) Error() string { return fmt.Sprintf("argument %s=: %v", e.Key, e.Err) }
func (e *ArgError) Unwrap() error { return e.Err }

// ErrMissingArg is wrapped by ArgError when a required argument is absent.
var ErrMissingArg = errors.New("missing")

// Required returns the value of key, or an ArgError naming it.
func (a Args) Required(key string) (string, error) {
	v, ok := a[key]
	if !ok || v == "" {
		return "", &ArgError{Key: key, Err: ErrMissingArg}
	}
	return v, nil
}

// Get returns the value of key, or def when it is absent.
func (a Args) Get(key, def string) string {
	if v, ok := a[key]; ok {
		return v
	}
	return def
}

// Bool returns key as a boolean ("1", "true", "0", "false"), or def when absent.
func (a Args) Bool(key string, def bool) (bool, error) {
	v, ok := a[key]
	if !ok {
		return def, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, &ArgError{Key: key, Err: fmt.Errorf("want true or false, got %q", v)}
	}
	return b, nil
}

// Int returns key as an integer in [min, max], or def when absent.
func (a Args) Int(key string, def, min, max int) (int, error) {
	v, ok := a[key]
	if !ok {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < min || n > max {
		return 0, &ArgError{Key: key, Err: fmt.Errorf("want an integer in [%d, %d], got %q", min, max, v)}
	}
	return n, nil
}

// Unknown returns an ArgError for the first key not in known, so a typo in a bridge
// line is named instead of silently ignored.
func (a Args) Unknown(known ...string) error {
	for _, k := range a.Keys() {
		found := false
		for _, kk := range known {
			if k == kk {
				found = true
				break
			}
		}
		if !found {
			return &ArgError{Key: k, Err: fmt.Errorf("unknown argument (known: %s)", strings.Join(known, ", "))}
		}
	}
	return nil
}

// Keys returns the argument names in sorted order, the order bridge lines print them.
func (a Args) Keys() []string {
	keys := make([]string, 0, len(a))
	for k := range a {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Clone returns a copy of a that can be changed without changing a.
func (a Args) Clone() Args {
	c := make(Args, len(a))
	for k, v := range a {
		c[k] = v
	}
	return c
}
