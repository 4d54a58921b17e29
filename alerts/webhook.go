package alerts

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Headers of a webhook request.
const (
	// HeaderMessageID carries Message.ID, for receivers that de-duplicate
	// before decoding the body.
	HeaderMessageID = "Flowguard-Message-Id"
	// HeaderTimestamp is the signing time in Unix seconds.
	HeaderTimestamp = "Flowguard-Timestamp"
	// HeaderSignature is "sha256=" and the hex HMAC-SHA256, keyed by the
	// shared secret, of the timestamp header, a dot, and the raw body.
	HeaderSignature = "Flowguard-Signature"
)

// Webhook posts each alert as a JSON Message to one URL, signed when a
// secret is set.
type Webhook struct {
	url    string
	secret []byte
	client *http.Client
	now    func() time.Time
}

var _ Sink = (*Webhook)(nil)

// NewWebhook returns a sink posting to url, each request bounded by
// timeout. An empty secret sends unsigned requests.
func NewWebhook(url, secret string, timeout time.Duration) *Webhook {
	return &Webhook{
		url:    url,
		secret: []byte(secret),
		client: &http.Client{Timeout: timeout},
		now:    time.Now,
	}
}

// Name returns "webhook".
func (w *Webhook) Name() string { return SinkWebhook }

// Close closes idle connections.
func (w *Webhook) Close() error {
	w.client.CloseIdleConnections()
	return nil
}

// Send posts m. Any 2xx answer is success; 408, 429, 5xx and network
// errors are retried; other answers are permanent.
func (w *Webhook) Send(ctx context.Context, m *Message) error {
	body, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("%w: webhook: encode: %v", ErrPermanent, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%w: webhook: %v", ErrPermanent, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(HeaderMessageID, m.ID)
	if len(w.secret) > 0 {
		ts := strconv.FormatInt(w.now().Unix(), 10)
		req.Header.Set(HeaderTimestamp, ts)
		req.Header.Set(HeaderSignature, Sign(w.secret, ts, body))
	}
	resp, err := w.client.Do(req)
	if err != nil {
		// The URL may hold a token; url.Error prints it, so name the host
		// only.
		return fmt.Errorf("alerts: webhook %s: %w", req.URL.Host, unwrapURLError(err))
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return checkStatus(resp, "webhook "+req.URL.Host)
}

// Sign returns the value of the signature header for body signed at ts
// (Unix seconds, as sent in the timestamp header) with secret.
func Sign(secret []byte, ts string, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(ts))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// unwrapURLError drops the URL that *url.Error prints, which may carry a
// secret in its query.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}
