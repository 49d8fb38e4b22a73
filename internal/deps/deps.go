//go:build tools

// Package deps pins modules that packages under construction will import, so
// that `go mod tidy` keeps them while the tree grows. Remove an entry once a
// real package imports it.
package deps

import (
	_ "github.com/BurntSushi/toml"
	_ "github.com/hashicorp/go-hclog"
	_ "github.com/hashicorp/go-plugin"
	_ "github.com/jonreiter/govader"
	_ "github.com/schollz/progressbar/v3"
	_ "go4.org/unsafe/assume-no-moving-gc"
	_ "gonum.org/v1/gonum/blas/blas32"
	_ "google.golang.org/grpc"
	_ "google.golang.org/protobuf/proto"
	_ "gorgonia.org/gorgonia"
	_ "gorgonia.org/tensor"
)
