package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/flowguard/flowguard/internal/pgtest"
	"github.com/flowguard/flowguard/scorer"
	"github.com/flowguard/flowguard/store"
	"github.com/flowguard/flowguard/training"
)

func TestDescribeShowsTheComparison(t *testing.T) {
	from := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	met, err := json.Marshal(training.Metrics{
		Data:   scorer.DataInfo{From: from, To: from.Add(40 * time.Hour), Samples: 2400},
		Report: scorer.Report{CalibScore: 0.8123},
		Evaluation: &training.Evaluation{ChampionVersion: 1,
			Candidate: scorer.Assessment{MeanScore: 2.6865, KS: 0.082},
			Champion:  scorer.Assessment{MeanScore: 16.3527, KS: 0.757}},
	})
	if err != nil {
		t.Fatal(err)
	}
	got := describe(store.ModelInfo{Metrics: met, Note: "drift job 2: promoted"})
	want := "2026-03-01T00:00..2026-03-02T16:00\t2400\t0\t0.8123\t" +
		"2.687/KS 0.08 vs v1 16.353/KS 0.76\tdrift job 2: promoted"
	if got != want {
		t.Fatalf("describe =\n%q\nwant\n%q", got, want)
	}
	// Models stored before the metrics had these fields show dashes.
	if got := describe(store.ModelInfo{Metrics: []byte(`{}`), Note: "old"}); !strings.HasPrefix(
		got, "-\t0\t0\t0.0000\t-\told") {
		t.Fatalf("describe of empty metrics = %q", got)
	}
}

// TestRegistryCommandsRefuseAnUnmigratedSchema: told not to migrate,
// models and train --publish stop on a schema that lacks migrations
// with the store's message, train before it trains anything.
func TestRegistryCommandsRefuseAnUnmigratedSchema(t *testing.T) {
	db := pgtest.NewDatabase(t)
	ctx := context.Background()
	for _, args := range [][]string{
		{"models", "--database.migrate=false"},
		{"train", "--database.migrate=false", "--publish", "--csv", nabHead(t, 800)},
	} {
		var out strings.Builder
		err := Run(ctx, args, &out, &out, dbEnv(db))
		if err == nil || !strings.Contains(err.Error(), "the database schema lacks") {
			t.Errorf("%v: %v, want the pending migrations named", args, err)
		}
		if strings.Contains(out.String(), "trained") {
			t.Errorf("%v trained before refusing:\n%s", args, out.String())
		}
	}
}
