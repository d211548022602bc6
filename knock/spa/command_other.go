//go:build !unix

package spa

import (
	"errors"
	"os/exec"
)

type credential struct{}

func (c *credential) String() string { return "" }

func lookupCredential(userName, group string) (*credential, error) {
	if (userName == "" || userName == "root") && group == "" {
		return nil, nil
	}
	return nil, errors.New("CMD_EXEC_USER and CMD_EXEC_GROUP need a Unix system")
}

func (c *credential) apply(*exec.Cmd) error { return nil }

func lookupUser(string) error  { return errors.New("CMD_SUDO_EXEC_USER needs a Unix system") }
func lookupGroup(string) error { return errors.New("CMD_SUDO_EXEC_GROUP needs a Unix system") }
