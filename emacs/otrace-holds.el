;;; otrace-holds.el --- Held requests: list, markers, resume -*- lexical-binding: t -*-

;; Copyright (C) 2025 otrace-server authors

;; This file is not part of GNU Emacs.  It is part of the otrace package
;; and is distributed under the same license (GPL-3.0-or-later): see
;; otrace.el.

;;; Commentary:

;; `otrace-holds': a tabulated list of the held requests of the
;; connected process (function, label, age, request), redrawn by
;; `otrace-holds-changed-hook'.  The same hook puts a fringe marker and
;; an overlay on every line where a request is held, in each buffer
;; visiting that file.

;;; Code:

(require 'tabulated-list)
(require 'otrace)

(declare-function otrace-console-send-line "otrace-console" (line &optional worker))

(defface otrace-held-line
  '((t :inherit highlight :extend t))
  "Face of a line where a request is held."
  :group 'otrace)

(defconst otrace--holds-buffer "*otrace holds*"
  "Name of the holds buffer.")

;;;; The holds buffer

(defvar otrace-holds-mode-map
  (let ((map (make-sparse-keymap)))
    (define-key map (kbd "RET") #'otrace-holds-visit)
    (define-key map "r" #'otrace-holds-resume)
    (define-key map "R" #'otrace-holds-resume-all)
    (define-key map "v" #'otrace-holds-resume-value)
    (define-key map "x" #'otrace-holds-fail)
    (define-key map "c" #'otrace-holds-context)
    (define-key map "d" #'otrace-holds-remove-live)
    map)
  "Keymap of `otrace-holds-mode'.")

(define-derived-mode otrace-holds-mode tabulated-list-mode "otrace-holds"
  "Major mode listing the requests held in the otrace process.
\\{otrace-holds-mode-map}"
  (otrace--holds-format 24)
  (setq tabulated-list-padding 1)
  (add-hook 'tabulated-list-revert-hook #'otrace--holds-entries nil t)
  (tabulated-list-init-header)
  (otrace--tick-ages))

(defconst otrace--holds-tick-seconds 1
  "Seconds between redraws of the ages in the holds buffer.")

(defvar-local otrace--holds-tick nil
  "Timer redrawing the ages of this holds buffer.")

(defun otrace--tick-ages ()
  "Redraw the ages in the current list of held requests every second."
  (let ((buf (current-buffer)))
    (unless (timerp otrace--holds-tick)
      (setq otrace--holds-tick
            (run-at-time otrace--holds-tick-seconds otrace--holds-tick-seconds
                         (lambda ()
                           (if (buffer-live-p buf)
                               (when otrace--holds
                                 (with-current-buffer buf (otrace--holds-tick-ages)))
                             (otrace--stop-ticking buf)))))
      (add-hook 'kill-buffer-hook (lambda () (otrace--stop-ticking buf)) nil t))))

(defun otrace--hold-age (hold &optional now)
  "The age of HOLD as shown: \"12s\" (NOW defaults to the current time)."
  (format "%ds" (max 0 (- (or now (float-time)) (plist-get hold :since)))))

(defun otrace--holds-tick-ages ()
  "Write the new age of each held request of the current list in its row.
Only the Age cells that changed are written: with hundreds of rows (a
fleet) a redraw of the whole list each second would cost much more."
  (let ((col (cl-position "Age" tabulated-list-format :key #'car :test #'equal))
        (now (float-time))
        (inhibit-read-only t))
    (save-excursion
      (goto-char (point-min))
      (while (not (eobp))
        (let ((entry (tabulated-list-get-id)))
          (when (and entry (not (plist-get entry :liveHold)))
            (let ((age (otrace--hold-age entry now)))
              (unless (equal age (aref (tabulated-list-get-entry) col))
                (tabulated-list-set-col col age t)))))
        (forward-line 1)))
    (set-buffer-modified-p nil)))

(defun otrace--stop-ticking (buf)
  "Stop redrawing the ages in BUF, a list of held requests."
  (when (buffer-live-p buf)
    (with-current-buffer buf
      (when (timerp otrace--holds-tick) (cancel-timer otrace--holds-tick))
      (setq otrace--holds-tick nil))))

(defun otrace--holds-format (request-width)
  "Set the columns: the request (REQUEST-WIDTH wide), label, function, age.
Attached to a fleet, the worker of each (\"worker 1234\") comes second."
  (setq tabulated-list-format
        (vconcat `(("Request" ,request-width t))
                 (and otrace--workers '(("Worker" 12 t)))
                 '(("Label" 16 t) ("Function" 28 t) ("Age" 7 otrace--holds-age-less)))))

(defun otrace--holds-age-less (a b)
  "Non-nil when tabulated entry A was held for less time than B."
  (> (plist-get (car a) :since) (plist-get (car b) :since)))

(defun otrace--summary-text (summary)
  "Return the one-line text of a request SUMMARY, the server's own.
SUMMARY is the protocol's object (method, uri, remote_ip: those known) or nil:
\"GET /?number=77 from 127.0.0.1\", without \" from ...\" when the
address is unknown.  The URI is the client's: shown `otrace--visible'."
  (let ((text (mapconcat #'identity
                         (delq nil (list (plist-get summary :method) (plist-get summary :uri)))
                         " "))
        (remote-ip (plist-get summary :remote_ip)))
    (otrace--visible (if remote-ip (format "%s from %s" text remote-ip) text) t)))

(defun otrace--hold-request (hold)
  "The request of HOLD in one line (its client gone, its browser: said after it)."
  (concat (otrace--summary-text (plist-get hold :summary))
          (if (eq (plist-get hold :clientGone) t) " (client gone)" "")
          (if (plist-get hold :webClient) (format " [browser %s]" (plist-get hold :webClient)) "")))

(defun otrace--holds-entries ()
  "Fill `tabulated-list-entries' with the held requests, then each live hold.
A live hold (\"Hold here live\") is a row of its own: `d' removes it.
Attached to a fleet, every worker's holds are listed, each with its
worker; a live hold is the fleet's."
  (let ((fleet otrace--workers))
    (setq tabulated-list-entries
          (append
           (mapcar (lambda (hold)
                     (list hold
                           (vconcat (list (otrace--hold-request hold))
                                    (and fleet (list (format "worker %s" (plist-get hold :worker))))
                                    (list (or (plist-get hold :label) "")
                                          (or (plist-get hold :function) "")
                                          (otrace--hold-age hold)))))
                   otrace--holds)
           (mapcar (lambda (patch)
                     (let ((live (plist-get patch :liveHold)))
                       (list patch
                             (vconcat (list (format "live hold at line %s of %s (d removes it)" (plist-get live :line)
                                                    (file-name-nondirectory (plist-get live :file))))
                                      (and fleet '("fleet"))
                                      (list (or (plist-get live :label) "") (plist-get patch :name) "live")))))
                   (otrace--live-holds)))))
  ;; the request column as wide as its longest text (up to 60), so the path is not cut off
  (otrace--holds-format (min 60 (apply #'max 24 (mapcar (lambda (e) (length (aref (cadr e) 0)))
                                                        tabulated-list-entries))))
  (tabulated-list-init-header))

;;;###autoload
(defun otrace-holds ()
  "List the requests held in the connected otrace process."
  (interactive)
  (otrace--connection)
  (let ((buf (get-buffer-create otrace--holds-buffer)))
    (with-current-buffer buf
      (unless (derived-mode-p 'otrace-holds-mode) (otrace-holds-mode))
      (otrace--holds-entries)
      (tabulated-list-print t))
    (pop-to-buffer buf)
    buf))

(defun otrace--holds-redraw ()
  "Update the buffer listing the held requests, if there is one."
  (let ((buf (get-buffer otrace--holds-buffer)))
    (when (buffer-live-p buf)
      (with-current-buffer buf
        (otrace--holds-entries)
        (tabulated-list-print t)))))

(defun otrace--hold-at-point ()
  "The held request of the current line, or signal a `user-error'."
  (let ((entry (or (tabulated-list-get-id) (otrace--error "No held request on this line"))))
    (when (plist-get entry :liveHold)
      (otrace--error "%s is a live hold, not a held request: d removes it" (plist-get entry :name)))
    entry))

(defun otrace-holds-remove-live ()
  "Remove the live hold of the current line of the list."
  (interactive)
  (let ((entry (or (tabulated-list-get-id) (otrace--error "Nothing on this line"))))
    (unless (plist-get entry :liveHold)
      (otrace--error "Not a live hold: r resumes a held request"))
    (otrace-remove-live-hold (plist-get entry :name))))

(defun otrace-holds-visit ()
  "Visit the line where the request at point is held (or the live hold is)."
  (interactive)
  (let* ((entry (or (tabulated-list-get-id) (otrace--error "Nothing on this line")))
         (where (or (plist-get entry :liveHold) entry)))
    (find-file-other-window (plist-get where :file))
    (goto-char (point-min))
    (forward-line (1- (plist-get where :line)))))

(defun otrace-holds-resume ()
  "Resume the request at point (in its worker)."
  (interactive)
  (otrace-resume (list (otrace--hold-at-point))))

(defun otrace-holds-resume-all ()
  "Resume every held request, after asking; attached to a fleet, every worker's."
  (interactive)
  (let ((n (length otrace--holds)))
    (when (zerop n) (otrace--error "No request is held"))
    ;; one key, read as a key (also from a keyboard macro, even in batch Emacs)
    (when (eq ?y (read-char-choice (format "Resume all %d held request%s%s? (y or n) " n (if (= n 1) "" "s")
                                           (if otrace--workers
                                               (format " of fleet %s (%d workers)" (plist-get otrace--fleet :name)
                                                       (length otrace--workers))
                                             ""))
                                   '(?y ?n)))
      (otrace-resume 'all))))

(defun otrace--parse-value (text)
  "Return TEXT parsed as JSON, or TEXT itself when it is not JSON.
TEXT that is empty or blank is not JSON either: it is returned as is."
  (condition-case nil
      (json-parse-string text :object-type 'plist :null-object :null :false-object :json-false)
    ;; `json-error' covers `json-parse-error' and `json-end-of-file' ("", "  ").
    (json-error text)))

(defun otrace-holds-resume-value (value)
  "Resume the request at point, making its `traceassert' return VALUE.
Interactively VALUE is read as JSON (e.g. 5, \"text\", [1, 2]),
else taken as a string."
  (interactive (list (otrace--parse-value (read-string "Resume with value (JSON): "))))
  (otrace-resume (list (otrace--hold-at-point)) :value value))

(defun otrace-holds-fail (status)
  "Fail the request at point: answer it with HTTP STATUS (default 500)."
  (interactive (list (read-number "Fail with HTTP status: " 500)))
  (otrace-resume (list (otrace--hold-at-point))
                 :status status :reason "Failed from Emacs (otrace)"))

(defun otrace-hold-context-path (id)
  "The otrace shell directory of the context of hold ID."
  (concat "/osh/recent/holds/" (replace-regexp-in-string ":" "/" id)))

(defun otrace-holds-context ()
  "Open the context of the request at point in the console (of its worker)."
  (interactive)
  (let ((hold (otrace--hold-at-point)))
    (otrace-console-send-line (concat "cd " (otrace-hold-context-path (plist-get hold :id)))
                              (and otrace--workers (plist-get hold :worker)))))

;;;; Markers in source buffers

(defun otrace--clear-markers ()
  "Delete the hold markers of the current buffer."
  (remove-overlays (point-min) (point-max) 'otrace-hold t))

(defun otrace--line-overlay (line)
  "A new marker overlay on LINE (1-based) of the current buffer.
Nil when LINE is past its end."
  (save-excursion
    (goto-char (point-min))
    (when (zerop (forward-line (1- line)))
      (let ((ov (make-overlay (line-beginning-position) (line-beginning-position 2))))
        (overlay-put ov 'otrace-hold t)
        ov))))

(defun otrace--mark-holds ()
  "Mark the held lines and the line of each live hold in the current buffer.
A held request: a fringe triangle (\">\" in a terminal's margin) and
the line highlighted; a live hold (\"Hold here live\"): a square (\"L\")."
  (otrace--clear-markers)
  (dolist (patch otrace--patches)
    (let* ((live (plist-get patch :liveHold))
           (ov (and live (otrace--same-file-p (plist-get live :file) buffer-file-name)
                    (otrace--line-overlay (plist-get live :line)))))
      (when ov
        (overlay-put ov 'otrace-live-hold (plist-get patch :name))
        (overlay-put ov 'help-echo (substitute-command-keys
                                    (format "live hold %s in %s (\\<otrace-source-mode-map>\\[otrace-remove-live-hold] removes it)"
                                            (plist-get live :label) (plist-get patch :name))))
        (overlay-put ov 'before-string (otrace--line-mark 'filled-square "L" 'warning)))))
  (dolist (hold otrace--holds)
    (let ((ov (and (otrace--same-file-p (plist-get hold :file) buffer-file-name)
                   (otrace--line-overlay (plist-get hold :line)))))
      (when ov
        (overlay-put ov 'otrace-hold-id (plist-get hold :id))
        (overlay-put ov 'otrace-held hold)
        (overlay-put ov 'face 'otrace-held-line)
        (overlay-put ov 'priority 10)        ; a request held at a live hold: its mark shows
        (overlay-put ov 'help-echo (substitute-command-keys
                                    (format "held: %s (\\<otrace-source-mode-map>\\[otrace-resume-at-point] resumes)"
                                            (plist-get hold :label))))
        (overlay-put ov 'before-string (otrace--line-mark 'right-triangle ">" 'error))))))

(defun otrace--line-mark (bitmap char face)
  "A line marker: fringe BITMAP in FACE, or in a terminal (no fringe) CHAR.
The character goes in the left margin, which is widened to show it."
  (if (display-graphic-p)
      (propertize "*" 'display `(left-fringe ,bitmap ,face))
    (when (< (or left-margin-width 0) 1)
      (setq left-margin-width 1)
      (dolist (window (get-buffer-window-list (current-buffer) nil t))
        (set-window-margins window 1 (cdr (window-margins window)))))
    (propertize "*" 'display `((margin left-margin) ,(propertize char 'face face)))))

(defun otrace--holds-update-buffers ()
  "Update the list of held requests and the markers in file buffers."
  (otrace--holds-redraw)
  (dolist (buf (buffer-list))
    (when (buffer-file-name buf)
      (with-current-buffer buf
        (if (or otrace--holds otrace--patches) (otrace--mark-holds) (otrace--clear-markers))))))

(add-hook 'otrace-holds-changed-hook #'otrace--holds-update-buffers)

(defun otrace-holds-at (pos)
  "The requests held on the line of POS (Hold plists, of any worker)."
  (save-excursion
    (goto-char pos)
    (delq nil (mapcar (lambda (ov) (overlay-get ov 'otrace-held))
                      (overlays-in (line-beginning-position) (line-end-position))))))

(defun otrace-hold-ids-at (pos)
  "Ids of the requests held on the line of POS."
  (mapcar (lambda (hold) (plist-get hold :id)) (otrace-holds-at pos)))

(defun otrace-resume-at-point ()
  "Resume the requests held on the current line (each in its worker)."
  (interactive)
  (otrace-resume (or (otrace-holds-at (point))
                     (otrace--error "No request is held on this line"))))

(defun otrace-resume-at-mouse (event)
  "Resume the requests held on the line of the fringe marker clicked in EVENT."
  (interactive "e")
  (let ((pos (posn-point (event-start event))))
    (with-current-buffer (window-buffer (posn-window (event-start event)))
      (otrace-resume (or (otrace-holds-at pos)
                         (otrace--error "No request is held on this line"))))))

;;;; Live holds ("Hold here live")

(defun otrace--live-holds ()
  "Return the patches that are a \"Hold here live\", oldest first."
  (cl-remove-if-not (lambda (p) (plist-get p :liveHold)) otrace--patches))

(defun otrace--live-hold-label (patch)
  "One line naming live hold PATCH: function, line and file."
  (let ((live (plist-get patch :liveHold)))
    (format "%s, line %s of %s" (plist-get patch :name) (plist-get live :line)
            (file-name-nondirectory (plist-get live :file)))))

(defun otrace-remove-live-hold (name)
  "Remove the live hold patched into function NAME (allowed in safe mode).
In a fleet, from every worker (a fleet order).
Interactively, choose one; the default is the one on the current line,
else the oldest."
  (interactive
   (let* ((holds (or (otrace--live-holds) (otrace--error "No live hold in this process")))
          (choices (mapcar (lambda (p) (cons (otrace--live-hold-label p) p)) holds))
          (here (cl-find-if (lambda (p) (let ((live (plist-get p :liveHold)))
                                          (and buffer-file-name
                                               (otrace--same-file-p (plist-get live :file) buffer-file-name)
                                               (= (plist-get live :line) (line-number-at-pos)))))
                            holds))
          (default (otrace--live-hold-label (or here (car holds))))
          (answer (completing-read (format "Remove live hold (default %s): " default) choices nil t nil nil default)))
     (list (plist-get (cdr (assoc answer choices)) :name))))
  (otrace--request 'otrace/unpatch (append (list :name name) (otrace-fleet-order)))
  (setq otrace--patches (cl-remove name otrace--patches :key (lambda (p) (plist-get p :name)) :test #'equal))
  (otrace--holds-changed)
  (otrace--message "live hold removed: %s runs its loaded code again" name))

(provide 'otrace-holds)

;;; otrace-holds.el ends here
