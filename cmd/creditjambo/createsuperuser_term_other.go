//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package main

import (
	"errors"
	"os"
)

// isTerminal is false where the terminal cannot be put in no-echo mode:
// createsuperuser then needs --password-stdin.
func isTerminal(*os.File) bool { return false }

func readPassword(*os.File) (string, error) {
	return "", errors.New("reading a password from the terminal is not supported here: use --password-stdin")
}
