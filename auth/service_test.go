package auth

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/creditjambo/creditjambo/sql/sqltest"
)

const testPassword = "Plum-Tree-42!"

// recorder keeps the events a service emitted.
type recorder struct {
	mu     sync.Mutex
	events []Event
}

func (r *recorder) fn(_ context.Context, _ pgx.Tx, ev Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, ev)
	return nil
}

func (r *recorder) count(match func(Event) bool) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, ev := range r.events {
		if match(ev) {
			n++
		}
	}
	return n
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// newTestService is a service over a fresh database with cheap hashing.
func newTestService(t *testing.T) (*Service, *recorder, *clock) {
	t.Helper()
	rec := &recorder{}
	clk := &clock{t: time.Now().UTC().Truncate(time.Microsecond)}
	s, err := New(Config{
		Pool:       sqltest.New(t),
		JWTKey:     []byte("jwt key for the auth package tests!!"),
		RefreshKey: []byte("refresh key for the auth package tests"),
		CodeKey:    []byte("code key for the auth package tests!!!"),
		Params:     Params{Memory: 256, Time: 1, Threads: 1},
		EventFunc:  rec.fn,
		Now:        clk.now,
	})
	if err != nil {
		t.Fatal(err)
	}
	return s, rec, clk
}

func mustUser(t *testing.T, s *Service, name string, role Role) User {
	t.Helper()
	u, err := s.CreateUser(context.Background(), NewUser{Username: name, Email: name + "@example.com", Password: testPassword, Role: role})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

var local = Client{IP: netip.MustParseAddr("192.0.2.1"), UserAgent: "test"}

// TestConcurrentFirstSight: parallel log-ins from one new device create one
// PENDING device and one DeviceSeen event. (Fewer than LockAfter of them:
// attempts in flight count as failures until they succeed.)
func TestConcurrentFirstSight(t *testing.T) {
	t.Parallel()
	s, rec, _ := newTestService(t)
	u := mustUser(t, s, "alice", RoleCustomer)
	var wg sync.WaitGroup
	for range LockAfter - 1 {
		wg.Go(func() {
			_, err := s.Login(context.Background(), LoginInput{Identifier: "alice", Password: testPassword, DeviceID: "new-phone"}, local)
			var de *DeviceError
			if !errors.As(err, &de) || de.Status != DevicePending {
				t.Errorf("login: %v", err)
			}
		})
	}
	wg.Wait()
	ds, err := s.Devices(context.Background(), u.ID)
	if err != nil || len(ds) != 1 {
		t.Fatalf("devices %v %v", ds, err)
	}
	if n := rec.count(func(e Event) bool { ev, ok := e.(DeviceSeen); return ok && ev.Via == ViaLogin }); n != 1 {
		t.Fatalf("%d DeviceSeen events", n)
	}
}

// TestParallelGuessesStopAtTheLock: a burst of parallel wrong guesses gets
// at most LockAfter password checks; the rest are refused as locked.
func TestParallelGuessesStopAtTheLock(t *testing.T) {
	t.Parallel()
	s, _, _ := newTestService(t)
	mustUser(t, s, "bob", RoleCustomer)
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			_, err := s.Login(context.Background(), LoginInput{Identifier: "bob", Password: "Wrong-Guess-1!", DeviceID: "d"}, local)
			if !errors.Is(err, ErrInvalidCredentials) && !errors.Is(err, ErrLocked) {
				t.Errorf("login: %v", err)
			}
		})
	}
	wg.Wait()
	var checked, locked int
	err := s.pool.QueryRow(context.Background(), `
		SELECT count(*) FILTER (WHERE reason = 'wrong_password'), count(*) FILTER (WHERE reason = 'locked')
		FROM login_activity`).Scan(&checked, &locked)
	if err != nil {
		t.Fatal(err)
	}
	if checked > LockAfter || checked+locked != 20 {
		t.Fatalf("%d passwords checked, %d locked out of 20", checked, locked)
	}
}

// TestCheckDeviceTxAccounts: inactive, deleted and demoted accounts.
func TestCheckDeviceTxAccounts(t *testing.T) {
	t.Parallel()
	s, _, _ := newTestService(t)
	ctx := context.Background()
	admin := mustUser(t, s, "root", RoleAdmin)
	check := func(userID, deviceID int64) error {
		t.Helper()
		var err error
		txErr := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.Serializable}, func(tx pgx.Tx) error {
			err = s.CheckDeviceTx(ctx, tx, userID, deviceID)
			return nil
		})
		if txErr != nil {
			t.Fatal(txErr)
		}
		return err
	}
	if err := check(admin.ID, 0); err != nil {
		t.Fatalf("admin: %v", err)
	}
	// Demoted: a token without a device no longer moves money.
	if _, err := s.pool.Exec(ctx, `UPDATE users SET role = 'customer' WHERE id = $1`, admin.ID); err != nil {
		t.Fatal(err)
	}
	if err := check(admin.ID, 0); !errors.Is(err, ErrDeviceNotApproved) {
		t.Fatalf("demoted admin: %v", err)
	}
	if err := s.SetActive(ctx, admin.ID, false); err != nil {
		t.Fatal(err)
	}
	if err := check(admin.ID, 0); !errors.Is(err, ErrInactive) {
		t.Fatalf("inactive: %v", err)
	}
	if err := check(987654, 1); !errors.Is(err, ErrInactive) {
		t.Fatalf("unknown user: %v", err)
	}
}

// TestDeactivationEndsSessions: deactivating revokes every log-in, and the
// account can no longer log in (with the same answer as a wrong password).
func TestDeactivationEndsSessions(t *testing.T) {
	t.Parallel()
	s, rec, _ := newTestService(t)
	ctx := context.Background()
	u := mustUser(t, s, "carol", RoleAdmin)
	sess, err := s.Login(ctx, LoginInput{Identifier: "carol", Password: testPassword}, local)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetActive(ctx, u.ID, false); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Refresh(ctx, sess.Tokens.Refresh); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("refresh after deactivation: %v", err)
	}
	if _, err := s.Login(ctx, LoginInput{Identifier: "carol", Password: testPassword}, local); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("login when inactive: %v", err)
	}
	if n := rec.count(func(e Event) bool { ev, ok := e.(UserActiveChanged); return ok && !ev.Active }); n != 1 {
		t.Fatalf("%d deactivation events", n)
	}
}

// TestFamilyLifetimeIsAbsolute: however often a log-in is refreshed, it
// ends FamilyTTL after it began.
func TestFamilyLifetimeIsAbsolute(t *testing.T) {
	t.Parallel()
	s, _, clk := newTestService(t)
	ctx := context.Background()
	mustUser(t, s, "dave", RoleAdmin)
	sess, err := s.Login(ctx, LoginInput{Identifier: "dave", Password: testPassword}, local)
	if err != nil {
		t.Fatal(err)
	}
	refresh := sess.Tokens.Refresh
	for elapsed := time.Duration(0); ; elapsed += 6 * 24 * time.Hour {
		clk.advance(6 * 24 * time.Hour)
		tok, err := s.Refresh(ctx, refresh)
		if elapsed+6*24*time.Hour >= s.familyTTL {
			if !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("refresh %s after log-in: %v", elapsed+6*24*time.Hour, err)
			}
			break
		}
		if err != nil {
			t.Fatalf("refresh at %s: %v", elapsed, err)
		}
		refresh = tok.Refresh
	}
	if n, err := s.PurgeExpired(ctx); err != nil || n != 0 {
		t.Fatalf("purge right after expiry: %d %v", n, err)
	}
	clk.advance(25 * time.Hour)
	if n, err := s.PurgeExpired(ctx); err != nil || n == 0 {
		t.Fatalf("purge a day later: %d %v", n, err)
	}
}
