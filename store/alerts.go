package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// NewAnomaly is an anomaly row with its id, as the alerts component reads
// it.
type NewAnomaly struct {
	ID int64
	Anomaly
}

// AlertCursor is the position of a reader of the anomaly stream: the last
// row it consumed, in (transaction id, row id) order.
type AlertCursor struct {
	XID       int64
	AnomalyID int64
}

// Incident is a row of the incidents table.
type Incident struct {
	ID           int64
	SeriesKey    string
	ModelGroup   string
	State        string // open or resolved
	Severity     string
	FirstTS      time.Time
	LastTS       time.Time
	Points       int
	MinPValue    float64
	MaxScore     float64
	Value        []float64 // of the point with the smallest p-value
	ModelVersion int       // of the point with the smallest p-value
	Revision     int       // number of state changes sent so far
	OpenedAt     time.Time
	UpdatedAt    time.Time
	ResolvedAt   *time.Time
	// SeriesTime is the series' last scored timestamp (series.last_ts), set
	// only by OpenIncidents and ExpiryCandidates; nil when the series row
	// or its time is missing.
	SeriesTime *time.Time
}

// OutboxMessage is one alert waiting for, or claimed for, delivery to one
// sink.
type OutboxMessage struct {
	ID         int64
	MessageID  string
	IncidentID int64
	Sink       string
	Kind       string // open, update or resolve
	Payload    []byte // JSON
	Attempts   int    // attempts made before this claim
	CreatedAt  time.Time
}

// querier is what a pool and a transaction have in common.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

func nonNil(x []float64) []float64 {
	if x == nil {
		return []float64{}
	}
	return x
}

// AlertTx is a transaction in which the alerts component reads new
// anomalies, changes incidents, queues their alerts and moves its cursor,
// so that all of it happens once or not at all. It is not safe for
// concurrent use.
type AlertTx struct {
	tx pgx.Tx
}

// InAlertTx runs fn in one transaction and commits it if fn returns nil; any
// error rolls everything back.
func (s *Store) InAlertTx(ctx context.Context, fn func(*AlertTx) error) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("store: begin alert transaction: %w", err)
	}
	if err := fn(&AlertTx{tx: tx}); err != nil {
		return errors.Join(err, rollback(ctx, tx))
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("store: commit alert transaction: %w", err)
	}
	return nil
}

func rollback(ctx context.Context, tx pgx.Tx) error {
	if err := tx.Rollback(ctx); err != nil && !errors.Is(err, pgx.ErrTxClosed) {
		return fmt.Errorf("store: roll back alert transaction: %w", err)
	}
	return nil
}

// LockCursor locks the named cursor row for the rest of the transaction and
// returns its position. ok is false, without error, when another
// transaction holds it: another detector is busy with the same rows, and
// the caller should try again later rather than wait.
func (t *AlertTx) LockCursor(ctx context.Context, name string) (c AlertCursor, ok bool,
	err error) {
	err = t.tx.QueryRow(ctx, `
		SELECT xid::text::bigint, anomaly_id FROM alert_cursor
		WHERE name = $1 FOR UPDATE SKIP LOCKED`, name).Scan(&c.XID, &c.AnomalyID)
	if errors.Is(err, pgx.ErrNoRows) {
		// Either locked elsewhere or absent; an absent row is created so the
		// next call finds it.
		_, err = t.tx.Exec(ctx, `INSERT INTO alert_cursor (name) VALUES ($1)
			ON CONFLICT (name) DO NOTHING`, name)
		if err != nil {
			return c, false, fmt.Errorf("store: create alert cursor %s: %w", name, err)
		}
		return c, false, nil
	}
	if err != nil {
		return c, false, fmt.Errorf("store: lock alert cursor %s: %w", name, err)
	}
	return c, true, nil
}

// SetCursor moves the named cursor to c.
func (t *AlertTx) SetCursor(ctx context.Context, name string, c AlertCursor) error {
	_, err := t.tx.Exec(ctx, `
		UPDATE alert_cursor SET xid = $2::text::xid8, anomaly_id = $3, updated_at = now()
		WHERE name = $1`, name, fmt.Sprint(c.XID), c.AnomalyID)
	if err != nil {
		return fmt.Errorf("store: move alert cursor %s: %w", name, err)
	}
	return nil
}

// AnomaliesAfter returns up to limit anomalies after c, in cursor order,
// together with the cursor of the last one returned (c itself if none). It
// returns only rows written by transactions older than every transaction
// still running, so no row can later appear behind the returned cursor.
//
// TODO(flowguard): the horizon is server-wide, so a long write
// transaction in another database holds incidents back; bounding it by
// this database's backends (pg_stat_activity.backend_xid) would not.
func (t *AlertTx) AnomaliesAfter(ctx context.Context, c AlertCursor, limit int) ([]NewAnomaly,
	AlertCursor, error) {
	rows, err := t.tx.Query(ctx, `
		SELECT a.id, a.xid::text::bigint, a.series_key, a.model_group, a.ts, a.value,
		       a.score, a.p_value, a.model_version, a.explanation
		FROM anomalies a
		WHERE (a.xid, a.id) > ($1::text::xid8, $2)
		  AND a.xid < pg_snapshot_xmin(pg_current_snapshot())
		ORDER BY a.xid, a.id -- qualified: the index order, not the bigint
		LIMIT $3`, fmt.Sprint(c.XID), c.AnomalyID, limit)
	if err != nil {
		return nil, c, fmt.Errorf("store: read new anomalies: %w", err)
	}
	defer rows.Close()
	var out []NewAnomaly
	for rows.Next() {
		var a NewAnomaly
		if err := rows.Scan(&a.ID, &c.XID, &a.SeriesKey, &a.Group, &a.TS, &a.Value,
			&a.Score, &a.PValue, &a.ModelVersion, &a.Explanation); err != nil {
			return nil, c, fmt.Errorf("store: read new anomalies: %w", err)
		}
		c.AnomalyID = a.ID
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, c, fmt.Errorf("store: read new anomalies: %w", err)
	}
	return out, c, nil
}

// RecentAnomalies returns, per series, its latest n anomalies at or before
// cursor c, newest first.
func (t *AlertTx) RecentAnomalies(ctx context.Context, keys []string, c AlertCursor,
	n int) (map[string][]NewAnomaly, error) {
	rows, err := t.tx.Query(ctx, `
		SELECT a.id, a.series_key, a.model_group, a.ts, a.value, a.score, a.p_value,
		       a.model_version, a.explanation
		FROM unnest($1::text[]) AS k(key),
		LATERAL (SELECT * FROM anomalies
		         WHERE series_key = k.key AND (xid, id) <= ($2::text::xid8, $3)
		         ORDER BY ts DESC LIMIT $4) a
		ORDER BY a.series_key, a.ts DESC`, keys, fmt.Sprint(c.XID), c.AnomalyID, n)
	if err != nil {
		return nil, fmt.Errorf("store: read recent anomalies: %w", err)
	}
	defer rows.Close()
	out := map[string][]NewAnomaly{}
	for rows.Next() {
		var a NewAnomaly
		if err := rows.Scan(&a.ID, &a.SeriesKey, &a.Group, &a.TS, &a.Value, &a.Score,
			&a.PValue, &a.ModelVersion, &a.Explanation); err != nil {
			return nil, fmt.Errorf("store: read recent anomalies: %w", err)
		}
		out[a.SeriesKey] = append(out[a.SeriesKey], a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: read recent anomalies: %w", err)
	}
	return out, nil
}

const incidentColumns = `i.id, i.series_key, i.model_group, i.state, i.severity, i.first_ts,
	i.last_ts, i.points, i.min_p_value, i.max_score, i.value, i.model_version, i.revision,
	i.opened_at, i.updated_at, i.resolved_at`

func scanIncident(row pgx.Row, extra ...any) (Incident, error) {
	var i Incident
	dest := []any{&i.ID, &i.SeriesKey, &i.ModelGroup, &i.State, &i.Severity, &i.FirstTS,
		&i.LastTS, &i.Points, &i.MinPValue, &i.MaxScore, &i.Value, &i.ModelVersion,
		&i.Revision, &i.OpenedAt, &i.UpdatedAt, &i.ResolvedAt}
	err := row.Scan(append(dest, extra...)...)
	return i, err
}

// OpenIncidents returns the open incidents of the given series (of every
// series when keys is nil), each with its series' current time.
func (t *AlertTx) OpenIncidents(ctx context.Context, keys []string) ([]Incident, error) {
	return openIncidents(ctx, t.tx, keys)
}

// ExpiryCandidates returns the open incidents that no anomaly after cursor
// c can still join, that is none of whose series has a waiting anomaly
// within gap of the incident's span, each with its series' current time.
// series.last_ts and the anomalies come from one detector transaction, so
// any series time read here belongs to anomalies already committed; those
// beyond c are seen here even before the cursor may read them.
func (t *AlertTx) ExpiryCandidates(ctx context.Context, c AlertCursor,
	gap time.Duration) ([]Incident, error) {
	rows, err := t.tx.Query(ctx, `
		SELECT `+incidentColumns+`, s.last_ts
		FROM incidents i LEFT JOIN series s ON s.key = i.series_key
		WHERE i.state = 'open' AND NOT EXISTS (
			SELECT 1 FROM anomalies a
			WHERE a.series_key = i.series_key
			  AND a.ts > i.first_ts - $3 * interval '1 microsecond'
			  AND a.ts <= i.last_ts + $3 * interval '1 microsecond'
			  AND (a.xid, a.id) > ($1::text::xid8, $2))
		ORDER BY i.id`, fmt.Sprint(c.XID), c.AnomalyID, gap.Microseconds())
	if err != nil {
		return nil, fmt.Errorf("store: read incidents to expire: %w", err)
	}
	return collectIncidents(rows, "read incidents to expire")
}

// OpenIncidents returns every open incident, each with its series' current
// time.
func (s *Store) OpenIncidents(ctx context.Context) ([]Incident, error) {
	return openIncidents(ctx, s.pool, nil)
}

func openIncidents(ctx context.Context, db querier, keys []string) ([]Incident, error) {
	rows, err := db.Query(ctx, `
		SELECT `+incidentColumns+`, s.last_ts
		FROM incidents i LEFT JOIN series s ON s.key = i.series_key
		WHERE i.state = 'open' AND ($1::text[] IS NULL OR i.series_key = ANY($1))
		ORDER BY i.id`, keys)
	if err != nil {
		return nil, fmt.Errorf("store: read open incidents: %w", err)
	}
	return collectIncidents(rows, "read open incidents")
}

func collectIncidents(rows pgx.Rows, what string) ([]Incident, error) {
	defer rows.Close()
	var out []Incident
	for rows.Next() {
		var seriesTime *time.Time
		i, err := scanIncident(rows, &seriesTime)
		if err != nil {
			return nil, fmt.Errorf("store: %s: %w", what, err)
		}
		i.SeriesTime = seriesTime
		out = append(out, i)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: %s: %w", what, err)
	}
	return out, nil
}

// SeriesHistory is what the grouping rules need to know about a series'
// past incidents.
type SeriesHistory struct {
	// LastResolvedTS is the last point of the latest resolved incident (zero
	// if none).
	LastResolvedTS time.Time
	// Starts holds first_ts of the incidents that started at or after the
	// since time given to IncidentHistory, oldest first.
	Starts []time.Time
}

// IncidentHistory returns, per series, the end of its latest resolved
// incident and the start times of its incidents since since (series time).
func (t *AlertTx) IncidentHistory(ctx context.Context, keys []string,
	since time.Time) (map[string]*SeriesHistory, error) {
	out := map[string]*SeriesHistory{}
	get := func(k string) *SeriesHistory {
		if out[k] == nil {
			out[k] = &SeriesHistory{}
		}
		return out[k]
	}
	rows, err := t.tx.Query(ctx, `
		SELECT DISTINCT ON (series_key) series_key, last_ts FROM incidents
		WHERE series_key = ANY($1) AND state = 'resolved'
		ORDER BY series_key, last_ts DESC`, keys)
	if err != nil {
		return nil, fmt.Errorf("store: read incident history: %w", err)
	}
	for rows.Next() {
		var k string
		var ts time.Time
		if err := rows.Scan(&k, &ts); err != nil {
			rows.Close()
			return nil, fmt.Errorf("store: read incident history: %w", err)
		}
		get(k).LastResolvedTS = ts
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: read incident history: %w", err)
	}

	rows, err = t.tx.Query(ctx, `
		SELECT series_key, first_ts FROM incidents
		WHERE series_key = ANY($1) AND first_ts >= $2
		ORDER BY series_key, first_ts`, keys, since)
	if err != nil {
		return nil, fmt.Errorf("store: read incident starts: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k string
		var ts time.Time
		if err := rows.Scan(&k, &ts); err != nil {
			return nil, fmt.Errorf("store: read incident starts: %w", err)
		}
		h := get(k)
		h.Starts = append(h.Starts, ts)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: read incident starts: %w", err)
	}
	return out, nil
}

// OpenedSince returns the wall times at which incidents were opened since
// since, oldest first, for the global rate limit.
func (t *AlertTx) OpenedSince(ctx context.Context, since time.Time) ([]time.Time, error) {
	rows, err := t.tx.Query(ctx, `
		SELECT opened_at FROM incidents WHERE opened_at >= $1 ORDER BY opened_at`, since)
	if err != nil {
		return nil, fmt.Errorf("store: read recent incident opens: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[time.Time])
	if err != nil {
		return nil, fmt.Errorf("store: read recent incident opens: %w", err)
	}
	return out, nil
}

// InsertIncident writes a new incident and sets inc.ID.
func (t *AlertTx) InsertIncident(ctx context.Context, inc *Incident) error {
	err := t.tx.QueryRow(ctx, `
		INSERT INTO incidents (series_key, model_group, state, severity, first_ts, last_ts,
		                       points, min_p_value, max_score, value, model_version,
		                       revision, opened_at, updated_at, resolved_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
		RETURNING id`,
		inc.SeriesKey, inc.ModelGroup, inc.State, inc.Severity, inc.FirstTS, inc.LastTS,
		inc.Points, inc.MinPValue, inc.MaxScore, nonNil(inc.Value), inc.ModelVersion,
		inc.Revision, inc.OpenedAt, inc.UpdatedAt, inc.ResolvedAt).Scan(&inc.ID)
	if err != nil {
		return fmt.Errorf("store: insert incident of %s: %w", inc.SeriesKey, err)
	}
	return nil
}

// UpdateIncident writes every mutable field of inc.
func (t *AlertTx) UpdateIncident(ctx context.Context, inc *Incident) error {
	_, err := t.tx.Exec(ctx, `
		UPDATE incidents SET state = $2, severity = $3, first_ts = $4, last_ts = $5,
		       points = $6, min_p_value = $7, max_score = $8, value = $9,
		       model_version = $10, revision = $11, updated_at = $12, resolved_at = $13
		WHERE id = $1`,
		inc.ID, inc.State, inc.Severity, inc.FirstTS, inc.LastTS, inc.Points, inc.MinPValue,
		inc.MaxScore, nonNil(inc.Value), inc.ModelVersion, inc.Revision, inc.UpdatedAt,
		inc.ResolvedAt)
	if err != nil {
		return fmt.Errorf("store: update incident %d: %w", inc.ID, err)
	}
	return nil
}

// QueueAlert adds one message for one sink to the outbox. A message id and
// sink already queued is left as it is.
func (t *AlertTx) QueueAlert(ctx context.Context, m OutboxMessage) error {
	_, err := t.tx.Exec(ctx, `
		INSERT INTO alert_outbox (message_id, incident_id, sink, kind, payload)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (message_id, sink) DO NOTHING`,
		m.MessageID, m.IncidentID, m.Sink, m.Kind, m.Payload)
	if err != nil {
		return fmt.Errorf("store: queue alert %s for %s: %w", m.MessageID, m.Sink, err)
	}
	return nil
}

// ClaimAlerts takes up to limit due messages of sink for delivery and
// hides them from other claimers for lease: a worker that
// dies mid-send releases them when the lease runs out. A message is not due
// while an earlier message of its incident for the same sink is pending, so
// each sink sees an incident's changes in order. Messages come oldest first.
func (s *Store) ClaimAlerts(ctx context.Context, sink string, limit int,
	lease time.Duration) ([]OutboxMessage, error) {
	// The head of each incident's queue comes from one pass over the
	// pending index; a per-row NOT EXISTS was quadratic in the backlog
	// when the planner's statistics were stale (6.6 s for 4000 rows).
	rows, err := s.pool.Query(ctx, `
		WITH heads AS (
			SELECT DISTINCT ON (incident_id) id, next_attempt_at
			FROM alert_outbox WHERE state = 'pending' AND sink = $1
			ORDER BY incident_id, id)
		UPDATE alert_outbox SET next_attempt_at = now() + $3 * interval '1 microsecond'
		WHERE id IN (
			SELECT o.id FROM alert_outbox o JOIN heads h ON h.id = o.id
			WHERE h.next_attempt_at <= now()
			  -- Checked again on o, the locked row: when another worker
			  -- claimed it since the CTE's snapshot, its lease shows here.
			  AND o.state = 'pending' AND o.next_attempt_at <= now()
			ORDER BY o.id LIMIT $2
			FOR UPDATE OF o SKIP LOCKED)
		RETURNING id, message_id, incident_id, sink, kind, payload, attempts, created_at`,
		sink, limit, lease.Microseconds())
	if err != nil {
		return nil, fmt.Errorf("store: claim alerts for %s: %w", sink, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (OutboxMessage, error) {
		var m OutboxMessage
		err := r.Scan(&m.ID, &m.MessageID, &m.IncidentID, &m.Sink, &m.Kind, &m.Payload,
			&m.Attempts, &m.CreatedAt)
		return m, err
	})
	if err != nil {
		return nil, fmt.Errorf("store: claim alerts for %s: %w", sink, err)
	}
	sortByID(out)
	return out, nil
}

func sortByID(ms []OutboxMessage) {
	for i := 1; i < len(ms); i++ {
		for j := i; j > 0 && ms[j].ID < ms[j-1].ID; j-- {
			ms[j], ms[j-1] = ms[j-1], ms[j]
		}
	}
}

// MarkAlertsSent records successful attempts. The commit does not wait
// for the disk: a crash may lose the mark, and the message is then sent
// again, which at-least-once delivery allows.
func (s *Store) MarkAlertsSent(ctx context.Context, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SET LOCAL synchronous_commit = off"); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `
			UPDATE alert_outbox SET state = 'sent', sent_at = now(), last_error = '',
			       attempts = attempts + 1
			WHERE id = ANY($1)`, ids)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: mark %d alerts sent: %w", len(ids), err)
	}
	return nil
}

// RetryAlert records a failed attempt and schedules another after wait.
func (s *Store) RetryAlert(ctx context.Context, id int64, wait time.Duration,
	reason string) error {
	_, err := s.pool.Exec(ctx, `
		UPDATE alert_outbox SET next_attempt_at = now() + $2 * interval '1 microsecond',
		       last_error = $3, attempts = attempts + 1
		WHERE id = $1`, id, wait.Microseconds(), reason)
	if err != nil {
		return fmt.Errorf("store: reschedule alert %d: %w", id, err)
	}
	return nil
}

// DeferAlerts hands claimed messages back, due after wait, without
// counting an attempt.
func (s *Store) DeferAlerts(ctx context.Context, ids []int64, wait time.Duration) error {
	if len(ids) == 0 {
		return nil
	}
	_, err := s.pool.Exec(ctx, `
		UPDATE alert_outbox SET next_attempt_at = now() + $2 * interval '1 microsecond'
		WHERE id = ANY($1)`, ids, wait.Microseconds())
	if err != nil {
		return fmt.Errorf("store: defer %d alerts: %w", len(ids), err)
	}
	return nil
}

// MarkAlertDead records a failed attempt and gives up on the message; it
// stays in the outbox with its
// error for an operator to inspect.
func (s *Store) MarkAlertDead(ctx context.Context, id int64, reason string) error {
	_, err := s.pool.Exec(ctx, `
		UPDATE alert_outbox SET state = 'dead', last_error = $2, attempts = attempts + 1
		WHERE id = $1`, id, reason)
	if err != nil {
		return fmt.Errorf("store: mark alert %d dead: %w", id, err)
	}
	return nil
}

// OutboxState is a message's delivery record.
type OutboxState struct {
	OutboxMessage
	State     string // pending, sent or dead
	LastError string
	SentAt    *time.Time
}

// ListAlerts returns every message queued for sink, oldest first.
func (s *Store) ListAlerts(ctx context.Context, sink string) ([]OutboxState, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT id, message_id, incident_id, sink, kind, payload, attempts, created_at,
		       state, last_error, sent_at
		FROM alert_outbox WHERE sink = $1 ORDER BY id`, sink)
	if err != nil {
		return nil, fmt.Errorf("store: list alerts of %s: %w", sink, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (OutboxState, error) {
		var m OutboxState
		err := r.Scan(&m.ID, &m.MessageID, &m.IncidentID, &m.Sink, &m.Kind, &m.Payload,
			&m.Attempts, &m.CreatedAt, &m.State, &m.LastError, &m.SentAt)
		return m, err
	})
	if err != nil {
		return nil, fmt.Errorf("store: list alerts of %s: %w", sink, err)
	}
	return out, nil
}

// PendingAlerts counts undelivered messages per sink.
func (s *Store) PendingAlerts(ctx context.Context) (map[string]int, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT sink, count(*) FROM alert_outbox WHERE state = 'pending' GROUP BY sink`)
	if err != nil {
		return nil, fmt.Errorf("store: count pending alerts: %w", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var sink string
		var n int
		if err := rows.Scan(&sink, &n); err != nil {
			return nil, fmt.Errorf("store: count pending alerts: %w", err)
		}
		out[sink] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: count pending alerts: %w", err)
	}
	return out, nil
}

// PruneAlerts deletes messages delivered before before and returns how
// many went.
func (s *Store) PruneAlerts(ctx context.Context, before time.Time) (int64, error) {
	tag, err := s.pool.Exec(ctx, `
		DELETE FROM alert_outbox WHERE state = 'sent' AND sent_at < $1`, before)
	if err != nil {
		return 0, fmt.Errorf("store: prune delivered alerts: %w", err)
	}
	return tag.RowsAffected(), nil
}
