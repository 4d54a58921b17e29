package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/flowguard/flowguard/internal/pgtest"
	"github.com/flowguard/flowguard/store"
)

func saveModel(t *testing.T, s *store.Store, group string) store.ModelInfo {
	t.Helper()
	m, err := s.SaveModel(context.Background(), store.NewModel{
		Group:    group,
		Spec:     []byte(`{"window":8}`),
		Artifact: []byte("model-bytes-" + group),
		Metrics:  []byte(`{"valid_nll":1.5}`),
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestSaveModelNumbersVersionsPerGroup(t *testing.T) {
	s := pgtest.NewStore(t)
	ctx := context.Background()

	// Eight concurrent saves to one group must get versions 1..8 exactly.
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			_, err := s.SaveModel(ctx, store.NewModel{Group: "a", Artifact: []byte{1}})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if m := saveModel(t, s, "b"); m.Version != 1 || m.State != store.StateCandidate {
		t.Fatalf("first model of group b: version %d state %s, want 1 candidate",
			m.Version, m.State)
	}
	list, err := s.ListModels(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range list {
		got = append(got, fmt.Sprintf("%s%d", m.Group, m.Version))
	}
	want := "[a8 a7 a6 a5 a4 a3 a2 a1 b1]"
	if fmt.Sprint(got) != want {
		t.Fatalf("ListModels = %v, want %s", got, want)
	}
}

func TestPromoteRollbackAndNotify(t *testing.T) {
	s := pgtest.NewStore(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	l, err := s.Listen(ctx, store.ModelsChannel)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()

	if _, err := s.Champion(ctx, "g"); !errors.Is(err, store.ErrNoModel) {
		t.Fatalf("Champion of an empty group: %v, want ErrNoModel", err)
	}
	for range 3 {
		saveModel(t, s, "g")
	}
	ok, err := s.PromoteIfNone(ctx, "g", 1)
	if err != nil || !ok {
		t.Fatalf("PromoteIfNone on a group without champion = %v, %v", ok, err)
	}
	expectEvent(t, l, store.ModelEvent{Group: "g", Version: 1})
	if ok, err := s.PromoteIfNone(ctx, "g", 2); err != nil || ok {
		t.Fatalf("PromoteIfNone with a champion = %v, %v; want false", ok, err)
	}
	if err := s.Promote(ctx, "g", 2); err != nil {
		t.Fatal(err)
	}
	expectEvent(t, l, store.ModelEvent{Group: "g", Version: 2})
	if err := s.Promote(ctx, "g", 9); !errors.Is(err, store.ErrNoModel) {
		t.Fatalf("Promote of a missing version: %v, want ErrNoModel", err)
	}
	if err := s.RejectModel(ctx, "g", 3, "worse than v2 by 0.4 nats"); err != nil {
		t.Fatal(err)
	}

	c, err := s.Champion(ctx, "g")
	if err != nil {
		t.Fatal(err)
	}
	if c.Version != 2 || string(c.Artifact) != "model-bytes-g" || c.PromotedAt == nil {
		t.Fatalf("champion = v%d %q promoted %v", c.Version, c.Artifact, c.PromotedAt)
	}

	v, err := s.Rollback(ctx, "g", "operator: false alarms")
	if err != nil || v != 1 {
		t.Fatalf("Rollback = %d, %v; want 1", v, err)
	}
	expectEvent(t, l, store.ModelEvent{Group: "g", Version: 1})
	// Nothing was champion before v1, so a second rollback has no target
	// and leaves v1 in place.
	if _, err := s.Rollback(ctx, "g", ""); !errors.Is(err, store.ErrNoModel) {
		t.Fatalf("second Rollback: %v, want ErrNoModel", err)
	}

	states := map[int]string{}
	list, err := s.ListModels(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range list {
		states[m.Version] = m.State
	}
	want := map[int]string{1: "champion", 2: "rejected", 3: "rejected"}
	if fmt.Sprint(states) != fmt.Sprint(want) {
		t.Fatalf("states after rollback = %v, want %v", states, want)
	}
	versions, err := s.ChampionVersions(ctx)
	if err != nil || versions["g"] != 1 || len(versions) != 1 {
		t.Fatalf("ChampionVersions = %v, %v", versions, err)
	}
}

func TestOneChampionPerGroupIsEnforced(t *testing.T) {
	s := pgtest.NewStore(t)
	ctx := context.Background()
	saveModel(t, s, "g")
	saveModel(t, s, "g")
	_, err := s.Pool().Exec(ctx, "UPDATE models SET state = 'champion' WHERE model_group = 'g'")
	if err == nil {
		t.Fatal("two champions in one group were accepted by the schema")
	}

	// Concurrent promotions of different versions leave exactly one.
	var wg sync.WaitGroup
	for v := 1; v <= 2; v++ {
		wg.Go(func() {
			if err := s.Promote(ctx, "g", v); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	var n int
	if err := s.Pool().QueryRow(ctx,
		"SELECT count(*) FROM models WHERE state = 'champion'").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("%d champions after concurrent promotions, want 1", n)
	}
}

func expectEvent(t *testing.T, l *store.Listener, want store.ModelEvent) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n, err := l.Next(ctx)
	if err != nil {
		t.Fatalf("waiting for %+v: %v", want, err)
	}
	var got store.ModelEvent
	if err := json.Unmarshal([]byte(n.Payload), &got); err != nil {
		t.Fatal(err)
	}
	if n.Channel != store.ModelsChannel || got != want {
		t.Fatalf("notification %s %+v, want %s %+v", n.Channel, got, store.ModelsChannel, want)
	}
}

func TestPromoteOver(t *testing.T) {
	s := pgtest.NewStore(t)
	ctx := context.Background()
	for range 3 {
		saveModel(t, s, "g")
	}
	if err := s.PromoteOver(ctx, "g", 2, 1); !errors.Is(err, store.ErrChampionChanged) {
		t.Fatalf("PromoteOver without a champion: %v, want ErrChampionChanged", err)
	}
	if err := s.Promote(ctx, "g", 1); err != nil {
		t.Fatal(err)
	}
	if err := s.PromoteOver(ctx, "g", 2, 1); err != nil {
		t.Fatal(err)
	}
	// v3 was compared with v1, which is no longer champion.
	if err := s.PromoteOver(ctx, "g", 3, 1); !errors.Is(err, store.ErrChampionChanged) {
		t.Fatalf("PromoteOver a replaced champion: %v, want ErrChampionChanged", err)
	}
	if c, err := s.Champion(ctx, "g"); err != nil || c.Version != 2 {
		t.Fatalf("champion v%d, %v; want v2", c.Version, err)
	}
}
