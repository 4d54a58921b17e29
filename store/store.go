package store

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DefaultURL is the database used when none is configured: the local
// server with trust authentication, as a fresh Debian install sets it up.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/flowguard?sslmode=disable"

// Store is a handle on flowguard's PostgreSQL database. It is safe for
// concurrent use by many goroutines.
type Store struct {
	pool *pgxpool.Pool
}

// Open connects to the database at databaseURL and checks that it answers.
// It does not apply migrations; see Migrate.
func Open(ctx context.Context, databaseURL string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		// pgx's parse error already hides the password.
		return nil, fmt.Errorf("store: parse database url: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("store: connect: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("store: ping %s: %w", Redact(databaseURL), err)
	}
	return &Store{pool: pool}, nil
}

// Pool returns the underlying connection pool, for packages that need a
// transaction spanning several of the store's statements.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Ping reports whether the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("store: ping: %w", err)
	}
	return nil
}

// Close releases every connection. The Store must not be used afterwards.
func (s *Store) Close() { s.pool.Close() }

// EnsureDatabase creates the database named in databaseURL if it does not
// exist yet, connecting to the server's "postgres" maintenance database to do
// so. It lets the embedded default run on a freshly installed server.
func EnsureDatabase(ctx context.Context, databaseURL string) error {
	cfg, err := pgx.ParseConfig(databaseURL)
	if err != nil {
		return fmt.Errorf("store: parse database url: %w", err)
	}
	name := cfg.Database
	if name == "" || name == "postgres" {
		return nil
	}
	cfg.Database = "postgres"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("store: connect to maintenance database: %w", err)
	}
	defer conn.Close(context.Background())

	var exists bool
	err = conn.QueryRow(ctx,
		"SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists)
	if err != nil {
		return fmt.Errorf("store: look up database %q: %w", name, err)
	}
	if exists {
		return nil
	}
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P04" {
		return nil // created concurrently by another process
	}
	if err != nil {
		return fmt.Errorf("store: create database %q: %w", name, err)
	}
	return nil
}

// Redact returns databaseURL with any password replaced, for logs and errors.
func Redact(databaseURL string) string {
	u, err := url.Parse(databaseURL)
	if err != nil || u.User == nil {
		if strings.Contains(databaseURL, "password=") {
			return "(connection string hidden: it holds a password)"
		}
		return databaseURL
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// Connect opens the database at databaseURL, or, when databaseURL is empty,
// the flowguard database on the local server, creating it if needed.
func Connect(ctx context.Context, databaseURL string) (*Store, error) {
	if databaseURL != "" {
		return Open(ctx, databaseURL)
	}
	if err := EnsureDatabase(ctx, DefaultURL); err != nil {
		return nil, fmt.Errorf("%w\nno database URL is set and the local PostgreSQL at "+
			"127.0.0.1:5432 did not answer: start it, install it ('apt-get install "+
			"postgresql'), or set FLOWGUARD_DATABASE_URL", err)
	}
	return Open(ctx, DefaultURL)
}

// intMap runs query, whose rows are (text, integer) pairs with distinct
// first columns, and returns them as a map; what names the query in errors.
func (s *Store) intMap(ctx context.Context, what, query string) (map[string]int, error) {
	rows, err := s.pool.Query(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", what, err)
	}
	out := map[string]int{}
	var k string
	var v int
	_, err = pgx.ForEachRow(rows, []any{&k, &v}, func() error {
		out[k] = v
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", what, err)
	}
	return out, nil
}
