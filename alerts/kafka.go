package alerts

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
)

// Kafka writes each alert as a JSON Message to a topic, keyed by series so
// that one series' alerts stay in order on one partition.
type Kafka struct {
	w       *kafka.Writer
	timeout time.Duration
}

var _ Sink = (*Kafka)(nil)

// NewKafka returns a sink writing to topic on the cluster at brokers, each
// write bounded by timeout and acknowledged by all in-sync replicas.
func NewKafka(brokers []string, topic string, timeout time.Duration) *Kafka {
	return &Kafka{
		w: &kafka.Writer{
			Addr:         kafka.TCP(brokers...),
			Topic:        topic,
			Balancer:     &kafka.Hash{},
			RequiredAcks: kafka.RequireAll,
			// Messages go one at a time from the delivery worker; waiting
			// for a batch to fill would only add latency.
			BatchSize:    1,
			BatchTimeout: time.Millisecond,
			WriteTimeout: timeout,
			ReadTimeout:  timeout,
			MaxAttempts:  1, // the outbox retries
			// Asks a broker that allows it (the embedded one, say) to
			// create a missing topic instead of failing every write.
			AllowAutoTopicCreation: true,
		},
		timeout: timeout,
	}
}

// Name returns "kafka".
func (k *Kafka) Name() string { return SinkKafka }

// Close flushes and closes the writer.
func (k *Kafka) Close() error {
	if err := k.w.Close(); err != nil {
		return fmt.Errorf("alerts: close kafka writer: %w", err)
	}
	return nil
}

// Send writes m with the series as key and the message id in a header.
func (k *Kafka) Send(ctx context.Context, m *Message) error {
	body, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("%w: kafka: encode: %v", ErrPermanent, err)
	}
	ctx, cancel := context.WithTimeout(ctx, k.timeout)
	defer cancel()
	err = k.w.WriteMessages(ctx, kafka.Message{
		Key:     []byte(m.Series),
		Value:   body,
		Headers: []kafka.Header{{Key: HeaderMessageID, Value: []byte(m.ID)}},
	})
	if err != nil {
		return fmt.Errorf("alerts: kafka topic %s: %w", k.w.Topic, err)
	}
	return nil
}
