// Package embedkafka runs an in-process Kafka-protocol broker (franz-go's
// kfake) on a loopback TCP port, so the detector works on one machine with
// no Kafka installed. The rest of flowguard does not import kfake: it dials
// the address returned by Broker.Addr with kafka-go, exactly as it dials a
// real cluster.
//
// # What works with kafka-go
//
// Tested in this package against kafka-go v0.4.51: Writer (RequiredAcks
// all, hash balancer), Reader in a consumer group (GroupID, FetchMessage,
// CommitMessages, CommitInterval 0), committed offsets surviving a reader
// restart, two readers in one group splitting the partitions with the
// default range balancer, Client.CreateTopics and Client.ListOffsets.
//
// No special protocol versions or balancers are needed. One setting
// matters: kfake rejects group session timeouts below 6 s by default (as
// Kafka's group.min.session.timeout.ms does); Start lowers that minimum to
// 1 s so tests may use short ones. Topics are also created on first use,
// with Config.Partitions partitions, as a default Kafka broker does.
package embedkafka

import (
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// Config describes the embedded broker.
type Config struct {
	// Addr is the host:port to listen on. Empty means 127.0.0.1 and a free
	// port; only loopback hosts are accepted, the broker has no
	// authentication.
	Addr string
	// Topics are created at start with Partitions partitions each.
	Topics []string
	// Partitions of Topics and of topics created on first use. Zero means 8.
	Partitions int
	// DataDir, when set, keeps topics, records and committed offsets on
	// disk so they survive a restart of the process. Empty keeps them in
	// memory only.
	DataDir string
}

// Broker is a running in-process broker. Close stops it.
type Broker struct {
	c    *kfake.Cluster
	addr string
}

// Start listens on cfg.Addr and serves the Kafka protocol until Close. It
// fails if the address is not a loopback address or cannot be bound.
func Start(cfg Config) (*Broker, error) {
	ln, err := listen(cfg.Addr)
	if err != nil {
		return nil, err
	}
	parts := cfg.Partitions
	if parts <= 0 {
		parts = 8
	}
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.ListenFn(func(string, string) (net.Listener, error) { return ln, nil }),
		kfake.DefaultNumPartitions(parts),
		kfake.AllowAutoTopicCreation(),
		kfake.GroupMinSessionTimeout(time.Second),
		kfake.ClusterID("flowguard-embedded"),
	}
	if len(cfg.Topics) > 0 {
		opts = append(opts, kfake.SeedTopics(int32(parts), cfg.Topics...))
	}
	if cfg.DataDir != "" {
		opts = append(opts, kfake.DataDir(cfg.DataDir))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("embedkafka: start: %w", err)
	}
	return &Broker{c: c, addr: ln.Addr().String()}, nil
}

// listen binds addr, which must be a loopback address.
func listen(addr string) (net.Listener, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("embedkafka: address %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, errors.New("embedkafka: address " + addr + " is not a loopback address")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("embedkafka: listen: %w", err)
	}
	return ln, nil
}

// Addr returns the host:port clients dial.
func (b *Broker) Addr() string { return b.addr }

// Close stops the broker and drops its connections. With a DataDir, the
// state written so far stays on disk. Close is safe to call twice.
func (b *Broker) Close() { b.c.Close() }
