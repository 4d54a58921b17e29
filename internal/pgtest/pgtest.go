// Package pgtest gives each test its own PostgreSQL database on the server
// named by DATABASE_URL (default: the local server), created for the test
// and dropped when it ends. Under CI=true a server that cannot be reached
// fails the test; elsewhere the test is skipped with the reason.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/flowguard/flowguard/store"
)

// DefaultServerURL is used when DATABASE_URL is unset.
const DefaultServerURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// ServerURL returns the server the tests use.
func ServerURL() string {
	if u := os.Getenv("DATABASE_URL"); u != "" {
		return u
	}
	return DefaultServerURL
}

// NewDatabase creates an empty database for t and returns its URL. The
// database is dropped, with any connections left open to it, at cleanup.
func NewDatabase(t testing.TB) string {
	t.Helper()
	dbURL, name := reserve(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, ServerURL())
	if err != nil {
		unavailable(t, err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("pgtest: create database %s: %v", name, err)
	}
	return dbURL
}

// MissingDatabase returns the URL of a database that does not exist yet on
// the test server, for code that must create it. Whatever is created under
// that name is dropped at cleanup.
func MissingDatabase(t testing.TB) string {
	t.Helper()
	dbURL, _ := reserve(t)
	return dbURL
}

// reserve picks a fresh database name, checks that the server answers and
// registers the drop.
func reserve(t testing.TB) (dbURL, name string) {
	t.Helper()
	server := ServerURL()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, server)
	if err != nil {
		unavailable(t, err)
	}
	conn.Close(context.Background())

	var suffix [6]byte
	_, _ = rand.Read(suffix[:])
	name = "flowguard_test_" + hex.EncodeToString(suffix[:])
	t.Cleanup(func() { drop(t, server, name) })

	u, err := url.Parse(server)
	if err != nil {
		t.Fatalf("pgtest: DATABASE_URL must be a URL (postgres://...): %v", err)
	}
	u.Path = "/" + name
	return u.String(), name
}

func drop(t testing.TB, server, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, server)
	if err != nil {
		t.Errorf("pgtest: drop %s: %v", name, err)
		return
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
		t.Errorf("pgtest: drop %s: %v", name, err)
	}
}

func unavailable(t testing.TB, err error) {
	t.Helper()
	msg := fmt.Sprintf("pgtest: PostgreSQL at %s is not reachable (%v); "+
		"start it or set DATABASE_URL", ServerURL(), err)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// NewStore returns a store on a fresh database (see NewDatabase) with the
// schema migrated, closed when the test ends.
func NewStore(t testing.TB) *store.Store {
	t.Helper()
	ctx := context.Background()
	s, err := store.Open(ctx, NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return s
}
