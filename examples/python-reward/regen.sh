#!/bin/sh
# Regenerates the Python gRPC stubs in gen/ from the sdk's protocol
# (sdk/internal/pb/plugin.proto) and go-plugin's own services (proto/).
# Tools, matching Debian bookworm's python3-protobuf 4.21.12 and
# python3-grpcio 1.51.1:
#   apt-get install -y protobuf-compiler protobuf-compiler-grpc
# (Debian's python3-grpc-tools 1.14 is too old: its code does not load with
# protobuf 4.x.)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${1:-$here/gen}
mkdir -p "$out"
protoc -I "$root/sdk/internal/pb" -I "$here/proto" \
  --python_out="$out" --grpc_out="$out" \
  --plugin=protoc-gen-grpc="$(command -v grpc_python_plugin)" \
  plugin.proto goplugin.proto health.proto
