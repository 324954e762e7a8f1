package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// decoder walks a yaml.Node tree by hand rather than letting yaml.Unmarshal fill
// structs, so that every error can name its file, line and field path, unknown fields
// are caught, and all problems of a file are reported at once.
type decoder struct {
	src  Source
	errs []*FieldError
	// misspelt holds the field paths that an unknown field was taken for a typo of,
	// so that the field is not also reported missing.
	misspelt map[string]bool
}

func newDecoder(file string) *decoder {
	return &decoder{src: Source{File: file, Lines: make(map[string]int)}, misspelt: make(map[string]bool)}
}

// fail records a problem with field, found at line.
func (d *decoder) fail(line int, field string, err error) {
	d.errs = append(d.errs, &FieldError{File: d.src.File, Line: line, Field: field, Err: err})
}

func (d *decoder) failf(line int, field, format string, args ...any) {
	d.fail(line, field, fmt.Errorf(format, args...))
}

// err returns every problem found, in file order, or nil.
func (d *decoder) err() error {
	sort.SliceStable(d.errs, func(i, j int) bool {
		return d.errs[i].Line < d.errs[j].Line
	})
	errs := make([]error, len(d.errs))
	for i, fe := range d.errs {
		errs[i] = fe
	}
	return errors.Join(errs...)
}

var yamlLineErr = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parseDocument parses data as exactly one YAML document and returns its top node, or
// nil for an empty file.
func (d *decoder) parseDocument(data []byte) *yaml.Node {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil
		}
		d.yamlError(err)
		return nil
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err != nil {
			d.yamlError(err)
		} else {
			d.failf(extra.Line, "", "a second YAML document (---): a config file holds one")
		}
		return nil
	}
	if len(doc.Content) == 0 {
		return nil
	}
	return doc.Content[0]
}

// yamlError turns yaml's "yaml: line 3: …" into "file:3: …".
func (d *decoder) yamlError(err error) {
	msg := strings.TrimSpace(err.Error())
	if m := yamlLineErr.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		d.fail(line, "", errors.New(m[2]))
		return
	}
	d.fail(0, "", errors.New(strings.TrimPrefix(msg, "yaml: ")))
}

// plain refuses aliases, so a small file cannot expand into a huge one and every value
// sits on the line an error names.
func (d *decoder) plain(n *yaml.Node, field string) bool {
	if n.Kind == yaml.AliasNode {
		d.failf(n.Line, field, "YAML aliases (*%s) are not supported: write the value out", n.Value)
		return false
	}
	return true
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	}
	return "a value"
}

// fields calls set for each key of the mapping n that fields knows; an unknown or
// repeated key is an error. A null n is an empty mapping.
func (d *decoder) fields(n *yaml.Node, path string, fields map[string]func(v *yaml.Node, field string)) {
	d.mapping(n, path, func(key string, keyLine int, v *yaml.Node, field string) {
		set, ok := fields[key]
		if !ok {
			hint, typoOf := suggest(key, fields)
			if typoOf != "" {
				d.misspelt[join(path, typoOf)] = true
			}
			d.fail(keyLine, field, fmt.Errorf("%w%s", ErrUnknownField, hint))
			return
		}
		set(v, field)
	})
}

// mapping calls each for every key of the mapping n, with the key's field path.
func (d *decoder) mapping(n *yaml.Node, path string, each func(key string, keyLine int, v *yaml.Node, field string)) {
	if !d.plain(n, path) || isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.failf(n.Line, path, "want a mapping (key: value), got %s", kindName(n))
		return
	}
	seen := make(map[string]bool, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode || k.ShortTag() == "!!merge" {
			d.failf(k.Line, path, "keys must be plain values (no merge keys or complex keys)")
			continue
		}
		field := join(path, k.Value)
		if seen[k.Value] {
			d.failf(k.Line, field, "given twice")
			continue
		}
		seen[k.Value] = true
		d.src.Lines[field] = k.Line
		if d.plain(v, field) {
			each(k.Value, k.Line, v, field)
		}
	}
}

// list calls each for every item of the sequence n. A null n is an empty list.
func (d *decoder) list(n *yaml.Node, path string, each func(item *yaml.Node, field string)) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.SequenceNode {
		d.failf(n.Line, path, "want a list, got %s", kindName(n))
		return
	}
	for i, item := range n.Content {
		field := fmt.Sprintf("%s[%d]", path, i)
		d.src.Lines[field] = item.Line
		if d.plain(item, field) {
			each(item, field)
		}
	}
}

// str decodes a scalar as a string; null is "". Numbers and booleans are taken as
// written, so "admin: 9090" reaches the host:port check and is named there.
func (d *decoder) str(n *yaml.Node, field string) string {
	if n.Kind != yaml.ScalarNode {
		d.failf(n.Line, field, "want a single value, got %s", kindName(n))
		return ""
	}
	if isNull(n) {
		return ""
	}
	return n.Value
}

func (d *decoder) integer(n *yaml.Node, field string) int {
	if isNull(n) {
		return 0
	}
	var v int
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&v) != nil {
		d.failf(n.Line, field, "want an integer, got %s", describe(n))
		return 0
	}
	return v
}

func (d *decoder) boolean(n *yaml.Node, field string) bool {
	if isNull(n) {
		return false
	}
	var v bool
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" || n.Decode(&v) != nil {
		d.failf(n.Line, field, "want true or false, got %s", describe(n))
		return false
	}
	return v
}

func (d *decoder) duration(n *yaml.Node, field string) time.Duration {
	if isNull(n) {
		return 0
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!str" {
		if v, err := time.ParseDuration(n.Value); err == nil {
			return v
		}
	}
	d.failf(n.Line, field, "want a duration with a unit, such as 10s or 1m30s, got %s", describe(n))
	return 0
}

// stringMap decodes a mapping of single values; null is an empty map.
func (d *decoder) stringMap(n *yaml.Node, path string) map[string]string {
	var m map[string]string
	d.mapping(n, path, func(key string, _ int, v *yaml.Node, field string) {
		if m == nil {
			m = make(map[string]string)
		}
		m[key] = d.str(v, field)
	})
	return m
}

// sortedKeys returns m's keys in order, so that problems are reported in the same
// order on every run.
func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func describe(n *yaml.Node) string {
	if n.Kind != yaml.ScalarNode {
		return kindName(n)
	}
	return strconv.Quote(shorten(n.Value))
}

// join appends key to a field path: "services.mls", or `forwards["127.0.0.1:7443"]`
// for keys that would be ambiguous after a dot.
func join(path, key string) string {
	plain := key != ""
	for _, c := range []byte(key) {
		if !isAlnum(c) && c != '_' && c != '-' {
			plain = false
			break
		}
	}
	switch {
	case !plain:
		return path + "[" + strconv.Quote(key) + "]"
	case path == "":
		return key
	}
	return path + "." + key
}

// suggest names the known field closest to a misspelt one, or lists them all.
func suggest(key string, fields map[string]func(*yaml.Node, string)) (hint, typoOf string) {
	names := make([]string, 0, len(fields))
	for name := range fields {
		names = append(names, name)
	}
	sort.Strings(names)
	best, bestDist := "", 3 // more than two edits away is not a typo
	for _, name := range names {
		if dist := editDistance(key, name); dist < bestDist {
			best, bestDist = name, dist
		}
	}
	if best != "" {
		return fmt.Sprintf(" (did you mean %s?)", best), best
	}
	return " (known: " + strings.Join(names, ", ") + ")", ""
}

// editDistance is the Levenshtein distance between a and b (short strings only).
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 64
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// expandPath resolves "~/" to the home directory and a relative path against the
// directory of the config file, so a config means the same whatever the working
// directory of the process.
func expandPath(p, configFile string) (string, error) {
	if p == "~" || strings.HasPrefix(p, "~/") {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("expand ~: %w", err)
		}
		return filepath.Join(home, p[1:]), nil
	}
	if strings.HasPrefix(p, "~") {
		return "", errors.New(`only "~/" is expanded, not "~user/"`)
	}
	if p == "" || filepath.IsAbs(p) {
		return p, nil
	}
	return filepath.Join(filepath.Dir(configFile), p), nil
}

// readConfig reads a config file, naming it in the error.
func readConfig(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return data, nil
}

// shorten keeps an echoed value short enough for one line of an error message.
func shorten(s string) string {
	if len(s) > 32 {
		return s[:32] + "…"
	}
	return s
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}
