module github.com/vigil-ad/vigil

go 1.26.8

require (
	github.com/google/flatbuffers v25.12.19+incompatible
	golang.org/x/image v0.48.0
	golang.org/x/sys v0.50.0
	golang.org/x/term v0.48.0
	gonum.org/v1/gonum v0.17.0
	google.golang.org/protobuf v1.36.12
)
