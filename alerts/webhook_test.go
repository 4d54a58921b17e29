package alerts

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

// verifySignature is the receiver-side check documented in the README:
// the body must carry a valid signature made with the shared secret less
// than maxAge ago. Keep the two in step.
func verifySignature(secret []byte, h http.Header, body []byte, maxAge time.Duration) error {
	ts := h.Get("Flowguard-Timestamp")
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return errors.New("missing or malformed Flowguard-Timestamp")
	}
	if age := time.Since(time.Unix(sec, 0)); age > maxAge || age < -maxAge {
		return errors.New("signature too old (or clock skew)")
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(ts + "."))
	mac.Write(body)
	want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
	if !hmac.Equal([]byte(want), []byte(h.Get("Flowguard-Signature"))) {
		return errors.New("bad signature")
	}
	return nil
}

func TestWebhookSend(t *testing.T) {
	secret := []byte("correct horse")
	status := http.StatusOK
	var gotBody []byte
	var gotHeader http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotBody, _ = io.ReadAll(r.Body)
		gotHeader = r.Header.Clone()
		if r.URL.Query().Get("slow") != "" {
			time.Sleep(300 * time.Millisecond)
		}
		w.WriteHeader(status)
	}))
	defer srv.Close()
	m := &Message{ID: "flowguard-7-2", Kind: KindUpdate, IncidentID: 7, Revision: 2,
		Series: "cpu", Severity: SeverityCritical}

	wh := NewWebhook(srv.URL, string(secret), time.Second)
	if err := wh.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	if err := verifySignature(secret, gotHeader, gotBody, time.Minute); err != nil {
		t.Errorf("signature: %v", err)
	}
	if err := verifySignature([]byte("wrong"), gotHeader, gotBody, time.Minute); err == nil {
		t.Error("signature verified with the wrong secret")
	}
	tampered := append([]byte(nil), gotBody...)
	tampered[len(tampered)-2] ^= 1
	if err := verifySignature(secret, gotHeader, tampered, time.Minute); err == nil {
		t.Error("signature verified a changed body")
	}
	var back Message
	if err := json.Unmarshal(gotBody, &back); err != nil || back.ID != m.ID ||
		gotHeader.Get(HeaderMessageID) != m.ID {
		t.Errorf("body %s, header id %q: want message %s", gotBody, gotHeader.Get(HeaderMessageID),
			m.ID)
	}

	unsigned := NewWebhook(srv.URL, "", time.Second)
	if err := unsigned.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	if gotHeader.Get(HeaderSignature) != "" {
		t.Error("a webhook without secret signed its request")
	}

	for _, tc := range []struct {
		status    int
		permanent bool
	}{{http.StatusServiceUnavailable, false}, {http.StatusTooManyRequests, false},
		{http.StatusRequestTimeout, false}, {http.StatusBadRequest, true},
		{http.StatusNotFound, true}} {
		status = tc.status
		err := wh.Send(context.Background(), m)
		if err == nil || errors.Is(err, ErrPermanent) != tc.permanent {
			t.Errorf("status %d: err = %v, want permanent=%v", tc.status, err, tc.permanent)
		}
	}

	status = http.StatusOK
	slow := NewWebhook(srv.URL+"?slow=1&token=hidden", "", 100*time.Millisecond)
	err := slow.Send(context.Background(), m)
	if err == nil || errors.Is(err, ErrPermanent) {
		t.Errorf("slow receiver: err = %v, want a retryable timeout", err)
	} else if s := err.Error(); strings.Contains(s, "hidden") {
		t.Errorf("error %q shows the URL's query", s)
	}
}
