package alerts

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/flowguard/flowguard/internal/pgtest"
	"github.com/flowguard/flowguard/store"
)

// startAlertmanager runs Debian's prometheus-alertmanager on a free
// loopback port with a receiver that drops everything, and returns its
// base URL. Without the binary the test is skipped, or fails under CI=true.
func startAlertmanager(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("prometheus-alertmanager")
	if err != nil {
		bin, err = exec.LookPath("alertmanager")
	}
	if err != nil {
		msg := "alertmanager binary not found; install it: apt-get install prometheus-alertmanager"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "alertmanager.yml")
	const yml = "route:\n  receiver: drop\nreceivers:\n  - name: drop\n"
	if err := os.WriteFile(cfg, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	var out bytes.Buffer
	cmd := exec.Command(bin, "--config.file="+cfg, "--storage.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--cluster.listen-address=", "--log.level=warn")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("alertmanager output:\n%s", out.String())
		}
	})
	base := "http://" + addr
	waitFor(t, 20*time.Second, "alertmanager ready", func() (bool, error) {
		resp, err := http.Get(base + "/-/ready")
		if err != nil {
			return false, nil
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	})
	return base
}

// freeAddr returns a loopback address no one listens on right now.
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// amGot is the part of Alertmanager's gettableAlert the test reads.
type amGot struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	StartsAt    time.Time         `json:"startsAt"`
	EndsAt      time.Time         `json:"endsAt"`
	Status      struct {
		State string `json:"state"`
	} `json:"status"`
}

func amAlerts(base string) ([]amGot, error) {
	resp, err := http.Get(base + "/api/v2/alerts")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /api/v2/alerts: %s", resp.Status)
	}
	var out []amGot
	return out, json.NewDecoder(resp.Body).Decode(&out)
}

// TestAlertmanagerIncident: an incident shows up in a real Alertmanager
// with the labels that identify it, stays active past its first endsAt
// because it is resent, and resolves. A second, unreachable Alertmanager
// URL does not hold delivery up.
func TestAlertmanagerIncident(t *testing.T) {
	am := startAlertmanager(t)
	s := pgtest.NewStore(t)
	cfg := fastConfig(SinkAlertmanager)
	cfg.Alertmanager.URLs = []string{am, "http://" + freeAddr(t)}
	cfg.Alertmanager.Resend = time.Second
	cfg.DashboardURL = "http://dash.example"
	svc, err := New(s, cfg, testLogger(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	start(t, svc)

	const series = `cpu{host="a"}`
	save(t, s, point(series, t0, 1e-5))
	var got amGot
	waitFor(t, 10*time.Second, "alert in Alertmanager", func() (bool, error) {
		as, err := amAlerts(am)
		if len(as) == 1 {
			got = as[0]
		}
		return len(as) == 1, err
	})
	open, err := s.OpenIncidents(context.Background())
	if err != nil || len(open) != 1 {
		t.Fatalf("open incidents = %v, %v; want one", open, err)
	}
	want := map[string]string{"alertname": AlertName, "series": series, "model_group": "g",
		"incident_id": strconv.FormatInt(open[0].ID, 10), "severity": SeverityCritical}
	if !maps.Equal(got.Labels, want) {
		t.Errorf("labels = %v, want %v", got.Labels, want)
	}
	for k, v := range map[string]string{"p_value": "1e-05", "score": "7.25",
		"model_version": "3", "value": "42.5", "message_id": MessageID(open[0].ID, 1),
		"dashboard": "http://dash.example/series?key=cpu%7Bhost%3D%22a%22%7D"} {
		if got.Annotations[k] != v {
			t.Errorf("annotation %s = %q, want %q", k, got.Annotations[k], v)
		}
	}
	if got.Status.State != "active" {
		t.Errorf("state = %q, want active", got.Status.State)
	}
	// endsAt is 4 resend intervals ahead of the last send (the read may
	// come a while after the send on a busy machine, hence no lower bound
	// but the future).
	if ahead := time.Until(got.EndsAt); ahead <= 0 || ahead > 4*time.Second+time.Second/2 {
		t.Errorf("endsAt %s ahead, want up to 4 s", ahead)
	}

	// Past the first endsAt the alert is still active: it was resent.
	time.Sleep(5 * time.Second)
	as, err := amAlerts(am)
	if err != nil || len(as) != 1 || as[0].Status.State != "active" {
		t.Fatalf("after 5 s: alerts %+v, %v; want the one alert still active", as, err)
	}

	// Resolved before the last endsAt (4 s after the last resend, at most
	// 1 s ago), so the alert went away because it was resolved, not
	// because it expired.
	advance(t, s, series, t0.Add(time.Hour))
	waitFor(t, 2500*time.Millisecond, "alert resolved in Alertmanager", func() (bool, error) {
		as, err := amAlerts(am)
		return len(as) == 0, err
	})
	// The delivery is marked in the outbox after the send.
	var msgs []store.OutboxState
	waitFor(t, 5*time.Second, "both messages marked sent", func() (bool, error) {
		msgs, err = s.ListAlerts(context.Background(), SinkAlertmanager)
		return len(msgs) == 2 && msgs[1].State == "sent", err
	})
	if msgs[0].Kind != "open" || msgs[1].Kind != "resolve" || msgs[0].State != "sent" {
		t.Errorf("outbox: %s %s, %s %s; want open and resolve, both sent",
			msgs[0].Kind, msgs[0].State, msgs[1].Kind, msgs[1].State)
	}
}
