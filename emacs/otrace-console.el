;;; otrace-console.el --- The otrace shell in a comint buffer -*- lexical-binding: t -*-

;; Copyright (C) 2025 otrace-server authors

;; This file is not part of GNU Emacs.  It is part of the otrace package
;; and is distributed under the same license (GPL-3.0-or-later): see
;; otrace.el.

;;; Commentary:

;; `otrace-console': a comint buffer whose input lines go to
;; `otrace/command' (each connection has its own shell session).  comint
;; needs a process, so the buffer owns a dummy pipe process that is
;; never written to; `comint-input-sender' sends the line instead.  The
;; answer and the asynchronous output of the server (`otrace/output',
;; trace events) are inserted before the prompt, so a half-typed line
;; stays as it is.  Completion is `completion-at-point' over
;; `otrace/complete'; history is comint's.  What the server sends is
;; inserted `otrace--visible' (escapes as text: comint's ansi-color
;; would otherwise colour it, and bidi controls would reorder it).
;;
;; In a fleet (the workers of one application) the console addresses
;; one worker or the whole fleet (\[otrace-console-address], shown in the
;; prompt and the mode line): in fleet mode a line goes to every worker
;; with one shared fleet order id (a standing command such as `trace'
;; is then recorded once, and applied by every worker, later ones too),
;; and each worker's output is printed led by [pid N].

;;; Code:

(require 'comint)
(require 'otrace)

(defcustom otrace-console-show-trace-events t
  "Non-nil: show the server's trace events in the console."
  :type 'boolean
  :group 'otrace)

(defcustom otrace-console-repeat-interval 1.0
"Seconds between runs of a command the shell's `repeat' asked for.
The repeating stops when another line is sent or with \\[otrace-console-stop-repeat]."
  :type 'number
  :group 'otrace)

(defconst otrace--console-buffer "*otrace console*"
  "Name of the console buffer.")

(defvar-local otrace--console-prompt-start nil
  "Marker at the start of the current prompt.")

(defvar-local otrace--console-prompt "otrace> "
  "The last prompt of the server, shown again after a failed line.")

(defvar-local otrace--console-repeat-timer nil
  "Timer re-running the command of a `repeat', or nil.")

(defvar-local otrace--console-address nil
  "Whom the console's lines go to.
That is nil (the connected process, in a fleet its first worker), a
worker's pid, or `fleet' (every worker).")

(defun otrace--console-process ()
  "The dummy process of the current console buffer, created when missing."
  (or (get-buffer-process (current-buffer))
      (make-pipe-process :name "otrace-console" :buffer (current-buffer) :noquery t
                         :filter #'ignore :sentinel #'ignore)))

(defvar otrace-console-mode-map
  (let ((map (make-sparse-keymap)))
    (set-keymap-parent map comint-mode-map)
    ;; comint leaves TAB to `indent-for-tab-command', which inserts a tab here
    (define-key map (kbd "TAB") #'completion-at-point)
    (define-key map (kbd "C-c C-c") #'otrace-console-stop-repeat)
    (define-key map (kbd "C-c C-a") #'otrace-console-address)
    map)
  "Keymap of `otrace-console-mode': TAB completes over the running process.")

(define-derived-mode otrace-console-mode comint-mode "otrace-console"
  "Major mode of the otrace console: lines go to the otrace shell.
\\{otrace-console-mode-map}"
  (setq-local comint-input-sender #'otrace--console-send)
  (setq-local comint-prompt-regexp "^[^>\n]*> ")
  (setq-local comint-use-prompt-regexp nil)
  (setq-local comint-process-echoes nil)
  (setq-local comint-input-ignoredups t)
  (setq-local otrace--console-prompt-start (make-marker))
  (add-hook 'completion-at-point-functions #'otrace-console-completion-at-point nil t)
  (otrace--console-process))

;;;###autoload
(defun otrace-console ()
  "Show the otrace console of the current connection."
  (interactive)
  (otrace--connection)
  (let ((buf (get-buffer-create otrace--console-buffer)))
    (with-current-buffer buf
      (unless (derived-mode-p 'otrace-console-mode)
        (otrace-console-mode))
      (otrace--console-show-address)
      (when (= (marker-position (process-mark (otrace--console-process))) 1)
        ;; The first prompt, before any line can be entered.
        (otrace--console-answer (otrace--request 'otrace/command '(:line "pwd")))))
    (pop-to-buffer buf)
    buf))

(defun otrace--console-address-label ()
  "The console's address as shown: \"fleet\", \"pid N\", or nil (no fleet)."
  (cond ((eq otrace--console-address 'fleet) "fleet")
        (otrace--console-address (format "pid %s" otrace--console-address))
        ((cdr otrace--workers) (format "pid %s" (otrace--pid otrace--connection)))))

(defun otrace--console-prompt-text (prompt)
  "PROMPT of the server led by the console's address in a fleet: \"[fleet] \"."
  (let ((label (otrace--console-address-label)))
    (if label (format "[%s] %s" label prompt) prompt)))

(defun otrace--console-show-address ()
  "Show the console's address in the mode line."
  (let ((label (otrace--console-address-label)))
    (setq mode-name (if label (format "otrace-console[%s]" label) "otrace-console"))
    (force-mode-line-update)))

(defun otrace-console-address (address)
  "Send the console's lines to ADDRESS: `fleet' (every worker) or a worker's pid.
Interactively, choose \"fleet\" or \"worker PID\" (the default is the
fleet, or the first worker in fleet mode).  In fleet mode a line goes
to every worker with one fleet order id, each output led by [pid N]."
  (interactive
   (progn
     (unless otrace--fleet (otrace--error "The connected process is not a worker of a fleet"))
     (let* ((choices (cons "fleet" (mapcar (lambda (w) (format "worker %s" (otrace--pid w))) (otrace-workers))))
            (default (if (eq otrace--console-address 'fleet) (cadr choices) "fleet"))
            (answer (completing-read (format "Console addresses (default %s): " default) choices nil t nil nil default)))
       (list (if (equal answer "fleet") 'fleet (string-to-number (substring answer (length "worker "))))))))
  (unless (or (eq address 'fleet) (otrace--worker-connection address))
    (otrace--error "No worker %s" address))
  (setq otrace--console-address address)
  (otrace--console-show-address)
  (otrace--console-insert (format "[otrace: lines go to %s]"
                                  (if (eq address 'fleet)
                                      (format "every worker of fleet %s" (plist-get otrace--fleet :name))
                                    (format "worker %s" address)))
                          (otrace--console-prompt-text otrace--console-prompt)))

(defun otrace--console-worker ()
  "The connection the console's lines go to (in fleet mode: the first worker's)."
  (if (integerp otrace--console-address)
      (otrace--worker-connection otrace--console-address)
    (otrace--connection)))

(defun otrace--console-insert (text &optional prompt)
  "Insert TEXT before the prompt of the console; with PROMPT, a new prompt.
TEXT gets a final newline when it has none.  Both are shown
`otrace--visible': a terminal escape is text, never a colour or a move."
  (let* ((proc (otrace--console-process))
         (mark (process-mark proc))
         (inhibit-read-only t)
         (text (otrace--visible text))
         (prompt (and prompt (otrace--visible prompt t))))
    (unless (string-empty-p text)
      (unless (string-suffix-p "\n" text) (setq text (concat text "\n")))
      (if (and (marker-position otrace--console-prompt-start) (not prompt))
          (save-excursion
            (goto-char otrace--console-prompt-start)
            (insert-before-markers (propertize text 'field 'output)))
        (comint-output-filter proc text)))
    (when prompt
      (let ((start (marker-position mark)))
        (comint-output-filter proc prompt)
        (set-marker otrace--console-prompt-start start)))))

(defun otrace--console-send (proc line)
  "Send LINE of the console of PROC to `otrace/command'.
When the line cannot be run (not connected, no answer) the console
says why and shows a prompt again."
  (let ((buf (process-buffer proc)))
    (with-current-buffer buf
      ;; The answer goes after the line just entered: no old prompt to insert before.
      (set-marker otrace--console-prompt-start nil)
      (otrace-console-stop-repeat)
      (condition-case err
          (cond ((not (otrace-connected-p))
                 (otrace--console-failed "Not connected (M-x otrace-connect)"))
                ((eq otrace--console-address 'fleet)
                 (otrace--console-send-fleet line))
                (t (otrace-with-worker (otrace--console-worker)
                     (otrace--async-request
                      'otrace/command (list :line line)
                      #'otrace--console-answer buf #'otrace--console-failed))))
        (user-error (otrace--console-failed (error-message-string err)))))))

(defun otrace--console-lead (pid text)
  "TEXT with each of its lines led by \"[pid PID] \"."
  (mapconcat (lambda (line) (format "[pid %s] %s" pid line))
             (split-string (string-trim-right text "\n+") "\n")
             "\n"))

(defun otrace--console-send-fleet (line)
  "Send LINE to every worker at once, with one fleet order id.
Each worker's output is inserted as it comes, led by [pid N]; the
prompt (the first worker's) once every worker answered."
  (let* ((buf (current-buffer))
         (order (otrace-fleet-order-id))
         (workers (otrace-workers))
         (left (length workers))
         (done (lambda ()
                 (when (zerop (setq left (1- left)))
                   (otrace--console-insert "" (otrace--console-prompt-text otrace--console-prompt))))))
    (dolist (conn workers)
      (let ((pid (otrace--pid conn))
            (first (eq conn otrace--connection)))
        (otrace-with-worker conn
          (otrace--async-request
           'otrace/command (list :line line :fleetOrder order)
           (lambda (result)
             (when (and first (plist-get result :prompt))
               (setq otrace--console-prompt (plist-get result :prompt)))
             (otrace--console-insert (otrace--console-lead pid (or (plist-get result :output) "")))
             (funcall done))
           buf
           (lambda (text)
             (otrace--console-insert (otrace--console-lead pid (concat "error: " text)))
             (funcall done))))))))

(defun otrace--console-failed (text)
  "Show error TEXT (one line) and the last prompt again in the console."
  (otrace--console-insert (concat "error: " text) (otrace--console-prompt-text otrace--console-prompt)))

(defun otrace--console-answer (result)
  "Insert RESULT of `otrace/command' and the new prompt in the console."
  (when (plist-get result :prompt)
    (setq otrace--console-prompt (plist-get result :prompt)))
  (otrace--console-insert (or (plist-get result :output) "")
                          (and (plist-get result :prompt) (otrace--console-prompt-text (plist-get result :prompt))))
  (let ((edit (plist-get result :edit))
        (repeat (plist-get result :repeat)))
    (when edit (otrace--console-edit (plist-get edit :name) (plist-get edit :source)))
    (when (and (stringp repeat) (not (eq (plist-get result :error) t)))
      (otrace--console-start-repeat repeat))
    (when (eq (plist-get result :quit) t)
      (otrace--console-insert
       "[otrace: quit: console closed; the connection stays open (M-x otrace-disconnect)]")
      (let ((window (get-buffer-window (current-buffer))))
        (when window (quit-window nil window))))))

(defun otrace--console-start-repeat (line)
  "Run LINE every `otrace-console-repeat-interval' seconds.
Its output goes above the prompt.  It stops when another line is sent, on \\[otrace-console-stop-repeat],
when the console is killed, and when LINE fails."
  (otrace-console-stop-repeat)
  (let ((buf (current-buffer))
        timer)
    (setq timer
          (run-at-time
           otrace-console-repeat-interval (max 0.2 otrace-console-repeat-interval)
           (lambda ()
             (if (not (and (buffer-live-p buf) (otrace-connected-p)
                           (eq (buffer-local-value 'otrace--console-repeat-timer buf) timer)))
                 (cancel-timer timer)
               (otrace-with-worker (with-current-buffer buf (otrace--console-worker))
                (otrace--async-request
                'otrace/command (list :line line)
                (lambda (result)
                  (when (eq otrace--console-repeat-timer timer)
                    (otrace--console-insert (or (plist-get result :output) ""))
                    (when (eq (plist-get result :error) t) (otrace-console-stop-repeat))))
                buf
                (lambda (text)
                  (otrace-console-stop-repeat)
                  (otrace--console-insert (concat "error: " text)))))))))
    (setq otrace--console-repeat-timer timer)
    (add-hook 'kill-buffer-hook #'otrace-console-stop-repeat nil t)))

(defun otrace-console-stop-repeat ()
  "Stop running again and again the command of the shell's `repeat', if any."
  (interactive)
  (when (timerp otrace--console-repeat-timer)
    (cancel-timer otrace--console-repeat-timer)
    (setq otrace--console-repeat-timer nil)
    (when (called-interactively-p 'interactive)
      (otrace--console-insert "[otrace: repeat stopped]"))))

(defun otrace-console-send-line (line &optional worker)
  "Enter LINE in the console as if typed, and send it.
With WORKER (a pid), the console addresses that worker first."
  (with-current-buffer (otrace-console)
    (when (and worker (not (eql worker otrace--console-address)))
      (otrace-console-address worker))
    (goto-char (point-max))
    (comint-kill-input)
    (insert line)
    (comint-send-input)))

(defun otrace-console-completion-at-point ()
  "Complete the word at point with `otrace/complete'."
  (when (and (otrace-connected-p) (get-buffer-process (current-buffer)))
    (let* ((bol (marker-position (process-mark (get-buffer-process (current-buffer)))))
           (end (point))
           (start (save-excursion (skip-chars-backward "^ \t\n" bol) (point))))
      (when (>= end bol)
        (let ((items (plist-get (otrace-with-worker (otrace--console-worker)
                                  (otrace--request ; a key typed meanwhile: no completion
                                   'otrace/complete
                                   (list :line (buffer-substring-no-properties bol end)) t))
                                :items)))
          (list start end (append items nil) :exclusive 'no))))))

(defun otrace--console-notification (method params)
  "Show asynchronous output METHOD with PARAMS in the console, if any."
  (let ((buf (get-buffer otrace--console-buffer)))
    (when (buffer-live-p buf)
      (with-current-buffer buf
        (let ((lead (if (and (cdr otrace--workers) otrace-notification-worker)
                        (lambda (text) (otrace--console-lead otrace-notification-worker text))
                      #'identity)))
          (pcase method
            ('otrace/output (otrace--console-insert (funcall lead (plist-get params :text))))
            ('otrace/traceEvent
             (when otrace-console-show-trace-events
               (otrace--console-insert (funcall lead (format "[%s] %s" (plist-get params :kind)
                                                             (plist-get params :message))))))))))))

(add-hook 'otrace-notification-functions #'otrace--console-notification)

(defun otrace--console-disconnected ()
  "Say in the console, if any, that the connection is closed."
  (let ((buf (get-buffer otrace--console-buffer)))
    (when (buffer-live-p buf)
      (with-current-buffer buf
        (otrace--console-insert "[otrace: disconnected; M-x otrace-connect or otrace-reconnect]")))))

(defun otrace--console-connected ()
  "Start the console, if any, on the new connection: its own shell session."
  (let ((buf (get-buffer otrace--console-buffer)))
    (when (buffer-live-p buf)
      (with-current-buffer buf
        (set-marker otrace--console-prompt-start nil)
        (setq otrace--console-address nil)
        (otrace--console-show-address)
        (let ((result (otrace--request 'otrace/command '(:line "pwd"))))
          (otrace--console-answer
           (plist-put result :output
                      (format "\n[otrace: connected to pid %s, shell in %s]"
                              (plist-get (otrace--info otrace--connection) :pid)
                              (plist-get result :output)))))))))

(add-hook 'otrace-disconnected-hook #'otrace--console-disconnected)
(add-hook 'otrace-connected-hook #'otrace--console-connected)

;;;; Editing a function (the shell's `edit')

(defvar-local otrace--edit-name nil
  "Name of the function edited in this buffer.")

(defvar otrace-edit-mode-map
  (let ((map (make-sparse-keymap)))
    (define-key map (kbd "C-c C-c") #'otrace-edit-finish)
    (define-key map (kbd "C-c C-k") #'otrace-edit-abort)
    map)
  "Keymap of `otrace-edit-mode'.")

(define-minor-mode otrace-edit-mode
  "Minor mode of a buffer editing a running function.
\\[otrace-edit-finish] patches the running process with the buffer's
code (and closes the buffer); \\[otrace-edit-abort] closes it unchanged."
  :lighter " otrace-edit"
  (setq header-line-format
        (and otrace-edit-mode
             (substitute-command-keys
              "Edit the running function: \\<otrace-edit-mode-map>\\[otrace-edit-finish] patches the process, \\[otrace-edit-abort] cancels"))))

(defun otrace--console-edit (name source)
  "Open a buffer editing function NAME whose code is SOURCE."
  (with-current-buffer (get-buffer-create (format "*otrace edit %s*" name))
    (erase-buffer)
    (insert source)
    (when (fboundp 'python-mode) (python-mode))
    (setq otrace--edit-name name)
    (otrace-edit-mode 1)
    (pop-to-buffer (current-buffer))))

(defun otrace-edit-finish ()
  "Send the edited function to the otrace shell (`edit NAME')."
  (interactive)
  (unless otrace--edit-name (otrace--error "Not an otrace edit buffer"))
  (let ((result (otrace--request 'otrace/command
                                 (list :line (concat "edit " otrace--edit-name)
                                       :stdin (buffer-substring-no-properties (point-min) (point-max))))))
    (if (eq (plist-get result :error) t)
        (otrace--message "%s (the buffer stays open: fix it and C-c C-c again)"
                         (plist-get result :output))
      (otrace--message "%s" (plist-get result :output))
      (otrace--edit-close))))

(defun otrace-edit-abort ()
  "Close this edit buffer without patching anything."
  (interactive)
  (unless otrace--edit-name (otrace--error "Not an otrace edit buffer"))
  (otrace--message "edit of %s cancelled: nothing patched" otrace--edit-name)
  (otrace--edit-close))

(defun otrace--edit-close ()
  "Kill the current edit buffer and its window where it was popped up."
  (set-buffer-modified-p nil)
  (let ((window (get-buffer-window (current-buffer))))
    (if window (quit-window t window) (kill-buffer (current-buffer)))))

(provide 'otrace-console)

;;; otrace-console.el ends here
