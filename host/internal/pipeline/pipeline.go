// Package pipeline names the stages of the embedded default pipeline of the
// main job and where their cached products live:
//
//  1. SFT policy: assets/sft/imdb-byte-d160l3.safetensors, committed (made by
//     `go run ./host sft`); a missing file is an error saying so.
//  2. Preference data: 2 responses per train prompt sampled from the SFT
//     policy, labelled by the gold judge (`host prefs`), cached by the hash of
//     the SFT weights and the prefs settings.
//  3. Reward model: the reward plugin trained on that data (`host reward`),
//     cached by the hash of the data, the plugin and its options.
//  4. The algorithm, then the before/after table on held-out prompts.
//
// A cache entry is complete when its final file exists (each stage writes
// atomically), so an interrupted stage is redone or resumed, never half-used.
package pipeline

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// CacheDir returns dir, or the user cache directory's p3o folder when dir is
// empty.
func CacheDir(dir string) (string, error) {
	if dir != "" {
		return dir, nil
	}
	base, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no cache directory (set run.cache_dir): %w", err)
	}
	return filepath.Join(base, "p3o"), nil
}

// Key hashes the parts that determine a stage's product into a short hex key.
func Key(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprintf(h, "%d:%s;", len(p), p)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// FileHash returns the SHA-256 (hex) of a file's contents.
func FileHash(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hash %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// PrefsPath is the cached preference file for a key.
func PrefsPath(cache, key string) string {
	return filepath.Join(cache, "prefs", "imdb-prefs-"+key+".jsonl")
}

// RewardDir is the cached reward-model run directory for a key; it is
// complete when it holds report.json next to reward.state.
func RewardDir(cache, key string) string {
	return filepath.Join(cache, "reward", "reward-"+key)
}

// Exists reports whether path exists.
func Exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// MissingSFT is the error for an absent SFT checkpoint, saying how to make it.
func MissingSFT(path string) error {
	return fmt.Errorf("SFT policy %s not found: train it with `go run ./host sft` (or set policy.sft in the config; policy.sft = \"\" starts from a random model)", path)
}

// Banner renders a stage header line.
func Banner(n int, name, detail string) string {
	return fmt.Sprintf("== stage %d/4: %s %s", n, name, strings.TrimSpace(detail))
}

// SourceHash fingerprints a plugin path for cache keys: the contents of every
// non-test .go file under a plugin directory (so a change to the plugin's code
// retrains what was cached from it), or an executable's contents.
func SourceHash(path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	if !fi.IsDir() {
		return FileHash(path)
	}
	h := sha256.New()
	err = filepath.WalkDir(path, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(path, p)
		fmt.Fprintf(h, "%s:%d;", rel, len(b))
		h.Write(b)
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("hash plugin sources %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
