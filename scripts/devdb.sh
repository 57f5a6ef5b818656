#!/usr/bin/env bash
# scripts/devdb.sh: a project-local PostgreSQL cluster for development and tests.
#
#   scripts/devdb.sh start     start the cluster (creating it the first time) and the
#                              "creditjambo" database; prints its DATABASE_URL on stdout
#   scripts/devdb.sh stop      stop the cluster
#   scripts/devdb.sh status    say whether it runs (exit 0) or not (exit 3)
#   scripts/devdb.sh url       print the DATABASE_URL of the dev database (starts nothing)
#   scripts/devdb.sh test-url  print the TEST_DATABASE_URL `make test` should use:
#                              $TEST_DATABASE_URL if set, else a PostgreSQL on
#                              127.0.0.1:5432 that lets user postgres in without a
#                              password, else this cluster (started if needed)
#   scripts/devdb.sh psql      open psql on the dev database (cluster must run)
#   scripts/devdb.sh bindir    print the PostgreSQL bin directory used (exit 1 if none)
#
# Only URLs go to stdout; every message goes to stderr.
#
# Layout (all git-ignored): the cluster in .data/postgres, its unix socket in
# .data/run, its log in .data/postgres.log. It listens on 127.0.0.1 only, on port
# $DEV_PG_PORT (default 54329, away from a system server on 5432).
#
# Environment:
#   DEV_PG_PORT       port of the local cluster (default 54329)
#   DEV_DATA_DIR      data folder (default <project>/.data)
#   PG_BINDIR         use the PostgreSQL binaries in this directory
#   PG_BINDIR_SEARCH  glob of bin directories searched after PATH, newest version
#                     first (default /usr/lib/postgresql/*/bin)
#   DEVDB_PROBE_HOST, DEVDB_PROBE_PORT
#                     the shared server test-url tries first (default 127.0.0.1:5432)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
DATA_DIR=${DEV_DATA_DIR:-$ROOT/.data}
PORT=${DEV_PG_PORT:-54329}
DEV_DB=creditjambo
PG_BINDIR_SEARCH=${PG_BINDIR_SEARCH:-/usr/lib/postgresql/*/bin}
PROBE_HOST=${DEVDB_PROBE_HOST:-127.0.0.1}
PROBE_PORT=${DEVDB_PROBE_PORT:-5432}

# libpq reads PGHOST, PGPORT, PGSSLMODE, PGSERVICE... from the environment; a
# developer's settings must not redirect the commands below, which name their
# server explicitly.
# (PG_BINDIR* are ours and survive: libpq's all read PG<letter>.)
while read -r v; do unset "$v"; done < <(compgen -e | grep '^PG[A-Z]' || true)

msg() { printf 'devdb: %s\n' "$*" >&2; }
die() { msg "$*"; exit 1; }

case "$PORT" in '' | *[!0-9]*) die "DEV_PG_PORT must be a port number, not '$PORT'" ;; esac

IS_ROOT=false
[ "$(id -u)" = 0 ] && IS_ROOT=true

# ---------------------------------------------------------------------------
# PostgreSQL binaries

# find_bindir prints the directory holding initdb, pg_ctl and postgres: $PG_BINDIR,
# else the one pg_ctl on PATH comes from (symlinks resolved, so psql from the same
# installation is used), else the newest $PG_BINDIR_SEARCH match.
find_bindir() {
	local d p
	if [ -n "${PG_BINDIR:-}" ]; then
		[ -x "$PG_BINDIR/pg_ctl" ] && [ -x "$PG_BINDIR/initdb" ] || return 1
		printf '%s\n' "$PG_BINDIR"
		return 0
	fi
	if p=$(command -v pg_ctl 2>/dev/null); then
		for d in "$(dirname "$(readlink -f "$p" 2>/dev/null || echo "$p")")" "$(dirname "$p")"; do
			if [ -x "$d/initdb" ] && [ -x "$d/postgres" ]; then
				printf '%s\n' "$d"
				return 0
			fi
		done
	fi
	# shellcheck disable=SC2086 # the glob is meant to expand
	for d in $(printf '%s\n' $PG_BINDIR_SEARCH | sort -rV); do
		if [ -x "$d/pg_ctl" ] && [ -x "$d/initdb" ] && [ -x "$d/postgres" ]; then
			printf '%s\n' "$d"
			return 0
		fi
	done
	return 1
}

no_binaries() {
	local sudo=sudo
	if $IS_ROOT; then sudo=; fi
	cat >&2 <<-EOF
		devdb: no PostgreSQL server binaries found (initdb and pg_ctl on PATH or under
		devdb: $PG_BINDIR_SEARCH). Install PostgreSQL, then run this again:
		devdb:   Debian/Ubuntu:  ${sudo:+sudo }apt-get install -y postgresql
		devdb:   Fedora/RHEL:    ${sudo:+sudo }dnf install -y postgresql-server
		devdb:   Arch Linux:     ${sudo:+sudo }pacman -S --noconfirm postgresql
		devdb:   macOS:          brew install postgresql@16   (and put its bin directory on PATH)
		devdb: or set PG_BINDIR to a bin directory, or point DATABASE_URL (make run) /
		devdb: TEST_DATABASE_URL (make test) at a server you already have.
	EOF
	exit 1
}

# major_of BINDIR prints the major version of those binaries (15, 16, or 9.6).
major_of() {
	local v major rest minor
	v=$("$1/pg_ctl" --version | awk '{print $3; exit}') # "pg_ctl (PostgreSQL) 15.20"
	major=${v%%[!0-9]*}
	if [ "${major:-0}" -ge 10 ]; then
		echo "$major"
	else
		rest=${v#*.}
		minor=${rest%%[!0-9]*}
		echo "$major.${minor:-0}"
	fi
}

BINDIR=
# use_binaries sets BINDIR, preferring binaries of the version an existing
# cluster was created with.
use_binaries() {
	[ -n "$BINDIR" ] && return 0
	BINDIR=$(find_bindir) || no_binaries
	if [ -f "$PGDATA/PG_VERSION" ]; then
		local want have
		want=$(cat "$PGDATA/PG_VERSION")
		have=$(major_of "$BINDIR")
		if [ "$want" != "$have" ]; then
			if [ -z "${PG_BINDIR:-}" ] && [ -x "/usr/lib/postgresql/$want/bin/pg_ctl" ]; then
				BINDIR=/usr/lib/postgresql/$want/bin
			else
				die "the cluster in $PGDATA was created by PostgreSQL $want but the binaries in $BINDIR are $have; install PostgreSQL $want, set PG_BINDIR, or remove the cluster (scripts/devdb.sh stop; rm -rf $PGDATA)"
			fi
		fi
	fi
}

# client TOOL prints the path of a client tool (psql, createdb, pg_isready),
# preferring the server's bin directory.
client() {
	local b
	b=$(find_bindir 2>/dev/null || true)
	if [ -n "$b" ] && [ -x "$b/$1" ]; then
		printf '%s\n' "$b/$1"
	else
		command -v "$1" 2>/dev/null
	fi
}

# ---------------------------------------------------------------------------
# Where the cluster lives
#
# Normally in $DATA_DIR. initdb and postgres refuse to run as root, so as root
# the cluster belongs to the "postgres" system user and is run with runuser; that
# user must be able to reach $DATA_DIR, which it cannot when the project sits in a
# private directory (a CI checkout under /root, a 0700 home). Changing the
# permissions of the user's directories would be intrusive, so the cluster then
# lives in /tmp/creditjambo-pg-<hash of the project path> (one per checkout,
# stable across runs) and $DATA_DIR/postgres, run and postgres.log are symlinks to
# it, so the documented paths still lead there. Being in /tmp, such a cluster is
# lost on reboot and simply created again: it only ever holds development and
# test data. The choice is made once, when the cluster is first created, and
# afterwards read back from what $DATA_DIR/postgres is (directory or symlink).

PG_USER=postgres

# as_pg runs a command as the cluster's owner. fd 9 (the lock) is closed so the
# server pg_ctl starts does not hold it for ever.
as_pg() {
	if $IS_ROOT; then
		# From /: postgres may not be allowed into the current directory.
		if command -v runuser >/dev/null 2>&1; then
			(cd / && runuser -u "$PG_USER" -- "$@" 9>&-)
		else
			(cd / && su -s /bin/bash "$PG_USER" -c "$(printf '%q ' "$@")" 9>&-)
		fi
	else
		"$@" 9>&-
	fi
}

ensure_pg_user() {
	$IS_ROOT || return 0
	id -u "$PG_USER" >/dev/null 2>&1 && return 0
	msg "creating system user $PG_USER to own the cluster"
	useradd --system --user-group --home-dir /nonexistent --no-create-home \
		--shell /usr/sbin/nologin --comment "PostgreSQL administrator" "$PG_USER" \
		|| die "could not create the $PG_USER user (needed because initdb refuses to run as root)"
}

owner_of() { stat -c %U "$1" 2>/dev/null || stat -f %Su "$1"; }

hash_of() {
	if command -v sha256sum >/dev/null 2>&1; then
		printf '%s' "$1" | sha256sum | cut -c1-12
	else
		printf '%s' "$1" | cksum | cut -d' ' -f1
	fi
}

FALLBACK=/tmp/creditjambo-pg-$(hash_of "$ROOT")
BASE=       # directory holding postgres/, run/ and postgres.log
PGDATA=
SOCKDIR=
LOGFILE=

make_data_dir() {
	[ -d "$DATA_DIR" ] && return 0
	mkdir -p "$DATA_DIR"
	# As root: let the postgres user through (but not list it).
	if $IS_ROOT; then chmod 0711 "$DATA_DIR"; fi
}

# locate sets BASE, PGDATA, SOCKDIR, LOGFILE from what already exists (decide=false)
# or, when nothing does yet, by choosing a place (decide=true).
locate() {
	local decide=${1:-false}
	if [ -L "$DATA_DIR/postgres" ]; then
		BASE=$(dirname "$(readlink "$DATA_DIR/postgres")")
	elif [ -d "$DATA_DIR/postgres" ] || ! $decide || ! $IS_ROOT; then
		BASE=$DATA_DIR
	else
		# As root, creating: can postgres reach $DATA_DIR?
		BASE=$DATA_DIR
		if ! as_pg test -x "$DATA_DIR" >/dev/null 2>&1; then
			BASE=$FALLBACK
			msg "user $PG_USER cannot enter $DATA_DIR; keeping the cluster in $BASE (symlinked from $DATA_DIR)"
		fi
	fi
	PGDATA=$BASE/postgres
	SOCKDIR=$BASE/run
	LOGFILE=$BASE/postgres.log
	# A unix socket path is limited to ~107 bytes; a deep checkout would exceed it.
	if [ $((${#SOCKDIR} + 20)) -gt 100 ]; then
		SOCKDIR=$FALLBACK/run
	fi
}

# tmp_base DIR creates DIR, a predictable name in /tmp, refusing one somebody
# else planted.
tmp_base() {
	local owner
	[ -L "$1" ] && die "$1 is a symlink; remove it"
	[ -d "$1" ] || mkdir -m 0700 "$1"
	owner=$(owner_of "$1")
	[ "$owner" = "$(id -un)" ] || [ "$owner" = "$PG_USER" ] || die "$1 belongs to $owner; remove it"
	if $IS_ROOT; then chown "$PG_USER:" "$1"; fi
}

# prepare_dirs creates the directories, owned by whoever runs the cluster.
prepare_dirs() {
	[ "$BASE" = "$DATA_DIR" ] || tmp_base "$BASE"
	[ "$SOCKDIR" = "$BASE/run" ] || tmp_base "$(dirname "$SOCKDIR")"
	mkdir -p "$PGDATA" "$SOCKDIR"
	[ -e "$LOGFILE" ] || : >"$LOGFILE"
	chmod 0700 "$PGDATA"
	chmod 0755 "$SOCKDIR"
	if $IS_ROOT; then
		chown "$PG_USER:" "$PGDATA" "$SOCKDIR" "$LOGFILE"
	fi
	if [ "$BASE" != "$DATA_DIR" ]; then
		local n
		for n in postgres postgres.log; do
			[ -e "$DATA_DIR/$n" ] || [ -L "$DATA_DIR/$n" ] || ln -s "$BASE/$n" "$DATA_DIR/$n"
		done
	fi
	if [ "$SOCKDIR" != "$DATA_DIR/run" ]; then
		[ -e "$DATA_DIR/run" ] || [ -L "$DATA_DIR/run" ] || ln -s "$SOCKDIR" "$DATA_DIR/run"
	fi
}

# Serialize start/stop between concurrent callers (two `make test` at once).
lock() {
	make_data_dir
	if command -v flock >/dev/null 2>&1 && { exec 9>>"$DATA_DIR/.devdb.lock"; } 2>/dev/null; then
		flock 9
	fi
}

# ---------------------------------------------------------------------------
# The cluster

is_running() {
	[ -f "$PGDATA/PG_VERSION" ] || return 1
	[ -f "$PGDATA/postmaster.pid" ] || return 1
	use_binaries
	as_pg "$BINDIR/pg_ctl" status -D "$PGDATA" >/dev/null 2>&1
}

# running_port prints the port the running cluster listens on (postmaster.pid line 4).
running_port() {
	sed -n 4p "$PGDATA/postmaster.pid" 2>/dev/null || true
}

show_log() {
	local f=$1
	[ -s "$f" ] || return 0
	msg "last lines of $f:"
	tail -n 25 "$f" | sed 's/^/    /' >&2
}

# answers HOST PORT: is a server listening there? (2 s at most)
answers() {
	local isready rc=0
	if isready=$(client pg_isready); then
		"$isready" -q -h "$1" -p "$2" -t 2 >/dev/null 2>&1 || rc=$?
		# 0 accepting, 1 rejecting (starting up...): both mean a server is there.
		[ "$rc" -le 1 ]
		return
	fi
	if command -v timeout >/dev/null 2>&1; then
		# shellcheck disable=SC2016 # expanded by the inner bash
		timeout 2 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$1" "$2" 2>/dev/null
	else
		(exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
	fi
}

check_owner() {
	$IS_ROOT && return 0
	local owner
	owner=$(owner_of "$PGDATA")
	[ "$owner" = "$(id -un)" ] || die "the cluster in $PGDATA belongs to $owner (it was created as root); run as root, or remove it"
}

# ensure_cluster creates the cluster if needed and starts it; sets PORT to the
# port it listens on.
ensure_cluster() {
	lock
	locate true
	ensure_pg_user
	use_binaries
	if [ -d "$PGDATA" ] && [ -f "$PGDATA/PG_VERSION" ]; then
		check_owner
		if is_running; then
			local p
			p=$(running_port)
			if [ -n "$p" ] && [ "$p" != "$PORT" ]; then
				msg "the cluster already runs on port $p (not DEV_PG_PORT=$PORT); using it (scripts/devdb.sh stop to change)"
			fi
			PORT=${p:-$PORT}
			return 0
		fi
	fi
	prepare_dirs
	if [ ! -f "$PGDATA/PG_VERSION" ]; then
		msg "creating a PostgreSQL $(major_of "$BINDIR") cluster in $PGDATA"
		local out
		out=$(mktemp)
		# Trust authentication: the cluster only listens on 127.0.0.1 and on a
		# socket in the project's data folder, and holds throw-away development
		# and test data; no password keeps DATABASE_URL and the tests simple.
		# (Any local user of this machine could connect: use a real server with
		# passwords on a shared host.)
		if ! as_pg "$BINDIR/initdb" -D "$PGDATA" --auth=trust --username=postgres \
			--encoding=UTF8 --locale=C >"$out" 2>&1; then
			msg "initdb failed:"
			sed 's/^/    /' "$out" >&2
			rm -f "$out"
			exit 1
		fi
		rm -f "$out"
	fi
	if answers 127.0.0.1 "$PORT"; then
		die "port $PORT on 127.0.0.1 is already taken by another server; choose another with DEV_PG_PORT=<port>"
	fi
	msg "starting PostgreSQL on 127.0.0.1:$PORT (log: $LOGFILE)"
	# max_connections: `go test ./...` runs packages in parallel, each opening
	# pools of up to 10 connections per test database; 100 is too few.
	if ! as_pg "$BINDIR/pg_ctl" start -D "$PGDATA" -l "$LOGFILE" -w -t 60 \
		-o "-k '$SOCKDIR' -p $PORT -c listen_addresses=127.0.0.1 -c max_connections=300" \
		>/dev/null 2>&1; then
		msg "PostgreSQL failed to start"
		show_log "$LOGFILE"
		exit 1
	fi
}

url_for() { printf 'postgres://postgres@127.0.0.1:%s/%s?sslmode=disable\n' "$PORT" "$1"; }

psql_cmd() {
	local psql
	psql=$(client psql) || die "psql not found"
	"$psql" -X -q -w -h 127.0.0.1 -p "$PORT" -U postgres "$@"
}

ensure_dev_db() {
	local have
	have=$(psql_cmd -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$DEV_DB'") \
		|| die "cannot connect to the cluster on 127.0.0.1:$PORT"
	if [ "$have" != 1 ]; then
		msg "creating database $DEV_DB"
		psql_cmd -d postgres -c "CREATE DATABASE $DEV_DB" >/dev/null 2>&1 \
			|| [ "$(psql_cmd -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$DEV_DB'")" = 1 ] \
			|| die "could not create database $DEV_DB"
	fi
}

redact() { sed 's#\(://[^:/@]*\):[^@/]*@#\1:***@#'; }

# ---------------------------------------------------------------------------
# Commands

cmd_start() {
	ensure_cluster
	ensure_dev_db
	url_for "$DEV_DB"
}

cmd_stop() {
	locate
	if [ ! -f "$PGDATA/PG_VERSION" ]; then
		msg "no cluster in $PGDATA"
		return 0
	fi
	lock
	if ! is_running; then
		msg "the cluster in $PGDATA is not running"
		return 0
	fi
	if as_pg "$BINDIR/pg_ctl" stop -D "$PGDATA" -m fast -w -t 60 >/dev/null 2>&1; then
		msg "stopped the cluster in $PGDATA"
	else
		msg "pg_ctl stop failed"
		show_log "$LOGFILE"
		exit 1
	fi
}

cmd_status() {
	locate
	if [ ! -f "$PGDATA/PG_VERSION" ]; then
		echo "no cluster yet (scripts/devdb.sh start creates one in $PGDATA)"
		exit 3
	fi
	if is_running; then
		PORT=$(running_port)
		echo "running: PostgreSQL $(cat "$PGDATA/PG_VERSION") in $PGDATA on 127.0.0.1:$PORT and socket $SOCKDIR (log $LOGFILE)"
		echo "DATABASE_URL=$(url_for "$DEV_DB")"
	else
		echo "stopped: PostgreSQL $(cat "$PGDATA/PG_VERSION") cluster in $PGDATA"
		exit 3
	fi
}

cmd_url() {
	locate
	# Without binaries nothing can be running: the configured port it is.
	if BINDIR=$(find_bindir) && is_running; then PORT=$(running_port); fi
	url_for "$DEV_DB"
}

cmd_test_url() {
	if [ -n "${TEST_DATABASE_URL:-}" ]; then
		msg "tests use TEST_DATABASE_URL from the environment: $(printf '%s' "$TEST_DATABASE_URL" | redact)"
		printf '%s\n' "$TEST_DATABASE_URL"
		return 0
	fi
	local shared="postgres://postgres@$PROBE_HOST:$PROBE_PORT/postgres?sslmode=disable"
	if answers "$PROBE_HOST" "$PROBE_PORT"; then
		# A server is there; make sure user postgres gets in without a password
		# (a stock Debian cluster wants one over TCP) before handing it over.
		local psql
		if psql=$(client psql) && ! PGCONNECT_TIMEOUT=3 "$psql" -X -q -w -h "$PROBE_HOST" -p "$PROBE_PORT" \
			-U postgres -d postgres -tAc 'SELECT 1' >/dev/null 2>&1; then
			msg "the server on $PROBE_HOST:$PROBE_PORT does not let user postgres in without a password; using the local cluster"
		else
			msg "tests use the PostgreSQL server on $PROBE_HOST:$PROBE_PORT: $shared"
			printf '%s\n' "$shared"
			return 0
		fi
	fi
	ensure_cluster
	local u
	u=$(url_for postgres)
	msg "tests use the local cluster in $PGDATA: $u"
	printf '%s\n' "$u"
}

cmd_psql() {
	locate
	is_running || die "the cluster is not running (scripts/devdb.sh start)"
	PORT=$(running_port)
	local psql
	psql=$(client psql) || die "psql not found"
	exec "$psql" -h 127.0.0.1 -p "$PORT" -U postgres -d "$DEV_DB" "$@"
}

usage() {
	sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}" >&2
}

case "${1:-}" in
start) cmd_start ;;
stop) cmd_stop ;;
status) cmd_status ;;
url) cmd_url ;;
test-url) cmd_test_url ;;
psql) shift; cmd_psql "$@" ;;
bindir) find_bindir ;;
-h | --help | help) usage ;;
*)
	usage
	exit 2
	;;
esac
