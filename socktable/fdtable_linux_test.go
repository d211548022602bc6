package socktable

import (
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
)

// TestIntegrationFDTable reads the test's own table: the socket of a
// listener at its descriptor has the inode ss gives it, both one
// descriptor at a time and in the whole table, where a file that is not
// a socket has inode 0; a closed descriptor is not open; once the
// process behind a table is gone, its reads fail rather than read
// another process.
func TestIntegrationFDTable(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	want := ssInode(t, "tl", "sport", "= :"+strconv.Itoa(port))
	raw, err := ln.(*net.TCPListener).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var lfd int
	raw.Control(func(fd uintptr) { lfd = int(fd) })
	file, err := os.Open("/dev/null")
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	tab, err := OpenFDTable(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	defer tab.Close()
	if ino, open := tab.SocketAt(lfd); !open || ino != want {
		t.Errorf("SocketAt(%d) = %d, %v; want %d (ss), true", lfd, ino, open, want)
	}
	if ino, open := tab.SocketAt(int(file.Fd())); !open || ino != 0 {
		t.Errorf("SocketAt(/dev/null's %d) = %d, %v; want 0, true", file.Fd(), ino, open)
	}
	seen := map[int]uint64{}
	if err := tab.Files(func(fd int, ino uint64) bool { seen[fd] = ino; return true }); err != nil {
		t.Fatal(err)
	}
	if seen[lfd] != want {
		t.Errorf("Files: descriptor %d is %d, want %d", lfd, seen[lfd], want)
	}
	if ino, ok := seen[int(file.Fd())]; !ok || ino != 0 {
		t.Errorf("Files: /dev/null's descriptor %d: %d, %v; want 0, true", file.Fd(), ino, ok)
	}
	n := 0
	tab.Files(func(int, uint64) bool { n++; return false })
	if n != 1 {
		t.Errorf("Files went on after false: %d calls", n)
	}
	closed := int(file.Fd())
	file.Close()
	if _, open := tab.SocketAt(closed); open {
		t.Errorf("SocketAt(%d) after close: open", closed)
	}

	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Skipf("cannot start sleep: %v", err)
	}
	other, err := OpenFDTable(cmd.Process.Pid)
	if err != nil {
		cmd.Process.Kill()
		t.Fatal(err)
	}
	defer other.Close()
	if err := other.Files(func(int, uint64) bool { return true }); err != nil {
		t.Fatalf("a running process: %v", err)
	}
	cmd.Process.Kill()
	cmd.Wait()
	if err := other.Files(func(int, uint64) bool { return true }); err == nil {
		t.Error("Files of a process that is gone: no error")
	}
	if _, open := other.SocketAt(0); open {
		t.Error("SocketAt of a process that is gone: open")
	}
}

// FuzzSocketInode: socketInode reads only "socket:[DIGITS]" that fits
// in 64 bits, and what it reads is what strconv reads.
func FuzzSocketInode(f *testing.F) {
	for _, s := range []string{"socket:[12345]", "socket:[]", "socket:[1", "pipe:[77]", "/dev/null",
		"socket:[18446744073709551615]", "socket:[18446744073709551616]", "socket:[-1]", "socket:[+1]", "anon_inode:[eventpoll]"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ino, ok := socketInode(b)
		s := string(b)
		inner, isSock := "", len(s) >= len("socket:[]") && s[:8] == "socket:[" && s[len(s)-1] == ']'
		if isSock {
			inner = s[8 : len(s)-1]
		}
		digits := inner != ""
		for _, c := range inner {
			digits = digits && c >= '0' && c <= '9'
		}
		want, err := strconv.ParseUint(inner, 10, 64)
		wantOK := isSock && digits && err == nil
		// socketInode refuses, as a bound, values within 10 of the top.
		if ok != wantOK && !(wantOK && want > (1<<64-1)/10*10-10) {
			t.Fatalf("socketInode(%q) = %d, %v; strconv: %d, %v", b, ino, ok, want, wantOK)
		}
		if ok && ino != want {
			t.Fatalf("socketInode(%q) = %d, want %d", b, ino, want)
		}
	})
}

// FuzzFDNumber: fdNumber reads what strconv.Atoi reads for names of
// up to 9 digits, and nothing else.
func FuzzFDNumber(f *testing.F) {
	for _, s := range []string{"0", "7", "123456789", "1234567890", ".", "..", "", "-1", "+1", "0x1"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		n, ok := fdNumber(b)
		s := string(b)
		digits := len(s) > 0 && len(s) <= 9
		for _, c := range s {
			digits = digits && c >= '0' && c <= '9'
		}
		want, _ := strconv.Atoi(s)
		if ok != digits || ok && n != want {
			t.Fatalf("fdNumber(%q) = %d, %v; want %d, %v", b, n, ok, want, digits)
		}
	})
}
