package tpm

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// The Microsoft TPM 2.0 simulator's TCP protocol (the reference
// implementation's TpmTcpProtocol.h), command port side: a command is
// sent as TPM_SEND_COMMAND, the locality and the length-prefixed command
// bytes; the answer is the length-prefixed response and a 4-byte status,
// 0 for success. swtpm speaks it on its server port besides raw commands.
//
// go-tpm's transport/tcp does the same framing but insists on a platform
// port too (swtpm's control port speaks another protocol) and reads a
// response with one Read, which a large response split across TCP
// segments breaks. This is the part of it entropyshare needs.
const (
	simSendCommand = 8
	simLocality    = 0
	// simMaxResponse bounds what the simulator may send back: TPM 2.0
	// responses fit in MAX_RESPONSE_SIZE, 4096 bytes on every profile.
	simMaxResponse = 4096
	// simDialTimeout and simCommandTimeout bound a simulator's answers:
	// creating an RSA-3072 key is the slowest command (seconds).
	simDialTimeout    = 5 * time.Second
	simCommandTimeout = 2 * time.Minute
)

type simulator struct {
	c net.Conn
}

func dialSimulator(addr string) (*simulator, error) {
	c, err := net.DialTimeout("tcp", addr, simDialTimeout)
	if err != nil {
		return nil, err
	}
	return &simulator{c: c}, nil
}

// Send implements transport.TPM.
func (s *simulator) Send(cmd []byte) ([]byte, error) {
	if err := s.c.SetDeadline(time.Now().Add(simCommandTimeout)); err != nil {
		return nil, err
	}
	msg := make([]byte, 9, 9+len(cmd))
	binary.BigEndian.PutUint32(msg[0:], simSendCommand)
	msg[4] = simLocality
	binary.BigEndian.PutUint32(msg[5:], uint32(len(cmd)))
	if _, err := s.c.Write(append(msg, cmd...)); err != nil {
		return nil, fmt.Errorf("sending a command: %w", err)
	}
	var n [4]byte
	if _, err := io.ReadFull(s.c, n[:]); err != nil {
		return nil, fmt.Errorf("reading a response: %w", err)
	}
	size := binary.BigEndian.Uint32(n[:])
	if size == 0 || size > simMaxResponse {
		return nil, fmt.Errorf("simulator sent a %d-byte response", size)
	}
	rsp := make([]byte, size+4)
	if _, err := io.ReadFull(s.c, rsp); err != nil {
		return nil, fmt.Errorf("reading a response: %w", err)
	}
	if status := binary.BigEndian.Uint32(rsp[size:]); status != 0 {
		return nil, fmt.Errorf("simulator status %d", status)
	}
	return rsp[:size], nil
}

// Close implements transport.TPMCloser.
func (s *simulator) Close() error {
	err := s.c.Close()
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}
