;;; otrace-web.el --- Browsers of the otrace process: list, eval, monitor -*- lexical-binding: t -*-

;; Copyright (C) 2025 otrace-server authors

;; This file is not part of GNU Emacs.  It is part of the otrace package
;; and is distributed under the same license (GPL-3.0-or-later): see
;; otrace.el.

;;; Commentary:

;; `otrace-web': the browsers connected to the process's /osh/web
;; (`otrace/webClients', redrawn on `otrace/webClientsChanged').
;; `otrace-web-eval' evaluates JavaScript in one of them
;; (`otrace/webEval'; the process must have safe_mode False);
;; `otrace-web-monitor' re-evaluates an expression every
;; `otrace-web-monitor-interval' seconds in a buffer of its own.

;;; Code:

(require 'tabulated-list)
(require 'otrace)

(defcustom otrace-web-monitor-interval 1.0
  "Seconds between evaluations of `otrace-web-monitor'."
  :type 'number
  :group 'otrace)

(defconst otrace--web-buffer "*otrace web*"
  "Name of the browsers buffer.")

(defun otrace-web-clients ()
  "The connected browsers: a list of plists (:name :url :userAgent :since)."
  (append (plist-get (otrace--request 'otrace/webClients) :clients) nil))

(defun otrace--read-web-client ()
  "Ask for the name of a connected browser.
The default, shown in the prompt, is the browser of the current row of
the browsers buffer, else the only one."
  (let* ((names (or (mapcar (lambda (c) (plist-get c :name)) (otrace-web-clients))
                    (otrace--error "No browser is connected")))
         (default (or (and (derived-mode-p 'otrace-web-mode) (tabulated-list-get-id))
                      (and (= (length names) 1) (car names)))))
    (completing-read (if default (format "Browser (default %s): " default) "Browser: ")
                     names nil t nil nil default)))

;;;; The browsers buffer

(defvar otrace-web-mode-map
  (let ((map (make-sparse-keymap)))
    (define-key map "e" #'otrace-web-eval)
    (define-key map "m" #'otrace-web-monitor)
    map)
  "Keymap of `otrace-web-mode'.")

(define-derived-mode otrace-web-mode tabulated-list-mode "otrace-web"
  "Major mode listing the browsers connected to the otrace process.
\\{otrace-web-mode-map}"
  (setq tabulated-list-format [("Browser" 16 t) ("URL" 36 t) ("User agent" 0 nil)])
  (setq tabulated-list-padding 1)
  (add-hook 'tabulated-list-revert-hook #'otrace--web-refresh nil t)
  (tabulated-list-init-header))

(defun otrace--web-entries (clients)
  "Fill `tabulated-list-entries' from CLIENTS."
  (setq tabulated-list-entries
        (mapcar (lambda (c)
                  (list (plist-get c :name)
                        (vector (plist-get c :name) (otrace--visible (or (plist-get c :url) "") t)
                                (otrace--visible (or (plist-get c :userAgent) "") t))))
                clients)))

(defun otrace--web-refresh ()
  "Ask the server for the browsers again."
  (otrace--web-entries (otrace-web-clients)))

;;;###autoload
(defun otrace-web ()
  "List the browsers connected to the otrace process."
  (interactive)
  (let ((clients (otrace-web-clients))
        (buf (get-buffer-create otrace--web-buffer)))
    (with-current-buffer buf
      (unless (derived-mode-p 'otrace-web-mode) (otrace-web-mode))
      (otrace--web-entries clients)
      (tabulated-list-print t))
    (pop-to-buffer buf)
    buf))

(defun otrace--web-notification (method params)
  "Redraw the browsers buffer on notification METHOD with PARAMS."
  (when (eq method 'otrace/webClientsChanged)
    (let ((buf (get-buffer otrace--web-buffer)))
      (when (buffer-live-p buf)
        (with-current-buffer buf
          (otrace--web-entries (append (plist-get params :clients) nil))
          (tabulated-list-print t))))))

(add-hook 'otrace-notification-functions #'otrace--web-notification)

;;;; Evaluation

(defun otrace--web-eval-params (client expression)
  "The `otrace/webEval' params evaluating EXPRESSION in CLIENT."
  (list :client client :expression expression))

(defun otrace--web-result-text (result)
  "The text showing `otrace/webEval' RESULT: the value or \"error: ...\".
One line, `otrace--visible' (the browser's text)."
  (otrace--visible (if (plist-member result :error)
                       (format "error: %s" (plist-get result :error))
                     (format "%s" (plist-get result :value)))
                   t))

(defun otrace-web-eval (client expression &optional show)
  "Evaluate JavaScript EXPRESSION in browser CLIENT; show and return the result.
The result is a plist: :value (text) or :error (the exception).
Interactively (SHOW non-nil) nothing waits: the result is shown when
it arrives, Emacs (and the monitors) go on meanwhile, and nil is
returned."
  (interactive (let ((client (otrace--read-web-client)))
                 (list client (read-string (format "JavaScript in %s: " client)) t)))
  (let ((params (otrace--web-eval-params client expression))
        (shown (lambda (result)
                 (otrace--message "%s: %s" client (otrace--web-result-text result))
                 result)))
    (if show
        (progn (otrace--async-request 'otrace/webEval params shown)
               (otrace--message "%s: evaluating..." client)
               nil)
      (let ((otrace-sync-request-timeout otrace-request-timeout))   ; a Lisp caller asked to wait
        (funcall shown (otrace--request 'otrace/webEval params))))))

;;;; Monitor

(defvar-local otrace--monitor nil
  "(TIMER CLIENT EXPRESSION) of this monitor buffer.")

(define-derived-mode otrace-web-monitor-mode special-mode "otrace-monitor"
  "Major mode of a buffer showing a JavaScript expression re-evaluated live.
Killing the buffer (\\[quit-window] with a prefix) stops it."
  (add-hook 'kill-buffer-hook #'otrace--monitor-stop nil t))

(defun otrace--monitor-stop ()
  "Stop the timer of this monitor buffer."
  (when otrace--monitor (cancel-timer (car otrace--monitor))))

(defun otrace--monitor-tick (buf)
  "Evaluate the expression of monitor buffer BUF again."
  (if (not (and (buffer-live-p buf) (otrace-connected-p)))
      (when (buffer-live-p buf) (with-current-buffer buf (otrace--monitor-stop)))
    (pcase-let ((`(,_timer ,client ,expression) (buffer-local-value 'otrace--monitor buf)))
      (otrace--async-request
       'otrace/webEval (otrace--web-eval-params client expression)
       (lambda (result)
         (let ((inhibit-read-only t))
           (erase-buffer)
           (insert (format "%s> %s\n\n%s\n\n(%s)\n" client expression
                           (otrace--web-result-text result) (format-time-string "%T")))))
       buf))))

(defun otrace-web-monitor (client expression)
  "Show JavaScript EXPRESSION of browser CLIENT, re-evaluated live.
Returns the monitor buffer; killing it stops the evaluations."
  (interactive (let ((client (otrace--read-web-client)))
                 (list client (read-string (format "Monitor in %s: " client)))))
  (otrace--connection)
  (let ((buf (get-buffer-create (format "*otrace monitor %s*" client))))
    (with-current-buffer buf
      (otrace--monitor-stop)
      (otrace-web-monitor-mode)
      (setq otrace--monitor
            (list (run-at-time 0 otrace-web-monitor-interval #'otrace--monitor-tick buf)
                  client expression)))
    (display-buffer buf)
    buf))

(provide 'otrace-web)

;;; otrace-web.el ends here
