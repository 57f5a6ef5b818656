package ledger

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
)

// Kind is the kind of a journal entry.
type Kind string

// The entry kinds.
const (
	KindDeposit    Kind = "deposit"
	KindWithdrawal Kind = "withdrawal"
	KindAdjustment Kind = "adjustment"
	KindReversal   Kind = "reversal"
	KindOpening    Kind = "opening"
)

func (k Kind) valid() bool {
	switch k {
	case KindDeposit, KindWithdrawal, KindAdjustment, KindReversal, KindOpening:
		return true
	}
	return false
}

// Side says whether a line debits or credits its account.
type Side int8

// The two sides of a line.
const (
	Debit  Side = 1
	Credit Side = -1
)

// NewEntry is an entry to post.
type NewEntry struct {
	Kind Kind
	// EffectiveAt is the business time of the entry; zero means the posting
	// time. Balances and statements use the posting time, not this.
	EffectiveAt time.Time
	Description string
	ActorUserID int64 // 0 for none
	// IdemScope and IdemKey make the posting idempotent: both or neither.
	// The pair is unique for the life of the ledger.
	IdemScope, IdemKey string
	// RequestHash identifies the request the key was used for; a replay
	// with another hash is an ErrIdempotencyConflict. Nil means a hash of
	// the kind, description and lines.
	RequestHash []byte
	Metadata    json.RawMessage // a JSON object; nil means {}
	Lines       []NewLine
}

// NewLine is one leg of a NewEntry: a positive Amount on one side of an
// account, in the account's currency.
type NewLine struct {
	AccountID int64
	Side      Side
	Amount    Amount
	Currency  string
}

// Entry is a posted journal entry.
type Entry struct {
	ID          int64
	Kind        Kind
	EffectiveAt time.Time
	// CreatedAt is the posting time: equal to the PostedAt of its lines, so
	// BalanceAt(CreatedAt) includes the entry.
	CreatedAt   time.Time
	Description string
	ActorUserID int64
	IdemScope   string
	IdemKey     string
	RequestHash []byte
	Metadata    json.RawMessage
	Lines       []Line // in line-id order
	// Replayed is true when the entry was posted earlier under the same
	// idempotency key and is returned instead of posting again.
	Replayed bool
}

// Line is a posted journal line.
type Line struct {
	ID          int64
	EntryID     int64
	AccountID   int64
	AccountCode string
	Amount      decimal.Decimal // signed: positive debits, negative credits
	Currency    string
	// AccountSeq and BalanceAfter are set for accounts with a head
	// (wallets): the line's place in the account and the account's balance
	// (normal side) after it. Zero and invalid otherwise.
	AccountSeq   int64
	BalanceAfter decimal.NullDecimal
	PostedAt     time.Time
}

// Debit returns the line's debit amount (zero for a credit).
func (l Line) Debit() decimal.Decimal {
	if l.Amount.IsPositive() {
		return l.Amount
	}
	return decimal.Zero
}

// Credit returns the line's credit amount as a positive number (zero for a
// debit).
func (l Line) Credit() decimal.Decimal {
	if l.Amount.IsNegative() {
		return l.Amount.Neg()
	}
	return decimal.Zero
}

// preparedLine is a validated line with its account.
type preparedLine struct {
	acct   Account
	amount decimal.Decimal // signed
	seq    int64
	after  decimal.NullDecimal
}

// validate checks ne and resolves its accounts (cache first, then q).
func (l *Ledger) validate(ctx context.Context, q querier, ne *NewEntry) ([]preparedLine, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidEntry, fmt.Sprintf(format, args...))
	}
	if !ne.Kind.valid() {
		return nil, bad("unknown kind %q", ne.Kind)
	}
	if len(ne.Lines) < 2 {
		return nil, bad("an entry needs at least 2 lines, got %d", len(ne.Lines))
	}
	if (ne.IdemKey == "") != (ne.IdemScope == "") {
		return nil, bad("idempotency key and scope go together")
	}
	if len(ne.Metadata) > 0 && !json.Valid(ne.Metadata) || len(ne.Metadata) > 0 && bytes.TrimSpace(ne.Metadata)[0] != '{' {
		return nil, bad("metadata must be a JSON object")
	}
	if ne.ActorUserID < 0 {
		return nil, bad("negative actor id")
	}
	sums := make(map[string]decimal.Decimal)
	out := make([]preparedLine, len(ne.Lines))
	for i, nl := range ne.Lines {
		if nl.Amount.IsZero() {
			return nil, bad("line %d has no amount", i)
		}
		if nl.Side != Debit && nl.Side != Credit {
			return nil, bad("line %d has no side", i)
		}
		a, err := l.account(ctx, q, nl.AccountID)
		if err != nil {
			return nil, err
		}
		if nl.Currency != a.Currency {
			return nil, fmt.Errorf("%w: line %d is in %q, account %s in %s", ErrCurrencyMismatch, i, nl.Currency, a.Code, a.Currency)
		}
		amt := nl.Amount.Decimal()
		if nl.Side == Credit {
			amt = amt.Neg()
		}
		sums[nl.Currency] = sums[nl.Currency].Add(amt)
		out[i] = preparedLine{acct: a, amount: amt}
	}
	for cur, s := range sums {
		if !s.IsZero() {
			return nil, fmt.Errorf("%w: %s lines sum to %s", ErrUnbalanced, cur, FormatMoney(s))
		}
	}
	if ne.IdemKey != "" && len(ne.RequestHash) == 0 {
		ne.RequestHash = defaultRequestHash(ne)
	}
	return out, nil
}

// defaultRequestHash hashes what makes two posting requests the same: kind,
// description and lines.
func defaultRequestHash(ne *NewEntry) []byte {
	var e encoder
	e.str("creditjambo.ledger.request.v1")
	e.str(string(ne.Kind))
	e.str(ne.Description)
	e.int(int64(len(ne.Lines)))
	for _, nl := range ne.Lines {
		e.int(nl.AccountID)
		e.int(int64(nl.Side))
		e.str(nl.Amount.String())
		e.str(nl.Currency)
	}
	sum := sha256.Sum256(e.buf)
	return sum[:]
}

// walletAccountIDs returns the ids of the accounts with a head among lines,
// for the in-process stripes.
func walletAccountIDs(accounts ...Account) []int64 {
	var ids []int64
	for _, a := range accounts {
		if a.HasHead() {
			ids = append(ids, a.ID)
		}
	}
	return ids
}

const updateHeadSQL = `
	UPDATE ledger_account_heads
	   SET balance = balance + $2, seq = seq + 1, updated_at = greatest(clock_timestamp(), updated_at)
	 WHERE account_id = $1 AND balance + $2 >= 0
	RETURNING balance, seq, updated_at`

// insertEntrySQL writes the entry and all its lines in one round trip.
const insertEntrySQL = `
	WITH e AS (
		INSERT INTO ledger_entries (kind, effective_at, created_at, description, actor_user_id,
		                            idem_scope, idem_key, request_hash, metadata)
		SELECT $1::text, coalesce($2::timestamptz, t.at), t.at, $4::text, $5::bigint, $6::text, $7::text, $8::bytea, $9::jsonb
		  FROM (SELECT coalesce($3::timestamptz, clock_timestamp()) AS at) t
		RETURNING id, created_at, effective_at
	), l AS (
		INSERT INTO ledger_lines (entry_id, account_id, amount, currency, account_seq, balance_after, posted_at)
		SELECT e.id, x.account_id, x.amount, x.currency, x.seq, x.balance_after, e.created_at
		  FROM e, unnest($10::bigint[], $11::numeric[], $12::text[], $13::bigint[], $14::numeric[])
		          WITH ORDINALITY AS x(account_id, amount, currency, seq, balance_after, ord)
		 ORDER BY x.ord
		RETURNING id
	)
	SELECT e.id, e.created_at, e.effective_at, array(SELECT id FROM l ORDER BY id) FROM e`

// PostTx posts ne in the caller's transaction, which should be SERIALIZABLE
// and begun by RunSerializable (which also turns sequential scans off; see the
// package doc). It validates the entry, moves the heads of its wallets in
// account-id order — refusing atomically with ErrInsufficientFunds if one
// would go below zero — and inserts the entry and its lines, which the
// database checks again.
//
// Errors: ErrInvalidEntry, ErrUnbalanced, ErrCurrencyMismatch,
// ErrAccountNotFound, ErrInsufficientFunds; ErrDuplicate when the
// idempotency key is taken (tx is then aborted: roll back and call Replay);
// serialization failures unchanged (the caller retries the whole
// transaction). On any error tx must be rolled back.
func (l *Ledger) PostTx(ctx context.Context, tx pgx.Tx, ne NewEntry) (Entry, error) {
	lines, err := l.validate(ctx, tx, &ne)
	if err != nil {
		return Entry{}, err
	}
	return l.postPrepared(ctx, tx, &ne, lines)
}

// postOneWalletSQL posts an entry that moves exactly one wallet in one
// statement and one round trip: the head first (which also gives the
// transaction its xid), then the entry and its lines, stamped with the time
// the head was moved. No row comes back when the head refused to go below
// zero.
const postOneWalletSQL = `
	WITH h AS (
		UPDATE ledger_account_heads
		   SET balance = balance + $10::numeric, seq = seq + 1, updated_at = greatest(clock_timestamp(), updated_at)
		 WHERE account_id = $9 AND balance + $10::numeric >= 0
		RETURNING balance, seq, updated_at
	), e AS (
		INSERT INTO ledger_entries (kind, effective_at, created_at, description, actor_user_id,
		                            idem_scope, idem_key, request_hash, metadata)
		SELECT $1::text, coalesce($2::timestamptz, h.updated_at), h.updated_at, $3::text, $4::bigint,
		       $5::text, $6::text, $7::bytea, $8::jsonb
		  FROM h
		RETURNING id, created_at, effective_at
	), l AS (
		INSERT INTO ledger_lines (entry_id, account_id, amount, currency, account_seq, balance_after, posted_at)
		SELECT e.id, x.account_id, x.amount, x.currency,
		       CASE WHEN x.ord = $14 THEN h.seq END, CASE WHEN x.ord = $14 THEN h.balance END, e.created_at
		  FROM e, h, unnest($11::bigint[], $12::numeric[], $13::text[]) WITH ORDINALITY AS x(account_id, amount, currency, ord)
		 ORDER BY x.ord
		RETURNING id
	)
	SELECT e.id, e.created_at, e.effective_at, h.balance, h.seq, array(SELECT id FROM l ORDER BY id) FROM e, h`

func (l *Ledger) postPrepared(ctx context.Context, tx pgx.Tx, ne *NewEntry, lines []preparedLine) (Entry, error) {
	wallet := -1
	for i, pl := range lines {
		if pl.acct.HasHead() {
			if wallet >= 0 {
				wallet = -2 // more than one: the general path
				break
			}
			wallet = i
		}
	}
	if wallet == 1 && len(lines) == 2 && tx.Conn().Config().DefaultQueryExecMode != pgx.QueryExecModeSimpleProtocol {
		// The simple protocol would send the statement with its arguments
		// spelled in, which the database does not recognize as its own.
		return l.postWalletPair(ctx, tx, ne, lines)
	}
	if wallet >= 0 {
		return l.postOneWallet(ctx, tx, ne, lines, wallet)
	}
	// Heads first, in a fixed order (account id, then line order), so that
	// two postings touching the same wallets cannot deadlock. The first
	// update also gives the transaction its xid before the entry id exists.
	order := make([]int, 0, len(lines))
	for i, pl := range lines {
		if pl.acct.HasHead() {
			order = append(order, i)
		}
	}
	slices.SortStableFunc(order, func(a, b int) int {
		return cmpInt64(lines[a].acct.ID, lines[b].acct.ID)
	})
	var postedAt *time.Time
	for _, i := range order {
		pl := &lines[i]
		delta := pl.amount.Mul(pl.acct.Type.normalDec())
		var bal decimal.Decimal
		var at time.Time
		err := tx.QueryRow(ctx, updateHeadSQL, pl.acct.ID, delta).Scan(&bal, &pl.seq, &at)
		if errors.Is(err, pgx.ErrNoRows) {
			if delta.IsNegative() {
				return Entry{}, fmt.Errorf("%w: account %s", ErrInsufficientFunds, pl.acct.Code)
			}
			return Entry{}, fmt.Errorf("%w: no head for account %s", ErrAccountNotFound, pl.acct.Code)
		}
		if err != nil {
			return Entry{}, MapError(err)
		}
		pl.after = decimal.NullDecimal{Decimal: bal, Valid: true}
		if postedAt == nil || at.After(*postedAt) {
			postedAt = &at
		}
	}

	n := len(lines)
	accountIDs := make([]int64, n)
	amounts := make([]string, n)
	currencies := make([]string, n)
	seqs := make([]*int64, n)
	afters := make([]*string, n)
	for i, pl := range lines {
		accountIDs[i] = pl.acct.ID
		amounts[i] = pl.amount.String()
		currencies[i] = pl.acct.Currency
		if pl.after.Valid {
			seq := pl.seq
			after := pl.after.Decimal.String()
			seqs[i], afters[i] = &seq, &after
		}
	}
	var effective *time.Time
	if !ne.EffectiveAt.IsZero() {
		effective = &ne.EffectiveAt
	}
	meta := metadataText(ne.Metadata)
	e := newEntry(ne, meta)
	var lineIDs []int64
	err := tx.QueryRow(ctx, insertEntrySQL,
		string(ne.Kind), effective, postedAt, ne.Description, nullInt(ne.ActorUserID),
		nullStr(ne.IdemScope), nullStr(ne.IdemKey), ne.RequestHash, meta,
		accountIDs, amounts, currencies, seqs, afters,
	).Scan(&e.ID, &e.CreatedAt, &e.EffectiveAt, &lineIDs)
	if err != nil {
		return Entry{}, MapError(err)
	}
	return finishEntry(e, lines, lineIDs)
}

func (l *Ledger) postOneWallet(ctx context.Context, tx pgx.Tx, ne *NewEntry, lines []preparedLine, w int) (Entry, error) {
	n := len(lines)
	accountIDs := make([]int64, n)
	amounts := make([]string, n)
	currencies := make([]string, n)
	for i, pl := range lines {
		accountIDs[i], amounts[i], currencies[i] = pl.acct.ID, pl.amount.String(), pl.acct.Currency
	}
	pw := &lines[w]
	delta := pw.amount.Mul(pw.acct.Type.normalDec())
	var effective *time.Time
	if !ne.EffectiveAt.IsZero() {
		effective = &ne.EffectiveAt
	}
	meta := metadataText(ne.Metadata)
	e := newEntry(ne, meta)
	var bal decimal.Decimal
	var lineIDs []int64
	err := tx.QueryRow(ctx, postOneWalletSQL,
		string(ne.Kind), effective, ne.Description, nullInt(ne.ActorUserID),
		nullStr(ne.IdemScope), nullStr(ne.IdemKey), ne.RequestHash, meta,
		pw.acct.ID, delta.String(), accountIDs, amounts, currencies, w+1,
	).Scan(&e.ID, &e.CreatedAt, &e.EffectiveAt, &bal, &pw.seq, &lineIDs)
	if errors.Is(err, pgx.ErrNoRows) {
		if delta.IsNegative() {
			return Entry{}, fmt.Errorf("%w: account %s", ErrInsufficientFunds, pw.acct.Code)
		}
		return Entry{}, fmt.Errorf("%w: no head for account %s", ErrAccountNotFound, pw.acct.Code)
	}
	if err != nil {
		return Entry{}, MapError(err)
	}
	pw.after = decimal.NullDecimal{Decimal: bal, Valid: true}
	return finishEntry(e, lines, lineIDs)
}

// postWalletPair posts an entry of two lines, a head-less account then a
// wallet (every deposit, withdrawal and adjustment), with the ledger's own
// posting statement (l.walletSQL, from ledger_wallet_posting_sql() in
// sql/migrations/0003_ledger.sql): one round trip, correct by construction,
// so the database does not check it again. It returns one row per line
// (entry id, posting time, the wallet line's sequence and balance after,
// line id).
func (l *Ledger) postWalletPair(ctx context.Context, tx pgx.Tx, ne *NewEntry, lines []preparedLine) (Entry, error) {
	counter, pw := &lines[0], &lines[1]
	var effective *time.Time
	if !ne.EffectiveAt.IsZero() {
		effective = &ne.EffectiveAt
	}
	meta := metadataText(ne.Metadata)
	e := newEntry(ne, meta)
	rows, err := tx.Query(ctx, l.walletSQL,
		string(ne.Kind), effective, ne.Description, nullInt(ne.ActorUserID),
		nullStr(ne.IdemScope), nullStr(ne.IdemKey), ne.RequestHash, meta,
		pw.acct.ID, pw.amount.String(), counter.acct.ID)
	if err != nil {
		return Entry{}, MapError(err)
	}
	lineIDs := make([]int64, 0, 2)
	for rows.Next() {
		var id int64
		var seq *int64
		var after decimal.NullDecimal
		if err := rows.Scan(&e.ID, &e.CreatedAt, &seq, &after, &id); err != nil {
			rows.Close()
			return Entry{}, MapError(err)
		}
		if seq != nil {
			pw.seq, pw.after = *seq, after
		}
		lineIDs = append(lineIDs, id)
	}
	if err := rows.Err(); err != nil {
		return Entry{}, MapError(err)
	}
	if len(lineIDs) == 0 {
		// Nothing written: the wallet would go below zero (validate has
		// checked the rest), or its head is missing.
		if pw.amount.Mul(pw.acct.Type.normalDec()).IsNegative() {
			return Entry{}, fmt.Errorf("%w: account %s", ErrInsufficientFunds, pw.acct.Code)
		}
		return Entry{}, fmt.Errorf("%w: no head for account %s", ErrAccountNotFound, pw.acct.Code)
	}
	slices.Sort(lineIDs)
	// The stored effective_at: the one asked for, at PostgreSQL's
	// microsecond precision (pgx truncates), else the posting time.
	e.EffectiveAt = e.CreatedAt
	if effective != nil {
		e.EffectiveAt = time.UnixMicro(effective.UnixMicro())
	}
	return finishEntry(e, lines, lineIDs)
}

func metadataText(m json.RawMessage) string {
	if len(m) == 0 {
		return "{}"
	}
	return string(m)
}

func newEntry(ne *NewEntry, meta string) Entry {
	return Entry{
		Kind: ne.Kind, Description: ne.Description, ActorUserID: ne.ActorUserID,
		IdemScope: ne.IdemScope, IdemKey: ne.IdemKey, RequestHash: ne.RequestHash,
		Metadata: json.RawMessage(meta),
	}
}

// finishEntry attaches the inserted lines to e.
func finishEntry(e Entry, lines []preparedLine, lineIDs []int64) (Entry, error) {
	if len(lineIDs) != len(lines) {
		return Entry{}, fmt.Errorf("ledger: inserted %d lines, want %d", len(lineIDs), len(lines))
	}
	e.Lines = make([]Line, len(lines))
	for i, pl := range lines {
		e.Lines[i] = Line{
			ID: lineIDs[i], EntryID: e.ID, AccountID: pl.acct.ID, AccountCode: pl.acct.Code,
			Amount: pl.amount, Currency: pl.acct.Currency, AccountSeq: pl.seq, BalanceAfter: pl.after,
			PostedAt: e.CreatedAt,
		}
	}
	return e, nil
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func nullInt(v int64) *int64 {
	if v == 0 {
		return nil
	}
	return &v
}

func nullStr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// Post posts ne in its own SERIALIZABLE transaction (see RunSerializable),
// taking the in-process locks of its wallets first. When the idempotency key
// was already used it posts nothing and returns the original entry with
// Replayed set, or ErrIdempotencyConflict if the request hash differs.
// Errors are those of PostTx and RunSerializable.
func (l *Ledger) Post(ctx context.Context, ne NewEntry) (Entry, error) {
	lines, err := l.validate(ctx, l.pool, &ne)
	if err != nil {
		return Entry{}, err
	}
	accts := make([]Account, len(lines))
	for i, pl := range lines {
		accts[i] = pl.acct
	}
	var e Entry
	err = l.RunSerializable(ctx, walletAccountIDs(accts...), func(tx *Tx) error {
		fresh := slices.Clone(lines)
		var err error
		e, err = l.postPrepared(ctx, tx, &ne, fresh)
		return err
	})
	switch {
	case errors.Is(err, ErrDuplicate):
		return l.Replay(ctx, ne.IdemScope, ne.IdemKey, ne.RequestHash)
	case errors.Is(err, ErrInsufficientFunds) && ne.IdemKey != "":
		// The heads are moved before the key is inserted, so a resent
		// withdrawal that succeeded before may now find the balance too low:
		// it must still be answered as a replay. Only this refusal path pays
		// for the look-up.
		if orig, rerr := l.Replay(ctx, ne.IdemScope, ne.IdemKey, ne.RequestHash); !errors.Is(rerr, ErrNotFound) {
			return orig, rerr
		}
	}
	return e, err
}

// Replay returns the entry posted under (scope, key), marked Replayed, if
// requestHash matches the one it was posted with; ErrIdempotencyConflict if
// not; ErrNotFound if the key was never used.
func (l *Ledger) Replay(ctx context.Context, scope, key string, requestHash []byte) (Entry, error) {
	var id int64
	var stored []byte
	err := l.pool.QueryRow(ctx,
		`SELECT id, request_hash FROM ledger_entries WHERE idem_scope = $1 AND idem_key = $2`,
		scope, key).Scan(&id, &stored)
	if errors.Is(err, pgx.ErrNoRows) {
		return Entry{}, fmt.Errorf("%w: idempotency key %q in %q", ErrNotFound, key, scope)
	}
	if err != nil {
		return Entry{}, err
	}
	if !bytes.Equal(stored, requestHash) {
		return Entry{}, fmt.Errorf("%w: key %q (entry %d)", ErrIdempotencyConflict, key, id)
	}
	e, err := l.Entry(ctx, id)
	if err != nil {
		return Entry{}, err
	}
	e.Replayed = true
	return e, nil
}

// Entry returns the entry with id and its lines (ErrNotFound if none).
func (l *Ledger) Entry(ctx context.Context, id int64) (Entry, error) {
	es, err := loadEntries(ctx, l.pool, `e.id = $1`, id)
	if err != nil {
		return Entry{}, err
	}
	if len(es) == 0 {
		return Entry{}, fmt.Errorf("%w: entry %d", ErrNotFound, id)
	}
	return es[0].Entry, nil
}

// RunSerializable runs fn in a SERIALIZABLE transaction and commits it,
// running it all again — after an exponential backoff with full jitter — when
// it fails with a serialization failure (40001) or a deadlock (40P01), at most
// Options.MaxAttempts times; then it returns ErrTooManyRetries wrapping the
// last failure. Before the first BEGIN it takes the in-process locks of
// lockAccounts (the wallet account ids the transaction will move), held until
// it returns; each try then waits its turn among Options.MaxInFlight. fn
// must do nothing outside the database that cannot be repeated. Other errors
// from fn or from COMMIT are returned, mapped to the ledger's errors where
// they are the ledger's.
//
// tx saves round trips (see Tx): BEGIN goes with fn's first statement, and
// what fn queues and leaves unsent goes with COMMIT, so a transaction of
// one statement is two round trips, and statements fn queues before one it
// runs share that one's.
func (l *Ledger) RunSerializable(ctx context.Context, lockAccounts []int64, fn func(tx *Tx) error) error {
	unlock, err := l.locks.lock(ctx, lockAccounts)
	if err != nil {
		return err
	}
	defer unlock()
	var last error
	for attempt := range l.opts.MaxAttempts {
		if attempt > 0 {
			if err := l.sleep(ctx, attempt); err != nil {
				return err
			}
		}
		err := l.runOnce(ctx, fn)
		code, again := retryable(err)
		if !again {
			return err
		}
		l.retries.WithLabelValues(code).Inc()
		last = err
	}
	l.gaveUp.Inc()
	return fmt.Errorf("%w (%d tries): %w", ErrTooManyRetries, l.opts.MaxAttempts, last)
}

func (l *Ledger) runOnce(ctx context.Context, fn func(tx *Tx) error) error {
	done, err := l.takeTurn(ctx)
	if err != nil {
		return err
	}
	defer done()
	conn, err := l.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release() // a connection left in a transaction is closed, not reused
	tx := newTx(conn)
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if err := fn(tx); err != nil {
		return MapError(err)
	}
	return MapError(tx.Commit(ctx))
}

// takeTurn waits until fewer than Options.MaxInFlight transactions run
// (Go serves a channel's waiting senders in order) and returns the function
// ending the turn. It gives up when ctx is done. A try's turn ends before the
// backoff that may follow it, and the caller's stripes are taken before it,
// so that a queue on one hot wallet holds one turn, not all of them.
func (l *Ledger) takeTurn(ctx context.Context) (func(), error) {
	if l.admit == nil {
		return func() {}, nil
	}
	select {
	case l.admit <- struct{}{}:
		return func() { <-l.admit }, nil
	default:
	}
	l.waiting.Inc()
	defer l.waiting.Dec()
	select {
	case l.admit <- struct{}{}:
		return func() { <-l.admit }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// sleep waits before try number attempt (1-based after the first):
// a uniformly random time up to min(BackoffMax, BackoffBase·2^(attempt-1)).
func (l *Ledger) sleep(ctx context.Context, attempt int) error {
	ceiling := l.opts.BackoffBase << min(attempt-1, 20)
	if ceiling > l.opts.BackoffMax || ceiling <= 0 {
		ceiling = l.opts.BackoffMax
	}
	t := time.NewTimer(rand.N(ceiling) + 1)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
