package socks_test

import "syscall"

var syscallECONNRESET = syscall.ECONNRESET
