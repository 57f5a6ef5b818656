package api

import (
	"net/http"
	"strconv"

	"github.com/gorilla/mux"

	"github.com/creditjambo/creditjambo/auth"
)

// pathID is the {id} of the route, or a 404 when it is not an id.
func pathID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(mux.Vars(r)["id"], 10, 64)
	if err != nil || id <= 0 {
		return 0, errNotFound
	}
	return id, nil
}

func (s *server) listDevices(w http.ResponseWriter, r *http.Request) error {
	ds, err := s.auth.Devices(r.Context(), currentUser(r.Context()).UserID)
	if err != nil {
		return err
	}
	out := make([]deviceJSON, 0, len(ds))
	for _, d := range ds {
		out = append(out, toDeviceJSON(d))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

type addDeviceRequest struct {
	DeviceID string `json:"device_id"`
	Name     string `json:"name"`
}

// addDevice registers a device PENDING (201), or returns the caller's
// existing device with that id (200).
func (s *server) addDevice(w http.ResponseWriter, r *http.Request) error {
	var req addDeviceRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	d, created, err := s.auth.AddDevice(r.Context(), currentUser(r.Context()).UserID, req.DeviceID, req.Name, client(r))
	if err != nil {
		return authError(w, err)
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeJSON(w, status, toDeviceJSON(d))
	return nil
}

func (s *server) requestDeviceVerification(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	d, err := s.auth.RequestVerification(r.Context(), currentUser(r.Context()).UserID, id, client(r))
	if err != nil {
		return authError(w, err)
	}
	writeJSON(w, http.StatusOK, toDeviceJSON(d))
	return nil
}

func (s *server) deleteDevice(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	if err := s.auth.RevokeDevice(r.Context(), currentUser(r.Context()).UserID, id); err != nil {
		return authError(w, err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *server) adminListDevices(w http.ResponseWriter, r *http.Request) error {
	var status auth.DeviceStatus
	if q := r.URL.Query().Get("status"); q != "" {
		st, ok := auth.ParseDeviceStatus(q)
		if !ok {
			return fieldError("status", "Choose pending, approved, rejected or revoked.")
		}
		status = st
	}
	ds, err := s.auth.AdminDevices(r.Context(), status)
	if err != nil {
		return err
	}
	out := make([]adminDeviceJSON, 0, len(ds))
	for _, d := range ds {
		out = append(out, toAdminDeviceJSON(d))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *server) approveDevice(w http.ResponseWriter, r *http.Request) error {
	return s.decideDevice(w, r, true)
}

func (s *server) rejectDevice(w http.ResponseWriter, r *http.Request) error {
	return s.decideDevice(w, r, false)
}

type verifyDeviceRequest struct {
	Status string `json:"status"`
}

func (s *server) verifyDevice(w http.ResponseWriter, r *http.Request) error {
	var req verifyDeviceRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	switch auth.DeviceStatus(req.Status) {
	case auth.DeviceApproved:
		return s.decideDevice(w, r, true)
	case auth.DeviceRejected:
		return s.decideDevice(w, r, false)
	}
	return fieldError("status", `Choose "APPROVED" or "REJECTED".`)
}

// decideDevice answers with the compat body, whose id is a string.
func (s *server) decideDevice(w http.ResponseWriter, r *http.Request, approve bool) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	d, err := s.decideDeviceAudited(r, id, approve) // with its audit record (api/admin.go)
	if err != nil {
		return authError(w, err)
	}
	detail := "Device rejected."
	if approve {
		detail = "Device approved."
	}
	writeJSON(w, http.StatusOK, map[string]string{"detail": detail, "id": strconv.FormatInt(d.ID, 10)})
	return nil
}
