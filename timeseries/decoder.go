package timeseries

// Decoder turns one message payload into samples.
//
// A payload may hold several samples. When some of them are bad, Decode
// returns every good sample together with an error that joins one
// *DecodeError per bad sample (errors.Join), so nothing good is lost and
// each bad sample can be counted and dead-lettered with its reason; use
// DecodeErrors to list them and ErrorKind for the first one's kind. A
// payload that is bad as a whole (empty, truncated, not the format at all)
// yields the samples read before the point of failure, if any. A payload
// that holds no sample and nothing wrong either, such as an empty list,
// is a KindNoSamples error: Decode never returns no samples and no error.
//
// Every returned sample satisfies Sample.Validate, with its time in UTC.
// Decode never panics, does not keep payload, and the returned samples do
// not alias it; samples of one payload may share a Labels slice, so treat
// labels as read-only.
type Decoder interface {
	Decode(payload []byte) ([]Sample, error)
}
