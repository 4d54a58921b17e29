package timeseries

// walker steps through the members of an object or the elements of an
// array in JSON that is known to be well-formed (checked by json.Valid or
// by json.Decoder), so it looks only at structure and never fails.
type walker struct {
	b        []byte
	i        int
	started  bool
	key, val []byte
	at       int // offset of val in b
}

// member advances to the next member of the object in w.b, setting key
// (the raw string, quotes included) and val (the raw value).
func (w *walker) member() bool {
	if !w.open() {
		return false
	}
	w.key = w.value()
	w.ws()
	w.i++ // ':'
	w.ws()
	w.val = w.value()
	return true
}

// element advances to the next element of the array in w.b.
func (w *walker) element() bool {
	if !w.open() {
		return false
	}
	w.val = w.value()
	return true
}

// open moves past '{', '[' or ',' and reports whether an item follows.
func (w *walker) open() bool {
	if !w.started {
		w.started = true
		w.ws()
		w.i++ // '{' or '['
	} else {
		w.ws()
		if w.i < len(w.b) && w.b[w.i] == ',' {
			w.i++
		}
	}
	w.ws()
	return w.i < len(w.b) && w.b[w.i] != '}' && w.b[w.i] != ']'
}

func (w *walker) ws() {
	for w.i < len(w.b) && isJSONSpace(w.b[w.i]) {
		w.i++
	}
}

// value returns the raw value at w.i and moves past it.
func (w *walker) value() []byte {
	start := w.i
	w.at = start
	depth := 0
	for w.i < len(w.b) {
		switch c := w.b[w.i]; c {
		case '"':
			w.i = stringEnd(w.b, w.i)
		case '{', '[':
			depth++
			w.i++
		case '}', ']':
			if depth == 0 {
				return w.b[start:w.i]
			}
			depth--
			w.i++
		case ',', ' ', '\t', '\n', '\r', ':':
			if depth == 0 {
				return w.b[start:w.i]
			}
			w.i++
		default:
			w.i++
		}
		if depth == 0 && w.i > start && isOpener(w.b[start]) {
			return w.b[start:w.i]
		}
	}
	return w.b[start:w.i]
}

// stringEnd returns the index after the closing quote of the string
// whose opening quote is at b[i].
func stringEnd(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(b)
}

// isOpener reports whether a value starting with c ends at a closing byte
// rather than at a delimiter.
func isOpener(c byte) bool { return c == '"' || c == '{' || c == '[' }
