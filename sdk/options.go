package sdk

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/BurntSushi/toml"
)

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
		keys := make([]string, len(und))
		for i, k := range und {
			keys[i] = k.String()
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
