package textdata

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
)

// JSONLineError says why line b of a JSONL file is not the JSON object
// wanted (want describes it, e.g. `{"text"}`), in the file's terms: never a
// Go type. A file that is one JSON array is named as such, with the fix.
func JSONLineError(b []byte, err error, want string) string {
	var te *json.UnmarshalTypeError
	switch {
	case len(b) > 0 && b[0] == '[':
		return fmt.Sprintf("a JSON array; want one JSON object %s per line (JSONL; jq -c '.[]' converts an array)", want)
	case errors.As(err, &te) && te.Field != "":
		return fmt.Sprintf("field %q is a JSON %s, want a %s", te.Field, te.Value, jsonKind(te.Type))
	case errors.As(err, &te):
		return fmt.Sprintf("a JSON %s, want an object %s", te.Value, want)
	}
	var se *json.SyntaxError
	if errors.As(err, &se) || strings.Contains(err.Error(), "unexpected end of JSON input") {
		return "not valid JSON: " + err.Error()
	}
	return err.Error()
}

// jsonKind names the JSON kind that decodes into t.
func jsonKind(t reflect.Type) string {
	if t == nil {
		return "value of another type"
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "whole number"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Slice, reflect.Array:
		return "array"
	}
	return "object"
}

// KeyList lists the sorted keys of obj for an error message, at most 10 of
// them and how many more (a record with 700k keys is one short line).
func KeyList(obj map[string]json.RawMessage) string {
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if len(keys) > 10 {
		return fmt.Sprintf("%s and %d more", strings.Join(keys[:10], ", "), len(keys)-10)
	}
	return strings.Join(keys, ", ")
}
