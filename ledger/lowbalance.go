package ledger

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/shopspring/decimal"
)

// ErrRuleExists: the user (or the global scope) already has a low-balance
// rule; change that one instead.
var ErrRuleExists = errors.New("a low-balance rule already exists")

// LowBalanceRule is a low-balance alert rule: the wallet's owner is alerted
// when a posting takes the balance from above Threshold to at or below it.
// A user's rule overrides the global rule (UserID 0), which overrides the
// service's default threshold; a rule that is not Enabled turns alerts off
// where it applies.
type LowBalanceRule struct {
	ID        int64
	UserID    int64 // 0 for the global rule
	Threshold decimal.Decimal
	Enabled   bool
	CreatedAt time.Time
}

const ruleCols = `id, coalesce(user_id, 0), threshold, enabled, created_at`

func scanRule(row pgx.Row) (LowBalanceRule, error) {
	var r LowBalanceRule
	err := row.Scan(&r.ID, &r.UserID, &r.Threshold, &r.Enabled, &r.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return LowBalanceRule{}, fmt.Errorf("%w: low-balance rule", ErrNotFound)
	}
	return r, err
}

// LowBalanceRules lists the rules of userID, and the global rule too when
// withGlobal is set, the global rule first.
func (l *Ledger) LowBalanceRules(ctx context.Context, userID int64, withGlobal bool) ([]LowBalanceRule, error) {
	rows, err := l.pool.Query(ctx, `
		SELECT `+ruleCols+` FROM low_balance_rules
		 WHERE user_id = $1 OR ($2 AND user_id IS NULL)
		 ORDER BY user_id NULLS FIRST, id`, userID, withGlobal)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []LowBalanceRule{}
	for rows.Next() {
		r, err := scanRule(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// LowBalanceRule returns the rule with id (ErrNotFound if none).
func (l *Ledger) LowBalanceRule(ctx context.Context, id int64) (LowBalanceRule, error) {
	return scanRule(l.pool.QueryRow(ctx, `SELECT `+ruleCols+` FROM low_balance_rules WHERE id = $1`, id))
}

// CreateLowBalanceRule creates the rule of userID (0: the global rule).
// ErrRuleExists when there is one already.
func (l *Ledger) CreateLowBalanceRule(ctx context.Context, userID int64, threshold Amount, enabled bool) (LowBalanceRule, error) {
	if threshold.IsZero() {
		return LowBalanceRule{}, fmt.Errorf("%w: no threshold", ErrInvalidEntry)
	}
	var owner *int64
	if userID != 0 {
		owner = &userID
	}
	r, err := scanRule(l.pool.QueryRow(ctx, `
		INSERT INTO low_balance_rules (user_id, threshold, enabled) VALUES ($1, $2, $3)
		RETURNING `+ruleCols, owner, threshold.Decimal(), enabled))
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return LowBalanceRule{}, ErrRuleExists
	}
	return r, err
}

// UpdateLowBalanceRule changes the threshold and/or the enabled flag of the
// rule with id (nil leaves it). ErrNotFound if there is no such rule.
func (l *Ledger) UpdateLowBalanceRule(ctx context.Context, id int64, threshold *Amount, enabled *bool) (LowBalanceRule, error) {
	var t *decimal.Decimal
	if threshold != nil {
		if threshold.IsZero() {
			return LowBalanceRule{}, fmt.Errorf("%w: no threshold", ErrInvalidEntry)
		}
		d := threshold.Decimal()
		t = &d
	}
	return scanRule(l.pool.QueryRow(ctx, `
		UPDATE low_balance_rules
		   SET threshold = coalesce($2, threshold), enabled = coalesce($3, enabled), updated_at = now()
		 WHERE id = $1
		RETURNING `+ruleCols, id, t, enabled))
}

// DeleteLowBalanceRule removes the rule with id. ErrNotFound if there is
// none.
func (l *Ledger) DeleteLowBalanceRule(ctx context.Context, id int64) error {
	tag, err := l.pool.Exec(ctx, `DELETE FROM low_balance_rules WHERE id = $1`, id)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%w: low-balance rule %d", ErrNotFound, id)
	}
	return nil
}

// PendingThreshold is the alert threshold of a wallet, read in the posting
// transaction (QueueLowBalanceThreshold).
type PendingThreshold struct {
	threshold decimal.Decimal
	ok, read  bool
	err       error
}

// QueueLowBalanceThreshold queues in b, for the caller's posting
// transaction, the read of the alert threshold that applies to userID's
// wallet: the user's rule, else the global rule, else def. It probes two
// unique indexes of a table that postings never write, so it adds no
// serialization conflict between postings. Once the batch's results have
// been read, Result gives the threshold, with ok false when the rule that
// applies is disabled.
func QueueLowBalanceThreshold(b *pgx.Batch, userID int64, def decimal.Decimal) *PendingThreshold {
	pt := &PendingThreshold{}
	b.Queue(thresholdSQL, userID).QueryRow(func(row pgx.Row) error {
		pt.threshold, pt.ok, pt.err = scanThreshold(row, def)
		pt.read = true
		return nil
	})
	return pt
}

// Result is the threshold read (see QueueLowBalanceThreshold); an error if
// the batch was not read.
func (pt *PendingThreshold) Result() (threshold decimal.Decimal, ok bool, err error) {
	if !pt.read {
		return decimal.Decimal{}, false, errors.New("ledger: low-balance threshold was not read")
	}
	return pt.threshold, pt.ok, pt.err
}

const thresholdSQL = `
	(SELECT threshold, enabled FROM low_balance_rules WHERE user_id = $1)
	UNION ALL
	(SELECT threshold, enabled FROM low_balance_rules WHERE user_id IS NULL)
	LIMIT 1`

func scanThreshold(row pgx.Row, def decimal.Decimal) (threshold decimal.Decimal, ok bool, err error) {
	var enabled bool
	err = row.Scan(&threshold, &enabled)
	if errors.Is(err, pgx.ErrNoRows) {
		return def, true, nil
	}
	if err != nil {
		return decimal.Decimal{}, false, err
	}
	return threshold, enabled, nil
}

// LowBalanceCrossed reports whether p took its wallet's balance from above
// threshold to at or below it: the edge on which a low-balance alert fires.
// Further postings below the threshold do not cross it again until one has
// taken the balance back above.
func LowBalanceCrossed(p Posting, threshold decimal.Decimal) bool {
	return p.BalanceBefore.GreaterThan(threshold) && !p.BalanceAfter.GreaterThan(threshold)
}
