package timeseries

import (
	"errors"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Label is one name/value pair of a series identity.
type Label struct {
	Name  string
	Value string
}

// SeriesID identifies a series: a metric name plus labels sorted by name.
// Two SeriesIDs with the same name and label set have the same Key and
// Hash. The zero value is not a valid identity (the name is empty).
type SeriesID struct {
	// Name is the metric name; it must be non-empty valid UTF-8.
	Name string
	// Labels are sorted by Name, with unique non-empty names. Use
	// NewSeriesID or SortLabels to get that order.
	Labels []Label
}

// NewSeriesID returns the identity of metric name with the given labels,
// sorted by label name. labels may be nil.
func NewSeriesID(name string, labels map[string]string) SeriesID {
	id := SeriesID{Name: name}
	if len(labels) > 0 {
		id.Labels = make([]Label, 0, len(labels))
		for k, v := range labels {
			id.Labels = append(id.Labels, Label{Name: k, Value: v})
		}
		id.SortLabels()
	}
	return id
}

// SortLabels sorts the labels by name in place.
func (id SeriesID) SortLabels() {
	slices.SortFunc(id.Labels, func(a, b Label) int { return strings.Compare(a.Name, b.Name) })
}

// Key returns a stable string that identifies the series, in the shape
// name{"label"="value",...}. Names and values are quoted so that no two
// identities share a key. It is fit for a map key or a Kafka message key.
func (id SeriesID) Key() string {
	return string(id.AppendKey(make([]byte, 0, 64)))
}

// AppendKey appends Key to dst and returns the extended slice; with a
// large enough dst it does not allocate.
func (id SeriesID) AppendKey(dst []byte) []byte {
	if plainName(id.Name) {
		dst = append(dst, id.Name...)
	} else {
		dst = strconv.AppendQuote(dst, id.Name)
	}
	dst = append(dst, '{')
	for i, l := range id.Labels {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = strconv.AppendQuote(dst, l.Name)
		dst = append(dst, '=')
		dst = strconv.AppendQuote(dst, l.Value)
	}
	return append(dst, '}')
}

// plainName reports whether a metric name can appear in a key unquoted
// without making keys ambiguous.
func plainName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x21 || c > 0x7e || c == '{' || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// FNV-1a 64-bit constants (http://www.isthe.com/chongo/tech/comp/fnv/).
const (
	fnvOffset64 = 14695981039346656037
	fnvPrime64  = 1099511628211
)

// Hash returns the 64-bit FNV-1a hash of Key. It is stable across
// processes, releases and machines, so it can pick a Kafka partition.
func (id SeriesID) Hash() uint64 {
	var buf [128]byte
	return HashKey(id.AppendKey(buf[:0]))
}

// HashKey returns the 64-bit FNV-1a hash of a key as returned by Key.
func HashKey(key []byte) uint64 {
	h := uint64(fnvOffset64)
	for _, c := range key {
		h ^= uint64(c)
		h *= fnvPrime64
	}
	return h
}

// Equal reports whether id and o name the same series.
func (id SeriesID) Equal(o SeriesID) bool {
	return id.Name == o.Name && slices.Equal(id.Labels, o.Labels)
}

// Sample is one observation of a series: a time and one value per channel.
type Sample struct {
	Series SeriesID
	// Time is the observation time; decoders return it in UTC.
	Time time.Time
	// Values holds one finite value per channel.
	Values []float64
}

// The time range a Sample may carry: the span of int64 Unix nanoseconds,
// which is what the grid computes with.
var (
	minSampleTime = time.Unix(0, math.MinInt64).UTC()
	maxSampleTime = time.Unix(0, math.MaxInt64).UTC()
)

// Validate checks what every decoder guarantees: a non-empty UTF-8 name,
// sorted unique non-empty UTF-8 label names, UTF-8 label values, a time
// within the int64 nanosecond range and at least one value, all finite.
// It returns a *DecodeError without a location.
func (s *Sample) Validate() error {
	if err := s.Series.validate(); err != nil {
		return err
	}
	if s.Time.Before(minSampleTime) || s.Time.After(maxSampleTime) {
		return &DecodeError{Kind: KindBadTimestamp, Err: errors.New("outside int64 nanoseconds")}
	}
	if len(s.Values) == 0 {
		return &DecodeError{Kind: KindNoValues}
	}
	for _, v := range s.Values {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return &DecodeError{Kind: KindNonFinite, Err: errors.New("value " + ftoa(v))}
		}
	}
	return nil
}

func (id SeriesID) validate() error {
	if id.Name == "" {
		return &DecodeError{Kind: KindEmptySeries}
	}
	if !utf8.ValidString(id.Name) {
		return &DecodeError{Kind: KindNonUTF8, Err: errors.New("series name")}
	}
	for i, l := range id.Labels {
		if l.Name == "" {
			return &DecodeError{Kind: KindBadLabel, Err: errors.New("empty label name")}
		}
		if !utf8.ValidString(l.Name) || !utf8.ValidString(l.Value) {
			return &DecodeError{Kind: KindNonUTF8, Field: l.Name, Err: errors.New("label")}
		}
		if i > 0 && id.Labels[i-1].Name >= l.Name {
			return &DecodeError{Kind: KindBadLabel, Field: l.Name,
				Err: errors.New("labels not sorted or repeated")}
		}
	}
	return nil
}

func ftoa(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
