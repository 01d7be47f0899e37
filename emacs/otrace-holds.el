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

(declare-function otrace-console-send-line "otrace-console" (line))

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
    map)
  "Keymap of `otrace-holds-mode'.")

(define-derived-mode otrace-holds-mode tabulated-list-mode "otrace-holds"
  "Major mode listing the requests held in the otrace process.
\\{otrace-holds-mode-map}"
  (setq tabulated-list-format [("Function" 28 t) ("Label" 16 t)
                               ("Age" 7 otrace--holds-age-less) ("Request" 0 nil)])
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
                                 (with-current-buffer buf (otrace--holds-redraw)))
                             (otrace--stop-ticking buf)))))
      (add-hook 'kill-buffer-hook (lambda () (otrace--stop-ticking buf)) nil t))))

(defun otrace--stop-ticking (buf)
  "Stop redrawing the ages in BUF, a list of held requests."
  (when (buffer-live-p buf)
    (with-current-buffer buf
      (when (timerp otrace--holds-tick) (cancel-timer otrace--holds-tick))
      (setq otrace--holds-tick nil))))

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
  "The request of HOLD in one line."
  (concat (otrace--summary-text (plist-get hold :summary))
          (if (plist-get hold :webClient) (format " [browser %s]" (plist-get hold :webClient)) "")))

(defun otrace--holds-entries ()
  "Fill `tabulated-list-entries' from the held requests."
  (setq tabulated-list-entries
        (mapcar (lambda (hold)
                  (list hold
                        (vector (or (plist-get hold :function) "")
                                (or (plist-get hold :label) "")
                                (format "%ds" (max 0 (- (float-time) (plist-get hold :since))))
                                (otrace--hold-request hold))))
                otrace--holds)))

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
  "The hold of the current line, or signal a `user-error'."
  (or (tabulated-list-get-id) (otrace--error "No held request on this line")))

(defun otrace-holds-visit ()
  "Visit the line where the request at point is held."
  (interactive)
  (let ((hold (otrace--hold-at-point)))
    (find-file-other-window (plist-get hold :file))
    (goto-char (point-min))
    (forward-line (1- (plist-get hold :line)))))

(defun otrace-holds-resume ()
  "Resume the request at point."
  (interactive)
  (otrace-resume (list (plist-get (otrace--hold-at-point) :id))))

(defun otrace-holds-resume-all ()
  "Resume every held request, after asking."
  (interactive)
  (let ((n (length otrace--holds)))
    (when (zerop n) (otrace--error "No request is held"))
    ;; one key, read as a key (also from a keyboard macro, even in batch Emacs)
    (when (eq ?y (read-char-choice (format "Resume all %d held request%s? (y or n) " n (if (= n 1) "" "s"))
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
  (otrace-resume (list (plist-get (otrace--hold-at-point) :id)) :value value))

(defun otrace-holds-fail (status)
  "Fail the request at point: answer it with HTTP STATUS (default 500)."
  (interactive (list (read-number "Fail with HTTP status: " 500)))
  (otrace-resume (list (plist-get (otrace--hold-at-point) :id))
                 :status status :reason "Failed from Emacs (otrace)"))

(defun otrace-hold-context-path (id)
  "The otrace shell directory of the context of hold ID."
  (concat "/osh/recent/holds/" (replace-regexp-in-string ":" "/" id)))

(defun otrace-holds-context ()
  "Open the context of the request at point in the console."
  (interactive)
  (otrace-console-send-line
   (concat "cd " (otrace-hold-context-path (plist-get (otrace--hold-at-point) :id)))))

;;;; Markers in source buffers

(defun otrace--clear-markers ()
  "Delete the hold markers of the current buffer."
  (remove-overlays (point-min) (point-max) 'otrace-hold t))

(defun otrace--mark-holds ()
  "Put a fringe marker and an overlay on the held lines of the current buffer."
  (otrace--clear-markers)
  (dolist (hold otrace--holds)
    (when (otrace--same-file-p (plist-get hold :file) buffer-file-name)
      (save-excursion
        (goto-char (point-min))
        (when (zerop (forward-line (1- (plist-get hold :line))))
          (let ((ov (make-overlay (line-beginning-position) (line-beginning-position 2))))
            (overlay-put ov 'otrace-hold t)
            (overlay-put ov 'otrace-hold-id (plist-get hold :id))
            (overlay-put ov 'face 'otrace-held-line)
            (overlay-put ov 'help-echo (substitute-command-keys
                                        (format "held: %s (\\<otrace-source-mode-map>\\[otrace-resume-at-point] resumes)"
                                                (plist-get hold :label))))
            (overlay-put ov 'before-string (otrace--hold-mark))))))))

(defun otrace--hold-mark ()
  "The marker string of a held line.
A fringe triangle, or in a terminal (no fringe) a \">\" in the left
margin, which is widened to show it."
  (if (display-graphic-p)
      (propertize "*" 'display '(left-fringe right-triangle error))
    (when (< (or left-margin-width 0) 1)
      (setq left-margin-width 1)
      (dolist (window (get-buffer-window-list (current-buffer) nil t))
        (set-window-margins window 1 (cdr (window-margins window)))))
    (propertize "*" 'display `((margin left-margin) ,(propertize ">" 'face 'error)))))

(defun otrace--holds-update-buffers ()
  "Update the list of held requests and the markers in file buffers."
  (otrace--holds-redraw)
  (dolist (buf (buffer-list))
    (when (buffer-file-name buf)
      (with-current-buffer buf
        (if otrace--holds (otrace--mark-holds) (otrace--clear-markers))))))

(add-hook 'otrace-holds-changed-hook #'otrace--holds-update-buffers)

(defun otrace-hold-ids-at (pos)
  "Ids of the requests held on the line of POS."
  (save-excursion
    (goto-char pos)
    (delq nil (mapcar (lambda (ov) (overlay-get ov 'otrace-hold-id))
                      (overlays-in (line-beginning-position) (line-end-position))))))

(defun otrace-resume-at-point ()
  "Resume the requests held on the current line."
  (interactive)
  (otrace-resume (or (otrace-hold-ids-at (point))
                     (otrace--error "No request is held on this line"))))

(defun otrace-resume-at-mouse (event)
  "Resume the requests held on the line of the fringe marker clicked in EVENT."
  (interactive "e")
  (let ((pos (posn-point (event-start event))))
    (with-current-buffer (window-buffer (posn-window (event-start event)))
      (otrace-resume (or (otrace-hold-ids-at pos)
                         (otrace--error "No request is held on this line"))))))

(provide 'otrace-holds)

;;; otrace-holds.el ends here
