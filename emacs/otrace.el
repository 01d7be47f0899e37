;;; otrace.el --- Front end for otrace-server: holds, console, browsers -*- lexical-binding: t -*-

;; Copyright (C) 2025 otrace-server authors

;; Author: otrace-server authors
;; Version: 0.1.0
;; Package-Requires: ((emacs "27.1"))
;; Keywords: tools, processes
;; URL: https://github.com/mitotic/otrace

;; This file is not part of GNU Emacs.

;; This program is free software; you can redistribute it and/or modify
;; it under the terms of the GNU General Public License as published by
;; the Free Software Foundation, either version 3 of the License, or
;; (at your option) any later version.

;; This program is distributed in the hope that it will be useful,
;; but WITHOUT ANY WARRANTY; without even the implied warranty of
;; MERCHANTABILITY or FITNESS FOR A PARTICULAR PURPOSE.  See the
;; GNU General Public License for more details.

;; You should have received a copy of the GNU General Public License
;; along with this program.  If not, see <https://www.gnu.org/licenses/>.

;;; Commentary:

;; An Emacs front end for a Python process running otrace-server: it
;; talks to the process's language server (see docs/PROTOCOL.md, the
;; only interface this package relies on) over TCP with the built-in
;; `jsonrpc' library.
;;
;; Commands:
;;   `otrace-connect'     choose a running process (discovery files) or
;;                        give host, port and token; `otrace-disconnect',
;;                        `otrace-reconnect' (buffers are kept)
;;   `otrace-connect-fleet' every worker process of an application (a
;;                        fleet) at once; `otrace-connect' offers fleets too
;;   `otrace-attach-remote' a process of another host, over OpenSSH
;;   `otrace-console'     the otrace shell in a comint buffer
;;   `otrace-holds'       the held requests; resume, fail, visit
;;   `otrace-web'         the connected browsers; `otrace-web-eval',
;;                        `otrace-web-monitor'
;;   `otrace-code-action', `otrace-insert-traceassert' and a flymake
;;                        backend in Python buffers (`otrace-source-mode')
;;   `otrace-find-object' a live object as a buffer: saving a function's
;;                        buffer patches it; `otrace-patches',
;;                        `otrace-patch-diff', `otrace-promote-patch',
;;                        `otrace-discard-patch'; `otrace-testgen'
;;
;; Design:
;; - One connection at a time, held in `otrace--connection'.  Its
;;   notifications are handed to `otrace-notification-functions', so each
;;   feature file listens for what it needs and this file knows none of
;;   them.
;; - A fleet (the workers of one application, docs/PROTOCOL.md "Fleets")
;;   attached whole is one connection per worker (`otrace--workers', kept
;;   by otrace-fleet.el), the first of them `otrace--connection': what is
;;   shown once for the fleet comes from it, requests go to another
;;   worker inside `otrace-with-worker', and orders for every worker
;;   carry `otrace-fleet-order'.
;; - The held requests are kept here (the mode line shows their number),
;;   each labelled with its worker (:worker, a pid);
;;   `otrace-holds-changed-hook' tells the views to redraw.
;; - Every user message goes through `otrace--message'; every refused
;;   operation is one `user-error' line from `otrace--error', never a
;;   backtrace.
;; - Asynchronous callbacks check that their buffer is still live.

;;; Code:

(require 'cl-lib)
(require 'jsonrpc)
(require 'subr-x)
(require 'tabulated-list)

;;;; Customization

(defgroup otrace nil
  "Front end for otrace-server processes."
  :group 'tools
  :prefix "otrace-")

(defcustom otrace-discovery-directory nil
  "Directory of the discovery files, or nil for the default.
The default is \"otrace\" under $XDG_RUNTIME_DIR, else under ~/.cache."
  :type '(choice (const :tag "Default" nil) directory))

(defcustom otrace-request-timeout 10
  "Seconds to wait for the answer of an asynchronous request.
Emacs goes on meanwhile (e.g. a JavaScript evaluation in a browser)."
  :type 'number)

(defcustom otrace-sync-request-timeout 3
  "Seconds Emacs waits, blocked, for an answer it needs at once.
Completion, a resume, the list of code actions: when the process does
not answer in time, the command says so instead of freezing Emacs."
  :type 'number)

(defvar otrace-notification-functions nil
  "Functions called with METHOD (a symbol) and PARAMS (a plist).
Run for every notification the otrace server sends.")

(defvar otrace-holds-changed-hook nil
  "Hook run when the list of held requests, or the connection, changed.")

(defvar otrace-connected-hook nil
  "Hook run after a connection was initialized.")

(defvar otrace-disconnected-hook nil
  "Hook run after the connection was closed.")

(defvar otrace-workers-changed-hook nil
  "Hook run when a worker joined or left the attached fleet.")

;;;; Messages and errors

;;;; Showing text of the server

(defconst otrace--hidden
  (rx (any (#x00 . #x08) (#x0b . #x1f) (#x7f . #x9f) #x061c #x200b #x200e #x200f
           (#x2028 . #x202e) (#x2060 . #x2064) (#x2066 . #x206f) #xfeff (#xfff9 . #xfffb)
           (#xe0000 . #xe007f)))
  "What `otrace--visible' escapes: the server's rule (core.reprs.HIDDEN).
C0 controls but newline and tab, DEL, C1 controls, bidi controls and
invisible format characters, tag characters.")

(defconst otrace--hidden-one-line
  (concat "[\t\n]\\|" otrace--hidden)
  "What `otrace--visible' escapes on one line: `otrace--hidden', newline, tab.")

(defun otrace--escape-char (match)
  "The Python escape of the one-character string MATCH: \\x1b, \\u202e, \\r."
  (let ((char (aref match 0)))
    (pcase char
      (?\t "\\t")
      (?\n "\\n")
      (?\r "\\r")
      (_ (format (cond ((< char #x100) "\\x%02x") ((< char #x10000) "\\u%04x") (t "\\U%08x"))
                 char)))))

(defun otrace--visible (text &optional one-line)
  "TEXT with every terminal control and invisible character escaped.
As the server's `visible': ESC shows as \\x1b, U+202E as \\u202e, so
text of a browser or an application cannot colour, move or reorder what
a buffer shows.  With ONE-LINE, newlines and tabs are escaped too."
  (let ((case-fold-search nil))
    (replace-regexp-in-string (if one-line otrace--hidden-one-line otrace--hidden)
                              #'otrace--escape-char text t t)))

(defun otrace--message (format &rest args)
  "Show a message prefixed with \"[otrace]\": FORMAT with ARGS (`otrace--visible')."
  (message "[otrace] %s" (otrace--visible (apply #'format format args))))

(defun otrace--error (format &rest args)
  "Signal a one-line `user-error' prefixed with \"otrace:\": FORMAT with ARGS."
  (user-error "otrace: %s" (apply #'format format args)))

;;;; Discovery

(defun otrace-discovery-directory ()
  "The directory holding the discovery files of running processes."
  (or otrace-discovery-directory
      (expand-file-name "otrace" (or (getenv "XDG_RUNTIME_DIR") "~/.cache"))))

(defun otrace--read-json-file (file)
  "The JSON object in FILE as a plist, or nil when unreadable."
  (ignore-errors
    (with-temp-buffer
      (insert-file-contents file)
      (json-parse-buffer :object-type 'plist :null-object nil :false-object nil))))

(defun otrace-processes ()
  "The running otrace processes: discovery plists of live pids.
Each has :pid :argv :cwd :host :lsp_port :token; files of dead
processes are skipped."
  (let ((dir (otrace-discovery-directory)))
    (when (file-directory-p dir)
      (cl-loop for file in (directory-files dir t "\\`otrace-[0-9]+\\.json\\'")
               for info = (otrace--read-json-file file)
               when (and info (integerp (plist-get info :pid))
                         (process-attributes (plist-get info :pid)))
               collect info))))

(defun otrace--process-label (info)
  "A one-line description of discovery plist INFO: pid, command line, cwd."
  (format "%s  %s  (%s)" (plist-get info :pid)
          (mapconcat #'identity (plist-get info :argv) " ")
          (plist-get info :cwd)))

(defun otrace--default-process (processes)
  "The process of PROCESSES to offer first.
That is the only one, else the current project's: the one whose
working directory is the current project's root (or
`default-directory') or below it; nil when none is, or several are."
  (if (= (length processes) 1)
      (car processes)
    (let* ((project (and (fboundp 'project-current) (project-current)))
           (root (file-name-as-directory
                  (expand-file-name (if (and project (fboundp 'project-root)) (project-root project)
                                      default-directory))))
           (mine (cl-remove-if-not
                  (lambda (p) (let ((cwd (plist-get p :cwd)))
                                (and (stringp cwd)
                                     (string-prefix-p root (file-name-as-directory (expand-file-name cwd))))))
                  processes)))
      (and (= (length mine) 1) (car mine)))))

(defun otrace--read-process (&optional fleets)
  "Ask for a running process with `completing-read'; its discovery plist.
The prompt's default (RET) is the only process, else the current
project's.  A fleet (the worker processes of one application) is one
choice too: with FLEETS its plist (:fleet F :workers W :cwd D) is
returned, else its first worker."
  (let ((chosen (otrace--choose-process
                 (or (otrace-processes)
                     (otrace--error "No running process in %s (give host, port and token with C-u)"
                                    (otrace-discovery-directory)))
                 t)))
    (if (and (plist-get chosen :workers) (not fleets))
        (car (plist-get chosen :workers))
      chosen)))

(defun otrace--fleet-id (info)
  "The fleet id of discovery plist INFO, or nil (a process alone)."
  (plist-get (plist-get info :fleet) :id))

(defun otrace-fleet-workers (id &optional processes)
  "The discovery plists of the running workers of fleet ID, in fleet order.
That is by start time, then pid.  PROCESSES defaults to `otrace-processes'."
  (sort (cl-remove-if-not (lambda (p) (equal (otrace--fleet-id p) id))
                          (copy-sequence (or processes (otrace-processes))))
        (lambda (a b)
          (let ((sa (or (plist-get a :started) 0))
                (sb (or (plist-get b :started) 0)))
            (or (< sa sb) (and (= sa sb) (< (plist-get a :pid) (plist-get b :pid))))))))

(defun otrace--fleet-label (fleet)
  "One line describing FLEET, a plist (:fleet F :workers W :cwd D).
\"torna_fleet.py — fleet of 4 workers  (/srv/app)\"."
  (let ((n (length (plist-get fleet :workers))))
    (format "%s — fleet of %d worker%s  (%s)" (plist-get (plist-get fleet :fleet) :name)
            n (if (= n 1) "" "s") (plist-get fleet :cwd))))

(defun otrace--choices (processes fleets)
  "The `completing-read' choices (LABEL . ITEM) for PROCESSES.
ITEM is a discovery plist.  With FLEETS, the processes of one fleet
are also one choice, just before them, whose ITEM is the plist
\(:fleet F :workers W :cwd D): F the fleet (:id :name), W its workers
\(`otrace-fleet-workers'), D the first worker's directory."
  (let (seen choices)
    (dolist (p processes)
      (let ((id (otrace--fleet-id p)))
        (when (and fleets id (not (member id seen)))
          (push id seen)
          (let* ((workers (otrace-fleet-workers id processes))
                 (fleet (list :fleet (plist-get p :fleet) :workers workers
                              :cwd (plist-get (car workers) :cwd))))
            (push (cons (otrace--fleet-label fleet) fleet) choices))))
      (push (cons (otrace--process-label p) p) choices))
    (nreverse choices)))

(defun otrace--choose-process (processes &optional fleets)
  "Ask for one of PROCESSES (discovery plists) with `completing-read'.
Each shows pid, command line and cwd; the prompt's default (RET) is
the only process, else the current project's.  With FLEETS, each fleet
is one choice more (see `otrace--choices'), and counts as one process
for the default: the result may be a fleet's plist."
  (let* ((choices (otrace--choices processes fleets))
         ;; what the default is chosen among: each fleet once, the processes alone
         (units (cl-remove-if (lambda (item) (and fleets (otrace--fleet-id item) (not (plist-get item :workers))))
                              (mapcar #'cdr choices)))
         (default-item (otrace--default-process units))
         (default (car (rassq default-item choices)))
         (answer (completing-read (if default
                                      (format "otrace process (default %s): "
                                              (or (plist-get default-item :pid)
                                                  (plist-get (plist-get default-item :fleet) :name)))
                                    "otrace process: ")
                                  choices nil t nil nil default)))
    (or (cdr (assoc answer choices))
        (otrace--error "No process chosen (%d running: type or complete one)" (length processes)))))

;;;; Connection

(declare-function otrace-connect-fleet "otrace-fleet" (id))
(declare-function otrace--attach-fleet "otrace-fleet" (conn &optional infos))
(declare-function otrace--drop-worker "otrace-fleet" (conn))
(declare-function otrace--detach-fleet "otrace-fleet" ())
(declare-function otrace--resume-everywhere "otrace-fleet" (options))

(defclass otrace-connection (jsonrpc-process-connection)
  ((address :initarg :address :reader otrace--address
            :documentation "(HOST PORT TOKEN) of this connection.")
   (info :initform nil :accessor otrace--info
         :documentation "The \"otrace\" part of the `initialize' result.")
   (via :initarg :via :initform nil :reader otrace--via
        :documentation "How the address is reached, or nil (see `otrace-connect-to')."))
  "A connection to the language server of an otrace process.")

(defvar otrace--connection nil
  "The current `otrace-connection', or nil.")

(defvar otrace--last-address nil
  "(HOST PORT TOKEN) of the last connection, for `otrace-reconnect'.")

(defvar otrace--last-via nil
  "The VIA plist of the last connection (see `otrace-connect-to'), or nil.")

(defvar otrace--last-fleet nil
  "The id of the fleet the last connection attached whole, or nil.")

(defvar otrace--last-process nil
  "Discovery plist of the process of the last connection, or nil.
When it has ended, `otrace-reconnect' looks for its restart.")

(defvar otrace--holds nil
  "The held requests: a list of Hold plists, oldest first.
Loaded in `otrace/holds' pages at connect (`otrace--load-holds'), then
kept from the notifications; set it through `otrace--set-holds'.")

(defvar otrace--holds-index (make-hash-table :test #'equal)
  "Hold id -> its plist in `otrace--holds' (`otrace--hold').")

(defvar otrace--holds-tail nil
  "The last cons of `otrace--holds': a new hold is appended in O(1).")

(defvar otrace--holds-loading nil
  "The ids told resumed or gone while `otrace--load-holds' runs, or nil.
A hash table: id -> `resumed' or `gone', so that a page answered after
such a notification does not bring back what it changed.")

(defconst otrace--holds-page 100
  "Held requests per `otrace/holds' page (the server's cost is O(page)).")

(defvar otrace--patches nil
  "The live patches of the process: a list of plists (name since liveHold).
A \"Hold here live\" has :liveHold (label file line); see `otrace-live-holds'.")

(defvar otrace--fleet nil
  "The fleet of the connected process: a plist (:id :name), or nil.
From its discovery file: a worker of a fleet gets the fleet orders
\(`otrace-fleet-order').")

(defvar otrace--workers nil
  "The connections to every worker of the attached fleet, or nil.
`otrace-connect-fleet' attaches a whole fleet: the first of these is
`otrace--connection' (the fleet's features that are shown once, as
code actions and the live holds, come from it), the others are the
other workers; see `otrace-workers'.")

(defvar otrace--fleet-timer nil
  "The timer looking for new workers of the attached fleet, or nil.")

(defcustom otrace-fleet-poll-interval 1
  "Seconds between two looks for new workers of the attached fleet."
  :type 'number)

(defvar otrace--worker nil
  "When non-nil, the connection requests go to (see `otrace-with-worker').")

(defmacro otrace-with-worker (conn &rest body)
  "Run BODY with its requests sent to the connection CONN (a worker of a fleet)."
  (declare (indent 1) (debug t))
  `(let ((otrace--worker ,conn)) ,@body))

(defvar otrace-notification-worker nil
  "The pid of the worker whose notification is being handled, or nil.
Bound while `otrace-notification-functions' run.")

(defun otrace-connected-p ()
  "Non-nil when connected to an otrace process."
  (and otrace--connection (jsonrpc-running-p otrace--connection)))

(defun otrace--connection ()
  "The live connection requests go to, or signal a `user-error'.
That is `otrace--connection', or the worker of `otrace-with-worker'."
  (cond (otrace--worker
         (if (jsonrpc-running-p otrace--worker)
             otrace--worker
           (otrace--error "Worker %s has exited" (otrace--pid otrace--worker))))
        ((otrace-connected-p) otrace--connection)
        (t (otrace--error "Not connected (M-x otrace-connect)"))))

(defun otrace--pid (conn)
  "The pid of the process of connection CONN (nil for CONN nil)."
  (and conn (plist-get (otrace--info conn) :pid)))

(defun otrace-workers ()
  "The live connections: every worker of the attached fleet, else the one."
  (or otrace--workers (and (otrace-connected-p) (list otrace--connection))))

(defun otrace--worker-connection (pid)
  "The connection to worker PID (nil: the connected process), or a `user-error'."
  (if (null pid)
      (otrace--connection)
    (or (cl-find pid (otrace-workers) :key #'otrace--pid)
        (otrace--error "Worker %s has exited" pid))))

(defvar otrace--fleet-order-count 0
  "Fleet orders made by this Emacs (part of their ids).")

(defun otrace-fleet-order-id ()
  "A new unique fleet order id (see docs/PROTOCOL.md, \"Fleets\")."
  (format "emacs-%d-%x-%d" (emacs-pid) (random most-positive-fixnum)
          (setq otrace--fleet-order-count (1+ otrace--fleet-order-count))))

(defun otrace-fleet-order ()
  "The params making a request a fleet order, or nil when not in a fleet.
A plist (:fleetOrder ID) with a new ID when the connected process is a
worker of a fleet: every worker applies the order, later ones too."
  (and otrace--fleet (list :fleetOrder (otrace-fleet-order-id))))

(defun otrace--on-notification (conn method params)
  "Dispatch notification METHOD with PARAMS of CONN to the feature files.
They are `otrace-notification-functions'.
The held requests are every worker's, each labelled with its worker
\(:worker, a pid); what is shown once for a fleet (the live holds,
safe mode) is the first worker's (`otrace--connection')."
  (let ((worker (otrace--pid conn))
        (first (or (null conn) (eq conn otrace--connection))))
    (pcase method
      ('otrace/holdStarted
       (otrace--add-hold (otrace--worker-hold params worker))
       (otrace--holds-changed-soon))
      ('otrace/holdResumed
       (otrace--forget-holds (list (cons worker (plist-get params :id)))))
      ('otrace/holdsResumed               ; several holds resumed at once
       (otrace--forget-holds (mapcar (lambda (h) (cons worker (plist-get h :id))) (plist-get params :holds))))
      ('otrace/holdClientGone
       (let ((hold (otrace--hold (plist-get params :id) worker)))
         (cond (hold
                (plist-put hold :clientGone t)
                (otrace--holds-changed-soon))
               (otrace--holds-loading
                (puthash (cons worker (plist-get params :id)) 'gone otrace--holds-loading)))))
      ('otrace/patchesChanged
       (when first
         (setq otrace--patches (append (plist-get params :patches) nil))
         (otrace--holds-changed-soon)))
      ('otrace/settingChanged
       (when (and first otrace--connection (equal (plist-get params :name) "safe_mode"))
         (setf (otrace--info otrace--connection)
               (plist-put (otrace--info otrace--connection) :safeMode (plist-get params :value)))
         (force-mode-line-update t))))
    (let ((otrace-notification-worker worker))
      (run-hook-with-args 'otrace-notification-functions method params))))

(defun otrace--worker-hold (hold worker)
  "HOLD (a Hold plist of the protocol) labelled with its WORKER's pid (:worker)."
  (cons :worker (cons worker hold)))

(defun otrace--hold-key (hold)
  "The key of HOLD in `otrace--holds-index': (WORKER . ID)."
  (cons (plist-get hold :worker) (plist-get hold :id)))

(defun otrace--forget-holds (keys)
  "Drop the held requests whose keys (WORKER . ID) are in KEYS (they were resumed)."
  (let ((gone (make-hash-table :test #'equal :size (length keys))))
    (dolist (key keys)
      (puthash key t gone)
      (when otrace--holds-loading (puthash key 'resumed otrace--holds-loading)))
    (otrace--set-holds (cl-remove-if (lambda (h) (gethash (otrace--hold-key h) gone)) otrace--holds)))
  (otrace--holds-changed-soon))

(defun otrace--set-holds (new)
  "Store the list NEW (Hold plists, oldest first) as the held requests."
  (setq otrace--holds new
        otrace--holds-tail (last new))
  (clrhash otrace--holds-index)
  (dolist (hold new) (puthash (otrace--hold-key hold) hold otrace--holds-index)))

(defun otrace--add-hold (hold)
  "Add HOLD (a Hold plist) to the held requests, or replace the one with its key."
  (let* ((key (otrace--hold-key hold))
         (old (gethash key otrace--holds-index)))
    (cond (old (otrace--set-holds (cl-substitute hold old otrace--holds :test #'eq)))
          (otrace--holds (setcdr otrace--holds-tail (list hold))
                         (setq otrace--holds-tail (cdr otrace--holds-tail))
                         (puthash key hold otrace--holds-index))
          (t (otrace--set-holds (list hold))))))

(defun otrace--load-holds (&optional conns)
  "Load the held requests of CONNS page by page (`otrace--holds-page' a page).
CONNS are workers of the attached fleet, default the connected process:
their holds are replaced, the other workers' stay.  The workers are
asked at once, each for its next page as its previous one comes;
Emacs waits until every one answered its last page (or failed: said
in a message).  Notifications that arrive meanwhile are applied too
\(see `otrace--holds-loading'); afterwards they alone keep the list.
A server before protocol 1.3 answers the whole list at once."
  (let* ((conns (or conns (list otrace--connection)))
         (workers (mapcar #'otrace--pid conns))
         (told (make-hash-table :test #'equal))
         (left (length conns)))
    (otrace--set-holds (cl-remove-if (lambda (h) (memql (plist-get h :worker) workers)) otrace--holds))
    (setq otrace--holds-loading told)
    (unwind-protect
        (progn
          (dolist (conn conns)
            (otrace--load-page conn nil told (lambda () (setq left (1- left)))))
          (while (> left 0) (accept-process-output nil 0.01)))
      (setq otrace--holds-loading nil)
      ;; holds told by holdStarted during the load came before older pages: order by number
      (let ((mine (cl-remove-if-not (lambda (h) (memql (plist-get h :worker) workers)) otrace--holds)))
        (otrace--set-holds
         (append (cl-remove-if (lambda (h) (memql (plist-get h :worker) workers)) otrace--holds)
                 (cl-loop for worker in workers
                          append (sort (cl-remove-if-not (lambda (h) (eql (plist-get h :worker) worker)) mine)
                                       (lambda (a b) (< (plist-get a :number) (plist-get b :number)))))))))))

(defun otrace--load-page (conn after told done)
  "Ask CONN for its page of held requests AFTER (a number, or nil: the first).
Its holds not TOLD resumed meanwhile are added; then the next page is
asked for, or DONE called (also when the request failed)."
  (let ((worker (otrace--pid conn)))
    (otrace-with-worker conn
      (otrace--async-request
       'otrace/holds (append (list :limit otrace--holds-page) (and after (list :after after)))
       (lambda (page)
         (mapc (lambda (hold)
                 (let* ((hold (otrace--worker-hold hold worker))
                        (key (otrace--hold-key hold)))
                   (unless (or (eq (gethash key told) 'resumed) (gethash key otrace--holds-index))
                     (otrace--add-hold (if (eq (gethash key told) 'gone) (plist-put hold :clientGone t) hold)))))
               (plist-get page :holds))
         (let ((next (plist-get page :next)))
           (if (integerp next)
               (otrace--load-page conn next told done)
             (funcall done))))
       nil
       (lambda (text)
         (otrace--message "%s" text)
         (funcall done))))))

(defun otrace--on-request (_conn method _params)
  "Answer server request METHOD: nothing is needed but a code lens refresh."
  (unless (eq method 'workspace/codeLens/refresh)
    (jsonrpc-error :code -32601 :message (format "%s is not handled by otrace.el" method))))

(defconst otrace--carrier-grace 5
  "Seconds a tunnel may take to end by itself after its connection did.
It then says why (the remote process ended); after that it is ended.")

(defun otrace--end-carrier (conn &optional delay)
  "Send SIGTERM to the process carrying CONN (VIA's :process), if any.
With DELAY, only when it still runs DELAY seconds later."
  (let ((carrier (plist-get (otrace--via conn) :process)))
    (when (process-live-p carrier)
      (if delay
          (run-at-time delay nil #'otrace--end-carrier conn)
        (process-put carrier 'otrace-closed t)
        (signal-process carrier 'SIGTERM)))))

(defun otrace--on-shutdown (conn)
  "Forget CONN when its process ended; end the process carrying it (VIA).
A worker of the attached fleet that exits is dropped quietly while
others run (`otrace--drop-worker')."
  (let ((stderr (process-get (jsonrpc--process conn) 'jsonrpc-stderr)))
    (when (buffer-live-p stderr) (kill-buffer stderr))
    (otrace--end-carrier conn otrace--carrier-grace))
  (if (and (memq conn otrace--workers) (cdr otrace--workers))
      (otrace--drop-worker conn)
    (otrace--forget-connection conn)))

(defun otrace--forget-connection (conn)
  "Forget CONN, when it is the connection, and its fleet; say so."
  (when (eq conn otrace--connection)
    (otrace--detach-fleet)
    (setq otrace--connection nil
          otrace--fleet nil
          otrace--patches nil)
    (otrace--set-holds nil)
    (otrace-mode -1)
    (otrace--holds-changed)
    (run-hooks 'otrace-disconnected-hook)
    (otrace--message "disconnected from pid %s" (plist-get (otrace--info conn) :pid))))

(defvar otrace--holds-redraw-timer nil
  "Timer of the redraw that `otrace--holds-changed-soon' scheduled, if any.")

(defconst otrace--holds-redraw-delay 0.05
  "Seconds during which hold notifications share one redraw of the views.")

(defun otrace--holds-changed ()
  "Redraw the views of the held requests."
  (when otrace--holds-redraw-timer
    (cancel-timer otrace--holds-redraw-timer)
    (setq otrace--holds-redraw-timer nil))
  (force-mode-line-update t)
  (run-hooks 'otrace-holds-changed-hook))

(defun otrace--holds-changed-soon ()
  "Schedule one redraw of the held requests' views for a burst of notifications.
Resuming 1,000 holds sends 1,000 notifications: the views are redrawn
once, not 1,000 times."
  (unless otrace--holds-redraw-timer
    (setq otrace--holds-redraw-timer
          (run-at-time otrace--holds-redraw-delay nil #'otrace--holds-changed))))

(defun otrace--request (method &optional params cancel-on-input)
  "Send request METHOD (a symbol) with PARAMS (a plist); return the result.
Emacs waits at most `otrace-sync-request-timeout' seconds.  A refusal
or failure of the server, or no answer in time, signals a one-line
`user-error' saying which request and which process.  With
CANCEL-ON-INPUT, a key typed meanwhile ends the wait: the result is
then nil."
  (let ((conn (otrace--connection)))
    (condition-case err
        (jsonrpc-request conn method (or params (make-hash-table))
                         :timeout otrace-sync-request-timeout
                         :cancel-on-input cancel-on-input)
      (jsonrpc-error
       (let ((text (or (alist-get 'jsonrpc-error-message (cdr err)) (format "%s" (cdr err)))))
         (if (equal text "Timed out")
             (otrace--error "%s: no answer from pid %s within %s s (is the process busy or stopped?)"
                            method (plist-get (otrace--info conn) :pid) otrace-sync-request-timeout)
           (otrace--error "%s" text)))))))

(defun otrace--async-request (method params then &optional buffer on-error)
  "Send request METHOD with PARAMS; call THEN with the result.
When BUFFER is given THEN runs in it, and not at all when it was
killed.  A refusal or no answer calls ON-ERROR (in BUFFER) with a
one-line message, or shows it with `otrace--message' when ON-ERROR
is nil."
  (let ((conn (otrace--connection))
        (in-buffer (lambda (fn arg)
                     (if (not buffer)
                         (funcall fn arg)
                       (when (buffer-live-p buffer)
                         (with-current-buffer buffer (funcall fn arg))))))
        (failed (lambda (text)
                  (if on-error
                      (funcall on-error text)
                    (otrace--message "%s" text)))))
    (jsonrpc-async-request
     conn method (or params (make-hash-table))
     :timeout otrace-request-timeout
     :success-fn (lambda (result) (funcall in-buffer then result))
     :error-fn (lambda (err)
                 (funcall in-buffer failed (format "%s failed: %s" method (plist-get err :message))))
     :timeout-fn (lambda ()
                   (funcall in-buffer failed
                            (format "%s: no answer from pid %s within %s s" method
                                    (otrace--pid conn) otrace-request-timeout))))))

(defun otrace--notify (method params)
  "Send notification METHOD with PARAMS when connected."
  (when (otrace-connected-p)
    (jsonrpc-notify otrace--connection method params)))

(defun otrace--make-connection (host port token name &optional via)
  "A new connection NAME to HOST:PORT with TOKEN, not yet initialized.
A refused connection signals a one-line `user-error'.  VIA: see
`otrace-connect-to'."
  (let ((proc (condition-case err
                  (make-network-process :name name :host host :service port
                                        :coding 'binary :noquery t)
                (file-error (otrace--error "Cannot connect to %s:%s: %s"
                                           host port (error-message-string err))))))
    (apply #'make-instance 'otrace-connection
           :name name :process proc :address (list host port token) :via via
           :notification-dispatcher #'otrace--on-notification
           :request-dispatcher #'otrace--on-request
           :on-shutdown #'otrace--on-shutdown
           ;; jsonrpc 1.0.10+ (Emacs 28): keep the events buffer small.
           (and (slot-exists-p 'jsonrpc-connection '-events-buffer-scrollback-size)
                '(:events-buffer-scrollback-size 100000)))))

(defun otrace--initialize-params (token)
  "The params of `initialize' with TOKEN."
  (list :processId (emacs-pid)
        :clientInfo '(:name "otrace.el" :version "0.1.0")
        :rootUri nil
        :capabilities '(:textDocument (:publishDiagnostics (:relatedInformation :json-false)))
        :initializationOptions (list :token (or token ""))))

(defun otrace--initialized (conn result)
  "Keep the otrace part of `initialize' RESULT of CONN; tell the server."
  (setf (otrace--info conn) (plist-get result :otrace))
  (jsonrpc-notify conn :initialized (make-hash-table))
  conn)

(defun otrace--open (host port token name &optional via)
  "A new connection NAME to HOST:PORT with TOKEN, initialized.
A refused connection or a wrong token signals a one-line `user-error'
and leaves nothing behind.  VIA: see `otrace-connect-to'."
  (let ((conn (otrace--make-connection host port token name via)))
    (otrace--initialized
     conn
     (condition-case err
         (jsonrpc-request conn :initialize (otrace--initialize-params token)
                          :timeout otrace-sync-request-timeout)
       ((jsonrpc-error error)
        (otrace--kill conn)
        (otrace--error "%s:%s refused the connection: %s" host port
                       (or (alist-get 'jsonrpc-error-message (cdr err))
                           (error-message-string err))))))))

(defvar otrace--attaching-fleet nil
  "Non-nil while a fleet's first worker is connected: the fleet is attached whole.
Bound by `otrace-connect-fleet' to t (the other workers are found by
discovery), by `otrace-remote-connect-fleet' to the discovery plists
of the other workers (their tunnels' local ends).")

(defun otrace-connect-to (host port token &optional via)
  "Connect to the otrace language server at HOST:PORT with TOKEN.
Replaces the current connection once the new one is up: a refused
connection or a wrong token signals a one-line `user-error', leaves
nothing behind and keeps the working connection.
VIA, when the address is a tunnel to another host, is a plist:
:label (\"PID@HOST\": the connection's name and mode line), :process
\(the tunnel, sent SIGTERM when the connection closes), :reconnect (a
function `otrace-reconnect' calls instead), :fleet (the fleet of the
process, a plist (:id :name :remote), when it is a worker of one)."
  (let ((conn (otrace--open host port token
                            (otrace--connection-name (if via (plist-get via :label) (format "%s:%s" host port)))
                            via)))
    (when otrace--connection (otrace-disconnect))   ; only now that the new one works
    (setq otrace--connection conn
          otrace--last-address (list host port token)
          otrace--last-via via
          otrace--last-process (and (not via)
                                    (cl-find (otrace--pid conn) (otrace-processes)
                                             :key (lambda (p) (plist-get p :pid))))
          otrace--fleet (or (plist-get via :fleet) (plist-get otrace--last-process :fleet))
          otrace--patches (append (plist-get (ignore-errors (otrace--request 'otrace/patches)) :patches) nil))
    (otrace--load-holds (list conn))
    (when (and otrace--attaching-fleet otrace--fleet)
      (otrace--attach-fleet conn (and (consp otrace--attaching-fleet) otrace--attaching-fleet)))
    (setq otrace--last-fleet (and otrace--workers (plist-get otrace--fleet :id)))
    (otrace-mode 1)
    (otrace--holds-changed)
    (run-hooks 'otrace-connected-hook)
    (if otrace--workers
        (otrace--message "attached to fleet %s: %d workers (pids %s)" (plist-get otrace--fleet :name)
                         (length otrace--workers) (mapconcat (lambda (w) (format "%s" (otrace--pid w))) otrace--workers " "))
      (otrace--message "connected to pid %s at %s:%s%s"
                       (otrace--pid conn) host port
                       (if via (format " (%s)" (plist-get via :label)) "")))
    conn))

(defun otrace--connection-name (address)
  "A name for a new connection to ADDRESS that no live connection has.
jsonrpc names its buffers after it: a second connection of the same
name (connecting again while connected) would take the first one's."
  (let* ((base (format "otrace %s" address))
         (name base)
         (n 1))
    (while (get-buffer (format "*%s events*" name))
      (setq n (1+ n) name (format "%s<%d>" base n)))
    name))

(defun otrace--kill (conn)
  "Close CONN's process and its buffers without talking to the server."
  (let ((proc (jsonrpc--process conn)))
    (set-process-sentinel proc #'ignore)
    (when (process-live-p proc) (delete-process proc))
    (dolist (buf (list (process-buffer proc) (process-get proc 'jsonrpc-stderr)))
      (when (buffer-live-p buf) (kill-buffer buf)))))

;;;###autoload
(defun otrace-connect (host port token &optional fleet)
  "Connect to a running otrace process at HOST:PORT with TOKEN.
Interactively, choose one of the running processes (their discovery
files show pid, command line and cwd) or a fleet (\"torna_fleet.py —
fleet of 4 workers\": every worker, see `otrace-connect-fleet'); with a
prefix argument, give host, port and token.  From Lisp, FLEET (a fleet
id) attaches that fleet instead."
  (interactive
   (if current-prefix-arg
       (list (read-string "Host (default 127.0.0.1): " nil nil "127.0.0.1")
             (read-number "Port: ")
             (read-passwd "Token: "))
     (let ((info (otrace--read-process t)))
       (if (plist-get info :workers)
           (list nil nil nil (otrace--fleet-id info))
         (list (or (plist-get info :host) "127.0.0.1")
               (plist-get info :lsp_port) (plist-get info :token))))))
  (if fleet
      (otrace-connect-fleet fleet)
    (otrace-connect-to host port token)))

(defun otrace--reexecuted-p (info)
  "Return non-nil when the process of discovery plist INFO was re-executed.
Its pid has a discovery file with another token: the process ran
itself again in place (Tornado's autoreload) under otrace."
  (cl-find-if (lambda (p) (and (equal (plist-get p :pid) (plist-get info :pid))
                               (not (equal (plist-get p :token) (plist-get info :token)))))
              (otrace-processes)))

(defun otrace-reconnect ()
  "Connect again to the last process; the otrace buffers are kept.
When that process has ended, or re-executed itself in place, and one
process runs its command line again in the same directory (the app
was restarted), connect to that one.  A fleet attached whole is
attached again (its workers now running)."
  (interactive)
  (unless otrace--last-address (otrace--error "No previous connection"))
  (let ((last otrace--last-process))
    (cond ((plist-get otrace--last-via :reconnect)   ; a tunnel: open it again
           (funcall (plist-get otrace--last-via :reconnect)))
          ((and otrace--last-fleet (otrace-fleet-workers otrace--last-fleet))   ; the fleet again, every worker
           (otrace-connect-fleet otrace--last-fleet))
          ((or (null last) (and (process-attributes (plist-get last :pid))
                                (not (otrace--reexecuted-p last))))
           (apply #'otrace-connect-to otrace--last-address))
          (t
           (let ((again (cl-find-if (lambda (p) (and (equal (plist-get p :argv) (plist-get last :argv))
                                                     (equal (plist-get p :cwd) (plist-get last :cwd))))
                                    (otrace-processes))))
             (unless again
               (otrace--error "Process %s has ended and nothing runs %s again; M-x otrace-connect"
                              (plist-get last :pid) (otrace--process-label last)))
             (otrace-connect-to (or (plist-get again :host) "127.0.0.1")
                                (plist-get again :lsp_port) (plist-get again :token)))))))

(defun otrace-disconnect ()
  "Close the connection cleanly (the held requests stay held).
Attached to a fleet: every worker's connection."
  (interactive)
  (let ((conn otrace--connection))
    (otrace--detach-fleet)
    (when conn
      (when (jsonrpc-running-p conn)
        (ignore-errors (jsonrpc-request conn :shutdown nil :timeout 2))
        (ignore-errors (jsonrpc-notify conn :exit nil)))
      (otrace--end-carrier conn)
      (otrace--kill conn)
      (otrace--on-shutdown conn)
      (when (buffer-live-p (jsonrpc-events-buffer conn))
        (kill-buffer (jsonrpc-events-buffer conn))))))

;;;; Mode line

(defun otrace-safe-mode-p ()
  "Non-nil unless the connected process said its safe mode is off.
A server older than protocol 1.2 does not say: it counts as safe."
  (not (and otrace--connection
            (eq (plist-get (otrace--info otrace--connection) :safeMode) :json-false))))

(defun otrace--lighter ()
  "The mode-line lighter: \" otrace\" and the state of the connection.
That is \"[PID@HOST]\" through a tunnel, \"!unsafe\" without safe mode,
the number of held requests."
  (concat " otrace"
          (let ((via (and otrace--connection (otrace--via otrace--connection))))
            (if via (format "[%s]" (plist-get via :label)) ""))
          (if otrace--workers
              (format "[%s: %d worker%s]" (plist-get otrace--fleet :name) (length otrace--workers)
                      (if (cdr otrace--workers) "s" ""))
            "")
          (if (not (otrace-safe-mode-p))
              (propertize "!unsafe" 'face 'warning 'help-echo "safe_mode is off: M-x otrace-set-safe-mode")
            "")
          (if otrace--holds (format "[%d held]" (length otrace--holds)) "")))

(defun otrace-set-safe-mode (on)
  "Turn the connected process's safe mode ON (non-nil) or off, after asking.
Interactively: toggle it.  Turning it off lets this and every other
client run any code in the process (exec, calls in expressions, edit,
JavaScript in browsers); the process audits the change.  Attached to a
fleet: in every worker (a security setting is never a fleet order)."
  (interactive (list (not (otrace-safe-mode-p))))
  (let* ((workers (progn (otrace--connection) (otrace-workers)))
         (where (if (cdr workers)
                    (format "the %d workers of fleet %s" (length workers) (plist-get otrace--fleet :name))
                  (format "pid %s" (otrace--pid (car workers))))))
    (when (or on
              (eq ?y (read-char-choice
                      (format "Allow code execution in %s (exec, calls, edit, JavaScript \
in browsers; for every client)? (y or n) " where)
                      '(?y ?n))))
      (dolist (conn workers)
        (let ((result (otrace-with-worker conn
                        (otrace--request 'otrace/command
                                         (list :line (format "set safe_mode %s" (if on "True" "False")))))))
          (when (eq (plist-get result :error) t) (otrace--error "%s" (plist-get result :output)))
          (setf (otrace--info conn) (plist-put (otrace--info conn) :safeMode (if on t :json-false)))))
      (force-mode-line-update t)
      (otrace--message "safe mode %s in %s" (if on "on: no code execution" "OFF: code execution allowed")
                       where))))

;;;###autoload
(define-minor-mode otrace-mode
  "Global mode showing the otrace connection in the mode line.
Turned on by `otrace-connect' and off by `otrace-disconnect'."
  :global t
  :group 'otrace
  :lighter (:eval (otrace--lighter)))

;;;; Helpers for the feature files

(defun otrace--hold (id &optional worker)
  "The held request with ID (of WORKER, a pid, in a fleet), or nil."
  (and otrace--holds (gethash (cons worker id) otrace--holds-index)))

(defun otrace--same-file-p (a b)
  "Non-nil when file names A and B name the same file."
  (and a b (string= (file-truename a) (file-truename b))))

(defun otrace-resume (ids &rest options)
  "Resume the held requests IDS (a list; `all' resumes every one).
Each of IDS is a hold id of the connected process, or a Hold plist of
`otrace--holds' (resumed in its worker).  OPTIONS is a plist: at most
one of :value, :raise, :status (with :reason).  Return the list of
resumed ids.  Attached to a fleet, `all' resumes every worker's holds:
`otrace/resume' goes to every worker at once and the answers are
counted as they come (see `otrace--resume-everywhere'); nil is returned."
  (if (and (eq ids 'all) (cdr otrace--workers))
      (otrace--resume-everywhere options)
    (let ((groups nil)
          (resumed nil))
      (unless (eq ids 'all)
        (dolist (id ids)
          (let* ((worker (and (consp id) (plist-get id :worker)))
                 (group (assoc worker groups)))
            (unless group (push (setq group (list worker)) groups))
            (push (if (consp id) (plist-get id :id) id) (cdr group)))))
      (dolist (group (or (nreverse groups) '((nil))))
        (otrace-with-worker (and (car group) (otrace--worker-connection (car group)))
          (setq resumed (append resumed
                                (plist-get (otrace--request
                                            'otrace/resume
                                            (append (if (eq ids 'all) '(:all t) (list :ids (vconcat (reverse (cdr group)))))
                                                    options))
                                           :resumed)
                                nil))))
      (otrace--message "resumed %d held request%s" (length resumed)
                       (if (= (length resumed) 1) "" "s"))
      resumed)))

;;;; Lists (tabulated-list buffers of the feature files)

(defun otrace--list-setup (columns refill)
  "Set up the current tabulated list: COLUMNS, REFILL run by `revert-buffer'."
  (setq tabulated-list-format columns)
  (setq tabulated-list-padding 1)
  (add-hook 'tabulated-list-revert-hook refill nil t)
  (tabulated-list-init-header))

(defun otrace--show-list (name mode refill)
  "Show the list buffer NAME in major MODE, filled by REFILL; return it."
  (otrace--connection)
  (let ((buf (get-buffer-create name)))
    (with-current-buffer buf
      (unless (derived-mode-p mode) (funcall mode))
      (funcall refill)
      (tabulated-list-print t))
    (pop-to-buffer buf)
    buf))

(defun otrace--redraw-list (name refill)
  "Fill the list buffer NAME again with REFILL, if there is one."
  (let ((buf (get-buffer name)))
    (when (buffer-live-p buf)
      (with-current-buffer buf
        (funcall refill)
        (tabulated-list-print t)))))

;;;; The debugger (otrace-dap.el, with dap-mode)

;; Reachable after `(require \'otrace)' whatever was loaded first: the
;; command is autoloaded, and the provider registers whenever dap-mode
;; loads (now, when it is loaded already).
(autoload 'otrace-dap-attach "otrace-dap"
  "Attach dap-mode to the DAP endpoint of a running otrace process." t)

(declare-function otrace-dap-register "otrace-dap" ())

(defun otrace--register-dap (&optional _file)
  "Register the otrace provider with dap-mode once dap-mode is loaded."
  (when (featurep 'dap-mode)
    (remove-hook 'after-load-functions #'otrace--register-dap)
    (require 'otrace-dap)
    (otrace-dap-register)))

(provide 'otrace)

(if (featurep 'dap-mode)
    (otrace--register-dap)
  (add-hook 'after-load-functions #'otrace--register-dap))

(require 'otrace-console)
(require 'otrace-holds)
(require 'otrace-source)
(require 'otrace-web)
(require 'otrace-files)
(require 'otrace-remote)
(require 'otrace-fleet)

;;; otrace.el ends here
