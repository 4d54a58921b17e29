package pipeline

import (
	"context"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"
)

// monitor reads, every LagInterval until ctx ends, the group's state and
// the lag of the samples topic: its end offsets minus the group's
// committed offsets. Because the detector commits at the rebuild position
// of its series, the lag of a caught-up detector is about a window of
// messages per series, not zero.
func (d *Detector) monitor(ctx context.Context) {
	cl := &kafka.Client{Addr: kafka.TCP(d.cfg.Brokers...), Timeout: 5 * time.Second}
	for {
		d.observeGroup(ctx, cl)
		wait := d.cfg.LagInterval
		if !d.joined.Load() {
			wait = min(wait, time.Second) // readiness should not wait for the lag
		}
		if !sleep(ctx, wait) {
			return
		}
	}
}

func (d *Detector) observeGroup(ctx context.Context, cl *kafka.Client) {
	dg, err := cl.DescribeGroups(ctx, &kafka.DescribeGroupsRequest{GroupIDs: []string{d.cfg.Group}})
	if err == nil && len(dg.Groups) == 1 && dg.Groups[0].Error == nil {
		g := dg.Groups[0]
		d.joined.Store(g.GroupState == "Stable" && len(g.Members) > 0)
	}

	md, err := cl.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{d.cfg.Topic}})
	if err != nil || len(md.Topics) != 1 || md.Topics[0].Error != nil {
		return
	}
	parts := make([]int, 0, len(md.Topics[0].Partitions))
	reqs := make([]kafka.OffsetRequest, 0, len(parts))
	for _, p := range md.Topics[0].Partitions {
		parts = append(parts, p.ID)
		reqs = append(reqs, kafka.LastOffsetOf(p.ID))
	}
	ends, err := cl.ListOffsets(ctx, &kafka.ListOffsetsRequest{
		Topics: map[string][]kafka.OffsetRequest{d.cfg.Topic: reqs}})
	if err != nil {
		return
	}
	committed, err := cl.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: d.cfg.Group,
		Topics: map[string][]int{d.cfg.Topic: parts}})
	if err != nil || committed.Error != nil {
		return
	}
	done := map[int]int64{}
	for _, p := range committed.Topics[d.cfg.Topic] {
		if p.Error == nil {
			done[p.Partition] = p.CommittedOffset
		}
	}
	for _, p := range ends.Topics[d.cfg.Topic] {
		if p.Error != nil {
			continue
		}
		c := max(done[p.Partition], 0) // -1: nothing committed yet
		lag := max(p.LastOffset-c, 0)
		d.m.lag.WithLabelValues(d.cfg.Topic, strconv.Itoa(p.Partition)).Set(float64(lag))
	}
}
