package spa

import (
	"strings"
	"testing"

	"github.com/portkit/ports/internal/cfgfile"
)

func FuzzParseAccessFile(f *testing.F) {
	f.Add("SOURCE ANY\nOPEN_PORTS tcp/22, udp/53\nKEY_BASE64 YWJj\nHMAC_KEY_BASE64 ZGVm\nFW_ACCESS_TIMEOUT 30\n")
	f.Add("SOURCE 10.0.0.0/8, 192.0.2.1\nKEY k\nHMAC_KEY h\nCMD_CYCLE_OPEN /bin/true '$IP'\nCMD_CYCLE_CLOSE NONE\n")
	f.Add("# comment\nSOURCE: ANY\nREQUIRE_SOURCE_ADDRESS Y\n")
	f.Add("SOURCE ANY\nENABLE_CMD_EXEC Y\nCMD_EXEC_USER nobody\nKEY k\nHMAC_KEY h\n")
	f.Add("SOURCE ANY\nOPEN_PORTS tcp/22\nFORCE_NAT 10.0.0.2 2222\nKEY k\nHMAC_KEY h\nGPG_REMOTE_ID x\n")
	f.Fuzz(func(t *testing.T, s string) {
		st, err := ParseAccessFile(strings.NewReader(s), "fuzz.conf")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.conf") || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error not one line naming the file: %q", err)
			}
			// A problem of the content (not of reading) is in the shape
			// every configuration parser gives, and reads the same.
			if ps := cfgfile.ProblemsOf(err); ps != nil && (len(ps) != 1 || ps[0].String() != err.Error() || ps[0].File != "fuzz.conf") {
				t.Fatalf("problems %+v of %q", ps, err)
			}
			return
		}
		for _, x := range st {
			if len(x.OpenPorts) == 0 && !x.EnableCmdExec {
				t.Fatalf("stanza without OPEN_PORTS or ENABLE_CMD_EXEC accepted: %+v", x)
			}
			if x.ForceNAT.IsValid() && (!x.ForceNAT.Addr().Is4() || x.ForceNAT.Port() == 0) {
				t.Fatalf("FORCE_NAT %v accepted", x.ForceNAT)
			}
			if len(x.Keys.Enc) == 0 && x.GPG == nil || len(x.Keys.Enc) > 32 || len(x.Keys.HMAC) == 0 {
				t.Fatalf("stanza with bad keys accepted: %+v", x)
			}
			for _, p := range x.OpenPorts {
				back, err := ParsePortSpec(p.String())
				if err != nil || back != p {
					t.Fatalf("port %v re-parses as %v, %v", p, back, err)
				}
			}
		}
	})
}

func FuzzParseKeyFile(f *testing.F) {
	f.Add("KEY_BASE64: YWJj\nHMAC_KEY_BASE64: ZGVm\n")
	f.Add("[default]\nKEY pass\n[host]\nHMAC_KEY x;\n")
	f.Add("[default]\nDIGEST_TYPE sha512\n[host]\nACCESS tcp/22,udp/53\nALLOW_IP 192.0.2.1\nFW_TIMEOUT 45\nSPA_SERVER_PORT 1\n")
	f.Add("[host]\nUSE_HMAC N\nALLOW_IP resolve\n")
	f.Add("[host]\nSERVER_CMD /bin/true x\nNAT_ACCESS 10.0.0.2:22\n")
	f.Fuzz(func(t *testing.T, s string) {
		ParseKeyFile(strings.NewReader(s), "fuzz", "")
		for _, stanza := range []string{"", "host"} {
			rc, err := ParseRCFile(strings.NewReader(s), "fuzz", stanza)
			if err != nil {
				if !strings.HasPrefix(err.Error(), "fuzz") || strings.Contains(err.Error(), "\n") {
					t.Fatalf("error not one line naming the file: %q", err)
				}
				continue
			}
			for _, a := range rc.Access {
				if _, err := ParsePortSpec(a); err != nil {
					t.Fatalf("ACCESS %q accepted: %v", a, err)
				}
			}
			if rc.ServerPort < 0 || rc.ServerPort > 65535 || rc.FWTimeout < 0 {
				t.Fatalf("out of range: %+v", rc)
			}
		}
	})
}

func FuzzParseAccess(f *testing.F) {
	f.Add("198.18.0.1,tcp/22")
	f.Add("0.0.0.0,udp/53,tcp/80")
	f.Fuzz(func(t *testing.T, s string) {
		ip, specs, err := ParseAccess(s)
		if err != nil {
			return
		}
		if !ip.Is4() || len(specs) == 0 {
			t.Fatalf("%q -> %v %v", s, ip, specs)
		}
	})
}

func FuzzParseCommand(f *testing.F) {
	f.Add("127.0.0.1,/usr/bin/touch /tmp/a;b 'c d'")
	f.Add("0.0.0.0,\t x \v")
	f.Fuzz(func(t *testing.T, s string) {
		ip, cmd, err := parseCommand(s)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error of more than one line: %q", err)
			}
			return
		}
		words := SplitServerCommand(cmd)
		if !ip.Is4() || len(words) == 0 {
			t.Fatalf("%q -> %v %q", s, ip, words)
		}
		for _, w := range words {
			if w == "" || strings.ContainsAny(w, " \t\n\v\f\r") {
				t.Fatalf("%q: word %q", s, w)
			}
		}
	})
}

func FuzzParseNATAccess(f *testing.F) {
	f.Add("10.0.0.2,22")
	f.Add("fwknop.example,22")
	f.Fuzz(func(t *testing.T, s string) {
		ap, err := parseNATAccess(s)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error of more than one line: %q", err)
			}
			return
		}
		if !ap.Addr().Is4() || ap.Port() == 0 {
			t.Fatalf("%q -> %v", s, ap)
		}
	})
}
