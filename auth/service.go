package auth

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// EventFunc receives the package's events inside the transaction of the
// change they report, so that what it writes (an email job, a notification)
// exists if and only if the change committed. An error rolls the change back.
type EventFunc func(ctx context.Context, tx pgx.Tx, ev Event) error

// Config is what New needs. Pool, JWTKey, RefreshKey and CodeKey are
// required; the rest have defaults.
type Config struct {
	Pool *pgxpool.Pool
	// JWTKey signs access tokens (HS256); RefreshKey keys the hashes of
	// refresh tokens; CodeKey keys the hashes of one-time codes, reset tokens
	// and throttled identifiers. Each at least MinKeyLen bytes, and distinct
	// (derive them from SECRET_KEY with distinct purposes).
	JWTKey, RefreshKey, CodeKey []byte
	// Issuer and Audience are the iss and aud of access tokens; defaults
	// "creditjambo" and "creditjambo-api".
	Issuer, Audience string
	// AccessTTL and RefreshTTL are the lifetimes of an access token and of
	// one refresh token; defaults 15 minutes and 7 days. FamilyTTL is the
	// absolute lifetime of a log-in, however often it is refreshed; default
	// 30 days, and never less than RefreshTTL.
	AccessTTL, RefreshTTL, FamilyTTL time.Duration
	// Params are argon2id's parameters for new hashes; default
	// DefaultParams. HashConcurrency bounds how many passwords are hashed at
	// once; default runtime.NumCPU().
	Params          Params
	HashConcurrency int
	// EventFunc receives every Event; nil drops them.
	EventFunc EventFunc
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Limits of the identity rules (API.md).
const (
	MaxPendingDevices = 10               // PENDING devices per user
	OTPTTL            = 10 * time.Minute // life of a one-time code
	OTPCooldown       = 60 * time.Second // between two codes for one user and purpose
	OTPMaxAttempts    = 5                // wrong tries that burn a code
	OTPMaxPerHour     = 5                // codes sent per account per hour
	ResetTokenTTL     = 15 * time.Minute // life of a password-reset token

	// LockAfter consecutive failed log-ins lock the account for LockBase,
	// doubling with every further failure up to LockMax. Failures older
	// than FailureMemory are forgotten; a success forgets them all.
	LockAfter     = 5
	LockBase      = time.Minute
	LockMax       = time.Hour
	FailureMemory = 24 * time.Hour
)

// Service is the identity service. It is safe for concurrent use.
type Service struct {
	pool       *pgxpool.Pool
	signer     *signer
	refreshKey []byte
	codeKey    []byte
	refreshTTL time.Duration
	familyTTL  time.Duration
	hasher     *hasher
	dummyHash  string
	events     EventFunc
	now        func() time.Time
}

// New returns the service. It computes one password hash (the dummy that
// unknown users are checked against, so that they take as long as real
// ones).
func New(cfg Config) (*Service, error) {
	if cfg.Pool == nil {
		return nil, errors.New("auth: Config.Pool is required")
	}
	for name, k := range map[string][]byte{"JWTKey": cfg.JWTKey, "RefreshKey": cfg.RefreshKey, "CodeKey": cfg.CodeKey} {
		if len(k) < MinKeyLen {
			return nil, fmt.Errorf("auth: Config.%s is %d bytes, want at least %d", name, len(k), MinKeyLen)
		}
	}
	if string(cfg.JWTKey) == string(cfg.RefreshKey) || string(cfg.JWTKey) == string(cfg.CodeKey) || string(cfg.RefreshKey) == string(cfg.CodeKey) {
		return nil, errors.New("auth: JWTKey, RefreshKey and CodeKey must differ")
	}
	if cfg.Issuer == "" {
		cfg.Issuer = "creditjambo"
	}
	if cfg.Audience == "" {
		cfg.Audience = "creditjambo-api"
	}
	if cfg.AccessTTL <= 0 {
		cfg.AccessTTL = 15 * time.Minute
	}
	if cfg.RefreshTTL <= 0 {
		cfg.RefreshTTL = 7 * 24 * time.Hour
	}
	if cfg.FamilyTTL <= 0 {
		cfg.FamilyTTL = 30 * 24 * time.Hour
	}
	cfg.FamilyTTL = max(cfg.FamilyTTL, cfg.RefreshTTL)
	if cfg.Params == (Params{}) {
		cfg.Params = DefaultParams
	}
	if cfg.HashConcurrency <= 0 {
		cfg.HashConcurrency = runtime.NumCPU()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Service{
		pool: cfg.Pool,
		signer: &signer{
			key: cfg.JWTKey, issuer: cfg.Issuer, audience: cfg.Audience,
			ttl: cfg.AccessTTL, now: cfg.Now,
		},
		refreshKey: cfg.RefreshKey,
		codeKey:    cfg.CodeKey,
		refreshTTL: cfg.RefreshTTL,
		familyTTL:  cfg.FamilyTTL,
		hasher:     newHasher(cfg.Params, cfg.HashConcurrency),
		events:     cfg.EventFunc,
		now:        cfg.Now,
	}
	pw := make([]byte, 24)
	if _, err := rand.Read(pw); err != nil {
		return nil, err
	}
	dummy, err := s.hasher.hash(context.Background(), hex.EncodeToString(pw))
	if err != nil {
		return nil, err
	}
	s.dummyHash = dummy
	return s, nil
}

// Authenticate checks an access token and returns who it speaks for. It
// reads no database: a device rejected after the token was issued is refused
// by CheckDeviceTx (money) and at the next refresh (everything else). It
// returns ErrInvalidToken, wrapped with the reason.
func (s *Service) Authenticate(accessToken string) (Principal, error) {
	return s.signer.parse(accessToken)
}

// emit gives ev to the EventFunc inside tx.
func (s *Service) emit(ctx context.Context, tx pgx.Tx, ev Event) error {
	if s.events == nil {
		return nil
	}
	if err := s.events(ctx, tx, ev); err != nil {
		return fmt.Errorf("auth: event %T: %w", ev, err)
	}
	return nil
}

// inTx runs fn in a READ COMMITTED transaction, committing when it returns
// nil. Rows that must not change under it are locked explicitly.
func (s *Service) inTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	if err := pgx.BeginFunc(ctx, s.pool, fn); err != nil {
		return interpretError(err)
	}
	return nil
}

// userColumns are the columns scanUser reads, in order.
const userColumns = `u.id, u.username, u.email, u.first_name, u.last_name, u.language, u.role,
	u.is_active, u.is_superuser, u.email_verified, u.date_joined, u.last_login, u.deleted_at`

func scanUser(row pgx.Row, extra ...any) (User, error) {
	var u User
	dest := append([]any{&u.ID, &u.Username, &u.Email, &u.FirstName, &u.LastName, &u.Language, &u.Role,
		&u.IsActive, &u.IsSuperuser, &u.EmailVerified, &u.DateJoined, &u.LastLogin, &u.DeletedAt}, extra...)
	err := row.Scan(dest...)
	if errors.Is(err, pgx.ErrNoRows) {
		return User{}, ErrNotFound
	}
	return u, err
}

// querier and execer are a pool or a transaction.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// User returns the user with id, deleted or not, or ErrNotFound.
func (s *Service) User(ctx context.Context, id int64) (User, error) {
	return scanUser(s.pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users u WHERE u.id = $1`, id))
}

// userForUpdate reads and locks the user row for the rest of tx.
func userForUpdate(ctx context.Context, tx pgx.Tx, id int64) (User, string, error) {
	var hash string
	u, err := scanUser(tx.QueryRow(ctx, `SELECT `+userColumns+`, u.password_hash FROM users u WHERE u.id = $1 FOR NO KEY UPDATE`, id), &hash)
	return u, hash, err
}

// userByIdentifier finds the user whose username (any case) or email is
// identifier, with the password hash; a username match wins. ErrNotFound
// when none.
func userByIdentifier(ctx context.Context, q querier, identifier string) (User, string, error) {
	id := normalizeIdentifier(identifier)
	if id == "" {
		return User{}, "", ErrNotFound
	}
	var hash string
	u, err := scanUser(q.QueryRow(ctx, `
		SELECT `+userColumns+`, u.password_hash FROM users u
		WHERE lower(u.username) = $1 OR u.email = $1
		ORDER BY (lower(u.username) = $1) DESC LIMIT 1`, id), &hash)
	return u, hash, err
}

// normalizeIdentifier is how a typed username or email is compared: trimmed
// and lower-cased, bounded.
func normalizeIdentifier(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	if len(s) > 254 {
		return ""
	}
	return s
}
