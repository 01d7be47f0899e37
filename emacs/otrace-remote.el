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

;;; Code:

(require 'cl-lib)
(require 'subr-x)
(require 'otrace)

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
          (let* ((status (otrace-remote--running command
                           (apply #'call-process (car command) nil (list t stderr) nil (cdr command))))
                 (answer (otrace-remote--json-line (buffer-string))))
            (if (and (eq status 0) (or (vectorp answer) (null answer)))
                (append answer nil)
              (otrace--error "%s" (otrace-remote--why
                                   status answer
                                   (with-temp-buffer (insert-file-contents stderr) (buffer-string)))))))
      (delete-file stderr))))

(defun otrace-remote--label (host pid)
  "PID@HOST without the user of HOST: how the connection is named."
  (format "%s@%s" pid (car (last (split-string host "@")))))

(defun otrace-remote--filter (proc text)
  "Keep the first line of PROC's stdout TEXT, parsed, as its `otrace-first'."
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
                                              (substring out 0 (min 200 (match-beginning 0)))))))))))

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
    (when (and (process-get proc 'otrace-connected)
               (not (and (process-get proc 'otrace-closed) (eql (process-exit-status proc) 0))))
      (let ((buf (process-get proc 'otrace-stderr)))
        (when (and (buffer-live-p buf) (get-buffer-process buf))
          (accept-process-output (get-buffer-process buf) 0.1)))
      (let ((why (car (last (split-string (otrace-remote--stderr proc) "\n" t "[ \t\r]+")))))
        (when (and otrace--connection (eq (plist-get (otrace--via otrace--connection) :process) proc))
          (otrace-disconnect))
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

(defun otrace-remote--open (host pid ssh-args)
  "Start `otrace attach --ssh HOST PID --json' with SSH-ARGS; wait for its record.
Return the tunnel process, its record (a discovery plist of the local
ends, token included) in its `otrace-first' property.  A failure ends
it and signals the command's one-line error."
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
                        (signal (car err) (cdr err)))))
         (deadline (+ (float-time) otrace-remote-timeout))
         (done nil))
    (process-put proc 'otrace-label label)
    (process-put proc 'otrace-stderr stderr)
    (push proc otrace-remote--tunnels)
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

(defun otrace-remote--read-host ()
  "Ask for [user@]host, with `otrace-remote-host-history'."
  (let* ((default (car otrace-remote-host-history))
         (host (string-trim (read-string (if default
                                             (format "Attach over ssh to [user@]host (default %s): " default)
                                           "Attach over ssh to [user@]host: ")
                                         nil 'otrace-remote-host-history default))))
    (if (string-empty-p host) (otrace--error "No host given") host)))

;;;###autoload
(defun otrace-attach-remote (host pid)
  "Attach to otrace process PID of another HOST, over OpenSSH.
Interactively, ask for [user@]host (ssh options: `otrace-ssh-arguments'),
list its processes with `otrace ps --ssh HOST --json' and choose one
\(pid, command line, cwd).  The ports are forwarded by
`otrace attach --ssh HOST PID --json' (see `otrace-program'), which
runs as long as the connection; the mode line shows otrace[PID@HOST]."
  (interactive
   (let* ((host (otrace-remote--read-host))
          (processes (or (otrace-remote-processes host)
                         (otrace--error "No otrace process on %s" host))))
     (list host (plist-get (otrace--choose-process processes) :pid))))
  (otrace-remote-connect host pid))

(provide 'otrace-remote)

;;; otrace-remote.el ends here
