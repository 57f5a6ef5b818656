package api

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/creditjambo/creditjambo/auth"
	"github.com/creditjambo/creditjambo/templates"
)

// TestDeviceLifecycle: a user registers a device, an admin rejects it (its
// log-ins end), the user asks again, an admin approves it through verify,
// the user removes it (its log-ins end); money movement is refused at once
// through CheckDeviceTx.
func TestDeviceLifecycle(t *testing.T) {
	t.Parallel()
	e := newAuthEnv(t)
	u := e.createUser(t, "patrick", auth.RoleCustomer)
	s := e.approvedLogin(t, u, "phone")
	admin := e.adminToken(t)

	// Register a second device: 201 PENDING, then 200 with the same row.
	r := e.post(t, "/api/auth/devices/", s.access, map[string]any{"device_id": "tablet", "name": "Tab A8"})
	expect(t, r, http.StatusCreated, "")
	if r.str("status") != "PENDING" || r.str("name") != "Tab A8" || r.json["verified_at"] != nil {
		t.Fatalf("new device: %s", r.raw)
	}
	id := int64(r.json["id"].(float64))
	r = e.post(t, "/api/devices", s.access, map[string]any{"device_id": "tablet"})
	expect(t, r, http.StatusOK, "")
	if int64(r.json["id"].(float64)) != id {
		t.Fatalf("existing device: %s", r.raw)
	}
	expect(t, e.post(t, "/api/auth/devices/", s.access, map[string]any{"device_id": ""}), http.StatusBadRequest, "invalid")

	// Reject the phone the user is signed in on: refresh fails at once (and
	// would for everything but money at the next refresh), and money
	// movement is refused with the status.
	phone := e.deviceRow(t, u.ID, "phone")
	r = e.post(t, "/api/admin/devices/"+itoa(phone)+"/reject/", admin, nil)
	expect(t, r, http.StatusOK, "")
	if r.str("detail") != "Device rejected." || r.str("id") != itoa(phone) {
		t.Fatalf("reject: %s", r.raw)
	}
	expect(t, e.post(t, "/api/admin/devices/"+itoa(phone)+"/reject/", admin, nil), http.StatusBadRequest, "device_already_rejected")
	if n := len(e.emails(t, templates.DeviceRejected, u.Email)); n != 1 {
		t.Fatalf("%d device-rejected emails", n)
	}
	expect(t, e.post(t, "/api/auth/token/refresh/", "", map[string]any{"refresh": s.refresh}), http.StatusUnauthorized, "token_not_valid")
	p, err := e.svc.Authenticate(s.access) // still unexpired
	if err != nil {
		t.Fatal(err)
	}
	assertDeviceCheck(t, e, p, auth.DeviceRejected)
	r = e.post(t, "/api/auth/login/", "", map[string]any{"username": u.Username, "password": testPassword, "device_id": "phone"})
	expect(t, r, http.StatusForbidden, "device_not_approved")
	if r.str("device_status") != "REJECTED" {
		t.Fatalf("rejected device login: %s", r.raw)
	}

	// Ask again: back to PENDING; admins approve through verify.
	r = e.do(t, req{method: http.MethodPatch, path: "/api/auth/devices/" + itoa(phone) + "/request-verification/", token: s.access})
	expect(t, r, http.StatusOK, "")
	if r.str("status") != "PENDING" || r.json["verified_at"] != nil {
		t.Fatalf("request verification: %s", r.raw)
	}
	expect(t, e.do(t, req{method: http.MethodPatch, path: "/api/admin/devices/" + itoa(phone) + "/verify/", token: admin, body: map[string]any{"status": "MAYBE"}}), http.StatusBadRequest, "invalid")
	r = e.do(t, req{method: http.MethodPatch, path: "/api/admin/devices/" + itoa(phone) + "/verify/", token: admin, body: map[string]any{"status": "APPROVED"}})
	expect(t, r, http.StatusOK, "")
	if r.str("detail") != "Device approved." {
		t.Fatalf("verify: %s", r.raw)
	}
	expect(t, e.do(t, req{method: http.MethodPatch, path: "/api/auth/devices/" + itoa(phone) + "/request-verification/", token: s.access}), http.StatusBadRequest, "device_already_approved")
	assertDeviceCheck(t, e, p, "")
	s2 := e.login(t, u.Username, "phone")

	// Remove it: 204, REVOKED, its log-ins end, money stops.
	expect(t, e.do(t, req{method: http.MethodDelete, path: "/api/auth/devices/" + itoa(phone) + "/", token: s2.access}), http.StatusNoContent, "")
	expect(t, e.post(t, "/api/auth/token/refresh/", "", map[string]any{"refresh": s2.refresh}), http.StatusUnauthorized, "token_not_valid")
	assertDeviceCheck(t, e, p, auth.DeviceRevoked)
	r = e.get(t, "/api/admin/devices/?status=revoked", admin)
	expect(t, r, http.StatusOK, "")
	var list []map[string]any
	mustJSON(t, r.raw, &list)
	if len(list) != 1 || int64(list[0]["id"].(float64)) != phone {
		t.Fatalf("revoked devices: %s", r.raw)
	}
	expect(t, e.get(t, "/api/admin/devices/?status=lost", admin), http.StatusBadRequest, "invalid")

	// An admin's token carries no device and is exempt.
	ap, err := e.svc.Authenticate(admin)
	if err != nil || ap.DeviceID != 0 {
		t.Fatalf("admin principal %+v %v", ap, err)
	}
	assertDeviceCheck(t, e, ap, "")

	// At most 10 PENDING devices.
	for i := range auth.MaxPendingDevices - 1 { // "tablet" is one
		expect(t, e.post(t, "/api/auth/devices/", s2.access, map[string]any{"device_id": "extra-" + itoa(int64(i))}), http.StatusCreated, "")
	}
	expect(t, e.post(t, "/api/auth/devices/", s2.access, map[string]any{"device_id": "one-too-many"}), http.StatusBadRequest, "too_many_devices")
	r = e.post(t, "/api/auth/login/", "", map[string]any{"username": u.Username, "password": testPassword, "device_id": "also-too-many"})
	expect(t, r, http.StatusBadRequest, "too_many_devices")
}

// assertDeviceCheck runs CheckDeviceTx the way a posting does, inside a
// SERIALIZABLE transaction: want "" means allowed.
func assertDeviceCheck(t *testing.T, e *authEnv, p auth.Principal, want auth.DeviceStatus) {
	t.Helper()
	ctx := context.Background()
	tx, err := e.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.Serializable})
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // read-only
	err = e.svc.CheckDeviceTx(ctx, tx, p.UserID, p.DeviceID)
	if want == "" {
		if err != nil {
			t.Fatalf("CheckDeviceTx: %v, want allowed", err)
		}
		return
	}
	var de *auth.DeviceError
	if !errors.As(err, &de) || de.Status != want {
		t.Fatalf("CheckDeviceTx: %v, want %s", err, want)
	}
	// Through the edge, it is the compat 403.
	apiErr := toAPIError(authError(nil, err))
	if apiErr.Status != http.StatusForbidden || apiErr.Code != "device_not_approved" || apiErr.Extra["device_status"] != string(want) || apiErr.Extra["approved"] != false {
		t.Fatalf("edge answer %+v", apiErr)
	}
}
