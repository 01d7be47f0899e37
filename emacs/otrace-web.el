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
;; Attached to a fleet, the browsers are every worker's: each worker
;; names its own (two may both have a "browser"), so a browser goes by
;; "NAME (worker PID)" there, and is evaluated in by its worker.

;;; Code:

(require 'cl-lib)
(require 'tabulated-list)
(require 'otrace)

(defcustom otrace-web-monitor-interval 1.0
  "Seconds between evaluations of `otrace-web-monitor'."
  :type 'number
  :group 'otrace)

(defconst otrace--web-buffer "*otrace web*"
  "Name of the browsers buffer.")

(defvar otrace--web-lists nil
  "Alist (PID . CLIENTS): the browsers of each attached process, as last told.")

(defun otrace-web-clients ()
  "The connected browsers: a list of plists (:name :url :userAgent :since).
Attached to a fleet, every worker's, each with :worker (its pid)."
  (dolist (conn (otrace-workers))
    (condition-case err
        (setf (alist-get (otrace--pid conn) otrace--web-lists)
              (append (plist-get (otrace-with-worker conn (otrace--request 'otrace/webClients)) :clients) nil))
      (user-error (if otrace--workers     ; a worker exiting meanwhile: the others' still count
                      (setf (alist-get (otrace--pid conn) otrace--web-lists nil 'remove) nil)
                    (signal (car err) (cdr err))))))
  (otrace--web-known))

(defun otrace--web-known ()
  "The browsers of the attached processes as last told (see `otrace-web-clients')."
  (if (not otrace--workers)
      (alist-get (otrace--pid (car (otrace-workers))) otrace--web-lists)
    (cl-loop for conn in otrace--workers
             for pid = (otrace--pid conn)
             append (mapcar (lambda (c) (append (list :worker pid) c))
                            (alist-get pid otrace--web-lists)))))

(defun otrace--web-label (client)
  "Return the name of browser CLIENT (a plist) in Emacs.
That is its name, or in a fleet \"NAME (worker PID)\"."
  (if (plist-get client :worker)
      (format "%s (worker %d)" (plist-get client :name) (plist-get client :worker))
    (plist-get client :name)))

(defun otrace--web-target (client)
  "The connection and name of browser CLIENT: (CONN . NAME).
CLIENT is a browser's name, or \"NAME (worker PID)\" (`otrace--web-label');
a bare NAME in a fleet is the browser of that name of the one worker
that has one."
  (cond ((string-match "\\`\\(.+\\) (worker \\([0-9]+\\))\\'" client)
         (cons (otrace--worker-connection (string-to-number (match-string 2 client))) (match-string 1 client)))
        ((not otrace--workers) (cons (otrace--connection) client))
        (t (let ((owners (cl-remove-if-not (lambda (c) (equal (plist-get c :name) client)) (otrace-web-clients))))
             (cond ((null owners) (otrace--error "No browser %s in any worker of the fleet" client))
                   ((cdr owners) (otrace--error "%d workers have a browser %s: say which, as \"%s\"" (length owners)
                                                client (otrace--web-label (car owners))))
                   (t (cons (otrace--worker-connection (plist-get (car owners) :worker)) client)))))))

(defun otrace--read-web-client ()
  "Ask for the name of a connected browser (see `otrace--web-label').
The default, shown in the prompt, is the browser of the current row of
the browsers buffer, else the only one."
  (let* ((names (or (mapcar #'otrace--web-label (otrace-web-clients))
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
  (setq tabulated-list-padding 1)
  (add-hook 'tabulated-list-revert-hook #'otrace--web-refresh nil t)
  (otrace--web-entries nil))

(defun otrace--web-entries (clients)
  "Fill `tabulated-list-entries' from CLIENTS, their worker second in a fleet.
Each entry's id is the browser's `otrace--web-label'."
  (setq tabulated-list-format
        (vconcat '(("Browser" 16 t)) (and otrace--workers '(("Worker" 12 t)))
                 '(("URL" 36 t) ("User agent" 0 nil))))
  (tabulated-list-init-header)
  (setq tabulated-list-entries
        (mapcar (lambda (c)
                  (list (otrace--web-label c)
                        (vconcat (list (plist-get c :name))
                                 (and otrace--workers
                                      (list (if (plist-get c :worker) (format "worker %d" (plist-get c :worker)) "")))
                                 (list (otrace--visible (or (plist-get c :url) "") t)
                                       (otrace--visible (or (plist-get c :userAgent) "") t)))))
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

(defun otrace--web-redraw ()
  "Redraw the browsers buffer, when shown, from what the processes last told."
  (let ((buf (get-buffer otrace--web-buffer)))
    (when (buffer-live-p buf)
      (with-current-buffer buf
        (otrace--web-entries (otrace--web-known))
        (tabulated-list-print t)))))

(defun otrace--web-notification (method params)
  "Keep the browsers of the notifying process from METHOD with PARAMS; redraw."
  (when (and (eq method 'otrace/webClientsChanged) otrace-notification-worker)
    (setf (alist-get otrace-notification-worker otrace--web-lists) (append (plist-get params :clients) nil))
    (otrace--web-redraw)))

(defun otrace--web-workers-changed ()
  "A worker joined or left the fleet: redraw; ask a newcomer for its browsers."
  (let ((pids (mapcar #'otrace--pid otrace--workers)))
    (setq otrace--web-lists (cl-remove-if-not (lambda (entry) (memql (car entry) pids)) otrace--web-lists)))
  (dolist (conn otrace--workers)
    (let ((pid (otrace--pid conn)))
      (unless (assq pid otrace--web-lists)
        (otrace-with-worker conn
          (otrace--async-request 'otrace/webClients nil
                                 (lambda (result)
                                   (setf (alist-get pid otrace--web-lists) (append (plist-get result :clients) nil))
                                   (otrace--web-redraw))
                                 nil #'ignore)))))
  (otrace--web-redraw))

(add-hook 'otrace-notification-functions #'otrace--web-notification)
(add-hook 'otrace-workers-changed-hook #'otrace--web-workers-changed)

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
CLIENT is the browser's name; in a fleet \"NAME (worker PID)\", or
NAME when one worker only has a browser of that name.  The result is
a plist: :value (text) or :error (the exception).
Interactively (SHOW non-nil) nothing waits: the result is shown when
it arrives, Emacs (and the monitors) go on meanwhile, and nil is
returned."
  (interactive (let ((client (otrace--read-web-client)))
                 (list client (read-string (format "JavaScript in %s: " client)) t)))
  (pcase-let* ((`(,conn . ,name) (otrace--web-target client))
               (params (otrace--web-eval-params name expression))
               (shown (lambda (result)
                        (otrace--message "%s: %s" client (otrace--web-result-text result))
                        result)))
    (otrace-with-worker conn
      (if show
          (progn (otrace--async-request 'otrace/webEval params shown)
                 (otrace--message "%s: evaluating..." client)
                 nil)
        (let ((otrace-sync-request-timeout otrace-request-timeout))   ; a Lisp caller asked to wait
          (funcall shown (otrace--request 'otrace/webEval params)))))))

;;;; Monitor

(defvar-local otrace--monitor nil
  "(TIMER CLIENT EXPRESSION CONN NAME) of this monitor buffer.
CONN and NAME are CLIENT's connection and name (`otrace--web-target').")

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
    (pcase-let* ((`(,_timer ,client ,expression ,conn ,name) (buffer-local-value 'otrace--monitor buf))
                 (show (lambda (text)
                         (let ((inhibit-read-only t))
                           (erase-buffer)
                           (insert (format "%s> %s\n\n%s\n\n(%s)\n" client expression
                                           text (format-time-string "%T")))))))
      (if (not (jsonrpc-running-p conn))
          (with-current-buffer buf
            (otrace--monitor-stop)
            (funcall show (format "stopped: pid %s is not attached any more" (otrace--pid conn))))
        (otrace-with-worker conn
          (otrace--async-request
           'otrace/webEval (otrace--web-eval-params name expression)
           (lambda (result) (funcall show (otrace--web-result-text result)))
           buf))))))

(defun otrace-web-monitor (client expression)
  "Show JavaScript EXPRESSION of browser CLIENT, re-evaluated live.
Returns the monitor buffer; killing it stops the evaluations."
  (interactive (let ((client (otrace--read-web-client)))
                 (list client (read-string (format "Monitor in %s: " client)))))
  (let ((target (otrace--web-target client))
        (buf (get-buffer-create (format "*otrace monitor %s*" client))))
    (with-current-buffer buf
      (otrace--monitor-stop)
      (otrace-web-monitor-mode)
      (setq otrace--monitor
            (list (run-at-time 0 otrace-web-monitor-interval #'otrace--monitor-tick buf)
                  client expression (car target) (cdr target))))
    (display-buffer buf)
    buf))

(provide 'otrace-web)

;;; otrace-web.el ends here
