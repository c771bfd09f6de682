//go:build tools

// Package tools pins the FerretDB module whose source tools/artifacts/build.sh builds.
package tools

import _ "github.com/FerretDB/FerretDB/cmd/ferretdb"
