package sink

import (
	"crypto/rand"
	"crypto/tls"
	"sync"
	"time"
)

// TLS session resumption. A board delivers every few hours over a link of
// a few hundred bytes per second, and a full handshake with certificates
// both ways is about 1.1 KB. crypto/tls's own tickets would carry the
// session's state, the client's certificate and its chain included, to the
// client and back: about 900 bytes each way, more than resumption saves.
// So the listener keeps the states itself and gives out 16-byte random
// handles: a resumed delivery costs about 1.1 KB less than a full one
// (docs/BOARD.md has the figures).
//
// Each handle is good once (a resumed handshake gets a new one), at most
// sessionsPerClient are kept per listed client (the oldest go first), for
// at most sessionLifetime, and in memory only: a restart makes every
// client do one full handshake. A client whose certificate is not listed
// in Clients is given a handle to nothing. crypto/tls checks a resumed
// session's client certificate again (still valid, still chaining to
// ClientCA), and the rights are looked up by name at every request, so a
// client removed from Clients is refused whether it resumes or not.

const (
	// sessionsPerClient bounds the sessions kept for one client name: a
	// board's source holds one per sink, and a few spare cover a second
	// process with the same certificate.
	sessionsPerClient = 4
	// sessionLifetime is TLS 1.3's limit on a ticket (RFC 8446, 4.6.1).
	sessionLifetime = 7 * 24 * time.Hour
	// sessionHandleSize: 128 random bits, which nobody guesses.
	sessionHandleSize = 16
)

// sessionStore keeps the listener's TLS sessions by handle.
type sessionStore struct {
	clients map[string]ClientRights
	now     func() time.Time

	mu       sync.Mutex
	byHandle map[string]*storedSession
	byClient map[string][]string // handles, oldest first
}

type storedSession struct {
	client string
	state  []byte // SessionState.Bytes
	made   time.Time
}

func newSessionStore(clients map[string]ClientRights, now func() time.Time) *sessionStore {
	return &sessionStore{clients: clients, now: now, byHandle: map[string]*storedSession{}, byClient: map[string][]string{}}
}

// install makes tc issue and resume the store's sessions.
func (s *sessionStore) install(tc *tls.Config) {
	tc.WrapSession = s.wrap
	tc.UnwrapSession = s.unwrap
}

// wrap stores a new session and returns its handle.
func (s *sessionStore) wrap(cs tls.ConnectionState, ss *tls.SessionState) ([]byte, error) {
	handle := make([]byte, sessionHandleSize)
	if _, err := rand.Read(handle); err != nil {
		return nil, err
	}
	name := ""
	if len(cs.VerifiedChains) > 0 && len(cs.VerifiedChains[0]) > 0 {
		name = cs.VerifiedChains[0][0].Subject.CommonName
	}
	if _, listed := s.clients[name]; !listed {
		return handle, nil // a handle to nothing
	}
	state, err := ss.Bytes()
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	hs := s.byClient[name]
	for len(hs) >= sessionsPerClient {
		delete(s.byHandle, hs[0])
		hs = hs[1:]
	}
	s.byHandle[string(handle)] = &storedSession{client: name, state: state, made: s.now()}
	s.byClient[name] = append(hs, string(handle))
	return handle, nil
}

// unwrap takes the session of handle out of the store: nil if there is
// none, it has expired, or it does not parse.
func (s *sessionStore) unwrap(handle []byte, _ tls.ConnectionState) (*tls.SessionState, error) {
	s.mu.Lock()
	st, ok := s.byHandle[string(handle)]
	if ok {
		delete(s.byHandle, string(handle))
		hs := s.byClient[st.client]
		for i, h := range hs {
			if h == string(handle) {
				hs = append(hs[:i:i], hs[i+1:]...)
				break
			}
		}
		if len(hs) == 0 {
			delete(s.byClient, st.client)
		} else {
			s.byClient[st.client] = hs
		}
	}
	s.mu.Unlock()
	if !ok || s.now().Sub(st.made) > sessionLifetime {
		return nil, nil
	}
	ss, err := tls.ParseSessionState(st.state)
	if err != nil {
		return nil, nil // a full handshake instead
	}
	return ss, nil
}

// len reports the sessions held.
func (s *sessionStore) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.byHandle)
}
