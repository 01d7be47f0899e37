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
      (when (= (marker-position (process-mark (otrace--console-process))) 1)
        ;; The first prompt, before any line can be entered.
        (otrace--console-answer (otrace--request 'otrace/command '(:line "pwd")))))
    (pop-to-buffer buf)
    buf))

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
      (if (otrace-connected-p)
          (otrace--async-request
           'otrace/command (list :line line)
           #'otrace--console-answer buf #'otrace--console-failed)
        (otrace--console-failed "Not connected (M-x otrace-connect)")))))

(defun otrace--console-failed (text)
  "Show error TEXT (one line) and the last prompt again in the console."
  (otrace--console-insert (concat "error: " text) otrace--console-prompt))

(defun otrace--console-answer (result)
  "Insert RESULT of `otrace/command' and the new prompt in the console."
  (when (plist-get result :prompt)
    (setq otrace--console-prompt (plist-get result :prompt)))
  (otrace--console-insert (or (plist-get result :output) "") (plist-get result :prompt))
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
               (otrace--async-request
                'otrace/command (list :line line)
                (lambda (result)
                  (when (eq otrace--console-repeat-timer timer)
                    (otrace--console-insert (or (plist-get result :output) ""))
                    (when (eq (plist-get result :error) t) (otrace-console-stop-repeat))))
                buf
                (lambda (text)
                  (otrace-console-stop-repeat)
                  (otrace--console-insert (concat "error: " text))))))))
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

(defun otrace-console-send-line (line)
  "Enter LINE in the console as if typed, and send it."
  (with-current-buffer (otrace-console)
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
        (let ((items (plist-get (otrace--request ; a key typed meanwhile: no completion
                                 'otrace/complete
                                 (list :line (buffer-substring-no-properties bol end)) t)
                                :items)))
          (list start end (append items nil) :exclusive 'no))))))

(defun otrace--console-notification (method params)
  "Show asynchronous output METHOD with PARAMS in the console, if any."
  (let ((buf (get-buffer otrace--console-buffer)))
    (when (buffer-live-p buf)
      (with-current-buffer buf
        (pcase method
          ('otrace/output (otrace--console-insert (plist-get params :text)))
          ('otrace/traceEvent
           (when otrace-console-show-trace-events
             (otrace--console-insert (format "[%s] %s" (plist-get params :kind)
                                             (plist-get params :message))))))))))

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
