// Package version holds Vigil's version string, recorded in every saved
// model and printed by `vigil version`.
package version

// Version is overridable at link time:
// go build -ldflags "-X github.com/vigil-ad/vigil/version.Version=1.2.3" ./cmd/vigil
var Version = "0.1.0-dev"

// ModelFormat names the model file layout; bump when it changes incompatibly.
const ModelFormat = "vigil-model/1"
