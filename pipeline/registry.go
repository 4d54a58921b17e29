package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/flowguard/flowguard/store"
	"github.com/flowguard/flowguard/timeseries"
)

// Registry adapts the store's model registry and job queue to the
// detector: it loads champions and files bootstrap jobs.
type Registry struct {
	Store *store.Store
	// Grid is the detector's grid. Models must have been trained on it,
	// and bootstrap jobs ask the trainer for it.
	Grid timeseries.Config
	// Decode turns a model artifact (store.Model.Artifact) of the given
	// registry version into a Model; nil means FlowDecoder(Grid).
	Decode func(artifact []byte, version int) (Model, error)
}

// BootstrapDetails is the JSON of a bootstrap job's details: the group's
// series and the grid the model must be trained on, so the detector can
// use it. Step is a Go duration string such as "1m0s". Lags, Go duration
// strings too, are the seasonal lags the grid offers: the trainer offers
// them to scorer.Fit, which keeps those its data support, and the
// detector takes any of them in order (FlowModel).
type BootstrapDetails struct {
	Series   []string `json:"series"`
	Step     string   `json:"step"`
	Window   int      `json:"window"`
	MaxFill  int      `json:"max_fill"`
	Calendar bool     `json:"calendar"`
	Lags     []string `json:"lags,omitempty"`
}

// bootstrapDetails returns the details of a job over series on r's grid.
func (r *Registry) bootstrapDetails(series []string) BootstrapDetails {
	d := BootstrapDetails{Series: series, Step: r.Grid.Step.String(),
		Window: r.Grid.Window, MaxFill: r.Grid.MaxFill, Calendar: r.Grid.Calendar}
	for _, l := range r.Grid.Lags {
		d.Lags = append(d.Lags, l.String())
	}
	return d
}

var (
	_ ModelSource = (*Registry)(nil)
	_ JobFiler    = (*Registry)(nil)
)

// Champion implements ModelSource.
func (r *Registry) Champion(ctx context.Context, group string) (Model, error) {
	m, err := r.Store.Champion(ctx, group)
	if errors.Is(err, store.ErrNoModel) {
		return nil, fmt.Errorf("pipeline: group %q: %w", group, ErrNoModel)
	}
	if err != nil {
		return nil, err
	}
	decode := r.Decode
	if decode == nil {
		decode = FlowDecoder(r.Grid)
	}
	model, err := decode(m.Artifact, m.Version)
	if err != nil {
		return nil, fmt.Errorf("pipeline: load model %s v%d: %w", group, m.Version, err)
	}
	return model, nil
}

// FileBootstrap implements JobFiler with a bootstrap job over [from, to]
// whose details are BootstrapDetails.
func (r *Registry) FileBootstrap(ctx context.Context, group string, from, to time.Time,
	series []string) error {
	details, err := json.Marshal(r.bootstrapDetails(series))
	if err != nil {
		return fmt.Errorf("pipeline: bootstrap details: %w", err)
	}
	_, _, err = r.Store.FileJob(ctx, store.JobRequest{Group: group,
		Reason: store.ReasonBootstrap, From: &from, To: &to, Details: details})
	return err
}

// WatchModels listens for champion changes on store.ModelsChannel and
// passes them to d.Reload until ctx ends. Every poll it also compares the
// registry's champions with the detector's models, for notifications lost
// while the listening connection was down, and reads the retrain queue
// into the detector_retrain_jobs gauge. It returns nil when ctx ends.
func WatchModels(ctx context.Context, s *store.Store, d *Detector, poll time.Duration,
	log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	b := backoff{min: time.Second, max: 30 * time.Second}
	for ctx.Err() == nil {
		l, err := s.Listen(ctx, store.ModelsChannel)
		if err != nil {
			log.Warn("cannot listen for model changes; retrying", "err", err)
			sleep(ctx, b.next())
			continue
		}
		b.reset()
		err = watch(ctx, l, s, d, poll)
		_ = l.Close()
		if ctx.Err() == nil {
			log.Warn("lost the model notification connection; listening again", "err", err)
		}
	}
	return nil
}

func watch(ctx context.Context, l *store.Listener, s *store.Store, d *Detector,
	poll time.Duration) error {
	d.Reload("") // whatever changed before Listen
	d.refreshJobs(ctx, s)
	for {
		wctx, cancel := context.WithTimeout(ctx, poll)
		n, err := l.Next(wctx)
		cancel()
		switch {
		case err == nil:
			var ev store.ModelEvent
			if json.Unmarshal([]byte(n.Payload), &ev) == nil {
				d.Reload(ev.Group)
			}
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, context.DeadlineExceeded):
			d.refreshJobs(ctx, s)
			champs, err := s.ChampionVersions(ctx)
			if err != nil {
				return err
			}
			have := d.ModelVersions()
			for g, v := range champs {
				if have[g] != v {
					d.Reload(g)
				}
			}
		default:
			return err
		}
	}
}

// refreshJobs reads the retrain queue into the jobs gauge; a failed read
// leaves the gauge as it was until the next poll.
func (d *Detector) refreshJobs(ctx context.Context, s *store.Store) {
	if counts, err := s.JobCounts(ctx); err == nil {
		d.m.setJobCounts(counts)
	}
}
