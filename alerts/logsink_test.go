package alerts

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"
)

func TestLogSink(t *testing.T) {
	var buf bytes.Buffer
	l := NewLog(slog.New(slog.NewJSONHandler(&buf, nil)))
	for _, kind := range []Kind{KindOpen, KindResolve} {
		buf.Reset()
		m := &Message{ID: "flowguard-3-1", Kind: kind, IncidentID: 3, Series: "cpu",
			Group: "g", Severity: SeverityWarning, PValue: 0.002}
		if err := l.Send(context.Background(), m); err != nil {
			t.Fatal(err)
		}
		var rec map[string]any
		if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
			t.Fatalf("%s: %v in %q", kind, err, buf.String())
		}
		wantLevel := "WARN"
		if kind == KindResolve {
			wantLevel = "INFO"
		}
		if rec["level"] != wantLevel || rec["msg"] != "alert "+string(kind) ||
			rec["message_id"] != "flowguard-3-1" || rec["series"] != "cpu" ||
			rec["p_value"] != 0.002 {
			t.Errorf("%s logged %v", kind, rec)
		}
	}
}
