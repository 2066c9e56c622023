package worker

import (
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Embedded starts an in-process NATS server with JetStream, file storage
// in dataDir, listening on listen ("HOST:PORT"; port 0 picks a free one),
// which workers on other machines can join. Stop it with Shutdown and
// WaitForShutdown.
func Embedded(listen, dataDir string) (*server.Server, error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return nil, fmt.Errorf("--nats-listen %q: %w", listen, err)
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return nil, fmt.Errorf("--nats-listen %q: port: %w", listen, err)
	}
	if p == 0 {
		// nats-server reads port 0 as its default, 4222; "pick a free
		// one" is RANDOM_PORT.
		p = server.RANDOM_PORT
	}
	if dataDir == "" {
		return nil, fmt.Errorf("embedded NATS needs a data directory (--data-dir) for its file storage")
	}
	s, err := server.NewServer(&server.Options{Host: host, Port: p, JetStream: true, StoreDir: dataDir,
		NoSigs: true, NoLog: true, ServerName: "vigil"})
	if err != nil {
		return nil, err
	}
	s.Start()
	// Start enables JetStream (store directory, recovery of a large
	// store) before it listens, so wait generously.
	if !s.ReadyForConnections(2 * time.Minute) {
		s.Shutdown()
		return nil, fmt.Errorf("embedded NATS on %s did not start listening within 2 minutes", listen)
	}
	return s, nil
}
