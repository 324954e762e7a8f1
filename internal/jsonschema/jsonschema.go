// Package jsonschema checks JSON documents against the JSON Schemas (draft 2020-12) that
// the project's docs hold, so tests hold what a tool writes to what its doc promises.
// It knows the keywords those schemas use and refuses a schema with any other.
package jsonschema

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
)

// A Schema is a parsed schema.
type Schema struct{ root map[string]any }

// annotations are keywords that say nothing about validity; any keyword outside these
// and the validating ones is an error, so that a schema cannot promise what is not
// checked.
var annotations = []string{"$schema", "title", "description"}

var validating = []string{"type", "enum", "pattern", "minimum", "properties", "required", "additionalProperties", "items"}

// FromMarkdown reads the schema in the first ```json block after the heading heading
// ("## JSON Schema") of the Markdown file at path.
func FromMarkdown(path, heading string) (*Schema, error) {
	doc, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	_, after, ok := bytes.Cut(doc, []byte("\n"+heading+"\n"))
	if !ok {
		return nil, fmt.Errorf("%s: no heading %q", path, heading)
	}
	_, block, ok := bytes.Cut(after, []byte("```json\n"))
	if !ok {
		return nil, fmt.Errorf("%s: no ```json block after %q", path, heading)
	}
	block, _, ok = bytes.Cut(block, []byte("\n```"))
	if !ok {
		return nil, fmt.Errorf("%s: the ```json block after %q does not end", path, heading)
	}
	return Parse(block)
}

// Parse parses a schema.
func Parse(data []byte) (*Schema, error) {
	var root map[string]any
	if err := json.Unmarshal(data, &root); err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	if err := check(root, "#"); err != nil {
		return nil, err
	}
	return &Schema{root: root}, nil
}

func check(s map[string]any, at string) error {
	for k, v := range s {
		switch {
		case slices.Contains(annotations, k):
		case !slices.Contains(validating, k):
			return fmt.Errorf("schema %s: keyword %q is not checked by this validator", at, k)
		case k == "pattern":
			if _, err := regexp.Compile(v.(string)); err != nil {
				return fmt.Errorf("schema %s: %w", at, err)
			}
		case k == "properties":
			for name, sub := range v.(map[string]any) {
				if err := check(sub.(map[string]any), at+"/properties/"+name); err != nil {
					return err
				}
			}
		case k == "items" || k == "additionalProperties":
			if sub, ok := v.(map[string]any); ok {
				if err := check(sub, at+"/"+k); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// Validate checks the JSON document doc and returns every violation, each naming its
// place in doc.
func (s *Schema) Validate(doc []byte) error {
	d := json.NewDecoder(bytes.NewReader(doc))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return err
	}
	var errs []error
	validate(s.root, v, "", &errs)
	return errors.Join(errs...)
}

func validate(s map[string]any, v any, at string, errs *[]error) {
	fail := func(format string, args ...any) {
		*errs = append(*errs, fmt.Errorf("%s: "+format, append([]any{place(at)}, args...)...))
	}
	if t, ok := s["type"]; ok && !hasType(t, v) {
		fail("want type %v, got %s", t, typeOf(v))
		return
	}
	if e, ok := s["enum"].([]any); ok && !slices.ContainsFunc(e, func(x any) bool { return equal(x, v) }) {
		fail("%v is not one of %v", v, e)
	}
	if p, ok := s["pattern"].(string); ok {
		if str, isStr := v.(string); isStr && !regexp.MustCompile(p).MatchString(str) {
			fail("%q does not match %s", str, p)
		}
	}
	if m, ok := s["minimum"].(float64); ok {
		if n, isNum := v.(json.Number); isNum {
			if f, _ := n.Float64(); f < m {
				fail("%v is below the minimum %v", n, m)
			}
		}
	}
	if obj, ok := v.(map[string]any); ok {
		validateObject(s, obj, at, errs, fail)
	}
	if arr, ok := v.([]any); ok {
		if items, ok := s["items"].(map[string]any); ok {
			for i, item := range arr {
				validate(items, item, fmt.Sprintf("%s[%d]", at, i), errs)
			}
		}
	}
}

func validateObject(s, obj map[string]any, at string, errs *[]error, fail func(string, ...any)) {
	props, _ := s["properties"].(map[string]any)
	for _, r := range asStrings(s["required"]) {
		if _, ok := obj[r]; !ok {
			fail("required key %q is missing", r)
		}
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if sub, ok := props[k].(map[string]any); ok {
			validate(sub, obj[k], at+"."+k, errs)
			continue
		}
		switch extra := s["additionalProperties"].(type) {
		case bool:
			if !extra {
				fail("key %q is not in the schema", k)
			}
		case map[string]any:
			validate(extra, obj[k], at+"."+k, errs)
		}
	}
}

func hasType(t, v any) bool {
	if list, ok := t.([]any); ok {
		return slices.ContainsFunc(list, func(x any) bool { return hasType(x, v) })
	}
	got := typeOf(v)
	return got == t || t == "number" && got == "integer"
}

func typeOf(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case string:
		return "string"
	case json.Number:
		if _, err := x.Int64(); err == nil {
			return "integer"
		}
		return "number"
	case []any:
		return "array"
	}
	return "object"
}

// equal compares an enum's value, decoded as float64, with a document's, decoded with
// json.Number.
func equal(x, v any) bool {
	if n, ok := v.(json.Number); ok {
		f, err := n.Float64()
		return err == nil && x == f
	}
	return x == v
}

func asStrings(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, x := range list {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func place(at string) string {
	if at == "" {
		return "the document"
	}
	return strings.TrimPrefix(at, ".")
}
