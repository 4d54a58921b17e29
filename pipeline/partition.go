package pipeline

import (
	"time"

	"github.com/flowguard/flowguard/timeseries"
)

// partState is the detector's state of one partition of the samples topic:
// the series grids and, per series, the offsets needed to rebuild them.
//
// Offsets are committed at the rebuild point, not at the last message
// processed: the oldest offset whose sample still shapes a live series'
// window. A detector that restarts from there replays just enough to
// rebuild every window, so the points after it are scored exactly as an
// uninterrupted run scores them, and the unique key on anomalies absorbs
// the re-scored ones.
type partState struct {
	grid *timeseries.Partition
	// next is the offset after the last message processed, -1 before the
	// first.
	next   int64
	needs  map[string]*need
	newest time.Time // newest sample time of the partition
	// seen is the wall time of the partition's last message.
	seen time.Time
	// extra is how many steps before a window's first the replay must
	// also rebuild: the flagging policy's run reaches that far back.
	extra int64
}

// need records, per grid step still inside a window or open, the offset of
// its first sample.
type need struct {
	idx []int64 // grid step indices, ascending
	off []int64 // offset of the first sample of each step
	seq int64   // step counter of "as it comes" grids
}

func newPartState(cfg timeseries.Config, extra int) (*partState, error) {
	g, err := timeseries.NewPartition(cfg)
	if err != nil {
		return nil, err
	}
	return &partState{grid: g, next: -1, needs: map[string]*need{},
		extra: int64(max(extra, 0))}, nil
}

// keep is the number of trailing grid steps whose samples a window may
// still depend on: the window, the open steps within lateness, and one
// spare for the step being completed.
func keep(cfg *timeseries.Config) int64 {
	open := int64(1)
	if cfg.Step > 0 {
		open += int64((cfg.Lateness + cfg.Step - 1) / cfg.Step)
	}
	return int64(cfg.Window) + open + 1
}

// track notes that the sample at offset, of series key at time t, was
// taken into the grid.
func (p *partState) track(key string, t time.Time, offset int64) {
	cfg := p.grid.Config()
	n := p.needs[key]
	if n == nil {
		n = &need{}
		p.needs[key] = n
	}
	var idx int64
	if cfg.Step > 0 {
		idx = floorDiv(t.UnixNano(), int64(cfg.Step))
	} else {
		n.seq++
		idx = n.seq
	}
	if t.After(p.newest) {
		p.newest = t
	}
	last := len(n.idx) - 1
	if last >= 0 && idx <= n.idx[last] {
		return // a later sample of a step already tracked, or a late one
	}
	n.idx = append(n.idx, idx)
	n.off = append(n.off, offset)
	cut := 0
	for cut < len(n.idx)-1 && n.idx[cut] <= idx-keep(&cfg)-p.extra {
		cut++
	}
	if cut > 0 {
		n.idx = append(n.idx[:0], n.idx[cut:]...)
		n.off = append(n.off[:0], n.off[cut:]...)
	}
}

// position is the offset a restart must read from: the oldest offset a
// live series needs, or the next unread offset when none needs any.
func (p *partState) position() int64 {
	pos := p.next
	for _, n := range p.needs {
		if len(n.off) > 0 && n.off[0] < pos {
			pos = n.off[0]
		}
	}
	return pos
}

// evict forgets series idle for the grid's IdleAfter in event time and
// returns their keys.
func (p *partState) evict() []string {
	if p.grid.Evict(p.newest) == 0 {
		return nil
	}
	var gone []string
	for key := range p.needs {
		if p.grid.Get(key) == nil {
			delete(p.needs, key)
			gone = append(gone, key)
		}
	}
	return gone
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}
