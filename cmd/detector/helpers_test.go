package main

import (
	"context"
	"testing"

	"github.com/flowguard/flowguard/store"
)

// openStore opens the store at dbURL or fails the test. The caller closes
// it: helpers that poll open one per call, so closing at test end would
// hold a pool per poll.
func openStore(t *testing.T, ctx context.Context, dbURL string) *store.Store {
	t.Helper()
	s, err := store.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// publish makes the model file art the champion of group in a migrated
// database.
func publish(t *testing.T, dbURL, group string, art []byte) {
	t.Helper()
	ctx := context.Background()
	s := openStore(t, ctx, dbURL)
	defer s.Close()
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	info, err := s.SaveModel(ctx, store.NewModel{Group: group, Spec: []byte(`{}`),
		Artifact: art})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Promote(ctx, group, info.Version); err != nil {
		t.Fatal(err)
	}
}
