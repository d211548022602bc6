package socktable

import "bytes"

// containerOf names the container runtime of a process from its
// /proc/PID/cgroup contents, and the container's id: a path element
// holding a 64-digit hex id under a runtime's name, as in
//
//	0::/system.slice/docker-<id>.scope          docker (systemd driver)
//	0::/docker/<id>                             docker (cgroupfs driver)
//	0::/kubepods.slice/.../cri-containerd-<id>.scope   kubepods
//	0::/machine.slice/libpod-<id>.scope         podman
//	0::/system.slice/containerd.service/...<id> containerd
//
// The daemons themselves (docker.service) have no id and are on the host.
func containerOf(cgroup []byte) (runtime, id string) {
	for _, line := range bytes.Split(cgroup, []byte("\n")) {
		id := hexID(line)
		if id == "" {
			continue
		}
		switch {
		case bytes.Contains(line, []byte("kubepods")):
			return "kubepods", id
		case bytes.Contains(line, []byte("libpod")) || bytes.Contains(line, []byte("podman")):
			return "podman", id
		case bytes.Contains(line, []byte("docker")):
			return "docker", id
		case bytes.Contains(line, []byte("containerd")):
			return "containerd", id
		}
	}
	return "", ""
}

// hexID returns the last run of exactly 64 hex digits in line, or "".
func hexID(line []byte) string {
	id := ""
	run := 0
	for i := 0; i <= len(line); i++ {
		if i < len(line) && isHex(line[i]) {
			run++
			continue
		}
		if run == 64 {
			id = string(line[i-64 : i])
		}
		run = 0
	}
	return id
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' }
