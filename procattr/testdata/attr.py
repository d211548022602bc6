# Test peers for procattr and ports capture: run under a name of the
# test's choosing (a link to python3), so that their comm is distinctive.
#
#   serve tcp|udp HOST PORT           echo server; prints "ready PID PORT"
#   conn  tcp|udp HOST PORT           one connection; prints "ready PID LOCAL";
#                                     each stdin line is sent and echoed ("echo")
#   many  tcp|udp HOST PORT N CONC MS N connections, CONC at a time, each held
#                                     MS ms after its echo; prints "ready PID",
#                                     then "done" when all have closed
import os, socket, sys, threading, time

mode, proto, host, port = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
fam = socket.AF_INET6 if ":" in host else socket.AF_INET
typ = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM


def out(*a):
    print(*a, flush=True)


def addr(s):
    a = s.getsockname()
    return ("[%s]:%d" if fam == socket.AF_INET6 else "%s:%d") % (a[0], a[1])


if mode == "serve":
    s = socket.socket(fam, typ)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, port))
    out("ready", os.getpid(), s.getsockname()[1])
    if typ == socket.SOCK_DGRAM:
        while True:
            d, a = s.recvfrom(65535)
            s.sendto(d, a)
    s.listen(1024)

    def handle(c):
        with c:
            while True:
                d = c.recv(65536)
                if not d:
                    return
                c.sendall(d)

    while True:
        c, _ = s.accept()
        threading.Thread(target=handle, args=(c,), daemon=True).start()
elif mode == "conn":
    c = socket.socket(fam, typ)
    c.connect((host, port))
    out("ready", os.getpid(), addr(c))
    for line in sys.stdin:
        c.send(line.encode())
        c.recv(65536)
        out("echo")
elif mode == "many":
    n, conc, hold = int(sys.argv[5]), int(sys.argv[6]), float(sys.argv[7]) / 1000
    out("ready", os.getpid())
    left = [n]
    lock = threading.Lock()

    def work():
        while True:
            with lock:
                if left[0] == 0:
                    return
                left[0] -= 1
            c = socket.socket(fam, typ)
            c.settimeout(10)
            c.connect((host, port))
            c.send(b"x")
            c.recv(16)
            time.sleep(hold)
            c.close()

    ts = [threading.Thread(target=work) for _ in range(conc)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    out("done")
