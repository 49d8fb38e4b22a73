// Package pb is the generated gRPC wire code of the plugin protocol
// (plugin.proto). Do not edit the *.pb.go files: edit plugin.proto and
// regenerate, see ../README.md.
package pb

//go:generate protoc --proto_path=. --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative plugin.proto
