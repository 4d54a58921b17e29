package pipeline

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/segmentio/kafka-go"
)

// EnsureTopics creates the topics that do not exist yet, with partitions
// partitions and replication factor -1 (the broker's default). Topics that
// exist are left as they are.
func EnsureTopics(ctx context.Context, brokers []string, partitions int,
	topics ...string) error {
	if len(brokers) == 0 {
		return errors.New("pipeline: ensure topics: no brokers")
	}
	cl := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second}
	req := &kafka.CreateTopicsRequest{}
	for _, t := range topics {
		req.Topics = append(req.Topics, kafka.TopicConfig{Topic: t,
			NumPartitions: partitions, ReplicationFactor: -1})
	}
	res, err := cl.CreateTopics(ctx, req)
	if err != nil {
		return fmt.Errorf("pipeline: create topics: %w", err)
	}
	for t, err := range res.Errors {
		if err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
			return fmt.Errorf("pipeline: create topic %s: %w", t, err)
		}
	}
	return nil
}

// dialer bounds every broker connection, so a dead broker gives errors
// instead of a hang.
var dialer = &net.Dialer{Timeout: 10 * time.Second}
