package cluster

import (
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// startEmbedded runs this node's NATS server: its client port on a random
// loopback port (the node itself talks to it in-process; the port is there
// for tools, and because the server starts its routes only once its client
// listener runs), routes on o.Listen joining o.Peers, JetStream
// storing under o.DataDir. The server's name is the node's: JetStream
// knows its peers by name across restarts.
func startEmbedded(o *Options) (*server.Server, error) {
	host, portStr, _ := net.SplitHostPort(o.Listen)
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("cluster: -cluster-listen port %q: %v", portStr, err)
	}
	var routes []*url.URL
	for _, p := range o.Peers {
		routes = append(routes, &url.URL{Scheme: "nats", Host: p})
	}
	so := &server.Options{
		ServerName: o.Node,
		Host:       "127.0.0.1",
		Port:       server.RANDOM_PORT,
		NoSigs:     true,
		JetStream:  true,
		StoreDir:   o.DataDir,
		Cluster: server.ClusterOpts{
			Name: ClusterName,
			Host: host,
			Port: port,
			// Reconnect to a peer that went away, forever: it may come back.
			ConnectRetries: -1,
		},
		Routes: routes,
	}
	if len(routes) == 0 {
		// A cluster of one: JetStream runs clustered only with routes to
		// solicit, so this node's store is a standalone one (its routes
		// still listen, but a node that joins later cannot share it).
		so.Cluster, so.Routes = server.ClusterOpts{}, nil
	}
	srv, err := server.NewServer(so)
	if err != nil {
		return nil, fmt.Errorf("cluster: embedded NATS: %w", err)
	}
	srv.SetLoggerV2(&natsLog{l: o.Logger.With("nats", o.Node), notices: o.NATSLog}, false, false, false)
	srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		return nil, fmt.Errorf("cluster: embedded NATS on %s did not start within 10s", o.Listen)
	}
	return srv, nil
}

// natsLog passes the embedded server's log to slog.
type natsLog struct {
	l       *slog.Logger
	notices bool
}

func (n *natsLog) Noticef(f string, v ...any) {
	if n.notices {
		n.l.Info(fmt.Sprintf(f, v...))
	}
}
func (n *natsLog) Warnf(f string, v ...any)  { n.l.Warn(fmt.Sprintf(f, v...)) }
func (n *natsLog) Fatalf(f string, v ...any) { n.l.Error(fmt.Sprintf(f, v...)) }
func (n *natsLog) Errorf(f string, v ...any) { n.l.Error(fmt.Sprintf(f, v...)) }
func (n *natsLog) Debugf(string, ...any)     {}
func (n *natsLog) Tracef(string, ...any)     {}
