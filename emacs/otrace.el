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
;; - The held requests are kept here (the mode line shows their number);
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

(defun otrace--read-process ()
  "Ask for a running process with `completing-read'; its discovery plist.
The prompt's default (RET) is the only process, else the current project's."
  (otrace--choose-process
   (or (otrace-processes)
       (otrace--error "No running process in %s (give host, port and token with C-u)"
                      (otrace-discovery-directory)))))

(defun otrace--choose-process (processes)
  "Ask for one of PROCESSES (discovery plists) with `completing-read'.
Each shows pid, command line and cwd; the prompt's default (RET) is
the only process, else the current project's."
  (let* ((choices (mapcar (lambda (p) (cons (otrace--process-label p) p)) processes))
         (default (let ((p (otrace--default-process processes)))
                    (and p (otrace--process-label p))))
         (answer (completing-read (if default
                                      (format "otrace process (default %s): " (plist-get (cdr (assoc default choices)) :pid))
                                    "otrace process: ")
                                  choices nil t nil nil default)))
    (or (cdr (assoc answer choices))
        (otrace--error "No process chosen (%d running: type or complete one)" (length processes)))))

;;;; Connection

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

(defun otrace-connected-p ()
  "Non-nil when connected to an otrace process."
  (and otrace--connection (jsonrpc-running-p otrace--connection)))

(defun otrace--connection ()
  "The live connection, or signal a `user-error'."
  (or (and (otrace-connected-p) otrace--connection)
      (otrace--error "Not connected (M-x otrace-connect)")))

(defun otrace--on-notification (_conn method params)
  "Dispatch notification METHOD with PARAMS to `otrace-notification-functions'."
  (pcase method
    ('otrace/holdStarted
     (otrace--add-hold params)
     (otrace--holds-changed-soon))
    ('otrace/holdResumed
     (otrace--forget-holds (list (plist-get params :id))))
    ('otrace/holdsResumed                 ; several holds resumed at once
     (otrace--forget-holds (mapcar (lambda (h) (plist-get h :id)) (plist-get params :holds))))
    ('otrace/holdClientGone
     (let ((hold (otrace--hold (plist-get params :id))))
       (cond (hold
              (plist-put hold :clientGone t)
              (otrace--holds-changed-soon))
             (otrace--holds-loading
              (puthash (plist-get params :id) 'gone otrace--holds-loading)))))
    ('otrace/patchesChanged
     (setq otrace--patches (append (plist-get params :patches) nil))
     (otrace--holds-changed-soon))
    ('otrace/settingChanged
     (when (equal (plist-get params :name) "safe_mode")
       (setf (otrace--info otrace--connection)
             (plist-put (otrace--info otrace--connection) :safeMode (plist-get params :value)))
       (force-mode-line-update t))))
  (run-hook-with-args 'otrace-notification-functions method params))

(defun otrace--forget-holds (ids)
  "Drop the held requests whose ids are in IDS (they were resumed)."
  (let ((gone (make-hash-table :test #'equal :size (length ids))))
    (dolist (id ids)
      (puthash id t gone)
      (when otrace--holds-loading (puthash id 'resumed otrace--holds-loading)))
    (otrace--set-holds (cl-remove-if (lambda (h) (gethash (plist-get h :id) gone)) otrace--holds)))
  (otrace--holds-changed-soon))

(defun otrace--set-holds (new)
  "Store the list NEW (Hold plists, oldest first) as the held requests."
  (setq otrace--holds new
        otrace--holds-tail (last new))
  (clrhash otrace--holds-index)
  (dolist (hold new) (puthash (plist-get hold :id) hold otrace--holds-index)))

(defun otrace--add-hold (hold)
  "Add HOLD (a Hold plist) to the held requests, or replace the one with its id."
  (let* ((id (plist-get hold :id))
         (old (otrace--hold id)))
    (cond (old (otrace--set-holds (cl-substitute hold old otrace--holds :test #'eq)))
          (otrace--holds (setcdr otrace--holds-tail (list hold))
                         (setq otrace--holds-tail (cdr otrace--holds-tail))
                         (puthash id hold otrace--holds-index))
          (t (otrace--set-holds (list hold))))))

(defun otrace--load-holds ()
  "Load the held requests page by page (`otrace--holds-page' a page).
Notifications that arrive meanwhile are applied too (see
`otrace--holds-loading'); afterwards they alone keep the list.  A
server before protocol 1.3 answers the whole list at once."
  (otrace--set-holds nil)
  (let ((told (make-hash-table :test #'equal))
        (after nil)
        (more t))
    (setq otrace--holds-loading told)
    (unwind-protect
        (while more
          (let* ((page (otrace--request 'otrace/holds
                                        (append (list :limit otrace--holds-page) (and after (list :after after)))))
                 (next (plist-get page :next)))
            (mapc (lambda (hold)
                    (let ((id (plist-get hold :id)))
                      (unless (or (eq (gethash id told) 'resumed) (otrace--hold id))
                        (otrace--add-hold (if (eq (gethash id told) 'gone) (plist-put hold :clientGone t) hold)))))
                  (plist-get page :holds))
            (if (integerp next) (setq after next) (setq more nil))))
      (setq otrace--holds-loading nil)
      ;; holds told by holdStarted during the load came before older pages: order by number
      (otrace--set-holds (sort (copy-sequence otrace--holds)
                               (lambda (a b) (< (plist-get a :number) (plist-get b :number))))))))

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
  "Forget CONN when its process ended; end the process carrying it (VIA)."
  (let ((stderr (process-get (jsonrpc--process conn) 'jsonrpc-stderr)))
    (when (buffer-live-p stderr) (kill-buffer stderr))
    (otrace--end-carrier conn otrace--carrier-grace))
  (when (eq conn otrace--connection)
    (setq otrace--connection nil
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
  (let ((in-buffer (lambda (fn arg)
                     (if (not buffer)
                         (funcall fn arg)
                       (when (buffer-live-p buffer)
                         (with-current-buffer buffer (funcall fn arg))))))
        (failed (lambda (text)
                  (if on-error
                      (funcall on-error text)
                    (otrace--message "%s" text)))))
    (jsonrpc-async-request
     (otrace--connection) method (or params (make-hash-table))
     :timeout otrace-request-timeout
     :success-fn (lambda (result) (funcall in-buffer then result))
     :error-fn (lambda (err)
                 (funcall in-buffer failed (format "%s failed: %s" method (plist-get err :message))))
     :timeout-fn (lambda ()
                   (funcall in-buffer failed
                            (format "%s: no answer from pid %s within %s s" method
                                    (plist-get (otrace--info otrace--connection) :pid)
                                    otrace-request-timeout))))))

(defun otrace--notify (method params)
  "Send notification METHOD with PARAMS when connected."
  (when (otrace-connected-p)
    (jsonrpc-notify otrace--connection method params)))

(defun otrace-connect-to (host port token &optional via)
  "Connect to the otrace language server at HOST:PORT with TOKEN.
Replaces the current connection once the new one is up: a refused
connection or a wrong token signals a one-line `user-error', leaves
nothing behind and keeps the working connection.
VIA, when the address is a tunnel to another host, is a plist:
:label (\"PID@HOST\": the connection's name and mode line), :process
\(the tunnel, sent SIGTERM when the connection closes), :reconnect (a
function `otrace-reconnect' calls instead)."
  (let* ((name (otrace--connection-name (if via (plist-get via :label) (format "%s:%s" host port))))
         (proc (condition-case err
                   (make-network-process :name name :host host :service port
                                         :coding 'binary :noquery t)
                 (file-error (otrace--error "Cannot connect to %s:%s: %s"
                                            host port (error-message-string err)))))
         (conn (apply #'make-instance 'otrace-connection
                      :name name :process proc :address (list host port token) :via via
                      :notification-dispatcher #'otrace--on-notification
                      :request-dispatcher #'otrace--on-request
                      :on-shutdown #'otrace--on-shutdown
                      ;; jsonrpc 1.0.10+ (Emacs 28): keep the events buffer small.
                      (and (slot-exists-p 'jsonrpc-connection '-events-buffer-scrollback-size)
                           '(:events-buffer-scrollback-size 100000))))
         (result (condition-case err
                     (jsonrpc-request
                      conn :initialize
                      (list :processId (emacs-pid)
                            :clientInfo '(:name "otrace.el" :version "0.1.0")
                            :rootUri nil
                            :capabilities '(:textDocument (:publishDiagnostics (:relatedInformation :json-false)))
                            :initializationOptions (list :token (or token "")))
                      :timeout otrace-sync-request-timeout)
                   ((jsonrpc-error error)
                    (otrace--kill conn)
                    (otrace--error "%s:%s refused the connection: %s" host port
                                   (or (alist-get 'jsonrpc-error-message (cdr err))
                                       (error-message-string err)))))))
    (jsonrpc-notify conn :initialized (make-hash-table))
    (when otrace--connection (otrace-disconnect))   ; only now that the new one works
    (setf (otrace--info conn) (plist-get result :otrace))
    (setq otrace--connection conn
          otrace--last-address (list host port token)
          otrace--last-via via
          otrace--last-process (and (not via)
                                    (cl-find (plist-get (otrace--info conn) :pid) (otrace-processes)
                                             :key (lambda (p) (plist-get p :pid))))
          otrace--patches (append (plist-get (ignore-errors (otrace--request 'otrace/patches)) :patches) nil))
    (otrace--load-holds)
    (otrace-mode 1)
    (otrace--holds-changed)
    (run-hooks 'otrace-connected-hook)
    (otrace--message "connected to pid %s at %s:%s%s"
                     (plist-get (otrace--info conn) :pid) host port
                     (if via (format " (%s)" (plist-get via :label)) ""))
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
(defun otrace-connect (host port token)
  "Connect to a running otrace process at HOST:PORT with TOKEN.
Interactively, choose one of the running processes (their discovery
files show pid, command line and cwd); with a prefix argument, give
host, port and token."
  (interactive
   (if current-prefix-arg
       (list (read-string "Host (default 127.0.0.1): " nil nil "127.0.0.1")
             (read-number "Port: ")
             (read-passwd "Token: "))
     (let ((info (otrace--read-process)))
       (list (or (plist-get info :host) "127.0.0.1")
             (plist-get info :lsp_port) (plist-get info :token)))))
  (otrace-connect-to host port token))

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
was restarted), connect to that one."
  (interactive)
  (unless otrace--last-address (otrace--error "No previous connection"))
  (let ((last otrace--last-process))
    (cond ((plist-get otrace--last-via :reconnect)   ; a tunnel: open it again
           (funcall (plist-get otrace--last-via :reconnect)))
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
  "Close the connection cleanly (the held requests stay held)."
  (interactive)
  (let ((conn otrace--connection))
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
          (if (not (otrace-safe-mode-p))
              (propertize "!unsafe" 'face 'warning 'help-echo "safe_mode is off: M-x otrace-set-safe-mode")
            "")
          (if otrace--holds (format "[%d held]" (length otrace--holds)) "")))

(defun otrace-set-safe-mode (on)
  "Turn the connected process's safe mode ON (non-nil) or off, after asking.
Interactively: toggle it.  Turning it off lets this and every other
client run any code in the process (exec, calls in expressions, edit,
JavaScript in browsers); the process audits the change."
  (interactive (list (not (otrace-safe-mode-p))))
  (let ((pid (plist-get (otrace--info (otrace--connection)) :pid)))
    (when (or on
              (eq ?y (read-char-choice
                      (format "Allow code execution in pid %s (exec, calls, edit, JavaScript \
in browsers; for every client)? (y or n) " pid)
                      '(?y ?n))))
      (let ((result (otrace--request 'otrace/command
                                     (list :line (format "set safe_mode %s" (if on "True" "False"))))))
        (when (eq (plist-get result :error) t) (otrace--error "%s" (plist-get result :output)))
        (setf (otrace--info otrace--connection)
              (plist-put (otrace--info otrace--connection) :safeMode (if on t :json-false)))
        (force-mode-line-update t)
        (otrace--message "safe mode %s in pid %s" (if on "on: no code execution" "OFF: code execution allowed")
                         pid)))))

;;;###autoload
(define-minor-mode otrace-mode
  "Global mode showing the otrace connection in the mode line.
Turned on by `otrace-connect' and off by `otrace-disconnect'."
  :global t
  :group 'otrace
  :lighter (:eval (otrace--lighter)))

;;;; Helpers for the feature files

(defun otrace--hold (id)
  "The held request with ID, or nil."
  (and otrace--holds (gethash id otrace--holds-index)))

(defun otrace--same-file-p (a b)
  "Non-nil when file names A and B name the same file."
  (and a b (string= (file-truename a) (file-truename b))))

(defun otrace-resume (ids &rest options)
  "Resume the held requests IDS (a list; `all' resumes every one).
OPTIONS is a plist: at most one of :value, :raise, :status (with
:reason).  Return the list of resumed ids."
  (let ((resumed (plist-get (otrace--request
                             'otrace/resume
                             (append (if (eq ids 'all) '(:all t) (list :ids (vconcat ids)))
                                     options))
                            :resumed)))
    (otrace--message "resumed %d held request%s" (length resumed)
                     (if (= (length resumed) 1) "" "s"))
    (append resumed nil)))

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

;;; otrace.el ends here
