package main

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/hubd-dev/hubd/hub"
)

// startHub starts the hub, restoring the history that the last graceful
// stop saved to cfg.HistoryFile, if any. The file is removed once read: if
// this run then crashes, the next one starts afresh instead of reusing IDs
// this run has already given out: with new event IDs, so that a client
// reconnecting with an ID of this run is told it missed events and then gets
// everything the new run has published.
func startHub(cfg *config, hc hub.Config, log *slog.Logger) (*hub.Hub, error) {
	if cfg.HistoryFile != "" {
		f, err := os.Open(cfg.HistoryFile)
		if err == nil {
			return restoreHub(cfg.HistoryFile, f, hc, log)
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("history-file: %w", err)
		}
		log.Info("no saved history: starting with an empty one", "file", cfg.HistoryFile)
	}
	h, err := hub.New(hc)
	switch {
	case err != nil && hc.Log != nil:
		return nil, err // the event log's state could not be read
	case err != nil:
		return nil, &configError{err}
	}
	return h, nil
}

// restoreHub starts the hub from the history in f, then removes the file.
func restoreHub(path string, f *os.File, hc hub.Config, log *slog.Logger) (*hub.Hub, error) {
	h, err := hub.NewFromHistory(hc, f)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("history-file %s: %w (move it away to start with an empty history)", path, err)
	}
	if err := os.Remove(path); err != nil {
		return nil, fmt.Errorf("history-file: %w", err)
	}
	st := h.Stats()
	log.Info("history restored", "file", path, "events", st.HistoryLen, "last_id", st.LastID)
	return h, nil
}

// saveHistory writes the stopped hub's history to path, through a
// temporary file in the same folder, so that a crash while writing never
// leaves half a file for the next start.
func saveHistory(h *hub.Hub, path string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after a successful rename, nothing is left to remove
	if err := h.SaveHistory(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
