package socktable

import (
	"os/user"
	"strconv"
)

// userNames caches uid -> user name for one listing; a uid without a
// name is written in decimal.
type userNames map[uint32]string

func (c userNames) name(uid uint32) string {
	if name, ok := c[uid]; ok {
		return name
	}
	name := strconv.FormatUint(uint64(uid), 10)
	if u, err := user.LookupId(name); err == nil {
		name = u.Username
	}
	c[uid] = name
	return name
}
