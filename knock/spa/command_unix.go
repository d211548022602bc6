//go:build unix

package spa

import (
	"fmt"
	"os/exec"
	"os/user"
	"strconv"
	"syscall"
)

// credential is the user and group a command message's command runs as.
type credential struct {
	user, group string
	uid, gid    uint32
}

func (c *credential) String() string {
	return fmt.Sprintf("%s/%s (uid %d, gid %d)", c.user, c.group, c.uid, c.gid)
}

// lookupCredential resolves CMD_EXEC_USER and CMD_EXEC_GROUP. A user
// "root" (or none) means the server's own user, as fwknopd.
func lookupCredential(userName, group string) (*credential, error) {
	if userName == "" || userName == "root" {
		if group != "" {
			return nil, fmt.Errorf("CMD_EXEC_GROUP %q needs a CMD_EXEC_USER other than root", group)
		}
		return nil, nil
	}
	u, err := user.Lookup(userName)
	if err != nil {
		return nil, fmt.Errorf("CMD_EXEC_USER %q: %v", userName, err)
	}
	c := &credential{user: u.Username}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("CMD_EXEC_USER %q: uid %q", userName, u.Uid)
	}
	c.uid = uint32(uid)
	gid := u.Gid
	c.group = gid
	if g, err := user.LookupGroupId(gid); err == nil {
		c.group = g.Name
	}
	if group != "" {
		g, err := user.LookupGroup(group)
		if err != nil {
			return nil, fmt.Errorf("CMD_EXEC_GROUP %q: %v", group, err)
		}
		gid, c.group = g.Gid, g.Name
	}
	n, err := strconv.ParseUint(gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("CMD_EXEC_GROUP: gid %q", gid)
	}
	c.gid = uint32(n)
	return c, nil
}

// lookupUser and lookupGroup check that a CMD_SUDO_EXEC_USER or
// CMD_SUDO_EXEC_GROUP exists, as fwknopd checks at start.
func lookupUser(name string) error {
	if _, err := user.Lookup(name); err != nil {
		return err
	}
	return nil
}

func lookupGroup(name string) error {
	if _, err := user.LookupGroup(name); err != nil {
		return err
	}
	return nil
}

// apply makes cmd run as c (nil: as this process), with no
// supplementary groups, in a process group of its own, which is killed
// whole when the command's time is up: what it started dies with it.
func (c *credential) apply(cmd *exec.Cmd) error {
	attr := &syscall.SysProcAttr{Setpgid: true}
	if c != nil {
		attr.Credential = &syscall.Credential{Uid: c.uid, Gid: c.gid, Groups: []uint32{}}
	}
	cmd.SysProcAttr = attr
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	return nil
}
