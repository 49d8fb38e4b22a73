package task

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// DataDir returns the shared data folder, ../shared/data relative to the
// project root (the folder holding go.mod), found by walking up from the
// working directory, so it works from the root and from a package directory
// under test. It is an error when no go.mod is found or the folder is absent.
func DataDir() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find data dir: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("find data dir: no go.mod above the working directory")
		}
		dir = parent
	}
	data := filepath.Join(filepath.Dir(dir), "shared", "data")
	if fi, err := os.Stat(data); err != nil || !fi.IsDir() {
		return "", fmt.Errorf("find data dir: %s is absent (the shared data sets live in ../shared/data next to the project root)", data)
	}
	return data, nil
}
