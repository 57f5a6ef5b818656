// Package ledger is CreditJambo's double-entry ledger: every movement of money
// is an immutable, balanced journal entry, and every balance is derived from
// the journal. It owns its SQL (sql/migrations/0003_ledger.sql) and imports
// nothing else of the service; an account's owner is a plain user id.
//
// # Model
//
// Accounts (ledger_accounts) are typed asset, liability, equity, income or
// expense. The migration creates, per currency, the settlement account
// cash:<CUR> (an asset: its balance is what all customers hold) and
// equity:adjustments:<CUR>; New creates them for the other configured
// currencies, and other currencies are refused with ErrUnknownCurrency. A
// customer's wallet wallet:<user>:<CUR> is a liability created on first use
// (Wallet) and never allowed below zero. Entries (ledger_entries) carry
// their lines (ledger_lines) with a signed amount: positive debits, negative
// credits. A balance is reported on the account's normal side (Normal), so a
// wallet's balance is what its owner holds.
//
// # Posting
//
// Post runs PostTx in a SERIALIZABLE transaction (RunSerializable), retried
// on 40001/40P01 with exponential backoff and full jitter, bounded, counted
// in a Prometheus counter. PostTx validates the entry in Go (accounts come
// from the in-memory cache), then moves the head of each wallet it touches —
// in account-id order — with a conditional UPDATE that refuses to go below
// zero (ErrInsufficientFunds, atomically), and inserts the entry and all its
// lines. Before BEGIN, Post takes in-process striped locks on the wallets'
// account ids, so that postings to one wallet queue instead of failing each
// other; across processes the retry loop still guarantees correctness.
//
// An entry of two lines, a head-less account and then a wallet (every
// deposit, withdrawal and adjustment), is written by the ledger's own posting
// statement, which the migration defines (ledger_wallet_posting_sql(); New
// loads it): one statement, and with BEGIN sent in its round trip (Tx), a
// posting is two round trips: BEGIN and the statement, then COMMIT. That
// statement is correct by construction for any
// arguments: it validates both accounts, moves the wallet's head, and inserts
// the entry with exactly two opposite lines in the wallet's currency, the
// wallet's carrying the head's new sequence and balance — or writes nothing.
// Every name in it is schema-qualified, so no search_path changes its
// meaning. The database recognizes it by its text (current_query()) and does
// not check its rows again (see below); that re-check cost more than the rest
// of the posting's work in the database (docs/benchmarks.md). Other entries
// take the general path (a head UPDATE per wallet, then one statement for
// the entry and its lines), which the database checks in full, as it checks
// every other statement writing entries or lines. With the simple protocol
// (QueryExecModeSimpleProtocol) the arguments are spelled into the text, so
// the ledger uses the general path there.
//
// # Why heads
//
// A wallet's head (ledger_account_heads) holds its balance and line sequence.
// Each wallet line stores its account_seq and balance_after, so the current
// balance is one row and a past balance (BalanceAt) is one index probe on
// (account_id, posted_at, id), whatever the history. Head updates change no
// indexed column and the table has fillfactor 50: they stay HOT and never
// insert into an index page that other transactions read. The shared cash
// and equity accounts have no head and no sequence: no row is updated by
// every posting, and the only thing of them read while posting is their
// account row, which never changes, so they are never a serialization point;
// their balance is summed when asked.
//
// # Why no foreign keys on lines, and no reads of shared pages
//
// Under SERIALIZABLE, PostgreSQL tracks reads per index page: a transaction
// that reads a page which a concurrent one inserts into gets an rw-edge to
// it. A foreign-key check reads the parent's primary-key page in the middle
// of the transaction; for lines.entry_id that is the rightmost page of the
// entries' index, which every concurrent posting inserts into, so unrelated
// postings look dependent and fail (8–38% retried in MEASUREMENTS.md). For
// lines.account_id it would also lock the cash account's row in KEY SHARE mode
// in every posting. So lines have no foreign keys.
//
// The design first moved those checks into DEFERRABLE INITIALLY DEFERRED
// constraint triggers, reasoning that reads at COMMIT only create edges
// towards transactions that write later and so commit later. Measurement
// refuted it: about one retry per posting on distinct wallets at 8–64
// workers, nearly all "conflict in from prepared pivot". For SSI a
// transaction is committed only once its commit record is flushed; while
// dozens of postings wait in the group commit, each is a prepared,
// not-yet-committed pivot for the others, and commit-time reads of the hot
// rightmost pages connect them all.
//
// The rules are therefore checked from data the transaction already holds,
// with no read of a page other postings write (sql/migrations/0003_ledger.sql),
// for every statement but the ledger's own posting statement: a
// statement-level trigger on ledger_lines reads the statement's transition
// table (which takes no predicate locks), the accounts (never written while
// posting) and the heads of the wallets concerned (rows the transaction has
// just updated). Every entry in the statement must balance per currency
// (hence have at least two lines), must have been created by this
// transaction and not have lines yet (so all of an entry's lines come in one
// statement and nobody can add lines to a committed entry); every account
// must exist in the line's currency; a wallet's lines must carry its
// sequence and balance and end exactly at its head. Entries created by the
// transaction are tracked in a transaction-local setting kept by the entry
// id's default (ledger_entry_id(), which also takes the xid first), and a
// deferred constraint trigger that reads only that setting rejects at COMMIT
// an entry left without lines. Neither a buggy caller nor a psql session can
// commit an unbalanced entry: balance is checked from the inserted rows
// themselves, or guaranteed by the posting statement's construction. A
// session that deliberately forges the setting can at most attach a balanced
// set of lines to another entry, which Verify's hash chain reports. With
// this design the benchmark measures no serialization retries on distinct
// wallets (docs/benchmarks.md).
//
// Single-column rules (amount not zero, balance not negative, the entry
// kinds) are domain constraints: PostgreSQL re-plans a table's CHECK
// constraints in every statement that writes it, a domain's once per
// session.
//
// Under SSI a sequential scan locks a whole relation, and the planner prefers
// one on small tables: RunSerializable turns sequential scans off for its
// transactions (SET LOCAL enable_seqscan = off, sent with BEGIN).
//
// # Round trips
//
// RunSerializable's Tx queues statements to go, in one pgx pipeline, before
// the next one run: BEGIN is queued so, and a caller queues its own checks
// (a device, a daily limit) to ride with the posting statement, and writes
// that need no answer to go with COMMIT. A deposit over HTTP is three round
// trips: BEGIN, the checks and the posting; River's job insert; the
// notification and COMMIT. On one client that is ~30% more deposits per
// second than five round trips; at 32 clients, where the CPU is saturated,
// the difference is within the noise (docs/benchmarks.md).
//
// # Turns
//
// Once the database's cores are busy, more transactions at once only add
// work: context switches among backends, SSI conflict tracking among more
// concurrent serializable transactions, and a tail of requests the
// scheduler happens to leave behind. So at most Options.MaxInFlight tries
// run at once; the others wait in order in the process, before taking a
// connection, and the pool stays free for reads, exports and River. A try
// waits after taking its wallets' stripes (a hot wallet's queue holds one
// turn) and gives its turn back before a retry's backoff.
//
// # Idempotency
//
// (idem_scope, idem_key) is unique. The posting path does not look the key
// up: it inserts, and a unique violation on that constraint (or a
// serialization failure from a concurrent duplicate, which becomes one on
// retry) ends the transaction; Replay then reads the original in a fresh
// transaction and returns it (Replayed) when the request hash matches, or
// ErrIdempotencyConflict. A refused request (insufficient funds) commits
// nothing and so consumes no key.
//
// # Sealing watermark
//
// The hash chain (ledger_seals, HashEntry) is built after the fact by Seal,
// in entry-id order, so it never serializes writers. Ids come from a
// sequence, so a lower id can commit after a higher one; Seal must not chain
// past an id whose transaction may still commit. Every transaction owns an
// xid before it draws an entry id: the posting statement draws it after
// moving the head, the id's default (ledger_entry_id()) after taking the xid,
// and an entry with any other id can never commit.
// Seal reads the sequence's last value L, then takes a new xid X, then waits
// until no transaction older than X is running: every transaction holding an
// id <= L has ended, and the committed entries up to L are final. Verify
// recomputes the chain and every derived balance; it never repairs.
//
// # Time
//
// Posting times (posted_at, created_at) come from the database clock,
// captured after the wallet heads are updated, so a wallet's lines are in
// posting-time order and a filter at an entry's own created_at finds it.
// Options.Now is used for the ledger's own timing (seal deadline, report
// time).
//
// # Reading
//
// Read the ledger outside the posting path under READ COMMITTED or
// REPEATABLE READ (reports, Verify and exports use one REPEATABLE READ
// snapshot each); a SERIALIZABLE reader of these tables would make postings
// conflict with it.
package ledger
