package pipeline

import (
	"testing"
	"time"

	"github.com/flowguard/flowguard/internal/embedkafka"
)

// TestStopWithBrokerGone stops the stages after their broker died: leaving
// the group cannot succeed, and Run must still return within its bounds
// (StopTimeout for the last batch plus StopTimeout for closing).
func TestStopWithBrokerGone(t *testing.T) {
	b, err := embedkafka.Start(embedkafka.Config{Partitions: 2,
		Topics: []string{inputTopic, samplesTopic, deadTopic}})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{broker: b.Addr()}
	models := &staticModels{}
	models.set(DefaultGroup, trainedModel(1))
	stopIngest := e.ingest(t, nil)
	cfg := detectorConfig(e.broker)
	cfg.StopTimeout = time.Second
	d, err := NewDetector(cfg, &recordingWriter{}, models, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	stop := stage(d.Run)
	waitFor(t, 10*time.Second, "the group joined", func() bool {
		return groupMembers(t, e.broker, "detect") == 1
	})

	b.Close()
	_, took := stop()
	if took > 3*time.Second {
		t.Errorf("detector took %v to stop without a broker, want under 3s", took)
	}
	_, took = stopIngest()
	if took > 11*time.Second { // ingest StopTimeout is 5s in the tests
		t.Errorf("ingest took %v to stop without a broker, want under 11s", took)
	}
}
