package sdk

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/BurntSushi/toml"
)

// maxUnknownListed caps how many unknown option keys an error names.
const maxUnknownListed = 10

// DecodeOptions decodes a plugin's TOML options into dst (a pointer to a
// struct already holding the defaults). Keys not present keep their defaults;
// a key that dst does not have is an error naming the key.
func DecodeOptions(options []byte, dst any) error {
	if len(bytes.TrimSpace(options)) == 0 {
		return nil
	}
	md, err := toml.Decode(string(options), dst)
	if err != nil {
		return fmt.Errorf("decode options: %w", err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		// A list of unknown keys can be arbitrarily long: name the first few.
		keys := make([]string, 0, min(len(und), maxUnknownListed))
		for _, k := range und[:min(len(und), maxUnknownListed)] {
			keys = append(keys, k.String())
		}
		if n := len(und) - len(keys); n > 0 {
			return fmt.Errorf("unknown option %s, ... (%d unknown options in all)", strings.Join(keys, ", "), len(und))
		}
		return fmt.Errorf("unknown option %s", strings.Join(keys, ", "))
	}
	return nil
}

// EncodeOptions renders options as TOML text, the inverse of DecodeOptions.
func EncodeOptions(options any) ([]byte, error) {
	var buf bytes.Buffer
	if err := toml.NewEncoder(&buf).Encode(options); err != nil {
		return nil, fmt.Errorf("encode options: %w", err)
	}
	return buf.Bytes(), nil
}

// OptionsMap renders a plugin's default options struct as the map of
// Spec.DefaultOptions (nil if it does not encode as TOML).
func OptionsMap(options any) map[string]any {
	b, err := EncodeOptions(options)
	if err != nil {
		return nil
	}
	m := map[string]any{}
	if _, err := toml.NewDecoder(bytes.NewReader(b)).Decode(&m); err != nil {
		return nil
	}
	return m
}
