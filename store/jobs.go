package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// JobsChannel is the LISTEN/NOTIFY channel on which FileJob announces a new
// retrain job. The payload is the JSON of a JobEvent.
const JobsChannel = "flowguard_jobs"

// Job reasons, as stored in retrain_jobs.reason.
const (
	ReasonBootstrap = "bootstrap"
	ReasonDrift     = "drift"
	ReasonManual    = "manual"
	// ReasonRefresh is a retrain on a schedule: the group's model has
	// scored long enough past its training data, drift or not.
	ReasonRefresh = "refresh"
)

// Job states, as stored in retrain_jobs.state.
const (
	JobPending = "pending"
	JobRunning = "running"
	JobDone    = "done"
	JobFailed  = "failed"
)

// JobRequest asks for a model of a group to be trained.
type JobRequest struct {
	Group  string
	Reason string // ReasonBootstrap, ReasonDrift, ReasonManual or ReasonRefresh
	// From and To bound the event times to train on; nil leaves a side
	// open.
	From, To *time.Time
	// Details is JSON for the trainer and for people: the drift statistic,
	// the series keys of the group, and so on. nil stores {}.
	Details []byte
}

// Job is one row of the retrain queue.
type Job struct {
	ID         int64
	Group      string
	Reason     string
	State      string
	From, To   *time.Time
	Details    []byte
	Attempts   int
	ClaimedBy  string
	CreatedAt  time.Time
	ClaimedAt  *time.Time
	FinishedAt *time.Time
	Error      string
	ModelID    *int64
}

// JobEvent is the payload of a notification on JobsChannel.
type JobEvent struct {
	Group string `json:"group"`
	ID    int64  `json:"id"`
}

const jobColumns = `id, model_group, reason, state, range_from, range_to, details,
	attempts, claimed_by, created_at, claimed_at, finished_at, error, model_id`

// scanJob scans the jobColumns of row, followed by extra columns if any.
func scanJob(row pgx.Row, extra ...any) (Job, error) {
	var j Job
	err := row.Scan(append([]any{&j.ID, &j.Group, &j.Reason, &j.State, &j.From, &j.To,
		&j.Details, &j.Attempts, &j.ClaimedBy, &j.CreatedAt, &j.ClaimedAt, &j.FinishedAt,
		&j.Error, &j.ModelID}, extra...)...)
	return j, err
}

// FileJob queues r unless its group already has an unfinished (pending or
// running) job, in which case it returns that job and created = false: the
// schema allows one unfinished job per group, so a burst of drift alarms
// files one job. A new job is announced on JobsChannel at commit.
func (s *Store) FileJob(ctx context.Context, r JobRequest) (job Job, created bool, err error) {
	if r.Group == "" {
		return Job{}, false, errors.New("store: file job: empty group")
	}
	// The existing job may finish between the failed insert and the read,
	// leaving neither; trying again then inserts.
	for range 3 {
		job, created, err = s.fileJobOnce(ctx, r)
		if !errors.Is(err, pgx.ErrNoRows) {
			break
		}
	}
	if err != nil {
		return Job{}, false, fmt.Errorf("store: file %s job for %q: %w", r.Reason, r.Group, err)
	}
	return job, created, nil
}

func (s *Store) fileJobOnce(ctx context.Context, r JobRequest) (Job, bool, error) {
	var job Job
	created := false
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		job, created, err = fileJobTx(ctx, tx, r)
		return err
	})
	return job, created, err
}

// fileJobTx is one attempt of FileJob inside tx; it returns pgx.ErrNoRows
// when the unfinished job it collided with ended before it could be read.
func fileJobTx(ctx context.Context, tx pgx.Tx, r JobRequest) (Job, bool, error) {
	job, err := scanJob(tx.QueryRow(ctx, `
			INSERT INTO retrain_jobs (model_group, reason, range_from, range_to, details)
			VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (model_group) WHERE state IN ('pending', 'running') DO NOTHING
			RETURNING `+jobColumns,
		r.Group, r.Reason, r.From, r.To, jsonOr(r.Details)))
	if errors.Is(err, pgx.ErrNoRows) {
		job, err = scanJob(tx.QueryRow(ctx, `SELECT `+jobColumns+` FROM retrain_jobs
			WHERE model_group = $1 AND state IN ('pending', 'running')`, r.Group))
		return job, false, err
	}
	if err != nil {
		return Job{}, false, err
	}
	payload, _ := json.Marshal(JobEvent{Group: job.Group, ID: job.ID})
	_, err = tx.Exec(ctx, "SELECT pg_notify($1, $2)", JobsChannel, string(payload))
	return job, err == nil, err
}

// JobFiling is what FileJobCooled did.
type JobFiling struct {
	// Job is the job filed (Created), the group's unfinished job, or,
	// in a cool-down, the group's newest job.
	Job     Job
	Created bool
	// CoolDown is how long the group's cool-down has left when nothing
	// was filed because of it; zero otherwise.
	CoolDown time.Duration
}

// FileJobCooled files r as FileJob does unless the group's newest job was
// created less than cooldown ago: then it files nothing and reports the
// time left. An unfinished job is returned as by FileJob even if it is
// recent. It takes RecordDrift's lock of the group, so the check and the
// insert are one step for every detector and for drift filings.
func (s *Store) FileJobCooled(ctx context.Context, r JobRequest,
	cooldown time.Duration) (JobFiling, error) {
	if r.Group == "" {
		return JobFiling{}, errors.New("store: file job: empty group")
	}
	var f JobFiling
	var err error
	for range 3 { // as in FileJob: the open job may end before it is read
		f, err = s.fileJobCooledOnce(ctx, r, cooldown)
		if !errors.Is(err, pgx.ErrNoRows) {
			break
		}
	}
	if err != nil {
		return JobFiling{}, fmt.Errorf("store: file %s job for %q: %w", r.Reason, r.Group, err)
	}
	return f, nil
}

func (s *Store) fileJobCooledOnce(ctx context.Context, r JobRequest,
	cooldown time.Duration) (JobFiling, error) {
	var f JobFiling
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtext('drift:' || $1))",
			r.Group); err != nil {
			return err
		}
		// No job can be filed while one is unfinished, so an unfinished
		// job is the group's newest.
		var left float64
		job, err := scanJob(tx.QueryRow(ctx, `SELECT `+jobColumns+`, extract(epoch FROM
			created_at + make_interval(secs => $2) - now())::float8 FROM retrain_jobs
			WHERE model_group = $1 AND created_at > now() - make_interval(secs => $2)
			ORDER BY created_at DESC, id DESC LIMIT 1`, r.Group, cooldown.Seconds()),
			&left)
		switch {
		case err == nil && (job.State == JobPending || job.State == JobRunning):
			f = JobFiling{Job: job}
			return nil
		case err == nil:
			f = JobFiling{Job: job, CoolDown: max(time.Duration(left*float64(time.Second)), 1)}
			return nil
		case !errors.Is(err, pgx.ErrNoRows):
			return err
		}
		job, created, err := fileJobTx(ctx, tx, r)
		f = JobFiling{Job: job, Created: created}
		return err
	})
	return f, err
}

// ClaimJob hands the oldest pending job to worker, marking it running, and
// reports false if none is pending. Rows locked by another claimer are
// skipped (FOR UPDATE SKIP LOCKED), so any number of trainers can claim at
// once and never get the same job.
func (s *Store) ClaimJob(ctx context.Context, worker string) (Job, bool, error) {
	job, err := scanJob(s.pool.QueryRow(ctx, `
		UPDATE retrain_jobs SET state = 'running', claimed_by = $1, claimed_at = now(),
		       attempts = attempts + 1
		WHERE id = (SELECT id FROM retrain_jobs WHERE state = 'pending'
		            ORDER BY created_at, id LIMIT 1 FOR UPDATE SKIP LOCKED)
		RETURNING `+jobColumns, worker))
	if errors.Is(err, pgx.ErrNoRows) {
		return Job{}, false, nil
	}
	if err != nil {
		return Job{}, false, fmt.Errorf("store: claim job: %w", err)
	}
	return job, true, nil
}

// FinishJob marks a running job done, linking the model it produced (nil
// if none).
func (s *Store) FinishJob(ctx context.Context, id int64, modelID *int64) error {
	return s.endJob(ctx, id, JobDone, "", modelID, nil)
}

// FinishJobOutcome is FinishJob that also records outcome, a JSON value,
// under the "outcome" key of the job's details, so that whoever reads the
// queue sees what the job decided (a candidate promoted or rejected, and
// why). A nil outcome records nothing.
func (s *Store) FinishJobOutcome(ctx context.Context, id int64, modelID *int64,
	outcome []byte) error {
	return s.endJob(ctx, id, JobDone, "", modelID, outcome)
}

// FailJob marks a running job failed with the reason, which frees the
// group for a new job.
func (s *Store) FailJob(ctx context.Context, id int64, reason string) error {
	return s.endJob(ctx, id, JobFailed, reason, nil, nil)
}

func (s *Store) endJob(ctx context.Context, id int64, state, reason string,
	modelID *int64, outcome []byte) error {
	var out *string
	if len(outcome) > 0 {
		o := string(outcome)
		out = &o
	}
	tag, err := s.pool.Exec(ctx, `UPDATE retrain_jobs
		SET state = $2, error = $3, model_id = $4, finished_at = now(),
		    details = CASE WHEN $5::jsonb IS NULL THEN details
		              ELSE details || jsonb_build_object('outcome', $5::jsonb) END
		WHERE id = $1 AND state = 'running'`, id, state, reason, modelID, out)
	if err != nil {
		return fmt.Errorf("store: mark job %d %s: %w", id, state, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("store: mark job %d %s: job is not running", id, state)
	}
	return nil
}

// ReleaseJob hands a running job back to the queue, for a trainer that
// stops before finishing it; the attempt stays counted.
func (s *Store) ReleaseJob(ctx context.Context, id int64) error {
	tag, err := s.pool.Exec(ctx, `UPDATE retrain_jobs SET state = 'pending', claimed_by = ''
		WHERE id = $1 AND state = 'running'`, id)
	if err != nil {
		return fmt.Errorf("store: release job %d: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("store: release job %d: job is not running", id)
	}
	return nil
}

// RequeueStale puts running jobs claimed more than olderThan ago back to
// pending, for jobs whose trainer died, and returns how many it moved.
func (s *Store) RequeueStale(ctx context.Context, olderThan time.Duration) (int64, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE retrain_jobs SET state = 'pending', claimed_by = ''
		WHERE state = 'running' AND claimed_at < now() - make_interval(secs => $1)`,
		olderThan.Seconds())
	if err != nil {
		return 0, fmt.Errorf("store: requeue stale jobs: %w", err)
	}
	return tag.RowsAffected(), nil
}

// Job returns the job with the given id.
func (s *Store) Job(ctx context.Context, id int64) (Job, error) {
	j, err := scanJob(s.pool.QueryRow(ctx,
		`SELECT `+jobColumns+` FROM retrain_jobs WHERE id = $1`, id))
	if err != nil {
		return Job{}, fmt.Errorf("store: job %d: %w", id, err)
	}
	return j, nil
}

// JobCounts returns the number of jobs in each state, for metrics.
func (s *Store) JobCounts(ctx context.Context) (map[string]int, error) {
	return s.intMap(ctx, "job counts",
		"SELECT state, count(*) FROM retrain_jobs GROUP BY state")
}

// GroupSeries returns the keys of the series the detectors have assigned
// to group, so that a trainer replays only those.
func (s *Store) GroupSeries(ctx context.Context, group string) ([]string, error) {
	rows, err := s.pool.Query(ctx,
		"SELECT key FROM series WHERE model_group = $1 ORDER BY key", group)
	if err != nil {
		return nil, fmt.Errorf("store: series of group %q: %w", group, err)
	}
	keys, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("store: series of group %q: %w", group, err)
	}
	return keys, nil
}

// FlaggedTimes returns, per series key, the times of the points of group
// recorded as anomalies in [from, to) (a zero time leaves a side open), so
// a trainer can leave them out of the model's training data.
func (s *Store) FlaggedTimes(ctx context.Context, group string,
	from, to time.Time) (map[string][]time.Time, error) {
	var lo, hi *time.Time
	if !from.IsZero() {
		lo = &from
	}
	if !to.IsZero() {
		hi = &to
	}
	rows, err := s.pool.Query(ctx, `SELECT series_key, ts FROM anomalies
		WHERE model_group = $1 AND ($2::timestamptz IS NULL OR ts >= $2)
		  AND ($3::timestamptz IS NULL OR ts < $3)
		ORDER BY series_key, ts`, group, lo, hi)
	if err != nil {
		return nil, fmt.Errorf("store: flagged points of %q: %w", group, err)
	}
	out := map[string][]time.Time{}
	var key string
	var ts time.Time
	_, err = pgx.ForEachRow(rows, []any{&key, &ts}, func() error {
		out[key] = append(out[key], ts.UTC())
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: flagged points of %q: %w", group, err)
	}
	return out, nil
}

// Notification is one message received by a Listener.
type Notification struct {
	Channel string
	Payload string
}

// Listener receives notifications on the channels it listens to. It holds
// one connection of its own, taken out of the pool. It is not safe for
// concurrent use; Close it when done.
type Listener struct {
	conn *pgx.Conn
}

// Listen starts listening on channels (such as ModelsChannel and
// JobsChannel). Notifications sent before Listen returns are not received:
// a caller that must not miss a change reads the current state after
// Listen, and polls now and then in case the connection was lost.
func (s *Store) Listen(ctx context.Context, channels ...string) (*Listener, error) {
	pc, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: listen: %w", err)
	}
	// A connection in LISTEN mode must not go back to the pool.
	conn := pc.Hijack()
	for _, ch := range channels {
		if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{ch}.Sanitize()); err != nil {
			closeErr := conn.Close(context.Background())
			return nil, errors.Join(fmt.Errorf("store: listen %s: %w", ch, err), closeErr)
		}
	}
	return &Listener{conn: conn}, nil
}

// Next waits for the next notification. It returns ctx's error when ctx
// ends first, and the Listener stays usable, so a worker can wait with a
// poll timeout. Any other error means the connection is lost; the Listener
// is then unusable and the caller listens again.
func (l *Listener) Next(ctx context.Context) (Notification, error) {
	n, err := l.conn.WaitForNotification(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return Notification{}, ctx.Err()
		}
		return Notification{}, fmt.Errorf("store: wait for notification: %w", err)
	}
	return Notification{Channel: n.Channel, Payload: n.Payload}, nil
}

// Close ends the listening session and closes its connection.
func (l *Listener) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := l.conn.Close(ctx); err != nil {
		return fmt.Errorf("store: close listener: %w", err)
	}
	return nil
}
