package cluster

import (
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"
)

// Names in NATS shared by every node: change them and nodes no longer
// meet.
const (
	StreamName   = "WSD_USERS"  // the user messages
	ReadBucket   = "wsd_read"   // user → read up to this sequence number
	ClusterName  = "wsd"        // the embedded servers' route cluster
	userPrefix   = "wsd.user."  // + the user's name in base64url
	relaySubject = "wsd.relay"  // broadcasts, room sends, channels
	gatherSubj   = "wsd.gather" // scatter-gather of node figures
	beatSubject  = "wsd.beat"   // each node's heartbeat
)

// Defaults, named so that wsd's flags and the library agree.
const (
	DefaultHistory     = 100
	DefaultMaxReplicas = 3
	DefaultBeat        = time.Second
)

// Options configure a Node. Either Listen (embedded NATS) or URLs (an
// existing NATS with JetStream) must be set.
type Options struct {
	Node     string   // this node's name, unique in the cluster and stable across restarts
	Listen   string   // embedded: HOST:PORT the NATS routes listen on
	Peers    []string // embedded: the other nodes' Listen addresses
	DataDir  string   // embedded: JetStream's store
	URLs     []string // existing NATS: nats://HOST:PORT, …
	Replicas int      // JetStream replicas [min(DefaultMaxReplicas, nodes)]
	History  int      // messages kept per user [DefaultHistory]
	Beat     time.Duration
	Logger   *slog.Logger
	// NATSLog passes the embedded server's notices to Logger (its warnings
	// and errors always are).
	NATSLog bool
}

// Embedded reports whether the options ask for a NATS server in the
// process.
func (o *Options) Embedded() bool { return o.Listen != "" }

func (o *Options) check() error {
	switch {
	case o.Node == "":
		return fmt.Errorf("cluster: a node name is required (-node)")
	case o.Embedded() && len(o.URLs) > 0:
		return fmt.Errorf("cluster: -cluster-listen and -nats exclude each other: embed NATS or join one")
	case !o.Embedded() && len(o.URLs) == 0:
		return fmt.Errorf("cluster: give -cluster-listen (embedded NATS) or -nats URLs")
	case o.Embedded() && o.DataDir == "":
		return fmt.Errorf("cluster: -data DIR is required with -cluster-listen (JetStream's store)")
	case o.Replicas < 0 || o.Replicas > 5:
		return fmt.Errorf("cluster: -replicas %d: want 1..5", o.Replicas)
	}
	if o.Embedded() {
		if _, _, err := net.SplitHostPort(o.Listen); err != nil {
			return fmt.Errorf("cluster: -cluster-listen %q: %v", o.Listen, err)
		}
		for _, p := range o.Peers {
			if _, _, err := net.SplitHostPort(p); err != nil {
				return fmt.Errorf("cluster: -cluster-peers entry %q: %v", p, err)
			}
		}
	}
	for _, u := range o.URLs {
		if !strings.HasPrefix(u, "nats://") && !strings.HasPrefix(u, "tls://") {
			return fmt.Errorf("cluster: -nats entry %q: want nats://HOST:PORT", u)
		}
	}
	return nil
}

func (o *Options) defaults() {
	if o.History <= 0 {
		o.History = DefaultHistory
	}
	if o.Beat <= 0 {
		o.Beat = DefaultBeat
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Replicas == 0 && o.Embedded() {
		o.Replicas = min(DefaultMaxReplicas, 1+len(o.Peers))
	}
}

// SplitList splits a comma-separated flag value, trimming spaces and
// dropping empty entries.
func SplitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
