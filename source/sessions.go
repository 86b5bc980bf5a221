package source

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"sync"
	"time"

	"github.com/entropyshare/entropyshare/internal/privfile"
)

// TLS sessions across runs. A run is one process, and a board runs one
// every ten minutes: to resume a TLS session with an https:// sink at its
// next delivery, the session (ticket and resumption secret) is kept in a
// file beside the targets file, TARGETS.tls-sessions, mode 0600. It is a
// cache: a file that is missing, unreadable, too open or damaged costs
// full handshakes and is written afresh; nothing else depends on it.
// RATIONALE.md says what a stolen one gives away (little).

const (
	// sessionsSuffix names the sessions file beside the targets file.
	sessionsSuffix = ".tls-sessions"
	// sessionsMode: the file holds resumption secrets.
	sessionsMode = 0o600
	// sessionLifetime is TLS 1.3's limit on a ticket; older entries are
	// dropped when the file is written.
	sessionLifetime = 7 * 24 * time.Hour
	// maxSessionsFile bounds what loadSessions reads. An entry, with the
	// sink's certificates in its state, takes a few kilobytes: room for
	// a thousand https:// targets.
	maxSessionsFile = 4 << 20
)

// sessionFile is the sessions of a run, by target and client certificate.
type sessionFile struct {
	now func() time.Time

	mu      sync.Mutex
	entries map[string]sessionEntry
	changed bool
}

// sessionEntry is one stored session: what tls.ClientSessionState's
// ResumptionState gives, and when it was stored (Unix seconds).
type sessionEntry struct {
	Ticket []byte
	State  []byte
	Stored int64
}

// loadSessions reads the sessions file at path, a private file (privfile)
// of at most maxSessionsFile bytes. It always returns a usable file; the
// error, when there is one, is worth a warning.
func loadSessions(path string, now func() time.Time) (*sessionFile, error) {
	f := &sessionFile{now: now, entries: map[string]sessionEntry{}}
	data, err := readSessions(path)
	if errors.Is(err, fs.ErrNotExist) {
		return f, nil
	}
	if err != nil {
		return f, fmt.Errorf("TLS sessions file not used (full handshakes; it is written afresh): %w", err)
	}
	defer clear(data)
	if err := json.Unmarshal(data, &f.entries); err != nil {
		f.entries = map[string]sessionEntry{}
		return f, fmt.Errorf("TLS sessions file %s does not parse (%v); not used", path, err)
	}
	return f, nil
}

func readSessions(path string) ([]byte, error) {
	file, err := privfile.Open(path)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	if err := privfile.Check(file); err != nil {
		return nil, err
	}
	return privfile.ReadAll(file, maxSessionsFile)
}

// save writes the file if a session changed, without the entries past
// their lifetime.
func (f *sessionFile) save(path string, write writeFunc) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.changed {
		return nil
	}
	cutoff := f.now().Add(-sessionLifetime).Unix()
	for k, e := range f.entries {
		if e.Stored < cutoff {
			delete(f.entries, k)
		}
	}
	data, err := json.MarshalIndent(f.entries, "", "\t")
	if err != nil {
		return err
	}
	defer clear(data)
	// Not durable: a session lost to a crash costs one full handshake.
	if err := write(path, append(data, '\n'), sessionsMode, false); err != nil {
		return fmt.Errorf("writing the TLS sessions file: %w", err)
	}
	f.changed = false
	return nil
}

// scoped is the tls.ClientSessionCache of one target and certificate: it
// ignores crypto/tls's key (the server name), which two sinks on one host
// would share.
func (f *sessionFile) scoped(key string) tls.ClientSessionCache {
	return &scopedSessions{f: f, key: key}
}

type scopedSessions struct {
	f   *sessionFile
	key string
}

func (s *scopedSessions) Get(string) (*tls.ClientSessionState, bool) {
	s.f.mu.Lock()
	e, ok := s.f.entries[s.key]
	s.f.mu.Unlock()
	if !ok || s.f.now().Sub(time.Unix(e.Stored, 0)) > sessionLifetime {
		return nil, false
	}
	st, err := tls.ParseSessionState(e.State)
	if err != nil {
		return nil, false
	}
	cs, err := tls.NewResumptionState(e.Ticket, st)
	if err != nil {
		return nil, false
	}
	return cs, true
}

func (s *scopedSessions) Put(_ string, cs *tls.ClientSessionState) {
	var e sessionEntry
	if cs != nil {
		ticket, st, err := cs.ResumptionState()
		if err != nil || st == nil {
			return
		}
		state, err := st.Bytes()
		if err != nil {
			return
		}
		e = sessionEntry{Ticket: ticket, State: state, Stored: s.f.now().Unix()}
	}
	s.f.mu.Lock()
	defer s.f.mu.Unlock()
	if cs == nil {
		delete(s.f.entries, s.key)
	} else {
		s.f.entries[s.key] = e
	}
	s.f.changed = true
}
