package jsonschema

import (
	"strings"
	"testing"
)

const schema = `{
  "title": "t",
  "type": "object",
  "additionalProperties": false,
  "required": ["name", "n"],
  "properties": {
    "name": {"type": "string", "pattern": "^[a-z]+$"},
    "n": {"type": "integer", "minimum": 1},
    "x": {"type": ["number", "null"]},
    "kind": {"enum": ["a", "b", null]},
    "tags": {"type": "array", "items": {"type": "string"}},
    "meta": {"type": "object", "additionalProperties": {"type": "string"}}
  }
}`

func TestValidate(t *testing.T) {
	s, err := Parse([]byte(schema))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, doc, want string // want: "" for valid, else a part of the error
	}{
		{"valid", `{"name": "ok", "n": 2, "x": 1.5, "kind": null, "tags": ["a"], "meta": {"k": "v"}}`, ""},
		{"an integer is a number", `{"name": "ok", "n": 2, "x": 3}`, ""},
		{"missing key", `{"name": "ok"}`, `required key "n" is missing`},
		{"extra key", `{"name": "ok", "n": 1, "y": 0}`, `key "y" is not in the schema`},
		{"wrong type", `{"name": 5, "n": 1}`, "name: want type string, got integer"},
		{"pattern", `{"name": "OK", "n": 1}`, `"OK" does not match`},
		{"minimum", `{"name": "ok", "n": 0}`, "below the minimum"},
		{"a number is no integer", `{"name": "ok", "n": 1.5}`, "want type integer, got number"},
		{"enum", `{"name": "ok", "n": 1, "kind": "c"}`, "is not one of"},
		{"items", `{"name": "ok", "n": 1, "tags": ["a", 2]}`, "tags[1]: want type string"},
		{"additional properties' schema", `{"name": "ok", "n": 1, "meta": {"k": 1}}`, "meta.k: want type string"},
	} {
		err := s.Validate([]byte(tc.doc))
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v, want valid", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: %v, want an error saying %q", tc.name, err, tc.want)
		}
	}
}

func TestUncheckedKeywordsAreRefused(t *testing.T) {
	for _, s := range []string{`{"maxLength": 3}`, `{"properties": {"a": {"oneOf": []}}}`, `{"items": {"format": "date"}}`} {
		if _, err := Parse([]byte(s)); err == nil || !strings.Contains(err.Error(), "not checked") {
			t.Errorf("Parse(%s) = %v; want the keyword refused", s, err)
		}
	}
}

func TestTheProbeFormatDocHasASchema(t *testing.T) {
	if _, err := FromMarkdown("../../docs/probe-format.md", "## JSON Schema"); err != nil {
		t.Fatal(err)
	}
}
