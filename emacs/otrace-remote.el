;;; otrace-remote.el --- Attach to an otrace process of another host over SSH -*- lexical-binding: t -*-

;; Copyright (C) 2025 otrace-server authors

;; This file is not part of GNU Emacs.  It is part of the otrace package
;; and is distributed under the same license (GPL-3.0-or-later): see
;; otrace.el.

;;; Commentary:

;; `otrace-attach-remote': "Attach to Remote Process..." with OpenSSH
;; only, through the `otrace' program (docs/PROTOCOL.md, "Finding and
;; connecting").  It asks for [user@]host, runs
;; `otrace ps --ssh HOST --json' to offer that host's processes, then
;; starts `otrace attach --ssh HOST PID --json' as an Emacs process (the
;; tunnel): its first stdout line is a discovery record of the local
;; ends of the forwarded ports, token included (kept in memory, never
;; written to disk).  The connection is then made as to a local process
;; (`otrace-connect-to' with a VIA plist): its name and the mode line
;; show PID@HOST; closing it sends the tunnel SIGTERM; a tunnel that
;; ends by itself (the process or the ssh connection ended) closes the
;; connection and says why.
;;
;; A fleet of that host (its workers, `otrace ps' groups them) is
;; attached whole, as a local one (otrace-fleet.el): a tunnel per
;; worker, opened at once; the host is listed again every
;; `otrace-fleet-remote-poll-interval' seconds, without waiting, and a
;; worker started later joins through a tunnel of its own.  A worker's
;; tunnel that ends drops that worker quietly (workers come and go).

;;; Code:

(require 'cl-lib)
(require 'subr-x)
(require 'otrace)
(require 'otrace-fleet)

(defcustom otrace-program nil
  "The `otrace' command line: a program, a list (program and arguments), or nil.
nil finds it: `otrace' on variable `exec-path', else in $VIRTUAL_ENV/bin,
else in the .venv/bin of `default-directory' or a parent."
  :type '(choice (const :tag "Find it" nil) (string :tag "Program") (repeat :tag "Command line" string))
  :group 'otrace)

(defcustom otrace-ssh-arguments nil
  "The ssh options of `otrace-attach-remote', a list of strings.
E.g. (\"-p\" \"2222\" \"-i\" \"~/.ssh/key\").  `otrace ps --ssh' and
`otrace attach --ssh' take -p PORT, -i KEY, -F CONFIG and
--remote-dir DIR; any Host of ~/.ssh/config works too."
  :type '(repeat string)
  :group 'otrace)

(defcustom otrace-remote-timeout 60
  "Seconds to wait for `otrace attach --ssh' to forward the ports."
  :type 'number
  :group 'otrace)

(defvar otrace-remote-host-history nil
  "Hosts given to `otrace-attach-remote'.")

(defvar otrace-remote--tunnels nil
  "The tunnel processes started here (ended when Emacs exits).")

(defun otrace-remote--program ()
  "The command line running `otrace', a list (see `otrace-program')."
  (cond ((stringp otrace-program) (list otrace-program))
        (otrace-program otrace-program)
        (t (list (or (executable-find "otrace")
                     (cl-find-if #'file-executable-p
                                 (delq nil (list (when-let ((venv (getenv "VIRTUAL_ENV")))
                                                   (expand-file-name "bin/otrace" venv))
                                                 (when-let ((root (locate-dominating-file default-directory
                                                                                          ".venv/bin/otrace")))
                                                   (expand-file-name ".venv/bin/otrace" root)))))
                     (otrace--error "No `otrace' program found (set `otrace-program')"))))))

(defun otrace-remote--command (subcommand host ssh-args &rest args)
  "The command line of `otrace SUBCOMMAND --ssh HOST SSH-ARGS ARGS'."
  (append (otrace-remote--program) (list subcommand "--ssh" host) ssh-args args))

(defmacro otrace-remote--running (command &rest body)
  "Run BODY, starting COMMAND: a program that cannot run is a `user-error'."
  (declare (indent 1) (debug t))
  `(condition-case err
       (progn ,@body)
     (file-error (otrace--error "Cannot run %s (set `otrace-program'): %s"
                                (car ,command) (error-message-string err)))))

(defun otrace-remote--json-line (text)
  "The last line of TEXT that is JSON, parsed (objects as plists), or nil."
  (cl-loop for line in (reverse (split-string text "\n" t "[ \t\r]+"))
           for value = (ignore-errors
                         (json-parse-string line :object-type 'plist :null-object nil :false-object nil))
           when value return value))

(defun otrace-remote--why (status answer stderr)
  "One line saying why `otrace' failed: exit STATUS, its JSON ANSWER, its STDERR."
  (or (and (listp answer) (plist-get answer :error))
      (car (split-string (string-trim (or stderr "")) "\n" t))
      (format "otrace exited with status %s" status)))

(defun otrace-remote-processes (host &optional ssh-args)
  "The otrace processes of HOST, read over ssh: discovery plists without tokens.
SSH-ARGS are the ssh options (default `otrace-ssh-arguments').  A
failure signals the command's one-line error."
  (let ((command (otrace-remote--command "ps" host (or ssh-args otrace-ssh-arguments) "--json"))
        (stderr (make-temp-file "otrace-ps"))   ; no token in it: ps leaves them on the host
        (default-directory temporary-file-directory))
    (unwind-protect
        (with-temp-buffer
          (let ((status (otrace-remote--running command
                          (apply #'call-process (car command) nil (list t stderr) nil (cdr command)))))
            (otrace-remote--ps-answer status (buffer-string)
                                      (with-temp-buffer (insert-file-contents stderr) (buffer-string)))))
      (delete-file stderr))))

(defun otrace-remote--ps-answer (status stdout stderr)
  "The processes `otrace ps --json' answered: exit STATUS, its STDOUT and STDERR.
A failure signals its one-line error."
  (let ((answer (otrace-remote--json-line stdout)))
    (if (and (eq status 0) (or (vectorp answer) (null answer)))
        (append answer nil)
      (otrace--error "%s" (otrace-remote--why status answer stderr)))))

(defun otrace-remote--processes-async (host ssh-args then)
  "List the otrace processes of HOST over ssh without waiting; return the process.
THEN is called with the processes (as `otrace-remote-processes'), or
with nil and the one-line error when it failed.  SSH-ARGS: ssh options."
  (let* ((default-directory temporary-file-directory)
         (command (otrace-remote--command "ps" host ssh-args "--json"))
         (out (generate-new-buffer " *otrace ps*"))
         (err (generate-new-buffer " *otrace ps stderr*"))
         (pipe (make-pipe-process :name "otrace ps stderr" :buffer err :noquery t :sentinel #'ignore)))
    (condition-case failure
        (otrace-remote--running command
          (make-process
           :name "otrace ps" :buffer out :connection-type 'pipe :noquery t :command command :stderr pipe
           :sentinel (lambda (proc _event)
                       (unless (process-live-p proc)
                         (accept-process-output pipe 0.1)
                         (let ((result (condition-case e
                                           (list (otrace-remote--ps-answer
                                                  (process-exit-status proc)
                                                  (with-current-buffer out (buffer-string))
                                                  (with-current-buffer err (buffer-string))))
                                         (user-error (list nil (error-message-string e))))))
                           (delete-process pipe)
                           (kill-buffer out)
                           (kill-buffer err)
                           (apply then result))))))
      (error (delete-process pipe)
             (kill-buffer out)
             (kill-buffer err)
             (signal (car failure) (cdr failure))))))

(defun otrace-remote--host-name (host)
  "HOST without its user."
  (car (last (split-string host "@"))))

(defun otrace-remote--label (host pid)
  "PID@HOST without the user of HOST: how the connection is named."
  (format "%s@%s" pid (otrace-remote--host-name host)))

(defun otrace-remote--filter (proc text)
  "Keep the first line of PROC's stdout TEXT, parsed, as its `otrace-first'.
Then tell its `otrace-then', if any (see `otrace-remote--open-async')."
  (unless (process-get proc 'otrace-first)
    (let ((out (concat (process-get proc 'otrace-out) text)))
      (if (not (string-match "\n" out))
          (process-put proc 'otrace-out out)
        (process-put proc 'otrace-out nil)
        (process-put proc 'otrace-first
                     (or (ignore-errors
                           (json-parse-string (substring out 0 (match-beginning 0))
                                              :object-type 'plist :null-object nil :false-object nil))
                         (list :error (format "unexpected answer of otrace attach: %s"
                                              (substring out 0 (min 200 (match-beginning 0)))))))
        (otrace-remote--tell proc)))))

(defun otrace-remote--tell (proc)
  "Call tunnel PROC's `otrace-then' once, from a timer.
With PROC when it forwards, else with nil (PROC is then ended)."
  (let ((then (process-get proc 'otrace-then)))
    (when then
      (process-put proc 'otrace-then nil)
      (let ((ok (and (process-live-p proc) (plist-get (process-get proc 'otrace-first) :lsp_port))))
        (unless ok (otrace-remote--close proc))
        (run-at-time 0 nil then (and ok proc))))))

(defun otrace-remote--stderr (proc)
  "What tunnel PROC wrote on stderr."
  (let ((buf (process-get proc 'otrace-stderr)))
    (if (buffer-live-p buf) (with-current-buffer buf (buffer-string)) "")))

(defun otrace-remote--forget (proc)
  "Drop tunnel PROC's buffers and its entry in `otrace-remote--tunnels'."
  (setq otrace-remote--tunnels (delq proc otrace-remote--tunnels))
  (let ((buf (process-get proc 'otrace-stderr)))
    (when (buffer-live-p buf)
      (let ((pipe (get-buffer-process buf)))
        (when pipe (delete-process pipe)))
      (kill-buffer buf))))

(defun otrace-remote--sentinel (proc _event)
  "Tunnel PROC ended: unless closed here, close its connection and say why.
Closed here it exits 0 (SIGTERM); by itself, 1 with a line on stderr
\(its connection may have noticed the closed ports first)."
  (unless (process-live-p proc)
    (otrace-remote--tell proc)
    (when (and (process-get proc 'otrace-connected)
               (not (and (process-get proc 'otrace-closed) (eql (process-exit-status proc) 0))))
      (let ((buf (process-get proc 'otrace-stderr)))
        (when (and (buffer-live-p buf) (get-buffer-process buf))
          (accept-process-output (get-buffer-process buf) 0.1)))
      (let ((why (car (last (split-string (otrace-remote--stderr proc) "\n" t "[ \t\r]+"))))
            (conn (cl-find proc (otrace-workers) :key (lambda (c) (plist-get (otrace--via c) :process))))
            (inhibit-message (process-get proc 'otrace-fleet-worker)))   ; workers come and go
        (cond ((and conn (cdr otrace--workers))    ; a worker of the attached fleet, others run
               (otrace--kill conn)
               (otrace--on-shutdown conn))
              ((and conn (eq conn otrace--connection))
               (otrace-disconnect)))
        (otrace--message "the tunnel to %s ended (status %s): %s" (process-get proc 'otrace-label)
                         (process-exit-status proc)
                         (string-remove-prefix "otrace: " (or why "no reason given")))))
    (when (or (process-get proc 'otrace-connected) (process-get proc 'otrace-closed))
      (otrace-remote--forget proc))))

(defun otrace-remote--close (proc)
  "End tunnel PROC with SIGTERM (its ssh connection and forwards go with it)."
  (process-put proc 'otrace-closed t)
  (when (process-live-p proc)
    (signal-process proc 'SIGTERM)
    (let ((deadline (+ (float-time) 5)))
      (while (and (process-live-p proc) (< (float-time) deadline))
        (accept-process-output proc 0.05)))
    (when (process-live-p proc) (delete-process proc)))
  (otrace-remote--forget proc))

(defun otrace-remote--close-all ()
  "End every tunnel started here (Emacs exits)."
  (mapc #'otrace-remote--close otrace-remote--tunnels))

(add-hook 'kill-emacs-hook #'otrace-remote--close-all)

(defun otrace-remote--start (host pid ssh-args)
  "Start `otrace attach --ssh HOST PID --json' with SSH-ARGS: the tunnel process.
Its record (a discovery plist of the local ends, token included) comes
in its `otrace-first' property; a failure to start signals."
  (let* ((label (otrace-remote--label host pid))
         (default-directory temporary-file-directory)
         (command (otrace-remote--command "attach" host ssh-args (format "%s" pid) "--json"))
         (stderr (generate-new-buffer (format " *otrace tunnel %s stderr*" label)))
         (pipe (make-pipe-process :name (format "otrace tunnel %s stderr" label)
                                  :buffer stderr :noquery t :sentinel #'ignore))
         (proc (condition-case err
                   (otrace-remote--running command
                     (make-process :name (format "otrace tunnel %s" label) :connection-type 'pipe :noquery t
                                   :command command :stderr pipe
                                   :filter #'otrace-remote--filter :sentinel #'otrace-remote--sentinel))
                 (error (delete-process pipe)
                        (kill-buffer stderr)
                        (signal (car err) (cdr err))))))
    (process-put proc 'otrace-label label)
    (process-put proc 'otrace-stderr stderr)
    (push proc otrace-remote--tunnels)
    proc))

(defun otrace-remote--open-async (host pid ssh-args then)
  "Start the tunnel to process PID of HOST (SSH-ARGS); return at once.
THEN is called later with the tunnel process once it forwards (its
record in `otrace-first'), or with nil when it failed or took over
`otrace-remote-timeout' seconds (it is then ended)."
  (let ((proc (condition-case nil (otrace-remote--start host pid ssh-args) (error nil))))
    (if (not proc)
        (run-at-time 0 nil then nil)
      (process-put proc 'otrace-then then)
      (run-at-time otrace-remote-timeout nil
                   (lambda () (when (process-get proc 'otrace-then)
                                (otrace-remote--close proc)
                                (otrace-remote--tell proc)))))
    proc))

(defun otrace-remote--open-all (host pids ssh-args)
  "Tunnels to processes PIDS of HOST (SSH-ARGS), opened at once and waited for.
Return an alist (PID . TUNNEL) of those that forward, in the order of
PIDS; those that failed are ended.  When none does, signal the first
one's one-line error."
  (let* ((tunnels (mapcar (lambda (pid) (cons pid (otrace-remote--start host pid ssh-args))) pids))
         (deadline (+ (float-time) otrace-remote-timeout))
         (first-error nil))
    (while (and (< (float-time) deadline)
                (cl-some (lambda (entry) (and (process-live-p (cdr entry)) (not (process-get (cdr entry) 'otrace-first))))
                         tunnels))
      (accept-process-output nil 0.05))
    (or (cl-remove-if-not
         (lambda (entry)
           (condition-case err
               (progn (otrace-remote--wait-record host (cdr entry)) t)
             (user-error (setq first-error (or first-error err)) nil)))
         tunnels)
        (signal (car first-error) (cdr first-error)))))

(defun otrace-remote--open (host pid ssh-args)
  "Start `otrace attach --ssh HOST PID --json' with SSH-ARGS; wait for its record.
Return the tunnel process, its record (a discovery plist of the local
ends, token included) in its `otrace-first' property.  A failure ends
it and signals the command's one-line error."
  (otrace-remote--wait-record host (otrace-remote--start host pid ssh-args)))

(defun otrace-remote--wait-record (host proc)
  "Wait for tunnel PROC to HOST to forward; return PROC.
A failure, or no record within `otrace-remote-timeout' seconds, ends it
and signals the command's one-line error."
  (let ((deadline (+ (float-time) otrace-remote-timeout))
        (stderr (process-get proc 'otrace-stderr))
        (done nil))
    (unwind-protect
        (progn
          (while (and (not (process-get proc 'otrace-first)) (process-live-p proc) (< (float-time) deadline))
            (accept-process-output proc 0.05))
          (unless (process-live-p proc)   ; what it wrote before exiting
            (accept-process-output proc 0.1)
            (accept-process-output (get-buffer-process stderr) 0.1))
          (let ((first (process-get proc 'otrace-first)))
            (cond ((and first (plist-get first :lsp_port) (process-live-p proc)) (setq done t) proc)
                  ((process-live-p proc)
                   (otrace--error "%s" (if first (otrace-remote--why nil first nil)
                                         (format "no answer from otrace attach --ssh %s within %s s"
                                                 host otrace-remote-timeout))))
                  (t (otrace--error "%s" (string-remove-prefix
                                          "otrace: " (otrace-remote--why (process-exit-status proc) first
                                                                         (otrace-remote--stderr proc))))))))
      (unless done (otrace-remote--close proc)))))

(defun otrace-remote-connect (host pid &optional ssh-args)
  "Connect to otrace process PID of HOST through an ssh tunnel.
SSH-ARGS are the ssh options (default `otrace-ssh-arguments').  The
tunnel ends with the connection; `otrace-reconnect' opens it again."
  (let* ((ssh-args (or ssh-args otrace-ssh-arguments))
         (tunnel (otrace-remote--open host pid ssh-args))
         (record (process-get tunnel 'otrace-first))
         (done nil))
    (process-put tunnel 'otrace-first t)   ; the token lives on in the connection only
    (unwind-protect
        (prog1 (otrace-connect-to (or (plist-get record :host) "127.0.0.1")
                                  (plist-get record :lsp_port) (plist-get record :token)
                                  (list :label (otrace-remote--label host pid) :process tunnel
                                        :reconnect (lambda () (otrace-remote-connect host pid ssh-args))))
          (process-put tunnel 'otrace-connected t)
          (setq done t))
      (unless done (otrace-remote--close tunnel)))))

(defun otrace-remote--worker-info (host pid tunnel fleet)
  "The discovery plist of worker PID of HOST reached through TUNNEL.
That is its local ends, token included, and :via, the connection's VIA
\(see `otrace-connect-to') naming FLEET, the fleet's plist (:id :name
:remote)."
  (let ((record (process-get tunnel 'otrace-first)))
    (process-put tunnel 'otrace-first t)     ; the token lives on in the connection only
    (process-put tunnel 'otrace-connected t)
    (process-put tunnel 'otrace-fleet-worker t)
    (list :pid pid :host (or (plist-get record :host) "127.0.0.1") :lsp_port (plist-get record :lsp_port)
          :token (plist-get record :token)
          :via (list :label (otrace-remote--label host pid) :process tunnel :fleet fleet))))

(defun otrace-remote-connect-fleet (host id &optional ssh-args processes)
  "Attach every worker of fleet ID of HOST, each through an ssh tunnel of its own.
SSH-ARGS are the ssh options (default `otrace-ssh-arguments');
PROCESSES, HOST's otrace processes when already listed.  The tunnels are
opened at once; a worker whose tunnel fails is left out (the others are
attached), and workers started later are attached as they appear (see
`otrace-fleet-remote-poll-interval').  `otrace-reconnect' attaches the
fleet again."
  (let* ((ssh-args (or ssh-args otrace-ssh-arguments))
         (workers (or (otrace-fleet-workers id (or processes (otrace-remote-processes host ssh-args)))
                      (otrace--error "No running worker of fleet %s on %s" id host)))
         (fleet (list :id (format "%s/%s" host id)
                      :name (format "%s on %s" (plist-get (plist-get (car workers) :fleet) :name)
                                    (otrace-remote--host-name host))
                      :remote (list :host host :ssh-args ssh-args :id id)))
         (tunnels (otrace-remote--open-all host (mapcar (lambda (w) (plist-get w :pid)) workers) ssh-args))
         (infos (mapcar (lambda (entry) (otrace-remote--worker-info host (car entry) (cdr entry) fleet)) tunnels))
         (first (car infos))
         (done nil))
    (unwind-protect
        (let ((otrace--attaching-fleet (or (cdr infos) t)))
          (prog1 (otrace-connect-to (plist-get first :host) (plist-get first :lsp_port) (plist-get first :token)
                                    (append (plist-get first :via)
                                            (list :reconnect (lambda () (otrace-remote-connect-fleet host id ssh-args)))))
            (setq done t)))
      (unless done
        (dolist (entry tunnels) (otrace-remote--close (cdr entry)))))))

(defvar otrace-remote--fleet-listing nil
  "The `otrace ps --ssh' process of the last look for new remote workers.")

(defun otrace-remote--fleet-poll ()
  "Look for new workers of the attached fleet of another host; Emacs does not wait.
Its host is listed over ssh (one run at a time); each worker not yet
attached gets a tunnel, and joins once it answered."
  (unless (process-live-p otrace-remote--fleet-listing)
    (let* ((fleet otrace--fleet)
           (remote (plist-get fleet :remote))
           (host (plist-get remote :host))
           (ssh-args (plist-get remote :ssh-args)))
      (setq otrace-remote--fleet-listing
            (ignore-errors
              (otrace-remote--processes-async
               host ssh-args
               (lambda (processes &optional error)
                 (when error                     ; tried again at the next look
                   (let ((inhibit-message t))
                     (otrace--message "looking for new workers of %s: %s" (plist-get fleet :name) error)))
                 (when (and otrace--workers (equal (plist-get otrace--fleet :id) (plist-get fleet :id)))
                   (dolist (info (let ((workers (otrace-fleet-workers (plist-get remote :id) processes)))
                                   (and workers (otrace--fleet-newcomers workers))))   ; (nil: discovery's)
                     (otrace-remote--join fleet (plist-get info :pid)))))))))))

(defun otrace-remote--join (fleet pid)
  "Open a tunnel to worker PID of FLEET, the attached fleet's plist.
Emacs does not wait: the worker joins the fleet once it answered."
  (let ((host (plist-get (plist-get fleet :remote) :host)))
    (push pid otrace--joining)
    (otrace-remote--open-async
     host pid (plist-get (plist-get fleet :remote) :ssh-args)
     (lambda (tunnel)
       (if (not tunnel)
           (setq otrace--joining (delq pid otrace--joining))
         (otrace--open-workers
          (list (otrace-remote--worker-info host pid tunnel fleet))
          (lambda (pid conn)
            (unless conn (otrace-remote--close tunnel))
            (otrace--fleet-joined (plist-get fleet :id) pid conn))))))))

(defun otrace-remote--read-host ()
  "Ask for [user@]host, with `otrace-remote-host-history'."
  (let* ((default (car otrace-remote-host-history))
         (host (string-trim (read-string (if default
                                             (format "Attach over ssh to [user@]host (default %s): " default)
                                           "Attach over ssh to [user@]host: ")
                                         nil 'otrace-remote-host-history default))))
    (if (string-empty-p host) (otrace--error "No host given") host)))

;;;###autoload
(defun otrace-attach-remote (host pid &optional fleet)
  "Attach to otrace process PID of another HOST, over OpenSSH.
Interactively, ask for [user@]host (ssh options: `otrace-ssh-arguments'),
list its processes with `otrace ps --ssh HOST --json' and choose one
\(pid, command line, cwd), or a fleet (every worker: see
`otrace-remote-connect-fleet').  The ports are forwarded by
`otrace attach --ssh HOST PID --json' (see `otrace-program'), which
runs as long as the connection; the mode line shows otrace[PID@HOST].
From Lisp, FLEET (a fleet id of HOST) attaches that fleet instead."
  (interactive
   (let* ((host (otrace-remote--read-host))
          (processes (or (otrace-remote-processes host)
                         (otrace--error "No otrace process on %s" host)))
          (chosen (otrace--choose-process processes t)))
     (if (plist-get chosen :workers)
         (list host nil (otrace--fleet-id chosen))
       (list host (plist-get chosen :pid)))))
  (if fleet
      (otrace-remote-connect-fleet host fleet)
    (otrace-remote-connect host pid)))

(provide 'otrace-remote)

;;; otrace-remote.el ends here
