package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/creditjambo/creditjambo/auth"
	dbsql "github.com/creditjambo/creditjambo/sql"
)

// createSuperuser is `creditjambo createsuperuser --username U --email E
// [--password-stdin]`: it creates an admin (a superuser, email verified),
// reading the password from a terminal with echo off, twice, or as one line
// from stdin with --password-stdin. A password against the rules is refused
// with the reasons.
func createSuperuser(ctx context.Context, cfg config, pool *pgxpool.Pool, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("createsuperuser", flag.ContinueOnError)
	fs.SetOutput(stderr)
	username := fs.String("username", "", "the admin's username (required)")
	email := fs.String("email", "", "the admin's email address (required)")
	fromStdin := fs.Bool("password-stdin", false, "read the password as one line from stdin instead of prompting")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *username == "" || *email == "" || fs.NArg() > 0 {
		fs.Usage()
		return errors.New("createsuperuser: --username and --email are required, and nothing else")
	}
	if err := dbsql.CheckCurrent(ctx, pool); err != nil {
		return fmt.Errorf("createsuperuser: %w", err)
	}

	var password string
	var err error
	if *fromStdin {
		password, err = readLine(stdin)
	} else {
		password, err = promptPassword(stdin, stderr)
	}
	if err != nil {
		return fmt.Errorf("createsuperuser: %w", err)
	}

	svc, err := newAuth(cfg, pool, nil) // no event: an operator's account gets no welcome email
	if err != nil {
		return err
	}
	u, err := svc.CreateUser(ctx, auth.NewUser{
		Username: *username, Email: *email, Password: password,
		Role: auth.RoleAdmin, Superuser: true, EmailVerified: true,
	})
	var inv *auth.InvalidError
	if errors.As(err, &inv) {
		return fmt.Errorf("createsuperuser: %s", describeInvalid(inv))
	}
	if err != nil {
		return fmt.Errorf("createsuperuser: %w", err)
	}
	fmt.Fprintf(stdout, "superuser %q created (id %d)\n", u.Username, u.ID)
	return nil
}

// readLine reads one line (without its line ending) from r.
func readLine(r io.Reader) (string, error) {
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		if errors.Is(err, io.EOF) {
			return "", errors.New("no password on stdin")
		}
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// promptPassword asks for the password twice on the terminal of stdin, with
// echo off.
func promptPassword(stdin io.Reader, prompt io.Writer) (string, error) {
	f, ok := stdin.(*os.File)
	if !ok || !isTerminal(f) {
		return "", errors.New("stdin is not a terminal: pass --password-stdin to read the password from it")
	}
	fmt.Fprint(prompt, "Password: ")
	first, err := readPassword(f)
	fmt.Fprintln(prompt)
	if err != nil {
		return "", err
	}
	fmt.Fprint(prompt, "Password (again): ")
	second, err := readPassword(f)
	fmt.Fprintln(prompt)
	if err != nil {
		return "", err
	}
	if first != second {
		return "", errors.New("the two passwords differ")
	}
	return first, nil
}

// describeInvalid is an *auth.InvalidError as one line for a terminal.
func describeInvalid(inv *auth.InvalidError) string {
	fields := make([]string, 0, len(inv.Fields))
	for f := range inv.Fields {
		fields = append(fields, f)
	}
	sort.Strings(fields)
	var parts []string
	for _, f := range fields {
		parts = append(parts, f+": "+strings.Join(inv.Fields[f], " "))
	}
	return strings.Join(parts, "; ")
}
