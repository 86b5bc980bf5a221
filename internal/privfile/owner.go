package privfile

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"strconv"
	"syscall"
)

// ErrOwner is what every *OwnerError unwraps to.
var ErrOwner = errors.New("a file is owned by another user")

// OwnerError is a file owned by neither root nor the user the process
// runs as: that other user could change what the process trusts. Like
// *PermissionError it names the file and the fix.
type OwnerError struct {
	Path      string
	UID, EUID int // the file's owner; the process's effective user
}

func (e *OwnerError) Error() string {
	owner, me := userName(e.UID), userName(e.EUID)
	return fmt.Sprintf("%s: owned by %s, not by root or %s, which this runs as (fix: chown %s %s, or run as %s)",
		e.Path, owner, me, nameOrID(e.EUID), e.Path, nameOrID(e.UID))
}

// Unwrap returns ErrOwner.
func (e *OwnerError) Unwrap() error { return ErrOwner }

// CheckOwner refuses, with an *OwnerError, an open file owned by a user
// other than root and the process's effective user, as ssh refuses a key
// it does not own.
func CheckOwner(f *os.File) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	euid := os.Geteuid()
	if st.Uid != 0 && int(st.Uid) != euid {
		return &OwnerError{Path: f.Name(), UID: int(st.Uid), EUID: euid}
	}
	return nil
}

// userName is "uid N (name)", or "uid N" when N has no name here.
func userName(uid int) string {
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		return fmt.Sprintf("uid %d (%s)", uid, u.Username)
	}
	return fmt.Sprintf("uid %d", uid)
}

// nameOrID is what chown takes: the user's name, or the number.
func nameOrID(uid int) string {
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		return u.Username
	}
	return strconv.Itoa(uid)
}
