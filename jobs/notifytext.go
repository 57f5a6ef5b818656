package jobs

import (
	"fmt"
	"slices"
	"strings"

	"github.com/creditjambo/creditjambo/templates"
)

// catalogue holds the title and message of every notification type in each
// language, keyed by message key (the type, or the type and a variant such
// as DEVICE_EVENT/rejected) and language code. {name} stands for the data
// value of that name; see NotificationText.
var catalogue = map[string]map[string]text{
	NotifNewUser: {
		"en": {"New user registered", "{username} ({email}) created an account."},
		"rw": {"Umukoresha mushya yiyandikishije", "{username} ({email}) yafunguye konti."},
	},
	NotifUserApprovalRequired: {
		"en": {"Device awaiting approval", "{username} is waiting for you to approve a new device: {device_name}."},
		"rw": {"Igikoresho gitegereje kwemezwa", "{username} ategereje ko wemeza igikoresho gishya: {device_name}."},
	},
	NotifDeviceEvent + "/approved": {
		"en": {"Device approved", "Your device {device_name} was approved. You can now sign in with it."},
		"rw": {"Igikoresho cyawe cyemejwe", "Igikoresho cyawe {device_name} cyemejwe. Ubu ushobora kugikoresha winjira muri konti yawe."},
	},
	NotifDeviceEvent + "/rejected": {
		"en": {"Device not approved", "Your device {device_name} was not approved. If it was you, ask for verification again or contact support."},
		"rw": {"Igikoresho cyawe nticyemejwe", "Igikoresho cyawe {device_name} nticyemejwe. Niba ari wowe, ongera usabe ko cyemezwa cyangwa uvugane n'abashinzwe ubufasha."},
	},
	NotifPasswordReset: {
		"en": {"Password reset requested", "A code to reset your password was sent to your email. If you did not ask for it, ignore it: your password has not changed."},
		"rw": {"Hasabwe guhindura ijambo ry'ibanga", "Kode yo guhindura ijambo ry'ibanga yoherejwe kuri imeri yawe. Niba atari wowe wayisabye, ntugire icyo ukora: ijambo ry'ibanga ryawe ntiryahindutse."},
	},
	NotifUserBlocked: {
		"en": {"User deactivated", "The account of {username} ({email}) was deactivated."},
		"rw": {"Konti yahagaritswe", "Konti ya {username} ({email}) yahagaritswe."},
	},
	NotifDepositConfirmed: {
		"en": {"Deposit received", "{amount} was added to your savings. Your balance is now {balance_after}."},
		"rw": {"Amafaranga wabikije yakiriwe", "Amafaranga {amount} yongerewe ku bwizigame bwawe. Ubu usigaranye {balance_after}."},
	},
	NotifWithdrawAlert: {
		"en": {"Withdrawal processed", "{amount} was withdrawn from your savings. Your balance is now {balance_after}."},
		"rw": {"Amafaranga yabikujwe", "Amafaranga {amount} yabikujwe ku bwizigame bwawe. Ubu usigaranye {balance_after}."},
	},
	NotifLowBalance: {
		"en": {"Low balance", "Your balance is {balance}, at or below your alert threshold of {threshold}."},
		"rw": {"Amafaranga asigaye ni make", "Amafaranga usigaranye ni {balance}, angana cyangwa ari munsi y'urugero rwo kukuburira rwa {threshold}."},
	},
}

// text is a title and a message with {name} placeholders.
type text struct{ title, message string }

// unnamedDevice stands for a device without a name.
var unnamedDevice = map[string]string{"en": "(no name)", "rw": "(kitagira izina)"}

// moneyKeys are the data values shown as money ("1,500.00 RWF", with the
// data's currency).
var moneyKeys = []string{"amount", "balance_after", "balance", "threshold"}

// NotificationText returns the title and message of a notification of type
// typ in language lang ("en" or "rw"; any other is English), filled with
// data. ANNOUNCEMENT takes data "title" and "message" as written by the
// admin. The other types take, by name (missing values are left empty):
//
//   - NEW_USER, USER_BLOCKED: username, email.
//   - USER_APPROVAL_REQUIRED: username, device_name.
//   - DEVICE_EVENT: device_name, approved (bool; false words it as a
//     rejection).
//   - PASSWORD_RESET: nothing (never the code).
//   - DEPOSIT_CONFIRMED, WITHDRAW_ALERT: amount, balance_after, currency.
//   - LOW_BALANCE: balance, threshold, currency.
//
// Amounts are decimal strings, decimal.Decimal or json.Number (never
// floats), shown as "1,500.00 RWF". An unknown type gives empty strings.
// The data map is also what NotifyUserTx and NotifyAdminsTx store as meta,
// so it must hold nothing secret.
func NotificationText(typ, lang string, data map[string]any) (title, message string) {
	if typ == NotifAnnouncement {
		return str(data["title"]), str(data["message"])
	}
	key := typ
	if typ == NotifDeviceEvent {
		key += "/rejected"
		if approved, _ := data["approved"].(bool); approved {
			key = NotifDeviceEvent + "/approved"
		}
	}
	byLang, ok := catalogue[key]
	if !ok {
		return "", ""
	}
	if _, ok := byLang[lang]; !ok {
		lang = "en"
	}
	t := byLang[lang]
	return fill(t.title, lang, data), fill(t.message, lang, data)
}

// fill replaces each {name} of the catalogue text s with data's value, or
// with nothing when data has none. Values are inserted as they are, never
// scanned for placeholders themselves.
func fill(s, lang string, data map[string]any) string {
	var b strings.Builder
	for {
		i := strings.IndexByte(s, '{')
		j := strings.IndexByte(s[max(i, 0):], '}')
		if i < 0 || j < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		b.WriteString(placeholder(s[i+1:i+j], lang, data))
		s = s[i+j+1:]
	}
}

// placeholder is the text that stands for {name}.
func placeholder(name, lang string, data map[string]any) string {
	v := data[name]
	switch {
	case name == "device_name":
		if n := str(v); n != "" {
			return `"` + n + `"`
		}
		return unnamedDevice[lang]
	case slices.Contains(moneyKeys, name) && v != nil:
		if m, err := templates.FormatMoney(v, str(data["currency"])); err == nil {
			return m
		}
	}
	return str(v)
}

func str(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case fmt.Stringer:
		return x.String()
	}
	return fmt.Sprint(v)
}
