;;; otrace-fleet.el --- Fleets: every worker process of an application at once -*- lexical-binding: t -*-

;; Copyright (C) 2025 otrace-server authors

;; This file is not part of GNU Emacs.  It is part of the otrace package
;; and is distributed under the same license (GPL-3.0-or-later): see
;; otrace.el.

;;; Commentary:

;; A fleet is the worker processes of one application (docs/PROTOCOL.md,
;; "Fleets"), each with its own otrace and discovery file naming the
;; fleet.  `otrace-connect-fleet' (or the fleet's choice in
;; `otrace-connect') attaches every worker: one connection each, in
;; `otrace--workers', the first of them `otrace--connection'.  Workers
;; are opened at once; later ones are found by a discovery poll every
;; `otrace-fleet-poll-interval' seconds that never waits for them (each
;; joins when it answered), and one that exits is dropped quietly with
;; its held requests (the next takes the first one's place).  Resume
;; all goes to every worker at once.  A fleet of another host
;; (otrace-remote.el) reaches each worker through a tunnel of its own,
;; and is polled every `otrace-fleet-remote-poll-interval' seconds, over
;; ssh, without waiting either.  What is shown once for the fleet
;; and the fleet orders are the feature files' (`otrace-fleet-order').

;;; Code:

(require 'cl-lib)
(require 'subr-x)
(require 'jsonrpc)
(require 'otrace)

(declare-function otrace-remote--fleet-poll "otrace-remote" ())

(defcustom otrace-fleet-remote-poll-interval 5
  "Seconds between two looks for new workers of an attached fleet of another host.
Each look runs `otrace ps --ssh' (see `otrace-attach-remote')."
  :type 'number
  :group 'otrace)

;;;###autoload
(defun otrace-connect-fleet (id)
  "Attach to every worker of fleet ID: their held requests in one list, etc.
Workers that start later are attached as they appear (every
`otrace-fleet-poll-interval' seconds); those that exit are dropped.
The first worker is the connection of the features shown once for the
fleet (code actions, diagnostics merged, live holds, the console's
default); orders that must reach every worker are fleet orders."
  (interactive (list (let ((chosen (otrace--read-process t)))
                       (or (otrace--fleet-id chosen)
                           (otrace--error "Process %s is not a worker of a fleet" (plist-get chosen :pid))))))
  (let* ((first (or (car (otrace-fleet-workers id))
                    (otrace--error "No running worker of fleet %s in %s" id (otrace-discovery-directory))))
         (otrace--attaching-fleet t))
    (otrace-connect-to (or (plist-get first :host) "127.0.0.1") (plist-get first :lsp_port) (plist-get first :token))))

(defun otrace--attach-fleet (conn &optional infos)
  "Make CONN the first of the attached fleet's workers; attach the others.
They are opened at once, and waited for: those of discovery plists
INFOS (a fleet of another host: its workers' tunnels), else those
discovery finds; later ones are attached by `otrace--fleet-poll' every
`otrace-fleet-poll-interval' seconds (`otrace-fleet-remote-poll-interval'
for a fleet of another host)."
  (otrace--quiet-exit conn)
  (setq otrace--workers (list conn))
  (otrace--join-workers (otrace--open-workers (or infos (otrace--fleet-newcomers))))
  (let ((interval (if (plist-get otrace--fleet :remote) otrace-fleet-remote-poll-interval otrace-fleet-poll-interval)))
    (setq otrace--fleet-timer (run-at-time interval interval #'otrace--fleet-poll))))

(defvar otrace--joining nil
  "The pids of the workers `otrace--fleet-poll' is opening.")

(defun otrace--fleet-newcomers (&optional workers)
  "Discovery plists of the attached fleet's workers not attached nor being opened.
WORKERS are the fleet's running workers (default: what discovery finds)."
  (let ((known (append otrace--joining (mapcar #'otrace--pid otrace--workers))))
    (cl-remove-if (lambda (info) (memql (plist-get info :pid) known))
                  (or workers (otrace-fleet-workers (plist-get otrace--fleet :id))))))

(defun otrace--fleet-poll ()
  "Attach the workers of the attached fleet that are not yet attached.
They are opened at once, and Emacs does not wait for them: each joins
when it answered (`otrace--join-workers'); one that does not answer
yet (starting, stopped) is tried again next time."
  (cond ((not (and otrace--workers otrace--fleet)))
        ((plist-get otrace--fleet :remote) (otrace-remote--fleet-poll))
        (t (let ((fleet (plist-get otrace--fleet :id))
                 (newcomers (otrace--fleet-newcomers)))
             (when newcomers
               (setq otrace--joining (append (mapcar (lambda (info) (plist-get info :pid)) newcomers) otrace--joining))
               (otrace--open-workers newcomers (lambda (pid conn) (otrace--fleet-joined fleet pid conn))))))))

(defun otrace--fleet-joined (fleet pid conn)
  "Worker PID of FLEET (an id) answered on CONN, or did not (CONN nil).
It joins the attached fleet, unless that is not FLEET any more."
  (setq otrace--joining (delq pid otrace--joining))
  (when conn
    (if (and otrace--workers (equal (plist-get otrace--fleet :id) fleet))
        (otrace--join-workers (list conn))
      (otrace--end-carrier conn)
      (otrace--kill conn))))

(defun otrace--join-workers (conns)
  "Add CONNS, new workers' connections, to the attached fleet, with their requests."
  (when conns
    (mapc #'otrace--quiet-exit conns)
    (setq otrace--workers (append otrace--workers conns))
    (otrace--load-holds conns)
    (otrace--holds-changed-soon)
    (run-hooks 'otrace-workers-changed-hook)))

(defun otrace--quiet-exit (conn)
  "Keep the echo area quiet when CONN, a worker, exits while others run."
  (add-function :around (process-sentinel (jsonrpc--process conn))
                (lambda (sentinel proc change)
                  (let ((inhibit-message (and (memq conn otrace--workers) (cdr otrace--workers) t)))
                    (funcall sentinel proc change)))))

(defun otrace--drop-worker (conn)
  "Forget CONN, a worker of the attached fleet that exited, and its requests.
When it was the first worker, the next one takes its place."
  (setq otrace--workers (delq conn otrace--workers))
  (otrace--set-holds (cl-remove (otrace--pid conn) otrace--holds :key (lambda (h) (plist-get h :worker))))
  (when (buffer-live-p (jsonrpc-events-buffer conn))
    (kill-buffer (jsonrpc-events-buffer conn)))
  (when (eq conn otrace--connection)
    (let ((next (car otrace--workers)))
      (setq otrace--connection next
            otrace--last-address (otrace--address next)
            otrace--last-process (cl-find (otrace--pid next) (otrace-processes) :key (lambda (p) (plist-get p :pid))))
      (otrace-with-worker next
        (otrace--async-request 'otrace/patches nil
                               (lambda (result)
                                 (setq otrace--patches (append (plist-get result :patches) nil))
                                 (otrace--holds-changed-soon))
                               nil #'ignore))))
  (otrace--holds-changed-soon)
  (run-hooks 'otrace-workers-changed-hook))

(defun otrace--detach-fleet ()
  "Stop following the attached fleet; close the connections of its other workers."
  (when (timerp otrace--fleet-timer) (cancel-timer otrace--fleet-timer))
  (setq otrace--fleet-timer nil
        otrace--joining nil)
  (let ((others (remq otrace--connection otrace--workers)))
    (setq otrace--workers nil)
    (dolist (conn others)
      (ignore-errors (jsonrpc-notify conn :exit nil))
      (otrace--end-carrier conn)
      (otrace--kill conn)
      (when (buffer-live-p (jsonrpc-events-buffer conn))
        (kill-buffer (jsonrpc-events-buffer conn))))))

(defun otrace--open-workers (infos &optional then)
  "Connections to the workers of discovery plists INFOS, opened at once.
An info's :via (a fleet of another host) is its connection's VIA (see
`otrace-connect-to').
Without THEN, wait and return those that answered `initialize' within
`otrace-sync-request-timeout' seconds, in the order of INFOS.  With
THEN, return at once: THEN is called later (from a timer, not the
answer's process filter) with each worker's pid and its connection,
nil when it did not answer.  Those that did not answer (starting, or
exiting, or stopped) are closed quietly."
  (let ((pending nil)
        (ready nil))
    (dolist (info infos)
      (let* ((pid (plist-get info :pid))
             (conn (ignore-errors
                     (otrace--make-connection (or (plist-get info :host) "127.0.0.1") (plist-get info :lsp_port)
                                              (plist-get info :token)
                                              (otrace--connection-name (format "worker %s" pid))
                                              (plist-get info :via))))
             (finish (lambda (ok)
                       (setq pending (delq conn pending))
                       (unless ok
                         (otrace--end-carrier conn)
                         (otrace--kill conn))
                       (if then (run-at-time 0 nil then pid (and ok conn)) (when ok (push conn ready))))))
        (if (not conn)
            (when then (run-at-time 0 nil then pid nil))
          (push conn pending)
          (jsonrpc-async-request
           conn :initialize (otrace--initialize-params (plist-get info :token))
           :timeout otrace-sync-request-timeout
           :success-fn (lambda (result) (otrace--initialized conn result) (funcall finish t))
           :error-fn (lambda (_error) (funcall finish nil))
           :timeout-fn (lambda () (funcall finish nil))))))
    (unless then
      (while pending (accept-process-output nil 0.01))
      (cl-remove-if-not (lambda (conn) (memq conn ready))
                        (mapcar (lambda (info) (cl-find (plist-get info :pid) ready :key #'otrace--pid)) infos)))))

(defun otrace--resume-everywhere (options)
  "Resume every held request of every worker, with OPTIONS (see `otrace-resume').
The requests go out to all workers at once; a message counts the
resumed requests when the last worker answered."
  (let* ((workers (otrace-workers))
         (left (length workers))
         (count 0)
         (failed nil)
         (done (lambda ()
                 (when (zerop (setq left (1- left)))
                   (otrace--message "resumed %d held request%s in %d worker%s%s" count (if (= count 1) "" "s")
                                    (length workers) (if (cdr workers) "s" "")
                                    (if failed (format "; %s" (string-join failed "; ")) ""))))))
    (dolist (conn workers)
      (otrace-with-worker conn
        (otrace--async-request 'otrace/resume (append '(:all t) options)
                               (lambda (result)
                                 (setq count (+ count (length (plist-get result :resumed))))
                                 (funcall done))
                               nil
                               (lambda (text) (push text failed) (funcall done)))))
    nil))

(provide 'otrace-fleet)

;;; otrace-fleet.el ends here
